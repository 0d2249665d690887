"""Names KServe's Python package exposes as kserve.constants.constants."""
import os

KSERVE_GROUP = "serving.kserve.io"
KSERVE_KIND = "InferenceService"
KSERVE_PLURAL = "inferenceservices"
KSERVE_V1BETA1_VERSION = "v1beta1"
KSERVE_V1ALPHA1_VERSION = "v1alpha1"

KSERVE_LOGLEVEL = os.environ.get("KSERVE_LOGLEVEL", "INFO").upper()

DEFAULT_HTTP_PORT = 8080
DEFAULT_GRPC_PORT = 8081

MODEL_MOUNT_DIRS = "/mnt/models"

# header KServe's transformers use to remember that a request came in over V1
V1_REQUEST_TYPE_HEADER = "request-type"
