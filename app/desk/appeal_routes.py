"""Placeholder: filled in by the desk work."""
from app.desk import bp  # noqa: F401
