#!/usr/bin/env bash
# The main job (README): installs what the build needs (idempotent), builds mcastlab and runs
# `mcastlab demo`: a two-node lab, receivers joined with real sockets, a delivery matrix, and
# teardown. Extra arguments go to `mcastlab demo` (see `mcastlab demo --help`). Needs root.
set -euo pipefail

# Usage (the comment above), then exit with status $1.
usage() {
    echo "usage: scripts/demo.sh [OPTIONS of mcastlab demo] [-h|--help]"
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "$1"
}
# The options of `mcastlab demo` (tests/cli.rs checks this list against its --help). Anything
# else is refused here, before setup and the build.
OPTIONS="--lab --nodes --pods --group --count --keep --output -o --verbose -v -vv -vvv --quiet -q"
for arg in "$@"; do
    case "$arg" in
    -h | --help) usage 0 ;;
    -*) case " $OPTIONS " in *" ${arg%%=*} "*) ;; *) usage 2 >&2 ;; esac ;;
    esac
done

cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet -p mcastlab
exec target/release/mcastlab demo "$@"
