"""The embedded model (Qwen2.5-Coder-0.5B) with client-run tools and early validation.

- a forced custom tool decodes its freeform input under the tool's grammar (Lark and regex);
- a request is planned (tokens counted, context checked) before it waits for the model: the
  first delta (empty) arrives while another request is still decoding, and a too-long input is
  refused before any delta;
- the Lark subset translates to GBNF that llama.cpp accepts.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from respond.backends.llamacpp import DEFAULT_MODEL, LlamaCppBackend
from respond.core.errors import BackendError, ContextLengthExceeded
from respond.core.types import Finish, Generation, TextDelta, ToolCallDelta, ToolSpec
from tests.embedded_marks import EMBEDDED

pytestmark = EMBEDDED

ARITH = """start: expr
expr: term (("+" | "-") term)*
term: NUMBER | "(" expr ")"
%import common.NUMBER
%ignore " "
"""


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaCppBackend]:
    b = LlamaCppBackend(include_default=True, n_ctx=1024)
    yield b
    asyncio.run(b.close())


def custom(grammar: dict[str, Any]) -> ToolSpec:
    return ToolSpec(name="calc", description="A calculator: give it an arithmetic expression.", grammar=grammar,
                    parameters={"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]})


def gen(text: str, **kw: Any) -> Generation:
    kw.setdefault("temperature", 0.0)
    kw.setdefault("max_output_tokens", 24)
    return Generation(model=DEFAULT_MODEL, messages=[{"role": "user", "content": text}], **kw)


async def calls(backend: LlamaCppBackend, g: Generation) -> list[ToolCallDelta]:
    deltas = [d async for d in backend.generate(g)]
    assert isinstance(deltas[-1], Finish)
    return [d for d in deltas if isinstance(d, ToolCallDelta)]


@pytest.mark.parametrize(("grammar", "pattern"), [
    ({"type": "grammar", "syntax": "lark", "definition": ARITH}, r"[0-9.() +-]+"),
    ({"type": "grammar", "syntax": "regex", "definition": r"[0-9]+ [+*] [0-9]+"}, r"[0-9]+ [+*] [0-9]+"),
])
def test_forced_custom_tool_decodes_under_its_grammar(backend, grammar, pattern):
    tool = custom(grammar)
    out = asyncio.run(calls(backend, gen("What is 12 plus 30? Use the calculator.", tools=[tool],
                                         tool_choice="required", forced_tool="calc")))
    name = [d.name for d in out if d.name]
    args = json.loads("".join(d.arguments for d in out))
    assert name == ["calc"] and set(args) == {"input"}
    assert re.fullmatch(pattern, args["input"]), args


def test_lark_subset_is_accepted_by_llama_cpp(backend):
    from respond.backends.llamacpp.freeform import freeform_grammar
    from respond.backends.llamacpp.sampling import check_grammar

    runner = backend._runner(DEFAULT_MODEL)
    runner.load()
    for definition in (ARITH, 'start: WORD ("," WORD)* -> words\n%import common.WORD',
                       'start: "select"i " " CNAME ~ 1..3\n%import common.CNAME', 'start: "a".."f"+'):
        check_grammar(runner.llm, freeform_grammar({"syntax": "lark", "definition": definition}))
    with pytest.raises(BackendError) as err:
        freeform_grammar({"syntax": "lark", "definition": "start: missing_rule"})
    assert err.value.param == "tools"


def test_validated_before_queueing(backend):
    async def scenario() -> tuple[float, float]:
        long = backend.generate(gen("Count from 1 to 200.", max_output_tokens=120))
        assert isinstance(await long.__anext__(), TextDelta)  # planned, announced
        await long.__anext__()  # now decoding, holding the model
        t0 = time.monotonic()
        waiting = backend.generate(gen("Say hi.", max_output_tokens=4))
        first = await waiting.__anext__()
        announced = time.monotonic() - t0
        assert isinstance(first, TextDelta) and first.text == ""
        too_long = backend.generate(gen("word " * 2000))
        t1 = time.monotonic()
        with pytest.raises(ContextLengthExceeded):
            await too_long.__anext__()
        refused = time.monotonic() - t1
        await long.aclose()
        await waiting.aclose()
        return announced, refused

    announced, refused = asyncio.run(scenario())
    # neither waited for the decoding request (120 tokens take several seconds on two cores)
    assert announced < 1.5 and refused < 1.5, (announced, refused)
