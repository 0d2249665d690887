#!/usr/bin/env bash
# kserve-c benchmark: the model server under wrk, side by side with nginx.
#
#   bash bench/run.sh            (what `make bench` runs)
#
# Environment:
#   BENCH_SECONDS=10        duration of each wrk case
#   BENCH_STARTUP_RUNS=20   start-to-ready samples per model
#   BENCH_STARTUP_SKLEARN=1 also time the sklearn server's start (0: skip)
#   BENCH_SERVER_ARGS=""    extra model-server flags, e.g. "--workers 2"
#   BENCH_KSERVE=build/kserve   the binary under test
#   BENCH_OUT=bench/results/latest.json
#   BENCH_KEEP_TMP=1        keep the run directory (wrk outputs, logs)
#   BENCH_STRICT=1          exit 1 when a goal is not met
#
# Everything listens on 127.0.0.1 only, on free ports; every wait and every
# wrk run is bounded by `timeout`; every process started here is stopped by
# the EXIT trap.  Exit status: 0 when all cases ran, 2 when the model server
# binary is missing (the nginx reference is still measured), 1 on a setup
# failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3          # Debian's, with scikit-learn and xgboost
NGINX_BIN=/usr/sbin/nginx
KSERVE=${BENCH_KSERVE:-$ROOT/build/kserve}
SECS=${BENCH_SECONDS:-10}
THREADS=2
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-20}
STARTUP_SKLEARN=${BENCH_STARTUP_SKLEARN:-1}
SERVER_ARGS=${BENCH_SERVER_ARGS:-}
OUT=${BENCH_OUT:-$ROOT/bench/results/latest.json}
READY_TIMEOUT=60             # seconds a server may take to become ready

case $SECS in ''|*[!0-9]*|0) echo "BENCH_SECONDS must be a positive integer" >&2; exit 1;; esac
case $STARTUP_RUNS in ''|*[!0-9]*) echo "BENCH_STARTUP_RUNS must be an integer" >&2; exit 1;; esac
for tool in wrk curl timeout setsid "$NGINX_BIN" "$PY"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

