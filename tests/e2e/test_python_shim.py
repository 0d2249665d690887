"""The `kserve` Python package (python/kserve): KServe's Python API on the C server.

Two kinds of tests:
- in-process: the V2 data model (InferRequest/InferResponse/InferInput/InferOutput and their
  JSON), the helpers, the argument parser, and the request path on the Python side (sync and
  async handlers, errors, the transformer's call to its predictor), without the C library;
- processes: the examples in examples/python and small model scripts run by /usr/bin/python3 on
  the C SDK (build/libkserve-sdk.so), talked to over HTTP on loopback, stopped with signals.

Every wait has a deadline; every HTTP request a timeout.
"""
import base64
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import requests

from conftest import (HTTP_TIMEOUT, PYTHON, READY_TIMEOUT, REPO, SANITIZER_MARKERS, Server, ServerStartError,
                      assert_json_error, free_port, kserve_bin, spawn)

PY_DIR = os.path.join(REPO, "python")
EXAMPLES = os.path.join(REPO, "examples", "python")


def _sdk_library():
    """$KSERVE_SDK_LIB, else the library beside $KSERVE_BIN (build-asan/ in the sanitizer run),
    else build/libkserve-sdk.so."""
    if os.environ.get("KSERVE_SDK_LIB"):
        return os.path.abspath(os.environ["KSERVE_SDK_LIB"])
    beside = os.path.join(os.path.dirname(kserve_bin()), "libkserve-sdk.so")
    if os.path.exists(beside):
        return beside
    return os.path.join(REPO, "build", "libkserve-sdk.so")


