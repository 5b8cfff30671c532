"""The SpiffWorkflow adapter. The only module (with ``validate``) that imports SpiffWorkflow.

Everything here works on in-memory objects: parsing a published diagram, creating,
loading and saving an instance, applying one action to one instance and deriving the
projection (item statuses) from engine state. Transactions, locking and audit live in
``app.workflow.services``.

Conventions kept inside the engine state:
* task data stays empty; gateway conditions and auto-pass rules are evaluated by
  :class:`SafeEnvironment` over the graduate's attributes bound at load time;
* a user task's outcome marker sits in ``task.internal_data['lx']`` (not inherited by
  children, cleared by a reset): ``{'o': 'waived'}`` for a 缓交 completion,
  ``{'auto': True}`` for an auto-pass, ``{'rej': reason}`` for a READY rejected task.
"""
from __future__ import annotations

import threading
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, TaskConverter
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from app.core.enums import ClearanceStatus, ItemStatus
from app.graduates.attributes import ATTRIBUTE_NAMES
from app.workflow import sandbox

from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION  # noqa: E402


class ActionRefused(Exception):
    """An action that the engine rules forbid; ``code`` is stable, ``params`` fill the message."""

    def __init__(self, code: str, **params: Any):
        super().__init__(code)
        self.code = code
        self.params = params


# --------------------------------------------------------------------------- sandbox
class SafeEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates expressions with :mod:`app.workflow.sandbox` over bound attributes only."""

    _cache: dict[str, Any] = {}
    _lock = threading.Lock()

    def __init__(self, attributes: Mapping[str, Any]):
        super().__init__({})
        self.attributes = attributes

    @classmethod
    def compiled(cls, expression: str):
        tree = cls._cache.get(expression)
        if tree is None:
            tree = sandbox.check(expression, ATTRIBUTE_NAMES)
            with cls._lock:
                if len(cls._cache) > 5000:
                    cls._cache.clear()
                cls._cache[expression] = tree
        return tree

    def evaluate(self, expression, context, external_context=None):  # noqa: ARG002
        return sandbox.evaluate(self.compiled(expression), self.attributes, ATTRIBUTE_NAMES)

    def execute(self, script, context, external_context=None):  # noqa: ARG002
        raise sandbox.ExpressionError("scripts are not allowed in Lixiao processes")

    def call_service(self, context, **kwargs):  # noqa: ARG002
        raise sandbox.ExpressionError("service calls are not allowed in Lixiao processes")


def script_engine(attributes: Mapping[str, Any]) -> PythonScriptEngine:
    return PythonScriptEngine(environment=SafeEnvironment(attributes))


# --------------------------------------------------------------------------- parsing
HARDENED_PARSER_OPTIONS = dict(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
    remove_comments=False, dtd_validation=False,
)


def harden_parse(data: bytes) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network. Raises etree.XMLSyntaxError/ValueError."""
    parser = etree.XMLParser(**HARDENED_PARSER_OPTIONS)
    root = etree.fromstring(data, parser=parser)
    if root.getroottree().docinfo.doctype:
        raise ValueError("DOCTYPE")
    return root


@dataclass
class ParsedProcess:
    spec: Any
    subprocess_specs: dict


_SPEC_CACHE: "OrderedDict[str, ParsedProcess]" = OrderedDict()
_SPEC_LOCK = threading.Lock()


def parse_process(bpmn: bytes, process_id: str, filename: str = "process.bpmn") -> ParsedProcess:
    from SpiffWorkflow.spiff.parser import VALIDATOR

    root = harden_parse(bpmn)
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_xml(root, filename=filename)
    spec = parser.get_spec(process_id)
    return ParsedProcess(spec, parser.get_subprocess_specs(process_id))


