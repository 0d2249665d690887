"""End-to-end tests of serverless scaling on `kserve up`: the KPA acting on
replicas, the activator in the ingress, scale to and from zero
(shared/spec/autoscaling.md sections 3-5, 9; docs/autoscaler.md).

Every test starts its own daemon with --autoscaler-config (a 6 s stable window,
6 s scale-to-zero grace period) so that scaling happens in seconds.  Load is
Python threads on keep-alive connections, each request checked; every load,
loop and wait is bounded in time and count.  Bounds scale with TIME_SCALE
(3 under the ASan build, or KSERVE_E2E_TIME_SCALE); fixed waits never do.

Where a test needs a replica that starts slowly, never becomes ready, or
answers slowly, it uses a stand-in model server (platform_fixtures.FakeRuntime,
a ServingRuntime running a small Python HTTP server that reads its behaviour
from the model directory at start), so the outcome is deterministic on a loaded
2-core machine.
"""
import http.client
import json
import os
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import assert_same_predictions, kserve_bin, sample_rows
from platform_fixtures import (PLATFORM_TIMEOUT, TIME_SCALE, FakeRuntime, LoadGen, StatusSampler, condition,
                               is_ready, isvc_body, predictor_status, proc_alive, replica_counts, replicas_of,
                               wait_until)
from platform_fixtures import autoscaling_platform  # noqa: F401 - a fixture

XGB = "xgboost-iris"
PREDICT = "/v1/models/%s:predict"


def bound(seconds):
    """An upper bound on a wait, scaled for slow builds."""
    return seconds * TIME_SCALE


# A fresh revision with minReplicas 0 and no traffic is idle from its first tick: it goes to zero one
# grace period (6 s) later; after traffic it takes the stable window (6 s) and the scale-down steps.
ZERO_TIMEOUT = max(PLATFORM_TIMEOUT, bound(30))


def xgb_isvc(plat, name, annotations=None, **predictor):
    body = isvc_body(name, plat.uri(XGB), fmt="xgboost", **predictor)
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    return body


def fake_isvc(name, uri, annotations=None, **predictor):
    body = isvc_body(name, uri, fmt="fake", **predictor)
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    return body


def ready_pids(obj):
    return sorted(r["pid"] for r in replicas_of(obj) if r.get("state") == "Ready" and r.get("pid"))


def at_zero(obj):
    c = replica_counts(obj)
    return c.get("desired") == 0 and c.get("actual") == 0 and c.get("ready") == 0 and not replicas_of(obj)


def wait_zero(plat, name, timeout=ZERO_TIMEOUT):
    return plat.wait_isvc(name, at_zero, "scaled to zero (replicaCounts 0/0/0, no replica in status)",
                          timeout=timeout)


def open_conns(plat, n):
    """n connected keep-alive connections to the ingress (so that requests sent at once arrive at once)."""
    conns = []
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", plat.port, timeout=bound(20))
        c.connect()
        conns.append(c)
    return conns


def send_at_once(conns, host, path, bodies):
    """POSTs bodies[i] on conns[i], all released together; [(status, seconds, body bytes)]."""
    out = [None] * len(conns)
    gate = threading.Barrier(len(conns) + 1, timeout=bound(20))

    def one(i):
        gate.wait()
        t = time.monotonic()
        try:
            conns[i].request("POST", path, body=bodies[i],
                             headers={"Host": host, "Content-Type": "application/json"})
            r = conns[i].getresponse()
            out[i] = (r.status, time.monotonic() - t, r.read())
        except (OSError, http.client.HTTPException) as e:
            out[i] = (None, time.monotonic() - t, repr(e).encode())
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(conns))]
    for t in threads:
        t.start()
    gate.wait()
    for t in threads:
        t.join(timeout=bound(30))
    assert not any(t.is_alive() for t in threads), "a client thread did not finish"
    for c in conns:
        c.close()
    return out


def json_error(body):
    doc = json.loads(body)
    assert isinstance(doc.get("error"), str) and doc["error"], doc
    return doc["error"]


def decisions_and_replay(plat, name):
    """(the daemon's decisions, the decisions of `record | replay -`), as lists of dicts."""
    dec = plat.cli(["autoscaler", "record", "isvc", name, "--decisions"])
    assert dec.returncode == 0, dec.stderr
    # the trace after the decisions: it holds at least every tick decided so far
    trace = plat.cli(["autoscaler", "record", "isvc", name])
    assert trace.returncode == 0, trace.stderr
    rep = plat.cli(["autoscaler", "replay", "-"], input=trace.stdout)
    assert rep.returncode == 0, "replay of the recorded trace failed: %s\n%s" % (rep.stderr, trace.stdout[-3000:])
    return ([json.loads(x) for x in dec.stdout.splitlines() if x.strip()],
            [json.loads(x) for x in rep.stdout.splitlines() if x.strip()])


