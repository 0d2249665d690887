"""V1 (TensorFlow-Serving style) REST protocol against every model kind."""
import concurrent.futures
import json

import numpy as np
import pytest

from conftest import (MODELS, SEED_INSTANCES, RawConn, assert_same_predictions,
                      http_request_bytes, sample_rows)


def test_root_alive(shared):
    srv = shared.get("sklearn-iris")
    r = srv.get("/")
    assert r.status_code == 200
    assert r.json() == {"status": "alive"}


def test_list_models(shared):
    srv = shared.get("sklearn-iris")
    r = srv.get("/v1/models")
    assert r.status_code == 200
    assert r.json() == {"models": ["sklearn-iris"]}


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-iris"])
def test_model_ready(shared, model):
    srv = shared.get(model)
    r = srv.get("/v1/models/" + model)
    assert r.status_code == 200
    assert r.json() == {"name": model, "ready": True}


def test_seed_example(shared):
    """The seed's own example answers exactly {"predictions": [1, 1]}."""
    srv = shared.get("sklearn-iris")
    r = srv.post_json("/v1/models/sklearn-iris:predict", {"instances": SEED_INSTANCES})
    assert r.status_code == 200, r.content
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert r.json() == {"predictions": [1, 1]}


@pytest.mark.parametrize("model", list(MODELS))
def test_predict_matches_library(shared, ref, model):
    srv = shared.get(model)
    rows = sample_rows(model, 25)
    r = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
    assert r.status_code == 200, r.content[:500]
    doc = r.json()
    assert list(doc) == ["predictions"], doc
    assert_same_predictions(doc["predictions"], ref.v1(model, rows))


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-binary", "sklearn-diabetes"])
def test_predict_single_row(shared, ref, model):
    srv = shared.get(model)
    rows = sample_rows(model, 1, seed=5)
    r = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
    assert r.status_code == 200, r.content[:500]
    assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-iris"])
def test_predict_inputs_root_key(shared, ref, model):
    """The root key "inputs" is accepted as well as "instances"."""
    srv = shared.get(model)
    rows = sample_rows(model, 7, seed=3)
    r = srv.post_json("/v1/models/%s:predict" % model, {"inputs": rows})
    assert r.status_code == 200, r.content[:500]
    assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-iris"])
def test_predict_integer_instances(shared, ref, model):
    srv = shared.get(model)
    rows = [[7, 3, 5, 1], [5, 3, 1, 0], [6, 3, 5, 2]]
    r = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
    assert r.status_code == 200, r.content[:500]
    assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))


@pytest.mark.parametrize("model", ["sklearn-iris", "sklearn-iris-lr", "sklearn-iris-names"])
def test_predict_proba(shared, ref, model):
    """PREDICT_PROBA=true: sklearn answers predict_proba."""
    srv = shared.get(model, proba=True)
    rows = sample_rows(model, 12, seed=1)
    r = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
    assert r.status_code == 200, r.content[:500]
    expected = ref.v1(model, rows, proba=True)
    assert np.array(expected).shape == (12, 3)
    assert_same_predictions(r.json()["predictions"], expected)


def test_predict_proba_regressor_falls_back_to_predict(shared, ref):
    """A regressor has no predict_proba: KServe answers predict even with PREDICT_PROBA."""
    srv = shared.get("sklearn-diabetes", proba=True)
    rows = sample_rows("sklearn-diabetes", 5)
    r = srv.post_json("/v1/models/sklearn-diabetes:predict", {"instances": rows})
    assert r.status_code == 200, r.content[:500]
    assert_same_predictions(r.json()["predictions"], ref.v1("sklearn-diabetes", rows))


@pytest.mark.parametrize("model,n", [("xgboost-iris", 20000), ("sklearn-iris", 3000)])
def test_large_batch(shared, ref, model, n):
    srv = shared.get(model)
    rng = np.random.RandomState(11)
    rows = np.round(rng.uniform(0, 8, size=(n, 4)), 2).tolist()
    body = json.dumps({"instances": rows}).encode()
    assert len(body) < 1000000
    r = srv.post_raw("/v1/models/%s:predict" % model, body,
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.content[:500]
    assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))


