#!/usr/bin/env bash
# The C SDK's transformer under wrk: client -> iris-transformer -> model server, against the
# model server alone, on the same machine.
#
#   bash bench/transformer.sh
#
# Prints the added p50 latency at 1 connection (goal: <= 100 us) and req/s at 64 connections,
# and writes them to $BENCH_OUT.  The two paths do not carry the same body: the transformer gets
# records ({"instances": [{"sepal_length": ...}]}) and answers class names, as a client of a
# transformer does; the model server gets the rows preprocess makes and answers class
# probabilities.  What is added is therefore everything a transformer costs: a second HTTP hop
# on loopback and two JSON parses and writes on each side of the model.
#
# Environment:
#   BENCH_SECONDS=10          duration of each wrk case
#   BENCH_KSERVE=build/kserve the model server
#   BENCH_TRANSFORMER=build/examples/iris-transformer
#   BENCH_WORKERS=            --workers of both servers (default: theirs, one per core)
#   BENCH_OUT=bench/results/transformer.json
#   BENCH_KEEP_TMP=1          keep the run directory
#
# Everything listens on 127.0.0.1 on free ports; every wait and every wrk run is bounded; the
# EXIT trap stops every process started here (by its pid).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
KSERVE=${BENCH_KSERVE:-$ROOT/build/kserve}
TRANSFORMER=${BENCH_TRANSFORMER:-$ROOT/build/examples/iris-transformer}
SECS=${BENCH_SECONDS:-10}
WORKERS=${BENCH_WORKERS:-}
OUT=${BENCH_OUT:-$ROOT/bench/results/transformer.json}
READY_TIMEOUT=30

case $SECS in ''|*[!0-9]*|0) echo "BENCH_SECONDS must be a positive integer" >&2; exit 1;; esac
for tool in wrk curl timeout "$PY"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
for bin in "$KSERVE" "$TRANSFORMER"; do
    [ -x "$bin" ] || { echo "missing: $bin (run make)" >&2; exit 2; }
done

