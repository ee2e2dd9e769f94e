#!/usr/bin/env bash
# Memory level over a long run: the release exporter against `genesys-exporter simulate` (its
# own process, so the RSS is the exporter's) at QUEUES queues for DURATION, with every
# analytics quantity on (`--aggregates.metrics=all`) unless other flags are given, scraped
# as Prometheus would (gzip, OpenMetrics, every 15 s). Samples VmRSS every 30 s and prints a
# table of one row per tenth of the run, then the verdict the issue asks for: the spread of
# the RSS over the last half of the run (max - min, against its mean), level when within 5 %.
# The simulator starts with SIM_HISTORY (default 2h10m) of traffic behind it: the exporter's
# default look-back (2 h) then holds history from its first poll, as with a real org. With the
# simulator's default 20 minutes the exporter's analytics state grows by one bucket of every
# queue every 5 minutes for the first 100 minutes, which is the look-back filling, not a leak.
# Its demand is held at the weekday peak (SIM_DEMAND, default peak): by the hour, an hour's run
# would cross the demand curve, and the exporter's state follows the traffic (at night it
# shrinks as the traffic does, which reads as a spread that is not the exporter's).
# Loopback only; stops by itself.
#   scripts/memory-level.sh [DURATION=1h] [QUEUES=5000] [exporter flags...]
# GENESYS_EXPORTER_BIN=path runs that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
to_seconds() {
    [[ $1 =~ ^([0-9]+)([smh]?)$ ]] || return 1
    local n=$((10#${BASH_REMATCH[1]}))
    case ${BASH_REMATCH[2]} in h) echo $((n * 3600)) ;; m) echo $((n * 60)) ;; *) echo "$n" ;; esac
}
duration=${1:-1h}
total=$(to_seconds "$duration") || { echo "duration $duration: e.g. 10m, 1h" >&2; exit 2; }
queues=${2:-5000}
shift $(( $# > 2 ? 2 : $# ))
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(--aggregates.metrics=all)
# shellcheck source=scripts/procs.sh
source scripts/procs.sh
rss() { awk '$1 == "VmRSS:" {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

$bin simulate --listen 127.0.0.1:0 --queues "$queues" --history "${SIM_HISTORY:-2h10m}" \
    --demand "${SIM_DEMAND:-peak}" > "$work/sim.log" 2>/dev/null & running="$running $!"
for _ in $(seq 1 300); do [ -s "$work/sim.log" ] && break; sleep 0.1; done
read -r api login < <(sed -n '1s/api-url=\([^ ]*\) login-url=\(.*\)/\1 \2/p' "$work/sim.log")
port=$(free_port)
url=http://127.0.0.1:$port
$bin --genesys.api-url="$api" --genesys.login-url="$login" --web.listen-address="127.0.0.1:$port" \
    --log.level=warn "${flags[@]}" & pid=$!; running="$running $pid"
for _ in $(seq 1 600); do curl -sf "$url/-/ready" >/dev/null && break; sleep 0.1; done

# Prometheus' scrape, every 15 s, on its own.
( while kill -0 "$pid" 2>/dev/null; do
    curl -s -o /dev/null -H 'Accept-Encoding: gzip' \
        -H 'Accept: application/openmetrics-text;version=1.0.0' "$url/metrics" || true
    sleep 15
  done ) & running="$running $!"

started=$(date +%s)
: > "$work/samples"
while :; do
    now=$(( $(date +%s) - started ))
    [ "$now" -le "$total" ] || break
    echo "$now $(rss "$pid")" >> "$work/samples"
    sleep 30
done
series=$(curl -s "$url/metrics" | awk '$1 == "genesys_exporter_series" {printf "%d", $2}')

echo "exporter flags: ${flags[*]}; $queues queues with ${SIM_HISTORY:-2h10m} of history at demand ${SIM_DEMAND:-peak}; $series series; RSS sampled every 30 s"
echo
echo "| minute | RSS |"
echo "|---|---|"
step=$(( total / 10 > 30 ? total / 10 : 30 ))
awk -v step="$step" '$1 >= next_at {printf "| %.0f | %s MiB |\n", $1 / 60, $2; next_at = $1 + step}' next_at=0 "$work/samples"
awk -v half=$(( total / 2 )) '$1 >= half {n++; s += $2; if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2}
    END {mean = s / n; spread = 100 * (max - min) / mean
         printf "\nlast half (%d samples): min %.1f MiB, max %.1f MiB, mean %.1f MiB, spread %.1f %% of the mean: %s\n",
             n, min, max, mean, spread, (spread <= 5 ? "level (within 5 %)" : "NOT level")}' "$work/samples"
