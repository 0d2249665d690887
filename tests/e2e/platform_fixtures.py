"""Fixtures and helpers for the end-to-end tests of `kserve up` (the platform).

Each test gets its own daemon in a fresh temporary root:

    <root>/home      KSERVE_HOME (store.db, api.sock, replicas.json, logs/, models/)
    <root>/models    copies of the trained models the test uses (file:// URIs point here)
    <root>/up-N.log  the daemon's stdout+stderr (N = 1, 2, ... per daemon started)

so every process the platform starts has <root> in its command line (the daemon
through --home, replicas through --model_dir), and teardown can prove that none
is left behind by scanning /proc.  The API is spoken over the Unix socket with
http.client; predictions go through the ingress on a free loopback port with the
Host header, as a user of KServe would.

Every wait is bounded: socket timeouts on every request, deadlines on every
poll, timeouts on every process wait.
"""
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import kserve_bin

GROUP = "/apis/serving.kserve.io/v1beta1"
KNATIVE = "/apis/serving.knative.dev/v1"
ALPHA = "/apis/serving.kserve.io/v1alpha1"
DOMAIN = "example.com"

# Seconds for apply -> Ready and similar transitions (sanitizer builds are slower).
PLATFORM_TIMEOUT = float(os.environ.get("KSERVE_E2E_PLATFORM_READY", "30"))
# Seconds the daemon may take to exit after SIGTERM (it stops every replica first).
DAEMON_EXIT_TIMEOUT = float(os.environ.get("KSERVE_E2E_PLATFORM_EXIT", "15"))
# Seconds for replica processes to disappear after they were told to stop.
PROC_GONE_TIMEOUT = float(os.environ.get("KSERVE_E2E_PLATFORM_GONE", "15"))
# (connect, read) timeout of every request to the ingress.
INGRESS_TIMEOUT = (2, 10)
API_TIMEOUT = 10

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                     "WARNING: ThreadSanitizer")


# --------------------------------------------------------------------------
# small utilities

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def proc_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def procs_mentioning(text):
    """{pid: cmdline} of live (non-zombie) processes whose command line contains text."""
    found = {}
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        cmd = proc_cmdline(int(d))
        if text in cmd and proc_alive(int(d)):
            found[int(d)] = cmd
    return found


