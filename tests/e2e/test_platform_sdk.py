"""User code on the platform: the C SDK's example transformer as spec.transformer, and KServe's
custom-model example (through the project's Python `kserve` package) as predictor.containers."""
import base64
import io
import os

import pytest

from conftest import REPO, kserve_bin
from platform_fixtures import Platform, isvc_body

PY = "/usr/bin/python3"


@pytest.fixture
def plat(models_dir):
    p = Platform(models_dir)
    try:
        p.start_daemon()
        yield p
    finally:
        problems = p.close()
    assert not problems, "\n\n".join(problems)


def example(name):
    """The example program built next to the binary under test (build/examples or build-asan/examples)."""
    path = os.path.join(os.path.dirname(kserve_bin()), "examples", name)
    if not os.path.exists(path):
        pytest.fail("%s is not built (make all builds the examples)" % path)
    return path


def test_c_sdk_transformer_in_front_of_a_predictor(plat):
    body = isvc_body("iris", plat.uri("sklearn-iris"))
    body["spec"]["transformer"] = {"containers": [{"name": "kserve-container", "command": [example("iris-transformer")],
                                                   "args": ["--model_name", "iris", "--workers", "1"]}]}
    plat.apply(body)
    obj = plat.wait_ready("iris")
    assert {c["type"]: c["status"] for c in obj["status"]["conditions"]}.get("TransformerReady") == "True"
    records = [{"sepal_length": 6.8, "sepal_width": 2.8, "petal_length": 4.8, "petal_width": 1.4},
               {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]
    r = plat.ingress("POST", "/v1/models/iris:predict", plat.host("iris"), {"instances": records})
    assert r.status_code == 200, r.content
    assert r.json()["predictions"] == ["versicolor", "setosa"], r.json()


def png_of_digit(ink):
    """An 8x8 grayscale PNG: a vertical bar (ink) on white, as the example's clients send images."""
    from PIL import Image
    img = Image.new("L", (8, 8), 0)
    for y in range(8):
        for x in (3, 4):
            img.putpixel((x, y), ink)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_kserve_docs_custom_model_runs_unchanged_as_a_custom_container(plat):
    script = os.path.join(REPO, "examples", "python", "custom_model.py")
    body = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "custom-model"},
            "spec": {"predictor": {"containers": [{
                "name": "kserve-container", "image": "example/custom-model:latest", "command": [PY, script],
                "env": [{"name": "PYTHONPATH", "value": os.path.join(REPO, "python")},
                        {"name": "KSERVE_SDK_LIB", "value": os.path.join(REPO, "build", "libkserve-sdk.so")}]}]}}}
    plat.apply(body)
    plat.wait_ready("custom-model")
    r = plat.ingress("POST", "/v1/models/custom-model:predict", plat.host("custom-model"),
                     {"instances": [{"image": {"b64": png_of_digit(255)}}]})
    assert r.status_code == 200, r.content
    preds = r.json()["predictions"]  # the example's answer: the top-5 scores
    assert len(preds) == 5 and all(isinstance(x, float) for x in preds) and preds == sorted(preds, reverse=True), preds
    r = plat.ingress("POST", "/v2/models/custom-model/infer", plat.host("custom-model"),
                     {"inputs": [{"name": "input-0", "shape": [1], "datatype": "BYTES", "data": [png_of_digit(255)]}]})
    assert r.status_code == 200, r.content
    assert r.json()["outputs"][0]["datatype"] == "FP32", r.json()
