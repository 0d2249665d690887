"""V2 (Open Inference Protocol) REST: server/model metadata, health, infer."""
import numpy as np
import pytest

from conftest import (MODELS, NP_DTYPES, SEED_INSTANCES, SKLEARN_MODELS, XGBOOST_MODELS,
                      assert_same_predictions, sample_rows, v2_request)


def test_server_metadata(shared):
    srv = shared.get("sklearn-iris")
    r = srv.get("/v2")
    assert r.status_code == 200
    doc = r.json()
    assert isinstance(doc.get("name"), str) and doc["name"]
    assert isinstance(doc.get("version"), str) and doc["version"]
    assert isinstance(doc.get("extensions"), list)
    assert all(isinstance(e, str) for e in doc["extensions"])


def test_health(shared):
    srv = shared.get("sklearn-iris")
    r = srv.get("/v2/health/live")
    assert r.status_code == 200 and r.json() == {"live": True}
    r = srv.get("/v2/health/ready")
    assert r.status_code == 200 and r.json() == {"ready": True}


def test_list_models(shared):
    srv = shared.get("xgboost-iris")
    r = srv.get("/v2/models")
    assert r.status_code == 200
    doc = r.json()
    assert isinstance(doc.get("models"), list)
    names = [m if isinstance(m, str) else m.get("name") for m in doc["models"]]
    assert names == ["xgboost-iris"], doc


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("versioned", [False, True], ids=["plain", "versioned"])
def test_model_metadata(shared, model, versioned):
    srv = shared.get(model)
    path = "/v2/models/" + model + ("/versions/1" if versioned else "")
    r = srv.get(path)
    assert r.status_code == 200, r.content[:300]
    doc = r.json()
    runtime, nfeat = MODELS[model][1], MODELS[model][2]
    assert doc["name"] == model
    assert isinstance(doc.get("versions"), list)
    assert doc["platform"] == runtime
    assert isinstance(doc.get("inputs"), list) and len(doc["inputs"]) == 1, doc
    inp = doc["inputs"][0]
    assert isinstance(inp.get("name"), str) and inp["name"]
    assert inp["shape"] == [-1, nfeat], inp
    assert isinstance(inp.get("datatype"), str)
    if runtime == "xgboost":
        assert inp["datatype"] == "FP32"
    assert isinstance(doc.get("outputs"), list)
    for t in doc["outputs"]:
        assert {"name", "datatype", "shape"} <= set(t), t


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-binary"])
@pytest.mark.parametrize("versioned", [False, True], ids=["plain", "versioned"])
def test_model_ready(shared, model, versioned):
    srv = shared.get(model)
    r = srv.get("/v2/models/" + model + ("/versions/1" if versioned else "") + "/ready")
    assert r.status_code == 200
    assert r.json() == {"name": model, "ready": True}


def test_seed_example(shared):
    srv = shared.get("sklearn-iris")
    req = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32",
                       "data": SEED_INSTANCES}]}
    r = srv.post_json("/v2/models/sklearn-iris/infer", req)
    assert r.status_code == 200, r.content[:300]
    assert r.headers.get("Content-Type", "").startswith("application/json")
    doc = r.json()
    assert doc["model_name"] == "sklearn-iris"
    assert isinstance(doc.get("id"), str) and doc["id"], "id must be generated: %r" % doc
    assert len(doc["outputs"]) == 1, doc
    out = {k: v for k, v in doc["outputs"][0].items() if k != "parameters"}
    assert out == {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 1]}, doc


def _expected_output(ref, model, x, proba=False):
    """(name, datatype, shape, flat data) that KServe answers for the numpy input x."""
    pred = ref.predict(model, x, proba=proba)
    runtime = MODELS[model][1]
    if runtime == "xgboost":
        dt = "FP32"
    elif pred.dtype.kind in "iu":
        dt = "INT64"
    elif pred.dtype.kind in "OUS":
        dt = "BYTES"
    else:
        dt = "FP64"
    name = "predict_proba" if (proba and runtime == "sklearn" and
                               hasattr(ref.model(model), "predict_proba")) else "predict"
    return name, dt, list(pred.shape), pred.reshape(-1).tolist()


def check_infer(doc, model, expected, req_id=None):
    name, dt, shape, data = expected
    assert doc["model_name"] == model, doc
    if req_id is not None:
        assert doc.get("id") == req_id, doc
    else:
        assert isinstance(doc.get("id"), str) and doc["id"], doc
    assert len(doc["outputs"]) == 1, doc
    out = doc["outputs"][0]
    assert out["name"] == name, out
    assert out["datatype"] == dt, out
    assert out["shape"] == shape, out
    assert_same_predictions(out["data"], data, what="outputs[0].data")


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_infer_fp32(shared, ref, model, nested):
    srv = shared.get(model)
    rows = sample_rows(model, 17, seed=2)
    req = v2_request(rows, "FP32", nested=nested, id="req-%s-%d" % (model, nested))
    r = srv.post_json("/v2/models/%s/infer" % model, req)
    assert r.status_code == 200, r.content[:500]
    x = np.array(rows, dtype=np.float32)
    check_infer(r.json(), model, _expected_output(ref, model, x), req_id=req["id"])


@pytest.mark.parametrize("model", ["sklearn-iris", "sklearn-diabetes", "xgboost-iris",
                                   "xgboost-diabetes"])
def test_infer_fp64(shared, ref, model):
    srv = shared.get(model)
    rows = sample_rows(model, 9, seed=6)
    r = srv.post_json("/v2/models/%s/infer" % model, v2_request(rows, "FP64"))
    assert r.status_code == 200, r.content[:500]
    x = np.array(rows, dtype=np.float64)
    check_infer(r.json(), model, _expected_output(ref, model, x))


