#!/usr/bin/env bash
# Push vs poll benchmark: the release exporter against the simulator run as a separate process
# (`genesys-exporter simulate`), once per live mode and org size (default 100, 1000, 5000
# queues), each run against its own fresh simulator (same seed). "push" is --live.mode=auto
# (queue state pushed over notification-channel WebSockets, the observations query only to
# reconcile every --live.reconcile-interval and as fallback); "poll" is --live.mode=poll (the
# observations query every --collector.observations.interval). One table row per (size, mode):
# * freshness: seconds from a change in the simulator to its value on /metrics, p50 and p99
#   (nearest rank: with 30 changes p99 is the slowest one). The simulator is started with
#   PUSH_BENCH_SPIKES bursts of PUSH_BENCH_SPIKE_SIZE waiting conversations on as many distinct
#   queues, one a second from PUSH_BENCH_LEAD s after it starts, so they fall at every phase of
#   the poll interval (30 s covers two). A change counts as seen at the first /metrics response
#   (scraped every ~50 ms, one at a time) in which that queue's waiting count for some media
#   type is up by spike-size/2 on the last response before the change. The delay is measured
#   from the model time the spike is scheduled for (the simulator rounds a spike up to its next
#   whole second); the simulator applies it on its next 1 s wall-clock tick, so push freshness
#   includes 0-1 s of simulator lag that the poll path does not wait for (a query catches the
#   model up at once). The simulator ticks at the sub-second phase it printed its URLs at, so
#   that lag is the same for every change of a run: the details table shows it ("simulator
#   tick lag"); push freshness minus it is the exporter's own delay.
# * API cost in steady state: observation-query requests/min, counted from
#   genesys_api_requests_total over a window of whole poll intervals (>= PUSH_BENCH_WINDOW s)
#   after the freshness phase, with nobody scraping; next to it the expected rate (batches of
#   100 queues: every poll interval when polled, every reconcile interval when pushed). One
#   reconcile every 5 min rarely falls in a 60 s window: the push run of the largest size is
#   measured over one whole reconcile interval instead (PUSH_BENCH_LONG_WINDOW=0 turns that off).
# * events/s (genesys_live_events_total{topic="observations"}) and the exporter's CPU (from
#   /proc/PID/stat) over the same window, CPU per 1,000 events/s, and peak RSS (VmHWM, read at
#   the end of the run, so it includes the freshness phase's scrapes).
# A second table gives details per run (time to ready, queues pushed/polled, channels, the
# effective poll interval, reconcile differences, scrape period, window, simulator CPU, load).
# The aggregates collector is off (--no-collector.aggregates): its window families make a
# 5,000-queue /metrics body ~150 MB, too big to scrape every 50 ms, and its requests would
# stretch the observation interval; PUSH_BENCH_AGGREGATES=1 keeps it. Loopback only; every
# wait is bounded; the processes are stopped on exit.
#   scripts/push-bench.sh [SIZES="100 1000 5000"] [extra exporter flags...]
# Takes about 4 min per size, plus one reconcile interval (5 min) for the largest.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"100 1000 5000"}
shift $(( $# > 0 ? 1 : 0 ))
spikes=${PUSH_BENCH_SPIKES:-30}
spike_size=${PUSH_BENCH_SPIKE_SIZE:-100}
lead=${PUSH_BENCH_LEAD:-30}
window=${PUSH_BENCH_WINDOW:-60}
long_window=${PUSH_BENCH_LONG_WINDOW:-}
agg_flags=(--no-collector.aggregates)
[ "${PUSH_BENCH_AGGREGATES:-0}" = 1 ] && agg_flags=()
command -v python3 >/dev/null || { echo "python3 is missing" >&2; exit 2; }
hz=$(getconf CLK_TCK)
largest=$(tr ' ' '\n' <<<"$sizes" | sort -n | tail -1)

# shellcheck source=scripts/procs.sh
source scripts/procs.sh
untrack() { running=$(sed "s/ $1\b//" <<<"$running"); }

# --live.reconcile-interval among the extra flags (default 5m), in seconds.
reconcile_arg=5m prev=""
for a in "$@"; do
    case $a in --live.reconcile-interval=*) reconcile_arg=${a#*=} ;; esac
    [ "$prev" = --live.reconcile-interval ] && reconcile_arg=$a
    prev=$a
done
reconcile_s=$(python3 -c '
import re, sys
parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", sys.argv[1])
unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
print(sum(float(v) * unit[u] for v, u in parts) or 300)' "$reconcile_arg")
[ -n "$long_window" ] || long_window=$reconcile_s

# Freshness probe: scrapes /metrics one response at a time (~50 ms apart) from START to
# DEADLINE or until every change is seen; prints "p50 p99 seen total scrapes period_ms
# without_baseline", and per change "# queue_id due delay" on stderr.
cat > "$work/fresh.py" <<'EOF'
import http.client, math, sys, time
port, spikes_path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
start_at, deadline = float(sys.argv[4]), float(sys.argv[5])
spikes = [(float(due), qid) for due, qid in (l.split()[:2] for l in open(spikes_path))]
PREFIX = b'genesys_queue_conversations{queue_id="'
hint = {}

def waiting(body, qid, sec):
    """{media_type: waiting} of one queue, read from the contiguous block of its series."""
    needle = PREFIX + qid.encode() + b'"'
    h = hint.get(qid)
    i = body.find(needle, max(sec, h - 262144)) if h is not None else -1
    if i < 0 or i > h + 262144:
        i = body.find(needle, sec)
    if i < 0:
        return {}
    hint[qid] = i
    out = {}
    while body.startswith(needle, i):
        j = body.find(b'\n', i)
        line = body[i:j if j >= 0 else len(body)]
        if b'state="waiting"' in line:
            m = line.find(b'media_type="') + 12
            out[line[m:line.find(b'"', m)].decode()] = float(line.rsplit(b' ', 1)[1])
        if j < 0:
            break
        i = j + 1
    return out

time.sleep(max(0.0, start_at - time.time()))
conn, base, seen = None, {}, {}
scrapes, first, last = 0, None, None
while time.time() < deadline and len(seen) < len(spikes):
    try:
        if conn is None:
            conn = http.client.HTTPConnection('127.0.0.1', int(port), timeout=10)
        conn.request('GET', '/metrics')
        resp = conn.getresponse()
        t = time.time()  # headers in: the body was encoded before this
        body = resp.read()
    except (OSError, http.client.HTTPException):
        conn = None
        time.sleep(0.05)
        continue
    scrapes += 1
    first, last = first or t, t
    sec = body.find(b'\n' + PREFIX)
    if sec >= 0:
        for due, qid in spikes:
            if qid in seen:
                continue
            w = waiting(body, qid, sec)
            if t < due:
                base[qid] = w  # wholly before the change: the state it is compared with
            elif qid in base and any(v - base[qid].get(m, 0.0) >= size / 2 for m, v in w.items()):
                seen[qid] = t - due
    time.sleep(max(0.0, 0.05 - (time.time() - t)))
d = sorted(seen.values())
rank = lambda q: '%.2f' % d[max(0, math.ceil(q * len(d)) - 1)] if d else 'n/a'
period = '%.0f' % (1000 * (last - first) / (scrapes - 1)) if scrapes > 1 else 'n/a'
print(rank(0.5), rank(0.99), len(d), len(spikes), scrapes, period,
      sum(1 for _, q in spikes if q not in base))
for due, qid in spikes:
    print('#', qid, '%.3f' % due, '%.3f' % seen[qid] if qid in seen else 'unseen', file=sys.stderr)
EOF

now() { date +%s.%N; }
# Self-metrics: "obs_requests obs_events obs_polls pushed polled channels differences interval"
snapshot() {
    curl -s --max-time 60 "http://127.0.0.1:$1/metrics" | awk '
        index($0, "genesys_api_requests_total{endpoint=\"/api/v2/analytics/queues/observations/query\"") == 1 {req += $NF}
        $1 == "genesys_live_events_total{topic=\"observations\"}" {ev = $2}
        $1 == "genesys_collector_polls_total{collector=\"observations\"}" {polls = $2}
        $1 == "genesys_live_queues{delivery=\"push\"}" {push = $2}
        $1 == "genesys_live_queues{delivery=\"poll\"}" {poll = $2}
        $1 == "genesys_live_channels" {ch = $2}
        $1 == "genesys_live_reconcile_differences_total{reading=\"rows\"}" {drows = $2}
        $1 == "genesys_live_reconcile_differences_total{reading=\"groups\"}" {dgroups = $2}
        $1 == "genesys_live_event_reading{reading=\"groups\"}" {groups = $2}
        $1 == "genesys_collector_interval_seconds{collector=\"observations\"}" {iv = $2}
        END {diff = (groups == 1) ? dgroups : drows
             print req + 0, ev + 0, polls + 0, push + 0, poll + 0, ch + 0, diff + 0, iv + 0}'
}
# start_sim N ARGS... -> simpid, api, login, t_line (when it printed its URLs). A spike is due at
# the whole second after (the second the simulator scheduled it in) + its delay; that second is
# the one of t_line unless the line came just after a second boundary, so retry then.
start_sim() {
    local n=$1 try; shift
    for try in 1 2 3 4 5 6; do
        : > "$work/sim.out"
        api=""
        "$bin" simulate --listen 127.0.0.1:0 --queues "$n" "$@" \
            > >(while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done > "$work/sim.out") \
            2> "$work/sim.err" & simpid=$!
        running="$running $simpid"
        for _ in $(seq 1 1200); do
            [ -s "$work/sim.out" ] && break
            kill -0 "$simpid" 2>/dev/null || break
            sleep 0.05
        done
        read -r t_line api login < <(sed -n '1s/^\([^ ]*\) api-url=\([^ ]*\) login-url=\(.*\)$/\1 \2 \3/p' "$work/sim.out") || true
        if [ -z "$api" ]; then
            echo "the simulator did not start: $(cat "$work/sim.err")" >&2
            exit 1
        fi
        local frac=${t_line#*.}
        [ "${frac:0:1}" != 0 ] && return
        stop "$simpid"; untrack "$simpid"
    done
    echo "the simulator kept starting right after a second boundary" >&2
    exit 1
}

printf '| queues | mode | freshness p50 s | p99 s | changes measured | observation requests/min | events/s | exporter CPU %% of a core | CPU %% per 1,000 events/s | peak RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
details=""
totals=""
for n in $sizes; do
    size_start=$(now)
    # The simulator is deterministic: ask one run for queues spread over the org, spike them in
    # the next ones.
    start_sim "$n"
    python3 - "$api" "$login" "$n" "$spikes" > "$work/queues" <<'EOF'
import base64, json, sys, urllib.request
api, login, n, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if k > n:
    sys.exit('PUSH_BENCH_SPIKES=%d is more than the %d queues' % (k, n))
auth = base64.b64encode(b'bench:bench-secret').decode()
req = urllib.request.Request(login + '/oauth/token', data=b'grant_type=client_credentials',
                             headers={'Authorization': 'Basic ' + auth})
token = json.load(urllib.request.urlopen(req, timeout=30))['access_token']
for i in range(k):
    page = 1 + i * n // k
    req = urllib.request.Request('%s/api/v2/routing/queues?pageSize=1&pageNumber=%d' % (api, page),
                                 headers={'Authorization': 'Bearer ' + token})
    q = json.load(urllib.request.urlopen(req, timeout=30))['entities'][0]
    print(q['id'] + '\t' + q['name'])
EOF
    stop "$simpid"; untrack "$simpid"
    spike_args=()
    i=0
    while IFS=$'\t' read -r _ name; do
        spike_args+=(--spike "$name@+$((lead + i))s")
        i=$((i + 1))
    done < "$work/queues"

    for mode in push poll; do
        run_start=$(now)
        flag=auto
        [ "$mode" = poll ] && flag=poll
        start_sim "$n" "${spike_args[@]}" --spike-size "$spike_size"
        t0s=${t_line%.*}
        awk -v t="$t0s" -v lead="$lead" -F '\t' '{print t + lead + NR - 1, $1}' "$work/queues" > "$work/spikes"
        first_due=$((t0s + lead))
        last_due=$((t0s + lead + spikes - 1))
        port=$(free_port)
        "$bin" --genesys.api-url="$api" --genesys.login-url="$login" --web.listen-address="127.0.0.1:$port" \
            --log.level=warn --live.mode="$flag" "${agg_flags[@]}" "$@" > "$work/exporter.log" 2>&1 & pid=$!
        running="$running $pid"
        for _ in $(seq 1 1500); do
            curl -sf --max-time 5 "http://127.0.0.1:$port/-/ready" >/dev/null && break
            kill -0 "$pid" 2>/dev/null || { echo "the exporter exited:" >&2; cat "$work/exporter.log" >&2; exit 1; }
            sleep 0.2
        done
        ready=$(awk -v a="$(now)" -v b="$t_line" 'BEGIN {printf "%.1f", a - b}')
        if [ "$mode" = push ]; then # until the channels carry every queue (at most 60 s)
            for _ in $(seq 1 300); do
                read -r _ _ _ pushed _ < <(snapshot "$port")
                [ "${pushed%.*}" -ge "$n" ] && break
                sleep 0.2
            done
        fi
        if [ "$(date +%s)" -ge $((first_due - 1)) ]; then
            echo "warning: $n queues, $mode: the exporter was not ready before the first change; raise PUSH_BENCH_LEAD" >&2
        fi
        # Freshness.
        read -r _ _ _ _ _ _ _ iv < <(snapshot "$port")
        tail=$(awk -v iv="$iv" 'BEGIN {t = 3 * iv + 10; print (t < 60 ? 60 : int(t))}')
        read -r p50 p99 seen total scrapes period nobase < <(python3 "$work/fresh.py" "$port" "$work/spikes" \
            "$spike_size" $((first_due - 5)) $((last_due + tail)) 2> "$work/fresh.txt")
        if [ "$seen" != "$total" ]; then
            echo "$n queues, $mode: $((total - seen)) of $total changes not seen ($nobase without a baseline):" >&2
            grep unseen "$work/fresh.txt" >&2 || true
        fi
        # Steady state: a window of whole poll (or, for the largest size's push run, reconcile)
        # intervals with nobody scraping.
        if [ "$mode" = push ] && [ "$n" = "$largest" ] && [ "${long_window%.*}" -gt 0 ]; then
            w=$long_window
        else
            w=$(awk -v iv="$iv" -v w="$window" 'BEGIN {k = (iv > 0 ? int((w + iv - 0.001) / iv) : 1); print (iv > 0 ? k * iv : w)}')
        fi
        load=$(cut -d' ' -f1 /proc/loadavg)
        read -r req0 ev0 polls0 _ _ _ diff0 _ < <(snapshot "$port")
        a=$(now); c0=$(cpu_ticks "$pid"); s0=$(cpu_ticks "$simpid")
        sleep "$w"
        b=$(now); c1=$(cpu_ticks "$pid"); s1=$(cpu_ticks "$simpid")
        read -r req1 ev1 polls1 pushed polled channels diff1 iv < <(snapshot "$port")
        load="$load-$(cut -d' ' -f1 /proc/loadavg)"
        rss=$(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") / 1024 ))
        stop "$pid" "$simpid"
        running=""
        read -r rpm expected evps cpu per_k simcpu < <(awk -v dt="$(awk -v a="$a" -v b="$b" 'BEGIN {print b - a}')" \
            -v req="$((${req1%.*} - ${req0%.*}))" -v ev="$(awk -v a="$ev0" -v b="$ev1" 'BEGIN {print b - a}')" \
            -v c="$((c1 - c0))" -v s="$((s1 - s0))" -v hz="$hz" -v iv="$iv" -v rec="$reconcile_s" \
            -v pushed="$pushed" -v polled="$polled" -v mode="$mode" 'BEGIN {
                pb = int((pushed + 99) / 100); qb = int((polled + 99) / 100)
                ex = (mode == "push" ? pb * 60 / rec : 0) + (iv > 0 ? qb * 60 / iv : 0)
                cpu = 100 * c / hz / dt; evps = ev / dt
                printf "%.1f %.1f %.0f %.1f %s %.1f\n", 60 * req / dt, ex, evps, cpu,
                    (evps > 0 ? sprintf("%.2f", cpu / (evps / 1000)) : "n/a"), 100 * s / hz / dt}')
        wdesc=$(awk -v dt="$(awk -v a="$a" -v b="$b" 'BEGIN {print b - a}')" 'BEGIN {printf "%.0f", dt}')
        label="push (auto)"
        [ "$mode" = poll ] && label=poll
        [ "$mode" = poll ] && evps=0 per_k=n/a
        printf '| %s | %s | %s | %s | %s/%s | %s over %s s (expected %s) | %s | %s | %s | %s |\n' "$n" "$label" \
            "$p50" "$p99" "$seen" "$total" "$rpm" "$wdesc" "$expected" "$evps" "$cpu" "$per_k" "$rss"
        runtime=$(awk -v a="$(now)" -v b="$run_start" 'BEGIN {printf "%.0f", a - b}')
        details+=$(printf '| %s | %s | %s | 0.%s | %s / %s | %s | %s | %s | %s | %s ms (%s scrapes) | %s | %s | %s |' "$n" "$label" \
            "$ready" "$(cut -c1-2 <<<"${t_line#*.}")" "${pushed%.*}" "${polled%.*}" "${channels%.*}" "$iv" "$(awk -v a="$polls0" -v b="$polls1" 'BEGIN {print b - a}')" \
            "$(awk -v a="$diff0" -v b="$diff1" 'BEGIN {print b - a}')" "$period" "$scrapes" "$simcpu" "$load" "$runtime")$'\n'
    done
    totals+="$n queues: $(awk -v a="$(now)" -v b="$size_start" 'BEGIN {printf "%.0f", a - b}') s; "
done
printf '\n| queues | mode | sim start to ready s | simulator tick lag s | queues pushed / polled | channels | observation poll interval s | observation polls in window | reconcile differences in window (reading of events in use) | scrape period | simulator CPU %% of a core | load avg (window start-end) | run s |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
printf '%s' "$details"
printf '\nRuntime: %s\n' "${totals%; }"
