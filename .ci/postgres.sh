#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on 127.0.0.1 for the tests and prints its URL.
# Installs PostgreSQL from the system packages when the machine lacks it.
set -euo pipefail
port="${1:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
dir=$(mktemp -d /tmp/jsbus-ci-pg.XXXXXX)
chown postgres "$dir"
runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-k $dir -h 127.0.0.1 -p $port -c fsync=off" start >&2
runuser -u postgres -- "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres jsbus_test
echo "postgresql://postgres@127.0.0.1:$port/jsbus_test"
