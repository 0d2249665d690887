/*
 * The SDK's server: KServe's routes on the ks_http event loops, the
 * predict pipeline that calls the user's code (or the predictor), the
 * metrics, and start and stop.  See include/ks/sdk.h and docs/sdk.md.
 *
 * A request's state (ks_sdk_request_t) lives in its h2o memory pool, with
 * a dispose hook: whatever ends the request (the answer sent, the client
 * gone, the server stopping) also cancels a predictor call still under way
 * and releases the request's JSON values.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>

#include "internal.h"
#include "ks/json.h"
#include "ks/metrics.h"
#include "ks/router.h"

enum step { STEP_PRE, STEP_PREDICT, STEP_POST, NSTEPS };
static const char *const step_names[NSTEPS] = {"preprocess", "predict", "postprocess"};

enum reason { R_INVALID, R_MODEL, R_PREDICTOR, NREASONS };
static const char *const reason_names[NREASONS] = {"invalid_input", "model_error", "predictor_error"};

/* one per worker: each writes only its own */
typedef struct stats {
    uint64_t hist[NSTEPS][KS_HIST_NBOUNDS + 1];
    uint64_t ns_sum[NSTEPS];
    uint64_t success;
    uint64_t failure[NREASONS];
} __attribute__((aligned(64))) stats_t;

#define BUMP(field, by) __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (by), __ATOMIC_RELAXED)
#define READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct ks_sdk_server {
    ks_sdk_options_t *o;
    int json_api; /* jops, else ops */
    ks_sdk_model_ops_t ops;
    ks_sdk_json_ops_t jops;
    void *user;
    ks_http_server_t *http;
    ks__predictor_t *pred; /* a transformer's predictor; NULL when predict is local */
    char predictor_path[KS__SDK_MAX_NAME + 32];
    stats_t *stats;
    int started;
    _Atomic int ready;
    _Atomic int draining;
};

struct ks_sdk_request {
    ks_sdk_server_t *s;
    ks_http_worker_t *w;
    h2o_req_t *req;
    ks_sdk_protocol_t protocol;
    enum step step; /* the next to run */
    /* the value between steps: as jansson, as text, or both (then the same) */
    json_t *j;
    char *text; /* NUL-terminated */
    size_t len;
    int text_owned; /* malloc'd, else in the request's pool */
    ks__call_t *call; /* to the predictor, while under way */
    uint64_t t0;
    int answered;
};

/* the name log lines go under: the program's (ks_sdk_options_parse), else this */
#define PROG(o) ((o)->program != NULL ? (o)->program : "kserve-sdk")

/* ---- small things -------------------------------------------------------------------------------- */

void *ks_sdk_alloc(size_t n)
{
    return malloc(n != 0 ? n : 1);
}

char *ks_sdk_strndup(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c == NULL)
        return NULL;
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

void ks_sdk_free(void *p)
{
    free(p);
}

void *ks_sdk_error_set(ks_sdk_error_t *e, int status, const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return NULL;
}

ks_sdk_protocol_t ks_sdk_request_protocol(const ks_sdk_request_t *r)
{
    return r->protocol;
}

ks_sdk_protocol_t ks_sdk_request_predictor_protocol(const ks_sdk_request_t *r)
{
    return r->s->o->protocol;
}

const char *ks_sdk_request_model_name(const ks_sdk_request_t *r)
{
    return r->s->o->model_name;
}

int ks_sdk_request_worker(const ks_sdk_request_t *r)
{
    return r->w->id;
}

const char *ks_sdk_request_header(const ks_sdk_request_t *r, const char *name, size_t *len)
{
    char lname[128];
    size_t n = strlen(name), dummy;
    if (n == 0 || n >= sizeof(lname))
        return NULL;
    for (size_t i = 0; i <= n; ++i)
        lname[i] = h2o_tolower(name[i]);
    return ks_http_header(r->req, lname, len != NULL ? len : &dummy);
}

