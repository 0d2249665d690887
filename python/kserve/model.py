"""kserve.Model: the class custom models and transformers subclass.

As in KServe (0.11-0.13), a request goes preprocess -> predict (or explain) -> postprocess;
each may be a plain or an `async def` method, with or without the `headers` argument. The
default preprocess passes the payload on (the data of a structured CloudEvent), the default
postprocess returns the result, and the default predict calls the predictor at
`predictor_host` (a transformer) over V1 or V2 REST.
"""
import asyncio
import functools
import inspect
import threading
import time
from enum import Enum
from typing import Dict, List, Optional, Union

from . import _wire as _json
from .errors import InvalidInput, PredictorError, UnsupportedProtocol
from .logging import logger
from .protocol.infer_type import InferRequest, InferResponse
from .utils.utils import is_structured_cloudevent

PREDICTOR_URL_FORMAT = "{0}://{1}/v1/models/{2}:predict"
EXPLAINER_URL_FORMAT = "{0}://{1}/v1/models/{2}:explain"
PREDICTOR_V2_URL_FORMAT = "{0}://{1}/v2/models/{2}/infer"
EXPLAINER_V2_URL_FORMAT = "{0}://{1}/v2/models/{2}/explain"


class ModelType(Enum):
    EXPLAINER = 1
    PREDICTOR = 2


class PredictorProtocol(Enum):
    REST_V1 = "v1"
    REST_V2 = "v2"
    GRPC_V2 = "grpc-v2"


class InferenceVerb(Enum):
    EXPLAIN = 1
    PREDICT = 2


def get_latency_ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 9)


def is_v2(protocol) -> bool:
    value = protocol.value if isinstance(protocol, PredictorProtocol) else protocol
    return value in (PredictorProtocol.REST_V2.value, PredictorProtocol.GRPC_V2.value)


class PredictorConfig:
    """Where a transformer's default predict sends requests (KServe 0.12+)."""

    def __init__(self, predictor_host: str, predictor_protocol: str = PredictorProtocol.REST_V1.value,
                 predictor_use_ssl: bool = False, predictor_request_timeout_seconds: int = 600):
        self.predictor_host = predictor_host
        self.predictor_protocol = predictor_protocol
        self.predictor_use_ssl = predictor_use_ssl
        self.predictor_request_timeout_seconds = predictor_request_timeout_seconds

    @property
    def predictor_base_url(self) -> str:
        scheme = "https" if self.predictor_use_ssl else "http"
        return f"{scheme}://{self.predictor_host}"


