/*
 * Maps a request's method and path to a route of the V1/V2 REST protocols.
 * Pure and allocation-free: the model name points into the path.
 */
#ifndef KS_ROUTER_H
#define KS_ROUTER_H

#include <stddef.h>

typedef enum ks_route_kind {
    KS_R_NOT_FOUND = 0,
    KS_R_ROOT,            /* GET / */
    KS_R_V1_MODELS,       /* GET /v1/models */
    KS_R_V1_MODEL,        /* GET /v1/models/{m} */
    KS_R_V1_PREDICT,      /* POST /v1/models/{m}:predict */
    KS_R_V1_EXPLAIN,      /* POST /v1/models/{m}:explain */
    KS_R_V2_SERVER,       /* GET /v2 */
    KS_R_V2_LIVE,         /* GET /v2/health/live */
    KS_R_V2_READY,        /* GET /v2/health/ready */
    KS_R_V2_MODELS,       /* GET /v2/models */
    KS_R_V2_MODEL,        /* GET /v2/models/{m}[/versions/{v}] */
    KS_R_V2_MODEL_READY,  /* GET /v2/models/{m}[/versions/{v}]/ready */
    KS_R_V2_INFER,        /* POST /v2/models/{m}[/versions/{v}]/infer */
    KS_R_V2_LOAD,         /* POST /v2/repository/models/{m}/load */
    KS_R_V2_UNLOAD,       /* POST /v2/repository/models/{m}/unload */
    KS_R_METRICS,         /* GET /metrics */
} ks_route_kind_t;

typedef struct ks_route {
    ks_route_kind_t kind;
    const char *model; /* into the path; not NUL-terminated */
    size_t model_len;
    const char *version;
    size_t version_len;
    int method_ok;     /* 0: the path exists but not for this method (405) */
    const char *allow; /* the method the path takes, for the Allow header */
} ks_route_t;

/* Routes method/path (the path may carry a query string, which is ignored). */
void ks_route(const char *method, size_t method_len, const char *path, size_t path_len, ks_route_t *out);

#endif
