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

import ast
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

from app.core.domain import DomainError
from app.core.enums import ClearanceStatus, ItemStatus
from app.graduates.attributes import ATTRIBUTE_NAMES
from app.workflow import sandbox

from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION  # noqa: E402


class ActionRefused(DomainError):
    """An action that the engine rules forbid; ``code`` is stable, ``params`` fill the message."""

    def __init__(self, code: str, **params: Any):
        super().__init__("", code=code, **params)


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
MEMORY = "lxm"     # key of the per-instance memory in the root task's internal_data


def expression_names(expression: str) -> frozenset[str]:
    """The graduate attributes an expression reads."""
    try:
        tree = SafeEnvironment.compiled(expression)
    except sandbox.ExpressionError:
        return frozenset()
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in ATTRIBUTE_NAMES)


def gateway_names(spec) -> frozenset[str]:
    """The attributes read by any gateway condition of a process spec (cached on the spec)."""
    names = getattr(spec, "_lx_gateway_names", None)
    if names is None:
        found: set[str] = set()
        for task_spec in spec.task_specs.values():
            for condition, _name in getattr(task_spec, "cond_task_specs", ()) or ():
                args = getattr(condition, "args", None)
                if args and isinstance(args[0], str):
                    found |= expression_names(args[0])
        names = frozenset(found)
        spec._lx_gateway_names = names
    return names


