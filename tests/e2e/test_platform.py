"""End-to-end tests of `kserve up`, the platform on one machine.

Each test starts its own daemon (platform_fixtures.Platform) and drives it as a
user of KServe would: InferenceService JSON to the Kubernetes-style API on the
Unix socket, predictions through the ingress with the Host header of
status.url, and checks of the processes the platform runs (/proc).  Every
prediction is compared with what scikit-learn / xgboost answer in this process.
"""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import requests

from conftest import SEED_INSTANCES, assert_json_error, assert_same_predictions, sample_rows, v2_request
from platform_fixtures import (ALPHA, TrafficLoop, condition, is_ready, isvc_body, predictor_status, proc_alive,
                               proc_cmdline, replicas_of, wait_until)
from platform_fixtures import file_server, platform  # noqa: F401 - fixtures

REV1 = "sklearn-iris-predictor-00001"
REV2 = "sklearn-iris-predictor-00002"


def seed_isvc(plat, name="sklearn-iris", model="sklearn-iris", **kw):
    return isvc_body(name, plat.uri(model), **kw)


def assert_predictions_like(plat_resp, ref, model, rows):
    assert plat_resp.status_code == 200, "%d %r" % (plat_resp.status_code, plat_resp.content[:500])
    assert_same_predictions(plat_resp.json()["predictions"], ref.v1(model, rows))


def ready_replicas(obj, revision):
    return [r for r in replicas_of(obj, revision) if r.get("state") == "Ready" and r.get("pid")]


# --------------------------------------------------------------------------
# 1. the seed's flow


def test_seed_flow_apply_wait_predict(platform, ref):
    plat = platform
    created = plat.apply(seed_isvc(plat))
    assert created["metadata"]["name"] == "sklearn-iris"
    assert created["metadata"]["namespace"] == "default"
    assert created["metadata"].get("resourceVersion"), created["metadata"]
    assert created["metadata"].get("generation") == 1, created["metadata"]

    obj = plat.wait_ready("sklearn-iris")
    st = obj["status"]
    assert st["url"] == "http://sklearn-iris.default.example.com", st
    for ctype in ("Ready", "PredictorReady", "IngressReady"):
        assert condition(obj, ctype).get("status") == "True", (ctype, st["conditions"])
        assert condition(obj, ctype).get("lastTransitionTime"), (ctype, st["conditions"])
    pred = predictor_status(obj)
    assert pred.get("latestCreatedRevision") == REV1, pred
    assert pred.get("latestReadyRevision") == REV1, pred
    assert pred.get("latestRolledoutRevision") == REV1, pred
    assert [(t.get("revisionName"), t.get("percent")) for t in pred.get("traffic", [])] == [(REV1, 100)], pred
    assert st["modelStatus"]["transitionStatus"] == "UpToDate", st["modelStatus"]

    # one replica: a `kserve model-server` process for this model on loopback
    reps = ready_replicas(obj, REV1)
    assert len(reps) == 1, st.get("replicas")
    cmd = proc_cmdline(reps[0]["pid"])
    assert "model-server" in cmd and "--model_name=sklearn-iris" in cmd, cmd
    assert plat.model_dir("sklearn-iris") in cmd, cmd
    assert plat.api.revision_names(isvc="sklearn-iris") == [REV1]

    # V1 through the ingress: the seed's answer, and the library's
    r = plat.predict("sklearn-iris", SEED_INSTANCES)
    assert r.status_code == 200, "%d %r\n%s" % (r.status_code, r.content[:500], plat.log())
    assert r.json() == {"predictions": [1, 1]}, r.content
    assert_same_predictions(r.json()["predictions"], ref.v1("sklearn-iris", SEED_INSTANCES))
    rows = sample_rows("sklearn-iris", 12, seed=3)
    assert_predictions_like(plat.predict("sklearn-iris", rows), ref, "sklearn-iris", rows)

    # V2
    r = plat.infer_v2("sklearn-iris", v2_request(rows, "FP64"))
    assert r.status_code == 200, r.content[:500]
    out = r.json()["outputs"][0]
    assert out["shape"] == [12], out
    assert_same_predictions(out["data"], ref.predict("sklearn-iris", np.array(rows, dtype=np.float64)).tolist(),
                            what="V2 outputs[0].data")
    r = plat.ingress("GET", "/v2/models/sklearn-iris/ready", plat.host("sklearn-iris"))
    assert r.status_code == 200, r.content[:300]

    # the predictor's own host
    r = plat.predict("sklearn-iris", SEED_INSTANCES, host=plat.host("sklearn-iris", predictor=True))
    assert r.status_code == 200 and r.json() == {"predictions": [1, 1]}, r.content[:300]
    # the host with a port, as curl sends it
    r = plat.predict("sklearn-iris", SEED_INSTANCES, host="sklearn-iris.default.example.com:%d" % plat.port)
    assert r.status_code == 200 and r.json() == {"predictions": [1, 1]}, r.content[:300]

    # unknown hosts: 404 with a JSON error
    for host in ("nope.default.example.com", "sklearn-iris.other.example.com", "127.0.0.1",
                 "sklearn-iris.default.example.org"):
        r = plat.predict("sklearn-iris", SEED_INSTANCES, host=host)
        assert_json_error(r, 404)

    # the events tell the story
    ev = plat.api.events("sklearn-iris")
    assert ev.status == 200, ev
    reasons = [e.get("reason") for e in ev.json()["items"]]
    assert "RevisionCreated" in reasons, reasons


