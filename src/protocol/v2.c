/*
 * V2 (Open Inference Protocol) infer request bodies, JSON and the binary
 * tensor data extension.
 */
#include <string.h>

#include "collect.h"
#include "yajl_glue.h"

typedef enum {
    ST_START,
    ST_ROOT,       /* in the root object, a key or the end next */
    ST_ROOT_VAL,   /* the value of root key `field` next */
    ST_RPARAMS,    /* in the request's parameters */
    ST_RPARAM_VAL,
    ST_INPUTS,     /* in "inputs": an object or the end next */
    ST_INPUT,      /* in one input object */
    ST_INPUT_VAL,
    ST_SHAPE,      /* in an input's "shape" */
    ST_IPARAMS,    /* in an input's parameters */
    ST_IPARAM_VAL,
    ST_DATA,       /* in an input's "data": the collector has it */
    ST_OUTPUTS,
    ST_OUTPUT,
    ST_OUTPUT_VAL,
    ST_OPARAMS,
    ST_OPARAM_VAL,
    ST_DONE,
} state_t;

enum {
    F_OTHER,
    F_ID,
    F_PARAMETERS,
    F_INPUTS,
    F_OUTPUTS,
    F_NAME,
    F_SHAPE,
    F_DATATYPE,
    F_DATA,
    F_BINARY_DATA_SIZE,
    F_BINARY_DATA,
    F_BINARY_DATA_OUTPUT,
    F_CONTENT_TYPE,
};

typedef struct input_state {
    int has_name, has_shape, has_datatype, has_data;
    ks_dtype_t dtype;
    char dtype_name[24];
    int64_t binary_size; /* -1: none */
    ks_collect_t col;
} input_state_t;

typedef struct v2_ctx {
    state_t st;
    int field;
    int skip;          /* depth inside a value we skip */
    state_t skip_ret;  /* state to return to when the skipped value ends */
    ks_infer_request_t *req;
    ks_arena_t *arena;
    input_state_t in;
    int code;
    char *err;
    size_t errlen;
} v2_ctx_t;

static int cancel(v2_ctx_t *x, int code, const char *fmt, const char *arg)
{
    ks_errorf(x->err, x->errlen, fmt, arg);
    x->code = code;
    return 0;
}

static int check(v2_ctx_t *x, int r)
{
    if (r != 0) {
        x->code = r;
        return 0;
    }
    return 1;
}

static int field_of(const unsigned char *k, size_t n)
{
    static const struct {
        const char *s;
        int f;
    } names[] = {
        {"id", F_ID},
        {"parameters", F_PARAMETERS},
        {"inputs", F_INPUTS},
        {"outputs", F_OUTPUTS},
        {"name", F_NAME},
        {"shape", F_SHAPE},
        {"datatype", F_DATATYPE},
        {"data", F_DATA},
        {"binary_data_size", F_BINARY_DATA_SIZE},
        {"binary_data", F_BINARY_DATA},
        {"binary_data_output", F_BINARY_DATA_OUTPUT},
        {"content_type", F_CONTENT_TYPE},
    };
    for (size_t i = 0; i < KS_ARRAY_SIZE(names); ++i)
        if (strlen(names[i].s) == n && memcmp(names[i].s, k, n) == 0)
            return names[i].f;
    return F_OTHER;
}

/* value states return here once the value is consumed */
static state_t parent_of(state_t value_state)
{
    switch (value_state) {
    case ST_ROOT_VAL: return ST_ROOT;
    case ST_RPARAM_VAL: return ST_RPARAMS;
    case ST_INPUT_VAL: return ST_INPUT;
    case ST_IPARAM_VAL: return ST_IPARAMS;
    case ST_OUTPUT_VAL: return ST_OUTPUT;
    case ST_OPARAM_VAL: return ST_OPARAMS;
    default: return value_state;
    }
}

static int is_value_state(state_t s)
{
    return parent_of(s) != s;
}

/* a container value nobody reads: skip it whole */
static int start_skip(v2_ctx_t *x)
{
    x->skip_ret = parent_of(x->st);
    x->skip = 1;
    return 1;
}