def wait_until(fn, timeout, what, interval=0.05, info=None):
    """Call fn() until it returns a true value (returned); AssertionError after timeout.

    info() (optional) gives text for the failure message."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
        except (OSError, http.client.HTTPException, requests.RequestException, ValueError) as e:
            v, last = None, repr(e)
        if v:
            return v
        if time.monotonic() >= deadline:
            extra = info() if info is not None else ""
            raise AssertionError("timed out after %.1fs waiting for %s%s\n%s" % (
                timeout, what, " (last error: %s)" % last if last else "", extra))
        time.sleep(interval)


def condition(obj, ctype):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return {}


def is_ready(obj):
    return condition(obj, "Ready").get("status") == "True"


def predictor_status(obj):
    return ((obj.get("status") or {}).get("components") or {}).get("predictor") or {}


def replicas_of(obj, revision=None):
    reps = (obj.get("status") or {}).get("replicas") or []
    if revision is not None:
        reps = [r for r in reps if r.get("revision") == revision]
    return reps


def isvc_body(name, uri, fmt="sklearn", old_form=False, namespace=None, **predictor_extra):
    if old_form:
        predictor = {fmt: {"storageUri": uri}}
    else:
        predictor = {"model": {"modelFormat": {"name": fmt}, "storageUri": uri}}
    predictor.update(predictor_extra)
    meta = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": meta, "spec": {"predictor": predictor}}


# --------------------------------------------------------------------------
# the API over the Unix socket

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=API_TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


class ApiResponse:
    def __init__(self, method, path, status, body):
        self.method = method
        self.path = path
        self.status = status
        self.body = body

    # the names of requests' Response, so conftest's assert_json_error takes either
    @property
    def status_code(self):
        return self.status

    @property
    def content(self):
        return self.body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "%s %s -> %d %s" % (self.method, self.path, self.status,
                                   self.body[:1500].decode(errors="replace"))


class Api:
    def __init__(self, sock_path):
        self.sock_path = sock_path

    def request(self, method, path, obj=None, raw=None, timeout=API_TIMEOUT):
        body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else None)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn = UnixHTTPConnection(self.sock_path, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return ApiResponse(method, path, resp.status, resp.read())
        finally:
            conn.close()

    # paths
    @staticmethod
    def isvc_path(ns="default", name=None):
        p = "%s/namespaces/%s/inferenceservices" % (GROUP, ns)
        return p + "/" + name if name else p

    @staticmethod
    def revisions_path(ns="default", name=None):
        p = "%s/namespaces/%s/revisions" % (KNATIVE, ns)
        return p + "/" + name if name else p

    # verbs
    def create(self, obj, ns="default"):
        return self.request("POST", self.isvc_path(ns), obj)

    def replace(self, obj, ns="default"):
        return self.request("PUT", self.isvc_path(ns, obj["metadata"]["name"]), obj)

    def get(self, name, ns="default"):
        return self.request("GET", self.isvc_path(ns, name))

    def delete(self, name, ns="default"):
        return self.request("DELETE", self.isvc_path(ns, name))

    def events(self, name, ns="default"):
        return self.request("GET", self.isvc_path(ns, name) + "/events")

    def revision_names(self, ns="default", isvc=None):
        r = self.request("GET", self.revisions_path(ns))
        assert r.status == 200, r
        names = []
        for item in r.json().get("items", []):
            labels = item.get("metadata", {}).get("labels") or {}
            if isvc is None or labels.get("serving.kserve.io/inferenceservice") == isvc:
                names.append(item["metadata"]["name"])
        return sorted(names)


# --------------------------------------------------------------------------
# the daemon

class Daemon:
    def __init__(self, plat, index):
        self.plat = plat
        self.log_path = os.path.join(plat.root, "up-%d.log" % index)
        self.proc = None
        self.rc = None

    def start(self, extra_args=()):
        env = dict(os.environ)
        env["KSERVE_HOME"] = self.plat.home
        for k in ("PYTHONHOME", "PYTHONPATH", "PREDICT_PROBA"):
            env.pop(k, None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [kserve_bin(), "up", "--home", self.plat.home, "--ingress-port", str(self.plat.port),
                 *extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=self.plat.root, start_new_session=True)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail=6000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-tail:]
        except OSError:
            return ""

    def wait_api(self, timeout=PLATFORM_TIMEOUT):
        api = self.plat.api

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("kserve up exited with %r before its API answered:\n%s"
                                     % (self.proc.returncode, self.log()))
            return api.request("GET", "/healthz", timeout=2).status == 200
        wait_until(up, timeout, "the daemon's API on %s" % api.sock_path, info=self.log)

    def terminate(self, timeout=DAEMON_EXIT_TIMEOUT):
        """SIGTERM and wait; returns (rc, seconds). rc None: still running after timeout (then SIGKILLed)."""
        if self.proc.poll() is not None:
            return self.proc.returncode, 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None, time.monotonic() - t0
        return self.proc.returncode, time.monotonic() - t0

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


# --------------------------------------------------------------------------
# one platform per test

class Platform:
    def __init__(self, trained_models):
        self.trained = trained_models
        self.root = os.path.realpath(tempfile.mkdtemp(prefix="ksplat-"))
        self.home = os.path.join(self.root, "home")
        self.models = os.path.join(self.root, "models")
        os.makedirs(self.home)
        os.makedirs(self.models)
        self.port = free_port()
        self.api = Api(os.path.join(self.home, "api.sock"))
        self.daemons = []
        self.session = requests.Session()
        self.seen_pids = set()

    # -- daemons
    @property
    def daemon(self):
        return self.daemons[-1]

    def start_daemon(self, extra_args=()):
        for attempt in range(3):
            d = Daemon(self, len(self.daemons) + 1)
            self.daemons.append(d)
            d.start(extra_args)
            try:
                d.wait_api()
                return d
            except AssertionError:
                if d.proc.poll() is not None and "in use" in d.log().lower() and attempt < 2:
                    self.port = free_port()
                    continue
                raise
        raise AssertionError("unreachable")

    def log(self):
        return "\n".join("--- daemon %d (pid %s) log ---\n%s" % (i + 1, d.proc.pid if d.proc else "?", d.log(4000))
                         for i, d in enumerate(self.daemons))

    # -- models
    def model_dir(self, name, copy_as=None):
        """A private copy of a trained model directory (so replica command lines name <root>)."""
        dst = os.path.join(self.models, copy_as or name)
        if not os.path.isdir(dst):
            shutil.copytree(os.path.join(self.trained, name), dst)
        return dst

    def bad_model_dir(self, name="bad-sklearn", filename="model.joblib",
                      content=b"this is not a joblib file\n"):
        d = os.path.join(self.models, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, filename), "wb") as f:
            f.write(content)
        return d

    def uri(self, name):
        return "file://" + self.model_dir(name)

    # -- API helpers
    def get(self, name, ns="default"):
        r = self.api.get(name, ns)
        assert r.status == 200, r
        return r.json()

    def apply(self, obj, ns="default"):
        r = self.api.create(obj, ns)
        assert r.status == 201, "%r\n%s" % (r, self.log())
        return r.json()

    def replace(self, obj, ns="default"):
        r = self.api.replace(obj, ns)
        assert r.status == 200, "%r\n%s" % (r, self.log())
        return r.json()

    def describe(self, name, ns="default"):
        try:
            r = self.api.get(name, ns)
            st = json.dumps(r.json().get("status"), indent=1) if r.status == 200 else repr(r)
        except Exception as e:  # noqa: BLE001 - diagnostics only
            st = repr(e)
        try:
            ev = self.api.events(name, ns)
            evs = "\n".join("%s %s: %s" % (e.get("type"), e.get("reason"), e.get("message"))
                            for e in ev.json().get("items", [])) if ev.status == 200 else repr(ev)
        except Exception as e:  # noqa: BLE001
            evs = repr(e)
        return "--- isvc %s/%s status ---\n%s\n--- events ---\n%s\n%s" % (ns, name, st, evs, self.log())

    def wait_isvc(self, name, pred, what, ns="default", timeout=PLATFORM_TIMEOUT):
        """Poll the isvc until pred(obj) is true; returns the object."""
        def check():
            r = self.api.get(name, ns)
            if r.status != 200:
                return None
            obj = r.json()
            self.note_pids(obj)
            return obj if pred(obj) else None
        return wait_until(check, timeout, "%s/%s: %s" % (ns, name, what), info=lambda: self.describe(name, ns))

    def wait_ready(self, name, ns="default", timeout=PLATFORM_TIMEOUT):
        return self.wait_isvc(name, is_ready, "condition Ready=True", ns=ns, timeout=timeout)

    def note_pids(self, obj):
        for r in replicas_of(obj):
            if r.get("pid"):
                self.seen_pids.add(r["pid"])

    # -- the ingress
    @staticmethod
    def host(name, ns="default", predictor=False):
        return "%s%s.%s.%s" % (name, "-predictor" if predictor else "", ns, DOMAIN)

    def ingress(self, method, path, host, body=None, session=None, **kw):
        kw.setdefault("timeout", INGRESS_TIMEOUT)
        headers = {"Host": host}
        if body is not None:
            headers["Content-Type"] = "application/json"
            kw["data"] = json.dumps(body).encode()
        return (session or self.session).request(method, "http://127.0.0.1:%d%s" % (self.port, path),
                                                 headers=headers, **kw)

    def predict(self, name, instances, ns="default", host=None, model=None, session=None):
        return self.ingress("POST", "/v1/models/%s:predict" % (model or name), host or self.host(name, ns),
                            {"instances": instances}, session=session)

    def infer_v2(self, name, body, ns="default", host=None, model=None):
        return self.ingress("POST", "/v2/models/%s/infer" % (model or name), host or self.host(name, ns), body)

    def wait_predict_ok(self, name, instances, ns="default", timeout=PLATFORM_TIMEOUT):
        """Poll predictions through the ingress until one answers 200; returns it."""
        last = {}

        def ok():
            r = self.predict(name, instances, ns=ns)
            last["r"] = "%d %r" % (r.status_code, r.content[:300])
            return r if r.status_code == 200 else None
        return wait_until(ok, timeout, "a 200 prediction from %s/%s" % (ns, name),
                          info=lambda: "last answer: %s\n%s" % (last.get("r"), self.describe(name, ns)))

    # -- processes
    def processes(self):
        """{pid: cmdline} of every live process started for this platform (daemon and replicas)."""
        return procs_mentioning(self.root)

    def replica_processes(self):
        return {p: c for p, c in self.processes().items() if " model-server " in c}

    def replica_logs(self):
        """{path: text} of the replicas' logs, logs/<ns>/<revision>/<replica>.log."""
        out = {}
        logs = os.path.join(self.home, "logs")
        for dirpath, _, files in os.walk(logs):
            if os.path.relpath(dirpath, logs).count(os.sep) != 1:
                continue
            for fn in files:
                path = os.path.join(dirpath, fn)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, logs)] = f.read().decode(errors="replace")
        return out

    def wait_gone(self, pids, what, timeout=PROC_GONE_TIMEOUT):
        pids = set(pids)
        wait_until(lambda: not any(proc_alive(p) for p in pids), timeout, what,
                   info=lambda: "still alive: %s\n%s" % (
                       {p: proc_cmdline(p) for p in pids if proc_alive(p)}, self.log()))

    # -- teardown
    def close(self):
        """Stops every daemon, proves that nothing is left; returns a list of problems."""
        problems = []
        self.session.close()
        for i, d in enumerate(self.daemons):
            if d.proc is None or d.proc.poll() is not None:
                continue
            rc, secs = d.terminate()
            if rc is None:
                problems.append("daemon %d did not exit within %.0fs of SIGTERM" % (i + 1, DAEMON_EXIT_TIMEOUT))
            elif rc != 0:
                problems.append("daemon %d exited with %r after SIGTERM" % (i + 1, rc))
        deadline = time.monotonic() + PROC_GONE_TIMEOUT
        left = self.processes()
        left.update({p: proc_cmdline(p) for p in self.seen_pids if proc_alive(p)})
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = self.processes()
            left.update({p: proc_cmdline(p) for p in self.seen_pids if proc_alive(p)})
        if left:
            problems.append("processes left behind after the daemon stopped: %r" % left)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for i, d in enumerate(self.daemons):
            log = d.log(10 ** 7)
            for m in SANITIZER_MARKERS:
                if m in log:
                    problems.append("sanitizer report in daemon %d's log:\n%s" % (i + 1, log[-4000:]))
                    break
        logs = os.path.join(self.home, "logs")
        for dirpath, _, files in os.walk(logs):
            for fn in files:
                try:
                    with open(os.path.join(dirpath, fn), "rb") as f:
                        text = f.read().decode(errors="replace")
                except OSError:
                    continue
                for m in SANITIZER_MARKERS:
                    if m in text:
                        problems.append("sanitizer report in replica log %s:\n%s" % (fn, text[-3000:]))
                        break
        if problems:
            problems.append(self.log())
        else:
            shutil.rmtree(self.root, ignore_errors=True)
        return problems


