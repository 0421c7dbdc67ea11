#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests. Playwright cannot download its own browser
# builds here (only the Debian and npm registries are reachable), so tests launch this one.
# A no-op when it is already installed, so .ci/run can call it on every run.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "Installing Debian's chromium for the browser tests (once per machine)..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
/usr/bin/chromium --version
