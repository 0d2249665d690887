"""End-to-end tests of `kserve storage-initializer URI CACHE_DIR`.

Each test starts real servers on free loopback ports (storage_servers.py):
plain HTTP, an S3 endpoint that verifies SigV4 signatures, s3rver from npm,
a Cloud Storage JSON API and a Hugging Face Hub API, then runs the binary
(build/kserve, or $KSERVE_BIN) and checks what arrives in the cache, what the
servers were asked, and what a failure leaves behind (nothing).
"""
import hashlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
import zipfile

import pytest

from storage_servers import FakeGCS, FakeHF, FakeS3, FileServer, Route, S3rver

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_TIMEOUT = float(os.environ.get("KSERVE_E2E_STORAGE_TIMEOUT", "60"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")
# variables the initializer reads: the tests set them explicitly, never inherit them
STORAGE_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "S3_ENDPOINT",
               "S3_USE_HTTPS", "S3_VERIFY_SSL", "AWS_CA_BUNDLE", "AWS_DEFAULT_REGION", "AWS_REGION",
               "STORAGE_EMULATOR_HOST", "HF_ENDPOINT", "HF_TOKEN", "KSERVE_STORAGE_STALL_SECONDS",
               "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")


def kserve_bin():
    return os.environ.get("KSERVE_BIN") or os.path.join(REPO, "build", "kserve")


def env_with(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in STORAGE_ENV}
    env.update(extra or {})
    return env


def check_sanitizers(stderr):
    for m in SANITIZER_MARKERS:
        assert m not in stderr, stderr


def run(uri, cache, env=None, timeout=RUN_TIMEOUT, extra_args=()):
    p = subprocess.run([kserve_bin(), "storage-initializer", uri, str(cache), *extra_args], env=env_with(env),
                       capture_output=True, text=True, timeout=timeout)
    check_sanitizers(p.stderr)
    return p


def start(uri, cache, env=None):
    return subprocess.Popen([kserve_bin(), "storage-initializer", uri, str(cache)], env=env_with(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ok(uri, cache, env=None):
    p = run(uri, cache, env)
    assert p.returncode == 0, p.stderr
    out = p.stdout.strip()
    assert out == os.path.join(os.path.realpath(str(cache)), hashlib.sha256(uri.encode()).hexdigest()), out
    return out


def fails(uri, cache, env=None, timeout=RUN_TIMEOUT):
    p = run(uri, cache, env, timeout=timeout)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert p.stderr.startswith("kserve storage-initializer: "), p.stderr
    return p.stderr


def cache_entries(cache):
    return sorted(os.listdir(cache)) if os.path.exists(cache) else []


def tree(root):
    """{relative path: bytes} of every file under root (following symlinks to files)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def tar_gz(members):
    """members: [(name, bytes or None for a dir, kind)]; kind "file", "dir", "symlink"(bytes=target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
        for name, data, kind in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, data.decode()
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    return buf.getvalue()


MODEL = b"xgboost-model-bytes\x00\x01\x02" * 1000
CONFIG = b'{"name": "iris"}'


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def http():
    with FileServer() as s:
        yield s


# --------------------------------------------------------------------------
# the command line

def test_usage_and_bad_uri(cache):
    p = subprocess.run([kserve_bin(), "storage-initializer"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "usage: kserve storage-initializer URI CACHE_DIR" in p.stderr
    p = subprocess.run([kserve_bin(), "storage-initializer", "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "AWS_ENDPOINT_URL" in p.stdout
    for uri, why in [("s3://", "needs a bucket"), ("gs:///x", "needs a bucket"), ("hf://org", "hf://ORG/MODEL"),
                     ("azure://a/b", "unsupported scheme"), ("http://host/", "must name a file")]:
        assert why in fails(uri, cache)
    assert cache_entries(cache) == []


def test_local_directory_and_file(tmp_path, cache):
    d = tmp_path / "models" / "iris"
    d.mkdir(parents=True)
    (d / "model.bst").write_bytes(MODEL)
    for uri in (str(d), "file://" + str(d)):
        p = run(uri, cache)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == str(d)
    uri = "file://" + str(d / "model.bst")
    out = ok(uri, cache)
    assert os.path.islink(os.path.join(out, "model.bst"))
    assert tree(out) == {"model.bst": MODEL}
    assert "No such file" in fails(str(tmp_path / "missing"), cache)


def test_pvc_root(tmp_path, cache):
    root = tmp_path / "pvc"
    (root / "claim" / "models").mkdir(parents=True)
    p = run("pvc://claim/models", cache, extra_args=("--pvc_root", str(root)))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(root / "claim" / "models")


# --------------------------------------------------------------------------
# http(s)://

def test_http_file_once(http, cache):
    http.add("/models/model.bst", Route(MODEL))
    uri = http.url + "/models/model.bst"
    out = ok(uri, cache)
    assert tree(out) == {"model.bst": MODEL}
    # again, from a new process: found in the cache, nothing downloaded
    assert ok(uri, cache) == out
    assert http.requests("/models/model.bst") == 1
    assert cache_entries(cache) == [os.path.basename(out)]


@pytest.mark.parametrize("name", ["model.tar.gz", "model.tgz"])
def test_http_tar_gz_unpacked(http, cache, name):
    http.add("/" + name, Route(tar_gz([("./", None, "dir"), ("./model.bst", MODEL, "file"),
                                       ("meta", None, "dir"), ("meta/config.json", CONFIG, "file"),
                                       ("meta/link.bst", b"../model.bst", "symlink")])))
    out = ok(http.url + "/" + name, cache)
    assert tree(out) == {"model.bst": MODEL, "meta/config.json": CONFIG, "meta/link.bst": MODEL}
    assert not os.path.exists(os.path.join(out, name))  # the archive itself is not kept


def test_http_zip_unpacked(http, cache):
    http.add("/m/model.zip", Route(zip_bytes([("model.bst", MODEL), ("meta/config.json", CONFIG)])))
    out = ok(http.url + "/m/model.zip", cache)
    assert tree(out) == {"model.bst": MODEL, "meta/config.json": CONFIG}


def test_http_archive_with_dotdot_entry_rejected(http, tmp_path, cache):
    cache = tmp_path / "deep" / "cache"
    http.add("/evil.tar.gz", Route(tar_gz([("model.bst", MODEL, "file"), ("../evil", b"pwned", "file"),
                                           ("../../evil", b"pwned", "file")])))
    http.add("/evil.zip", Route(zip_bytes([("model.bst", MODEL), ("../evil", b"pwned")])))
    for name in ("evil.tar.gz", "evil.zip"):
        err = fails(http.url + "/" + name, cache)
        assert '"../evil"' in err and name in err, err
        assert cache_entries(cache) == []
    assert sorted(os.listdir(tmp_path / "deep")) == ["cache"]
    assert not os.path.exists(tmp_path / "evil")


def test_http_archive_with_absolute_entry_rejected(http, cache):
    target = "/tmp/ks-e2e-storage-abs-%s" % uuid.uuid4().hex
    data = tar_gz([("model.bst", MODEL, "file"), (target, b"pwned", "file")])
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert t.getnames()[1] == target  # really absolute in the archive
    http.add("/abs.tar.gz", Route(data))
    err = fails(http.url + "/abs.tar.gz", cache)
    assert "absolute" in err and "abs.tar.gz" in err, err
    assert not os.path.exists(target)
    assert cache_entries(cache) == []


def test_http_archive_with_symlink_outside_rejected(http, cache):
    http.add("/link.tar.gz", Route(tar_gz([("model.bst", MODEL, "file"), ("passwd", b"/etc/passwd", "symlink")])))
    err = fails(http.url + "/link.tar.gz", cache)
    assert '"passwd"' in err and "outside" in err, err
    assert cache_entries(cache) == []


def test_http_404(http, cache):
    uri = http.url + "/missing/model.bst"
    err = fails(uri, cache)
    assert "HTTP 404" in err and uri in err, err
    assert cache_entries(cache) == []


def test_http_connection_closed_mid_body(http, cache):
    http.add("/cut.bst", Route(MODEL, close_after=1000))
    uri = http.url + "/cut.bst"
    err = fails(uri, cache)
    assert uri in err and ("partial" in err.lower() or "closed" in err.lower()), err
    assert cache_entries(cache) == []
    assert http.requests("/cut.bst") == 3  # a dropped connection is retried, a bounded number of times


def test_http_stalled_body_times_out(http, cache):
    http.add("/stall.bst", Route(MODEL, stall_after=100))
    uri = http.url + "/stall.bst"
    t0 = time.monotonic()
    err = fails(uri, cache, env={"KSERVE_STORAGE_STALL_SECONDS": "1"})
    # curl judges the speed over its last few seconds, so a stall after some bytes shows a few seconds late
    assert time.monotonic() - t0 < 15
    assert uri in err and "too slow" in err, err
    assert cache_entries(cache) == []
    assert http.requests("/stall.bst") == 1


def test_http_progress_of_a_long_download(http, cache):
    big = os.urandom(3 << 20)
    http.add("/big.bin", Route(big, trickle=4.5))
    uri = http.url + "/big.bin"
    p = run(uri, cache)
    assert p.returncode == 0, p.stderr
    assert "kserve storage-initializer: %s: " % uri in p.stderr and " of 3.0 MiB" in p.stderr, p.stderr
    assert tree(p.stdout.strip()) == {"big.bin": big}


def test_http_redirect_and_transient_503(http, cache):
    http.add("/old/model.bst", Route(redirect="/new/model.bst"))
    http.add("/new/model.bst", Route(MODEL, fail_first=1))
    out = ok(http.url + "/old/model.bst", cache)
    assert tree(out) == {"model.bst": MODEL}
    assert http.requests("/new/model.bst") == 2


def test_http_redirect_loop_is_bounded(http, cache):
    http.add("/loop/model.bst", Route(redirect="/loop/model.bst"))
    err = fails(http.url + "/loop/model.bst", cache)
    assert "redirects" in err, err
    assert http.requests("/loop/model.bst") < 20


def test_concurrent_runs_download_once(http, cache):
    http.add("/slow/model.bst", Route(MODEL, delay=1.5))
    uri = http.url + "/slow/model.bst"
    procs = [start(uri, cache) for _ in range(3)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=RUN_TIMEOUT)
        check_sanitizers(stderr)
        assert p.returncode == 0, stderr
        outs.append(stdout.strip())
    assert len(set(outs)) == 1
    assert tree(outs[0]) == {"model.bst": MODEL}
    assert http.requests("/slow/model.bst") == 1
    assert cache_entries(cache) == [os.path.basename(outs[0])]


def test_killed_download_is_cleaned_up_by_the_next(http, cache):
    http.add("/k/model.bst", Route(MODEL, stall_after=10))
    uri = http.url + "/k/model.bst"
    p = start(uri, cache)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(".tmp-" in e for e in cache_entries(cache)):
        time.sleep(0.05)
    assert any(".tmp-" in e for e in cache_entries(cache))
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=10)
    http.add("/k/model.bst", Route(MODEL))
    out = ok(uri, cache)
    assert tree(out) == {"model.bst": MODEL}
    assert cache_entries(cache) == [os.path.basename(out)]


# --------------------------------------------------------------------------
# s3:// against an endpoint that checks SigV4 as S3 does

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
S3_OBJECTS = {
    "models/iris/model.bst": MODEL,
    "models/iris/meta/config.json": CONFIG,
    "models/iris/meta/name with spaces+plus.txt": b"spaces",
    "models/iris/meta/": b"",                 # a "directory" marker
    "models/iris2/other.bst": b"not this one",  # shares the prefix, another model
    "models/iris/z-last.txt": b"last",
}


def s3_env(server, **extra):
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ENDPOINT_URL": server.url}
    env.update(extra)
    return env


@pytest.fixture
def s3():
    with FakeS3({"bucket": dict(S3_OBJECTS)}, key=KEY, secret=SECRET) as s:
        yield s


def test_s3_prefix_signed_and_paged(s3, cache):
    uri = "s3://bucket/models/iris"
    out = ok(uri, cache, s3_env(s3))
    assert tree(out) == {"model.bst": MODEL, "meta/config.json": CONFIG, "meta/name with spaces+plus.txt": b"spaces",
                         "z-last.txt": b"last"}
    # 6 keys under "models/iris" at 2 a page: 3 listing requests with continuation tokens, then 4 objects
    assert s3.requests("/bucket") == 3
    assert s3.signed == s3.requests() == 7
    s3.reset_counts()
    assert ok(uri, cache, s3_env(s3)) == out
    assert s3.requests() == 0


def test_s3_single_object_and_trailing_slash(s3, cache):
    out = ok("s3://bucket/models/iris/model.bst", cache, s3_env(s3))
    assert tree(out) == {"model.bst": MODEL}
    out = ok("s3://bucket/models/iris/meta/", cache, s3_env(s3))
    assert tree(out) == {"config.json": CONFIG, "name with spaces+plus.txt": b"spaces"}


def test_s3_wrong_secret_rejected(s3, cache):
    uri = "s3://bucket/models/iris"
    err = fails(uri, cache, s3_env(s3, AWS_SECRET_ACCESS_KEY="not-the-secret"))
    assert "HTTP 403" in err and "SignatureDoesNotMatch" in err and s3.url in err, err
    assert "not-the-secret" not in err
    assert cache_entries(cache) == []


def test_s3_wrong_key_and_region(s3, cache):
    err = fails("s3://bucket/models/iris", cache, s3_env(s3, AWS_ACCESS_KEY_ID="AKIDWRONG"))
    assert "InvalidAccessKeyId" in err, err
    err = fails("s3://bucket/models/iris", cache, s3_env(s3, AWS_DEFAULT_REGION="eu-west-1"))
    assert "AuthorizationHeaderMalformed" in err and "eu-west-1" in err, err
    assert cache_entries(cache) == []


def test_s3_region_and_session_token(cache):
    with FakeS3({"b": {"m/model.bst": MODEL}}, key=KEY, secret=SECRET, region="eu-west-1", token="TOKEN/+=") as s:
        env = s3_env(s, AWS_REGION="eu-west-1", AWS_SESSION_TOKEN="TOKEN/+=")
        assert tree(ok("s3://b/m", cache, env)) == {"model.bst": MODEL}
        err = fails("s3://b/m/", cache, s3_env(s, AWS_REGION="eu-west-1"))
        assert "InvalidToken" in err, err


def test_s3_endpoint_host_port_and_anonymous(cache):
    with FakeS3({"public": {"m/model.bst": MODEL}}, anonymous=True) as s:
        # S3_ENDPOINT as host:port, made http by S3_USE_HTTPS=0; no credentials: unsigned requests
        out = ok("s3://public/m", cache, {"S3_ENDPOINT": "127.0.0.1:%d" % s.port, "S3_USE_HTTPS": "0"})
        assert tree(out) == {"model.bst": MODEL}
        assert s.signed == 0


def test_s3_nothing_under_prefix(s3, cache):
    err = fails("s3://bucket/models/absent", cache, s3_env(s3))
    assert "no objects under s3://bucket/models/absent" in err, err
    err = fails("s3://nobucket/x", cache, s3_env(s3))
    assert "HTTP 404" in err and "NoSuchBucket" in err, err
    assert cache_entries(cache) == []


def test_s3_size_not_as_listed_fails(cache):
    with FakeS3({"b": {"m/a.bst": MODEL, "m/b.bst": MODEL}}, key=KEY, secret=SECRET,
                lie_size={"m/b.bst": len(MODEL) + 5}) as s:
        err = fails("s3://b/m", cache, s3_env(s))
        assert "listing said" in err, err
        assert cache_entries(cache) == []


def test_s3_unsafe_key_rejected(cache):
    with FakeS3({"b": {"m/ok.bst": MODEL, "m/../../escape": b"x"}}, key=KEY, secret=SECRET) as s:
        err = fails("s3://b/m", cache, s3_env(s))
        assert "unsafe name" in err, err
        assert cache_entries(cache) == []


# --------------------------------------------------------------------------
# s3:// against s3rver (npm)

@pytest.fixture(scope="module")
def s3rver(tmp_path_factory):
    prefix = os.environ.get("KSERVE_E2E_NODE_DIR") or os.path.join(REPO, "build", "e2e-node")
    if shutil.which("curl") is None:
        pytest.skip("the curl command (used to upload to s3rver) is not installed")
    try:
        S3rver.install(prefix)
        srv = S3rver(prefix, str(tmp_path_factory.mktemp("s3rver-data"))).start()
    except RuntimeError as e:
        pytest.skip("s3rver unavailable: %s" % e)
    try:
        assert srv.curl("PUT", "/models") == 200
        src = tmp_path_factory.mktemp("s3rver-src")
        for key, data in {"iris/model.bst": MODEL, "iris/meta/config.json": CONFIG}.items():
            f = src / key.replace("/", "_")
            f.write_bytes(data)
            assert srv.curl("PUT", "/models/" + key, data_file=str(f)) == 200
        yield srv
    finally:
        srv.stop()


def s3rver_env(srv, key=S3rver.KEY, secret=S3rver.SECRET):
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_ENDPOINT_URL": srv.url}


def test_s3rver_download_once(s3rver, cache):
    uri = "s3://models/iris"
    out = ok(uri, cache, s3rver_env(s3rver))
    assert tree(out) == {"model.bst": MODEL, "meta/config.json": CONFIG}
    # the second run must not need the server at all
    assert ok(uri, cache, {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}) == out


def test_s3rver_wrong_access_key(s3rver, cache):
    # s3rver 3 checks the access key id but, unlike S3 (and FakeS3 above), not the signature itself
    err = fails("s3://models/iris", cache, s3rver_env(s3rver, key="NOT-S3RVER", secret="wrong"))
    assert "HTTP 403" in err and "InvalidAccessKeyId" in err, err
    assert cache_entries(cache) == []


# --------------------------------------------------------------------------
# gs://

GCS_OBJECTS = {"kfserving-examples": {
    "models/sklearn/1.0/model/model.joblib": MODEL,
    "models/sklearn/1.0/model/sub dir/notes #1.txt": b"notes",
    "models/sklearn/1.0/model/z.txt": b"z",
    "models/sklearn/1.0/model-other/x": b"no",
}}


def test_gcs_prefix_paged_once(cache):
    with FakeGCS(GCS_OBJECTS) as g:
        uri = "gs://kfserving-examples/models/sklearn/1.0/model"
        env = {"STORAGE_EMULATOR_HOST": "127.0.0.1:%d" % g.port}
        out = ok(uri, cache, env)
        assert tree(out) == {"model.joblib": MODEL, "sub dir/notes #1.txt": b"notes", "z.txt": b"z"}
        assert g.requests("/storage/v1/b/kfserving-examples/o") == 2
        g.reset_counts()
        assert ok(uri, cache, {"STORAGE_EMULATOR_HOST": g.url}) == out
        assert g.requests() == 0


def test_gcs_missing(cache):
    with FakeGCS(GCS_OBJECTS) as g:
        err = fails("gs://kfserving-examples/models/none", cache, {"STORAGE_EMULATOR_HOST": g.url})
        assert "no objects under gs://kfserving-examples/models/none" in err, err
        err = fails("gs://no-bucket/m", cache, {"STORAGE_EMULATOR_HOST": g.url})
        assert "HTTP 404" in err and "No such object" in err, err
        assert cache_entries(cache) == []


# --------------------------------------------------------------------------
# hf://

HF_REPOS = {"org/tiny-model": {
    "main": {"config.json": CONFIG, "model.safetensors": MODEL, "tokenizer/vocab.txt": b"a\nb\n"},
    "v1.0": {"config.json": b'{"v": 1}'},
}}


def test_hf_main_and_revision(cache):
    with FakeHF(HF_REPOS) as h:
        env = {"HF_ENDPOINT": h.url}
        out = ok("hf://org/tiny-model", cache, env)
        assert tree(out) == {"config.json": CONFIG, "model.safetensors": MODEL, "tokenizer/vocab.txt": b"a\nb\n"}
        assert h.requests("/api/models/org/tiny-model/revision/main") == 1
        out = ok("hf://org/tiny-model:v1.0", cache, env)
        assert tree(out) == {"config.json": b'{"v": 1}'}
        h.reset_counts()
        ok("hf://org/tiny-model", cache, env)
        assert h.requests() == 0
        err = fails("hf://org/tiny-model:v9", cache, env)
        assert "HTTP 404" in err and "Revision Not Found" in err, err


def test_hf_token(cache):
    with FakeHF(HF_REPOS, token="hf_secret") as h:
        out = ok("hf://org/tiny-model:v1.0", cache, {"HF_ENDPOINT": h.url, "HF_TOKEN": "hf_secret"})
        assert tree(out) == {"config.json": b'{"v": 1}'}
        err = fails("hf://org/tiny-model", cache, {"HF_ENDPOINT": h.url, "HF_TOKEN": "hf_wrong"})
        assert "HTTP 401" in err and "Invalid credentials" in err and "hf_wrong" not in err, err
        assert cache_entries(cache) == [os.path.basename(out)]
