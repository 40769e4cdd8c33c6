# Throwaway PostgreSQL and Redis for the test run, on 127.0.0.1 only, data in a temp dir.
# Sourced by .ci/run: `start_services` exports the URLs, `stop_services` (trap) ends both.
# Ports come from CI_PG_PORT / CI_REDIS_PORT (default 55432 / 56379).

CI_PG_PORT="${CI_PG_PORT:-55432}"
CI_REDIS_PORT="${CI_REDIS_PORT:-56379}"
CI_SERVICES_DIR=""

_as_postgres() {
    # initdb and postgres refuse to run as root.
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_services() {
    local pgbin
    pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    CI_SERVICES_DIR="$(mktemp -d /tmp/forum-ci-services.XXXXXX)"
    chmod 755 "$CI_SERVICES_DIR"
    mkdir "$CI_SERVICES_DIR/pg"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$CI_SERVICES_DIR/pg"; fi

    echo "== PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$CI_PG_PORT"
    _as_postgres "$pgbin/initdb" -D "$CI_SERVICES_DIR/pg/data" -U forum --auth=trust \
        -E UTF8 --locale=C.UTF-8 >"$CI_SERVICES_DIR/initdb.log"
    # Durability off: a test server, thrown away at the end.
    _as_postgres "$pgbin/pg_ctl" -D "$CI_SERVICES_DIR/pg/data" -l "$CI_SERVICES_DIR/pg/server.log" \
        -w -t 60 start -o "-c listen_addresses=127.0.0.1 -p $CI_PG_PORT -k $CI_SERVICES_DIR/pg \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        >/dev/null
    CI_PGBIN="$pgbin"
    "$pgbin/createdb" -h 127.0.0.1 -p "$CI_PG_PORT" -U forum forum_test

    echo "== Redis $(redis-server --version | awk '{print $3}') on 127.0.0.1:$CI_REDIS_PORT"
    redis-server --bind 127.0.0.1 --port "$CI_REDIS_PORT" --save '' --appendonly no \
        --daemonize yes --dir "$CI_SERVICES_DIR" --pidfile "$CI_SERVICES_DIR/redis.pid" \
        --logfile "$CI_SERVICES_DIR/redis.log"
    for _ in $(seq 50); do
        redis-cli -h 127.0.0.1 -p "$CI_REDIS_PORT" ping >/dev/null 2>&1 && break
        sleep 0.1
    done

    export CI_POSTGRES_URL="postgresql+psycopg://forum@127.0.0.1:$CI_PG_PORT/forum_test"
    export FORUM_TEST_REDIS_URL="redis://127.0.0.1:$CI_REDIS_PORT/0"
}

stop_services() {
    [ -n "$CI_SERVICES_DIR" ] || return 0
    if [ -f "$CI_SERVICES_DIR/redis.pid" ]; then
        kill "$(cat "$CI_SERVICES_DIR/redis.pid")" 2>/dev/null || true
    fi
    if [ -n "${CI_PGBIN:-}" ]; then
        _as_postgres "$CI_PGBIN/pg_ctl" -D "$CI_SERVICES_DIR/pg/data" -m fast -w stop \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$CI_SERVICES_DIR"
    CI_SERVICES_DIR=""
}
