"""The C SDK (include/ks/sdk.h) through its two example programs.

examples/transformer (build/examples/iris-transformer) runs in front of a real
`kserve model-server` (xgboost-iris, sklearn-iris) or in front of
examples/model (build/examples/linear-model); the answers must be the model's
own, mapped to class names.  The examples are taken from the directory of
$KSERVE_BIN (build/examples or build-asan/examples), or from
$KSERVE_SDK_EXAMPLES, so the sanitizer run checks the sanitizer-built library.

Every wait is bounded: HTTP timeouts, process waits, polling deadlines.
"""
import http.server
import json
import os
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time

import numpy as np
import pytest
import requests

from conftest import (EXIT_TIMEOUT, READY_TIMEOUT, SANITIZER_MARKERS, RawConn, Server, ServerStartError,
                      _server_env, assert_json_error, free_port, http_request_bytes, kserve_bin,
                      sample_rows, stop_and_check)

CLASSES = ["setosa", "versicolor", "virginica"]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
# examples/model/linear_model.c's built-in weights
IRIS_COEF = np.array([[-0.423054, 0.96713, -2.517386, -1.079541],
                      [0.534066, -0.321289, -0.20624, -0.944204],
                      [-0.111011, -0.645841, 2.723627, 2.023746]])
IRIS_INTERCEPT = np.array([9.848607, 2.238044, -12.08665])


def examples_dir():
    return os.environ.get("KSERVE_SDK_EXAMPLES") or os.path.join(os.path.dirname(kserve_bin()), "examples")


def example(name):
    path = os.path.join(examples_dir(), name)
    if not os.access(path, os.X_OK):
        pytest.fail("SDK example %s not found (make all; for the ASan run: make check)" % path)
    return path


def spawn_example(name, args, env=None):
    """Start an example on a free port; returns a conftest.Server (not yet ready)."""
    port = free_port()
    argv = [example(name), "--http_port", str(port), "--http_host", "127.0.0.1"] + list(args)
    logdir = tempfile.mkdtemp(prefix="kserve-sdk-e2e-")
    out = open(os.path.join(logdir, "stdout"), "wb")
    err = open(os.path.join(logdir, "stderr"), "wb")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=_server_env(env), cwd=logdir)
    finally:
        out.close()
        err.close()
    model = args[args.index("--model_name") + 1] if "--model_name" in args else None
    return Server(proc, port, None, logdir, argv, model)


def run_example(name, args, timeout=10):
    """Run an example to its end; (rc, stderr)."""
    proc = subprocess.run([example(name)] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, env=_server_env(None))
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


@pytest.fixture
def sdk():
    """Factory: sdk(example, args, expect_exit=0, wait=True) -> Server; all are stopped and checked
    (exit status, no sanitizer report) at teardown."""
    started = []

    def start(name, args, expect_exit=0, wait=True, env=None):
        last = None
        for _ in range(3):  # a port taken between free_port() and the bind
            srv = spawn_example(name, args, env=env)
            started.append((srv, expect_exit))
            if not wait:
                return srv
            try:
                srv.wait_ready(READY_TIMEOUT)
                return srv
            except ServerStartError as e:
                last = e
                srv.kill()
                started[-1] = (srv, None)
                if "in use" not in srv.stderr_text().lower():
                    break
        raise last

    yield start
    problems = [m for m in (stop_and_check(srv, exp) for srv, exp in started) if m]
    assert not problems, "\n\n".join(problems)


def records(rows):
    return [dict(zip(FEATURES, r)) for r in rows]


def names_of(predictions):
    """A model's V1 predictions (class indices or rows of probabilities) as class names."""
    out = []
    for p in predictions:
        out.append(CLASSES[int(np.argmax(p))] if isinstance(p, list) else CLASSES[int(p)])
    return out


def transformer(sdk, predictor_port, *extra, name="iris", expect_exit=0):
    return sdk("iris-transformer", ["--model_name", name, "--predictor_host", "127.0.0.1:%d" % predictor_port,
                                    "--workers", "2"] + list(extra), expect_exit=expect_exit)


# --------------------------------------------------------------------------
# the transformer in front of the model server

