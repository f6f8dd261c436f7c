"""Key material: the format, the hash, the glob rule, and that a wrong key's answer takes the same time
whether its id exists or not (a hostile tenant probing ids learns nothing from the clock)."""

from __future__ import annotations

import time

from respond.engine.tenants.keys import model_allowed, new_hash, new_key, parse, verify


def test_format_and_hash() -> None:
    key_id, text, secret = new_key()
    found = parse(text)
    assert found is not None and found.key_id == key_id and found.secret == secret
    salt, digest = new_hash(secret)
    assert verify(secret, salt, digest) and not verify(secret + "x", salt, digest)
    assert new_hash(secret) != (salt, digest)  # a salt per key: the same secret hashes differently
    for junk in ("", "rk-", "rk-xyz-abc", f"rk-{'A' * 16}-x", f"rk-{'0' * 16}-", "sk-" + text[3:], text + "x" * 200):
        assert parse(junk) is None, junk
    rotated = new_key(key_id)
    assert rotated[0] == key_id and rotated[1] != text


def test_globs_match_the_requested_name_only() -> None:
    assert model_allowed((), "anything")
    assert model_allowed(("qwen*",), "qwen2.5") and not model_allowed(("qwen*",), "Qwen2.5")
    assert not model_allowed(("gpt-4o",), "*") and not model_allowed(("gpt-4o",), "gpt-4?")
    assert model_allowed(("*",), "*") and not model_allowed(("[ab]",), "[ab]")


def test_unknown_id_and_wrong_secret_take_the_same_time() -> None:
    _, _, secret = new_key()
    salt, digest = new_hash(secret)

    def timed(fn: object) -> float:
        runs = []
        for _ in range(7):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            runs.append(time.perf_counter() - start)
        return min(runs)  # the least disturbed run: other processes only ever add time

    known = timed(lambda: verify(secret[:-1] + "x", salt, digest))
    unknown = timed(lambda: verify(secret, None, None))
    # both are one scrypt (a dict miss would be ~1000x faster); wide bounds: a loaded machine skews single runs
    assert 0.25 < known / unknown < 4.0, (known, unknown)
