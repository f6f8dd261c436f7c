"""The configuration file: `respond serve --config respond.toml` (TOML, read with tomllib).

Every flag of `respond.config.FLAGS` may be a top-level key, spelled as the flag (`api_key`, `backend`,
dashes or underscores) or as its Settings field (`api_keys`, `backends`); a repeatable flag takes a
list.  Precedence, highest first: the command line, `RESPOND_<FLAG>`, the file, the default.

Beyond the flags the file declares the routing table:

- `[[upstreams]]`: `name`, `kind` ("chat": chat completions, "responses": /v1/responses), `urls`
  (replicas of one service), `api_key_env` or `api_key_file` (never the key itself: a literal
  `api_key` is an error), `models` (else listed from the upstream), timeouts (`timeout_s`,
  `connect_timeout_s`, `first_byte_timeout_s`, `idle_timeout_s`, `pool`, `pool_wait_s`), health
  (`backoff_s`, `health_interval_s`, `models_refresh_s`) and `[upstreams.options]`, handed verbatim
  to the backend's factory as keyword options (an upstream profile, say).
- `[aliases]`: a name clients use -> the model served (`"gpt-4o" = "qwen3-32b"`).

Every error is a `ConfigError` (a ValueError) naming the file and the key.  Secrets read from the
environment or a file are kept in memory only; `describe()` prints the effective settings masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from respond.config import FLAGS, Flag, Settings

KINDS = {"chat": "openai_compat", "responses": "openai_responses"}  # kind -> registered backend
# per-upstream limit keys -> UpstreamLimits fields (defaults: the --upstream-* flags)
LIMIT_KEYS = {"connect_timeout_s": "connect", "first_byte_timeout_s": "first_byte", "idle_timeout_s": "idle",
              "timeout_s": "total", "pool": "pool", "pool_wait_s": "pool_wait"}
HEALTH_KEYS = {"backoff_s": 2.0, "health_interval_s": 1.0, "models_refresh_s": 60.0}
UPSTREAM_KEYS = {"name", "kind", "urls", "url", "api_key_env", "api_key_file", "models", "options",
                 *LIMIT_KEYS, *HEALTH_KEYS}
MASK = "****"
RESERVED_OPTIONS = {"base_url", "api_key", "models", "limits"}  # what the entry's own keys set


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class UpstreamConfig:
    """One `[[upstreams]]` entry, validated; `api_key` is the secret read from its env/file source."""

    name: str
    kind: str
    urls: list[str]
    api_key: str | None = field(default=None, repr=False)
    key_source: str | None = None  # "env CLUSTER_KEY" or "file /run/secrets/key", for messages
    models: list[str] | None = None
    limits: dict[str, float] = field(default_factory=dict)  # UpstreamLimits fields set for this upstream
    health: dict[str, float] = field(default_factory=dict)  # backoff_s, health_interval_s, models_refresh_s
    options: dict[str, object] = field(default_factory=dict)  # TOML values, handed on verbatim

    @property
    def backend(self) -> str:
        return KINDS[self.kind]


@dataclass
class FileConfig:
    path: Path
    values: dict[str, Any]  # Settings field -> value, for the flags the file sets
    upstreams: list[UpstreamConfig]
    aliases: dict[str, str]


def _flag_names() -> dict[str, Flag]:
    names: dict[str, Flag] = {}
    for f in FLAGS:
        names[f.name] = f
        names[(f.flag or f.name)] = f
    return names


def _convert(where: str, flag: Flag, value: Any) -> Any:
    def one(v: Any) -> Any:
        if flag.type is int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"{where} must be an integer, got {v!r}.")
            return v
        if flag.type is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{where} must be a number, got {v!r}.")
            return float(v)
        if not isinstance(v, str):
            raise ConfigError(f"{where} must be a string, got {v!r}.")
        if flag.choices and v not in flag.choices:
            raise ConfigError(f"{where} must be one of {', '.join(flag.choices)}, got {v!r}.")
        return flag.type(v)

    if flag.repeat:
        items = value if isinstance(value, list) else [value]
        return [one(v) for v in items]
    if isinstance(value, list):
        raise ConfigError(f"{where} takes one value, not a list.")
    return one(value)


def _unknown(where: str, key: str, known: set[str]) -> ConfigError:
    import difflib  # for this message only

    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"{where}: unknown key '{key}'{hint}.")


def _number(where: str, value: Any, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(f"{where} must be a{'n integer' if integer else ' number'}, got {value!r}.")
    if value <= 0:
        raise ConfigError(f"{where} must be positive, got {value!r}.")
    return float(value)


def _strings(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} must be a non-empty list of strings, got {value!r}.")
    return list(value)


def _url(where: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: {url!r} is not an http(s) URL (e.g. http://10.0.0.5:8000/v1).")
    if parts.username or parts.password:
        raise ConfigError(f"{where}: {replica_label(url)} carries credentials in the URL; use api_key_env or "
                          f"api_key_file.")
    return url.rstrip("/")


def replica_label(url: str) -> str:
    """A URL as shown in logs, metrics and the dashboard: no credentials, ever."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}".rstrip("/")


