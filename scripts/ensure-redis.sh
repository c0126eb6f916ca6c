#!/usr/bin/env bash
# Make sure a Redis server answers on 127.0.0.1:6379 for the tests of shared rate limits:
# install redis-server from Debian when absent (as root), start it when stopped. A server
# already running is left alone and never stopped.
set -euo pipefail
# shellcheck source=lib/ensure-service.sh
. "$(dirname "$0")/lib/ensure-service.sh"

if port_open 6379; then
  echo "redis: already running on :6379"
  exit 0
fi

ensure_installed redis redis-server redis-server "Redis is not installed and this script cannot install it here.
Install it (Debian/Ubuntu: sudo apt-get install redis-server) or point
KOHTAAMO_TEST_REDIS_URL at one."

echo "redis: starting"
# Loopback only, no persistence: it holds nothing but rate-limit counters.
redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no --daemonize yes >/dev/null
await_port redis 6379 30 0.2
echo "redis: started on :6379"
