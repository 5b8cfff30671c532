"""Import every domain's models so metadata (create_all, Alembic) sees all tables."""
from app.auth.models import User, user_checkpoints  # noqa: F401
from app.desk.models import DeskUpload, ReasonTemplate  # noqa: F401
from app.graduates.models import Cohort, Graduate  # noqa: F401
from app.appeals.models import Appeal  # noqa: F401
from app.portal.models import Announcement, EmailOutbox, Survey, SurveyResponse  # noqa: F401
from app.workflow.models import (  # noqa: F401
    Checkpoint,
    Clearance,
    ClearanceItem,
    Event,
    ProcessVersion,
)
