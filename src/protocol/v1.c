/*
 * V1 predict bodies: {"instances": [...]} or {"inputs": [...]}.
 */
#include <string.h>

#include "collect.h"
#include "yajl_glue.h"

enum { ROOT_NONE, ROOT_IN, ROOT_VALUE, ROOT_DONE };
enum { K_OTHER = -1, K_INSTANCES = 0, K_INPUTS = 1 };

typedef struct v1_ctx {
    ks_collect_t col[2];
    int seen[2];
    int root;     /* ROOT_* */
    int key;      /* K_* of the root key whose value comes next */
    int active;   /* collector being filled, -1 none */
    int skip;     /* depth inside a container we skip */
    int code;     /* error code set by a callback */
    char *err;
    size_t errlen;
} v1_ctx_t;

static int cancel(v1_ctx_t *x, int code, const char *msg)
{
    if (msg != NULL)
        ks_errorf(x->err, x->errlen, "%s", msg);
    x->code = code;
    return 0;
}

static int check(v1_ctx_t *x, int r)
{
    if (r != 0) {
        x->code = r;
        return 0;
    }
    return 1;
}

/* a scalar value: either inside the collection or a root-level value */
static int on_scalar(v1_ctx_t *x, int (*collect)(ks_collect_t *, const void *, size_t), const void *p, size_t n)
{
    if (x->skip > 0)
        return 1;
    if (x->active >= 0)
        return check(x, collect(&x->col[x->active], p, n));
    if (x->root == ROOT_VALUE) {
        if (x->key != K_OTHER) {
            ks_errorf(x->err, x->errlen, "\"%s\" must be a list", x->key == K_INSTANCES ? "instances" : "inputs");
            return cancel(x, KS_EINVAL, NULL);
        }
        x->root = ROOT_IN;
        return 1;
    }
    return cancel(x, KS_EINVAL, "the request body must be a JSON object");
}

static int c_number(ks_collect_t *c, const void *p, size_t n) { return ks__collect_number(c, p, n); }
static int c_string(ks_collect_t *c, const void *p, size_t n) { return ks__collect_string(c, p, n); }
static int c_true(ks_collect_t *c, const void *p, size_t n) { (void)p, (void)n; return ks__collect_bool(c, 1); }
static int c_false(ks_collect_t *c, const void *p, size_t n) { (void)p, (void)n; return ks__collect_bool(c, 0); }
static int c_other(ks_collect_t *c, const void *p, size_t n) { (void)p, (void)n; return ks__collect_other(c); }

static int on_null(void *ctx) { return on_scalar(ctx, c_other, NULL, 0); }
static int on_bool(void *ctx, int b) { return on_scalar(ctx, b ? c_true : c_false, NULL, 0); }
static int on_number(void *ctx, const char *s, size_t n) { return on_scalar(ctx, c_number, s, n); }
static int on_string(void *ctx, const unsigned char *s, size_t n) { return on_scalar(ctx, c_string, s, n); }

static int on_start_map(void *ctx)
{
    v1_ctx_t *x = ctx;
    if (x->skip > 0) {
        x->skip++;
        return 1;
    }
    if (x->active >= 0) {
        /* a row given as an object (a pandas record): only Python runtimes take it */
        if (!check(x, ks__collect_other(&x->col[x->active])))
            return 0;
        x->skip = 1;
        return 1;
    }
    if (x->root == ROOT_NONE) {
        x->root = ROOT_IN;
        return 1;
    }
    if (x->root == ROOT_VALUE) {
        if (x->key != K_OTHER) {
            ks_errorf(x->err, x->errlen, "\"%s\" must be a list", x->key == K_INSTANCES ? "instances" : "inputs");
            return cancel(x, KS_EINVAL, NULL);
        }
        x->skip = 1;
        x->root = ROOT_IN;
        return 1;
    }
    return cancel(x, KS_EINVAL, "the request body must be a JSON object");
}

static int on_map_key(void *ctx, const unsigned char *k, size_t n)
{
    v1_ctx_t *x = ctx;
    if (x->skip > 0)
        return 1;
    x->root = ROOT_VALUE;
    if (n == 9 && memcmp(k, "instances", 9) == 0)
        x->key = K_INSTANCES;
    else if (n == 6 && memcmp(k, "inputs", 6) == 0)
        x->key = K_INPUTS;
    else
        x->key = K_OTHER;
    return 1;
}

static int on_end_map(void *ctx)
{
    v1_ctx_t *x = ctx;
    if (x->skip > 0) {
        x->skip--;
        return 1;
    }
    x->root = ROOT_DONE;
    return 1;
}