char *ks_sdk_request_headers_json(const ks_sdk_request_t *r)
{
    const h2o_headers_t *hs = &r->req->headers;
    json_t *o = json_object();
    ks_buf_t b;
    char name[256];

    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < hs->size; ++i) {
        const h2o_header_t *h = &hs->entries[i];
        size_t nl = h->name->len < sizeof(name) - 1 ? h->name->len : sizeof(name) - 1;
        json_t *old, *v;
        for (size_t k = 0; k < nl; ++k)
            name[k] = h2o_tolower(h->name->base[k]);
        name[nl] = '\0';
        if ((old = json_object_get(o, name)) != NULL) {
            size_t ol = json_string_length(old);
            char *joined = malloc(ol + 2 + h->value.len);
            if (joined == NULL)
                goto oom;
            memcpy(joined, json_string_value(old), ol);
            memcpy(joined + ol, ", ", 2);
            memcpy(joined + ol + 2, h->value.base, h->value.len);
            v = json_stringn(joined, ol + 2 + h->value.len);
            free(joined);
        } else {
            v = json_stringn(h->value.base, h->value.len);
        }
        if (v == NULL)
            continue; /* not UTF-8: no JSON string can carry it */
        if (json_object_set_new(o, name, v) != 0)
            goto oom;
    }
    ks_buf_init(&b, 0);
    if (ks__sdk_dump(&b, o) != 0 || ks_buf_putc(&b, '\0') != 0) {
        ks_buf_free(&b);
        goto oom;
    }
    json_decref(o);
    return b.base;
oom:
    json_decref(o);
    return NULL;
}

static int has_step(const ks_sdk_server_t *s, enum step st)
{
    switch (st) {
    case STEP_PRE: return s->json_api ? s->jops.preprocess != NULL : s->ops.preprocess != NULL;
    case STEP_PREDICT: return s->json_api ? s->jops.predict != NULL : s->ops.predict != NULL;
    case STEP_POST: return s->json_api ? s->jops.postprocess != NULL : s->ops.postprocess != NULL;
    default: return 0;
    }
}

static void observe(ks_sdk_request_t *r, enum step st, uint64_t ns)
{
    stats_t *t = &r->s->stats[r->w->id];
    double sec = (double)ns / 1e9;
    int b = 0;
    while (b < KS_HIST_NBOUNDS && sec > ks_hist_bounds[b])
        b++;
    BUMP(t->hist[st][b], 1);
    BUMP(t->ns_sum[st], ns);
}

/* ---- the value between steps -------------------------------------------------------------------- */

static void value_clear(ks_sdk_request_t *r)
{
    if (r->j != NULL)
        json_decref(r->j);
    if (r->text_owned)
        free(r->text);
    r->j = NULL;
    r->text = NULL;
    r->len = 0;
    r->text_owned = 0;
}

/* the value as jansson (parsing its text); 0, or -1 with why in err */
static int need_json(ks_sdk_request_t *r, char *err, size_t errlen)
{
    if (r->j != NULL)
        return 0;
    return (r->j = ks__sdk_parse(r->text, r->len, err, errlen)) != NULL ? 0 : -1;
}

/* the value as NUL-terminated text (writing its jansson); 0 or KS_E* */
static int need_text(ks_sdk_request_t *r)
{
    ks_buf_t b;
    int rc;
    if (r->text != NULL)
        return 0;
    ks_buf_init(&b, 0);
    if ((rc = ks__sdk_dump(&b, r->j)) != 0 || (rc = ks_buf_putc(&b, '\0')) != 0) {
        ks_buf_free(&b);
        return rc;
    }
    r->text = b.base;
    r->len = b.len - 1;
    r->text_owned = 1;
    return 0;
}

/* ---- answers ------------------------------------------------------------------------------------- */

static void log_error(ks_sdk_request_t *r, int status, const char *msg)
{
    size_t idlen = 0;
    const char *id = ks_http_header(r->req, "x-request-id", &idlen);
    if (id == NULL) {
        id = "-";
        idlen = 1;
    }
    fprintf(stderr, "%s: %d %.*s model=%s request_id=%.*s: %s\n", PROG(r->s->o), status, (int)r->req->path.len, r->req->path.base,
            r->s->o->model_name, (int)idlen, id, msg);
}

static void fail(ks_sdk_request_t *r, int status, enum reason why, const char *msg)
{
    if (status < 400 || status > 599)
        status = 500;
    BUMP(r->s->stats[r->w->id].failure[why], 1);
    if (status >= 500)
        log_error(r, status, msg);
    r->answered = 1;
    value_clear(r);
    ks_http_send_error(r->w, r->req, status, msg[0] != '\0' ? msg : "inference failed");
}

static void respond(ks_sdk_request_t *r)
{
    if (need_text(r) != 0) {
        fail(r, 500, R_MODEL, "cannot write the answer as JSON");
        return;
    }
    BUMP(r->s->stats[r->w->id].success, 1);
    r->answered = 1;
    ks_http_send(r->req, 200, NULL, r->text, r->len);
    value_clear(r);
}

