"""`flask graduates ...` commands (import lives here)."""
from __future__ import annotations

from flask.cli import AppGroup

graduates_cli = AppGroup("graduates", help="Graduate rosters.")
