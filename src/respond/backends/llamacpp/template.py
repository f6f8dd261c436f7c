"""Render a conversation with the model's own chat template (GGUF `tokenizer.chat_template`).

The template is Jinja2 written for Hugging Face's `apply_chat_template`, so it is rendered the
same way: a sandboxed environment with `trim_blocks`/`lstrip_blocks`, a `tojson` that does not
HTML-escape (Jinja's builtin does, which would change the prompt the model was trained on),
`raise_exception`, and the `tools` list in chat-completions shape.

Messages arrive in chat-completions shape (core.Message).  They are normalised first: text
parts are joined, `developer` becomes `system`, and tool-call arguments are decoded to objects
because templates (Qwen's among them) serialise them with `tojson`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NotRequired, TypedDict

from respond.core.errors import BackendError
from respond.core.types import Message, ToolSpec
from respond.protocol.shapes import JSON, JSONObject

# Used when a GGUF carries no template (ChatML, what Qwen and many others use).
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# Spellings the tokenizer reads as control tokens: the prompt is tokenized whole with special tokens parsed
# (the template's own markers must become them), so text inside a message must not spell one. ChatML-style
# `<|...|>` markers and Qwen's tool and thinking tags.
_CONTROL = re.compile(r"<\|[^<>|\s]{1,64}\|>|</?(?:tool_call|tool_response|tools|think)>")
ZWSP = "\u200b"


def defuse(text: str) -> str:
    """`text` with every control-token spelling broken by a zero-width space after its `<`, so that what a
    user, a tool's output, a web page, a file or an MCP server's tool description writes stays text and
    cannot open a system turn or close a tool response."""
    return _CONTROL.sub(lambda m: m.group(0)[0] + ZWSP + m.group(0)[1:], text) if "<" in text else text


def defuse_json(value: JSON) -> JSON:
    """`defuse` on every string of a JSON value (tool parameters, call arguments)."""
    if isinstance(value, str):
        return defuse(value)
    if isinstance(value, list):
        return [defuse_json(v) for v in value]
    if isinstance(value, dict):
        return {k: defuse_json(v) for k, v in value.items()}
    return value


class ChatTemplate:
    """A compiled chat template plus the special tokens it may refer to."""

    def __init__(self, source: str | None, bos_token: str = "", eos_token: str = "") -> None:
        self.source = source or CHATML_TEMPLATE
        self._template = _compile(self.source)
        self._bos = bos_token
        self._eos = eos_token

    def render(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (),
               thinking: bool | None = None) -> str:
        """The prompt text for `messages`, ending with the assistant generation prompt.

        `thinking` (from `reasoning.effort`: False for `none`) is the `enable_thinking` switch of
        thinking models' templates (Qwen3); templates without it ignore it."""
        from jinja2 import TemplateError

        extra = {"enable_thinking": thinking} if thinking is not None else {}
        try:
            prompt: str = self._template.render(
                messages=normalize_messages(messages),
                tools=[tool_schema(t) for t in tools] or None,
                add_generation_prompt=True,
                bos_token=self._bos,
                eos_token=self._eos,
                **extra,
            )
            return prompt
        except TemplateError as exc:
            raise BackendError(f"the model's chat template rejected the input: {exc}", status=400) from exc


class TemplateFunction(TypedDict):
    name: str
    description: NotRequired[str]
    parameters: JSONObject


class TemplateTool(TypedDict):
    """A tool as templates read it (chat-completions shape)."""

    type: Literal["function"]
    function: TemplateFunction


class TemplateCallFunction(TypedDict):
    name: str | None
    arguments: JSON  # decoded to an object when it is JSON: templates `tojson` it


class TemplateCall(TypedDict):
    id: str | None
    type: Literal["function"]
    function: TemplateCallFunction


class TemplateMessage(TypedDict):
    """A message as templates read it: its content as text, calls with decoded arguments."""

    role: str
    content: str
    tool_calls: NotRequired[list[TemplateCall]]
    tool_call_id: NotRequired[str]
    name: NotRequired[str]
    reasoning_content: NotRequired[str]  # earlier reasoning: Qwen3's templates read it


def tool_schema(tool: ToolSpec) -> TemplateTool:
    """A tool as the template's `tools` list holds it, its keys in the order a chat-completions client sends
    them and Hugging Face's `get_json_schema` writes them (name, description, parameters): Qwen's template
    prints each tool with `tojson`, so this order is the text the model saw in training."""
    parameters = defuse_json(tool.parameters) if tool.parameters else None
    schema: JSONObject = parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
    function: TemplateFunction = (
        {"name": defuse(tool.name), "description": defuse(tool.description), "parameters": schema}
        if tool.description else {"name": defuse(tool.name), "parameters": schema})
    return {"type": "function", "function": function}


def normalize_messages(messages: Sequence[Message]) -> list[TemplateMessage]:
    out: list[TemplateMessage] = []
    for message in messages:
        role = message.get("role", "user")
        item: TemplateMessage = {"role": "system" if role == "developer" else str(role),
                                 "content": defuse(content_text(message.get("content")))}
        if message.get("tool_calls"):
            item["tool_calls"] = [_tool_call(c) for c in message["tool_calls"] if isinstance(c, dict)]
        if isinstance(message.get("tool_call_id"), str):
            item["tool_call_id"] = message["tool_call_id"]
        if isinstance(message.get("name"), str):
            item["name"] = message["name"]
        if isinstance(message.get("reasoning_content"), str):
            item["reasoning_content"] = defuse(message["reasoning_content"])
        # Consecutive system messages (instructions + developer input) become one.
        if out and item["role"] == "system" and out[-1]["role"] == "system" and len(out) == 1:
            out[-1]["content"] = f"{out[-1]['content']}\n\n{item['content']}"
            continue
        out.append(item)
    return out


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list, joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text", "refusal"):
            texts.append(part.get("text") or part.get("refusal") or "")
        else:
            raise BackendError(
                f"this model only reads text; content of type {kind!r} is not supported",
                status=400,
                param="input",
            )
    return "".join(texts)


def _tool_call(call: JSONObject) -> TemplateCall:
    found = call.get("function", call)
    function = found if isinstance(found, dict) else call
    arguments: JSON = function.get("arguments") or "{}"
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass
    name, call_id = function.get("name"), call.get("id")
    return {
        "id": call_id if isinstance(call_id, str) else None,
        "type": "function",
        "function": {"name": defuse(name) if isinstance(name, str) else None, "arguments": defuse_json(arguments)},
    }


def _tojson(
    value: Any, indent: int | None = None, ensure_ascii: bool = False, sort_keys: bool = False
) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)


def _raise(message: str) -> None:
    from jinja2 import TemplateError

    raise TemplateError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=8)
def _compile(source: str) -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)
