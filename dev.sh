#!/usr/bin/env bash
# Lixiao developer entry point. Run `./dev.sh help` for usage.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PIP_STAMP="$VENV/.lixiao-pyproject.sha256"
NPM_STAMP="$ROOT/node_modules/.lixiao-npm-lock.sha256"

say()  { echo "dev.sh: $*"; }
warn() { echo "dev.sh: WARNING: $*" >&2; }
die()  { echo "dev.sh: ERROR: $*" >&2; exit 1; }

is_ci()   { case "${CI:-}" in true|TRUE|True|1|yes) return 0 ;; *) return 1 ;; esac; }
is_root() { [ "$(id -u)" -eq 0 ]; }

APT_UPDATED=0
apt_install() {  # apt_install PKG... (root only; apt-get update at most once per run)
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    quietly apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  quietly env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

quietly() {  # quietly CMD...: run CMD with its output in a log; show the log's tail if it fails
  local log rc=0
  log="$(mktemp "${TMPDIR:-/tmp}/lixiao-dev.XXXXXX.log")"
  "$@" >"$log" 2>&1 </dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "dev.sh: command failed (exit $rc): $*" >&2
    tail -n 40 "$log" >&2
    echo "dev.sh: full output: $log" >&2
    return "$rc"
  fi
  rm -f "$log"
}

file_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

usage() {
  cat <<'EOF'
Usage: ./dev.sh COMMAND [args]

  setup          install everything (idempotent): .venv + pip install -e '.[dev]',
                 npm ci, front-end assets -> app/static/vendor/, compile translations
  demo           setup, migrate the database, load demo data (prints logins),
                 then serve on http://${HOST:-127.0.0.1}:${PORT:-5000}/
  test [ARGS]    setup + headless Chromium and CJK fonts, then pytest ARGS
                 (TEST_DATABASE_URL unset = SQLite; e.g.
                  TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test)
  bench [ARGS]   setup (+ Debian's wrk for the portal load test), then python -m bench ARGS
                 (--suite engine|desk|portal; e.g. ./dev.sh bench --suite portal --db both)
  help           this text

Environment: PYTHON (interpreter for a new .venv), HOST, PORT, TEST_DATABASE_URL, CI
EOF
}

# ---------------------------------------------------------------- Python
python_ok() {  # python_ok EXE: is EXE a Python >= 3.11?
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

find_python() {
  local c
  for c in "${PYTHON:-}" python3 python3.13 python3.12 python3.11 /usr/bin/python3; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || continue
    if python_ok "$c"; then command -v "$c"; return 0; fi
  done
  return 1
}

ensure_venv() {
  if [ -x "$PY" ] && python_ok "$PY" && "$PY" -m pip --version >/dev/null 2>&1; then
    return 0
  fi
  if [ -e "$VENV" ]; then
    say "existing .venv is broken or too old: recreating it"
    rm -rf "$VENV"
  fi
  local base
  if ! base="$(find_python)"; then
    if is_root && apt_install python3 python3-venv; then
      base="$(find_python)" || die "no python3 >= 3.11 found even after apt-get install python3"
    else
      die "no python3 >= 3.11 found: install it (Debian 12: apt-get install python3 python3-venv)"
    fi
  fi
  say "creating .venv with $base ($("$base" -c 'import platform; print(platform.python_version())'))"
  if ! "$base" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    # Debian's python3 ships venv/ensurepip separately.
    if is_root && apt_install python3-venv && "$base" -m venv "$VENV"; then
      :
    else
      rm -rf "$VENV"
      die "'$base -m venv' failed (Debian: apt-get install python3-venv)"
    fi
  fi
  say "upgrading pip in .venv"
  quietly "$PY" -m pip install -q --disable-pip-version-check --upgrade pip
}

ensure_python_deps() {
  local want have=""
  want="$(file_hash pyproject.toml)"
  [ -f "$PIP_STAMP" ] && have="$(cat "$PIP_STAMP")"
  if [ "$want" = "$have" ]; then
    say "python deps up to date (pyproject.toml unchanged)"
    return 0
  fi
  say "pip install -e '.[dev]'"
  rm -f "$PIP_STAMP"
  quietly "$PY" -m pip install -q --disable-pip-version-check -e '.[dev]'
  echo "$want" > "$PIP_STAMP"
}

# ---------------------------------------------------------------- Node / assets
ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    return 0
  fi
  if is_root && apt_install nodejs npm && command -v npm >/dev/null 2>&1; then
    return 0
  fi
  die "node and npm are required for the front-end assets (bootstrap, htmx, bpmn-js, echarts).
  Install them first, e.g. on Debian 12: apt-get install nodejs npm"
}

ensure_node_modules() {
  ensure_node
  [ -f package.json ] && [ -f package-lock.json ] || die "package.json or package-lock.json missing in $ROOT"
  local want have=""
  want="$(file_hash package.json package-lock.json)"
  [ -f "$NPM_STAMP" ] && have="$(cat "$NPM_STAMP")"
  if [ -d node_modules ] && [ "$want" = "$have" ]; then
    say "node_modules up to date (package-lock.json unchanged)"
    return 0
  fi
  say "npm ci"
  quietly npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$NPM_STAMP"
}

copy_assets() {
  say "copying front-end assets -> app/static/vendor/"
  bash "$ROOT/scripts/copy_assets.sh"
}

# ---------------------------------------------------------------- translations
compile_translations() {
  [ -d translations ] || return 0
  if [ -z "$(find translations -name '*.po' -print -quit)" ]; then
    say "no .po files in translations/ yet: skipping pybabel compile"
    return 0
  fi
  say "pybabel compile -d translations -f"
  "$VENV/bin/pybabel" -q compile -d translations -f
}

cmd_setup() {
  ensure_venv
  ensure_python_deps
  ensure_node_modules
  copy_assets
  compile_translations
  say "setup done"
}

# ---------------------------------------------------------------- browser
ensure_browser() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk)
  if [ "${#missing[@]}" -eq 0 ]; then
    say "browser prerequisites present (/usr/bin/chromium, fonts-noto-cjk)"
    return 0
  fi
  say "browser prerequisites missing: ${missing[*]}"
  if is_root; then
    # Install both together, as documented; never `playwright install`.
    if apt_install chromium fonts-noto-cjk && [ -x /usr/bin/chromium ] && dpkg -s fonts-noto-cjk >/dev/null 2>&1; then
      return 0
    fi
    is_ci && die "could not install chromium and fonts-noto-cjk with apt-get (needed for browser tests under CI)"
    warn "could not install chromium/fonts-noto-cjk: browser tests will skip themselves"
    return 0
  fi
  is_ci && die "not root, cannot install ${missing[*]}; under CI the browser tests must run.
  Run as root: apt-get update && apt-get install -y chromium fonts-noto-cjk"
  warn "not root: install them with
    sudo apt-get update && sudo apt-get install -y chromium fonts-noto-cjk
  continuing; browser tests will skip themselves"
}

