"""kserve: KServe's Python model-server API (0.11-0.13) on kserve-c's C HTTP server.

    import kserve

    class MyModel(kserve.Model):
        def load(self): ...; self.ready = True
        def predict(self, payload, headers=None): return {"predictions": ...}

    kserve.ModelServer().start([MyModel("my-model")])

See docs/python.md for what is supported and how it differs from KServe's own server.
"""
from . import constants, errors, logging
from .constants import constants as _constants_module  # noqa: F401  (kserve.constants.constants)
from .model import Model, BaseKserveModel, ModelType, PredictorConfig, PredictorProtocol
from .model_repository import ModelRepository
from .protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse, RequestedOutput
from . import model_server
from .model_server import ModelServer
from . import utils  # noqa: F401  (kserve.utils.utils)

__version__ = "0.13.0+kserve-c"

__all__ = [
    "Model", "BaseKserveModel", "ModelType", "PredictorConfig", "PredictorProtocol", "ModelRepository",
    "ModelServer", "InferInput", "InferOutput", "InferRequest", "InferResponse", "RequestedOutput",
    "model_server", "errors", "logging", "constants",
]
