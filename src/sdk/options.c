/*
 * The SDK's options: KServe's flag names, set from a command line, from
 * code or through FFI by the same function, so every way in gets the same
 * checks and the same messages.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const char usage[] =
    "options (KServe's flags):\n"
    "  --model_name NAME      name the model is served under (default: the program's own)\n"
    "  --http_port PORT       HTTP port (default $PORT, else 8080; 0: any free port)\n"
    "  --http_host ADDR       address to listen on (default 0.0.0.0)\n"
    "  --workers N            event-loop threads, 1-256 (default: one per core); the callbacks run\n"
    "                         on them, so --workers 1 when your code is not thread-safe\n"
    "  --predictor_host HOST[:PORT]\n"
    "                         a transformer's predictor: without a predict callback, preprocess's\n"
    "                         result is POSTed there and its answer goes to postprocess\n"
    "  --protocol v1|v2       the predictor's protocol (default v1)\n"
    "  --predictor_request_timeout_seconds S\n"
    "                         limit of a predictor call, 1-86400 (default 600); then 504\n"
    "  --max_body_size SIZE   largest request body, bytes or with K/M/G (default 16M); larger gets 413\n"
    "  --drain_timeout SECS   on SIGTERM, how long requests in flight may take to finish (default 30)\n"
    "  --model_dir DIR        recorded for the model's own code\n"
    "  --grpc_port, --max_threads   accepted for KServe compatibility\n"
    "  --help                 this text\n";

const char *ks_sdk_usage(void)
{
    return usage;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* replaces *slot with a copy of v; KS_ENOMEM */
static int set_str(char **slot, const char *v)
{
    char *c = strdup(v);
    if (c == NULL)
        return KS_ENOMEM;
    free(*slot);
    *slot = c;
    return 0;
}

static int parse_int(const char *name, const char *v, long lo, long hi, int *out, char *err, size_t errlen)
{
    char *end;
    long n;
    errno = 0;
    n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi) {
        ks_errorf(err, errlen, "--%s: expected an integer from %ld to %ld, got \"%.60s\"", name, lo, hi, v);
        return KS_EINVAL;
    }
    *out = (int)n;
    return 0;
}

static int parse_size(const char *name, const char *v, size_t *out, char *err, size_t errlen)
{
    unsigned long long n, mul = 1;
    char *end;
    errno = 0;
    if (*v < '0' || *v > '9')
        goto bad;
    n = strtoull(v, &end, 10);
    if (errno != 0)
        goto bad;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1ull << 10; ++end; break;
    case 'm': case 'M': mul = 1ull << 20; ++end; break;
    case 'g': case 'G': mul = 1ull << 30; ++end; break;
    default: goto bad;
    }
    if (mul != 1 && (*end == 'i' || *end == 'I'))
        ++end;
    if (mul != 1 && (*end == 'b' || *end == 'B'))
        ++end;
    if (*end != '\0' || n == 0 || n > (1ull << 40) / mul)
        goto bad;
    *out = (size_t)(n * mul);
    return 0;
bad:
    ks_errorf(err, errlen, "--%s: expected a size in bytes from 1 to 1T (e.g. 1048576 or 16M), got \"%.60s\"", name, v);
    return KS_EINVAL;
}

int ks__sdk_split_host(const char *in, char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
    const char *p = in, *end, *colon = NULL;
    size_t n;

    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strstr(p, "://") != NULL) {
        ks_errorf(err, errlen, "--predictor_host: only http:// is supported, got \"%.100s\"", in);
        return KS_EINVAL;
    }
    end = p + strlen(p);
    while (end > p && end[-1] == '/')
        --end;
    *port = 80;
    if (p < end && *p == '[') { /* [v6]:port */
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close == NULL)
            goto bad;
        if (close + 1 < end) {
            if (close[1] != ':')
                goto bad;
            colon = close + 1;
        }
        n = (size_t)(close - p - 1);
        ++p;
    } else {
        for (const char *c = p; c < end; ++c)
            if (*c == ':') {
                if (colon != NULL)
                    goto bad; /* a bare v6 address needs brackets */
                colon = c;
            }
        n = (size_t)((colon != NULL ? colon : end) - p);
    }
    if (n == 0 || n >= hostlen || memchr(p, '/', n) != NULL)
        goto bad;
    memcpy(host, p, n);
    host[n] = '\0';
    if (colon != NULL) {
        char digits[8];
        size_t dl = (size_t)(end - colon - 1);
        char *e;
        long v;
        if (dl == 0 || dl >= sizeof(digits))
            goto bad;
        memcpy(digits, colon + 1, dl);
        digits[dl] = '\0';
        v = strtol(digits, &e, 10);
        if (*e != '\0' || digits[0] < '0' || digits[0] > '9' || v < 1 || v > 65535)
            goto bad;
        *port = (int)v;
    }
    return 0;
