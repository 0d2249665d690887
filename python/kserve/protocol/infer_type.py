"""InferInput, InferOutput, InferRequest and InferResponse: KServe's V2 (Open Inference
Protocol) data model, with the same constructors, properties and methods as KServe's
kserve.protocol.infer_type (0.11-0.13), for REST; gRPC conversions are not provided.
"""
import struct
import uuid
from typing import Dict, List, Optional

import numpy as np

from ..errors import InferenceError, InvalidInput
from ..utils.numpy_codec import from_np_dtype, to_np_dtype


def serialize_byte_tensor(input_tensor: np.ndarray) -> np.ndarray:
    """A BYTES tensor as the binary extension carries it: each element a 4-byte little-endian
    length then its bytes, row-major; returned as a 0-d object array holding those bytes (an
    empty array for an empty tensor), as KServe does."""
    if input_tensor.size == 0:
        return np.empty([0], dtype=np.object_)
    if input_tensor.dtype != np.object_ and input_tensor.dtype.type not in (np.bytes_, np.str_):
        raise InferenceError("cannot serialize bytes tensor: invalid datatype")
    parts = []
    for obj in input_tensor.flatten(order="C"):
        if isinstance(obj, bytes):
            s = obj
        elif isinstance(obj, np.bytes_):
            s = bytes(obj)
        else:
            s = str(obj).encode("utf-8")
        parts.append(struct.pack("<I", len(s)))
        parts.append(s)
    return np.asarray(b"".join(parts), dtype=np.object_)


def deserialize_bytes_tensor(encoded_tensor: bytes) -> np.ndarray:
    """The inverse of serialize_byte_tensor: a flat object array of bytes."""
    out = []
    offset = 0
    n = len(encoded_tensor)
    while offset < n:
        if offset + 4 > n:
            raise InvalidInput("truncated BYTES element length")
        (length,) = struct.unpack_from("<I", encoded_tensor, offset)
        offset += 4
        if offset + length > n:
            raise InvalidInput("BYTES element longer than the data")
        out.append(bytes(encoded_tensor[offset:offset + length]))
        offset += length
    return np.array(out, dtype=np.object_)


def _as_json_list(arr: np.ndarray, datatype: str) -> list:
    """A numpy array as the flat JSON list V2 carries (BYTES elements as UTF-8 text)."""
    flat = arr.flatten(order="C")
    if datatype == "BYTES":
        out = []
        for v in flat:
            if isinstance(v, (bytes, np.bytes_)):
                try:
                    out.append(bytes(v).decode("utf-8"))
                except UnicodeDecodeError:
                    raise InferenceError(
                        f'Failed to encode "{v!r}" using UTF-8. Please use binary_data=True, if'
                        " you want to pass a byte array.")
            else:
                out.append(str(v))
        return out
    return flat.tolist()


def _check_tensor(tensor, datatype: str, shape: List[int]):
    if not isinstance(tensor, np.ndarray):
        raise InferenceError("input_tensor must be a numpy array")
    dtype = from_np_dtype(tensor.dtype)
    if datatype != dtype:
        raise InferenceError(f"got unexpected datatype {dtype} from numpy array, expected {datatype}")
    if list(shape) != list(tensor.shape):
        raise InferenceError("got unexpected numpy array shape [{}], expected [{}]".format(
            str(tensor.shape)[1:-1].rstrip(","), str(list(shape))[1:-1]))


