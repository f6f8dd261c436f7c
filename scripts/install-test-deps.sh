#!/usr/bin/env bash
# System packages the test suite (and a server offering the hosted tools) needs, installed from
# Debian when missing.  Idempotent: does nothing when everything is there; `apt-get update` at
# most once.  Without root (a developer's machine) it only says what is missing.
#   bubblewrap  the code_interpreter sandbox (`bwrap`: Linux namespaces, no setuid needed)
set -euo pipefail

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: missing ${need[*]} (install them with your package manager;" \
       "without bubblewrap the code_interpreter tool is refused)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install-test-deps: installed ${need[*]}"
