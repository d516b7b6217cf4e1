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
# default_url (not a file argument) so that the URL the server prints, for a machine
# without a browser, opens the demo notebook and not an empty JupyterLab.
exec jupyter lab "${extra[@]}" --LabApp.default_url=/lab/tree/examples/demo.ipynb "$@"