/* ---- the pipeline ------------------------------------------------------------------------------ */

static void run(ks_sdk_request_t *r);

/* runs step st of the user's code on the value; 0, or -1 once the request has its error answer */
static int call_step(ks_sdk_request_t *r, enum step st)
{
    ks_sdk_server_t *s = r->s;
    char err[KS_ERRLEN];
    uint64_t t0;

    err[0] = '\0';
    if (s->json_api) {
        ks_sdk_json_cb cb = st == STEP_PRE ? s->jops.preprocess : st == STEP_PREDICT ? s->jops.predict : s->jops.postprocess;
        char *out = NULL;
        int status = 500, rc;
        if (need_text(r) != 0) {
            fail(r, 500, R_MODEL, "cannot write the value as JSON");
            return -1;
        }
        t0 = ks_now_ns();
        rc = cb(s->user, r, r->text, r->len, &out, &status, err, sizeof(err));
        observe(r, st, ks_now_ns() - t0);
        err[sizeof(err) - 1] = '\0';
        if (rc != 0) {
            free(out);
            if (err[0] == '\0')
                snprintf(err, sizeof(err), "%s failed", step_names[st]);
            fail(r, status, status < 500 ? R_INVALID : R_MODEL, err);
            return -1;
        }
        if (out == NULL) {
            snprintf(err, sizeof(err), "%s returned no JSON", step_names[st]);
            fail(r, 500, R_MODEL, err);
            return -1;
        }
        value_clear(r);
        r->text = out;
        r->len = strlen(out);
        r->text_owned = 1;
        /* checked now, so that text which is not JSON is the step's fault, not the next one's */
        if (need_json(r, err, sizeof(err)) != 0) {
            char msg[KS_ERRLEN + 40];
            snprintf(msg, sizeof(msg), "%s returned text that is not JSON: %s", step_names[st], err);
            fail(r, 500, R_MODEL, msg);
            return -1;
        }
        return 0;
    } else {
        json_t *(*fn)(void *, const ks_sdk_request_t *, json_t *, ks_sdk_error_t *) =
            st == STEP_PRE ? s->ops.preprocess : st == STEP_PREDICT ? s->ops.predict : s->ops.postprocess;
        ks_sdk_error_t e;
        json_t *out;
        if (need_json(r, err, sizeof(err)) != 0) {
            fail(r, 500, R_MODEL, err);
            return -1;
        }
        memset(&e, 0, sizeof(e));
        t0 = ks_now_ns();
        out = fn(s->user, r, r->j, &e);
        observe(r, st, ks_now_ns() - t0);
        if (out == NULL) {
            e.message[sizeof(e.message) - 1] = '\0';
            if (e.message[0] == '\0')
                snprintf(e.message, sizeof(e.message), "%s failed", step_names[st]);
            if (e.status == 0)
                e.status = 500;
            fail(r, e.status, e.status < 500 ? R_INVALID : R_MODEL, e.message);
            return -1;
        }
        value_clear(r); /* releases the body the step borrowed */
        r->j = out;
        return 0;
    }
}

/*
 * The predictor's answer.  An error answer goes back to the client with its
 * status: its own {"error": ...} when it has one, else one saying what came.
 */
static void on_answer(void *data, int status, const char *body, size_t len, const char *err)
{
    ks_sdk_request_t *r = data;
    char msg[KS_ERRLEN];

    r->call = NULL;
    observe(r, STEP_PREDICT, ks_now_ns() - r->t0);
    if (err != NULL) {
        fail(r, status, R_PREDICTOR, err);
        return;
    }
    if (status < 200 || status > 299) {
        json_t *j = json_loadb(body, len, 0, NULL);
        json_t *e = json_is_object(j) ? json_object_get(j, "error") : NULL;
        if (json_is_string(e) && status >= 400 && status <= 599) {
            BUMP(r->s->stats[r->w->id].failure[R_PREDICTOR], 1);
            if (status >= 500)
                log_error(r, status, json_string_value(e));
            r->answered = 1;
            ks_http_send(r->req, status, NULL, body, len);
        } else {
            int n = (int)(len > 200 ? 200 : len);
            snprintf(msg, sizeof(msg), "the predictor answered %d: %.*s", status, n, body);
            fail(r, status >= 400 ? status : 502, R_PREDICTOR, msg);
        }
        json_decref(j);
        return;
    }
    value_clear(r);
    if ((r->text = ks_sdk_strndup(body, len)) == NULL) {
        fail(r, 500, R_MODEL, "out of memory");
        return;
    }
    r->len = len;
    r->text_owned = 1;
    if (need_json(r, msg, sizeof(msg)) != 0) {
        char m2[KS_ERRLEN + 60];
        snprintf(m2, sizeof(m2), "the predictor answered with text that is not JSON: %s", msg);
        fail(r, 502, R_PREDICTOR, m2);
        return;
    }
    r->step = STEP_POST;
    run(r);
}

