/*
 * `kserve model-server`: the replica process.  The model registry, the
 * protocol handlers and the process lifecycle (ready after load, drain on
 * SIGTERM).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks/http.h"
#include "ks/json.h"
#include "ks/metrics.h"
#include "ks/queue.h"
#include "ks/router.h"
#include "ks/runtime.h"
#include "ks/server.h"

#define MAX_MODELS 64
#define SERVER_NAME "kserve-c"
#define SERVER_VERSION "0.1.0"

typedef struct retired {
    struct retired *next;
    ks_model_t *model;
    uint64_t epoch;
} retired_t;

/*
 * The registry: readers (every request) load slot pointers without a lock;
 * writers (load/unload, rare) serialise on the mutex, and a replaced model is
 * freed only once every worker has moved past it (epoch-based reclamation).
 */
static struct {
    _Atomic(ks_model_t *) slot[MAX_MODELS];
    pthread_mutex_t lock;
    retired_t *retired;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static ks_server_config_t cfg;
static ks_http_server_t *server;
static ks_queue_t *queue; /* the breaker in front of inference (src/queue/queue.c) */
static _Atomic int ready;  /* the startup model is loaded */

static ks_model_t *find_model(const char *name, size_t len)
{
    for (int i = 0; i < MAX_MODELS; ++i) {
        ks_model_t *m = atomic_load_explicit(&reg.slot[i], memory_order_acquire);
        if (m != NULL && strlen(m->name) == len && memcmp(m->name, name, len) == 0)
            return m;
    }
    return NULL;
}

/* snapshot of the loaded models; returns the count */
static int list_models(ks_model_t **out)
{
    int n = 0;
    for (int i = 0; i < MAX_MODELS; ++i) {
        ks_model_t *m = atomic_load_explicit(&reg.slot[i], memory_order_acquire);
        if (m != NULL)
            out[n++] = m;
    }
    return n;
}

static void retire(ks_model_t *m)
{
    retired_t *r = malloc(sizeof(*r));
    KS_ASSERT(r != NULL);
    r->model = m;
    r->epoch = ks_http_retire_epoch(server);
    r->next = reg.retired;
    reg.retired = r;
}

/* Puts m in the registry, replacing a model of the same name.  Lock held. */
static int publish(ks_model_t *m)
{
    int free_slot = -1;
    for (int i = 0; i < MAX_MODELS; ++i) {
        ks_model_t *old = atomic_load(&reg.slot[i]);
        if (old == NULL) {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(old->name, m->name) == 0) {
            atomic_store_explicit(&reg.slot[i], m, memory_order_release);
            retire(old);
            return 0;
        }
    }
    if (free_slot < 0)
        return KS_ETOOBIG;
    atomic_store_explicit(&reg.slot[free_slot], m, memory_order_release);
    return 0;
}

static int remove_model(const char *name, size_t len)
{
    for (int i = 0; i < MAX_MODELS; ++i) {
        ks_model_t *old = atomic_load(&reg.slot[i]);
        if (old != NULL && strlen(old->name) == len && memcmp(old->name, name, len) == 0) {
            atomic_store_explicit(&reg.slot[i], NULL, memory_order_release);
            retire(old);
            return 0;
        }
    }
    return KS_ENOENT;
}

/* Frees retired models no worker can see any more. */
static void reclaim(void)
{
    retired_t **p, *r;
    pthread_mutex_lock(&reg.lock);
    for (p = &reg.retired; (r = *p) != NULL;) {
        if (ks_http_quiescent(server, r->epoch)) {
            *p = r->next;
            ks_model_free(r->model);
            free(r);
        } else {
            p = &r->next;
        }
    }
    pthread_mutex_unlock(&reg.lock);
}

/* ---- handlers --------------------------------------------------------------- */

static void send_buf(ks_http_worker_t *w, h2o_req_t *req, int status)
{
    ks_http_send(req, status, NULL, w->out.base, w->out.len);
}

static void not_found_model(ks_http_worker_t *w, h2o_req_t *req, const char *name, size_t len)
{
    char msg[300];
    if (!atomic_load(&ready) && strlen(cfg.model_name) == len && memcmp(cfg.model_name, name, len) == 0) {
        snprintf(msg, sizeof(msg), "Model %.*s is not ready yet.", (int)len, name);
        ks_http_send_error(w, req, 503, msg);
        return;
    }
    snprintf(msg, sizeof(msg), "Model with name %.*s does not exist.", (int)(len > 200 ? 200 : len), name);
    ks_http_send_error(w, req, 404, msg);
}

static int status_of(int code)
{
    switch (code) {
    case KS_EINVAL: return 400;
    case KS_ENOENT: return 404;
    case KS_ETOOBIG: return 413;
    case KS_EUNAVAIL: return 503;
    case KS_ENOTSUP: return 501;
    default: return 500;
    }
}

static void log_error(h2o_req_t *req, const ks_model_t *m, int status, const char *msg)
{
    size_t idlen = 0;
    const char *id = ks_http_header(req, "x-request-id", &idlen);
    fprintf(stderr, "model-server: %d %.*s model=%s request_id=%.*s: %s\n", status, (int)req->path.len, req->path.base,
            m != NULL ? m->name : "-", (int)idlen, id != NULL ? id : "-", msg);
}

static void fail(ks_http_worker_t *w, h2o_req_t *req, ks_model_t *m, int code, const char *err)
{
    int status = status_of(code);
    ks_stats_failure(&m->stats[w->id], status >= 500 ? KS_FAIL_INTERNAL : KS_FAIL_INVALID);
    if (status >= 500)
        log_error(req, m, status, err);
    ks_http_send_error(w, req, status, err[0] ? err : "inference failed");
}

/* Decodes the body into ir; on failure answers the request and returns non-zero. */
static int decode(ks_http_worker_t *w, h2o_req_t *req, ks_model_t *m, ks_protocol_t proto, ks_infer_request_t *ir)
{
    char err[KS_ERRLEN];
    size_t json_len = req->entity.len, hl;
    const char *hv;
    int r;

    err[0] = '\0';
    if (req->entity.base == NULL || req->entity.len == 0) {
        fail(w, req, m, KS_EINVAL, "the request has no body");
        return -1;
    }
    if (proto == KS_PROTO_V1) {
        r = ks_v1_decode(&w->arena, req->entity.base, req->entity.len, ir, err, sizeof(err));
    } else {
        if ((hv = ks_http_header(req, "inference-header-content-length", &hl)) != NULL &&
            ks_v2_parse_header_length(hv, hl, req->entity.len, &json_len) != 0) {
            snprintf(err, sizeof(err),
                     "Inference-Header-Content-Length \"%.*s\" is not a length within the body's %zu bytes",
                     (int)(hl > 40 ? 40 : hl), hv, req->entity.len);
            fail(w, req, m, KS_EINVAL, err);
            return -1;
        }
        r = ks_v2_decode(&w->arena, req->entity.base, req->entity.len, json_len, ir, err, sizeof(err));
    }
    if (r == 0) {
        /* requested outputs must name the model's output (KServe's "output-0" too) */
        for (int i = 0; i < ir->noutputs; ++i) {
            const char *n = ir->outputs[i].name;
            if (strcmp(n, m->meta.output_name) != 0 && strcmp(n, "output-0") != 0 && strcmp(n, "predict") != 0) {
                snprintf(err, sizeof(err), "unknown output \"%.100s\": the model's output is \"%s\"", n,
                         m->meta.output_name);
                r = KS_EINVAL;
            }
        }
    }
    if (r != 0) {
        fail(w, req, m, r, err);
        return -1;
    }
    return 0;
}

/* Encodes and sends a successful answer. */
static void respond(ks_http_worker_t *w, h2o_req_t *req, ks_model_t *m, const ks_infer_request_t *ir,
                    ks_infer_response_t *res)
{
    size_t json_len;
    int r;

    /* a client's output name ("output-0") is kept in the answer */
    if (ir->noutputs == 1 && res->noutputs == 1)
        res->outputs[0].name = ir->outputs[0].name;
    ks_buf_reset(&w->out);
    if (ir->protocol == KS_PROTO_V1) {
        r = ks_v1_encode(&w->out, res);
        json_len = w->out.len;
    } else {
        r = ks_v2_encode(&w->out, m->name, ir, res, &json_len);
    }
    if (r != 0) {
        ks_http_send_error(w, req, 500, "cannot encode the response");
        return;
    }
    if (json_len != w->out.len) {
        char tmp[24];
        int n = snprintf(tmp, sizeof(tmp), "%zu", json_len);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("inference-header-content-length"), 0, NULL,
                              h2o_strdup(&req->pool, tmp, (size_t)n).base, (size_t)n);
        ks_http_send(req, 200, "application/octet-stream", w->out.base, w->out.len);
    } else {
        send_buf(w, req, 200);
    }
}

