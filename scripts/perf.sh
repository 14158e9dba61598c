#!/usr/bin/env bash
# Reproduces a results/ folder: installs what the build needs (idempotent), builds mcastlab in
# release mode and runs `mcastlab bench fanout` (extra arguments go to it; see --help).
# Needs root and 2 CPUs; keep the machine otherwise idle while it runs (about 4 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet -p mcastlab
exec target/release/mcastlab bench fanout "$@"