/* the request headers a predictor call carries on, as KServe's transformer does (plus W3C tracing) */
static size_t forwarded_headers(h2o_req_t *req, char *buf, size_t cap)
{
    static const char *const names[] = {"x-request-id", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "traceparent",
                                        "tracestate"};
    size_t n = 0;
    for (size_t i = 0; i < KS_ARRAY_SIZE(names); ++i) {
        size_t vl;
        const char *v = ks_http_header(req, names[i], &vl);
        size_t need = strlen(names[i]) + vl + 4;
        if (v == NULL || n + need >= cap || memchr(v, '\r', vl) != NULL || memchr(v, '\n', vl) != NULL)
            continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s: %.*s\r\n", names[i], (int)vl, v);
    }
    return n;
}

static void forward(ks_sdk_request_t *r)
{
    char err[KS_ERRLEN], hdrs[1024];
    size_t hl;

    if (need_text(r) != 0) {
        fail(r, 500, R_MODEL, "cannot write the predictor's request as JSON");
        return;
    }
    hl = forwarded_headers(r->req, hdrs, sizeof(hdrs));
    r->t0 = ks_now_ns();
    r->call = ks__predictor_post(r->s->pred, r->w, r->s->predictor_path, hdrs, hl, r->text, r->len, on_answer, r, err,
                                 sizeof(err));
    if (r->call == NULL)
        fail(r, 502, R_PREDICTOR, err);
}

/* runs the steps from r->step on: returns once answered, or while the predictor has the request */
static void run(ks_sdk_request_t *r)
{
    for (; r->step < NSTEPS; r->step++) {
        if (r->step == STEP_PREDICT && r->s->pred != NULL) {
            r->step++; /* resumes at postprocess */
            forward(r);
            return;
        }
        if (has_step(r->s, r->step) && call_step(r, r->step) != 0)
            return;
    }
    respond(r);
}

static void on_dispose(void *p)
{
    ks_sdk_request_t *r = p;
    if (r->call != NULL) {
        ks__predictor_cancel(r->call);
        r->call = NULL;
    }
    value_clear(r);
}

static void infer(ks_sdk_server_t *s, ks_http_worker_t *w, h2o_req_t *req, ks_sdk_protocol_t proto)
{
    ks_sdk_request_t *r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), on_dispose);
    char err[KS_ERRLEN];
    size_t hl;

    memset(r, 0, sizeof(*r));
    r->s = s;
    r->w = w;
    r->req = req;
    r->protocol = proto;
    r->step = STEP_PRE;
    if (proto == KS_SDK_V2 && ks_http_header(req, "inference-header-content-length", &hl) != NULL) {
        fail(r, 400, R_INVALID, "binary tensor data (Inference-Header-Content-Length) is not supported here: send JSON");
        return;
    }
    if ((r->j = ks__sdk_parse(req->entity.base, req->entity.len, err, sizeof(err))) == NULL ||
        ks__sdk_check_body(r->j, proto, err, sizeof(err)) != 0) {
        fail(r, strcmp(err, "out of memory") == 0 ? 500 : 400, R_INVALID, err);
        return;
    }
    /* the body's text as it came, for a text step or the predictor: in the pool, NUL-terminated */
    r->text = h2o_strdup(&req->pool, req->entity.base, req->entity.len).base;
    r->len = req->entity.len;
    run(r);
}

/* ---- routes -------------------------------------------------------------------------------------- */

static void send_buf(ks_http_worker_t *w, h2o_req_t *req, int status)
{
    ks_http_send(req, status, NULL, w->out.base, w->out.len);
}

