"""Desk use cases that are not engine actions: the checkpoints' rejection reason templates.

Each public function is one use case and one transaction. A checkpoint without templates of its own
offers the suggestions of ``app.workflow.catalog.DEFAULT_REASONS``; the first change an operator
makes copies those suggestions into ``reason_templates`` so nothing disappears silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from app.core.domain import DomainError
from app.core.enums import Source
from app.desk.models import ReasonTemplate
from app.extensions import db
from app.workflow.catalog import DEFAULT_REASONS
from app.workflow.models import Checkpoint, Event
from app.workflow.services import Actor

# a blank of a template ("欠电费 {金额} 元") that the operator must fill in before sending
BLANK = re.compile(r"\{[^{}]{1,30}\}")
MAX_TEMPLATES = 30


@dataclass(frozen=True)
class Reason:
    """A reason template as the desk offers it; ``ref`` is "t<id>" (saved) or "d<n>" (suggested)."""

    ref: str
    text: str
    text_en: str
    saved: bool

    def label(self, english: bool) -> str:
        return self.text_en if english and self.text_en else self.text


def _saved(checkpoint: Checkpoint) -> list[ReasonTemplate]:
    return list(db.session.scalars(
        sa.select(ReasonTemplate).where(ReasonTemplate.checkpoint_id == checkpoint.id)
        .order_by(ReasonTemplate.sort_order, ReasonTemplate.id)))


def reasons_for(checkpoint: Checkpoint) -> list[Reason]:
    """The checkpoint's own templates, or the suggested ones while it has none."""
    saved = _saved(checkpoint)
    if saved:
        return [Reason(f"t{t.id}", t.text, t.text_en, True) for t in saved]
    return [Reason(f"d{n}", zh, en, False) for n, (zh, en) in enumerate(DEFAULT_REASONS.get(checkpoint.key, []))]


def unfilled_blank(text: str) -> str | None:
    """The first "{…}" blank left in a reason, if any."""
    m = BLANK.search(text or "")
    return m.group(0) if m else None


def _materialise(checkpoint: Checkpoint) -> list[ReasonTemplate]:
    saved = _saved(checkpoint)
    if saved:
        return saved
    for n, (zh, en) in enumerate(DEFAULT_REASONS.get(checkpoint.key, [])):
        t = ReasonTemplate(checkpoint_id=checkpoint.id, text=zh, text_en=en, sort_order=(n + 1) * 10)
        db.session.add(t)
        saved.append(t)
    db.session.flush()
    return saved


def _audit(checkpoint: Checkpoint, action: str, text: str, actor: Actor) -> None:
    db.session.add(Event(action=action, new=checkpoint.key, reason=text, source=Source.MANUAL,
                         actor_id=actor.user_id, actor=(actor.label or "")[:64], remote_addr=actor.remote_addr))


class TemplateRefused(DomainError):
    code = "template_refused"
    """A template change that cannot be made (message for the operator)."""


def add_reason(checkpoint: Checkpoint, text: str, text_en: str, actor: Actor) -> ReasonTemplate:
    """Add a template at the end of the checkpoint's list."""
    from flask_babel import gettext as _

    text, text_en = (text or "").strip(), (text_en or "").strip()
    if not text:
        raise TemplateRefused(_("Type the reason."))
    saved = _materialise(checkpoint)
    if any(t.text == text for t in saved):
        raise TemplateRefused(_("This reason is already in the list."))
    if len(saved) >= MAX_TEMPLATES:
        raise TemplateRefused(_("A checkpoint can keep at most %(n)d reasons; delete one first.", n=MAX_TEMPLATES))
    template = ReasonTemplate(checkpoint_id=checkpoint.id, text=text[:200], text_en=text_en[:200],
                              sort_order=max((t.sort_order for t in saved), default=0) + 10)
    db.session.add(template)
    _audit(checkpoint, "reason_add", template.text, actor)
    db.session.commit()
    return template


def delete_reason(checkpoint: Checkpoint, ref: str, actor: Actor) -> str:
    """Delete one template (``ref`` as in Reason.ref); returns its text."""
    from flask_babel import gettext as _

    gone = _("This reason is no longer in the list.")
    m = re.fullmatch(r"([td])(\d{1,9})", ref or "")
    if m is None:
        raise TemplateRefused(gone)
    kind, number = m.group(1), int(m.group(2))
    saved_before = bool(_saved(checkpoint))
    if (kind == "d") == saved_before:       # a suggestion after the list was saved, or the reverse
        raise TemplateRefused(gone)
    saved = _materialise(checkpoint)
    if kind == "d":
        target = saved[number] if number < len(saved) else None
    else:
        target = next((t for t in saved if t.id == number), None)
    if target is None:
        db.session.rollback()
        raise TemplateRefused(gone)
    text = target.text
    db.session.delete(target)
    _audit(checkpoint, "reason_delete", text, actor)
    db.session.commit()
    return text
