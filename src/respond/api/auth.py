"""Bearer-key authentication and ownership.

Static keys (`--api-key`) are kept only as SHA-256 digests and compared in constant time.  The
digest of the key a request used is its owner: each key sees only what it created.  Keys stored
in the database (`respond keys`, /admin/v1/keys) are checked by engine/tenants/tenancy.py; their owner is
their id.  With no key configured or stored, every request belongs to one anonymous owner.
"""

from __future__ import annotations

import hashlib
import hmac

from respond.core.tenants import TenantKey
from respond.engine.tenants.tenancy import Tenancy
from respond.protocol.errors import APIError

ANONYMOUS = "anonymous"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    def __init__(self, keys: list[str]) -> None:
        self._digests = [digest(k) for k in keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def has_owner(self, owner: str) -> bool:
        """Whether `owner` is the digest of a key configured now (a dashboard session outlives no key)."""
        match = False
        for known in self._digests:
            match |= hmac.compare_digest(owner, known)
        return match

    def accepts(self, key: str) -> bool:
        candidate, match = digest(key), False
        for known in self._digests:
            match |= hmac.compare_digest(candidate, known)
        return match

    def owner(self, authorization: str | None) -> str:
        if not self._digests:
            return ANONYMOUS
        if not authorization or not authorization.lower().startswith("bearer "):
            raise APIError(401, "You didn't provide an API key. You need to provide your API key in an "
                                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                           type="invalid_request_error", code="missing_api_key")
        candidate = digest(authorization[7:].strip())
        match = False
        for known in self._digests:  # compare with all, so the time does not tell which one matched
            match |= hmac.compare_digest(candidate, known)
        if not match:
            raise APIError(401, "Incorrect API key provided.", type="invalid_request_error",
                           code="invalid_api_key")
        return candidate


class Principals:
    """Who a request is: a stored key (engine/tenants/tenancy.py: its owner is its id), else a static
    `--api-key` (its owner the key's digest), else the anonymous owner when no key exists at all."""

    def __init__(self, keys: KeyRing, tenancy: Tenancy | None = None) -> None:
        self.keys = keys
        self.tenancy = tenancy

    async def owner(self, authorization: str | None) -> tuple[str, TenantKey | None]:
        token = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else None
        if self.tenancy is not None and token:
            try:
                key = await self.tenancy.authenticate(token)
            except APIError:
                if self.keys.enabled and self.keys.accepts(token):  # a static key that looks like ours
                    return self.keys.owner(authorization), None
                raise
            if key is not None:
                return key.id, key
        if not self.keys.enabled and self.tenancy is not None and await self.tenancy.required():
            return KeyRing(["\0never"]).owner(authorization), None  # keys exist: a 401 like any bad key
        return self.keys.owner(authorization), None
