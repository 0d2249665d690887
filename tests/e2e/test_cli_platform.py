"""End-to-end tests of the kubectl-like command line against a real `kserve up`.

One daemon per module runs in a fresh KSERVE_HOME with a free loopback
ingress port; the tests drive it only through `kserve apply|get|describe|
delete|wait|logs` (and one prediction through the ingress) and check what a
user sees: kubectl's lines, tables, YAML/JSON, exit statuses and errors that
say what and where.  Every wait is bounded; teardown stops the daemon with
SIGTERM and checks that no replica process is left behind.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"
TRAIN = os.path.join(REPO, "tests", "tools", "train_models.py")

# sanitizer builds start replicas more slowly
READY_TIMEOUT = float(os.environ.get("KSERVE_E2E_PLATFORM_TIMEOUT", "90"))
CLI_TIMEOUT = 60
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

SEED_YAML = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: sklearn-iris
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      storageUri: file://{model_dir}
"""

RUNTIME_YAML = """\
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: my-sklearn
spec:
  supportedModelFormats:
  - name: sklearn
    version: "1"
    autoSelect: false
  protocolVersions: [v1, v2]
  containers:
  - name: kserve-container
    command: [kserve, model-server]
    args: ["--model_name={{{{.Name}}}}", "--model_dir=/mnt/models", "--http_port=8080"]
{extra}"""


def kserve_bin():
    # absolute: some tests run the CLI from another working directory
    return os.path.join(REPO, os.environ.get("KSERVE_BIN") or os.path.join("build", "kserve"))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def run_cli(home, *args, stdin=None, timeout=CLI_TIMEOUT, cwd=None):
    env = dict(os.environ)
    env["KSERVE_HOME"] = home
    p = subprocess.run([kserve_bin(), *args], input=stdin, capture_output=True, text=True, env=env,
                       timeout=timeout, cwd=cwd)
    for marker in SANITIZER_MARKERS:
        assert marker not in p.stderr, p.stderr
    return p


def table(text):
    """Rows of a kubectl table: the header's column starts cut every line."""
    lines = [l for l in text.splitlines() if l.strip()]
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    names = header.split()
    rows = []
    for line in lines[1:]:
        cells = {}
        for i, name in enumerate(names):
            end = starts[i + 1] if i + 1 < len(starts) else len(line)
            cells[name] = line[starts[i]:end].strip()
        rows.append(cells)
    return names, rows


