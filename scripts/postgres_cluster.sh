#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and local development.
#
#   scripts/postgres_cluster.sh install        install PostgreSQL from Debian packages if
#                                              missing (needs root; no-op when present)
#   scripts/postgres_cluster.sh start DIR      initdb in DIR, start on a free localhost port,
#                                              write DIR/env (CES_PG_* variables) and print it
#   scripts/postgres_cluster.sh stop DIR       stop the cluster in DIR (DIR is left in place)
#
# The cluster listens on 127.0.0.1 only, with trust authentication: it is for tests, never
# for data that matters. When run as root, the server runs as the `postgres` system user
# (initdb refuses root), which the Debian package creates.
set -euo pipefail

die() { echo "postgres_cluster: $*" >&2; exit 1; }

bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir)
        [[ -x "$dir/initdb" ]] && { echo "$dir"; return; }
    fi
    # Debian keeps the server binaries out of PATH, one folder per major version
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$dir" && -x "$dir/initdb" ]] && { echo "$dir"; return; }
    return 1
}

as_server_user() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

install() {
    if bindir >/dev/null; then
        echo "PostgreSQL server found in $(bindir)"
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed, and installing it needs root: sudo $0 install"
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is missing"
    echo "Installing PostgreSQL from Debian packages"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; } \
        || die "apt-get install postgresql failed"
    bindir >/dev/null || die "postgresql installed, but no initdb found"
}

start() {
    local dir=$1 bin port
    bin=$(bindir) || die "PostgreSQL is not installed (run: $0 install)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' system user"
        chown postgres "$dir"
        chmod 755 "$dir"
        runuser -u postgres -- test -w "$dir" \
            || die "the postgres user cannot reach $dir (a parent folder is not traversable)"
    fi
    as_server_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
    port=$(free_port)
    as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c timezone=UTC" \
        start >/dev/null || die "the server did not start: $(tail -n 5 "$dir/server.log")"
    cat >"$dir/env" <<EOF
CES_PG_HOST=127.0.0.1
CES_PG_PORT=$port
CES_PG_USER=postgres
CES_PG_PASSWORD=postgres
CES_PG_DATABASE=postgres
EOF
    cat "$dir/env"
}

stop() {
    local dir=$1 bin
    bin=$(bindir) || die "PostgreSQL is not installed"
    [[ -d "$dir/data" ]] || return 0
    as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
}

case "${1:-}" in
    install) install ;;
    start) [[ -n "${2:-}" ]] || die "usage: $0 start DIR"; start "$2" ;;
    stop) [[ -n "${2:-}" ]] || die "usage: $0 stop DIR"; stop "$2" ;;
    *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
