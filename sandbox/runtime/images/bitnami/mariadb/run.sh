#!/bin/bash
exec docker-entrypoint.sh mariadbd --datadir="${MARIADB_DATA_DIR:-/bitnami/mariadb/data}" --port="${MARIADB_PORT_NUMBER:-3306}"
