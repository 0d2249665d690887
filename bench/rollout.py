#!/usr/bin/python3
"""Rollout switch time through a running `kserve up`: replace an InferenceService's model and time
until (a) the status shows the new revision with 100 % of the traffic and (b) the ingress answers from
the new model, while a client keeps sending requests (any non-200 is counted).

    /usr/bin/python3 bench/rollout.py HOME INGRESS_PORT FORMAT:MODEL_DIR_A FORMAT:MODEL_DIR_B [RUNS]

The two models (e.g. xgboost:DIR and sklearn:DIR) answer the probe row differently. Prints one
JSON object. Every wait is bounded (60 s).
"""
import json
import statistics
import sys
import threading
import time

import requests

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from apply_ready import BASE, UnixHTTP, call  # noqa: E402

ROW = [[6.8, 2.8, 4.8, 1.4]]


def isvc(name, spec):
    fmt, model_dir = spec.split(":", 1)
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": name},
            "spec": {"predictor": {"model": {"modelFormat": {"name": fmt}, "storageUri": "file://" + model_dir}}}}


def main():
    home, port, dir_a, dir_b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    c = UnixHTTP(home + "/api.sock")
    name = "rollout-bench"
    url = "http://127.0.0.1:%d/v1/models/%s:predict" % (port, name)
    headers = {"Host": "%s.default.example.com" % name}
    st, _ = call(c, "POST", BASE, json.dumps(isvc(name, dir_a)))
    assert st == 201, st
    s = requests.Session()
    answers = {}
    deadline = time.time() + 60
    while time.time() < deadline:
        r = s.post(url, json={"instances": ROW}, headers=headers, timeout=10)
        if r.status_code == 200:
            break
        time.sleep(0.01)
    answers[dir_a] = r.text
    bad = {"n": 0, "total": 0}
    stop = threading.Event()

    def load():
        ls = requests.Session()
        while not stop.is_set():
            rr = ls.post(url, json={"instances": ROW}, headers=headers, timeout=30)
            bad["total"] += 1
            if rr.status_code != 200:
                bad["n"] += 1
    t = threading.Thread(target=load, daemon=True)
    t.start()
    status_ms, answer_ms = [], []
    cur = dir_a
    for i in range(runs):
        nxt = dir_b if cur == dir_a else dir_a
        st, body = call(c, "GET", BASE + "/" + name)
        obj = json.loads(body)
        obj["spec"]["predictor"] = isvc(name, nxt)["spec"]["predictor"]
        t0 = time.perf_counter()
        st, body = call(c, "PUT", BASE + "/" + name, json.dumps(obj))
        assert st == 200, (st, body)
        gen = json.loads(body)["metadata"]["generation"]
        got_status = got_answer = None
        limit = t0 + 60
        while (got_status is None or got_answer is None) and time.perf_counter() < limit:
            if got_status is None:
                st, body = call(c, "GET", BASE + "/" + name)
                p = json.loads(body).get("status", {}).get("components", {}).get("predictor", {})
                tr = p.get("traffic", [])
                if (len(tr) == 1 and tr[0].get("percent") == 100 and tr[0].get("latestRevision")
                        and p.get("latestCreatedRevision", "").endswith("%05d" % (gen))):
                    got_status = time.perf_counter()
            if got_answer is None:
                r = s.post(url, json={"instances": ROW}, headers=headers, timeout=10)
                if r.status_code == 200 and nxt in answers and r.text == answers[nxt]:
                    got_answer = time.perf_counter()
                elif r.status_code == 200 and nxt not in answers and r.text != answers[cur]:
                    answers[nxt] = r.text
                    got_answer = time.perf_counter()
            time.sleep(0.0005)
        if got_status is None or got_answer is None:
            raise SystemExit("run %d: no switch within 60 s" % i)
        status_ms.append(round((got_status - t0) * 1000, 1))
        answer_ms.append(round((got_answer - t0) * 1000, 1))
        cur = nxt
    stop.set()
    t.join(timeout=30)
    call(c, "DELETE", BASE + "/" + name)

    def summary(x):
        x = sorted(x)
        return {"median_ms": statistics.median(x), "p95_ms": x[min(len(x) - 1, int(round(0.95 * (len(x) - 1))))]}
    print(json.dumps({"status_switched": summary(status_ms), "first_answer_from_new": summary(answer_ms),
                      "samples_status_ms": status_ms, "samples_answer_ms": answer_ms,
                      "background_requests": bad["total"], "background_non_200": bad["n"]}))


if __name__ == "__main__":
    main()
