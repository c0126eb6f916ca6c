#!/usr/bin/env bash
# Make sure a Redis server answers on 127.0.0.1:6379 for the tests of shared rate limits:
# install redis-server from Debian when absent (as root), start it when stopped. A server
# already running is left alone and never stopped.
set -euo pipefail

port_open() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

if port_open; then
  echo "redis: already running on :6379"
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis: installing redis-server from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq redis-server >/dev/null
  else
    cat >&2 <<'MSG'
Redis is not installed and this script cannot install it here.
Install it (Debian/Ubuntu: sudo apt-get install redis-server) or point
KOHTAAMO_TEST_REDIS_URL at one.
MSG
    exit 1
  fi
fi

echo "redis: starting"
# Loopback only, no persistence: it holds nothing but rate-limit counters.
redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no --daemonize yes >/dev/null
for _ in $(seq 1 30); do port_open && break; sleep 0.2; done
port_open || { echo "redis: did not open :6379" >&2; exit 1; }
echo "redis: started on :6379"
