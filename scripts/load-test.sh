#!/usr/bin/env bash
# Load test of /metrics: the release exporter in demo mode with QUEUES simulated queues, its
# collectors refreshing every few seconds, scraped by wrk (Debian package `wrk`) with
# CONNECTIONS concurrent connections for SECONDS. Prints one table; exits non-zero on any
# error or non-2xx answer. Loopback only; stops by itself.
#   scripts/load-test.sh [QUEUES=1000] [SECONDS=20] [CONNECTIONS=32] [extra exporter flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
queues=${1:-1000}; secs=${2:-20}; conns=${3:-32}
shift $(( $# < 3 ? $# : 3 ))
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cargo build --release --quiet --bin genesys-exporter
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
./target/release/genesys-exporter --demo --demo.queues="$queues" --web.listen-address="127.0.0.1:$port" \
    --collector.observations.interval=5s --collector.activity.interval=5s \
    --collector.aggregates.interval=10s --log.level=warn "$@" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break
    sleep 0.5
done
curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null || { echo "exporter never became ready" >&2; exit 1; }
body=$(mktemp); trap 'rm -f "$body"; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
curl -s "http://127.0.0.1:$port/metrics" -o "$body"
series=$(grep -c '^genesys_' "$body")
bytes=$(wc -c < "$body")
printf '| queues | series | body bytes | encoding | connections | seconds | requests | requests/s | p50 | p99 | errors |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
failed=0
for encoding in identity gzip; do
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s --latency -H "Accept-Encoding: $encoding" "http://127.0.0.1:$port/metrics")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
    sockerr=$(awk -F'[ ,]+' '/Socket errors/ {print $4+$6+$8+$10}' <<<"$out"); sockerr=${sockerr:-0}
    errors=$((non2xx + sockerr))
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$queues" "$series" "$bytes" "$encoding" \
        "$conns" "$secs" "$total" "$rps" "$p50" "$p99" "$errors"
    [ "$errors" -eq 0 ] || { echo "$out" >&2; failed=1; }
done
echo "peak RSS of the exporter: $(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 )) MiB"
exit "$failed"
