#!/bin/bash
mkdir -p "$ETCD_DATA_DIR" && chmod 700 "$ETCD_DATA_DIR"
if [ "$(id -u)" = 0 ]; then
  find "$ETCD_DATA_DIR" \! -user etcd -exec chown etcd '{}' +
  exec gosu etcd etcd
fi
exec etcd