@pytest.fixture
def platform(models_dir):
    """A running `kserve up` in a fresh home with a free ingress port.

    Teardown: SIGTERM to every daemon still running (must exit 0 in time), then
    no process whose command line names the platform's root may be alive."""
    if not os.path.exists(kserve_bin()):
        pytest.fail("kserve binary not found at %s (run make, or set KSERVE_BIN)" % kserve_bin())
    plat = Platform(models_dir)
    try:
        plat.start_daemon()
        yield plat
    finally:
        problems = plat.close()
    assert not problems, "\n\n".join(problems)


# --------------------------------------------------------------------------
# client traffic during rollouts

class TrafficLoop(threading.Thread):
    """Sends predictions through the ingress one after another until stopped or
    max_seconds passed; records (monotonic time, status, body).  One keep-alive
    connection, or with fresh=True a new connection for every request."""

    def __init__(self, plat, name, instances, ns="default", max_seconds=10.0, fresh=False):
        super().__init__(daemon=True)
        self.fresh = fresh
        self.plat = plat
        self.name_ = name
        self.ns = ns
        self.instances = instances
        self.max_seconds = max_seconds
        self.results = []
        self._stop_ev = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        with requests.Session() as s:
            while not self._stop_ev.is_set() and time.monotonic() < deadline:
                t = time.monotonic()
                if self.fresh:
                    s.close()
                try:
                    r = self.plat.predict(self.name_, self.instances, ns=self.ns, session=s)
                    try:
                        body = r.json()
                    except ValueError:
                        body = r.content[:300]
                    self.results.append((t, r.status_code, body))
                except requests.RequestException as e:
                    self.results.append((t, None, repr(e)))
                time.sleep(0.002)

    def stop(self):
        self._stop_ev.set()
        self.join(timeout=INGRESS_TIMEOUT[1] + 5)
        assert not self.is_alive(), "the client loop did not stop"

    def failures(self):
        return [(round(t, 3), st, body) for t, st, body in self.results if st != 200]


