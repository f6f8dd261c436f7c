"""The CLI: one flag definition (help, defaults, README table), and the operator commands on a real database."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from respond.cli import build_parser
from respond.config import FLAGS, Settings, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def respond(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "respond", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_readme_table_is_generated_from_the_flags():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- flags:start")
    body = readme[readme.index("\n", start) + 1: readme.index("<!-- flags:end -->")].strip()
    assert body == markdown_table(), "README.s table is stale: paste the output of `python -m respond.config`"
    for name in ("--cache-dir", "--log-level", "--shutdown-grace", "--log-format", "--admin-key"):
        assert f"`{name}" in body


def test_help_and_settings_come_from_the_same_flags():
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr,index]
    text = serve.format_help()
    fields = {f.name for f in dataclasses.fields(Settings)}
    defaults = Settings()
    for flag in FLAGS:
        assert flag.option in text and flag.env in text, flag.name
        assert flag.name in fields, flag.name
        assert getattr(defaults, flag.name) == flag.default_value(), flag.name


def test_env_fallback_and_types(monkeypatch):
    monkeypatch.setenv("RESPOND_WORKERS", "7")
    monkeypatch.setenv("RESPOND_API_KEY", "a, b")
    args = build_parser().parse_args(["serve"])
    assert args.workers == 7
    from respond.config import settings_from

    assert settings_from(vars(args)).api_keys == ["a", "b"]


@pytest.fixture
def populated(app_factory, upstream, database):
    srv = app_factory("--upstream", upstream.base_url, "--embedded", "off", "--workers", "0",
                      "--api-key", "key-a", database=database)
    client = srv.client(api_key="key-a")
    # created_at has one-second resolution: one response a second, so that "newest first" is defined
    red = client.responses.create(model="scripted", input="colour me red", metadata={"team": "red"})
    srv.clock.advance(1)
    blue = client.responses.create(model="scripted", input="and blue", metadata={"team": "blue"})
    srv.clock.advance(1)
    queued = client.responses.create(model="scripted", input="later", background=True)
    return srv, client, red, blue, queued


@pytest.mark.process  # the `respond` command line, on the database the app writes
def test_operator_commands(populated):
    srv, client, red, blue, queued = populated
    db = ["--database", srv.database]
    mine = {red.id, blue.id, queued.id}  # on PostgreSQL the database is shared with other test modules
    rows = [json.loads(line) for line in respond("responses", "list", "--json", *db).stdout.splitlines()]
    assert [r["id"] for r in rows if r["id"] in mine] == [queued.id, blue.id, red.id]  # newest first
    assert [r["id"] for r in rows][:3] == [queued.id, blue.id, red.id]  # and the newest of all
    only = respond("responses", "list", "--json", "--metadata", "team=red", *db).stdout.splitlines()
    assert [json.loads(line)["id"] for line in only] == [red.id]
    text = respond("responses", "list", "--text", "BLUE", *db).stdout
    assert blue.id in text and red.id not in text
    paged = respond("responses", "list", "--limit", "2", *db)
    assert "more: --cursor" in paged.stderr
    cursor = paged.stderr.split("--cursor ")[1].strip()
    assert red.id in respond("responses", "list", "--cursor", cursor, *db).stdout
    assert json.loads(respond("responses", "get", red.id, *db).stdout)["metadata"] == {"team": "red"}

    runs = [json.loads(line) for line in respond("runs", "list", "--json", *db).stdout.splitlines()]
    assert [(r["id"], r["status"]) for r in runs if r["id"] in mine] == [(queued.id, "queued")]
    assert respond("runs", "cancel", queued.id, *db).stdout.split() == [queued.id, "cancelled"]
    assert client.responses.retrieve(queued.id).status == "cancelled"

    respond("responses", "delete", blue.id, *db)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(blue.id)
    missing = respond("responses", "get", "resp_nope", *db, check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr.lower()


@pytest.mark.process  # the `respond db` command line, four times
def test_db_check_and_upgrade(tmp_path):
    db = ["--database", f"sqlite:///{tmp_path / 'fresh.db'}"]
    pending = respond("db", "check", *db, check=False)
    assert pending.returncode == 1 and "pending  0010_listing_indexes" in pending.stdout
    assert "applied 0010_listing_indexes" in respond("db", "upgrade", *db).stdout
    done = respond("db", "check", *db)
    assert "pending" not in done.stdout and "applied  0001_responses_and_items" in done.stdout
    assert respond("db", "upgrade", *db).stdout.strip() == "up to date"
