"""RawDeployment scaling through the real daemon: the HPA on the replicas' own CPU and RSS.

The daemon runs with a 1 s HPA sync period and a 4 s scale-down stabilisation window
(--autoscaler-config), so a scale-up and the way back fit in seconds.
"""
import os
import subprocess
import threading
import time

import pytest
import requests

from conftest import SEED_INSTANCES, kserve_bin
from platform_fixtures import autoscaling_platform, isvc_body, wait_until  # noqa: F401 - a fixture

HPA_CONFIG = {"horizontal-pod-autoscaler-sync-period": "1s", "horizontal-pod-autoscaler-downscale-stabilization": "4s"}
TIMEOUT = float(os.environ.get("KSERVE_E2E_SCALE_TIMEOUT", "40"))


@pytest.fixture
def raw_platform(autoscaling_platform):
    return autoscaling_platform(HPA_CONFIG)


def raw_isvc(plat, name, resources=None, **predictor):
    body = isvc_body(name, plat.uri("xgboost-iris"), fmt="xgboost", **predictor)
    if resources is not None:
        body["spec"]["predictor"]["model"]["resources"] = resources
    body["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": "RawDeployment"}
    return body


def counts(plat, name):
    return plat.get(name)["status"]["components"]["predictor"].get("replicaCounts", {})


def autoscaler(plat, name):
    return plat.get(name)["status"]["components"]["predictor"].get("autoscaler")


class Load(threading.Thread):
    """Keep-alive clients sending predictions until stopped (at most max_seconds)."""

    def __init__(self, plat, name, clients=3, max_seconds=30):
        super().__init__(daemon=True)
        self.plat, self.name, self.clients, self.max_seconds = plat, name, clients, max_seconds
        self.stop_flag = threading.Event()
        self.codes = {}
        self.lock = threading.Lock()

    def client(self):
        deadline = time.monotonic() + self.max_seconds
        with requests.Session() as s:
            while not self.stop_flag.is_set() and time.monotonic() < deadline:
                r = self.plat.predict(self.name, SEED_INSTANCES, session=s)
                with self.lock:
                    self.codes[r.status_code] = self.codes.get(r.status_code, 0) + 1

    def run(self):
        ts = [threading.Thread(target=self.client, daemon=True) for _ in range(self.clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=self.max_seconds + 10)


def test_cpu_scales_out_under_load_and_back(raw_platform):
    plat = raw_platform
    plat.apply(raw_isvc(plat, "raw-cpu", minReplicas=1, maxReplicas=3, scaleMetric="cpu", scaleTarget=20,
                        resources={"requests": {"cpu": "100m", "memory": "256Mi"}}))
    plat.wait_ready("raw-cpu")
    assert counts(plat, "raw-cpu")["desired"] == 1
    load = Load(plat, "raw-cpu")
    load.start()
    try:
        # one replica serving flat out uses far more than 20 % of 100m: the HPA asks for more, up to max 3
        wait_until(lambda: counts(plat, "raw-cpu").get("ready", 0) >= 2, TIMEOUT, "a second ready replica under load",
                   interval=0.2, info=lambda: plat.describe("raw-cpu"))
    finally:
        load.stop()
    assert set(load.codes) == {200}, load.codes
    a = autoscaler(plat, "raw-cpu")
    assert a["class"] == "hpa.autoscaling.knative.dev" and a["metric"] == "cpu" and a["target"] == 20, a
    assert counts(plat, "raw-cpu")["desired"] <= 3
    # idle: back to minReplicas once the 4 s stabilisation window has passed
    wait_until(lambda: counts(plat, "raw-cpu") == {"desired": 1, "actual": 1, "ready": 1}, TIMEOUT,
               "back to one replica", interval=0.2, info=lambda: plat.describe("raw-cpu"))
    r = plat.predict("raw-cpu", SEED_INSTANCES)
    assert r.status_code == 200, r.content


def test_memory_metric_uses_rss_against_the_request(raw_platform):
    plat = raw_platform
    # an xgboost replica's RSS is several MB: far above 1 % of 64Mi, so the HPA goes to maxReplicas at rest
    plat.apply(raw_isvc(plat, "raw-mem", minReplicas=1, maxReplicas=2, scaleMetric="memory", scaleTarget=1,
                        resources={"requests": {"cpu": "1", "memory": "64Mi"}}))
    plat.wait_ready("raw-mem")
    wait_until(lambda: counts(plat, "raw-mem").get("ready", 0) == 2, TIMEOUT, "two replicas from the memory metric",
               interval=0.2, info=lambda: plat.describe("raw-mem"))
    a = autoscaler(plat, "raw-mem")
    assert a["metric"] == "memory" and a.get("currentUtilization", 0) > 1, a


def test_autoscaler_class_none_keeps_min_replicas(raw_platform):
    plat = raw_platform
    body = raw_isvc(plat, "raw-none", minReplicas=1, maxReplicas=3)
    body["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] = "none"
    plat.apply(body)
    plat.wait_ready("raw-none")
    time.sleep(2.5)  # a few sync periods
    assert counts(plat, "raw-none") == {"desired": 1, "actual": 1, "ready": 1}
    assert autoscaler(plat, "raw-none") is None
    r = plat.predict("raw-none", SEED_INSTANCES)
    assert r.status_code == 200, r.content


@pytest.mark.parametrize("text,needle", [
    ("horizontal-pod-autoscaler-sync-period: 0s\n", "horizontal-pod-autoscaler-sync-period"),
    ("horizontal-pod-autoscaler-tolerance: 2\n", "horizontal-pod-autoscaler-tolerance"),
    ("stable-window: 6s\nhorizontal-pod-autoscaler-downscale-stabilization: soon\n",
     ":2:"),
])
def test_bad_hpa_settings_are_refused_naming_the_key(tmp_path, text, needle):
    cfg = tmp_path / "as.yaml"
    cfg.write_text(text)
    p = subprocess.run([kserve_bin(), "up", "--home", str(tmp_path / "home"), "--ingress-port", "0",
                        "--autoscaler-config", str(cfg)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 2, p
    assert needle in p.stderr and str(cfg) in p.stderr, p.stderr