bad:
    ks_errorf(err, errlen, "--predictor_host: expected HOST[:PORT] (KServe's form, e.g. iris-predictor:8080), got \"%.100s\"",
              in);
    return KS_EINVAL;
}

ks_sdk_options_t *ks_sdk_options_new(void)
{
    ks_sdk_options_t *o = calloc(1, sizeof(*o));
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("PORT");

    if (o == NULL)
        return NULL;
    o->model_name = strdup("model");
    o->http_host = strdup("0.0.0.0");
    o->http_port = 8080;
    o->workers = ncpu > 0 ? (int)(ncpu > 64 ? 64 : ncpu) : 1;
    o->protocol = KS_SDK_V1;
    o->predictor_timeout = 600;
    o->max_body_size = 16u << 20;
    o->drain_timeout = 30;
    o->grpc_port = 8081;
    o->max_threads = 4;
    if (o->model_name == NULL || o->http_host == NULL) {
        ks_sdk_options_free(o);
        return NULL;
    }
    /* Knative's $PORT: a bad value is reported when a server is made, unless --http_port replaced it */
    if (env != NULL && *env != '\0') {
        char err[KS_ERRLEN];
        if (parse_int("http_port", env, 0, 65535, &o->http_port, err, sizeof(err)) != 0) {
            char msg[KS_ERRLEN + 16];
            snprintf(msg, sizeof(msg), "$PORT: %s", err + strlen("--http_port: "));
            o->env_error = strdup(msg);
        }
    }
    return o;
}

void ks_sdk_options_free(ks_sdk_options_t *o)
{
    if (o == NULL)
        return;
    free(o->model_name);
    free(o->http_host);
    free(o->predictor_host);
    free(o->model_dir);
    free(o->env_error);
    free(o->program);
    free(o);
}

