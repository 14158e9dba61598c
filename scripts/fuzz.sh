#!/usr/bin/env bash
# Fuzzes mcastlab-common's IGMP parser (target igmp_parse in dataplane/mcastlab-common/fuzz/):
# arbitrary bytes, and the same bytes with their checksum filled in, must never make
# `wire::igmp::parse` panic, and every message it parses must emit to bytes that parse to the
# same message. See docs/fuzzing.md.
#
#   scripts/fuzz.sh smoke          # about 10 s of fuzzing (what CI runs)
#   scripts/fuzz.sh run [SECONDS]  # a long run, 3600 s unless SECONDS is given; for example
#                                  # `scripts/fuzz.sh run 28800` overnight
#   scripts/fuzz.sh -h | --help    # this text, and nothing else
#
# Needs the nightly toolchain (`rustup toolchain install nightly`). Installs cargo-fuzz with
# `cargo install --locked cargo-fuzz` if `cargo fuzz` is missing. The first build of the target
# compiles libFuzzer into ~/.cache/mcastlab/fuzz-target (MCASTLAB_FUZZ_TARGET_DIR overrides);
# later runs, from any clone, reuse it.
# New inputs go to dataplane/mcastlab-common/fuzz/corpus/igmp_parse (git-ignored), seeded from
# fuzz/seeds/igmp_parse; a crashing input is written to fuzz/artifacts/igmp_parse/ and the run
# fails. Replay one with `cargo +nightly fuzz run igmp_parse <file>` in dataplane/mcastlab-common.
set -euo pipefail

usage() {
    echo "usage: scripts/fuzz.sh smoke | run [SECONDS] | -h|--help"
    echo
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

fuzz() {
    local seconds=$1
    case "$seconds" in
    '' | *[!0-9]*) echo "error: SECONDS must be a whole number (got '$seconds')" >&2 && exit 1 ;;
    esac
    cd "$(dirname "$0")/../dataplane/mcastlab-common"
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "cargo-fuzz is missing: cargo install --locked cargo-fuzz"
        cargo install --locked cargo-fuzz
    fi
    # The sanitizer build shares nothing with the workspace's target/; keeping it outside the
    # checkout lets every clone on this machine (CI's included) reuse it.
    export CARGO_TARGET_DIR="${MCASTLAB_FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcastlab/fuzz-target}"
    mkdir -p fuzz/corpus/igmp_parse
    # -max_len: a little over MAX_IGMP_LEN (1480), the longest message the parser accepts.
    cargo +nightly fuzz run igmp_parse fuzz/corpus/igmp_parse fuzz/seeds/igmp_parse -- \
        -max_total_time="$seconds" -max_len=1500 -print_final_stats=1
}

case "${1:-}" in
smoke) fuzz 10 ;;
run) fuzz "${2:-3600}" ;;
-h | --help | help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