static int begin_input(v2_ctx_t *x)
{
    if (x->req->ninputs == KS_MAX_TENSORS)
        return cancel(x, KS_EINVAL, "too many inputs (at most %s)", "16");
    memset(&x->in, 0, sizeof(x->in));
    x->in.binary_size = -1;
    ks__collect_init(&x->in.col, x->arena, x->err, x->errlen);
    x->req->inputs[x->req->ninputs].name = NULL;
    return 1;
}

static int end_input(v2_ctx_t *x)
{
    ks_infer_request_t *req = x->req;
    ks_tensor_t *t = &req->inputs[req->ninputs];
    input_state_t *in = &x->in;
    const char *name = t->name != NULL ? t->name : "";
    size_t need;
    int r;

    if (!in->has_name)
        return cancel(x, KS_EINVAL, "an input has no \"name\"%s", "");
    if (!in->has_shape)
        return cancel(x, KS_EINVAL, "input \"%s\" has no \"shape\"", name);
    if (!in->has_datatype)
        return cancel(x, KS_EINVAL, "input \"%s\" has no \"datatype\"", name);
    if (in->dtype == KS_DT_INVALID) {
        ks_errorf(x->err, x->errlen, "input \"%s\": unknown datatype \"%s\"", name, in->dtype_name);
        x->code = KS_EINVAL;
        return 0;
    }
    t->dtype = in->dtype;
    if (ks_shape_count(t->shape, t->ndim, &need) != 0)
        return cancel(x, KS_EINVAL, "input \"%s\": shape has a negative or too large dimension", name);
    t->nelem = need;
    if (in->binary_size >= 0) {
        if (in->has_data)
            return cancel(x, KS_EINVAL, "input \"%s\" has both \"data\" and binary_data_size", name);
        req->binary_size[req->ninputs] = (size_t)in->binary_size;
        t->data = NULL; /* filled from the binary part */
    } else {
        if (!in->has_data)
            return cancel(x, KS_EINVAL, "input \"%s\" has no \"data\"", name);
        req->binary_size[req->ninputs] = SIZE_MAX;
        if ((r = ks__collect_to_tensor(&in->col, in->dtype, t)) != 0) {
            char msg[KS_ERRLEN];
            snprintf(msg, sizeof(msg), "%s", x->err);
            ks_errorf(x->err, x->errlen, "input \"%s\": %s", name, msg);
            x->code = r;
            return 0;
        }
        if (t->nelem != need) {
            char shape[128];
            size_t o = 0;
            for (int i = 0; i < t->ndim && o < sizeof(shape) - 24; ++i)
                o += (size_t)snprintf(shape + o, sizeof(shape) - o, "%s%lld", i ? "," : "", (long long)t->shape[i]);
            shape[o] = '\0';
            ks_errorf(x->err, x->errlen, "input \"%s\": shape [%s] needs %zu elements but data has %zu", name, shape,
                      need, t->nelem);
            x->code = KS_EINVAL;
            return 0;
        }
    }
    req->ninputs++;
    return 1;
}

