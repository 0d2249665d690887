"""spec.transformer: a pre/post-processor with its own revisions in front of the predictor.

The transformer here is a small Python server (a custom container's command). The platform gives it
--predictor_host=<isvc>-predictor.<ns>.<domain> and http_proxy pointing at the ingress, so the call to
the predictor goes through the ingress and its activator like any client's."""
import json
import os

import pytest

from conftest import SEED_INSTANCES
from platform_fixtures import autoscaling_platform, is_ready, isvc_body, wait_until  # noqa: F401 - a fixture

PY = "/usr/bin/python3"
TRANSFORMER = r'''
import http.server, json, os, sys
import urllib.request
port = int(os.environ["PORT"])
host = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--predictor_host=")][0]
NAMES = ["setosa", "versicolor", "virginica"]
opener = urllib.request.build_opener(urllib.request.ProxyHandler())  # honours http_proxy
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, code, obj):
        out = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def do_GET(self):
        self.answer(200, {"ready": True})
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(n))
        keys = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        rows = [[r[k] for k in keys] if isinstance(r, dict) else r for r in body["instances"]]   # preprocess
        model = self.path.split("/")[3].split(":")[0]
        req = urllib.request.Request("http://%s/v1/models/%s:predict" % (host, model),
                                     data=json.dumps({"instances": rows}).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with opener.open(req, timeout=30) as r:
                pred = json.loads(r.read())
        except urllib.error.HTTPError as e:
            return self.answer(e.code, {"error": "predictor: %s" % e.read().decode()[:200]})
        self.answer(200, {"predictions": [NAMES[int(p)] for p in pred["predictions"]],   # postprocess
                          "predictor_host": host})
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''


@pytest.fixture
def tplat(autoscaling_platform):
    plat = autoscaling_platform()
    plat.transformer_script = os.path.join(plat.root, "transformer.py")
    with open(plat.transformer_script, "w") as f:
        f.write(TRANSFORMER)
    return plat


def with_transformer(plat, name, **transformer):
    body = isvc_body(name, plat.uri("sklearn-iris"))
    t = {"containers": [{"name": "kserve-container", "command": [PY, plat.transformer_script]}]}
    t.update(transformer)
    body["spec"]["transformer"] = t
    return body


def test_transformer_pre_and_post_processes_around_the_predictor(tplat):
    plat = tplat
    plat.apply(with_transformer(plat, "tf"))
    obj = plat.wait_ready("tf")
    st = obj["status"]
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds.get("TransformerReady") == "True" and conds.get("PredictorReady") == "True", conds
    assert st["components"]["transformer"]["latestCreatedRevision"] == "tf-transformer-00001", st["components"]
    assert st["components"]["predictor"]["latestCreatedRevision"] == "tf-predictor-00001", st["components"]
    assert st["url"] == "http://tf.default.example.com"
    records = [{"sepal_length": 6.8, "sepal_width": 2.8, "petal_length": 4.8, "petal_width": 1.4},
               {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]
    # the isvc's host reaches the transformer, which calls the predictor through the ingress
    r = plat.ingress("POST", "/v1/models/tf:predict", plat.host("tf"), {"instances": records})
    assert r.status_code == 200, r.content
    assert r.json()["predictions"] == ["versicolor", "setosa"], r.json()
    assert r.json()["predictor_host"] == "tf-predictor.default.example.com"
    # the predictor keeps its own host, answering class indices
    r = plat.ingress("POST", "/v1/models/tf:predict", "tf-predictor.default.example.com", {"instances": SEED_INSTANCES})
    assert r.status_code == 200 and r.json()["predictions"] == [1, 1], r.content
    r = plat.ingress("POST", "/v1/models/tf:predict", "tf-transformer.default.example.com", {"instances": SEED_INSTANCES})
    assert r.status_code == 200 and r.json()["predictions"] == ["versicolor", "versicolor"], r.content


def test_transformer_and_predictor_scale_to_zero_independently_and_come_back(tplat):
    plat = tplat
    body = with_transformer(plat, "tz", minReplicas=0)
    body["spec"]["predictor"]["minReplicas"] = 0
    plat.apply(body)
    plat.wait_ready("tz")

    def both_zero():
        comps = plat.get("tz")["status"]["components"]
        return all(comps[c].get("replicaCounts", {}).get("actual", 1) == 0 for c in ("predictor", "transformer"))
    wait_until(both_zero, 60, "both components at zero", interval=0.3, info=lambda: plat.describe("tz"))
    assert is_ready(plat.get("tz"))
    # one request wakes the transformer, whose call wakes the predictor
    r = plat.predict("tz", SEED_INSTANCES)
    assert r.status_code == 200 and r.json()["predictions"] == ["versicolor", "versicolor"], r.content


def test_transformer_spec_change_makes_a_transformer_revision_only(tplat):
    plat = tplat
    plat.apply(with_transformer(plat, "tr"))
    plat.wait_ready("tr")
    obj = plat.get("tr")
    obj["spec"]["transformer"]["containers"][0]["env"] = [{"name": "X", "value": "1"}]
    plat.replace(obj)
    plat.wait_isvc("tr", lambda o: o["status"]["components"]["transformer"].get("latestRolledoutRevision")
                   == "tr-transformer-00002", "the transformer's second revision rolled out")
    o = plat.get("tr")
    assert o["status"]["components"]["predictor"]["latestCreatedRevision"] == "tr-predictor-00001"
    r = plat.predict("tr", SEED_INSTANCES)
    assert r.status_code == 200 and r.json()["predictions"] == ["versicolor", "versicolor"], r.content


def test_transformer_without_containers_is_refused(tplat):
    plat = tplat
    body = isvc_body("bad", plat.uri("sklearn-iris"))
    body["spec"]["transformer"] = {"minReplicas": 1}
    r = plat.api.create(body)
    assert r.status == 422 and "spec.transformer.containers" in r.json()["message"], r
