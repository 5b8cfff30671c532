"""The fast state converter writes exactly what SpiffWorkflow's own serializer writes, and
loading gives back the same instance (with the sandboxed script engine re-attached)."""
from __future__ import annotations

import zlib

import orjson
import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from app.workflow.catalog import DEFAULT_CHECKPOINTS
from app.workflow.engine import Instance, SafeEnvironment, parse_process
from app.workflow.validate import validate

from pathlib import Path

DEFAULT_BPMN = {p.stem: p for p in (Path(__file__).resolve().parent.parent / "bpmn").glob("*.bpmn")}

LANES = {k: k for k, *_ in DEFAULT_CHECKPOINTS} | {n: k for k, n, *_ in DEFAULT_CHECKPOINTS}
ATTRS = dict(gtype="x", college="资源学院", major="", class_name="", campus="", dorm_building="",
             has_national_loan=True, has_origin_loan=True, party_member=True, league_member=True,
             borrowed_instrument=True, borrowed_switch=False, library_books=1, library_fines=0.0, arrears=3.0,
             lives_on_campus=True, certificates_deferred=False)


class _StockStateConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


STOCK = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: _StockStateConverter}))


@pytest.mark.parametrize("gtype", sorted(DEFAULT_BPMN))
def test_state_matches_stock_serializer_and_roundtrips(gtype):
    data = DEFAULT_BPMN[gtype].read_bytes()
    result = validate(data, LANES)
    meta = {m["key"]: m for m in result.items}
    parsed = parse_process(data, result.process_id)
    inst = Instance.start(parsed, meta, ATTRS)
    first = next(iter(k for k, v in inst.items().items() if v.status == "pending"))
    inst.reject(first, "原因")
    ours = orjson.loads(zlib.decompress(inst.dump()))
    assert ours == orjson.loads(orjson.dumps(STOCK.to_dict(inst.wf)))
    loaded = Instance.load(inst.dump(), parsed, meta, ATTRS)
    assert isinstance(loaded.wf.script_engine.environment, SafeEnvironment)
    assert orjson.loads(zlib.decompress(loaded.dump())) == ours
    assert loaded.items() == inst.items()