static int on_value_scalar(v2_ctx_t *x, int kind, const char *s, size_t n)
{
    /* kind: 's' string, 'n' number, 'b' bool (n = value), 'z' null */
    ks_infer_request_t *req = x->req;

    if (x->st == ST_SHAPE) {
        ks_tensor_t *t = &req->inputs[req->ninputs];
        char tmp[32], *end;
        long long v;
        if (kind != 'n' || n >= sizeof(tmp))
            return cancel(x, KS_EINVAL, "\"shape\" must be a list of integers%s", "");
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        v = strtoll(tmp, &end, 10);
        if (*end != '\0')
            return cancel(x, KS_EINVAL, "\"shape\" must be a list of integers%s", "");
        if (v < 0)
            return cancel(x, KS_EINVAL, "\"shape\" has a negative dimension%s", "");
        if (t->ndim == KS_MAX_DIMS)
            return cancel(x, KS_EINVAL, "\"shape\" has more than %s dimensions", "8");
        t->shape[t->ndim++] = v;
        return 1;
    }
    if (!is_value_state(x->st))
        return cancel(x, KS_EINVAL, "unexpected value in the request%s", "");

    switch (x->st) {
    case ST_ROOT_VAL:
        if (x->field == F_ID) {
            if (kind != 's')
                return cancel(x, KS_EINVAL, "\"id\" must be a string%s", "");
            if ((req->id = ks_arena_strndup(x->arena, s, n)) == NULL)
                return cancel(x, KS_ETOOBIG, "request too large%s", "");
            req->id_len = n;
        } else if (x->field == F_INPUTS || x->field == F_OUTPUTS || x->field == F_PARAMETERS) {
            return cancel(x, KS_EINVAL, "\"%s\" has the wrong type",
                          x->field == F_INPUTS ? "inputs" : x->field == F_OUTPUTS ? "outputs" : "parameters");
        }
        break;
    case ST_RPARAM_VAL:
        if (x->field == F_BINARY_DATA_OUTPUT) {
            if (kind != 'b')
                return cancel(x, KS_EINVAL, "\"binary_data_output\" must be a boolean%s", "");
            req->binary_output = n != 0;
        } else if (x->field == F_CONTENT_TYPE && kind == 's') {
            req->content_type = ks_arena_strndup(x->arena, s, n);
        }
        break;
    case ST_INPUT_VAL: {
        ks_tensor_t *t = &req->inputs[req->ninputs];
        if (x->field == F_NAME) {
            if (kind != 's')
                return cancel(x, KS_EINVAL, "an input's \"name\" must be a string%s", "");
            if ((t->name = ks_arena_strndup(x->arena, s, n)) == NULL)
                return cancel(x, KS_ETOOBIG, "request too large%s", "");
            x->in.has_name = 1;
        } else if (x->field == F_DATATYPE) {
            if (kind != 's')
                return cancel(x, KS_EINVAL, "an input's \"datatype\" must be a string%s", "");
            x->in.dtype = ks_dtype_from_name(s, n);
            snprintf(x->in.dtype_name, sizeof(x->in.dtype_name), "%.*s", (int)(n < 20 ? n : 20), s);
            x->in.has_datatype = 1;
        } else if (x->field == F_SHAPE) {
            return cancel(x, KS_EINVAL, "\"shape\" must be a list of integers%s", "");
        } else if (x->field == F_DATA) {
            return cancel(x, KS_EINVAL, "\"data\" must be a list%s", "");
        } else if (x->field == F_PARAMETERS) {
            return cancel(x, KS_EINVAL, "an input's \"parameters\" must be an object%s", "");
        }
    } break;
    case ST_IPARAM_VAL:
        if (x->field == F_BINARY_DATA_SIZE) {
            char tmp[32], *end;
            long long v;
            if (kind != 'n' || n >= sizeof(tmp))
                return cancel(x, KS_EINVAL, "\"binary_data_size\" must be an integer%s", "");
            memcpy(tmp, s, n);
            tmp[n] = '\0';
            v = strtoll(tmp, &end, 10);
            if (*end != '\0' || v < 0)
                return cancel(x, KS_EINVAL, "\"binary_data_size\" must be a non-negative integer%s", "");
            x->in.binary_size = v;
        }
        break;
    case ST_OUTPUT_VAL:
        if (x->field == F_NAME) {
            if (kind != 's')
                return cancel(x, KS_EINVAL, "an output's \"name\" must be a string%s", "");
            if ((req->outputs[req->noutputs].name = ks_arena_strndup(x->arena, s, n)) == NULL)
                return cancel(x, KS_ETOOBIG, "request too large%s", "");
        }
        break;
    case ST_OPARAM_VAL:
        if (x->field == F_BINARY_DATA) {
            if (kind != 'b')
                return cancel(x, KS_EINVAL, "\"binary_data\" must be a boolean%s", "");
            req->outputs[req->noutputs].binary = n != 0;
        }
        break;
    default: break;
    }
    x->st = parent_of(x->st);
    return 1;
}

static int on_null(void *ctx)
{
    v2_ctx_t *x = ctx;
    if (x->skip)
        return 1;
    if (x->st == ST_DATA)
        return cancel(x, KS_EINVAL, "\"data\" holds null%s", "");
    return on_value_scalar(x, 'z', NULL, 0);
}

