#!/bin/bash
# bitnami/etcd's entrypoint for the sandbox: etcd reads its ETCD_* variables itself; data under /bitnami/etcd/data.
# Authentication (ETCD_ROOT_PASSWORD) is not emulated: refused rather than silently ignored.
set -eo pipefail
if [ -n "${ETCD_ROOT_PASSWORD:-}" ]; then
  echo >&2 'etcd ERROR ==> ETCD_ROOT_PASSWORD is not supported by the sandbox'"'"'s bitnami/etcd; set ALLOW_NONE_AUTHENTICATION=yes'
  exit 1
fi
if [ "${ALLOW_NONE_AUTHENTICATION:-no}" != yes ]; then
  echo >&2 'etcd ERROR ==> The ETCD_ROOT_PASSWORD environment variable is empty or not set. Set the environment variable ALLOW_NONE_AUTHENTICATION=yes to allow the container to be started with blank passwords. This is recommended only for development.'
  exit 1
fi
export ETCD_DATA_DIR="${ETCD_DATA_DIR:-/bitnami/etcd/data}"
export ETCD_LISTEN_CLIENT_URLS="${ETCD_LISTEN_CLIENT_URLS:-http://0.0.0.0:2379}"
export ETCD_ADVERTISE_CLIENT_URLS="${ETCD_ADVERTISE_CLIENT_URLS:-http://127.0.0.1:2379}"
exec "$@"