DECISION_FIELDS = ("t", "valid", "desired", "panic", "stable", "panic_avg", "ebc")


def decision_view(d):
    return {k: d[k] for k in DECISION_FIELDS if k in d}


# --------------------------------------------------------------------------
# 1. scale out under load, back to minReplicas after it


def test_scale_out_under_load_and_back_to_min(autoscaling_platform, ref):
    plat = autoscaling_platform()
    # target 2 concurrent requests per replica (x 0.7 utilisation = 1.4), at most 3 replicas
    plat.apply(xgb_isvc(plat, "xgb", {"autoscaling.knative.dev/target": "2"}, minReplicas=1, maxReplicas=3))
    obj = plat.wait_ready("xgb")
    assert replica_counts(obj) == {"desired": 1, "actual": 1, "ready": 1}, replica_counts(obj)
    first_pids = ready_pids(obj)
    a = predictor_status(obj).get("autoscaler") or {}
    assert a.get("class") == "kpa.autoscaling.knative.dev" and a.get("metric") == "concurrency", a
    assert abs(a.get("target", 0) - 1.4) < 1e-9, a

    # big batches: the replicas, not this Python client, take the time, so 8 clients keep ~8 in flight
    rows = sample_rows(XGB, 1500, seed=1)
    body = json.dumps({"instances": rows}).encode()
    r = plat.ingress("POST", PREDICT % "xgb", plat.host("xgb"), {"instances": rows})
    assert r.status_code == 200, r.content[:300]
    assert_same_predictions(r.json()["predictions"], ref.v1(XGB, rows))
    expected = r.content  # every replica answers the same bytes

    sampler = StatusSampler(plat, "xgb", interval=0.2, max_seconds=bound(60))
    sampler.start()
    try:
        load = LoadGen(plat, plat.host("xgb"), PREDICT % "xgb", body, threads=8, max_seconds=8.0,
                       check=lambda r: r.status_code == 200 and r.content == expected).start()
        load.wait()
        during = sampler.max_ready(since=load.started, until=load.stopped)
        # then a trickle (~0.05 concurrent): the scale-down must not drop any of it
        trickle = LoadGen(plat, plat.host("xgb"), PREDICT % "xgb", body, threads=1, pause=0.05,
                          max_seconds=bound(40), check=lambda r: r.status_code == 200 and r.content == expected)
        trickle.start()
        try:
            back = plat.wait_isvc("xgb", lambda o: replica_counts(o) == {"desired": 1, "actual": 1, "ready": 1},
                                  "back to minReplicas (1) after the load", timeout=bound(35))
        finally:
            trickle.stop()
        t_back = time.monotonic()
    finally:
        sampler.stop()

    n = len(load.results)
    print("\nload: %d requests in %.1f s by 8 clients, most ready replicas %d; back to 1 replica %.1f s after "
          "the load stopped; trickle %d requests\n%s" % (n, load.stopped - load.started, during,
                                                         t_back - load.stopped, len(trickle.results),
                                                         sampler.table(load.started)))
    assert n >= 50, "too few requests to say anything: %d" % n
    assert not load.failures(), "non-200 or wrong answers under load: %r" % load.failures()[:10]
    assert during >= 2, "never 2 ready replicas under load:\n%s" % sampler.table(load.started)
    assert max(c.get("ready", 0) for _, c, _, _ in sampler.samples) <= 3, "maxReplicas 3 exceeded"
    assert not trickle.failures(), "requests failed while scaling down: %r" % trickle.failures()[:10]
    assert is_ready(back)
    # the replicas scaled away are gone (they drained and exited)
    extra = {p for _, _, _, pids in sampler.samples for p in pids} - set(ready_pids(back))
    assert extra, "no replica was added under load"
    plat.wait_gone(extra, "the scaled-down replicas to exit")
    assert set(plat.replica_processes()) == set(ready_pids(back)), (plat.replica_processes(), first_pids)


# --------------------------------------------------------------------------
# 2. scale to zero; from zero with no failed request