static int on_bool(void *ctx, int b)
{
    v2_ctx_t *x = ctx;
    if (x->skip)
        return 1;
    if (x->st == ST_DATA)
        return check(x, ks__collect_bool(&x->in.col, b));
    return on_value_scalar(x, 'b', NULL, (size_t)(b != 0));
}

static int on_number(void *ctx, const char *s, size_t n)
{
    v2_ctx_t *x = ctx;
    if (x->skip)
        return 1;
    if (x->st == ST_DATA)
        return check(x, ks__collect_number(&x->in.col, s, n));
    return on_value_scalar(x, 'n', s, n);
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    v2_ctx_t *x = ctx;
    if (x->skip)
        return 1;
    if (x->st == ST_DATA)
        return check(x, ks__collect_string(&x->in.col, (const char *)s, n));
    return on_value_scalar(x, 's', (const char *)s, n);
}

static int on_start_map(void *ctx)
{
    v2_ctx_t *x = ctx;
    if (x->skip) {
        x->skip++;
        return 1;
    }
    switch (x->st) {
    case ST_START: x->st = ST_ROOT; return 1;
    case ST_ROOT_VAL:
        if (x->field == F_PARAMETERS) {
            x->st = ST_RPARAMS;
            return 1;
        }
        if (x->field == F_INPUTS || x->field == F_OUTPUTS || x->field == F_ID)
            return cancel(x, KS_EINVAL, "\"%s\" has the wrong type",
                          x->field == F_INPUTS ? "inputs" : x->field == F_OUTPUTS ? "outputs" : "id");
        return start_skip(x);
    case ST_INPUTS: x->st = ST_INPUT; return begin_input(x);
    case ST_OUTPUTS:
        if (x->req->noutputs == KS_MAX_TENSORS)
            return cancel(x, KS_EINVAL, "too many requested outputs (at most %s)", "16");
        x->req->outputs[x->req->noutputs].name = NULL;
        x->req->outputs[x->req->noutputs].binary = 0;
        x->st = ST_OUTPUT;
        return 1;
    case ST_INPUT_VAL:
        if (x->field == F_PARAMETERS) {
            x->st = ST_IPARAMS;
            return 1;
        }
        if (x->field == F_DATA)
            return cancel(x, KS_EINVAL, "\"data\" must be a list%s", "");
        if (x->field != F_OTHER)
            return cancel(x, KS_EINVAL, "an input field has the wrong type%s", "");
        return start_skip(x);
    case ST_OUTPUT_VAL:
        if (x->field == F_PARAMETERS) {
            x->st = ST_OPARAMS;
            return 1;
        }
        return start_skip(x);
    case ST_RPARAM_VAL:
    case ST_IPARAM_VAL:
    case ST_OPARAM_VAL: return start_skip(x);
    case ST_DATA: return cancel(x, KS_EINVAL, "\"data\" must hold numbers, booleans or strings, not objects%s", "");
    case ST_SHAPE: return cancel(x, KS_EINVAL, "\"shape\" must be a list of integers%s", "");
    default: return cancel(x, KS_EINVAL, "the request body must be a JSON object%s", "");
    }
}

static int on_map_key(void *ctx, const unsigned char *k, size_t n)
{
    v2_ctx_t *x = ctx;
    if (x->skip)
        return 1;
    x->field = field_of(k, n);
    switch (x->st) {
    case ST_ROOT: x->st = ST_ROOT_VAL; break;
    case ST_RPARAMS: x->st = ST_RPARAM_VAL; break;
    case ST_INPUT:
        x->st = ST_INPUT_VAL;
        if (x->field == F_SHAPE && x->in.has_shape)
            return cancel(x, KS_EINVAL, "duplicate \"shape\"%s", "");
        if (x->field == F_DATA && x->in.has_data)
            return cancel(x, KS_EINVAL, "duplicate \"data\"%s", "");
        break;
    case ST_IPARAMS: x->st = ST_IPARAM_VAL; break;
    case ST_OUTPUT: x->st = ST_OUTPUT_VAL; break;
    case ST_OPARAMS: x->st = ST_OPARAM_VAL; break;
    default: return cancel(x, KS_EINVAL, "unexpected key%s", "");
    }
    return 1;
}

