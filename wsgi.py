"""WSGI entry point: ``gunicorn wsgi:app``; also what ``flask`` finds through .flaskenv."""

from webapp.app import create_app, keep_startup_objects

app = create_app()
keep_startup_objects()
