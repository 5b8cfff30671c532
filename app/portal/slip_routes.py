"""Placeholder: filled in by the portal work."""
from app.portal import bp  # noqa: F401
