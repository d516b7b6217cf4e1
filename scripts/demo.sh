#!/usr/bin/env bash
# Sets everything up from nothing (see setup.sh) and opens JupyterLab on the demo
# notebook. Extra arguments go to `jupyter lab` (for example --ip=0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)  # containers often run as root
exec jupyter lab "${extra[@]}" "$@" examples/demo.ipynb
