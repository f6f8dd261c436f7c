"""The embedded model's prompt cache through the SDK (issue 19): `prompt_cache_options.prewarm` is a real KV
prefill (no output), and a later request extending the prewarmed prompt reports the reused tokens as
`cached_tokens`; what the embedded cache cannot promise is a 400 naming it.

Skipped (with the reason) when llama-cpp-python or the default weight packages are missing.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from respond.backends.llamacpp import DEFAULT_MODEL
from tests.embedded_marks import EMBEDDED
from tests.spec import body_of

pytestmark = EMBEDDED

DOC = ("The Larkspur kettle boils one litre of water in three minutes. Its warranty lasts two years from the date "
       "of purchase; keep the receipt. The red button starts it, the blue one keeps the water warm for an hour. ")
INSTRUCTIONS = "You answer questions about the document the user gave, in one short sentence."


@pytest.fixture(scope="module")
def embedded(module_server_factory: Any) -> Any:
    return module_server_factory("--n-ctx", "2048")


def test_prewarm_fills_the_cache_a_later_request_reads(embedded: Any) -> None:
    client = embedded.client(timeout=600)  # two cores shared with other work: prefill speed varies
    doc = {"role": "user", "content": DOC * 2}
    warm = client.responses.create(model=DEFAULT_MODEL, instructions=INSTRUCTIONS, input=[doc],
                                   prompt_cache_options={"prewarm": True})
    assert warm.status == "completed" and warm.output == []
    assert warm.usage is not None and warm.usage.output_tokens == 0 and warm.usage.input_tokens > 80
    assert warm.prompt_cache_options is not None and warm.prompt_cache_options.mode == "implicit"
    asked = client.responses.create(model=DEFAULT_MODEL, instructions=INSTRUCTIONS, max_output_tokens=24,
                                    temperature=0, input=[doc, {"role": "user", "content": "How long is the warranty?"}],
                                    prompt_cache_options={"comparison_response_id": warm.id})
    assert asked.status in ("completed", "incomplete") and asked.usage is not None
    cached = asked.usage.input_tokens_details.cached_tokens
    # every prewarmed token but the generation prompt's last few was read from the cache, not decoded again
    assert warm.usage.input_tokens - 4 <= cached < warm.usage.input_tokens
    assert asked.prompt_cache_diagnostics is not None and asked.prompt_cache_diagnostics.type == "cache_hit"
    # the same question over a document nobody prewarmed reads nothing from the cache
    other = client.responses.create(model=DEFAULT_MODEL, instructions=INSTRUCTIONS, max_output_tokens=24,
                                    temperature=0, input=[{"role": "user", "content": DOC.upper() * 2},
                                                          {"role": "user", "content": "How long is the warranty?"}])
    assert other.usage is not None and other.usage.input_tokens_details.cached_tokens == 0


@pytest.mark.parametrize(("patch", "param"), [
    ({"prompt_cache_options": {"ttl": "30m"}}, "prompt_cache_options.ttl"),
    ({"prompt_cache_options": {"mode": "explicit"}}, "prompt_cache_options.mode"),
    ({"prompt_cache_retention": "24h"}, "prompt_cache_retention"),
    ({"access_programs": {"cyber": "standard"}}, "access_programs"),
])
def test_what_the_embedded_cache_cannot_promise_is_a_400(embedded: Any, patch: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        embedded.client().responses.create(model=DEFAULT_MODEL, input="hi", **patch)
    assert body_of(err)["param"] == param and body_of(err)["code"] == "unsupported_parameter"
