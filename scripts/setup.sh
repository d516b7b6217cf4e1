#!/usr/bin/env bash
# Sets up everything from nothing, idempotently: the Python virtual environment
# (.venv), the npm packages, the built extension, and the oomguard wheel installed
# into .venv — the same wheel a user gets from `pip install oomguard`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1  # browsers come from Debian, never downloaded

step() { printf '\n== %s\n' "$*"; }

step "Python environment (.venv)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q -U pip
# What building the wheel needs (pyproject's build-system), installed here so the
# wheel is built against the JupyterLab that the tests run.
python -m pip install -q build "hatchling>=1.5" "hatch-nodejs-version>=0.3.2" \
  "hatch-jupyter-builder>=0.5" "jupyterlab>=4.6,<5"

step "npm packages"
npm ci --no-audit --no-fund

step "Build the extension"
npm run build:prod

step "Build and install the wheel"
rm -rf dist
# The labextension is built already; the build hook skips rebuilding it.
python -m build --wheel --no-isolation --outdir dist .
wheel=$(ls dist/oomguard-*.whl)
# A development symlink (`jupyter labextension develop`) would make pip write the
# wheel's files into the source tree; replace it with the real install.
link=.venv/share/jupyter/labextensions/jupyterlab-oomguard
[ -L "$link" ] && rm "$link"
python -m pip install -q "${wheel}[test]"
python -m pip install -q --force-reinstall --no-deps "$wheel"
jupyter labextension list 2>&1 | grep jupyterlab-oomguard
jupyter server extension list 2>&1 | grep oomguard.serverext