static void metrics(ks_sdk_server_t *s, ks_http_worker_t *w, h2o_req_t *req)
{
    static const char *const hist_names[NSTEPS] = {"request_preprocess_seconds", "request_predict_seconds",
                                                   "request_postprocess_seconds"};
    const char *m = s->o->model_name;
    ks_buf_t *o = &w->out;
    int nw = s->o->workers, rc = 0;

    ks_buf_reset(o);
    for (int st = 0; st < NSTEPS; ++st) {
        uint64_t cum = 0, sum = 0;
        rc |= ks_buf_printf(o, "# HELP %s %s latency\n# TYPE %s histogram\n", hist_names[st], step_names[st],
                            hist_names[st]);
        for (int b = 0; b <= KS_HIST_NBOUNDS; ++b) {
            for (int i = 0; i < nw; ++i)
                cum += READ(s->stats[i].hist[st][b]);
            rc |= ks_buf_printf(o, "%s_bucket{model_name=", hist_names[st]);
            rc |= ks_json_str(o, m, strlen(m));
            if (b == KS_HIST_NBOUNDS)
                rc |= ks_buf_printf(o, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
            else if (ks_hist_bounds[b] == (double)(int)ks_hist_bounds[b])
                rc |= ks_buf_printf(o, ",le=\"%.1f\"} %llu\n", ks_hist_bounds[b], (unsigned long long)cum);
            else
                rc |= ks_buf_printf(o, ",le=\"%g\"} %llu\n", ks_hist_bounds[b], (unsigned long long)cum);
        }
        for (int i = 0; i < nw; ++i)
            sum += READ(s->stats[i].ns_sum[st]);
        rc |= ks_buf_printf(o, "%s_sum{model_name=", hist_names[st]);
        rc |= ks_json_str(o, m, strlen(m));
        rc |= ks_buf_printf(o, "} %.9f\n%s_count{model_name=", (double)sum / 1e9, hist_names[st]);
        rc |= ks_json_str(o, m, strlen(m));
        rc |= ks_buf_printf(o, "} %llu\n", (unsigned long long)cum);
    }
    {
        uint64_t ok = 0;
        for (int i = 0; i < nw; ++i)
            ok += READ(s->stats[i].success);
        rc |= ks_buf_puts(o, "# HELP kserve_inference_request_success successful inference requests\n"
                             "# TYPE kserve_inference_request_success counter\nkserve_inference_request_success{model=");
        rc |= ks_json_str(o, m, strlen(m));
        rc |= ks_buf_printf(o, "} %llu\n", (unsigned long long)ok);
    }
    rc |= ks_buf_puts(o, "# HELP kserve_inference_request_failure failed inference requests, by reason\n"
                         "# TYPE kserve_inference_request_failure counter\n");
    for (int k = 0; k < NREASONS; ++k) {
        uint64_t n = 0;
        for (int i = 0; i < nw; ++i)
            n += READ(s->stats[i].failure[k]);
        rc |= ks_buf_puts(o, "kserve_inference_request_failure{model=");
        rc |= ks_json_str(o, m, strlen(m));
        rc |= ks_buf_printf(o, ",reason=\"%s\"} %llu\n", reason_names[k], (unsigned long long)n);
    }
    if (rc != 0)
        ks_http_send_error(w, req, 500, "cannot render metrics");
    else
        ks_http_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", o->base, o->len);
}

static void handle(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    ks_sdk_server_t *s = data;
    const char *name = s->o->model_name;
    char msg[400];
    ks_route_t rt;

    ks_route(req->method.base, req->method.len, req->path.base, req->path.len, &rt);
    if (rt.kind == KS_R_NOT_FOUND) {
        snprintf(msg, sizeof(msg), "no such endpoint: %.*s", (int)(req->path.len > 200 ? 200 : req->path.len),
                 req->path.base);
        ks_http_send_error(w, req, 404, msg);
        return;
    }
    if (!rt.method_ok) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, rt.allow, strlen(rt.allow));
        snprintf(msg, sizeof(msg), "method %.*s is not allowed on %.*s (use %s)",
                 (int)(req->method.len > 20 ? 20 : req->method.len), req->method.base,
                 (int)(req->path.len > 200 ? 200 : req->path.len), req->path.base, rt.allow);
        ks_http_send_error(w, req, 405, msg);
        return;
    }
    if (rt.model != NULL && rt.kind != KS_R_V2_UNLOAD) {
        if (rt.model_len != strlen(name) || memcmp(rt.model, name, rt.model_len) != 0) {
            snprintf(msg, sizeof(msg), "Model with name %.*s does not exist.", (int)(rt.model_len > 200 ? 200 : rt.model_len),
                     rt.model);
            ks_http_send_error(w, req, 404, msg);
            return;
        }
        if (!atomic_load(&s->ready) && rt.kind != KS_R_V2_MODEL_READY && rt.kind != KS_R_V2_LOAD) {
            snprintf(msg, sizeof(msg), "Model %s is not ready yet.", name);
            ks_http_send_error(w, req, 503, msg);
            return;
        }
    }
    switch (rt.kind) {
    case KS_R_ROOT: ks_http_send(req, 200, NULL, H2O_STRLIT("{\"status\":\"alive\"}")); break;
    case KS_R_V2_LIVE: ks_http_send(req, 200, NULL, H2O_STRLIT("{\"live\":true}")); break;
    case KS_R_V2_READY:
        if (atomic_load(&s->ready) && !atomic_load(&s->draining))
            ks_http_send(req, 200, NULL, H2O_STRLIT("{\"ready\":true}"));
        else
            ks_http_send(req, 503, NULL, H2O_STRLIT("{\"ready\":false}"));
        break;
    case KS_R_V2_SERVER:
        ks_http_send(req, 200, NULL,
                     H2O_STRLIT("{\"name\":\"kserve-c-sdk\",\"version\":\"" KS_SDK_VERSION "\",\"extensions\":[]}"));
        break;
    case KS_R_V1_MODELS:
    case KS_R_V2_MODELS:
        ks_buf_reset(&w->out);
        ks_buf_puts(&w->out, "{\"models\":[");
        ks_json_str(&w->out, name, strlen(name));
        ks_buf_puts(&w->out, "]}");
        send_buf(w, req, 200);
        break;
    case KS_R_V1_MODEL:
    case KS_R_V2_MODEL_READY:
        ks_buf_reset(&w->out);
        ks_buf_puts(&w->out, "{\"name\":");
        ks_json_str(&w->out, name, strlen(name));
        if (atomic_load(&s->ready)) {
            ks_buf_puts(&w->out, ",\"ready\":true}");
            send_buf(w, req, 200);
        } else {
            ks_buf_puts(&w->out, ",\"ready\":false}");
            send_buf(w, req, 503);
        }
        break;
    case KS_R_V2_MODEL:
        /* the SDK knows no tensors of the model's: its code reads what it is sent */
        ks_buf_reset(&w->out);
        ks_buf_puts(&w->out, "{\"name\":");
        ks_json_str(&w->out, name, strlen(name));
        ks_buf_puts(&w->out, ",\"versions\":[],\"platform\":\"kserve-c-sdk\",\"inputs\":[],\"outputs\":[]}");
        send_buf(w, req, 200);
        break;
    case KS_R_V1_PREDICT: infer(s, w, req, KS_SDK_V1); break;
    case KS_R_V2_INFER: infer(s, w, req, KS_SDK_V2); break;
    case KS_R_V1_EXPLAIN:
        snprintf(msg, sizeof(msg), "model %s has no explainer", name);
        ks_http_send_error(w, req, 501, msg);
        break;
    case KS_R_V2_LOAD:
        /* the one model is loaded when the server is ready */
        ks_buf_reset(&w->out);
        ks_buf_puts(&w->out, "{\"name\":");
        ks_json_str(&w->out, name, strlen(name));
        ks_buf_puts(&w->out, ",\"load\":true}");
        send_buf(w, req, 200);
        break;
    case KS_R_V2_UNLOAD:
        snprintf(msg, sizeof(msg), "this server cannot unload its model %s", name);
        ks_http_send_error(w, req, 501, msg);
        break;
    case KS_R_METRICS: metrics(s, w, req); break;
    default: ks_http_send_error(w, req, 404, "not found"); break;
    }
}

