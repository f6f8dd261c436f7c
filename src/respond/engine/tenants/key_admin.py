"""Managing stored keys: create, list, update, revoke, rotate; used by the admin API and the CLI.

Every request is parsed by `KeyBody` where it enters (a 400 naming the field, never a field silently ignored).
The key's text is returned once, by `create` and `rotate`; only its salted hash is stored.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, TypedDict

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from respond.core.tenants import LIMIT_NAMES, KeyLimits, KeyObject, KeyStore, NewKeyObject, TenantKey
from respond.engine.tenants.keys import new_hash, new_key
from respond.protocol.bodies import parse
from respond.protocol.errors import APIError, invalid, not_found

MAX_MODELS = 100
SECONDS_MAX = 2**40
Seconds = Annotated[int, Field(gt=0, lt=SECONDS_MAX)]
Limit = Annotated[int, Field(ge=0, lt=2**53)]


class KeyFields(TypedDict, total=False):
    """A create or update request's body, as the CLI builds it (`KeyBody` checks it as the API's)."""

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


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\0" in value:
        raise PydanticCustomError("invalid_value", "it contains a NUL character")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LimitsBody(_Strict):
    """A key's limits (core.tenants.LIMIT_NAMES; null: none); an unknown name is a 400 naming it."""

    rpm: Limit | None = None
    tpm: Limit | None = None
    concurrent: Limit | None = None
    daily_tokens: Limit | None = None
    monthly_tokens: Limit | None = None

    @model_validator(mode="before")
    @classmethod
    def _known(cls, raw: Any) -> Any:
        for name in raw if isinstance(raw, dict) else ():
            if name not in LIMIT_NAMES:
                raise invalid(f"Unknown limit 'limits.{str(name)[:64]}'; known: {', '.join(LIMIT_NAMES)}.",
                              f"limits.{str(name)[:64]}", "unknown_parameter")
        return raw


class KeyBody(_Strict):
    """`POST /admin/v1/keys` and `POST /admin/v1/keys/{id}` (and the CLI's `keys create/update`): an
    update changes only the fields sent."""

    label: Annotated[str, Field(max_length=200), AfterValidator(_no_nul)] | None = None
    models: list[Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)]] | None = Field(
        default=None, max_length=MAX_MODELS)
    limits: LimitsBody | None = None
    expires_at: Seconds | None = None
    expires_in: Seconds | None = None

    @model_validator(mode="after")
    def _one_expiry(self) -> KeyBody:
        if self.expires_at is not None and self.expires_in is not None:
            raise invalid("Give 'expires_at' or 'expires_in', not both.", "expires_in", "invalid_value")
        return self

    def expiry(self, now: float) -> int | None:
        return int(now) + self.expires_in if self.expires_in is not None else self.expires_at

    def key_limits(self) -> KeyLimits:
        return KeyLimits.from_dict(self.limits.model_dump() if self.limits else None)


class KeyAdmin:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def create(self, raw: Any, now: float | None = None) -> NewKeyObject:
        body = parse(KeyBody, raw)
        now = time.time() if now is None else now
        key_id, text, secret = new_key()
        salt, digest = new_hash(secret)
        key = TenantKey(id=key_id, label=body.label or "", salt=salt, secret_hash=digest,
                        created_at=int(now), models=tuple(body.models or ()),
                        limits=body.key_limits(), expires_at=body.expiry(now))
        await self.keys.add_key(key)
        return {**key.public(), "key": text}

    async def get(self, key_id: str) -> TenantKey:
        key = await self.keys.get_key(key_id)
        if key is None:
            raise not_found("API key", key_id)
        return key

    async def list(self) -> list[KeyObject]:
        return [k.public() for k in await self.keys.list_keys()]

    async def update(self, key_id: str, raw: Any, now: float | None = None) -> KeyObject:
        body = parse(KeyBody, raw)
        sent = body.model_fields_set
        now = time.time() if now is None else now
        fields: KeyChanges = {}
        if "label" in sent:
            fields["label"] = body.label or ""
        if "models" in sent:
            fields["models"] = tuple(body.models or ())
        if "limits" in sent:
            fields["limits"] = body.key_limits()
        if "expires_at" in sent or "expires_in" in sent:
            fields["expires_at"] = body.expiry(now)
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
