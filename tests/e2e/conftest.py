"""Fixtures and helpers for the end-to-end tests of `kserve model-server`.

The tests start the real binary (build/kserve, or $KSERVE_BIN) on free
loopback ports, talk to it over HTTP like a client would, and compare every
answer with what scikit-learn / xgboost give for the same input in this
process (that is what KServe's sklearnserver / xgbserver return).

Every wait is bounded: HTTP requests carry timeouts, process waits carry
timeouts, and polling loops are bounded by a deadline.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import numpy as np
import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"
TRAIN = os.path.join(REPO, "tests", "tools", "train_models.py")


def kserve_bin():
    return os.path.abspath(os.environ.get("KSERVE_BIN") or os.path.join(REPO, "build", "kserve"))


# Seconds to wait for /v2/health/ready; sanitizer builds start slower.
READY_TIMEOUT = float(os.environ.get("KSERVE_E2E_READY_TIMEOUT", "10"))
# Seconds to wait for the process to exit after SIGTERM.
EXIT_TIMEOUT = float(os.environ.get("KSERVE_E2E_EXIT_TIMEOUT", "10"))
# (connect, read) timeout of every HTTP request.
HTTP_TIMEOUT = (3, 15)
# Body limit the shared servers run with (the 413 case sends more).
SHARED_MAX_BODY = 1000000

# name -> (file name, runtime, number of features)
MODELS = {
    "sklearn-iris": ("model.joblib", "sklearn", 4),
    "sklearn-iris-lr": ("model.pkl", "sklearn", 4),
    "sklearn-iris-names": ("model.pickle", "sklearn", 4),
    "sklearn-diabetes": ("model.joblib", "sklearn", 10),
    "xgboost-iris": ("model.bst", "xgboost", 4),
    "xgboost-iris-json": ("model.json", "xgboost", 4),
    "xgboost-iris-ubj": ("model.ubj", "xgboost", 4),
    "xgboost-binary": ("model.json", "xgboost", 6),
    "xgboost-diabetes": ("model.bst", "xgboost", 10),
}
SKLEARN_MODELS = [m for m in MODELS if MODELS[m][1] == "sklearn"]
XGBOOST_MODELS = [m for m in MODELS if MODELS[m][1] == "xgboost"]

# The seed's example (KServe docs): answers {"predictions": [1, 1]}.
SEED_INSTANCES = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                     "WARNING: ThreadSanitizer")


# --------------------------------------------------------------------------
# sockets and ports

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


# --------------------------------------------------------------------------
# the server process

class ServerStartError(Exception):
    pass


class Server:
    """One running `kserve model-server` process."""

    def __init__(self, proc, port, grpc_port, logdir, argv, model_name):
        self.proc = proc
        self.port = port
        self.grpc_port = grpc_port
        self.url = "http://127.0.0.1:%d" % port
        self.logdir = logdir
        self.argv = argv
        self.model_name = model_name
        self.session = requests.Session()

    # -- process
    def alive(self):
        return self.proc.poll() is None

    def stderr_text(self):
        try:
            with open(os.path.join(self.logdir, "stderr"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout_text(self):
        try:
            with open(os.path.join(self.logdir, "stdout"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def describe(self):
        err = self.stderr_text()
        return "argv=%r rc=%r\n--- stderr (last 3000 chars) ---\n%s" % (
            self.argv, self.proc.poll(), err[-3000:])

    def assert_alive(self):
        assert self.alive(), "server died (rc=%r)\n%s" % (self.proc.poll(), self.describe())

    def terminate(self, timeout=EXIT_TIMEOUT):
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        self.session.close()
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        return self.proc.returncode

    def kill(self):
        self.session.close()
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    # -- HTTP
    def request(self, method, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.session.request(method, self.url + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def post_json(self, path, obj, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        headers.setdefault("Content-Type", "application/json")
        return self.post(path, data=json.dumps(obj).encode(), headers=headers, **kw)

    def post_raw(self, path, body, headers=None, **kw):
        return self.post(path, data=body, headers=headers or {}, **kw)

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Poll GET /v2/health/ready until 200; bounded by `timeout`."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError("server exited before ready\n" + self.describe())
            try:
                r = requests.get(self.url + "/v2/health/ready", timeout=(0.5, 2))
                last = r.status_code
                if r.status_code == 200:
                    return
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        raise ServerStartError("server not ready after %.1fs (last: %s)\n%s"
                               % (timeout, last, self.describe()))


def _server_env(env):
    e = dict(os.environ)
    # keep the server hermetic: no python of another interpreter, no stray flags
    for k in ("PYTHONHOME", "PYTHONPATH", "PREDICT_PROBA"):
        e.pop(k, None)
    if env:
        for k, v in env.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
    return e


def spawn(args, env=None, logdir=None):
    """Start `kserve` with raw args; stdout/stderr go to files in logdir."""
    binary = kserve_bin()
    if not os.path.exists(binary):
        pytest.fail("kserve binary not found at %s (run make, or set KSERVE_BIN)" % binary)
    logdir = logdir or tempfile.mkdtemp(prefix="kserve-e2e-")
    out = open(os.path.join(logdir, "stdout"), "wb")
    err = open(os.path.join(logdir, "stderr"), "wb")
    try:
        proc = subprocess.Popen([binary] + list(args), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, env=_server_env(env),
                                cwd=logdir)
    finally:
        out.close()
        err.close()
    return proc, logdir


def run_cli(args, env=None, timeout=10):
    """Run kserve to completion; returns (rc, stdout, stderr). rc None = still running at timeout."""
    proc, logdir = spawn(args, env=env)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        rc = None
    with open(os.path.join(logdir, "stdout"), "rb") as f:
        out = f.read().decode("utf-8", "replace")
    with open(os.path.join(logdir, "stderr"), "rb") as f:
        err = f.read().decode("utf-8", "replace")
    return rc, out, err


def start_server(models_dir, model="sklearn-iris", model_dir=None, args=(), env=None,
                 wait=True, ready_timeout=READY_TIMEOUT, model_name=None, equals=False):
    """Start a model server on free ports; waits for readiness unless wait=False.

    Retries on a port collision (another process took the port between our
    probe and the server's bind). equals=True spells the flags --flag=value."""
    model_dir = model_dir or os.path.join(models_dir, model)
    model_name = model_name or model
    last = None
    for _ in range(3):
        port, grpc_port = free_port(), free_port()
        flags = [("model_name", model_name), ("model_dir", model_dir),
                 ("http_port", str(port)), ("grpc_port", str(grpc_port))]
        argv = ["model-server"]
        for k, v in flags:
            argv += ["--%s=%s" % (k, v)] if equals else ["--" + k, v]
        argv += list(args)
        proc, logdir = spawn(argv, env=env)
        srv = Server(proc, port, grpc_port, logdir, argv, model_name)
        if not wait:
            return srv
        try:
            srv.wait_ready(ready_timeout)
            return srv
        except ServerStartError as e:
            last = e
            err = srv.stderr_text().lower()
            srv.kill()
            if "in use" in err or "eaddrinuse" in err:
                continue
            break
    raise last


def stop_and_check(srv, expect_exit=0):
    """SIGTERM the server; return a failure message or None."""
    died_before = srv.proc.poll()
    rc = srv.terminate()
    problems = []
    if died_before is not None and expect_exit is not None:
        problems.append("server had already exited (rc=%r) before teardown" % died_before)
    if rc is None:
        problems.append("server did not exit within %.0fs of SIGTERM" % EXIT_TIMEOUT)
    elif expect_exit is not None and rc != expect_exit:
        problems.append("exit status %r after SIGTERM, expected %r" % (rc, expect_exit))
    err = srv.stderr_text()
    for m in SANITIZER_MARKERS:
        if m in err:
            problems.append("sanitizer report in stderr")
            break
    if problems:
        return "%s: %s\n%s" % (srv.model_name, "; ".join(problems), srv.describe())
    return None


# --------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("models"))
    subprocess.run([PYTHON, TRAIN, out], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    return out


@pytest.fixture
def server(models_dir):
    """Factory: server(model=..., args=..., env=..., wait=True, expect_exit=0).

    On teardown every server still running gets SIGTERM and must exit with
    `expect_exit` (None: do not check)."""
    started = []

    def start(model="sklearn-iris", expect_exit=0, **kw):
        srv = start_server(models_dir, model=model, **kw)
        started.append((srv, expect_exit))
        return srv

    yield start
    problems = []
    for srv, expect in started:
        msg = stop_and_check(srv, expect)
        if msg:
            problems.append(msg)
    assert not problems, "\n\n".join(problems)


class SharedServers:
    """Servers kept for the whole session, one per (model, env), started on demand.

    A server found dead is restarted (the test that killed it fails on its own
    liveness check) and the death is reported at session end."""

    def __init__(self, models_dir):
        self.models_dir = models_dir
        self.servers = {}
        self.deaths = []
        self.lock = threading.Lock()

    def get(self, model, proba=False):
        key = (model, proba)
        with self.lock:
            srv = self.servers.get(key)
            if srv is not None and not srv.alive():
                self.deaths.append(srv.describe())
                srv = None
            if srv is None:
                env = {"PREDICT_PROBA": "true"} if proba else None
                srv = start_server(self.models_dir, model=model, env=env,
                                   args=["--max_body_size", str(SHARED_MAX_BODY)])
                self.servers[key] = srv
            return srv

    def close(self):
        problems = ["server died during the session:\n" + d for d in self.deaths]
        for srv in self.servers.values():
            msg = stop_and_check(srv, 0)
            if msg:
                problems.append(msg)
        return problems


@pytest.fixture(scope="session")
def shared(models_dir):
    s = SharedServers(models_dir)
    yield s
    problems = s.close()
    assert not problems, "\n\n".join(problems)


# --------------------------------------------------------------------------
# reference predictions from the Python libraries

class Reference:
    def __init__(self, models_dir):
        self.models_dir = models_dir
        self._cache = {}

    def path(self, name):
        return os.path.join(self.models_dir, name, MODELS[name][0])

    def model(self, name):
        if name not in self._cache:
            if MODELS[name][1] == "sklearn":
                import joblib
                self._cache[name] = joblib.load(self.path(name))
            else:
                import xgboost as xgb
                self._cache[name] = xgb.Booster(model_file=self.path(name))
        return self._cache[name]

    def predict(self, name, x, proba=False):
        """x: numpy array already of the dtype the server is expected to use."""
        m = self.model(name)
        if MODELS[name][1] == "sklearn":
            if proba and hasattr(m, "predict_proba"):
                return m.predict_proba(x)
            return m.predict(x)
        import xgboost as xgb
        return m.predict(xgb.DMatrix(x))

    def v1(self, name, instances, proba=False):
        return self.predict(name, np.array(instances), proba=proba).tolist()


@pytest.fixture(scope="session")
def ref(models_dir):
    return Reference(models_dir)


def sample_rows(name, n=20, seed=0):
    """Deterministic valid input rows (lists of floats) for a model."""
    from sklearn import datasets
    nfeat = MODELS[name][2]
    if "iris" in name:
        data = datasets.load_iris().data
        idx = np.random.RandomState(seed).choice(len(data), size=n, replace=n > len(data))
        return data[idx].tolist()
    if "diabetes" in name:
        data = datasets.load_diabetes().data
        idx = np.random.RandomState(seed).choice(len(data), size=n, replace=n > len(data))
        return data[idx].tolist()
    return np.round(np.random.RandomState(seed).rand(n, nfeat), 4).tolist()


# --------------------------------------------------------------------------
# comparisons

def _flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for e in x:
            out.extend(_flatten(e))
        return out
    return [x]


def _shape(x):
    if isinstance(x, (list, tuple)):
        if not x:
            return (0,)
        return (len(x),) + _shape(x[0])
    return ()


def assert_same_predictions(actual, expected, what="predictions"):
    """Compare JSON-decoded predictions with the library's (a list from .tolist()).

    Integers must come back as JSON integers, strings as strings, floats within
    1e-6 relative."""
    assert _shape(actual) == _shape(expected), "%s shape %r, expected %r\nactual=%r\nexpected=%r" % (
        what, _shape(actual), _shape(expected), actual, expected)
    fa, fe = _flatten(actual), _flatten(expected)
    assert len(fa) == len(fe)
    if fe and isinstance(fe[0], str):
        assert fa == fe, "%s differ: %r vs expected %r" % (what, fa, fe)
    elif fe and isinstance(fe[0], (int, np.integer)) and not isinstance(fe[0], bool):
        assert all(isinstance(a, int) and not isinstance(a, bool) for a in fa), \
            "%s must be JSON integers: %r" % (what, fa)
        assert fa == [int(e) for e in fe], "%s differ: %r vs expected %r" % (what, fa, fe)
    else:
        assert all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in fa), \
            "%s must be numbers: %r" % (what, fa)
        assert np.allclose(np.array(fa, dtype=np.float64), np.array(fe, dtype=np.float64),
                           rtol=1e-6, atol=1e-7), "%s differ:\n%r\nexpected\n%r" % (what, fa, fe)


def assert_json_error(resp, status, contains=None):
    """The response has `status` and a JSON body {"error": "<non-empty message>"}."""
    body = resp.content[:500]
    assert resp.status_code == status, "status %d, expected %d; body=%r" % (
        resp.status_code, status, body)
    try:
        doc = json.loads(resp.content)
    except ValueError:
        raise AssertionError("error body is not JSON: %r" % body)
    assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], \
        "error body must be {\"error\": \"<message>\"}: %r" % body
    if contains is not None:
        assert contains in doc["error"], "error %r should contain %r" % (doc["error"], contains)
    return doc


