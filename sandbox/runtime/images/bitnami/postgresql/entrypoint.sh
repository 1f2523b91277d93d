#!/bin/bash
# bitnami/postgresql's entrypoint for the sandbox: its POSTGRESQL_* variables mapped onto the official image's
# entrypoint (../../postgres/docker-entrypoint.sh), data under /bitnami/postgresql/data. Differences from Bitnami:
# POSTGRESQL_USERNAME is created as the superuser (Bitnami makes it an owner of POSTGRESQL_DATABASE only).
set -eo pipefail
export PGDATA="${POSTGRESQL_DATA_DIR:-/bitnami/postgresql/data}"
export POSTGRES_USER="${POSTGRESQL_USERNAME:-${POSTGRES_USER:-postgres}}"
export POSTGRES_PASSWORD="${POSTGRESQL_PASSWORD:-${POSTGRES_PASSWORD:-${POSTGRESQL_POSTGRES_PASSWORD:-}}}"
export POSTGRES_DB="${POSTGRESQL_DATABASE:-${POSTGRES_DB:-postgres}}"
if [ "${ALLOW_EMPTY_PASSWORD:-no}" = yes ] && [ -z "$POSTGRES_PASSWORD" ]; then export POSTGRES_HOST_AUTH_METHOD=trust; fi
# Bitnami asks for a password on every connection, local ones too.
export POSTGRES_INITDB_ARGS="--auth-local=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256} --auth-host=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256} ${POSTGRES_INITDB_ARGS:-}"
exec "$@"
