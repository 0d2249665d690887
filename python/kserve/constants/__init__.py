from .constants import *  # noqa: F401,F403  (kserve.constants.KSERVE_LOGLEVEL, as KServe's examples use)
