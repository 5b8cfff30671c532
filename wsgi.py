"""Production WSGI entry point for Lixiao (数字离校).

Run it with gunicorn from the repository root, e.g.::

    gunicorn -w 4 -b 0.0.0.0:8000 'wsgi:app'

or with the defaults in gunicorn.conf.py (workers, bind, logging)::

    gunicorn -c gunicorn.conf.py 'wsgi:app'

Production mode refuses to start with the development SECRET_KEY: set SECRET_KEY in
the environment or in instance/config.py (see instance/config.example.py).
"""
from app import create_app

app = create_app(production=True)
