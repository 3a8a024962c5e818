# docs/examples/sessions_backends.py
from oakling import App
from oakling.db import Database
from oakling.sessions import RedisBackend, Sessions
from oakling.sessions.database import DatabaseBackend

# Redis: the cookie holds only a random id; Redis expires the key itself.
# The URL comes from SESSION_REDIS_URL, then REDIS_URL, unless given here.
redis_app = App(
    debug=True,
    plugins=[Sessions(RedisBackend(prefix="myapp:session:"), cookie_name="myapp_session")],
)

# The database: the table oakling_session joins your migrations
# (oakling db makemigrations). Install Database() first. Here a session
# lasts 8 hours at most, and its cookie is gone when the browser closes;
# `oakling clearsessions` deletes the rows of ended sessions.
database_app = App(
    debug=True,
    plugins=[
        Database(),
        Sessions(DatabaseBackend(), max_age=8 * 3600, expire_at_browser_close=True),
    ],
)