# --------------------------------------------------------------------------
# a plain HTTP model server on loopback that counts what it serves

class CountingFileServer:
    """Serves {path: bytes} on 127.0.0.1:<free port>; counts GETs per path."""

    def __init__(self, files):
        self.files = dict(files)
        self.gets = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, with_body):
                path = self.path.split("?", 1)[0]
                if with_body:
                    with outer.lock:
                        outer.gets[path] = outer.gets.get(path, 0) + 1
                data = outer.files.get(path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if with_body:
                    self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                self._serve(True)

            def do_HEAD(self):  # noqa: N802
                self._serve(False)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def count(self, path):
        with self.lock:
            return self.gets.get(path, 0)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def file_server():
    servers = []

    def start(files):
        s = CountingFileServer(files)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


# --------------------------------------------------------------------------
# autoscaling (tests/e2e/test_autoscaling.py): a daemon started with
# --autoscaler-config (short windows), a stand-in model server whose start and
# answers take as long as a test says, and bounded client load.

# Multiplies the autoscaling tests' bounds (sanitizer builds are slower);
# KSERVE_E2E_TIME_SCALE overrides.  Only bounds scale, never a fixed wait.
TIME_SCALE = float(os.environ.get("KSERVE_E2E_TIME_SCALE") or (3 if "asan" in kserve_bin() else 1))

# Seconds instead of Knative's minutes: stable window 6 s (panic window 1 s),
# scale to zero 6 s after the last replica became idle with the activator in the path.
FAST_AUTOSCALER = {"stable-window": "6s", "scale-to-zero-grace-period": "6s"}


def write_autoscaler_config(directory, settings, name="autoscaler.yaml"):
    """Writes settings ({key: value}) as a YAML map for `kserve up --autoscaler-config`; returns the path."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        for k, v in settings.items():
            f.write("%s: %s\n" % (k, json.dumps(v) if isinstance(v, str) else
                                  ("true" if v is True else "false" if v is False else v)))
    return path


def replica_counts(obj):
    """status.components.predictor.replicaCounts ({} while there is none)."""
    return predictor_status(obj).get("replicaCounts") or {}


def autoscaler_of(obj):
    return predictor_status(obj).get("autoscaler") or {}


class AutoscalingPlatform(Platform):
    """A Platform whose daemons start with --autoscaler-config FILE (FILE in the root)."""

    def __init__(self, trained_models, settings):
        super().__init__(trained_models)
        self.autoscaler_settings = dict(settings)
        self.autoscaler_config = write_autoscaler_config(self.root, settings)
        self.up_args = ["--autoscaler-config", self.autoscaler_config]

    def start_daemon(self, extra_args=()):
        return super().start_daemon([*self.up_args, *extra_args])

    def counts(self, name, ns="default"):
        return replica_counts(self.get(name, ns))

    def revision(self, name, ns="default"):
        r = self.api.request("GET", self.api.revisions_path(ns, name))
        assert r.status == 200, r
        return r.json()

    def cli(self, args, input=None, timeout=30):
        """`kserve ARGS` against this platform's home; the CompletedProcess (text)."""
        env = dict(os.environ)
        env["KSERVE_HOME"] = self.home
        return subprocess.run([kserve_bin(), *args], input=input, capture_output=True, text=True,
                              timeout=timeout * TIME_SCALE, env=env, cwd=self.root)


@pytest.fixture
def autoscaling_platform(models_dir):
    """A factory: start(settings=None, **more) -> AutoscalingPlatform with its daemon up.

    settings (default FAST_AUTOSCALER) plus more (a dict of extra keys, e.g.
    {"activator-queue-depth": 2}) become the --autoscaler-config file.  Teardown
    is the platform fixture's: every daemon exits 0 on SIGTERM, no process is left."""
    if not os.path.exists(kserve_bin()):
        pytest.fail("kserve binary not found at %s (run make, or set KSERVE_BIN)" % kserve_bin())
    made = []

    def start(settings=None, more=None):
        s = dict(FAST_AUTOSCALER if settings is None else settings)
        s.update(more or {})
        plat = AutoscalingPlatform(models_dir, s)
        made.append(plat)
        plat.start_daemon()
        return plat
    try:
        yield start
    finally:
        problems = []
        for plat in made:
            problems.extend(plat.close())
    assert not problems, "\n\n".join(problems)


# A stand-in model server: KServe's flags, V1 predict, /v2/health/ready.  It reads
# MODEL_DIR/control.json once at start, so a test decides how the next replica behaves.
FAKE_MODEL_SERVER = r'''
"""A stand-in model server for the autoscaling tests (written by platform_fixtures.py).

    python3 fake_model_server.py --model_name=NAME --model_dir=DIR --http_port=PORT

DIR/control.json, read once at start: {"start_delay": s, "request_delay": s,
"exit_code": n}.  exit_code: exit at once (a replica that cannot start).
Otherwise it listens at once and /v2/health/ready answers 503 until start_delay
has passed (a cold start as slow as the test wants), then 200.
POST /v1/models/NAME:predict sleeps request_delay and answers
{"predictions": [sum(row) for row in instances]}.  GET /fake/stats:
{"in_flight", "max_in_flight", "requests", "pid"}.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
port = int(args["http_port"])
name = args.get("model_name", "model")
try:
    with open(os.path.join(args.get("model_dir", "."), "control.json")) as f:
        ctl = json.load(f)
except (OSError, ValueError):
    ctl = {}
if ctl.get("exit_code") is not None:
    print("fake model server: exiting with %d as told" % ctl["exit_code"], flush=True)
    sys.exit(int(ctl["exit_code"]))
ready_at = time.monotonic() + float(ctl.get("start_delay", 0))
request_delay = float(ctl.get("request_delay", 0))
lock = threading.Lock()
stats = {"in_flight": 0, "max_in_flight": 0, "requests": 0, "pid": os.getpid()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        if self.path == "/v2/health/ready":
            ok = time.monotonic() >= ready_at
            self.answer(200 if ok else 503, {"ready": ok})
        elif self.path == "/fake/stats":
            with lock:
                self.answer(200, dict(stats))
        else:
            self.answer(200 if self.path in ("/", "/v2/health/live") else 404, {"name": name})

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            stats["in_flight"] += 1
            stats["requests"] += 1
            stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        try:
            if request_delay > 0:
                time.sleep(request_delay)
            try:
                rows = json.loads(body)["instances"]
                self.answer(200, {"predictions": [sum(r) for r in rows]})
            except (ValueError, KeyError, TypeError) as e:
                self.answer(400, {"error": repr(e)})
        finally:
            with lock:
                stats["in_flight"] -= 1

    def log_message(self, *a):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", port), Handler)
print("fake model server %s on port %d (pid %d)" % (name, port, os.getpid()), flush=True)
srv.serve_forever(poll_interval=0.05)
'''


class FakeRuntime:
    """The ServingRuntime "fake-runtime" (modelFormat "fake") running FAKE_MODEL_SERVER.

    model(name, **control) makes <root>/models/<name>/control.json and returns its
    file:// URI; control(name, **control) rewrites it (the next replica to start
    reads it).  The script and the model directories are under the platform's root,
    so teardown finds every replica it ran."""

    PYTHON = "/usr/bin/python3"

    def __init__(self, plat, ns="default"):
        self.plat = plat
        self.script = os.path.join(plat.root, "fake_model_server.py")
        with open(self.script, "w") as f:
            f.write(FAKE_MODEL_SERVER)
        rt = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
              "metadata": {"name": "fake-runtime", "namespace": ns},
              "spec": {"supportedModelFormats": [{"name": "fake", "version": "1", "autoSelect": True}],
                       "containers": [{"name": "kserve-container", "command": [self.PYTHON, self.script],
                                       "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models",
                                                "--http_port=8080"]}]}}
        r = plat.api.request("POST", "%s/namespaces/%s/servingruntimes" % (ALPHA, ns), rt)
        assert r.status == 201, r

    def model(self, name, **control):
        os.makedirs(os.path.join(self.plat.models, name), exist_ok=True)
        self.control(name, **control)
        return "file://" + os.path.join(self.plat.models, name)

    def control(self, name, **control):
        path = os.path.join(self.plat.models, name, "control.json")
        with open(path + ".tmp", "w") as f:
            json.dump(control, f)
        os.replace(path + ".tmp", path)

    @staticmethod
    def stats(port):
        return requests.get("http://127.0.0.1:%d/fake/stats" % port, timeout=5).json()


