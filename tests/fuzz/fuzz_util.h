/*
 * Shared helpers of the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * Besides running the code under ASan+UBSan, the targets check contracts the
 * headers promise, and abort() with a message when one breaks, so that
 * libFuzzer records the input like any other crash:
 *   - a decoded tensor's nelem is the product of its shape and every element
 *     can be read (the reads go through ASan: memory past a malloc'd block is
 *     caught, but an overflow inside an arena block is not);
 *   - encoders write well-formed JSON (checked with yajl);
 *   - what the V1/V2 encoders write decodes back to the same tensors.
 *
 * Note: the Makefile's fuzz rule does not list this header as a prerequisite;
 * after editing it, remove build-fuzz/ (or touch the fuzz_*.c files).
 */
#ifndef KS_FUZZ_UTIL_H
#define KS_FUZZ_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "ks/buf.h"
#include "ks/protocol.h"
#include "ks/tensor.h"

/* The server gives each worker's arena max_body * 8 + 64 MiB; inputs are <= 64 KiB here. */
#define FZ_MAX_INPUT (64u << 10)
#define FZ_ARENA_CAP ((size_t)FZ_MAX_INPUT * 8 + (64u << 20))
#define FZ_BUF_CAP ((size_t)256 << 20)

static __attribute__((unused)) void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static __attribute__((unused)) void fz_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n==FUZZ CONTRACT VIOLATION: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

#define FZ_CHECK(cond, ...)                                                                                                \
    do {                                                                                                                   \
        if (!(cond))                                                                                                       \
            fz_fail(__VA_ARGS__);                                                                                          \
    } while (0)

static volatile uint8_t fz_sink;

/* Reads n bytes one by one so that ASan sees every byte. */
static __attribute__((unused)) void fz_touch(const void *p, size_t n)
{
    const volatile uint8_t *q = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; ++i)
        acc ^= q[i];
    fz_sink ^= acc;
}

static __attribute__((unused)) int fz_dtype_valid(ks_dtype_t dt) { return dt >= KS_DT_BOOL && dt <= KS_DT_BF16; }

/* The invariants of a decoded tensor: shape, nelem and data agree. */
static __attribute__((unused)) void fz_check_tensor(const ks_tensor_t *t)
{
    size_t n;
    FZ_CHECK(t->name != NULL, "tensor without a name");
    fz_touch(t->name, strlen(t->name));
    FZ_CHECK(fz_dtype_valid(t->dtype), "tensor \"%s\": invalid dtype %d", t->name, (int)t->dtype);
    FZ_CHECK(t->ndim >= 0 && t->ndim <= KS_MAX_DIMS, "tensor \"%s\": ndim %d", t->name, t->ndim);
    FZ_CHECK(ks_shape_count(t->shape, t->ndim, &n) == 0, "tensor \"%s\": shape does not count", t->name);
    FZ_CHECK(n == t->nelem, "tensor \"%s\": shape counts %zu elements, nelem is %zu", t->name, n, t->nelem);
    if (t->nelem == 0)
        return;
    FZ_CHECK(t->data != NULL, "tensor \"%s\": %zu elements but no data", t->name, t->nelem);
    if (t->dtype == KS_DT_BYTES) {
        const ks_bytes_t *b = t->data;
        for (size_t i = 0; i < t->nelem; ++i) {
            fz_touch(&b[i], sizeof(b[i]));
            FZ_CHECK(b[i].len == 0 || b[i].base != NULL, "tensor \"%s\": BYTES element %zu has no base", t->name, i);
            if (b[i].len != 0)
                fz_touch(b[i].base, b[i].len);
        }
    } else {
        fz_touch(t->data, t->nelem * ks_dtype_size(t->dtype));
    }
}

/* Is s[0..len) one complete, well-formed JSON text?  (strings are not UTF-8 checked) */
static __attribute__((unused)) int fz_json_ok(const char *s, size_t len)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    yajl_status st;
    if (h == NULL)
        abort();
    yajl_config(h, yajl_dont_validate_strings, 1);
    st = yajl_parse(h, (const unsigned char *)s, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    return st == yajl_status_ok;
}