static uint64_t rows_of(const ks_infer_request_t *ir)
{
    return ir->ninputs > 0 && ir->inputs[0].ndim > 0 ? (uint64_t)ir->inputs[0].shape[0] : 1;
}

static void infer_now(ks_http_worker_t *w, h2o_req_t *req, ks_model_t *m, const ks_infer_request_t *ir)
{
    ks_infer_response_t res;
    char err[KS_ERRLEN];
    uint64_t t0 = ks_now_ns();
    int r;

    err[0] = '\0';
    memset(&res, 0, sizeof(res));
    if ((r = m->rt->infer(m, &w->arena, ir, &res, err, sizeof(err))) != 0) {
        fail(w, req, m, r, err);
        return;
    }
    ks_stats_success(&m->stats[w->id], ks_now_ns() - t0, rows_of(ir));
    respond(w, req, m, ir, &res);
}

/* ---- opportunistic batching ----------------------------------------------------
 *
 * For runtimes whose calls cost far more than their rows (the Python
 * interpreter), the requests a worker reads in one event-loop turn are
 * answered by one call at the end of that turn: no request waits for another
 * to arrive, and under load one call serves many.  Rows are independent, so
 * each caller gets exactly the rows it would get alone.
 */

#define BATCH_MAX_REQUESTS 256
#define BATCH_MAX_ROWS 4096

