#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers on 127.0.0.1:5672: install it from Debian when absent
# (as root), start it when stopped. Never stops a broker; one already running is left alone.
set -euo pipefail

port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if port_open; then
  echo "rabbitmq: already running on :5672"
  exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "rabbitmq: installing rabbitmq-server from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq rabbitmq-server >/dev/null
  else
    cat >&2 <<'MSG'
RabbitMQ is not installed and this script cannot install it here.
Install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server), point
KOHTAAMO_AMQP_URL at a broker, or run the platform with `docker compose up`.
MSG
    exit 1
  fi
fi

echo "rabbitmq: starting"
rabbitmq-server -detached
rabbitmqctl await_startup --timeout 120 >/dev/null
for _ in $(seq 1 60); do port_open && break; sleep 1; done
port_open || { echo "rabbitmq: did not open :5672" >&2; exit 1; }
echo "rabbitmq: started on :5672"
