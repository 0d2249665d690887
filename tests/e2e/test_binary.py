"""V2 binary tensor data extension: raw input bytes after the JSON header,
and raw output bytes on request."""
import json
import struct

import numpy as np
import pytest

from conftest import NP_DTYPES, assert_same_predictions, sample_rows

HDR = "Inference-Header-Content-Length"


def binary_body(header, *raw_parts):
    j = json.dumps(header).encode()
    return j + b"".join(raw_parts), {HDR: str(len(j)), "Content-Type": "application/octet-stream"}


def binary_input(arr, datatype, name="input-0"):
    raw = np.ascontiguousarray(arr, dtype=np.dtype(NP_DTYPES[datatype]).newbyteorder("<")).tobytes()
    spec = {"name": name, "shape": list(arr.shape), "datatype": datatype,
            "parameters": {"binary_data_size": len(raw)}}
    return spec, raw


def parse_response(resp):
    """(json header, {output name: raw bytes}) of a possibly binary response."""
    content = resp.content
    hlen = resp.headers.get(HDR)
    if hlen is None:
        return json.loads(content), {}
    hlen = int(hlen)
    assert 0 < hlen <= len(content), (hlen, len(content))
    doc = json.loads(content[:hlen])
    rest = content[hlen:]
    raws = {}
    off = 0
    for out in doc["outputs"]:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            raws[out["name"]] = rest[off:off + size]
            off += size
    assert off == len(rest), "binary part is %d bytes, outputs declare %d" % (len(rest), off)
    return doc, raws


def decode(raw, datatype, shape):
    if datatype == "BYTES":
        out, off = [], 0
        while off < len(raw):
            (n,) = struct.unpack_from("<I", raw, off)
            out.append(raw[off + 4:off + 4 + n].decode())
            off += 4 + n
        return out
    arr = np.frombuffer(raw, dtype=np.dtype(NP_DTYPES[datatype]).newbyteorder("<"))
    assert arr.size == int(np.prod(shape)), (arr.size, shape)
    return arr.tolist()


@pytest.mark.parametrize("model,datatype", [
    ("sklearn-iris", "FP32"), ("sklearn-iris", "FP64"), ("sklearn-iris", "INT64"),
    ("xgboost-iris", "FP32"), ("xgboost-iris", "FP64"), ("xgboost-binary", "FP32"),
    ("sklearn-diabetes", "FP64"), ("sklearn-iris-names", "FP32"),
])
def test_binary_input_json_output(shared, ref, model, datatype):
    srv = shared.get(model)
    rows = sample_rows(model, 11, seed=31)
    if datatype.startswith("INT"):
        rows = np.round(rows).tolist()
    x = np.array(rows, dtype=NP_DTYPES[datatype])
    spec, raw = binary_input(x, datatype)
    body, headers = binary_body({"id": "bin-1", "inputs": [spec]}, raw)
    r = srv.post_raw("/v2/models/%s/infer" % model, body, headers=headers)
    assert r.status_code == 200, r.content[:500]
    assert HDR not in r.headers, "JSON-only answer must not carry %s" % HDR
    doc = r.json()
    assert doc["id"] == "bin-1"
    out = doc["outputs"][0]
    exp = ref.predict(model, x)
    assert out["shape"] == list(exp.shape)
    assert_same_predictions(out["data"], exp.reshape(-1).tolist())


@pytest.mark.parametrize("model,datatype", [
    ("sklearn-iris", "INT64"), ("xgboost-iris", "FP32"), ("xgboost-binary", "FP32"),
    ("sklearn-diabetes", "FP64"), ("sklearn-iris-names", "BYTES"),
])
def test_binary_output_requested_per_output(shared, ref, model, datatype):
    """outputs[].parameters.binary_data=true → raw bytes after the JSON header."""
    srv = shared.get(model)
    rows = sample_rows(model, 9, seed=32)
    x = np.array(rows, dtype=np.float32)
    spec, raw = binary_input(x, "FP32")
    body, headers = binary_body({"inputs": [spec], "outputs": [
        {"name": "predict", "parameters": {"binary_data": True}}]}, raw)
    r = srv.post_raw("/v2/models/%s/infer" % model, body, headers=headers)
    assert r.status_code == 200, r.content[:500]
    assert HDR in r.headers, "binary answer needs %s; headers=%r" % (HDR, dict(r.headers))
    doc, raws = parse_response(r)
    out = doc["outputs"][0]
    assert out["datatype"] == datatype, out
    assert "data" not in out, "binary output must not also carry data: %r" % out
    assert "predict" in raws, doc
    exp = ref.predict(model, x)
    assert out["shape"] == list(exp.shape)
    assert out["parameters"]["binary_data_size"] == len(raws["predict"])
    assert_same_predictions(decode(raws["predict"], datatype, out["shape"]),
                            exp.reshape(-1).tolist())
    assert int(r.headers["Content-Length"]) == len(r.content)


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-iris"])
def test_binary_data_output_request_parameter(shared, ref, model):
    """parameters.binary_data_output=true on the request, JSON input."""
    srv = shared.get(model)
    rows = sample_rows(model, 5, seed=33)
    req = {"inputs": [{"name": "input-0", "shape": [5, 4], "datatype": "FP32",
                       "data": np.array(rows).reshape(-1).tolist()}],
           "parameters": {"binary_data_output": True}}
    r = srv.post_json("/v2/models/%s/infer" % model, req)
    assert r.status_code == 200, r.content[:500]
    assert HDR in r.headers, dict(r.headers)
    doc, raws = parse_response(r)
    out = doc["outputs"][0]
    exp = ref.predict(model, np.array(rows, dtype=np.float32))
    assert "data" not in out, out
    assert_same_predictions(decode(raws[out["name"]], out["datatype"], out["shape"]),
                            exp.reshape(-1).tolist())