/* ---- start and stop ---------------------------------------------------------------------------- */

/*
 * h2o 2.2 cannot free an event loop, so a stopped ks_http server (and the
 * loops it holds) is kept here, reachable, until the process exits.
 */
typedef struct parked {
    struct parked *next;
    ks_http_server_t *http;
} parked_t;
static parked_t *parked;
static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;

static void park(ks_http_server_t *h)
{
    parked_t *p = malloc(sizeof(*p));
    if (p == NULL)
        return; /* then it leaks, which is all parking avoids */
    p->http = h;
    pthread_mutex_lock(&parked_lock);
    p->next = parked;
    parked = p;
    pthread_mutex_unlock(&parked_lock);
}

static ks_sdk_server_t *server_new(const ks_sdk_options_t *o, int json_api, const void *ops, void *user, char *err,
                                   size_t errlen)
{
    ks_sdk_options_t *defaults = NULL;
    ks_sdk_server_t *s = NULL;
    ks_http_config_t hc;
    int predict;

    if (ops == NULL) {
        ks_errorf(err, errlen, "no model operations given");
        return NULL;
    }
    if (o == NULL && (o = defaults = ks_sdk_options_new()) == NULL)
        goto oom;
    if (o->env_error != NULL) {
        ks_errorf(err, errlen, "%s", o->env_error);
        goto error;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL || (s->o = ks__sdk_options_dup(o)) == NULL)
        goto oom;
    s->json_api = json_api;
    if (json_api)
        s->jops = *(const ks_sdk_json_ops_t *)ops;
    else
        s->ops = *(const ks_sdk_model_ops_t *)ops;
    s->user = user;
    predict = has_step(s, STEP_PREDICT);
    if (!predict && s->o->predictor_host == NULL) {
        ks_errorf(err, errlen, "model %s has no predict callback and no --predictor_host to send requests to",
                  s->o->model_name);
        goto error;
    }
    if (!predict) {
        /* a transformer: the predictor's answers may be as big as a request may be, and more */
        size_t max_answer = s->o->max_body_size * 4 > (64u << 20) ? s->o->max_body_size * 4 : (64u << 20);
        if (ks__sdk_predictor_path(s->predictor_path, sizeof(s->predictor_path), s->o->protocol, s->o->model_name) != 0) {
            ks_errorf(err, errlen, "--model_name: too long");
            goto error;
        }
        if ((s->pred = ks__predictor_new(s->o->predictor_host, s->o->workers, (uint64_t)s->o->predictor_timeout * 1000,
                                         max_answer, err, errlen)) == NULL)
            goto error;
    }
    if ((s->stats = aligned_alloc(64, sizeof(stats_t) * (size_t)s->o->workers)) == NULL)
        goto oom;
    memset(s->stats, 0, sizeof(stats_t) * (size_t)s->o->workers);
    memset(&hc, 0, sizeof(hc));
    hc.host = s->o->http_host;
    hc.port = s->o->http_port;
    hc.workers = s->o->workers;
    hc.max_body = s->o->max_body_size;
    hc.handler = handle;
    hc.data = s;
    if ((s->http = ks_http_server_new(&hc, err, errlen)) == NULL)
        goto error;
    ks_sdk_options_free(defaults);
    return s;
oom:
    ks_errorf(err, errlen, "out of memory");
error:
    if (s != NULL) {
        ks__predictor_free(s->pred);
        free(s->stats);
        ks_sdk_options_free(s->o);
        free(s);
    }
    ks_sdk_options_free(defaults);
    return NULL;
}