ks_sdk_options_t *ks__sdk_options_dup(const ks_sdk_options_t *o)
{
    ks_sdk_options_t *c = malloc(sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = *o;
    c->model_name = dup_or_null(o->model_name);
    c->http_host = dup_or_null(o->http_host);
    c->predictor_host = dup_or_null(o->predictor_host);
    c->model_dir = dup_or_null(o->model_dir);
    c->env_error = dup_or_null(o->env_error);
    c->program = dup_or_null(o->program);
    if (c->model_name == NULL || c->http_host == NULL || (o->predictor_host != NULL && c->predictor_host == NULL) ||
        (o->model_dir != NULL && c->model_dir == NULL) || (o->env_error != NULL && c->env_error == NULL) ||
        (o->program != NULL && c->program == NULL)) {
        ks_sdk_options_free(c);
        return NULL;
    }
    return c;
}

/* "--http-port", "http_port" -> "http_port"; 0, or -1 when it cannot be a name */
static int normalise(const char *name, char *out, size_t outlen)
{
    size_t n;
    while (*name == '-')
        ++name;
    n = strlen(name);
    if (n == 0 || n >= outlen)
        return -1;
    for (size_t i = 0; i <= n; ++i)
        out[i] = name[i] == '-' ? '_' : name[i];
    return 0;
}

int ks_sdk_options_set(ks_sdk_options_t *o, const char *name, const char *v, char *err, size_t errlen)
{
    char k[64];
    int r = 0;

    if (name == NULL || normalise(name, k, sizeof(k)) != 0) {
        ks_errorf(err, errlen, "unknown option \"%.40s\"", name != NULL ? name : "(null)");
        return KS_EINVAL;
    }
    if (v == NULL) {
        if (ks_sdk_options_get(o, k, NULL, 0) == 0)
            ks_errorf(err, errlen, "--%s: missing value", k);
        else
            ks_errorf(err, errlen, "unknown option --%s (see --help)", k);
        return KS_EINVAL;
    }
    if (strcmp(k, "model_name") == 0) {
        if (*v == '\0' || strchr(v, '/') != NULL || strlen(v) > KS__SDK_MAX_NAME) {
            ks_errorf(err, errlen, "--model_name: expected a non-empty name without '/', got \"%.60s\"", v);
            return KS_EINVAL;
        }
        r = set_str(&o->model_name, v);
    } else if (strcmp(k, "http_port") == 0) {
        if ((r = parse_int(k, v, 0, 65535, &o->http_port, err, errlen)) == 0) {
            free(o->env_error); /* the flag replaces $PORT */
            o->env_error = NULL;
        }
    } else if (strcmp(k, "http_host") == 0) {
        if (*v == '\0') {
            ks_errorf(err, errlen, "--http_host: empty address");
            return KS_EINVAL;
        }
        r = set_str(&o->http_host, v);
    } else if (strcmp(k, "workers") == 0) {
        r = parse_int(k, v, 1, 256, &o->workers, err, errlen);
    } else if (strcmp(k, "predictor_host") == 0) {
        char host[256];
        int port;
        if (*v == '\0') { /* KServe's default: no predictor */
            free(o->predictor_host);
            o->predictor_host = NULL;
            return 0;
        }
        if ((r = ks__sdk_split_host(v, host, sizeof(host), &port, err, errlen)) == 0)
            r = set_str(&o->predictor_host, v);
    } else if (strcmp(k, "protocol") == 0) {
        if (strcmp(v, "v1") == 0) {
            o->protocol = KS_SDK_V1;
        } else if (strcmp(v, "v2") == 0) {
            o->protocol = KS_SDK_V2;
        } else {
            ks_errorf(err, errlen, "--protocol: expected v1 or v2, got \"%.60s\"", v);
            return KS_EINVAL;
        }
    } else if (strcmp(k, "predictor_request_timeout_seconds") == 0) {
        r = parse_int(k, v, 1, 86400, &o->predictor_timeout, err, errlen);
    } else if (strcmp(k, "max_body_size") == 0) {
        r = parse_size(k, v, &o->max_body_size, err, errlen);
    } else if (strcmp(k, "drain_timeout") == 0) {
        r = parse_int(k, v, 0, 3600, &o->drain_timeout, err, errlen);
    } else if (strcmp(k, "model_dir") == 0) {
        r = set_str(&o->model_dir, v);
    } else if (strcmp(k, "grpc_port") == 0) {
        r = parse_int(k, v, 0, 65535, &o->grpc_port, err, errlen);
    } else if (strcmp(k, "max_threads") == 0) {
        r = parse_int(k, v, 1, 4096, &o->max_threads, err, errlen);
    } else {
        ks_errorf(err, errlen, "unknown option --%s (see --help)", k);
        return KS_EINVAL;
    }
    if (r == KS_ENOMEM)
        ks_errorf(err, errlen, "--%s: out of memory", k);
    return r;
}

int ks_sdk_options_get(const ks_sdk_options_t *o, const char *name, char *buf, size_t buflen)
{
    char k[64];
    const char *s = NULL;
    long long n = 0;
    int is_str = 1;

    if (buflen > 0)
        buf[0] = '\0';
    if (name == NULL || normalise(name, k, sizeof(k)) != 0)
        return KS_EINVAL;
    if (strcmp(k, "model_name") == 0) s = o->model_name;
    else if (strcmp(k, "http_host") == 0) s = o->http_host;
    else if (strcmp(k, "predictor_host") == 0) s = o->predictor_host;
    else if (strcmp(k, "model_dir") == 0) s = o->model_dir;
    else if (strcmp(k, "protocol") == 0) s = o->protocol == KS_SDK_V2 ? "v2" : "v1";
    else {
        is_str = 0;
        if (strcmp(k, "http_port") == 0) n = o->http_port;
        else if (strcmp(k, "workers") == 0) n = o->workers;
        else if (strcmp(k, "predictor_request_timeout_seconds") == 0) n = o->predictor_timeout;
        else if (strcmp(k, "max_body_size") == 0) n = (long long)o->max_body_size;
        else if (strcmp(k, "drain_timeout") == 0) n = o->drain_timeout;
        else if (strcmp(k, "grpc_port") == 0) n = o->grpc_port;
        else if (strcmp(k, "max_threads") == 0) n = o->max_threads;
        else return KS_EINVAL;
    }
    if (buflen == 0)
        return 0;
    if (is_str)
        snprintf(buf, buflen, "%s", s != NULL ? s : "");
    else
        snprintf(buf, buflen, "%lld", n);
    return 0;
}

int ks_sdk_options_parse(ks_sdk_options_t *o, int argc, char **argv, char *err, size_t errlen)
{
    if (argc > 0 && argv[0] != NULL && argv[0][0] != '\0') {
        const char *slash = strrchr(argv[0], '/');
        char *p = strdup(slash != NULL ? slash + 1 : argv[0]);
        if (p != NULL) {
            free(o->program);
            o->program = p;
        }
    }
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *eq, *v;
        char flag[64];
        int r;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            ks_errorf(err, errlen, "unexpected argument \"%.60s\" (flags look like --name value)", a);
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
            v = i + 1 < argc ? argv[++i] : NULL; /* NULL: ks_sdk_options_set says what is missing */
        }
        if ((r = ks_sdk_options_set(o, flag, v, err, errlen)) != 0)
            return r;
    }
    return 0;
}
