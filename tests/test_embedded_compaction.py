"""Server-side compaction and token counting on the embedded model: `respond serve` with the real
default model, driven by the official `openai` SDK (the counting path is the model's own tokenizer).

Skipped (with the reason) when llama-cpp-python or the default weight packages are missing.
"""

from __future__ import annotations

from typing import Any

import pytest

from respond.backends.llamacpp import DEFAULT_MODEL
from tests.embedded_marks import EMBEDDED

pytestmark = EMBEDDED


@pytest.fixture(scope="module")
def embedded(module_server_factory: Any) -> Any:
    return module_server_factory("--n-ctx", "512")


def test_compaction_past_the_exact_count(embedded: Any) -> None:
    client = embedded.client(timeout=900)
    first = client.responses.create(model=DEFAULT_MODEL, input="My name is Ada and my favourite colour is green.",
                                    max_output_tokens=16)
    question = "What is my favourite colour?"
    n = client.responses.input_tokens.count(model=DEFAULT_MODEL, input=question,
                                            previous_response_id=first.id).input_tokens
    assert n > 0
    under = client.responses.create(model=DEFAULT_MODEL, input=question, previous_response_id=first.id,
                                    max_output_tokens=16,
                                    context_management=[{"type": "compaction", "compact_threshold": n}])
    assert [o.type for o in under.output] == ["message"]  # n tokens do not pass a threshold of n
    over = client.responses.create(model=DEFAULT_MODEL, input=question, previous_response_id=first.id,
                                   max_output_tokens=48,
                                   context_management=[{"type": "compaction", "compact_threshold": n - 1}])
    assert over.status in ("completed", "incomplete")
    assert [o.type for o in over.output][:1] == ["compaction"] and over.output[0].type == "compaction"
    assert over.output[0].encrypted_content
    # the next turn reads the compacted window: the user's messages and the summary, not the first answer
    after = client.responses.input_tokens.count(model=DEFAULT_MODEL, input="Thanks.",
                                                previous_response_id=over.id).input_tokens
    assert after > 0


def test_input_tokens_honours_truncation_and_reasoning(embedded: Any) -> None:
    client = embedded.client(timeout=900)
    first = client.responses.create(model=DEFAULT_MODEL, input="word " * 300, max_output_tokens=16)
    whole = client.responses.input_tokens.count(model=DEFAULT_MODEL, input="word " * 250,
                                                previous_response_id=first.id).input_tokens
    assert whole > 512  # does not fit: counted whole with truncation disabled
    fitted = client.responses.input_tokens.count(model=DEFAULT_MODEL, input="word " * 250,
                                                 previous_response_id=first.id, truncation="auto").input_tokens
    assert 250 <= fitted < 512  # the first turn dropped, as a create with truncation auto would
    plain = client.responses.input_tokens.count(model=DEFAULT_MODEL, input="hi").input_tokens
    effort = client.responses.input_tokens.count(model=DEFAULT_MODEL, input="hi",
                                                 reasoning={"effort": "none"}).input_tokens
    assert effort >= plain  # a template without a thinking switch counts the same