# --------------------------------------------------------------------------
# 2. xgboost, a second namespace, the old single-key predictor form


def test_xgboost_second_namespace_and_old_form(platform, ref):
    plat = platform
    plat.apply(isvc_body("xgboost-iris", plat.uri("xgboost-iris"), fmt="xgboost", namespace="kserve-test"),
               ns="kserve-test")
    plat.apply(isvc_body("iris-lr", plat.uri("sklearn-iris-lr"), old_form=True))
    plat.apply(isvc_body("xgb-old", plat.uri("xgboost-iris"), fmt="xgboost", old_form=True, namespace="kserve-test"),
               ns="kserve-test")

    xgb = plat.wait_ready("xgboost-iris", ns="kserve-test")
    assert xgb["status"]["url"] == "http://xgboost-iris.kserve-test.example.com", xgb["status"]
    lr = plat.wait_ready("iris-lr")
    assert lr["status"]["url"] == "http://iris-lr.default.example.com", lr["status"]
    plat.wait_ready("xgb-old", ns="kserve-test")

    rows = sample_rows("xgboost-iris", 10, seed=5)
    assert_predictions_like(plat.predict("xgboost-iris", rows, ns="kserve-test"), ref, "xgboost-iris", rows)
    assert_predictions_like(plat.predict("xgboost-iris", rows, ns="kserve-test",
                                         host=plat.host("xgboost-iris", "kserve-test", predictor=True)),
                            ref, "xgboost-iris", rows)
    assert_predictions_like(plat.predict("xgb-old", rows, ns="kserve-test"), ref, "xgboost-iris", rows)
    r = plat.infer_v2("xgboost-iris", v2_request(rows, "FP32"), ns="kserve-test")
    assert r.status_code == 200, r.content[:500]
    assert_same_predictions(r.json()["outputs"][0]["data"],
                            ref.predict("xgboost-iris", np.array(rows, dtype=np.float32)).reshape(-1).tolist(),
                            what="xgboost V2 data")
    rows = sample_rows("sklearn-iris-lr", 10, seed=6)
    assert_predictions_like(plat.predict("iris-lr", rows), ref, "sklearn-iris-lr", rows)

    # namespaces are separate: names, hosts, revisions
    assert plat.api.get("xgboost-iris", "default").status == 404
    assert plat.api.get("iris-lr", "kserve-test").status == 404
    assert_json_error(plat.predict("xgboost-iris", rows, ns="default"), 404)
    assert_json_error(plat.predict("iris-lr", rows, ns="kserve-test"), 404)
    assert plat.api.revision_names("kserve-test") == ["xgb-old-predictor-00001", "xgboost-iris-predictor-00001"]
    assert plat.api.revision_names("default") == ["iris-lr-predictor-00001"]
    listed = plat.api.request("GET", plat.api.isvc_path("kserve-test"))
    assert listed.status == 200, listed
    assert sorted(i["metadata"]["name"] for i in listed.json()["items"]) == ["xgb-old", "xgboost-iris"]
    every = plat.api.request("GET", "/apis/serving.kserve.io/v1beta1/inferenceservices")
    assert every.status == 200, every
    assert sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in every.json()["items"]) == [
        ("default", "iris-lr"), ("kserve-test", "xgb-old"), ("kserve-test", "xgboost-iris")]

    # the runtimes chosen by modelFormat, shipped as cluster runtimes
    rts = plat.api.request("GET", ALPHA + "/clusterservingruntimes")
    assert rts.status == 200, rts
    names = {i["metadata"]["name"] for i in rts.json()["items"]}
    assert {"kserve-sklearnserver", "kserve-xgbserver"} <= names, names
    for name, ns in (("xgboost-iris", "kserve-test"), ("iris-lr", "default")):
        reps = ready_replicas(plat.get(name, ns), None)
        assert len(reps) == 1, reps
        cmd = proc_cmdline(reps[0]["pid"])
        assert "model-server" in cmd and "--model_name=%s" % name in cmd, cmd