class _Tensor:
    """What InferInput and InferOutput share."""

    def __init__(self, name: str, shape: List[int], datatype: str, data=None, parameters: Optional[Dict] = None):
        self._name = name
        self._shape = shape
        self._datatype = datatype.upper() if isinstance(datatype, str) else datatype
        self._parameters = parameters
        self._data = data
        self._raw_data = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def datatype(self) -> str:
        return self._datatype

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, data):
        self._data = data

    @property
    def shape(self) -> List[int]:
        return self._shape

    @shape.setter
    def shape(self, shape: List[int]):
        self._shape = shape

    @property
    def parameters(self) -> Optional[Dict]:
        return self._parameters

    @parameters.setter
    def parameters(self, params: Optional[Dict]):
        self._parameters = params

    def as_numpy(self) -> np.ndarray:
        """The data as a numpy array of the tensor's datatype and shape (BYTES: an object array
        of what the request carried, str from JSON, bytes from binary data)."""
        dtype = to_np_dtype(self._datatype)
        if dtype is None:
            raise InvalidInput(f"invalid datatype {self._datatype} in the input")
        try:
            if self._raw_data is not None:
                if self._datatype == "BYTES":
                    arr = deserialize_bytes_tensor(self._raw_data)
                else:
                    arr = np.frombuffer(self._raw_data, dtype=dtype)
            else:
                arr = np.array(self._data, dtype=dtype)
            return arr.reshape(self._shape)
        except (ValueError, TypeError, OverflowError) as e:
            raise InvalidInput(f"{type(self).__name__} '{self._name}' ({self._datatype}, shape {self._shape}): {e}")

    def as_string(self) -> List[str]:
        """BYTES data decoded as UTF-8 strings, flat."""
        if self._datatype != "BYTES":
            raise InvalidInput(f"invalid datatype {self._datatype} in the input")
        return [v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v)
                for v in self.as_numpy().flatten()]

    def set_data_from_numpy(self, tensor: np.ndarray, binary_data: bool = True):
        """Set the data from a numpy array of this tensor's datatype and shape. binary_data
        keeps the raw bytes (the binary extension); REST answers written by this package carry
        them as JSON data, which every client reads."""
        _check_tensor(tensor, self._datatype, self._shape)
        if not binary_data:
            if self._parameters:
                self._parameters.pop("binary_data_size", None)
            self._raw_data = None
            self._data = _as_json_list(tensor, self._datatype)
            return
        self._data = None
        if self._datatype == "BYTES":
            ser = serialize_byte_tensor(tensor)
            self._raw_data = ser.item() if ser.size > 0 else b""
        else:
            self._raw_data = np.ascontiguousarray(tensor).tobytes()
        if self._parameters is None:
            self._parameters = {}
        self._parameters["binary_data_size"] = len(self._raw_data)

    def _rest_data(self) -> list:
        """The data for a JSON body (a list), whatever form it is held in."""
        if isinstance(self._data, np.ndarray):
            return _as_json_list(self._data, self._datatype)
        if self._data is None and self._raw_data is not None:
            return _as_json_list(self.as_numpy(), self._datatype)
        if self._data is None:
            raise InvalidInput(f"'data' field is missing for '{self._name}'")
        return self._data

    def _rest_parameters(self) -> Optional[Dict]:
        if not self._parameters:
            return None
        p = {k: v for k, v in self._parameters.items() if k != "binary_data_size"}
        return p or None

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": self.shape, "datatype": self.datatype, "data": self.data,
                "parameters": self.parameters}

    def __eq__(self, other):
        if type(other) is not type(self):
            return False
        if (self.name, list(self.shape), self.datatype, self.parameters) != \
                (other.name, list(other.shape), other.datatype, other.parameters):
            return False
        if self._raw_data != other._raw_data:
            return False
        a, b = self.data, other.data
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.array_equal(np.asarray(a), np.asarray(b))
        return a == b

    def __repr__(self) -> str:
        return (f'"name": "{self.name}","shape": {self.shape},"datatype": "{self.datatype}",'
                f'"data": {self.data},"parameters": {self.parameters}')

    def __str__(self) -> str:
        return self.__repr__()


class InferInput(_Tensor):
    """An input tensor of an inference request."""

    def __init__(self, name: str, shape: List[int], datatype: str, data=None, parameters: Optional[Dict] = None):
        super().__init__(name, shape, datatype, data, parameters)


class InferOutput(_Tensor):
    """An output tensor of an inference response."""

    def __init__(self, name: str, shape: List[int], datatype: str, data=None, parameters: Optional[Dict] = None):
        super().__init__(name, shape, datatype, data, parameters)


class RequestedOutput:
    """An output a client asks for (`outputs` of a V2 request)."""

    def __init__(self, name: str, parameters: Optional[Dict] = None):
        self._name = name
        self._parameters = parameters

    @property
    def name(self) -> str:
        return self._name

    @property
    def parameters(self) -> Optional[Dict]:
        return self._parameters

    @parameters.setter
    def parameters(self, params):
        self._parameters = params

    @property
    def binary_data(self) -> Optional[bool]:
        if self._parameters and "binary_data" in self._parameters:
            return self._parameters["binary_data"]
        return None

    def __eq__(self, other):
        return isinstance(other, RequestedOutput) and (self.name, self.parameters) == (other.name, other.parameters)

    def __repr__(self):
        return f"RequestedOutput(name={self.name}, parameters={self.parameters})"


