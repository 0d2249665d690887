"""Helpers from kserve.utils.utils that custom models and examples use."""
import os
import uuid
from typing import Dict, List, Union

import numpy as np

from ..errors import InvalidInput
from ..protocol.infer_type import InferOutput, InferRequest, InferResponse
from .numpy_codec import from_np_dtype


def generate_uuid() -> str:
    return str(uuid.uuid4())


def strtobool(val: str) -> bool:
    """distutils' strtobool, as KServe's flags use it: 1/0 also for booleans."""
    if isinstance(val, bool):
        return val
    v = str(val).lower()
    if v in ("y", "yes", "t", "true", "on", "1"):
        return True
    if v in ("n", "no", "f", "false", "off", "0"):
        return False
    raise ValueError(f"invalid truth value {val!r}")


def cpu_count() -> int:
    """CPUs this process may use (its affinity mask, else os.cpu_count())."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def is_running_in_k8s() -> bool:
    return os.path.isdir("/var/run/secrets/kubernetes.io/")


def get_current_k8s_namespace() -> str:
    with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "r") as f:
        return f.readline()


def get_default_target_namespace() -> str:
    if not is_running_in_k8s():
        return "default"
    return get_current_k8s_namespace()


def set_isvc_namespace(inferenceservice) -> str:
    namespace = inferenceservice.metadata.namespace
    return namespace or get_default_target_namespace()


def is_structured_cloudevent(body: Dict) -> bool:
    """True for a structured-mode CloudEvent (the keys the spec requires plus data)."""
    return (
        isinstance(body, dict)
        and "time" in body
        and "type" in body
        and "source" in body
        and "id" in body
        and "specversion" in body
        and "data" in body
    )


def get_predict_input(payload: Union[Dict, InferRequest], columns: List = None):
    """The model's input as KServe's servers see it: for V1 a numpy array of the instances (a
    DataFrame when they are records), for V2 the first input as numpy (every input as a
    DataFrame with `"content_type": "pd"`)."""
    if isinstance(payload, dict):
        instances = payload["inputs"] if "inputs" in payload else payload.get("instances")
        if instances is None:
            raise InvalidInput('Expected "instances" or "inputs" in the request')
        if len(instances) == 0:
            return np.array(instances)
        if isinstance(instances[0], dict):
            import pandas as pd

            return pd.DataFrame(instances, columns=columns) if columns else pd.DataFrame(instances)
        return np.array(instances)
    if isinstance(payload, InferRequest):
        content_type = ""
        if payload.parameters:
            content_type = str(payload.parameters.get("content_type", ""))
        if content_type == "pd":
            return payload.as_dataframe()
        first = payload.inputs[0]
        if isinstance(first.data, np.ndarray):
            return first.data
        return first.as_numpy()
    raise InvalidInput(f"unsupported payload type {type(payload).__name__}")


def get_predict_response(payload: Union[Dict, InferRequest], result, model_name: str) -> Union[Dict, InferResponse]:
    """Wrap a prediction the way the request came: {"predictions": [...]} for V1, an
    InferResponse (one output "output-0", or one per DataFrame column) for V2."""
    if isinstance(payload, dict):
        outputs = result
        try:
            import pandas as pd

            if isinstance(result, pd.DataFrame):
                outputs = [row.to_dict() for _, row in result.iterrows()]
        except ImportError:  # pragma: no cover - pandas is a dependency
            pass
        if isinstance(outputs, np.ndarray):
            outputs = outputs.tolist()
        return {"predictions": outputs}
    outputs = []
    try:
        import pandas as pd

        is_df = isinstance(result, pd.DataFrame)
    except ImportError:  # pragma: no cover
        is_df = False
    if is_df:
        for col in result.columns:
            arr = result[col].to_numpy()
            outputs.append(InferOutput(name=str(col), shape=list(arr.shape), datatype=from_np_dtype(arr.dtype),
                                       data=arr.tolist()))
    else:
        arr = np.asarray(result)
        outputs.append(InferOutput(name="output-0", shape=list(arr.shape), datatype=from_np_dtype(arr.dtype),
                                   data=arr.flatten().tolist()))
    return InferResponse(model_name=model_name, infer_outputs=outputs,
                         response_id=payload.id if payload.id else generate_uuid())


def to_headers(context) -> Dict[str, str]:
    """gRPC metadata to a header dict (kept for API compatibility)."""
    metadata = getattr(context, "invocation_metadata", lambda: [])()
    return {k: v for k, v in metadata}