typedef struct pending {
    struct pending *next;
    h2o_req_t *req;
    ks_model_t *m;
    ks_infer_request_t ir; /* copied into the request's pool */
} pending_t;

typedef struct batcher {
    h2o_timeout_entry_t timer;
    ks_http_worker_t *w;
    pending_t *head, **tail;
    int n;
} batcher_t;

static batcher_t *batchers; /* one per worker */

static int batchable(const ks_model_t *m, const ks_infer_request_t *ir, const h2o_req_t *req)
{
    const ks_tensor_t *t = &ir->inputs[0];
    return m->rt->batch_rows && !ir->v1_complex && ir->content_type == NULL && ir->ninputs == 1 && t->ndim == 2 && t->shape[0] > 0 &&
           t->shape[0] <= BATCH_MAX_ROWS && t->dtype != KS_DT_BYTES && t->dtype != KS_DT_INVALID &&
           req->version < 0x200; /* an h2 stream can be reset under us; h1 stops reading until answered */
}

static const char *pool_str(h2o_req_t *req, const char *s, size_t len)
{
    return s == NULL ? NULL : h2o_strdup(&req->pool, s, len).base;
}

static void run_batches(h2o_timeout_entry_t *entry);

static void defer(ks_http_worker_t *w, h2o_req_t *req, ks_model_t *m, const ks_infer_request_t *ir)
{
    batcher_t *b = &batchers[w->id];
    pending_t *p = h2o_mem_alloc_pool(&req->pool, sizeof(*p));
    ks_tensor_t *t = &p->ir.inputs[0];
    size_t nbytes = ir->inputs[0].nelem * ks_dtype_size(ir->inputs[0].dtype);

    p->next = NULL;
    p->req = req;
    p->m = m;
    p->ir = *ir;
    p->ir.id = pool_str(req, ir->id, ir->id_len);
    t->name = pool_str(req, ir->inputs[0].name, strlen(ir->inputs[0].name));
    t->data = h2o_mem_alloc_pool(&req->pool, nbytes + 1);
    memcpy(t->data, ir->inputs[0].data, nbytes);
    for (int i = 0; i < ir->noutputs; ++i)
        p->ir.outputs[i].name = pool_str(req, ir->outputs[i].name, strlen(ir->outputs[i].name));
    if (p->ir.content_type != NULL)
        p->ir.content_type = pool_str(req, ir->content_type, strlen(ir->content_type));
    if (b->tail == NULL)
        b->tail = &b->head;
    *b->tail = p;
    b->tail = &p->next;
    b->n++;
    if (!h2o_timeout_is_linked(&b->timer)) {
        b->timer.cb = run_batches;
        b->w = w;
        h2o_timeout_link(w->ctx->loop, &w->ctx->zero_timeout, &b->timer);
    }
}

