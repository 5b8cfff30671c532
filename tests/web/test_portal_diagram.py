"""The graduate's live process diagram: the page and its JSON (published BPMN + projection statuses)."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.workflow.models import ClearanceItem, ProcessVersion
from app.workflow.services import Actor, apply

OP = Actor(None, "tester")


def test_diagram_json_has_the_published_bpmn_and_the_projection_statuses(client, make_graduate, start,
                                                                        login_graduate, db):
    from datetime import date

    g = make_graduate(party_member=True, arrears=80)
    start(g)
    apply([g.id], "party_letter", "reject", OP, reason="介绍信未领取")
    apply([g.id], "finance", "waive", OP, reason="缓交", waived_until=date(2099, 1, 1))
    login_graduate(g)
    resp = client.get("/me/diagram.json")
    assert resp.status_code == 200 and resp.is_json
    assert "no-store" in resp.headers["Cache-Control"]
    data = resp.get_json()
    pv = db.session.scalar(sa.select(ProcessVersion).where(ProcessVersion.gtype == "undergraduate"))
    assert data["xml"] == pv.bpmn.decode("utf-8") and data["version"] == pv.version
    rows = dict(db.session.execute(
        sa.select(ClearanceItem.task_key, ClearanceItem.status).where(ClearanceItem.graduate_id == g.id)).all())
    assert {k: v["status"] for k, v in data["items"].items()} == rows
    assert set(rows.values()) >= {"rejected", "waived", "not_required", "blocked", "pending", "passed"}
    # every item is a user task of the diagram, so bpmn-js can mark it
    for key in rows:
        assert re.search(rf'<bpmn:userTask id="{key}"', data["xml"]), key
    party = data["items"]["party_letter"]
    assert party["reason"] == "介绍信未领取" and party["label"] == "未通过" and party["checkpoint"] == "college"
    assert data["items"]["finance"]["waived_until"] == "2099-01-01"
    assert data["items"]["certificates"]["blockers"]                   # names what it waits for
    # labels follow the chosen language
    en = client.get("/me/diagram.json?lang=en").get_json()
    assert en["items"]["party_letter"]["label"] == "Not passed"
    assert en["items"]["party_letter"]["name"] == "Collect the Party membership transfer letter"
    # the diagram's Chinese lane and pool names get English ones to draw with (none in Chinese)
    assert en["labels"]["lanes"]["学院离校点"] == "College office" and en["labels"]["process"] == "Undergraduate"
    assert data["labels"] is None


def test_diagram_json_is_only_the_graduates_own(client, make_graduate, start, login_graduate, db):
    me = make_graduate()
    other = make_graduate(gtype="postgraduate_dual", party_member=True)
    start(me, other)
    login_graduate(me)
    data = client.get("/me/diagram.json").get_json()
    mine = set(db.session.scalars(sa.select(ClearanceItem.task_key).where(ClearanceItem.graduate_id == me.id)))
    assert set(data["items"]) == mine
    assert 'id="undergraduate"' in data["xml"] and "postgraduate_dual" not in data["xml"]
    # there is no id in the URL to tamper with: extra parameters are ignored
    assert client.get(f"/me/diagram.json?graduate_id={other.id}").get_json()["items"].keys() == mine


def test_diagram_page_has_viewer_legend_details_and_list(client, make_graduate, start, login_graduate):
    g = make_graduate(party_member=True)
    start(g)
    apply([g.id], "party_letter", "reject", OP, reason="请携带学生证")
    login_graduate(g)
    resp = client.get("/me/diagram")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    # the viewer and the script come from the app, never from a CDN
    assert "/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in html
    assert "/static/js/portal-diagram.js" in html and "https://" not in html.split("<body", 1)[1]
    assert 'data-src="/me/diagram.json"' in html
    # the legend names all six statuses in text
    legend = html.split('class="lx-legend', 1)[1].split("</ul>", 1)[0]
    for label in ("已通过", "待办理", "未通过", "等待前置环节", "无需办理"):
        assert label in legend
    # server-rendered details per task (status, reason, checkpoint contact) for the click
    detail = html.split('<template id="lx-detail-party_letter">', 1)[1].split("</template>", 1)[0]
    assert "请携带学生证" in detail and "学院离校点" in detail and 'href="tel:0731-58290001"' in detail
    # the accessible list of items shows the same statuses
    assert re.search(r'data-key="party_letter">\s*<span[^>]*>领取党组织关系介绍信</span>\s*<i class="bi bi-x-circle-fill', html)


def test_diagram_before_start_is_a_friendly_page_and_json_404(client, make_graduate, login_graduate):
    g = make_graduate()
    login_graduate(g)
    assert "您的离校手续尚未开始" in client.get("/me/diagram").get_data(as_text=True)
    assert client.get("/me/diagram.json").status_code == 404


def test_diagram_does_not_load_the_engine(client, make_graduate, start, login_graduate, monkeypatch):
    from app.workflow import engine, services

    g = make_graduate()
    start(g)
    login_graduate(g)

    def boom(*a, **k):
        raise AssertionError("the diagram must not load the engine")

    monkeypatch.setattr(engine.Instance, "load", boom)
    monkeypatch.setattr(services, "_runtime_by_id", boom)
    assert client.get("/me/diagram").status_code == 200
    assert client.get("/me/diagram.json").status_code == 200
