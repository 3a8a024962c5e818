"""Parsing and matching that do no I/O, shared by the ASGI and WSGI paths."""
