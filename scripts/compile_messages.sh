#!/usr/bin/env bash
# Compiles the translation catalogues: locale/<lang>/LC_MESSAGES/*.po -> .mo (the .mo files are
# generated, never committed). Needs GNU gettext's msgfmt; installs Debian's gettext when missing
# and running as root (as scripts/ensure_chromium.sh does for the browser).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v msgfmt >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq gettext >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq gettext; }
  else
    echo "msgfmt is missing: install GNU gettext (Debian: apt-get install gettext)" >&2
    exit 1
  fi
fi
for po in locale/*/LC_MESSAGES/*.po; do
  [ -e "$po" ] || continue
  msgfmt --check-format -o "${po%.po}.mo" "$po"
done
