#!/usr/bin/env bash
# The main job (README): installs what the build needs (idempotent), builds mcastlab and runs
# `mcastlab demo`: a two-node lab, receivers joined with real sockets, a delivery matrix, and
# teardown. Extra arguments go to `mcastlab demo` (see `mcastlab demo --help`). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet -p mcastlab
exec target/release/mcastlab demo "$@"
