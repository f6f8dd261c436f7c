"""The `Moderator` port over an upstream's `POST /v1/moderations` (`--moderation-upstream URL`).

One request per moderated side (the response's input, its output): text and image parts in the
multimodal input form that OpenAI's omni-moderation takes (a text-only input goes as one string, the
form every moderations server takes).  The answer's first result is returned as is; a transport
failure, an error status or an answer without results is a `BackendError`.
"""

from __future__ import annotations

import orjson

from respond.backends.upstream_base import error_message
from respond.backends.upstream_http import UpstreamLimits, UpstreamTransport, bad_reply, status_error
from respond.core.ports import ModerationInput
from respond.protocol.shapes import JSONObject


class HTTPModerator:
    def __init__(self, base_url: str, api_key: str | None = None, limits: UpstreamLimits | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = UpstreamTransport(self.base_url, headers, limits or UpstreamLimits())

    async def moderate(self, model: str, inputs: list[ModerationInput]) -> JSONObject:
        texts = [p["text"] for p in inputs if p["type"] == "text"]
        body = {"model": model, "input": "\n\n".join(texts) if len(texts) == len(inputs) else inputs}
        ex = await self.http.send("POST", "/moderations", orjson.dumps(body))
        try:
            raw = await ex.read()
        finally:
            ex.close()
        if ex.resp.status >= 400:
            message, code, param = error_message(ex.resp.status, raw)
            raise status_error(self.base_url, ex.resp.status, message, code, param)
        try:
            results = orjson.loads(raw).get("results")
        except (orjson.JSONDecodeError, AttributeError):
            results = None
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            raise bad_reply(self.base_url, "the moderations answer holds no results")
        result: JSONObject = results[0]
        return result

    async def close(self) -> None:
        await self.http.close()
