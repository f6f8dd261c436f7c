"""Which runtime form the wire shapes take (issue 21): build + serialize, side by side.

    .venv/bin/python bench/typed_shapes.py [--n 100000] [--msgspec-path DIR]

Each form builds and serializes, --n times, the two objects the hot path makes most: an
`output_text.delta` event (one per token) and a completed Response (one message, one output_text
part, usage), as

- (a) a plain dict typed by a TypedDict (`respond.protocol.shapes`), serialized with orjson;
- (b) pydantic v2 models: the `openai` SDK's own (`ResponseTextDeltaEvent`, `Response`), built
  with validation and dumped with `model_dump_json`; and the same models built with
  `model_construct` (no validation) and dumped the same way (--n / 10 times: it is ~100x slower,
  the serializer falling back on the unvalidated nested dicts);
- (c) msgspec Structs encoded with `msgspec.json.encode`, when msgspec is importable (it is not a
  dependency: `pip install --target DIR msgspec` and pass `--msgspec-path DIR`).

It prints microseconds per object and the ratio to (a).  Best of --repeat runs each.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import orjson  # noqa: E402
from openai.types.responses import Response, ResponseTextDeltaEvent  # noqa: E402

from respond.protocol.shapes import OutputTextDeltaEvent, ResponseDict  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog. " * 8


def response_fields() -> dict[str, Any]:
    return {
        "id": "resp_0123456789abcdef0123", "object": "response", "created_at": 1760000000, "status": "completed",
        "background": False, "completed_at": 1760000001, "conversation": None, "error": None,
        "incomplete_details": None, "instructions": None, "max_output_tokens": None, "max_tool_calls": None,
        "metadata": {}, "model": "scripted", "parallel_tool_calls": True, "presence_penalty": 0.0,
        "frequency_penalty": 0.0, "previous_response_id": None, "prompt": None, "prompt_cache_key": None,
        "prompt_cache_retention": None, "reasoning": {"effort": None, "summary": None}, "safety_identifier": None,
        "service_tier": "default", "store": True, "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto", "tools": [],
        "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled", "user": None,
    }


def typed_delta(i: int) -> OutputTextDeltaEvent:
    return {"type": "response.output_text.delta", "sequence_number": i, "item_id": "msg_0123456789abcdef",
            "output_index": 0, "content_index": 0, "delta": "fox", "logprobs": []}


def typed_response(i: int) -> ResponseDict:
    r: ResponseDict = {**response_fields(), "output": [  # type: ignore[typeddict-item]
        {"id": "msg_0123456789abcdef", "type": "message", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": TEXT, "annotations": []}]}],
        "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                  "output_tokens": 80 + i % 2, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": 92}}
    return r


def dict_delta(i: int) -> bytes:
    return orjson.dumps(typed_delta(i))


def dict_response(i: int) -> bytes:
    return orjson.dumps(typed_response(i))


def pydantic_delta(i: int) -> bytes:
    return ResponseTextDeltaEvent(**typed_delta(i)).model_dump_json().encode()  # type: ignore[arg-type]


def pydantic_response(i: int) -> bytes:
    return Response.model_validate(typed_response(i)).model_dump_json().encode()


def construct_delta(i: int) -> bytes:
    return ResponseTextDeltaEvent.model_construct(**typed_delta(i)).model_dump_json(warnings=False).encode()


def construct_response(i: int) -> bytes:
    return Response.model_construct(**typed_response(i)).model_dump_json(warnings=False).encode()


def msgspec_forms() -> tuple[Callable[[int], bytes], Callable[[int], bytes]] | None:
    try:
        import msgspec
    except ImportError:
        return None

    class Delta(msgspec.Struct, tag_field="type", tag="response.output_text.delta"):
        sequence_number: int
        item_id: str
        output_index: int
        content_index: int
        delta: str
        logprobs: list[Any]

    class Part(msgspec.Struct, tag_field="type", tag="output_text"):
        text: str
        annotations: list[Any]

    class Message(msgspec.Struct, tag_field="type", tag="message"):
        id: str
        role: str
        status: str
        content: list[Part]

    class Details(msgspec.Struct):
        cached_tokens: int = 0

    class OutDetails(msgspec.Struct):
        reasoning_tokens: int = 0

    class Usage(msgspec.Struct):
        input_tokens: int
        input_tokens_details: Details
        output_tokens: int
        output_tokens_details: OutDetails
        total_tokens: int

    fields = list(response_fields())
    resp_type: Any = msgspec.defstruct("Resp", [(k, Any) for k in fields] + [("output", list[Message]),
                                                                            ("usage", Usage)])
    encode = msgspec.json.Encoder().encode
    static = response_fields()

    def delta(i: int) -> bytes:
        return encode(Delta(i, "msg_0123456789abcdef", 0, 0, "fox", []))

    def response(i: int) -> bytes:
        out = [Message("msg_0123456789abcdef", "assistant", "completed", [Part(TEXT, [])])]
        usage = Usage(12, Details(0), 80 + i % 2, OutDetails(0), 92)
        return encode(resp_type(**static, output=out, usage=usage))

    return delta, response


def best(fn: Callable[[int], bytes], n: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        times.append(time.perf_counter() - start)
    return min(times) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--msgspec-path", help="a directory holding msgspec (pip install --target DIR msgspec)")
    args = ap.parse_args()
    if args.msgspec_path:
        sys.path.insert(0, args.msgspec_path)
    forms: list[tuple[str, Callable[[int], bytes], Callable[[int], bytes]]] = [
        ("(a) TypedDict dict + orjson", dict_delta, dict_response),
        ("(b) pydantic (SDK models, validated)", pydantic_delta, pydantic_response),
        ("(b') pydantic model_construct", construct_delta, construct_response),
    ]
    ms = msgspec_forms()
    if ms is not None:
        forms.append(("(c) msgspec Struct", *ms))
    rows = []
    for name, d, r in forms:
        n = args.n // 10 if "construct" in name else args.n  # 100x slower than the rest: a tenth suffices
        rows.append((name, best(d, n, args.repeat), best(r, n, args.repeat)))
    base_d, base_r = rows[0][1], rows[0][2]
    w = max(len(r[0]) for r in rows)
    sys.stdout.write(f"{'form':<{w}}  delta event us  ratio   Response us  ratio\n")
    for name, d, r in rows:
        sys.stdout.write(f"{name:<{w}}  {d:13.3f}  {d / base_d:5.2f}  {r:12.3f}  {r / base_r:5.2f}\n")
    if ms is None:
        sys.stdout.write("(c) msgspec: not importable (see --msgspec-path)\n")


if __name__ == "__main__":
    main()
