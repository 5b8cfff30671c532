"""Every domain refusal shares one base (app.core.domain.DomainError); one that no route catches is
answered at the edge in the user's language with its status — never a traceback."""
from __future__ import annotations

from app import create_app
from app.core.domain import DomainError
from app.desk.special import NothingToIssue, WaiverRefused
from app.graduates.importer import RosterFileError
from app.portal.appeals import AppealRefused
from app.portal.slip import SubmitRefused
from app.workflow.engine import ActionRefused
from app.workflow.services import BatchRefused, ConcurrentChange, ItemsRefused, PublishRefused


def test_every_refusal_is_a_domain_error():
    for cls in (ActionRefused, BatchRefused, ConcurrentChange, ItemsRefused, PublishRefused, NothingToIssue,
                WaiverRefused, RosterFileError, AppealRefused, SubmitRefused):
        assert issubclass(cls, DomainError), cls
    refusal = ActionRefused("blocked", item="certificates", blockers=["finance"])
    assert (refusal.code, refusal.params["item"], refusal.status) == ("blocked", "certificates", 409)


def test_an_uncaught_refusal_gets_a_page_in_the_users_language(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "RATELIMIT_ENABLED": False,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}"})

    @app.route("/boom")
    def boom():
        raise ActionRefused("certificates_issued", item="library")

    @app.route("/api/boom")
    def api_boom():
        raise AppealRefused("已经申诉过了", code="duplicate")

    client = app.test_client()
    resp = client.get("/boom")
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    assert "现在无法进行此操作" in html and "Traceback" not in html
    resp = client.get("/api/boom")
    assert resp.status_code == 409
    assert resp.get_json() == {"error": "duplicate", "message": "已经申诉过了"}
