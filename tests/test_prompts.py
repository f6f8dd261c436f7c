"""The prompt store (`--prompts DIR`, the `prompt` parameter), through the SDK."""

from __future__ import annotations

import json
import time

import openai
import pytest

from tests.spec import body_of, check_response

SUPPORT = """
default_version = "2"

[versions.1]
instructions = "You answer for {{company}}."

[versions.2]
instructions = "You answer for {{ company }}, briefly."
input = [{role = "user", content = "My name is {{name}}."}]

[versions.3]
instructions = "Draft."
"""


@pytest.fixture(scope="module")
def prompted(module_app_factory, upstream_server, database, tmp_path_factory):
    folder = tmp_path_factory.mktemp("prompts")
    (folder / "support.toml").write_text(SUPPORT)
    (folder / "plain.json").write_text(json.dumps({"instructions": "Plain {{x}}."}))
    return module_app_factory("--upstream", upstream_server.base_url, "--embedded", "off",
                                 "--prompts", str(folder), database=database)


def test_prompt_applied(prompted, upstream):
    client = prompted.client()
    r = client.responses.create(model="scripted", input="Where is my order?", instructions="Use English.",
                                prompt={"id": "support", "variables": {"company": "Acme", "name": "Ann"}})
    assert upstream.requests()[-1]["messages"] == [
        {"role": "system", "content": "You answer for Acme, briefly.\n\nUse English."},
        {"role": "user", "content": "My name is Ann."},
        {"role": "user", "content": "Where is my order?"},
    ]
    assert r.prompt is not None and r.prompt.id == "support" and r.prompt.version == "2"
    assert r.instructions == "You answer for Acme, briefly.\n\nUse English."
    check_response(prompted.http().get(f"/responses/{r.id}").json())
    items = client.responses.input_items.list(r.id, order="asc").data
    assert [i.content[0].text for i in items] == ["My name is Ann.", "Where is my order?"]
    client.responses.create(model="scripted", input="hi", prompt={"id": "support", "version": "1",
                                                                    "variables": {"company": "Acme"}})
    assert upstream.requests()[-1]["messages"][0] == {"role": "system", "content": "You answer for Acme."}
    client.responses.create(model="scripted", input="hi", prompt={"id": "plain", "variables": {
        "x": {"type": "input_text", "text": "text"}}})
    assert upstream.requests()[-1]["messages"][0] == {"role": "system", "content": "Plain text."}


BAD = [
    ({"id": "nope"}, "prompt.id"),
    ({"id": "../etc/passwd"}, "prompt.id"),
    ({"id": "support", "version": "9", "variables": {"company": "A", "name": "B"}}, "prompt.version"),
    ({"id": "support", "variables": {"company": "A"}}, "prompt.variables"),
    ({"id": "support", "version": "3", "variables": {"company": "A"}}, "prompt.variables.company"),
    ({"id": "plain", "variables": {"x": {"type": "input_image", "image_url": "http://x"}}}, "prompt.variables.x"),
]


@pytest.mark.parametrize(("prompt", "param"), BAD, ids=[f"{p}:{i}" for i, (_, p) in enumerate(BAD)])
def test_bad_prompt_is_a_400(prompted, upstream, prompt, param):
    with pytest.raises(openai.BadRequestError) as err:
        prompted.client().responses.create(model="scripted", input="x", prompt=prompt)
    assert body_of(err)["param"] == param
    assert upstream.requests() == []


def test_prompt_without_store_is_a_400(server, upstream):
    with pytest.raises(openai.BadRequestError) as err:
        server.client().responses.create(model="scripted", input="x", prompt={"id": "support"})
    assert body_of(err)["param"] == "prompt" and "--prompts" in body_of(err)["message"]


def test_prompt_in_background(prompted, upstream):
    client = prompted.client()
    r = client.responses.create(model="scripted", input="later", background=True,
                                prompt={"id": "support", "variables": {"company": "Acme", "name": "Bo"}})
    deadline = time.monotonic() + 30
    while r.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.1)
        r = client.responses.retrieve(r.id)
    assert r.status == "completed"
    assert upstream.requests()[-1]["messages"] == [
        {"role": "system", "content": "You answer for Acme, briefly."},
        {"role": "user", "content": "My name is Bo."},
        {"role": "user", "content": "later"},
    ]
