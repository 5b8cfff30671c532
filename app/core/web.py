"""Edge helpers shared by the audience packages (they read the request; domains never do)."""
from __future__ import annotations

from flask import has_request_context, request

from app.core.enums import Source
from app.workflow.services import Actor


def actor_for(user, source: str = Source.MANUAL) -> Actor:
    """The audit actor for a signed-in user, with the client address of the current request."""
    return Actor.for_user(user, source, remote_addr=request.remote_addr if has_request_context() else None)
