#!/usr/bin/env bash
# What the analytics histograms cost, side by side with the query without them: for each org
# size (default 1000 and 5000 queues) and each `--aggregates.histograms` setting (none: the
# query as it was before histograms, default: answer wait, all: answer wait, abandon wait and
# handle time), the release exporter runs at default settings against the simulator as a
# separate process (`genesys-exporter simulate`), as scripts/scale-bench.sh does, and the
# table gives the aggregates requests of one refresh and the requests a minute the budget
# plan counts for every collector (genesys_collector_requests, genesys_api_planned_
# requests_per_minute), the series served (genesys_exporter_series), and, over the 3 minutes
# after ready, the aggregates requests sent a minute and per completed refresh (the
# exporter's genesys_api_requests_total and genesys_collector_polls_total).
# Loopback only; every wait is bounded.
#   scripts/histogram-cost.sh [SIZES="1000 5000"] [SETTINGS="none default all"]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"1000 5000"}
settings=${2:-"none default all"}
# shellcheck source=scripts/procs.sh
source scripts/procs.sh
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n && v == "" {v = $2} END {print v}'; }
# Aggregates requests the exporter has sent (every status code), from its own counters.
sent() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^genesys_api_requests_total\{/ && /aggregates/ {s += $2} END {print s + 0}'; }

printf '| queues | --aggregates.histograms | aggregates requests of the last refresh at ready | planned requests/min, all collectors (Genesys: 300) | aggregates requests/min, 3 min after ready | per refresh | series |\n'
printf '|---|---|---|---|---|---|---|\n'
for n in $sizes; do
    for h in $settings; do
        simlog=$work/sim.log
        $bin simulate --listen 127.0.0.1:0 --queues "$n" > "$simlog" 2>/dev/null & simpid=$!; running="$running $simpid"
        for _ in $(seq 1 300); do [ -s "$simlog" ] && break; sleep 0.1; done
        read -r api login < <(sed -n '1s/api-url=\([^ ]*\) login-url=\(.*\)/\1 \2/p' "$simlog")
        port=$(free_port)
        $bin --genesys.api-url="$api" --genesys.login-url="$login" --web.listen-address="127.0.0.1:$port" \
            --genesys.requests-per-minute=200 --log.level=warn --aggregates.histograms="$h" & pid=$!; running="$running $pid"
        for _ in $(seq 1 900); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.2; done
        per_refresh=$(metric "$port" 'genesys_collector_requests{collector="aggregates"}' | cut -d. -f1)
        planned=$(metric "$port" genesys_api_planned_requests_per_minute)
        polls() { metric "$port" 'genesys_collector_polls_total{collector="aggregates"}' | cut -d. -f1; }
        a0=$(sent "$port"); p0=$(polls); sleep 180; a1=$(sent "$port"); p1=$(polls)
        series=$(metric "$port" genesys_exporter_series | cut -d. -f1)
        per_min=$(awk -v a="$((a1 - a0))" 'BEGIN {printf "%.1f", a / 3}')
        per_poll=$(awk -v a="$((a1 - a0))" -v p="$((p1 - p0))" 'BEGIN {if (p > 0) printf "%.1f", a / p; else print "n/a"}')
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$h" "$per_refresh" "$planned" "$per_min" "$per_poll" "$series"
        kill "$pid" "$simpid" 2>/dev/null || true
        wait "$pid" "$simpid" 2>/dev/null || true
        rm -f "$simlog"
    done
done
