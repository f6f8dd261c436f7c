"""GBNF grammars for constrained decoding: structured outputs and forced tool calls.

JSON Schema is turned into GBNF by llama-cpp-python's own `SchemaConverter` (a port of
llama.cpp's converter), with two repairs:

* its string rule accepts any character but `"` and `\\`, so a model could write a raw newline
  or other control character inside a JSON string, which strict parsers reject; we replace the
  `char` rule with one that excludes U+0000-U+001F and U+007F (escapes stay allowed);
* objects without `additionalProperties` are closed (extra keys are never *required*, so the
  output still validates, and a small model cannot ramble into invented keys).

Tool calls are constrained to the Qwen/Hermes wire form the chat template itself uses for
history, `<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`, so the call parser
and the prompt agree on one format.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

from respond.core.errors import BackendError
from respond.core.types import ToolSpec
from respond.protocol.shapes import JSON, JSONObject

SAFE_CHAR_RULE = (
    r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
)
_CHAR_LINE = re.compile(r"^char ::= .*$", re.MULTILINE)

# Prose, not a call: no JSON object, no code fence, never `<tool_call>` (Qwen's call tag is one special
# token whose text starts "<t"), and it does not open with a bracket or blank.  Told not to call,
# the 0.5B model writes the call as ```json text instead; under this grammar it answers.
NO_CALL_GRAMMAR = r"""root ::= first rest
first ::= [^{\[<` \t\n]
rest ::= ([^{`<] | "<" [^t{`<])*
"""

TOOL_CALL_OPEN = "<tool_call>\n"
TOOL_CALL_CLOSE = "\n</tool_call>"


def schema_grammar(schema: JSONObject) -> str:
    """GBNF (root rule `root`) accepting exactly the JSON documents `schema` describes."""
    return build_grammar(schema=schema)


def build_grammar(
    *, schema: JSONObject | None = None, tools: Sequence[ToolSpec] = (), parallel: bool = False
) -> str:
    """GBNF for a JSON answer matching `schema`, tagged calls of `tools`, or either one."""
    from llama_cpp.llama_grammar import SchemaConverter

    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    alternatives, rules = [], []
    try:
        if schema is not None:
            alternatives.append(_visit(converter, schema, "answer"))
        if tools:
            call = _visit(converter, _calls_schema(tools), "call")
            tagged = f"{_literal(TOOL_CALL_OPEN)} {call} {_literal(TOOL_CALL_CLOSE)}"
            rules.append(f"tagged ::= {tagged}")
            alternatives.append('tagged ("\\n" tagged)*' if parallel else "tagged")
    except (AssertionError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise BackendError(
            f"unsupported JSON schema for constrained decoding: {exc}", status=400, param="text.format"
        ) from exc
    grammar = _CHAR_LINE.sub(lambda _m: SAFE_CHAR_RULE, converter.format_grammar())
    root = "root ::= " + " | ".join(f"( {a} )" for a in alternatives)
    return "\n".join([grammar, *rules, root]) + "\n"


def _visit(converter: Any, schema: JSONObject, name: str) -> str:
    prepared = converter.resolve_refs(_close_objects(copy.deepcopy(schema)), name)
    return str(converter.visit(prepared, name))


def _calls_schema(tools: Sequence[ToolSpec]) -> JSONObject:
    """One JSON schema for `{"name": <tool>, "arguments": <its parameters>}` over all tools."""
    defs: JSONObject = {}
    variants: list[JSON] = []
    for tool in tools:
        params: JSONObject = (
            copy.deepcopy(tool.parameters) if tool.parameters else {"type": "object", "properties": {}}
        )
        for key in ("$defs", "definitions"):
            found = params.pop(key, None)
            if isinstance(found, dict):
                defs.update(found)
        variants.append(
            {
                "type": "object",
                "properties": {"name": {"const": tool.name}, "arguments": params},
                "required": ["name", "arguments"],
            }
        )
    first = variants[0]
    call: JSONObject = first if len(variants) == 1 and isinstance(first, dict) else {"anyOf": variants}
    return {**call, "$defs": defs} if defs else call


def _close_objects(node: JSON) -> JSON:
    """Default `additionalProperties` to false on every object schema that lists properties."""
    if isinstance(node, list):
        return [_close_objects(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: JSONObject = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _close_objects(v) for k, v in value.items()}
        elif key in _LITERALS:
            out[key] = value
        else:
            out[key] = _close_objects(value)
    if isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


_SCHEMA_MAPS = {"properties", "$defs", "definitions", "patternProperties"}
_LITERALS = {"const", "enum", "default", "examples"}


def _literal(text: str) -> str:
    return json.dumps(text)
