#!/usr/bin/env bash
# Many orgs: one exporter watching N orgs (`orgs:` in the config file) side by side with N
# single-org exporters, against the same N simulated orgs (`genesys-exporter simulate --orgs N`,
# a separate process, so its work is not counted). Default: 20 orgs of 250 queues, the
# exporters at default settings (push where Genesys permits, budget 200 requests/min per org).
# Each mode runs for ORGS_BENCH_WINDOW seconds (default 300) after every org is ready; then:
# * RSS: VmRSS of the one process, or the sum over the N processes, at the end of the window;
#   peak (VmHWM) likewise;
# * CPU: user+system time over the window (from /proc/PID/stat), as % of one core;
# * requests/min per org: genesys_api_requests_total of each org over the window, min / max /
#   sum over the orgs, and the budget each org has (genesys_api_budget_requests_per_minute);
#   "within budget" when no org exceeded its own.
# Loopback only; every wait is bounded; the processes are stopped on exit.
#   scripts/orgs-bench.sh [ORGS=20] [QUEUES=250] [extra exporter flags...]
# Takes about 2 x ORGS_BENCH_WINDOW plus start-up (~11 min at the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
orgs=${1:-20}
queues=${2:-250}
shift $(( $# > 1 ? 2 : $# ))
window=${ORGS_BENCH_WINDOW:-300}
command -v python3 >/dev/null || { echo "python3 is missing" >&2; exit 2; }
hz=$(getconf CLK_TCK)

# shellcheck source=scripts/procs.sh
source scripts/procs.sh

# The simulated orgs: one line each, `org=NAME api-url=URL login-url=URL client-id=ID`.
"$bin" simulate --listen 127.0.0.1:0 --orgs "$orgs" --queues "$queues" >"$work/sim.out" 2>"$work/sim.err" &
sim=$!
running="$running $sim"
for _ in $(seq 1 600); do
    [ "$(grep -c '^org=' "$work/sim.out" || true)" -ge "$orgs" ] && break
    kill -0 $sim 2>/dev/null || { cat "$work/sim.err" >&2; exit 1; }
    sleep 0.1
done
[ "$(grep -c '^org=' "$work/sim.out" || true)" -ge "$orgs" ] || { echo "simulator did not start" >&2; exit 1; }

# One secret file per org, and the multi-org config file.
{
    echo "orgs:"
    while read -r line; do
        eval "$(sed 's/api-url/api_url/; s/login-url/login_url/; s/client-id/client_id/' <<<"$line")"
        printf '%s' "$GENESYS_CLIENT_SECRET-$org" >"$work/$org.secret"
        printf '  - name: %s\n    genesys: {api_url: "%s", login_url: "%s", client_id: "%s", client_secret_file: "%s"}\n' \
            "$org" "$api_url" "$login_url" "$client_id" "$work/$org.secret"
    done < <(grep '^org=' "$work/sim.out")
} >"$work/orgs.yml"

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/-/ready" 2>/dev/null | grep -q 200; }

# measure MODE PORT... : waits for every port to be ready, then measures the window.
measure() {
    local mode=$1; shift
    local pids=$1; shift
    local ports=("$@") p
    for _ in $(seq 1 1200); do
        local all=1
        for p in "${ports[@]}"; do ready "$p" || all=0; done
        [ "$all" = 1 ] && break
        sleep 0.25
    done
    for p in "${ports[@]}"; do ready "$p" || { echo "$mode: port $p not ready" >&2; exit 1; }; done
    local i=0 pid
    for p in "${ports[@]}"; do curl -s "http://127.0.0.1:$p/metrics" >"$work/$mode.before.$i"; i=$((i+1)); done
    local t0 c0=0 c1=0
    t0=$(date +%s.%N)
    for pid in $pids; do c0=$((c0 + $(cpu_ticks "$pid"))); done
    sleep "$window"
    for pid in $pids; do c1=$((c1 + $(cpu_ticks "$pid"))); done
    local t1 rss=0 hwm=0
    t1=$(date +%s.%N)
    for pid in $pids; do rss=$((rss + $(status_kb "$pid" VmRSS))); hwm=$((hwm + $(status_kb "$pid" VmHWM))); done
    i=0
    for p in "${ports[@]}"; do curl -s "http://127.0.0.1:$p/metrics" >"$work/$mode.after.$i"; i=$((i+1)); done
    python3 - "$work" "$mode" "${#ports[@]}" "$t0" "$t1" "$c0" "$c1" "$hz" "$rss" "$hwm" >>"$work/rows" <<'PY'
import re, sys
work, mode, n, t0, t1, c0, c1, hz, rss, hwm = sys.argv[1:]
n = int(n); secs = float(t1) - float(t0)
def per_org(path):
    req, budget = {}, {}
    for line in open(path):
        m = re.match(r'genesys_api_requests_total\{(.*)\} (\S+)$', line)
        if m:
            org = re.search(r'org="([^"]*)"', m.group(1))
            key = org.group(1) if org else path
            req[key] = req.get(key, 0.0) + float(m.group(2))
        m = re.match(r'genesys_api_budget_requests_per_minute(\{.*\})? (\S+)$', line)
        if m:
            org = re.search(r'org="([^"]*)"', m.group(1) or "")
            budget[org.group(1) if org else path] = float(m.group(2))
    return req, budget
rates, budgets = [], []
for i in range(n):
    before, _ = per_org(f"{work}/{mode}.before.{i}")
    after, budget = per_org(f"{work}/{mode}.after.{i}")
    # Files of single-org exporters are keyed by path: match before/after by position.
    for (k, v), (kb, vb) in zip(sorted(after.items()), sorted(before.items())):
        rates.append((v - vb) * 60.0 / secs)
    budgets.extend(budget.values())
within = all(r <= b for r, b in zip(rates, budgets)) if len(rates) == len(budgets) else False
cpu = (int(c1) - int(c0)) / int(hz) / secs * 100
print(f"| {mode} | {len(rates)} | {int(rss)/1024:.1f} | {int(hwm)/1024:.1f} | {cpu:.2f} | "
      f"{min(rates):.1f} / {max(rates):.1f} / {sum(rates):.0f} | {min(budgets):.0f} | {'yes' if within else 'NO'} |")
PY
}

# One process, every org.
"$bin" --config.file="$work/orgs.yml" --web.listen-address=127.0.0.1:19600 "$@" >"$work/one.log" 2>&1 &
one=$!
running="$running $one"
measure "one process" "$one" 19600
stop $one

# One process per org.
pids="" ports=()
i=0
while read -r line; do
    eval "$(sed 's/api-url/api_url/; s/login-url/login_url/; s/client-id/client_id/' <<<"$line")"
    port=$((19700 + i))
    GENESYS_CLIENT_ID=$client_id "$bin" --genesys.api-url="$api_url" --genesys.login-url="$login_url" \
        --genesys.client-secret-file="$work/$org.secret" --web.listen-address=127.0.0.1:$port "$@" \
        >"$work/single.$i.log" 2>&1 &
    pids="$pids $!"
    running="$running $!"
    ports+=("$port")
    i=$((i + 1))
done < <(grep '^org=' "$work/sim.out")
measure "$orgs processes" "$pids" "${ports[@]}"
stop $pids

echo
echo "$orgs orgs of $queues queues, ${window} s window, $(nproc) cores, $(uname -r)"
echo
echo "| exporters | orgs | RSS MiB | peak RSS MiB | CPU % of a core | requests/min per org min / max / total | budget/org | within budget |"
echo "|---|---|---|---|---|---|---|---|"
cat "$work/rows"
