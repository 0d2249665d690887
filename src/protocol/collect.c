#include <errno.h>
#include <math.h>
#include <string.h>

#include "collect.h"

void ks__collect_init(ks_collect_t *c, ks_arena_t *a, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->arena = a;
    c->leaf = -1;
    for (int i = 0; i < KS_MAX_DIMS; ++i)
        c->shape[i] = -1;
    c->err = err;
    c->errlen = errlen;
}

static int fail(ks_collect_t *c, int code, const char *msg)
{
    ks_errorf(c->err, c->errlen, "%s", msg);
    return code;
}

int ks__collect_start_array(ks_collect_t *c)
{
    if (c->depth > 0)
        c->count[c->depth]++;
    if (c->leaf >= 0 && c->depth >= c->leaf)
        return fail(c, KS_EINVAL, "ragged nested list: rows mix numbers and lists");
    if (c->depth >= KS_MAX_DIMS)
        return fail(c, KS_EINVAL, "tensor nested too deeply (at most 8 dimensions)");
    c->depth++;
    c->count[c->depth] = 0;
    return 0;
}

int ks__collect_end_array(ks_collect_t *c)
{
    int d = c->depth; /* the array being closed holds elements at depth d */
    size_t n = c->count[d];

    if (c->leaf < 0 && n == 0)
        c->leaf = d; /* an empty innermost list: its dimension is 0 */
    if (c->shape[d - 1] < 0) {
        c->shape[d - 1] = (int64_t)n;
    } else if ((size_t)c->shape[d - 1] != n) {
        ks_errorf(c->err, c->errlen, "ragged nested list: a list at depth %d has %zu elements, expected %lld", d, n,
                  (long long)c->shape[d - 1]);
        return KS_EINVAL;
    }
    c->depth--;
    return 0;
}

static int scalar_position(ks_collect_t *c)
{
    if (c->depth == 0)
        return fail(c, KS_EINVAL, "expected a list");
    if (c->leaf < 0)
        c->leaf = c->depth;
    else if (c->leaf != c->depth)
        return fail(c, KS_EINVAL, "ragged nested list: rows mix numbers and lists");
    c->count[c->depth]++;
    return 0;
}

static int grow_slots(ks_collect_t *c)
{
    size_t ncap = c->cap == 0 ? 64 : c->cap * 2;
    int64_t *p = ks_arena_alloc(c->arena, ncap * sizeof(int64_t));
    if (p == NULL)
        return fail(c, KS_ETOOBIG, "request too large");
    if (c->n != 0)
        memcpy(p, c->v.i, c->n * sizeof(int64_t));
    c->v.i = p;
    c->cap = ncap;
    return 0;
}

static void ints_to_floats(ks_collect_t *c)
{
    for (size_t i = 0; i < c->n; ++i)
        c->v.d[i] = (double)c->v.i[i];
}

int ks__collect_number(ks_collect_t *c, const char *s, size_t len)
{
    char tmp[72], *end;
    int r, integral = 1;

    if ((r = scalar_position(c)) != 0)
        return r;
    if (c->kind == KS_CK_STR) {
        c->complex = 1;
        return 0;
    }
    if (len >= sizeof(tmp))
        return fail(c, KS_EINVAL, "number literal too long");
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    for (size_t i = 0; i < len; ++i)
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            integral = 0;
    if (c->n == c->cap && (r = grow_slots(c)) != 0)
        return r;
    if (integral && c->kind != KS_CK_FLOAT && c->hint_u64 && tmp[0] != '-' && (c->n == 0 || c->u64)) {
        unsigned long long u;
        errno = 0;
        u = strtoull(tmp, &end, 10);
        if (errno == 0 && *end == '\0') {
            c->v.i[c->n++] = (int64_t)u;
            c->kind = KS_CK_INT;
            c->u64 = 1;
            return 0;
        }
    }
    if (integral && c->kind != KS_CK_FLOAT) {
        long long v;
        errno = 0;
        v = strtoll(tmp, &end, 10);
        /* numpy: int64 unless every value is above INT64_MAX (uint64); a mix is float64 */
        if (errno == 0 && *end == '\0' && !c->u64) {
            c->v.i[c->n++] = v;
            c->kind = KS_CK_INT;
            return 0;
        }
        if (errno == ERANGE && tmp[0] != '-' && (c->n == 0 || c->u64)) {
            unsigned long long u;
            errno = 0;
            u = strtoull(tmp, &end, 10);
            if (errno == 0 && *end == '\0') {
                /* above INT64_MAX: numpy makes the array uint64 */
                c->v.i[c->n++] = (int64_t)u;
                c->kind = KS_CK_INT;
                c->u64 = 1;
                return 0;
            }
        }
        /* int64 next to uint64, or beyond uint64: floats, as numpy makes them */
    }
    if (c->kind == KS_CK_INT || c->kind == KS_CK_BOOL) {
        if (c->u64) {
            for (size_t i = 0; i < c->n; ++i)
                c->v.d[i] = (double)(uint64_t)c->v.i[i];
            c->u64 = 0;
        } else {
            ints_to_floats(c);
        }
    }
    c->kind = KS_CK_FLOAT;
    c->v.d[c->n++] = strtod(tmp, NULL);
    return 0;
}