static int on_start_array(void *ctx)
{
    v1_ctx_t *x = ctx;
    if (x->skip > 0) {
        x->skip++;
        return 1;
    }
    if (x->active >= 0)
        return check(x, ks__collect_start_array(&x->col[x->active]));
    if (x->root != ROOT_VALUE)
        return cancel(x, KS_EINVAL, "the request body must be a JSON object");
    if (x->key == K_OTHER) {
        x->skip = 1;
        x->root = ROOT_IN;
        return 1;
    }
    if (x->seen[x->key]) {
        ks_errorf(x->err, x->errlen, "duplicate key \"%s\"", x->key == K_INSTANCES ? "instances" : "inputs");
        return cancel(x, KS_EINVAL, NULL);
    }
    x->seen[x->key] = 1;
    x->active = x->key;
    return check(x, ks__collect_start_array(&x->col[x->active]));
}

static int on_end_array(void *ctx)
{
    v1_ctx_t *x = ctx;
    if (x->skip > 0) {
        x->skip--;
        return 1;
    }
    if (x->active < 0)
        return cancel(x, KS_EINVAL, "unexpected end of list");
    if (!check(x, ks__collect_end_array(&x->col[x->active])))
        return 0;
    if (x->col[x->active].depth == 0) {
        x->active = -1;
        x->root = ROOT_IN;
    }
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null, on_bool, NULL, NULL, on_number, on_string, on_start_map, on_map_key, on_end_map, on_start_array, on_end_array,
};

int ks_v1_decode(ks_arena_t *a, const char *body, size_t len, ks_infer_request_t *req, char *err, size_t errlen)
{
    v1_ctx_t x;
    yajl_handle h;
    ks_collect_t *c;
    ks_tensor_t *t;
    ks_dtype_t dt;
    int r, ndim;

    memset(&x, 0, sizeof(x));
    x.active = -1;
    x.err = err;
    x.errlen = errlen;
    ks__collect_init(&x.col[0], a, err, errlen);
    ks__collect_init(&x.col[1], a, err, errlen);
    memset(req, 0, sizeof(*req));
    req->protocol = KS_PROTO_V1;
    req->body = body;
    req->body_len = len;

    if ((h = ks__yajl_open(a, &callbacks, &x)) == NULL) {
        ks_errorf(err, errlen, "request too large");
        return KS_ETOOBIG;
    }
    if ((r = ks__yajl_run(h, body, len, &x.code, err, errlen)) != 0)
        return r;
    if (x.root != ROOT_DONE) {
        ks_errorf(err, errlen, "the request body must be a JSON object");
        return KS_EINVAL;
    }
    /* KServe reads "inputs" when present, else "instances" */
    if (x.seen[K_INPUTS])
        c = &x.col[K_INPUTS];
    else if (x.seen[K_INSTANCES])
        c = &x.col[K_INSTANCES];
    else {
        ks_errorf(err, errlen, "expected \"instances\" or \"inputs\" in the request body");
        return KS_EINVAL;
    }
    if (c->shape[0] == 0) {
        ks_errorf(err, errlen, "\"%s\" is empty: nothing to predict", c == &x.col[K_INPUTS] ? "inputs" : "instances");
        return KS_EINVAL;
    }
    req->ninputs = 1;
    req->binary_size[0] = SIZE_MAX;
    t = &req->inputs[0];
    t->name = c == &x.col[K_INPUTS] ? "inputs" : "instances";
    ndim = ks__collect_ndim(c);
    t->ndim = ndim;
    memcpy(t->shape, c->shape, sizeof(int64_t) * (size_t)ndim);
    if (c->complex) {
        req->v1_complex = 1;
        t->dtype = KS_DT_INVALID;
        return 0;
    }
    switch (c->kind) {
    case KS_CK_BOOL: dt = KS_DT_BOOL; break;
    case KS_CK_INT: dt = c->u64 ? KS_DT_UINT64 : KS_DT_INT64; break;
    case KS_CK_STR: dt = KS_DT_BYTES; break;
    case KS_CK_FLOAT:
    default: dt = KS_DT_FP64; break;
    }
    t->dtype = dt;
    if (c->kind == KS_CK_NONE) {
        /* only empty rows: [[], []] */
        t->dtype = KS_DT_FP64;
        t->nelem = 0;
        t->data = NULL;
        return 0;
    }
    return ks__collect_to_tensor(c, dt, t);
}
