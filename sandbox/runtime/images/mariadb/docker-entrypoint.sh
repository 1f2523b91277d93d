#!/bin/bash
# The mariadb image's entrypoint, as documented, for Debian's MariaDB 10.11: as root, own /var/lib/mysql and
# /run/mysqld and drop to the mysql account; on first start (no mysql/ system schema) mariadb-install-db, set the
# root password (MARIADB_ROOT_PASSWORD / MYSQL_ROOT_PASSWORD, or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD /
# MARIADB_RANDOM_ROOT_PASSWORD), create MARIADB_DATABASE and MARIADB_USER/MARIADB_PASSWORD, run
# /docker-entrypoint-initdb.d, then exec the server.
set -eo pipefail

if [ "${1:0:1}" = '-' ]; then set -- mariadbd "$@"; fi
case "$1" in mysqld) set -- mariadbd "${@:2}" ;; esac

# MARIADB_X wins over MYSQL_X; X_FILE reads a file, as the image documents.
env_var() {
  local name="$1" def="${2:-}" v
  for var in "MARIADB_$name" "MYSQL_$name"; do
    v="${!var:-}"
    if [ -z "$v" ]; then local fv="${var}_FILE"; [ -n "${!fv:-}" ] && v="$(< "${!fv}")"; fi
    if [ -n "$v" ]; then echo "$v"; return; fi
  done
  echo "$def"
}

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
for a in "$@"; do case "$a" in --datadir=*) DATADIR="${a#--datadir=}" ;; --socket=*) SOCKET="${a#--socket=}" ;; esac; done

if [ "$1" = mariadbd ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$DATADIR" "$(dirname "$SOCKET")"
  find "$DATADIR" "$(dirname "$SOCKET")" \! -user mysql -exec chown mysql:mysql '{}' +
  exec gosu mysql "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = mariadbd ]; then
  mkdir -p "$(dirname "$SOCKET")" 2>/dev/null || :
  if [ ! -d "$DATADIR/mysql" ]; then
    ROOT_PASSWORD="$(env_var ROOT_PASSWORD)"
    if [ -z "$ROOT_PASSWORD" ] && [ -z "$(env_var ALLOW_EMPTY_ROOT_PASSWORD)" ] && [ -z "$(env_var RANDOM_ROOT_PASSWORD)" ]; then
      echo >&2 '[ERROR] [Entrypoint]: Database is uninitialized and password option is not specified'
      echo >&2 '	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD'
      exit 1
    fi
    if [ -n "$(env_var RANDOM_ROOT_PASSWORD)" ]; then
      ROOT_PASSWORD="$(head -c 24 /dev/urandom | base64)"
      echo "[Note] [Entrypoint]: GENERATED ROOT PASSWORD: $ROOT_PASSWORD"
    fi
    echo '[Note] [Entrypoint]: Initializing database files'
    mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve --default-time-zone=SYSTEM >/dev/null
    echo '[Note] [Entrypoint]: Starting temporary server'
    mariadbd --datadir="$DATADIR" --socket="$SOCKET" --skip-networking --default-time-zone=SYSTEM &
    pid=$!
    for _ in $(seq 60); do mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1 && break; sleep 0.5; done
    sqlq() { mariadb --protocol=socket --socket="$SOCKET" -uroot --database=mysql --binary-mode "$@"; }
    DATABASE="$(env_var DATABASE)"; USER="$(env_var USER)"; PASSWORD="$(env_var PASSWORD)"
    esc() { printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g"; }
    {
      echo "SET @@SESSION.SQL_LOG_BIN=0;"
      echo "DELETE FROM mysql.global_priv WHERE user NOT IN ('mysql.sys', 'mariadb.sys', 'root') OR host NOT IN ('localhost');"
      echo "SET PASSWORD FOR 'root'@'localhost'= PASSWORD('$(esc "$ROOT_PASSWORD")');"
      echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(esc "$ROOT_PASSWORD")'; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION; GRANT PROXY ON ''@'%' TO 'root'@'%' WITH GRANT OPTION;"
      [ -n "$DATABASE" ] && echo "CREATE DATABASE IF NOT EXISTS \`$DATABASE\`;"
      if [ -n "$USER" ] && [ -n "$PASSWORD" ]; then
        echo "CREATE USER '$(esc "$USER")'@'%' IDENTIFIED BY '$(esc "$PASSWORD")';"
        [ -n "$DATABASE" ] && echo "GRANT ALL ON \`$DATABASE\`.* TO '$(esc "$USER")'@'%';"
      fi
      echo "FLUSH PRIVILEGES;"
    } | sqlq
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh) echo "[Note] [Entrypoint]: running $f"; . "$f" ;;
        *.sql) echo "[Note] [Entrypoint]: running $f"; mariadb --socket="$SOCKET" -uroot -p"$ROOT_PASSWORD" ${DATABASE:+"$DATABASE"} < "$f" ;;
        *.sql.gz) echo "[Note] [Entrypoint]: running $f"; gunzip -c "$f" | mariadb --socket="$SOCKET" -uroot -p"$ROOT_PASSWORD" ${DATABASE:+"$DATABASE"} ;;
        *) [ -e "$f" ] && echo "[Note] [Entrypoint]: ignoring $f" ;;
      esac
    done
    echo '[Note] [Entrypoint]: Stopping temporary server'
    kill "$pid"; wait "$pid" || :
    echo '[Note] [Entrypoint]: MariaDB init process done. Ready for start up.'
  fi
  # The image's config: listen on every address (the sandbox gives the container its own loopback-only network).
  set -- "$@" --bind-address=0.0.0.0 --datadir="$DATADIR" --socket="$SOCKET"
fi

exec "$@"