def test_scale_to_zero_and_back_with_no_failed_request(autoscaling_platform, ref):
    plat = autoscaling_platform()
    plat.apply(xgb_isvc(plat, "xgb", minReplicas=0))
    obj = plat.wait_ready("xgb")
    rev = predictor_status(obj)["latestRolledoutRevision"]
    pids = ready_pids(obj)
    assert len(pids) == 1, obj["status"].get("replicas")

    t0 = time.monotonic()
    zero = wait_zero(plat, "xgb")
    print("\nidle replica gone %.1f s after Ready" % (time.monotonic() - t0))
    plat.wait_gone(pids, "the idle replica's process to exit")
    assert not plat.replica_processes(), plat.replica_processes()
    # at zero the isvc stays Ready; the revision is Ready but not Active (no traffic)
    assert is_ready(zero), zero["status"]["conditions"]
    assert condition(zero, "PredictorReady").get("status") == "True", zero["status"]["conditions"]
    robj = plat.revision(rev)
    assert condition(robj, "Ready").get("status") == "True", robj["status"]
    active = condition(robj, "Active")
    assert active.get("status") == "False" and active.get("reason") == "NoTraffic", robj["status"]
    assert robj["status"].get("readyReplicas") == 0 and robj["status"].get("actualReplicas") == 0, robj["status"]
    a = predictor_status(zero).get("autoscaler") or {}
    assert a.get("desiredScale") == 0 and a.get("activatorInPath") is True, a

    # several requests at once, from zero: each waits in the activator, none fails
    batches = [sample_rows(XGB, 3 + i, seed=20 + i) for i in range(6)]
    res = send_at_once(open_conns(plat, 6), plat.host("xgb"), PREDICT % "xgb",
                       [json.dumps({"instances": b}).encode() for b in batches])
    for (status, secs, body), rows in zip(res, batches):
        assert status == 200, "from zero: %r %.3fs %r\n%s" % (status, secs, body[:300], plat.describe("xgb"))
        assert_same_predictions(json.loads(body)["predictions"], ref.v1(XGB, rows))
    print("cold start answers in %s s" % sorted(round(s, 3) for _, s, _ in res))
    # one more, now warm
    r = plat.predict("xgb", batches[0])
    assert r.status_code == 200, r.content[:300]

    back = plat.wait_isvc("xgb", lambda o: replica_counts(o).get("ready", 0) >= 1, "a ready replica again")
    assert is_ready(back)
    assert set(ready_pids(back)).isdisjoint(pids), "the old process came back?"
    robj = plat.revision(rev)
    assert condition(robj, "Active").get("status") == "True", robj["status"]


# --------------------------------------------------------------------------
# 3. containerConcurrency 1: excess requests wait in the activator, none fails


def test_container_concurrency_one_queues_and_answers_all(autoscaling_platform, ref):
    plat = autoscaling_platform()
    plat.apply(xgb_isvc(plat, "cc1", minReplicas=1, maxReplicas=1, containerConcurrency=1))
    obj = plat.wait_ready("cc1")
    a = predictor_status(obj).get("autoscaler") or {}
    assert abs(a.get("target", 0) - 0.7) < 1e-9, "target is CC x 0.7 with CC 1: %r" % a

    nclients, each = 5, 20
    batches = [sample_rows(XGB, 2 + i, seed=40 + i) for i in range(nclients)]
    expect = [ref.v1(XGB, b) for b in batches]
    results = [[] for _ in range(nclients)]

    def client(i):
        with requests.Session() as s:
            for _ in range(each):
                try:
                    r = plat.predict("cc1", batches[i], session=s)
                    results[i].append((r.status_code, r.json()["predictions"] if r.status_code == 200 else
                                       r.content[:200]))
                except Exception as e:  # noqa: BLE001 - recorded, asserted below
                    results[i].append((None, repr(e)))
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=bound(60))
    assert not any(t.is_alive() for t in threads)
    for i in range(nclients):
        assert len(results[i]) == each
        for status, preds in results[i]:
            assert status == 200, (status, preds)
            assert_same_predictions(preds, expect[i])
    obj = plat.get("cc1")
    assert replica_counts(obj).get("actual") == 1, replica_counts(obj)  # maxReplicas 1 held
    # the replica's own queue layer counts what it had in flight, where it has one
    port = [r["port"] for r in replicas_of(obj) if r.get("state") == "Ready"][0]
    st = requests.get("http://127.0.0.1:%d/ks/queue/stats" % port, timeout=5)
    if st.status_code == 200:
        q = st.json()
        print("\nthe replica's /ks/queue/stats: %r" % q)
        assert q.get("max_in_flight", 0) <= 1, q
        if q.get("requests_total"):
            assert q.get("max_in_flight") == 1, q
    else:
        print("\n(no /ks/queue/stats on the replica: %d)" % st.status_code)


