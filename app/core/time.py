from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Timezone-aware UTC now (stored as naive UTC for SQLite/PostgreSQL portability)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
