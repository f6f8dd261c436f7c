"""Respond's embedded backend next to raw llama-cpp-python, on the same GGUF and prompts.

Three measurements, printed side by side with ratios:

1. generation speed: tokens/s after the first token (greedy, fixed token count), and time to
   first token for a fresh prompt;
2. a 10-turn conversation: time to first token per turn, Respond (KV prefix reuse) against
   raw llama-cpp-python with the cache cleared before each turn (what a stateless server does);
   the target is turn 10 <= 1.5x turn 1 with reuse;
3. two interleaved conversations (A1 B1 A2 B2 ...): Respond's context pool against a single
   raw llama-cpp-python context, whose automatic prefix reuse the other conversation evicts.

Run:  .venv/bin/python bench/embedded.py [--tokens 128] [--turns 10] [--chains 3] [--model PATH.gguf]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from respond.backends.llamacpp import DEFAULT_MODEL, LlamaCppBackend, default_model_path
from respond.core.types import Finish, Generation, TextDelta

SYSTEM = "You are a helpful assistant. Answer in plain prose."


def system(tag: str) -> str:
    """A system prompt that differs from the first token on, so no run reuses another's prefix."""
    return f"[{tag}] {SYSTEM}"


TOPICS = [
    "rivers",
    "bridges",
    "volcanoes",
    "lighthouses",
    "glaciers",
    "deserts",
    "forests",
    "comets",
    "harbours",
    "mountains",
    "islands",
    "caves",
]


def user_turn(i: int) -> str:
    return (
        f"Tell me three facts about {TOPICS[i % len(TOPICS)]}, and relate them to what we "
        f"discussed before if you can. Keep it short."
    )


class Raw:
    """Raw llama-cpp-python: the prompt tokens in, greedy tokens out, nothing else."""

    def __init__(self, path: Path, n_ctx: int) -> None:
        from llama_cpp import Llama

        threads = os.cpu_count() or 1
        self.llm = Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False
        )

    def run(self, tokens: list[int], max_tokens: int, reset: bool) -> tuple[float, float, int, str]:
        """(ttft, seconds after the first token, tokens, text)."""
        from llama_cpp import llama_vocab_is_eog

        if reset:
            self.llm.reset()
        started = time.perf_counter()
        first = last = started
        out: list[int] = []
        for token in self.llm.generate(tokens, temp=0.0, repeat_penalty=1.0):
            if llama_vocab_is_eog(self.llm._model.vocab, token):
                break
            last = time.perf_counter()
            if not out:
                first = last
            out.append(token)
            if len(out) >= max_tokens:
                break
        return first - started, last - first, len(out), self.llm.detokenize(out).decode(errors="replace")


async def respond_run(
    backend: LlamaCppBackend, messages: list[dict[str, Any]], max_tokens: int
) -> tuple[float, float, int, str, int]:
    """(ttft, seconds after the first token, tokens, text, cached tokens)."""
    gen = Generation(model=DEFAULT_MODEL, messages=messages, temperature=0.0, max_output_tokens=max_tokens)
    started = time.perf_counter()
    first = last = started
    text, seen, usage = [], False, None
    async for delta in backend.generate(gen):
        if isinstance(delta, TextDelta):
            last = time.perf_counter()
            if not seen:
                first, seen = last, True
            text.append(delta.text)
        elif isinstance(delta, Finish):
            usage = delta.usage
    assert usage is not None
    return first - started, last - first, usage.output_tokens, "".join(text), usage.cached_tokens


def chat(history: list[dict[str, Any]], i: int, tag: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system(tag)}, *history, {"role": "user", "content": user_turn(i)}]


def story(r: int, engine: str) -> list[dict[str, Any]]:
    # The system prompt differs from the first token on: no run reuses an earlier run's prefix.
    return [
        {"role": "system", "content": system(f"{engine}{r}")},
        {"role": "user", "content": f"Write a long story about a {TOPICS[r]} keeper."},
    ]


async def bench_speed(
    backend: LlamaCppBackend, raw: Raw, tokens: int, repeats: int
) -> list[tuple[str, float, float]]:
    runner = backend._runners[DEFAULT_MODEL]
    rows: dict[str, list[tuple[float, float]]] = {"respond": [], "raw": []}
    for r in range(repeats):
        ttft, rest, n, _ = raw.run(runner.tokenize_prompt(story(r, "raw"), []), tokens, reset=True)
        rows["raw"].append((ttft, (n - 1) / rest))
        ttft, rest, n, _, _ = await respond_run(backend, story(r, "ours"), tokens)
        rows["respond"].append((ttft, (n - 1) / rest))
    return [
        (name, statistics.median(t for t, _ in v), statistics.median(s for _, s in v))
        for name, v in rows.items()
    ]


