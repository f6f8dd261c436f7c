"""One validated `Settings` object, from flags with `RESPOND_<FLAG>` environment fallbacks.

This is the only module that reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir


def default_database() -> str:
    return f"sqlite+aiosqlite:///{Path(user_data_dir('respond')) / 'respond.db'}"


def default_cache_dir() -> Path:
    return Path(user_cache_dir("respond"))


def default_key_file() -> Path:
    return Path(user_data_dir("respond")) / "secret.key"


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database: str = field(default_factory=default_database)
    # backend specs, NAME[:key=value,...], in the order they are asked to serve a model; empty: the
    # embedded backend (see `embedded_enabled`) then the upstream, when given
    backends: list[str] = field(default_factory=list)
    upstream: str | None = None
    upstream_api_key: str | None = None
    api_keys: list[str] = field(default_factory=list)
    # NAME=PATH.gguf pairs for the embedded llama.cpp backend
    models: list[str] = field(default_factory=list)
    # "auto": the embedded default model is served when no --upstream is given
    embedded: str = "auto"
    default_model: str | None = None
    n_ctx: int = 0  # 0: the model's trained context (32768 tokens for the default model)
    workers: int = 4
    shutdown_grace: float = 20.0
    log_level: str = "info"
    cache_dir: Path = field(default_factory=default_cache_dir)
    max_file_mb: float = 32.0  # uploads to /v1/files, and files fetched for input_file.file_url
    # URL patterns input_file.file_url fetches may reach (core.netpolicy); none: public addresses only
    fetch_allow: list[str] = field(default_factory=list)
    upstream_file_parts: bool = False  # send input files to the upstream as file parts, not extracted text
    # URL patterns of MCP servers (and later web pages) requests may reach; none: public addresses only
    mcp_allow: list[str] = field(default_factory=list)
    mcp_timeout: float = 30.0  # seconds: connecting to an MCP server, listing its tools, each call
    # reasoning.encrypted_content: the sealing secret, else a key file made on first start
    secret_key: str | None = None
    key_file: Path = field(default_factory=default_key_file)
    prompts: Path | None = None  # the prompt store's folder (`prompt` templates)
    # how earlier reasoning is sent back to a chat-completions upstream
    upstream_reasoning_field: str = "reasoning_content"
    # the hosted web_search tool: its search provider (searxng, brave; none: the tool is not offered)
    web_search_provider: str | None = None
    web_search_url: str | None = None  # SearxNG base URL (or another endpoint for brave)
    web_search_api_key: str | None = None  # brave's key (kept in memory only)
    web_allow: list[str] = field(default_factory=list)  # URL patterns of pages (default: as mcp_allow)
    web_timeout: float = 15.0  # seconds: a search, a page fetch (redirects included)
    web_max_page_kb: int = 2048  # bytes of a page read at most, in KiB

    @property
    def embedded_enabled(self) -> bool:
        return self.embedded == "on" or (self.embedded == "auto" and not self.upstream) or bool(self.models)


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"RESPOND_{name.upper()}", default)


def env_list(name: str) -> list[str]:
    raw = env(name)
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else []