def proc_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def procs_mentioning(text):
    """pids of live processes whose command line mentions text."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and proc_alive(int(d)):
            found.append((int(d), cmd))
    return found


class Platform:
    def __init__(self, root):
        self.root = root
        self.home = os.path.join(root, "home")
        self.models = os.path.join(root, "models")
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(root, "up.log")
        self.replica_pids = set()

    def start(self):
        os.makedirs(self.home)
        subprocess.run([PYTHON, TRAIN, self.models, "sklearn-iris"], check=True, timeout=300,
                       capture_output=True)
        env = dict(os.environ)
        env["KSERVE_HOME"] = self.home
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([kserve_bin(), "up", "--home", self.home, "--ingress-port", str(self.port),
                                      "--ingress-host", "127.0.0.1"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "kserve up exited:\n" + self.daemon_log()
            if os.path.exists(os.path.join(self.home, "api.sock")):
                if self.cli("get", "isvc").returncode == 0:
                    return
            time.sleep(0.1)
        raise AssertionError("kserve up did not answer within 30 s:\n" + self.daemon_log())

    def daemon_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def cli(self, *args, **kw):
        return run_cli(self.home, *args, **kw)

    def remember_replicas(self):
        p = self.cli("get", "isvc", "-A", "-o", "json")
        if p.returncode == 0:
            for item in json.loads(p.stdout)["items"]:
                for r in item.get("status", {}).get("replicas", []):
                    if r.get("pid"):
                        self.replica_pids.add(r["pid"])

    def stop(self):
        if self.proc is None:
            return
        self.remember_replicas()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
                raise AssertionError("kserve up did not stop within 30 s of SIGTERM")
        self.log.close()
        # no replica outlives the daemon (bounded wait: replicas drain on SIGTERM)
        deadline = time.monotonic() + 15
        left = []
        while time.monotonic() < deadline:
            left = [p for p in self.replica_pids if proc_alive(p)] + procs_mentioning(self.root)
            if not left:
                break
            time.sleep(0.1)
        for pid in [p if isinstance(p, int) else p[0] for p in left]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert not left, f"processes left after the daemon stopped: {left}"
        log = self.daemon_log()
        for marker in SANITIZER_MARKERS:
            assert marker not in log, log


@pytest.fixture(scope="module")
def platform():
    if not os.path.exists(kserve_bin()):
        pytest.skip("build/kserve is not built")
    root = tempfile.mkdtemp(prefix="kscli-")
    p = Platform(root)
    try:
        p.start()
        yield p
    finally:
        p.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def seed(platform):
    """The seed's sklearn-iris, applied and Ready."""
    path = os.path.join(platform.root, "sklearn-iris.yaml")
    with open(path, "w") as f:
        f.write(SEED_YAML.format(model_dir=os.path.join(platform.models, "sklearn-iris")))
    p = platform.cli("apply", "-f", path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "inferenceservice.serving.kserve.io/sklearn-iris created\n"
    p = platform.cli("wait", "isvc", "sklearn-iris", "--for=condition=Ready", f"--timeout={int(READY_TIMEOUT)}s",
                     timeout=READY_TIMEOUT + 30)
    assert p.returncode == 0, p.stderr + platform.cli("describe", "isvc", "sklearn-iris").stdout
    assert p.stdout == "inferenceservice.serving.kserve.io/sklearn-iris condition met\n"
    platform.remember_replicas()
    return path


# ---- without a daemon ------------------------------------------------------------------------


def test_daemon_not_running_says_where_it_looked(tmp_path):
    home = tmp_path / "nohome"
    home.mkdir()
    want = (f'error: cannot reach the kserve daemon at {home}/api.sock: is "kserve up" running? '
            "(set KSERVE_HOME to its state directory)\n")
    for args in (["get", "isvc"], ["describe", "isvc", "x"], ["delete", "isvc", "x"],
                 ["wait", "isvc", "x", "--for=condition=Ready", "--timeout=1s"], ["logs", "isvc", "x"]):
        p = run_cli(str(home), *args)
        assert p.returncode == 1, args
        assert p.stderr == want, args


def test_daemon_not_running_relative_home_is_shown_absolute(tmp_path):
    (tmp_path / ".kserve").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "KSERVE_HOME"}
    p = subprocess.run([kserve_bin(), "get", "isvc"], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=CLI_TIMEOUT)
    assert p.returncode == 1
    assert f"at {tmp_path}/.kserve/api.sock:" in p.stderr


def test_apply_without_daemon_validates_first(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: x\n"
                   "spec:\n  predictor:\n    model:\n      modelFormat: {name: sklearn}\n      storgeUri: s3://b/m\n")
    p = run_cli(str(tmp_path), "apply", "-f", str(bad))
    assert p.returncode == 1
    assert f"{bad}:9:7: spec.predictor.model.storgeUri: unknown field" in p.stderr
    assert "cannot reach" not in p.stderr  # nothing was sent


def test_usage_errors_exit_2(tmp_path):
    for args in (["get"], ["get", "isvc", "-o", "xml"], ["get", "pods"], ["wait", "isvc", "x"],
                 ["wait", "isvc", "x", "--for=condition=Ready", "--timeout=30"], ["apply"], ["delete", "isvc"],
                 ["logs", "isvc", "x", "--tail", "many"], ["get", "isvc", "--bogus"], ["describe", "isvc"]):
        p = run_cli(str(tmp_path), *args)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith("error: "), (args, p.stderr)
    p = run_cli(str(tmp_path), "get", "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: kserve get")


# ---- the seed, end to end -----------------------------------------------------------------------


