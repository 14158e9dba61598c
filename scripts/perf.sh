#!/usr/bin/env bash
# Reproduces the results/ folders: installs what the build needs (idempotent), builds mcastlab in
# release mode and runs the benchmarks. Needs root and 2 CPUs; keep the machine otherwise idle.
#
#   scripts/perf.sh            # all of results/README.md, about 26 minutes: the fan-out run
#                              # (eight modes, N = 1..64), CPU per copy at a fixed load, the
#                              # 1024-subscriber point, the control path, sparse cross-node
#                              # replication
#   scripts/perf.sh ARGS...    # only `mcastlab bench fanout ARGS...` (see its --help)
set -euo pipefail

# Usage (the comment above), then exit with status $1.
usage() {
    echo "usage: scripts/perf.sh [OPTIONS of mcastlab bench fanout] [-h|--help]"
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "$1"
}
# The options of `mcastlab bench fanout` (tests/cli.rs checks this list against its --help). Anything
# else is refused here, before setup and the build.
OPTIONS="--receivers --modes --repetitions --window --warmup --size --sender-cpu --receiver-cpu --group-capacity --latency-probes --rate --out --output -o --verbose -v -vv -vvv --quiet -q"
for arg in "$@"; do
    case "$arg" in
    -h | --help) usage 0 ;;
    -*) case " $OPTIONS " in *" ${arg%%=*} "*) ;; *) usage 2 >&2 ;; esac ;;
    esac
done

cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet -p mcastlab
mcastlab=target/release/mcastlab
if [ "$#" -gt 0 ]; then
    exec "$mcastlab" bench fanout "$@"
fi
echo "== 1/5 fan-out: local and cross-node, eight modes, N = 1..64 (about 12 minutes)"
"$mcastlab" bench fanout
echo "== 2/5 CPU per copy at a fixed load of 10k packets/s (about 4 minutes)"
"$mcastlab" bench fanout --rate 10000 --modes dataplane,seed,bridge --receivers 1,4,16,32 \
    --window 2 --repetitions 7 --latency-probes 0
echo "== 3/5 the 1024-subscriber point at 100 packets/s (about 8 minutes)"
"$mcastlab" bench fanout --receivers 1021,1024 --modes dataplane,dataplane-napi,seed,bridge --rate 100
echo "== 4/5 the control path (about 1 minute)"
"$mcastlab" bench control
echo "== 5/5 sparse cross-node replication, N = 2, 4, 8 (about 2 minutes)"
"$mcastlab" bench sparse
