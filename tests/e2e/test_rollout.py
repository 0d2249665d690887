"""End-to-end tests of rollouts on `kserve up`: canaryTrafficPercent, promote,
rollback, tag routing, a failing canary, and the old revisions' replicas
(shared/spec/platform.md, "Revisions, routes and rollouts").

Each test starts its own daemon (platform_fixtures.Platform) and drives it as a
user of KServe would: InferenceService JSON over the API socket, predictions
through the ingress with the Host header, `kserve get isvc` for the table.

Which revision answered is told by the answer itself: the revisions serve
models that give different predictions for the seed's two rows --
sklearn-iris answers [1, 1], sklearn-iris-names ["versicolor", "versicolor"]
and xgboost-iris (another modelFormat) three class probabilities per row.

Every request carries a timeout, every wait a deadline, every loop a count.
"""
import collections
import http.client
import json
import os
import subprocess
import time

import numpy as np
import requests

from conftest import SEED_INSTANCES, assert_json_error, kserve_bin
from platform_fixtures import (DOMAIN, INGRESS_TIMEOUT, PLATFORM_TIMEOUT, PROC_GONE_TIMEOUT, TIME_SCALE, FakeRuntime,
                               LoadGen, TrafficLoop, condition, is_ready, isvc_body, predictor_status, proc_alive,
                               replicas_of, wait_until)
from platform_fixtures import platform  # noqa: F401 - a fixture

NAME = "sklearn-iris"
REV1 = NAME + "-predictor-00001"
REV2 = NAME + "-predictor-00002"
REV3 = NAME + "-predictor-00003"
OLD = "old"      # sklearn-iris
NEW = "new"      # sklearn-iris-names
V3 = "v3"        # xgboost-iris
PREDICT = "/v1/models/%s:predict" % NAME
TAG_ANNOTATION = "serving.kserve.io/enable-tag-routing"
# Seconds between the status showing a traffic change and the tests counting on the ingress to
# follow it.  The reconciler writes an isvc's status before it publishes the pass's route table
# (test_status_traffic_is_what_the_ingress_does checks that ordering strictly, without this slack).
SETTLE = 0.25 * TIME_SCALE


# --------------------------------------------------------------------------
# helpers