def test_container_concurrency_one_never_two_in_flight_on_a_replica(autoscaling_platform):
    """A slow stand-in model server (50 ms a request) that counts what it has in
    flight: with CC 1 the activator must never send it two at once."""
    plat = autoscaling_platform()
    fake = FakeRuntime(plat)
    plat.apply(fake_isvc("slow", fake.model("slow", request_delay=0.05), minReplicas=1, maxReplicas=1,
                         containerConcurrency=1))
    plat.wait_ready("slow")
    nclients, each = 6, 6
    results = []
    lock = threading.Lock()

    def client(i):
        with requests.Session() as s:
            for j in range(each):
                try:
                    r = plat.predict("slow", [[i, j], [100, 0]], session=s)
                    got = (r.status_code, r.json() if r.status_code == 200 else r.content[:200])
                except Exception as e:  # noqa: BLE001
                    got = (None, repr(e))
                with lock:
                    results.append(((i, j), got))
    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=bound(60))
    took = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads)
    assert len(results) == nclients * each
    for (i, j), (status, doc) in results:
        assert status == 200, (i, j, status, doc)
        assert doc == {"predictions": [i + j, 100]}, (i, j, doc)  # each client got its own answer
    port = [r["port"] for r in replicas_of(plat.get("slow")) if r.get("state") == "Ready"][0]
    st = FakeRuntime.stats(port)
    assert st["max_in_flight"] == 1, "the replica had %d requests at once with containerConcurrency 1" % (
        st["max_in_flight"])
    assert st["requests"] == nclients * each, st
    assert took >= nclients * each * 0.05 * 0.95, "36 requests of 50 ms one at a time took only %.2fs" % took


# --------------------------------------------------------------------------
# 4. the activator's queue is bounded: beyond activator-queue-depth, 503 at once


def test_activator_queue_full_is_503_and_held_requests_are_answered(autoscaling_platform):
    depth, n, start_delay = 2, 30, 2.5
    plat = autoscaling_platform(more={"activator-queue-depth": depth})
    fake = FakeRuntime(plat)
    plat.apply(fake_isvc("held", fake.model("held"), minReplicas=0, maxReplicas=1))
    plat.wait_ready("held")
    wait_zero(plat, "held")
    # the next replica takes 2.5 s to become ready: every request below arrives while none is
    fake.control("held", start_delay=start_delay)
    bodies = [json.dumps({"instances": [[i, 1]]}).encode() for i in range(n)]
    res = send_at_once(open_conns(plat, n), plat.host("held"), PREDICT % "held", bodies)

    ok = [(i, r) for i, r in enumerate(res) if r[0] == 200]
    full = [(i, r) for i, r in enumerate(res) if r[0] == 503]
    assert len(ok) == depth and len(full) == n - depth, "expected %d answered and %d 503: %r" % (
        depth, n - depth, [(s, round(t, 3), b[:100]) for s, t, b in res])
    for i, (status, secs, body) in full:
        assert "pending request queue full" in json_error(body), body
        assert secs < start_delay - 0.5, "a 503 came after %.2fs: it must not wait for a replica" % secs
    for i, (status, secs, body) in ok:
        assert json.loads(body) == {"predictions": [i + 1]}, body
        assert secs >= start_delay - 0.5, "held for only %.2fs: was a replica ready?" % secs
    obj = plat.get("held")
    assert replica_counts(obj).get("ready") == 1 and is_ready(obj), replica_counts(obj)


# --------------------------------------------------------------------------
# 5. a request held past the revision's timeout: 504


def test_request_held_past_timeout_is_504(autoscaling_platform):
    plat = autoscaling_platform()
    fake = FakeRuntime(plat)
    plat.apply(fake_isvc("late", fake.model("late"), minReplicas=0, maxReplicas=1, timeout=1))
    plat.wait_ready("late")
    wait_zero(plat, "late")
    # the next replica never becomes ready
    fake.control("late", start_delay=3600)
    res = send_at_once(open_conns(plat, 3), plat.host("late"), PREDICT % "late",
                       [b'{"instances": [[1, 2]]}'] * 3)
    for status, secs, body in res:
        assert status == 504, (status, secs, body[:300])
        assert "timed out" in json_error(body), body
        assert 0.9 <= secs <= 1 + bound(1.5), "504 after %.2fs with timeout 1" % secs
    # the activator did try: a replica is starting
    obj = plat.get("late")
    assert [r.get("state") for r in replicas_of(obj)] == ["Starting"], obj["status"].get("replicas")


