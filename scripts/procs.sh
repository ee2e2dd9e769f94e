# Shared by the benchmark scripts (source it from the repository's root): a scratch directory
# and the processes they start, stopped and removed on exit (callers append pids to
# $running); the exporter binary they run ($bin); the simulator's credentials.
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
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# GENESYS_EXPORTER_BIN=path runs that binary (an older build, to compare); else the release
# build of this tree, built now.
bin=${GENESYS_EXPORTER_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --quiet --bin genesys-exporter
    bin=${CARGO_TARGET_DIR:-target}/release/genesys-exporter
fi
# What `genesys-exporter simulate` accepts.
export GENESYS_CLIENT_ID=bench GENESYS_CLIENT_SECRET=bench-secret