def _asan_runtime(lib):
    """The ASan runtime a sanitizer build of the library needs preloaded into python, or None."""
    try:
        out = subprocess.run(["ldd", lib], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("libasan.so") and len(parts) >= 3 and parts[1] == "=>":
            return parts[2]
    return None


SDK_LIB = _sdk_library()
ASAN_RUNTIME = _asan_runtime(SDK_LIB) if os.path.exists(SDK_LIB) else None
# a Python process imports numpy, PIL and scikit-learn before it listens
PY_READY_TIMEOUT = max(READY_TIMEOUT, 30.0)
PY_EXIT_TIMEOUT = 15.0

needs_sdk = pytest.mark.skipif(
    not os.path.exists(SDK_LIB),
    reason="the C SDK library %s (include/ks/sdk.h) is not built, so the kserve Python package has no "
           "HTTP server to run on: `make build/libkserve-sdk.so`" % SDK_LIB)

# kserve.model_server parses this process' command line at import, as KServe's does: keep
# pytest's flags away from it
_argv, sys.argv = sys.argv, [sys.argv[0]]
sys.path.insert(0, PY_DIR)
try:
    import kserve
    from kserve import InferInput, InferOutput, InferRequest, InferResponse, model_server
    from kserve import _dispatch
    from kserve.errors import InferenceError, InvalidInput, ModelNotFound
    from kserve.protocol.infer_type import deserialize_bytes_tensor, serialize_byte_tensor
    from kserve.utils.utils import get_predict_input, get_predict_response
finally:
    sys.argv = _argv


# --------------------------------------------------------------------------
# helpers

def roundtrip(doc):
    """What a peer reads of a document we send: JSON text and back."""
    return json.loads(json.dumps(doc))


def digit_png(index):
    """scikit-learn's digit `index` as a base64 PNG (8x8 grayscale, ink 0..16 -> 0..255)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    img = load_digits().images[index]
    arr = np.round(img * 255.0 / 16.0).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def load_example(name):
    """An examples/python module, imported without running its __main__ block."""
    spec = importlib.util.spec_from_file_location("example_" + name, os.path.join(EXAMPLES, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    argv, sys.argv = sys.argv, [sys.argv[0], "--predictor_host", "unused:1"]
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.argv = argv
    return mod


def py_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PY_DIR
    env["KSERVE_SDK_LIB"] = SDK_LIB
    env.pop("PYTHONHOME", None)
    if ASAN_RUNTIME:
        # the sanitizer build of the library in a python that is not: its runtime must come first,
        # and the interpreter's own allocations at exit are not ours to report
        env["LD_PRELOAD"] = ASAN_RUNTIME
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def start_py(script, args=(), model_name="model", wait=True, ready_timeout=PY_READY_TIMEOUT):
    """Run `python3 script --http_port P --http_host 127.0.0.1 args...` on a free port; waits for
    /v2/health/ready unless wait=False. Retries when another process took the port."""
    last = None
    for _ in range(3):
        port = free_port()
        argv = [PYTHON, script, "--http_port", str(port), "--http_host", "127.0.0.1"] + list(args)
        logdir = tempfile.mkdtemp(prefix="kserve-py-")
        out = open(os.path.join(logdir, "stdout"), "wb")
        err = open(os.path.join(logdir, "stderr"), "wb")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=py_env(),
                                    cwd=logdir)
        finally:
            out.close()
            err.close()
        srv = Server(proc, port, None, logdir, argv, model_name)
        if not wait:
            return srv
        try:
            srv.wait_ready(ready_timeout)
            return srv
        except ServerStartError as e:
            last = e
            text = srv.stderr_text().lower()
            srv.kill()
            if "in use" in text or "eaddrinuse" in text:
                continue
            break
    raise last


def stop(srv, sig=signal.SIGTERM, timeout=PY_EXIT_TIMEOUT):
    """Send sig; the exit status (None when it had to be killed). A sanitizer report in the
    process' stderr fails the test."""
    srv.session.close()
    rc = srv.proc.poll()
    if rc is None:
        srv.proc.send_signal(sig)
        try:
            rc = srv.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait(timeout=10)
            rc = None
    err = srv.stderr_text()
    assert not any(m in err for m in SANITIZER_MARKERS), "sanitizer report\n" + srv.describe()
    return rc


@pytest.fixture
def procs():
    """Processes a test started; killed at the end whatever happened."""
    started = []
    yield started
    for p in started:
        p.kill()


# --------------------------------------------------------------------------
# the V2 data model

def v2_body():
    return {
        "id": "req-1",
        "parameters": {"content_type": "np", "custom": 3},
        "inputs": [
            {"name": "fp32", "shape": [2, 3], "datatype": "FP32", "data": [[1.5, 2, 3], [4, 5, 6.25]]},
            {"name": "int64", "shape": [3], "datatype": "INT64", "data": [1, -2, 9007199254740993]},
            {"name": "bytes", "shape": [2], "datatype": "BYTES", "data": ["héllo", "world"]},
            {"name": "bool", "shape": [2, 1], "datatype": "BOOL", "data": [True, False]},
            {"name": "u8", "shape": [1, 2], "datatype": "UINT8", "data": [0, 255], "parameters": {"p": "x"}},
        ],
        "outputs": [{"name": "out", "parameters": {"binary_data": False}}],
    }


def test_infer_request_from_v2_json_keeps_datatypes_and_shapes():
    req = InferRequest.from_rest("m", roundtrip(v2_body()))
    assert req.id == "req-1" and req.model_name == "m"
    assert req.parameters == {"content_type": "np", "custom": 3}
    assert [i.name for i in req.inputs] == ["fp32", "int64", "bytes", "bool", "u8"]
    expect = {
        "fp32": (np.float32, (2, 3), [[1.5, 2, 3], [4, 5, 6.25]]),
        "int64": (np.int64, (3,), [1, -2, 9007199254740993]),
        "bytes": (np.object_, (2,), ["héllo", "world"]),
        "bool": (np.bool_, (2, 1), [[True], [False]]),
        "u8": (np.uint8, (1, 2), [[0, 255]]),
    }
    for inp in req.inputs:
        dtype, shape, values = expect[inp.name]
        arr = inp.as_numpy()
        assert arr.dtype == np.dtype(dtype), inp.name
        assert arr.shape == shape, inp.name
        assert arr.tolist() == values, inp.name
    assert req.get_input_by_name("u8").parameters == {"p": "x"}
    assert req.request_outputs[0].name == "out" and req.request_outputs[0].binary_data is False
    assert req.inputs[2].as_string() == ["héllo", "world"]


def test_infer_request_v2_json_round_trip():
    req = InferRequest.from_rest("m", roundtrip(v2_body()))
    doc = roundtrip(req.to_rest())
    assert doc["id"] == "req-1"
    assert doc["parameters"] == {"content_type": "np", "custom": 3}
    assert doc["outputs"] == [{"name": "out", "parameters": {"binary_data": False}}]
    again = InferRequest.from_rest("m", doc)
    assert again == req
    for a, b in zip(again.inputs, req.inputs):
        assert a.as_numpy().dtype == b.as_numpy().dtype
        assert np.array_equal(a.as_numpy(), b.as_numpy())


def test_infer_request_from_numpy_inputs_to_v2_json():
    fp32 = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    i64 = np.array([[1, 2]], dtype=np.int64)
    words = np.array([b"ab", "cd"], dtype=object)
    a = InferInput("a", list(fp32.shape), "FP32", data=fp32)  # ndarray as data, as KServe's examples do
    b = InferInput("b", [1, 2], "INT64")
    b.set_data_from_numpy(i64, binary_data=False)
    c = InferInput("c", [2], "BYTES")
    c.set_data_from_numpy(words)  # binary: raw bytes kept, JSON list written
    assert c.parameters["binary_data_size"] == len(serialize_byte_tensor(words).item())
    doc = roundtrip(InferRequest(model_name="m", infer_inputs=[a, b, c], request_id="x").to_rest())
    assert doc["id"] == "x"
    assert doc["inputs"][0] == {"name": "a", "shape": [2, 3], "datatype": "FP32", "data": fp32.reshape(-1).tolist()}
    assert doc["inputs"][1] == {"name": "b", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}
    assert doc["inputs"][2] == {"name": "c", "shape": [2], "datatype": "BYTES", "data": ["ab", "cd"]}
    back = InferRequest.from_rest("m", doc)
    assert back.inputs[0].as_numpy().dtype == np.float32
    assert np.array_equal(back.inputs[0].as_numpy(), fp32)
    assert np.array_equal(back.inputs[1].as_numpy(), i64)


def test_infer_response_v2_json_round_trip():
    scores = np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32)
    labels = np.array([3, 1], dtype=np.int64)
    names = np.array(["cat", "dog"], dtype=object)
    o1 = InferOutput("scores", [2, 2], "FP32")
    o1.set_data_from_numpy(scores)  # binary
    o2 = InferOutput("labels", [2], "INT64", data=labels)  # ndarray data
    o3 = InferOutput("names", [2], "BYTES")
    o3.set_data_from_numpy(names, binary_data=False)
    res = InferResponse(response_id="r1", model_name="m", infer_outputs=[o1, o2, o3], parameters={"k": "v"})
    doc = roundtrip(res.to_rest())
    assert doc == {
        "id": "r1", "model_name": "m", "parameters": {"k": "v"},
        "outputs": [
            {"name": "scores", "shape": [2, 2], "datatype": "FP32", "data": [0.25, 0.75, 1.0, 0.0]},
            {"name": "labels", "shape": [2], "datatype": "INT64", "data": [3, 1]},
            {"name": "names", "shape": [2], "datatype": "BYTES", "data": ["cat", "dog"]},
        ],
    }
    back = InferResponse.from_rest("m", doc)
    assert back.id == "r1" and back.parameters == {"k": "v"}
    assert back.outputs[0].as_numpy().dtype == np.float32
    assert np.array_equal(back.outputs[0].as_numpy(), scores)
    assert np.array_equal(back.get_output_by_name("labels").as_numpy(), labels)
    assert back.outputs[2].as_numpy().tolist() == ["cat", "dog"]