class LoadGen:
    """Bounded client load through the ingress: `threads` clients, each on its own
    keep-alive connection, POST body (bytes) to path one after another (pause
    seconds between) until stop(), max_seconds or max_requests each.

    Records (start, end, status, ok, detail) per request, times from
    time.monotonic(); ok = check(response) (default: status 200)."""

    def __init__(self, plat, host, path, body, threads=4, max_seconds=10.0, max_requests=1000000,
                 check=None, pause=0.0, timeout=None):
        self.plat = plat
        self.url = "http://127.0.0.1:%d%s" % (plat.port, path)
        self.headers = {"Host": host, "Content-Type": "application/json"}
        self.body = body
        self.nthreads = threads
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.check = check or (lambda r: r.status_code == 200)
        self.pause = pause
        self.timeout = timeout or (INGRESS_TIMEOUT[0], INGRESS_TIMEOUT[1] * TIME_SCALE)
        self.results = []
        self.lock = threading.Lock()
        self._stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        self.started = self.stopped = None

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        mine = []
        with requests.Session() as s:
            for _ in range(self.max_requests):
                if self._stop_ev.is_set() or time.monotonic() >= deadline:
                    break
                t = time.monotonic()
                try:
                    r = s.post(self.url, data=self.body, headers=self.headers, timeout=self.timeout)
                    ok = self.check(r)
                    mine.append((t, time.monotonic(), r.status_code, ok, None if ok else r.content[:300]))
                except requests.RequestException as e:
                    mine.append((t, time.monotonic(), None, False, repr(e)[:300]))
                if self.pause:
                    self._stop_ev.wait(self.pause)
        with self.lock:
            self.results.extend(mine)

    def start(self):
        self.started = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self._stop_ev.set()
        for t in self.threads:
            t.join(timeout=self.timeout[0] + self.timeout[1] + 5)
        assert not any(t.is_alive() for t in self.threads), "a load thread did not stop"
        self.stopped = time.monotonic()
        self.results.sort()
        return self

    def wait(self):
        """Lets the load run its max_seconds, then stops it."""
        for t in self.threads:
            t.join(timeout=self.max_seconds + self.timeout[0] + self.timeout[1] + 5)
        return self.stop()

    def failures(self):
        return [(round(t0 - self.started, 3), st, detail) for t0, _, st, ok, detail in self.results if not ok]


