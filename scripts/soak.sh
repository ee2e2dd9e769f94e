#!/usr/bin/env bash
# Soak test: the release exporter against `genesys-exporter simulate` for DURATION (default 1h;
# 90s, 10m, 2h or plain seconds), the simulator restarted on the same port with the next fault
# spec of a cycle every SOAK_FAULT_EVERY seconds (default: a twelfth of the run, 15s to 300s),
# /metrics scraped every second with curl. After the first minute and at the end it prints a
# markdown table of the exporter's RSS, open fds, CPU seconds and scrape p99 latency. Loopback
# only; stops by itself. Extra arguments go to the exporter.
#   scripts/soak.sh [DURATION=1h] [extra exporter flags...]
# Tools: bash, curl, awk, sort and coreutils. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "soak: $*" >&2; exit 2; }
for tool in curl awk sort; do
    command -v "$tool" >/dev/null || die "$tool is missing (e.g. apt-get install $tool)"
done

to_seconds() {
    [[ $1 =~ ^([0-9]+)([smh]?)$ ]] || return 1
    local n=$((10#${BASH_REMATCH[1]}))
    case ${BASH_REMATCH[2]} in
        h) echo $(( n * 3600 )) ;;
        m) echo $(( n * 60 )) ;;
        *) echo "$n" ;;
    esac
}
duration=${1:-1h}
total=$(to_seconds "$duration") || die "duration $duration: expected e.g. 90s, 10m, 1h or seconds"
[ "$total" -ge 10 ] || die "duration $duration: at least 10s"
shift $(( $# < 1 ? $# : 1 ))
if [ -n "${SOAK_FAULT_EVERY:-}" ]; then
    fault_every=$(to_seconds "$SOAK_FAULT_EVERY") || die "SOAK_FAULT_EVERY=$SOAK_FAULT_EVERY: expected e.g. 30s, 5m"
else
    fault_every=$(( total / 12 < 15 ? 15 : total / 12 > 300 ? 300 : total / 12 ))
fi
# The first row is taken after a minute (halfway through runs of two minutes or less).
first_row_at=$(( total > 120 ? 60 : total / 2 ))

# Each restart of the simulator applies the next spec ("none": a clean period). The restart
# itself is a fault too: connections drop and the old token is unknown to the new org (401).
# Push (the default --live.mode=auto) meets its own faults: sockets closed for maintenance,
# dropped or stalled, channel creation and subscriptions failing.
specs=(
    "observations:503x5,queues:429x3,token:reset,aggregates:delay=3s"
    "any:429x4,websocket:socket_closing"
    "none"
    "activity:resetx3,observations:500x2,aggregates:502x4,estimatedwait:503x3"
    "token:503x2,any:502x6,websocket:drop"
    "any:malformedx2,observations:mangledx5,aggregates:strippedx3,estimatedwait:malformedx2"
    "activity:delay=15sx2,observations:504x3,websocket:stall"
    "channels:503x2,subscriptions:resetx2,limits:500"
)

target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target="$PWD/$target" ;; esac
bin="$target/release/genesys-exporter"
echo "soak: building the release binary" >&2
cargo build --release --quiet --bin genesys-exporter

work=$(mktemp -d)
sim_pid=""; exp_pid=""
stop() {
    local pid
    for pid in $exp_pid $sim_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $exp_pid $sim_pid; do
        wait "$pid" 2>/dev/null || true
    done
}
cleanup() { stop; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

export GENESYS_CLIENT_ID=soak GENESYS_CLIENT_SECRET=soak-secret
sim_port=0
restarts=0
# Starts the simulator with spec number $1 (on the port of the first one), waits for its URLs.
start_sim() {
    local spec=${specs[$1 % ${#specs[@]}]} args=() line="" _
    [ "$spec" = none ] || args=(--faults "$spec")
    for _ in 1 2 3 4 5; do
        : > "$work/sim.out"
        "$bin" simulate --listen "127.0.0.1:$sim_port" "${args[@]}" \
            > "$work/sim.out" 2>> "$work/sim.log" &
        sim_pid=$!
        for _ in $(seq 1 100); do
            line=$(head -n 1 "$work/sim.out")
            [ -n "$line" ] && break
            kill -0 "$sim_pid" 2>/dev/null || break
            sleep 0.1
        done
        [ -n "$line" ] && break
        kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true
        sleep 1 # the port may still be held by the previous simulator
    done
    [ -n "$line" ] || die "the simulator did not start: $(tail -n 5 "$work/sim.log")"
    api_url=${line#api-url=}; api_url=${api_url%% *}
    login_url=${line##*login-url=}
    sim_port=${api_url##*:}
    echo "soak: $(date -u +%H:%M:%S) simulator on port $sim_port, faults: $spec" >&2
}
start_sim 0

"$bin" --genesys.api-url="$api_url" --genesys.login-url="$login_url" \
    --web.listen-address=127.0.0.1:0 --log.format=json --log.level=info \
    --collector.queues.interval=1m --collector.observations.interval=5s \
    --collector.activity.interval=5s --collector.aggregates.interval=15s \
    --collector.estimated_wait --collector.estimated_wait.interval=15s \
    "$@" 2> "$work/exporter.log" &
exp_pid=$!
addr=""
for _ in $(seq 1 100); do
    addr=$(grep '"serving metrics"' "$work/exporter.log" | grep -o '"addr":"[^"]*"' | head -n 1 | cut -d'"' -f4) || true
    [ -n "$addr" ] && break
    kill -0 "$exp_pid" 2>/dev/null || die "the exporter exited: $(tail -n 5 "$work/exporter.log")"
    sleep 0.1
done
[ -n "$addr" ] || die "the exporter did not say where it listens"
echo "soak: exporter pid $exp_pid on $addr, running $total s, faults cycled every $fault_every s" >&2

clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
# RSS in MiB, open fds, CPU seconds (user + system) of the exporter, tab-separated.
proc_stats() {
    local rss fds cpu
    rss=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$exp_pid/status")
    fds=$(ls "/proc/$exp_pid/fd" | wc -l)
    # Fields after the command name, which may hold spaces: utime and stime are 12th and 13th.
    cpu=$(sed 's/.*) //' "/proc/$exp_pid/stat" | awk -v hz="$clk_tck" '{printf "%.2f", ($12 + $13) / hz}')
    printf '%s\t%s\t%s' "$rss" "$fds" "$cpu"
}
# p99 (nearest rank) of the scrape times in file $1, in ms; and the count and failures.
latency() {
    sort -k2,2n "$1" | awk '
        { t[NR] = $2 * 1000; if ($1 != 200) failed++ }
        END {
            if (NR == 0) { print "-\t0\t0"; exit }
            i = int(NR * 0.99); if (i < NR * 0.99) i++
            printf "%.1f\t%d\t%d", t[i], NR, failed + 0
        }'
}
header='| at | elapsed | RSS MiB | open fds | CPU s | scrapes | failed | scrape p99 ms | simulator restarts |'
rule='|---|---|---|---|---|---|---|---|---|'
row() { # label, elapsed, proc stats, latency stats
    local rss fds cpu p99 n failed
    IFS=$'\t' read -r rss fds cpu <<< "$3"
    IFS=$'\t' read -r p99 n failed <<< "$4"
    printf '| %s | %ss | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$rss" "$fds" "$cpu" "$n" "$failed" "$p99" "$restarts"
}

start=$(date +%s)
last_restart=$start
: > "$work/scrapes.first"; : > "$work/scrapes.rest"
samples="$work/scrapes.first"
first=""
while :; do
    now=$(date +%s)
    elapsed=$(( now - start ))
    kill -0 "$exp_pid" 2>/dev/null || die "the exporter died after ${elapsed}s: $(tail -n 5 "$work/exporter.log")"
    if [ -z "$first" ] && (( elapsed >= first_row_at )); then
        first=$(row start "$elapsed" "$(proc_stats)" "$(latency "$work/scrapes.first")")
        printf '%s\n%s\n%s\n' "$header" "$rule" "$first"
        samples="$work/scrapes.rest"
    fi
    (( elapsed >= total )) && break
    if (( now - last_restart >= fault_every )); then
        kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true
        restarts=$(( restarts + 1 ))
        start_sim "$restarts"
        last_restart=$(date +%s)
    fi
    # HTTP status and seconds; a scrape that fails outright counts as status 000.
    curl -s -o /dev/null --max-time 10 -w '%{http_code} %{time_total}\n' "http://$addr/metrics" \
        >> "$samples" || true
    sleep 1
done
end=$(row end "$elapsed" "$(proc_stats)" "$(latency "$work/scrapes.rest")")
echo
printf '%s\n%s\n%s\n%s\n' "$header" "$rule" "$first" "$end"
echo "(start: the first ${first_row_at}s; end: the rest of the run; p99 over each period)"
echo "exporter warnings logged: $(grep -c '"level":"WARN"' "$work/exporter.log" || true)"
curl -s "http://$addr/metrics" | awk '/^genesys_up\{/ {printf "%s=%s ", $1, $2} END {print ""}'
