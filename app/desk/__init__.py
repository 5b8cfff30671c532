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

from app.desk import appeal_routes, batch_routes, routes, special_routes, stats_routes  # noqa: E402,F401


@bp.app_context_processor
def _desk_tabs():
    from flask import current_app

    def desk_tabs(checkpoint=None):  # noqa: ARG001 - special desks may filter by checkpoint later
        return [t for t in DESK_TABS if t[0] in current_app.view_functions]

    return {"desk_tabs": desk_tabs}
