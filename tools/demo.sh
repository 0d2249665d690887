#!/usr/bin/env bash
# make demo: the platform with the seed's sklearn-iris InferenceService.
# Starts `kserve up` (state in $KSERVE_HOME, default ./.kserve), applies the
# seed's YAML, waits for Ready, prints the curl that asks it, and keeps the
# platform running until Ctrl-C (which stops every replica).
set -euo pipefail
cd "$(dirname "$0")/.."
KSERVE=./build/kserve
export KSERVE_HOME=${KSERVE_HOME:-$PWD/.kserve}
PORT=${INGRESS_PORT:-8080}
MODEL_DIR=$PWD/build/demo/sklearn-iris

[ -f "$MODEL_DIR/model.joblib" ] || /usr/bin/python3 tools/../tests/tools/train_models.py build/demo sklearn-iris
"$KSERVE" up --ingress-port "$PORT" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon' INT TERM EXIT
for _ in $(seq 200); do [ -S "$KSERVE_HOME/api.sock" ] && break; sleep 0.05; done
sed "s#@MODEL_DIR@#$MODEL_DIR#" config/demo/sklearn-iris.yaml | "$KSERVE" apply -f -
"$KSERVE" wait isvc sklearn-iris --for=condition=Ready --timeout=60s
"$KSERVE" get isvc sklearn-iris
cat <<EOT

The seed's sklearn-iris is Ready.  Ask it through the ingress, as in KServe's docs:

  curl -H "Host: sklearn-iris.default.example.com" -H "Content-Type: application/json" \\
       http://127.0.0.1:$PORT/v1/models/sklearn-iris:predict \\
       -d '{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}'

  (answers {"predictions":[1,1]})   More: KSERVE_HOME=$KSERVE_HOME $KSERVE describe isvc sklearn-iris
Ctrl-C stops the platform and its replicas.
EOT
wait $daemon
