#!/usr/bin/env bash
# Refreshes requirements/dev.lock: the newest releases that pyproject.toml allows, each
# with its hashes, for Python 3.11 on every platform; then installs them in .venv.
# Run `nox -s latest` first (it tests those releases without the lock), fix what it
# finds, then lock: see docs/contributing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/uv ] || { echo "lock: run 'bash scripts/setup.sh' first" >&2; exit 1; }
UV_PYTHON_DOWNLOADS=never .venv/bin/uv pip compile pyproject.toml requirements/build.in \
    --extra dev --generate-hashes --universal --python-version 3.11 --upgrade \
    --custom-compile-command "bash scripts/lock.sh" -o requirements/dev.lock
bash scripts/setup.sh
