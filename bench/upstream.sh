#!/usr/bin/env bash
# The upstream client (src/http/upstream.c) against h2o's proxy, with wrk.
#
#   bash bench/upstream.sh
#
# A model server (build/kserve model-server, xgboost-iris) is the replica.
# bench/upstream_proxy.c, built here against build/obj, is a ks_http server
# proxying to it, once with ks_upstream_proxy ("ks") and once with
# h2o_reprocess_request and a per-worker h2o_socketpool_t ("h2o", the
# ingress's way).  Each round runs, for the model server directly and through
# each proxy, wrk -t2 -c64 (req/s) and wrk -t1 -c1 (p50 latency), V1 predict
# of one iris row; the order of the two proxies alternates between rounds.
# The table shows the median of the rounds.
#
# Environment:
#   BENCH_SECONDS=10        duration of each wrk run
#   BENCH_ROUNDS=3          rounds
#   BENCH_PROXY_WORKERS=1   the proxy's worker threads
#   BENCH_SERVER_ARGS=""    extra model-server flags, e.g. "--workers 1"
#   BENCH_KEEP_TMP=1        keep the run directory (wrk outputs, logs)
#
# Everything listens on 127.0.0.1, on free ports; every wait and wrk run is
# bounded by `timeout`; the EXIT trap stops every process started here.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
KSERVE=$ROOT/build/kserve
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
PROXY_WORKERS=${BENCH_PROXY_WORKERS:-1}
SERVER_ARGS=${BENCH_SERVER_ARGS:-}

for v in "$SECS" "$ROUNDS" "$PROXY_WORKERS"; do
    case $v in ''|*[!0-9]*|0) echo "BENCH_SECONDS, BENCH_ROUNDS and BENCH_PROXY_WORKERS must be positive integers" >&2; exit 1;; esac
done
for tool in wrk curl timeout setsid cc pkg-config "$PY"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

