"""The scripted upstream's `POST /v1/moderations` (see `upstream.py`): deterministic moderation.

It answers as OpenAI's moderations endpoint does (`{"id", "model", "results": [{flagged, categories,
category_scores, category_applied_input_types}]}`) for an `input` that is a string, a list of strings
or a list of multimodal parts (`text`, `image_url`), with one rule: an input whose text holds the word
`violent` (any case) is flagged under `violence` (score 0.97, else 0.01); `harassment` is never
flagged (score 0.02).  A request naming the model `broken-moderation` is answered with a 500, as a
failing service would.  Requests are recorded (`GET /_control/requests` lists them as `moderations`).
"""

from __future__ import annotations

from typing import Any, TypedDict

from respond.protocol.errors import ErrorEnvelope
from respond.protocol.shapes.values import JSON

CATEGORIES = ("violence", "harassment")
FAILING_MODEL = "broken-moderation"


def _texts_and_kinds(value: Any) -> tuple[str, set[str]]:
    if isinstance(value, str):
        return value, {"text"}
    texts: list[str] = []
    kinds: set[str] = set()
    for part in value if isinstance(value, list) else []:
        if isinstance(part, str):
            texts.append(part)
            kinds.add("text")
        elif isinstance(part, dict) and part.get("type") == "text":
            texts.append(str(part.get("text", "")))
            kinds.add("text")
        elif isinstance(part, dict) and part.get("type") == "image_url":
            kinds.add("image")
    return "\n".join(texts), kinds or {"text"}


class ModerationRequest(TypedDict, total=False):
    model: str | None
    input: JSON  # a string, strings, or multimodal parts: read by _texts_and_kinds


class ModerationResult(TypedDict):
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    category_applied_input_types: dict[str, list[str]]


class ModerationAnswer(TypedDict):
    id: str
    model: str
    results: list[ModerationResult]


def answer(req: ModerationRequest, n: int) -> tuple[int, ModerationAnswer | ErrorEnvelope]:
    """(HTTP status, body) of a moderations request."""
    model = str(req.get("model") or "omni-moderation-latest")
    if model == FAILING_MODEL:
        return 500, {"error": {"message": "the moderation model is unavailable", "type": "server_error",
                               "param": None, "code": "model_unavailable"}}
    text, kinds = _texts_and_kinds(req.get("input"))
    violent = "violent" in text.lower()
    scores = {"violence": 0.97 if violent else 0.01, "harassment": 0.02}
    return 200, {"id": f"modr-{n}", "model": model, "results": [{
        "flagged": violent, "categories": {"violence": violent, "harassment": False},
        "category_scores": scores, "category_applied_input_types": {c: sorted(kinds) for c in CATEGORIES}}]}
