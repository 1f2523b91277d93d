#!/bin/sh
# The redis image's entrypoint, as documented, for Debian's Redis 7: a first argument that is a flag or a .conf file
# means redis-server; as root, own the working directory (/data) and drop to the redis account; umask 0077.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec gosu redis "$0" "$@"
fi

um="$(umask)"
if [ "$um" = '0022' ]; then umask 0077; fi

exec "$@"
