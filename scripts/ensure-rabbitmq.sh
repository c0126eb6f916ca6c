#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers on 127.0.0.1:5672: install it from Debian when absent
# (as root), start it when stopped. Never stops a broker; one already running is left alone.
set -euo pipefail
# shellcheck source=lib/ensure-service.sh
. "$(dirname "$0")/lib/ensure-service.sh"

# Sites federate their event exchanges (deploy/sites) and tests/deploy checks that on this
# broker. Enabling a plugin does not restart the node; `federation_status` exists only while
# the plugin runs, a cheap check first. Not fatal: only the federation test needs it.
enable_federation() {
  command -v rabbitmq-plugins >/dev/null 2>&1 || return 0
  rabbitmqctl -q federation_status >/dev/null 2>&1 && return 0
  rabbitmq-plugins -q enable rabbitmq_federation >/dev/null 2>&1 \
    || echo "rabbitmq: could not enable rabbitmq_federation (tests/deploy will try again)" >&2
}

if port_open 5672; then
  echo "rabbitmq: already running on :5672"
  enable_federation
  exit 0
fi

ensure_installed rabbitmq rabbitmq-server rabbitmq-server "RabbitMQ is not installed and this script cannot install it here.
Install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server), point
KOHTAAMO_AMQP_URL at a broker, or run the platform with \`docker compose up\`."

echo "rabbitmq: starting"
rabbitmq-server -detached
rabbitmqctl await_startup --timeout 120 >/dev/null
await_port rabbitmq 5672 60 1
enable_federation
echo "rabbitmq: started on :5672"
