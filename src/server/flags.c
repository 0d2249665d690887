/*
 * The model server's command line, with KServe's flag names so that a
 * ServingRuntime written for KServe starts this server unchanged.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "ks/common.h"
#include "ks/server.h"

const char ks_server_usage[] =
    "usage: kserve model-server --model_dir DIR [options]\n"
    "  --model_name NAME      name the model is served under (default: model)\n"
    "  --model_dir DIR        directory holding exactly one model file:\n"
    "                         model.bst|.json|.ubj (xgboost) or model.joblib|.pkl|.pickle (scikit-learn)\n"
    "  --http_port PORT       HTTP port (default 8080)\n"
    "  --http_host ADDR       address to listen on (default 0.0.0.0)\n"
    "  --grpc_port PORT       gRPC port (default 8081; gRPC is not served yet)\n"
    "  --workers N            event-loop threads (default: one per core)\n"
    "  --nthread N            threads a runtime may use per prediction (default 1)\n"
    "  --max_threads N        accepted for KServe compatibility\n"
    "  --max_body_size SIZE   largest request body, bytes or with K/M/G (default 16M); larger gets 413\n"
    "  --protocol v1|v2       protocol the runtime advertises (both are always served)\n"
    "  --predictor_host HOST  KServe's transformer flag; accepted, a predictor has no upstream\n"
    "  --drain_timeout SECS   on SIGTERM, how long to finish requests in flight (default 30)\n"
    "  --container_concurrency N\n"
    "                         inference requests served at once, 0-1000 (default 0: unlimited); 10*N more\n"
    "                         wait in a queue, beyond that 503 (Knative's containerConcurrency)\n"
    "  --timeout_seconds SECS an inference request's limit, queue time included, 1-3600 (default 300); then 504\n"
    "  --drain_seconds SECS   on SIGTERM, fail readiness but keep serving until no request came for SECS,\n"
    "                         then stop (default 0: stop accepting at once)\n"
    "  queue endpoints: GET /ks/queue/stats, GET /ks/queue/ready\n"
    "  --help                 this text\n"
    "environment: PREDICT_PROBA=true makes scikit-learn models answer predict_proba\n";

static int parse_int(const char *flag, const char *v, long lo, long hi, int *out, char *err, size_t errlen)
{
    char *end;
    long n;
    errno = 0;
    n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi) {
        ks_errorf(err, errlen, "%s: expected an integer from %ld to %ld, got \"%s\"", flag, lo, hi, v);
        return KS_EINVAL;
    }
    *out = (int)n;
    return 0;
}

static int parse_size(const char *flag, const char *v, size_t *out, char *err, size_t errlen)
{
    char *end;
    unsigned long long n;
    unsigned long long mul = 1;
    errno = 0;
    if (*v < '0' || *v > '9')
        goto bad;
    n = strtoull(v, &end, 10);
    if (errno != 0)
        goto bad;
    if (*end != '\0') {
        switch (*end) {
        case 'k': case 'K': mul = 1ull << 10; break;
        case 'm': case 'M': mul = 1ull << 20; break;
        case 'g': case 'G': mul = 1ull << 30; break;
        default: goto bad;
        }
        ++end;
        if (*end == 'i' || *end == 'I')
            ++end;
        if (*end == 'b' || *end == 'B')
            ++end;
        if (*end != '\0')
            goto bad;
    }
    if (n == 0 || n > (1ull << 40) / mul)
        goto bad;
    *out = (size_t)(n * mul);
    return 0;
bad:
    ks_errorf(err, errlen, "%s: expected a size in bytes from 1 to 1T (e.g. 1048576 or 16M), got \"%s\"", flag, v);
    return KS_EINVAL;
}

static int parse_bool(const char *flag, const char *v, int *out, char *err, size_t errlen)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "1") == 0) {
        *out = 1;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "0") == 0) {
        *out = 0;
        return 0;
    }
    ks_errorf(err, errlen, "%s: expected true or false, got \"%s\"", flag, v);
    return KS_EINVAL;
}

int ks_server_parse_flags(int argc, char **argv, ks_server_config_t *cfg, char *err, size_t errlen)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    memset(cfg, 0, sizeof(*cfg));
    cfg->model_name = "model";
    cfg->http_host = "0.0.0.0";
    cfg->http_port = 8080;
    cfg->grpc_port = 8081;
    cfg->workers = ncpu > 0 ? (int)(ncpu > 64 ? 64 : ncpu) : 1;
    cfg->nthread = 1;
    cfg->max_body_size = 16u << 20;
    cfg->protocol = "v1";
    cfg->drain_timeout = 30;
    cfg->timeout_seconds = 300;

    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = NULL, *eq;
        char flag[64];
        int r = 0, is_bool;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            ks_errorf(err, errlen, "unexpected argument \"%s\" (flags look like --name value)", a);
            return KS_EINVAL;
        }
        if ((eq = strchr(a, '=')) != NULL) {
            if ((size_t)(eq - a) >= sizeof(flag)) {
                ks_errorf(err, errlen, "unknown flag \"%.40s...\"", a);
                return KS_EINVAL;
            }
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = '\0';
            v = eq + 1;
        } else {
            if (strlen(a) >= sizeof(flag)) {
                ks_errorf(err, errlen, "unknown flag \"%.40s...\"", a);
                return KS_EINVAL;
            }
            strcpy(flag, a);
        }
        /* KServe's python flags accept both --model-name and --model_name */
        for (char *p = flag + 2; *p != '\0'; ++p)
            if (*p == '-')
                *p = '_';
        is_bool = strcmp(flag, "--enable_grpc") == 0;
        if (v == NULL) {
            if (is_bool && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
                v = "true";
            } else if (i + 1 >= argc) {
                ks_errorf(err, errlen, "%s: missing value", flag);
                return KS_EINVAL;
            } else {
                v = argv[++i];
            }
        }
        if (strcmp(flag, "--model_name") == 0) {
            if (*v == '\0' || strchr(v, '/') != NULL || strlen(v) > 200) {
                ks_errorf(err, errlen, "--model_name: expected a non-empty name without '/', got \"%s\"", v);
                return KS_EINVAL;
            }
            cfg->model_name = v;
        } else if (strcmp(flag, "--model_dir") == 0) {
            if (*v == '\0') {
                ks_errorf(err, errlen, "--model_dir: empty path");
                return KS_EINVAL;
            }
            cfg->model_dir = v;
        } else if (strcmp(flag, "--http_host") == 0) {
            cfg->http_host = v;
        } else if (strcmp(flag, "--http_port") == 0) {
            r = parse_int(flag, v, 0, 65535, &cfg->http_port, err, errlen);
        } else if (strcmp(flag, "--grpc_port") == 0) {
            r = parse_int(flag, v, 0, 65535, &cfg->grpc_port, err, errlen);
        } else if (strcmp(flag, "--workers") == 0) {
            r = parse_int(flag, v, 1, 256, &cfg->workers, err, errlen);
        } else if (strcmp(flag, "--max_threads") == 0) {
            r = parse_int(flag, v, 1, 4096, &cfg->max_threads, err, errlen);
        } else if (strcmp(flag, "--nthread") == 0) {
            r = parse_int(flag, v, 1, 1024, &cfg->nthread, err, errlen);
        } else if (strcmp(flag, "--drain_timeout") == 0) {
            r = parse_int(flag, v, 0, 3600, &cfg->drain_timeout, err, errlen);
        } else if (strcmp(flag, "--container_concurrency") == 0) {
            r = parse_int(flag, v, 0, 1000, &cfg->container_concurrency, err, errlen);
        } else if (strcmp(flag, "--timeout_seconds") == 0) {
            r = parse_int(flag, v, 1, 3600, &cfg->timeout_seconds, err, errlen);
        } else if (strcmp(flag, "--drain_seconds") == 0) {
            r = parse_int(flag, v, 0, 3600, &cfg->drain_seconds, err, errlen);
        } else if (strcmp(flag, "--max_body_size") == 0) {
            r = parse_size(flag, v, &cfg->max_body_size, err, errlen);
        } else if (strcmp(flag, "--predictor_host") == 0) {
            /* KServe's flag for transformers; a predictor has no upstream, so it only records it */
            cfg->predictor_host = v;
        } else if (strcmp(flag, "--protocol") == 0) {
            if (strcmp(v, "v1") != 0 && strcmp(v, "v2") != 0) {
                ks_errorf(err, errlen, "--protocol: expected v1 or v2, got \"%s\"", v);
                return KS_EINVAL;
            }
            cfg->protocol = v;
        } else if (strcmp(flag, "--enable_grpc") == 0) {
            if ((r = parse_bool(flag, v, &cfg->enable_grpc, err, errlen)) == 0 && cfg->enable_grpc) {
                ks_errorf(err, errlen, "--enable_grpc: gRPC is not served by this version; use REST (V1 or V2)");
                return KS_EINVAL;
            }
        } else {
            ks_errorf(err, errlen, "unknown flag %s (see --help)", flag);
            return KS_EINVAL;
        }
        if (r != 0)
            return r;
    }
    if (cfg->model_dir == NULL) {
        ks_errorf(err, errlen, "--model_dir is required");
        return KS_EINVAL;
    }
    return 0;
}
