"""Readiness, SIGTERM drain, model repository load/unload, metrics."""
import json
import os
import re
import shutil
import signal
import socket
import time

import numpy as np
import pytest
import requests

from conftest import (READY_TIMEOUT, RawConn, assert_json_error, assert_same_predictions,
                      http_request_bytes, sample_rows, v2_request)

JSON_CT = {"Content-Type": "application/json"}


# --------------------------------------------------------------------------
# readiness

def test_readiness_and_503_before_ready(server, ref):
    """From launch until ready: nothing but 503 (or refused connections) for ready and infer;
    live answers 200 whenever the server answers at all; then everything works."""
    srv = server("sklearn-iris", wait=False)
    rows = sample_rows("sklearn-iris", 2)
    body = json.dumps({"instances": rows})
    seen = {"ready": [], "infer": [], "live": [], "model": []}
    deadline = time.monotonic() + READY_TIMEOUT
    ready = False
    bad = []
    while time.monotonic() < deadline and not ready:
        assert srv.proc.poll() is None, "server exited during startup\n" + srv.describe()
        try:
            r = requests.post(srv.url + "/v1/models/sklearn-iris:predict", data=body,
                              headers=JSON_CT, timeout=(0.5, 5))
            seen["infer"].append(r.status_code)
            if r.status_code == 503:
                assert_json_error(r, 503)
            elif r.status_code == 200:
                if r.json()["predictions"] != ref.v1("sklearn-iris", rows):
                    bad.append("wrong answer during startup: %r" % r.content)
            else:
                bad.append("predict during startup: %d %r" % (r.status_code, r.content[:200]))
            r = requests.get(srv.url + "/v1/models/sklearn-iris", timeout=(0.5, 5))
            seen["model"].append(r.status_code)
            if r.status_code not in (200, 503):
                bad.append("/v1/models/m during startup: %d" % r.status_code)
            r = requests.get(srv.url + "/v2/health/live", timeout=(0.5, 5))
            seen["live"].append(r.status_code)
            if r.status_code != 200:
                bad.append("live during startup: %d" % r.status_code)
            r = requests.get(srv.url + "/v2/health/ready", timeout=(0.5, 5))
            seen["ready"].append(r.status_code)
            if r.status_code == 200:
                assert r.json() == {"ready": True}
                ready = True
            elif r.status_code != 503:
                bad.append("ready during startup: %d" % r.status_code)
        except requests.ConnectionError:
            time.sleep(0.02)
    assert ready, "not ready within %.0fs; seen=%r\n%s" % (READY_TIMEOUT, seen, srv.describe())
    assert not bad, bad
    # Loading scikit-learn takes a good fraction of a second: the server listens meanwhile
    # and says 503, as the contract has it.
    assert 503 in seen["ready"], "never saw 503 from /v2/health/ready during startup: %r" % seen
    assert 503 in seen["infer"], "never saw 503 from :predict during startup: %r" % seen
    r = srv.post_json("/v1/models/sklearn-iris:predict", {"instances": rows})
    assert r.status_code == 200 and r.json()["predictions"] == ref.v1("sklearn-iris", rows)
    r = srv.get("/v1/models/sklearn-iris")
    assert r.json() == {"name": "sklearn-iris", "ready": True}


@pytest.mark.parametrize("model", ["xgboost-iris-ubj", "sklearn-iris-lr"])
def test_ready_quickly(server, model):
    t0 = time.monotonic()
    srv = server(model)
    assert time.monotonic() - t0 < READY_TIMEOUT
    assert srv.get("/v2/models/%s/ready" % model).json() == {"name": model, "ready": True}


# --------------------------------------------------------------------------
# SIGTERM

def _port_refuses(port):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def test_sigterm_idle_exits_0(server):
    srv = server("xgboost-iris", expect_exit=None)
    assert srv.get("/").status_code == 200
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(timeout=10)
    assert rc == 0, "exit status %r after SIGTERM\n%s" % (rc, srv.describe())
    assert time.monotonic() - t0 < 5, "idle server took %.1fs to stop" % (time.monotonic() - t0)
    assert _port_refuses(srv.port), "port still accepting after exit"


