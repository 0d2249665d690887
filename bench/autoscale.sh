#!/usr/bin/env bash
# kserve-c autoscaling load test: the KPA scaling an xgboost InferenceService
# out under load, through a burst, and back to zero.
#
#   bash bench/autoscale.sh
#   AUTOSCALE_LOW_SECS=8 AUTOSCALE_BURST_SECS=5 bash bench/autoscale.sh     (a quick run)
#
# Starts its own `kserve up` (temporary home, free loopback port, 6 s stable
# window, 6 s scale-to-zero grace period), applies xgboost-iris with
# minReplicas 0 and autoscaling.knative.dev/target T, then runs
#   hey -z LOW_SECS  -c LOW_CONC     (steady load)
#   hey -z BURST_SECS -c BURST_CONC  (a burst: panic mode)
# and samples the isvc's replicaCounts and autoscaler status every second,
# during the load and after it until the revision is back at zero (bounded by
# AUTOSCALE_DRAIN_MAX seconds).  Prints the samples, hey's status code
# distributions, and the daemon's own decisions
# (`kserve autoscaler record isvc NAME --decisions`).
#
# Environment (defaults):
#   KSERVE_BIN=build/kserve
#   AUTOSCALE_TARGET=5          concurrent requests per replica (x 0.7 utilisation)
#   AUTOSCALE_MAX_REPLICAS=0    maxReplicas (0: unlimited, as Knative)
#   AUTOSCALE_LOW_SECS=30  AUTOSCALE_LOW_CONC=5
#   AUTOSCALE_BURST_SECS=10 AUTOSCALE_BURST_CONC=50
#   AUTOSCALE_DRAIN_MAX=120     seconds to wait for the scale back to zero
#   AUTOSCALE_KEEP_TMP=0        1 keeps the run directory (logs, traces)
#
# Loopback only; every wait and every hey run is bounded by `timeout`; the
# EXIT trap stops the sampler and the daemon (which stops every replica).
# Exit status: 0, or 1 when some answer was not 2xx or a step failed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
KSERVE=${KSERVE_BIN:-$ROOT/build/kserve}
case "$KSERVE" in /*) ;; *) KSERVE=$ROOT/$KSERVE ;; esac
TARGET=${AUTOSCALE_TARGET:-5}
MAXR=${AUTOSCALE_MAX_REPLICAS:-0}
LOW_SECS=${AUTOSCALE_LOW_SECS:-30}
LOW_CONC=${AUTOSCALE_LOW_CONC:-5}
BURST_SECS=${AUTOSCALE_BURST_SECS:-10}
BURST_CONC=${AUTOSCALE_BURST_CONC:-50}
DRAIN_MAX=${AUTOSCALE_DRAIN_MAX:-120}
NAME=xgb-scale
command -v hey >/dev/null || { echo "hey is not installed (apt-get install hey)" >&2; exit 1; }
[ -x "$KSERVE" ] || { echo "no kserve binary at $KSERVE (make, or set KSERVE_BIN)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/kserve-bench-autoscale.XXXXXX)
daemon=""
sampler=""
cleanup() {
    [ -n "$sampler" ] && { touch "$TMP/stop"; wait "$sampler" 2>/dev/null || true; }
    if [ -n "$daemon" ]; then
        kill -TERM "$daemon" 2>/dev/null || true
        for _ in $(seq 400); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    if [ "${AUTOSCALE_KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM
export KSERVE_HOME=$TMP/home

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

$PY "$ROOT/tests/tools/train_models.py" "$TMP/models" xgboost-iris >/dev/null
printf 'stable-window: 6s\nscale-to-zero-grace-period: 6s\n' >"$TMP/autoscaler.yaml"
PORT=$(free_port)
"$KSERVE" up --home "$KSERVE_HOME" --ingress-port "$PORT" --autoscaler-config "$TMP/autoscaler.yaml" \
    >"$TMP/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 300); do [ -S "$KSERVE_HOME/api.sock" ] && break; sleep 0.05; done
[ -S "$KSERVE_HOME/api.sock" ] || { echo "the daemon did not start:"; cat "$TMP/daemon.log"; exit 1; }

MAXLINE=""
[ "$MAXR" != 0 ] && MAXLINE="    maxReplicas: $MAXR"
cat >"$TMP/isvc.yaml" <<EOT
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: $NAME
  annotations:
    autoscaling.knative.dev/target: "$TARGET"
spec:
  predictor:
    minReplicas: 0
$MAXLINE
    model:
      modelFormat:
        name: xgboost
      storageUri: file://$TMP/models/xgboost-iris
EOT
"$KSERVE" apply -f "$TMP/isvc.yaml" >/dev/null
timeout 90 "$KSERVE" wait isvc "$NAME" --for=condition=Ready --timeout=60s >/dev/null
echo '{"instances": [[6.8, 2.8, 4.8, 1.4]]}' >"$TMP/body.json"

# the sampler: one line a second until $TMP/stop exists (and at most 20 minutes)
$PY - "$KSERVE" "$NAME" "$TMP" >"$TMP/samples.txt" 2>"$TMP/sampler.err" <<'EOT' &
import json, os, subprocess, sys, time
kserve, name, tmp = sys.argv[1:4]
t0 = time.monotonic()
print("%6s  %-6s %7s %6s %5s  %-5s %9s %9s" % ("t(s)", "phase", "desired", "actual", "ready", "panic", "stable",
                                               "panic_avg"), flush=True)
while not os.path.exists(os.path.join(tmp, "stop")) and time.monotonic() - t0 < 1200:
    tick = time.monotonic()
    try:
        phase = open(os.path.join(tmp, "phase")).read().strip()
    except OSError:
        phase = "?"
    p = subprocess.run([kserve, "get", "isvc", name, "-o", "json"], capture_output=True, text=True, timeout=10)
    if p.returncode == 0:
        pred = json.loads(p.stdout)["status"]["components"]["predictor"]
        c, a = pred.get("replicaCounts") or {}, pred.get("autoscaler") or {}
        print("%6.1f  %-6s %7s %6s %5s  %-5s %9s %9s" % (
            tick - t0, phase, c.get("desired"), c.get("actual"), c.get("ready"), a.get("panic", "-"),
            a.get("stableAverage", "-"), a.get("panicAverage", "-")), flush=True)
        if phase == "drain" and c.get("actual") == 0 and not json.loads(p.stdout)["status"].get("replicas"):
            open(os.path.join(tmp, "atzero"), "w").close()
    time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
EOT
sampler=$!

URL="http://127.0.0.1:$PORT/v1/models/$NAME:predict"
hey_run() { # label secs conc
    echo "$1" >"$TMP/phase"
    timeout $(($2 + 60)) hey -z "${2}s" -c "$3" -m POST -T application/json -D "$TMP/body.json" \
        -host "$NAME.default.example.com" "$URL" >"$TMP/hey-$1.txt" 2>&1 || echo "hey $1 exited $?" >>"$TMP/hey-$1.txt"
}
echo idle >"$TMP/phase"
sleep 2
t_load=$(date +%s)
hey_run steady "$LOW_SECS" "$LOW_CONC"
hey_run burst "$BURST_SECS" "$BURST_CONC"
t_end=$(date +%s)
echo drain >"$TMP/phase"
for _ in $(seq $((DRAIN_MAX * 10))); do [ -e "$TMP/atzero" ] && break; sleep 0.1; done
t_zero=$(date +%s)
touch "$TMP/stop"
wait "$sampler" 2>/dev/null || true
sampler=""

echo "== replicaCounts and autoscaler status, one sample a second (target $TARGET, stable window 6 s, grace 6 s)"
cat "$TMP/samples.txt"
echo
status=0
for phase in steady burst; do
    echo "== hey $phase ($( [ $phase = steady ] && echo "-z ${LOW_SECS}s -c $LOW_CONC" || echo "-z ${BURST_SECS}s -c $BURST_CONC"))"
    grep -E "Requests/sec|Average:|Slowest:" "$TMP/hey-$phase.txt" | sed 's/^ */  /'
    sed -n '/Latency distribution/,/^$/p' "$TMP/hey-$phase.txt" | grep -E "50%|95%|99%" | sed 's/^ */  /'
    sed -n '/Status code distribution/,/^$/p' "$TMP/hey-$phase.txt"
    if grep -q "Error distribution" "$TMP/hey-$phase.txt"; then sed -n '/Error distribution/,$p' "$TMP/hey-$phase.txt"; fi
    if grep -qE '^\s+\[[013-9][0-9][0-9]\]' "$TMP/hey-$phase.txt" || grep -q "Error distribution\|exited" "$TMP/hey-$phase.txt" \
        || ! grep -qE '^\s+\[2[0-9][0-9]\]' "$TMP/hey-$phase.txt"; then
        echo "  NOT ALL 2xx"
        status=1
    else
        echo "  all 2xx"
    fi
done
echo
if [ -e "$TMP/atzero" ]; then
    echo "back to zero $((t_zero - t_end)) s after the load ended"
else
    echo "NOT back to zero within ${DRAIN_MAX} s after the load ended"
    status=1
fi
echo
echo "== the daemon's decisions (kserve autoscaler record isvc $NAME --decisions; t from the start of the load)"
"$KSERVE" autoscaler record isvc "$NAME" --decisions | $PY -c '
import json, sys
t0 = int(sys.argv[1])
print("%6s %7s %5s %6s %5s  %-5s %9s %9s %6s %7s" % ("t(s)", "desired", "ready", "actual", "scale", "panic",
                                                    "stable", "panic_avg", "ebc", "in_path"))
for line in sys.stdin:
    d = json.loads(line)
    if d.get("valid", True) is False:
        print("%6d %7s %5s %6s %5s  (no data)" % (d["t"] - t0, "-", d["ready"], d["actual"], d["scale"]))
        continue
    print("%6d %7d %5d %6d %5d  %-5s %9s %9s %6d %7s" % (d["t"] - t0, d["desired"], d["ready"], d["actual"],
          d["scale"], d["panic"], d["stable"], d["panic_avg"], d["ebc"], d["in_path"]))
' "$t_load"
exit $status
