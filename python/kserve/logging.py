"""kserve.logging: the "kserve" logger and KServe's configure_logging().

User code written for KServe 0.12+ does `from kserve.logging import logger` or
`kserve.logging.configure_logging(args.log_config_file)`; older code uses the
standard `logging` module directly, which works unchanged too.
"""
import json
import logging
import logging.config
import os

from .constants.constants import KSERVE_LOGLEVEL

KSERVE_LOGGER_NAME = "kserve"
KSERVE_TRACE_LOGGER_NAME = "kserve.trace"
KSERVE_LOGGER_FORMAT = "%(asctime)s.%(msecs)03d %(process)s %(name)s %(levelname)s [%(funcName)s():%(lineno)s] %(message)s"
KSERVE_TRACE_LOGGER_FORMAT = "%(asctime)s.%(msecs)03d %(name)s %(message)s"
KSERVE_LOGGER_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

KSERVE_LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "kserve": {"()": "logging.Formatter", "fmt": KSERVE_LOGGER_FORMAT, "datefmt": KSERVE_LOGGER_DATE_FORMAT},
        "kserve_trace": {"()": "logging.Formatter", "fmt": KSERVE_TRACE_LOGGER_FORMAT,
                         "datefmt": KSERVE_LOGGER_DATE_FORMAT},
    },
    "handlers": {
        "kserve": {"formatter": "kserve", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "kserve_trace": {"formatter": "kserve_trace", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        KSERVE_LOGGER_NAME: {"handlers": ["kserve"], "level": KSERVE_LOGLEVEL, "propagate": False},
        KSERVE_TRACE_LOGGER_NAME: {"handlers": ["kserve_trace"], "level": "INFO", "propagate": False},
    },
}

logger = logging.getLogger(KSERVE_LOGGER_NAME)
trace_logger = logging.getLogger(KSERVE_TRACE_LOGGER_NAME)


def configure_logging(log_config=None):
    """Configure the kserve loggers: KServe's default config, then `log_config` on top.

    log_config is a dict for logging.config.dictConfig, or the path of a .json or
    .yaml/.yml file holding one (YAML only if PyYAML is installed).
    """
    logging.config.dictConfig(KSERVE_LOG_CONFIG)
    if log_config is None:
        return
    if isinstance(log_config, dict):
        logging.config.dictConfig(log_config)
        return
    if not os.path.exists(log_config):
        raise FileNotFoundError(f"log config file {log_config} does not exist")
    if log_config.endswith(".json"):
        with open(log_config) as f:
            logging.config.dictConfig(json.load(f))
    elif log_config.endswith((".yaml", ".yml")):
        import yaml  # optional: only needed for YAML log configs

        with open(log_config) as f:
            logging.config.dictConfig(yaml.safe_load(f))
    else:
        logging.config.fileConfig(log_config, disable_existing_loggers=False)
