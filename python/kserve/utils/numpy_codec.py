"""V2 datatype names <-> numpy dtypes (KServe's kserve.utils.numpy_codec)."""
import numpy as np

_TO_NP = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}


def to_np_dtype(dtype):
    """The numpy dtype of a V2 datatype name; None for an unknown name."""
    if not isinstance(dtype, str):
        return None
    return _TO_NP.get(dtype.upper())


def from_np_dtype(np_dtype):
    """The V2 datatype name of a numpy dtype; None when V2 has no such type.

    Strings (bytes, str and object arrays) are BYTES."""
    dt = np.dtype(np_dtype)
    if dt == np.bool_:
        return "BOOL"
    if dt.kind in "iu" or dt.kind == "f":
        for name, t in _TO_NP.items():
            if name not in ("BOOL", "BYTES") and dt == np.dtype(t):
                return name
        return None
    if dt == np.object_ or dt.type in (np.bytes_, np.str_):
        return "BYTES"
    return None