INT_ROWS = [[7, 3, 5, 1], [5, 3, 1, 0], [6, 3, 5, 2], [4, 2, 1, 0], [6, 2, 4, 1]]


@pytest.mark.parametrize("datatype", ["INT32", "INT64", "INT16", "INT8", "UINT8", "UINT16",
                                      "UINT32", "UINT64", "FP16"])
def test_infer_other_dtypes_sklearn(shared, ref, datatype):
    srv = shared.get("sklearn-iris")
    r = srv.post_json("/v2/models/sklearn-iris/infer", v2_request(INT_ROWS, datatype))
    assert r.status_code == 200, r.content[:500]
    x = np.array(INT_ROWS, dtype=NP_DTYPES[datatype])
    check_infer(r.json(), "sklearn-iris", _expected_output(ref, "sklearn-iris", x))


@pytest.mark.parametrize("datatype", ["INT32", "INT64"])
def test_infer_int_xgboost(shared, ref, datatype):
    srv = shared.get("xgboost-iris")
    r = srv.post_json("/v2/models/xgboost-iris/infer", v2_request(INT_ROWS, datatype))
    assert r.status_code == 200, r.content[:500]
    x = np.array(INT_ROWS, dtype=NP_DTYPES[datatype])
    check_infer(r.json(), "xgboost-iris", _expected_output(ref, "xgboost-iris", x))


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-iris"])
def test_infer_versioned_path(shared, ref, model):
    srv = shared.get(model)
    rows = sample_rows(model, 4, seed=9)
    r = srv.post_json("/v2/models/%s/versions/1/infer" % model, v2_request(rows, "FP32"))
    assert r.status_code == 200, r.content[:500]
    x = np.array(rows, dtype=np.float32)
    check_infer(r.json(), model, _expected_output(ref, model, x))


@pytest.mark.parametrize("model", ["sklearn-iris", "sklearn-iris-lr", "sklearn-iris-names"])
def test_infer_predict_proba(shared, ref, model):
    srv = shared.get(model, proba=True)
    rows = sample_rows(model, 6, seed=12)
    r = srv.post_json("/v2/models/%s/infer" % model, v2_request(rows, "FP64"))
    assert r.status_code == 200, r.content[:500]
    x = np.array(rows, dtype=np.float64)
    exp = _expected_output(ref, model, x, proba=True)
    assert exp[0] == "predict_proba" and exp[1] == "FP64" and exp[2] == [6, 3]
    check_infer(r.json(), model, exp)


def test_infer_string_labels_bytes(shared, ref):
    srv = shared.get("sklearn-iris-names")
    rows = sample_rows("sklearn-iris-names", 8, seed=4)
    r = srv.post_json("/v2/models/sklearn-iris-names/infer", v2_request(rows, "FP32"))
    assert r.status_code == 200, r.content[:500]
    x = np.array(rows, dtype=np.float32)
    exp = _expected_output(ref, "sklearn-iris-names", x)
    assert exp[1] == "BYTES"
    check_infer(r.json(), "sklearn-iris-names", exp)


def test_id_echo_and_generation(shared):
    srv = shared.get("xgboost-iris")
    rows = sample_rows("xgboost-iris", 1)
    r = srv.post_json("/v2/models/xgboost-iris/infer",
                      v2_request(rows, "FP32", id="my-request-42"))
    assert r.status_code == 200 and r.json()["id"] == "my-request-42", r.content[:300]
    ids = set()
    for _ in range(3):
        r = srv.post_json("/v2/models/xgboost-iris/infer", v2_request(rows, "FP32"))
        assert r.status_code == 200
        rid = r.json().get("id")
        assert isinstance(rid, str) and rid, r.json()
        ids.add(rid)
    assert len(ids) == 3, "generated ids should differ: %r" % ids


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-iris"])
def test_requested_output_by_name(shared, ref, model):
    srv = shared.get(model)
    rows = sample_rows(model, 3, seed=13)
    req = v2_request(rows, "FP32", outputs=[{"name": "predict"}])
    r = srv.post_json("/v2/models/%s/infer" % model, req)
    assert r.status_code == 200, r.content[:500]
    check_infer(r.json(), model, _expected_output(ref, model, np.array(rows, dtype=np.float32)))


@pytest.mark.parametrize("model", SKLEARN_MODELS + XGBOOST_MODELS[:1])
def test_v1_and_v2_agree(shared, ref, model):
    """The same FP64 rows through V1 and V2 give the same answer."""
    srv = shared.get(model)
    rows = sample_rows(model, 5, seed=21)
    r1 = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
    r2 = srv.post_json("/v2/models/%s/infer" % model, v2_request(rows, "FP64"))
    assert r1.status_code == 200 and r2.status_code == 200
    v1 = r1.json()["predictions"]
    out = r2.json()["outputs"][0]
    flat = np.array(v1, dtype=object).reshape(-1).tolist() if v1 and isinstance(v1[0], list) else v1
    assert_same_predictions(out["data"], flat)


def test_extra_fields_ignored(shared, ref):
    """Unknown fields in the request, its inputs and parameters are ignored."""
    srv = shared.get("xgboost-iris")
    rows = sample_rows("xgboost-iris", 3, seed=41)
    req = v2_request(rows, "FP32", id="x-1", parameters={"custom": "value", "n": 3})
    req["inputs"][0]["parameters"] = {"content_type": "np"}
    req["something_else"] = [1, 2, {"a": None}]
    r = srv.post_json("/v2/models/xgboost-iris/infer", req)
    assert r.status_code == 200, r.content[:300]
    check_infer(r.json(), "xgboost-iris",
                _expected_output(ref, "xgboost-iris", np.array(rows, dtype=np.float32)), "x-1")