def cached_process(sha256: str, bpmn: bytes, process_id: str) -> ParsedProcess:
    """Parsed spec for a published version; shared read-only between instances."""
    with _SPEC_LOCK:
        hit = _SPEC_CACHE.get(sha256)
        if hit is not None:
            _SPEC_CACHE.move_to_end(sha256)
            return hit
    parsed = parse_process(bpmn, process_id)
    with _SPEC_LOCK:
        _SPEC_CACHE[sha256] = parsed
        while len(_SPEC_CACHE) > 64:
            _SPEC_CACHE.popitem(last=False)
    return parsed


# --------------------------------------------------------------------------- serialization
_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def _uuid(text: str, memo: dict[str, UUID]) -> UUID:
    """UUID from our own serialized state: memoized, without re-validating the text.

    Loading spends nearly half its time in ``UUID(str)``; every id appears about four
    times in a state (key, id, parent, child), and all of them were written by us.
    """
    u = memo.get(text)
    if u is None:
        u = object.__new__(UUID)
        object.__setattr__(u, "int", int(text.replace("-", ""), 16))
        object.__setattr__(u, "is_safe", _SAFE_UNKNOWN)
        memo[text] = u
    return u


def _plain(value: Any) -> bool:
    """JSON-native data needs no registry walk (our task data is empty or plain)."""
    return not value or (isinstance(value, dict) and all(
        isinstance(v, (str, int, float, bool, type(None))) or (isinstance(v, dict) and _plain(v))
        for v in value.values()))