def test_apply_again_is_unchanged(platform, seed):
    p = platform.cli("apply", "-f", seed)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "inferenceservice.serving.kserve.io/sklearn-iris unchanged\n"
    # from stdin, the same
    with open(seed) as f:
        p = platform.cli("apply", "-f", "-", stdin=f.read())
    assert p.stdout == "inferenceservice.serving.kserve.io/sklearn-iris unchanged\n"


def test_predict_through_the_ingress(platform, seed):
    r = requests.post(f"http://127.0.0.1:{platform.port}/v1/models/sklearn-iris:predict",
                      headers={"Host": "sklearn-iris.default.example.com"},
                      json={"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}, timeout=(3, 15))
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [1, 1]}


def test_get_isvc_table(platform, seed):
    p = platform.cli("get", "isvc")
    assert p.returncode == 0, p.stderr
    names, rows = table(p.stdout)
    assert names == ["NAME", "URL", "READY", "PREV", "LATEST", "PREVROLLEDOUTREVISION", "LATESTREADYREVISION", "AGE"]
    assert len(rows) == 1
    row = rows[0]
    assert row["NAME"] == "sklearn-iris"
    assert row["URL"] == "http://sklearn-iris.default.example.com"
    assert row["READY"] == "True"
    assert row["PREV"] == ""
    assert row["LATEST"] == "100"
    assert row["PREVROLLEDOUTREVISION"] == ""
    assert row["LATESTREADYREVISION"] == "sklearn-iris-predictor-00001"
    assert re.fullmatch(r"\d+s|\d+m(\d+s)?", row["AGE"]), row["AGE"]
    # columns are padded like kubectl's: each starts where its header does, 3 spaces apart at least
    header = p.stdout.splitlines()[0]
    assert header.startswith("NAME           URL ")
    assert "   READY   PREV   LATEST   PREVROLLEDOUTREVISION   LATESTREADYREVISION   " in header


def test_get_by_name_and_type_slash_name(platform, seed):
    a = platform.cli("get", "isvc", "sklearn-iris")
    b = platform.cli("get", "inferenceservice/sklearn-iris")
    c = platform.cli("get", "inferenceservices.serving.kserve.io", "sklearn-iris")
    assert a.returncode == b.returncode == c.returncode == 0
    assert a.stdout.splitlines()[1].split()[0] == "sklearn-iris"
    assert b.stdout.splitlines()[0] == a.stdout.splitlines()[0]
    assert c.stdout.splitlines()[0] == a.stdout.splitlines()[0]


def test_get_all_namespaces_and_wide(platform, seed):
    p = platform.cli("get", "isvc", "-A")
    names, rows = table(p.stdout)
    assert names[0] == "NAMESPACE" and names[1] == "NAME"
    assert {"NAMESPACE": "default", "NAME": "sklearn-iris"}.items() <= rows[0].items()
    p = platform.cli("get", "isvc", "-o", "wide")
    names, rows = table(p.stdout)
    assert "LATESTCREATEDREVISION" in names and "REPLICAS" in names
    assert rows[0]["LATESTCREATEDREVISION"] == "sklearn-iris-predictor-00001"
    assert rows[0]["REPLICAS"] == "1/1"


def test_get_output_name(platform, seed):
    p = platform.cli("get", "isvc", "-o", "name")
    assert p.stdout == "inferenceservice.serving.kserve.io/sklearn-iris\n"


def test_get_output_json(platform, seed):
    p = platform.cli("get", "isvc", "sklearn-iris", "-o", "json")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith('{\n    "apiVersion"')  # indented by 4, as kubectl
    obj = json.loads(p.stdout)
    assert obj["kind"] == "InferenceService"
    assert obj["metadata"]["name"] == "sklearn-iris"
    assert obj["metadata"]["namespace"] == "default"
    conds = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conds["Ready"] == "True"
    p = platform.cli("get", "isvc", "-o", "json")
    lst = json.loads(p.stdout)
    assert lst["kind"] == "List" and lst["apiVersion"] == "v1"
    assert [i["metadata"]["name"] for i in lst["items"]] == ["sklearn-iris"]


def test_get_output_yaml(platform, seed):
    yaml = pytest.importorskip("yaml")
    p = platform.cli("get", "isvc", "sklearn-iris", "-o", "yaml")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n")
    assert "{" not in p.stdout.split("status:")[0]  # block style
    obj = yaml.safe_load(p.stdout)
    as_json = json.loads(platform.cli("get", "isvc", "sklearn-iris", "-o", "json").stdout)
    # the same object (resourceVersion may move between the two reads)
    assert obj["spec"] == as_json["spec"]
    assert obj["metadata"]["creationTimestamp"] == as_json["metadata"]["creationTimestamp"]
    assert isinstance(obj["metadata"]["creationTimestamp"], str)  # quoted, not a YAML timestamp
    assert {c["type"]: c["status"] for c in obj["status"]["conditions"]}["Ready"] == "True"  # "True" stays a string
    p = platform.cli("get", "isvc", "-o", "yaml")
    lst = yaml.safe_load(p.stdout)
    assert lst["kind"] == "List" and len(lst["items"]) == 1


def test_get_revisions(platform, seed):
    for word in ("revisions", "revision", "rev"):
        p = platform.cli("get", word)
        assert p.returncode == 0, p.stderr
        names, rows = table(p.stdout)
        assert names == ["NAME", "ISVC", "GENERATION", "READY", "REASON", "ACTUAL-REPLICAS", "DESIRED-REPLICAS",
                         "AGE"]
        assert rows[0]["NAME"] == "sklearn-iris-predictor-00001"
        assert rows[0]["ISVC"] == "sklearn-iris"
        assert rows[0]["GENERATION"] == "1"
        assert rows[0]["READY"] == "True"
        assert rows[0]["ACTUAL-REPLICAS"] == "1"
        assert rows[0]["DESIRED-REPLICAS"] == "1"


def test_get_cluster_serving_runtimes(platform, seed):
    p = platform.cli("get", "clusterservingruntimes")
    assert p.returncode == 0, p.stderr
    names, rows = table(p.stdout)
    assert names == ["NAME", "DISABLED", "MODELTYPE", "CONTAINERS", "AGE"]
    by_name = {r["NAME"]: r for r in rows}
    assert by_name["kserve-sklearnserver"]["MODELTYPE"] == "sklearn"
    assert by_name["kserve-sklearnserver"]["CONTAINERS"] == "kserve-container"


def test_describe_isvc(platform, seed):
    p = platform.cli("describe", "isvc", "sklearn-iris")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.startswith("Name:         sklearn-iris\nNamespace:    default\nLabels:       <none>\n")
    assert "API Version:  serving.kserve.io/v1beta1\nKind:         InferenceService\n" in out
    assert "Metadata:\n  Creation Timestamp:  " in out
    assert "Spec:\n  predictor:\n    model:\n      modelFormat:\n        name: sklearn\n" in out
    assert "  URL:                  http://sklearn-iris.default.example.com\n" in out
    assert re.search(r"^    Type\s+Status\s+Reason\s+Last Transition Time\s+Message$", out, re.M)
    assert re.search(r"^    Ready\s+True\s+\d{4}-\d\d-\d\dT", out, re.M)
    assert re.search(r"^      sklearn-iris-predictor-00001\s+100%\s+true$", out, re.M)  # traffic
    assert re.search(r"^  sklearn-iris-predictor-00001\s+True\s+1/1\s+\S+$", out, re.M)  # revisions
    assert re.search(r"^  sklearn-iris-predictor-00001-\S+\s+sklearn-iris-predictor-00001\s+\d+\s+\d+\s+Ready\s+0$",
                     out, re.M)  # replicas
    assert "Transition Status:   UpToDate" in out
    assert re.search(r"^  Normal\s+RevisionCreated\s+\S+\s+created revision sklearn-iris-predictor-00001", out, re.M)


def test_describe_not_found(platform, seed):
    p = platform.cli("describe", "isvc", "nope")
    assert p.returncode == 1
    assert p.stderr == 'Error from server (NotFound): inferenceservices.serving.kserve.io "nope" not found\n'


def test_logs(platform, seed):
    p = platform.cli("logs", "isvc", "sklearn-iris")
    assert p.returncode == 0, p.stderr
    assert "ready on 127.0.0.1:" in p.stdout
    assert not p.stdout.startswith("[")  # one replica: raw lines
    p = platform.cli("logs", "isvc", "sklearn-iris", "--tail", "1", "--prefix")
    lines = p.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("[sklearn-iris-predictor-00001-")


def test_logs_follow_sees_new_lines_and_replicas_and_ends_on_sigint(platform, seed):
    logdir = os.path.join(platform.home, "logs", "default", "sklearn-iris-predictor-00001")
    env = dict(os.environ, KSERVE_HOME=platform.home)
    out_path = os.path.join(platform.root, "follow.out")
    extra = os.path.join(logdir, "sklearn-iris-predictor-00001-test.log")
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([kserve_bin(), "logs", "isvc", "sklearn-iris", "-f", "--tail", "0"], stdout=out,
                                stderr=subprocess.PIPE, env=env)
        try:
            time.sleep(0.5)
            with open(extra, "w") as f:  # a replica that starts later
                f.write("line from a new replica\n")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with open(out_path) as f:
                    if "line from a new replica" in f.read():
                        break
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            os.unlink(extra)
    assert rc == 0, proc.stderr.read()
    with open(out_path) as f:
        text = f.read()
    assert "[sklearn-iris-predictor-00001-test] line from a new replica\n" in text


def test_wait_times_out(platform, seed):
    t0 = time.monotonic()
    p = platform.cli("wait", "isvc", "sklearn-iris", "--for=condition=Ready=False", "--timeout=500ms")
    assert p.returncode == 1
    assert p.stderr == "error: timed out waiting for the condition on inferenceservices/sklearn-iris\n"
    assert time.monotonic() - t0 < 10


def test_get_empty_namespace(platform, seed):
    p = platform.cli("get", "isvc", "-n", "nothing-here")
    assert p.returncode == 0
    assert p.stdout == ""
    assert p.stderr == "No resources found in nothing-here namespace.\n"


def test_get_not_found(platform, seed):
    p = platform.cli("get", "isvc", "nope")
    assert p.returncode == 1
    assert p.stderr == 'Error from server (NotFound): inferenceservices.serving.kserve.io "nope" not found\n'


def test_serving_runtime_created_unchanged_configured_deleted(platform, seed):
    path = os.path.join(platform.root, "runtime.yaml")
    with open(path, "w") as f:
        f.write(RUNTIME_YAML.format(extra=""))
    p = platform.cli("apply", "-f", path, "-n", "team-a")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "servingruntime.serving.kserve.io/my-sklearn created\n"
    p = platform.cli("apply", "-f", path, "-n", "team-a")
    assert p.stdout == "servingruntime.serving.kserve.io/my-sklearn unchanged\n"
    with open(path, "w") as f:
        f.write(RUNTIME_YAML.format(extra="  disabled: true\n"))
    p = platform.cli("apply", "-f", path, "-n", "team-a")
    assert p.stdout == "servingruntime.serving.kserve.io/my-sklearn configured\n"
    p = platform.cli("get", "servingruntimes", "-n", "team-a")
    names, rows = table(p.stdout)
    assert names == ["NAME", "DISABLED", "MODELTYPE", "CONTAINERS", "AGE"]
    assert rows == [{"NAME": "my-sklearn", "DISABLED": "true", "MODELTYPE": "sklearn",
                     "CONTAINERS": "kserve-container", "AGE": rows[0]["AGE"]}]
    p = platform.cli("get", "servingruntimes")  # not in default
    assert p.stderr == "No resources found in default namespace.\n"
    p = platform.cli("delete", "-f", path, "-n", "team-a")
    assert p.returncode == 0, p.stderr
    assert p.stdout == 'servingruntime.serving.kserve.io "my-sklearn" deleted\n'
    p = platform.cli("delete", "servingruntime", "my-sklearn", "-n", "team-a")
    assert p.returncode == 1
    assert p.stderr == 'Error from server (NotFound): servingruntimes.serving.kserve.io "my-sklearn" not found\n'


def test_namespace_flag_conflicts_with_the_document(platform, seed):
    path = os.path.join(platform.root, "ns.yaml")
    with open(path, "w") as f:
        f.write(SEED_YAML.replace("  name: sklearn-iris\n", "  name: other\n  namespace: ns1\n")
                .format(model_dir="/nonexistent"))
    p = platform.cli("apply", "-f", path, "-n", "ns2")
    assert p.returncode == 1
    assert f"{path}:5:3: metadata.namespace:" in p.stderr
    assert "--namespace=ns1" in p.stderr
    assert platform.cli("get", "isvc", "-A", "-o", "name").stdout == "inferenceservice.serving.kserve.io/sklearn-iris\n"


BAD_DOCS = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: good-one
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: file:///nonexistent
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: Bad_Name
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      storgeUri: file:///x
    minReplicas: 3
    maxReplicas: 1
"""


def test_bad_files_apply_nothing_and_say_where(platform, seed):
    bad = os.path.join(platform.root, "bad.yaml")
    with open(bad, "w") as f:
        f.write(BAD_DOCS)
    syntax = os.path.join(platform.root, "syntax.yaml")
    with open(syntax, "w") as f:
        f.write("apiVersion: v1\nkind: [unclosed\n")
    good = os.path.join(platform.root, "good.yaml")
    with open(good, "w") as f:
        f.write(BAD_DOCS.split("---\n")[0].replace("good-one", "also-good"))
    p = platform.cli("apply", "-f", good, "-f", bad, "-f", syntax)
    assert p.returncode == 1
    assert p.stdout == ""
    errors = [l for l in p.stderr.splitlines() if not l.startswith("error: nothing was applied")]
    assert len(errors) >= 4, p.stderr
    for line in errors:
        assert re.match(r"^(%s|%s):\d+:\d+: " % (re.escape(bad), re.escape(syntax)), line), line
    assert f"{bad}:14:9: metadata.name:" in p.stderr or f"{bad}:14:" in p.stderr
    assert f"{bad}:20:7: spec.predictor.model.storgeUri: unknown field (did you mean storageUri?)" in p.stderr
    assert f"{bad}:21:5: spec.predictor.minReplicas:" in p.stderr
    assert f"{syntax}:" in p.stderr
    # nothing was applied, not even the good documents
    p = platform.cli("get", "isvc", "-A", "-o", "name")
    assert p.stdout == "inferenceservice.serving.kserve.io/sklearn-iris\n"
    # a missing file
    p = platform.cli("apply", "-f", os.path.join(platform.root, "missing.yaml"))
    assert p.returncode == 1
    assert "missing.yaml" in p.stderr and "does not exist" in p.stderr


def test_delete_then_wait_for_delete(platform, seed):
    """Runs last among the seed's tests (pytest keeps file order)."""
    platform.remember_replicas()
    p = platform.cli("delete", "isvc", "sklearn-iris")
    assert p.returncode == 0, p.stderr
    assert p.stdout == 'inferenceservice.serving.kserve.io "sklearn-iris" deleted\n'
    p = platform.cli("wait", "isvc", "sklearn-iris", "--for=delete", "--timeout=30s")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "inferenceservice.serving.kserve.io/sklearn-iris condition met\n"
    p = platform.cli("get", "isvc", "sklearn-iris")
    assert p.returncode == 1
    assert p.stderr == 'Error from server (NotFound): inferenceservices.serving.kserve.io "sklearn-iris" not found\n'
    p = platform.cli("delete", "-f", seed)
    assert p.returncode == 1
    assert p.stderr == ('Error from server (NotFound): error when deleting "%s": '
                        'inferenceservices.serving.kserve.io "sklearn-iris" not found\n' % seed)
    p = platform.cli("get", "isvc")
    assert p.returncode == 0
    assert p.stderr == "No resources found in default namespace.\n"
    # the replicas stop once nothing routes to them (bounded)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(proc_alive(pid) for pid in platform.replica_pids):
        time.sleep(0.1)
    assert not [pid for pid in platform.replica_pids if proc_alive(pid)]
