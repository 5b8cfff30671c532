"""The security tests use the web tests' clients and logins."""
from tests.web.conftest import client, compiled_translations, login_graduate, login_staff  # noqa: F401