def test_object_without_namespace_goes_to_the_namespace_of_the_path(platform):
    """As the Kubernetes API server does (what `kubectl apply -n NS` relies on):
    an object without metadata.namespace is created in the namespace of the URL."""
    plat = platform
    r = plat.api.create(isvc_body("no-ns", plat.uri("sklearn-iris")), ns="team-a")
    assert r.status == 201, r
    assert r.json()["metadata"]["namespace"] == "team-a", r
    assert plat.api.get("no-ns", "team-a").status == 200
    assert plat.api.get("no-ns", "default").status == 404
    obj = plat.wait_ready("no-ns", ns="team-a")
    assert obj["status"]["url"] == "http://no-ns.team-a.example.com", obj["status"]
    r = plat.predict("no-ns", SEED_INSTANCES, ns="team-a")
    assert r.status_code == 200 and r.json() == {"predictions": [1, 1]}, r.content[:300]
    # PUT without a namespace in the body, too
    upd = isvc_body("no-ns", plat.uri("sklearn-iris"), minReplicas=1)
    r = plat.api.replace(upd, ns="team-a")
    assert r.status == 200, r


# --------------------------------------------------------------------------
# 3. update: a new revision takes over without a failed request


def test_update_rolls_out_new_revision_without_dropping_requests(platform, ref):
    plat = platform
    plat.apply(seed_isvc(plat))
    obj = plat.wait_ready("sklearn-iris")
    old_pids = {r["pid"] for r in ready_replicas(obj, REV1)}
    assert len(old_pids) == 1, obj["status"].get("replicas")

    # the new model answers with class names: old and new answers are told apart
    old_answer = {"predictions": [1, 1]}
    new_answer = {"predictions": ref.v1("sklearn-iris-names", SEED_INSTANCES)}
    assert new_answer != old_answer

    loop = TrafficLoop(plat, "sklearn-iris", SEED_INSTANCES, max_seconds=10)
    fresh = TrafficLoop(plat, "sklearn-iris", SEED_INSTANCES, max_seconds=10, fresh=True)
    loop.start()
    fresh.start()
    try:
        wait_until(lambda: len(loop.results) >= 20 and len(fresh.results) >= 20, 5, "the client loops to get going")
        update = seed_isvc(plat, model="sklearn-iris-names")
        update["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
        replaced = plat.replace(update)
        assert replaced["metadata"]["generation"] == 2, replaced["metadata"]

        def switched(o):
            p = predictor_status(o)
            return (p.get("latestCreatedRevision") == REV2 and p.get("latestRolledoutRevision") == REV2 and
                    [t.get("revisionName") for t in p.get("traffic", [])] == [REV2] and is_ready(o))
        obj2 = plat.wait_isvc("sklearn-iris", switched, "traffic on %s" % REV2)
        # the old revision's replicas stop once the new one serves
        plat.wait_gone(old_pids, "the old revision's replica to stop")
        time.sleep(0.3)  # a few more requests after the old replica is gone
    finally:
        loop.stop()
        fresh.stop()

    pred = predictor_status(obj2)
    assert pred.get("previousRolledoutRevision") == REV1, pred
    assert pred.get("latestReadyRevision") == REV2, pred
    assert pred["traffic"][0].get("percent") == 100, pred
    assert obj2["status"]["modelStatus"]["transitionStatus"] == "UpToDate", obj2["status"]["modelStatus"]
    assert plat.api.revision_names(isvc="sklearn-iris") == [REV1, REV2]

    # no request failed, every answer is the old or the new model's, and once
    # the new model answered the old one never did again (one client, in order)
    for what, lp in (("keep-alive", loop), ("new connection per request", fresh)):
        failures = lp.failures()
        assert not failures, "%s client: %d of %d requests failed during the rollout: %r\n%s" % (
            what, len(failures), len(lp.results), failures[:10], plat.log())
        bodies = [b for _, _, b in lp.results]
        assert all(b in (old_answer, new_answer) for b in bodies), \
            [b for b in bodies if b not in (old_answer, new_answer)][:5]
        first_new = next((i for i, b in enumerate(bodies) if b == new_answer), None)
        assert first_new is not None, "%s client never saw the new model (%d requests)" % (what, len(bodies))
        assert old_answer not in bodies[first_new:], "%s client: the old model answered after the new one" % what
        assert first_new > 0, "%s client never saw the old model" % what

    # the new revision's replica serves, and only it
    new_pids = {r["pid"] for r in ready_replicas(obj2, REV2)}
    assert len(new_pids) == 1 and not (new_pids & old_pids), obj2["status"].get("replicas")
    assert set(plat.replica_processes()) == new_pids, plat.replica_processes()
    rows = sample_rows("sklearn-iris-names", 8, seed=1)
    assert_predictions_like(plat.predict("sklearn-iris", rows), ref, "sklearn-iris-names", rows)
    reasons = [e.get("reason") for e in plat.api.events("sklearn-iris").json()["items"]]
    assert "TrafficSwitched" in reasons, reasons


# --------------------------------------------------------------------------
# 4. a model that cannot load


def test_bad_model_update_keeps_old_revision_serving(platform, ref):
    plat = platform
    plat.apply(seed_isvc(plat))
    obj = plat.wait_ready("sklearn-iris")
    old_pids = {r["pid"] for r in ready_replicas(obj, REV1)}
    bad = plat.bad_model_dir()

    loop = TrafficLoop(plat, "sklearn-iris", SEED_INSTANCES, max_seconds=15)
    loop.start()
    try:
        wait_until(lambda: len(loop.results) >= 20, 5, "the client loop to get going")
        plat.replace(isvc_body("sklearn-iris", "file://" + bad))

        def blocked(o):
            ms = (o.get("status") or {}).get("modelStatus") or {}
            reps = replicas_of(o, REV2)
            return ((ms.get("lastFailureInfo") or {}).get("reason") == "ModelLoadFailed" and
                    any(r.get("restarts", 0) >= 1 for r in reps))
        obj2 = plat.wait_isvc("sklearn-iris", blocked, "modelStatus.lastFailureInfo.reason=ModelLoadFailed")
        time.sleep(0.5)  # the old revision keeps serving while the new one crash-loops
    finally:
        loop.stop()

    st = obj2["status"]
    pred = predictor_status(obj2)
    assert pred.get("latestCreatedRevision") == REV2, pred
    assert pred.get("latestRolledoutRevision") == REV1, pred
    assert [(t.get("revisionName"), t.get("percent")) for t in pred.get("traffic", [])] == [(REV1, 100)], pred
    assert pred.get("latestReadyRevision") != REV2, pred
    assert st["modelStatus"]["transitionStatus"] == "BlockedByFailedLoad", st["modelStatus"]
    lfi = st["modelStatus"]["lastFailureInfo"]
    assert "cannot load scikit-learn model" in lfi.get("message", "") and "model.joblib" in lfi["message"], lfi
    assert is_ready(obj2), "the isvc should stay Ready while the old revision serves: %r" % st["conditions"]
    reps = replicas_of(obj2, REV2)
    assert reps, st.get("replicas")
    assert all(r.get("restarts", 0) >= 1 for r in reps), reps
    assert all(r.get("reason") in ("CrashLoopBackOff", "Error") for r in reps if r.get("state") != "Starting"), reps
    assert any(r.get("reason") in ("CrashLoopBackOff", "Error") for r in reps), reps

    # the old replica never stopped and every request got the old model's answer
    assert all(proc_alive(p) for p in old_pids), "the serving replica died"
    assert {r["pid"] for r in ready_replicas(plat.get("sklearn-iris"), REV1)} == old_pids
    failures = loop.failures()
    assert not failures, "%d of %d requests failed: %r\n%s" % (len(failures), len(loop.results), failures[:10],
                                                               plat.log())
    assert all(b == {"predictions": [1, 1]} for _, _, b in loop.results)
    rows = sample_rows("sklearn-iris", 6, seed=8)
    assert_predictions_like(plat.predict("sklearn-iris", rows), ref, "sklearn-iris", rows)


def test_fresh_isvc_with_bad_model_is_not_ready(platform):
    plat = platform
    bad = plat.bad_model_dir()
    plat.apply(isvc_body("broken", "file://" + bad))

    def failed(o):
        c = condition(o, "Ready")
        return c.get("status") == "False" and c.get("reason") == "ModelLoadFailed"
    obj = plat.wait_isvc("broken", failed, "Ready=False reason=ModelLoadFailed")
    st = obj["status"]
    assert condition(obj, "PredictorReady").get("status") == "False", st["conditions"]
    assert "cannot load scikit-learn model" in condition(obj, "Ready").get("message", ""), st["conditions"]
    ms = st["modelStatus"]
    assert ms["transitionStatus"] == "BlockedByFailedLoad", ms
    assert ms["lastFailureInfo"]["reason"] == "ModelLoadFailed", ms
    assert "cannot load scikit-learn model" in ms["lastFailureInfo"].get("message", ""), ms
    assert ms["lastFailureInfo"].get("exitCode") == 1, ms
    assert not predictor_status(obj).get("latestReadyRevision"), predictor_status(obj)
    assert not predictor_status(obj).get("traffic"), predictor_status(obj)
    reps = replicas_of(obj)
    assert reps and all(r.get("restarts", 0) >= 1 for r in reps), reps
    r = plat.predict("broken", SEED_INSTANCES)
    assert r.status_code != 200, r.content[:300]
    reasons = [e.get("reason") for e in plat.api.events("broken").json()["items"]]
    assert "ModelLoadFailed" in reasons, reasons


# --------------------------------------------------------------------------
# 5. a replica killed with SIGKILL is restarted


def test_killed_replica_is_restarted(platform, ref):
    plat = platform
    plat.apply(seed_isvc(plat))
    obj = plat.wait_ready("sklearn-iris")
    reps = ready_replicas(obj, REV1)
    assert len(reps) == 1, reps
    old_pid, old_restarts = reps[0]["pid"], reps[0].get("restarts", 0)

    os.kill(old_pid, signal.SIGKILL)

    def restarted(o):
        rs = ready_replicas(o, REV1)
        return len(rs) == 1 and rs[0]["pid"] != old_pid and rs[0].get("restarts", 0) >= old_restarts + 1
    obj2 = plat.wait_isvc("sklearn-iris", restarted, "a new replica process, Ready, restarts counted")
    new = ready_replicas(obj2, REV1)[0]
    assert not proc_alive(old_pid)
    assert proc_alive(new["pid"]) and "model-server" in proc_cmdline(new["pid"])
    assert new.get("restarts") == old_restarts + 1, new
    plat.wait_predict_ok("sklearn-iris", SEED_INSTANCES, timeout=5)
    rows = sample_rows("sklearn-iris", 10, seed=11)
    assert_predictions_like(plat.predict("sklearn-iris", rows), ref, "sklearn-iris", rows)
    assert set(plat.replica_processes()) == {new["pid"]}, plat.replica_processes()
    assert is_ready(obj2)


# --------------------------------------------------------------------------
# 6. the daemon killed with SIGKILL, started again; then stopped with SIGTERM


def test_daemon_kill9_restart_adopts_replicas_then_sigterm_stops_all(platform, ref):
    plat = platform
    plat.apply(seed_isvc(plat))
    plat.apply(isvc_body("xgb", plat.uri("xgboost-iris"), fmt="xgboost", minReplicas=2))
    plat.wait_ready("sklearn-iris")
    plat.wait_isvc("xgb", lambda o: is_ready(o) and len(ready_replicas(o, "xgb-predictor-00001")) == 2,
                   "two ready replicas")
    before = plat.replica_processes()
    assert len(before) == 3, before
    first = plat.daemon

    first.kill9()
    # the replicas do not notice
    time.sleep(0.2)
    assert set(plat.replica_processes()) == set(before), "replicas died with the daemon: %r" % before
    assert os.path.exists(os.path.join(plat.home, "replicas.json"))

    t0 = time.monotonic()
    second = plat.start_daemon()
    # traffic again, at once
    r1 = plat.wait_predict_ok("sklearn-iris", SEED_INSTANCES, timeout=5)
    back_after = time.monotonic() - t0
    assert r1.json() == {"predictions": [1, 1]}
    rows = sample_rows("xgboost-iris", 7, seed=4)
    r2 = plat.wait_predict_ok("xgb", rows, timeout=5)
    assert_same_predictions(r2.json()["predictions"], ref.v1("xgboost-iris", rows))

    # the same processes, adopted: no duplicates, none restarted
    def adopted(o, rev, n):
        rs = ready_replicas(o, rev)
        return len(rs) == n and {r["pid"] for r in rs} <= set(before)
    o1 = plat.wait_isvc("sklearn-iris", lambda o: adopted(o, REV1, 1), "the adopted replica Ready in status")
    o2 = plat.wait_isvc("xgb", lambda o: adopted(o, "xgb-predictor-00001", 2), "the adopted replicas Ready")
    time.sleep(0.5)  # give a wrong daemon time to start duplicates
    after = plat.replica_processes()
    assert after == before, "replica processes changed across the daemon's restart:\nbefore %r\nafter %r\n%s" % (
        before, after, plat.log())
    assert {r["pid"] for r in replicas_of(o1) + replicas_of(o2)} == set(before)
    assert is_ready(plat.get("sklearn-iris")) and is_ready(plat.get("xgb"))
    assert back_after < 5, back_after

    # SIGTERM: every replica stops (adopted ones too), the daemon exits 0
    rc, secs = second.terminate()
    assert rc == 0, "kserve up exited with %r after SIGTERM (%.1fs)\n%s" % (rc, secs, plat.log())
    still = {p: c for p, c in before.items() if proc_alive(p)}
    assert not still, "replicas alive after the daemon exited: %r" % still
    assert not plat.processes(), plat.processes()
    assert "stopped" in second.log()
    assert not os.path.exists(os.path.join(plat.home, "api.sock"))


def test_sigterm_stops_every_replica_and_exits_0(platform):
    plat = platform
    plat.apply(seed_isvc(plat))
    plat.apply(isvc_body("iris2", plat.uri("sklearn-iris-lr"), minReplicas=2))
    plat.wait_ready("sklearn-iris")
    plat.wait_isvc("iris2", lambda o: len(ready_replicas(o, "iris2-predictor-00001")) == 2, "two ready replicas")
    pids = set(plat.replica_processes())
    assert len(pids) == 3, pids
    rc, secs = plat.daemon.terminate()
    assert rc == 0, "exit %r after %.1fs\n%s" % (rc, secs, plat.log())
    still = [p for p in pids if proc_alive(p)]
    assert not still, "replicas outlived the daemon: %r" % still
    # each replica was asked to drain, not killed
    texts = plat.replica_logs()
    assert len(texts) == 3, texts
    assert all("SIGTERM: draining" in t for t in texts.values()), texts


# --------------------------------------------------------------------------
# 7. delete


def test_delete_stops_replicas_removes_routes_and_revisions(platform):
    plat = platform
    plat.apply(seed_isvc(plat))
    plat.apply(isvc_body("keeper", plat.uri("sklearn-iris-lr")))
    obj = plat.wait_ready("sklearn-iris")
    plat.wait_ready("keeper")
    pids = {r["pid"] for r in ready_replicas(obj, REV1)}
    keeper_pids = {r["pid"] for r in ready_replicas(plat.get("keeper"), "keeper-predictor-00001")}
    assert plat.predict("sklearn-iris", SEED_INSTANCES).status_code == 200

    r = plat.api.delete("sklearn-iris")
    assert r.status == 200, r
    assert r.json().get("status") == "Success", r

    plat.wait_gone(pids, "the deleted isvc's replica to stop")
    assert_json_error(plat.api.get("sklearn-iris"), 404)
    wait_until(lambda: plat.predict("sklearn-iris", SEED_INSTANCES).status_code == 404, 5,
               "the route of the deleted isvc to go")
    assert_json_error(plat.predict("sklearn-iris", SEED_INSTANCES), 404)
    assert_json_error(plat.predict("sklearn-iris", SEED_INSTANCES,
                                   host=plat.host("sklearn-iris", predictor=True)), 404)
    wait_until(lambda: plat.api.revision_names(isvc="sklearn-iris") == [], 5, "the revisions to go")
    assert_json_error(plat.api.request("GET", plat.api.revisions_path("default", REV1)), 404)
    # drained: the replica was told SIGTERM
    texts = {p: t for p, t in plat.replica_logs().items() if p.startswith("default/%s/" % REV1)}
    assert len(texts) == 1 and all("SIGTERM: draining" in t for t in texts.values()), texts
    # a second delete: 404
    assert_json_error(plat.api.delete("sklearn-iris"), 404)

    # the other isvc is untouched
    assert all(proc_alive(p) for p in keeper_pids)
    assert set(plat.replica_processes()) == keeper_pids, plat.replica_processes()
    assert plat.predict("keeper", SEED_INSTANCES).status_code == 200
    assert plat.api.revision_names() == ["keeper-predictor-00001"]

    # the name can be used again: a fresh revision 00001
    plat.apply(seed_isvc(plat))
    obj = plat.wait_ready("sklearn-iris")
    assert predictor_status(obj).get("latestCreatedRevision") == REV1, predictor_status(obj)
    assert plat.predict("sklearn-iris", SEED_INSTANCES).json() == {"predictions": [1, 1]}


# --------------------------------------------------------------------------
# 8. API errors


def test_api_conflicts_and_not_found(platform):
    plat = platform
    body = seed_isvc(plat)
    first = plat.apply(body)
    r = plat.api.create(body)
    assert r.status == 409, r
    doc = r.json()
    assert doc.get("error") and doc.get("reason") == "AlreadyExists", doc
    assert "sklearn-iris" in doc["error"], doc

    # a PUT with the current resourceVersion succeeds; with a stale one: 409
    # (status writes move resourceVersion too, as in Kubernetes: read it once Ready)
    rv0 = first["metadata"]["resourceVersion"]
    rv1 = plat.wait_ready("sklearn-iris")["metadata"]["resourceVersion"]
    upd = seed_isvc(plat, minReplicas=1)
    upd["metadata"]["resourceVersion"] = rv1
    r = plat.api.replace(upd)
    assert r.status == 200, r
    rv2 = r.json()["metadata"]["resourceVersion"]
    assert rv2 != rv1
    upd2 = seed_isvc(plat, model="sklearn-iris-lr")
    upd2["metadata"]["resourceVersion"] = rv1
    r = plat.api.replace(upd2)
    assert r.status == 409, r
    assert r.json().get("error") and r.json().get("reason") == "Conflict", r
    upd2["metadata"]["resourceVersion"] = rv0
    assert plat.api.replace(upd2).status == 409
    assert plat.get("sklearn-iris")["spec"]["predictor"].get("minReplicas") == 1
    assert "sklearn-iris-lr" not in json.dumps(plat.get("sklearn-iris")["spec"])
    # unknown objects and paths: 404 with {"error": ...}
    for path in (plat.api.isvc_path("default", "nope"), plat.api.isvc_path("other-ns", "sklearn-iris"),
                 plat.api.revisions_path("default", "nope-predictor-00001"),
                 plat.api.isvc_path("default", "nope") + "/events",
                 "/apis/serving.kserve.io/v1beta1/namespaces/default/widgets",
                 "/nothing/here"):
        r = plat.api.request("GET", path)
        assert r.status == 404, r
        doc = r.json()
        assert isinstance(doc.get("error"), str) and doc["error"], doc
    assert "nope" in plat.api.get("nope").json()["error"]

    # malformed JSON: 400
    r = plat.api.request("POST", plat.api.isvc_path(), raw=b'{"apiVersion": ')
    assert r.status == 400, r
    assert r.json().get("error"), r
    # revisions are read only
    r = plat.api.request("DELETE", plat.api.revisions_path("default", REV1))
    assert r.status == 405, r


def test_put_of_a_missing_isvc_is_404(platform):
    """Replace needs an object to replace (Kubernetes answers 404 for a custom
    resource; creating is POST's job, which `kserve apply` uses first)."""
    plat = platform
    r = plat.api.replace(seed_isvc(plat, name="ghost"))
    assert r.status == 404, r
    assert r.json().get("error"), r
    assert plat.api.get("ghost").status == 404
    assert not plat.replica_processes()


@pytest.mark.parametrize("case", ["min-gt-max", "unknown-field", "missing-predictor", "bad-scheme",
                                  "unknown-predictor-field", "unknown-runtime"])
def test_api_invalid_spec_is_422_naming_the_field(platform, case):
    plat = platform
    uri = plat.uri("sklearn-iris")
    if case == "min-gt-max":
        body = isvc_body("bad", uri, minReplicas=3, maxReplicas=1)
        words = ["minReplicas", "maxReplicas"]
    elif case == "unknown-field":
        body = isvc_body("bad", uri)
        body["spec"]["predictor"]["model"]["storageUrl"] = uri
        words = ["storageUrl"]
    elif case == "unknown-predictor-field":
        body = isvc_body("bad", uri)
        body["spec"]["predictor"]["minReplica"] = 2
        words = ["minReplica"]
    elif case == "unknown-runtime":
        body = isvc_body("bad", uri)
        body["spec"]["predictor"]["model"]["runtime"] = "kserve-nosuchserver"
        words = ["spec.predictor.model.runtime", "kserve-nosuchserver"]
    elif case == "missing-predictor":
        body = isvc_body("bad", uri)
        del body["spec"]["predictor"]
        words = ["predictor"]
    else:
        body = isvc_body("bad", "ftp://127.0.0.1/models/iris")
        words = ["storageUri", "ftp"]
    r = plat.api.create(body)
    assert r.status == 422, r
    doc = r.json()
    assert isinstance(doc.get("error"), str), doc
    for w in words:
        assert w in doc["error"], (w, doc)
    assert doc.get("reason") == "Invalid", doc
    # nothing was stored, nothing runs
    assert plat.api.get("bad").status == 404
    # and a PUT of the same over a valid isvc is refused the same way
    plat.apply(isvc_body("good", uri))
    body["metadata"]["name"] = "good"
    r = plat.api.replace(body)
    assert r.status == 422, r
    for w in words:
        assert w in r.json()["error"], (w, r)
    assert plat.get("good")["metadata"]["generation"] == 1


def test_named_runtime_that_exists_is_accepted(platform):
    """model.runtime may name a built-in ClusterServingRuntime or one the user applied."""
    plat = platform
    body = isvc_body("named", plat.uri("sklearn-iris"))
    body["spec"]["predictor"]["model"]["runtime"] = "kserve-sklearnserver"
    assert plat.api.create(body).status == 201
    rt = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
          "metadata": {"name": "my-sklearn"},
          "spec": {"supportedModelFormats": [{"name": "sklearn", "version": "1"}],
                   "containers": [{"name": "kserve-container", "command": ["kserve", "model-server"],
                                   "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models"]}]}}
    r = plat.api.request("POST", "/apis/serving.kserve.io/v1alpha1/namespaces/default/servingruntimes", rt)
    assert r.status == 201, r
    body = isvc_body("mine", plat.uri("sklearn-iris"))
    body["spec"]["predictor"]["model"]["runtime"] = "my-sklearn"
    assert plat.api.create(body).status == 201