def test_set_data_from_numpy_checks_datatype_and_shape():
    out = InferOutput("o", [2], "FP32")
    with pytest.raises(InferenceError):
        out.set_data_from_numpy(np.array([1, 2], dtype=np.int64))
    with pytest.raises(InferenceError):
        out.set_data_from_numpy(np.array([1, 2, 3], dtype=np.float32))
    with pytest.raises(InferenceError):
        out.set_data_from_numpy([1.0, 2.0])
    bad = InferInput("i", [3], "FP32", data=[1, 2])
    with pytest.raises(InvalidInput):
        bad.as_numpy()
    with pytest.raises(InvalidInput):
        InferRequest.from_rest("m", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]})
    with pytest.raises(InvalidInput):
        InferRequest.from_rest("m", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]})
    with pytest.raises(InvalidInput):
        InferRequest.from_rest("m", {"inputs": {"name": "x"}})


def test_bytes_tensors_and_the_binary_extension():
    words = np.array([[b"a", b""], [b"\xff\x00", "z"]], dtype=object)
    raw = serialize_byte_tensor(words).item()
    assert raw[:5] == b"\x01\x00\x00\x00a"
    assert deserialize_bytes_tensor(raw).tolist() == [b"a", b"", b"\xff\x00", b"z"]
    with pytest.raises(InvalidInput):
        deserialize_bytes_tensor(b"\x05\x00\x00\x00ab")
    # a binary-extension body: JSON header, then the FP32 input's raw bytes
    x = np.array([[1.5, -2.0]], dtype=np.float32)
    header = json.dumps({"id": "b", "inputs": [
        {"name": "x", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
        {"name": "y", "shape": [1], "datatype": "INT64", "data": [7]}]}).encode()
    req = InferRequest.from_bytes(header + x.tobytes(), len(header), "m")
    assert req.id == "b"
    assert np.array_equal(req.inputs[0].as_numpy(), x)
    assert req.inputs[1].as_numpy().tolist() == [7]
    with pytest.raises(InvalidInput):
        InferRequest.from_bytes(header + b"\x00" * 4, len(header), "m")


def test_predict_input_and_response_helpers():
    arr = get_predict_input({"instances": [[1, 2], [3, 4]]})
    assert isinstance(arr, np.ndarray) and arr.tolist() == [[1, 2], [3, 4]]
    df = get_predict_input({"instances": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]})
    assert list(df.columns) == ["a", "b"] and df["b"].tolist() == [2, 4]
    req = InferRequest.from_rest("m", {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32",
                                                   "data": [1, 2, 3, 4]}]})
    x = get_predict_input(req)
    assert x.dtype == np.float32 and x.shape == (2, 2)
    pd_req = InferRequest.from_rest("m", {"parameters": {"content_type": "pd"}, "inputs": [
        {"name": "a", "shape": [2], "datatype": "INT32", "data": [1, 2]},
        {"name": "b", "shape": [2], "datatype": "BYTES", "data": ["u", "v"]}]})
    frame = get_predict_input(pd_req)
    assert frame["a"].tolist() == [1, 2] and frame["b"].tolist() == ["u", "v"]
    assert get_predict_response({"instances": []}, np.array([1, 2]), "m") == {"predictions": [1, 2]}
    res = get_predict_response(req, np.array([[0.5], [1.5]], dtype=np.float64), "m")
    doc = res.to_rest()
    assert doc["outputs"] == [{"name": "output-0", "shape": [2, 1], "datatype": "FP64", "data": [0.5, 1.5]}]
    assert doc["model_name"] == "m" and doc["id"]
    assert kserve.utils.utils.strtobool("True") and not kserve.utils.utils.strtobool("0")


