"""Command line of `kserve model-server`: bad flags exit 2, bad model dirs exit 1,
both with a message on stderr; good flag spellings start a working server."""
import os
import shutil

import numpy as np
import pytest

from conftest import (assert_same_predictions, free_port, run_cli, sample_rows,
                      v2_request)


def base_args(models_dir, model="sklearn-iris"):
    return ["model-server", "--model_name", model, "--model_dir",
            os.path.join(models_dir, model), "--http_port", str(free_port()),
            "--grpc_port", str(free_port())]


def test_help(models_dir):
    rc, out, err = run_cli(["model-server", "--help"], timeout=10)
    assert rc == 0, (rc, out, err)
    text = (out + err).lower()
    assert "usage" in text, out + err
    assert "--model_dir" in out + err and "--http_port" in out + err


# (extra args appended to a valid command line, flag the message must name)
BAD_FLAGS = [
    (["--bogus_flag", "1"], "bogus_flag"),
    (["--bogus_flag=1"], "bogus_flag"),
    (["--http_port", "abc"], "http_port"),
    (["--http_port=abc"], "http_port"),
    (["--http_port", "8080abc"], "http_port"),
    (["--http_port", ""], "http_port"),
    (["--http_port", "70000"], "http_port"),
    (["--http_port", "-1"], "http_port"),
    (["--workers", "0"], "workers"),
    (["--workers", "-3"], "workers"),
    (["--workers=abc"], "workers"),
    (["--workers", "1.5"], "workers"),
    (["--nthread", "abc"], "nthread"),
    (["--max_body_size", "abc"], "max_body_size"),
    (["--grpc_port", "abc"], "grpc_port"),
    (["--protocol", "v3"], "protocol"),
    (["--http_port"], "http_port"),          # missing value, last on the line
    (["--model_name"], "model_name"),        # missing value, last on the line
    (["--workers"], "workers"),              # missing value, last on the line
]


@pytest.mark.parametrize("extra,flag", BAD_FLAGS,
                         ids=[" ".join(e) or "empty" for e, _ in BAD_FLAGS])
def test_bad_flag_exits_2(models_dir, extra, flag):
    rc, out, err = run_cli(base_args(models_dir) + extra, timeout=5)
    assert rc is not None, "server kept running with bad flag %r (should exit 2)" % extra
    assert rc == 2, "exit status %r, expected 2; stderr=%r" % (rc, err[-500:])
    assert flag in err, "stderr should name %r: %r" % (flag, err[-500:])