/* One runtime call for group[0..n); falls back to one call each if it fails. */
static void run_group(ks_http_worker_t *w, pending_t **group, int n)
{
    ks_model_t *m = group[0]->m;
    const ks_tensor_t *first = &group[0]->ir.inputs[0];
    size_t esz = ks_dtype_size(first->dtype), cols = (size_t)first->shape[1], rows = 0, off = 0;
    ks_infer_request_t big;
    ks_infer_response_t res;
    char err[KS_ERRLEN];
    uint64_t t0, ns;
    char *data;
    int r;

    for (int i = 0; i < n; ++i)
        rows += (size_t)group[i]->ir.inputs[0].shape[0];
    if ((data = ks_arena_alloc(&w->arena, rows * cols * esz + 1)) == NULL)
        goto one_by_one;
    for (int i = 0; i < n; ++i) {
        const ks_tensor_t *t = &group[i]->ir.inputs[0];
        memcpy(data + off, t->data, t->nelem * esz);
        off += t->nelem * esz;
    }
    memset(&big, 0, sizeof(big));
    big.protocol = group[0]->ir.protocol;
    big.ninputs = 1;
    big.inputs[0] = *first;
    big.inputs[0].shape[0] = (int64_t)rows;
    big.inputs[0].nelem = rows * cols;
    big.inputs[0].data = data;
    memset(&res, 0, sizeof(res));
    t0 = ks_now_ns();
    r = m->rt->infer(m, &w->arena, &big, &res, err, sizeof(err));
    ns = ks_now_ns() - t0;
    if (r != 0 || res.noutputs < 1)
        goto one_by_one;
    for (int k = 0; k < res.noutputs; ++k)
        if (res.outputs[k].ndim < 1 || res.outputs[k].shape[0] != (int64_t)rows)
            goto one_by_one;
    ks_stats_success_batch(&m->stats[w->id], ns, (uint64_t)n, rows);
    off = 0; /* rows handed out so far */
    for (int i = 0; i < n; ++i) {
        size_t mine = (size_t)group[i]->ir.inputs[0].shape[0];
        ks_infer_response_t sub = res;
        for (int k = 0; k < res.noutputs; ++k) {
            ks_tensor_t *o = &sub.outputs[k];
            size_t per_row = res.outputs[k].nelem / rows;
            size_t sz = o->dtype == KS_DT_BYTES ? sizeof(ks_bytes_t) : ks_dtype_size(o->dtype);
            o->data = (char *)res.outputs[k].data + off * per_row * sz;
            o->shape[0] = (int64_t)mine;
            o->nelem = mine * per_row;
        }
        respond(w, group[i]->req, m, &group[i]->ir, &sub);
        off += mine;
    }
    return;
one_by_one:
    for (int i = 0; i < n; ++i)
        infer_now(w, group[i]->req, group[i]->m, &group[i]->ir);
}

static int same_batch(const pending_t *a, const pending_t *b)
{
    return a->m == b->m && a->ir.inputs[0].dtype == b->ir.inputs[0].dtype &&
           a->ir.inputs[0].shape[1] == b->ir.inputs[0].shape[1];
}

