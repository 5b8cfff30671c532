"""Validation of uploaded BPMN: element-level problems a process admin understands.

``validate(data, checkpoints)`` never raises for bad input and never runs code from
the file: XML is parsed with a hardened parser, expressions only go through the
sandbox's whitelist, and the engine is only asked to build the spec (and to dry-run
it with the sandboxed environment) after every rule passed.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from lxml import etree

from app.core.enums import BatchMode
from app.graduates.attributes import ATTRIBUTE_NAMES, ATTRIBUTES
from app.workflow import sandbox
from app.workflow.engine import ActionRefused, Instance, harden_parse, parse_process

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"

SUPPORTED_NODES = {"startEvent", "endEvent", "userTask", "exclusiveGateway", "parallelGateway",
                   "inclusiveGateway"}
JOIN_GATEWAYS = {"parallelGateway", "inclusiveGateway"}
IGNORED = {"sequenceFlow", "laneSet", "lane", "childLaneSet", "flowNodeRef", "documentation",
           "extensionElements", "incoming", "outgoing", "conditionExpression", "textAnnotation",
           "text", "association", "dataObject", "dataObjectReference", "dataStoreReference",
           "group", "category", "categoryValue", "property"}
UNSUPPORTED_NAMES = {
    "scriptTask": "script tasks are not allowed",
    "task": "a task without a type cannot be confirmed: draw it as a user task in a checkpoint lane",
    "manualTask": "manual tasks are not supported: use a user task in a checkpoint lane",
}
EVENT_DEFINITIONS = {"timerEventDefinition", "messageEventDefinition", "signalEventDefinition",
                     "errorEventDefinition", "escalationEventDefinition", "conditionalEventDefinition",
                     "compensateEventDefinition", "cancelEventDefinition", "linkEventDefinition",
                     "terminateEventDefinition"}
TRUE = {"true", "1", "yes"}


@dataclass
class Problem:
    element: str
    line: int
    message: str

    def format(self, filename: str) -> str:
        return f"{filename}:{self.line}: {self.element or '-'}: {self.message}"


@dataclass
class ValidationResult:
    problems: list[Problem] = field(default_factory=list)
    process_id: str | None = None
    process_name: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _local(el) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _line(el) -> int:
    return getattr(el, "sourceline", 0) or 0


def validate(data: bytes, checkpoints: Mapping[str, str], *, max_bytes: int = 2 * 1024 * 1024,
             filename: str = "process.bpmn") -> ValidationResult:
    """Check ``data``; ``checkpoints`` maps lane names (checkpoint name or key) to keys."""
    result = ValidationResult()
    try:
        _validate(data, checkpoints, max_bytes, filename, result)
    except Exception as exc:  # never a traceback for any input  # noqa: BLE001
        result.problems.append(Problem("", 0, _("the file could not be checked: %(error)s",
                                                  error=type(exc).__name__)))
    unique = {(p.line, p.element, p.message): p for p in result.problems}
    result.problems = sorted(unique.values(), key=lambda p: (p.line, p.element))
    return result


def _validate(data: bytes, checkpoints: Mapping[str, str], max_bytes: int, filename: str,
              result: ValidationResult) -> None:
    add = lambda el, msg: result.problems.append(  # noqa: E731
        Problem(el.get("id", "") if el is not None else "", _line(el) if el is not None else 0, msg))
    if not isinstance(data, (bytes, bytearray)) or not data.strip():
        add(None, _("the file is empty"))
        return
    if len(data) > max_bytes:
        add(None, _("the file is larger than %(limit)s KB", limit=max_bytes // 1024))
        return
    try:
        root = harden_parse(bytes(data))
    except etree.XMLSyntaxError as exc:
        result.problems.append(Problem("", exc.lineno or 0,
                                       _("not well-formed XML: %(error)s", error=exc.msg)))
        return
    except ValueError:
        add(None, _("DOCTYPE and entity declarations are not allowed in BPMN files"))
        return
    if root.tag != f"{{{BPMN}}}definitions":
        add(root, _("not a BPMN 2.0 file (the root element must be bpmn:definitions)"))
        return
    for el in root.iter(etree.Entity, etree.ProcessingInstruction):
        add(el.getparent(), _("entities and processing instructions are not allowed"))
        return

    processes = root.findall(f"{{{BPMN}}}process")
    executable = [p for p in processes if (p.get("isExecutable") or "").lower() == "true"]
    if not processes:
        add(root, _("the file contains no process"))
        return
    if not executable:
        for p in processes:
            add(p, _("process %(id)s is not executable (set isExecutable=\"true\")", id=p.get("id", "?")))
        return
    if len(executable) > 1:
        for p in executable[1:]:
            add(p, _("more than one executable process: a graduate type runs exactly one process"))
        return
    process = executable[0]
    pid = process.get("id")
    if not pid:
        add(process, _("the process has no id"))
        return
    result.process_id = pid
    result.process_name = process.get("name") or pid

    before = len(result.problems)
    nodes: dict[str, Any] = {}
    flows: dict[str, Any] = {}
    for el in process:  # the flow elements are the process's direct children
        name = _local(el)
        if not name:
            continue
        el_id = el.get("id")
        if name in SUPPORTED_NODES:
            if not el_id:
                add(el, _("element %(tag)s has no id", tag=name))
                continue
            nodes[el_id] = el
            for child in el:
                child_name = _local(child)
                if child_name in EVENT_DEFINITIONS:
                    add(el, _("%(kind)s events are not supported in clearance processes",
                              kind=child_name.replace("EventDefinition", "")))
                elif child_name.endswith("LoopCharacteristics"):
                    add(el, _("loops and multi-instance tasks are not supported in clearance processes"))
        elif name == "sequenceFlow":
            if el_id:
                flows[el_id] = el
        elif name in UNSUPPORTED_NAMES:
            add(el, _(UNSUPPORTED_NAMES[name]))
        elif el.tag.startswith(f"{{{BPMN}}}") and name not in IGNORED:
            add(el, _("%(tag)s is not supported in clearance processes", tag=name))
    # scripts hidden in extensions (spiffworkflow pre/post scripts, camunda listeners ...)
    for el in process.iter():
        name = _local(el)
        if name and not el.tag.startswith(f"{{{BPMN}}}"):
            lowered = name.lower()
            if "script" in lowered or "listener" in lowered:
                owner = el
                while owner is not None and not owner.get("id"):
                    owner = owner.getparent()
                add(owner if owner is not None else el, _("scripts are not allowed (%(tag)s)", tag=name))
    if len(result.problems) > before:
        return

    starts = [n for n in nodes.values() if _local(n) == "startEvent"]
    if len(starts) != 1:
        add(process, _("the process needs exactly one start event (found %(n)d)", n=len(starts)))
    if not any(_local(n) == "endEvent" for n in nodes.values()):
        add(process, _("the process has no end event"))

    # lanes ------------------------------------------------------------------
    lane_of: dict[str, Any] = {}
    for lane in process.iter(f"{{{BPMN}}}lane"):
        for ref in lane.findall(f"{{{BPMN}}}flowNodeRef"):
            if (ref.text or "").strip():
                lane_of[(ref.text or "").strip()] = lane
    user_tasks = [n for n in nodes.values() if _local(n) == "userTask"]
    if not user_tasks:
        add(process, _("the process has no user task: there is nothing for a checkpoint to confirm"))
    task_checkpoint: dict[str, str] = {}
    for task in user_tasks:
        lane = lane_of.get(task.get("id"))
        if lane is None:
            add(task, _("user task is not in a lane: put it in the lane of its checkpoint"))
            continue
        lane_name = (lane.get("name") or "").strip()
        if not lane_name:
            add(lane, _("lane has no name: name it after a checkpoint"))
            continue
        cp = checkpoints.get(lane_name)
        if cp is None:
            known = "、".join(sorted(checkpoints_names(checkpoints)))
            add(lane, _("lane \"%(name)s\" is not a known checkpoint (known: %(known)s)",
                        name=lane_name, known=known))
            continue
        task_checkpoint[task.get("id")] = cp

    # flows and conditions -----------------------------------------------------
    outgoing: dict[str, list] = {k: [] for k in nodes}
    incoming: dict[str, list] = {k: [] for k in nodes}
    for fid, flow in flows.items():
        src, dst = flow.get("sourceRef"), flow.get("targetRef")
        if src not in nodes or dst not in nodes:
            add(flow, _("sequence flow points to an element that does not exist (%(ref)s)",
                        ref=src if src not in nodes else dst))
            continue
        outgoing[src].append(flow)
        incoming[dst].append(flow)
        cond = flow.find(f"{{{BPMN}}}conditionExpression")
        if cond is not None:
            text = (cond.text or "").strip()
            if _local(nodes[src]) not in ("exclusiveGateway", "inclusiveGateway"):
                add(flow, _("conditions are only allowed on flows leaving an exclusive or inclusive gateway"))
            elif fid == nodes[src].get("default"):
                add(flow, _("the default flow must not have a condition"))
            else:
                try:
                    sandbox.check(text, ATTRIBUTE_NAMES)
                except sandbox.ExpressionError as exc:
                    add(flow, _("condition \"%(expr)s\" is not allowed: %(why)s",
                                expr=text[:80], why=str(exc)))
    for nid, node in nodes.items():
        kind = _local(node)
        if kind in ("exclusiveGateway", "inclusiveGateway") and len(outgoing[nid]) > 1:
            default = node.get("default")
            if not default:
                add(node, _("gateway has no default flow: mark one outgoing flow as the default"))
            elif default not in {f.get("id") for f in outgoing[nid]}:
                add(node, _("the default flow %(flow)s does not leave this gateway", flow=default))
            for flow in outgoing[nid]:
                if flow.get("id") != default and flow.find(f"{{{BPMN}}}conditionExpression") is None:
                    add(flow, _("flow leaving a gateway needs a condition (or must be the default)"))
        if kind != "startEvent" and not incoming[nid]:
            add(node, _("element has no incoming flow and can never be reached"))
        if kind != "endEvent" and not outgoing[nid]:
            add(node, _("element has no outgoing flow: connect it towards the end event"))

    # user-task properties -----------------------------------------------------
    props_of: dict[str, dict[str, str]] = {}
    for task in user_tasks:
        props: dict[str, str] = {}
        for prop in task.iter(f"{{{SPIFF}}}property"):
            if prop.get("name"):
                props[prop.get("name")] = prop.get("value") or ""
        props_of[task.get("id")] = props
        mode = props.get("batch_mode", BatchMode.INDIVIDUAL)
        if mode not in set(BatchMode):
            add(task, _("batch_mode \"%(mode)s\" is unknown (use individual, class or dorm)", mode=mode))
        rule = props.get("auto_pass")
        if rule:
            try:
                sandbox.check(rule, ATTRIBUTE_NAMES)
            except sandbox.ExpressionError as exc:
                add(task, _("auto-pass rule \"%(expr)s\" is not allowed: %(why)s",
                            expr=rule[:80], why=str(exc)))
        if len(task.get("id", "")) > 64:
            add(task, _("element id is longer than 64 characters"))
    if result.problems:
        return

    # the engine's own structural checks -------------------------------------------
    from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

    try:
        parsed = parse_process(bytes(data), pid, filename=filename)
    except ValidationException as exc:
        el_id = getattr(exc, "id", "") or ""
        line = getattr(exc, "line_number", "") or 0
        if el_id and not line:
            found = root.xpath("//*[@id=$id]", id=el_id)
            line = _line(found[0]) if found else 0
        msg = str(exc).split(". ")[0].strip() if str(exc) else type(exc).__name__
        result.problems.append(Problem(el_id, int(line or 0), _("the engine refused the process: %(error)s",
                                                                 error=msg[:300])))
        return
    except Exception as exc:  # noqa: BLE001
        add(process, _("the engine could not read the process: %(error)s", error=str(exc)[:300]))
        return

    result.items = items_meta(process, nodes, flows, outgoing, incoming, task_checkpoint, props_of, root)
    meta = {m["key"]: m for m in result.items}
    # dry runs: with every attribute off, and with every attribute on
    for attrs in _sample_attributes():
        try:
            inst = Instance.start(parsed, meta, attrs)
            inst.items()
        except ActionRefused:
            pass
        except Exception as exc:  # noqa: BLE001
            add(process, _("a trial run failed: %(error)s", error=str(exc)[:300]))
            return


def checkpoints_names(checkpoints: Mapping[str, str]) -> set[str]:
    return {n for n in checkpoints if not n.isascii()} or set(checkpoints)


def _sample_attributes() -> list[dict[str, Any]]:
    off: dict[str, Any] = {}
    on: dict[str, Any] = {}
    for name, (typ, _zh, _en) in ATTRIBUTES.items():
        off[name] = typ() if typ is not bool else False
        on[name] = {bool: True, int: 1, float: 1.0, str: "x"}[typ]
    return [off, on]


def items_meta(process, nodes, flows, outgoing, incoming, task_checkpoint, props_of, root) -> list[dict[str, Any]]:
    """Per user task: checkpoint, order, batch mode, rules, upstream items, downstream joins."""
    starts = [n for n, el in nodes.items() if _local(el) == "startEvent"]
    # BFS depth from the start for a stable "sensible order"
    depth: dict[str, int] = {}
    queue = deque((s, 0) for s in starts)
    while queue:
        nid, d = queue.popleft()
        if nid in depth:
            continue
        depth[nid] = d
        for f in outgoing.get(nid, ()):
            queue.append((f.get("targetRef"), d + 1))
    pos: dict[str, tuple[float, float]] = {}
    for shape in root.iter(f"{{{BPMNDI}}}BPMNShape"):
        bounds = shape.find(f"{{{DC}}}Bounds")
        if bounds is not None:
            try:
                pos[shape.get("bpmnElement")] = (float(bounds.get("y", 0)), float(bounds.get("x", 0)))
            except ValueError:
                pass

    def reach(start: str, edges: dict[str, list], attr: str) -> list[str]:
        seen: list[str] = []
        todo = deque([start])
        visited = {start}
        while todo:
            nid = todo.popleft()
            for f in edges.get(nid, ()):
                nxt = f.get(attr)
                if nxt in nodes and nxt not in visited:
                    visited.add(nxt)
                    seen.append(nxt)
                    todo.append(nxt)
        return seen

    items = []
    for nid, el in nodes.items():
        if _local(el) != "userTask" or nid not in task_checkpoint:
            continue
        props = props_of.get(nid, {})
        doc = el.find(f"{{{BPMN}}}documentation")
        upstream = [u for u in reach(nid, incoming, "sourceRef") if _local(nodes[u]) == "userTask"]
        joins = [j for j in reach(nid, outgoing, "targetRef")
                 if _local(nodes[j]) in JOIN_GATEWAYS and len(incoming[j]) > 1]
        joins.sort(key=lambda j: depth.get(j, 0))
        items.append({
            "key": nid,
            "name": (el.get("name") or nid).strip(),
            "name_en": props.get("name_en", "").strip(),
            "checkpoint": task_checkpoint[nid],
            "batch_mode": props.get("batch_mode", BatchMode.INDIVIDUAL),
            "auto_pass": props.get("auto_pass") or None,
            "waivable": props.get("waivable", "").lower() in TRUE,
            "certificate": props.get("certificate", "").lower() in TRUE,
            "documentation": (doc.text or "").strip() if doc is not None else "",
            "documentation_en": props.get("documentation_en", "").strip(),
            "upstream": upstream,
            "downstream_joins": joins,
            "_sort": (len(upstream), pos.get(nid, (0.0, 0.0)), depth.get(nid, 0)),
        })
    items.sort(key=lambda m: m.pop("_sort"))
    for i, m in enumerate(items):
        m["order"] = i
    return items
