#!/usr/bin/env bash
# The project's test command (README, CI): installs what the build needs (idempotent), then
# checks formatting and lints and runs every test: unit tests, BPF_PROG_TEST_RUN tests of the
# datapath, and the e2e suite on real namespaces. Privileged tests need root; without it they
# print SKIPPED and why.
set -euo pipefail

# Usage (the comment above), then exit with status $1.
usage() {
    echo "usage: scripts/test.sh [-h|--help]"
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "$1"
}
if [ "$#" -gt 0 ]; then
    case "$1" in
    -h | --help) usage 0 ;;
    *) usage 2 >&2 ;;
    esac
fi

cd "$(dirname "$0")/.."

scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (host crates, -D warnings)"
cargo clippy --workspace --exclude mcastlab-ebpf --all-targets -- -D warnings

step "cargo clippy (eBPF crate for bpfel-unknown-none, -D warnings)"
(cd dataplane/mcastlab-ebpf &&
    cargo +nightly clippy --release --target bpfel-unknown-none -Z build-std=core -- -D warnings)

step "vagrant validate (the kernel matrix's Vagrantfile)"
if ! command -v vagrant >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq vagrant >/dev/null
fi
if command -v vagrant >/dev/null 2>&1; then
    vagrant validate --ignore-provider
else
    echo "SKIPPED: vagrant is not installed and cannot be installed here (needs root and apt)"
fi

step "cargo test --workspace (unit, proptest, BPF_PROG_TEST_RUN, topology, e2e)"
cargo test --workspace

step "BPF_PROG_TEST_RUN again, with the loops of kernels before 5.17 (bpf_for_each_map_elem)"
MCASTLAB_LOOPS=for_each_map_elem cargo test --workspace --test datapath
# The CLI that build made (its integration tests run it). `cargo run -p mcastlab` would build the
# workspace again: features unify across one package there, across the workspace here.
mcastlab="${CARGO_TARGET_DIR:-target}/debug/mcastlab"

step "fuzz smoke of the IGMP parser (scripts/fuzz.sh; docs/fuzzing.md has the long run)"
scripts/fuzz.sh smoke

if [ "$(id -u)" = 0 ]; then
    step "mcastlab demo (the README's main job)"
    "$mcastlab" demo
    step "benchmark smoke run (short windows; numbers are not results)"
    smoke=$(mktemp -d)
    "$mcastlab" bench fanout --receivers 1,2 \
        --modes dataplane,dataplane-sources,seed,unicast,cross-node-dataplane,cross-node-bridge \
        --repetitions 1 --window 0.2 --warmup 0.1 --latency-probes 50 --out "$smoke" >/dev/null
    "$mcastlab" bench control --groups 4 --subscribers 8 --repetitions 2 \
        --out "$smoke" >/dev/null
    for file in samples.csv summary.json summary.md fanout.svg ratios.svg; do
        ls "$smoke"/*/"$file" >/dev/null
    done
    ls "$smoke"/*-control/control.json >/dev/null
    rm -rf "$smoke"
    echo "bench fanout and bench control wrote their results"

    step "nothing left behind"
    # Every prefix a test or tool names namespaces with is registered in testkit/test-prefixes.
    pattern=$(awk '!/^#/ && NF >= 2 { printf "%s%s%s", sep, $2, ($1 == "test" ? "[0-9]" : ""); sep = "|" }' \
        testkit/test-prefixes)
    leftovers=$(ip netns list | grep -E "^(${pattern})" || true)
    agents=$(ls /run/mcastlab/agents /run/mcastlab/monitor 2>/dev/null | grep -v -e '^/' -e '^$' || true)
    if [ -n "$leftovers" ] || [ -n "$(ls /sys/fs/bpf/mcastlab 2>/dev/null)" ] || [ -n "$agents" ]; then
        echo "left behind: ${leftovers} $(ls /sys/fs/bpf/mcastlab 2>/dev/null) ${agents}" >&2
        exit 1
    fi
    echo "no namespaces, pins or agents left"
else
    echo "SKIPPED: mcastlab demo needs root"
fi