class _FastTaskConverter(TaskConverter):
    """TaskConverter.from_dict, minus the per-value registry walk and UUID validation."""

    memo: dict[str, UUID] = {}
    names: dict[UUID, str] = {}

    def to_dict(self, task):
        names = self.names
        tid = task.id
        sid = names.get(tid) or names.setdefault(tid, str(tid))
        parent = task.parent
        if parent is None:
            data = task.data if _plain(task.data) else self.registry.convert(self.registry.clean(task.data))
            delta = {}
        else:
            data = {}
            if not task.data and not parent.data:
                delta = {"updates": {}, "deletions": []}
            else:
                delta = {"updates": DeepMerge.get_updated_keys(parent.data, task.data),
                         "deletions": DeepMerge.get_deleted_keys(parent.data, task.data)}
        internal = task.internal_data
        return {
            "id": sid,
            "parent": (names.get(task._parent) or names.setdefault(task._parent, str(task._parent)))
            if parent is not None else None,
            "children": [names.get(c) or names.setdefault(c, str(c)) for c in task._children],
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": dict(internal) if _plain(internal) else self.registry.convert(internal),
            "data": data,
            "delta": delta,
        }

    def from_dict(self, dct, workflow):
        memo = self.memo
        task_spec = workflow.spec.task_specs.get(dct["task_spec"])
        task = Task(workflow, task_spec, state=dct["state"], id=_uuid(dct["id"], memo))
        task._parent = _uuid(dct["parent"], memo) if dct["parent"] is not None else None
        task._children = [_uuid(c, memo) for c in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        internal = dct["internal_data"]
        task.internal_data = dict(internal) if _plain(internal) else self.registry.restore(internal)
        if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            task.workflow.top_workflow.event_manager.add_task(task)
        delta = dct.get("delta")
        if delta and task.parent is not None:
            updates, deletions = delta.get("updates", {}), delta.get("deletions", ())
            parent_data = task.parent.data
            if not updates and not deletions:
                data = DeepMerge.merge({}, parent_data) if parent_data else {}
            else:
                data = DeepMerge.merge({}, parent_data)
                data.update(updates if _plain(updates) else self.registry.restore(updates))
                for key in deletions:
                    data.pop(key, None)
        else:
            raw = dct["data"]
            data = dict(raw) if _plain(raw) else self.registry.restore(raw)
        task.data = data
        return task


class _StateOnlyConverter(BpmnWorkflowConverter):
    """Serialize instance state without the spec (the spec is stored once per version)."""

    def to_dict(self, workflow):
        names: dict[UUID, str] = {}
        _FastTaskConverter.names = names
        convert = self.registry.convert
        dct = {
            "data": convert(self.registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": {names.get(k) or names.setdefault(k, str(k)): convert(v) for k, v in workflow.tasks.items()},
            "root": str(workflow.task_tree.id),
        }
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        if spec is None:
            return super().from_dict(dct)
        wf = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        memo: dict[str, UUID] = {}
        _FastTaskConverter.memo = memo
        restore = self.registry.restore
        wf.tasks = {_uuid(k, memo): restore(v, workflow=wf) for k, v in dct["tasks"].items()}
        wf.task_tree = wf.tasks.get(_uuid(dct["root"], memo))
        self.set_default_attributes(wf, dct)
        self.subprocesses_from_dict(dict(dct["subprocesses"]), wf)
        wf.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
        return wf


def _state_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _StateOnlyConverter
    config[Task] = _FastTaskConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


_STATE_SER = _state_serializer()


def dump_state(wf: BpmnWorkflow) -> bytes:
    return zlib.compress(orjson.dumps(_STATE_SER.to_dict(wf)), 6)


def load_state(state: bytes, parsed: ParsedProcess, attributes: Mapping[str, Any]) -> BpmnWorkflow:
    dct = orjson.loads(zlib.decompress(state))
    wf = _STATE_SER.from_dict(dct, spec=parsed.spec, subprocess_specs=parsed.subprocess_specs)
    # deserialization silently restores the default (eval-based) engine: re-attach ours
    wf.script_engine = script_engine(attributes)
    return wf


# --------------------------------------------------------------------------- instance
@dataclass
class ItemState:
    status: str
    reason: str | None = None
    blocked_by: tuple[str, ...] = ()
    auto: bool = False


@dataclass
class Instance:
    """One loaded process instance plus the metadata of its published version."""

    wf: BpmnWorkflow
    meta: dict[str, dict[str, Any]]           # task key -> item metadata (see validate.items_meta)
    attributes: Mapping[str, Any]
    changes: list[tuple[str, str]] = field(default_factory=list)   # (task key, why) auto actions

    # -- construction
    @classmethod
    def start(cls, parsed: ParsedProcess, meta: dict[str, dict[str, Any]],
              attributes: Mapping[str, Any]) -> "Instance":
        wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=script_engine(attributes))
        wf.do_engine_steps()
        inst = cls(wf, meta, attributes)
        inst.apply_auto_rules()
        return inst

    @classmethod
    def load(cls, state: bytes, parsed: ParsedProcess, meta: dict[str, dict[str, Any]],
             attributes: Mapping[str, Any]) -> "Instance":
        return cls(load_state(state, parsed, attributes), meta, attributes)

    def dump(self) -> bytes:
        return dump_state(self.wf)

    # -- reading
    def _tasks_by_key(self) -> dict[str, list]:
        out: dict[str, list] = {}
        meta = self.meta
        for task in self.wf.tasks.values():
            name = task.task_spec.name
            if name in meta:
                out.setdefault(name, []).append(task)
        return out

    def _task(self, key: str, state: TaskState):
        for task in self.wf.tasks.values():
            if task.task_spec.name == key and task.state == state:
                return task
        return None

    def items(self) -> dict[str, ItemState]:
        """Derive every item's status from engine state (the projection's source of truth)."""
        by_key = self._tasks_by_key()
        raw: dict[str, ItemState] = {}
        completed = self.wf.is_completed()
        for key in self.meta:
            tasks = by_key.get(key, ())
            done = [t for t in tasks if t.state == TaskState.COMPLETED]
            if done:
                lx = done[-1].internal_data.get("lx") or {}
                status = ItemStatus.WAIVED if lx.get("o") == "waived" else ItemStatus.PASSED
                raw[key] = ItemState(status, lx.get("why"), auto=bool(lx.get("auto")))
                continue
            ready = [t for t in tasks if t.state == TaskState.READY]
            if ready:
                lx = ready[0].internal_data.get("lx") or {}
                if lx.get("rej"):
                    raw[key] = ItemState(ItemStatus.REJECTED, lx["rej"])
                else:
                    raw[key] = ItemState(ItemStatus.PENDING)
                continue
            waiting = [t for t in tasks if t.state & TaskState.NOT_FINISHED_MASK]
            if not completed and waiting and not all(self._branch_not_taken(t) for t in waiting):
                raw[key] = ItemState(ItemStatus.BLOCKED)
            else:
                raw[key] = ItemState(ItemStatus.NOT_REQUIRED)
        for key, item in raw.items():
            if item.status == ItemStatus.BLOCKED:
                item.blocked_by = tuple(
                    u for u in self.meta[key].get("upstream", ())
                    if raw.get(u) and raw[u].status in (ItemStatus.PENDING, ItemStatus.REJECTED,
                                                        ItemStatus.BLOCKED)
                )
        return raw

    def _branch_not_taken(self, task) -> bool:
        """Whether a task the engine only predicts lies on a branch that an exclusive gateway still
        ahead will not take, judged by the gateway's conditions over the graduate's attributes now
        (e.g. 领取暂缓发放的两证 for a graduate whose certificates are not deferred). Such an item
        is "not required" rather than "waiting": nothing the graduate does will open it. Attribute
        changes re-derive every item (``update_attributes``), so the judgement follows them."""
        child, parent = task, task.parent
        while parent is not None and not parent.state & TaskState.FINISHED_MASK:
            spec = parent.task_spec
            if isinstance(spec, ExclusiveGateway):
                chosen = spec.default_task_spec
                try:
                    for condition, name in spec.cond_task_specs:
                        if condition is not None and condition._matches(parent):
                            chosen = name
                            break
                except Exception:  # noqa: BLE001 - cannot tell yet: keep the item waiting
                    return False
                if chosen is not None and chosen != child.task_spec.name:
                    return True
            child, parent = parent, parent.parent
        return False

    def status(self, items: dict[str, ItemState] | None = None) -> str:
        if self.wf.is_completed():
            return ClearanceStatus.COMPLETED
        items = self.items() if items is None else items
        if any(self.meta[k].get("certificate") and s.status in (ItemStatus.PENDING, ItemStatus.REJECTED)
               for k, s in items.items()):
            return ClearanceStatus.ELIGIBLE
        return ClearanceStatus.IN_PROGRESS

    def certificates_issued(self) -> bool:
        return any(
            t.state == TaskState.COMPLETED
            for t in self.wf.tasks.values()
            if self.meta.get(t.task_spec.name, {}).get("certificate")
        )

    # -- actions
    def _require_known(self, key: str) -> dict[str, Any]:
        meta = self.meta.get(key)
        if meta is None:
            raise ActionRefused("unknown_item", item=key)
        return meta

    def _refuse_not_ready(self, key: str) -> None:
        state = self.items()[key]
        if state.status == ItemStatus.NOT_REQUIRED:
            raise ActionRefused("not_required", item=key)
        if state.status == ItemStatus.BLOCKED:
            raise ActionRefused("blocked", item=key, blockers=list(state.blocked_by))
        if state.status == ItemStatus.PASSED:
            raise ActionRefused("already_passed", item=key)
        if state.status == ItemStatus.WAIVED:
            raise ActionRefused("already_waived", item=key)
        raise ActionRefused("not_open", item=key)  # pragma: no cover - defensive

    def _run(self, task, lx: dict[str, Any] | None) -> None:
        if lx:
            task.internal_data["lx"] = lx
        else:
            task.internal_data.pop("lx", None)
        task.run()
        self.wf.do_engine_steps()

    def confirm(self, key: str) -> None:
        self._require_known(key)
        task = self._task(key, TaskState.READY)
        if task is None:
            done = self._task(key, TaskState.COMPLETED)
            if done is not None and (done.internal_data.get("lx") or {}).get("o") == "waived":
                # 缓交 settled later: the item was already lifted as a precondition; now it is passed.
                done.internal_data["lx"] = {}
                return
            self._refuse_not_ready(key)
        self._run(task, None)
        self.apply_auto_rules()

    def reject(self, key: str, reason: str) -> None:
        self._require_known(key)
        task = self._task(key, TaskState.READY)
        if task is None:
            self._refuse_not_ready(key)
        task.internal_data["lx"] = {"rej": reason}

    def waive(self, key: str, reason: str) -> None:
        meta = self._require_known(key)
        if not meta.get("waivable"):
            raise ActionRefused("not_waivable", item=key)
        task = self._task(key, TaskState.READY)
        if task is None:
            self._refuse_not_ready(key)
        self._run(task, {"o": "waived", "why": reason})
        self.apply_auto_rules()

    def unwaive(self, key: str) -> None:
        self._require_known(key)
        done = self._task(key, TaskState.COMPLETED)
        if done is None or (done.internal_data.get("lx") or {}).get("o") != "waived":
            raise ActionRefused("not_waived", item=key)
        self._reset(done)
        self.apply_auto_rules()   # paid meanwhile (e.g. arrears == 0): the restriction does not return

    def reopen(self, key: str) -> None:
        self._require_known(key)
        done = self._task(key, TaskState.COMPLETED)
        if done is None:
            raise ActionRefused("not_passed", item=key)
        self._reset(done)

    def _reset(self, task) -> None:
        """Re-open a completed task, also after the parallel join has fired."""
        if self.certificates_issued():
            raise ActionRefused("certificates_issued", item=task.task_spec.name)
        later = sorted({
            t.task_spec.name for t in task if t is not task and t.state == TaskState.COMPLETED
            and t.task_spec.name in self.meta
        })
        if later:
            raise ActionRefused("later_items_done", item=task.task_spec.name, later=later)
        key = task.task_spec.name
        self.wf.reset_from_task_id(task.id)
        # If a join downstream already fired (in another branch of the tree), it has to be
        # reset too, after the task, or the certificates would stay issuable.
        for _ in range(16):
            fired = [
                t for t in self.wf.tasks.values()
                if t.state == TaskState.COMPLETED
                and t.task_spec.name in self.meta[key].get("downstream_joins", ())
            ]
            if not fired:
                break
            order = self.meta[key]["downstream_joins"]
            fired.sort(key=lambda t: order.index(t.task_spec.name))   # innermost join first
            self.wf.reset_from_task_id(fired[0].id)
        self.wf.do_engine_steps()

    def apply_auto_rules(self) -> list[tuple[str, str]]:
        """Pass READY items whose auto-pass rule holds; re-open auto-passed ones whose rule broke."""
        changed: list[tuple[str, str]] = []
        for _ in range(len(self.meta) + 1):
            progress = False
            for task in list(self.wf.tasks.values()):
                meta = self.meta.get(task.task_spec.name)
                if not meta or not meta.get("auto_pass"):
                    continue
                if task.state == TaskState.READY:
                    if self._rule_holds(meta["auto_pass"]):
                        self._run(task, {"auto": True})
                        changed.append((task.task_spec.name, "auto_pass"))
                        progress = True
                        break
            if not progress:
                break
        for task in list(self.wf.tasks.values()):
            meta = self.meta.get(task.task_spec.name)
            if (meta and meta.get("auto_pass") and task.state == TaskState.COMPLETED
                    and (task.internal_data.get("lx") or {}).get("auto")
                    and not self._rule_holds(meta["auto_pass"])):
                try:
                    self._reset(task)
                except ActionRefused:
                    continue
                changed.append((task.task_spec.name, "auto_revert"))
        self.changes.extend(changed)
        return changed

    def _rule_holds(self, rule: str) -> bool:
        try:
            return bool(sandbox.evaluate(SafeEnvironment.compiled(rule), self.attributes, ATTRIBUTE_NAMES))
        except sandbox.ExpressionError:
            return False


