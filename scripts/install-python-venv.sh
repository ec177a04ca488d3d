#!/usr/bin/env bash
# Debian splits `venv` out of Python: install it when `python3 -m venv` is missing.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then run=(); else run=(sudo -n); fi
"${run[@]}" apt-get update -qq >/dev/null
"${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
echo "[install-python-venv] installed python3-venv"