def test_binary_input_with_binary_output_proba(shared, ref):
    srv = shared.get("sklearn-iris", proba=True)
    x = np.array(sample_rows("sklearn-iris", 4, seed=34), dtype=np.float64)
    spec, raw = binary_input(x, "FP64")
    body, headers = binary_body({"inputs": [spec], "parameters": {"binary_data_output": True}},
                                raw)
    r = srv.post_raw("/v2/models/sklearn-iris/infer", body, headers=headers)
    assert r.status_code == 200, r.content[:500]
    doc, raws = parse_response(r)
    out = doc["outputs"][0]
    assert out["name"] == "predict_proba" and out["datatype"] == "FP64" and out["shape"] == [4, 3]
    exp = ref.predict("sklearn-iris", x, proba=True)
    assert_same_predictions(decode(raws["predict_proba"], "FP64", out["shape"]),
                            exp.reshape(-1).tolist())


def test_binary_output_false_gives_json(shared, ref):
    srv = shared.get("xgboost-iris")
    x = np.array(sample_rows("xgboost-iris", 3, seed=35), dtype=np.float32)
    spec, raw = binary_input(x, "FP32")
    body, headers = binary_body({"inputs": [spec], "outputs": [
        {"name": "predict", "parameters": {"binary_data": False}}]}, raw)
    r = srv.post_raw("/v2/models/xgboost-iris/infer", body, headers=headers)
    assert r.status_code == 200, r.content[:500]
    assert HDR not in r.headers
    out = r.json()["outputs"][0]
    assert_same_predictions(out["data"], ref.predict("xgboost-iris", x).reshape(-1).tolist())


def test_binary_header_without_binary_inputs(shared, ref):
    """A binary-framed body whose inputs all carry JSON data is fine."""
    srv = shared.get("sklearn-iris")
    rows = sample_rows("sklearn-iris", 3, seed=36)
    hdr = {"inputs": [{"name": "input-0", "shape": [3, 4], "datatype": "FP32",
                       "data": np.array(rows).reshape(-1).tolist()}]}
    body, headers = binary_body(hdr)
    r = srv.post_raw("/v2/models/sklearn-iris/infer", body, headers=headers)
    assert r.status_code == 200, r.content[:500]
    exp = ref.predict("sklearn-iris", np.array(rows, dtype=np.float32))
    assert_same_predictions(r.json()["outputs"][0]["data"], exp.tolist())


def test_binary_large_batch(shared, ref):
    srv = shared.get("xgboost-iris")
    x = np.random.RandomState(37).uniform(0, 8, size=(20000, 4)).astype(np.float32)
    spec, raw = binary_input(x, "FP32")
    body, headers = binary_body({"inputs": [spec], "parameters": {"binary_data_output": True}},
                                raw)
    assert len(body) < 1000000
    r = srv.post_raw("/v2/models/xgboost-iris/infer", body, headers=headers)
    assert r.status_code == 200, r.content[:500]
    doc, raws = parse_response(r)
    out = doc["outputs"][0]
    assert out["shape"] == [20000, 3]
    got = np.frombuffer(raws["predict"], dtype="<f4")
    exp = ref.predict("xgboost-iris", x).reshape(-1)
    assert np.allclose(got, exp, rtol=1e-6, atol=1e-7)


INT_ROWS = [[7, 3, 5, 1], [5, 3, 1, 0], [6, 3, 5, 2], [4, 2, 1, 0]]


@pytest.mark.parametrize("datatype", ["INT8", "UINT8", "INT16", "UINT16", "INT32", "UINT32",
                                      "UINT64", "FP16"])
def test_binary_input_dtypes_sklearn(shared, ref, datatype):
    srv = shared.get("sklearn-iris")
    x = np.array(INT_ROWS, dtype=NP_DTYPES[datatype])
    spec, raw = binary_input(x, datatype)
    body, headers = binary_body({"inputs": [spec]}, raw)
    r = srv.post_raw("/v2/models/sklearn-iris/infer", body, headers=headers)
    assert r.status_code == 200, r.content[:500]
    out = r.json()["outputs"][0]
    assert_same_predictions(out["data"], ref.predict("sklearn-iris", x).tolist())
