"""predictor.containers: a custom model server (a command, here a small Python server) behind kserve queue-proxy,
supervised, scaled and rolled out like a native replica."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import kserve_bin
from platform_fixtures import autoscaling_platform, is_ready, wait_until  # noqa: F401 - a fixture

PY = "/usr/bin/python3"
SERVER = r'''
import http.server, json, os, sys, time
port = int(os.environ["PORT"])
args = sys.argv[1:]
assert "--http_port=%d" % port in args or str(port) in args, args
if os.environ.get("CRASH") == "1":
    sys.exit(3)
inflight = 0
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
        global inflight
        n = int(self.headers.get("Content-Length", 0))
        try:
            body = json.loads(self.rfile.read(n))
            rows = body["instances"]
        except Exception as e:
            return self.answer(400, {"error": "bad body: %s" % e})
        inflight += 1
        seen = inflight
        time.sleep(float(os.environ.get("SLEEP", "0")))
        inflight -= 1
        self.answer(200, {"predictions": [sum(r) for r in rows], "greeting": os.environ.get("GREETING"),
                          "args": args, "inflight": seen})
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''


@pytest.fixture
def custom_platform(autoscaling_platform):
    plat = autoscaling_platform()
    plat.custom_script = os.path.join(plat.root, "custom_server.py")
    with open(plat.custom_script, "w") as f:
        f.write(SERVER)
    return plat


def custom_isvc(plat, name, env=None, **predictor):
    c = {"name": "kserve-container", "image": "example/custom-model:1", "command": [PY, plat.custom_script],
         "args": ["--model_name", name], "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
    if env:
        c["env"] = [{"name": k, "value": v} for k, v in env.items()]
    p = {"containers": [c]}
    p.update(predictor)
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": name},
            "spec": {"predictor": p}}


def test_custom_container_serves_through_the_ingress(custom_platform):
    plat = custom_platform
    plat.apply(custom_isvc(plat, "cust", env={"GREETING": "hello"}))
    obj = plat.wait_ready("cust")
    r = plat.predict("cust", [[1, 2, 3], [4, 5, 6]])
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["predictions"] == [6, 15] and body["greeting"] == "hello", body
    assert body["args"][:2] == ["--model_name", "cust"] and body["args"][2].startswith("--http_port="), body
    # the replica is the queue-proxy, the model server its child
    reps = obj["status"]["replicas"]
    assert len(reps) == 1
    with open("/proc/%d/cmdline" % reps[0]["pid"], "rb") as f:
        cmd = f.read().split(b"\0")
    assert b"queue-proxy" in cmd and plat.custom_script.encode() in cmd, cmd
    # errors of the custom server pass through
    r = plat.ingress("POST", "/v1/models/cust:predict", plat.host("cust"), {"nope": 1})
    assert r.status_code == 400 and "error" in r.json(), r.content


def test_custom_container_scales_to_zero_and_back(custom_platform):
    plat = custom_platform
    plat.apply(custom_isvc(plat, "cz", minReplicas=0))
    plat.wait_ready("cz")
    wait_until(lambda: plat.get("cz")["status"]["components"]["predictor"]["replicaCounts"]["actual"] == 0, 40,
               "scaled to zero", interval=0.2, info=lambda: plat.describe("cz"))
    assert is_ready(plat.get("cz"))
    r = plat.predict("cz", [[1, 1]])
    assert r.status_code == 200 and r.json()["predictions"] == [2], r.content


def test_custom_container_concurrency_one_queues_in_the_queue_proxy(custom_platform):
    plat = custom_platform
    plat.apply(custom_isvc(plat, "cc1", env={"SLEEP": "0.05"}, containerConcurrency=1, maxReplicas=1))
    plat.wait_ready("cc1")
    results = []

    def client():
        with requests.Session() as s:
            for _ in range(5):
                r = plat.predict("cc1", [[1, 2]], session=s)
                results.append((r.status_code, r.json().get("inflight") if r.status_code == 200 else r.content))
    ts = [threading.Thread(target=client) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    assert len(results) == 20 and all(code == 200 for code, _ in results), results
    assert max(n for _, n in results) == 1, results  # the custom server never saw two at once


def test_crashing_custom_container_is_reported_and_never_routed(custom_platform):
    plat = custom_platform
    plat.apply(custom_isvc(plat, "crash", env={"CRASH": "1"}))
    obj = plat.wait_isvc("crash", lambda o: any(c.get("type") == "Ready" and c.get("status") == "False"
                                                for c in o.get("status", {}).get("conditions", [])),
                         "Ready=False for a crashing model server")
    text = json.dumps(obj["status"])
    assert "exited with" in text or "CrashLoopBackOff" in text, text
    r = plat.predict("crash", [[1]])
    assert r.status_code in (404, 503), r.content


def test_image_without_command_is_refused_naming_the_field(custom_platform, tmp_path):
    plat = custom_platform
    body = custom_isvc(plat, "img")
    del body["spec"]["predictor"]["containers"][0]["command"]
    r = plat.api.create(body)
    assert r.status == 422, r
    msg = r.json()["message"]
    assert "spec.predictor.containers[0].command" in msg and "example/custom-model:1" in msg, msg
    # two containers: sidecars cannot run here
    body = custom_isvc(plat, "two")
    body["spec"]["predictor"]["containers"].append(dict(body["spec"]["predictor"]["containers"][0], name="side"))
    r = plat.api.create(body)
    assert r.status == 422 and "one container" in r.json()["message"], r


def test_queue_proxy_runs_a_child_command(tmp_path):
    """kserve queue-proxy -- COMMAND: the child gets its port, and the proxy ends with the child's exit status."""
    script = tmp_path / "srv.py"
    script.write_text(SERVER)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([kserve_bin(), "queue-proxy", "--port", str(port), "--drain-seconds", "0", "--workers", "1",
                          "--", PY, str(script), "--model_name", "q"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: requests.get("http://127.0.0.1:%d/ks/queue/ready" % port, timeout=2).status_code == 200
                   if _listening(port) else False, 20, "queue-proxy ready")
        r = requests.post("http://127.0.0.1:%d/v1/models/q:predict" % port, json={"instances": [[2, 3]]}, timeout=10)
        assert r.status_code == 200 and r.json()["predictions"] == [5], r.content
    finally:
        p.terminate()
        out = p.communicate(timeout=30)[0].decode()
    assert p.returncode == 0, out
    # a child that fails: the queue-proxy ends with its status
    env = dict(os.environ, CRASH="1")
    p = subprocess.run([kserve_bin(), "queue-proxy", "--port", "0", "--", PY, str(script)], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert "exited with status 3" in p.stderr, p.stderr


def _listening(port):
    import socket
    s = socket.socket()
    try:
        s.settimeout(0.5)
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