static void run_batches(h2o_timeout_entry_t *entry)
{
    batcher_t *b = H2O_STRUCT_FROM_MEMBER(batcher_t, timer, entry);
    ks_http_worker_t *w = b->w;
    pending_t *list = b->head, *group[BATCH_MAX_REQUESTS], *rest, **rt;

    b->head = NULL;
    b->tail = &b->head;
    b->n = 0;
    while (list != NULL) {
        int n = 0;
        size_t rows = 0;
        /* take the first pending request and every later one it can share a call with */
        rest = NULL;
        rt = &rest;
        for (pending_t *p = list, *next; p != NULL; p = next) {
            next = p->next;
            p->next = NULL;
            if (n == 0 || (n < BATCH_MAX_REQUESTS && same_batch(group[0], p) &&
                           rows + (size_t)p->ir.inputs[0].shape[0] <= BATCH_MAX_ROWS)) {
                rows += (size_t)p->ir.inputs[0].shape[0];
                group[n++] = p;
            } else {
                *rt = p;
                rt = &p->next;
            }
        }
        if (n == 1)
            infer_now(w, group[0]->req, group[0]->m, &group[0]->ir);
        else
            run_group(w, group, n);
        ks_arena_reset(&w->arena);
        list = rest;
    }
}

static void infer(ks_http_worker_t *w, h2o_req_t *req, ks_model_t *m, ks_protocol_t proto)
{
    ks_infer_request_t ir;

    if (decode(w, req, m, proto, &ir) != 0)
        return;
    if (batchable(m, &ir, req))
        defer(w, req, m, &ir);
    else
        infer_now(w, req, m, &ir);
}

static void model_metadata(ks_http_worker_t *w, h2o_req_t *req, ks_model_t *m)
{
    ks_buf_t *o = &w->out;
    ks_buf_reset(o);
    ks_buf_puts(o, "{\"name\":");
    ks_json_str(o, m->name, strlen(m->name));
    ks_buf_puts(o, ",\"versions\":[],\"platform\":");
    ks_json_str(o, m->rt->name, strlen(m->rt->name));
    ks_buf_printf(o, ",\"inputs\":[{\"name\":\"input-0\",\"datatype\":\"%s\",\"shape\":[-1,%lld]}]",
                  ks_dtype_name(m->meta.input_dtype), (long long)m->meta.nfeatures);
    ks_buf_printf(o, ",\"outputs\":[{\"name\":\"%s\",\"datatype\":\"%s\",\"shape\":", m->meta.output_name,
                  ks_dtype_name(m->meta.output_dtype));
    if (m->meta.output_ndim == 2)
        ks_buf_printf(o, "[-1,%lld]}]}", (long long)m->meta.output_cols);
    else
        ks_buf_puts(o, "[-1]}]}");
    send_buf(w, req, 200);
}

static void list_json(ks_http_worker_t *w, h2o_req_t *req)
{
    ks_model_t *ms[MAX_MODELS];
    int n = list_models(ms);
    ks_buf_reset(&w->out);
    ks_buf_puts(&w->out, "{\"models\":[");
    for (int i = 0; i < n; ++i) {
        if (i)
            ks_buf_putc(&w->out, ',');
        ks_json_str(&w->out, ms[i]->name, strlen(ms[i]->name));
    }
    ks_buf_puts(&w->out, "]}");
    send_buf(w, req, 200);
}

static int valid_model_name(const char *n, size_t len)
{
    if (len == 0 || len > 200 || (len == 1 && n[0] == '.') || (len == 2 && n[0] == '.' && n[1] == '.'))
        return 0;
    for (size_t i = 0; i < len; ++i)
        if (n[i] == '/' || n[i] == '\\' || n[i] == '\0' || n[i] == '%')
            return 0;
    return 1;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * POST /v2/repository/models/{m}/load: the directory is --model_dir itself for
 * the server's own model, else <model_dir>/{m} (KServe's repository), else a
 * sibling <parent of model_dir>/{m} (how the platform lays out its cache).
 */
