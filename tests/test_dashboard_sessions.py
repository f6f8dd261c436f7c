"""Dashboard sessions over HTTP (issue 17): the cookie carries no hash of the key, sign-out ends the
session for every copy of the cookie and on every replica, and CSRF tokens are bound to the session
(a cookie the attacker sets and the same value in the form is refused)."""

from __future__ import annotations

import hashlib
import re

import httpx
import openai
import pytest

KEYS = ("--api-key", "key-a", "--api-key", "key-b", "--admin-key", "admin-secret", "--secret-key", "s3cret")
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def site(module_server_factory, upstream_server, database):
    return module_server_factory("--upstream", upstream_server.base_url, "--embedded", "off", "--workers", "0",
                                 *KEYS, database=database)


def browser(server) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30, follow_redirects=False)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF_FIELD.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(b: httpx.Client, key: str) -> str:
    token = csrf_of(b.get("/dashboard/signin"))
    r = b.post("/dashboard/signin", data={"key": key, "csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/responses", r.text
    return str(b.cookies.get("respond_session", domain="127.0.0.1"))


def plant(b: httpx.Client, name: str, value: str) -> None:
    """A cookie set by someone else (an attacker, or a copy): it replaces the browser's own."""
    b.cookies.set(name, value, domain="127.0.0.1", path="/dashboard")


def signed_in(b: httpx.Client) -> bool:
    r = b.get("/dashboard/responses")
    return r.status_code == 200 and "Sign out" in r.text


def make_response(server, key: str, text: str) -> str:
    return str(server.client(key).responses.create(model="scripted", input=text).id)


def test_the_cookie_carries_no_hash_of_the_key(site, upstream):
    seen = set()
    for key in ("key-a", "key-a", "admin-secret"):
        with browser(site) as b:
            cookie = sign_in(b, key)
            assert signed_in(b)
            for secret in (key, hashlib.sha256(key.encode()).hexdigest(), hashlib.sha256(key.encode()).hexdigest()[:16],
                           "admin"):
                assert secret not in cookie
            seen.add(cookie)
    assert len(seen) == 3  # a new random id per sign-in, even for the same key


def test_sign_out_ends_the_session_for_every_copy(site, upstream):
    upstream.reply({"content": "kept"})
    rid = make_response(site, "key-a", "keep me")
    with browser(site) as b:
        cookie = sign_in(b, "key-a")
        page = b.get(f"/dashboard/responses/{rid}")
        assert page.status_code == 200
        token = csrf_of(page)
        out = b.post("/dashboard/signout", data={"csrf": token})
        assert out.status_code == 303
    with browser(site) as thief:  # a copy of the cookie, replayed after sign-out
        plant(thief, "respond_session", cookie)
        assert thief.get("/dashboard/responses").headers.get("location") == "/dashboard/signin"
        r = thief.post(f"/dashboard/responses/{rid}/delete", data={"csrf": token})
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/signin"
    assert site.client("key-a").responses.retrieve(rid).id == rid  # not deleted


def test_csrf_is_bound_to_the_session(site, upstream):
    upstream.reply({"content": "one"})
    rid = make_response(site, "key-a", "target")
    with browser(site) as other:  # another session of the same key: its token is not this one's
        sign_in(other, "key-a")
        foreign = csrf_of(other.get("/dashboard/responses"))
    with browser(site) as b:
        sign_in(b, "key-a")
        pre_token = csrf_of(b.get("/dashboard/signin"))  # a pre-session token
        own = csrf_of(b.get("/dashboard/responses"))
        attempts = [
            {"csrf": "forged"},  # double submit: the attacker sets the cookie to the form's value
            {"csrf": foreign}, {"csrf": pre_token}, {"csrf": ""}, {}, {"csrf": own.upper()}, {"csrf": own[:-1]},
        ]
        for form in attempts:
            plant(b, "respond_csrf", "forged")
            r = b.post(f"/dashboard/responses/{rid}/delete", data=form)
            assert r.status_code == 403, form
        assert site.client("key-a").responses.retrieve(rid).id == rid
        assert b.post(f"/dashboard/responses/{rid}/delete", data={"csrf": own}).status_code == 303
    with pytest.raises(openai.NotFoundError):
        site.client("key-a").responses.retrieve(rid)


def test_forged_and_tampered_cookies_are_refused(site, upstream):
    with browser(site) as b:
        cookie = sign_in(b, "key-b")
    digest = hashlib.sha256(b"key-b").hexdigest()
    for forged in (cookie[:-1] + ("A" if cookie[-1] != "A" else "B"), cookie + "x", "", "admin", "admin.9999999999.x",
                   f"{digest}.9999999999.{'0' * 64}", f"admin.9999999999.{'0' * 64}", "x" * 5000,
                   hashlib.sha256(cookie.encode()).hexdigest()):
        with browser(site) as attacker:
            plant(attacker, "respond_session", forged)
            assert not signed_in(attacker), forged


def test_sign_in_refuses_forged_csrf_and_replaces_a_planted_session(site, upstream):
    with browser(site) as b:
        b.get("/dashboard/signin")
        for form in ({"key": "key-a"}, {"key": "key-a", "csrf": "x"}):
            assert b.post("/dashboard/signin", data=form).status_code == 403
        assert b.post("/dashboard/signin", data={"key": "nope", "csrf": csrf_of(b.get("/dashboard/signin"))}
                      ).status_code == 401
    with browser(site) as attacker:
        planted = sign_in(attacker, "key-b")  # the attacker's own session, planted in the victim's browser
    with browser(site) as victim:
        plant(victim, "respond_session", planted)
        mine = sign_in(victim, "key-a")
        assert mine != planted
    with browser(site) as attacker:
        plant(attacker, "respond_session", planted)
        assert not signed_in(attacker)  # the planted session ended when the victim signed in


def test_sessions_are_shared_by_replicas(server_factory, upstream, database):
    one = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0", *KEYS,
                         database=database)
    two = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0", *KEYS,
                         database=database)
    with browser(one) as b:
        cookie = sign_in(b, "key-a")
        token = csrf_of(b.get("/dashboard/responses"))
    with browser(two) as b:
        plant(b, "respond_session", cookie)
        assert signed_in(b)  # signed in on one, seen on two
        assert b.post("/dashboard/signout", data={"csrf": token}).status_code == 303  # same secret, same token
    for server in (one, two):
        with browser(server) as b:
            plant(b, "respond_session", cookie)
            assert not signed_in(b)


