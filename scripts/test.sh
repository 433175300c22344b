#!/usr/bin/env bash
# One command: install everything the tests need (Debian packages included), make sure the real
# PostgreSQL (127.0.0.1:5432, db test) and Redis (127.0.0.1:6379) are up, and run the whole suite.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/services.sh
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
if [ $# -eq 0 ]; then  # the whole suite starts with the linters; a run of chosen tests does not
  .venv/bin/ruff check .
  .venv/bin/mypy -p server -p rooms -p streaming
  .venv/bin/lint-imports --no-cache  # the layering contracts in pyproject.toml
  node_modules/.bin/tsc -p tsconfig.json  # the JSDoc types of static/js
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "${@:-tests}"