def _api_key(where: str, entry: Mapping[str, object], environ: Mapping[str, str], base: Path
             ) -> tuple[str | None, str | None]:
    if "api_key" in entry:
        raise ConfigError(f"{where}.api_key: an upstream's key never goes in the configuration file; name the "
                          f"environment variable that holds it (api_key_env) or a file (api_key_file).")
    if "api_key_env" in entry and "api_key_file" in entry:
        raise ConfigError(f"{where}: give api_key_env or api_key_file, not both.")
    if "api_key_env" in entry:
        var = entry["api_key_env"]
        if not isinstance(var, str) or not var:
            raise ConfigError(f"{where}.api_key_env must name an environment variable, got {var!r}.")
        if not environ.get(var):
            raise ConfigError(f"{where}.api_key_env: the environment variable {var} is not set.")
        return environ[var].strip(), f"env {var}"
    if "api_key_file" in entry:
        name = entry["api_key_file"]
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.api_key_file must be a path, got {name!r}.")
        path = (base / name).expanduser() if not Path(name).is_absolute() else Path(name)
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{where}.api_key_file: cannot read {path}: {exc.strerror}.") from None
        if not key:
            raise ConfigError(f"{where}.api_key_file: {path} is empty.")
        return key, f"file {path}"
    return None, None


def _upstream(where: str, entry: Any, environ: Mapping[str, str], base: Path) -> UpstreamConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table ([[upstreams]]).")
    for key in entry:
        if key not in UPSTREAM_KEYS | {"api_key"}:
            raise _unknown(where, key, UPSTREAM_KEYS)
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}.name is required: a short name shown in logs, metrics and the dashboard.")
    where = f"{where} ('{name}')"
    kind = entry.get("kind", "chat")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    if ("urls" in entry) == ("url" in entry):
        raise ConfigError(f"{where}: give urls (a list of replicas) or url (one), exactly one of them.")
    urls = _strings(f"{where}.urls", entry["urls"]) if "urls" in entry else _strings(f"{where}.url", [entry["url"]])
    urls = [_url(f"{where}.urls", u) for u in urls]
    if len(set(urls)) != len(urls):
        raise ConfigError(f"{where}.urls lists a replica twice.")
    models = _strings(f"{where}.models", entry["models"]) if "models" in entry else None
    limits = {LIMIT_KEYS[k]: _number(f"{where}.{k}", entry[k], integer=k == "pool") for k in LIMIT_KEYS if k in entry}
    health = {k: _number(f"{where}.{k}", entry.get(k, default)) for k, default in HEALTH_KEYS.items()}
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where}.options must be a table ([upstreams.options]).")
    for key in RESERVED_OPTIONS & set(options):
        hint = " (a key never goes in the file: api_key_env or api_key_file)" if key == "api_key" else ""
        raise ConfigError(f"{where}.options.{key}: set by the upstream entry itself, not as an option{hint}.")
    key, source = _api_key(where, entry, environ, base)
    return UpstreamConfig(name=name.strip(), kind=kind, urls=urls, api_key=key, key_source=source, models=models,
                          limits=limits, health=health, options=dict(options))


