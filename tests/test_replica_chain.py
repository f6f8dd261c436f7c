"""Issue 11 item 7: two processes on one PostgreSQL database agree about deleted history: after a
response of a chain is deleted through one replica, continuing the chain on the other never sends
the deleted turn to the model (its context cache checks the whole chain, not only the parent)."""

from __future__ import annotations

from typing import Any

from tests.conftest import UpstreamThread


def _sent(upstream: UpstreamThread) -> str:
    return " ".join(str(m["content"]) for m in upstream.requests()[-1]["messages"])


def test_a_deleted_ancestor_never_reaches_the_model_from_another_replica(server_factory: Any,
                                                                          upstream: UpstreamThread,
                                                                          pg_database: str) -> None:
    a = server_factory("--upstream", upstream.base_url, "--embedded", "off", database=pg_database)
    b = server_factory("--upstream", upstream.base_url, "--embedded", "off", database=pg_database)
    ca, cb = a.client(), b.client()
    upstream.reply({"content": "answer one"}, {"content": "answer two"}, {"content": "answer three"},
                   {"content": "answer four"}, {"content": "answer five"})
    r1 = ca.responses.create(model="scripted", input="first secret")
    r2 = ca.responses.create(model="scripted", input="second", previous_response_id=r1.id)
    r3 = cb.responses.create(model="scripted", input="third", previous_response_id=r2.id)  # b caches the chain
    assert "first secret" in _sent(upstream)
    ca.responses.delete(r1.id)
    cb.responses.create(model="scripted", input="fourth", previous_response_id=r3.id)
    sent = _sent(upstream)
    assert "first secret" not in sent and "answer one" not in sent, sent
    assert "second" in sent and "third" in sent
    cb.responses.create(model="scripted", input="fifth", previous_response_id=r2.id)
    assert "first secret" not in _sent(upstream)