/* Element i of a numeric tensor as a double (BOOL: 0/1). */
static __attribute__((unused)) double fz_get(const ks_tensor_t *t, size_t i) { return ks_tensor_get_f64(t, i); }

/* The same value, bit for bit for floats (so -0.0 != 0.0, NaN == the same NaN). */
static __attribute__((unused)) int fz_same_elem(const ks_tensor_t *a, size_t i, const ks_tensor_t *b, size_t j)
{
    if (a->dtype == KS_DT_BYTES || b->dtype == KS_DT_BYTES) {
        const ks_bytes_t *x = (const ks_bytes_t *)a->data + i, *y = (const ks_bytes_t *)b->data + j;
        if (a->dtype != b->dtype)
            return 0;
        return x->len == y->len && (x->len == 0 || memcmp(x->base, y->base, x->len) == 0);
    }
    if (a->dtype == b->dtype && a->dtype != KS_DT_BOOL) {
        size_t sz = ks_dtype_size(a->dtype);
        return memcmp((const char *)a->data + i * sz, (const char *)b->data + j * sz, sz) == 0;
    }
    if (a->dtype == KS_DT_BOOL || b->dtype == KS_DT_BOOL)
        return (fz_get(a, i) != 0) == (fz_get(b, j) != 0);
    /* a FP64 that printed without '.' or exponent (1e15 <= |v| < 1e17) reads back as INT64 */
    {
        double x = fz_get(a, i), y = fz_get(b, j);
        return x == y && signbit(x) == signbit(y);
    }
}

