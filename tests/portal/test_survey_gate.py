"""The optional survey (seed 003): answered once, before the clearance sheet appears."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

SURVEY = {
    "title": "2026届毕业生就业与人才培养质量调研问卷",
    "intro": "请如实填写，约需 1 分钟。",
    "questions": [
        {"key": "dest", "text": "您的毕业去向", "text_en": "Your destination after graduation", "kind": "choice",
         "options": ["就业", "升学", "出国出境", "其他"],
         "options_en": ["Employment", "Further study", "Abroad", "Other"], "required": True},
        {"key": "help", "text": "哪些服务对您有帮助", "kind": "multichoice",
         "options": ["就业指导", "校园招聘", "心理咨询"], "required": False},
        {"key": "advice", "text": "对学校的建议", "kind": "text", "required": False},
    ],
}


@pytest.fixture()
def survey_file(tmp_path):
    path = tmp_path / "survey.json"
    path.write_text(json.dumps(SURVEY, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture()
def loaded(runner, cohort, survey_file):
    result = runner.invoke(args=["surveys", "load", str(survey_file), "--cohort", "2026"])
    assert result.exit_code == 0, result.output
    return result


def test_cli_loads_validates_and_updates(db, runner, cohort, survey_file, tmp_path):
    from app.portal.models import Survey

    result = runner.invoke(args=["surveys", "load", str(survey_file), "--cohort", "2026"])
    assert result.exit_code == 0 and "created" in result.output and "3 questions" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"title": "x", "questions": [
        {"key": "a", "text": "?", "kind": "choice", "options": ["only one"]},
        {"key": "a", "text": "", "kind": "slider"}]}), encoding="utf-8")
    result = runner.invoke(args=["surveys", "load", str(bad), "--cohort", "2026"])
    assert result.exit_code == 1
    assert "question 1: a choice question needs 'options'" in result.output
    assert "question 2: the key 'a' is used twice" in result.output and "'kind' must be one of" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert runner.invoke(args=["surveys", "load", str(broken), "--cohort", "2026"]).exit_code == 1
    assert runner.invoke(args=["surveys", "load", str(survey_file), "--cohort", "1999"]).exit_code == 1
    # loading again replaces the questions of the same survey
    changed = dict(SURVEY, questions=SURVEY["questions"][:1])
    survey_file.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(args=["surveys", "load", str(survey_file), "--cohort", "2026"])
    assert "updated" in result.output and "1 questions" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 1


def test_graduate_answers_once_before_the_sheet(client, db, loaded, graduate):
    from app.portal.models import SurveyResponse

    for url in ("/me", "/me/history", "/notifications"):
        resp = client.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/survey"), url
    # exempt: the survey, announcements, password change, logout (tested last)
    assert client.get("/announcements").status_code == 200
    assert client.get("/password").status_code == 200
    html = client.get("/survey").get_data(as_text=True)
    assert SURVEY["title"] in html and "您的毕业去向" in html and "出国出境" in html and "必答" in html
    assert "Your destination" in client.get("/survey?lang=en").get_data(as_text=True)
    client.get("/survey?lang=zh_CN")
    # required question missing: refused, the other answers kept
    resp = client.post("/survey", data={"help": ["校园招聘"], "advice": "多办招聘会"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "请回答此问题。" in html
    assert "多办招聘会" in html and 'value="校园招聘" checked' in html
    # an option that was never offered
    resp = client.post("/survey", data={"dest": "退学"})
    assert resp.status_code == 422 and "请选择一个选项。" in resp.get_data(as_text=True)
    assert client.post("/survey", data={"dest": "升学", "advice": "x" * 2001}).status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 0
    resp = client.post("/survey", data={"dest": "升学", "help": ["就业指导", "校园招聘"], "advice": " 多办招聘会 "})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/me")
    assert "感谢您填写问卷" in client.get("/me").get_data(as_text=True)
    answers = db.session.scalar(sa.select(SurveyResponse.answers))
    assert answers == {"dest": "升学", "help": ["就业指导", "校园招聘"], "advice": "多办招聘会"}
    # answered: the survey is gone, a second submit stores nothing
    assert client.get("/survey").headers["Location"].endswith("/me")
    assert client.post("/survey", data={"dest": "就业"}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 1


def test_double_submit_is_safe_through_the_unique_constraint(db, loaded, cohort, make_graduate):
    from app.portal.models import Survey, SurveyResponse
    from app.portal.surveys import pending_survey, submit_response

    g = make_graduate()
    survey = db.session.scalar(sa.select(Survey))
    assert pending_survey(g.id, cohort.id).id == survey.id
    assert submit_response(survey, g.id, {"dest": "就业"}) is True
    assert submit_response(survey, g.id, {"dest": "升学"}) is False      # the second request of a double click
    assert db.session.scalar(sa.select(SurveyResponse.answers)) == {"dest": "就业"}
    assert pending_survey(g.id, cohort.id) is None


def test_no_gate_without_an_active_survey(client, db, runner, loaded, graduate):
    assert client.get("/me").status_code == 302
    result = runner.invoke(args=["surveys", "close", "--cohort", "2026"])
    assert result.exit_code == 0
    assert client.get("/me").status_code == 200
    assert client.get("/survey").headers["Location"].endswith("/me")


def test_other_cohorts_are_not_asked(client, db, loaded, make_graduate, login_graduate):
    from app.graduates.models import Cohort

    other = Cohort(year=2027, name="2027届")
    db.session.add(other)
    db.session.commit()
    g = make_graduate(cohort_id=other.id)
    login_graduate(g)
    assert client.get("/me").status_code == 200
