from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    kind = HiddenField(default="graduate")
    username = StringField(_l("Student number / staff username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("new", message=_l("The passwords differ"))])


class ResetPasswordForm(FlaskForm):
    """忘记密码: the student number plus the full ID-card number restore the initial password."""

    student_no = StringField(_l("Student number"), validators=[DataRequired(), Length(max=64)])
    id_card = StringField(_l("ID-card number"), validators=[DataRequired(), Length(max=32)])
