#!/usr/bin/env bash
# Chromium for the web UI's browser tests (tests/ui): Debian's package, since a test tool's
# own browser download is not available everywhere. Idempotent: does nothing when present.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "ensure-chromium: Chromium is missing; install it as root: apt-get install -y chromium" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "ensure-chromium: installing Chromium (Debian package)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1