int ks__collect_bool(ks_collect_t *c, int v)
{
    int r;
    if ((r = scalar_position(c)) != 0)
        return r;
    if (c->kind == KS_CK_STR) {
        c->complex = 1;
        return 0;
    }
    if (c->n == c->cap && (r = grow_slots(c)) != 0)
        return r;
    if (c->kind == KS_CK_FLOAT) {
        c->v.d[c->n++] = v ? 1.0 : 0.0;
    } else {
        c->v.i[c->n++] = v ? 1 : 0;
        if (c->kind == KS_CK_NONE)
            c->kind = KS_CK_BOOL;
    }
    return 0;
}

int ks__collect_string(ks_collect_t *c, const char *s, size_t len)
{
    int r;
    if ((r = scalar_position(c)) != 0)
        return r;
    if (c->kind != KS_CK_NONE && c->kind != KS_CK_STR) {
        c->complex = 1;
        return 0;
    }
    c->kind = KS_CK_STR;
    if (c->nstr == c->strcap) {
        size_t ncap = c->strcap == 0 ? 16 : c->strcap * 2;
        ks_bytes_t *p = ks_arena_alloc(c->arena, ncap * sizeof(*p));
        if (p == NULL)
            return fail(c, KS_ETOOBIG, "request too large");
        if (c->nstr != 0)
            memcpy(p, c->strs, c->nstr * sizeof(*p));
        c->strs = p;
        c->strcap = ncap;
    }
    if ((c->strs[c->nstr].base = ks_arena_strndup(c->arena, s, len)) == NULL)
        return fail(c, KS_ETOOBIG, "request too large");
    c->strs[c->nstr++].len = len;
    return 0;
}

int ks__collect_other(ks_collect_t *c)
{
    int r;
    if ((r = scalar_position(c)) != 0)
        return r;
    c->complex = 1;
    return 0;
}

int ks__collect_ndim(const ks_collect_t *c)
{
    return c->leaf < 0 ? 0 : c->leaf;
}

#define CONVERT_INT(ctype, lo, hi)                                                                                         \
    do {                                                                                                                   \
        ctype *o = out;                                                                                                    \
        for (size_t i = 0; i < n; ++i) {                                                                                   \
            int64_t v;                                                                                                     \
            if (c->kind == KS_CK_FLOAT) {                                                                                  \
                double d = c->v.d[i];                                                                                      \
                if (!(d == floor(d)) || d < -9.2e18 || d > 9.2e18)                                                         \
                    goto not_integer;                                                                                      \
                v = (int64_t)d;                                                                                            \
            } else {                                                                                                       \
                if (c->u64 && c->v.i[i] < 0)                                                                               \
                    goto out_of_range; /* above INT64_MAX */                                                               \
                v = c->v.i[i];                                                                                             \
            }                                                                                                              \
            if (v < (lo) || v > (hi))                                                                                      \
                goto out_of_range;                                                                                         \
            o[i] = (ctype)v;                                                                                               \
        }                                                                                                                  \
    } while (0)

