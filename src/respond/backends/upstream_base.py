"""What both upstream kinds (chat completions, `/v1/responses`) share: the transport to one base URL,
the models an upstream is limited to, its profile (profiles.py: a preset, or `auto`, probed at start,
with overrides), the model list, and how an upstream's error body reads."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from respond.backends.adapt import Profiled
from respond.backends.profiles import Profile
from respond.backends.upstream_http import UpstreamLimits, UpstreamTransport
from respond.core.errors import BackendError
from respond.core.types import ModelInfo
from respond.protocol.shapes import JSON, JSONObject, Logprob
from respond.protocol.shapes.parts import TopLogprob


def error_message(status: int, body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, param) of an upstream's error answer, whatever its shape."""
    try:
        err = orjson.loads(body).get("error")
        if isinstance(err, dict):
            return str(err.get("message") or body.decode()), err.get("code"), err.get("param")
        if isinstance(err, str):
            return err, None, None
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return f"Upstream answered HTTP {status}: {body[:300].decode(errors='replace')}", None, None


class UpstreamBackend:
    base_url: str
    http: UpstreamTransport
    profiled: Profiled

    def _connect(self, base_url: str, api_key: str | None, models: list[str] | str | None,
                 limits: UpstreamLimits | None, profile: str | None, settings: Mapping[str, object]) -> None:
        """The transport, the model filter (`models`: a list, or names joined by `;`) and the profile;
        an unknown profile setting is an error naming it."""
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        lim = limits or UpstreamLimits()
        self.http = UpstreamTransport(self.base_url, headers, lim)
        self._only = set(models.split(";") if isinstance(models, str) else models or [])
        self.profiled = Profiled(self.base_url, headers, lim, profile, settings)

    @property
    def profile(self) -> Profile:
        return self.profiled.profile

    async def warmup(self) -> None:
        await self.profiled.probe()

    def serves(self, model: str) -> bool:
        return not self._only or model in self._only

    async def models(self) -> list[ModelInfo]:
        try:
            data = (await self.http.get_json("/models")).get("data", [])
        except AttributeError as exc:
            raise BackendError(f"Could not list the models of the upstream at {self.base_url}: {exc}",
                               status=502, code="upstream_error") from exc
        except BackendError as exc:
            raise BackendError(f"Could not list the models of the upstream at {self.base_url}: {exc.message}",
                               status=502, code=exc.code) from exc
        return [ModelInfo(id=m["id"], owned_by=m.get("owned_by", "upstream"), created=m.get("created") or 0)
                for m in data if isinstance(m, dict) and "id" in m]

    async def close(self) -> None:
        await self.http.close()
        await self.profiled.close()


# -- token logprobs, as either upstream kind sends them (the wire's shape: token, logprob, bytes, top_logprobs)

def _top(t: JSONObject) -> TopLogprob:
    token, logprob, raw = t.get("token"), t.get("logprob"), t.get("bytes")
    return {"token": token if isinstance(token, str) else "",
            "logprob": float(logprob) if isinstance(logprob, int | float) else 0.0,
            "bytes": [b for b in raw if isinstance(b, int)] if isinstance(raw, list) else []}


def _entry(t: JSONObject) -> Logprob:
    top, tops = _top(t), t.get("top_logprobs")
    return {"token": top["token"], "logprob": top["logprob"], "bytes": top.get("bytes", []),
            "top_logprobs": [_top(x) for x in tops if isinstance(x, dict)] if isinstance(tops, list) else []}


def logprobs_of(content: JSON) -> list[Logprob] | None:
    """An upstream's token logprobs, checked, never trusted: a missing or mistyped field gets its
    zero value, an entry that is not an object is left out; None when there are none."""
    if not isinstance(content, list):
        return None
    return [_entry(t) for t in content if isinstance(t, dict)] or None
