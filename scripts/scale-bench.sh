#!/usr/bin/env bash
# Scale benchmark: the release exporter against the simulator run as a separate process
# (`genesys-exporter simulate`), so the exporter's memory and CPU are its own. For each org size
# (default 100, 1000, 5000 queues) prints one table row: API requests per refresh and per
# minute (next to Genesys' 300), series and body size (plain and gzip), the time a scrape takes
# when it has to encode the body afresh (median and p99 of 30, in plain text and as Prometheus
# asks: OpenMetrics with gzip; POST /-/reload before each one changes a self-metric), /metrics throughput with
# gzip under 32 connections and the exporter's CPU per such scrape, the exporter's peak RSS and
# idle CPU, and freshness (seconds from a spike in the
# simulator to its value on /metrics). Loopback only; every wait is bounded.
#   scripts/scale-bench.sh [SIZES="100 1000 5000"] [extra exporter flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"100 1000 5000"}
shift $(( $# > 0 ? 1 : 0 ))
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cargo build --release --quiet --bin genesys-exporter
bin=./target/release/genesys-exporter
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n && v == "" {v = $2} END {print v}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
export GENESYS_CLIENT_ID=bench GENESYS_CLIENT_SECRET=bench-secret

printf '| queues | requests/live refresh | requests/aggregates refresh | planned requests/min (Genesys allows 300) | series | body | gzip body | re-encoding scrape ms, text p50 | p99 | OpenMetrics+gzip p50 | p99 | gzip req/s, 32 conns | their p99 | exporter CPU ms/scrape | peak RSS MiB | idle CPU %% of a core | freshness s |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
start_sim() { # n spike-args... -> sets simpid, api, login
    local n=$1; shift
    simlog=$(mktemp)
    $bin simulate --listen 127.0.0.1:0 --queues "$n" "$@" > "$simlog" 2>/dev/null & simpid=$!
    for _ in $(seq 1 300); do [ -s "$simlog" ] && break; sleep 0.1; done
    read -r api login < <(sed -n '1s/api-url=\([^ ]*\) login-url=\(.*\)/\1 \2/p' "$simlog")
}
spike_delay=150
for n in $sizes; do
    # The simulator is deterministic: ask one run for a queue name, spike it in the next.
    start_sim "$n"
    token=$(curl -s -u "$GENESYS_CLIENT_ID:$GENESYS_CLIENT_SECRET" -d grant_type=client_credentials "$login/oauth/token" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
    queue=$(curl -s -H "Authorization: Bearer $token" "$api/api/v2/routing/queues?pageSize=1" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["entities"][0]["name"])')
    kill "$simpid"; wait "$simpid" 2>/dev/null || true
    start_sim "$n" --spike "$queue@+${spike_delay}s" --spike-size 100
    spike_at=$(( $(date +%s) + spike_delay ))
    port=$(free_port)
    $bin --genesys.api-url="$api" --genesys.login-url="$login" --web.listen-address="127.0.0.1:$port" \
        --genesys.requests-per-minute=200 --log.level=warn "$@" & pid=$!
    trap 'kill $pid $simpid 2>/dev/null || true' EXIT
    for _ in $(seq 1 900); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.2; done
    live=$(( $(metric "$port" 'genesys_collector_requests{collector="observations"}' | cut -d. -f1) + 1 ))
    agg=$(metric "$port" 'genesys_collector_requests{collector="aggregates"}' | cut -d. -f1)
    planned=$(metric "$port" genesys_api_planned_requests_per_minute)
    series=$(metric "$port" genesys_exporter_series | cut -d. -f1)
    bytes=$(curl -s "http://127.0.0.1:$port/metrics" | wc -c)
    gzbytes=$(curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/metrics" | wc -c)
    # Idle CPU: 30 s with nobody scraping but the collectors polling.
    t0=$(cpu_ticks "$pid"); sleep 30; t1=$(cpu_ticks "$pid")
    idle=$(awk -v d="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", 100 * d / hz / 30}')
    # Freshness: from the spike in the simulator to 50+ waiting on /metrics for that queue.
    fresh=n/a
    for _ in $(seq 1 1500); do
        waiting=$(curl -s "http://127.0.0.1:$port/metrics" | awk -v q="queue=\"$queue\"" \
            'index($0, "genesys_queue_conversations{") == 1 && index($0, q) && index($0, "state=\"waiting\"") {s += $NF} END {print s + 0}')
        if [ "${waiting%.*}" -ge 50 ]; then
            fresh=$(awk -v now="$(date +%s.%N)" -v t="$spike_at" 'BEGIN {printf "%.1f", now - t}'); break
        fi
        sleep 0.2
    done
    # Render time: a scrape right after a change pays a full encoding; plain text (the
    # encoding alone) and what Prometheus asks for (OpenMetrics, gzip: encoding + compression).
    render() { # curl headers... -> "p50 p99" in ms over 30 scrapes
        for _ in $(seq 1 30); do
            curl -s -o /dev/null -X POST "http://127.0.0.1:$port/-/reload"
            curl -s -o /dev/null -w '%{time_starttransfer}\n' "$@" "http://127.0.0.1:$port/metrics"
        done | sort -n | awk '{t[NR] = $1} END {printf "%.1f %.1f\n", 1000 * t[int((NR + 1) / 2)], 1000 * t[int(NR * 0.99 + 0.999)]}'
    }
    read -r plain_p50 plain_p99 < <(render)
    read -r gzip_p50 gzip_p99 < <(render -H 'Accept-Encoding: gzip' -H 'Accept: application/openmetrics-text;version=1.0.0')
    w0=$(cpu_ticks "$pid")
    out=$(wrk -t2 -c32 -d10s --timeout 10s --latency -H "Accept-Encoding: gzip" "http://127.0.0.1:$port/metrics")
    w1=$(cpu_ticks "$pid")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    per_scrape=$(awk -v d="$((w1 - w0))" -v hz="$(getconf CLK_TCK)" -v n="$total" 'BEGIN {printf "%.2f", 1000 * d / hz / n}')
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    rss=$(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 ))
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$live" "$agg" \
        "$planned" "$series" "$bytes" "$gzbytes" "$plain_p50" "$plain_p99" "$gzip_p50" "$gzip_p99" "$rps" "$p99" "$per_scrape" "$rss" "$idle" "$fresh"
    kill "$pid" "$simpid" 2>/dev/null || true; wait "$pid" "$simpid" 2>/dev/null || true
    trap - EXIT
done