ks_sdk_server_t *ks_sdk_server_new(const ks_sdk_options_t *o, const ks_sdk_model_ops_t *ops, void *user, char *err,
                                   size_t errlen)
{
    return server_new(o, 0, ops, user, err, errlen);
}

ks_sdk_server_t *ks_sdk_server_new_json(const ks_sdk_options_t *o, const ks_sdk_json_ops_t *ops, void *user,
                                        char *err, size_t errlen)
{
    return server_new(o, 1, ops, user, err, errlen);
}

ks__predictor_t *ks__sdk_server_predictor(ks_sdk_server_t *s)
{
    return s->pred;
}

int ks_sdk_server_port(const ks_sdk_server_t *s)
{
    return ks_http_server_port(s->http);
}

/* starts the workers with every asynchronous signal blocked: signals belong to the caller's threads */
static int start_workers(ks_sdk_server_t *s, char *err, size_t errlen)
{
    static const int sync_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    sigset_t all, old;
    int r;

    sigfillset(&all);
    for (size_t i = 0; i < KS_ARRAY_SIZE(sync_signals); ++i)
        sigdelset(&all, sync_signals[i]);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    r = ks_http_server_start(s->http, err, errlen);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    s->started = 1; /* even if only some threads started: stop joins those */
    return r;
}

