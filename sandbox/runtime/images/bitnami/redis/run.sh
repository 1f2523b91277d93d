#!/bin/bash
dir=/bitnami/redis/data
mkdir -p "$dir"
args=(--dir "$dir" --port "${REDIS_PORT_NUMBER:-6379}" --appendonly "${REDIS_AOF_ENABLED:-yes}")
[ -n "${REDIS_PASSWORD:-}" ] && args+=(--requirepass "$REDIS_PASSWORD")
if [ "$(id -u)" = 0 ]; then
  find "$dir" \! -user redis -exec chown redis '{}' +
  exec gosu redis redis-server "${args[@]}" ${REDIS_EXTRA_FLAGS:-}
fi
exec redis-server "${args[@]}" ${REDIS_EXTRA_FLAGS:-}