def test_sigterm_drains_inflight_request(server, ref):
    """A request whose body is still arriving when SIGTERM comes is answered; new connections
    are not served; then the process exits 0."""
    srv = server("sklearn-iris", expect_exit=None)
    rows = sample_rows("sklearn-iris", 5, seed=17)
    body = json.dumps({"instances": rows}).encode()
    half = len(body) // 2
    conn = RawConn(srv.port, timeout=10)
    try:
        conn.send(http_request_bytes("POST", "/v1/models/sklearn-iris:predict", None,
                                     {"Content-Type": "application/json",
                                      "Content-Length": str(len(body))}) + body[:half])
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert srv.alive(), "server exited with a request in flight (rc=%r)\n%s" % (
            srv.proc.poll(), srv.describe())
        try:
            r = requests.get(srv.url + "/v2/health/live", timeout=(1, 1))
            new_status = r.status_code
        except requests.RequestException:
            new_status = None
        conn.send(body[half:])
        resp = conn.read_response()
    finally:
        conn.close()
    assert resp.status == 200, resp
    assert resp.json()["predictions"] == ref.v1("sklearn-iris", rows)
    try:
        rc = srv.proc.wait(timeout=10)
    except Exception:
        rc = "still running 10 s after the in-flight request finished"
    assert rc == 0, "exit status %r\n%s" % (rc, srv.describe())
    assert new_status in (None, 503), \
        "a new connection after SIGTERM was served with %r (should not be accepted)" % new_status


def test_sigterm_with_idle_keepalive_connection(server):
    """An idle kept-alive client connection does not keep the server from exiting."""
    srv = server("sklearn-iris", expect_exit=None)
    conn = RawConn(srv.port, timeout=5)
    try:
        conn.send(http_request_bytes("GET", "/v2/health/live", None))
        resp = conn.read_response()
        assert resp.status == 200
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            rc = srv.proc.wait(timeout=8)
        except Exception:
            rc = "still running 8 s after SIGTERM"
        assert rc == 0, "exit status %r\n%s" % (rc, srv.describe())
        assert time.monotonic() - t0 < 8
    finally:
        conn.close()


def test_sigterm_after_traffic(server, ref):
    """After a burst of mixed traffic the server still exits 0 (checked by the fixture)."""
    srv = server("xgboost-binary")
    for i in range(30):
        rows = sample_rows("xgboost-binary", 1 + i % 4, seed=i)
        r = srv.post_json("/v1/models/xgboost-binary:predict", {"instances": rows})
        assert r.status_code == 200
        assert_same_predictions(r.json()["predictions"], ref.v1("xgboost-binary", rows))
        srv.post_json("/v1/models/xgboost-binary:predict", {"instances": [[1, 2]]})


# --------------------------------------------------------------------------
# model repository: load / unload

def _v2_infer_ok(srv, ref, model):
    rows = sample_rows(model, 4, seed=23)
    r = srv.post_json("/v2/models/%s/infer" % model, v2_request(rows, "FP32"))
    assert r.status_code == 200, "%s: %d %r" % (model, r.status_code, r.content[:300])
    exp = ref.predict(model, np.array(rows, dtype=np.float32))
    assert r.json()["model_name"] == model
    assert_same_predictions(r.json()["outputs"][0]["data"], exp.reshape(-1).tolist())
    r = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
    assert r.status_code == 200, r.content[:300]
    assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))


def _model_names(srv, path):
    doc = srv.get(path).json()
    return sorted(m if isinstance(m, str) else m.get("name") for m in doc["models"])


