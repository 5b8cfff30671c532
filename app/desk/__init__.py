from flask import Blueprint
from flask_babel import lazy_gettext as _l

bp = Blueprint("desk", __name__)

# Tabs of the desk layout (templates/desk/_layout.html): endpoint, icon, label.
# A tab whose endpoint is not registered is not shown.
DESK_TABS = [
    ("desk.index", "bi-upc-scan", _l("Confirm")),
    ("desk.batch_group", "bi-people", _l("Class / dorm batch")),
    ("desk.excel_upload", "bi-file-earmark-spreadsheet", _l("Excel batch")),
    ("desk.appeals", "bi-chat-left-text", _l("Appeals")),
    ("desk.stats", "bi-bar-chart", _l("Statistics")),
]
# Added after "Confirm" at a checkpoint that issues certificates (seed 001 §3.2, 3.8.3).
CERTIFICATE_TABS = [
    ("desk.certificates", "bi-award", _l("Certificates")),
    ("desk.certificates_ready", "bi-card-checklist", _l("Ready to collect")),
]
# The 缓交 checkpoint (seed 001 §3.9) has only its own pages.
WAIVER_TABS = [
    ("desk.waiver", "bi-unlock", _l("Lift / restore restriction")),
    ("desk.waiver_list", "bi-list-check", _l("Lifted restrictions")),
]

from app.desk import appeal_routes, batch_routes, routes, special_routes, stats_routes  # noqa: E402,F401


@bp.app_context_processor
def _desk_tabs():
    from flask import current_app

    def desk_tabs(checkpoint=None):
        from app.desk.special import is_certificate_checkpoint, is_waiver_checkpoint

        if is_waiver_checkpoint(checkpoint):
            tabs = WAIVER_TABS
        elif is_certificate_checkpoint(checkpoint):
            tabs = DESK_TABS[:1] + CERTIFICATE_TABS + DESK_TABS[1:]
        else:
            tabs = DESK_TABS
        return [t for t in tabs if t[0] in current_app.view_functions]

    def open_appeals(checkpoint) -> int:
        """Open appeals waiting at this checkpoint (the badge on the Appeals tab): one indexed COUNT."""
        import sqlalchemy as sa

        from app.extensions import db
        from app.appeals.models import Appeal, AppealStatus

        return db.session.scalar(sa.select(sa.func.count()).select_from(Appeal).where(
            Appeal.checkpoint_id == checkpoint.id, Appeal.status == AppealStatus.OPEN)) or 0

    return {"desk_tabs": desk_tabs, "open_appeals": open_appeals}
