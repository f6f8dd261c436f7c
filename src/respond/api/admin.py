"""The admin API, behind `--admin-key`: stored keys and usage, at run time.

    POST   /admin/v1/keys                 create (the key's text is in this answer only)
    GET    /admin/v1/keys                 list (never a secret or a hash)
    GET    /admin/v1/keys/{id}            one
    POST   /admin/v1/keys/{id}            update label, models, limits, expiry
    POST   /admin/v1/keys/{id}/revoke     revoke (every replica refuses it within --key-cache-seconds)
    POST   /admin/v1/keys/{id}/rotate     a new secret, same id and owner (the text in this answer only)
    GET    /admin/v1/usage?group_by=key|model|day&since=&until=&key=

Only the admin key opens these (compared in constant time); a tenant key, a static key or no key
is a 401, and without `--admin-key` the admin API answers 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from respond.api.auth import KeyRing
from respond.core.tenants import summed
from respond.engine.tenants.tenancy import Tenancy
from respond.protocol.errors import APIError, invalid

if TYPE_CHECKING:
    from respond.engine.tenants.key_admin import KeyAdmin

GROUPS = ("key", "model", "day")


class _JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _when(raw: str | None, name: str) -> int | None:
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    try:
        return int(datetime.fromisoformat(raw).replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise invalid(f"'{name}' must be unix seconds or a date (YYYY-MM-DD[THH:MM], UTC).", name,
                      "invalid_value") from None


def routes(tenancy: Tenancy, admin: KeyRing) -> list[Route]:
    made: list[KeyAdmin] = []

    def keys() -> KeyAdmin:
        """Built by the first admin request: its body models (pydantic validators, ~0.5 MB resident)
        stay out of a server whose admin API is not used (tests/test_memory_at_rest.py)."""
        if not made:
            from respond.engine.tenants.key_admin import KeyAdmin

            made.append(KeyAdmin(tenancy.keys))
        return made[0]

    def check(request: Request) -> None:
        if not admin.enabled:
            raise APIError(403, "The admin API is off: start the server with --admin-key.", code="admin_disabled")
        admin.owner(request.headers.get("authorization"))  # a 401 unless it is the admin key

    async def body(request: Request) -> Any:
        raw = await request.body()
        try:
            return orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise invalid("The body must be a JSON object.", None, "invalid_json") from None

    async def create(request: Request) -> Response:
        check(request)
        return _JSON(await keys().create(await body(request), tenancy.clock()), status_code=201)

    async def listing(request: Request) -> Response:
        check(request)
        return _JSON({"object": "list", "data": await keys().list()})

    async def one(request: Request) -> Response:
        check(request)
        return _JSON((await keys().get(request.path_params["key_id"])).public())

    async def update(request: Request) -> Response:
        check(request)
        return _JSON(await keys().update(request.path_params["key_id"], await body(request), tenancy.clock()))

    async def revoke(request: Request) -> Response:
        check(request)
        return _JSON(await keys().revoke(request.path_params["key_id"], tenancy.clock()))

    async def rotate(request: Request) -> Response:
        check(request)
        return _JSON(await keys().rotate(request.path_params["key_id"], tenancy.clock()))

    async def usage(request: Request) -> Response:
        check(request)
        q = request.query_params
        group_by = q.get("group_by", "key")
        if group_by not in GROUPS:
            raise invalid(f"'group_by' must be one of {', '.join(GROUPS)}.", "group_by", "invalid_value")
        for name in q:
            if name not in ("group_by", "since", "until", "key"):
                raise invalid(f"Unknown parameter: '{name}'.", name[:64], "unknown_parameter")
        rows = await tenancy.usage_store.usage(group_by, _when(q.get("since"), "since"), _when(q.get("until"), "until"),
                                               q.get("key") or None)
        return _JSON({"object": "usage", "group_by": group_by, "data": rows, "totals": summed(rows)})

    return [
        Route("/admin/v1/keys", create, methods=["POST"]),
        Route("/admin/v1/keys", listing, methods=["GET"]),
        Route("/admin/v1/keys/{key_id}", one, methods=["GET"]),
        Route("/admin/v1/keys/{key_id}", update, methods=["POST"]),
        Route("/admin/v1/keys/{key_id}/revoke", revoke, methods=["POST"]),
        Route("/admin/v1/keys/{key_id}/rotate", rotate, methods=["POST"]),
        Route("/admin/v1/usage", usage, methods=["GET"]),
    ]
