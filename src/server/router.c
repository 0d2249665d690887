#include <string.h>

#include "ks/router.h"

typedef struct {
    const char *p;
    size_t n;
} span_t;

static int eat(span_t *s, const char *lit)
{
    size_t l = strlen(lit);
    if (s->n < l || memcmp(s->p, lit, l) != 0)
        return 0;
    s->p += l;
    s->n -= l;
    return 1;
}

static int is(span_t s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* the next path segment (up to '/'), which must not be empty */
static int segment(span_t *s, span_t *seg)
{
    size_t i = 0;
    while (i < s->n && s->p[i] != '/')
        ++i;
    if (i == 0)
        return 0;
    seg->p = s->p;
    seg->n = i;
    s->p += i;
    s->n -= i;
    return 1;
}

static void set(ks_route_t *r, ks_route_kind_t k, const char *allow)
{
    r->kind = k;
    r->allow = allow;
}

/* {m}[/versions/{v}] then the rest */
static int model_and_version(span_t *s, ks_route_t *r)
{
    span_t m, v;
    if (!segment(s, &m))
        return 0;
    r->model = m.p;
    r->model_len = m.n;
    if (s->n >= 10 && memcmp(s->p, "/versions/", 10) == 0) {
        s->p += 10;
        s->n -= 10;
        if (!segment(s, &v))
            return 0;
        r->version = v.p;
        r->version_len = v.n;
    }
    return 1;
}

void ks_route(const char *method, size_t method_len, const char *path, size_t path_len, ks_route_t *r)
{
    span_t s = {path, path_len};
    const char *q = memchr(path, '?', path_len);
    int get = method_len == 3 && memcmp(method, "GET", 3) == 0;
    int head = method_len == 4 && memcmp(method, "HEAD", 4) == 0;
    int post = method_len == 4 && memcmp(method, "POST", 4) == 0;

    memset(r, 0, sizeof(*r));
    if (q != NULL)
        s.n = (size_t)(q - path);
    /* a trailing slash is the same resource (FastAPI redirects it) */
    if (s.n > 1 && s.p[s.n - 1] == '/')
        s.n--;

    if (is(s, "/")) {
        set(r, KS_R_ROOT, "GET");
    } else if (is(s, "/metrics")) {
        set(r, KS_R_METRICS, "GET");
    } else if (eat(&s, "/v1/models")) {
        if (s.n == 0) {
            set(r, KS_R_V1_MODELS, "GET");
        } else if (eat(&s, "/")) {
            /* {m}, {m}:predict, {m}:explain; the name may itself hold ':' */
            const char *colon = NULL;
            for (size_t i = s.n; i-- > 0;)
                if (s.p[i] == ':') {
                    colon = s.p + i;
                    break;
                }
            if (memchr(s.p, '/', s.n) != NULL || s.n == 0)
                return;
            if (colon != NULL && (size_t)(s.p + s.n - colon) == 8 && memcmp(colon, ":predict", 8) == 0) {
                set(r, KS_R_V1_PREDICT, "POST");
                s.n = (size_t)(colon - s.p);
            } else if (colon != NULL && (size_t)(s.p + s.n - colon) == 8 && memcmp(colon, ":explain", 8) == 0) {
                set(r, KS_R_V1_EXPLAIN, "POST");
                s.n = (size_t)(colon - s.p);
            } else {
                set(r, KS_R_V1_MODEL, "GET");
            }
            if (s.n == 0) {
                r->kind = KS_R_NOT_FOUND;
                return;
            }
            r->model = s.p;
            r->model_len = s.n;
        }
    } else if (eat(&s, "/v2")) {
        if (s.n == 0) {
            set(r, KS_R_V2_SERVER, "GET");
        } else if (is(s, "/health/live")) {
            set(r, KS_R_V2_LIVE, "GET");
        } else if (is(s, "/health/ready")) {
            set(r, KS_R_V2_READY, "GET");
        } else if (is(s, "/models")) {
            set(r, KS_R_V2_MODELS, "GET");
        } else if (eat(&s, "/models/")) {
            if (!model_and_version(&s, r))
                return;
            if (s.n == 0)
                set(r, KS_R_V2_MODEL, "GET");
            else if (is(s, "/ready"))
                set(r, KS_R_V2_MODEL_READY, "GET");
            else if (is(s, "/infer"))
                set(r, KS_R_V2_INFER, "POST");
            else {
                r->model = NULL;
                r->model_len = 0;
                return;
            }
        } else if (eat(&s, "/repository/models/")) {
            span_t m;
            if (!segment(&s, &m))
                return;
            if (is(s, "/load"))
                set(r, KS_R_V2_LOAD, "POST");
            else if (is(s, "/unload"))
                set(r, KS_R_V2_UNLOAD, "POST");
            else
                return;
            r->model = m.p;
            r->model_len = m.n;
        }
    }
    if (r->kind == KS_R_NOT_FOUND)
        return;
    if (r->allow[0] == 'G')
        r->method_ok = get || head;
    else
        r->method_ok = post;
}
