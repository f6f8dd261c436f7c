"""Managing stored keys: create, list, update, revoke, rotate; used by the admin API and the CLI.

Every field of a request is validated here (a 400 naming it, never a field silently ignored).
The key's text is returned once, by `create` and `rotate`; only its salted hash is stored.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

from respond.core.tenants import LIMIT_NAMES, KeyLimits, KeyObject, KeyStore, NewKeyObject, TenantKey
from respond.engine.tenants.keys import new_hash, new_key
from respond.protocol.errors import APIError, invalid, not_found
from respond.protocol.shapes.values import JSON, JSONObject

FIELDS = ("label", "models", "limits", "expires_at", "expires_in")
MAX_MODELS = 100


class KeyFields(TypedDict, total=False):
    """A create or update request's body, as the CLI builds it (the API's is checked field by field)."""

    label: str
    models: list[str]
    limits: dict[str, int]
    expires_at: int
    expires_in: int


class KeyChanges(TypedDict, total=False):
    """The columns an update changes (`KeyStore.update_key`'s keyword arguments)."""

    label: str
    models: tuple[str, ...]
    limits: KeyLimits
    expires_at: int | None


def _limits(raw: Any) -> KeyLimits:
    if raw is None:
        return KeyLimits()
    if not isinstance(raw, dict):
        raise invalid("'limits' must be an object.", "limits", "invalid_type")
    for name, value in raw.items():
        if name not in LIMIT_NAMES:
            raise invalid(f"Unknown limit 'limits.{name}'; known: {', '.join(LIMIT_NAMES)}.", f"limits.{name}",
                          "unknown_parameter")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53):
            raise invalid(f"'limits.{name}' must be a non-negative integer or null.", f"limits.{name}",
                          "invalid_value")
    return KeyLimits.from_dict(raw)


def _models(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_MODELS or not all(
            isinstance(m, str) and 0 < len(m) <= 128 and "\0" not in m for m in raw):
        raise invalid(f"'models' must be a list of at most {MAX_MODELS} model names or globs (1-128 characters).",
                      "models", "invalid_value")
    return tuple(raw)


def _seconds(name: str, value: JSON) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**40):
        raise invalid(f"'{name}' must be a positive integer (seconds).", name, "invalid_value")
    return value if isinstance(value, int) else None


def _expiry(body: JSONObject, now: float) -> int | None:
    at, within = _seconds("expires_at", body.get("expires_at")), _seconds("expires_in", body.get("expires_in"))
    if at is not None and within is not None:
        raise invalid("Give 'expires_at' or 'expires_in', not both.", "expires_in", "invalid_value")
    return int(now) + within if within is not None else at


def _label(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > 200 or "\0" in raw:
        raise invalid("'label' must be a string of at most 200 characters.", "label", "invalid_value")
    return raw


def _check_fields(body: Any) -> JSONObject:
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object.", None, "invalid_type")
    for name in body:
        if name not in FIELDS:
            raise invalid(f"Unknown parameter: '{name}'.", str(name)[:64], "unknown_parameter")
    return body


class KeyAdmin:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def create(self, body: Any, now: float | None = None) -> NewKeyObject:
        body = _check_fields(body)
        now = time.time() if now is None else now
        key_id, text, secret = new_key()
        salt, digest = new_hash(secret)
        key = TenantKey(id=key_id, label=_label(body.get("label")), salt=salt, secret_hash=digest,
                        created_at=int(now), models=_models(body.get("models")),
                        limits=_limits(body.get("limits")), expires_at=_expiry(body, now))
        await self.keys.add_key(key)
        return {**key.public(), "key": text}

    async def get(self, key_id: str) -> TenantKey:
        key = await self.keys.get_key(key_id)
        if key is None:
            raise not_found("API key", key_id)
        return key

    async def list(self) -> list[KeyObject]:
        return [k.public() for k in await self.keys.list_keys()]

    async def update(self, key_id: str, body: Any, now: float | None = None) -> KeyObject:
        body = _check_fields(body)
        now = time.time() if now is None else now
        fields: KeyChanges = {}
        if "label" in body:
            fields["label"] = _label(body["label"])
        if "models" in body:
            fields["models"] = _models(body["models"])
        if "limits" in body:
            fields["limits"] = _limits(body["limits"])
        if "expires_at" in body or "expires_in" in body:
            fields["expires_at"] = _expiry(body, now)
        key = await self.keys.update_key(key_id, **fields)
        if key is None:
            raise not_found("API key", key_id)
        return key.public()

    async def revoke(self, key_id: str, now: float | None = None) -> KeyObject:
        key = await self.get(key_id)
        if key.revoked_at is not None:
            return key.public()
        done = await self.keys.update_key(key_id, revoked_at=int(time.time() if now is None else now))
        assert done is not None
        return done.public()

    async def rotate(self, key_id: str, now: float | None = None) -> NewKeyObject:
        """A new secret for the same key (same id, so the same owner of the same data); the old
        text stops working on every replica once their cached row is re-read."""
        key = await self.get(key_id)
        if key.revoked_at is not None:
            raise APIError(409, f"The API key {key_id} is revoked; create a new one.", code="key_revoked")
        _, text, secret = new_key(key_id)
        salt, digest = new_hash(secret)
        done = await self.keys.update_key(key_id, salt=salt, secret_hash=digest,
                                          rotated_at=int(time.time() if now is None else now))
        assert done is not None
        return {**done.public(), "key": text}