# --------------------------------------------------------------------------
# 6. kill -9 of one of two replicas under load


@pytest.mark.parametrize("nrep", [2, 1])
def test_kill9_of_a_replica_under_load(autoscaling_platform, ref, nrep):
    """With two replicas the other takes what the dead one refused; with one, the activator holds those
    requests until the supervisor's replacement is ready."""
    plat = autoscaling_platform()
    plat.apply(xgb_isvc(plat, "two", minReplicas=nrep, maxReplicas=nrep))
    obj = plat.wait_isvc("two", lambda o: len(ready_pids(o)) == nrep, "%d ready replicas" % nrep)
    pids = ready_pids(obj)
    rows = sample_rows(XGB, 20, seed=5)
    r = plat.predict("two", rows)
    assert r.status_code == 200
    assert_same_predictions(r.json()["predictions"], ref.v1(XGB, rows))
    expected = r.content
    nthreads = 4
    load = LoadGen(plat, plat.host("two"), PREDICT % "two", json.dumps({"instances": rows}).encode(),
                   threads=nthreads, max_seconds=bound(20), pause=0.002,
                   check=lambda r: r.status_code == 200 and r.content == expected).start()
    try:
        time.sleep(1.0)
        t_kill = time.monotonic()
        os.kill(pids[0], signal.SIGKILL)
        time.sleep(3.0)
    finally:
        load.stop()
    fails = load.failures()
    after = [x for x in load.results if x[0] > t_kill]
    span = (fails[0][0], fails[-1][0]) if fails else None
    print("\nkill -9 of 1 of %d replicas under load:" % nrep + " %d requests (%d after the kill), %d failed%s" % (
        len(load.results), len(after), len(fails),
        " from %.3fs to %.3fs after the load began (kill at %.3fs): %r" % (
            span[0], span[1], t_kill - load.started, sorted({(st, d) for _, st, d in fails}))
        if fails else ""))
    assert len(after) >= 20, "too little traffic after the kill: %d" % len(after)
    back = plat.wait_isvc("two", lambda o: len(ready_pids(o)) == nrep and pids[0] not in ready_pids(o),
                          "%d ready replicas again, the killed one replaced" % nrep)
    assert not proc_alive(pids[0])
    assert is_ready(back) and replica_counts(back).get("ready") == nrep, replica_counts(back)
    plat.wait_predict_ok("two", rows, timeout=bound(5))
    # only requests in flight on the killed replica may fail (at most one per client); a request the
    # ingress sends to the dead replica's port afterwards (connection refused) must go elsewhere
    assert len(fails) <= nthreads, (
        "%d requests failed (more than the %d clients had in flight) from %.3fs to %.3fs, kill at %.3fs: %r" % (
            len(fails), nthreads, span[0], span[1], t_kill - load.started, fails[:8]))


# --------------------------------------------------------------------------
# 7. the daemon restarted while a revision is at zero


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_daemon_restart_at_zero_stays_at_zero_until_a_request(autoscaling_platform, ref, how):
    plat = autoscaling_platform()
    plat.apply(xgb_isvc(plat, "xgb", minReplicas=0))
    obj = plat.wait_ready("xgb")
    old = ready_pids(obj)
    wait_zero(plat, "xgb")
    plat.wait_gone(old, "the idle replica to exit")

    if how == "sigterm":
        rc, secs = plat.daemon.terminate()
        assert rc == 0, "kserve up exited %r after SIGTERM (%.1fs)\n%s" % (rc, secs, plat.log())
    else:
        plat.daemon.kill9()
    plat.start_daemon()
    # it must not start a replica by itself (the new daemon reconciles within this time)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        obj = plat.get("xgb")
        assert replica_counts(obj).get("actual") == 0 and not replicas_of(obj), (
            "the restarted daemon started a replica with no request: %r" % obj["status"].get("replicas"))
        assert not plat.replica_processes(), plat.replica_processes()
        time.sleep(0.2)
    assert is_ready(obj), obj["status"]["conditions"]

    rows = sample_rows(XGB, 5, seed=9)
    r = plat.predict("xgb", rows, session=None)
    assert r.status_code == 200, "%d %r\n%s" % (r.status_code, r.content[:300], plat.describe("xgb"))
    assert_same_predictions(r.json()["predictions"], ref.v1(XGB, rows))
    plat.wait_isvc("xgb", lambda o: replica_counts(o).get("ready") == 1, "one ready replica after the request")


