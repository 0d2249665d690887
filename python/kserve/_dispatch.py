"""The request path on the Python side, independent of the C library: JSON text of a V1 or V2
request in, (HTTP status, JSON text) out, through the model's preprocess/predict/postprocess run
on one asyncio event loop, as KServe's Python server runs them.

The C server (libkserve-sdk.so, see _sdk.py) has already routed the request, checked that the
body is a JSON object of the right shape, and answers health, metadata and metrics itself.
"""
import asyncio
import concurrent.futures
import threading
import traceback
from http import HTTPStatus
from typing import Dict, Optional, Tuple

from . import _wire as _json
from .errors import InvalidInput, ModelNotReady, message_of, status_of
from .logging import logger
from .model import ModelType
from .protocol.infer_type import InferRequest, InferResponse

V1 = 1  # KS_SDK_V1: POST /v1/models/{name}:predict
V2 = 2  # KS_SDK_V2: POST /v2/models/{name}/infer


class EventLoopThread:
    """One asyncio event loop on its own thread: every request's coroutine runs there (a plain
    handler blocks it, as in KServe's server), and its default executor runs blocking work."""

    def __init__(self, max_workers: Optional[int] = None):
        self.loop = asyncio.new_event_loop()
        if max_workers:
            self.loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=max_workers))
        self._thread = threading.Thread(target=self._run, name="kserve-asyncio", daemon=True)
        self._thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro):
        """Runs coro on the loop and waits for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self, timeout: float = 10.0):
        if self.loop.is_closed():
            return

        async def _shutdown():
            await self.loop.shutdown_default_executor()

        try:
            asyncio.run_coroutine_threadsafe(_shutdown(), self.loop).result(timeout)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


class LoopRunner:
    """Runs coroutines on an event loop that runs on another thread (the ModelServer's)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


def error_body(message: str) -> str:
    return _json.dumps({"error": message})


class Dispatcher:
    """Turns one request into a call of model(payload, headers=...) and its answer into JSON."""

    def __init__(self, model, loop):  # anything with run(coro): LoopRunner, EventLoopThread
        self.model = model
        self.loop = loop

    def handle(self, protocol: int, body: str, headers: Optional[Dict[str, str]] = None,
               verb: ModelType = ModelType.PREDICTOR) -> Tuple[int, str]:
        """(status, JSON text) for a request body of the given protocol (V1 or V2)."""
        headers = dict(headers) if headers else {}
        try:
            return int(HTTPStatus.OK), self._handle(protocol, body, headers, verb)
        except Exception as e:  # noqa: BLE001 - every failure becomes {"error": ...}
            status = status_of(e)
            if status >= 500:
                logger.error("model %s: %s (request id %s)\n%s", getattr(self.model, "name", "?"), message_of(e),
                             headers.get("x-request-id", "-"), traceback.format_exc().rstrip())
            return status, error_body(message_of(e))

    def _handle(self, protocol: int, body: str, headers: Dict[str, str], verb: ModelType) -> str:
        model = self.model
        try:
            parsed = _json.loads(body)
        except ValueError as e:
            raise InvalidInput(f"Unrecognized request format: {e}")
        if not getattr(model, "ready", False):
            raise ModelNotReady(model.name)
        if protocol == V2:
            payload = InferRequest.from_rest(model.name, parsed)
        else:
            payload = parsed
        result = self.loop.run(model(payload, model_type=verb, headers=headers))
        return self.encode(result, payload, protocol)

    def encode(self, result, payload, protocol: int) -> str:
        """The JSON answer for what the pipeline returned: an InferResponse as a V2 response (its
        id and model name filled from the request when unset), anything else as JSON."""
        if isinstance(result, InferResponse):
            doc = result.to_rest()
            if doc.get("id") is None:
                doc["id"] = payload.id if isinstance(payload, InferRequest) and payload.id else _new_id()
            if doc.get("model_name") is None:
                doc["model_name"] = self.model.name
            return _json.dumps(doc)
        if isinstance(result, InferRequest):  # a transformer's preprocess result answered as such
            return _json.dumps(result.to_rest())
        if isinstance(result, (bytes, bytearray)):
            text = bytes(result).decode("utf-8")
            _json.loads(text)  # must already be JSON
            return text
        return _json.dumps(result)


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())