def _aliases(where: str, table: Any) -> dict[str, str]:
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                              for k, v in table.items()):
        raise ConfigError(f"{where} must be a table of name = \"model\" strings.")
    for alias in table:
        seen = [alias]
        while seen[-1] in table:
            seen.append(table[seen[-1]])
            if seen[-1] in seen[:-1]:
                raise ConfigError(f"{where}.{alias}: the aliases loop ({' -> '.join(seen)}).")
    return dict(table)


def load(path: Path, environ: Mapping[str, str] | None = None) -> FileConfig:
    """Read and validate a configuration file; a `ConfigError` names what is wrong and where."""
    import tomllib  # with --config only

    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"Cannot read the configuration file {path}: {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
    flags = _flag_names()
    values: dict[str, Any] = {}
    upstreams: list[UpstreamConfig] = []
    aliases: dict[str, str] = {}
    for key, value in raw.items():
        norm = key.replace("-", "_")
        if norm == "upstreams":
            if not isinstance(value, list):
                raise ConfigError(f"{path}: upstreams must be an array of tables ([[upstreams]]).")
            upstreams = [_upstream(f"{path}: upstreams[{i}]", e, environ, path.parent) for i, e in enumerate(value)]
        elif norm == "aliases":
            aliases = _aliases(f"{path}: [aliases]", value)
        elif norm in flags and norm != "config":
            flag = flags[norm]
            if flag.name in values:
                raise ConfigError(f"{path}: '{key}' sets {flag.option} a second time.")
            values[flag.name] = _convert(f"{path}: {key}", flag, value)
        else:
            raise _unknown(str(path), key, (set(flags) - {"config"}) | {"upstreams", "aliases"})
    names = [u.name for u in upstreams]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{path}: two upstreams are named '{name}'; names must be unique.")
    return FileConfig(path, values, upstreams, aliases)


def settings_with(explicit: dict[str, Any], config: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the command line's explicit values, then RESPOND_*, then the file, then defaults."""
    from respond.config import flag_default

    environ = os.environ if environ is None else environ
    path = explicit.get("config") or (Path(environ["RESPOND_CONFIG"]) if environ.get("RESPOND_CONFIG") else None)
    path = path or config
    loaded = load(Path(path), environ) if path else None
    kwargs: dict[str, Any] = {}
    for f in FLAGS:
        if explicit.get(f.name) is not None:
            kwargs[f.name] = explicit[f.name]
        elif environ.get(f.env):
            kwargs[f.name] = flag_default(f)
        elif loaded is not None and f.name in loaded.values:
            kwargs[f.name] = loaded.values[f.name]
        else:
            kwargs[f.name] = f.default_value()
    kwargs["config"] = Path(path) if path else None
    settings = Settings(**kwargs)
    if loaded is not None:
        settings.upstreams = loaded.upstreams
        settings.aliases = loaded.aliases
    return settings


def describe(settings: Settings) -> str:
    """The effective settings as TOML, secrets masked (`respond config check`)."""
    lines = []
    for f in FLAGS:
        value = getattr(settings, f.name)
        if value is None or value == []:
            continue
        if f.secret:
            value = [MASK] * len(value) if isinstance(value, list) else MASK
        lines.append(f"{f.name} = {_toml(value)}")
    for up in settings.upstreams:
        lines += ["", "[[upstreams]]", f"name = {_toml(up.name)}", f"kind = {_toml(up.kind)}",
                  f"urls = {_toml(up.urls)}"]
        if up.api_key:
            lines.append(f"api_key = \"{MASK}\"  # from {up.key_source}")
        lines.append(f"models = {_toml(up.models)}" if up.models else "# models: listed from the upstream")
        lines += [f"{k} = {_toml(v)}" for k, v in up.health.items()]
        lines += [f"{k} = {_toml(up.limits[f])}" for k, f in LIMIT_KEYS.items() if f in up.limits]
        if up.options:
            lines += ["[upstreams.options]"] + [f"{k} = {_toml(v)}" for k, v in up.options.items()]
    if settings.aliases:
        lines += ["", "[aliases]"] + [f"{_toml(k)} = {_toml(v)}" for k, v in settings.aliases.items()]
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
