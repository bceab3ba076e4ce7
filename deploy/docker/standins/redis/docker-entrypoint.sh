#!/bin/sh
# The subset of the official redis entrypoint that big-market relies on: arguments starting
# with '-' (or a .conf file) go to redis-server; without a config file protected mode is off
# (the container network is the boundary, as in the official image); runs as user redis.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  case " $* " in *.conf\ *) ;; *) set -- "$@" --protected-mode no ;; esac
fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  chown -R redis:redis /data 2>/dev/null || true
  exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
