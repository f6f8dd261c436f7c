"""The create use split by what it started (engine/started.py), in process over a real SQLite store.

A hosted tool here is a probe (a real `HostedTool` through the port) that records what it was given
and whether each binding was closed: what the engine opens, it closes; a queued run's secrets reach
its tools only through the sealed job."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from respond.backends.scripted import ScriptedBackend
from respond.core.hosted import BaseTool, Binding, HostedCall, OneFunctionBinding, Step, ToolContext, Wire
from respond.core.types import ToolSpec
from respond.engine.background.jobs import SEALED_SECRETS
from respond.engine.service import ModelRouter, ResponsesService
from respond.engine.started import Queued, Running, Warmed
from respond.engine.tooling.hosted import HostedTools
from respond.protocol.shapes import Annotation
from respond.store.sql import SqlStore
from tests.unit.conftest import OWNER


class ProbeBinding(OneFunctionBinding):
    tool_type = "probe"

    def __init__(self, ctx: ToolContext, log: list[dict[str, Any]]) -> None:
        self.spec = ToolSpec(name="probe_lookup", description="look up", parameters={"type": "object"})
        self.entry: dict[str, Any] = {"secrets": dict(ctx.secrets), "closed": 0}
        log.append(self.entry)

    async def run(self, call: HostedCall) -> AsyncIterator[Step]:  # never called: the model calls nothing
        return
        yield  # pragma: no cover

    def annotations(self, text: str) -> list[Annotation]:
        return []

    async def close(self) -> None:
        self.entry["closed"] += 1


class Probe(BaseTool):
    wire = Wire(("probe",))

    def __init__(self) -> None:
        self.bound: list[dict[str, Any]] = []

    async def bind(self, configs: list[tuple[int, dict[str, Any]]], ctx: ToolContext) -> Binding:
        return ProbeBinding(ctx, self.bound)

    def echo(self, config: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k != "token"}

    def secrets(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"token": config["token"]} if "token" in config else {}


def _service(store: SqlStore, probe: Probe) -> ResponsesService:
    return ResponsesService(store, ModelRouter([ScriptedBackend(reply="fine")]), hosted=HostedTools([probe]))


async def test_a_queued_runs_tools_are_bound_to_validate_then_closed(store: SqlStore) -> None:
    probe = Probe()
    started = await _service(store, probe).create(
        {"model": "scripted", "input": "hi", "background": True, "tools": [{"type": "probe"}]}, OWNER)
    assert isinstance(started, Queued) and started.response["status"] == "queued"
    assert [b["closed"] for b in probe.bound] == [1]  # validated before queueing, and released


async def test_a_foreground_run_closes_its_tools_once(store: SqlStore) -> None:
    probe = Probe()
    started = await _service(store, probe).create(
        {"model": "scripted", "input": "hi", "tools": [{"type": "probe"}]}, OWNER)
    assert isinstance(started, Running)
    events = [ev async for ev in started.run.events()]
    assert events[-1]["type"] == "response.completed"
    assert [b["closed"] for b in probe.bound] == [1]


async def test_a_queued_runs_secrets_travel_sealed_and_reach_only_its_run(store: SqlStore) -> None:
    probe = Probe()
    service = _service(store, probe)
    started = await service.create({"model": "scripted", "input": "hi", "background": True,
                                    "tools": [{"type": "probe", "token": "s3cret"}]}, OWNER)
    assert isinstance(started, Queued)
    assert started.response["tools"] == [{"type": "probe"}]  # never echoed
    job = await store.claim_job("worker-1", 10_000)
    assert job is not None and job["request"] is not None
    assert "s3cret" not in json.dumps(job["request"])  # stored only sealed
    assert job["request"]["tools"] == [{"type": "probe"}] and job["request"][SEALED_SECRETS]
    assert not any(isinstance(v, dict) and "s3cret" in json.dumps(v) for v in vars(service).values())
    run = await service.run_job(job)
    assert run is not None
    events = [ev async for ev in run.events()]
    assert events[-1]["type"] == "response.completed"
    assert probe.bound[-1]["secrets"] == {"0": {"token": "s3cret"}}
    assert [b["closed"] for b in probe.bound] == [1, 1]


async def test_a_sealed_blob_moved_to_another_job_fails_that_run(store: SqlStore) -> None:
    """An attacker who can write the jobs table gives response B the sealed secrets of response A:
    the blob is bound to A's id, so B fails and its tools never see A's token."""
    probe = Probe()
    service = _service(store, probe)
    tools = [{"type": "probe", "token": "for-a"}]
    await service.create({"model": "scripted", "input": "a", "background": True, "tools": tools}, OWNER)
    await service.create({"model": "scripted", "input": "b", "background": True,
                          "tools": [{"type": "probe"}]}, OWNER)
    a = await store.claim_job("w", 10_000)
    b = await store.claim_job("w", 10_000)
    assert a is not None and b is not None
    assert a["request"] is not None and b["request"] is not None
    b["request"] = {**b["request"], SEALED_SECRETS: a["request"][SEALED_SECRETS]}
    run = await service.run_job(b)
    assert run is not None
    events: list[Any] = [ev async for ev in run.events()]
    assert events[-1]["type"] == "response.failed"
    assert "could not be opened" in events[-1]["response"]["error"]["message"]
    assert all(entry["secrets"] == {} for entry in probe.bound[2:])  # no binding got A's token


async def test_generate_false_is_warmed_stored_without_output(store: SqlStore) -> None:
    service = _service(store, Probe())
    started = await service.create({"model": "scripted", "input": "hi"}, OWNER, generate=False)
    assert isinstance(started, Warmed)
    stored = await store.get_response(started.response["id"], OWNER)
    assert stored is not None and stored["status"] == "completed" and stored["output"] == []