# --------------------------------------------------------------------------
# 8. record | replay decides what the daemon decided


def test_record_replay_gives_the_daemons_decisions(autoscaling_platform):
    plat = autoscaling_platform()
    plat.apply(xgb_isvc(plat, "xgb", {"autoscaling.knative.dev/target": "2"}, minReplicas=0, maxReplicas=3))
    plat.wait_ready("xgb")
    rows = sample_rows(XGB, 1500, seed=2)
    load = LoadGen(plat, plat.host("xgb"), PREDICT % "xgb", json.dumps({"instances": rows}).encode(),
                   threads=6, max_seconds=3.0).start().wait()
    assert not load.failures(), load.failures()[:5]
    ended = time.time()  # the decider counts Unix seconds

    def enough():
        dec, _ = decisions_and_replay(plat, "xgb")
        valid = [d for d in dec if d.get("valid", True)]
        # ticks under load (a scale-up) and two after it
        return dec if any(d.get("desired", 0) >= 2 for d in valid) and \
            sum(1 for d in valid if d["t"] > ended) >= 2 else None
    wait_until(enough, bound(20), "decisions with a scale-up and two ticks after the load", interval=1.0)

    dec, rep = decisions_and_replay(plat, "xgb")
    assert dec and len(rep) >= len(dec), (len(dec), len(rep))
    mine = [decision_view(d) for d in dec]
    again = [decision_view(d) for d in rep[:len(dec)]]
    diff = [(a, b) for a, b in zip(mine, again) if a != b]
    assert not diff, "replay decided otherwise (daemon, replay):\n%s" % "\n".join("%r\n%r" % p for p in diff[:10])
    print("\n%d decisions replayed identically (%d valid, most desired %d)" % (
        len(dec), sum(1 for d in dec if d.get("valid", True)), max(d.get("desired", 0) for d in dec)))


# --------------------------------------------------------------------------
# 9. configuration errors


@pytest.mark.parametrize("text,where,words", [
    ("stable-window: 6s\nstable-windw: 6s\n", ":2:1:", ["stable-windw"]),
    ("stable-window: 2s\n", ":1:1:", ["stable-window", "2s"]),
    ("panic-window-percentage: 0\n", ":1:1:", ["panic-window-percentage"]),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-autoscaler\ndata:\n  stable-window: \"6s\"\n"
     "  activator-queue-depth: \"0\"\n", ":7:3:", ["activator-queue-depth"]),
], ids=["unknown-key", "window-out-of-range", "panic-percentage", "configmap-queue-depth"])
def test_bad_autoscaler_config_exits_2_naming_file_line_and_key(tmp_path, text, where, words):
    cfg = tmp_path / "autoscaler.yaml"
    cfg.write_text(text)
    home = tmp_path / "home"
    p = subprocess.run([kserve_bin(), "up", "--home", str(home), "--ingress-port", "0", "--autoscaler-config",
                        str(cfg)], capture_output=True, text=True, timeout=bound(10))
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert str(cfg) + where in p.stderr, p.stderr
    for w in words:
        assert w in p.stderr, (w, p.stderr)
    assert not (home / "api.sock").exists()


def test_bad_autoscaling_annotation_is_rejected_at_apply(autoscaling_platform, tmp_path):
    plat = autoscaling_platform()
    body = xgb_isvc(plat, "bad", {"autoscaling.knative.dev/window": "2s"}, minReplicas=0)
    r = plat.api.create(body)
    assert r.status == 422, r
    assert "autoscaling.knative.dev/window" in r.json().get("error", ""), r
    assert plat.api.get("bad").status == 404
    # kserve apply says where, in the file
    f = tmp_path / "bad.yaml"
    f.write_text("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: bad\n"
                 "  annotations:\n    autoscaling.knative.dev/target: \"-1\"\nspec:\n  predictor:\n"
                 "    model:\n      modelFormat: {name: xgboost}\n      storageUri: %s\n" % plat.uri(XGB))
    p = plat.cli(["apply", "-f", str(f)])
    assert p.returncode != 0, p
    assert "%s:6:" % f in p.stderr and "autoscaling.knative.dev/target" in p.stderr, p.stderr
    assert plat.api.get("bad").status == 404
