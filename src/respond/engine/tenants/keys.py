"""Key material: what a key looks like, how it is hashed, how a presented key is checked.

A key reads `rk-<id>-<secret>`: `id` (16 hex digits) finds the row by primary key, so checking a
key is one indexed read and never a scan; `secret` (32 random bytes, URL-safe base64) is stored
only as scrypt(secret, per-key salt), and compared in constant time.  The key is shown once, when
it is created or rotated.  A presented key whose id is unknown costs the same scrypt as a known
one (a dummy hash), so the time of an answer does not tell which ids exist.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "rk-"
ID_PREFIX = "key_"
# scrypt cost 2^12 x 8 (4 MiB, ~10 ms on an idle core): the secret is 256 random bits, so the hash is
# defence in depth (a stolen table gives nothing to guess), not the only thing between a guesser and
# a key; every replica caches a verified key (engine/tenants/tenancy.py), so requests do not pay it each time.
SCRYPT = {"n": 2**12, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}
_DUMMY_SALT = bytes(16)


@dataclass(frozen=True, slots=True)
class Presented:
    key_id: str
    secret: str


def new_key(key_id: str | None = None) -> tuple[str, str, str]:
    """(key id, the key's full text, its secret part): a new key, or a new secret for `key_id`."""
    hexid = key_id.removeprefix(ID_PREFIX) if key_id else secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return ID_PREFIX + hexid, f"{PREFIX}{hexid}-{secret}", secret


def parse(token: str) -> Presented | None:
    """The id and secret of a key in our format; None for anything else (a static key, junk)."""
    if not token.startswith(PREFIX) or len(token) > 120:
        return None
    hexid, sep, secret = token[len(PREFIX):].partition("-")
    if not sep or len(hexid) != 16 or not secret or any(c not in "0123456789abcdef" for c in hexid):
        return None
    return Presented(ID_PREFIX + hexid, secret)


def hash_secret(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT).hex()


def new_hash(secret: str) -> tuple[str, str]:
    """(salt hex, hash hex) for a new secret."""
    salt = secrets.token_bytes(16)
    return salt.hex(), hash_secret(secret, salt)


def verify(secret: str, salt_hex: str | None, expected_hex: str | None) -> bool:
    """Constant time in the secret; with no stored hash (unknown id) a dummy hash is computed."""
    if salt_hex is None or expected_hex is None:
        hash_secret(secret, _DUMMY_SALT)
        return False
    return hmac.compare_digest(hash_secret(secret, bytes.fromhex(salt_hex)), expected_hex)


def model_allowed(patterns: tuple[str, ...], model: str) -> bool:
    """`model` (a literal name) against the key's names or globs; no pattern: every model.

    The request's name is never used as a pattern, so a model named `*` matches only a pattern
    that matches the text `*` (case-sensitive: no case folding on any platform)."""
    return not patterns or any(fnmatch.fnmatchcase(model, p) for p in patterns)