static int on_end_map(void *ctx)
{
    v2_ctx_t *x = ctx;
    if (x->skip) {
        if (--x->skip == 0)
            x->st = x->skip_ret;
        return 1;
    }
    switch (x->st) {
    case ST_ROOT: x->st = ST_DONE; return 1;
    case ST_RPARAMS: x->st = ST_ROOT; return 1;
    case ST_INPUT:
        x->st = ST_INPUTS;
        return end_input(x);
    case ST_IPARAMS: x->st = ST_INPUT; return 1;
    case ST_OUTPUT:
        if (x->req->outputs[x->req->noutputs].name == NULL)
            return cancel(x, KS_EINVAL, "a requested output has no \"name\"%s", "");
        x->req->noutputs++;
        x->st = ST_OUTPUTS;
        return 1;
    case ST_OPARAMS: x->st = ST_OUTPUT; return 1;
    default: return cancel(x, KS_EINVAL, "unexpected end of object%s", "");
    }
}

static int on_start_array(void *ctx)
{
    v2_ctx_t *x = ctx;
    if (x->skip) {
        x->skip++;
        return 1;
    }
    switch (x->st) {
    case ST_ROOT_VAL:
        if (x->field == F_INPUTS) {
            x->st = ST_INPUTS;
            return 1;
        }
        if (x->field == F_OUTPUTS) {
            x->st = ST_OUTPUTS;
            return 1;
        }
        if (x->field == F_ID || x->field == F_PARAMETERS)
            return cancel(x, KS_EINVAL, "\"%s\" has the wrong type", x->field == F_ID ? "id" : "parameters");
        return start_skip(x);
    case ST_INPUT_VAL:
        if (x->field == F_SHAPE) {
            x->in.has_shape = 1;
            x->req->inputs[x->req->ninputs].ndim = 0;
            x->st = ST_SHAPE;
            return 1;
        }
        if (x->field == F_DATA) {
            x->in.has_data = 1;
            x->in.col.hint_u64 = x->in.has_datatype && x->in.dtype == KS_DT_UINT64;
            x->st = ST_DATA;
            return check(x, ks__collect_start_array(&x->in.col));
        }
        if (x->field != F_OTHER)
            return cancel(x, KS_EINVAL, "an input field has the wrong type%s", "");
        return start_skip(x);
    case ST_DATA: return check(x, ks__collect_start_array(&x->in.col));
    case ST_RPARAM_VAL:
    case ST_IPARAM_VAL:
    case ST_OPARAM_VAL:
    case ST_OUTPUT_VAL: return start_skip(x);
    case ST_SHAPE: return cancel(x, KS_EINVAL, "\"shape\" must be a flat list of integers%s", "");
    default: return cancel(x, KS_EINVAL, "unexpected list in the request%s", "");
    }
}

static int on_end_array(void *ctx)
{
    v2_ctx_t *x = ctx;
    if (x->skip) {
        if (--x->skip == 0)
            x->st = x->skip_ret;
        return 1;
    }
    switch (x->st) {
    case ST_INPUTS:
    case ST_OUTPUTS: x->st = ST_ROOT; return 1;
    case ST_SHAPE: x->st = ST_INPUT; return 1;
    case ST_DATA:
        if (!check(x, ks__collect_end_array(&x->in.col)))
            return 0;
        if (x->in.col.depth == 0)
            x->st = ST_INPUT;
        return 1;
    default: return cancel(x, KS_EINVAL, "unexpected end of list%s", "");
    }
}

static const yajl_callbacks callbacks = {
    on_null, on_bool, NULL, NULL, on_number, on_string, on_start_map, on_map_key, on_end_map, on_start_array, on_end_array,
};

int ks_v2_parse_header_length(const char *s, size_t len, size_t body_len, size_t *out)
{
    size_t v = 0;
    if (len == 0 || len > 19)
        return KS_EINVAL;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return KS_EINVAL;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    if (v > body_len)
        return KS_EINVAL;
    *out = v;
    return 0;
}

