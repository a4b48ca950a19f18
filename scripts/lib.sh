# Shared by scripts/test, scripts/demo and .ci/run. Sourced, not run.
VENV="${PB_VENV:-$PWD/.venv}"
PG_PORT="${PB_PG_PORT:-55432}"
PG_DIR="${PB_PG_DIR:-/tmp/pausebutton-pg-$PG_PORT}"

step() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "error: '$*' needs root (or sudo)" >&2; return 1; fi
}

ensure_venv() {
    # Create the virtual environment and install the package with its dev extra.
    # A stamp of pyproject.toml skips the install when nothing changed.
    if [ ! -x "$VENV/bin/python" ]; then
        step "creating virtual environment in $VENV"
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.pausebutton-installed"
    if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
        step "installing pausebutton[dev] (first run takes a few minutes)"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
        cp pyproject.toml "$stamp"
    fi
}

ensure_torch() {
    # The CPU build of torch (an optional extra; the guard's tests need it).
    if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
        step "installing torch==2.13.0 (CPU build)"
        "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
    fi
}

ensure_system_packages() {
    # Debian packages the tests use: a PostgreSQL server, iproute2 (ip, tc netem),
    # util-linux and Chromium (the console's browser tests drive it with Playwright; no
    # browser download).
    local missing=()
    [ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 \
        || missing+=(postgresql)
    command -v ip >/dev/null && command -v tc >/dev/null || missing+=(iproute2)
    # runuser starts PostgreSQL as its user; taskset pins bench authority's scaling steps
    command -v runuser >/dev/null && command -v taskset >/dev/null || missing+=(util-linux)
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    if [ "${#missing[@]}" -gt 0 ]; then
        step "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

start_postgres() {
    # A private PostgreSQL server for the tests on 127.0.0.1:$PG_PORT, data in $PG_DIR.
    local bin; bin="$(pg_bin)"
    local run=()
    if [ "$(id -u)" = 0 ]; then run=(runuser -u postgres --); fi
    if ! "${run[@]}" "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; then
        step "starting PostgreSQL on 127.0.0.1:$PG_PORT ($PG_DIR)"
        rm -rf "$PG_DIR"; mkdir -p "$PG_DIR"
        [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
        "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
        "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
            -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
        "${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres pausebutton_test
    fi
    export PB_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/pausebutton_test"
}

stop_postgres() {
    local bin; bin="$(pg_bin)"
    local run=()
    if [ "$(id -u)" = 0 ]; then run=(runuser -u postgres --); fi
    [ -d "$PG_DIR/data" ] && "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}