# --------------------------------------------------------------------------
# the command line

def test_model_server_parser_takes_kserve_flags_both_generations():
    import argparse

    # KServe 0.12+ code: the model flags come from model_server.parser
    p = argparse.ArgumentParser(parents=[model_server.parser])
    args, rest = p.parse_known_args(["--http_port", "9001", "--workers", "3", "--model_name", "iris",
                                     "--predictor_host=h:8", "--protocol", "v2", "--unknown", "x"])
    assert (args.http_port, args.workers, args.model_name, args.predictor_host, args.protocol) == \
        (9001, 3, "iris", "h:8", "v2")
    assert args.grpc_port == 8081 and args.enable_grpc is True and rest == ["--unknown", "x"]
    d, _ = p.parse_known_args([])
    assert (d.http_port, d.model_name, d.predictor_host, d.protocol, d.workers) == (8080, "model", None, "v1", 1)
    assert d.enable_latency_logging is True and d.log_config_file is None
    # KServe 0.11 code adds --model_name, --predictor_host and --protocol itself: no conflict, its own win
    old = argparse.ArgumentParser(parents=[model_server.parser])
    old.add_argument("--model_name", default="custom-default", help="The name that the model is served under.")
    old.add_argument("--predictor_host", help="The URL for the model predict function", required=True)
    old.add_argument("--protocol", help="The protocol for the predictor", default="v1")
    a, _ = old.parse_known_args(["--predictor_host", "p:1"])
    assert (a.model_name, a.predictor_host, a.protocol) == ("custom-default", "p:1", "v1")
    a, _ = old.parse_known_args(["--predictor_host", "p:1", "--model_name=n", "--protocol", "v2"])
    assert (a.model_name, a.predictor_host, a.protocol) == ("n", "p:1", "v2")
    strict = argparse.ArgumentParser(parents=[model_server.parser], allow_abbrev=False)
    a, _ = strict.parse_known_args(["--model_name", "s", "--protocol=v2"])
    assert (a.model_name, a.protocol) == ("s", "v2")
    with pytest.raises(SystemExit):
        with open(os.devnull, "w") as devnull:
            stderr, sys.stderr = sys.stderr, devnull
            try:
                old.parse_known_args([])  # --predictor_host is required there
            finally:
                sys.stderr = stderr


# --------------------------------------------------------------------------
# the request path on the Python side (no C library)

class SyncModel(kserve.Model):
    def __init__(self, name):
        super().__init__(name)
        self.load()

    def preprocess(self, payload, headers=None):
        if isinstance(payload, InferRequest):
            return payload.inputs[0].as_numpy()
        headers["seen-by-preprocess"] = "yes"
        return np.array(payload["instances"], dtype=np.float64)

    def predict(self, payload, headers=None):
        return payload.sum(axis=1)

    def postprocess(self, result, headers=None):
        if headers.get("seen-by-preprocess") == "yes":
            return {"predictions": result}  # a numpy array inside: answered as a JSON list
        out = InferOutput("sum", list(result.shape), "FP64")
        out.set_data_from_numpy(result.astype(np.float64))
        return InferResponse(response_id=None, model_name=self.name, infer_outputs=[out])


class AsyncModel(kserve.Model):
    """Every handler async, awaiting on the loop: KServe runs them the same way."""

    def __init__(self, name):
        super().__init__(name)
        self.ready = True
        self.calls = []

    async def preprocess(self, payload, headers=None):
        await __import__("asyncio").sleep(0)
        self.calls.append("pre")
        return payload

    async def predict(self, payload, headers=None):
        self.calls.append("predict")
        if isinstance(payload, InferRequest):
            x = payload.inputs[0].as_numpy()
            return get_predict_response(payload, x * 2, self.name)
        return {"predictions": [v * 2 for v in payload["instances"]], "request_id": headers.get("x-request-id")}

    async def postprocess(self, result, headers=None):
        self.calls.append("post")
        return result