/* Assigns the bytes after the JSON to the inputs that asked for binary data. */
static int assign_binary(ks_arena_t *a, ks_infer_request_t *req, const char *p, size_t len, char *err, size_t errlen)
{
    size_t off = 0;
    for (int i = 0; i < req->ninputs; ++i) {
        ks_tensor_t *t = &req->inputs[i];
        size_t sz = req->binary_size[i];
        if (sz == SIZE_MAX)
            continue;
        if (sz > len - off) {
            ks_errorf(err, errlen, "input \"%s\": binary_data_size %zu runs past the end of the body (%zu bytes left)",
                      t->name, sz, len - off);
            return KS_EINVAL;
        }
        if (t->dtype == KS_DT_BYTES) {
            /* each element: 4-byte little-endian length, then the bytes */
            ks_bytes_t *e;
            size_t q = 0, k = 0;
            if (t->nelem > sz / 4) {
                ks_errorf(err, errlen, "input \"%s\": binary BYTES data does not hold %zu length-prefixed elements in %zu bytes",
                          t->name, t->nelem, sz);
                return KS_EINVAL;
            }
            if ((e = ks_arena_alloc(a, (t->nelem + 1) * sizeof(*e))) == NULL) {
                ks_errorf(err, errlen, "request too large");
                return KS_ETOOBIG;
            }
            while (q < sz) {
                uint32_t l;
                if (sz - q < 4 || k == t->nelem)
                    break;
                memcpy(&l, p + off + q, 4);
                if (l > sz - q - 4)
                    break;
                e[k].base = p + off + q + 4;
                e[k].len = l;
                q += 4 + l;
                k++;
            }
            if (q != sz || k != t->nelem) {
                ks_errorf(err, errlen, "input \"%s\": binary BYTES data does not hold %zu length-prefixed elements in %zu bytes",
                          t->name, t->nelem, sz);
                return KS_EINVAL;
            }
            t->data = e;
        } else {
            size_t want = t->nelem * ks_dtype_size(t->dtype);
            void *d;
            if (t->nelem != 0 && want / t->nelem != ks_dtype_size(t->dtype))
                want = SIZE_MAX;
            if (want != sz) {
                ks_errorf(err, errlen, "input \"%s\": binary_data_size is %zu but shape and %s need %zu bytes", t->name,
                          sz, ks_dtype_name(t->dtype), want);
                return KS_EINVAL;
            }
            /* copy for alignment: the body gives no alignment guarantee */
            if ((d = ks_arena_alloc(a, sz + 1)) == NULL) {
                ks_errorf(err, errlen, "request too large");
                return KS_ETOOBIG;
            }
            memcpy(d, p + off, sz);
            t->data = d;
        }
        off += sz;
    }
    if (off != len) {
        ks_errorf(err, errlen, "the body has %zu bytes of binary data but the inputs' binary_data_size add up to %zu",
                  len, off);
        return KS_EINVAL;
    }
    return 0;
}

int ks_v2_decode(ks_arena_t *a, const char *body, size_t len, size_t json_len, ks_infer_request_t *req, char *err,
                 size_t errlen)
{
    v2_ctx_t x;
    yajl_handle h;
    int r;

    KS_ASSERT(json_len <= len);
    memset(&x, 0, sizeof(x));
    memset(req, 0, sizeof(*req));
    req->protocol = KS_PROTO_V2;
    req->body = body;
    req->body_len = len;
    x.req = req;
    x.arena = a;
    x.err = err;
    x.errlen = errlen;

    if ((h = ks__yajl_open(a, &callbacks, &x)) == NULL) {
        ks_errorf(err, errlen, "request too large");
        return KS_ETOOBIG;
    }
    if ((r = ks__yajl_run(h, body, json_len, &x.code, err, errlen)) != 0)
        return r;
    if (x.st != ST_DONE) {
        ks_errorf(err, errlen, "the request body must be a JSON object");
        return KS_EINVAL;
    }
    if (req->ninputs == 0) {
        ks_errorf(err, errlen, "the request has no \"inputs\"");
        return KS_EINVAL;
    }
    return assign_binary(a, req, body + json_len, len - json_len, err, errlen);
}
