"""kserve.model_repository.ModelRepository: the models a ModelServer serves, by name."""
import os
from typing import Dict, Optional

from .constants.constants import MODEL_MOUNT_DIRS
from .model import BaseKserveModel


class ModelRepository:
    def __init__(self, models_dir: str = MODEL_MOUNT_DIRS):
        self.models: Dict[str, BaseKserveModel] = {}
        self.models_dir = models_dir

    def load_models(self):
        for name in os.listdir(self.models_dir) if os.path.isdir(self.models_dir) else []:
            if os.path.isdir(os.path.join(self.models_dir, name)):
                self.load(name)

    def set_models_dir(self, models_dir):
        self.models_dir = models_dir

    def get_model(self, name: str) -> Optional[BaseKserveModel]:
        return self.models.get(name, None)

    def get_models(self) -> Dict[str, BaseKserveModel]:
        return self.models

    def is_model_ready(self, name: str) -> bool:
        model = self.get_model(name)
        return bool(model and model.ready)

    def update(self, model: BaseKserveModel):
        self.models[model.name] = model

    def load(self, name: str) -> bool:
        """Models are given to ModelServer.start() in this package; nothing loads by name."""
        raise NotImplementedError("loading models by name is not supported")

    def unload(self, name: str):
        model = self.models.pop(name, None)
        if model is None:
            from .errors import ModelNotFound

            raise ModelNotFound(name)
        stop = getattr(model, "stop", None)
        if callable(stop):
            stop()
