#!/usr/bin/env bash
# Reproduces the results/ folders: installs what the build needs (idempotent), builds mcastlab in
# release mode and runs the benchmarks. Needs root and 2 CPUs; keep the machine otherwise idle.
#
#   scripts/perf.sh            # all of results/README.md, about 16 minutes: the fan-out run
#                              # (six modes, N = 1..64), the 1024-subscriber point, the control path
#   scripts/perf.sh ARGS...    # only `mcastlab bench fanout ARGS...` (see its --help)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet -p mcastlab
mcastlab=target/release/mcastlab
if [ "$#" -gt 0 ]; then
    exec "$mcastlab" bench fanout "$@"
fi
echo "== 1/3 fan-out: local and cross-node, six modes, N = 1..64 (about 9 minutes)"
"$mcastlab" bench fanout
echo "== 2/3 the 1024-subscriber point at 100 packets/s (about 6 minutes)"
"$mcastlab" bench fanout --receivers 1021,1024 --modes dataplane,dataplane-napi,bridge --rate 100
echo "== 3/3 the control path (about 1 minute)"
"$mcastlab" bench control
