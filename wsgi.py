"""Production entry point: `gunicorn -c gunicorn.conf.py wsgi:app` (see README)."""
from app import create_app

app = create_app()
