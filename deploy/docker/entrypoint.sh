#!/bin/sh
# The image's entry point: a service name (or module:factory) runs that service; a
# `kohtaamo` command (dlq, outbox, seed, ...) runs that command; nothing runs $KOHTAAMO_RUN.
set -eu
if [ "$#" -eq 0 ]; then
  if [ -z "${KOHTAAMO_RUN:-}" ]; then
    echo "usage: <service> | <kohtaamo command>; or set KOHTAAMO_RUN" >&2
    exit 64
  fi
  exec kohtaamo run "$KOHTAAMO_RUN"
fi
case "$1" in
  run|run-all|services|seed|dlq|outbox|backup|asyncapi|--help|-h) exec kohtaamo "$@" ;;
  *) exec kohtaamo run "$@" ;;
esac
