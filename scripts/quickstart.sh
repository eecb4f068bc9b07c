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

# a small local git repository for the 'demo' branch of roles/dockeruser/branches.toml
if [[ ! -d /srv/devbox/demo.git ]]; then
  work="$(mktemp -d)"
  mkdir -p "$work/src" /srv/devbox
  printf 'Sources of the devbox demo branch, checked out into /opt/src.\n' > "$work/README"
  printf '#include <stdio.h>\nint main(void) { puts("hello from devbox"); return 0; }\n' \
    > "$work/src/hello.c"
  git -C "$work" init -q -b main
  git -C "$work" add .
  git -C "$work" -c user.name=devbox -c user.email=devbox@localhost commit -q -m "demo"
  git clone -q --bare "$work" /srv/devbox/demo.git
  rm -rf "$work"
fi

devbox common lab up
devbox common doctor
devbox containerauthor build-base debian-12
devbox containerauthor build-image dev
if ! devbox dockeruser list-containers --all --json --no-size | grep -q "\"name\": \"$name\""; then
  devbox make-dev-container "$name" --branch demo
else
  devbox start-dev-container "$name" || true
fi
devbox list-containers --all
echo
echo "Reach it with:  devbox ssh $name        (or: ssh $name, after the SSH config entry)"
