# Shared by the benchmark scripts (source it): a scratch directory and the processes they
# start, stopped and removed on exit. Callers append pids to $running.
work=$(mktemp -d)
running="" # pids to stop on exit
stop() { # pids... : SIGTERM, then SIGKILL after 10 s
    local p
    for p in "$@"; do kill "$p" 2>/dev/null || true; done
    for _ in $(seq 1 100); do
        local alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "$@"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
cleanup() { [ -z "$running" ] || stop $running; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