int ks__collect_to_tensor(ks_collect_t *c, ks_dtype_t dtype, ks_tensor_t *t)
{
    size_t n, i;
    void *out;

    if (dtype == KS_DT_BYTES) {
        if (c->kind != KS_CK_STR && c->n != 0)
            return fail(c, KS_EINVAL, "BYTES data must be strings");
        if (c->complex)
            return fail(c, KS_EINVAL, "BYTES data must hold only strings");
        t->data = c->strs;
        t->nelem = c->nstr;
        return 0;
    }
    if (c->complex || c->kind == KS_CK_STR) {
        ks_errorf(c->err, c->errlen, "%s data must hold only numbers%s", ks_dtype_name(dtype),
                  dtype == KS_DT_BOOL ? " or booleans" : "");
        return KS_EINVAL;
    }
    n = c->n;
    if (dtype == KS_DT_BF16)
        return fail(c, KS_EINVAL, "BF16 tensors travel only as binary data");
    if ((out = ks_arena_alloc(c->arena, n * ks_dtype_size(dtype) + 1)) == NULL)
        return fail(c, KS_ETOOBIG, "request too large");
    switch (dtype) {
    case KS_DT_FP64: {
        double *o = out;
        for (i = 0; i < n; ++i)
            o[i] = c->kind == KS_CK_FLOAT ? c->v.d[i] : c->u64 ? (double)(uint64_t)c->v.i[i] : (double)c->v.i[i];
    } break;
    case KS_DT_FP32: {
        float *o = out;
        for (i = 0; i < n; ++i)
            o[i] = c->kind == KS_CK_FLOAT ? (float)c->v.d[i] : c->u64 ? (float)(uint64_t)c->v.i[i] : (float)c->v.i[i];
    } break;
    case KS_DT_FP16: {
        uint16_t *o = out;
        for (i = 0; i < n; ++i)
            o[i] = ks_float_to_half(c->kind == KS_CK_FLOAT ? (float)c->v.d[i]
                                                           : c->u64 ? (float)(uint64_t)c->v.i[i] : (float)c->v.i[i]);
    } break;
    case KS_DT_BOOL: {
        uint8_t *o = out;
        for (i = 0; i < n; ++i) {
            int one;
            if (c->kind == KS_CK_FLOAT) {
                if (c->v.d[i] != 0.0 && c->v.d[i] != 1.0)
                    return fail(c, KS_EINVAL, "BOOL data must be true/false (or 0/1)");
                one = c->v.d[i] == 1.0;
            } else {
                if (c->v.i[i] != 0 && c->v.i[i] != 1)
                    return fail(c, KS_EINVAL, "BOOL data must be true/false (or 0/1)");
                one = c->v.i[i] == 1;
            }
            o[i] = (uint8_t)one;
        }
    } break;
    case KS_DT_INT8: CONVERT_INT(int8_t, INT8_MIN, INT8_MAX); break;
    case KS_DT_INT16: CONVERT_INT(int16_t, INT16_MIN, INT16_MAX); break;
    case KS_DT_INT32: CONVERT_INT(int32_t, INT32_MIN, INT32_MAX); break;
    case KS_DT_INT64: CONVERT_INT(int64_t, INT64_MIN, INT64_MAX); break;
    case KS_DT_UINT8: CONVERT_INT(uint8_t, 0, UINT8_MAX); break;
    case KS_DT_UINT16: CONVERT_INT(uint16_t, 0, UINT16_MAX); break;
    case KS_DT_UINT32: CONVERT_INT(uint32_t, 0, (int64_t)UINT32_MAX); break;
    case KS_DT_UINT64:
        if (c->u64 && c->kind == KS_CK_INT) {
            /* every slot is a uint64 bit pattern (no negative was seen) */
            memcpy(out, c->v.i, n * sizeof(uint64_t));
            break;
        }
        CONVERT_INT(uint64_t, 0, INT64_MAX);
        break;
    default: return fail(c, KS_EINVAL, "unsupported datatype");
    }
    t->data = out;
    t->nelem = n;
    return 0;
not_integer:
    ks_errorf(c->err, c->errlen, "%s data must hold integers", ks_dtype_name(dtype));
    return KS_EINVAL;
out_of_range:
    ks_errorf(c->err, c->errlen, "a value is out of range for %s", ks_dtype_name(dtype));
    return KS_EINVAL;
}
