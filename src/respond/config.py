"""One validated `Settings` object, from flags with `RESPOND_<FLAG>` environment fallbacks.

`FLAGS` is the one definition of the configuration: `respond serve --help`, the defaults, the
environment variables and README's configuration table (`markdown_table()`, checked by a test)
are all generated from it.  This and `config_file.py` (the `--config` file, and the
variables its upstreams name for their keys) are the only modules that read the environment.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platformdirs import user_cache_dir, user_data_dir

if TYPE_CHECKING:
    from respond.config_file import UpstreamConfig


def default_database() -> str:
    return f"sqlite+aiosqlite:///{Path(user_data_dir('respond')) / 'respond.db'}"


def default_cache_dir() -> Path:
    return Path(user_cache_dir("respond"))


def default_key_file() -> Path:
    return Path(user_data_dir("respond")) / "secret.key"


def default_journal_dir() -> Path:
    return Path(user_data_dir("respond")) / "journal"


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # the Settings field; the flag is --name-with-dashes, the variable RESPOND_NAME
    help: str
    default: Any = None  # a value, or a callable for defaults computed on this machine
    type: Callable[[str], Any] = str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    repeat: bool = False  # repeatable flag; comma-separated in the environment (unless env_one)
    env_one: bool = False  # the environment holds one value, commas included (a backend spec)
    default_doc: str | None = None  # how README shows a computed default
    flag: str | None = None  # the flag's name when it is not the field's (--api-key -> api_keys)
    secret: bool = False  # never shown in logs

    @property
    def option(self) -> str:
        return "--" + (self.flag or self.name).replace("_", "-")

    @property
    def env(self) -> str:
        return "RESPOND_" + (self.flag or self.name).upper()

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def shown_default(self) -> str:
        if self.default_doc is not None:
            return self.default_doc
        value = self.default_value()
        return "none" if value in (None, []) else str(value)


FLAGS: list[Flag] = [
    Flag("config", "a TOML file of settings: any flag below as a key, plus [[upstreams]] (several upstreams, "
         "replicas, health) and [aliases]; flags and RESPOND_* variables override it; check one with `respond "
         "config check FILE`", None, Path, metavar="FILE"),
    Flag("host", "address to listen on", "127.0.0.1"),
    Flag("port", "port to listen on", 8080, int),
    Flag("processes", "server processes sharing the port, each with its own event loop and background workers "
         "(a supervisor restarts one that dies); on SQLite they share its single writer; each loads its own copy "
         "of an embedded model", 1, int, metavar="N"),
    Flag("database", "URL of the store: sqlite:///path.db (no query parameters) or postgresql://user@host/db",
         default_database, metavar="URL", default_doc="a SQLite file in the user data dir"),
    Flag("upstream", "an OpenAI-compatible /v1 base URL (vLLM, Ollama, llama.cpp server, a hosted API); "
         "requests' model is forwarded to it", metavar="URL"),
    Flag("backends", "serve models with this registered backend (llamacpp, openai_compat, openai_responses, scripted, "
         "or a plugin's); repeatable, asked in order; replaces the choice made from --upstream and --embedded; e.g. "
         "--backend scripted:model=demo,reply=hello (the environment variable holds one spec)", [],
         metavar="NAME[:KEY=VALUE,...]", repeat=True, flag="backend", env_one=True),
    Flag("upstream_api_key", "bearer key sent to the upstream", metavar="KEY", secret=True),
    Flag("api_keys", "require this bearer key from clients; repeatable, each key owns what it creates "
         "(default: no auth, one anonymous owner)", [], metavar="KEY", repeat=True, flag="api_key", secret=True),
    Flag("admin_key", "a key that signs in to /dashboard and sees every owner's responses, files and vector "
         "stores (read-only but for cancel and delete), and opens the admin API (/admin/v1: stored keys, usage)",
         metavar="KEY", secret=True),
    Flag("metrics_key", "bearer key that GET /metrics asks for, besides --admin-key (with neither set: the API "
         "keys, if any; tenant keys never once either is set)", metavar="KEY", secret=True),
    Flag("rate_store", "where the limits of stored keys are counted: database (the --database, shared by its "
         "replicas) or a redis://host:port/db URL", "database", metavar="database|URL"),
    Flag("key_cache_seconds", "how long a replica trusts its cached copy of a stored key (a revocation, a "
         "rotation or new limits reach every replica within this)", 0.5, float, metavar="S"),
    Flag("metrics_per_key", "on: /metrics also counts tokens and responses per stored key id (one series per "
         "key: mind the cardinality)", "off", choices=("on", "off")),
    Flag("models", "serve a local GGUF file under NAME with the embedded llama.cpp engine; repeatable", [],
         metavar="NAME=PATH.gguf", repeat=True, flag="model"),
    Flag("embedded", "serve the embedded default model: auto = only when no --upstream is given", "auto",
         choices=("auto", "on", "off")),
    Flag("default_model", "model used when a request names none", metavar="NAME",
         default_doc="the embedded default"),
    Flag("n_ctx", "context window of embedded models, in tokens; 0 = the model's trained context (32768 for the "
         "default model, ~390 MiB of KV cache per context)", 0, int),
    Flag("max_output_tokens", "output tokens an embedded model generates at most for a request that sets no "
         "max_output_tokens (0 = up to the context window)", 4096, int, metavar="N"),
    Flag("repeat_guard", "a model call repeating one already answered in the context is not run or returned: "
         "the model is asked again with calls ruled out; embedded = only on the embedded backend",
         "embedded", choices=("on", "off", "embedded")),
    Flag("workers", "background runs executed at once by this process", 4, int),
    Flag("shutdown_grace", "on SIGTERM, seconds running background runs may take to finish before they are put "
         "back on the queue for another process", 20.0, float),
    Flag("cache_dir", "where assembled models live", default_cache_dir, Path,
         default_doc="the user cache dir (~/.cache/respond)"),
    Flag("max_file_mb", "largest upload accepted by POST /v1/files, and largest input_file.file_url download, "
         "in MiB", 32.0, float),
    Flag("fetch_allow", "URL pattern input_file.file_url fetches may reach, as --mcp-allow, e.g. "
         "'http://127.0.0.1:*'; repeatable; given any, only matching URLs are fetched (private addresses "
         "included)", [], metavar="PATTERN", repeat=True, default_doc="any public address, never a private, "
         "loopback or link-local one"),
    Flag("image_url_allow", "URL pattern an input_image.image_url may name besides public http(s) addresses and "
         "data: URLs, as --mcp-allow, e.g. 'http://images.lan:*'; repeatable (the upstream fetches image URLs "
         "itself, so private ones are refused unless named)", [], metavar="PATTERN", repeat=True,
         default_doc="public http(s) addresses and data: URLs only"),
    Flag("moderation_upstream", "a /v1 base URL whose POST /moderations scores what requests asking for "
         "'moderation' send and receive (OpenAI's, or any server of that API); without it such a request is a 400",
         metavar="URL"),
    Flag("moderation_api_key", "bearer key sent to the moderation upstream", metavar="KEY", secret=True),
    Flag("upstream_file_parts", "on: input files go to the upstream as chat-completions file parts; off: as "
         "their extracted text", "off", choices=("on", "off")),
    Flag("mcp_allow", "URL pattern of MCP servers requests may reach, e.g. 'http://127.0.0.1:*' or "
         "'https://*.example.com'; repeatable; given any, only matching URLs are reached (private addresses "
         "included)", [], metavar="PATTERN", repeat=True, default_doc="any public address, never a private, "
         "loopback or link-local one"),
    Flag("mcp_timeout", "seconds allowed to connect to an MCP server, to list its tools and for each tool call",
         30.0, float),
    Flag("upstream_reasoning_field", "how reasoning sent back as input reaches the upstream: on assistant "
         "messages as reasoning_content (vLLM, DeepSeek, llama.cpp server), reasoning (Ollama, OpenRouter), or "
         "none (dropped)", "reasoning_content", choices=("reasoning_content", "reasoning", "none")),
    Flag("secret_key", "secret that seals reasoning.encrypted_content; replicas must share it", metavar="SECRET",
         secret=True, default_doc="a key generated on first start in the user data dir (secret.key, mode 0600)"),
    Flag("journal_dir", "where a response's final write waits (fsync'd, one file per process) while the database is "
         "unreachable; replayed into it when it answers and at start", default_journal_dir, Path, metavar="DIR",
         default_doc="journal/ in the user data dir"),
    Flag("prompts", "folder of prompt templates (<id>.toml or <id>.json) for the 'prompt' parameter", None, Path,
         metavar="DIR", default_doc="none (a request naming a prompt is a 400)"),
    Flag("web_search_provider", "search engine of the hosted web_search tool; without one the tool is not "
         "offered", None, choices=("searxng", "brave")),
    Flag("web_search_url", "searxng: the instance's base URL (its json format enabled); brave: another endpoint "
         "than the public API", metavar="URL"),
    Flag("web_search_api_key", "brave: the subscription token; searxng: a bearer token for an instance behind an "
         "auth proxy", metavar="KEY", secret=True),
    Flag("web_allow", "URL pattern of web pages web_search may open, as --mcp-allow; repeatable; given any, only "
         "matching URLs are fetched (private addresses included)", [], metavar="PATTERN", repeat=True,
         default_doc="the --mcp-allow patterns, and with none, public addresses only"),
    Flag("web_timeout", "seconds allowed for one search or one page fetch", 15.0, float),
    Flag("web_max_page_kb", "KiB of a web page read at most", 2048, int),
    Flag("upstream_connect_timeout", "seconds to connect to the upstream", 10.0, float, metavar="S"),
    Flag("upstream_first_byte_timeout", "seconds from sending a request to the upstream's headers (then a 504)",
         120.0, float, metavar="S"),
    Flag("upstream_idle_timeout", "longest silence, in seconds, between two chunks of an upstream reply", 120.0,
         float, metavar="S"),
    Flag("upstream_timeout", "seconds a whole upstream exchange may take", 1800.0, float, metavar="S"),
    Flag("upstream_pool", "upstream requests in flight at most", 256, int, metavar="N"),
    Flag("upstream_pool_wait", "seconds a request waits for a free upstream connection before a 503", 5.0, float,
         metavar="S"),
    Flag("max_body_mb", "largest JSON request body, in MiB; a larger one is a 413 before it is read whole (the "
         "Open Responses cap on input)", 10.0, float, metavar="MB"),
    Flag("code_python", "Python interpreter the code_interpreter sandbox runs (read-only, with its environment; "
         "it needs ipykernel and matplotlib)", metavar="PATH", default_doc="the server's own"),
    Flag("code_cpu_seconds", "code_interpreter: CPU seconds one code call may use (10x that over a process's "
         "life)", 60, int),
    Flag("code_wall_seconds", "code_interpreter: seconds one code call may run before it is interrupted", 60.0,
         float),
    Flag("code_memory_mb", "code_interpreter: memory (address space) of each sandboxed process, in MiB", 1024, int),
    Flag("code_processes", "code_interpreter: processes and threads one container may run at once", 64, int),
    Flag("code_output_kb", "code_interpreter: output (logs) kept from one code call, in KiB", 64, int),
    Flag("code_file_mb", "code_interpreter: largest file sandboxed code may write, in MiB", 64, int),
    Flag("code_max_kernels", "code_interpreter: container kernels kept alive at once by this process", 8, int),
    Flag("code_spare_kernels", "code_interpreter: kernels started ahead for new containers once code has run "
         "(0 or 1)", 1, int),
    Flag("log_level", "logging level", "info", choices=("debug", "info", "warning", "error")),
    Flag("log_format", "text, or json (one object a line, for log shippers)", "text", choices=("text", "json")),
]


def _d(name: str) -> Any:
    """A Settings field whose default is the flag's (defaults are written once, in FLAGS)."""
    flag = next(f for f in FLAGS if f.name == name)
    return field(default_factory=lambda: copy.copy(flag.default_value()))