def test_load_unload_from_parent_dir(server, ref):
    srv = server("sklearn-iris")
    r = srv.post("/v2/repository/models/xgboost-iris/load")
    assert r.status_code == 200, r.content[:300]
    assert r.json() == {"name": "xgboost-iris", "load": True}
    assert srv.get("/v2/models/xgboost-iris/ready").json() == {"name": "xgboost-iris",
                                                               "ready": True}
    md = srv.get("/v2/models/xgboost-iris").json()
    assert md["platform"] == "xgboost" and md["inputs"][0]["shape"] == [-1, 4], md
    _v2_infer_ok(srv, ref, "xgboost-iris")
    _v2_infer_ok(srv, ref, "sklearn-iris")
    assert _model_names(srv, "/v2/models") == ["sklearn-iris", "xgboost-iris"]
    assert _model_names(srv, "/v1/models") == ["sklearn-iris", "xgboost-iris"]

    r = srv.post("/v2/repository/models/xgboost-iris/unload")
    assert r.status_code == 200, r.content[:300]
    assert r.json() == {"name": "xgboost-iris", "unload": True}
    assert_json_error(srv.post_json("/v2/models/xgboost-iris/infer",
                                    v2_request(sample_rows("xgboost-iris", 1), "FP32")),
                      404, "Model with name xgboost-iris does not exist.")
    assert_json_error(srv.post_json("/v1/models/xgboost-iris:predict",
                                    {"instances": sample_rows("xgboost-iris", 1)}), 404)
    assert srv.get("/v2/models/xgboost-iris/ready").status_code == 404
    assert _model_names(srv, "/v2/models") == ["sklearn-iris"]
    _v2_infer_ok(srv, ref, "sklearn-iris")

    # load again after unload
    r = srv.post("/v2/repository/models/xgboost-iris/load")
    assert r.status_code == 200 and r.json() == {"name": "xgboost-iris", "load": True}
    _v2_infer_ok(srv, ref, "xgboost-iris")


def test_load_sklearn_next_to_xgboost(server, ref):
    """Both runtimes in one process: string-label sklearn model loaded beside xgboost."""
    srv = server("xgboost-binary")
    r = srv.post("/v2/repository/models/sklearn-iris-names/load")
    assert r.status_code == 200 and r.json() == {"name": "sklearn-iris-names", "load": True}, \
        r.content[:300]
    _v2_infer_ok(srv, ref, "sklearn-iris-names")
    out = srv.post_json("/v2/models/sklearn-iris-names/infer",
                        v2_request(sample_rows("sklearn-iris-names", 2), "FP32")).json()
    assert out["outputs"][0]["datatype"] == "BYTES"
    rows = sample_rows("xgboost-binary", 3)
    r = srv.post_json("/v1/models/xgboost-binary:predict", {"instances": rows})
    assert_same_predictions(r.json()["predictions"], ref.v1("xgboost-binary", rows))


def test_load_from_model_dir_subdirectory(server, models_dir, ref, tmp_path):
    """<model_dir>/<name>/ is looked at before <parent of model_dir>/<name>/."""
    root = tmp_path / "repo"
    main = root / "main"
    os.makedirs(main / "xgboost-diabetes")
    shutil.copy(os.path.join(models_dir, "sklearn-iris", "model.joblib"), main / "model.joblib")
    # <model_dir>/xgboost-diabetes holds the binary model; the parent's would be absent
    shutil.copy(os.path.join(models_dir, "xgboost-binary", "model.json"),
                main / "xgboost-diabetes" / "model.json")
    srv = server("sklearn-iris", model_dir=str(main))
    r = srv.post("/v2/repository/models/xgboost-diabetes/load")
    assert r.status_code == 200, r.content[:300]
    md = srv.get("/v2/models/xgboost-diabetes").json()
    assert md["inputs"][0]["shape"] == [-1, 6], "loaded the wrong directory: %r" % md
    rows = sample_rows("xgboost-binary", 5)
    r = srv.post_json("/v1/models/xgboost-diabetes:predict", {"instances": rows})
    assert r.status_code == 200
    assert_same_predictions(r.json()["predictions"], ref.v1("xgboost-binary", rows))


