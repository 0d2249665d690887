#!/usr/bin/env bash
# kserve-c platform benchmark: apply -> Ready, and the ingress hop (direct to
# a replica vs through the ingress, in the same run).
#
#   bash bench/platform.sh          (make bench runs it after bench/run.sh)
#
# BENCH_SECONDS (default 10) per wrk case, BENCH_APPLY_RUNS (default 10).
# Loopback only; every process started here is stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
KSERVE=${BENCH_KSERVE:-$ROOT/build/kserve}
SECS=${BENCH_SECONDS:-10}
RUNS=${BENCH_APPLY_RUNS:-10}
TMP=$(mktemp -d /tmp/kserve-bench-platform.XXXXXX)
daemon=""
cleanup() {
    if [ -n "$daemon" ]; then kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

$PY "$ROOT/tests/tools/train_models.py" "$TMP/models" xgboost-iris sklearn-iris
PORT=$(free_port)
"$KSERVE" up --home "$TMP/home" --ingress-port "$PORT" 2>"$TMP/daemon.log" &
daemon=$!
for _ in $(seq 200); do [ -S "$TMP/home/api.sock" ] && break; sleep 0.05; done
sleep 1 # the zygote warms up

echo "apply -> Ready ($RUNS runs each, file:// models)"
XG=$(timeout 300 $PY "$ROOT/bench/apply_ready.py" "$TMP/home" xgboost "$TMP/models/xgboost-iris" "$RUNS")
SK=$(timeout 300 $PY "$ROOT/bench/apply_ready.py" "$TMP/home" sklearn "$TMP/models/sklearn-iris" "$RUNS")
echo "  xgboost iris: $XG"
echo "  sklearn iris: $SK"

# one xgboost isvc for the hop
cat >"$TMP/isvc.yaml" <<EOT
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: xgb-iris
spec:
  predictor:
    model:
      modelFormat:
        name: xgboost
      storageUri: file://$TMP/models/xgboost-iris
EOT
KSERVE_HOME="$TMP/home" "$KSERVE" apply -f "$TMP/isvc.yaml" >/dev/null
KSERVE_HOME="$TMP/home" "$KSERVE" wait isvc xgb-iris --for=condition=Ready --timeout=60s >/dev/null
RPORT=$(KSERVE_HOME="$TMP/home" "$KSERVE" get isvc xgb-iris -o json | $PY -c 'import json,sys; print(json.load(sys.stdin)["status"]["replicas"][0]["port"])')
cat >"$TMP/v1.lua" <<'EOT'
wrk.method = "POST"
wrk.body = '{"instances": [[6.8, 2.8, 4.8, 1.4]]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Host"] = "xgb-iris.default.example.com"
EOT
run() { # conns url -> "req/s p50_us"
    local out
    out=$(timeout $((SECS + 30)) wrk -t"$([ "$1" -eq 1 ] && echo 1 || echo 2)" -c"$1" -d"${SECS}s" --latency -s "$TMP/v1.lua" "$2")
    $PY - "$out" <<'EOT'
import re, sys
out = sys.argv[1]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
m = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
p50 = float(m.group(1)) * {"us": 1, "ms": 1000, "s": 1e6}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print("%.0f %.0f %s" % (rps, p50, bad.group(1) if bad else "0"))
EOT
}
URL=/v1/models/xgb-iris:predict
read -r D64 _ DB64 < <(run 64 "http://127.0.0.1:$RPORT$URL")
read -r I64 _ IB64 < <(run 64 "http://127.0.0.1:$PORT$URL")
read -r _ D1 DB1 < <(run 1 "http://127.0.0.1:$RPORT$URL")
read -r _ I1 IB1 < <(run 1 "http://127.0.0.1:$PORT$URL")
echo "ingress hop (xgboost iris V1, wrk ${SECS}s; load average $(cut -d' ' -f1 /proc/loadavg))"
printf "  %-28s %10s %10s\n" "" "direct" "ingress"
printf "  %-28s %10s %10s   ingress/direct %.2f (goal >= 0.60)\n" "req/s @64 connections" "$D64" "$I64" "$($PY -c "print($I64/$D64)")"
printf "  %-28s %9sus %9sus   hop +%sus (goal <= 30us)\n" "p50 @1 connection" "$D1" "$I1" "$((I1 - D1))"
echo "  non-2xx: direct $DB64/$DB1, ingress $IB64/$IB1"

echo "rollout switch (replace the model under a steady client; $RUNS runs)"
$PY "$ROOT/tests/tools/train_models.py" "$TMP/models" sklearn-iris >/dev/null
echo "  $(timeout 600 $PY "$ROOT/bench/rollout.py" "$TMP/home" "$PORT" "xgboost:$TMP/models/xgboost-iris" \
        "sklearn:$TMP/models/sklearn-iris" "$RUNS")"
