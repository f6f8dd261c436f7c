"""The SDK drift test: every name the installed `openai` SDK can send, classified in docs/request-options.md.

The table says, for every request option of every endpoint Respond serves (and for every tool type,
input item type, include value and stream event type the SDK knows), what Respond does with it:
`applied`, `passed on` (to an upstream that can) or `rejected` (a 400 naming it). This test fails
  - when the SDK has a name the table does not classify (a new SDK release: decide, then add the row),
  - when the table lists a name the SDK no longer has (delete the row),
  - when a row's evidence does not hold: a named test must exist, and a row's example body is sent to
    the server, which must accept it (applied, passed on) or answer 400 naming the option (rejected).
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import openai
import pytest

from tests import sdk_surface
from tests.inprocess import AppServer

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "request-options.md"
HANDLING = {
    "option": {"applied", "passed on", "rejected"},
    "tools[].type": {"run by Respond", "returned to the client", "rejected"},
    "input[].type": {"accepted", "rejected"},
    "include[]": {"applied", "rejected"},
    "stream events": {"emitted", "not emitted"},
}
WHAT_TO_DO = (
    "The installed openai SDK ({version}) {what}. Decide what Respond does with each: apply it, pass it on to "
    "an upstream that can, or reject it with a 400 naming it (never accept and ignore). Then add a row per "
    "name to docs/request-options.md under '## {section}' with the handling and its evidence (a test id, or "
    "for a rejected option an example body the server must answer with a 400 naming it)."
)


class Row:
    def __init__(self, section: str, name: str, handling: str, evidence: str) -> None:
        self.section, self.name, self.handling, self.evidence = section, name, handling, evidence

    def tests(self) -> list[str]:
        return re.findall(r"tests/[\w/]+\.py::\w+", self.evidence)

    def example(self) -> dict[str, Any] | None:
        found = re.search(r"`(\{.*\})`", self.evidence)
        return json.loads(found.group(1)) if found else None


@cache
def table() -> dict[str, dict[str, Row]]:
    """section -> name -> row, parsed from docs/request-options.md."""
    out: dict[str, dict[str, Row]] = {}
    section = ""
    for line in TABLE.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            out.setdefault(section, {})
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| `") else []
        if len(cells) >= 3:
            name = cells[0].strip("`")
            assert name not in out[section], f"{section}: '{name}' is listed twice"
            out[section][name] = Row(section, name, cells[1], " | ".join(cells[2:]))
    return out


def _kind(section: str) -> str:
    return section if section in HANDLING else "option"


def _sdk() -> dict[str, set[str]]:
    return {**sdk_surface.endpoint_options(), **sdk_surface.vocabularies()}


def test_every_name_the_sdk_sends_is_classified() -> None:
    rows = table()
    problems = []
    for section, names in _sdk().items():
        listed = set(rows.get(section, {}))
        if missing := sorted(names - listed):
            problems.append(WHAT_TO_DO.format(version=openai.__version__, section=section,
                                              what=f"has {missing} for {section}, which the table does not list"))
        if stale := sorted(listed - names):
            problems.append(f"docs/request-options.md lists {stale} under '## {section}', which the installed SDK "
                            f"({openai.__version__}) no longer has: delete those rows (and any code kept only for them).")
    assert not problems, "\n\n".join(problems)


def test_every_row_has_a_known_handling_and_evidence_that_exists() -> None:
    problems = []
    for section, rows in table().items():
        allowed = HANDLING[_kind(section)]
        for row in rows.values():
            if row.handling not in allowed:
                problems.append(f"{section} `{row.name}`: handling '{row.handling}' is not one of {sorted(allowed)}")
            if row.handling in ("applied", "passed on", "run by Respond", "emitted") and not row.tests():
                problems.append(f"{section} `{row.name}` is {row.handling} but names no test that shows it")
            if row.handling == "rejected" and _kind(section) == "option" and not (row.example() or row.tests()):
                problems.append(f"{section} `{row.name}` is rejected but gives no example body or test")
            for ref in row.tests():
                path, _, func = ref.partition("::")
                if not (ROOT / path).exists() or func not in _functions(ROOT / path):
                    problems.append(f"{section} `{row.name}`: its evidence {ref} does not exist")
    assert not problems, "\n".join(problems)


@cache
def _functions(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))


def _examples() -> list[Row]:
    return [row for section, rows in table().items() if section == "POST /v1/responses"
            for row in rows.values() if row.example() is not None]


@pytest.fixture(scope="module")
def demo(module_app_factory: Any) -> AppServer:
    app: AppServer = module_app_factory("--backend", "scripted:model=demo,reply=hello there", "--embedded", "off")
    return app


@pytest.mark.parametrize("row", _examples(), ids=lambda r: r.name)
def test_a_rows_example_gets_the_answer_its_handling_promises(demo: AppServer, row: Row) -> None:
    body = {"model": "demo", "input": "hi", **(row.example() or {})}
    resp = demo.http().post("/responses", json=body)
    if row.handling == "rejected":
        assert resp.status_code == 400, (row.name, resp.status_code, resp.text[:300])
        error = resp.json()["error"]
        assert str(error["param"]).startswith(row.name.split(".")[0].split("[")[0]), (row.name, error)
        assert error["type"] == "invalid_request_error" and error["message"], error
    else:
        assert resp.status_code == 200, (row.name, resp.status_code, resp.text[:300])


def test_tool_item_and_include_rows_match_what_the_server_accepts(demo: AppServer) -> None:
    """A tool type, input item type or include value the table calls rejected gets a 400 naming it."""
    http = demo.http()
    for name, row in table()["include[]"].items():
        resp = http.post("/responses", json={"model": "demo", "input": "hi", "include": [name]})
        assert (resp.status_code == 400) == (row.handling == "rejected"), (name, resp.status_code, resp.text[:200])
    for name, row in table()["tools[].type"].items():
        if row.handling != "rejected":
            continue  # an accepted tool needs its own setup (a vector store, an MCP server): its test shows it
        resp = http.post("/responses", json={"model": "demo", "input": "hi", "tools": [{"type": name}]})
        assert resp.status_code == 400 and resp.json()["error"]["param"] == "tools[0].type", (name, resp.text[:200])
    for name, row in table()["input[].type"].items():
        if row.handling == "rejected":
            resp = http.post("/responses", json={"model": "demo", "input": [{"type": name}]})
            assert resp.status_code == 400 and resp.json()["error"]["param"] == "input[0].type", (name, resp.text)
