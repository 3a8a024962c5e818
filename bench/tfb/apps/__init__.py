"""The TFB apps: one module per framework, each exposing ``app``, ``KIND`` and ``ORM``.

Serve them as modules of this package, from the repository root::

    uvicorn bench.tfb.apps.fastapi:app --no-access-log --loop uvloop --http httptools
    granian --interface asgi --workers 1 --no-ws bench.tfb.apps.fastapi:app

NOTE: not with ``--app-dir bench/tfb/apps fastapi:app``: the modules are named
after their frameworks, so with this folder on ``sys.path`` ``fastapi.py``
would import itself for ``import fastapi``. As ``bench.tfb.apps.fastapi`` its
``import fastapi`` is the real package (absolute imports).

Every module imports without a database: pools and engines connect at
startup (lifespan) or on first use, never at import.
"""
