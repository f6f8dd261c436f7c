"""What both upstream kinds (chat completions, `/v1/responses`) share: the transport to one base URL,
the models an upstream is limited to, its profile (profiles.py: a preset, or `auto`, probed at start,
with overrides), the model list, and how an upstream's error body reads."""

from __future__ import annotations

from typing import Any

import orjson

from respond.backends.adapt import Profiled
from respond.backends.profiles import Profile
from respond.backends.upstream_http import UpstreamLimits, UpstreamTransport
from respond.core.errors import BackendError
from respond.core.types import ModelInfo


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
                 limits: UpstreamLimits | None, profile: str | None, settings: dict[str, Any]) -> None:
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
