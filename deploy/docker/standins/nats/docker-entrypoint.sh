#!/bin/sh
# Like the official nats alpine entrypoint: arguments starting with '-' go to nats-server.
set -e
if [ "${1#-}" != "$1" ]; then set -- nats-server "$@"; fi
exec "$@"
