#!/usr/bin/env bash
# From a fresh Debian 12 machine (as root) to a dev container on the built-in lab LAN:
# installs what is needed, starts Docker, brings up the lab LAN, checks the host, builds the
# images from scratch, makes a dev container and prints how to reach it.
# Usage: bash scripts/quickstart.sh [NAME]        (default NAME: demo)
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-demo}"

bash scripts/install-deps.sh
bash scripts/start-dockerd.sh

devbox common lab up
devbox common doctor
devbox containerauthor build-base debian-12
devbox containerauthor build-image dev
if ! devbox dockeruser list-containers --all --json --no-size | grep -q "\"name\": \"$name\""; then
  devbox make-dev-container "$name" --branch main --no-checkout
else
  devbox start-dev-container "$name" || true
fi
devbox list-containers --all
echo
echo "Reach it with:  devbox ssh $name        (or: ssh $name, after the SSH config entry)"
