"""Tenants (issue 22): stored keys, per-key models and limits, usage, the admin API.

In-process servers (tests/tenants_app.py) over real SQLite and PostgreSQL, driven over HTTP with the
official SDK and httpx; two apps on one database are two replicas (separate pools and caches).
The limits read an injectable clock, so "the next window" is a clock move, not a minute's wait.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.tenants_app import ADMIN, START, Clock, replica

REDIS = os.environ.get("RESPOND_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


redis_only = pytest.mark.skipif(not _redis_up(), reason="needs Redis at 127.0.0.1:6379 (RESPOND_TEST_REDIS)")


RATE_STORES = ["database", pytest.param("redis", marks=redis_only)]


def _rates(rates: str) -> str:
    return REDIS if rates == "redis" else "database"


RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests")
TOKEN_HEADERS = ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens")


async def test_key_lifecycle_across_replicas(database: str, tmp_path: Path) -> None:
    """Created on one replica, it works at once on another; rotated, it keeps its data; revoked, the
    other replica refuses it within a second."""
    async with replica(database, tmp_path / "a") as a, replica(database, tmp_path / "b") as b:
        made = await a.new_key(label="team-x", models=["demo"])
        assert made["key"].startswith("rk-") and made["label"] == "team-x"
        first = await b.client(made["key"]).responses.create(model="demo", input="hi")  # replica B, at once
        assert first.output_text == "one two three four five"
        listed = (await a.admin("GET", "/keys")).json()["data"]
        mine = next(k for k in listed if k["id"] == made["id"])
        assert "key" not in mine and "secret_hash" not in mine and "salt" not in mine

        rotated = (await a.admin("POST", f"/keys/{made['id']}/rotate")).json()
        assert rotated["key"] != made["key"] and rotated["id"] == made["id"]
        await asyncio.sleep(0.6)  # past --key-cache-seconds (0.5)
        with pytest.raises(openai.AuthenticationError):
            await b.client(made["key"]).responses.create(model="demo", input="hi")
        again = await b.client(rotated["key"]).responses.retrieve(first.id)  # same owner: its data stays
        assert again.id == first.id

        assert (await a.admin("POST", f"/keys/{made['id']}/revoke")).json()["revoked_at"] is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            r = await b.ask(rotated["key"])
            if r.status_code == 401:
                break
            assert loop.time() - start < 1.0, "replica B still accepts a revoked key after 1 s"
            await asyncio.sleep(0.05)
        assert r.json()["error"]["code"] == "invalid_api_key"
        assert "revoked" in r.json()["error"]["message"]


async def test_admin_api_only_with_the_admin_key(database: str, tmp_path: Path) -> None:
    async with replica(database, tmp_path) as a:
        tenant = await a.new_key(label="t")
        for key in (tenant["key"], "static-key", None, ADMIN + "x"):
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            for method, path in (("GET", "/keys"), ("POST", "/keys"), ("GET", "/usage"),
                                 ("POST", f"/keys/{tenant['id']}/revoke"), ("POST", f"/keys/{tenant['id']}/rotate")):
                r = await a.http.request(method, f"/admin/v1{path}", headers=headers, json={})
                assert r.status_code == 401, (key, path, r.text)
        assert (await a.admin("GET", f"/keys/{tenant['id']}")).json()["revoked_at"] is None
    async with replica(database, tmp_path, admin_key=None) as off:
        r = await off.http.get("/admin/v1/keys", headers={"Authorization": "Bearer anything"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "admin_disabled"


async def test_bad_bodies_are_400s_naming_the_field(database: str, tmp_path: Path) -> None:
    async with replica(database, tmp_path) as a:
        for body, param in (({"limits": {"rpm": -1}}, "limits.rpm"), ({"limits": {"rps": 1}}, "limits.rps"),
                            ({"models": "demo"}, "models"), ({"colour": 1}, "colour"),
                            ({"expires_in": 0}, "expires_in"), ({"label": 5}, "label")):
            r = await a.admin("POST", "/keys", json=body)
            assert r.status_code == 400 and r.json()["error"]["param"] == param, (body, r.text)
        assert (await a.admin("GET", "/usage?group_by=owner")).status_code == 400
        assert (await a.admin("POST", "/keys/key_0000000000000000/revoke")).status_code == 404


async def test_expired_and_wrong_keys(database: str, tmp_path: Path) -> None:
    clock = Clock()
    async with replica(database, tmp_path, clock=clock) as a:
        made = await a.new_key(expires_in=60)
        assert (await a.ask(made["key"])).status_code == 200
        clock.advance(61)
        r = await a.ask(made["key"])
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
        kid = made["id"].removeprefix("key_")
        for wrong in (made["key"][:-1] + ("A" if made["key"][-1] != "A" else "B"),  # right id, wrong secret
                      f"rk-{'0' * 16}-{made['key'].split('-', 2)[2]}",  # unknown id
                      f"rk-{kid}-", f"rk-{kid.upper()}-x", "rk-", made["id"]):
            r = await a.ask(wrong)
            assert r.status_code == 401, wrong
        assert (await a.ask("static-key")).status_code == 200  # --api-key keeps working


async def test_models_names_and_globs(database: str, tmp_path: Path) -> None:
    async with replica(database, tmp_path) as a:
        made = await a.new_key(models=["de*"])
        client = a.client(made["key"])
        assert (await client.responses.create(model="demo", input="x")).status == "completed"
        assert [m.id for m in (await client.models.list()).data] == ["demo"]
        for model in ("other", "*", "de", "[d]emo", "DEMO"):
            r = await a.ask(made["key"], model=model)
            assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found", model
        # a refused model reads exactly like a model that is not served at all
        unknown = (await a.ask(made["key"], model="nope")).json()["error"]["message"]
        assert (await a.ask(made["key"], model="other")).json()["error"]["message"] == unknown.replace("nope", "other")
        # the other endpoints that run a model check it too
        r = await a.http.post("/v1/responses/input_tokens", headers={"Authorization": f"Bearer {made['key']}"},
                              json={"model": "other", "input": "x"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
        star = await a.new_key(models=["*"])
        assert (await a.ask(star["key"], model="other")).status_code == 200


def _headers(r: Any, names: tuple[str, ...]) -> dict[str, str]:
    return {n: r.headers.get(n) for n in names}


@pytest.mark.parametrize("rates", RATE_STORES)
async def test_requests_per_minute(database: str, tmp_path: Path, rates: str) -> None:
    clock = Clock()
    async with replica(database, tmp_path, clock=clock, rate_store=_rates(rates)) as a:
        made = await a.new_key(limits={"rpm": 2})
        ok = [await a.ask(made["key"]) for _ in range(2)]
        assert [r.status_code for r in ok] == [200, 200]
        assert _headers(ok[1], RATE_HEADERS) == {"x-ratelimit-limit-requests": "2",
                                                 "x-ratelimit-remaining-requests": "0",
                                                 "x-ratelimit-reset-requests": "55s"}
        refused = await a.ask(made["key"])
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
        assert _headers(refused, RATE_HEADERS)["x-ratelimit-remaining-requests"] == "0"
        assert refused.headers["retry-after"] == "55"
        # the key's other requests carry the headers too
        got = await a.http.get(f"/v1/responses/{ok[0].json()['id']}", headers={"Authorization": f"Bearer {made['key']}"})
        assert got.status_code == 200 and got.headers["x-ratelimit-limit-requests"] == "2"
        clock.advance(55)  # the next minute
        again = await a.ask(made["key"])
        assert again.status_code == 200 and again.headers["x-ratelimit-remaining-requests"] == "1"
        # an unlimited key has no such headers and never waits
        free = await a.new_key()
        r = await a.ask(free["key"])
        assert r.status_code == 200 and "x-ratelimit-limit-requests" not in r.headers


@pytest.mark.parametrize("rates", RATE_STORES)
async def test_tokens_per_minute_reserved_then_counted(database: str, tmp_path: Path, rates: str) -> None:
    clock = Clock()
    async with replica(database, tmp_path, clock=clock, rate_store=_rates(rates)) as a:
        made = await a.new_key(limits={"tpm": 100})
        # reserved from max_output_tokens as it starts: 200 output tokens can never fit in 100
        big = await a.ask(made["key"], max_output_tokens=200)
        assert big.status_code == 429 and big.json()["error"]["type"] == "tokens"
        assert big.headers["x-ratelimit-limit-tokens"] == "100"
        first = await a.ask(made["key"], max_output_tokens=50)
        assert first.status_code == 200
        assert int(first.headers["x-ratelimit-remaining-tokens"]) < 50  # 50 + the input's estimate held
        await a.settled()
        used = first.json()["usage"]["total_tokens"]
        second = await a.ask(made["key"], max_output_tokens=16)  # counted now at what it really used
        assert second.status_code == 200
        estimate = 100 - int(second.headers["x-ratelimit-remaining-tokens"]) - used - 16
        assert 0 < estimate < 10, "the reservation of the first was replaced by its real usage"
        await a.settled()
        while (r := await a.ask(made["key"], max_output_tokens=30)).status_code == 200:
            await a.settled()
        assert r.status_code == 429 and _headers(r, TOKEN_HEADERS)["x-ratelimit-reset-tokens"] == "55s"
        clock.advance(60)
        assert (await a.ask(made["key"], max_output_tokens=30)).status_code == 200


@pytest.mark.parametrize("rates", RATE_STORES)
async def test_concurrent_requests(database: str, tmp_path: Path, rates: str) -> None:
    """Background runs with no worker stay queued, each holding its slot until it ends."""
    async with replica(database, tmp_path, workers=0, rate_store=_rates(rates)) as a:
        made = await a.new_key(limits={"concurrent": 2})
        held = [await a.ask(made["key"], background=True) for _ in range(2)]
        assert [r.status_code for r in held] == [200, 200]
        r = await a.ask(made["key"], background=True)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
        assert "concurrent" in r.json()["error"]["message"] and r.headers["retry-after"] == "1"
        cancel = await a.http.post(f"/v1/responses/{held[0].json()['id']}/cancel",
                                   headers={"Authorization": f"Bearer {made['key']}"})
        assert cancel.status_code == 200
        await a.settled()
        assert (await a.ask(made["key"])).status_code == 200  # a slot is free again


@pytest.mark.parametrize("rates", RATE_STORES)
async def test_budgets_survive_a_restart(database: str, tmp_path: Path, rates: str) -> None:
    clock = Clock()
    async with replica(database, tmp_path, clock=clock, rate_store=_rates(rates)) as a:
        made = await a.new_key(limits={"daily_tokens": 40, "monthly_tokens": 1000})
        while (r := await a.ask(made["key"])).status_code == 200:
            await a.settled()
        assert r.status_code == 429 and r.json()["error"]["code"] == "insufficient_quota"
    async with replica(database, tmp_path, clock=clock, rate_store=_rates(rates)) as b:  # a new process: nothing in memory
        r = await b.ask(made["key"])
        assert r.status_code == 429 and r.json()["error"]["code"] == "insufficient_quota"
        clock.advance(86400)  # the next UTC day: the daily budget is whole again
        assert (await b.ask(made["key"])).status_code == 200
        await b.settled()
        await b.admin("POST", f"/keys/{made['id']}", json={"limits": {"monthly_tokens": 10}})
        await asyncio.sleep(0.6)
        r = await b.ask(made["key"])
        assert r.status_code == 429 and "monthly" in r.json()["error"]["message"]


async def test_usage_equals_the_stored_responses(database: str, tmp_path: Path) -> None:
    async with replica(database, tmp_path) as a:
        k1, k2 = await a.new_key(label="one"), await a.new_key(label="two")
        ids: list[tuple[str, str]] = []
        for key, model, n in ((k1, "demo", 3), (k2, "other", 2), ({"key": "static-key"}, "demo", 1)):
            for i in range(n):
                r = await a.ask(key["key"], f"count {i} " * (i + 1), model=model)
                assert r.status_code == 200
                ids.append((key["key"], r.json()["id"]))
        await a.settled()
        stored = [(await a.http.get(f"/v1/responses/{rid}", headers={"Authorization": f"Bearer {k}"})).json()
                  for k, rid in ids]
        since = min(s["created_at"] for s in stored)
        by_key = (await a.admin("GET", f"/usage?group_by=key&since={since}")).json()
        mine = {row["key"]: row for row in by_key["data"] if row["key"] in (k1["id"], k2["id"])}
        for key, n in ((k1, 3), (k2, 2)):
            rows = [s for (k, _), s in zip(ids, stored, strict=True) if k == key["key"]]
            assert mine[key["id"]]["requests"] == n
            for field in ("input_tokens", "output_tokens"):
                assert mine[key["id"]][field] == sum(s["usage"][field] for s in rows)
        by_model = (await a.admin("GET", f"/usage?group_by=model&since={since}")).json()
        assert {r["model"] for r in by_model["data"]} >= {"demo", "other"}
        assert by_model["totals"] == by_key["totals"]
        by_day = (await a.admin("GET", "/usage?group_by=day")).json()
        assert all(len(r["day"]) == 10 for r in by_day["data"])
        one = (await a.admin("GET", f"/usage?group_by=model&key={k2['id']}")).json()
        assert [r["model"] for r in one["data"]] == ["other"] and one["totals"]["requests"] == 2


@pytest.mark.slow  # 200 requests
async def test_200_concurrent_requests_admit_exactly_50(database: str, tmp_path: Path) -> None:
    """Against one limit of 50 rpm: exactly 50 pass; on PostgreSQL from two replicas at once."""
    async with replica(database, tmp_path / "a") as a:
        made = await a.new_key(limits={"rpm": 50})
        if database.startswith("sqlite"):
            results = await asyncio.gather(*(a.ask(made["key"]) for _ in range(200)))
        else:
            async with replica(database, tmp_path / "b") as b:
                results = await asyncio.gather(*((a if i % 2 else b).ask(made["key"]) for i in range(200)))
        codes = [r.status_code for r in results]
        assert codes.count(200) == 50 and codes.count(429) == 150, codes


@redis_only
@pytest.mark.slow  # 200 requests through two replicas
async def test_redis_rate_store_across_replicas(database: str, tmp_path: Path) -> None:
    """--rate-store redis://: 200 requests from two replicas against 50 rpm admit exactly 50; the next
    minute admits again; tokens settle; a budget holds after both replicas restart."""
    clock = Clock(START + 86400 * (secrets.randbelow(10_000) + 1))  # a fresh minute for these keys
    async with replica(database, tmp_path / "a", clock=clock, rate_store=REDIS) as a, \
            replica(database, tmp_path / "b", clock=clock, rate_store=REDIS) as b:
        made = await a.new_key(limits={"rpm": 50})
        results = await asyncio.gather(*((a if i % 2 else b).ask(made["key"]) for i in range(200)))
        codes = [r.status_code for r in results]
        assert codes.count(200) == 50 and codes.count(429) == 150
        refused = next(r for r in results if r.status_code == 429)
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        clock.advance(60)
        assert (await b.ask(made["key"])).status_code == 200
        budget = await a.new_key(limits={"daily_tokens": 30, "concurrent": 5})
        while (r := await b.ask(budget["key"])).status_code == 200:
            await b.settled()
        assert r.json()["error"]["code"] == "insufficient_quota"
    async with replica(database, tmp_path / "c", clock=clock, rate_store=REDIS) as c:
        assert (await c.ask(budget["key"])).json()["error"]["code"] == "insufficient_quota"
        clock.advance(86400)
        assert (await c.ask(budget["key"])).status_code == 200


@pytest.mark.process  # the `respond keys` command line
async def test_cli_keys(database: str, tmp_path: Path) -> None:
    """`respond keys` on the database a server uses: the server accepts the key at once."""
    def respond(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "respond", "keys", *args, "--database", database],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    made = respond("create", "--label", "cli team", "--model", "demo", "--rpm", "5").stdout.strip()
    assert made.startswith("rk-")
    key_id = "key_" + made.split("-")[1]
    async with replica(database, tmp_path) as a:
        r = await a.ask(made)
        assert r.status_code == 200 and r.headers["x-ratelimit-limit-requests"] == "5"
        listed = [json.loads(line) for line in respond("list", "--json").stdout.splitlines()]
        assert next(k for k in listed if k["id"] == key_id)["label"] == "cli team"
        assert made not in respond("list").stdout
        rotated = respond("rotate", key_id).stdout.strip()
        await asyncio.sleep(0.6)
        assert (await a.ask(made)).status_code == 401
        assert (await a.ask(rotated)).status_code == 200
        respond("update", key_id, "--rpm", "1")
        respond("revoke", key_id)
        await asyncio.sleep(0.6)
        assert (await a.ask(rotated)).status_code == 401


async def test_a_static_key_in_our_format_still_works(database: str, tmp_path: Path) -> None:
    lookalike = "rk-0123456789abcdef-not-a-stored-key"
    async with replica(database, tmp_path, api_keys=["static-key", lookalike]) as a:
        assert (await a.ask(lookalike)).status_code == 200
        assert (await a.ask("rk-0123456789abcdef-something-else")).status_code == 401


async def test_another_tenant_sees_nothing(database: str, tmp_path: Path) -> None:
    """Two stored keys: neither reads, continues, cancels or deletes the other's responses, and the
    rate-limit headers of one say nothing of the other."""
    async with replica(database, tmp_path) as a:
        one, two = await a.new_key(limits={"rpm": 10}), await a.new_key(limits={"rpm": 1000})
        theirs = (await a.ask(one["key"])).json()["id"]
        h = {"Authorization": f"Bearer {two['key']}"}
        assert (await a.http.get(f"/v1/responses/{theirs}", headers=h)).status_code == 404
        assert (await a.http.get(f"/v1/responses/{theirs}/input_items", headers=h)).status_code == 404
        assert (await a.http.delete(f"/v1/responses/{theirs}", headers=h)).status_code == 404
        assert (await a.http.post(f"/v1/responses/{theirs}/cancel", headers=h)).status_code == 404
        cont = await a.ask(two["key"], previous_response_id=theirs)
        assert cont.status_code == 404 and "x-ratelimit-limit-requests" in cont.headers
        assert cont.headers["x-ratelimit-limit-requests"] == "1000"
        assert (await a.http.get("/admin/v1/usage", headers=h)).status_code == 401
        assert (await a.http.get(f"/admin/v1/keys/{one['id']}", headers=h)).status_code == 401


def test_two_real_replicas_on_postgresql(server_factory: Any, pg_database: str) -> None:
    """Two `respond serve` processes on one PostgreSQL database: a key made through one's admin API
    answers on the other at once, and the other refuses it within a second of its revocation there."""
    import httpx

    args = ("--backend", "scripted:model=demo,reply=hello", "--embedded", "off", "--admin-key", ADMIN)
    one, two = server_factory(*args, database=pg_database), server_factory(*args, database=pg_database)
    admin = httpx.Client(base_url=one.base_url.removesuffix("/v1"), headers={"Authorization": f"Bearer {ADMIN}"})
    made = admin.post("/admin/v1/keys", json={"label": "replicas", "limits": {"rpm": 100}}).json()
    r = two.http(made["key"]).post("/responses", json={"model": "demo", "input": "hi"})
    assert r.status_code == 200 and r.headers["x-ratelimit-limit-requests"] == "100"
    assert admin.post(f"/admin/v1/keys/{made['id']}/revoke").status_code == 200
    revoked_at = time.monotonic()
    with two.http(made["key"]) as http:
        while http.post("/responses", json={"model": "demo", "input": "hi"}).status_code != 401:
            assert time.monotonic() - revoked_at < 1.0, "the other replica still accepts a revoked key"
            time.sleep(0.05)


async def test_a_stored_key_signs_in_to_the_dashboard(database: str, tmp_path: Path) -> None:
    """It sees its own usage and responses only; its session ends when the key is revoked."""
    async with replica(database, tmp_path) as a:
        mine, other = await a.new_key(label="mine"), await a.new_key(label="other")
        rid = (await a.ask(mine["key"])).json()["id"]
        theirs = (await a.ask(other["key"])).json()["id"]
        await a.settled()
        page = await a.http.get("/dashboard/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = await a.http.post("/dashboard/signin", data={"key": mine["key"], "csrf": csrf})
        assert r.status_code == 303, r.text
        listing = (await a.http.get("/dashboard/responses")).text
        assert rid in listing and theirs not in listing
        usage = (await a.http.get("/dashboard/usage")).text
        assert mine["id"] in usage and other["id"] not in usage
        await a.admin("POST", f"/keys/{mine['id']}/revoke")
        await asyncio.sleep(0.6)
        assert (await a.http.get("/dashboard/responses")).status_code == 303  # back to the sign-in page
        a.http.cookies.clear()


@pytest.mark.parametrize("per_key", ["on", "off"])
async def test_per_key_metrics_are_opt_in(per_key: str, tmp_path: Path) -> None:
    async with replica(f"sqlite:///{tmp_path / 'm.db'}", tmp_path, metrics_per_key=per_key) as a:
        made = await a.new_key(label="<script>x</script>")
        assert (await a.ask(made["key"])).status_code == 200
        await a.settled()
        text = (await a.http.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"})).text
        line = f'respond_key_tokens_total{{key="{made["id"]}",kind="output",model="demo"}} 5.0'
        assert (line in text) is (per_key == "on"), text[-2000:]
        # the label is shown escaped on the usage page (an admin's session)
        page = await a.http.get("/dashboard/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        await a.http.post("/dashboard/signin", data={"key": ADMIN, "csrf": csrf})
        usage = (await a.http.get("/dashboard/usage")).text
        assert "&lt;script&gt;x&lt;/script&gt;" in usage and "<script>x</script>" not in usage


async def test_models_through_aliases(database: str, tmp_path: Path) -> None:
    """A key allowed an alias may use it (the response is made by the model it names, and counted against
    the key's limits); the model behind it by its own name only when allowed too."""
    async with replica(database, tmp_path, aliases={"fast": "demo"}) as a:
        made = await a.new_key(models=["fast"], limits={"rpm": 5})
        r = await a.ask(made["key"], model="fast")
        assert r.status_code == 200 and r.json()["model"] == "demo" and r.headers["x-ratelimit-remaining-requests"] == "4"
        assert (await a.ask(made["key"], model="demo")).status_code == 404
        assert (await a.ask(made["key"], model="other")).status_code == 404
        by_target = await a.new_key(models=["demo"])
        assert (await a.ask(by_target["key"], model="fast")).status_code == 200
