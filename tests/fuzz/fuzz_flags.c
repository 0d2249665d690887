/*
 * libFuzzer target: the model server's command line (ks_server_parse_flags)
 * and the REST router (ks_route).
 *
 * Flags: the input split on NUL bytes is argv[1..] (argv[0] = "model-server",
 * at most 32 arguments in all).  Router: the input split at its first space is
 * the method and the path (no space: all of it is the method, the path is empty).
 */
#include <string.h>

#include "fuzz_util.h"
#include "ks/router.h"
#include "ks/server.h"

#define MAX_ARGS 32

static int within(const char *p, size_t n, const char *base, size_t len)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void fuzz_flags(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1), *argv[MAX_ARGS + 1], err[KS_ERRLEN];
    ks_server_config_t cfg;
    int argc = 1, r;
    size_t start = 0;

    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    argv[0] = "model-server";
    if (size > 0) {
        for (size_t i = 0; i <= size && argc < MAX_ARGS; ++i)
            if (i == size || copy[i] == '\0') {
                argv[argc++] = copy + start;
                start = i + 1;
            }
    }
    argv[argc] = NULL;

    err[0] = '\0';
    r = ks_server_parse_flags(argc, argv, &cfg, err, sizeof(err));
    if (r == 0) {
        FZ_CHECK(cfg.model_dir != NULL && cfg.model_dir[0] != '\0', "accepted without --model_dir");
        FZ_CHECK(cfg.model_name != NULL && cfg.model_name[0] != '\0' && strchr(cfg.model_name, '/') == NULL &&
                     strlen(cfg.model_name) <= 200,
                 "accepted model name \"%s\"", cfg.model_name);
        FZ_CHECK(cfg.http_host != NULL, "no http_host");
        fz_touch(cfg.http_host, strlen(cfg.http_host));
        FZ_CHECK(cfg.http_port >= 0 && cfg.http_port <= 65535, "http_port %d", cfg.http_port);
        FZ_CHECK(cfg.grpc_port >= 0 && cfg.grpc_port <= 65535, "grpc_port %d", cfg.grpc_port);
        FZ_CHECK(cfg.workers >= 1 && cfg.workers <= 256, "workers %d", cfg.workers);
        FZ_CHECK(cfg.nthread >= 1 && cfg.nthread <= 1024, "nthread %d", cfg.nthread);
        FZ_CHECK(cfg.max_threads >= 0 && cfg.max_threads <= 4096, "max_threads %d", cfg.max_threads);
        FZ_CHECK(cfg.drain_timeout >= 0 && cfg.drain_timeout <= 3600, "drain_timeout %d", cfg.drain_timeout);
        FZ_CHECK(cfg.max_body_size >= 1 && cfg.max_body_size <= ((size_t)1 << 40), "max_body_size %zu",
                 cfg.max_body_size);
        FZ_CHECK(cfg.protocol != NULL && (strcmp(cfg.protocol, "v1") == 0 || strcmp(cfg.protocol, "v2") == 0),
                 "protocol \"%s\"", cfg.protocol);
        FZ_CHECK(cfg.enable_grpc == 0, "gRPC enabled");
    } else if (r != 1) {
        FZ_CHECK(r == KS_EINVAL, "ks_server_parse_flags returned %d", r);
        FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0', "ks_server_parse_flags failed without a message");
    }
    free(copy);
}

static void fuzz_route(const uint8_t *data, size_t size)
{
    const uint8_t *sp = memchr(data, ' ', size);
    size_t mlen = sp != NULL ? (size_t)(sp - data) : size, plen = sp != NULL ? size - mlen - 1 : 0;
    /* separate, exactly sized heap copies: ASan sees a read past either end */
    char *method = malloc(mlen + 1), *path = malloc(plen + 1);
    ks_route_t rt;

    if (method == NULL || path == NULL)
        abort();
    memcpy(method, data, mlen);
    if (plen != 0)
        memcpy(path, sp + 1, plen);
    ks_route(method, mlen, path, plen, &rt);

    FZ_CHECK(rt.kind >= KS_R_NOT_FOUND && rt.kind <= KS_R_METRICS, "route kind %d", (int)rt.kind);
    if (rt.model != NULL)
        FZ_CHECK(within(rt.model, rt.model_len, path, plen), "model name outside the path");
    if (rt.version != NULL)
        FZ_CHECK(within(rt.version, rt.version_len, path, plen), "version outside the path");
    if (rt.kind != KS_R_NOT_FOUND) {
        int get = mlen == 3 && memcmp(method, "GET", 3) == 0, head = mlen == 4 && memcmp(method, "HEAD", 4) == 0,
            post = mlen == 4 && memcmp(method, "POST", 4) == 0;
        FZ_CHECK(rt.allow != NULL && (strcmp(rt.allow, "GET") == 0 || strcmp(rt.allow, "POST") == 0), "allow");
        FZ_CHECK(rt.method_ok == (rt.allow[0] == 'G' ? (get || head) : post), "method_ok %d for %s", rt.method_ok,
                 rt.allow);
        FZ_CHECK(plen > 0 && path[0] == '/', "route %d for a path not starting with '/'", (int)rt.kind);
        switch (rt.kind) {
        case KS_R_V1_MODEL:
        case KS_R_V1_PREDICT:
        case KS_R_V1_EXPLAIN:
        case KS_R_V2_MODEL:
        case KS_R_V2_MODEL_READY:
        case KS_R_V2_INFER:
        case KS_R_V2_LOAD:
        case KS_R_V2_UNLOAD:
            FZ_CHECK(rt.model != NULL && rt.model_len > 0, "route %d without a model", (int)rt.kind);
            FZ_CHECK(memchr(rt.model, '/', rt.model_len) == NULL && memchr(rt.model, '?', rt.model_len) == NULL,
                     "model name \"%.*s\" holds '/' or '?'", (int)rt.model_len, rt.model);
            if (rt.version != NULL)
                FZ_CHECK(rt.version_len > 0 && memchr(rt.version, '/', rt.version_len) == NULL &&
                             memchr(rt.version, '?', rt.version_len) == NULL,
                         "version \"%.*s\"", (int)rt.version_len, rt.version);
            break;
        default:
            FZ_CHECK(rt.model == NULL && rt.version == NULL, "route %d with a model", (int)rt.kind);
            break;
        }
    }
    free(method);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_flags(data, size);
    fuzz_route(data, size);
    return 0;
}
