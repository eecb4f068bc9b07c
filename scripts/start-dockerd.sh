#!/usr/bin/env bash
# Start the Docker engine if it is not answering (systemd when it is PID 1, else dockerd directly).
set -euo pipefail
answers() { .venv/bin/python -c 'import docker,sys; docker.from_env(timeout=5).ping()' 2>/dev/null; }
cd "$(dirname "$0")/.."
answers && exit 0
if [[ "$(ps -p 1 -o comm=)" == "systemd" ]]; then
  systemctl start docker
else
  nohup dockerd >/var/log/devbox-dockerd.log 2>&1 &
fi
for _ in $(seq 1 120); do answers && exit 0; sleep 0.5; done
echo "dockerd did not start; see /var/log/devbox-dockerd.log" >&2
exit 1
