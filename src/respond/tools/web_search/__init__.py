"""The hosted `web_search` tool: a search-provider port (SearxNG, Brave), page fetching under the
outbound network policy, and the binding that turns the model's calls into `web_search_call` items."""
