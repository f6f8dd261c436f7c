"""ReplicaSet: least-outstanding balancing, passive health with one retry, half-open, 503 when all are down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from respond.core.errors import BackendError
from respond.core.types import Delta, Finish, Generation, ModelInfo, TextDelta
from respond.engine.errors import backend_to_api
from respond.engine.execution.replicas import Health, ReplicaSet
from respond.engine.execution.router import ModelRouter
from respond.protocol.errors import APIError


class Fake:
    """A replica: answers text, or fails before its first delta, or after it."""

    name = "fake"

    def __init__(self, label: str) -> None:
        self.label = label
        self.fail: BackendError | None = None
        self.fail_after_first = False
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.listing: list[str] = ["listed-model"]

    async def generate(self, gen: Generation) -> AsyncIterator[Delta]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        yield TextDelta(self.label)
        if self.fail_after_first:
            raise BackendError("cut mid-stream", status=None)
        yield Finish()

    async def models(self) -> list[ModelInfo]:
        if self.fail is not None:
            raise self.fail
        return [ModelInfo(id=m) for m in self.listing]

    def serves(self, model: str) -> bool:
        return True

    async def close(self) -> None:
        return None


def gen() -> Generation:
    return Generation(model="m", messages=[{"role": "user", "content": "hi"}])


async def text(rs: ReplicaSet) -> str:
    return "".join([d.text async for d in rs.generate(gen()) if isinstance(d, TextDelta)])


def replicas(n: int, **kw: Any) -> tuple[ReplicaSet, list[Fake]]:
    fakes = [Fake(f"r{i}") for i in range(n)]
    return ReplicaSet("up", [(f.label, f) for f in fakes], models=["m"], health=Health(backoff=30), **kw), fakes


async def test_ties_alternate_and_busy_replicas_are_avoided():
    rs, (a, b) = replicas(2)
    assert [await text(rs) for _ in range(4)].count("r0") == 2
    a.gate = asyncio.Event()  # r0 holds a request open: the next ones go to r1
    rs._turn = -1  # the next tie goes to r0
    held = asyncio.create_task(text(rs))
    while rs.replicas[0].outstanding != 1:
        await asyncio.sleep(0.001)
    assert {await text(rs) for _ in range(3)} == {"r1"}
    a.gate.set()
    assert await held == "r0"
    assert rs.replicas[0].outstanding == rs.replicas[1].outstanding == 0


@pytest.mark.parametrize("failure", [BackendError("refused", status=502, code="upstream_unreachable"),
                                     BackendError("boom", status=500), BackendError("slow", status=504,
                                                                                    code="upstream_timeout")])
async def test_failure_before_first_delta_retries_once_and_marks_down(failure):
    rs, (a, b) = replicas(2)
    a.fail = failure
    assert {await text(rs) for _ in range(4)} == {"r1"}
    assert a.calls == 1  # marked down after its one failure: not asked again during the backoff
    health = {h.replica: h for h in rs.state()}
    assert not health["r0"].up and health["r0"].retry_in > 20 and health["r1"].up


async def test_client_errors_are_not_retried():
    rs, (a, b) = replicas(2)
    a.fail = b.fail = BackendError("bad request", status=400, code="invalid_value")
    with pytest.raises(BackendError) as err:
        await text(rs)
    assert err.value.status == 400 and a.calls + b.calls == 1
    assert all(h.up for h in rs.state())


async def test_all_down_is_503_with_retry_after():
    rs, fakes = replicas(2)
    for f in fakes:
        f.fail = BackendError("refused", status=502, code="upstream_unreachable")
    with pytest.raises(BackendError) as err:
        await text(rs)
    assert err.value.status == 503 and err.value.code == "upstream_unavailable"
    api = backend_to_api(err.value)
    assert api.status == 503 and api.retry_after is not None and 25 <= api.retry_after <= 30
    with pytest.raises(BackendError):  # no replica is asked while all are in their backoff
        await text(rs)
    assert sum(f.calls for f in fakes) == 2


async def test_failure_after_first_delta_is_not_retried():
    rs, (a, b) = replicas(2)
    rs._turn = -1  # the next tie goes to r0
    a.fail_after_first = True
    with pytest.raises(BackendError, match="mid-stream"):
        await text(rs)
    assert b.calls == 0 and all(h.up for h in rs.state())


async def test_active_probe_brings_a_replica_back_and_half_open_trial():
    rs, (a, b) = replicas(2)
    rs.health.backoff = 0.05
    a.fail = BackendError("refused", status=502, code="upstream_unreachable")
    rs._turn = -1
    await text(rs)
    assert not rs.state()[0].up
    a.fail = None
    await asyncio.sleep(0.06)
    await rs._probe(rs.replicas[0])  # what the health loop does for a down replica whose backoff ended
    assert rs.state()[0].up
    # half-open: with no replica up, one whose backoff ended takes the request (and is up again)
    for f in (a, b):
        f.fail = BackendError("refused", status=502, code="upstream_unreachable")
    with pytest.raises(BackendError):
        await text(rs)
    a.fail = None
    await asyncio.sleep(0.2)
    assert await text(rs) == "r0"


async def test_listed_models_and_router_404():
    fake = Fake("r0")
    rs = ReplicaSet("up", [("r0", fake)])
    router = ModelRouter([rs], aliases={"gpt-4o": "listed-model"})
    assert not rs.serves("listed-model")  # not listed yet
    assert await router.route("gpt-4o") == "listed-model"  # a miss refreshes the list
    fake.listing = ["new-model"]
    with pytest.raises(APIError) as err:
        await router.route("other")  # the list is fresh: not refreshed again
    assert err.value.status == 404 and err.value.code == "model_not_found"
    assert "'gpt-4o'" in err.value.message and "'listed-model'" in err.value.message
    # what a stored key limited to some models is told: only the names it may use (it learns nothing else)
    told = router.unknown("other", visible=lambda m: m == "gpt-4o").message
    assert "'gpt-4o'" in told and "listed-model" not in told
    assert "'" not in router.unknown("other", visible=lambda m: False).message.replace("'other'", "")
    models = {m.id: m for m in await router.models()}
    assert models["gpt-4o"].alias_for == "listed-model" and models["gpt-4o"].owned_by == "up"
    await rs.close()


async def test_a_full_local_pool_tries_another_replica_without_marking_down():
    rs, (a, b) = replicas(2)
    rs._turn = -1
    a.fail = BackendError("all connections in use", status=503, code="upstream_busy")
    assert await text(rs) == "r1"
    assert all(h.up for h in rs.state())
    b.fail = a.fail
    with pytest.raises(BackendError) as err:
        await text(rs)
    assert err.value.code == "upstream_busy" and all(h.up for h in rs.state())
