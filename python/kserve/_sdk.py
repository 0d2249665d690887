"""ctypes binding of the C SDK (include/ks/sdk.h, build/libkserve-sdk.so): the HTTP server
the Python package runs on.

The library serves KServe's V1 and V2 REST protocols itself (routes, body checks, health,
metadata, metrics, graceful stop) and calls one JSON-text callback, `predict`, for the body of
POST /v1/models/{name}:predict and POST /v2/models/{name}/infer; that callback runs the whole
Python pipeline (preprocess -> predict -> postprocess, see _dispatch.py). The library's own
transformer forwarding is not used: the Python default predict calls the predictor, so that
preprocess and postprocess see the same Python objects and headers dict as in KServe.
"""
import ctypes
import os
import threading
from typing import Callable, Dict, Optional, Tuple

from . import _wire as _json

LIB_ENV = "KSERVE_SDK_LIB"
LIB_NAME = "libkserve-sdk.so"

# int (*)(void *user, char *err, size_t errlen)
LOAD_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
# int (*)(void *user, const ks_sdk_request_t *r, const char *json_in, size_t len,
#         char **json_out, int *status, char *err, size_t errlen)
JSON_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int), ctypes.c_void_p,
                           ctypes.c_size_t)


class JsonOps(ctypes.Structure):
    """ks_sdk_json_ops_t."""
    _fields_ = [("load", LOAD_CB), ("preprocess", JSON_CB), ("predict", JSON_CB), ("postprocess", JSON_CB)]


class SdkError(RuntimeError):
    pass


def library_path() -> str:
    """$KSERVE_SDK_LIB, else build/libkserve-sdk.so of the checkout this package sits in."""
    env = os.environ.get(LIB_ENV)
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "build", LIB_NAME))


_lib = None
_lib_lock = threading.Lock()


def load_library(path: Optional[str] = None):
    """The library, loaded once, with its functions' prototypes declared."""
    global _lib
    with _lib_lock:
        if _lib is not None and path is None:
            return _lib
        path = path or library_path()
        if not os.path.exists(path):
            raise SdkError(f"the C SDK library {path} does not exist: build it with `make build/{LIB_NAME}` "
                           f"in the kserve-c checkout, or point ${LIB_ENV} at it")
        lib = ctypes.CDLL(path)
        c = ctypes
        protos = {
            "ks_sdk_options_new": (c.c_void_p, []),
            "ks_sdk_options_free": (None, [c.c_void_p]),
            "ks_sdk_options_set": (c.c_int, [c.c_void_p, c.c_char_p, c.c_char_p, c.c_void_p, c.c_size_t]),
            "ks_sdk_options_get": (c.c_int, [c.c_void_p, c.c_char_p, c.c_void_p, c.c_size_t]),
            "ks_sdk_request_protocol": (c.c_int, [c.c_void_p]),
            "ks_sdk_request_model_name": (c.c_char_p, [c.c_void_p]),
            "ks_sdk_request_headers_json": (c.c_void_p, [c.c_void_p]),
            "ks_sdk_strndup": (c.c_void_p, [c.c_char_p, c.c_size_t]),
            "ks_sdk_free": (None, [c.c_void_p]),
            "ks_sdk_server_new_json": (c.c_void_p, [c.c_void_p, c.POINTER(JsonOps), c.c_void_p, c.c_void_p,
                                                    c.c_size_t]),
            "ks_sdk_server_start": (c.c_int, [c.c_void_p, c.c_void_p, c.c_size_t]),
            "ks_sdk_server_port": (c.c_int, [c.c_void_p]),
            "ks_sdk_server_stop": (None, [c.c_void_p]),
        }
        for name, (restype, argtypes) in protos.items():
            try:
                fn = getattr(lib, name)
            except AttributeError:
                raise SdkError(f"{path} has no function {name}: it is not the SDK this package was written for")
            fn.restype = restype
            fn.argtypes = argtypes
        if path == library_path():
            _lib = lib
        return lib


