"""The one base of every refusal a domain service raises (kernel: no flask, no translations).

``code`` is stable (tests, logs, the API's JSON), ``params`` fill the message the edge shows, and
``status`` is the HTTP status an audience answers with when it lets the refusal through (409: the
request is fine but the state does not allow it; 404 / 403 where that is what it means). Subclasses
whose message is already in the user's language keep it in ``message``.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code: str = "refused"
    status: int = 409

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None,
                 **params: Any):
        super().__init__(message or (code or self.code))
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.params = params
