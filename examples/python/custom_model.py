# KServe's "custom model" example (docs: "Deploy Custom Python Serving Runtime with
# InferenceService"), run unchanged in structure on kserve-c's `kserve` package.
#
# The original predicts with torchvision's AlexNet, downloaded from the internet. Here the model
# is a small numpy classifier of 8x8 digit images (scikit-learn's bundled digits data, nothing is
# downloaded), trained in load(); the request and answer formats are the example's:
#
#   V1: {"instances": [{"image": {"b64": "<base64 PNG>"}}]}  ->  {"predictions": [top-5 scores]}
#   V2: {"inputs": [{"name": "input-0", "shape": [1], "datatype": "BYTES", "data": ["<base64 PNG>"]}]}
#       ->  one FP32 output "output-0" with the top-5 scores
#
#   PYTHONPATH=python python3 examples/python/custom_model.py --http_port 8080
import base64
import io
from typing import Dict, Union

import numpy as np
from PIL import Image

import kserve
from kserve import InferOutput, InferRequest, InferResponse
from kserve.utils.utils import generate_uuid


def image_to_features(img_data: str) -> np.ndarray:
    """A base64 image -> the 64 features of an 8x8 digit (0 = no ink .. 16 = full ink)."""
    raw_img_data = base64.b64decode(img_data)
    input_image = Image.open(io.BytesIO(raw_img_data)).convert("L").resize((8, 8))
    return np.asarray(input_image, dtype=np.float64).reshape(-1) / 255.0 * 16.0


class MyModel(kserve.Model):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name
        self.load()

    def load(self):
        # "training": one centroid per digit class (the original loads AlexNet's pretrained weights)
        from sklearn.datasets import load_digits

        digits = load_digits()
        self.centroids = np.stack([digits.data[digits.target == k].mean(axis=0) for k in range(10)])
        self.ready = True

    def scores(self, features: np.ndarray) -> np.ndarray:
        d2 = ((self.centroids - features) ** 2).sum(axis=1)
        logits = -d2 / d2.std()
        e = np.exp(logits - logits.max())
        return e / e.sum()

    def predict(self, payload: Union[Dict, InferRequest], headers: Dict[str, str] = None) -> Union[Dict, InferResponse]:
        if isinstance(payload, Dict) and "instances" in payload:
            headers["request-type"] = "v1"
            img_data = payload["instances"][0]["image"]["b64"]
        elif isinstance(payload, InferRequest):
            infer_input = payload.inputs[0]
            img_data = infer_input.data[0]
        else:
            raise kserve.errors.InvalidInput("expected {\"instances\": [{\"image\": {\"b64\": ...}}]} or a V2 request")

        input_tensor = image_to_features(img_data)
        output = self.scores(input_tensor)
        top_5 = np.argsort(output)[::-1][:5]
        values = output[top_5].astype(np.float32)
        result = values.flatten().tolist()
        response_id = generate_uuid()
        infer_output = InferOutput(name="output-0", shape=list(values.shape), datatype="FP32", data=result)
        infer_response = InferResponse(model_name=self.name, infer_outputs=[infer_output], response_id=response_id)
        if "request-type" in headers and headers["request-type"] == "v1":
            return {"predictions": result}
        else:
            return infer_response


if __name__ == "__main__":
    model = MyModel("custom-model")
    kserve.ModelServer().start([model])
