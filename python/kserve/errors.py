"""KServe's exception classes and the HTTP status each one answers with.

A model raises these from load/preprocess/predict/postprocess; the shim turns
them into `{"error": "..."}` with the status KServe's Python server gives.
"""
from http import HTTPStatus


class ModelMissingError(Exception):
    def __init__(self, path):
        self.path = path

    def __str__(self):
        return self.path


class InferenceError(RuntimeError):
    """The model failed: 500."""

    def __init__(self, reason):
        self.reason = reason

    def __str__(self):
        return self.reason


class InvalidInput(ValueError):
    """The request cannot be served as given: 400."""

    def __init__(self, reason):
        self.reason = reason

    def __str__(self):
        return self.reason


class ModelNotFound(Exception):
    """No model of that name: 404."""

    def __init__(self, model_name=None):
        self.reason = f"Model with name {model_name} does not exist."

    def __str__(self):
        return self.reason


class ModelNotReady(RuntimeError):
    """The model exists but is not loaded: 503."""

    def __init__(self, model_name: str, detail: str = None):
        self.model_name = model_name
        self.error_msg = f"Model with name {self.model_name} is not ready."
        if detail:
            self.error_msg = self.error_msg + " " + detail

    def __str__(self):
        return self.error_msg


class ServerNotReady(RuntimeError):
    """503."""

    def __init__(self, detail: str = None):
        self.error_msg = "Server is not ready."
        if detail:
            self.error_msg = self.error_msg + " " + detail

    def __str__(self):
        return self.error_msg


class ServerNotLive(RuntimeError):
    """503."""

    def __init__(self, detail: str = None):
        self.error_msg = "Server is not live."
        if detail:
            self.error_msg = self.error_msg + " " + detail

    def __str__(self):
        return self.error_msg


class UnsupportedProtocol(Exception):
    """501."""

    def __init__(self, protocol_version=None):
        self.reason = f"Unsupported protocol {protocol_version}."

    def __str__(self):
        return self.reason


class NoModelReady(RuntimeError):
    """503."""

    def __init__(self, models=None, detail: str = None):
        names = ", ".join(getattr(m, "name", str(m)) for m in (models or []))
        self.error_msg = f"Models with name {names} are not ready." if names else "No model is ready."
        if detail:
            self.error_msg = self.error_msg + " " + detail

    def __str__(self):
        return self.error_msg


class PredictorError(RuntimeError):
    """The predictor a transformer forwards to answered with an error (500, as KServe's
    HTTPStatusError handler gives)."""

    def __init__(self, reason, status_code=None):
        self.reason = reason
        self.status_code = status_code

    def __str__(self):
        return self.reason


# exception class -> HTTP status, most specific first (KServe's exception handlers)
_STATUS = (
    (InvalidInput, HTTPStatus.BAD_REQUEST),
    (ModelNotFound, HTTPStatus.NOT_FOUND),
    (ModelNotReady, HTTPStatus.SERVICE_UNAVAILABLE),
    (ServerNotReady, HTTPStatus.SERVICE_UNAVAILABLE),
    (ServerNotLive, HTTPStatus.SERVICE_UNAVAILABLE),
    (NoModelReady, HTTPStatus.SERVICE_UNAVAILABLE),
    (UnsupportedProtocol, HTTPStatus.NOT_IMPLEMENTED),
    (NotImplementedError, HTTPStatus.NOT_IMPLEMENTED),
    (InferenceError, HTTPStatus.INTERNAL_SERVER_ERROR),
)


def status_of(exc: BaseException) -> int:
    """The HTTP status KServe answers an exception with (500 for anything unknown).

    An exception with an integer `status_code` attribute between 400 and 599 that is not one of
    KServe's own (fastapi/starlette's HTTPException, for instance) answers with that status."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return int(status)
    code = getattr(exc, "status_code", None)
    if not isinstance(exc, PredictorError) and isinstance(code, int) and 400 <= code <= 599:
        return code
    return int(HTTPStatus.INTERNAL_SERVER_ERROR)


def message_of(exc: BaseException) -> str:
    """The text of the `error` field, as KServe gives it (str(exc); the class name when empty)."""
    detail = getattr(exc, "detail", None)  # starlette's HTTPException keeps its text there
    if isinstance(detail, str) and detail:
        return detail
    text = str(exc)
    return text if text else type(exc).__name__
