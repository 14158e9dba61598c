#!/usr/bin/env bash
# The project's test command (README, CI): installs what the build needs (idempotent), then
# checks formatting and lints and runs every test: unit tests, BPF_PROG_TEST_RUN tests of the
# datapath, and the e2e suite on real namespaces. Privileged tests need root; without it they
# print SKIPPED and why.
set -euo pipefail
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

step "cargo test --workspace"
cargo test --workspace