async def bench_chain(
    backend: LlamaCppBackend, raw: Raw, turns: int, tokens: int, chains: int
) -> list[tuple[int, int, float, float, int]]:
    """Per turn: prompt tokens, median TTFT with reuse and without, cached tokens (last chain)."""
    runner = backend._runners[DEFAULT_MODEL]
    samples: list[list[tuple[int, float, float, int]]] = [[] for _ in range(turns)]
    for c in range(chains):
        history: list[dict[str, Any]] = []
        for i in range(turns):
            messages = chat(history, i + 3 * c, f"chain{c}")
            ttft, _, _, text, cached = await respond_run(backend, messages, tokens)
            prompt = runner.tokenize_prompt(messages, [])
            raw_ttft, _, _, _ = raw.run(prompt, 1, reset=True)
            samples[i].append((len(prompt), ttft, raw_ttft, cached))
            history += [
                {"role": "user", "content": user_turn(i + 3 * c)},
                {"role": "assistant", "content": text},
            ]
    return [
        (
            i + 1,
            s[-1][0],
            statistics.median(x[1] for x in s),
            statistics.median(x[2] for x in s),
            s[-1][3],
        )
        for i, s in enumerate(samples)
    ]


async def bench_interleaved(
    backend: LlamaCppBackend, raw: Raw, turns: int, tokens: int
) -> tuple[float, float]:
    runner = backend._runners[DEFAULT_MODEL]
    histories: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    ours, theirs = [], []
    for i in range(turns):
        for name, offset in (("a", 0), ("b", 5)):
            messages = chat(histories[name], i + offset, name)
            ttft, _, _, text, _ = await respond_run(backend, messages, tokens)
            raw_ttft, _, _, _ = raw.run(runner.tokenize_prompt(messages, []), 1, reset=False)
            if i > 0:
                ours.append(ttft)
                theirs.append(raw_ttft)
            histories[name] += [
                {"role": "user", "content": user_turn(i + offset)},
                {"role": "assistant", "content": text},
            ]
    return statistics.mean(ours), statistics.mean(theirs)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128, help="tokens generated in the speed test")
    parser.add_argument("--turns", type=int, default=10, help="turns in the conversation test")
    parser.add_argument("--repeats", type=int, default=3, help="speed test repetitions (median)")
    parser.add_argument("--chains", type=int, default=3, help="conversations in the chain test (median)")
    parser.add_argument("--reply-tokens", type=int, default=32, help="answer length per conversation turn")
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument(
        "--model", type=Path, default=None, help="a GGUF (default: the packaged default model)"
    )
    args = parser.parse_args()
    path = args.model or default_model_path()
    backend = LlamaCppBackend({DEFAULT_MODEL: path}, n_ctx=args.n_ctx)
    raw = Raw(path, args.n_ctx)
    print(
        f"model {path.name}, n_ctx {args.n_ctx}, threads {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}"
    )

    # Warm both engines up: first decodes touch cold pages and allocate buffers, and Respond opens
    # its pool of contexts (one per distinct conversation, up to n_slots) on first need.
    raw.run(backend._runners[DEFAULT_MODEL].tokenize_prompt(story(0, "warm-raw"), []), 8, reset=True)
    for slot in range(3):
        await respond_run(backend, story(slot, f"warm-ours{slot}"), 8)
    speed = await bench_speed(backend, raw, args.tokens, args.repeats)
    (_, r_ttft, r_tps), (_, l_ttft, l_tps) = speed
    print(f"\n1. generation, {args.tokens} tokens greedy, median of {args.repeats}")
    print(f"{'':24}{'respond':>12}{'raw llama-cpp':>16}{'ratio':>10}")
    print(f"{'tokens/s after first':24}{r_tps:>12.1f}{l_tps:>16.1f}{ratio(r_tps, l_tps):>10}")
    print(f"{'ttft, fresh prompt (s)':24}{r_ttft:>12.3f}{l_ttft:>16.3f}{ratio(r_ttft, l_ttft):>10}")

    chain = await bench_chain(backend, raw, args.turns, args.reply_tokens, args.chains)
    print(
        f"\n2. {args.turns}-turn conversation, time to first token (s), median of {args.chains} conversations"
    )
    print(
        f"{'turn':>4}{'prompt tok':>12}{'cached':>8}{'respond (reuse)':>17}{'raw, no reuse':>15}{'ratio':>8}"
    )
    for turn, n, ttft, raw_ttft, cached in chain:
        print(f"{turn:>4}{n:>12}{cached:>8}{ttft:>17.3f}{raw_ttft:>15.3f}{ratio(ttft, raw_ttft):>8}")
    first, last = chain[0][2], chain[-1][2]
    print(
        f"respond turn {args.turns} / turn 1: {ratio(last, first)} (target <= 1.5x); "
        f"without reuse: {ratio(chain[-1][3], chain[0][3])}"
    )

    ours, theirs = await bench_interleaved(backend, raw, max(3, args.turns // 2), args.reply_tokens)
    print("\n3. two interleaved conversations, mean time to first token after turn 1 (s)")
    print(f"{'respond (context pool)':>24}{'raw (one context)':>20}{'ratio':>8}")
    print(f"{ours:>24.3f}{theirs:>20.3f}{ratio(ours, theirs):>8}")
    print(
        f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (both engines, one process)"
    )
    await backend.close()


if __name__ == "__main__":
    asyncio.run(main())
