#!/usr/bin/env bash
# Clusters on separate network stacks: each server in its own network namespace, launched through
# the launch template (`ip netns exec <ns>{id} {command}`), the orchestrator in another one, all
# joined by veth links to a bridge on the private test subnet 10.77.0.0/24 (which exists only
# inside these namespaces). Runs
#   1. Table 1 (n = 5, δ = 10 ms): exact message counts, median latency within 5 % of theory;
#   2. a kill -9 of a remote server (a crash fault at 150 ms): the survivors decide every ticket,
#      no violation, no process left in any namespace;
# and removes every namespace it made, whatever happens.
#
# Usage (as root): tests/netns.sh            (builds target/release/ticketlab if missing)
#   TICKETLAB_BIN=path tests/netns.sh        (use this binary)
# Skips (exit 0, with a message) when not root or when `ip` is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "netns: skipped (needs root for ip netns; run: sudo tests/netns.sh)"
    exit 0
fi
if ! command -v ip >/dev/null 2>&1; then
    echo "netns: skipped (the ip command, from iproute2, is missing)"
    exit 0
fi

BIN=${TICKETLAB_BIN:-target/release/ticketlab}
if [ ! -x "$BIN" ]; then
    cargo build --release --locked --quiet
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

N=5
P="tl$$-"                   # namespace prefix: unique per invocation
HUB="${P}hub"
OUT=$(mktemp -d /tmp/ticketlab-netns.XXXXXX)
NAMESPACES=("$HUB")
for i in $(seq 0 "$N"); do NAMESPACES+=("$P$i"); done

cleanup() {
    local rc=$?
    for ns in "${NAMESPACES[@]}"; do
        if ip netns list 2>/dev/null | grep -qw -- "$ns"; then
            # Anything still running in it goes first (there should be nothing).
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    rm -rf "$OUT"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The hub: a bridge; namespace i: 10.77.0.(i+1) on a veth to it (0 is the orchestrator's).
ip netns add "$HUB"
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
ip -n "$HUB" link set lo up
HOSTS=()
for i in $(seq 0 "$N"); do
    ns="$P$i"
    ip netns add "$ns"
    ip link add eth0 netns "$ns" type veth peer name "p$i" netns "$HUB"
    ip -n "$HUB" link set "p$i" master br0 up
    ip -n "$ns" addr add "10.77.0.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    [ "$i" -gt 0 ] && HOSTS+=("\"10.77.0.$((i + 1))\"")
done
HOSTS_TOML="[$(IFS=,; echo "${HOSTS[*]}")]"
# The template runs from inside the orchestrator's namespace: `ip netns exec` enters the server's.
LAUNCH="ip netns exec $P{id} {command}"
echo "netns: $((N + 2)) namespaces (${P}0 orchestrator 10.77.0.1, ${P}1..${P}$N servers 10.77.0.2..$((N + 1)), bridge in $HUB)"
echo "netns: cluster.launch = \"$LAUNCH\", cluster.hosts = $HOSTS_TOML"

in_orch() { ip netns exec "${P}0" "$@"; }

# 1. Table 1 on separate network stacks.
in_orch "$BIN" run scenarios/table1.toml \
    --set "cluster.launch=\"$LAUNCH\"" --set "cluster.hosts=$HOSTS_TOML" \
    --format json --out "$OUT/table1" >"$OUT/table1.json"
python3 - "$OUT/table1.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for r in s["runs"]:
    p, th = r["protocol"], r["theory"]
    assert not r["violations"], p
    assert r["undecided"] == 0, p
    assert r["messages_per_ticket"] == th["messages_per_ticket"], (p, r["messages_per_ticket"])
    ratio = r["latency_delta"]["p50"] / th["latency_delta"]
    assert 0.99 <= ratio <= 1.05, (p, r["latency_delta"])
    print(f'netns table1: {p}: {r["messages_per_ticket"]:g} msgs/ticket (theory {th["messages_per_ticket"]}), '
          f'latency p50 {r["latency_delta"]["p50"]:.3f}δ max {r["latency_delta"]["max"]:.3f}δ (theory {th["latency_delta"]:g}δ)')
links = s["runs"][0]["links"]
assert len(links) == 5 + 5 * 4, len(links)
ctl = [l for l in links if l["from"] == "orchestrator"]
peer = [l for l in links if l["from"] != "orchestrator"]
rng = lambda k, ls: f'{min(l[k] for l in ls):g}..{max(l[k] for l in ls):g}'
print(f'netns links (2pe run): orchestrator->server rtt {rng("rtt_us", ctl)} µs, offset {rng("offset_us", ctl)} µs; '
      f'server->server rtt {rng("rtt_us", peer)} µs, offset {rng("offset_us", peer)} µs')
PY

# 2. kill -9 of a remote server: s5 crashes at 150 ms; tickets go to s1..s4.
cat >"$OUT/crash.toml" <<EOF
name = "netns-crash"
seed = 7
[cluster]
servers = 5
protocols = ["2pe", "se-ct"]
delta_ms = 10.0
launch = "$LAUNCH"
hosts = $HOSTS_TOML
[workload]
tickets = 30
submit_to = [1, 2, 3, 4]
[[fault]]
at_ms = 150.0
crash = [5]
EOF
in_orch "$BIN" run "$OUT/crash.toml" --format json --out "$OUT/crash" >"$OUT/crash.json"
python3 - "$OUT/crash.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for r in s["runs"]:
    p = r["protocol"]
    assert not r["violations"], p
    assert r["crashed"] == [5], (p, r["crashed"])
    assert r["undecided"] == 0 and r["accepted"] == r["tickets"], (p, r["accepted"], r["undecided"])
    print(f'netns crash: {p}: s5 killed (-9) at 150 ms on its own network stack; '
          f'{r["accepted"]}/{r["tickets"]} accepted by the survivors, 0 violations')
PY
left=0
for i in $(seq 1 "$N"); do
    pids=$(ip netns pids "$P$i")
    if [ -n "$pids" ]; then echo "netns: processes left in $P$i: $pids"; left=1; fi
done
[ "$left" = 0 ] || exit 1
echo "netns: no process left in any server namespace"
echo "netns: ok"
