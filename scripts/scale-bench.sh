#!/usr/bin/env bash
# Scale benchmark: the release exporter against the simulator run as a separate process
# (`genesys-exporter simulate`, so the exporter's memory and CPU are its own), with nginx beside
# it serving the very bytes the exporter served, pre-compressed (`gzip_static`). For each org
# size (default 36, 1000 and 5000 queues) and live mode (default auto, the default mode, which
# pushes, and poll) prints one table row:
#   - series (`genesys_exporter_series`), body plain and gzip;
#   - /metrics throughput with gzip, `wrk -t2 -c32 -d10s` three times (the median, and the
#     range), against the exporter and against nginx serving the same gzip bytes, and the
#     exporter's CPU per such scrape over the three;
#   - the exporter's peak RSS under that load (the peak is reset just before it), and its RSS
#     and CPU idle (10 s with nobody scraping, the collectors polling and events arriving),
#     and the observation events pushed a second meanwhile (none in poll mode);
#   - the simulator's CPU over the exporter's three wrk runs, as a share of one core: it stands
#     in for Genesys, which runs elsewhere, but here it shares the two cores with the exporter
#     and wrk (more in push mode, whose events it pumps, than in poll mode);
#   - a re-encoding scrape, p50 and p99 of 10, OpenMetrics with gzip as Prometheus asks: each
#     after `POST /-/reload` (hence --web.enable-lifecycle), which encodes every piece anew;
#   - seconds from start to `/-/ready` answering 200, to the first live series, and to every
#     collector's first poll done (the analytics catch up after ready); the rest is measured
#     after that, on the whole body.
# After the table, for each size run in both modes: push mode's mean scrapes/s against poll
# mode's, and the same over nginx's in each row (the machine's speed at that moment).
# The simulator's demand is held at the weekday peak (`--demand peak`, SIM_DEMAND to change it):
# by the hour, a run at night would see a twentieth of the traffic of one at 10:00 UTC, and
# push mode's events (about 480 a second at 5,000 queues at the peak) with it.
# Loopback only; every wait is bounded.
#   scripts/scale-bench.sh [SIZES="36 1000 5000"] [MODES="auto poll"] [extra exporter flags...]
# GENESYS_EXPORTER_BIN=path runs that binary instead of building the release one.
# Needs wrk and nginx (Debian: apt-get install -y wrk nginx; installed here when missing, as
# root with apt-get), curl, python3 and gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"36 1000 5000"}
modes=${2:-"auto poll"}
shift $(( $# > 2 ? 2 : $# ))
need() { # command package
    command -v "$1" >/dev/null && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y "$2" >/dev/null
    else
        echo "$1 is missing: apt-get install -y $2" >&2; exit 2
    fi
}
need wrk wrk
need nginx nginx
# shellcheck source=scripts/procs.sh
source scripts/procs.sh
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%d", k / 1024}'; }
hz=$(getconf CLK_TCK)
chmod 755 "$work"
mkdir -p "$work/www"

# nginx serves $work/www/metrics.gz for /metrics to clients that accept gzip.
nport=$(free_port)
cat > "$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx.err;
user $(id -un);
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp;
    scgi_temp_path $work/tmp;
    server {
        listen 127.0.0.1:$nport;
        root $work/www;
        default_type text/plain;
        location / { gzip_static on; }
    }
}
EOF
nginx -c "$work/nginx.conf" -g 'daemon off;' & running="$running $!"

scrapes() { # URL -> "median (min-max)" requests/s of three `wrk -t2 -c32 -d10s` with gzip, the
    # median alone in $work/rps and the requests of all three in $work/total. Three, because a
    # 10 s run that meets an analytics refresh (every minute or so: the simulator answers and
    # the exporter re-encodes the analytics) is several percent slower than one that does not.
    local out rps=() total=0
    for _ in 1 2 3; do
        out=$(wrk -t2 -c32 -d10s --timeout 10s -H 'Accept-Encoding: gzip' "$1")
        if grep -q 'Non-2xx' <<<"$out"; then echo "wrk: errors from $1" >&2; echo "$out" >&2; exit 1; fi
        rps+=("$(awk '/^Requests\/sec:/ {printf "%d", $2}' <<<"$out")")
        total=$((total + $(awk '/requests in/ {print $1}' <<<"$out")))
    done
    echo "$total" > "$work/total"
    printf '%s\n' "${rps[@]}" | sort -n | awk '{r[NR] = $1} END {print r[2] > "'"$work/rps"'"; printf "%d (%d-%d)", r[2], r[1], r[3]}'
}

printf '| queues | series | body plain / gzip | mode | gzip scrapes/s | nginx, same bytes | exporter CPU per scrape | peak RSS under load | idle RSS | idle CPU (one core) | events pushed a second | simulator CPU under load (one core) | re-encoding scrape p50 / p99 | ready / first live series / every collector polled |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for n in $sizes; do
    for mode in $modes; do
        simlog=$work/sim.log
        : > "$simlog"
        $bin simulate --listen 127.0.0.1:0 --queues "$n" --demand "${SIM_DEMAND:-peak}" > "$simlog" 2>/dev/null & simpid=$!; running="$running $simpid"
        for _ in $(seq 1 300); do [ -s "$simlog" ] && break; sleep 0.1; done
        read -r api login < <(sed -n '1s/api-url=\([^ ]*\) login-url=\(.*\)/\1 \2/p' "$simlog")
        port=$(free_port)
        url=http://127.0.0.1:$port
        started=$(date +%s.%N)
        $bin --genesys.api-url="$api" --genesys.login-url="$login" --web.listen-address="127.0.0.1:$port" \
            --genesys.requests-per-minute=200 --log.level=warn --web.enable-lifecycle \
            --live.mode="$mode" "$@" & pid=$!; running="$running $pid"
        since() { awk -v now="$(date +%s.%N)" -v t="$started" 'BEGIN {printf "%.1f", now - t}'; }
        ready=n/a
        for _ in $(seq 1 3000); do curl -sf "$url/-/ready" >/dev/null && { ready=$(since); break; }; sleep 0.1; done
        first=n/a
        for _ in $(seq 1 3000); do
            # Read to the end (grep -q would stop early, and pipefail fail the pipe).
            live=$(curl -s -H 'Accept-Encoding: gzip' "$url/metrics" | gunzip -c | grep -c '^genesys_queue_conversations{' || true)
            [ "${live:-0}" -gt 0 ] && { first=$(since); break; }
            sleep 0.1
        done
        # The analytics join after ready (their first poll catches up on the day): measured with
        # every collector's first poll done, so the body is the whole one.
        full=n/a
        for _ in $(seq 1 3000); do
            # gzip, as every other scrape here: a plain one would keep a plain copy in memory.
            if curl -s -H 'Accept-Encoding: gzip' "$url/metrics" | gunzip -c | awk '$1 ~ /^genesys_collector_polls_total/ {n++; if ($2 < 1) low++}
                    END {exit !(n > 0 && low == 0)}'; then
                full=$(since); break
            fi
            sleep 0.5
        done
        # The bytes nginx serves: what the exporter answers a gzip scrape (text format).
        curl -s -H 'Accept-Encoding: gzip' -o "$work/www/metrics.gz" "$url/metrics"
        chmod 644 "$work/www/metrics.gz"
        gzbytes=$(stat -c %s "$work/www/metrics.gz")
        series=$(gunzip -c "$work/www/metrics.gz" | awk '$1 == "genesys_exporter_series" {printf "%d", $2}')
        # Idle: 10 s with nobody scraping; the events pushed meanwhile, read before and after.
        events() { curl -s -H 'Accept-Encoding: gzip' "$url/metrics" | gunzip -c |
            awk '$1 == "genesys_live_events_total{topic=\"observations\"}" {printf "%d", $2; found = 1}
                END {if (!found) print 0}'; }
        e0=$(events); et0=$(date +%s.%N)
        t0=$(cpu_ticks "$pid"); sleep 10; t1=$(cpu_ticks "$pid")
        e1=$(events); et1=$(date +%s.%N)
        events_per_s=$(awk -v d="$((e1 - e0))" -v a="$et0" -v b="$et1" 'BEGIN {printf "%d", d / (b - a)}')
        idle_cpu=$(awk -v d="$((t1 - t0))" -v hz="$hz" 'BEGIN {printf "%.2f", 100 * d / hz / 10}')
        idle_rss=$(mib "$(kib "$pid" VmRSS)")
        # Re-encoding scrapes: a reload encodes every piece anew.
        reencode=$(for _ in $(seq 1 10); do
            code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/-/reload")
            [ "$code" = 200 ] || { echo "POST /-/reload answered $code" >&2; exit 1; }
            curl -s -o /dev/null -w '%{time_total}\n' -H 'Accept-Encoding: gzip' \
                -H 'Accept: application/openmetrics-text;version=1.0.0' "$url/metrics"
        done | sort -n | awk '{t[NR] = $1} END {printf "%.0f / %.0f ms", 1000 * t[int((NR + 1) / 2)], 1000 * t[NR]}')
        # Under load: the peak RSS is reset first (clear_refs 5), so it is this load's.
        echo 5 > "/proc/$pid/clear_refs"
        w0=$(cpu_ticks "$pid"); s0=$(cpu_ticks "$simpid"); l0=$(date +%s.%N)
        rps=$(scrapes "$url/metrics")
        median=$(cat "$work/rps")
        w1=$(cpu_ticks "$pid"); s1=$(cpu_ticks "$simpid"); l1=$(date +%s.%N)
        sim_cpu=$(awk -v d="$((s1 - s0))" -v hz="$hz" -v a="$l0" -v b="$l1" 'BEGIN {printf "%.1f", 100 * d / hz / (b - a)}')
        total=$(cat "$work/total")
        per_scrape=$(awk -v d="$((w1 - w0))" -v hz="$hz" -v n="$total" 'BEGIN {printf "%.2f", 1000 * d / hz / n}')
        peak=$(mib "$(kib "$pid" VmHWM)")
        nginx_rps=$(scrapes "http://127.0.0.1:$nport/metrics")
        echo "$n $mode $median $(cat "$work/rps")" >> "$work/medians"
        plain=$(curl -s "$url/metrics" | wc -c)
        human() { awk -v b="$1" 'BEGIN {if (b >= 1e6) printf "%.1f MB", b / 1e6; else printf "%.0f kB", b / 1e3}'; }
        label=$mode
        [ "$mode" = auto ] && label="auto (default: push)"
        printf '| %s | %s | %s / %s | %s | %s | %s | %s ms | %s MiB | %s MiB | %s %% | %s | %s %% | %s | %s s / %s s / %s s |\n' \
            "$n" "$series" "$(human "$plain")" "$(human "$gzbytes")" "$label" "$rps" "$nginx_rps" \
            "$per_scrape" "$peak" "$idle_rss" "$idle_cpu" "$events_per_s" "$sim_cpu" "$reencode" "$ready" "$first" "$full"
        kill "$pid" "$simpid" 2>/dev/null || true
        wait "$pid" "$simpid" 2>/dev/null || true
    done
done
# Push against poll, per size with both: the mean of each mode's medians, and of each over
# nginx's in its row (nginx serves the same bytes right after, so that ratio takes out how
# much of the machine was left at that moment, which moves from row to row by more than the
# modes differ).
[ -s "$work/medians" ] && awk '
    {k = $1 " " $2; n[k]++; r[k] += $3; q[k] += $3 / $4; sizes[$1] = 1}
    END {
        for (s in sizes) {
            a = s " auto"; p = s " poll"
            if (!(a in n) || !(p in n)) continue
            printf "\n%s queues: push %.0f against poll %.0f scrapes/s (%d and %d rows): %.2fx; over nginx %.2f against %.2f: %.2fx\n",
                s, r[a] / n[a], r[p] / n[p], n[a], n[p], (r[a] / n[a]) / (r[p] / n[p]),
                q[a] / n[a], q[p] / n[p], (q[a] / n[a]) / (q[p] / n[p])
        }
    }' "$work/medians"
