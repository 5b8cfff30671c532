"""The graduate portal's tests use the web fixtures (client, logins, a started graduate)."""
from tests.web.conftest import client, compiled_translations, graduate, login_graduate, login_staff  # noqa: F401

