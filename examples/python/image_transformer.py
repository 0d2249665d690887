# KServe's image transformer example (docs: "Deploy Transformer with InferenceService"), run
# unchanged in structure on kserve-c's `kserve` package.
#
# The original turns base64 images into normalised tensors with torchvision for a TorchServe
# predictor. Here PIL and numpy do the decoding (no torchvision), into what an 8x8 digits model
# takes: 64 features, 0 (no ink) .. 16 (full ink), FP32. The predictor is any V1/V2 model server
# of this project, e.g.
#
#   build/kserve model-server --model_name digits --model_dir DIR_WITH_model.joblib --http_port 8081
#   PYTHONPATH=python python3 examples/python/image_transformer.py --model_name digits \
#       --predictor_host 127.0.0.1:8081 --protocol v2 --http_port 8080
#
#   curl localhost:8080/v1/models/digits:predict -d '{"instances": [{"image": {"b64": "<base64 PNG>"}}]}'
import argparse
import base64
import io
import logging
from typing import Dict, Union

import numpy as np
from PIL import Image

import kserve
from kserve import InferInput, InferRequest, InferResponse, ModelServer, model_server
from kserve.model import PredictorProtocol

logging.basicConfig(level=kserve.constants.KSERVE_LOGLEVEL)


def image_transform(data: str) -> np.ndarray:
    """converts the input image of Bytes Array into Tensor

    Args:
        data (str): The base64 encoded image.

    Returns:
        numpy.ndarray: the 64 FP32 features of the 8x8 grayscale image
    """
    byte_array = base64.b64decode(data)
    image = Image.open(io.BytesIO(byte_array)).convert("L").resize((8, 8))
    a = np.asarray(image, dtype=np.float32)
    return (a / np.float32(255.0) * np.float32(16.0)).reshape(-1)


class ImageTransformer(kserve.Model):
    def __init__(self, name: str, predictor_host: str, protocol: str):
        super().__init__(name)
        self.predictor_host = predictor_host
        self.protocol = protocol
        self.ready = True

    def preprocess(self, payload: Union[Dict, InferRequest], headers: Dict[str, str] = None) -> Union[Dict, InferRequest]:
        # Input follows the Tensorflow V1 HTTP API for binary values
        # https://www.tensorflow.org/tfx/serving/api_rest#encoding_binary_values
        if isinstance(payload, InferRequest):
            input_tensors = [image_transform(instance) for instance in payload.inputs[0].data]
        else:
            headers["request-type"] = "v1"
            input_tensors = [image_transform(instance["image"]["b64"]) for instance in payload["instances"]]
        input_tensors = np.asarray(input_tensors)
        # Transform to KServe v1/v2 inference protocol
        if self.protocol == PredictorProtocol.REST_V1.value:
            return {"instances": input_tensors.tolist()}
        infer_inputs = [InferInput(name="INPUT__0", datatype="FP32", shape=list(input_tensors.shape),
                                   data=input_tensors)]
        infer_request = InferRequest(model_name=self.name, infer_inputs=infer_inputs)
        return infer_request

    def postprocess(self, infer_response: Union[Dict, InferResponse], headers: Dict[str, str] = None) -> Union[Dict, InferResponse]:
        if "request-type" in headers and headers["request-type"] == "v1":
            if self.protocol == PredictorProtocol.REST_V1.value:
                return infer_response
            else:
                # a V1 client gets V1 predictions from a V2 predictor
                res = infer_response.outputs[0].as_numpy()
                return {"predictions": res.tolist()}
        else:
            return infer_response


parser = argparse.ArgumentParser(parents=[model_server.parser])
parser.add_argument(
    "--predictor_host", help="The URL for the model predict function", required=True
)
parser.add_argument(
    "--protocol", help="The protocol for the predictor", default="v1"
)
parser.add_argument(
    "--model_name", help="The name that the model is served under."
)
args, _ = parser.parse_known_args()

if __name__ == "__main__":
    model = ImageTransformer(args.model_name, predictor_host=args.predictor_host,
                             protocol=args.protocol)
    ModelServer().start(models=[model])