# ---------------------------------------------------------------- commands
cmd_demo() {
  cmd_setup
  export FLASK_APP=app LIXIAO_ENV=development
  say "flask db upgrade"
  "$VENV/bin/flask" --app app db upgrade
  say "flask demo"
  "$VENV/bin/flask" --app app demo
  local host="${HOST:-127.0.0.1}" port="${PORT:-5000}"
  say "serving Lixiao on http://$host:$port/ (Ctrl+C to stop)"
  exec "$VENV/bin/flask" --app app run --host "$host" --port "$port"
}

cmd_test() {
  cmd_setup
  ensure_browser
  say "pytest $* (database: ${TEST_DATABASE_URL:-SQLite})"
  exec "$PY" -m pytest "$@"
}

# ---------------------------------------------------------------- load generator
ensure_wrk() {  # wrk drives the portal load test (python -m bench --suite portal)
  if command -v wrk >/dev/null 2>&1; then
    say "wrk present ($(command -v wrk))"
    return 0
  fi
  say "wrk missing"
  if is_root && apt_install wrk && command -v wrk >/dev/null 2>&1; then
    return 0
  fi
  is_ci && die "could not install wrk with apt-get (needed by the portal load test under CI)"
  warn "wrk is not installed (Debian: apt-get install wrk): the portal benchmark's load test will fail;
  pass --no-load to skip it"
}

cmd_bench() {
  cmd_setup
  ensure_wrk
  say "python -m bench $*"
  exec "$PY" -m bench "$@"
}

main() {
  local cmd="${1:-help}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
    setup) cmd_setup "$@" ;;
    demo)  cmd_demo "$@" ;;
    test)  cmd_test "$@" ;;
    bench) cmd_bench "$@" ;;
    help|-h|--help) usage ;;
    *) usage >&2; die "unknown command: $cmd" ;;
  esac
}

main "$@"
