"""The embedded model in agent loops: Respond next to raw llama-cpp-python, same GGUF, same template.

Five tool tasks (calculator, weather, unit conversion, lookup, date), all five functions offered each
time, run as a client runs a function loop: ask, run the calls the model makes, send their outputs
back, until the model answers in text or `--max-turns` model turns have passed.  Plus a file_search
question (Respond: the hosted tool over a vector store; raw: a `file_search` function with the
description Respond offers, the file's name included, answering with the same passage).

- Respond: a `respond serve` process (the embedded backend, its repeat guard at the default
  `embedded`), driven by the official `openai` SDK (`previous_response_id` chains).
- raw: llama-cpp-python by hand: the GGUF's own chat template rendered with Jinja2 (as HF's
  `apply_chat_template` does), greedy decoding, `<tool_call>` tags or bare JSON calls parsed out.

Per task: the right call (the first call names the task's tool and runs), answered after the tool
(text after a tool output), correct (the answer holds the tool's fact), model turns, wall time.
Both sides use temperature 0 and the same per-turn budget (`--max-tokens`).

Run:  .venv/bin/python bench/agent_loop.py [--model NAME] [--max-turns 3] [--max-tokens 128] [--parallel]
"""

from __future__ import annotations

import argparse
import ast
import json
import operator
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from respond.backends.llamacpp import DEFAULT_MODEL, KNOWN_MODELS, model_path, parts_installed
from respond.tools.file_search.tool import describe

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import CpuMeter, Proc, free_port  # noqa: E402


def fn(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": description,
            "parameters": {"type": "object", "properties": props, "required": required}}


S = {"type": "string"}
TOOLS = [
    fn("calculator", "Evaluate an arithmetic expression.", {"expression": S}, ["expression"]),
    fn("get_weather", "Get the current weather for a city.", {"city": S}, ["city"]),
    fn("convert_units", "Convert a value from one unit to another.",
       {"value": {"type": "number"}, "from_unit": S, "to_unit": S}, ["value", "from_unit", "to_unit"]),
    fn("lookup", "Look up a fact about a place, person or thing in the encyclopedia.", {"topic": S}, ["topic"]),
    fn("get_date", "Get today's date.", {}, []),
]
UNITS = {**dict.fromkeys(("km", "kilometer", "kilometers", "kilometre", "kilometres"), "km"),
         **dict.fromkeys(("mi", "mile", "miles"), "mi"), **dict.fromkeys(("kg", "kilogram", "kilograms"), "kg"),
         **dict.fromkeys(("lb", "lbs", "pound", "pounds"), "lb")}
FACTOR = {("km", "mi"): 0.621371, ("mi", "km"): 1.609344, ("kg", "lb"): 2.20462, ("lb", "kg"): 0.453592}
DOC = ("Zanzibaria is a small island republic. The capital of Zanzibaria is Quolmont, a port city of "
       "about 80,000 people. Its currency is the zanzi.")


def _calc(expr: str) -> float:
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError(expr)

    return ev(ast.parse(expr.replace("x", "*").replace("×", "*"), mode="eval").body)


def run_tool(name: str, args: dict[str, Any]) -> str:
    """The tools' answers (raises on arguments that do not fit: not the right call)."""
    if name == "calculator":
        value = _calc(str(args["expression"]))
        return str(int(value) if value == int(value) else value)
    if name == "get_weather":
        return f"{args['city']}: light snow, -3 C, wind 20 km/h from the north."
    if name == "convert_units":
        units = (UNITS[str(args["from_unit"]).lower().strip()], UNITS[str(args["to_unit"]).lower().strip()])
        return f"{float(args['value']) * FACTOR[units]:.2f} {units[1]}"
    if name == "lookup":
        return f"{args['topic']}: Vexmoor is a town in the northern highlands with 48,210 inhabitants."
    if name == "get_date":
        return "Today is Sunday, 6 December 2026."
    if name == "file_search":
        return f'<result filename="zanzibaria.txt">\n{DOC}\n</result>'
    raise KeyError(name)


@dataclass
class Task:
    name: str
    prompt: str
    tool: str
    expect: tuple[str, ...]  # the answer holds one of these


TASKS = [
    Task("calculator", "What is 17 * 23?", "calculator", ("391",)),
    Task("weather", "What is the weather in Oslo right now?", "get_weather", ("snow", "-3")),
    Task("units", "How many miles are 5 km?", "convert_units", ("3.1",)),
    Task("lookup", "How many people live in Vexmoor?", "lookup", ("48,210", "48210", "48 210")),
    Task("date", "What is today's date?", "get_date", ("6 December", "December 6", "2026-12-06")),
]
FILE_TASK = Task("file_search", "What is the capital of Zanzibaria?", "file_search", ("Quolmont",))


@dataclass
class Result:
    right_call: bool = False
    answered: bool = False  # text after a tool output
    correct: bool = False
    turns: int = 0
    seconds: float = 0.0
    answer: str = ""
    calls: list[str] = field(default_factory=list)


