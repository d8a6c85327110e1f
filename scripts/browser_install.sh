#!/usr/bin/env bash
# Installs the headless browser the model-page test drives (Debian's chromium), once.
# Playwright drives this system build through executable_path: `playwright install` would
# download a browser build of its own, which CI cannot reach.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "browser: $(command -v chromium) ($(chromium --version 2>/dev/null | head -1))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser_install: chromium is missing and there is no apt-get; install chromium" >&2
  exit 2
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "browser: $(command -v chromium) ($(chromium --version 2>/dev/null | head -1))"