def v2_request(rows, datatype="FP32", name="input-0", nested=False, **extra):
    arr = np.array(rows)
    data = arr.tolist() if nested else arr.reshape(-1).tolist()
    req = {"inputs": [{"name": name, "shape": list(arr.shape), "datatype": datatype,
                       "data": data}]}
    req.update(extra)
    return req


NP_DTYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}


def check_good_predict(srv, ref, model=None):
    """A known-good V1 request gets the right answer, and the process lives."""
    model = model or srv.model_name
    srv.assert_alive()
    rows = sample_rows(model, 3, seed=99)
    r = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
    assert r.status_code == 200, "good request after a bad one: %d %r" % (r.status_code, r.content[:300])
    assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))
    srv.assert_alive()


# --------------------------------------------------------------------------
# raw HTTP over a socket (for what requests cannot send)

class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-cased names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "RawResponse(%d %s, %r)" % (self.status, self.reason, self.body[:200])


class RawConn:
    """A plain TCP connection to the server with a small HTTP/1.1 response reader."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _read_until(self, marker, limit=1 << 20):
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (marker, limit))
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, skip_1xx=True):
        while True:
            head = self._read_until(b"\r\n\r\n").decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ", 2)
            status = int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = {}
            for ln in lines[1:]:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            if 100 <= status < 200 and skip_1xx:
                continue
            break
        if "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._read_until(b"\r\n").strip().split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n")
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        else:
            body = self.buf
            self.buf = b""
            try:
                while True:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        break
                    body += chunk
            except (socket.timeout, ConnectionResetError):
                pass
        return RawResponse(status, reason, headers, body)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with RST (SO_LINGER 0)."""
        import struct
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()


def http_request_bytes(method, path, body=b"", headers=None, version="HTTP/1.1"):
    h = {"Host": "127.0.0.1"}
    if body is not None:
        h["Content-Length"] = str(len(body))
    h.update(headers or {})
    lines = ["%s %s %s" % (method, path, version)] + ["%s: %s" % kv for kv in h.items() if kv[1] is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
