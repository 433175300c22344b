#!/usr/bin/env bash
# One command: install, migrate, seed the autumn 2020 demo event and serve at
# http://127.0.0.1:8000 on the embedded defaults (SQLite and media under ./var, in-process
# socket.io and media engine).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/traffpunkt demo --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