int ks_sdk_server_start(ks_sdk_server_t *s, char *err, size_t errlen)
{
    char lerr[KS_ERRLEN];

    if (s->started || s->http == NULL) {
        ks_errorf(err, errlen, "the server has been started already");
        return KS_SDK_EINVAL;
    }
    if (start_workers(s, err, errlen) != 0)
        return KS_SDK_EINTERNAL;
    /* serving (health says not ready) while the model loads, as the model server does */
    if (s->json_api ? s->jops.load != NULL : s->ops.load != NULL) {
        int r;
        lerr[0] = '\0';
        r = s->json_api ? s->jops.load(s->user, lerr, sizeof(lerr)) : s->ops.load(s->user, lerr, sizeof(lerr));
        lerr[sizeof(lerr) - 1] = '\0';
        if (r != 0) {
            ks_errorf(err, errlen, "failed to load model %s: %s", s->o->model_name, lerr[0] ? lerr : "load failed");
            atomic_store(&s->draining, 1);
            ks_http_server_stop(s->http, 0);
            park(s->http);
            s->http = NULL;
            return KS_SDK_EINTERNAL;
        }
    }
    atomic_store(&s->ready, 1);
    return 0;
}

void ks_sdk_server_stop(ks_sdk_server_t *s)
{
    char err[KS_ERRLEN];
    if (s == NULL)
        return;
    atomic_store(&s->draining, 1); /* readiness fails from here on */
    if (s->http != NULL) {
        /* ks_http stops only started servers: one never started starts to stop at once */
        if (!s->started)
            start_workers(s, err, sizeof(err));
        ks_http_server_stop(s->http, s->o->drain_timeout * 1000);
        park(s->http);
    }
    ks__predictor_free(s->pred);
    free(s->stats);
    ks_sdk_options_free(s->o);
    free(s);
}

static int serve(const ks_sdk_options_t *o, int json_api, const void *ops, void *user)
{
    const char *prog = o != NULL ? PROG(o) : "kserve-sdk";
    char err[KS_ERRLEN];
    ks_sdk_server_t *s;
    sigset_t sigs, old;
    int sig = 0;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    if ((s = server_new(o, json_api, ops, user, err, sizeof(err))) == NULL) {
        fprintf(stderr, "%s: %s\n", prog, err);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    if (ks_sdk_server_start(s, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        ks_sdk_server_stop(s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    if (s->pred != NULL)
        fprintf(stderr, "%s: transformer for model %s ready on %s:%d, %d worker%s; predictor %s (%s)\n", prog,
                s->o->model_name, s->o->http_host, ks_sdk_server_port(s), s->o->workers, s->o->workers == 1 ? "" : "s",
                s->o->predictor_host, s->o->protocol == KS_SDK_V2 ? "v2" : "v1");
    else
        fprintf(stderr, "%s: model %s ready on %s:%d, %d worker%s\n", prog, s->o->model_name, s->o->http_host,
                ks_sdk_server_port(s), s->o->workers, s->o->workers == 1 ? "" : "s");
    while (sigwait(&sigs, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
        ;
    fprintf(stderr, "%s: %s: draining\n", prog, sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ks_sdk_server_stop(s);
    fprintf(stderr, "%s: stopped\n", prog);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}

int ks_sdk_serve(const ks_sdk_options_t *o, const ks_sdk_model_ops_t *ops, void *user)
{
    return serve(o, 0, ops, user);
}

int ks_sdk_serve_json(const ks_sdk_options_t *o, const ks_sdk_json_ops_t *ops, void *user)
{
    return serve(o, 1, ops, user);
}

int ks_sdk_main(int argc, char **argv, const char *name, const ks_sdk_model_ops_t *ops, void *user)
{
    const char *prog = "kserve-sdk", *slash;
    char err[KS_ERRLEN];
    ks_sdk_options_t *o;
    int r;

    if (argc > 0 && argv[0] != NULL && argv[0][0] != '\0')
        prog = (slash = strrchr(argv[0], '/')) != NULL ? slash + 1 : argv[0];
    if ((o = ks_sdk_options_new()) == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    if (name != NULL && ks_sdk_options_set(o, "model_name", name, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        ks_sdk_options_free(o);
        return 2;
    }
    r = ks_sdk_options_parse(o, argc, argv, err, sizeof(err));
    if (r == 1) {
        printf("usage: %s [options]\n%s", prog, ks_sdk_usage());
        ks_sdk_options_free(o);
        return 0;
    }
    if (r != 0) {
        fprintf(stderr, "%s: %s\nusage: %s [options]\n%s", prog, err, prog, ks_sdk_usage());
        ks_sdk_options_free(o);
        return 2;
    }
    r = ks_sdk_serve(o, ops, user);
    ks_sdk_options_free(o);
    return r;
}