class OldStyleModel(kserve.Model):
    """Handlers without the headers argument, as in KServe's older examples."""

    def __init__(self, name):
        super().__init__(name)
        self.ready = True

    def preprocess(self, inputs):
        return {"instances": [x + 1 for x in inputs["instances"]]}

    def predict(self, request):
        return {"predictions": request["instances"]}

    def postprocess(self, inputs):
        return inputs


class FailingModel(kserve.Model):
    def __init__(self, name):
        super().__init__(name)
        self.ready = True

    def predict(self, payload, headers=None):
        what = payload["instances"][0] if isinstance(payload, dict) else "generic"
        if what == "invalid":
            raise InvalidInput("instance 0 is not a number")
        if what == "notfound":
            raise ModelNotFound("other-model")
        if what == "inference":
            raise InferenceError("the model broke")
        raise RuntimeError("something went wrong")


@pytest.fixture
def loop():
    lt = _dispatch.EventLoopThread(4)
    yield lt
    lt.close()


def call(model, loop, protocol, body, headers=None):
    status, text = _dispatch.Dispatcher(model, loop).handle(protocol, json.dumps(body), headers or {})
    return status, json.loads(text)


def test_dispatch_sync_handlers_v1_and_v2(loop):
    m = SyncModel("sum")
    assert call(m, loop, _dispatch.V1, {"instances": [[1, 2], [3, 4.5]]}) == (200, {"predictions": [3.0, 7.5]})
    status, doc = call(m, loop, _dispatch.V2, {"id": "q7", "inputs": [
        {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]})
    assert status == 200
    assert doc == {"id": "q7", "model_name": "sum",
                   "outputs": [{"name": "sum", "shape": [2], "datatype": "FP64", "data": [3.0, 7.0]}]}


def test_dispatch_async_handlers(loop):
    m = AsyncModel("double")
    status, doc = call(m, loop, _dispatch.V1, {"instances": [1, 2]}, {"x-request-id": "abc"})
    assert (status, doc) == (200, {"predictions": [2, 4], "request_id": "abc"})
    assert m.calls == ["pre", "predict", "post"]
    status, doc = call(m, loop, _dispatch.V2, {"id": "i", "inputs": [
        {"name": "x", "shape": [3], "datatype": "INT64", "data": [1, 2, 3]}]})
    assert status == 200 and doc["id"] == "i"
    assert doc["outputs"] == [{"name": "output-0", "shape": [3], "datatype": "INT64", "data": [2, 4, 6]}]


def test_dispatch_handlers_without_headers_argument(loop):
    assert call(OldStyleModel("old"), loop, _dispatch.V1, {"instances": [1, 2]}) == (200, {"predictions": [2, 3]})


@pytest.mark.parametrize("instance,status,message", [
    ("invalid", 400, "instance 0 is not a number"),
    ("notfound", 404, "Model with name other-model does not exist."),
    ("inference", 500, "the model broke"),
    ("other", 500, "something went wrong"),
])
def test_dispatch_errors_are_kserve_statuses(loop, instance, status, message):
    assert call(FailingModel("f"), loop, _dispatch.V1, {"instances": [instance]}) == (status, {"error": message})


def test_dispatch_not_ready_not_implemented_and_bad_bodies(loop):
    plain = kserve.Model("plain")  # no predict of its own and no predictor_host
    plain.ready = True
    status, doc = call(plain, loop, _dispatch.V1, {"instances": [1]})
    assert status == 501 and "predictor_host" in doc["error"]
    plain.ready = False
    assert call(plain, loop, _dispatch.V1, {"instances": [1]}) == \
        (503, {"error": "Model with name plain is not ready."})
    m = SyncModel("s")
    status, text = _dispatch.Dispatcher(m, loop).handle(_dispatch.V1, "{not json", {})
    assert status == 400 and "Unrecognized request format" in json.loads(text)["error"]
    status, doc = call(m, loop, _dispatch.V2, {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32",
                                                           "data": [1, 2]}]})
    assert status == 400 and "shape" in doc["error"]


# --------------------------------------------------------------------------
# a transformer's default predict calls its predictor (in-process, stub predictor)

class StubPredictor:
    """A predictor on loopback that records what it was sent and answers from a function."""

    def __init__(self, answer):
        self.seen = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.seen.append((self.path, dict(self.headers), json.loads(body)))
                status, doc = answer(self.path, json.loads(body))
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = "127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class Doubler(kserve.Model):
    """A transformer: preprocess and postprocess only, as in KServe's docs."""

    def __init__(self, name, predictor_host, protocol):
        super().__init__(name)
        self.predictor_host = predictor_host
        self.protocol = protocol
        self.ready = True

    def preprocess(self, payload, headers=None):
        if isinstance(payload, InferRequest):
            x = payload.inputs[0].as_numpy() * 2
            return InferRequest(model_name=self.name, infer_inputs=[
                InferInput("x", list(x.shape), "FP32", data=x.astype(np.float32))])
        headers["request-type"] = "v1"
        return {"instances": [v * 2 for v in payload["instances"]]}

    def postprocess(self, result, headers=None):
        if headers.get("request-type") == "v1":
            return {"got": result}
        assert isinstance(result, InferResponse)
        return result