static void repo_load(ks_http_worker_t *w, h2o_req_t *req, const char *name, size_t len)
{
    char nm[256], dir[4608], parent[4096], err[KS_ERRLEN], msg[400];
    ks_model_t *m;
    char *slash;

    if (!valid_model_name(name, len)) {
        ks_http_send_error(w, req, 400, "invalid model name");
        return;
    }
    snprintf(nm, sizeof(nm), "%.*s", (int)len, name);
    if (strcmp(nm, cfg.model_name) == 0) {
        snprintf(dir, sizeof(dir), "%s", cfg.model_dir);
    } else {
        snprintf(dir, sizeof(dir), "%s/%s", cfg.model_dir, nm);
        if (!is_dir(dir)) {
            snprintf(parent, sizeof(parent), "%s", cfg.model_dir);
            while ((slash = strrchr(parent, '/')) != NULL && slash[1] == '\0' && slash != parent)
                *slash = '\0';
            if ((slash = strrchr(parent, '/')) != NULL)
                *(slash == parent ? slash + 1 : slash) = '\0';
            else
                strcpy(parent, ".");
            snprintf(dir, sizeof(dir), "%s/%s", parent, nm);
        }
    }
    if (!is_dir(dir)) {
        snprintf(msg, sizeof(msg), "Model with name %s does not exist (no directory %s/%s or beside it).", nm,
                 cfg.model_dir, nm);
        ks_http_send_error(w, req, 404, msg);
        return;
    }
    pthread_mutex_lock(&reg.lock);
    m = ks_model_load(nm, dir, cfg.nthread, cfg.workers, err, sizeof(err));
    if (m == NULL) {
        pthread_mutex_unlock(&reg.lock);
        snprintf(msg, sizeof(msg), "failed to load model %s: %s", nm, err);
        log_error(req, NULL, 500, msg);
        ks_http_send_error(w, req, 500, msg);
        return;
    }
    if (publish(m) != 0) {
        pthread_mutex_unlock(&reg.lock);
        ks_model_free(m);
        ks_http_send_error(w, req, 507, "too many models loaded");
        return;
    }
    pthread_mutex_unlock(&reg.lock);
    ks_buf_reset(&w->out);
    ks_buf_puts(&w->out, "{\"name\":");
    ks_json_str(&w->out, nm, strlen(nm));
    ks_buf_puts(&w->out, ",\"load\":true}");
    send_buf(w, req, 200);
}

static void repo_unload(ks_http_worker_t *w, h2o_req_t *req, const char *name, size_t len)
{
    int r;
    pthread_mutex_lock(&reg.lock);
    r = remove_model(name, len);
    pthread_mutex_unlock(&reg.lock);
    if (r != 0) {
        not_found_model(w, req, name, len);
        return;
    }
    ks_buf_reset(&w->out);
    ks_buf_puts(&w->out, "{\"name\":");
    ks_json_str(&w->out, name, len);
    ks_buf_puts(&w->out, ",\"unload\":true}");
    send_buf(w, req, 200);
}

/*
 * Inference (predict, infer, explain) goes through the queue's breaker once
 * its route and model are known to be good: `admitted` is 0 on arrival and 1
 * when the queue runs it, which routes again, because the model may have been
 * unloaded while the request waited.
 */
