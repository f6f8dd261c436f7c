"""The overhead of the `responses` upstream kind: Respond in front of a stateless /v1/responses server
against calling that server directly, side by side in one run (issue 18).

Starts the scripted upstream (`python -m respond.testing.upstream --no-record`, its stateless
/v1/responses mode) and `respond serve --backend openai_responses:base_url=... --embedded off`
(SQLite in a temporary directory, store on) as separate processes, then drives the same
`POST /v1/responses` body at both with the raw-asyncio HTTP/1.1 client of `_common.py`, the two
sides alternating.  The direct side sends what Respond sends upstream (`store: false`); Respond's
side is a normal stored request, so the figure is what keeping the state (storing, the chain) and
mapping the upstream's events costs.  A third side, a second Respond in front of the same upstream's
chat-completions endpoint (`--upstream`, the chat kind), tells what is the responses kind's own cost
and what any Respond request pays.  A last scenario continues a chain (`previous_response_id`):
Respond sends the whole history upstream each turn.

    .venv/bin/python bench/responses_kind.py            # ~1 min
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402

from _common import Conn, CpuMeter, Proc, Result, cpu_seconds, free_port, load, pct, post_json  # noqa: E402

BIN = Path(sys.executable).parent
PROMPT = "Say hello."


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", default="1,4", help="concurrent clients (comma-separated)")
    p.add_argument("--seconds", type=float, default=4.0, help="measured seconds per side per scenario")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=2, help="alternating direct/Respond slices per scenario")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    return p.parse_args()


def sides(stream: bool, previous: str | None = None) -> dict[str, tuple[str, bytes, Any]]:
    done = (lambda s, d: s == 200 and b"event: response.completed" in d[-6000:]) if stream else \
        (lambda s, d: s == 200 and b'"status":"completed"' in d)
    direct: dict[str, Any] = {"model": "scripted", "input": [{"role": "user", "content": PROMPT}], "stream": stream,
                              "store": False, "include": ["reasoning.encrypted_content"]}
    respond: dict[str, Any] = {"model": "scripted", "input": PROMPT, "stream": stream}
    if previous is not None:  # the same history both ways: 2 earlier turns
        history = [{"role": "user", "content": PROMPT},
                   {"role": "assistant", "content": "Hello from the scripted upstream."}] * 2
        direct["input"] = history + direct["input"]
        respond["previous_response_id"] = previous
    return {"direct": ("/v1/responses", orjson.dumps(direct), done),
            "respond": ("/v1/responses", orjson.dumps(respond), done),
            "chat_kind": ("/v1/responses", orjson.dumps({**respond, "previous_response_id": None}
                                                         if previous else respond), done)}


async def chain(port: int) -> str:
    conn = await Conn(port).open()
    previous = None
    try:
        for _ in range(2):
            status, body, _ = await post_json(conn, "/v1/responses", {
                "model": "scripted", "input": PROMPT, **({"previous_response_id": previous} if previous else {})})
            assert status == 200, body
            previous = body["id"]
    finally:
        await conn.close()
    assert previous is not None
    return previous


async def measure(args: argparse.Namespace, ports: dict[str, int], pids: list[int]) -> list[list[str]]:
    rows = []
    previous = await chain(ports["respond"])
    # (the chat-kind side's chain turn is a plain turn: its chain lives in the other Respond; the
    # scenario row is then only the responses kind against direct)
    scenarios = [("nonstream", False, None), ("stream", True, None), ("chain turn 3", False, previous)]
    for name, stream, prev in scenarios:
        for conc in [int(c) for c in args.concurrency.split(",")]:
            plan = sides(stream, prev)
            res = {side: Result() for side in plan}
            meter = CpuMeter(pids)
            for side, (path, body, ok) in plan.items():
                await load(ports[side], path, body, ok, conc, args.warmup)
            for _ in range(args.rounds):
                for side, (path, body, ok) in plan.items():
                    cpu0 = sum(cpu_seconds(p) for p in pids)
                    part = await load(ports[side], path, body, ok, conc, args.seconds / args.rounds)
                    part.cpu = sum(cpu_seconds(p) for p in pids) - cpu0
                    res[side].merge(part)
            d, r, c = res["direct"], res["respond"], res["chat_kind"]
            if d.errors or r.errors or c.errors:
                raise RuntimeError(f"{name} x{conc}: errors: {d.first_error or r.first_error or c.first_error}")
            d50, r50, c50 = pct(d.latencies, .5), pct(r.latencies, .5), pct(c.latencies, .5)
            chat = prev is None
            rows.append([name, str(conc), f"{d.rps:.0f}", f"{r.rps:.0f}", f"{r.rps / d.rps:.3f}x",
                         f"{d50:.2f}", f"{r50:.2f}", f"{r50 - d50:.2f}", f"{d.cpu_ms:.2f}", f"{r.cpu_ms:.2f}",
                         f"{c.rps:.0f}" if chat else "-", f"{c50:.2f}" if chat else "-",
                         f"{r.rps / c.rps:.2f}x" if chat else "-",
                         f"{c.cpu_ms:.2f}" if chat else "-", f"{meter.others():.2f}"])
            print("  " + " | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    args = parse()
    work = Path(tempfile.mkdtemp(prefix="respond-rkind-"))
    ports = {"direct": free_port(), "respond": free_port(), "chat_kind": free_port()}
    procs: list[Proc] = []
    try:
        up = Proc("upstream", [str(BIN / "python"), "-m", "respond.testing.upstream", "--port",
                               str(ports["direct"]), "--no-record"], work / "upstream.log")
        procs.append(up)
        up.wait_ready(ports["direct"], "/v1/models")
        respond = Proc("respond", [str(BIN / "respond"), "serve", "--port", str(ports["respond"]),
                                   "--database", f"sqlite:///{work / 'respond.db'}", "--backend",
                                   f"openai_responses:base_url=http://127.0.0.1:{ports['direct']}/v1",
                                   "--embedded", "off"], work / "respond.log")
        procs.append(respond)
        chat = Proc("respond-chat", [str(BIN / "respond"), "serve", "--port", str(ports["chat_kind"]),
                                     "--database", f"sqlite:///{work / 'chat.db'}", "--upstream",
                                     f"http://127.0.0.1:{ports['direct']}/v1", "--embedded", "off"],
                    work / "chat.log")
        procs.append(chat)
        respond.wait_ready(ports["respond"], "/health")
        chat.wait_ready(ports["chat_kind"], "/health")
        rows = asyncio.run(measure(args, ports, [up.pid, respond.pid, chat.pid]))
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1]).stdout.strip()
        head = ["scenario", "clients", "direct req/s", "Respond req/s", "ratio", "direct p50 ms", "Respond p50 ms",
                "added p50 ms", "server CPU ms/req direct", "via Respond", "chat kind req/s",
                "chat kind p50 ms", "responses/chat kind req/s", "chat kind CPU ms/req", "other load, cores"]
        print(f"\nRespond at {rev or '?'}; the same /v1/responses request straight to the stateless upstream "
              f"and through Respond (responses kind):\n")
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        print("\n".join("| " + " | ".join(r) + " |" for r in rows))
    finally:
        for p in reversed(procs):
            p.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
