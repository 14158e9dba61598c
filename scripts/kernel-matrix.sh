#!/usr/bin/env bash
# The local kernel matrix: boots real Debian kernels under qemu (TCG: KVM is not usable on these
# machines) with a small initramfs holding mcastlab's privileged test binaries, runs them inside,
# and writes results/kernel-matrix/README.md (kernel x test -> pass / fail / unsupported) plus one
# log per kernel. Kernels come from Debian's package archive by package name and are cached
# outside the repository (MCASTLAB_KERNEL_CACHE, default /var/cache/mcastlab/kernels).
#
#   scripts/kernel-matrix.sh                 # the default kernels below
#   MCASTLAB_KERNELS="bookworm-backports:linux-image-6.12.95+deb12-cloud-amd64" scripts/kernel-matrix.sh
#   scripts/kernel-matrix.sh --table-only    # rebuild the table from the logs
#   MCASTLAB_TEST_FILTER=seed scripts/kernel-matrix.sh   # only tests whose names hold "seed"
#   MCASTLAB_LOOPS=for_each_map_elem MCASTLAB_MATRIX_OUT=results/kernel-matrix/for-each-loops \
#       scripts/kernel-matrix.sh             # the loops of kernels before 5.17, table elsewhere
#
# Needs root (apt, qemu). Not part of CI: under TCG the e2e suite takes minutes per kernel.
set -euo pipefail

# Usage (the comment above), then exit with status $1.
usage() {
    echo "usage: scripts/kernel-matrix.sh [--table-only] [-h|--help]"
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "$1"
}
# Arguments are read before anything is installed, downloaded or created.
table_only=false
for arg in "$@"; do
    case "$arg" in
    --table-only) table_only=true ;;
    -h | --help) usage 0 ;;
    *) usage 2 >&2 ;;
    esac
done

cd "$(dirname "$0")/.."
repo=$(pwd)

