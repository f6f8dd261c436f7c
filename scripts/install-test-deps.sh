#!/usr/bin/env bash
# System packages the test suite (and a server offering the hosted tools) needs beyond PyPI, from
# Debian when missing:
#   chromium, chromium-driver  the dashboard's browser tests (Selenium drives them; nothing downloads
#                              a browser of its own)
#   bubblewrap                 the code_interpreter sandbox (`bwrap`: Linux namespaces, no setuid)
# Idempotent: does nothing when everything is there; `apt-get update` at most once.  Not root: it
# says what is missing (the browser tests skip themselves; the code_interpreter tool is refused).
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${need[*]} and not root: the dashboard browser tests will skip and" \
       "the code_interpreter tool is refused" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
