#!/bin/bash
# bitnami/redis's entrypoint for the sandbox: REDIS_PASSWORD (or ALLOW_EMPTY_PASSWORD=yes), append-only file on by
# default (REDIS_AOF_ENABLED), data under /bitnami/redis/data, run as the redis account (uid 1001).
set -eo pipefail
if [ -z "${REDIS_PASSWORD:-}" ] && [ -n "${REDIS_PASSWORD_FILE:-}" ]; then REDIS_PASSWORD="$(< "$REDIS_PASSWORD_FILE")"; export REDIS_PASSWORD; fi
if [ -z "${REDIS_PASSWORD:-}" ] && [ "${ALLOW_EMPTY_PASSWORD:-no}" != yes ]; then
  echo >&2 'redis ERROR ==> The REDIS_PASSWORD environment variable is empty or not set. Set the environment variable ALLOW_EMPTY_PASSWORD=yes to allow the container to be started with blank passwords. This is recommended only for development.'
  exit 1
fi
exec "$@"
