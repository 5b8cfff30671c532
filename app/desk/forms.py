"""Forms of the operator desk."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import HiddenInput

REASON_MAX = 300


class ConfirmForm(FlaskForm):
    """Confirm the ticked items of one graduate at one checkpoint.

    The ticked task keys arrive as repeated ``task`` fields (checkboxes rendered by the template).
    """

    graduate_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    cp = HiddenField(validators=[DataRequired(), Length(max=40)])


class ReasonActionForm(FlaskForm):
    """Reject an open item, or re-open a passed one, with a reason the graduate will read."""

    graduate_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    cp = HiddenField(validators=[DataRequired(), Length(max=40)])
    task = HiddenField(validators=[DataRequired(), Length(max=64)])
    reason = StringField(_l("Reason"), validators=[
        DataRequired(_l("Give the reason: the graduate will read it.")),
        Length(max=REASON_MAX, message=_l("At most %(max)d characters.", max=REASON_MAX))])


class ReasonTemplateForm(FlaskForm):
    """Add a rejection reason template to the current checkpoint."""

    cp = HiddenField(validators=[DataRequired(), Length(max=40)])
    text = StringField(_l("Reason (Chinese)"), validators=[
        DataRequired(_l("Type the reason.")), Length(max=200, message=_l("At most %(max)d characters.", max=200))])
    text_en = StringField(_l("Reason (English, optional)"), validators=[
        Optional(), Length(max=200, message=_l("At most %(max)d characters.", max=200))])


class DeleteReasonForm(FlaskForm):
    cp = HiddenField(validators=[DataRequired(), Length(max=40)])
    ref = HiddenField(validators=[DataRequired(), Length(max=12)])
