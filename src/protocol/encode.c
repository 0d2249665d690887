/*
 * Writing V1 and V2 responses.
 */
#include <string.h>

#include "ks/json.h"
#include "ks/protocol.h"

static int put_elem(ks_buf_t *out, const ks_tensor_t *t, size_t i)
{
    const char *p = t->data;
    switch (t->dtype) {
    case KS_DT_BOOL: return ((const uint8_t *)p)[i] ? ks_buf_puts(out, "true") : ks_buf_puts(out, "false");
    case KS_DT_UINT8: return ks_json_u64(out, ((const uint8_t *)p)[i]);
    case KS_DT_UINT16: return ks_json_u64(out, ((const uint16_t *)p)[i]);
    case KS_DT_UINT32: return ks_json_u64(out, ((const uint32_t *)p)[i]);
    case KS_DT_UINT64: return ks_json_u64(out, ((const uint64_t *)p)[i]);
    case KS_DT_INT8: return ks_json_i64(out, ((const int8_t *)p)[i]);
    case KS_DT_INT16: return ks_json_i64(out, ((const int16_t *)p)[i]);
    case KS_DT_INT32: return ks_json_i64(out, ((const int32_t *)p)[i]);
    case KS_DT_INT64: return ks_json_i64(out, ((const int64_t *)p)[i]);
    case KS_DT_FP16:
    case KS_DT_BF16:
    case KS_DT_FP32: return ks_json_f32(out, (float)ks_tensor_get_f64(t, i));
    case KS_DT_FP64: return ks_json_f64(out, ((const double *)p)[i]);
    case KS_DT_BYTES: {
        const ks_bytes_t *b = (const ks_bytes_t *)p + i;
        return ks_json_str(out, b->base, b->len);
    }
    default: return KS_EINVAL;
    }
}

int ks_json_tensor_flat(ks_buf_t *out, const ks_tensor_t *t)
{
    int r;
    if ((r = ks_buf_putc(out, '[')) != 0)
        return r;
    for (size_t i = 0; i < t->nelem; ++i) {
        if (i != 0 && (r = ks_buf_putc(out, ',')) != 0)
            return r;
        if ((r = put_elem(out, t, i)) != 0)
            return r;
    }
    return ks_buf_putc(out, ']');
}

/* elements [*i, ...) nested by shape[dim..] */
static int put_nested(ks_buf_t *out, const ks_tensor_t *t, int dim, size_t *i)
{
    int r;
    if (dim == t->ndim)
        return put_elem(out, t, (*i)++);
    if ((r = ks_buf_putc(out, '[')) != 0)
        return r;
    for (int64_t k = 0; k < t->shape[dim]; ++k) {
        if (k != 0 && (r = ks_buf_putc(out, ',')) != 0)
            return r;
        if ((r = put_nested(out, t, dim + 1, i)) != 0)
            return r;
    }
    return ks_buf_putc(out, ']');
}

int ks_v1_encode(ks_buf_t *out, const ks_infer_response_t *res)
{
    size_t i = 0;
    int r;
    if ((r = ks_buf_puts(out, "{\"predictions\":")) != 0)
        return r;
    if (res->noutputs == 0)
        r = ks_buf_puts(out, "[]");
    else if (res->outputs[0].ndim == 0)
        r = ks_json_tensor_flat(out, &res->outputs[0]);
    else
        r = put_nested(out, &res->outputs[0], 0, &i);
    if (r != 0)
        return r;
    return ks_buf_putc(out, '}');
}

static int wants_binary(const ks_infer_request_t *req, const char *name)
{
    for (int i = 0; i < req->noutputs; ++i)
        if (strcmp(req->outputs[i].name, name) == 0)
            return req->outputs[i].binary || req->binary_output;
    return req->binary_output;
}

static size_t binary_size(const ks_tensor_t *t)
{
    if (t->dtype != KS_DT_BYTES)
        return t->nelem * ks_dtype_size(t->dtype);
    size_t n = 0;
    for (size_t i = 0; i < t->nelem; ++i)
        n += 4 + ((const ks_bytes_t *)t->data)[i].len;
    return n;
}

