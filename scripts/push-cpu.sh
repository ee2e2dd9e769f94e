#!/usr/bin/env bash
# CPU per pushed event: the release exporter (push, --live.mode=auto, aggregates off) against
# `genesys-exporter simulate --queues 5000 --agents-per-queue 40` (about 1,950 observation
# events/s) run as a separate process. Once the channels carry every queue
# (genesys_live_queues{delivery="push"} = queues), the exporter's CPU (utime + stime from
# /proc/PID/stat) and its events/s (genesys_live_events_total{topic="observations"}) are
# measured over PUSH_CPU_WINDOW seconds (60), PUSH_CPU_RUNS times (2) back to back, one table
# row each: events/s, CPU % of one core, CPU % per 1,000 events/s, that slope extrapolated to
# 5,000 events/s (the target: under 10 %), RSS, the observation polls inside the window (a
# reconcile every 5 min polls all queues and costs CPU of its own), the simulator's CPU and the
# load average (this machine may run other work: a high load makes the numbers less reliable).
# Nobody scrapes during a window except the two /metrics reads at its edges.
#   scripts/push-cpu.sh [QUEUES=5000] [AGENTS_PER_QUEUE=40] [extra exporter flags...]
# Loopback only; every wait is bounded; the processes are stopped on exit. About 3 min.
set -euo pipefail
cd "$(dirname "$0")/.."
queues=${1:-5000}
agents=${2:-40}
shift $(( $# > 2 ? 2 : $# ))
window=${PUSH_CPU_WINDOW:-60}
runs=${PUSH_CPU_RUNS:-2}
hz=$(getconf CLK_TCK)

# shellcheck source=scripts/procs.sh
source scripts/procs.sh

now() { date +%s.%N; }
# Self-metrics: "observation_events pushed_queues observation_polls"
snapshot() {
    curl -s --max-time 60 "http://127.0.0.1:$1/metrics" | awk '
        $1 == "genesys_live_events_total{topic=\"observations\"}" {ev = $2}
        $1 == "genesys_live_queues{delivery=\"push\"}" {push = $2}
        $1 == "genesys_collector_polls_total{collector=\"observations\"}" {polls = $2}
        END {print ev + 0, push + 0, polls + 0}'
}

"$bin" simulate --listen 127.0.0.1:0 --queues "$queues" --agents-per-queue "$agents" \
    > "$work/sim.out" 2> "$work/sim.err" & simpid=$!
running="$running $simpid"
api=""
for _ in $(seq 1 1200); do # 60 s
    read -r api login < <(sed -n '1s/^api-url=\([^ ]*\) login-url=\(.*\)$/\1 \2/p' "$work/sim.out") || true
    [ -n "$api" ] && break
    kill -0 "$simpid" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$api" ]; then
    echo "the simulator did not start: $(cat "$work/sim.err")" >&2
    exit 1
fi

port=$(free_port)
"$bin" --genesys.api-url="$api" --genesys.login-url="$login" --web.listen-address="127.0.0.1:$port" \
    --log.level=warn --no-collector.aggregates "$@" > "$work/exporter.log" 2>&1 & pid=$!
running="$running $pid"
start=$(now)
pushed=0
for _ in $(seq 1 600); do # at most ~2-3 min
    kill -0 "$pid" 2>/dev/null || { echo "the exporter exited:" >&2; cat "$work/exporter.log" >&2; exit 1; }
    read -r _ pushed _ < <(snapshot "$port") || true
    [ "${pushed%.*}" -ge "$queues" ] && break
    sleep 0.25
done
if [ "${pushed%.*}" -lt "$queues" ]; then
    echo "only ${pushed%.*} of $queues queues pushed after $(awk -v a="$(now)" -v b="$start" 'BEGIN {printf "%.0f", a - b}') s" >&2
    tail -20 "$work/exporter.log" >&2
    exit 1
fi
ready=$(awk -v a="$(now)" -v b="$start" 'BEGIN {printf "%.0f", a - b}')
echo "$queues queues pushed $ready s after the exporter started; $runs windows of $window s each"
echo
printf '| run | events/s | exporter CPU %% of a core | CPU %% per 1,000 events/s | extrapolated %% at 5,000 events/s | RSS MiB | observation polls in window | simulator CPU %% | load avg (start-end) |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for run in $(seq 1 "$runs"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r ev0 _ polls0 < <(snapshot "$port")
    a=$(now); c0=$(cpu_ticks "$pid"); s0=$(cpu_ticks "$simpid")
    sleep "$window"
    b=$(now); c1=$(cpu_ticks "$pid"); s1=$(cpu_ticks "$simpid")
    read -r ev1 _ polls1 < <(snapshot "$port")
    load="$load-$(cut -d' ' -f1 /proc/loadavg)"
    rss=$(( $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") / 1024 ))
    awk -v run="$run" -v dt="$(awk -v a="$a" -v b="$b" 'BEGIN {print b - a}')" \
        -v ev="$(awk -v a="$ev0" -v b="$ev1" 'BEGIN {print b - a}')" -v c="$((c1 - c0))" \
        -v s="$((s1 - s0))" -v hz="$hz" -v rss="$rss" -v load="$load" \
        -v polls="$(awk -v a="$polls0" -v b="$polls1" 'BEGIN {print b - a}')" 'BEGIN {
            cpu = 100 * c / hz / dt; evps = ev / dt
            perk = (evps > 0 ? cpu / (evps / 1000) : 0)
            printf "| %d | %.0f | %.1f | %s | %s | %d | %d | %.1f | %s |\n", run, evps, cpu,
                (evps > 0 ? sprintf("%.2f", perk) : "n/a"), (evps > 0 ? sprintf("%.1f", 5 * perk) : "n/a"),
                rss, polls, 100 * s / hz / dt, load}'
done
