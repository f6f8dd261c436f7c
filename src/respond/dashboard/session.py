"""Dashboard sign-in, server-side sessions, and CSRF.

Signing in with a key creates a session (`core.sessions.SessionStore`, a table on the store's
database): the `respond_session` cookie holds only its random id, never the key nor any hash of it;
the server keeps the id's SHA-256 with the owner (the key's owner digest, or the admin), and an expiry.
Every request looks the session up, so signing out (which deletes it) ends it on every replica, and
a copied cookie replayed afterwards is refused.  The cookie is HttpOnly, SameSite=Strict, scoped to
/dashboard, Secure over HTTPS.

Every state-changing form carries a CSRF token: HMAC-SHA256 of the session id under the server's
secret (`--secret-key` or its key file), so it is bound to that session and nobody can make one
without the secret, even someone who can set cookies for the site.  Before signing in (the sign-in
form, and a server with no keys) the token is bound the same way to a random pre-session cookie,
`respond_csrf`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

from respond.core.sessions import SessionStore

SESSION = "respond_session"
CSRF = "respond_csrf"  # the pre-session id CSRF tokens are bound to before a session exists
LIFETIME = 8 * 3600
ADMIN = "admin"


class StoredKeys(Protocol):
    """Keys stored in the database (respond.engine.tenants.tenancy.Tenancy): `authenticate` returns the key
    (its `id` is its owner) or None for a key not in the stored format, and raises for a bad one."""

    async def authenticate(self, token: str) -> Any: ...

    async def usable(self, key_id: str) -> bool: ...

    def is_key_owner(self, owner: str) -> bool: ...


class Keys(Protocol):
    """What the dashboard needs of a key ring (respond.api.auth.KeyRing)."""

    @property
    def enabled(self) -> bool: ...

    def owner(self, authorization: str | None) -> str: ...

    def has_owner(self, owner: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Viewer:
    owner: str | None  # None: every owner (the admin key)
    admin: bool = False

    @property
    def label(self) -> str:
        return "admin (all owners)" if self.admin else "key " + (self.owner or "")[:10]


def secret_for(server_secret: bytes) -> bytes:
    """The CSRF key, derived from the server's secret (never used for anything else)."""
    return hmac.new(server_secret, b"respond-dashboard-csrf", hashlib.sha256).digest()


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    def __init__(self, keys: Keys, admin: Keys, secret: bytes, store: SessionStore,
                 stored: StoredKeys | None = None) -> None:
        self.keys = keys
        self.admin = admin
        self.secret = secret
        self.store = store
        self.stored = stored  # stored keys sign in too; their session ends with the key (revoked, expired)

    @property
    def open(self) -> bool:
        """No key configured: no sign-in, everyone is the one anonymous owner."""
        return not self.keys.enabled and not self.admin.enabled

    async def sign_in(self, key: str) -> str | None:
        """A new session's id for a valid key, else None."""
        bearer = "Bearer " + key.strip()
        if self.stored is not None and key.strip():
            try:
                found = await self.stored.authenticate(key.strip())
            except Exception:  # noqa: BLE001 - a bad stored key: maybe a static one in the same format
                found = None
            if found is not None:
                session_id = secrets.token_urlsafe(32)
                await self.store.add_session(_digest(session_id), found.id, False, int(time.time()) + LIFETIME)
                return session_id
        for ring, as_admin in ((self.admin, True), (self.keys, False)):
            if not ring.enabled:
                continue
            try:
                digest = ring.owner(bearer)
            except Exception:  # noqa: BLE001 - an invalid key for this ring: try the next
                continue
            session_id = secrets.token_urlsafe(32)
            await self.store.add_session(_digest(session_id), ADMIN if as_admin else digest, as_admin,
                                         int(time.time()) + LIFETIME)
            return session_id
        return None

    async def sign_out(self, session_id: str | None) -> None:
        if session_id:
            await self.store.delete_session(_digest(session_id))

    async def viewer(self, session_id: str | None) -> Viewer | None:
        if self.open:
            return Viewer("anonymous")
        if not session_id or len(session_id) > 128:
            return None
        found = await self.store.get_session(_digest(session_id), int(time.time()))
        if found is None:
            return None
        owner, admin = found
        # a session ends with its key: the admin key or a static key taken out of the configuration, a stored
        # key revoked or expired
        if admin:
            return Viewer(None, admin=True) if self.admin.enabled else None
        if self.keys.has_owner(owner):
            return Viewer(owner)
        stored = self.stored
        if stored is not None and stored.is_key_owner(owner) and await stored.usable(owner):
            return Viewer(owner)
        return None

    def csrf(self, bound_to: str, *, session: bool) -> str:
        """The CSRF token of a session id (or, `session=False`, of a pre-session id)."""
        label = b"session\0" if session else b"pre\0"
        return hmac.new(self.secret, label + bound_to.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, bound_to: str | None, submitted: str | None, *, session: bool) -> bool:
        return bool(bound_to) and bool(submitted) and hmac.compare_digest(
            self.csrf(str(bound_to), session=session), str(submitted))


def new_pre_session() -> str:
    return secrets.token_urlsafe(24)