def score(task: Task, res: Result, first: tuple[str, dict[str, Any]] | None, text: str, ran: bool) -> Result:
    if first is not None and first[0] == task.tool:
        try:
            run_tool(*first)
            res.right_call = True
        except Exception:
            pass
    prose = bool(text.strip()) and not text.lstrip().startswith(("{", "[", "<tool_call>", "```"))
    res.answered = ran and prose  # a call written as text is not an answer
    res.correct = res.answered and any(e.lower() in text.lower() for e in task.expect)
    res.answer = " ".join(text.split())[:90]
    return res


# -- Respond ---------------------------------------------------------------------------------------

def respond_task(client: Any, model: str, task: Task, args: argparse.Namespace) -> Result:
    res, t0 = Result(), time.perf_counter()
    r = client.responses.create(model=model, input=task.prompt, tools=TOOLS, temperature=0,
                                max_output_tokens=args.max_tokens)
    res.turns, first, ran = 1, None, False
    while True:
        calls = [i for i in r.output if i.type == "function_call"]
        if not calls or res.turns >= args.max_turns:
            break
        outputs = []
        for c in calls:
            parsed = json.loads(c.arguments or "{}")
            first = first or (c.name, parsed)
            res.calls.append(c.name)
            try:
                out = run_tool(c.name, parsed)
            except Exception as exc:
                out = f"error: {exc!r}"
            outputs.append({"type": "function_call_output", "call_id": c.call_id, "output": out})
        ran = True
        r = client.responses.create(model=model, previous_response_id=r.id, input=outputs, tools=TOOLS,
                                    temperature=0, max_output_tokens=args.max_tokens)
        res.turns += 1
    text = r.output_text if not [i for i in r.output if i.type == "function_call"] else ""
    res.seconds = time.perf_counter() - t0
    return score(task, res, first, text, ran)


def respond_file_search(client: Any, model: str, args: argparse.Namespace) -> Result:
    path = Path(tempfile.mkdtemp()) / "zanzibaria.txt"
    path.write_text(DOC)
    store = client.vector_stores.create(name="bench")
    client.vector_stores.files.create_and_poll(vector_store_id=store.id,
                                               file_id=client.files.create(file=path.open("rb"), purpose="assistants").id)
    res, t0 = Result(), time.perf_counter()
    r = client.responses.create(model=model, input=FILE_TASK.prompt, temperature=0, max_output_tokens=args.max_tokens,
                                tools=[{"type": "file_search", "vector_store_ids": [store.id]}])
    res.seconds = time.perf_counter() - t0
    searches = [i for i in r.output if i.type == "file_search_call"]
    res.calls = ["file_search"] * len(searches)
    res.turns = len(searches) + 1  # model rounds: one per search, then the answer
    first = ("file_search", {"query": searches[0].queries[0]}) if searches else None
    return score(FILE_TASK, res, first, r.output_text, bool(searches))


# -- raw llama-cpp-python --------------------------------------------------------------------------

class Raw:
    _CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>|^(\{.*\})\s*$", re.DOTALL | re.MULTILINE)

    def __init__(self, path: Path, n_ctx: int) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment
        from llama_cpp import Llama

        threads = os.cpu_count() or 1
        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                         verbose=False)
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = lambda v, indent=None: json.dumps(v, indent=indent, ensure_ascii=False)
        self.template = env.from_string(self.llm.metadata["tokenizer.chat_template"])

    def turn(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], max_tokens: int) -> str:
        chat_tools = [{"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters")}}
                      for t in tools]
        prompt = self.template.render(messages=messages, tools=chat_tools, add_generation_prompt=True)
        tokens = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        out = self.llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0, top_k=1)
        return str(out["choices"][0]["text"])

    def calls(self, text: str) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for m in self._CALL.finditer(text):
            try:
                value = json.loads(m.group(1) or m.group(2))
            except ValueError:
                continue
            if isinstance(value, dict) and isinstance(value.get("name"), str):
                found.append((value["name"], value.get("arguments") or {}))
        return found

    def task(self, task: Task, tools: list[dict[str, Any]], args: argparse.Namespace) -> Result:
        res, t0 = Result(), time.perf_counter()
        messages: list[dict[str, Any]] = [{"role": "user", "content": task.prompt}]
        first, ran, text = None, False, ""
        while True:
            text = self.turn(messages, tools, args.max_tokens)
            res.turns += 1
            calls = self.calls(text)
            if not calls or res.turns >= args.max_turns:
                break
            first = first or calls[0]
            ids = [f"call_{res.turns}_{i}" for i in range(len(calls))]
            messages.append({"role": "assistant", "content": "", "tool_calls": [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, (n, a) in zip(ids, calls, strict=True)]})
            for i, (name, a) in zip(ids, calls, strict=True):
                res.calls.append(name)
                try:
                    out = run_tool(name, a)
                except Exception as exc:
                    out = f"error: {exc!r}"
                messages.append({"role": "tool", "tool_call_id": i, "content": out})
            ran = True
        res.seconds = time.perf_counter() - t0
        return score(task, res, first, "" if self.calls(text) else text, ran)