def test_transformer_default_predict_calls_the_predictor(loop):
    def answer(path, doc):
        if path.endswith(":predict"):
            return 200, {"predictions": doc["instances"]}
        return 200, {"id": doc["id"], "model_name": "t", "outputs": [
            {"name": "y", "shape": doc["inputs"][0]["shape"], "datatype": "FP32", "data": doc["inputs"][0]["data"]}]}

    stub = StubPredictor(answer)
    try:
        v1 = Doubler("t", stub.host, "v1")
        status, doc = call(v1, loop, _dispatch.V1, {"instances": [1, 2]}, {"x-request-id": "rid-1"})
        assert (status, doc) == (200, {"got": {"predictions": [2, 4]}})
        path, headers, sent = stub.seen[-1]
        assert path == "/v1/models/t:predict" and sent == {"instances": [2, 4]}
        assert headers.get("x-request-id") == "rid-1"
        v2 = Doubler("t", "http://" + stub.host, "v2")
        status, doc = call(v2, loop, _dispatch.V2, {"id": "z", "inputs": [
            {"name": "x", "shape": [2], "datatype": "FP32", "data": [1.5, 3]}]})
        assert status == 200
        assert doc["outputs"] == [{"name": "y", "shape": [2], "datatype": "FP32", "data": [3.0, 6.0]}]
        assert stub.seen[-1][0] == "/v2/models/t/infer"
    finally:
        stub.close()


def test_transformer_predictor_error_is_a_500_with_its_message(loop):
    stub = StubPredictor(lambda path, doc: (400, {"error": "wrong number of features"}))
    try:
        status, doc = call(Doubler("t", stub.host, "v1"), loop, _dispatch.V1, {"instances": [1]})
        assert status == 500
        assert "wrong number of features" in doc["error"] and "400" in doc["error"]
    finally:
        stub.close()
    status, doc = call(Doubler("t", "127.0.0.1:%d" % free_port(), "v1"), loop, _dispatch.V1, {"instances": [1]})
    assert status == 500 and "predictor" in doc["error"]


def test_missing_sdk_library_is_named(monkeypatch):
    from kserve import _sdk

    missing = os.path.join(tempfile.gettempdir(), "no-such-dir", "libkserve-sdk.so")
    monkeypatch.setenv("KSERVE_SDK_LIB", missing)
    with pytest.raises(_sdk.SdkError) as e:
        _sdk.load_library(missing)
    assert missing in str(e.value)


# --------------------------------------------------------------------------
# the examples, served by the C SDK