RUN=$(mktemp -d /tmp/kserve-bench.XXXXXX)
mkdir -p "$RUN/wrk" "$RUN/logs" "$RUN/bodies" "$RUN/models"
: > "$RUN/cases.tsv"
: > "$RUN/facts.env"
PIDS=()    # every long-running process started here; each leads its own session

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$? pid _
    trap - EXIT INT TERM
    if [ -n "${FG_PID:-}" ]; then           # a wrk run or startup.py, via timeout
        kill -TERM "$FG_PID" 2>/dev/null || true
        wait "$FG_PID" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || true       # anything left in its session
        wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
        echo "run directory kept: $RUN" >&2
    else
        rm -rf "$RUN"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bg_wait PID: wait for a job started with `&`.  Waiting this way (rather
# than running the job in the foreground) lets INT/TERM reach the traps at
# once; cleanup then stops the job too.
FG_PID=
bg_wait() {
    local rc=0
    FG_PID=$1
    wait "$1" || rc=$?
    FG_PID=
    return $rc
}

log() { printf '== %s\n' "$*" >&2; }
fact() { printf '%s=%s\n' "$1" "$2" >> "$RUN/facts.env"; }

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME CMD... : run CMD in a session of its own (so its workers can be
# stopped with it), output to logs/NAME.log; sets STARTED_PID.
start() {
    local name=$1; shift
    setsid "$@" > "$RUN/logs/$name.log" 2>&1 < /dev/null &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# wait_ready URL PID NAME : poll URL until it answers 200, at most READY_TIMEOUT s.
wait_ready() {
    local url=$1 pid=$2 name=$3 code deadline=$((SECONDS + READY_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name exited before it was ready; its log:" >&2
            tail -n 20 "$RUN/logs/$name.log" >&2 || true
            return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.05
    done
    echo "$name not ready within ${READY_TIMEOUT}s; its log:" >&2
    tail -n 20 "$RUN/logs/$name.log" >&2 || true
    return 1
}

# record ID LABEL CONNS THREADS STATUS URL
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RUN/cases.tsv"; }

# run_case ID LABEL URL CONNS [LUA BODY [HDRLEN]]
# A pre-flight request must answer 200 (its answer is kept for the report);
# then wrk runs for SECS seconds with --latency.
run_case() {
    local id=$1 label=$2 url=$3 conns=$4 lua=${5:-} body=${6:-} hdrlen=${7:-}
    local threads=$(( conns < THREADS ? conns : THREADS ))   # wrk needs conns >= threads
    local code args=() rc=0
    if [ -z "$lua" ]; then
        code=$(curl -sS -o "$RUN/wrk/$id.answer" -w '%{http_code}' --max-time 10 "$url" 2> "$RUN/wrk/$id.curl" || true)
    elif [ -n "$hdrlen" ]; then
        code=$(curl -sS -o "$RUN/wrk/$id.answer" -w '%{http_code}' --max-time 10 \
            -H 'Content-Type: application/octet-stream' \
            -H "Inference-Header-Content-Length: $hdrlen" \
            --data-binary "@$body" "$url" 2> "$RUN/wrk/$id.curl" || true)
    else
        code=$(curl -sS -o "$RUN/wrk/$id.answer" -w '%{http_code}' --max-time 10 \
            -H 'Content-Type: application/json' --data-binary "@$body" "$url" 2> "$RUN/wrk/$id.curl" || true)
    fi
    if [ "$code" != 200 ]; then
        local why
        why=$(head -c 200 "$RUN/wrk/$id.curl" 2>/dev/null | tr '\n\t' '  ' || true)
        log "$label: pre-flight answered HTTP ${code:-none}: $(head -c 200 "$RUN/wrk/$id.answer" 2>/dev/null || true) $why"
        record "$id" "$label" "$conns" "$threads" "pre-flight answered HTTP ${code:-none} ${why}" "$url"
        return 0
    fi
    log "$label: $conns connection(s), ${SECS}s; answer: $(head -c 120 "$RUN/wrk/$id.answer")"
    [ -n "$lua" ] && args=(-s "$ROOT/bench/lua/$lua")
    BENCH_BODY=$body BENCH_HEADER_LEN=$hdrlen \
        timeout -k 5 $((SECS + 30)) wrk -t"$threads" -c"$conns" -d"${SECS}s" --timeout 5s \
        --latency "${args[@]}" "$url" > "$RUN/wrk/$id.txt" 2>&1 &
    bg_wait $! || rc=$?
    if [ $rc -ne 0 ]; then
        log "$label: wrk failed ($rc): $(tail -n 3 "$RUN/wrk/$id.txt")"
        record "$id" "$label" "$conns" "$threads" "wrk failed ($rc)" "$url"
    else
        grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|Socket errors' "$RUN/wrk/$id.txt" | sed 's/^/   /' >&2 || true
        record "$id" "$label" "$conns" "$threads" ok "$url"
    fi
    sleep 1     # let the previous case's connections drain
}

# RSS of a process and of its whole session (workers included), in kB.
vm_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
session_rss_kb() { ps -o rss= --sid "$1" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

fact bench_seconds "$SECS"
fact loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
fact server_args "$SERVER_ARGS"
fact git_commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || true)"
fact git_dirty "$( [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -v '^?? bench/' || true)" ] && echo 1 || echo 0)"
fact wrk_version "$(wrk --version 2>&1 | head -n 1 | awk '{print $2}' || true)"
fact nginx_version "$("$NGINX_BIN" -v 2>&1 | sed 's|.*/||')"

# ---- inputs ------------------------------------------------------------------
log "request bodies"
"$PY" "$ROOT/bench/gen_bodies.py" "$RUN/bodies"
B=$RUN/bodies
BIN_HDRLEN=$(tr -d '\n' < "$B/v2bin_1000x4.hdrlen")

HAVE_KSERVE=1
if [ ! -x "$KSERVE" ]; then
    HAVE_KSERVE=0
    log "no model server at $KSERVE: only the nginx reference is measured"
else
    log "training xgboost-iris and sklearn-iris"
    timeout 600 "$PY" "$ROOT/tests/tools/train_models.py" "$RUN/models" xgboost-iris sklearn-iris
    # one model file per directory, as the storage initializer lays it out
    mkdir -p "$RUN/md/xgboost-iris" "$RUN/md/sklearn-iris"
    cp "$RUN/models/xgboost-iris/model.bst" "$RUN/md/xgboost-iris/"
    cp "$RUN/models/sklearn-iris/model.joblib" "$RUN/md/sklearn-iris/"
fi

# ---- nginx, the reference ----------------------------------------------------
# A master with 2 workers and `reuseport`: on this 2-core machine wrk (2
# threads) and nginx share the cores, and 2 workers let nginx use whichever
# core wrk leaves idle.  Measured here with wrk -t2 -c64: a single process
# (`master_process off`) ~91k req/s, master + 1 worker ~95k, master + 2
# workers ~133k, and ~137k with reuseport (one accept queue per worker).
# Access logging is off and keepalive_requests is high so that nothing but
# HTTP itself is measured.
NGINX_PORT=$(free_port)
mkdir -p "$RUN/nginx"
cat > "$RUN/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $RUN/nginx/client_body;
    proxy_temp_path $RUN/nginx/proxy;
    fastcgi_temp_path $RUN/nginx/fastcgi;
    uwsgi_temp_path $RUN/nginx/uwsgi;
    scgi_temp_path $RUN/nginx/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$NGINX_PORT reuseport;
        default_type application/json;
        location / { return 200 '{"status":"alive"}'; }
    }
}
EOF
fact nginx_mode "master + 2 workers, reuseport"
start nginx "$NGINX_BIN" -p "$RUN/nginx" -e "$RUN/nginx/error.log" -c "$RUN/nginx/nginx.conf"
NGINX_PID=$STARTED_PID
wait_ready "http://127.0.0.1:$NGINX_PORT/" "$NGINX_PID" nginx

# ---- model servers -----------------------------------------------------------
if [ $HAVE_KSERVE = 1 ]; then
    XGB_PORT=$(free_port)
    # shellcheck disable=SC2086  # SERVER_ARGS is a list of flags
    start xgboost "$KSERVE" model-server --model_name xgboost-iris \
        --model_dir "$RUN/md/xgboost-iris" --http_host 127.0.0.1 --http_port "$XGB_PORT" $SERVER_ARGS
    XGB_PID=$STARTED_PID
    SKL_PORT=$(free_port)
    # shellcheck disable=SC2086
    start sklearn "$KSERVE" model-server --model_name sklearn-iris \
        --model_dir "$RUN/md/sklearn-iris" --http_host 127.0.0.1 --http_port "$SKL_PORT" $SERVER_ARGS
    SKL_PID=$STARTED_PID
    XGB_OK=1; SKL_OK=1
    wait_ready "http://127.0.0.1:$XGB_PORT/v2/health/ready" "$XGB_PID" xgboost || XGB_OK=0
    wait_ready "http://127.0.0.1:$SKL_PORT/v2/health/ready" "$SKL_PID" sklearn || SKL_OK=0
fi

# ---- load --------------------------------------------------------------------
run_case nginx_static_c64 "nginx static (reference) @64" "http://127.0.0.1:$NGINX_PORT/" 64

X=http://127.0.0.1:${XGB_PORT:-0}
S=http://127.0.0.1:${SKL_PORT:-0}
XGB_CASES=(
    "xgb_v1_c64|xgboost V1 1x4 @64|$X/v1/models/xgboost-iris:predict|64|json.lua|$B/v1_1x4.json|"
    "xgb_v1_c1|xgboost V1 1x4 @1|$X/v1/models/xgboost-iris:predict|1|json.lua|$B/v1_1x4.json|"
    "xgb_v2json_c64|xgboost V2 JSON 1x4 @64|$X/v2/models/xgboost-iris/infer|64|json.lua|$B/v2_1x4.json|"
    "xgb_v2json_1000x4_c64|xgboost V2 JSON 1000x4 @64|$X/v2/models/xgboost-iris/infer|64|json.lua|$B/v2_1000x4.json|"
    "xgb_v2bin_1000x4_c64|xgboost V2 binary 1000x4 @64|$X/v2/models/xgboost-iris/infer|64|binary.lua|$B/v2bin_1000x4.bin|$BIN_HDRLEN"
)
SKL_CASES=(
    "skl_v1_c64|sklearn V1 1x4 @64|$S/v1/models/sklearn-iris:predict|64|json.lua|$B/v1_1x4.json|"
)

# run_or_skip OK REASON SPEC...
run_or_skip() {
    local ok=$1 reason=$2 spec id label url conns lua body hdr; shift 2
    for spec in "$@"; do
        IFS='|' read -r id label url conns lua body hdr <<< "$spec"
        if [ "$ok" = 1 ]; then
            run_case "$id" "$label" "$url" "$conns" "$lua" "$body" "$hdr"
        else
            record "$id" "$label" "$conns" "$(( conns < THREADS ? conns : THREADS ))" "$reason" "$url"
        fi
    done
}

if [ $HAVE_KSERVE = 1 ]; then
    fact xgb_rss_idle_kb "$(vm_kb "$XGB_PID" VmRSS)"
    run_or_skip "$XGB_OK" "xgboost server not ready" "${XGB_CASES[@]}"
    if [ "$XGB_OK" = 1 ] && kill -0 "$XGB_PID" 2>/dev/null; then
        fact xgb_rss_kb "$(vm_kb "$XGB_PID" VmRSS)"
        fact xgb_hwm_kb "$(vm_kb "$XGB_PID" VmHWM)"
        fact xgb_session_rss_kb "$(session_rss_kb "$XGB_PID")"
    fi
    run_or_skip "$SKL_OK" "sklearn server not ready" "${SKL_CASES[@]}"
    if [ "$SKL_OK" = 1 ] && kill -0 "$SKL_PID" 2>/dev/null; then
        fact skl_rss_kb "$(vm_kb "$SKL_PID" VmRSS)"
        fact skl_session_rss_kb "$(session_rss_kb "$SKL_PID")"
    fi
else
    run_or_skip 0 "no model server binary" "${XGB_CASES[@]}" "${SKL_CASES[@]}"
fi

# ---- start to ready ----------------------------------------------------------
# Run while the servers above sit idle: they take no CPU then, and stopping
# them first would change nothing measurable.
startup() {   # startup MODEL NAME DIR
    log "$1: start to ready, $STARTUP_RUNS runs"
    local rc=0
    # shellcheck disable=SC2086
    timeout -k 5 $(( STARTUP_RUNS * 20 + 30 )) "$PY" "$ROOT/bench/startup.py" \
        --bin "$KSERVE" --model-name "$2" --model-dir "$3" --runs "$STARTUP_RUNS" \
        --log "$RUN/logs/startup_$1.log" -- $SERVER_ARGS > "$RUN/startup_$1.json" &
    bg_wait $! || rc=$?
    if [ $rc -eq 0 ]; then
        "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("   median %s ms, p95 %s ms" % (d["median_ms"], d["p95_ms"]))' \
            "$RUN/startup_$1.json" >&2
    else
        log "$1: start-up measurement failed: $(head -c 300 "$RUN/startup_$1.json" 2>/dev/null || true)"
        fact "startup_$1" "failed (see server log)"
        tail -n 5 "$RUN/logs/startup_$1.log" >&2 || true
        rm -f "$RUN/startup_$1.json"
    fi
}
if [ $HAVE_KSERVE = 1 ] && [ "$STARTUP_RUNS" -gt 0 ]; then
    startup xgboost xgboost-iris "$RUN/md/xgboost-iris"
    if [ "$STARTUP_SKLEARN" = 1 ]; then
        startup sklearn sklearn-iris "$RUN/md/sklearn-iris"
    else
        fact startup_sklearn "skipped (BENCH_STARTUP_SKLEARN=0)"
    fi
else
    fact startup_xgboost "no model server binary"
    fact startup_sklearn "no model server binary"
fi

fact loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report ------------------------------------------------------------------
echo
rc=0
"$PY" "$ROOT/bench/report.py" "$RUN" "$OUT" || rc=$?
[ $HAVE_KSERVE = 1 ] || rc=2
exit $rc