@dataclass
class Settings:
    config: Path | None = _d("config")  # the --config file the values below were read from, if any
    host: str = _d("host")
    port: int = _d("port")
    processes: int = _d("processes")  # server processes sharing the port (cli/processes.py)
    database: str = _d("database")
    # backend specs, NAME[:key=value,...], in the order they are asked to serve a model; empty: the
    # embedded backend (see `embedded_enabled`) then the upstream, when given
    backends: list[str] = _d("backends")
    upstream: str | None = _d("upstream")
    upstream_api_key: str | None = _d("upstream_api_key")
    api_keys: list[str] = _d("api_keys")
    admin_key: str | None = _d("admin_key")
    metrics_key: str | None = _d("metrics_key")
    rate_store: str = _d("rate_store")  # stored keys' limits: "database" or a redis:// URL
    key_cache_seconds: float = _d("key_cache_seconds")
    metrics_per_key: str = _d("metrics_per_key")
    models: list[str] = _d("models")  # NAME=PATH.gguf pairs for the embedded llama.cpp backend
    embedded: str = _d("embedded")
    default_model: str | None = _d("default_model")
    n_ctx: int = _d("n_ctx")
    max_output_tokens: int = _d("max_output_tokens")  # embedded: the output cap of a request without one
    repeat_guard: str = _d("repeat_guard")  # on | off | embedded (engine/tooling/repeat_guard.py)
    workers: int = _d("workers")
    shutdown_grace: float = _d("shutdown_grace")
    log_level: str = _d("log_level")
    log_format: str = _d("log_format")
    cache_dir: Path = _d("cache_dir")
    max_file_mb: float = _d("max_file_mb")
    fetch_allow: list[str] = _d("fetch_allow")  # URL patterns file_url fetches may reach (none: public only)
    image_url_allow: list[str] = _d("image_url_allow")  # URL patterns image_url may name besides public ones
    upstream_file_parts: str = _d("upstream_file_parts")  # "on": files as file parts, else extracted text
    moderation_upstream: str | None = _d("moderation_upstream")  # POST {URL}/moderations for `moderation`
    moderation_api_key: str | None = _d("moderation_api_key")
    # URL patterns of MCP servers (and later web pages) requests may reach; none: public addresses only
    mcp_allow: list[str] = _d("mcp_allow")
    mcp_timeout: float = _d("mcp_timeout")  # seconds: connecting to an MCP server, listing its tools, each call
    # reasoning.encrypted_content: the sealing secret, else a key file made on first start
    secret_key: str | None = _d("secret_key")
    key_file: Path = field(default_factory=default_key_file)
    journal_dir: Path = _d("journal_dir")  # final writes kept while the database is away (store/journal.py)
    prompts: Path | None = _d("prompts")  # the prompt store's folder (`prompt` templates)
    # how earlier reasoning is sent back to a chat-completions upstream
    upstream_reasoning_field: str = _d("upstream_reasoning_field")
    # the hosted web_search tool: its search provider (searxng, brave; none: the tool is not offered)
    web_search_provider: str | None = _d("web_search_provider")
    web_search_url: str | None = _d("web_search_url")  # SearxNG base URL (or another endpoint for brave)
    web_search_api_key: str | None = _d("web_search_api_key")  # brave's key (kept in memory only)
    web_allow: list[str] = _d("web_allow")  # URL patterns of pages (default: as mcp_allow)
    web_timeout: float = _d("web_timeout")  # seconds: a search, a page fetch (redirects included)
    web_max_page_kb: int = _d("web_max_page_kb")  # bytes of a page read at most, in KiB
    # prometheus-client's own variable: set, /metrics aggregates every process on this host
    metrics_multiproc_dir: str | None = field(default_factory=lambda: os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    # the upstream transport (backends/upstream_http.py) and request limits (api/guard.py, issue 11)
    upstream_connect_timeout: float = _d("upstream_connect_timeout")
    upstream_first_byte_timeout: float = _d("upstream_first_byte_timeout")
    upstream_idle_timeout: float = _d("upstream_idle_timeout")
    upstream_timeout: float = _d("upstream_timeout")
    upstream_pool: int = _d("upstream_pool")
    upstream_pool_wait: float = _d("upstream_pool_wait")
    max_body_mb: float = _d("max_body_mb")
    # code_interpreter: the sandbox's Python (None: the server's own) and its limits
    code_python: str | None = _d("code_python")
    code_cpu_seconds: int = _d("code_cpu_seconds")
    code_wall_seconds: float = _d("code_wall_seconds")
    code_memory_mb: int = _d("code_memory_mb")
    code_processes: int = _d("code_processes")
    code_output_kb: int = _d("code_output_kb")
    code_file_mb: int = _d("code_file_mb")
    code_max_kernels: int = _d("code_max_kernels")
    code_spare_kernels: int = _d("code_spare_kernels")
    # the routing table of a --config file (respond.config_file): upstreams, and aliases -> models
    upstreams: list[UpstreamConfig] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def embedded_enabled(self) -> bool:
        auto = self.embedded == "auto" and not self.upstream and not self.upstreams
        return self.embedded == "on" or auto or bool(self.models)


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"RESPOND_{name.upper()}", default)


