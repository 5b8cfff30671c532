"""Forms of the operator desk."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import HiddenInput


class ConfirmForm(FlaskForm):
    """Confirm the ticked items of one graduate at one checkpoint.

    The ticked task keys arrive as repeated ``task`` fields (checkboxes rendered by the template).
    """

    graduate_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    cp = HiddenField(validators=[DataRequired(), Length(max=40)])