def watched_names(spec, meta: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The attributes a refresh must compare: read by a gateway or by an auto-pass rule."""
    names = getattr(spec, "_lx_watched", None)
    if names is None:
        found = set(gateway_names(spec))
        for m in meta.values():
            if m.get("auto_pass"):
                found |= expression_names(m["auto_pass"])
        names = tuple(sorted(found))
        spec._lx_watched = names
    return names


def _snapshot(attributes: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: attributes.get(k) for k in names}


@dataclass
class ItemState:
    status: str
    reason: str | None = None
    blocked_by: tuple[str, ...] = ()
    auto: bool = False


@dataclass
class Instance:
    """One loaded process instance plus the metadata of its published version.

    The rules (docs/requirements.md, "Engine rules"):
    (a) until the certificates are issued, which items apply follows the graduate's current
        attributes: ``refresh`` re-routes a clearance whose gateway attributes changed by
        rebuilding it from a fresh start and replaying the decisions that still apply;
    (b) an auto-pass rule passes an item only when the item opens, or when the attributes the
        rule reads change; an operator's re-open or rejection of the item (``ovr``) stands until
        then;
    (c) re-opening (or un-waiving) any item rebuilds the instance without that decision, so
        whatever join it had fired is waiting again;
    (d) a rejection and its reason live in the instance memory until that item is confirmed or
        re-opened; they survive a re-open of a precondition, a waiver and its withdrawal.

    The memory sits in the root task's ``internal_data['lxm']``: ``{'a': attribute snapshot
    of the last refresh, 'i': {item: {'rej': reason, 'ovr': True}}}``.
    """

    wf: BpmnWorkflow
    meta: dict[str, dict[str, Any]]           # task key -> item metadata (see validate.items_meta)
    attributes: Mapping[str, Any]
    changes: list[tuple[str, str]] = field(default_factory=list)   # (task key, why) auto actions

    # -- construction
    @classmethod
    def start(cls, parsed: ParsedProcess, meta: dict[str, dict[str, Any]],
              attributes: Mapping[str, Any]) -> "Instance":
        wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=script_engine(attributes))
        wf.task_tree.internal_data[MEMORY] = {"a": _snapshot(attributes, watched_names(parsed.spec, meta)), "i": {}}
        wf.do_engine_steps()
        inst = cls(wf, meta, attributes)
        inst._auto_open(set())
        return inst

    @classmethod
    def load(cls, state: bytes, parsed: ParsedProcess, meta: dict[str, dict[str, Any]],
             attributes: Mapping[str, Any]) -> "Instance":
        inst = cls(load_state(state, parsed, attributes), meta, attributes)
        if MEMORY not in inst.wf.task_tree.internal_data:
            inst._migrate_legacy()
        return inst

    def _migrate_legacy(self) -> None:
        """States saved before the memory existed: rejections sat on the READY task's ``lx``."""
        items: dict[str, dict[str, Any]] = {}
        for task in self.wf.tasks.values():
            lx = task.internal_data.get("lx")
            if lx and lx.get("rej") and task.state == TaskState.READY:
                items[task.task_spec.name] = {"rej": lx["rej"]}
                task.internal_data.pop("lx", None)
        self.wf.task_tree.internal_data[MEMORY] = {"i": items}    # no snapshot: the next refresh rebuilds

    def dump(self) -> bytes:
        return dump_state(self.wf)

    @property
    def memory(self) -> dict[str, Any]:
        return self.wf.task_tree.internal_data[MEMORY]

    def _mem(self, key: str) -> dict[str, Any]:
        return self.memory["i"].setdefault(key, {})

    def _forget(self, key: str, *fields: str) -> None:
        entry = self.memory["i"].get(key)
        if entry is None:
            return
        for f in fields or tuple(entry):
            entry.pop(f, None)
        if not entry:
            del self.memory["i"][key]

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
        found = None
        for task in self.wf.tasks.values():
            if task.task_spec.name == key and task.state == state:
                found = task
                if state != TaskState.COMPLETED:
                    break
        return found

    def _ready_keys(self) -> set[str]:
        return {t.task_spec.name for t in self.wf.tasks.values()
                if t.state == TaskState.READY and t.task_spec.name in self.meta}

    def _decisions(self) -> dict[str, dict[str, Any]]:
        """item -> outcome marker of its completed task (``{}`` = passed by a person)."""
        out: dict[str, dict[str, Any]] = {}
        for task in self.wf.tasks.values():
            if task.state == TaskState.COMPLETED and task.task_spec.name in self.meta:
                out[task.task_spec.name] = dict(task.internal_data.get("lx") or {})
        return out

    def items(self) -> dict[str, ItemState]:
        """Derive every item's status from engine state (the projection's source of truth)."""
        by_key = self._tasks_by_key()
        memory = self.memory["i"]
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
            rej = (memory.get(key) or {}).get("rej")
            if any(t.state == TaskState.READY for t in tasks):
                raw[key] = ItemState(ItemStatus.REJECTED, rej) if rej else ItemState(ItemStatus.PENDING)
                continue
            waiting = [t for t in tasks if t.state & TaskState.NOT_FINISHED_MASK]
            if not completed and waiting and not all(self._branch_not_taken(t) for t in waiting):
                raw[key] = ItemState(ItemStatus.BLOCKED, rej)     # a rejection stays visible
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
        is "not required" rather than "waiting": nothing the graduate does will open it."""
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
        return self.wf.is_completed() or any(
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
                self._forget(key)
                return
            self._refuse_not_ready(key)
        before = self._ready_keys()
        self._run(task, None)
        self._forget(key)                 # a person decided: no rejection, no override left
        self._auto_open(before)
        self._tidy()

    def reject(self, key: str, reason: str) -> None:
        meta = self._require_known(key)
        task = self._task(key, TaskState.READY)
        if task is None:
            self._refuse_not_ready(key)
        entry = self._mem(key)
        entry["rej"] = reason
        if meta.get("auto_pass"):
            entry["ovr"] = True

    def waive(self, key: str, reason: str) -> None:
        meta = self._require_known(key)
        if not meta.get("waivable"):
            raise ActionRefused("not_waivable", item=key)
        task = self._task(key, TaskState.READY)
        if task is None:
            self._refuse_not_ready(key)
        before = self._ready_keys()
        self._run(task, {"o": "waived", "why": reason})
        self._auto_open(before)
        self._tidy()

    def unwaive(self, key: str) -> None:
        self._require_known(key)
        done = self._task(key, TaskState.COMPLETED)
        if done is None or (done.internal_data.get("lx") or {}).get("o") != "waived":
            raise ActionRefused("not_waived", item=key)
        self._check_reopenable(key)
        before = self._ready_keys()
        self._rebuild(drop={key})
        # the item opens again: paid meanwhile (its auto rule holds), the restriction does not return
        self._auto_open(before)
        self._tidy()

    def reopen(self, key: str) -> None:
        meta = self._require_known(key)
        done = self._task(key, TaskState.COMPLETED)
        if done is None:
            if self.items()[key].status == ItemStatus.NOT_REQUIRED:
                raise ActionRefused("not_required", item=key)
            raise ActionRefused("not_passed", item=key)
        self._check_reopenable(key)
        self._rebuild(drop={key}, require_open=key)
        self._forget(key)
        if meta.get("auto_pass"):
            self._mem(key)["ovr"] = True       # the operator's decision outranks the rule
        self._tidy()

    def _check_reopenable(self, key: str) -> None:
        if self.certificates_issued():
            raise ActionRefused("certificates_issued", item=key)
        decisions = self._decisions()
        later = sorted(k for k, m in self.meta.items() if k in decisions and key in m.get("upstream", ()))
        if later:
            raise ActionRefused("later_items_done", item=key, later=later)

    def _rebuild(self, drop: set[str] = frozenset(), require_open: str | None = None) -> None:
        """Start the process afresh over the current attributes and replay every decision that
        still applies (all but ``drop``). Items whose branch is no longer taken lose their
        decision (the history keeps it); the memory (rejections, overrides) is carried over."""
        decisions = {k: lx for k, lx in self._decisions().items() if k not in drop}
        old = self.wf
        wf = BpmnWorkflow(old.spec, old.subprocess_specs, script_engine=script_engine(self.attributes))
        wf.task_tree.internal_data[MEMORY] = orjson.loads(orjson.dumps(self.memory))
        wf.do_engine_steps()
        for _ in range(len(self.meta) * 4 + 4):
            task = next((t for t in wf.tasks.values()
                         if t.state == TaskState.READY and t.task_spec.name in decisions), None)
            if task is None:
                break
            lx = decisions.pop(task.task_spec.name)
            if lx:
                task.internal_data["lx"] = lx
            task.run()
            wf.do_engine_steps()
        if require_open is not None and not any(
                t.state == TaskState.READY and t.task_spec.name == require_open for t in wf.tasks.values()):
            raise ActionRefused("not_required", item=require_open)
        self.wf = wf

    def _auto_open(self, before: set[str], force: set[str] = frozenset()) -> None:
        """Pass items that have just opened (not READY in ``before``), or whose rule's attributes
        changed (``force``), when their auto-pass rule holds and no operator overrode it."""
        memory = self.memory["i"]
        for _ in range(len(self.meta) + 1):
            for task in list(self.wf.tasks.values()):
                if task.state != TaskState.READY:
                    continue
                key = task.task_spec.name
                meta = self.meta.get(key)
                if not meta or not meta.get("auto_pass") or (key in before and key not in force):
                    continue
                if (memory.get(key) or {}).get("ovr") or not self._rule_holds(meta["auto_pass"]):
                    continue
                self._run(task, {"auto": True})
                self._forget(key)
                self.changes.append((key, "auto_pass"))
                break
            else:
                return

    def refresh(self) -> None:
        """Bring the instance in line with the graduate's current attributes (rules a and b)."""
        memory = self.memory
        snap = memory.get("a")
        now = _snapshot(self.attributes, watched_names(self.wf.spec, self.meta))
        changed = None if snap is None else {k for k, v in now.items() if snap.get(k) != v}
        memory["a"] = now
        rule_changed: set[str] = set()
        if changed:
            rule_changed = {k for k, m in self.meta.items()
                            if m.get("auto_pass") and expression_names(m["auto_pass"]) & changed}
        for key in rule_changed:
            self._forget(key, "ovr")     # the data the operator's decision answered changed
        decisions = self._decisions()
        if not self.certificates_issued():
            reverts = set()
            for key, m in self.meta.items():
                lx = decisions.get(key)
                if (lx and lx.get("auto") and (changed is None or key in rule_changed)
                        and not self._rule_holds(m["auto_pass"])):
                    try:
                        self._check_reopenable(key)
                    except ActionRefused:
                        continue
                    reverts.add(key)
            if changed is None or reverts or (changed & gateway_names(self.wf.spec)):
                before = self._ready_keys()
                self._rebuild(drop=reverts)
                self.changes.extend((k, "auto_revert") for k in sorted(reverts))
                self._auto_open(before, rule_changed)
                self._tidy()
                decisions = self._decisions()
            else:
                self._auto_open(self._ready_keys(), rule_changed)
        # a 缓交 item whose rule now holds (e.g. the arrears were paid): passed by the rule
        for key in sorted(rule_changed):
            lx = decisions.get(key)
            if lx is not None and lx.get("o") == "waived" and self._rule_holds(self.meta[key]["auto_pass"]):
                done = self._task(key, TaskState.COMPLETED)
                done.internal_data["lx"] = {"auto": True}
                self.changes.append((key, "auto_pass"))

    def _tidy(self) -> None:
        """Forget the memory of items that no longer apply (a re-added item starts afresh)."""
        memory = self.memory["i"]
        if not memory:
            return
        items = self.items()
        for key in list(memory):
            if key not in items or items[key].status == ItemStatus.NOT_REQUIRED:
                del memory[key]

    def _rule_holds(self, rule: str) -> bool:
        try:
            return bool(sandbox.evaluate(SafeEnvironment.compiled(rule), self.attributes, ATTRIBUTE_NAMES))
        except sandbox.ExpressionError:
            return False
