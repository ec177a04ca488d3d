#!/usr/bin/env bash
# Makes Debian's Chromium available for the dashboard's browser tests (Playwright drives it at
# /usr/bin/chromium; no browser is downloaded from anywhere else). Idempotent.
set -euo pipefail

say() { printf '[install-browser] %s\n' "$*"; }

if command -v chromium >/dev/null 2>&1; then
  say "chromium is installed: $(chromium --version 2>/dev/null | head -n 1)"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo -n)
else
  say "error: root is needed to install Debian's chromium (run as root or with passwordless sudo)" >&2
  exit 1
fi
say "installing Debian's chromium"
"${as_root[@]}" apt-get update -qq >/dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
say "installed: $(chromium --version 2>/dev/null | head -n 1)"
