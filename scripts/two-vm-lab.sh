#!/usr/bin/env bash
# The two-VM lab (docs/lab.md, "Two VMs"): one node of lab "vm" per VM, vxlan between the VMs over
# their private network, the cross-node e2e check on two real, separate kernels.
#
# On a VM, as root, from the repository (the Vagrantfile's lab1/lab2 provisioning runs `node`):
#   scripts/two-vm-lab.sh node n1|n2      deploy this VM's node with its dataplane and agent
#                                         (replacing a previous one) and configure the group; the
#                                         agents learn which VM has members (no subscriber add)
#   scripts/two-vm-lab.sh receive n1|n2   pod p2 joins; exits 1 unless it gets COUNT datagrams,
#                                         once each, and pod p3 (not joined) gets no packet
#   scripts/two-vm-lab.sh send n1|n2      once this node has learned the other VM as a subscriber
#                                         (its pod joined), pod p1 sends COUNT datagrams
#   scripts/two-vm-lab.sh down            remove this VM's node (only what `node` made)
# On the machine that runs Vagrant:
#   scripts/two-vm-lab.sh check           receive on lab2 while lab1 sends, then the reverse
#
# Settings (environment): LAB (vm), GROUP (239.1.1.1), COUNT (20), N1_ADDRESS (192.168.56.11),
# N2_ADDRESS (192.168.56.12), PREFIX (24), MCASTLAB (target/release/mcastlab), TIMEOUT (30).
# `check` reaches the VMs with `vagrant ssh VM1|VM2` (lab1, lab2; repository at REMOTE_DIR,
# /root/mcastlab). TWO_VM_VIA=netns reaches them with `nsenter --net=/run/netns/VM` instead, to
# try everything on one machine with two namespaces as VMs (they each get their own lab, named
# like the namespace, since they share /run).
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SELF")/.."

LAB=${LAB:-vm}
GROUP=${GROUP:-239.1.1.1}
COUNT=${COUNT:-20}
N1_ADDRESS=${N1_ADDRESS:-192.168.56.11}
N2_ADDRESS=${N2_ADDRESS:-192.168.56.12}
PREFIX=${PREFIX:-24}
MCASTLAB=${MCASTLAB:-target/release/mcastlab}
TIMEOUT=${TIMEOUT:-30}
VM1=${VM1:-lab1}
VM2=${VM2:-lab2}
REMOTE_DIR=${REMOTE_DIR:-/root/mcastlab}
TWO_VM_VIA=${TWO_VM_VIA:-vagrant}

log() { printf 'two-vm-lab: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    echo "usage: scripts/two-vm-lab.sh node|receive|send n1|n2, down, check [-h|--help]"
    sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-0}"
}

# The node argument: n1 or n2.
node_arg() {
    case "${1:-}" in
    n1 | n2) printf '%s' "$1" ;;
    *) die "give the node this VM runs: n1 or n2 (got '${1:-}')" ;;
    esac
}

own_address() { if [ "$1" = n1 ]; then printf '%s' "$N1_ADDRESS"; else printf '%s' "$N2_ADDRESS"; fi; }
peer_address() { if [ "$1" = n1 ]; then printf '%s' "$N2_ADDRESS"; else printf '%s' "$N1_ADDRESS"; fi; }
# Pod p<j> of node n<i> has 10.200.<i>.<j> (the generated plan).
pod_address() { printf '10.200.%s.%s' "${1#n}" "${2#p}"; }

need_binary() {
    [ "$(id -u)" = 0 ] || die "run as root (namespaces, BPF)"
    [ -x "$MCASTLAB" ] || die "$MCASTLAB is missing: cargo build --release -p mcastlab"
}

cmd_node() {
    local node own peer
    node=$(node_arg "${1:-}")
    own=$(own_address "$node")
    peer=$(peer_address "$node")
    need_binary
    "$MCASTLAB" down --lab "$LAB" >/dev/null
    log "deploying node $node of lab $LAB on this machine (underlay $own/$PREFIX, peer $peer)"
    "$MCASTLAB" up --lab "$LAB" --nodes 2 --pods 3 --host "$node" \
        --underlay-address "$own/$PREFIX" --peer "$peer"
    "$MCASTLAB" group add --node "$LAB-$node" "$GROUP"
    log "node $node is up: scripts/two-vm-lab.sh receive|send $node"
}