def test_a_session_ends_with_its_key(server_factory, upstream, tmp_path):
    """The operator takes a key out of the configuration (or the admin key) and restarts: its sessions,
    still within their lifetime in the table, sign nobody in any more."""
    db = f"sqlite:///{tmp_path / 'keys.db'}"
    before = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0", *KEYS,
                            database=db)
    with browser(before) as b:
        tenant = sign_in(b, "key-a")
    with browser(before) as b:
        admin = sign_in(b, "admin-secret")
    with browser(before) as b:
        kept = sign_in(b, "key-b")
    before.stop()
    after = server_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0",
                           "--api-key", "key-b", "--secret-key", "s3cret", database=db)
    for cookie in (tenant, admin):
        with browser(after) as b:
            plant(b, "respond_session", cookie)
            assert not signed_in(b)
    with browser(after) as b:
        plant(b, "respond_session", kept)  # a key still configured keeps its session across the restart
        assert signed_in(b)


def test_a_vector_store_page_searches_it(site, upstream):
    """The dashboard's search box reaches the same search as `POST /vector_stores/{id}/search`."""
    client = site.client("key-a")
    store = client.vector_stores.create(name="notes")
    f = client.files.create(file=("moons.txt", b"Phobos and Deimos are the moons of Mars."), purpose="assistants")
    client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=f.id)
    with browser(site) as b:
        sign_in(b, "key-a")
        page = b.get(f"/dashboard/vector_stores/{store.id}", params={"q": "moons of Mars"})
        assert page.status_code == 200, page.text[:500]
        assert "moons.txt" in page.text.split("Results for", 1)[1]


def test_a_foreground_response_page_shows_its_events_rebuilt(site, upstream):
    """A foreground response stores no stream events: its page shows the replay GET ?stream=true gives."""
    upstream.reply({"content": "one two three", "chunks": 3})
    rid = str(site.client("key-a").responses.create(model="scripted", input="count", stream=False).id)
    with browser(site) as b:
        sign_in(b, "key-a")
        page = b.get(f"/dashboard/responses/{rid}").text
    assert "rebuilt from the stored response" in page
    for kind in ("response.created", "response.output_text.delta", "response.output_text.done", "response.completed"):
        assert f"<code>{kind}</code>" in page, kind
