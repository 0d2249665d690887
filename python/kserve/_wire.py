"""JSON text in and out of the shim: numpy arrays and scalars, bytes and the V2 objects
serialise the way a client expects (KServe's servers answer with orjson, numpy-aware)."""
import base64
import json
import math

import numpy as np


def _default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (bytes, bytearray, memoryview)):
        b = bytes(o)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(b).decode("ascii")
    to_rest = getattr(o, "to_rest", None)
    if callable(to_rest):
        return to_rest()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    try:  # pandas objects
        import pandas as pd

        if isinstance(o, pd.DataFrame):
            return o.to_dict(orient="records")
        if isinstance(o, pd.Series):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _finite(o):
    """NaN and infinities are not JSON: null, as orjson writes them."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v) for v in o]
    return o


def dumps(obj) -> str:
    try:
        return json.dumps(obj, default=_default, separators=(",", ":"), allow_nan=False)
    except ValueError:
        # a NaN or infinity somewhere: convert everything to plain values first, then drop them
        plain = json.loads(json.dumps(obj, default=_default, allow_nan=True))
        return json.dumps(_finite(plain), separators=(",", ":"), allow_nan=False)


def loads(text):
    return json.loads(text)