def _tensor_from_dict(cls, d: Dict, what: str, model_name: str):
    if not isinstance(d, dict):
        raise InvalidInput(f"each of '{what}' must be an object")
    for key in ("name", "shape", "datatype"):
        if key not in d:
            raise InvalidInput(f"'{key}' field is missing for an element of '{what}' for model '{model_name}'")
    name, shape, datatype = d["name"], d["shape"], d["datatype"]
    if not isinstance(name, str):
        raise InvalidInput(f"'name' of an element of '{what}' must be a string")
    if not isinstance(shape, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in shape):
        raise InvalidInput(f"'shape' of '{name}' must be a list of integers")
    if not isinstance(datatype, str) or to_np_dtype(datatype) is None:
        raise InvalidInput(f"invalid datatype {datatype!r} for '{name}'")
    params = d.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise InvalidInput(f"'parameters' of '{name}' must be an object")
    t = cls(name=name, shape=shape, datatype=datatype, parameters=params)
    if "data" in d and d["data"] is not None:
        if not isinstance(d["data"], list):
            raise InvalidInput(f"'data' of '{name}' must be a list")
        t.data = d["data"]
    elif params and "binary_data_size" in params:
        pass  # filled from the binary part by the caller
    else:
        raise InvalidInput(f"'data' field is missing for '{name}' for model '{model_name}'")
    return t


def _jsonable_parameters(params):
    if not params:
        return None
    return dict(params)


class InferRequest:
    """A V2 inference request, as KServe hands it to a model's preprocess/predict."""

    def __init__(self, model_name: str, infer_inputs: List[InferInput], request_id: Optional[str] = None,
                 raw_inputs=None, from_grpc: Optional[bool] = False, parameters: Optional[Dict] = None,
                 request_outputs: Optional[List[RequestedOutput]] = None, model_version: Optional[str] = None):
        self.id = request_id
        self.model_name = model_name
        self.inputs = infer_inputs
        self.parameters = parameters
        self.from_grpc = from_grpc
        self._use_raw_outputs = False
        if raw_inputs:
            self._use_raw_outputs = True
            for i, raw in enumerate(raw_inputs):
                self.inputs[i]._raw_data = raw
        self.request_outputs = request_outputs
        self.model_version = model_version

    @property
    def use_binary_outputs(self) -> bool:
        if self._use_raw_outputs and self.from_grpc:
            return True
        if self.parameters and not self.from_grpc:
            return bool(self.parameters.get("binary_data_output", False))
        return False

    def get_input_by_name(self, name: str) -> Optional[InferInput]:
        for inp in self.inputs:
            if inp.name == name:
                return inp
        return None

    @classmethod
    def _parse(cls, model_name: str, body, binary: bytes = None, pos: int = 0) -> "InferRequest":
        if not isinstance(body, dict):
            raise InvalidInput("Expected a JSON object as the request body")
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise InvalidInput('Expected "inputs" to be a list')
        infer_inputs = [_tensor_from_dict(InferInput, d, "inputs", model_name) for d in inputs]
        for inp in infer_inputs:
            if inp.data is not None:
                continue
            size = inp.parameters.get("binary_data_size")
            if binary is None:
                raise InvalidInput(f"'data' field is missing for input '{inp.name}' for model '{model_name}'")
            if not isinstance(size, int) or size < 0 or pos + size > len(binary):
                raise InvalidInput(f"bad 'binary_data_size' for input '{inp.name}' for model '{model_name}'")
            inp._raw_data = bytes(binary[pos:pos + size])
            pos += size
            inp.set_data_from_numpy(inp.as_numpy(), binary_data=False)
        params = body.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise InvalidInput("'parameters' must be an object")
        outputs = body.get("outputs")
        requested = None
        if outputs is not None:
            if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                        for o in outputs):
                raise InvalidInput("'outputs' must be a list of objects with a name")
            requested = [RequestedOutput(o["name"], o.get("parameters")) for o in outputs]
        rid = body.get("id")
        return cls(model_name=model_name, infer_inputs=infer_inputs, request_id=None if rid is None else str(rid),
                   parameters=params, request_outputs=requested)

    @classmethod
    def from_rest(cls, model_name: str, body: Dict) -> "InferRequest":
        """An InferRequest from a V2 JSON request body (already parsed)."""
        return cls._parse(model_name, body)

    @classmethod
    def from_bytes(cls, req_bytes: bytes, json_length: int, model_name: str) -> "InferRequest":
        """An InferRequest from a body of the binary tensor data extension: json_length bytes
        of JSON, then the raw inputs in order."""
        import json

        try:
            body = json.loads(req_bytes[:json_length])
        except ValueError as e:
            raise InvalidInput(f"Unrecognized request format: {e}")
        return cls._parse(model_name, body, req_bytes, json_length)

    def to_rest(self) -> Dict:
        """The V2 JSON body of this request (numpy and binary data become JSON lists)."""
        inputs = []
        for inp in self.inputs:
            d = {"name": inp.name, "shape": list(inp.shape), "datatype": inp.datatype, "data": inp._rest_data()}
            p = inp._rest_parameters()
            if p:
                d["parameters"] = p
            inputs.append(d)
        res = {"id": self.id if self.id else str(uuid.uuid4()), "inputs": inputs}
        if self.parameters:
            res["parameters"] = _jsonable_parameters(self.parameters)
        if self.request_outputs:
            outs = []
            for o in self.request_outputs:
                od = {"name": o.name}
                if o.parameters:
                    od["parameters"] = dict(o.parameters)
                outs.append(od)
            res["outputs"] = outs
        return res

    def to_grpc(self):
        raise NotImplementedError("gRPC is not supported by this kserve package")

    def as_dataframe(self):
        """Every input as a column of a pandas DataFrame (the `"content_type": "pd"` form)."""
        import pandas as pd

        cols = {}
        for inp in self.inputs:
            arr = inp.as_numpy()
            if inp.datatype == "BYTES":
                arr = np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in arr.flatten()],
                               dtype=object)
            cols[inp.name] = arr.flatten() if arr.ndim != 1 else arr
        return pd.DataFrame(cols)

    def __eq__(self, other):
        if not isinstance(other, InferRequest):
            return False
        return (self.model_name, self.id, self.parameters, self.inputs) == \
            (other.model_name, other.id, other.parameters, other.inputs)

    def __repr__(self) -> str:
        return f"InferRequest(id={self.id}, model_name={self.model_name}, inputs={self.inputs}, " \
               f"parameters={self.parameters})"

    def __str__(self) -> str:
        return self.__repr__()