@pytest.mark.parametrize("model", ["xgboost-iris", "sklearn-iris"])
def test_transformer_v1_matches_model(server, sdk, ref, model):
    ms = server(model, model_name="iris")
    tr = transformer(sdk, ms.port)
    rows = sample_rows(model, 20, seed=5)
    direct = ms.post_json("/v1/models/iris:predict", {"instances": rows})
    assert direct.status_code == 200, direct.content
    r = tr.post_json("/v1/models/iris:predict", {"instances": records(rows)})
    assert r.status_code == 200, r.content
    assert r.headers["Content-Type"].startswith("application/json")
    want = names_of(ref.v1(model, rows))
    assert r.json() == {"predictions": want}
    assert names_of(direct.json()["predictions"]) == want
    # rows of numbers pass through preprocess as they are
    r = tr.post_json("/v1/models/iris:predict", {"instances": rows[:3]})
    assert r.json() == {"predictions": want[:3]}


@pytest.mark.parametrize("predictor_protocol", ["v1", "v2"])
def test_transformer_v2(server, sdk, ref, predictor_protocol):
    """V2 columns in (one tensor per feature), V1 or V2 to the predictor, V2 names out."""
    ms = server("xgboost-iris", model_name="iris")
    tr = transformer(sdk, ms.port, "--protocol", predictor_protocol)
    rows = sample_rows("xgboost-iris", 7, seed=3)
    cols = np.array(rows).T.tolist()
    body = {"id": "req-7", "inputs": [{"name": f, "datatype": "FP64", "shape": [len(rows)], "data": c}
                                      for f, c in zip(FEATURES, cols)]}
    r = tr.post_json("/v2/models/iris/infer", body)
    assert r.status_code == 200, r.content
    doc = r.json()
    want = names_of(ref.v1("xgboost-iris", rows))
    assert doc["model_name"] == "iris"
    assert doc["outputs"] == [{"name": "class", "datatype": "BYTES", "shape": [7], "data": want}]
    if predictor_protocol == "v2":
        assert doc["id"] == "req-7"  # the predictor echoed the id the transformer passed on
    # V1 records through a V2 predictor
    r = tr.post_json("/v1/models/iris:predict", {"instances": records(rows)})
    assert r.json() == {"predictions": want}


def test_transformer_in_front_of_c_model(sdk):
    lm = sdk("linear-model", ["--model_name", "iris", "--workers", "1"])
    tr = transformer(sdk, lm.port)
    rows = sample_rows("xgboost-iris", 30, seed=11)
    want = [CLASSES[c] for c in linear_classes(rows, IRIS_COEF, IRIS_INTERCEPT)]
    r = tr.post_json("/v1/models/iris:predict", {"instances": records(rows)})
    assert r.status_code == 200, r.content
    assert r.json() == {"predictions": want}
    tr2 = transformer(sdk, lm.port, "--protocol", "v2")
    r = tr2.post_json("/v1/models/iris:predict", {"instances": records(rows)})
    assert r.json() == {"predictions": want}


def test_transformer_concurrent(server, sdk, ref):
    ms = server("xgboost-iris", model_name="iris")
    tr = transformer(sdk, ms.port)
    rows = sample_rows("xgboost-iris", 40, seed=8)
    want = names_of(ref.v1("xgboost-iris", rows))
    bad = []

    def client(k):
        s = requests.Session()
        for i in range(25):
            j = (k * 25 + i) % len(rows)
            try:
                r = s.post(tr.url + "/v1/models/iris:predict", json={"instances": records(rows[j:j + 1])},
                           timeout=(3, 15))
                if r.status_code != 200 or r.json() != {"predictions": want[j:j + 1]}:
                    bad.append((r.status_code, r.content[:200]))
            except requests.RequestException as e:
                bad.append(repr(e))
        s.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not bad, bad[:5]
    m = tr.get("/metrics").text
    assert 'kserve_inference_request_success{model="iris"} 200\n' in m
    assert 'request_predict_seconds_count{model_name="iris"} 200\n' in m


# --------------------------------------------------------------------------
# errors