RUN=$(mktemp -d /tmp/kserve-bench-tr.XXXXXX)
mkdir -p "$RUN/wrk" "$RUN/logs" "$RUN/models"
PIDS=()
cleanup() {
    local rc=$? pid _
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then echo "run directory kept: $RUN" >&2; else rm -rf "$RUN"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '== %s\n' "$*" >&2; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() { # URL PID NAME
    local deadline=$((SECONDS + READY_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        kill -0 "$2" 2>/dev/null || { echo "$3 exited; its log:" >&2; tail -n 20 "$RUN/logs/$3.log" >&2; return 1; }
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)" = 200 ] && return 0
        sleep 0.05
    done
    echo "$3 not ready within ${READY_TIMEOUT}s" >&2
    return 1
}

# ---- the model and the servers ------------------------------------------------------------------
log "training xgboost-iris"
timeout 600 "$PY" "$ROOT/tests/tools/train_models.py" "$RUN/models" xgboost-iris > /dev/null
mkdir -p "$RUN/md/iris"
cp "$RUN/models/xgboost-iris/model.bst" "$RUN/md/iris/"

WARGS=()
[ -n "$WORKERS" ] && WARGS=(--workers "$WORKERS")
MPORT=$(free_port)
"$KSERVE" model-server --model_name iris --model_dir "$RUN/md/iris" --http_host 127.0.0.1 --http_port "$MPORT" \
    "${WARGS[@]}" > "$RUN/logs/model-server.log" 2>&1 < /dev/null &
PIDS+=($!)
wait_ready "http://127.0.0.1:$MPORT/v2/health/ready" "$!" model-server
TPORT=$(free_port)
"$TRANSFORMER" --model_name iris --http_host 127.0.0.1 --http_port "$TPORT" --predictor_host "127.0.0.1:$MPORT" \
    "${WARGS[@]}" > "$RUN/logs/transformer.log" 2>&1 < /dev/null &
PIDS+=($!)
wait_ready "http://127.0.0.1:$TPORT/v2/health/ready" "$!" transformer

# one iris row: the model gets it as a row, the transformer as a record
printf '{"instances": [[6.8, 2.8, 4.8, 1.4]]}' > "$RUN/direct.json"
printf '{"instances": [{"sepal_length": 6.8, "sepal_width": 2.8, "petal_length": 4.8, "petal_width": 1.4}]}' > "$RUN/records.json"

# ---- the cases ---------------------------------------------------------------------------------
# run_case ID URL BODY CONNS: a pre-flight request must answer 200; then wrk --latency
run_case() {
    local id=$1 url=$2 body=$3 conns=$4 threads=2 code
    [ "$conns" -lt 2 ] && threads=1
    code=$(curl -sS -o "$RUN/wrk/$id.answer" -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
        --data-binary "@$body" "$url" || true)
    if [ "$code" != 200 ]; then
        log "$id: pre-flight answered ${code:-nothing}: $(head -c 200 "$RUN/wrk/$id.answer" 2>/dev/null || true)"
        return 1
    fi
    log "$id: $conns connection(s), ${SECS}s; answer: $(head -c 100 "$RUN/wrk/$id.answer")"
    BENCH_BODY=$body timeout -k 5 $((SECS + 30)) wrk -t"$threads" -c"$conns" -d"${SECS}s" --timeout 5s --latency \
        -s "$ROOT/bench/lua/json.lua" "$url" > "$RUN/wrk/$id.txt" 2>&1
    grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|Socket errors' "$RUN/wrk/$id.txt" | sed 's/^/   /' >&2 || true
    sleep 1
}

DIRECT=http://127.0.0.1:$MPORT/v1/models/iris:predict
VIA=http://127.0.0.1:$TPORT/v1/models/iris:predict
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
run_case direct_c1 "$DIRECT" "$RUN/direct.json" 1
run_case transformer_c1 "$VIA" "$RUN/records.json" 1
run_case direct_c64 "$DIRECT" "$RUN/direct.json" 64
run_case transformer_c64 "$VIA" "$RUN/records.json" 64
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the report -------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
"$PY" - "$RUN" "$OUT" "$SECS" "$LOAD_START" "$LOAD_END" "${WORKERS:-default}" <<'EOF'
import json, os, re, sys

run, out, secs, load0, load1, workers = sys.argv[1:7]
UNIT = {"us": 1.0, "ms": 1e3, "s": 1e6}

def parse(case):
    path = os.path.join(run, "wrk", case + ".txt")
    if not os.path.exists(path):
        return None
    t = open(path).read()
    r = {}
    m = re.search(r"Requests/sec:\s*([0-9.]+)", t)
    r["requests_per_sec"] = float(m.group(1)) if m else None
    for p in ("50", "99"):
        m = re.search(r"^\s*%s%%\s+([0-9.]+)(us|ms|s)\s*$" % p, t, re.M)
        r["latency_p%s_us" % p] = float(m.group(1)) * UNIT[m.group(2)] if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", t)
    r["non_2xx"] = int(m.group(1)) if m else 0
    r["socket_errors"] = bool(re.search(r"Socket errors", t))
    return r

cases = {c: parse(c) for c in ("direct_c1", "transformer_c1", "direct_c64", "transformer_c64")}
def get(c, k):
    return (cases.get(c) or {}).get(k)
added = None
if get("direct_c1", "latency_p50_us") is not None and get("transformer_c1", "latency_p50_us") is not None:
    added = get("transformer_c1", "latency_p50_us") - get("direct_c1", "latency_p50_us")
res = {"bench_seconds": int(secs), "workers": workers, "loadavg_start": load0, "loadavg_end": load1,
       "cases": cases, "added_p50_us_c1": added, "goal_added_p50_us": 100,
       "goal_met": added is not None and added <= 100}
with open(out, "w") as f:
    json.dump(res, f, indent=2)

def fmt(v, unit=""):
    return "-" if v is None else ("%.0f%s" % (v, unit))
print()
print("%-28s %12s %12s %12s" % ("case", "req/s", "p50", "p99"))
for c, label in (("direct_c1", "model server, 1 conn"), ("transformer_c1", "transformer, 1 conn"),
                 ("direct_c64", "model server, 64 conns"), ("transformer_c64", "transformer, 64 conns")):
    r = cases[c] or {}
    bad = " (errors!)" if r.get("non_2xx") or r.get("socket_errors") else ""
    print("%-28s %12s %12s %12s%s" % (label, fmt(r.get("requests_per_sec")), fmt(r.get("latency_p50_us"), " us"),
                                      fmt(r.get("latency_p99_us"), " us"), bad))
print()
print("added p50 at 1 connection: %s (goal <= 100 us: %s)" % (fmt(added, " us"), "met" if res["goal_met"] else "NOT met"))
if get("direct_c64", "requests_per_sec") and get("transformer_c64", "requests_per_sec"):
    print("req/s at 64 connections: transformer %.0f = %.0f%% of the model server alone"
          % (get("transformer_c64", "requests_per_sec"),
             100 * get("transformer_c64", "requests_per_sec") / get("direct_c64", "requests_per_sec")))
print("load average %s -> %s; results in %s" % (load0, load1, out))
EOF