static void dispatch(ks_http_worker_t *w, h2o_req_t *req, int admitted)
{
    ks_route_t rt;
    ks_model_t *m = NULL;

    ks_route(req->method.base, req->method.len, req->path.base, req->path.len, &rt);
    if (rt.kind == KS_R_NOT_FOUND) {
        char msg[300];
        snprintf(msg, sizeof(msg), "no such endpoint: %.*s", (int)(req->path.len > 200 ? 200 : req->path.len),
                 req->path.base);
        ks_http_send_error(w, req, 404, msg);
        return;
    }
    if (!rt.method_ok) {
        char msg[300];
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, rt.allow, strlen(rt.allow));
        snprintf(msg, sizeof(msg), "method %.*s is not allowed on %.*s (use %s)", (int)(req->method.len > 20 ? 20 : req->method.len),
                 req->method.base, (int)(req->path.len > 200 ? 200 : req->path.len), req->path.base, rt.allow);
        ks_http_send_error(w, req, 405, msg);
        return;
    }
    switch (rt.kind) {
    case KS_R_V1_MODEL:
    case KS_R_V1_PREDICT:
    case KS_R_V1_EXPLAIN:
    case KS_R_V2_MODEL:
    case KS_R_V2_MODEL_READY:
    case KS_R_V2_INFER:
        if ((m = find_model(rt.model, rt.model_len)) == NULL) {
            not_found_model(w, req, rt.model, rt.model_len);
            return;
        }
        break;
    default: break;
    }
    switch (rt.kind) {
    case KS_R_V1_PREDICT:
    case KS_R_V1_EXPLAIN:
    case KS_R_V2_INFER:
        if (!admitted) {
            ks_queue_submit(queue, w, req);
            return;
        }
        break;
    case KS_R_ROOT:
    case KS_R_V2_LIVE:
    case KS_R_V2_READY:
    case KS_R_METRICS: break; /* probes and scrapes go on during a drain */
    default: ks_queue_note_request(queue); break;
    }

    switch (rt.kind) {
    case KS_R_ROOT: ks_http_send(req, 200, NULL, H2O_STRLIT("{\"status\":\"alive\"}")); break;
    case KS_R_V2_LIVE: ks_http_send(req, 200, NULL, H2O_STRLIT("{\"live\":true}")); break;
    case KS_R_V2_READY:
        if (atomic_load(&ready) && !ks_queue_draining(queue))
            ks_http_send(req, 200, NULL, H2O_STRLIT("{\"ready\":true}"));
        else
            ks_http_send(req, 503, NULL, H2O_STRLIT("{\"ready\":false}"));
        break;
    case KS_R_V2_SERVER:
        ks_http_send(req, 200, NULL,
                     H2O_STRLIT("{\"name\":\"" SERVER_NAME "\",\"version\":\"" SERVER_VERSION
                                "\",\"extensions\":[\"binary_tensor_data\",\"model_repository\"]}"));
        break;
    case KS_R_V1_MODELS:
    case KS_R_V2_MODELS: list_json(w, req); break;
    case KS_R_V1_MODEL:
    case KS_R_V2_MODEL_READY:
        ks_buf_reset(&w->out);
        ks_buf_puts(&w->out, "{\"name\":");
        ks_json_str(&w->out, m->name, strlen(m->name));
        ks_buf_puts(&w->out, ",\"ready\":true}");
        send_buf(w, req, 200);
        break;
    case KS_R_V2_MODEL: model_metadata(w, req, m); break;
    case KS_R_V1_PREDICT: infer(w, req, m, KS_PROTO_V1); break;
    case KS_R_V2_INFER: infer(w, req, m, KS_PROTO_V2); break;
    case KS_R_V1_EXPLAIN: {
        char msg[300];
        snprintf(msg, sizeof(msg), "model %s has no explainer", m->name);
        ks_http_send_error(w, req, 501, msg);
    } break;
    case KS_R_V2_LOAD: repo_load(w, req, rt.model, rt.model_len); break;
    case KS_R_V2_UNLOAD: repo_unload(w, req, rt.model, rt.model_len); break;
    case KS_R_METRICS: {
        ks_model_t *ms[MAX_MODELS];
        int n = list_models(ms);
        ks_buf_reset(&w->out);
        if (ks_metrics_render(&w->out, ms, n) != 0)
            ks_http_send_error(w, req, 500, "cannot render metrics");
        else
            ks_http_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", w->out.base, w->out.len);
    } break;
    default: ks_http_send_error(w, req, 404, "not found"); break;
    }
}

static void run_admitted(ks_http_worker_t *w, h2o_req_t *req, ks_queue_ticket_t *t, void *data)
{
    dispatch(w, req, 1);
}

