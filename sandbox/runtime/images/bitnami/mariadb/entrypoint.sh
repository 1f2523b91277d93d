#!/bin/bash
# bitnami/mariadb's entrypoint for the sandbox: MARIADB_* variables (and ALLOW_EMPTY_PASSWORD) onto the official
# image's entrypoint (../../mariadb/docker-entrypoint.sh), data under /bitnami/mariadb/data.
set -eo pipefail
if [ "${ALLOW_EMPTY_PASSWORD:-no}" = yes ] && [ -z "${MARIADB_ROOT_PASSWORD:-}" ]; then export MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1; fi
exec "$@"