def test_transformer_errors(server, sdk):
    ms = server("xgboost-iris", model_name="iris")
    tr = transformer(sdk, ms.port)
    good = {"instances": records([[6.8, 2.8, 4.8, 1.4]])}
    # bad JSON and bad input: 400 with the protocol's error body
    assert_json_error(tr.post_raw("/v1/models/iris:predict", b"{\"instances\": [", {"Content-Type": "application/json"}),
                      400, "Unrecognized request format")
    assert_json_error(tr.post_raw("/v1/models/iris:predict", b"", {"Content-Type": "application/json"}), 400)
    assert_json_error(tr.post_json("/v1/models/iris:predict", {"instances": 3}), 400, "to be a list")
    assert_json_error(tr.post_json("/v1/models/iris:predict", {"instances": [{"sepal_length": 1}]}), 400,
                      "\"sepal_width\" is missing")
    assert_json_error(tr.post_json("/v2/models/iris/infer", {"inputs": [{"name": "sepal_length", "data": [1]}]}),
                      400, "\"sepal_width\" is missing")
    assert_json_error(tr.post_json("/v1/models/other:predict", good), 404, "Model with name other does not exist.")
    assert_json_error(tr.post_json("/v1/models/iris:explain", good), 501)
    r = tr.get("/v1/models/iris:predict")
    assert_json_error(r, 405)
    # the predictor's own error passes through with its status
    tr_other = transformer(sdk, ms.port, name="other")
    assert_json_error(tr_other.post_json("/v1/models/other:predict", good), 404, "Model with name other does not exist.")
    # still serving
    assert tr.post_json("/v1/models/iris:predict", good).json() == {"predictions": ["versicolor"]}


def test_transformer_predictor_down(server, sdk):
    """No predictor (nothing listens), then one that goes away: 502 with a JSON error; readiness
    stays the transformer's own."""
    nobody = free_port()
    tr = transformer(sdk, nobody)
    good = {"instances": records([[6.8, 2.8, 4.8, 1.4]])}
    assert_json_error(tr.post_json("/v1/models/iris:predict", good), 502, "cannot connect to the predictor")
    assert tr.get("/v2/health/ready").status_code == 200

    ms = server("xgboost-iris", model_name="iris", expect_exit=None)  # stopped below
    tr2 = transformer(sdk, ms.port)
    assert tr2.post_json("/v1/models/iris:predict", good).status_code == 200
    assert stop_and_check(ms) is None
    r = tr2.post_json("/v1/models/iris:predict", good)
    assert_json_error(r, 502, "predictor")
    tr2.assert_alive()
    assert "502 /v1/models/iris:predict model=iris" in tr2.stderr_text()  # one log line per 5xx


def test_transformer_health_and_metadata(server, sdk):
    ms = server("xgboost-iris", model_name="iris")
    tr = transformer(sdk, ms.port)
    assert tr.get("/").json() == {"status": "alive"}
    assert tr.get("/v2/health/live").json() == {"live": True}
    assert tr.get("/v2/health/ready").json() == {"ready": True}
    assert tr.get("/v1/models").json() == {"models": ["iris"]}
    assert tr.get("/v1/models/iris").json() == {"name": "iris", "ready": True}
    assert tr.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    meta = tr.get("/v2/models/iris").json()
    assert meta["name"] == "iris" and meta["inputs"] == [] and meta["outputs"] == []
    assert_json_error(tr.get("/v2/models/nope/ready"), 404)
    tr.post_json("/v1/models/iris:predict", {"instances": records([[5.1, 3.5, 1.4, 0.2]])})
    m = tr.get("/metrics")
    assert m.status_code == 200 and m.headers["Content-Type"].startswith("text/plain")
    for name in ("request_preprocess_seconds", "request_predict_seconds", "request_postprocess_seconds"):
        assert '%s_count{model_name="iris"} 1\n' % name in m.text


def test_bad_command_lines():
    rc, err = run_example("iris-transformer", ["--protocol", "v3"])
    assert rc == 2 and "--protocol" in err
    rc, err = run_example("iris-transformer", ["--no_such_flag", "1"])
    assert rc == 2 and "--no_such_flag" in err
    rc, err = run_example("iris-transformer", ["--http_port", "0", "--http_host", "127.0.0.1"])
    assert rc == 1 and "no predict callback and no --predictor_host" in err
    rc, err = run_example("iris-transformer", ["--help"])
    assert rc == 0
    for m in SANITIZER_MARKERS:
        assert m not in err


# --------------------------------------------------------------------------
# the model example

def linear_classes(rows, coef, intercept):
    return np.argmax(np.array(rows) @ coef.T + intercept, axis=1).tolist()


