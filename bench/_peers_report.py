"""The results as one markdown table (a row per scenario, a column per server) plus notes."""

from __future__ import annotations

import argparse
from typing import Any

from _peers_servers import SPECS

NOISY = 0.25  # cores used by other processes during a scenario, above which a cell is marked †


def _cell(row: Any) -> str:
    if row is None:
        return "-"
    if "skipped" in row:
        return "cannot"
    if "rps" in row:
        if not row["ok"]:
            return f"failed ({row['errors']} errors)"
        s = f"{row['rps']:.0f}/s · p50 {row['p50']:.1f} · p99 {row['p99']:.1f} ms · {row['rss_mb']:.0f} MB"
        cpu = row.get("cpu_ms")
        s += f" · CPU {cpu:.2f} ms/req" if cpu is not None and cpu == cpu else ""  # NaN: nothing answered
        s += f" †{row['foreign_cores']:.1f}" if row.get("foreign_cores", 0) >= NOISY else ""
        return s + (f" · **{row['errors']} err**" if row["errors"] else "")
    if "turns" in row:
        parts = [
            f"t{t}: {v['ms']:.1f} ms, {v['messages']}/{v['expected']} msgs" for t, v in row["turns"].items()
        ]
        s = "; ".join(parts) + (" · intact" if row["intact"] else " · **history not intact**")
        return (
            s
            + (" (stream)" if row["stream"] else "")
            + (f" · stopped: {row['error'][:60]}" if row["error"] else "")
        )
    return str(row)


def _ratio(rows: dict[str, Any]) -> str:
    """Each Respond variant (`respond`, `respond-2p`) against the best of the peers."""
    peers = {k: v for k, v in rows.items() if not k.startswith("respond") and v and "skipped" not in v}
    mine = [k for k in rows if k.startswith("respond")]
    got = [(k, _ratio_of(rows[k], peers)) for k in mine]
    shown = [(k, r) for k, r in got if r != "-"]
    if len(shown) == 1 and shown[0][0] == "respond":
        return shown[0][1]
    return "; ".join(f"{k}: {r}" for k, r in shown) or "-"


def _ratio_of(me: dict[str, Any] | None, peers: dict[str, Any]) -> str:
    if not me or "skipped" in me or not peers:
        return "-"
    if "rps" in me:
        peers = {k: v for k, v in peers.items() if v.get("ok")}
        if not peers or not me.get("ok"):
            return "-"
        best = max(peers, key=lambda k: peers[k]["rps"])
        p99 = min(v["p99"] for v in peers.values())
        rss = min(v["rss_mb"] for v in peers.values())
        cpus = [v["cpu_ms"] for v in peers.values() if v.get("cpu_ms")]
        cpu = f" · CPU/req {me['cpu_ms'] / min(cpus):.2f}×" if cpus and me.get("cpu_ms") else ""
        return (
            f"{me['rps'] / peers[best]['rps']:.2f}× req/s (best: {best}) · "
            f"p99 {me['p99'] / p99:.2f}× · RSS {me['rss_mb'] / rss:.2f}×{cpu}"
        )
    if "turns" in me:
        last = max(me["turns"], default=None)
        ok = {k: v for k, v in peers.items() if last in v.get("turns", {}) and v.get("intact")}
        if last is None or not ok:
            return "-"
        best = min(ok, key=lambda k: ok[k]["turns"][last]["ms"])
        ratio = me["turns"][last]["ms"] / ok[best]["turns"][last]["ms"]
        return f"turn {last}: {ratio:.2f}× latency (best peer with the history intact: {best})"
    return "-"


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace, machine: str) -> str:
    servers = list(results)
    keys: list[str] = []
    for r in results.values():
        for k in r:
            if k not in ("version", "failed") and not k.startswith("capabilities") and k not in keys:
                keys.append(k)
    head = [f"{s} {results[s].get('version', '')}".strip() for s in servers]
    lines = [
        f"Machine: {machine}; client, servers and upstream share it. "
        f"Request counts x{args.scale}; chain {args.chain_turns} turns; {args.stored} stored for retrieve.",
        "",
        "| scenario | " + " | ".join(head) + " | Respond / best peer |",
        "|---" * (len(servers) + 2) + "|",
    ]
    for k in keys:
        rows = {s: results[s].get(k) for s in servers}
        lines.append(f"| {k} | " + " | ".join(_cell(rows[s]) for s in servers) + f" | {_ratio(rows)} |")
    lines += [
        "",
        "Ratios: req/s above 1 means Respond serves more; p99, RSS and latency above 1 mean Respond is "
        "slower or bigger; CPU/req is the server's own CPU (user + system, all its threads and processes, "
        "from /proc/<pid>/stat) per answered request, above 1 means Respond costs more. Latencies are whole requests (a stream: until response.completed). "
        "† N: other processes on the machine kept N cores busy during that scenario (figures skewed).",
        "",
    ]
    for s in servers:
        r, spec = results[s], SPECS.get(s)
        persists = spec.persists if spec else "?"
        lines.append(f"- **{s}** {r.get('version', '')}: stores {persists}.")
        if "failed" in r:
            lines.append(f"  - failed to run: {r['failed']}")
        for k, v in r.items():
            if isinstance(v, dict) and "skipped" in v:
                lines.append(f"  - {k}: cannot — {v['skipped']}")
            elif isinstance(v, dict) and v.get("first_error"):
                lines.append(f"  - {k}: {v['errors']} errors, first: `{v['first_error']}`")
            elif isinstance(v, dict) and v.get("fill"):
                lines.append(f"  - {k}: {v['fill']}")
        for k, why in spec.notes.items() if spec else []:
            if not any(key.startswith(k) and isinstance(v, dict) and "skipped" in v for key, v in r.items()):
                lines.append(f"  - note ({k}): {why}")
    return "\n".join(lines)