def _write_err(err, errlen: int, message: str):
    if not err or errlen <= 0:
        return
    data = message.encode("utf-8", "replace")[: errlen - 1]
    # do not cut a UTF-8 sequence in half
    data = data.decode("utf-8", "ignore").encode("utf-8")
    ctypes.memmove(err, data + b"\0", len(data) + 1)


# handler(protocol, body_text, headers) -> (status, answer_text)
Handler = Callable[[int, str, Dict[str, str]], Tuple[int, str]]


class Server:
    """One SDK server: options set by KServe's flag names, the predict callback, start and stop.

    start() and stop() must run on the same thread."""

    def __init__(self, options: Dict[str, object], handler: Handler, load: Callable[[], None],
                 lib_path: Optional[str] = None):
        self._lib = load_library(lib_path)
        self._handler = handler
        self._load = load
        self._srv = None
        lib = self._lib
        err = ctypes.create_string_buffer(512)
        opts = lib.ks_sdk_options_new()
        if not opts:
            raise MemoryError("ks_sdk_options_new")
        try:
            for name, value in options.items():
                if value is None:
                    continue
                if isinstance(value, bool):
                    value = "true" if value else "false"
                rc = lib.ks_sdk_options_set(opts, name.encode(), str(value).encode(), err, len(err))
                if rc != 0:
                    raise SdkError(err.value.decode("utf-8", "replace") or f"bad option {name}={value!r}")
            # keep the callbacks referenced as long as the server lives
            self._load_cb = LOAD_CB(self._on_load)
            self._predict_cb = JSON_CB(self._on_predict)
            self._ops = JsonOps(load=self._load_cb, predict=self._predict_cb)
            srv = lib.ks_sdk_server_new_json(opts, ctypes.byref(self._ops), None, err, len(err))
            if not srv:
                raise SdkError(err.value.decode("utf-8", "replace") or "ks_sdk_server_new_json failed")
            self._srv = srv
        finally:
            lib.ks_sdk_options_free(opts)

    # ---- callbacks: run on the SDK's threads; never let an exception escape into C -------------
    def _on_load(self, user, err, errlen):
        try:
            self._load()
            return 0
        except BaseException as e:  # noqa: BLE001
            _write_err(err, errlen, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            return 1

    def _on_predict(self, user, req, json_in, length, json_out, status, err, errlen):
        try:
            lib = self._lib
            body = ctypes.string_at(json_in, length).decode("utf-8")
            protocol = lib.ks_sdk_request_protocol(req)
            headers = {}
            hp = lib.ks_sdk_request_headers_json(req)
            if hp:
                try:
                    headers = _json.loads(ctypes.string_at(hp).decode("utf-8", "replace"))
                finally:
                    lib.ks_sdk_free(hp)
            code, text = self._handler(protocol, body, headers)
            if code >= 400:
                try:
                    message = _json.loads(text).get("error", text)
                except (ValueError, AttributeError):
                    message = text
                status[0] = code
                _write_err(err, errlen, str(message))
                return 1
            data = text.encode("utf-8")
            out = lib.ks_sdk_strndup(data, len(data))
            if not out:
                status[0] = 500
                _write_err(err, errlen, "out of memory")
                return 1
            json_out[0] = out
            return 0
        except BaseException as e:  # noqa: BLE001
            try:
                status[0] = 500
                _write_err(err, errlen, f"{type(e).__name__}: {e}")
            except BaseException:  # noqa: BLE001
                pass
            return 1

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self):
        """Starts the workers and runs load (the model's) here; raises SdkError when it fails."""
        err = ctypes.create_string_buffer(512)
        rc = self._lib.ks_sdk_server_start(self._srv, err, len(err))
        if rc != 0:
            srv, self._srv = self._srv, None
            self._lib.ks_sdk_server_stop(srv)
            raise SdkError(err.value.decode("utf-8", "replace") or f"ks_sdk_server_start failed ({rc})")

    @property
    def port(self) -> int:
        return self._lib.ks_sdk_server_port(self._srv)

    def stop(self):
        """Graceful stop: readiness 503, listeners closed, requests in flight finished."""
        srv, self._srv = self._srv, None
        if srv:
            self._lib.ks_sdk_server_stop(srv)
