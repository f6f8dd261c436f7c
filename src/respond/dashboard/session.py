"""Dashboard sign-in and CSRF.

Signing in with a key sets `respond_session`: `who.expiry.signature`, where `who` is the key's
owner digest (what the store already records; never the key) or `admin`, signed with HMAC-SHA256
under a secret derived from the configured keys (so every replica with the same keys accepts it,
and nobody without a key can forge one).  The cookie is HttpOnly, SameSite=Strict, scoped to
/dashboard.  Every state-changing form carries a CSRF token that must equal the
`respond_csrf` cookie (double submit, compared in constant time); SameSite=Strict already keeps
other sites' forms from carrying the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

SESSION = "respond_session"
CSRF = "respond_csrf"
LIFETIME = 8 * 3600
ADMIN = "admin"


class Keys(Protocol):
    """What the dashboard needs of a key ring (respond.api.auth.KeyRing)."""

    @property
    def enabled(self) -> bool: ...

    def owner(self, authorization: str | None) -> str: ...


@dataclass(frozen=True, slots=True)
class Viewer:
    owner: str | None  # None: every owner (the admin key)
    admin: bool = False

    @property
    def label(self) -> str:
        return "admin (all owners)" if self.admin else "key " + (self.owner or "")[:10]


def secret_for(keys: list[str]) -> bytes:
    """The signing secret: derived from the raw keys (never stored), random when there are none."""
    material = "\0".join(sorted(k for k in keys if k))
    if not material:
        return secrets.token_bytes(32)
    return hashlib.sha256(b"respond-dashboard-session\0" + material.encode()).digest()


class Sessions:
    def __init__(self, keys: Keys, admin: Keys, secret: bytes) -> None:
        self.keys = keys
        self.admin = admin
        self.secret = secret

    @property
    def open(self) -> bool:
        """No key configured: no sign-in, everyone is the one anonymous owner."""
        return not self.keys.enabled and not self.admin.enabled

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def sign_in(self, key: str) -> str | None:
        """A session token for a valid key, else None."""
        bearer = "Bearer " + key.strip()
        who: str | None = None
        for ring, as_admin in ((self.admin, True), (self.keys, False)):
            if not ring.enabled:
                continue
            try:
                digest = ring.owner(bearer)
            except Exception:  # noqa: BLE001 - an invalid key for this ring: try the next
                continue
            who = ADMIN if as_admin else digest
            break
        if who is None:
            return None
        payload = f"{who}.{int(time.time()) + LIFETIME}"
        return f"{payload}.{self._sign(payload)}"

    def viewer(self, token: str | None) -> Viewer | None:
        if self.open:
            return Viewer("anonymous")
        if not token or token.count(".") != 2:
            return None
        who, expiry, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{who}.{expiry}")):
            return None
        if not expiry.isdigit() or int(expiry) < time.time():
            return None
        return Viewer(None, admin=True) if who == ADMIN else Viewer(who)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(cookie: str | None, submitted: str | None) -> bool:
    return bool(cookie) and bool(submitted) and hmac.compare_digest(str(cookie), str(submitted))