def env_list(name: str) -> list[str]:
    raw = env(name)
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else []


def _env_values(flag: Flag) -> list[str]:
    if flag.env_one:
        raw = env(flag.flag or flag.name)
        return [raw] if raw else []
    return env_list(flag.flag or flag.name)


def flag_default(flag: Flag) -> Any:
    """The environment's value when set (converted by the flag's type), else the flag's default."""
    if flag.repeat:
        return _env_values(flag) or None
    raw = env(flag.flag or flag.name)
    return flag.type(raw) if raw is not None else flag.default_value()


def settings_from(values: dict[str, Any]) -> Settings:
    kwargs: dict[str, Any] = {f.name: values.get(f.name) for f in FLAGS}
    for f in FLAGS:
        if f.repeat:
            kwargs[f.name] = kwargs[f.name] or _env_values(f)
    return Settings(**kwargs)


def markdown_table() -> str:
    """README's configuration table."""
    lines = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for f in FLAGS:
        option = f"`{f.option} {f.metavar}`" if f.metavar else f"`{f.option}`"
        if f.choices:
            option = f"`{f.option} {'|'.join(f.choices)}`".replace("|", "\\|")
        meaning = f.help + ("; repeatable" if f.repeat and "repeatable" not in f.help else "")
        lines.append(f"| {option} | `{f.env}` | {f.shown_default()} | {meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":  # `python -m respond.config`: README's table, to paste
    import sys

    sys.stdout.write(markdown_table() + "\n")
