"""Time to headers, to `response.created` and to the first text delta of a long-prompt stream,
side by side for several servers (e.g. this branch and main), on the embedded model.

    .venv/bin/python bench/embedded_headers.py --words 400 http://127.0.0.1:8080/v1 http://127.0.0.1:8081/v1

`--until created` disconnects at `response.created` (the server then stops the run).  Each URL
gets one warm-up request, then one streamed request whose prompt is `--words` distinct
words (so the KV prefix cache cannot help) and `max_output_tokens` 16.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import httpx


def measure(base_url: str, words: int, tag: str, until: str = "delta") -> tuple[float, float, float]:
    prompt = " ".join(f"{tag}{i}" for i in range(words)) + "\nHow many words were there?"
    body = {"input": prompt, "stream": True, "max_output_tokens": 16, "store": False}
    t0 = time.monotonic()
    created = delta = float("nan")
    with httpx.Client(timeout=600) as http, http.stream("POST", f"{base_url}/responses", json=body) as resp:
        headers = time.monotonic() - t0
        if resp.status_code != 200:
            raise SystemExit(f"{base_url}: HTTP {resp.status_code}: {resp.read()[:300]!r}")
        for line in resp.iter_lines():
            if not line.startswith("data: "):
                continue
            kind = json.loads(line[6:])["type"]
            if kind == "response.created":
                created = time.monotonic() - t0
                if until == "created":
                    break  # disconnecting cancels the run: the server stops prefilling
            elif kind == "response.output_text.delta":
                delta = time.monotonic() - t0
                break
    return headers, created, delta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--until", choices=["delta", "created"], default="delta",
                        help="stop at the first text delta, or (cheaper) at response.created")
    args = parser.parse_args()
    sys.stdout.write("| server | headers (s) | response.created (s) | first text delta (s) |\n|---|---|---|---|\n")
    for n, url in enumerate(args.urls):
        measure(url, 20, f"w{n}x")  # warm-up: model loaded, first context open
        h, c, d = measure(url, args.words, f"r{n}z", args.until)
        sys.stdout.write(f"| {url} | {h:.2f} | {c:.2f} | {d:.2f} |\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
