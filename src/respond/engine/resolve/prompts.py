"""The prompt store: reusable prompt templates (`prompt: {id, version, variables}`), from files.

`--prompts DIR` holds one file per prompt, `DIR/<id>.toml` or `DIR/<id>.json`:

    default_version = "2"              # optional; else the highest version
    [versions.1]
    instructions = "You answer for {{company}}."
    [versions.2]
    instructions = "You answer for {{company}}, briefly."
    input = [{role = "user", content = "My name is {{name}}."}]   # optional, before the request's input

(a file with top-level `instructions`/`input` and no `versions` is version "1").  A request's
prompt is applied before anything else: the version's instructions come first (the request's own
`instructions` follow them), its input items go before the request's input, and every
`{{variable}}` is replaced by the request's text value.  An unknown id or version, a variable the
template needs but the request lacks, or one it does not use, is a 400: a prompt is never
silently ignored.  Files are read on each use, so edits apply without a restart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from respond.protocol.errors import invalid
from respond.protocol.params import PromptParam
from respond.protocol.shapes import JSON, JSONObject

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


class PromptStore:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def resolve(self, prompt: PromptParam) -> tuple[str, str | None, Any]:
        """(version, instructions, input) of a request's prompt, variables substituted."""
        if self.folder is None:
            raise invalid("This server has no prompt store: start it with --prompts DIR to use 'prompt'.",
                          "prompt", "invalid_value")
        pid = prompt["id"]
        versions, default = self._load(pid)
        version = prompt.get("version") or default
        if version not in versions:
            raise invalid(f"Prompt '{pid}' has no version '{version}'. Versions: {', '.join(sorted(versions))}.",
                          "prompt.version", "invalid_value")
        body = versions[version]
        values = _text_values(prompt.get("variables") or {})
        needed = set(_VAR.findall(json.dumps([body.get("instructions"), body.get("input")])))
        missing = sorted(needed - values.keys())
        if missing:
            raise invalid(f"Prompt '{pid}' version {version} needs the variable(s) {', '.join(missing)}; "
                          f"add them to 'prompt.variables'.", "prompt.variables", "missing_required_parameter")
        unused = sorted(values.keys() - needed)
        if unused:
            raise invalid(f"Prompt '{pid}' version {version} has no variable '{unused[0]}'.",
                          f"prompt.variables.{unused[0]}", "invalid_value")
        return version, _fill(body.get("instructions"), values), _fill(body.get("input"), values)

    def _load(self, pid: str) -> tuple[dict[str, Mapping[str, object]], str]:
        assert self.folder is not None
        if not _ID.match(pid):
            raise invalid(f"Invalid prompt id '{pid[:40]}': use letters, digits, '_', '-' and '.'.", "prompt.id",
                          "invalid_value")
        import tomllib  # with --prompts only

        for ext, parse in ((".toml", tomllib.loads), (".json", json.loads)):
            path = self.folder / f"{pid}{ext}"
            if path.is_file():
                try:
                    doc = parse(path.read_text())
                    return _versions(doc)
                except ValueError as exc:
                    raise invalid(f"Prompt '{pid}' cannot be read ({path.name}: {exc}).", "prompt.id",
                                  "invalid_prompt") from None
        raise invalid(f"Prompt '{pid}' not found in the prompt store.", "prompt.id", "invalid_value")


def _versions(doc: object) -> tuple[dict[str, Mapping[str, object]], str]:
    """(version -> its table, the default version) of a prompt file; a ValueError when it is not one."""
    if not isinstance(doc, dict):
        raise ValueError("not a table of versions")
    raw = doc.get("versions")
    versions: dict[str, Mapping[str, object]] = {}
    for key, table in raw.items() if isinstance(raw, dict) else [("1", doc)]:
        if not isinstance(table, dict):
            raise ValueError(f"version '{key}' is not a table")
        versions[str(key)] = table
    default = doc.get("default_version")
    if default is None:
        default = max(versions, key=lambda v: (v.isdigit(), int(v) if v.isdigit() else 0, v))
    return versions, str(default)


def _text_values(variables: Mapping[str, str | JSONObject]) -> dict[str, str]:
    out = {}
    for name, given in variables.items():
        value: JSON = given.get("text") if isinstance(given, dict) and given.get("type") == "input_text" else given
        if not isinstance(value, str):
            raise invalid(f"Prompt variable '{name}' must be a string or an input_text part; image and file "
                          "variables are not supported by this server.", f"prompt.variables.{name}",
                          "invalid_value")
        out[name] = value
    return out


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: values[m.group(1)], value)
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value
