#!/usr/bin/env bash
# System packages the test suite needs beyond PyPI: Debian's chromium and its chromedriver, for the
# dashboard's browser tests (Selenium drives them; nothing downloads a browser of its own).
# Idempotent; as root it installs them with apt, otherwise it says what is missing and the
# browser tests skip themselves with that reason.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-test-deps: chromium/chromedriver missing and not root: the dashboard browser tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium chromium-driver
