/*
 * libFuzzer target: V2 bodies with the binary tensor data extension.
 *
 * Input layout: 2 bytes (little-endian) choosing the JSON part's length
 * modulo (body length + 1), then the body.  The length goes through
 * ks_v2_parse_header_length as the decimal text of the
 * Inference-Header-Content-Length header, then ks_v2_decode(body, len,
 * json_len) runs: binary_data_size bookkeeping, BYTES length prefixes.
 * Accepted requests are encoded (binary outputs where asked) and decoded back.
 */
#include "fuzz_util.h"

static ks_arena_t arena;
static ks_buf_t out;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    ks_arena_init(&arena, FZ_ARENA_CAP);
    ks_buf_init(&out, FZ_BUF_CAP);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ks_infer_request_t req;
    char err[KS_ERRLEN], hdr[32];
    const char *body;
    size_t len, want, json_len = 0, v;
    int r, n;

    if (size < 2)
        return 0;
    body = (const char *)data + 2;
    len = size - 2;
    want = ((size_t)data[0] | (size_t)data[1] << 8) % (len + 1);

    /* the header as a client sends it */
    n = snprintf(hdr, sizeof(hdr), "%zu", want);
    r = ks_v2_parse_header_length(hdr, (size_t)n, len, &json_len);
    FZ_CHECK(r == 0 && json_len == want, "Inference-Header-Content-Length \"%s\" (body %zu) parsed as %d/%zu", hdr, len,
             r, json_len);
    /* and whatever text the body starts with, as a header value */
    if (ks_v2_parse_header_length(body, len < 24 ? len : 24, len, &v) == 0)
        FZ_CHECK(v <= len, "ks_v2_parse_header_length accepted %zu for a %zu-byte body", v, len);

    ks_arena_reset(&arena);
    err[0] = '\0';
    r = ks_v2_decode(&arena, body, len, json_len, &req, err, sizeof(err));
    if (r != 0) {
        FZ_CHECK(r == KS_EINVAL || r == KS_ETOOBIG, "ks_v2_decode returned %d", r);
        FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0', "ks_v2_decode failed (%d) without a message", r);
        return 0;
    }
    fz_v2_check_request(&req, len, json_len);
    fz_v2_roundtrip(&arena, &out, &req);
    return 0;
}