class InferResponse:
    """A V2 inference response, as a model's predict/postprocess may return it."""

    def __init__(self, response_id: str, model_name: str, infer_outputs: List[InferOutput],
                 model_version: Optional[str] = None, raw_outputs=None, from_grpc: Optional[bool] = False,
                 parameters: Optional[Dict] = None, use_binary_outputs: Optional[bool] = False,
                 requested_outputs: Optional[List[RequestedOutput]] = None):
        self.id = response_id
        self.model_name = model_name
        self.model_version = model_version
        self.outputs = infer_outputs
        self.parameters = parameters
        self.from_grpc = from_grpc
        self.use_binary_outputs = use_binary_outputs
        self.requested_outputs = requested_outputs
        if raw_outputs:
            for i, raw in enumerate(raw_outputs):
                self.outputs[i]._raw_data = raw

    def get_output_by_name(self, name: str) -> Optional[InferOutput]:
        for out in self.outputs:
            if out.name == name:
                return out
        return None

    @classmethod
    def from_rest(cls, model_name: str, response: Dict) -> "InferResponse":
        """An InferResponse from a V2 JSON response body (already parsed)."""
        if not isinstance(response, dict) or not isinstance(response.get("outputs"), list):
            raise InvalidInput('Expected "outputs" to be a list')
        outputs = [_tensor_from_dict(InferOutput, d, "outputs", model_name) for d in response["outputs"]]
        return cls(response_id=response.get("id"), model_name=response.get("model_name", model_name),
                   model_version=response.get("model_version"), infer_outputs=outputs,
                   parameters=response.get("parameters"))

    def to_rest(self) -> Dict:
        """The V2 JSON body of this response (numpy and binary data become JSON lists)."""
        outputs = []
        for out in self.outputs:
            d = {"name": out.name, "shape": list(out.shape), "datatype": out.datatype}
            p = out._rest_parameters()
            if p:
                d["parameters"] = p
            d["data"] = out._rest_data()
            outputs.append(d)
        res = {"id": self.id, "model_name": self.model_name}
        if self.model_version is not None:
            res["model_version"] = self.model_version
        res["outputs"] = outputs
        if self.parameters:
            res["parameters"] = _jsonable_parameters(self.parameters)
        return res

    def to_grpc(self):
        raise NotImplementedError("gRPC is not supported by this kserve package")

    def __eq__(self, other):
        if not isinstance(other, InferResponse):
            return False
        return (self.model_name, self.id, self.model_version, self.parameters, self.outputs) == \
            (other.model_name, other.id, other.model_version, other.parameters, other.outputs)

    def __repr__(self) -> str:
        return f"InferResponse(id={self.id}, model_name={self.model_name}, outputs={self.outputs}, " \
               f"parameters={self.parameters})"

    def __str__(self) -> str:
        return self.__repr__()
