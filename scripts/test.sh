#!/usr/bin/env bash
# Sets everything up from nothing (see setup.sh, plus Debian's Chromium, Prometheus and
# the browser-test packages) and runs every test: pytest (the shim against real kernels),
# jest (the front end's logic), galata (the extension in a real JupyterLab).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

printf '\n== Browser-test and fleet-test prerequisites\n'
# Debian's Chromium for galata, and Debian's Prometheus for the fleet metrics' test
# (python_shim/tests/test_fleet_prometheus.py skips, saying why, where it cannot be had).
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
apt_install() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; }
if [ ! -x /usr/bin/chromium ] || ! command -v prometheus >/dev/null; then
  # (Offline with Chromium already there: go on, Prometheus' test will say why it skips.)
  $sudo apt-get update -q || [ -x /usr/bin/chromium ]
fi
[ -x /usr/bin/chromium ] || apt_install chromium
command -v prometheus >/dev/null || apt_install prometheus ||
  echo "!! Prometheus could not be installed: the fleet metrics' test will skip"
# shellcheck disable=SC1091
. .venv/bin/activate
python -m bash_kernel.install --sys-prefix >/dev/null  # a real non-Python kernel
(cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)

passed=0
failed=0
suite() {
  local name=$1
  shift
  printf '\n== %s\n' "$name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "!! $name failed"; fi
}
suite "pytest: the kernel shim" python -m pytest
suite "jest: the front end" npm test
suite "galata: JupyterLab in Chromium" bash -c 'cd ui-tests && npx playwright test'

printf '\nsuites: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
