"""The queue layer (spec autoscaling.md section 6, scenario 12): `kserve queue-proxy` in front of
a slow upstream written here, and the same breaker inside `kserve model-server`.

The upstream counts how many requests it holds at once, so the tests see the breaker's limit
from the other side. Every wait is bounded by a deadline; every request carries a timeout."""
import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import (READY_TIMEOUT, SANITIZER_MARKERS, RawConn, Server, assert_json_error,
                      assert_same_predictions, free_port, http_request_bytes, run_cli, sample_rows,
                      spawn, stop_and_check)

# sanitizer builds are slower: timing bounds stretch with this
SLOW = 2.0 if "asan" in os.environ.get("KSERVE_BIN", "") else 1.0


# --------------------------------------------------------------------------
# a slow upstream

class Upstream:
    """HTTP/1.1 keep-alive server in a thread: /sleep/S answers after S seconds, /echo echoes,
    /status/N answers N with a text/plain body, /ready answers `ready_status`."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.cur = 0
        self.max = 0
        self.count = 0
        self.ready_status = 200
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, code, body, ctype="application/json", extra=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[0] == "sleep":
                    with up.lock:
                        up.cur += 1
                        up.count += 1
                        up.max = max(up.max, up.cur)
                    try:
                        time.sleep(float(parts[1]))
                    finally:
                        with up.lock:
                            up.cur -= 1
                    self._send(200, json.dumps({"slept": float(parts[1])}).encode())
                elif parts[0] == "echo":
                    self._send(200, json.dumps({
                        "method": self.command, "path": self.path, "body": body.decode("latin-1"),
                        "headers": {k.lower(): v for k, v in self.headers.items()}}).encode(),
                        extra={"X-Upstream": "yes"})
                elif parts[0] == "status":
                    self._send(int(parts[1]), b"plain words from upstream", "text/plain")
                elif parts[0] == "ready":
                    self._send(up.ready_status, b"{}")
                else:
                    self._send(404, b'{"error":"no such upstream path"}')

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

        class Srv(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        self.httpd = Srv(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def reset_max(self):
        with self.lock:
            self.max = self.cur

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def upstream():
    made = []

    def make(port=None):
        u = Upstream(port)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


# --------------------------------------------------------------------------
# the queue-proxy process

def _get_json(url, timeout=(1, 5)):
    r = requests.get(url, timeout=timeout)
    return r.status_code, r.json()


class QueueProxy(Server):
    def stats(self):
        code, doc = _get_json(self.url + "/ks/queue/stats")
        assert code == 200, doc
        return doc

    def ready_status(self):
        return requests.get(self.url + "/ks/queue/ready", timeout=(1, 5)).status_code

    def wait_listening(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("queue-proxy exited\n" + self.describe())
            try:
                if requests.get(self.url + "/ks/queue/stats", timeout=(0.5, 2)).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.02)
        raise AssertionError("queue-proxy not listening after %.0fs\n%s" % (timeout, self.describe()))

    def wait_stats(self, pred, timeout=5.0):
        """Poll /ks/queue/stats until pred(stats); returns the stats (asserts on timeout)."""
        deadline = time.monotonic() + timeout * SLOW
        last = None
        while time.monotonic() < deadline:
            last = self.stats()
            if pred(last):
                return last
            time.sleep(0.02)
        raise AssertionError("stats never matched: last %r" % last)


@pytest.fixture
def qproxy():
    """Factory: qproxy(upstream_port, *flags, drain="0") starts `kserve queue-proxy` on a free
    port and waits until it listens; on teardown SIGTERM, exit 0, no sanitizer report."""
    started = []

    def start(upstream_port, *flags, drain="0", wait=True, expect_exit=0):
        port = free_port()
        argv = ["queue-proxy", "--upstream", str(upstream_port), "--port", str(port),
                "--drain-seconds", drain] + list(flags)
        proc, logdir = spawn(argv)
        qp = QueueProxy(proc, port, 0, logdir, argv, "queue-proxy")
        started.append((qp, expect_exit))
        if wait:
            qp.wait_listening()
        return qp

    yield start
    problems = []
    for qp, expect in started:
        msg = stop_and_check(qp, expect)
        if msg:
            problems.append(msg)
    assert not problems, "\n\n".join(problems)


def in_threads(fn, n, *args):
    """Run fn(i, *args) in n threads; returns the results in order (exceptions re-raised)."""
    out = [None] * n
    errs = []

    def run(i):
        try:
            out[i] = fn(i, *args)
        except Exception as e:  # noqa: BLE001 - reported below
            errs.append(e)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    return ts, out, errs


def join_all(ts, timeout=30):
    deadline = time.monotonic() + timeout
    for t in ts:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in ts), "client threads still running"


def timed_get(url, timeout=(3, 30)):
    t0 = time.monotonic()
    r = requests.get(url, timeout=timeout)
    return r, time.monotonic() - t0


# --------------------------------------------------------------------------
# admission

def test_scenario_12_cc1_eleven_accepted_twelfth_503(upstream, qproxy):
    """CC 1: 11 concurrent slow requests are accepted (1 running, 10 queued); the 12th gets an
    immediate 503 with a JSON error; then all 11 get 200, one at a time at the upstream."""
    up = upstream()
    qp = qproxy(up.port, "--container-concurrency", "1", "--workers", "2")
    ts, out, errs = in_threads(lambda i: timed_get(qp.url + "/sleep/0.25"), 11)
    st = qp.wait_stats(lambda s: s["in_flight"] + s["queued"] == 11)
    assert st["in_flight"] == 1 and st["queued"] == 10, st
    r, took = timed_get(qp.url + "/sleep/0.25")
    assert_json_error(r, 503)
    assert took < 1.0 * SLOW, "the 12th waited %.2fs for its 503" % took
    join_all(ts)
    assert not errs, errs
    assert [r.status_code for r, _ in out] == [200] * 11, [(r.status_code, r.content[:100]) for r, _ in out]
    assert up.max == 1, "the upstream saw %d at once" % up.max
    st = qp.stats()
    assert st["requests_total"] == 12 and st["rejected_total"] == 1, st
    assert st["max_in_flight"] == 1 and st["in_flight"] == 0 and st["queued"] == 0, st
    assert st["container_concurrency"] == 1


def test_cc2_never_more_than_two_upstream(upstream, qproxy):
    up = upstream()
    qp = qproxy(up.port, "--container-concurrency", "2", "--workers", "2")
    ts, out, errs = in_threads(lambda i: timed_get(qp.url + "/sleep/0.15"), 14)
    join_all(ts)
    assert not errs, errs
    assert [r.status_code for r, _ in out] == [200] * 14
    assert up.max == 2, "the upstream saw %d at once (CC 2)" % up.max
    assert qp.stats()["max_in_flight"] == 2


def test_cc0_unlimited(upstream, qproxy):
    up = upstream()
    qp = qproxy(up.port, "--workers", "2")
    ts, out, errs = in_threads(lambda i: timed_get(qp.url + "/sleep/0.5"), 15)
    join_all(ts)
    assert not errs, errs
    assert [r.status_code for r, _ in out] == [200] * 15
    assert up.max >= 10, "CC 0 should not hold requests back: max %d at the upstream" % up.max
    st = qp.stats()
    assert st["container_concurrency"] == 0 and st["rejected_total"] == 0 and st["queued"] == 0


# --------------------------------------------------------------------------
# timeout

def test_timeout_504_running_and_queued(upstream, qproxy):
    """--timeout-seconds 1 with a 3 s upstream: the running request and the queued one both get
    504 after about 1 s (queue time included), as JSON."""
    up = upstream()
    qp = qproxy(up.port, "--container-concurrency", "1", "--timeout-seconds", "1", "--workers", "2")
    ts, out, errs = in_threads(lambda i: timed_get(qp.url + "/sleep/3"), 2)
    join_all(ts)
    assert not errs, errs
    for r, took in out:
        assert_json_error(r, 504)
        assert 0.9 <= took < 2.5 * SLOW, "504 after %.2fs" % took
    msgs = sorted(r.json()["error"] for r, _ in out)
    assert any("queue" in m for m in msgs) or all("timeout" in m for m in msgs), msgs
    st = qp.stats()
    assert st["timeouts_total"] == 2 and st["in_flight"] == 0 and st["queued"] == 0, st
    # the breaker is free again: a quick request goes through
    r, _ = timed_get(qp.url + "/sleep/0")
    assert r.status_code == 200


def test_timeout_of_a_queued_request_behind_a_long_one(upstream, qproxy):
    up = upstream()
    qp = qproxy(up.port, "--container-concurrency", "1", "--timeout-seconds", "2", "--workers", "1")
    first = threading.Thread(target=lambda: requests.get(qp.url + "/sleep/1.5", timeout=(3, 10)))
    first.start()
    qp.wait_stats(lambda s: s["in_flight"] == 1)
    time.sleep(0.8)  # the next one arrives with 0.7 s of the long one left; it has 2 s
    r, took = timed_get(qp.url + "/sleep/0.1")
    first.join(timeout=10)
    assert r.status_code == 200, "queued behind a shorter-than-timeout request: %r" % r.content[:200]
    # now one that waits longer than its timeout in the queue
    first = threading.Thread(target=lambda: requests.get(qp.url + "/sleep/1.8", timeout=(3, 10)))
    first.start()
    qp.wait_stats(lambda s: s["in_flight"] == 1)
    r, took = timed_get(qp.url + "/sleep/5")  # waits ~1.8 s, then has ~0.2 s: times out upstream
    first.join(timeout=10)
    assert_json_error(r, 504)
    assert took < 3.5 * SLOW


# --------------------------------------------------------------------------
# clients that leave

def test_client_disconnect_while_queued_frees_its_place(upstream, qproxy):
    up = upstream()
    qp = qproxy(up.port, "--container-concurrency", "1", "--workers", "2")
    long_req = threading.Thread(target=lambda: requests.get(qp.url + "/sleep/2", timeout=(3, 10)))
    long_req.start()
    qp.wait_stats(lambda s: s["in_flight"] == 1)
    conns, more = [], []
    try:
        for _ in range(10):
            c = RawConn(qp.port, timeout=15)
            c.send(http_request_bytes("GET", "/sleep/0.05", None))
            conns.append(c)
        qp.wait_stats(lambda s: s["queued"] == 10)
        r, _ = timed_get(qp.url + "/sleep/0")
        assert_json_error(r, 503)
        # three clients hang up while waiting
        for c in conns[:3]:
            c.close()
        for c in conns[3:4]:
            c.abort()
        st = qp.wait_stats(lambda s: s["queued"] == 6, timeout=2.0)
        assert st["in_flight"] == 1
        # their places are free: four more fit (and a fifth does not)
        for _ in range(4):
            c = RawConn(qp.port, timeout=15)
            c.send(http_request_bytes("GET", "/sleep/0.05", None))
            more.append(c)
        qp.wait_stats(lambda s: s["queued"] == 10)
        r, _ = timed_get(qp.url + "/sleep/0")
        assert_json_error(r, 503)
        for c in conns[4:] + more:
            resp = c.read_response()
            assert resp.status == 200, resp
    finally:
        for c in conns + more:
            c.close()
    long_req.join(timeout=10)
    st = qp.wait_stats(lambda s: s["in_flight"] == 0 and s["queued"] == 0)
    # the upstream never saw the requests whose clients left
    assert up.count == 1 + 6 + 4 + 0, "upstream served %d" % up.count


# --------------------------------------------------------------------------
# stats

def test_stats_concurrency_and_rps(upstream, qproxy):
    """4 clients each holding a 3 s request: a complete second inside that time has concurrency 4
    and no arrivals; then ~20 requests a second for 2.5 s show up as rps. Stats requests are not
    counted."""
    up = upstream()
    qp = qproxy(up.port, "--container-concurrency", "10", "--workers", "2")
    before = qp.stats()
    for _ in range(5):
        qp.stats()
    assert qp.stats()["requests_total"] == before["requests_total"] == 0
    ts, out, errs = in_threads(lambda i: timed_get(qp.url + "/sleep/3"), 4)
    qp.wait_stats(lambda s: s["in_flight"] == 4)
    time.sleep(2.1)
    st = qp.stats()
    join_all(ts)
    assert not errs, errs
    assert 3.5 <= st["concurrency"] <= 4.5, st
    assert st["rps"] == 0, st
    assert st["requests_total"] == 4
    # rps: one request every 50 ms
    s = requests.Session()
    t_end = time.monotonic() + 2.5
    n = 0
    samples = []
    while time.monotonic() < t_end:
        assert s.get(qp.url + "/sleep/0", timeout=(1, 5)).status_code == 200
        n += 1
        samples.append(qp.stats()["rps"])
        time.sleep(0.05)
    s.close()
    assert n >= 10
    assert max(samples) >= 5, samples
    assert max(samples) <= 25, samples
    assert qp.stats()["requests_total"] == 4 + n


def test_stats_and_ready_methods(upstream, qproxy):
    up = upstream()
    qp = qproxy(up.port)
    r = requests.post(qp.url + "/ks/queue/stats", timeout=(1, 5))
    assert_json_error(r, 405)
    doc = qp.stats()
    for k in ("in_flight", "queued", "concurrency", "rps", "requests_total", "rejected_total",
              "timeouts_total", "max_in_flight", "container_concurrency", "draining"):
        assert k in doc, doc
    assert doc["draining"] is False


# --------------------------------------------------------------------------
# proxying

def test_proxy_passes_requests_and_answers_through(upstream, qproxy):
    up = upstream()
    qp = qproxy(up.port, "--container-concurrency", "2")
    r = requests.post(qp.url + "/echo/x?a=1", data=b'{"instances": [[1, 2]]}',
                      headers={"Content-Type": "application/json", "X-Request-Id": "abc"},
                      timeout=(1, 5))
    assert r.status_code == 200
    doc = r.json()
    assert doc["method"] == "POST" and doc["path"] == "/echo/x?a=1"
    assert doc["body"] == '{"instances": [[1, 2]]}'
    assert doc["headers"]["x-request-id"] == "abc"
    assert doc["headers"]["content-type"] == "application/json"
    assert r.headers.get("X-Upstream") == "yes"
    # the upstream's own errors pass verbatim (not rewritten into {"error"})
    r = requests.get(qp.url + "/status/418", timeout=(1, 5))
    assert r.status_code == 418 and r.content == b"plain words from upstream"
    assert r.headers["Content-Type"].startswith("text/plain")
    r = requests.head(qp.url + "/echo", timeout=(1, 5))
    assert r.status_code == 200
    # keep-alive on both sides
    s = requests.Session()
    for i in range(20):
        r = s.put(qp.url + "/echo/%d" % i, data=b"x" * i, timeout=(1, 5))
        assert r.status_code == 200 and r.json()["body"] == "x" * i
    s.close()


def test_upstream_down_is_502_json(qproxy):
    qp = qproxy(free_port())
    r, took = timed_get(qp.url + "/v1/models/m:predict")
    assert_json_error(r, 502)
    assert took < 2 * SLOW


# --------------------------------------------------------------------------
# readiness

def test_readiness_follows_the_upstream(upstream, qproxy):
    port = free_port()
    qp = qproxy(port, "--workers", "1")
    assert qp.ready_status() == 503
    time.sleep(0.2)
    assert qp.ready_status() == 503
    up = upstream(port)
    t0 = time.monotonic()
    while qp.ready_status() != 200:
        assert time.monotonic() - t0 < 1.0 * SLOW, "not ready within 1 s of the upstream listening"
        time.sleep(0.01)
    assert requests.get(qp.url + "/ks/queue/ready", timeout=(1, 5)).json() == {"ready": True}
    r, _ = timed_get(qp.url + "/sleep/0")
    assert r.status_code == 200 and up.count == 1


def test_readiness_path_probe(upstream, qproxy):
    up = upstream()
    up.ready_status = 503
    qp = qproxy(up.port, "--readiness-path", "/ready")
    time.sleep(0.3)
    assert qp.ready_status() == 503
    up.ready_status = 200
    t0 = time.monotonic()
    while qp.ready_status() != 200:
        assert time.monotonic() - t0 < 1.0 * SLOW, "not ready within 1 s of the upstream saying 200"
        time.sleep(0.01)
    # once ready, it is probed every second: a failing upstream shows within ~1 s
    up.ready_status = 500
    t0 = time.monotonic()
    while qp.ready_status() != 503:
        assert time.monotonic() - t0 < 3.0 * SLOW, "still ready 3 s after the upstream failed"
        time.sleep(0.05)


# --------------------------------------------------------------------------
# drain

def test_sigterm_drain_keeps_serving_then_exits(upstream, qproxy):
    """--drain-seconds 2: after SIGTERM readiness says 503, a request in flight and requests sent
    during the drain get 200, and the process exits by itself once 2 s passed without one."""
    up = upstream()
    qp = qproxy(up.port, "--container-concurrency", "2", drain="2", expect_exit=None)
    inflight = []
    t = threading.Thread(target=lambda: inflight.append(requests.get(qp.url + "/sleep/1", timeout=(3, 10))))
    t.start()
    qp.wait_stats(lambda s: s["in_flight"] == 1)
    qp.proc.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    assert qp.ready_status() == 503
    assert qp.stats()["draining"] is True
    s = requests.Session()
    last = None
    for i in range(6):  # ~1.5 s of traffic, some on a kept-alive connection
        last = time.monotonic()
        r = (s if i % 2 else requests).get(qp.url + "/sleep/0.05", timeout=(1, 5))
        assert r.status_code == 200, "request during the drain: %d %r" % (r.status_code, r.content[:200])
        time.sleep(0.2)
    s.close()
    t.join(timeout=10)
    assert inflight and inflight[0].status_code == 200
    assert qp.proc.poll() is None, "exited during the drain period"
    try:
        rc = qp.proc.wait(timeout=8 * SLOW)
    except subprocess.TimeoutExpired:
        rc = "still running"
    quiet = time.monotonic() - last
    assert rc == 0, "exit status %r\n%s" % (rc, qp.describe())
    assert 1.8 <= quiet <= 2 + 3 * SLOW, "exited %.2fs after the last request (drain 2 s)" % quiet
    err = qp.stderr_text()
    assert "draining" in err and not any(m in err for m in SANITIZER_MARKERS), err[-2000:]


def test_sigterm_without_drain_stops_at_once(upstream, qproxy):
    up = upstream()
    qp = qproxy(up.port, expect_exit=None)
    t0 = time.monotonic()
    qp.proc.send_signal(signal.SIGTERM)
    rc = qp.proc.wait(timeout=10)
    assert rc == 0 and time.monotonic() - t0 < 3 * SLOW


def test_second_sigterm_ends_the_drain(upstream, qproxy):
    up = upstream()
    qp = qproxy(up.port, drain="60", expect_exit=None)
    qp.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert qp.proc.poll() is None and qp.ready_status() == 503
    qp.proc.send_signal(signal.SIGTERM)
    assert qp.proc.wait(timeout=10) == 0


# --------------------------------------------------------------------------
# flags

@pytest.mark.parametrize("args,flag", [
    (["--port", "1"], "--upstream"),
    (["--upstream", "x"], "--upstream"),
    (["--upstream", "80", "--container-concurrency", "1001"], "--container-concurrency"),
    (["--upstream", "80", "--timeout-seconds", "0"], "--timeout-seconds"),
    (["--upstream", "80", "--drain-seconds", "-1"], "--drain-seconds"),
    (["--upstream", "80", "--readiness-path", "nope"], "--readiness-path"),
    (["--upstream", "80", "--bogus", "1"], "--bogus"),
    (["--upstream", "80", "--port"], "--port"),
])
def test_bad_flags_exit_2(args, flag):
    rc, out, err = run_cli(["queue-proxy"] + args)
    assert rc == 2, (rc, err)
    assert flag in err.splitlines()[0], err


def test_help_and_listed():
    rc, out, err = run_cli(["queue-proxy", "--help"])
    assert rc == 0 and "--container-concurrency" in out
    rc, out, err = run_cli(["--help"])
    assert rc == 0 and "queue-proxy" in out


def test_port_in_use(upstream):
    up = upstream()
    rc, out, err = run_cli(["queue-proxy", "--upstream", str(up.port), "--port", str(up.port)])
    assert rc == 1 and "cannot listen" in err, (rc, err)


# --------------------------------------------------------------------------
# the breaker inside kserve model-server

def _predict_many(srv, ref, model, clients, each):
    rows = sample_rows(model, 3, seed=5)
    expected = ref.v1(model, rows)
    body = json.dumps({"instances": rows})

    def client(i):
        s = requests.Session()
        codes = []
        try:
            for _ in range(each):
                r = s.post(srv.url + "/v1/models/%s:predict" % model, data=body,
                           headers={"Content-Type": "application/json"}, timeout=(3, 15))
                codes.append(r.status_code)
                if r.status_code == 200:
                    assert_same_predictions(r.json()["predictions"], expected)
        finally:
            s.close()
        return codes

    ts, out, errs = in_threads(client, clients)
    join_all(ts, timeout=60)
    assert not errs, errs
    return [c for codes in out for c in codes]


@pytest.mark.parametrize("model,cc", [("xgboost-iris", "1"), ("sklearn-iris", "1"), ("sklearn-iris", "2")])
def test_model_server_container_concurrency(server, ref, model, cc):
    srv = server(model, args=["--container_concurrency", cc, "--workers", "2"])
    codes = _predict_many(srv, ref, model, clients=6, each=8)
    assert codes == [200] * 48, codes
    st = srv.get("/ks/queue/stats").json()
    assert st["container_concurrency"] == int(cc)
    assert 1 <= st["max_in_flight"] <= int(cc), st
    assert st["requests_total"] == 48 and st["rejected_total"] == 0, st
    assert st["in_flight"] == 0 and st["queued"] == 0, st
    # health, metadata, metrics and stats do not go through the breaker
    for path in ("/v2/health/ready", "/v2/health/live", "/v1/models/%s" % model, "/metrics", "/ks/queue/stats"):
        assert srv.get(path).status_code == 200, path
    assert srv.get("/ks/queue/ready").json() == {"ready": True}
    assert srv.get("/ks/queue/stats").json()["requests_total"] == 48
    # the V2 path and explain go through it too; a missing model does not
    r = srv.post_json("/v2/models/%s/infer" % model, {"inputs": [
        {"name": "input-0", "shape": [1, 4], "datatype": "FP32", "data": [6.8, 2.8, 4.8, 1.4]}]})
    assert r.status_code == 200
    assert srv.post_json("/v1/models/%s:explain" % model, {"instances": [[1, 2, 3, 4]]}).status_code == 501
    assert srv.post_json("/v1/models/nope:predict", {"instances": [[1, 2, 3, 4]]}).status_code == 404
    assert srv.get("/ks/queue/stats").json()["requests_total"] == 50


def test_model_server_unlimited_by_default(server, ref):
    srv = server("xgboost-iris", args=["--workers", "2"])
    codes = _predict_many(srv, ref, "xgboost-iris", clients=4, each=5)
    assert codes == [200] * 20
    st = srv.get("/ks/queue/stats").json()
    assert st["container_concurrency"] == 0 and st["requests_total"] == 20, st


def test_model_server_bad_queue_flags():
    for args, flag in ((["--container_concurrency", "1001"], "--container_concurrency"),
                       (["--timeout_seconds", "0"], "--timeout_seconds"),
                       (["--drain-seconds", "x"], "--drain_seconds")):
        rc, out, err = run_cli(["model-server", "--model_dir", "/nonexistent"] + args)
        assert rc == 2 and flag in err, (args, rc, err)
    rc, out, err = run_cli(["model-server", "--help"])
    assert "--container_concurrency" in out and "--drain_seconds" in out


def test_model_server_drain_seconds(server, ref):
    """--drain_seconds 2: after SIGTERM, /v2/health/ready and /ks/queue/ready say 503, predictions
    keep working (new connections too), and the process exits 0 once 2 s passed without one."""
    srv = server("xgboost-iris", args=["--drain_seconds", "2", "--container_concurrency", "2"],
                 expect_exit=None)
    rows = sample_rows("xgboost-iris", 2, seed=8)
    expected = ref.v1("xgboost-iris", rows)
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    r = requests.get(srv.url + "/v2/health/ready", timeout=(1, 5))
    assert r.status_code == 503
    assert requests.get(srv.url + "/ks/queue/ready", timeout=(1, 5)).status_code == 503
    assert requests.get(srv.url + "/v2/health/live", timeout=(1, 5)).status_code == 200
    last = None
    for i in range(5):
        last = time.monotonic()
        r = requests.post(srv.url + "/v1/models/xgboost-iris:predict", json={"instances": rows},
                          timeout=(1, 5))
        assert r.status_code == 200, r.content[:200]
        assert_same_predictions(r.json()["predictions"], expected)
        time.sleep(0.25)
    # probes during the drain do not keep it alive
    for _ in range(3):
        requests.get(srv.url + "/v2/health/ready", timeout=(1, 5))
        time.sleep(0.1)
    try:
        rc = srv.proc.wait(timeout=8 * SLOW)
    except subprocess.TimeoutExpired:
        rc = "still running"
    quiet = time.monotonic() - last
    assert rc == 0, "exit status %r\n%s" % (rc, srv.describe())
    assert 1.8 <= quiet <= 2 + 3 * SLOW, "exited %.2fs after the last request" % quiet
    err = srv.stderr_text()
    assert "SIGTERM: draining" in err and not any(m in err for m in SANITIZER_MARKERS), err[-2000:]
