"""离校调查: an optional questionnaire a graduate answers once before the clearance sheet appears.

Question format (``Survey.questions``, also the CLI's JSON file)::

    {"title": "2026届毕业生就业与培养质量调查", "intro": "...",
     "questions": [
        {"key": "q1", "text": "您的毕业去向", "text_en": "Your destination after graduation",
         "kind": "choice", "options": ["就业", "升学", "出国出境", "其他"],
         "options_en": ["Employment", "Further study", "Abroad", "Other"], "required": true},
        {"key": "q2", "text": "对学校的建议", "kind": "text", "required": false}]}

``kind``: ``choice`` (one option), ``multichoice`` (any number; ``required``: at least one) or
``text`` (at most :data:`MAX_TEXT` characters). Answers are stored by question key; a choice
answer is the option's (Chinese) text, whatever the language of the page.
"""
from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from app.core.i18n import is_english
from app.extensions import db
from app.auth.services import graduate_preload
from app.graduates.models import Cohort, Graduate
from app.portal.models import Survey, SurveyResponse

KINDS = ("choice", "multichoice", "text")
MAX_TEXT = 2000
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def pending_survey(graduate_id: int, cohort_id: int) -> Survey | None:
    """The cohort's active survey if this graduate has not answered it yet (one query)."""
    answered = sa.select(SurveyResponse.id).where(SurveyResponse.survey_id == Survey.id,
                                                  SurveyResponse.graduate_id == graduate_id).exists()
    return db.session.scalar(sa.select(Survey).where(Survey.cohort_id == cohort_id, Survey.active, ~answered))


@graduate_preload("pending_survey_id")
def _pending_survey_id() -> sa.ColumnElement:
    """The id of the cohort's active survey the graduate has not answered (the survey gate)."""
    answered = sa.select(SurveyResponse.id).where(SurveyResponse.survey_id == Survey.id,
                                                  SurveyResponse.graduate_id == Graduate.id).exists()
    return (sa.select(Survey.id).where(Survey.cohort_id == Graduate.cohort_id, Survey.active, ~answered)
            .order_by(Survey.id).limit(1).scalar_subquery())


def has_answered(survey_id: int, graduate_id: int) -> bool:
    return db.session.scalar(sa.select(SurveyResponse.id).where(
        SurveyResponse.survey_id == survey_id, SurveyResponse.graduate_id == graduate_id)) is not None


# ----------------------------------------------------------------------------- definition
def check_definition(data: Any) -> list[str]:
    """Problems of a survey definition (empty list: fine). Messages are for the CLI user."""
    if not isinstance(data, dict):
        return ["the file must hold a JSON object with 'title' and 'questions'"]
    problems = []
    if not str(data.get("title") or "").strip():
        problems.append("'title' is missing")
    elif len(str(data["title"])) > 200:
        problems.append("'title' is longer than 200 characters")
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        return problems + ["'questions' must be a non-empty list"]
    seen = set()
    for n, q in enumerate(questions, 1):
        where = f"question {n}"
        if not isinstance(q, dict):
            problems.append(f"{where}: must be an object")
            continue
        key = q.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            problems.append(f"{where}: 'key' must be a short identifier such as q{n}")
        elif key in seen:
            problems.append(f"{where}: the key {key!r} is used twice")
        seen.add(key)
        if not str(q.get("text") or "").strip():
            problems.append(f"{where}: 'text' is missing")
        kind = q.get("kind", "choice")
        if kind not in KINDS:
            problems.append(f"{where}: 'kind' must be one of {', '.join(KINDS)}")
        elif kind != "text":
            options = q.get("options")
            if (not isinstance(options, list) or len(options) < 2
                    or not all(isinstance(o, str) and o.strip() for o in options)):
                problems.append(f"{where}: a {kind} question needs 'options', a list of at least 2 texts")
            elif len(set(options)) != len(options):
                problems.append(f"{where}: the options must differ")
            elif "options_en" in q and (not isinstance(q["options_en"], list) or len(q["options_en"]) != len(options)):
                problems.append(f"{where}: 'options_en' must have as many entries as 'options'")
        if "required" in q and not isinstance(q["required"], bool):
            problems.append(f"{where}: 'required' must be true or false")
    return problems


def load_survey(data: dict[str, Any], cohort: Cohort) -> tuple[Survey, bool]:
    """Create the cohort's survey, or replace its definition (answers are kept). Returns (survey, created)."""
    problems = check_definition(data)
    if problems:
        raise ValueError("; ".join(problems))
    questions = [{"key": q["key"], "text": q["text"].strip(), "text_en": str(q.get("text_en") or "").strip(),
                  "kind": q.get("kind", "choice"), "options": [o.strip() for o in q.get("options") or []],
                  "options_en": [str(o).strip() for o in q.get("options_en") or []],
                  "required": bool(q.get("required", True))}
                 for q in data["questions"]]
    survey = db.session.scalar(sa.select(Survey).where(Survey.cohort_id == cohort.id))
    created = survey is None
    if created:
        survey = Survey(cohort_id=cohort.id)
        db.session.add(survey)
    survey.title = data["title"].strip()
    survey.intro = str(data.get("intro") or "").strip()
    survey.questions = questions
    survey.active = bool(data.get("active", True))
    db.session.commit()
    return survey, created


def set_active(cohort: Cohort, active: bool) -> Survey | None:
    survey = db.session.scalar(sa.select(Survey).where(Survey.cohort_id == cohort.id))
    if survey is not None:
        survey.active = active
        db.session.commit()
    return survey


# ----------------------------------------------------------------------------- answering
def question_text(q: dict[str, Any]) -> str:
    return (q.get("text_en") or q["text"]) if is_english() else q["text"]


def option_labels(q: dict[str, Any]) -> list[tuple[str, str]]:
    """(stored value, label in the page's language) for each option."""
    labels = q.get("options_en") if is_english() and q.get("options_en") else q.get("options") or []
    return list(zip(q.get("options") or [], labels))


def validate_answers(survey: Survey, form: MultiDict) -> tuple[dict[str, Any], dict[str, str]]:
    """The answers to store and the problems per question key (messages in the user's language)."""
    from flask_babel import gettext as _

    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for q in survey.questions:
        key, kind = q["key"], q["kind"]
        if kind == "text":
            value = (form.get(key) or "").strip()
            if len(value) > MAX_TEXT:
                errors[key] = _("Please shorten your answer to at most %(n)d characters.", n=MAX_TEXT)
            elif value:
                answers[key] = value
        elif kind == "choice":
            value = form.get(key) or ""
            if value and value not in q["options"]:
                errors[key] = _("Please choose one of the options.")
            elif value:
                answers[key] = value
        else:
            values = form.getlist(key)
            if any(v not in q["options"] for v in values):
                errors[key] = _("Please choose among the options.")
            elif values:
                answers[key] = [o for o in q["options"] if o in values]
        if q.get("required") and key not in answers and key not in errors:
            errors[key] = _("Please answer this question.")
    return answers, errors


def submit_response(survey: Survey, graduate_id: int, answers: dict[str, Any]) -> bool:
    """Store the answers once. False if this graduate had already answered (a double submit)."""
    db.session.add(SurveyResponse(survey_id=survey.id, graduate_id=graduate_id, answers=answers))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True