static int put_binary(ks_buf_t *out, const ks_tensor_t *t)
{
    int r;
    if (t->dtype != KS_DT_BYTES)
        return ks_buf_append(out, t->data, t->nelem * ks_dtype_size(t->dtype));
    for (size_t i = 0; i < t->nelem; ++i) {
        const ks_bytes_t *b = (const ks_bytes_t *)t->data + i;
        uint32_t l = (uint32_t)b->len;
        if ((r = ks_buf_append(out, &l, 4)) != 0 || (r = ks_buf_append(out, b->base, b->len)) != 0)
            return r;
    }
    return 0;
}

int ks_v2_encode(ks_buf_t *out, const char *model_name, const ks_infer_request_t *req, const ks_infer_response_t *res,
                 size_t *json_len)
{
    int r, any_binary = 0;
    size_t start = out->len;

    if ((r = ks_buf_puts(out, "{\"model_name\":")) != 0 || (r = ks_json_str(out, model_name, strlen(model_name))) != 0 ||
        (r = ks_buf_puts(out, ",\"id\":")) != 0)
        return r;
    if (req->id != NULL)
        r = ks_json_str(out, req->id, req->id_len);
    else {
        /* a fresh UUIDv4-shaped id, as KServe generates one */
        char uuid[37];
        static const char hex[] = "0123456789abcdef";
        uint64_t a = ks_now_ns() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)out,
                 b = (a ^ (a >> 29)) * 0xBF58476D1CE4E5B9ull;
        for (int i = 0, k = 0; i < 36; ++i) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                uuid[i] = '-';
                continue;
            }
            uint64_t *src = k < 16 ? &a : &b;
            uuid[i] = hex[*src & 15];
            *src >>= 4;
            k++;
        }
        uuid[14] = '4';
        uuid[19] = hex[8 | (b & 3)]; /* RFC 4122 variant */
        uuid[36] = '\0';
        r = ks_json_str(out, uuid, 36);
    }
    if (r != 0 || (r = ks_buf_puts(out, ",\"outputs\":[")) != 0)
        return r;
    for (int i = 0; i < res->noutputs; ++i) {
        const ks_tensor_t *t = &res->outputs[i];
        int bin = wants_binary(req, t->name);
        if (i != 0 && (r = ks_buf_putc(out, ',')) != 0)
            return r;
        if ((r = ks_buf_puts(out, "{\"name\":")) != 0 || (r = ks_json_str(out, t->name, strlen(t->name))) != 0 ||
            (r = ks_buf_puts(out, ",\"shape\":[")) != 0)
            return r;
        for (int d = 0; d < t->ndim; ++d) {
            if (d != 0 && (r = ks_buf_putc(out, ',')) != 0)
                return r;
            if ((r = ks_json_i64(out, t->shape[d])) != 0)
                return r;
        }
        if ((r = ks_buf_puts(out, "],\"datatype\":\"")) != 0 || (r = ks_buf_append(out, ks_dtype_name(t->dtype), strlen(ks_dtype_name(t->dtype)))) != 0 ||
            (r = ks_buf_putc(out, '"')) != 0)
            return r;
        if (bin) {
            any_binary = 1;
            if ((r = ks_buf_puts(out, ",\"parameters\":{\"binary_data_size\":")) != 0 ||
                (r = ks_json_u64(out, binary_size(t))) != 0 || (r = ks_buf_puts(out, "}}")) != 0)
                return r;
        } else {
            if ((r = ks_buf_puts(out, ",\"data\":")) != 0 || (r = ks_json_tensor_flat(out, t)) != 0 ||
                (r = ks_buf_putc(out, '}')) != 0)
                return r;
        }
    }
    if ((r = ks_buf_puts(out, "]}")) != 0)
        return r;
    *json_len = out->len - start;
    if (any_binary) {
        for (int i = 0; i < res->noutputs; ++i)
            if (wants_binary(req, res->outputs[i].name) && (r = put_binary(out, &res->outputs[i])) != 0)
                return r;
    }
    return 0;
}