CACHE=${MCASTLAB_KERNEL_CACHE:-/var/cache/mcastlab/kernels}
KERNELS=${MCASTLAB_KERNELS:-"bullseye:linux-image-5.10.0-32-cloud-amd64
bookworm:linux-image-6.1.0-47-cloud-amd64
bookworm-backports:linux-image-6.12.95+deb12-cloud-amd64
trixie-backports:linux-image-6.16.12+deb13-cloud-amd64"}
TIMEOUT=${MCASTLAB_KERNEL_TIMEOUT:-2400}
# Test-name filter for both binaries (libtest's): empty runs every test.
FILTER=${MCASTLAB_TEST_FILTER:-}
# qemu's TCG threading: multi (a host thread per vCPU) or single (one for both, slower).
TCG_THREAD=${MCASTLAB_TCG_THREAD:-multi}
# The emulated CPU: every feature qemu has but CMPXCHG16B, whose emulation in qemu 7.2's TCG
# corrupted EFLAGS in SLUB's per-CPU allocator and double-faulted Debian's 6.12 (the kernel falls
# back to a lock without it).
CPU=${MCASTLAB_QEMU_CPU:-max,cx16=off}
# Modules the lab needs (their dependencies are added from modinfo).
MODULES="veth vxlan bridge sch_ingress cls_bpf"
# Where the table and the logs go.
OUT=${MCASTLAB_MATRIX_OUT:-results/kernel-matrix}
# How the dataplane's loops run inside the VMs (MCASTLAB_LOOPS, docs/kernels.md): empty probes.
LOOPS=${MCASTLAB_LOOPS:-}

log() { printf 'kernel-matrix: %s\n' "$*" >&2; }

mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial" "$OUT"
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
    awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
suites=$(printf '%s\n' $KERNELS | cut -d: -f1 | sort -u)
: >"$CACHE/apt/sources.list"
for suite in $suites; do
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
        >>"$CACHE/apt/sources.list"
done
apt_opts=(-o "Dir::Etc::sourcelist=$CACHE/apt/sources.list" -o "Dir::Etc::sourceparts=/dev/null"
    -o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::Cache=$CACHE/apt")

make_table() { # logs -> results/kernel-matrix/README.md
python3 - "$OUT" $KERNELS <<'PY'
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
packages = [e.split(":", 1)[1] for e in sys.argv[2:]]
results, kernels, cases = {}, {}, []
for package in packages:
    log = (out / f"{package}.log").read_text(errors="replace").splitlines()
    # The serial console puts terminal escapes before the first line of init.
    kernel = next((l.split("MATRIX-KERNEL", 1)[1].split()[0] for l in log if "MATRIX-KERNEL" in l), None)
    kernels[package] = kernel or "did not boot"
    loops = next((l.split("MATRIX-LOOPS", 1)[1].split()[0] for l in log if "MATRIX-LOOPS" in l), "probed")
    if loops != "probed":
        kernels[package] += f", loops in {loops}"
    finished = any("MATRIX-END" in l for l in log)
    binary, pending = None, None
    for line in log:
        if "MATRIX-BINARY" in line:
            binary = line.split("MATRIX-BINARY", 1)[1].split()[0]
        m = re.match(r"^test (\S+) \.\.\. (.*)$", line)
        if m:
            name, rest = f"{binary}::{m.group(1)}", m.group(2).strip()
            if name not in cases:
                cases.append(name)
            if rest.startswith("SKIPPED:"):
                reason = rest[len("SKIPPED:"):].strip()
                if "needs Linux" in reason and "too old" in reason:
                    reason = "kernel below " + reason.split("needs Linux", 1)[1].split()[0]
                elif "TCX" in reason:
                    reason = "no TCX (< 6.6)"
                results[(package, name)] = "unsupported: " + reason.replace("|", "/")
                pending = None
            elif rest in ("ok", "FAILED"):
                results[(package, name)] = "pass" if rest == "ok" else "fail"
            else:
                pending = name
        elif pending and line.strip() in ("ok", "FAILED"):
            results.setdefault((package, pending), "pass" if line.strip() == "ok" else "fail")
            pending = None
    if not finished:
        for name in cases:
            results.setdefault((package, name), "did not finish")
rows = ["# Kernel matrix", "",
        "Made by `scripts/kernel-matrix.sh`: each Debian kernel package boots under qemu (TCG) with the",
        "privileged test binaries in an initramfs (the BPF_PROG_TEST_RUN tests and the e2e suite, one",
        "test at a time). `unsupported` is the reason the dataplane's own kernel check gave, not a",
        "failure. Logs of each boot are beside this file.", "",
        "| test | " + " | ".join(f"{p} ({kernels[p]})" for p in packages) + " |",
        "|---|" + "---|" * len(packages)]
for name in cases:
    rows.append(f"| {name} | " + " | ".join(results.get((p, name), "-") for p in packages) + " |")
def seconds(p):
    f = out / f"{p}.seconds"
    return f"{f.read_text().strip()} s" if f.exists() else "-"
rows.append("| boot and run time (qemu TCG, 2 vCPUs) | " + " | ".join(seconds(p) for p in packages) + " |")
(out / "README.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
}

install_tools() {
    local missing=()
    command -v busybox >/dev/null || missing+=(busybox)
    command -v cpio >/dev/null || missing+=(cpio)
    command -v xz >/dev/null || missing+=(xz-utils)
    command -v modinfo >/dev/null || missing+=(kmod)
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    if ! command -v qemu-system-x86_64 >/dev/null; then
        # Where qemu-utils came from backports, qemu-system must come from there too.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 || {
            echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main" \
                >"$CACHE/apt/backports.list"
            local b=(-o "Dir::Etc::sourcelist=$CACHE/apt/backports.list" -o "Dir::State::Lists=$CACHE/apt/lists-bpo")
            mkdir -p "$CACHE/apt/lists-bpo/partial"
            apt-get "${b[@]}" update -qq
            DEBIAN_FRONTEND=noninteractive apt-get "${b[@]}" install -y -qq -t bookworm-backports qemu-system-x86
        }
    fi
}

fetch_kernel() { # package -> extracted folder
    local package=$1 dir="$CACHE/$1"
    if [ ! -d "$dir/boot" ]; then
        log "downloading $package"
        (cd "$CACHE" && apt-get "${apt_opts[@]}" download "$package" >/dev/null) || return 1
        mkdir -p "$dir"
        dpkg-deb -x "$CACHE/${package}"_*.deb "$dir"
    fi
    echo "$dir"
}

copy_with_libs() { # binary root
    local binary=$1 root=$2
    mkdir -p "$root/bin"
    cp "$binary" "$root/bin/"
    ldd "$binary" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

module_closure() { # moddir names... -> ordered list, dependencies first
    local moddir=$1; shift
    local -A seen=()
    local order=()
    visit() {
        local name=$1 file deps dep
        [ -n "${seen[$name]:-}" ] && return
        seen[$name]=1
        file=$(find "$moddir" -name "$name.ko*" | head -n 1)
        [ -z "$file" ] && return # built in
        deps=$(modinfo -F depends "$file" | tr ',' ' ')
        for dep in $deps; do visit "$dep"; done
        order+=("$file")
    }
    for name in "$@"; do visit "$name"; done
    printf '%s\n' "${order[@]}"
}

build_initramfs() { # kernel_dir tests... -> initramfs path
    local kdir=$1; shift
    local root
    root=$(mktemp -d)
    mkdir -p "$root"/{bin,proc,sys,dev,run,tmp,modules,tests,etc}
    copy_with_libs "$(command -v busybox)" "$root"
    for applet in sh mount mkdir insmod poweroff sysctl cat echo sleep ln uname; do
        ln -s busybox "$root/bin/$applet"
    done
    copy_with_libs "$(command -v ip)" "$root"
    copy_with_libs "$(command -v tc)" "$root"
    echo "$FILTER" >"$root/tests/filter"
    echo "$LOOPS" >"$root/tests/loops"
    for test in "$@"; do
        copy_with_libs "$test" "$root"
        mv "$root/bin/$(basename "$test")" "$root/tests/$(basename "$test" | sed 's/-[0-9a-f]*$//')"
    done
    local moddir
    # Merged-/usr kernels (trixie on) ship their modules under usr/lib.
    moddir=$(echo "$kdir"/lib/modules/* "$kdir"/usr/lib/modules/* | tr ' ' '\n' | grep -v '\*' | head -n 1)
    : >"$root/modules/order"
    for file in $(module_closure "$moddir" $MODULES); do
        local name
        name=$(basename "$file" | sed 's/\.ko.*//')
        case "$file" in
            *.xz) xz -dc "$file" >"$root/modules/$name.ko" ;;
            *.zst) zstd -dc "$file" >"$root/modules/$name.ko" ;;
            *) cp "$file" "$root/modules/$name.ko" ;;
        esac
        echo "$name" >>"$root/modules/order"
    done
    cat >"$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mkdir -p /run/netns /var
ln -s /run /var/run
for module in $(cat /modules/order); do insmod "/modules/$module.ko" 2>/dev/null; done
# Emulated instructions cost tens of times more: the tests wait longer (never the protocol
# timers), and the 1024-pod cases need more than the kernel's default 1024 open files.
export MCASTLAB_TEST_TIME_SCALE=4
export RUST_BACKTRACE=1
loops=$(cat /tests/loops)
if [ -n "$loops" ]; then export MCASTLAB_LOOPS="$loops"; fi
ulimit -n 65536
echo "MATRIX-KERNEL $(uname -r)"
echo "MATRIX-LOOPS ${MCASTLAB_LOOPS:-probed}"
cd /tests
for test in datapath e2e; do
    echo "MATRIX-BINARY $test"
    ./$test --test-threads 1 --nocapture $(cat /tests/filter) 2>&1
done
echo "MATRIX-END"
poweroff -f
INIT
    chmod +x "$root/init"
    local image="$CACHE/initramfs-$(basename "$kdir").cpio.gz"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$image"
    rm -rf "$root"
    echo "$image"
}

if [ "$table_only" = true ]; then
    make_table
    exit 0
fi

install_tools
log "updating the package lists of: $(echo $suites)"
apt-get "${apt_opts[@]}" update -qq
log "building the test binaries"
scripts/setup.sh
test_binaries() {
    cargo test --no-run --message-format=json "$@" 2>/dev/null |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])'
}
mapfile -t tests < <(test_binaries -p mcastlab-dataplane --test datapath; test_binaries -p mcastlab-lab --test e2e)
if [ "${#tests[@]}" -ne 2 ]; then
    log "error: expected the datapath and e2e test binaries, built: ${tests[*]:-none}"
    exit 1