RUN=$(mktemp -d /tmp/kserve-upstream-bench.XXXXXX)
PIDS=()

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$? pid _
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then echo "run directory kept: $RUN" >&2; else rm -rf "$RUN"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '== %s\n' "$*" >&2; }

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() { # NAME CMD...: in a session of its own; sets STARTED_PID
    local name=$1; shift
    setsid "$@" > "$RUN/$name.log" 2>&1 < /dev/null &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# wait_ok URL: POST the body to URL until it answers 200, at most 60 s
wait_ok() {
    local code deadline=$((SECONDS + 60))
    while [ $SECONDS -lt $deadline ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H 'Content-Type: application/json' \
            --data-binary @"$BODY" "$1" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.05
    done
    echo "no 200 from $1 within 60 s" >&2
    return 1
}

# ---- build, train, start ------------------------------------------------------
log "building"
make -s -C "$ROOT" build/kserve build/obj/src/http/upstream.o
# shellcheck disable=SC2046  # pkg-config prints lists of flags
cc -std=gnu11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -O2 -I"$ROOT/include" $(pkg-config --cflags libh2o-evloop) \
    "$ROOT/bench/upstream_proxy.c" "$ROOT/build/obj/src/http/server.o" "$ROOT/build/obj/src/http/upstream.o" \
    "$ROOT"/build/obj/src/common/*.o -o "$RUN/upstream_proxy" \
    $(pkg-config --libs libh2o-evloop jansson yajl) -lssl -lcrypto -lpthread -lm

log "training xgboost-iris"
timeout 600 "$PY" "$ROOT/tests/tools/train_models.py" "$RUN/models" xgboost-iris > /dev/null
mkdir -p "$RUN/md/xgboost-iris"
cp "$RUN/models/xgboost-iris/model.bst" "$RUN/md/xgboost-iris/"
"$PY" "$ROOT/bench/gen_bodies.py" "$RUN/bodies" > /dev/null
BODY=$RUN/bodies/v1_1x4.json
export BENCH_BODY=$BODY
PREDICT=/v1/models/xgboost-iris:predict

MS_PORT=$(free_port)
# shellcheck disable=SC2086  # SERVER_ARGS is a list of flags
start model "$KSERVE" model-server --model_name xgboost-iris --model_dir "$RUN/md/xgboost-iris" \
    --http_host 127.0.0.1 --http_port "$MS_PORT" $SERVER_ARGS
MS_PID=$STARTED_PID
KS_PORT=$(free_port)
start ks "$RUN/upstream_proxy" ks "$KS_PORT" "$MS_PORT" "$PROXY_WORKERS"
KS_PID=$STARTED_PID
H2O_PORT=$(free_port)
start h2o "$RUN/upstream_proxy" h2o "$H2O_PORT" "$MS_PORT" "$PROXY_WORKERS"
H2O_PID=$STARTED_PID
for p in "$MS_PORT" "$KS_PORT" "$H2O_PORT"; do
    wait_ok "http://127.0.0.1:$p$PREDICT"
done

# ---- load ----------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
cpu_ticks() { # PID: user + system ticks of the process, all threads
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# wrk_case NAME CONNS THREADS PORT PID: appends "NAME rps p50_us errors cpu_us_per_request" to results,
# the CPU time being that of process PID (the proxy, or the model server for the direct runs)
wrk_case() {
    local name=$1 conns=$2 threads=$3 port=$4 pid=$5 out t0 t1
    t0=$(cpu_ticks "$pid")
    out=$(timeout $((SECS + 30)) wrk -t"$threads" -c"$conns" -d"${SECS}s" --latency -s "$ROOT/bench/lua/json.lua" \
        "http://127.0.0.1:$port$PREDICT" 2>&1) || true
    t1=$(cpu_ticks "$pid")
    echo "$out" > "$RUN/wrk_${name}_$(date +%s%N).txt"
    awk -v name="$name" -v ticks=$((t1 - t0)) -v tck="$TCK" '
        function us(v) {
            if (v ~ /us$/) return v + 0;
            if (v ~ /ms$/) return v * 1000;
            if (v ~ /s$/) return v * 1000000;
            return v + 0
        }
        /Requests\/sec:/ { rps = $2 }
        / requests in / { n = $1 }
        $1 == "50%" { p50 = us($2) }
        /Non-2xx|Socket errors/ { err = 1 }
        END {
            cpu = n > 0 ? ticks * 1000000 / tck / n : "nan"
            printf "%s %s %s %d %s\n", name, (rps == "" ? "nan" : rps), (p50 == "" ? "nan" : p50), err, cpu
        }
    ' <<< "$out" >> "$RUN/results"
}

: > "$RUN/results"
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="h2o ks"; else order="ks h2o"; fi
    log "round $round/$ROUNDS: direct, $order"
    wrk_case direct_c64 64 2 "$MS_PORT" "$MS_PID"
    wrk_case direct_c1 1 1 "$MS_PORT" "$MS_PID"
    for mode in $order; do
        if [ "$mode" = ks ]; then port=$KS_PORT; pid=$KS_PID; else port=$H2O_PORT; pid=$H2O_PID; fi
        wrk_case "${mode}_c64" 64 2 "$port" "$pid"
        wrk_case "${mode}_c1" 1 1 "$port" "$pid"
    done
done

# ---- report ----------------------------------------------------------------------
echo
echo "xgboost-iris V1 predict (1 row), ${SECS}s per run, median of $ROUNDS rounds, proxy workers: $PROXY_WORKERS"
"$PY" - "$RUN/results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, err, cpu = line.split()
    rows.setdefault(name, []).append((float(rps), float(p50), float(cpu), int(err)))
def med(name, i):
    v = [r[i] for r in rows.get(name, []) if r[3] == 0 and r[i] == r[i]]
    return statistics.median(v) if v else float("nan")
print("%-34s %11s %12s %19s" % ("path", "req/s @64", "p50 @1 (us)", "CPU us/req @64"))
labels = {"direct": "model server, direct",
          "h2o": "h2o proxy (h2o_reprocess_request)",
          "ks": "ks_upstream_proxy"}
for k in ("direct", "h2o", "ks"):
    errs = sum(r[3] for n in (k + "_c64", k + "_c1") for r in rows.get(n, []))
    print("%-34s %11.0f %12.0f %19.2f%s" % (labels[k], med(k + "_c64", 0), med(k + "_c1", 1), med(k + "_c64", 2),
                                           "   (runs with errors left out: %d)" % errs if errs else ""))
print("(CPU per request: the model server's for the direct row, the proxy's alone for the others)")
h, k = med("h2o_c64", 0), med("ks_c64", 0)
if h == h and k == k and h > 0:
    print("ks_upstream_proxy / h2o proxy: req/s x%.2f, proxy CPU per request x%.2f"
          % (k / h, med("ks_c64", 2) / med("h2o_c64", 2)))
EOF