def test_second_daemon_on_same_home_is_refused(platform):
    plat = platform
    env = dict(os.environ)
    env["KSERVE_HOME"] = plat.home
    for args in (["--home", plat.home, "--ingress-port", "0"], ["--ingress-port", "0"]):
        p = subprocess.run([plat.daemon.proc.args[0], "up", *args], capture_output=True, text=True, env=env,
                           timeout=15, cwd=plat.root)
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert "another kserve daemon" in p.stderr and "pid %d" % plat.daemon.pid in p.stderr, p.stderr
        assert plat.home in p.stderr, p.stderr
    # the first one is unharmed
    assert plat.daemon.alive()
    assert plat.api.request("GET", "/healthz").status == 200
    assert os.path.exists(os.path.join(plat.home, "api.sock"))


# --------------------------------------------------------------------------
# 9. one download for two isvcs with the same http:// storageUri


def test_same_http_storage_uri_downloads_once(platform, file_server, ref):
    plat = platform
    with open(os.path.join(plat.model_dir("sklearn-iris"), "model.joblib"), "rb") as f:
        data = f.read()
    srv = file_server({"/models/iris/model.joblib": data})
    uri = srv.url("/models/iris/model.joblib")
    plat.apply(isvc_body("iris-a", uri))
    plat.apply(isvc_body("iris-b", uri))
    for name in ("iris-a", "iris-b"):
        plat.wait_ready(name)
        r = plat.predict(name, SEED_INSTANCES)
        assert r.status_code == 200 and r.json() == {"predictions": [1, 1]}, r.content[:300]
    assert srv.count("/models/iris/model.joblib") == 1, srv.gets

    # a third, later: still from the cache
    plat.apply(isvc_body("iris-c", uri, namespace="other"), ns="other")
    plat.wait_ready("iris-c", ns="other")
    rows = sample_rows("sklearn-iris", 9, seed=21)
    assert_predictions_like(plat.predict("iris-c", rows, ns="other"), ref, "sklearn-iris", rows)
    assert srv.count("/models/iris/model.joblib") == 1, srv.gets

    # the replicas load it from the cache in the state directory
    cache = os.path.join(plat.home, "models")
    for pid, cmd in plat.replica_processes().items():
        assert cache in cmd, cmd


