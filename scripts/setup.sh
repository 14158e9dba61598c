#!/usr/bin/env bash
# Installs what building mcastlab needs on a fresh machine, idempotently:
#   - nightly's rust-src (the eBPF crate builds core for bpfel-unknown-none with -Z build-std),
#   - bpf-linker 0.13.0 built against rustc's own LLVM (no system LLVM needed).
# Safe to run again: each step checks first and does nothing when already done.
set -euo pipefail

# Usage (the comment above), then exit with status $1.
usage() {
    echo "usage: scripts/setup.sh [-h|--help]"
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "$1"
}
if [ "$#" -gt 0 ]; then
    case "$1" in
    -h | --help) usage 0 ;;
    *) usage 2 >&2 ;;
    esac
fi

BPF_LINKER_VERSION=0.13.0
NIGHTLY=${MCASTLAB_NIGHTLY:-nightly}

log() { printf 'setup: %s\n' "$*" >&2; }

# iproute2 makes the lab's namespaces in tests; everything else is Rust.
if ! command -v ip >/dev/null 2>&1; then
    log "installing iproute2"
    apt-get update -qq && apt-get install -y -qq iproute2
fi

if ! rustup toolchain list | grep -q "^${NIGHTLY}"; then
    log "installing the ${NIGHTLY} toolchain"
    rustup toolchain install "${NIGHTLY}" --profile minimal
fi

if ! rustup component list --toolchain "${NIGHTLY}" --installed | grep -q '^rust-src'; then
    log "adding rust-src to ${NIGHTLY}"
    rustup component add rust-src --toolchain "${NIGHTLY}"
fi

installed_linker_version() {
    command -v bpf-linker >/dev/null 2>&1 || return 0
    bpf-linker --version 2>/dev/null | awk '{print $2}'
}

if [ "$(installed_linker_version)" != "${BPF_LINKER_VERSION}" ]; then
    sysroot=$(rustc +"${NIGHTLY}" --print sysroot)
    versioned=$(cd "${sysroot}/lib" && ls libLLVM.so.* 2>/dev/null | head -n 1)
    if [ -z "${versioned}" ]; then
        log "error: no libLLVM.so.* in ${sysroot}/lib; cannot build bpf-linker against rustc's LLVM"
        exit 1
    fi
    major=$(printf '%s' "${versioned}" | sed -E 's/^libLLVM\.so\.([0-9]+).*/\1/')
    prefix="${CARGO_HOME:-$HOME/.cargo}/mcastlab-llvm-prefix"
    mkdir -p "${prefix}/lib"
    ln -sf "${sysroot}/lib/${versioned}" "${prefix}/lib/${versioned}"
    ln -sf "${sysroot}/lib/${versioned}" "${prefix}/lib/libLLVM.so"
    log "building bpf-linker ${BPF_LINKER_VERSION} against rustc's LLVM ${major} (about a minute)"
    LLVM_PREFIX="${prefix}" cargo +"${NIGHTLY}" install --locked bpf-linker \
        --version "${BPF_LINKER_VERSION}" --no-default-features --features "llvm-${major}"
fi

log "ok: $(rustc +"${NIGHTLY}" --version), bpf-linker $(installed_linker_version)"
