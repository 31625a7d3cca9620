#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests when it is missing (Playwright never downloads
# a browser here). Needs root or sudo; otherwise says what to install.
set -eu
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "chromium is missing and this user cannot install it: run 'apt-get install chromium' as root" >&2
  exit 1
fi
echo "Installing Debian's chromium for the browser tests..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