/* Shape, element count and every element of b equal those of a. */
static __attribute__((unused)) void fz_check_same(const char *what, const ks_tensor_t *a, const ks_tensor_t *b)
{
    FZ_CHECK(a->ndim == b->ndim, "%s: ndim %d became %d", what, a->ndim, b->ndim);
    for (int d = 0; d < a->ndim; ++d)
        FZ_CHECK(a->shape[d] == b->shape[d], "%s: dim %d was %lld, reads back as %lld", what, d,
                 (long long)a->shape[d], (long long)b->shape[d]);
    FZ_CHECK(a->nelem == b->nelem, "%s: %zu elements became %zu", what, a->nelem, b->nelem);
    for (size_t i = 0; i < a->nelem; ++i)
        FZ_CHECK(fz_same_elem(a, i, b, i), "%s: element %zu (%s) reads back as a different value (%s)", what, i,
                 ks_dtype_name(a->dtype), ks_dtype_name(b->dtype));
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static __attribute__((unused)) int fz_utf8_ok(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < k)
            return 0;
        for (size_t j = 1; j <= k; ++j) {
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Does a tensor written as JSON data lose information on the way back? */
static __attribute__((unused)) int fz_json_lossy(const ks_tensor_t *t)
{
    switch (t->dtype) {
    case KS_DT_FP16:
    case KS_DT_BF16:
        return 1; /* the decoder takes FP16/BF16 only as binary data */
    case KS_DT_FP32:
    case KS_DT_FP64:
        for (size_t i = 0; i < t->nelem; ++i)
            if (!isfinite(fz_get(t, i)))
                return 1; /* written as null */
        return 0;
    case KS_DT_UINT64:
        for (size_t i = 0; i < t->nelem; ++i)
            if (((const uint64_t *)t->data)[i] > (uint64_t)INT64_MAX)
                return 1; /* the JSON decoder caps UINT64 at INT64_MAX */
        return 0;
    case KS_DT_BYTES: {
        /* raw binary BYTES need not be UTF-8, which the JSON decoder insists on */
        const ks_bytes_t *b = t->data;
        for (size_t i = 0; i < t->nelem; ++i)
            if (!fz_utf8_ok(b[i].base, b[i].len))
                return 1;
        return 0;
    }
    default: return 0;
    }
}

/*
 * V1: encodes req->inputs[0] as the prediction, checks the JSON, and decodes
 * {"instances": <predictions>} back to compare.  Data lives in a until reset.
 */
static __attribute__((unused)) void fz_v1_roundtrip(ks_arena_t *a, ks_buf_t *out, const ks_infer_request_t *req)
{
    static const char pre_out[] = "{\"predictions\":", pre_in[] = "{\"instances\":";
    const ks_tensor_t *t = &req->inputs[0];
    ks_infer_response_t res;
    ks_infer_request_t back;
    char err[KS_ERRLEN];
    size_t plen = sizeof(pre_out) - 1, ilen = sizeof(pre_in) - 1;
    char *text;
    int r;

    memset(&res, 0, sizeof(res));
    res.noutputs = 1;
    res.outputs[0] = *t;
    res.outputs[0].name = "predict";

    /* flat, as a runtime that returns a 0-dim shape would get */
    ks_buf_reset(out);
    res.outputs[0].ndim = 0;
    r = ks_v1_encode(out, &res);
    FZ_CHECK(r == 0 || r == KS_ETOOBIG, "ks_v1_encode (flat) failed: %d", r);
    if (r == 0)
        FZ_CHECK(fz_json_ok(out->base, out->len), "ks_v1_encode (flat) wrote malformed JSON: %.*s",
                 (int)(out->len > 300 ? 300 : out->len), out->base);

    /* nested by shape: the normal answer */
    ks_buf_reset(out);
    res.outputs[0].ndim = t->ndim;
    r = ks_v1_encode(out, &res);
    if (r == KS_ETOOBIG)
        return;
    FZ_CHECK(r == 0, "ks_v1_encode failed: %d", r);
    FZ_CHECK(fz_json_ok(out->base, out->len), "ks_v1_encode wrote malformed JSON: %.*s",
             (int)(out->len > 300 ? 300 : out->len), out->base);
    FZ_CHECK(out->len > plen && memcmp(out->base, pre_out, plen) == 0, "V1 answer does not start with %s", pre_out);

    if (fz_json_lossy(t))
        return;
    /* {"predictions":X} -> {"instances":X} */
    text = ks_arena_alloc(a, out->len - plen + ilen);
    if (text == NULL)
        return;
    memcpy(text, pre_in, ilen);
    memcpy(text + ilen, out->base + plen, out->len - plen);
    r = ks_v1_decode(a, text, out->len - plen + ilen, &back, err, sizeof(err));
    if (r == KS_ETOOBIG)
        return;
    FZ_CHECK(r == 0, "ks_v1_encode's answer does not decode back: %s", err);
    FZ_CHECK(!back.v1_complex, "ks_v1_encode's answer decodes back as complex");
    if (t->nelem == 0) {
        FZ_CHECK(back.inputs[0].nelem == 0, "an empty V1 tensor reads back with elements");
        return;
    }
    FZ_CHECK(back.inputs[0].dtype == t->dtype || (t->dtype == KS_DT_FP64 && back.inputs[0].dtype == KS_DT_INT64),
             "V1 %s tensor reads back as %s", ks_dtype_name(t->dtype), ks_dtype_name(back.inputs[0].dtype));
    fz_check_same("V1 round trip", t, &back.inputs[0]);
}

/* The V2 decoder's result: invariants of every input and requested output. */
static __attribute__((unused)) void fz_v2_check_request(const ks_infer_request_t *req, size_t len, size_t json_len)
{
    size_t bin = 0;
    FZ_CHECK(req->ninputs >= 1 && req->ninputs <= KS_MAX_TENSORS, "ninputs %d", req->ninputs);
    FZ_CHECK(req->noutputs >= 0 && req->noutputs <= KS_MAX_TENSORS, "noutputs %d", req->noutputs);
    if (req->id != NULL)
        fz_touch(req->id, req->id_len);
    for (int i = 0; i < req->ninputs; ++i) {
        const ks_tensor_t *t = &req->inputs[i];
        fz_check_tensor(t);
        if (req->binary_size[i] != SIZE_MAX) {
            bin += req->binary_size[i];
            if (t->dtype != KS_DT_BYTES)
                FZ_CHECK(t->nelem * ks_dtype_size(t->dtype) == req->binary_size[i],
                         "input \"%s\": binary_data_size %zu but %zu elements", t->name, req->binary_size[i], t->nelem);
        }
    }
    FZ_CHECK(bin == len - json_len, "binary sizes add up to %zu, the body has %zu binary bytes", bin, len - json_len);
    for (int i = 0; i < req->noutputs; ++i) {
        FZ_CHECK(req->outputs[i].name != NULL, "requested output %d has no name", i);
        fz_touch(req->outputs[i].name, strlen(req->outputs[i].name));
    }
}

/*
 * V2: encodes the decoded inputs as the outputs (binary where the request asks
 * for it), checks the JSON part, then turns the answer back into a request
 * ("outputs" -> "inputs") and decodes it to compare tensors.
 */
static __attribute__((unused)) void fz_v2_roundtrip(ks_arena_t *a, ks_buf_t *out, const ks_infer_request_t *req)
{
    static const char key_out[] = ",\"outputs\":[", key_in[] = ",\"inputs\":[";
    ks_infer_response_t res;
    ks_infer_request_t back;
    char err[KS_ERRLEN];
    size_t json_len = 0, klo = sizeof(key_out) - 1, kli = sizeof(key_in) - 1, at, nlen;
    const char *k;
    char *text;
    int r, lossy = 0;

    memset(&res, 0, sizeof(res));
    res.noutputs = req->ninputs;
    for (int i = 0; i < req->ninputs; ++i)
        res.outputs[i] = req->inputs[i];

    ks_buf_reset(out);
    r = ks_v2_encode(out, "fuzz-model", req, &res, &json_len);
    if (r == KS_ETOOBIG)
        return;
    FZ_CHECK(r == 0, "ks_v2_encode failed: %d", r);
    FZ_CHECK(json_len <= out->len, "json_len %zu past the answer's %zu bytes", json_len, out->len);
    FZ_CHECK(fz_json_ok(out->base, json_len), "ks_v2_encode wrote malformed JSON: %.*s",
             (int)(json_len > 300 ? 300 : json_len), out->base);

    /* which outputs went as JSON data and cannot come back unchanged */
    for (int i = 0; i < res.noutputs; ++i) {
        int bin = req->binary_output;
        for (int j = 0; j < req->noutputs; ++j)
            if (strcmp(req->outputs[j].name, res.outputs[i].name) == 0) {
                bin = req->outputs[j].binary || req->binary_output;
                break;
            }
        if (!bin && fz_json_lossy(&res.outputs[i]))
            lossy = 1;
    }
    if (lossy)
        return;

    k = memmem(out->base, json_len, key_out, klo);
    FZ_CHECK(k != NULL, "the V2 answer has no \"outputs\"");
    at = (size_t)(k - out->base);
    nlen = out->len - klo + kli;
    if ((text = ks_arena_alloc(a, nlen)) == NULL)
        return;
    memcpy(text, out->base, at);
    memcpy(text + at, key_in, kli);
    memcpy(text + at + kli, out->base + at + klo, out->len - at - klo);
    r = ks_v2_decode(a, text, nlen, json_len - klo + kli, &back, err, sizeof(err));
    if (r == KS_ETOOBIG)
        return;
    FZ_CHECK(r == 0, "ks_v2_encode's answer does not decode back: %s", err);
    FZ_CHECK(back.ninputs == req->ninputs, "%d outputs read back as %d", req->ninputs, back.ninputs);
    /* the answer echoes the request's id, or makes up a UUID */
    if (req->id != NULL)
        FZ_CHECK(back.id != NULL && back.id_len == req->id_len && memcmp(back.id, req->id, req->id_len) == 0,
                 "the V2 answer's id is not the request's");
    else
        FZ_CHECK(back.id != NULL && back.id_len == 36, "the V2 answer has no UUID id");
    for (int i = 0; i < req->ninputs; ++i) {
        const ks_tensor_t *t = &req->inputs[i], *u = &back.inputs[i];
        FZ_CHECK(strcmp(t->name, u->name) == 0, "output name \"%s\" reads back as \"%s\"", t->name, u->name);
        FZ_CHECK(t->dtype == u->dtype, "output \"%s\": %s reads back as %s", t->name, ks_dtype_name(t->dtype),
                 ks_dtype_name(u->dtype));
        fz_check_same("V2 round trip", t, u);
    }
}

#endif