class StatusSampler(threading.Thread):
    """Polls an isvc's status every `interval` s until stopped (at most max_seconds);
    samples are (monotonic time, replicaCounts, autoscaler status, replica pids)."""

    def __init__(self, plat, name, ns="default", interval=0.2, max_seconds=60.0):
        super().__init__(daemon=True)
        self.plat, self.name_, self.ns = plat, name, ns
        self.interval, self.max_seconds = interval, max_seconds
        self.samples = []
        self._stop_ev = threading.Event()

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        while not self._stop_ev.is_set() and time.monotonic() < deadline:
            try:
                r = self.plat.api.get(self.name_, self.ns)
                if r.status == 200:
                    obj = r.json()
                    self.plat.note_pids(obj)
                    self.samples.append((time.monotonic(), replica_counts(obj), autoscaler_of(obj),
                                         sorted(x["pid"] for x in replicas_of(obj) if x.get("pid"))))
            except (OSError, http.client.HTTPException, ValueError):
                pass
            self._stop_ev.wait(self.interval)

    def stop(self):
        self._stop_ev.set()
        self.join(timeout=API_TIMEOUT + 5)
        return self

    def max_ready(self, since=None, until=None):
        vals = [c.get("ready", 0) for t, c, _, _ in self.samples
                if (since is None or t >= since) and (until is None or t <= until)]
        return max(vals) if vals else 0

    def table(self, t0=None):
        t0 = t0 if t0 is not None else (self.samples[0][0] if self.samples else 0)
        return "\n".join("%6.2f %s panic=%s stable=%s" % (t - t0, c, a.get("panic"), a.get("stableAverage"))
                         for t, c, a, _ in self.samples)
