#!/usr/bin/env bash
# Installs gpucost into .venv and serves the bundled demo cluster on http://localhost:9863/metrics.
# Extra arguments go to the exporter (e.g. --once to print the exposition and exit).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/gpucost-exporter --demo "$@"
