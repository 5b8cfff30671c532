"""Vocabulary shared by every domain (stored as strings, so rows stay readable)."""
from __future__ import annotations

from enum import StrEnum


class GraduateType(StrEnum):
    UNDERGRADUATE = "undergraduate"
    POSTGRADUATE_DUAL = "postgraduate_dual"
    POSTGRADUATE_SINGLE = "postgraduate_single"


class Role(StrEnum):
    ADMIN = "admin"          # 学校管理员
    OPERATOR = "operator"    # 离校点操作员
    LEADER = "leader"        # 领导查询 (read-only statistics)


class ItemStatus(StrEnum):
    BLOCKED = "blocked"            # precondition not met yet
    PENDING = "pending"
    REJECTED = "rejected"          # not passed, with a reason; still open
    PASSED = "passed"
    WAIVED = "waived"              # 缓交: restriction lifted, not passed
    NOT_REQUIRED = "not_required"  # the path was not taken


DONE_STATUSES = frozenset({ItemStatus.PASSED, ItemStatus.WAIVED, ItemStatus.NOT_REQUIRED})
OPEN_STATUSES = frozenset({ItemStatus.PENDING, ItemStatus.REJECTED})


class ClearanceStatus(StrEnum):
    IN_PROGRESS = "in_progress"    # items still open
    ELIGIBLE = "eligible"          # every required item passed or waived; certificates issuable
    COMPLETED = "completed"        # certificates issued, process finished


class Source(StrEnum):
    MANUAL = "manual"
    BATCH = "batch"
    IMPORT = "import"
    API = "api"
    AUTO = "auto"
    SYSTEM = "system"


class BatchMode(StrEnum):
    INDIVIDUAL = "individual"
    CLASS = "class"
    DORM = "dorm"
