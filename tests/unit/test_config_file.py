"""The --config file: flags as keys, precedence, [[upstreams]] and [aliases], and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from respond.config_file import ConfigError, describe, load, settings_with

GOOD = """
workers = 3
api_key = ["client-a", "client-b"]
log-level = "debug"
default_model = "qwen3-32b"

[[upstreams]]
name = "cluster"
kind = "chat"
urls = ["http://10.0.0.5:8000/v1", "http://10.0.0.6:8000/v1/"]
api_key_env = "CLUSTER_KEY"
models = ["qwen3-32b"]
timeout_s = 120
pool = 16

[[upstreams]]
name = "hosted"
kind = "responses"
url = "https://api.example.com/v1"
api_key_file = "hosted.key"
[upstreams.options]
profile = "openai"

[aliases]
"gpt-4o" = "qwen3-32b"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "respond.toml"
    path.write_text(text)
    return path


def test_a_full_file(tmp_path, monkeypatch):
    (tmp_path / "hosted.key").write_text("sk-from-file\n")
    monkeypatch.delenv("RESPOND_WORKERS", raising=False)
    monkeypatch.setenv("CLUSTER_KEY", "sk-from-env")
    s = settings_with({}, write(tmp_path, GOOD))
    assert (s.workers, s.api_keys, s.log_level, s.default_model) == (3, ["client-a", "client-b"], "debug", "qwen3-32b")
    cluster, hosted = s.upstreams
    assert cluster.urls == ["http://10.0.0.5:8000/v1", "http://10.0.0.6:8000/v1"] and cluster.backend == "openai_compat"
    assert cluster.api_key == "sk-from-env" and cluster.limits == {"total": 120.0, "pool": 16.0}
    assert hosted.backend == "openai_responses" and hosted.api_key == "sk-from-file"
    assert hosted.options == {"profile": "openai"} and hosted.models is None
    assert s.aliases == {"gpt-4o": "qwen3-32b"} and not s.embedded_enabled
    shown = describe(s)
    for secret in ("sk-from-env", "sk-from-file", "client-a"):
        assert secret not in shown
    assert "from env CLUSTER_KEY" in shown and 'api_keys = ["****", "****"]' in shown


def test_flags_then_environment_then_file(tmp_path, monkeypatch):
    path = write(tmp_path, "workers = 3\nport = 9000\nshutdown_grace = 5\n")
    monkeypatch.setenv("RESPOND_PORT", "9100")
    s = settings_with({"workers": 7}, path)
    assert (s.workers, s.port, s.shutdown_grace) == (7, 9100, 5.0)
    monkeypatch.setenv("RESPOND_CONFIG", str(path))
    assert settings_with({}).workers == 3


@pytest.mark.parametrize(("text", "message"), [
    ("wokers = 3", "unknown key 'wokers' (did you mean 'workers'?)"),
    ('workers = "four"', "workers must be an integer, got 'four'"),
    ('embedded = "maybe"', "embedded must be one of auto, on, off"),
    ("workers = [", "is not valid TOML"),
    ('[[upstreams]]\nname = "a"\nurls = ["http://h/v1"]\napi_key = "sk-oops"',
     "upstreams[0] ('a').api_key: an upstream's key never goes in the configuration file"),
    ('[[upstreams]]\nname = "a"\nurls = ["http://h/v1"]\napi_key_env = "NOT_SET_ANYWHERE"',
     "api_key_env: the environment variable NOT_SET_ANYWHERE is not set"),
    ('[[upstreams]]\nname = "a"\nkind = "grpc"\nurls = ["http://h/v1"]', "('a').kind must be one of chat, responses"),
    ('[[upstreams]]\nname = "a"\nurls = ["ftp://h"]', "is not an http(s) URL"),
    ('[[upstreams]]\nname = "a"\nurls = ["http://u:p@h/v1"]', "carries credentials in the URL"),
    ('[[upstreams]]\nname = "a"\nurls = []', "('a').urls must be a non-empty list of strings"),
    ('[[upstreams]]\nurls = ["http://h/v1"]', "upstreams[0].name is required"),
    ('[[upstreams]]\nname = "a"\nurls = ["http://h/v1"]\ntimeout_s = -1', "('a').timeout_s must be positive"),
    ('[[upstreams]]\nname = "a"\nurls = ["http://h/v1"]\nmodel = ["x"]', "unknown key 'model' (did you mean"),
    ('[[upstreams]]\nname = "a"\nurls = ["http://h/v1"]\n[[upstreams]]\nname = "a"\nurls = ["http://g/v1"]',
     "two upstreams are named 'a'"),
    ('[aliases]\na = "b"\nb = "a"', "the aliases loop (a -> b -> a)"),
    # the attack: a literal key smuggled in through the options handed to the backend
    ('[[upstreams]]\nname = "a"\nurls = ["http://h/v1"]\n[upstreams.options]\napi_key = "sk-oops"',
     "('a').options.api_key: set by the upstream entry itself, not as an option (a key never goes in the file"),
    ('[[upstreams]]\nname = "a"\nurls = ["http://h/v1"]\n[upstreams.options]\nbase_url = "http://evil/v1"',
     "('a').options.base_url: set by the upstream entry itself"),
])
def test_errors_name_the_key(tmp_path, monkeypatch, text, message):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, text))
    assert message in str(err.value) and str(tmp_path) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read the configuration file"):
        load(tmp_path / "nope.toml")


def test_the_readme_example_is_valid(tmp_path, monkeypatch):
    """README's "a vLLM cluster + Ollama + a hosted API" file loads and builds its backends."""
    from respond.bootstrap import upstream_limits
    from respond.upstreams import build_upstreams

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Routing: several upstreams"):]
    example = section[section.index("```toml\n") + 8:section.index("```\n", section.index("```toml\n"))]
    monkeypatch.setenv("CLUSTER_KEY", "k1")
    monkeypatch.setenv("OPENAI_API_KEY", "k2")
    s = settings_with({}, write(tmp_path, example))
    built = build_upstreams(s, upstream_limits(s))
    assert [(b.name, b.kind, len(b.replicas)) for b in built] == [("cluster", "chat", 2), ("ollama", "chat", 1),
                                                                  ("hosted", "responses", 1)]
    assert s.aliases["gpt-4o"] == "qwen3-32b" and s.default_model == "qwen3-32b"