class Answers:
    """Tells which model answered from the body of a prediction of SEED_INSTANCES."""

    def __init__(self, ref):
        self.old = ref.v1("sklearn-iris", SEED_INSTANCES)
        self.new = ref.v1("sklearn-iris-names", SEED_INSTANCES)
        self.v3 = np.array(ref.v1("xgboost-iris", SEED_INSTANCES), dtype=np.float64)
        assert self.old == [1, 1] and self.new == ["versicolor", "versicolor"], (self.old, self.new)
        assert self.v3.shape == (2, 3), self.v3

    def which(self, body):
        """OLD, NEW, V3, or None for anything else (body: decoded JSON or bytes)."""
        if isinstance(body, (bytes, str)):
            try:
                body = json.loads(body)
            except ValueError:
                return None
        if not isinstance(body, dict) or set(body) != {"predictions"}:
            return None
        p = body["predictions"]
        if p == self.old and all(type(x) is int for x in p):
            return OLD
        if p == self.new:
            return NEW
        try:
            a = np.array(p, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if a.shape == self.v3.shape and np.allclose(a, self.v3, rtol=1e-5, atol=1e-6):
            return V3
        return None


def body_for(uri, fmt="sklearn", name=NAME, tags=False, **predictor):
    b = isvc_body(name, uri, fmt=fmt, **predictor)
    if tags:
        b["metadata"]["annotations"] = {TAG_ANNOTATION: "true"}
    return b


def traffic_of(obj):
    """[(revisionName, percent, latestRevision)] sorted by revision name."""
    return sorted((t.get("revisionName"), t.get("percent"), bool(t.get("latestRevision")))
                  for t in predictor_status(obj).get("traffic") or [])


def routed(obj):
    """{revision: percent} of the entries with percent > 0."""
    return {t.get("revisionName"): t.get("percent") for t in predictor_status(obj).get("traffic") or []
            if t.get("percent")}


def wait_routed(plat, want, what=None, also=None, timeout=PLATFORM_TIMEOUT, settle=SETTLE):
    """Waits until the isvc is Ready and its traffic with percent > 0 is exactly want ({rev: percent}),
    then settle seconds (see SETTLE); returns the object."""
    def ok(o):
        return is_ready(o) and routed(o) == want and (also is None or also(o))
    obj = plat.wait_isvc(NAME, ok, what or "traffic %r" % (want,), timeout=timeout)
    if settle:
        time.sleep(settle)
    return obj


def ready_pids(obj, revision):
    return {r["pid"] for r in replicas_of(obj, revision) if r.get("state") == "Ready" and r.get("pid")}


def event_reasons(plat, name=NAME):
    r = plat.api.events(name)
    assert r.status == 200, r
    return [(e.get("reason"), e.get("message") or "") for e in r.json()["items"]]


def count_answers(plat, answers, n, host=None, fresh=False):
    """n predictions of SEED_INSTANCES through the ingress (one keep-alive session, or a new
    connection each with fresh=True); Counter of OLD/NEW/V3/("bad", status, body)."""
    out = collections.Counter()
    host = host or plat.host(NAME)
    s = requests.Session()
    try:
        for _ in range(n):
            if fresh:
                s.close()
            r = plat.predict(NAME, SEED_INSTANCES, host=host, session=s)
            w = answers.which(r.content) if r.status_code == 200 else None
            out[w if w is not None else ("bad", r.status_code, r.content[:200])] += 1
    finally:
        s.close()
    return out


def count_on_one_connection(plat, answers, n, host=None):
    """n predictions on exactly one TCP connection to the ingress: http.client with
    auto_open off, so a connection the ingress closed would raise instead of
    silently reconnecting.  Returns the Counter as count_answers."""
    host = host or plat.host(NAME)
    body = json.dumps({"instances": SEED_INSTANCES}).encode()
    out = collections.Counter()
    conn = http.client.HTTPConnection("127.0.0.1", plat.port, timeout=INGRESS_TIMEOUT[1])
    try:
        conn.connect()
        conn.auto_open = 0
        local = conn.sock.getsockname()
        for i in range(n):
            conn.request("POST", PREDICT, body=body, headers={"Host": host, "Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            w = answers.which(data) if r.status == 200 else None
            out[w if w is not None else ("bad", r.status, data[:200])] += 1
            assert conn.sock is not None, "the ingress closed the keep-alive connection after request %d" % (i + 1)
        assert conn.sock.getsockname() == local
    finally:
        conn.close()
    return out


def kserve_get(plat, name=NAME, extra=()):
    """`kserve get isvc NAME` against the platform: {column: value} of its one row
    (columns cut at the header's offsets, so an empty cell stays empty)."""
    env = dict(os.environ)
    env["KSERVE_HOME"] = plat.home
    p = subprocess.run([kserve_bin(), "get", "isvc", name, *extra], capture_output=True, text=True,
                       timeout=30, env=env, cwd=plat.root)
    assert p.returncode == 0, "kserve get isvc %s: rc=%d\n%s\n%s" % (name, p.returncode, p.stdout, p.stderr)
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    assert len(lines) == 2, p.stdout
    head, row = lines
    cols = [(m, head.index(m)) for m in head.split()]
    out = {}
    for k, (col, start) in enumerate(cols):
        end = cols[k + 1][1] if k + 1 < len(cols) else None
        out[col] = row[start:end].strip()
    out["_text"] = p.stdout
    return out


def share_bounds(p, n, sds=4.5):
    """[lo, hi] counts for a binomial(n, p) share: p*n +- sds standard deviations, and at most
    +-10 percentage points either way (the brief's 10-30 % for 20 %)."""
    mean = p * n
    sd = (n * p * (1 - p)) ** 0.5
    return max(mean - sds * sd, mean - 0.10 * n), min(mean + sds * sd, mean + 0.10 * n)


def assert_share(counts, key, p, what):
    n = sum(counts.values())
    bad = {k: v for k, v in counts.items() if k not in (OLD, NEW, V3)}
    assert not bad, "%s: unexpected answers %r" % (what, bad)
    lo, hi = share_bounds(p, n)
    assert lo <= counts[key] <= hi, "%s: %d of %d answered by %s (%.1f %%), expected %.0f %% (%d..%d): %r" % (
        what, counts[key], n, key, 100.0 * counts[key] / n, 100 * p, lo, hi, dict(counts))


def all_from(counts, key, what):
    assert set(counts) == {key}, "%s: expected every answer from %s, got %r" % (what, key, dict(counts))


def start_v1(plat, tags=False):
    plat.apply(body_for(plat.uri("sklearn-iris"), tags=tags))
    return wait_routed(plat, {REV1: 100}, "v1 Ready with 100 % on " + REV1)


# --------------------------------------------------------------------------
# 1. canary 20 %: weighted per request, status, `kserve get`, no revision for a percent change


def test_canary_split_is_per_request_and_shows_in_status(platform, ref):
    plat = platform
    ans = Answers(ref)
    start_v1(plat)

    plat.replace(body_for(plat.uri("sklearn-iris-names"), canaryTrafficPercent=20))
    obj = wait_routed(plat, {REV1: 80, REV2: 20}, "the canary split 80/20")
    pred = predictor_status(obj)
    assert traffic_of(obj) == [(REV1, 80, False), (REV2, 20, True)], pred
    # KServe tags the stable target "prev" always, the latest "latest" only with tag routing
    assert all(t.get("tag") != "latest" for t in pred["traffic"]), pred["traffic"]
    assert pred.get("latestCreatedRevision") == REV2, pred
    assert pred.get("latestReadyRevision") == REV2, pred
    assert pred.get("latestRolledoutRevision") == REV1, "the canary must not be rolled out yet: %r" % pred
    assert plat.api.revision_names(isvc=NAME) == [REV1, REV2]
    split_events = [m for r, m in event_reasons(plat) if r == "TrafficSplit"]
    assert any("20%" in m and REV2 in m and "80%" in m and REV1 in m for m in split_events), split_events

    # per request, on one keep-alive connection
    one = count_on_one_connection(plat, ans, 400)
    assert_share(one, NEW, 0.20, "400 requests on one keep-alive connection")
    # and with a new connection for every request
    fresh = count_answers(plat, ans, 200, fresh=True)
    assert_share(fresh, NEW, 0.20, "200 requests on new connections")
    # the predictor's own host splits the same way
    pred_host = count_answers(plat, ans, 200, host=plat.host(NAME, predictor=True))
    assert_share(pred_host, NEW, 0.20, "200 requests to the -predictor host")

    row = kserve_get(plat)
    assert row.get("READY") == "True", row["_text"]
    assert (row.get("LATEST"), row.get("LATESTREADYREVISION")) == ("20", REV2), row["_text"]

    # only the percent changes: no new revision, the split follows
    created = sum(1 for r, _ in event_reasons(plat) if r == "RevisionCreated")
    plat.replace(body_for(plat.uri("sklearn-iris-names"), canaryTrafficPercent=50))
    obj = wait_routed(plat, {REV1: 50, REV2: 50}, "the canary split 50/50")
    assert traffic_of(obj) == [(REV1, 50, False), (REV2, 50, True)], predictor_status(obj)
    assert plat.api.revision_names(isvc=NAME) == [REV1, REV2]
    assert predictor_status(obj).get("latestCreatedRevision") == REV2
    assert predictor_status(obj).get("latestRolledoutRevision") == REV1
    assert sum(1 for r, _ in event_reasons(plat) if r == "RevisionCreated") == created
    half = count_on_one_connection(plat, ans, 300)
    assert_share(half, NEW, 0.50, "300 requests at 50 %")
    row = kserve_get(plat)
    assert (row.get("LATEST"), row.get("LATESTREADYREVISION")) == ("50", REV2), row["_text"]


# --------------------------------------------------------------------------
# 2. promote and roll back


def test_promote_and_rollback(platform, ref):
    plat = platform
    ans = Answers(ref)
    start_v1(plat)
    new_uri = plat.uri("sklearn-iris-names")

    plat.replace(body_for(new_uri, canaryTrafficPercent=20))
    wait_routed(plat, {REV1: 80, REV2: 20})

    # rollback of a canary: P = 0 -> every request to the stable revision
    plat.replace(body_for(new_uri, canaryTrafficPercent=0))
    obj = wait_routed(plat, {REV1: 100}, "rollback of the canary (P=0)")
    assert predictor_status(obj).get("latestRolledoutRevision") == REV1, predictor_status(obj)
    assert (REV2, 0, True) in traffic_of(obj), traffic_of(obj)
    all_from(count_answers(plat, ans, 60), OLD, "after P=0")
    row = kserve_get(plat)
    assert (row.get("LATEST"), row.get("LATESTREADYREVISION")) == ("0", REV2), row["_text"]

    # the canary again, then promote: remove canaryTrafficPercent
    plat.replace(body_for(new_uri, canaryTrafficPercent=20))
    wait_routed(plat, {REV1: 80, REV2: 20})
    plat.replace(body_for(new_uri))
    obj = wait_routed(plat, {REV2: 100}, "promotion: 100 % on " + REV2,
                      also=lambda o: predictor_status(o).get("latestRolledoutRevision") == REV2)
    pred = predictor_status(obj)
    assert pred.get("previousRolledoutRevision") == REV1, pred
    assert pred.get("latestReadyRevision") == REV2, pred
    assert [(t[0], t[1]) for t in traffic_of(obj) if t[1]] == [(REV2, 100)], pred
    assert any(t[0] == REV2 and t[2] for t in traffic_of(obj)), pred
    all_from(count_answers(plat, ans, 60), NEW, "after promote")
    all_from(count_answers(plat, ans, 30, fresh=True), NEW, "after promote, new connections")
    assert plat.api.revision_names(isvc=NAME) == [REV1, REV2]
    reasons = event_reasons(plat)
    switched = [m for r, m in reasons if r == "TrafficSwitched"]
    assert any(REV1 in m and REV2 in m for m in switched), reasons
    row = kserve_get(plat)
    assert row.get("LATEST") == "100" and row.get("LATESTREADYREVISION") == REV2, row["_text"]
    assert row.get("PREV") in ("", "0"), row["_text"]

    # rollback after the promote: P = 0 -> 100 % to previousRolledoutRevision
    plat.replace(body_for(new_uri, canaryTrafficPercent=0))
    obj = wait_routed(plat, {REV1: 100}, "rollback after promote (P=0)")
    assert (REV2, 0, True) in traffic_of(obj), traffic_of(obj)
    assert plat.api.revision_names(isvc=NAME) == [REV1, REV2], "a rollback must not create a revision"
    all_from(count_answers(plat, ans, 60), OLD, "after rollback following promote")
    row = kserve_get(plat)
    assert (row.get("LATEST"), row.get("LATESTREADYREVISION")) == ("0", REV2), row["_text"]

    splits = [m for r, m in event_reasons(plat) if r == "TrafficSplit"]
    assert any(m.startswith("20%") for m in splits) and any(m.startswith("0%") for m in splits), splits


# --------------------------------------------------------------------------
# 3. no request lost through canary -> promote -> rollback -> a new version without P


def test_no_request_lost_through_a_whole_rollout(platform, ref):
    plat = platform
    ans = Answers(ref)
    start_v1(plat)
    new_uri = plat.uri("sklearn-iris-names")
    seen = collections.Counter()

    def check(r):
        w = ans.which(r.content) if r.status_code == 200 else None
        seen[w] += 1  # which answers the load saw (several threads: counts approximate, keys exact)
        return w is not None

    body = json.dumps({"instances": SEED_INSTANCES}).encode()
    load = LoadGen(plat, plat.host(NAME), PREDICT, body, threads=3, max_seconds=60, check=check, pause=0.002)
    fresh = TrafficLoop(plat, NAME, SEED_INSTANCES, max_seconds=60, fresh=True)
    marks = {}
    load.start()
    fresh.start()
    try:
        wait_until(lambda: len(fresh.results) >= 10, 10, "the fresh-connection client to get going")
        time.sleep(0.3)

        plat.replace(body_for(new_uri, canaryTrafficPercent=30))
        wait_routed(plat, {REV1: 70, REV2: 30}, "canary 70/30")
        marks["canary"] = time.monotonic()
        time.sleep(1.0)

        plat.replace(body_for(new_uri))
        wait_routed(plat, {REV2: 100}, "promote",
                    also=lambda o: predictor_status(o).get("latestRolledoutRevision") == REV2)
        marks["promote"] = time.monotonic()
        time.sleep(1.0)

        plat.replace(body_for(new_uri, canaryTrafficPercent=0))
        wait_routed(plat, {REV1: 100}, "rollback")
        marks["rollback"] = time.monotonic()
        time.sleep(1.0)

        plat.replace(body_for(plat.uri("xgboost-iris"), fmt="xgboost"))
        obj = wait_routed(plat, {REV3: 100}, "a new version without P",
                          also=lambda o: predictor_status(o).get("latestRolledoutRevision") == REV3)
        marks["v3"] = time.monotonic()
        time.sleep(1.0)
    finally:
        load.stop()
        fresh.stop()
    end = time.monotonic()

    assert plat.api.revision_names(isvc=NAME) == [REV1, REV2, REV3]
    assert predictor_status(obj).get("previousRolledoutRevision") in (REV1, REV2), predictor_status(obj)

    # every request answered 200 by one of the three models
    failures = load.failures()
    assert not failures, "%d of %d keep-alive requests failed: %r\n%s" % (len(failures), len(load.results),
                                                                          failures[:10], plat.log())
    ffail = [(t, st, b) for t, st, b in fresh.results if st != 200 or ans.which(b) is None]
    assert not ffail, "%d of %d fresh-connection requests failed: %r\n%s" % (len(ffail), len(fresh.results),
                                                                             ffail[:10], plat.log())
    assert len(load.results) >= 200 and len(fresh.results) >= 50, (len(load.results), len(fresh.results))

    # the fresh-connection client's answers, phase by phase (requests sent well after the
    # status showed a phase's traffic went where that phase's traffic goes)
    def phase(t0, t1):
        return collections.Counter(ans.which(b) for t, st, b in fresh.results if t0 + 0.05 <= t < t1)
    canary = phase(marks["canary"], marks["canary"] + 1.0)
    assert set(canary) <= {OLD, NEW}, canary
    for name, t0, t1, want in (("promote", marks["promote"], marks["promote"] + 1.0, NEW),
                               ("rollback", marks["rollback"], marks["rollback"] + 1.0, OLD),
                               ("v3", marks["v3"], end, V3)):
        got = phase(t0, t1)
        assert got and set(got) == {want}, "after %s: %r" % (name, dict(got))
    assert {OLD, NEW, V3} <= set(seen), dict(seen)


# --------------------------------------------------------------------------
# 4. a failing canary gets no request


def test_failing_canary_gets_no_traffic(platform, ref):
    plat = platform
    ans = Answers(ref)
    start_v1(plat)
    old_pids = ready_pids(plat.get(NAME), REV1)
    assert len(old_pids) == 1
    bad = plat.bad_model_dir()

    loop = TrafficLoop(plat, NAME, SEED_INSTANCES, max_seconds=30)
    loop.start()
    try:
        wait_until(lambda: len(loop.results) >= 10, 10, "the client loop to get going")
        plat.replace(body_for("file://" + bad, canaryTrafficPercent=30))

        def blocked(o):
            ms = (o.get("status") or {}).get("modelStatus") or {}
            return ((ms.get("lastFailureInfo") or {}).get("reason") == "ModelLoadFailed" and
                    any(r.get("restarts", 0) >= 1 for r in replicas_of(o, REV2)))
        obj = plat.wait_isvc(NAME, blocked, "the canary's ModelLoadFailed")
        n_before = len(loop.results)
        wait_until(lambda: len(loop.results) >= n_before + 100, 20, "100 more requests while the canary fails")
    finally:
        loop.stop()

    st = obj["status"]
    pred = predictor_status(obj)
    assert pred.get("latestCreatedRevision") == REV2, pred
    assert pred.get("latestRolledoutRevision") == REV1, pred
    assert pred.get("latestReadyRevision") != REV2, pred
    assert routed(obj) == {REV1: 100}, pred.get("traffic")
    assert is_ready(obj), "the isvc stays Ready while the old revision serves: %r" % st["conditions"]
    ms = st["modelStatus"]
    assert ms.get("transitionStatus") == "BlockedByFailedLoad", ms
    assert "cannot load scikit-learn model" in ms["lastFailureInfo"].get("message", ""), ms

    # every request answered by the old revision
    failures = loop.failures()
    assert not failures, "%d of %d failed: %r" % (len(failures), len(loop.results), failures[:10])
    kinds = collections.Counter(ans.which(b) for _, _, b in loop.results)
    assert set(kinds) == {OLD}, dict(kinds)
    all_from(count_answers(plat, ans, 100, fresh=True), OLD, "new connections while the canary fails")
    assert all(proc_alive(p) for p in old_pids), "the serving replica died"

    # the revision says why
    r = plat.api.request("GET", plat.api.revisions_path("default", REV2))
    assert r.status == 200, r
    rc = condition(r.json(), "Ready")
    assert rc.get("status") == "False", r.json().get("status")
    reasons = [x for x, _ in event_reasons(plat)]
    assert "ModelLoadFailed" in reasons, reasons

    # a good canary after the failed one gets its share
    plat.replace(body_for(plat.uri("sklearn-iris-names"), canaryTrafficPercent=30))
    obj = wait_routed(plat, {REV1: 70, REV3: 30}, "a good canary after the failed one")
    assert not obj["status"]["modelStatus"].get("lastFailureInfo"), obj["status"]["modelStatus"]
    assert obj["status"]["modelStatus"].get("transitionStatus") != "BlockedByFailedLoad", obj["status"]["modelStatus"]
    assert_share(count_on_one_connection(plat, ans, 300), NEW, 0.30, "the good canary at 30 %")


# --------------------------------------------------------------------------
# 5. tags: latest- and prev- hosts reach each revision alone


def test_tag_routing_hosts_reach_each_revision(platform, ref):
    plat = platform
    ans = Answers(ref)
    latest_host = "latest-%s-predictor.default.%s" % (NAME, DOMAIN)
    prev_host = "prev-%s-predictor.default.%s" % (NAME, DOMAIN)
    obj = start_v1(plat, tags=True)
    all_from(count_answers(plat, ans, 20, host=latest_host), OLD, "latest- host with one revision")
    assert [t.get("tag") for t in predictor_status(obj)["traffic"]] == ["latest"], predictor_status(obj)

    plat.replace(body_for(plat.uri("sklearn-iris-names"), tags=True, canaryTrafficPercent=20))
    obj = wait_routed(plat, {REV1: 80, REV2: 20}, "the tagged canary 80/20")
    tr = {t.get("tag"): t for t in predictor_status(obj)["traffic"]}
    assert set(tr) == {"latest", "prev"}, predictor_status(obj)["traffic"]
    assert (tr["latest"]["revisionName"], tr["latest"]["percent"], tr["latest"].get("latestRevision")) == \
        (REV2, 20, True), tr
    assert (tr["prev"]["revisionName"], tr["prev"]["percent"]) == (REV1, 80), tr
    assert tr["latest"].get("url") == "http://" + latest_host, tr
    assert tr["prev"].get("url") == "http://" + prev_host, tr

    # during the canary: each tag host reaches its revision alone, the main host splits
    all_from(count_on_one_connection(plat, ans, 100, host=latest_host), NEW, "latest- host during the canary")
    all_from(count_on_one_connection(plat, ans, 100, host=prev_host), OLD, "prev- host during the canary")
    all_from(count_answers(plat, ans, 30, host=latest_host, fresh=True), NEW, "latest- host, new connections")
    assert_share(count_on_one_connection(plat, ans, 300), NEW, 0.20, "the main host during the tagged canary")
    row = kserve_get(plat)
    assert (row.get("PREV"), row.get("LATEST")) == ("80", "20"), row["_text"]
    assert row.get("PREVROLLEDOUTREVISION") == REV1 and row.get("LATESTREADYREVISION") == REV2, row["_text"]

    # unknown tags and look-alike hosts: 404 with a JSON error
    for host in ("stable-%s-predictor.default.%s" % (NAME, DOMAIN), "latest-%s.default.%s" % (NAME, DOMAIN),
                 "latest-nope-predictor.default.%s" % DOMAIN, "latest-%s-predictor.other.%s" % (NAME, DOMAIN)):
        assert_json_error(plat.predict(NAME, SEED_INSTANCES, host=host), 404)

    # after promote: latest- is the new revision, prev- the one rolled out before
    plat.replace(body_for(plat.uri("sklearn-iris-names"), tags=True))
    obj = wait_routed(plat, {REV2: 100}, "promote with tags",
                      also=lambda o: predictor_status(o).get("latestRolledoutRevision") == REV2)
    tr = {t.get("tag"): t for t in predictor_status(obj)["traffic"]}
    assert tr.get("latest", {}).get("revisionName") == REV2, predictor_status(obj)["traffic"]
    all_from(count_answers(plat, ans, 40), NEW, "main host after promote")
    all_from(count_answers(plat, ans, 40, host=latest_host), NEW, "latest- host after promote")
    wait_until(lambda: plat.predict(NAME, SEED_INSTANCES, host=prev_host).status_code == 200, PLATFORM_TIMEOUT,
               "the prev- host to answer after promote")
    all_from(count_answers(plat, ans, 40, host=prev_host), OLD, "prev- host after promote")


# --------------------------------------------------------------------------
# 6. old revisions' replicas stop; a rollback to a stopped revision starts it again


def test_old_replicas_stop_and_rollback_restarts_them(platform, ref):
    plat = platform
    ans = Answers(ref)
    obj = start_v1(plat)
    pids1 = ready_pids(obj, REV1)
    assert len(pids1) == 1, obj["status"].get("replicas")

    # a canary at 50 %, then a newer canary: the middle revision has no traffic left and stops
    plat.replace(body_for(plat.uri("sklearn-iris-names"), canaryTrafficPercent=50))
    obj = wait_routed(plat, {REV1: 50, REV2: 50})
    pids2 = ready_pids(obj, REV2)
    assert len(pids2) == 1 and all(proc_alive(p) for p in pids1 | pids2)
    plat.replace(body_for(plat.uri("xgboost-iris"), fmt="xgboost", canaryTrafficPercent=50))
    obj = wait_routed(plat, {REV1: 50, REV3: 50}, "the newer canary against the stable revision")
    plat.wait_gone(pids2, "the replaced canary's replica to stop")
    assert all(proc_alive(p) for p in pids1), "the stable revision's replica must keep running"
    kinds = count_answers(plat, ans, 200)
    assert set(kinds) == {OLD, V3}, dict(kinds)

    # promote: the old revision's replica stops (drains), within a bounded time
    plat.replace(body_for(plat.uri("xgboost-iris"), fmt="xgboost"))
    obj = wait_routed(plat, {REV3: 100}, "promote " + REV3,
                      also=lambda o: predictor_status(o).get("previousRolledoutRevision") == REV1)
    t0 = time.monotonic()
    plat.wait_gone(pids1, "the previous revision's replica to stop after promote")
    stop_secs = time.monotonic() - t0
    obj = plat.wait_isvc(NAME, lambda o: not replicas_of(o, REV1), "no %s replica in status" % REV1)
    pids3 = ready_pids(obj, REV3)
    assert pids3 and set(plat.replica_processes()) == pids3, (pids3, plat.replica_processes())

    # roll back to REV1, whose replicas are gone, under load: it starts again, nothing fails
    loop = TrafficLoop(plat, NAME, SEED_INSTANCES, max_seconds=30)
    fresh = TrafficLoop(plat, NAME, SEED_INSTANCES, max_seconds=30, fresh=True)
    loop.start()
    fresh.start()
    try:
        wait_until(lambda: len(loop.results) >= 10 and len(fresh.results) >= 10, 10, "the clients to get going")
        plat.replace(body_for(plat.uri("xgboost-iris"), fmt="xgboost", canaryTrafficPercent=0))
        obj = wait_routed(plat, {REV1: 100}, "rollback to the stopped " + REV1)
        t_back = time.monotonic()
        time.sleep(0.5)
    finally:
        loop.stop()
        fresh.stop()
    # REV1 runs again: a new model-server process on its model directory
    dir1 = plat.model_dir("sklearn-iris") + " "
    new1 = {p for p, c in plat.replica_processes().items() if "--model_dir=" + dir1 in c + " "}
    assert len(new1) == 1 and not (new1 & pids1), (new1, pids1, plat.replica_processes())
    for what, lp in (("keep-alive", loop), ("new connections", fresh)):
        bad = [(round(t, 3), st, b) for t, st, b in lp.results if st != 200 or ans.which(b) not in (OLD, V3)]
        assert not bad, "%s client: %d of %d failed: %r\n%s" % (what, len(bad), len(lp.results), bad[:10],
                                                                plat.log())
        after = collections.Counter(ans.which(b) for t, _, b in lp.results if t >= t_back + 0.05)
        assert set(after) <= {OLD}, "%s client after the rollback: %r" % (what, dict(after))
    all_from(count_answers(plat, ans, 40), OLD, "after the rollback")
    assert stop_secs < PROC_GONE_TIMEOUT



# --------------------------------------------------------------------------
# 7-9. what `kserve get isvc` and status show during rollouts (KServe's columns and fields)


def test_get_isvc_prev_and_latest_columns(platform):
    """kubectl get isvc's PREV / LATEST / PREVROLLEDOUTREVISION / LATESTREADYREVISION columns are
    the traffic entries tagged "prev" and with latestRevision=true; KServe tags the stable target
    of a canary "prev" with or without tag routing."""
    plat = platform
    start_v1(plat)
    new_uri = plat.uri("sklearn-iris-names")
    seen = []

    def look(what, want):
        row = kserve_get(plat)
        got = (row.get("PREV"), row.get("LATEST"), row.get("PREVROLLEDOUTREVISION"), row.get("LATESTREADYREVISION"))
        seen.append((what, got, want, row["_text"]))

    look("v1 alone", ("", "100", "", REV1))
    plat.replace(body_for(new_uri, canaryTrafficPercent=20))
    wait_routed(plat, {REV1: 80, REV2: 20})
    look("canary 20 %", ("80", "20", REV1, REV2))
    plat.replace(body_for(new_uri, canaryTrafficPercent=50))
    wait_routed(plat, {REV1: 50, REV2: 50})
    look("canary 50 %", ("50", "50", REV1, REV2))
    plat.replace(body_for(new_uri, canaryTrafficPercent=0))
    wait_routed(plat, {REV1: 100})
    look("rollback P=0", ("100", "0", REV1, REV2))
    plat.replace(body_for(new_uri))
    wait_routed(plat, {REV2: 100}, also=lambda o: predictor_status(o).get("latestRolledoutRevision") == REV2)
    look("promoted", ("", "100", "", REV2))
    plat.replace(body_for(new_uri, canaryTrafficPercent=0))
    wait_routed(plat, {REV1: 100})
    look("rollback after promote", ("100", "0", REV1, REV2))
    wrong = [(what, got, want) for what, got, want, _ in seen if got != want]
    assert not wrong, "(PREV, LATEST, PREVROLLEDOUTREVISION, LATESTREADYREVISION) wrong:\n%s\n\n%s" % (
        "\n".join("  %-24s got %r, expected %r" % w for w in wrong),
        "\n".join("%s:\n%s" % (what, text) for what, _, _, text in seen))


def test_model_status_during_a_canary(platform):
    """The canary's model is loaded and takes its share: modelStatus is UpToDate / Loaded (KServe
    derives it from the latest ready revision), not InProgress / Loading."""
    plat = platform
    start_v1(plat)
    plat.replace(body_for(plat.uri("sklearn-iris-names"), canaryTrafficPercent=20))
    wait_routed(plat, {REV1: 80, REV2: 20})
    time.sleep(1.5)  # a pass or two after the split
    ms = plat.get(NAME)["status"]["modelStatus"]
    assert ms.get("transitionStatus") == "UpToDate", ms
    assert ms.get("states") == {"activeModelState": "Loaded", "targetModelState": "Loaded"}, ms


def test_status_replicas_list_the_revision_that_serves(platform):
    """After a rollback following a promote, the previous revision takes 100 %: status.replicas
    (and `kserve get -o wide`, `describe`) must list its replica."""
    plat = platform
    start_v1(plat)
    new_uri = plat.uri("sklearn-iris-names")
    plat.replace(body_for(new_uri, canaryTrafficPercent=50))
    wait_routed(plat, {REV1: 50, REV2: 50})
    plat.replace(body_for(new_uri))
    wait_routed(plat, {REV2: 100}, also=lambda o: predictor_status(o).get("latestRolledoutRevision") == REV2)
    plat.replace(body_for(new_uri, canaryTrafficPercent=0))
    wait_routed(plat, {REV1: 100})
    dir1 = plat.model_dir("sklearn-iris") + " "
    running = wait_until(lambda: {p for p, c in plat.replica_processes().items() if "--model_dir=" + dir1 in c + " "},
                         PLATFORM_TIMEOUT, "a replica of " + REV1)
    obj = plat.wait_isvc(NAME, lambda o: True, "the status")
    assert ready_pids(obj, REV1) == running, "status.replicas omits %s's replica %r that serves 100 %%: %r" % (
        REV1, running, [(r.get("revision"), r.get("pid"), r.get("state")) for r in replicas_of(obj)])


# --------------------------------------------------------------------------
# 10. a new version after a rollback: the revision rolled back to serves until the new one is ready


def test_new_version_after_rollback_keeps_the_rolled_back_revision_serving(platform, ref):
    """spec: "Without P, a new revision takes 100 % once it is ready, and the old one keeps
    serving until then".  After a rollback (P=0) the one serving is the previous revision; a
    new spec without P must not send traffic back to the revision that was rolled back from
    while the new one starts (here a stand-in server that takes 3 s to get ready)."""
    plat = platform
    ans = Answers(ref)
    fake = FakeRuntime(plat)
    start_v1(plat)
    new_uri = plat.uri("sklearn-iris-names")
    plat.replace(body_for(new_uri, canaryTrafficPercent=50))
    wait_routed(plat, {REV1: 50, REV2: 50})
    plat.replace(body_for(new_uri))
    wait_routed(plat, {REV2: 100}, also=lambda o: predictor_status(o).get("latestRolledoutRevision") == REV2)
    plat.replace(body_for(new_uri, canaryTrafficPercent=0))
    wait_routed(plat, {REV1: 100}, "the rollback to " + REV1)
    all_from(count_answers(plat, ans, 20), OLD, "after the rollback")

    plat.replace(body_for(fake.model("slow-v3", start_delay=3), fmt="fake"))
    fake_answer = [round(sum(r), 6) for r in SEED_INSTANCES]
    seen = []
    deadline = time.monotonic() + PLATFORM_TIMEOUT
    with requests.Session() as s:
        while time.monotonic() < deadline:
            r = plat.predict(NAME, SEED_INSTANCES, session=s)
            try:
                p = r.json().get("predictions")
                got = "fake" if [round(x, 6) for x in p] == fake_answer else ans.which(r.content)
            except (ValueError, TypeError, AttributeError):
                got = ans.which(r.content)
            seen.append((r.status_code, got, predictor_status(plat.get(NAME)).get("traffic")))
            if got == "fake":
                break
            time.sleep(0.1)
    kinds = collections.Counter((st, k) for st, k, _ in seen)
    assert seen and seen[-1][1] == "fake", "the new revision never answered: %r" % dict(kinds)
    wrong = [x for x in seen[:-1] if x[:2] != (200, OLD)]
    assert not wrong, ("while the new revision started, %d of %d answers did not come from %s, which served "
                       "after the rollback: %r; first: %r" % (len(wrong), len(seen) - 1, REV1, dict(kinds), wrong[0]))


# --------------------------------------------------------------------------
# 11. the status's traffic is what the ingress does


def test_status_traffic_is_what_the_ingress_does(platform, ref):
    """A client that reads status.components.predictor.traffic and then sends a request must get
    what the status says (Knative's Route reports traffic once the ingress serves it).  The split
    moves between P=0 and P=100 (no new revision, both revisions keep running); after each move
    is seen in the status, the next requests on an open keep-alive connection must all go to the
    revision that now has 100 %."""
    plat = platform
    ans = Answers(ref)
    start_v1(plat)
    new_uri = plat.uri("sklearn-iris-names")
    plat.replace(body_for(new_uri, canaryTrafficPercent=50))
    wait_routed(plat, {REV1: 50, REV2: 50})
    body = json.dumps({"instances": SEED_INSTANCES}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", plat.port, timeout=INGRESS_TIMEOUT[1])
    wrong = []
    try:
        for i in range(30):
            pct, rev, want = (100, REV2, NEW) if i % 2 == 0 else (0, REV1, OLD)
            plat.replace(body_for(new_uri, canaryTrafficPercent=pct))
            wait_routed(plat, {rev: 100}, "P=%d: 100 %% on %s" % (pct, rev), settle=0)
            for k in range(3):
                conn.request("POST", PREDICT, body=body, headers={"Host": plat.host(NAME),
                                                                  "Content-Type": "application/json"})
                r = conn.getresponse()
                got = ans.which(r.read()) if r.status == 200 else r.status
                if got != want:
                    wrong.append((i, pct, k, got))
    finally:
        conn.close()
    assert not wrong, ("requests sent right after the status showed 100 %% on a revision went elsewhere "
                       "(move, P, request, answer): %r" % wrong)
