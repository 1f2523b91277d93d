#!/bin/bash
exec docker-entrypoint.sh postgres -p "${POSTGRESQL_PORT_NUMBER:-5432}"