def run_respond(client: Any, model: str, args: argparse.Namespace) -> list[Result]:
    out = []
    for task in TASKS:
        out.append(respond_task(client, model, task, args))
        print(f"  respond {task.name}: {out[-1]}", flush=True)
    out.append(respond_file_search(client, model, args))
    print(f"  respond file_search: {out[-1]}", flush=True)
    return out


def run_raw(raw: Raw, args: argparse.Namespace) -> list[Result]:
    spec = describe(["zanzibaria.txt"], 1)  # the function Respond offers for this store, file name and all
    fs_tool = [{"type": "function", "name": spec.name, "description": spec.description, "parameters": spec.parameters}]
    out = []
    for task, tools in [(t, TOOLS) for t in TASKS] + [(FILE_TASK, fs_tool)]:
        out.append(raw.task(task, tools, args))
        print(f"  raw {task.name}: {out[-1]}", flush=True)
    return out


# -- report ----------------------------------------------------------------------------------------

def report(model: str, rows: list[tuple[str, Result, Result]], others: float) -> None:
    print(f"\n## {model} (other processes used {others:.2f} cores on average meanwhile)")
    print(f"{'task':<12} | {'engine':<8} | right call | answered | correct | turns | seconds | calls / answer")
    for name, ours, raw in rows:
        for label, r in (("respond", ours), ("raw", raw)):
            print(f"{name:<12} | {label:<8} | {'yes' if r.right_call else 'no':<10} | {'yes' if r.answered else 'no':<8} | "
                  f"{'yes' if r.correct else 'no':<7} | {r.turns:>5} | {r.seconds:7.1f} | "
                  f"{','.join(r.calls) or '-'} / {r.answer!r}")
    tools = [row for row in rows if row[0] != "file_search"]
    for label, idx in (("respond", 1), ("raw", 2)):
        rs = [row[idx] for row in tools]
        print(f"{label:<8} tool tasks: right call {sum(r.right_call for r in rs)}/{len(rs)}, answered after tool "
              f"{sum(r.answered for r in rs)}/{len(rs)}, correct {sum(r.correct for r in rs)}/{len(rs)}, "
              f"max turns {max(r.turns for r in rs)}, wall {sum(r.seconds for r in rs):.1f} s")
    ours = sum(row[1].seconds for row in rows)
    raw = sum(row[2].seconds for row in rows)
    print(f"wall time, all six: respond {ours:.1f} s, raw {raw:.1f} s, ratio respond/raw {ours / raw:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="model name(s); default: the 0.5B and the 1.5B if installed")
    parser.add_argument("--max-turns", type=int, default=3, help="model turns a loop may take at most")
    parser.add_argument("--max-tokens", type=int, default=128, help="max_output_tokens of each turn, both sides")
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--only", nargs="*", help="Respond only, on these tasks (a re-check; no raw side, no ratio)")
    parser.add_argument("--parallel", action="store_true",
                        help="run Respond's loops and the raw ones at the same time (on a busy machine: both wait alike)")
    args = parser.parse_args()
    models = args.model or [m for m in KNOWN_MODELS if m == DEFAULT_MODEL or parts_installed(m)]
    if not args.model and not parts_installed("qwen2.5-coder-1.5b-instruct"):
        print("qwen2.5-coder-1.5b-instruct is not installed (RESPOND_MODELS=1.5b make setup): 0.5B only")
    from openai import OpenAI

    port, logdir = free_port(), Path(tempfile.mkdtemp())
    server = Proc("respond", [sys.executable, "-m", "respond", "serve", "--port", str(port), "--n-ctx", str(args.n_ctx),
                              "--database", f"sqlite:///{logdir / 'bench.db'}"], logdir / "respond.log")
    try:
        server.wait_ready(port, "/health", timeout=600)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", timeout=1800, max_retries=0)
        for model in models:
            raw = Raw(model_path(model), args.n_ctx)
            meter = CpuMeter([server.pid])
            if args.only:
                for task in [t for t in TASKS if t.name in args.only]:
                    print(f"  respond {task.name}: {respond_task(client, model, task, args)}", flush=True)
                if "file_search" in args.only:
                    print(f"  respond file_search: {respond_file_search(client, model, args)}", flush=True)
                continue
            if args.parallel:  # both sides at once, each in its own thread (llama.cpp releases the GIL)
                with ThreadPoolExecutor(2) as pool:
                    a, b = pool.submit(run_respond, client, model, args), pool.submit(run_raw, raw, args)
                    mine, raws = a.result(), b.result()
            else:
                mine, raws = run_respond(client, model, args), run_raw(raw, args)
            names = [t.name for t in TASKS] + ["file_search"]
            report(model, list(zip(names, mine, raws, strict=True)), meter.others())
            raw.llm.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