def test_keep_alive_session(shared, ref):
    """Many requests over one kept-alive connection."""
    srv = shared.get("xgboost-iris")
    conn = RawConn(srv.port)
    try:
        for i in range(20):
            rows = sample_rows("xgboost-iris", 2, seed=i)
            body = json.dumps({"instances": rows}).encode()
            conn.send(http_request_bytes("POST", "/v1/models/xgboost-iris:predict", body,
                                         {"Content-Type": "application/json"}))
            resp = conn.read_response()
            assert resp.status == 200, resp
            assert_same_predictions(resp.json()["predictions"], ref.v1("xgboost-iris", rows))
    finally:
        conn.close()


def test_pipelined_requests(shared, ref):
    """Two requests written back to back get two answers, in order."""
    srv = shared.get("sklearn-iris")
    rows_a = sample_rows("sklearn-iris", 3, seed=1)
    rows_b = sample_rows("sklearn-iris", 4, seed=2)
    data = b"".join(http_request_bytes("POST", "/v1/models/sklearn-iris:predict",
                                       json.dumps({"instances": rows}).encode(),
                                       {"Content-Type": "application/json"})
                    for rows in (rows_a, rows_b))
    conn = RawConn(srv.port)
    try:
        conn.send(data)
        ra = conn.read_response()
        rb = conn.read_response()
    finally:
        conn.close()
    assert ra.status == 200 and rb.status == 200, (ra, rb)
    assert_same_predictions(ra.json()["predictions"], ref.v1("sklearn-iris", rows_a))
    assert_same_predictions(rb.json()["predictions"], ref.v1("sklearn-iris", rows_b))


def test_expect_100_continue(shared, ref):
    """curl sends Expect: 100-continue for bodies over 1 KiB; the answer must still come."""
    srv = shared.get("sklearn-iris")
    rows = sample_rows("sklearn-iris", 60, seed=4)
    body = json.dumps({"instances": rows}).encode()
    head = http_request_bytes("POST", "/v1/models/sklearn-iris:predict", None,
                              {"Content-Type": "application/json",
                               "Content-Length": str(len(body)), "Expect": "100-continue"})
    conn = RawConn(srv.port)
    try:
        conn.send(head)
        # Give the server a moment to send "100 Continue" (not required), then send the body.
        conn.sock.settimeout(0.5)
        try:
            conn._fill()
        except OSError:
            pass
        conn.sock.settimeout(5)
        conn.send(body)
        resp = conn.read_response()
    finally:
        conn.close()
    assert resp.status == 200, resp
    assert_same_predictions(resp.json()["predictions"], ref.v1("sklearn-iris", rows))


def test_http10_request(shared):
    srv = shared.get("sklearn-iris")
    conn = RawConn(srv.port)
    try:
        conn.send(b"GET / HTTP/1.0\r\n\r\n")
        resp = conn.read_response()
    finally:
        conn.close()
    assert resp.status == 200, resp
    assert resp.json() == {"status": "alive"}


@pytest.mark.parametrize("model", ["xgboost-iris", "sklearn-iris-names"])
def test_concurrent_clients(shared, ref, model):
    """8 clients at once, 10 requests each, every answer right."""
    srv = shared.get(model)
    import requests

    def client(k):
        s = requests.Session()
        try:
            for i in range(10):
                rows = sample_rows(model, 1 + (k + i) % 5, seed=100 * k + i)
                r = s.post(srv.url + "/v1/models/%s:predict" % model,
                           data=json.dumps({"instances": rows}),
                           headers={"Content-Type": "application/json"}, timeout=(3, 15))
                assert r.status_code == 200, r.content[:300]
                assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))
        finally:
            s.close()
        return True

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = [f.result(timeout=60) for f in [ex.submit(client, k) for k in range(8)]]
    assert all(results)
    srv.assert_alive()


def test_many_connections_at_once(shared, ref):
    """40 connections opened together, each sends one request; all answered."""
    srv = shared.get("sklearn-iris")
    rows = sample_rows("sklearn-iris", 2, seed=8)
    expected = ref.v1("sklearn-iris", rows)
    body = json.dumps({"instances": rows}).encode()
    req = http_request_bytes("POST", "/v1/models/sklearn-iris:predict", body,
                             {"Content-Type": "application/json"})
    conns = [RawConn(srv.port, timeout=10) for _ in range(40)]
    try:
        for c in conns:
            c.send(req)
        for c in conns:
            resp = c.read_response()
            assert resp.status == 200, resp
            assert_same_predictions(resp.json()["predictions"], expected)
    finally:
        for c in conns:
            c.close()


