"""`reasoning.encrypted_content`: reasoning sealed by the server, opened only by it (and, with the same
key and a `purpose` of their own: `compaction.encrypted_content`, and the hosted tools' secrets of a queued
background run, engine/background/jobs.py).

A `store: false` client keeps nothing on the server, so to carry the model's reasoning into its
next turn it asks for `include: ["reasoning.encrypted_content"]` and sends the reasoning item back
as input.  The blob is a Fernet token (AES-128-CBC + HMAC-SHA256, from `cryptography`) of the
item's content and the owner it was made for: opaque to the client, authenticated (a changed byte
fails), and bound to its owner (another API key's blob is refused like a forged one).

The key comes from `--secret-key` (any string; several replicas must share it), else from a key
file generated on first start (32 random bytes, mode 0600) and kept for the next ones.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from respond.protocol.shapes import JSONObject

if TYPE_CHECKING:  # `cryptography` (its own OpenSSL, ~7 MB resident) is imported by the first seal or open
    from cryptography.fernet import Fernet

log = logging.getLogger("respond.sealing")

_CONTEXT = b"respond/reasoning.encrypted_content/v1:"


class Sealer:
    def __init__(self, secret: bytes) -> None:
        # Any secret -> a Fernet key (a derived key, so the configured secret is never used raw).
        self._key = base64.urlsafe_b64encode(hashlib.sha256(_CONTEXT + secret).digest())
        self._cipher: Fernet | None = None

    @property
    def _fernet(self) -> Fernet:
        if self._cipher is None:
            from cryptography.fernet import Fernet

            self._cipher = Fernet(self._key)
        return self._cipher

    def seal(self, payload: Mapping[str, object], owner: str, purpose: str = "reasoning") -> str:
        """`purpose` binds the blob to one use (reasoning, compaction, hosted_secrets): a blob sealed
        for one is refused as another."""
        head = {"owner": owner} if purpose == "reasoning" else {"owner": owner, "purpose": purpose}
        return self._fernet.encrypt(orjson.dumps({**payload, **head})).decode()

    def open(self, token: Any, owner: str | None, purpose: str = "reasoning") -> JSONObject | None:
        """The payload of a blob this server sealed for `owner` (None: whoever it was sealed for)
        and `purpose`; None for anything else."""
        if not isinstance(token, str):
            return None
        from cryptography.fernet import InvalidToken

        try:
            payload = orjson.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, orjson.JSONDecodeError, ValueError):
            return None
        if not isinstance(payload, dict) or payload.pop("purpose", "reasoning") != purpose:
            return None
        sealed_for = payload.pop("owner", None)
        if owner is not None and sealed_for != owner:
            return None
        return payload


def load_secret(secret: str | None, key_file: Path) -> bytes:
    """The configured secret, else the key file's (created, 0600, on first use)."""
    if secret:
        return secret.encode()
    try:
        return key_file.read_bytes()
    except FileNotFoundError:
        pass
    key_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_file.with_name(f".{key_file.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
    finally:
        os.close(fd)
    try:
        os.link(tmp, key_file)  # atomic, and never replaces a key another process made first
        log.info("generated the key for reasoning.encrypted_content: %s", key_file)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return key_file.read_bytes()
