/*
 * libFuzzer target: the V2 (Open Inference Protocol) infer body decoder on a
 * JSON-only body (ks_v2_decode with json_len == len) and, for what it accepts,
 * ks_v2_encode of the decoded inputs as outputs, with a round trip back
 * through the decoder.
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
    char err[KS_ERRLEN];
    int r;

    ks_arena_reset(&arena);
    err[0] = '\0';
    r = ks_v2_decode(&arena, (const char *)data, size, size, &req, err, sizeof(err));
    if (r != 0) {
        FZ_CHECK(r == KS_EINVAL || r == KS_ETOOBIG, "ks_v2_decode returned %d", r);
        FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0', "ks_v2_decode failed (%d) without a message", r);
        return 0;
    }
    FZ_CHECK(req.protocol == KS_PROTO_V2, "V2 request with protocol %d", (int)req.protocol);
    fz_v2_check_request(&req, size, size);
    fz_v2_roundtrip(&arena, &out, &req);
    return 0;
}