def test_http_storage_uri_that_fails_shows_model_load_failed(platform, file_server):
    plat = platform
    srv = file_server({})
    plat.apply(isvc_body("missing", srv.url("/models/nothing/model.joblib")))

    def failed(o):
        ms = (o.get("status") or {}).get("modelStatus") or {}
        return (ms.get("lastFailureInfo") or {}).get("reason") == "ModelLoadFailed"
    obj = plat.wait_isvc("missing", failed, "lastFailureInfo.reason=ModelLoadFailed")
    assert condition(obj, "Ready").get("status") == "False", obj["status"]["conditions"]
    assert "404" in obj["status"]["modelStatus"]["lastFailureInfo"].get("message", ""), obj["status"]["modelStatus"]
    assert not plat.replica_processes()


# --------------------------------------------------------------------------
# 10. minReplicas: 2


def _success_count(metrics_text, model):
    for line in metrics_text.splitlines():
        if line.startswith('kserve_inference_request_success{model="%s"}' % model):
            return int(float(line.rsplit(" ", 1)[1]))
    raise AssertionError("no success counter for %s in:\n%s" % (model, metrics_text[:2000]))


def test_min_replicas_two_processes_share_traffic(platform, ref):
    plat = platform
    plat.apply(isvc_body("iris-2", plat.uri("sklearn-iris"), minReplicas=2))
    obj = plat.wait_isvc("iris-2", lambda o: is_ready(o) and len(ready_replicas(o, "iris-2-predictor-00001")) == 2,
                         "Ready with two ready replicas")
    reps = ready_replicas(obj, "iris-2-predictor-00001")
    pids = {r["pid"] for r in reps}
    ports = {r["port"] for r in reps}
    assert len(pids) == 2 and len(ports) == 2, reps
    assert set(plat.replica_processes()) == pids, plat.replica_processes()
    for r in reps:
        assert "--http_port=%d" % r["port"] in proc_cmdline(r["pid"])

    n = 40
    rows = sample_rows("sklearn-iris", 3, seed=2)
    expected = ref.v1("sklearn-iris", rows)
    with requests.Session() as s:  # one keep-alive client
        for _ in range(n // 2):
            r = plat.predict("iris-2", rows, session=s)
            assert r.status_code == 200 and r.json()["predictions"] == expected, r.content[:300]
    for _ in range(n // 2):  # a new connection each time
        with requests.Session() as s:
            r = plat.predict("iris-2", rows, session=s)
            assert r.status_code == 200 and r.json()["predictions"] == expected, r.content[:300]

    counts = {}
    for port in ports:
        m = requests.get("http://127.0.0.1:%d/metrics" % port, timeout=(2, 5))
        assert m.status_code == 200, m.content[:300]
        counts[port] = _success_count(m.text, "iris-2")
    assert sum(counts.values()) == n, counts
    assert all(c >= n // 4 for c in counts.values()), "traffic not spread over both replicas: %r" % counts