def test_bad_flag_before_subcommand_args(models_dir):
    """A bad value is reported even when it comes before the other flags."""
    rc, out, err = run_cli(["model-server", "--workers", "0"] + base_args(models_dir)[1:],
                           timeout=5)
    assert rc == 2, (rc, err[-500:])
    assert "workers" in err


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _make_bad_dir(kind, models_dir, tmp):
    """Returns the model_dir to pass (files set up inside tmp)."""
    d = os.path.join(tmp, kind)
    if kind == "missing":
        return os.path.join(tmp, "does-not-exist")
    os.makedirs(d)
    garbage = bytes(np.random.RandomState(3).randint(0, 256, 4096, dtype=np.uint8))
    src = lambda m, f: os.path.join(models_dir, m, f)  # noqa: E731
    if kind == "empty":
        pass
    elif kind == "no-model-file":
        _write(os.path.join(d, "README.txt"), b"not a model\n")
        _write(os.path.join(d, "model.txt"), b"not a model either\n")
    elif kind == "ambiguous-bst-joblib":
        shutil.copy(src("xgboost-iris", "model.bst"), os.path.join(d, "model.bst"))
        shutil.copy(src("sklearn-iris", "model.joblib"), os.path.join(d, "model.joblib"))
    elif kind == "ambiguous-json-ubj":
        shutil.copy(src("xgboost-iris-json", "model.json"), os.path.join(d, "model.json"))
        shutil.copy(src("xgboost-iris-ubj", "model.ubj"), os.path.join(d, "model.ubj"))
    elif kind == "ambiguous-pkl-pickle":
        shutil.copy(src("sklearn-iris-lr", "model.pkl"), os.path.join(d, "model.pkl"))
        shutil.copy(src("sklearn-iris-names", "model.pickle"), os.path.join(d, "model.pickle"))
    elif kind == "corrupt-bst":
        _write(os.path.join(d, "model.bst"), garbage)
    elif kind == "corrupt-json":
        _write(os.path.join(d, "model.json"), b'{"learner": {"not": "a model"')
    elif kind == "json-not-a-model":
        _write(os.path.join(d, "model.json"), b'{"hello": "world"}')
    elif kind == "corrupt-ubj":
        _write(os.path.join(d, "model.ubj"), garbage)
    elif kind == "truncated-json":
        data = open(src("xgboost-binary", "model.json"), "rb").read()
        _write(os.path.join(d, "model.json"), data[: len(data) // 2])
    elif kind == "truncated-bst":
        data = open(src("xgboost-iris", "model.bst"), "rb").read()
        _write(os.path.join(d, "model.bst"), data[: len(data) // 2])
    elif kind == "empty-bst":
        _write(os.path.join(d, "model.bst"), b"")
    elif kind == "corrupt-joblib":
        _write(os.path.join(d, "model.joblib"), garbage)
    elif kind == "text-pkl":
        _write(os.path.join(d, "model.pkl"), b"hello, I am not a pickle\n")
    elif kind == "empty-pickle":
        _write(os.path.join(d, "model.pickle"), b"")
    elif kind == "truncated-joblib":
        data = open(src("sklearn-iris", "model.joblib"), "rb").read()
        _write(os.path.join(d, "model.joblib"), data[: len(data) // 2])
    elif kind == "model-file-is-a-directory":
        os.makedirs(os.path.join(d, "model.bst"))
    elif kind == "unreadable":
        shutil.copy(src("xgboost-iris", "model.bst"), os.path.join(d, "model.bst"))
        os.chmod(os.path.join(d, "model.bst"), 0)
    else:
        raise AssertionError(kind)
    return d


BAD_DIRS = ["missing", "empty", "no-model-file", "ambiguous-bst-joblib", "ambiguous-json-ubj",
            "ambiguous-pkl-pickle", "corrupt-bst", "corrupt-json", "json-not-a-model",
            "corrupt-ubj", "truncated-json", "truncated-bst", "empty-bst", "corrupt-joblib",
            "text-pkl", "empty-pickle", "truncated-joblib", "model-file-is-a-directory",
            "unreadable"]


@pytest.mark.parametrize("kind", BAD_DIRS)
def test_bad_model_dir_exits_1(models_dir, tmp_path, kind):
    if kind == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads a mode-000 file; unreadable cannot be made here")
    d = _make_bad_dir(kind, models_dir, str(tmp_path))
    args = ["model-server", "--model_name", "m", "--model_dir", d,
            "--http_port", str(free_port()), "--grpc_port", str(free_port())]
    rc, out, err = run_cli(args, timeout=15)
    assert rc is not None, "server kept running with a bad model dir (%s)" % kind
    assert rc == 1, "exit status %r, expected 1 (negative = killed by a signal); stderr=%r" % (
        rc, err[-800:])
    assert err.strip(), "no message on stderr"
    assert "AddressSanitizer" not in err and "runtime error:" not in err, err[-2000:]


def test_flag_equals_forms_and_options(server, ref):
    """--flag=value spelling, several workers and runtime threads, explicit protocol."""
    srv = server("xgboost-iris", equals=True,
                 args=["--workers=2", "--nthread=2", "--max_body_size=2000000", "--protocol=v2"])
    assert all(a.startswith("--") and "=" in a for a in srv.argv[1:]), srv.argv
    rows = sample_rows("xgboost-iris", 10, seed=5)
    for _ in range(3):
        r = srv.post_json("/v2/models/xgboost-iris/infer", v2_request(rows, "FP32"))
        assert r.status_code == 200, r.content[:300]
        exp = ref.predict("xgboost-iris", np.array(rows, dtype=np.float32))
        assert_same_predictions(r.json()["outputs"][0]["data"], exp.reshape(-1).tolist())


@pytest.mark.parametrize("model", ["sklearn-iris", "xgboost-iris"])
def test_workers_and_nthread(server, ref, model):
    srv = server(model, args=["--workers", "3", "--nthread", "1"])
    rows = sample_rows(model, 6, seed=8)
    for _ in range(6):
        r = srv.post_json("/v1/models/%s:predict" % model, {"instances": rows})
        assert r.status_code == 200, r.content[:300]
        assert_same_predictions(r.json()["predictions"], ref.v1(model, rows))


def test_model_name_differs_from_dir(server, models_dir, ref):
    """The model is served under --model_name, whatever its directory is called."""
    srv = server("sklearn-iris", model_name="my-classifier")
    rows = sample_rows("sklearn-iris", 4)
    r = srv.post_json("/v1/models/my-classifier:predict", {"instances": rows})
    assert r.status_code == 200, r.content[:300]
    assert r.json()["predictions"] == ref.v1("sklearn-iris", rows)
    r = srv.post_json("/v1/models/sklearn-iris:predict", {"instances": rows})
    assert r.status_code == 404
    assert srv.get("/v2/models/my-classifier").json()["name"] == "my-classifier"
