#!/usr/bin/env bash
# Installs Debian's PostgreSQL for tests/postgres-backend.test.ts (FerretDB on PostgreSQL, on a
# private cluster the test starts with initdb). A no-op when initdb is already there (on PATH or
# in Debian's /usr/lib/postgresql/<version>/bin), so .ci/run can call it on every run.
set -euo pipefail

if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "Installing Debian's postgresql for the PostgreSQL backend tests (once per machine)..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/initdb
