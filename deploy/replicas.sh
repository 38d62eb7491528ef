#!/usr/bin/env bash
# docker-compose.yml's topology without Docker: redis-server (append-only) + 3 `medreward serve`
# replicas + nginx on 127.0.0.1:${PORT:-8000}. Ctrl-C stops everything. See deploy/replicas.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
exec "$PY" -m deploy.replicas --replicas "${REPLICAS:-3}" --port "${PORT:-8000}" "$@"
