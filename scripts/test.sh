#!/usr/bin/env bash
# Set up everything the tests need from scratch and run them (as root, on Debian 12).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/start-dockerd.sh
# like CI (CI=true): a skip not allow-listed in tests/skips.py fails the run
export DEVBOX_STRICT_SKIPS=1
set +e
.venv/bin/pytest -q --durations=25 "$@"  # the slowest 25 named: where CI time goes
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "no tests were collected" >&2
  exit 1
fi
exit $rc