def test_unload_and_reload_startup_model(server, ref):
    srv = server("sklearn-iris")
    r = srv.post("/v2/repository/models/sklearn-iris/unload")
    assert r.status_code == 200 and r.json() == {"name": "sklearn-iris", "unload": True}
    assert_json_error(srv.post_json("/v1/models/sklearn-iris:predict",
                                    {"instances": sample_rows("sklearn-iris", 1)}),
                      404, "Model with name sklearn-iris does not exist.")
    assert_json_error(srv.post_json("/v2/models/sklearn-iris/infer",
                                    v2_request(sample_rows("sklearn-iris", 1))), 404)
    assert srv.alive()
    r = srv.post("/v2/repository/models/sklearn-iris/load")
    assert r.status_code == 200 and r.json() == {"name": "sklearn-iris", "load": True}, \
        r.content[:300]
    _v2_infer_ok(srv, ref, "sklearn-iris")


def test_load_unload_unknown(server, ref):
    srv = server("sklearn-iris")
    r = srv.post("/v2/repository/models/no-such-model/load")
    assert r.status_code >= 400, "loading a model with no directory: %d %r" % (
        r.status_code, r.content[:200])
    assert_json_error(r, r.status_code)
    assert_json_error(srv.post("/v2/repository/models/no-such-model/unload"), 404)
    assert srv.get("/v2/models/no-such-model/ready").status_code == 404
    _v2_infer_ok(srv, ref, "sklearn-iris")


def test_load_corrupt_model_keeps_serving(server, models_dir, ref, tmp_path):
    main = tmp_path / "main"
    os.makedirs(main / "broken")
    shutil.copy(os.path.join(models_dir, "xgboost-iris", "model.bst"), main / "model.bst")
    (main / "broken" / "model.bst").write_bytes(b"\x00garbage" * 100)
    srv = server("xgboost-iris", model_dir=str(main))
    r = srv.post("/v2/repository/models/broken/load")
    assert r.status_code >= 400, r.content[:200]
    assert_json_error(r, r.status_code)
    srv.assert_alive()
    _v2_infer_ok(srv, ref, "xgboost-iris")


def test_load_unload_concurrent_with_traffic(server, ref):
    """Inference on one model keeps working while another is loaded and unloaded."""
    import threading
    srv = server("xgboost-iris")
    stop = time.monotonic() + 1.5
    errors = []

    def traffic():
        s = requests.Session()
        rows = sample_rows("xgboost-iris", 3)
        exp = ref.v1("xgboost-iris", rows)
        try:
            while time.monotonic() < stop:
                r = s.post(srv.url + "/v1/models/xgboost-iris:predict",
                           data=json.dumps({"instances": rows}), timeout=(3, 10))
                if r.status_code != 200:
                    errors.append(r.status_code)
                    return
                assert_same_predictions(r.json()["predictions"], exp)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            s.close()

    t = threading.Thread(target=traffic)
    t.start()
    try:
        for _ in range(5):
            assert srv.post("/v2/repository/models/xgboost-binary/load").status_code == 200
            _v2_infer_ok(srv, ref, "xgboost-binary")
            assert srv.post("/v2/repository/models/xgboost-binary/unload").status_code == 200
    finally:
        t.join(timeout=20)
    assert not t.is_alive()
    assert not errors, errors[:5]


# --------------------------------------------------------------------------
# metrics

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        out.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def metric(samples, name, **labels):
    vals = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
    assert vals, "no sample %s%r in /metrics" % (name, labels)
    return sum(vals)


