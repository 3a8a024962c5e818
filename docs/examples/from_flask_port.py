# docs/examples/from_flask_port.py
from pathlib import Path
from typing import Annotated

import click
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from oakling import App, Form, RedirectResponse, Request, Router, render
from oakling.db import Database, Model, Session, get_or_404

HERE = Path(__file__).parent


class Post(Model):  # Flask-SQLAlchemy's db.Model
    __tablename__ = "port_post"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(default="")


blog = Router(name="blog")  # Blueprint("blog", __name__)


@blog.before_app_request  # every request of the app, as in Flask
def site_name(request: Request) -> None:
    request.state.site = "Port"  # g.site = "Port"


@blog.get("/")
def index(request: Request, db: Session):  # db.session, injected by annotation
    posts = db.scalars(select(Post).order_by(Post.id.desc())).all()
    return render(request, "port_index.html", posts=posts)


@blog.post("/create")
def create(request: Request, db: Session, title: Annotated[str, Form()], body: str = Form("")):
    db.add(Post(title=title, body=body))  # committed when the handler returns
    return RedirectResponse(request.url_for("blog.index"), 303)


@blog.get("/{id:int}")
def detail(id: int, db: Session):
    post = get_or_404(db, Post, id)  # db.get_or_404(Post, id)
    return {"title": post.title, "body": post.body}


def create_app() -> App:
    app = App(
        debug=True,
        template_folder=HERE / "templates",
        static_dir=HERE / "static",
        plugins=[Database()],  # db.init_app(app); OAKLING_DATABASE_URL
    )
    app.include(blog)  # app.register_blueprint(blog)

    @app.cli.command("init-db")  # `oakling --app from_flask_port:create_app() init-db`
    def init_db(app):
        app.extensions["db"].create_all()  # or migrations: `oakling db migrate`
        click.echo("Initialized the database.")

    return app