static void handle(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    if (ks_queue_serve_endpoint(queue, w, req, atomic_load(&ready)))
        return;
    dispatch(w, req, 0);
}

/* ---- lifecycle -------------------------------------------------------------- */

int ks_model_server_main(int argc, char **argv)
{
    char err[KS_ERRLEN];
    ks_http_config_t hc;
    ks_queue_config_t qc;
    ks_model_t *m;
    sigset_t sigs;
    uint64_t t0 = ks_now_ns();
    int r, sig = 0;

    r = ks_server_parse_flags(argc, argv, &cfg, err, sizeof(err));
    if (r == 1) {
        fputs(ks_server_usage, stdout);
        return 0;
    }
    if (r != 0) {
        fprintf(stderr, "kserve model-server: %s\n%s", err, ks_server_usage);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* the workers inherit this mask: only the main thread takes the signals */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if ((batchers = calloc((size_t)cfg.workers, sizeof(*batchers))) == NULL) {
        fprintf(stderr, "kserve model-server: out of memory\n");
        return 1;
    }
    memset(&qc, 0, sizeof(qc));
    qc.container_concurrency = cfg.container_concurrency;
    qc.timeout_seconds = cfg.timeout_seconds;
    qc.workers = cfg.workers;
    qc.run = run_admitted;
    if ((queue = ks_queue_new(&qc)) == NULL) {
        fprintf(stderr, "kserve model-server: out of memory\n");
        return 1;
    }
    memset(&hc, 0, sizeof(hc));
    hc.host = cfg.http_host;
    hc.port = cfg.http_port;
    hc.workers = cfg.workers;
    hc.max_body = cfg.max_body_size;
    hc.handler = handle;
    if ((server = ks_http_server_new(&hc, err, sizeof(err))) == NULL) {
        fprintf(stderr, "kserve model-server: %s\n", err);
        return 1;
    }
    if (ks_http_server_start(server, err, sizeof(err)) != 0) {
        fprintf(stderr, "kserve model-server: %s\n", err);
        return 1;
    }
    /* serving (health says 503) while the model loads */
    if ((m = ks_model_load(cfg.model_name, cfg.model_dir, cfg.nthread, cfg.workers, err, sizeof(err))) == NULL) {
        fprintf(stderr, "kserve model-server: failed to load model %s from %s: %s\n", cfg.model_name, cfg.model_dir, err);
        ks_http_server_stop(server, 0);
        return 1;
    }
    pthread_mutex_lock(&reg.lock);
    publish(m);
    pthread_mutex_unlock(&reg.lock);
    atomic_store(&ready, 1);
    fprintf(stderr, "kserve model-server: model %s (%s, %s) ready on %s:%d in %.1f ms, %d worker%s\n", cfg.model_name,
            m->rt->name, m->path, cfg.http_host, ks_http_server_port(server), (double)(ks_now_ns() - t0) / 1e6,
            cfg.workers, cfg.workers == 1 ? "" : "s");

    for (;;) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        reclaim();
    }
    ks_queue_start_drain(queue); /* readiness fails from here on */
    if (cfg.drain_seconds > 0) {
        /* Knative's drain: keep serving whoever still sends, until it has been quiet for a while */
        fprintf(stderr, "kserve model-server: %s: draining (readiness fails; stop after %d s without a request)\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.drain_seconds);
        for (;;) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            int again = sigtimedwait(&sigs, NULL, &ts);
            if (again == SIGTERM || again == SIGINT) {
                fprintf(stderr, "kserve model-server: second signal: stopping now\n");
                break;
            }
            reclaim();
            if (ks_queue_quiet(queue, cfg.drain_seconds * 1000))
                break;
        }
    } else {
        fprintf(stderr, "kserve model-server: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    ks_http_server_stop(server, cfg.drain_timeout * 1000);
    ks_queue_free(queue);
    queue = NULL;
    fprintf(stderr, "kserve model-server: stopped\n");
    /* the process exits here; models are not freed one by one (libpython would make that slow) */
    return 0;
}