@needs_sdk
def test_custom_model_example_v1_and_v2(procs):
    example = load_example("custom_model")
    local = example.MyModel("custom-model")
    png = digit_png(3)
    expected = local.predict({"instances": [{"image": {"b64": png}}]}, {})["predictions"]

    srv = start_py(os.path.join(EXAMPLES, "custom_model.py"), model_name="custom-model")
    procs.append(srv)
    assert srv.get("/v1/models/custom-model").json() == {"name": "custom-model", "ready": True}
    assert srv.get("/v2/models/custom-model/ready").status_code == 200

    r = srv.post_json("/v1/models/custom-model:predict", {"instances": [{"image": {"b64": png}}]})
    assert r.status_code == 200, r.text
    assert np.allclose(r.json()["predictions"], expected, rtol=1e-6)
    assert len(expected) == 5 and expected == sorted(expected, reverse=True)

    r = srv.post_json("/v2/models/custom-model/infer", {"id": "v2-1", "inputs": [
        {"name": "input-0", "shape": [1], "datatype": "BYTES", "data": [png]}]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["model_name"] == "custom-model" and doc["id"]
    (out,) = doc["outputs"]
    assert (out["name"], out["shape"], out["datatype"]) == ("output-0", [5], "FP32")
    assert np.allclose(out["data"], expected, rtol=1e-6)

    assert_json_error(srv.post_json("/v1/models/other:predict", {"instances": []}), 404)
    r = srv.post_json("/v1/models/custom-model:predict", {"instances": [{"image": {"b64": "not base64!"}}]})
    assert_json_error(r, 500)
    assert srv.alive()
    assert stop(srv) == 0, srv.describe()


@pytest.fixture(scope="module")
def digits_predictor():
    """`kserve model-server` serving a scikit-learn digits classifier (64 features)."""
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.tree import DecisionTreeClassifier

    d = load_digits()
    clf = DecisionTreeClassifier(random_state=0).fit(d.data, d.target)
    root = tempfile.mkdtemp(prefix="kserve-digits-")
    os.makedirs(os.path.join(root, "digits"))
    joblib.dump(clf, os.path.join(root, "digits", "model.joblib"))
    srv = None
    for _ in range(3):
        port = free_port()
        argv = ["model-server", "--model_name", "digits", "--model_dir", os.path.join(root, "digits"),
                "--http_port", str(port), "--http_host", "127.0.0.1", "--workers", "2"]
        proc, logdir = spawn(argv)
        srv = Server(proc, port, None, logdir, argv, "digits")
        try:
            srv.wait_ready(max(READY_TIMEOUT, 20))
            break
        except ServerStartError:
            srv.kill()
            srv = None
    assert srv is not None, "the digits predictor did not start"
    yield srv, clf
    srv.terminate()


@needs_sdk
@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_image_transformer_example_in_front_of_the_model_server(procs, digits_predictor, protocol):
    predictor, clf = digits_predictor
    example = load_example("image_transformer")
    images = [digit_png(i) for i in (0, 7, 42)]
    features = np.stack([example.image_transform(b) for b in images])
    expected = clf.predict(features.astype(np.float32)).tolist()

    srv = start_py(os.path.join(EXAMPLES, "image_transformer.py"),
                   ["--model_name", "digits", "--predictor_host", "127.0.0.1:%d" % predictor.port,
                    "--protocol", protocol], model_name="digits")
    procs.append(srv)
    r = srv.post_json("/v1/models/digits:predict", {"instances": [{"image": {"b64": b}} for b in images]},
                      headers={"x-request-id": "img-1"})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": expected}

    r = srv.post_json("/v2/models/digits/infer", {"id": "img-2", "inputs": [
        {"name": "image", "shape": [3], "datatype": "BYTES", "data": images}]})
    assert r.status_code == 200, r.text
    doc = r.json()
    if protocol == "v2":
        (out,) = doc["outputs"]
        assert out["datatype"] == "INT64" and out["shape"] == [3] and out["data"] == expected
        assert doc["model_name"] == "digits"
    else:  # the example hands a V1 predictor's answer back as it came
        assert doc == {"predictions": expected}
    assert stop(srv) == 0, srv.describe()


@needs_sdk
def test_transformer_whose_predictor_is_down_answers_500(procs):
    srv = start_py(os.path.join(EXAMPLES, "image_transformer.py"),
                   ["--model_name", "digits", "--predictor_host", "127.0.0.1:%d" % free_port()],
                   model_name="digits")
    procs.append(srv)
    r = srv.post_json("/v1/models/digits:predict", {"instances": [{"image": {"b64": digit_png(1)}}]})
    assert_json_error(r, 500, contains="predictor")
    assert stop(srv) == 0, srv.describe()


# --------------------------------------------------------------------------
# errors, async handlers, concurrency and signals, over HTTP

MODEL_SCRIPT = textwrap.dedent('''
    import asyncio
    import threading
    import time
    from typing import Dict

    import kserve
    from kserve import InferRequest, InferResponse, InferOutput
    from kserve.errors import InvalidInput, ModelNotFound


    class Behaving(kserve.Model):
        def __init__(self, name: str):
            super().__init__(name)
            if MODE != "fail-load":  # else ModelServer.start() loads it, and that fails
                self.load()

        def load(self):
            if MODE == "fail-load":
                raise RuntimeError("the weights are missing")
            self.ready = True

        async def preprocess(self, payload, headers: Dict[str, str] = None):
            await asyncio.sleep(0)
            return payload

        async def predict(self, payload, headers: Dict[str, str] = None):
            if isinstance(payload, InferRequest):
                x = payload.inputs[0].as_numpy()
                out = InferOutput("y", list(x.shape), "FP32")
                out.set_data_from_numpy((x * 10).astype("float32"))
                return InferResponse(response_id=payload.id, model_name=self.name, infer_outputs=[out])
            what = payload["instances"][0]
            if what == "invalid":
                raise InvalidInput("bad instance: " + what)
            if what == "notfound":
                raise ModelNotFound("elsewhere")
            if what == "boom":
                raise ZeroDivisionError("division by zero in the model")
            if isinstance(what, (int, float)) and what < 0:
                await asyncio.sleep(-what)  # an async wait: other requests go on meanwhile
                return {"predictions": ["slept", -what]}
            if what == "sync-sleep":
                time.sleep(0.3)
            if what == "where":  # handlers run on the event loop on the main thread, as in KServe
                return {"predictions": [threading.current_thread() is threading.main_thread(),
                                        headers.get("x-request-id"), headers.get("content-type")]}
            return {"predictions": payload["instances"]}


    if __name__ == "__main__":
        import argparse
        from kserve import model_server
        parser = argparse.ArgumentParser(parents=[model_server.parser])
        parser.add_argument("--mode", default="ok")
        args, _ = parser.parse_known_args()
        MODE = args.mode
        kserve.ModelServer().start([Behaving(args.model_name)])
''')


@pytest.fixture(scope="module")
def model_script():
    d = tempfile.mkdtemp(prefix="kserve-pyscript-")
    path = os.path.join(d, "behaving.py")
    with open(path, "w") as f:
        f.write(MODEL_SCRIPT)
    return path


@needs_sdk
def test_errors_over_http_and_v2_with_async_handlers(procs, model_script):
    srv = start_py(model_script, ["--model_name", "beh"], model_name="beh")
    procs.append(srv)
    ok = srv.post_json("/v1/models/beh:predict", {"instances": [1, "a"]})
    assert ok.status_code == 200 and ok.json() == {"predictions": [1, "a"]}
    assert_json_error(srv.post_json("/v1/models/beh:predict", {"instances": ["invalid"]}), 400,
                      contains="bad instance: invalid")
    assert_json_error(srv.post_json("/v1/models/beh:predict", {"instances": ["notfound"]}), 404,
                      contains="Model with name elsewhere does not exist.")
    assert_json_error(srv.post_json("/v1/models/beh:predict", {"instances": ["boom"]}), 500,
                      contains="division by zero in the model")
    assert_json_error(srv.post("/v1/models/beh:predict", data=b"{not json",
                               headers={"Content-Type": "application/json"}), 400)
    assert_json_error(srv.post_json("/v2/models/beh/infer", {"inputs": [
        {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]}), 400)
    r = srv.post_json("/v2/models/beh/infer", {"id": "e1", "inputs": [
        {"name": "x", "shape": [2], "datatype": "FP32", "data": [0.5, 2]}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "e1", "model_name": "beh",
                        "outputs": [{"name": "y", "shape": [2], "datatype": "FP32", "data": [5.0, 20.0]}]}
    r = srv.post_json("/v1/models/beh:predict", {"instances": ["where"]}, headers={"X-Request-Id": "rq-9"})
    assert r.json() == {"predictions": [True, "rq-9", "application/json"]}
    # the server is still healthy after every error
    assert srv.get("/v2/health/ready").status_code == 200
    assert stop(srv) == 0, srv.describe()
    err = srv.stderr_text()
    assert "ZeroDivisionError" in err  # 5xx are logged with their traceback


@needs_sdk
def test_async_handlers_overlap(procs, model_script):
    # A request holds its C worker thread while Python awaits, and the kernel spreads connections
    # over the workers' SO_REUSEPORT sockets by hash: with many workers few requests share one.
    srv = start_py(model_script, ["--model_name", "beh", "--workers", "16"], model_name="beh")
    procs.append(srv)
    results = []

    def one():
        with requests.Session() as s:
            r = s.post(srv.url + "/v1/models/beh:predict", json={"instances": [-0.5]}, timeout=HTTP_TIMEOUT)
            results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=one) for _ in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - t0
    assert results == [(200, {"predictions": ["slept", 0.5]})] * 6
    # six 0.5 s awaits one after the other take 3 s
    assert elapsed < 2.0, "async handlers did not overlap: %.2fs" % elapsed
    assert stop(srv) == 0, srv.describe()


@needs_sdk
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_the_request_in_flight_and_exits_0(procs, model_script, sig):
    srv = start_py(model_script, ["--model_name", "beh"], model_name="beh")
    procs.append(srv)
    result = {}

    def slow():
        try:
            r = requests.post(srv.url + "/v1/models/beh:predict", json={"instances": [-1.0]}, timeout=HTTP_TIMEOUT)
            result["r"] = (r.status_code, r.json())
        except requests.RequestException as e:
            result["r"] = repr(e)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)  # the request is in the model now
    t0 = time.monotonic()
    rc = stop(srv, sig)
    t.join(20)
    assert rc == 0, srv.describe()
    assert result.get("r") == (200, {"predictions": ["slept", 1.0]})
    assert time.monotonic() - t0 < PY_EXIT_TIMEOUT
    assert "Traceback" not in srv.stderr_text(), srv.describe()


@needs_sdk
def test_load_failure_exits_1_never_ready(model_script):
    srv = start_py(model_script, ["--model_name", "beh", "--mode", "fail-load"], model_name="beh", wait=False)
    try:
        rc = srv.proc.wait(timeout=PY_READY_TIMEOUT)
    except subprocess.TimeoutExpired:
        srv.kill()
        pytest.fail("a model whose load() raises must not serve\n" + srv.describe())
    assert rc != 0
    assert "the weights are missing" in srv.stderr_text(), srv.describe()