fi

total=$(printf '%s\n' $KERNELS | wc -l)
done_count=0
matrix_start=$(date +%s)
for entry in $KERNELS; do
    package=${entry#*:}
    done_count=$((done_count + 1))
    elapsed=$(($(date +%s) - matrix_start))
    eta=""
    if [ "$done_count" -gt 1 ]; then
        eta=", about $((elapsed / (done_count - 1) * (total - done_count + 1))) s left"
    fi
    log "[$done_count/$total] $package (${elapsed} s so far$eta)"

    kdir=$(fetch_kernel "$package")
    vmlinuz=$(echo "$kdir"/boot/vmlinuz-*)
    if [ ! -f "$vmlinuz" ]; then
        log "error: no kernel in $kdir (is $package in Debian's archive?)"
        rm -rf "$kdir"
        exit 1
    fi
    image=$(build_initramfs "$kdir" "${tests[@]}")
    log "booting $package under qemu (TCG); log in $OUT/$package.log"
    start=$(date +%s)
    timeout "$TIMEOUT" qemu-system-x86_64 -accel "tcg,thread=$TCG_THREAD" -cpu "$CPU" -smp 2 -m 2048 \
        -kernel "$vmlinuz" -initrd "$image" -nographic -no-reboot \
        -append "console=ttyS0 panic=-1 quiet" </dev/null >"$OUT/$package.log" 2>&1 || true
    log "$package took $(($(date +%s) - start)) s"
    echo "$(($(date +%s) - start))" >"$OUT/$package.seconds"
done

make_table
