#!/usr/bin/env bash
# Install what devbox needs on a Debian 12 host (as root): Debian packages and a venv with devbox.
# Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  docker.io          # the Docker engine devbox drives through the docker SDK
  dnsmasq-base       # DHCP server of the built-in lab LAN
  openssh-server     # lab up --hosts N: the sshd binary each simulated host runs with its own config
  debootstrap        # builds Debian/Ubuntu base images from scratch
  busybox-static     # tiny test images; the pipework-style baseline's udhcpc
  patch              # combos: patch files applied into /opt
  xfsprogs           # tests: reflink /opt snapshots on a loop-mounted XFS
  iproute2 util-linux git openssh-client ca-certificates
  python3 python3-venv python3-dev gcc
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ ! -x .venv/bin/devbox ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
ln -sf "$PWD/.venv/bin/devbox" /usr/local/bin/devbox

# Room for many VM-style containers: each systemd container holds ~7 inotify instances and the
# kernel's default cap is 128 per user (about 18 containers); clone --count 20 needs more.
want=1024
have=$(cat /proc/sys/fs/inotify/max_user_instances)
if (( have < want )); then
  echo "fs.inotify.max_user_instances = $want" > /etc/sysctl.d/90-devbox.conf
  echo "$want" > /proc/sys/fs/inotify/max_user_instances \
    || echo "warning: could not raise fs.inotify.max_user_instances (have $have)" >&2
fi
