# Shared by scripts/test, scripts/demo and .ci/run. Sourced, not run.
VENV="${PB_VENV:-$PWD/.venv}"

step() { printf '\n==> %s\n' "$*"; }

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