def test_metrics(server, ref):
    srv = server("sklearn-iris")
    for i in range(3):
        rows = sample_rows("sklearn-iris", 2, seed=i)
        r = srv.post_json("/v1/models/sklearn-iris:predict", {"instances": rows})
        assert r.status_code == 200
    for i in range(2):
        rows = sample_rows("sklearn-iris", 3, seed=10 + i)
        r = srv.post_json("/v2/models/sklearn-iris/infer", v2_request(rows, "FP32"))
        assert r.status_code == 200

    r = srv.get("/metrics")
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    s = parse_metrics(r.text)
    m = {"model_name": "sklearn-iris"}
    count = metric(s, "request_predict_seconds_count", **m)
    assert count == 5, "request_predict_seconds_count=%r, expected 5" % count
    assert metric(s, "request_predict_seconds_sum", **m) > 0
    buckets = sorted(((float("inf") if l["le"] == "+Inf" else float(l["le"])), v)
                     for n, l, v in s if n == "request_predict_seconds_bucket"
                     and l.get("model_name") == "sklearn-iris")
    assert len(buckets) >= 2, buckets
    assert buckets[-1][0] == float("inf") and buckets[-1][1] == count, buckets
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "buckets not cumulative"
    assert metric(s, "kserve_inference_request_success", model="sklearn-iris") == 5
    assert metric(s, "kserve_inference_count", model="sklearn-iris") == 3 * 2 + 2 * 3
    assert metric(s, "kserve_inference_exec_count", model="sklearn-iris") == 5

    # failures are counted with a reason; successes do not move
    r = srv.post_json("/v1/models/sklearn-iris:predict", {"instances": [[1, 2, 3]]})
    assert r.status_code == 400
    s = parse_metrics(srv.get("/metrics").text)
    fails = [(l, v) for n, l, v in s if n == "kserve_inference_request_failure"
             and l.get("model") == "sklearn-iris"]
    assert fails and sum(v for _, v in fails) >= 1, fails
    assert all(l.get("reason") for l, _ in fails), fails
    assert metric(s, "kserve_inference_request_success", model="sklearn-iris") == 5


def test_metrics_for_loaded_model(server, ref):
    srv = server("sklearn-iris")
    assert srv.post("/v2/repository/models/xgboost-iris/load").status_code == 200
    rows = sample_rows("xgboost-iris", 4)
    for _ in range(2):
        assert srv.post_json("/v1/models/xgboost-iris:predict",
                             {"instances": rows}).status_code == 200
    s = parse_metrics(srv.get("/metrics").text)
    assert metric(s, "request_predict_seconds_count", model_name="xgboost-iris") == 2
    assert metric(s, "kserve_inference_count", model="xgboost-iris") == 8
    assert metric(s, "kserve_inference_request_success", model="xgboost-iris") == 2


def test_sigterm_under_load(server, ref):
    """SIGTERM while clients keep sending: every answer that comes is a right one (or a 503),
    failures are only refused/closed connections, and the process exits 0."""
    import threading
    srv = server("xgboost-iris", expect_exit=None)
    rows = sample_rows("xgboost-iris", 50, seed=3)
    expected = ref.v1("xgboost-iris", rows)
    body = json.dumps({"instances": rows})
    wrong, answered = [], [0]
    stop = time.monotonic() + 4

    def client():
        s = requests.Session()
        try:
            while time.monotonic() < stop:
                try:
                    r = s.post(srv.url + "/v1/models/xgboost-iris:predict", data=body,
                               headers=JSON_CT, timeout=(1, 5))
                except requests.ConnectionError:
                    if srv.proc.poll() is not None:
                        return
                    time.sleep(0.01)
                    continue
                except requests.Timeout:
                    wrong.append("request timed out")
                    return
                if r.status_code == 200:
                    answered[0] += 1
                    try:
                        assert_same_predictions(r.json()["predictions"], expected)
                    except AssertionError as e:
                        wrong.append(str(e)[:200])
                elif r.status_code != 503:
                    wrong.append("status %d %r" % (r.status_code, r.content[:100]))
        finally:
            s.close()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    n_before = answered[0]
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(timeout=10)
    except Exception:
        rc = "still running 10 s after SIGTERM"
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert n_before > 0, "no request answered before SIGTERM"
    assert not wrong, wrong[:5]
    assert rc == 0, "exit status %r\n%s" % (rc, srv.describe())