cmd_receive() {
    local node joined out pid deadline unique duplicates spied
    node=$(node_arg "${1:-}")
    need_binary
    joined=$(pod_address "$node" p2)
    out=$(mktemp)
    trap 'rm -f "$out"' RETURN
    # p3 does not join: --spy captures on its eth0 and counts the frames to the group (the
    # agent's queries reach it too, and are not counted).
    "$MCASTLAB" recv --lab "$LAB" --node "$node" --pod p2 --group "$GROUP" --count "$COUNT" \
        --timeout "$TIMEOUT" --spy p3 -o json >"$out" &
    pid=$!
    # Ready once the join (IGMP) is in this node's dataplane, not after a guessed delay.
    deadline=$((SECONDS + 10))
    until "$MCASTLAB" subscriber list --node "$LAB-$node" "$GROUP" -o json | grep -q "\"$joined\""; do
        if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; then
            die "pod p2 ($joined) did not show up as a subscriber of $GROUP on $LAB-$node"
        fi
        sleep 0.1
    done
    echo "READY: $LAB-$node p2 ($joined) joined $GROUP; waiting up to ${TIMEOUT}s for $COUNT datagrams"
    wait "$pid" || die "mcastlab recv failed"
    unique=$(sed -n 's/.*"unique": *\([0-9]*\).*/\1/p' "$out")
    duplicates=$(sed -n 's/.*"duplicates": *\([0-9]*\).*/\1/p' "$out")
    spied=$(sed -n 's/.*"frames_to_group": *\([0-9]*\).*/\1/p' "$out")
    echo "RESULT: p2 (joined) received $unique of $COUNT, $duplicates duplicates;" \
        "p3 (not joined) received $spied frames to $GROUP"
    if [ "$unique" != "$COUNT" ] || [ "$duplicates" != 0 ] || [ "$spied" != 0 ]; then
        die "cross-node delivery to $node failed"
    fi
    echo "PASS: cross-node delivery to $node"
}

cmd_send() {
    local node peer deadline
    node=$(node_arg "${1:-}")
    peer=$(peer_address "$node")
    need_binary
    # Ready once this node's agent learned the other VM (its pod joined, its agent announced).
    deadline=$((SECONDS + 10))
    until "$MCASTLAB" subscriber list --node "$LAB-$node" "$GROUP" -o json | grep -q "\"$peer\""; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "$LAB-$node did not learn $peer as a subscriber of $GROUP (is its agent running?)"
        fi
        sleep 0.1
    done
    "$MCASTLAB" send --lab "$LAB" --node "$node" --pod p1 --group "$GROUP" --count "$COUNT" \
        --rate 100
}

cmd_down() {
    need_binary
    "$MCASTLAB" down --lab "$LAB"
}

# Runs this script with arguments $2... on VM $1.
on_vm() {
    local vm=$1
    shift
    case "$TWO_VM_VIA" in
    vagrant) vagrant ssh "$vm" -c "sudo LAB=$LAB GROUP=$GROUP COUNT=$COUNT $REMOTE_DIR/scripts/two-vm-lab.sh $*" ;;
    netns) LAB=$vm nsenter --net="/run/netns/$vm" "$SELF" "$@" ;;
    *) die "TWO_VM_VIA is vagrant or netns (got '$TWO_VM_VIA')" ;;
    esac
}

# Receives on $3 (node $4) while $1 (node $2) sends; fails unless the receiver passes.
check_direction() {
    local from=$1 from_node=$2 to=$3 to_node=$4 out pid deadline status
    log "$from ($from_node) sends, $to ($to_node) receives"
    out=$(mktemp)
    on_vm "$to" receive "$to_node" >"$out" 2>&1 &
    pid=$!
    deadline=$((SECONDS + 60))
    until grep -q '^READY' "$out"; do
        if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; then
            cat "$out" >&2
            rm -f "$out"
            die "the receiver on $to did not get ready (is the node deployed? scripts/two-vm-lab.sh node $to_node)"
        fi
        sleep 0.2
    done
    on_vm "$from" send "$from_node"
    status=0
    wait "$pid" || status=$?
    cat "$out"
    rm -f "$out"
    return "$status"
}

cmd_check() {
    if [ "$TWO_VM_VIA" = vagrant ]; then
        command -v vagrant >/dev/null 2>&1 || die "vagrant is not installed (or use TWO_VM_VIA=netns)"
    fi
    check_direction "$VM1" n1 "$VM2" n2
    check_direction "$VM2" n2 "$VM1" n1
    log "PASS: both directions between $VM1 and $VM2"
}

case "${1:-}" in
node | receive | send | down | check)
    command=$1
    shift
    "cmd_$command" "$@"
    ;;
-h | --help | help) usage 0 ;;
*) usage 2 >&2 ;;
esac