@functools.lru_cache(maxsize=1024)
def _positional_params(func):
    """(number of positional parameters, whether it takes *args/**kwargs) of a function."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return 0, True
    n = 0
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            return n, True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n, False


def _takes_headers(method) -> bool:
    """Whether a handler takes a second argument (the headers). Handlers written for older
    KServe (`def preprocess(self, inputs)`) get the payload alone."""
    func = getattr(method, "__func__", None)
    if func is not None:  # a bound method: its first parameter is self
        n, var = _positional_params(func)
        n -= 1
    else:
        try:
            n, var = _positional_params(method)
        except TypeError:  # unhashable callable
            return True
    return var or n >= 2


async def _invoke(method, payload, headers):
    """Call a handler, plain or async, awaiting what it returns when that is awaitable."""
    result = method(payload, headers) if _takes_headers(method) else method(payload)
    if inspect.isawaitable(result):
        result = await result
    return result


class BaseKserveModel:
    """What every model served by ModelServer has (KServe 0.13's BaseKserveModel)."""

    def __init__(self, name: str):
        self.name = name
        self.ready = False

    def load(self) -> bool:
        """Load the model; sets and returns `ready`. Override to load from storage."""
        self.ready = True
        return self.ready

    def start(self):
        """Called once the server starts serving (a no-op here)."""

    def stop(self):
        """Called once the server stops serving (a no-op here)."""

    async def healthy(self) -> bool:
        return self.ready


class Model(BaseKserveModel):
    """KServe's model interface: subclass it and override load/preprocess/predict/postprocess."""

    def __init__(self, name: str, predictor_config: Optional[PredictorConfig] = None):
        super().__init__(name)
        self.protocol = predictor_config.predictor_protocol if predictor_config else PredictorProtocol.REST_V1.value
        self.predictor_host = predictor_config.predictor_host if predictor_config else None
        self.use_ssl = predictor_config.predictor_use_ssl if predictor_config else False
        # KServe's default: requests are not timed out at this level
        self.timeout = predictor_config.predictor_request_timeout_seconds if predictor_config else 600
        self.explainer_host = None
        self.enable_latency_logging = False
        self._sessions = threading.local()

    async def __call__(self, body: Union[Dict, InferRequest], model_type: ModelType = ModelType.PREDICTOR,
                       headers: Dict[str, str] = None, verb: InferenceVerb = None) -> Union[Dict, InferResponse]:
        """preprocess -> validate -> predict (or explain) -> postprocess, timing each."""
        if verb is not None:
            model_type = ModelType.EXPLAINER if verb == InferenceVerb.EXPLAIN else ModelType.PREDICTOR
        request_id = headers.get("x-request-id", "N.A.") if headers else "N.A."
        start = time.time()
        payload = await _invoke(self.preprocess, body, headers)
        preprocess_ms = get_latency_ms(start, time.time())
        payload = self.validate(payload)
        explain_ms = predict_ms = 0
        start = time.time()
        if model_type == ModelType.EXPLAINER:
            response = await _invoke(self.explain, payload, headers)
            explain_ms = get_latency_ms(start, time.time())
        elif model_type == ModelType.PREDICTOR:
            response = await _invoke(self.predict, payload, headers)
            predict_ms = get_latency_ms(start, time.time())
        else:
            raise NotImplementedError
        start = time.time()
        response = await _invoke(self.postprocess, response, headers)
        postprocess_ms = get_latency_ms(start, time.time())
        if self.enable_latency_logging:
            logger.info(f"requestId: {request_id}, preprocess_ms: {preprocess_ms}, explain_ms: {explain_ms}, "
                        f"predict_ms: {predict_ms}, postprocess_ms: {postprocess_ms}")
        return response

    def validate(self, payload):
        if isinstance(payload, InferRequest):
            return payload
        if isinstance(payload, dict):
            if self.protocol == PredictorProtocol.REST_V2.value:
                if "inputs" in payload and not isinstance(payload["inputs"], list):
                    raise InvalidInput('Expected "inputs" to be a list')
            elif self.protocol == PredictorProtocol.REST_V1.value:
                if "instances" in payload and not isinstance(payload["instances"], list):
                    raise InvalidInput('Expected "instances" to be a list')
        return payload

    def get_input_types(self) -> List[Dict]:
        """Override to describe the inputs in V2 model metadata: [{"name", "datatype", "shape"}]."""
        return []

    def get_output_types(self) -> List[Dict]:
        """Override to describe the outputs in V2 model metadata."""
        return []

    async def preprocess(self, payload: Union[Dict, InferRequest], headers: Dict[str, str] = None) \
            -> Union[Dict, InferRequest]:
        """Transform the request before predict; by default the payload itself (the `data` of a
        structured CloudEvent)."""
        if isinstance(payload, dict) and is_structured_cloudevent(payload):
            return payload["data"]
        return payload

    def postprocess(self, result: Union[Dict, InferResponse], headers: Dict[str, str] = None) \
            -> Union[Dict, InferResponse]:
        """Transform the prediction before it is answered; by default the result itself."""
        return result

    async def predict(self, payload: Union[Dict, InferRequest], headers: Dict[str, str] = None) \
            -> Union[Dict, InferResponse]:
        """By default: send the payload to the predictor at `predictor_host` (a transformer)."""
        if not self.predictor_host:
            raise NotImplementedError("Could not find predictor_host.")
        if self.protocol == PredictorProtocol.GRPC_V2.value:
            raise UnsupportedProtocol(self.protocol)
        v2 = self.protocol == PredictorProtocol.REST_V2.value
        url = self._url(PREDICTOR_V2_URL_FORMAT if v2 else PREDICTOR_URL_FORMAT, self.predictor_host)
        res = await self._http_post(url, payload, headers)
        return InferResponse.from_rest(self.name, res) if v2 else res

    async def explain(self, payload: Dict, headers: Dict[str, str] = None) -> Dict:
        """By default: send the payload to the explainer at `explainer_host`."""
        if self.explainer_host is None:
            raise NotImplementedError("Could not find explainer_host.")
        v2 = self.protocol == PredictorProtocol.REST_V2.value
        url = self._url(EXPLAINER_V2_URL_FORMAT if v2 else EXPLAINER_URL_FORMAT, self.explainer_host)
        return await self._http_post(url, payload, headers)

    # ---- the transformer's HTTP client ------------------------------------------------------
    def _url(self, fmt: str, host: str) -> str:
        host = host.rstrip("/")
        for scheme in ("http", "https"):
            if host.startswith(scheme + "://"):
                return fmt.format(scheme, host[len(scheme) + 3:], self.name)
        return fmt.format("https" if self.use_ssl else "http", host, self.name)

    def _session(self):
        s = getattr(self._sessions, "session", None)
        if s is None:
            import requests

            s = requests.Session()
            self._sessions.session = s
        return s

    def _post_blocking(self, url: str, data: str, headers: Dict[str, str]):
        import requests

        try:
            r = self._session().post(url, data=data.encode("utf-8"), headers=headers, timeout=self.timeout)
        except requests.RequestException as e:
            raise PredictorError(f"request to the predictor failed: {e} for url '{url}'")
        if not 200 <= r.status_code < 300:
            message = ""
            try:
                body = r.json()
                message = body.get("error", body) if isinstance(body, dict) else body
            except ValueError:
                message = r.text[:1000]
            raise PredictorError(f"{message}, '{r.status_code} {r.reason}' for url '{url}'", r.status_code)
        try:
            return r.json()
        except ValueError as e:
            raise PredictorError(f"the predictor's answer is not JSON ({e}) for url '{url}'")

    async def _http_post(self, url: str, payload, headers: Dict[str, str] = None):
        out_headers = {"Content-Type": "application/json"}
        if headers:
            for h in ("x-request-id", "x-b3-traceid"):
                if h in headers:
                    out_headers[h] = headers[h]
        if isinstance(payload, InferRequest):
            payload = payload.to_rest()
        data = _json.dumps(payload)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._post_blocking, url, data, out_headers)
