#!/usr/bin/python3
"""apply -> Ready through a running `kserve up`: POST an InferenceService,
poll its status every millisecond until Ready, delete it, repeat.

    /usr/bin/python3 bench/apply_ready.py HOME MODEL_FORMAT MODEL_DIR [RUNS]

Prints one JSON object: samples_ms, median_ms, p95_ms.  Each run is bounded
(60 s to Ready, 30 s for the delete to finish).
"""
import http.client
import json
import socket
import statistics
import sys
import time

BASE = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path_ = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path_)


def call(c, method, path, body=None):
    c.request(method, path, body, {"Content-Type": "application/json"} if body else {})
    r = c.getresponse()
    return r.status, r.read()


def main():
    home, fmt, model_dir = sys.argv[1:4]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    c = UnixHTTP(home + "/api.sock")
    samples = []
    for i in range(runs):
        name = "bench-%s-%d" % (fmt, i)
        isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": {"name": name},
                "spec": {"predictor": {"model": {"modelFormat": {"name": fmt},
                                                 "storageUri": "file://" + model_dir}}}}
        t0 = time.perf_counter()
        st, _ = call(c, "POST", BASE, json.dumps(isvc))
        if st != 201:
            raise SystemExit("POST answered %d" % st)
        deadline = t0 + 60
        while True:
            st, body = call(c, "GET", BASE + "/" + name)
            conds = {x["type"]: x["status"] for x in json.loads(body).get("status", {}).get("conditions", [])}
            if conds.get("Ready") == "True":
                break
            if time.perf_counter() > deadline:
                raise SystemExit("%s not Ready after 60 s" % name)
            time.sleep(0.001)
        samples.append((time.perf_counter() - t0) * 1000)
        call(c, "DELETE", BASE + "/" + name)
        deadline = time.perf_counter() + 30
        while call(c, "GET", "/apis/serving.knative.dev/v1/namespaces/default/revisions?labelSelector="
                   "serving.kserve.io/inferenceservice=" + name)[1].count(b'"name"') and time.perf_counter() < deadline:
            time.sleep(0.01)
    s = sorted(samples)
    print(json.dumps({"samples_ms": [round(x, 1) for x in samples], "median_ms": round(statistics.median(s), 1),
                      "p95_ms": round(s[min(len(s) - 1, int(len(s) * 0.95))], 1)}))


if __name__ == "__main__":
    main()