def test_string_labels_are_strings(shared, ref):
    srv = shared.get("sklearn-iris-names")
    rows = sample_rows("sklearn-iris-names", 10)
    r = srv.post_json("/v1/models/sklearn-iris-names:predict", {"instances": rows})
    assert r.status_code == 200, r.content[:500]
    preds = r.json()["predictions"]
    assert all(isinstance(p, str) for p in preds), preds
    assert set(preds) <= {"setosa", "versicolor", "virginica"}
    assert preds == ref.v1("sklearn-iris-names", rows)


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-iris"])
def test_explain_not_implemented(shared, ref, model):
    """No explainer: :explain answers 501 with a JSON error; the model keeps serving."""
    srv = shared.get(model)
    rows = sample_rows(model, 2)
    r = srv.post_json("/v1/models/%s:explain" % model, {"instances": rows})
    assert r.status_code == 501, r.content[:300]
    doc = r.json()
    assert isinstance(doc.get("error"), str) and doc["error"], doc
    r = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
    assert r.status_code == 200
    assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))


@pytest.mark.parametrize("body,rows", [
    (b'{"instances": [[6.8e0, 2.8E+0, 48e-1, 0.14e1], [6, 3.4, 4.50, 1.6000]]}',
     [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]),
    (b'\n {\n\t"instances" :\n [ [ 6.8 , 2.8 , 4.8 , 1.4 ] ]\n }\n ', [[6.8, 2.8, 4.8, 1.4]]),
    (b'{"\\u0069nstances": [[5.1, 3.5, 1.4, 0.2]]}', [[5.1, 3.5, 1.4, 0.2]]),
    (b'{"signature_name": "x", "instances": [[5.9, 3.0, 5.1, 1.8]], "extra": {"a": [1, {"b": null}]}}',
     [[5.9, 3.0, 5.1, 1.8]]),
    (b'{"instances": [[-0.0, 1E-300, 7, -2.5]]}', [[-0.0, 1e-300, 7, -2.5]]),
], ids=["number-forms", "whitespace", "unicode-escaped-key", "extra-keys", "odd-numbers"])
@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-iris"])
def test_json_syntax_variants(shared, ref, model, body, rows):
    """Any valid JSON spelling of the same request gives the same answer."""
    srv = shared.get(model)
    r = srv.post_raw("/v1/models/%s:predict" % model, body,
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.content[:300]
    assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))


@pytest.mark.parametrize("model", ["sklearn-iris-lr", "xgboost-iris"])
def test_extreme_values(shared, ref, model):
    srv = shared.get(model)
    rows = [[-1e30, 0.0, 1e-30, 3.0e38], [1e10, -1e10, 5.0, 0.5]]
    r = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
    assert r.status_code == 200, r.content[:300]
    assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))


def test_no_content_type(shared, ref):
    srv = shared.get("sklearn-iris")
    rows = sample_rows("sklearn-iris", 3)
    r = srv.post_raw("/v1/models/sklearn-iris:predict", json.dumps({"instances": rows}).encode())
    assert r.status_code == 200, r.content[:300]
    assert r.json()["predictions"] == ref.v1("sklearn-iris", rows)


def test_chunked_request_body(shared, ref):
    """HTTP/1.1 chunked request bodies (streaming clients send them)."""
    srv = shared.get("xgboost-iris")
    rows = sample_rows("xgboost-iris", 6, seed=44)
    body = json.dumps({"instances": rows}).encode()
    chunks = [body[i:i + 17] for i in range(0, len(body), 17)]
    data = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    head = http_request_bytes("POST", "/v1/models/xgboost-iris:predict", None,
                              {"Content-Type": "application/json",
                               "Transfer-Encoding": "chunked"})
    conn = RawConn(srv.port)
    try:
        conn.send(head + data)
        resp = conn.read_response()
    finally:
        conn.close()
    assert resp.status == 200, resp
    assert_same_predictions(resp.json()["predictions"], ref.v1("xgboost-iris", rows))


@pytest.mark.parametrize("path,expected", [
    ("/v2/health/ready?probe=1", {"ready": True}),
    ("/v1/models/sklearn-iris?x=y", {"name": "sklearn-iris", "ready": True}),
])
def test_query_string_ignored(shared, path, expected):
    srv = shared.get("sklearn-iris")
    r = srv.get(path)
    assert r.status_code == 200, r.content[:300]
    assert r.json() == expected
