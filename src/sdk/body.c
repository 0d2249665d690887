/*
 * The pure parts of the SDK's request path: reading and checking a body
 * as KServe does before it calls the model, and writing jansson values
 * back as compact JSON with the same number text as the model server.
 */
#include <string.h>

#include "internal.h"
#include "ks/json.h"

json_t *ks__sdk_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j;

    if (len == 0) {
        ks_errorf(err, errlen, "the request has no body");
        return NULL;
    }
    /* JSON_DECODE_ANY: a body such as [1,2] or 3 is JSON, and check_body says why it is not a request */
    if ((j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je)) == NULL) {
        if (json_error_code(&je) == json_error_out_of_memory)
            ks_errorf(err, errlen, "out of memory");
        else
            ks_errorf(err, errlen, "Unrecognized request format: %s: line %d column %d (char %d)", je.text, je.line,
                      je.column, je.position);
        return NULL;
    }
    return j;
}

int ks__sdk_check_body(const json_t *body, ks_sdk_protocol_t proto, char *err, size_t errlen)
{
    const json_t *v;
    size_t i;

    if (!json_is_object(body)) {
        ks_errorf(err, errlen, "Unrecognized request format: expected a JSON object");
        return KS_EINVAL;
    }
    if (proto == KS_SDK_V1) {
        /* KServe's Model.validate */
        if ((v = json_object_get(body, "instances")) != NULL && !json_is_array(v)) {
            ks_errorf(err, errlen, "Expected \"instances\" to be a list");
            return KS_EINVAL;
        }
        if ((v = json_object_get(body, "inputs")) != NULL && !json_is_array(v)) {
            ks_errorf(err, errlen, "Expected \"inputs\" to be a list");
            return KS_EINVAL;
        }
        return 0;
    }
    /* KServe's InferRequest: inputs is a list of tensors */
    if ((v = json_object_get(body, "inputs")) == NULL || !json_is_array(v)) {
        ks_errorf(err, errlen, "Invalid input format: \"inputs\" must be a list of tensors");
        return KS_EINVAL;
    }
    for (i = 0; i < json_array_size(v); ++i)
        if (!json_is_object(json_array_get(v, i))) {
            ks_errorf(err, errlen, "Invalid input format: inputs[%zu] is not an object", i);
            return KS_EINVAL;
        }
    return 0;
}

/* bounded recursion: a value nested deeper than this is refused (jansson's parser stops at 2048) */
#define MAX_DEPTH 2048

static int dump(ks_buf_t *b, const json_t *j, int depth)
{
    int r = 0;
    size_t i, n;

    if (depth > MAX_DEPTH)
        return KS_ETOOBIG;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *v;
        int first = 1;
        if ((r = ks_buf_putc(b, '{')) != 0)
            return r;
        json_object_keylen_foreach ((json_t *)j, key, klen, v) {
            if (!first && (r = ks_buf_putc(b, ',')) != 0)
                return r;
            first = 0;
            if ((r = ks_json_str(b, key, klen)) != 0 || (r = ks_buf_putc(b, ':')) != 0 ||
                (r = dump(b, v, depth + 1)) != 0)
                return r;
        }
        return ks_buf_putc(b, '}');
    }
    case JSON_ARRAY:
        if ((r = ks_buf_putc(b, '[')) != 0)
            return r;
        n = json_array_size(j);
        for (i = 0; i < n; ++i) {
            if (i != 0 && (r = ks_buf_putc(b, ',')) != 0)
                return r;
            if ((r = dump(b, json_array_get(j, i), depth + 1)) != 0)
                return r;
        }
        return ks_buf_putc(b, ']');
    case JSON_STRING: return ks_json_str(b, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return ks_json_i64(b, (int64_t)json_integer_value(j));
    case JSON_REAL: return ks_json_f64(b, json_real_value(j));
    case JSON_TRUE: return ks_buf_puts(b, "true");
    case JSON_FALSE: return ks_buf_puts(b, "false");
    case JSON_NULL: return ks_buf_puts(b, "null");
    }
    return KS_EINVAL;
}

int ks__sdk_dump(ks_buf_t *b, const json_t *j)
{
    return j == NULL ? KS_EINVAL : dump(b, j, 0);
}

int ks__sdk_predictor_path(char *buf, size_t len, ks_sdk_protocol_t proto, const char *model)
{
    int n = proto == KS_SDK_V2 ? snprintf(buf, len, "/v2/models/%s/infer", model)
                               : snprintf(buf, len, "/v1/models/%s:predict", model);
    return n < 0 || (size_t)n >= len ? KS_ETOOBIG : 0;
}