def test_model_example(sdk, tmp_path):
    lm = sdk("linear-model", [])
    rows = sample_rows("xgboost-iris", 25, seed=2)
    want = linear_classes(rows, IRIS_COEF, IRIS_INTERCEPT)
    r = lm.post_json("/v1/models/linear:predict", {"instances": rows})
    assert r.status_code == 200, r.content
    assert r.json() == {"predictions": want}
    r = lm.post_json("/v2/models/linear/infer", {"id": "7", "inputs": [
        {"name": "input-0", "datatype": "FP32", "shape": [25, 4], "data": np.array(rows).reshape(-1).tolist()}]})
    assert r.json() == {"model_name": "linear", "id": "7",
                        "outputs": [{"name": "predict", "datatype": "INT64", "shape": [25], "data": want}]}
    assert_json_error(lm.post_json("/v1/models/linear:predict", {"instances": [[1, 2, 3]]}), 400, "expected 4 numbers")
    assert_json_error(lm.post_raw("/v1/models/linear:predict", b"[1", {"Content-Type": "application/json"}), 400)

    # weights from --model_dir
    rng = np.random.RandomState(1)
    coef, icpt = rng.randn(4, 3), rng.randn(4)
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.json").write_text(json.dumps({"coef": coef.tolist(), "intercept": icpt.tolist()}))
    lm2 = sdk("linear-model", ["--model_name", "custom", "--model_dir", str(d)])
    x = rng.randn(10, 3).tolist()
    r = lm2.post_json("/v1/models/custom:predict", {"instances": x})
    assert r.json() == {"predictions": linear_classes(x, coef, icpt)}

    # a model that does not load: never ready, exit 1 with the reason
    (d / "model.json").write_text("{\"coef\": []}")
    rc, err = run_example("linear-model", ["--http_port", "0", "--http_host", "127.0.0.1", "--model_dir", str(d)])
    assert rc == 1 and "failed to load model linear" in err, err


# --------------------------------------------------------------------------
# SIGTERM

class SlowPredictor:
    """A predictor on 127.0.0.1 that holds every request `delay` seconds, then answers class 0."""

    def __init__(self, delay):
        outer = self
        self.delay = delay
        self.got = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.got.set()
                time.sleep(outer.delay)
                body = b'{"predictions":[0]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class TServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.httpd = TServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def test_sigterm_drains(sdk):
    """SIGTERM while a request waits for the predictor: it is answered, readiness and new
    connections stop, and the process exits 0."""
    slow = SlowPredictor(1.5)
    try:
        tr = transformer(sdk, slow.port, expect_exit=None)  # stopped here
        result = {}

        def client():
            try:
                result["r"] = requests.post(tr.url + "/v1/models/iris:predict",
                                            json={"instances": records([[5.1, 3.5, 1.4, 0.2]])}, timeout=(3, 15))
            except requests.RequestException as e:
                result["e"] = e

        t = threading.Thread(target=client)
        t.start()
        assert slow.got.wait(10), "the predictor never got the request"
        tr.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert tr.alive(), "exited with a request in flight\n" + tr.describe()
        try:
            new = requests.get(tr.url + "/v2/health/ready", timeout=(1, 1)).status_code
        except requests.RequestException:
            new = None
        t.join(timeout=15)
        assert "r" in result, result
        assert result["r"].status_code == 200 and result["r"].json() == {"predictions": ["setosa"]}
        rc = tr.proc.wait(timeout=EXIT_TIMEOUT)
        assert rc == 0, tr.describe()
        assert new in (None, 503), "served a new connection after SIGTERM: %r" % new
        assert "SIGTERM: draining" in tr.stderr_text()
    finally:
        slow.close()


def test_sigterm_idle_keepalive(server, sdk):
    """Idle keep-alive connections, the client's and the predictor's, do not hold the exit up."""
    ms = server("xgboost-iris", model_name="iris")
    tr = transformer(sdk, ms.port, expect_exit=None)  # stopped here
    conn = RawConn(tr.port, timeout=5)
    try:
        body = json.dumps({"instances": records([[6.8, 2.8, 4.8, 1.4]])}).encode()
        conn.send(http_request_bytes("POST", "/v1/models/iris:predict", body, {"Content-Type": "application/json"}))
        assert conn.read_response().json() == {"predictions": ["versicolor"]}
        t0 = time.monotonic()
        tr.proc.send_signal(signal.SIGTERM)
        rc = tr.proc.wait(timeout=8)
        assert rc == 0 and time.monotonic() - t0 < 8
    finally:
        conn.close()
