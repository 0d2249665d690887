/*
 * libFuzzer target: the V1 predict body decoder (ks_v1_decode) and, for what
 * it accepts, the V1 answer encoder (ks_v1_encode), with a round trip:
 * {"predictions": X} read back as {"instances": X} must give the same tensor.
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
    const ks_tensor_t *t;
    char err[KS_ERRLEN];
    int r;

    ks_arena_reset(&arena);
    err[0] = '\0';
    r = ks_v1_decode(&arena, (const char *)data, size, &req, err, sizeof(err));
    if (r != 0) {
        FZ_CHECK(r == KS_EINVAL || r == KS_ETOOBIG, "ks_v1_decode returned %d", r);
        FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0', "ks_v1_decode failed (%d) without a message", r);
        return 0;
    }
    FZ_CHECK(req.protocol == KS_PROTO_V1 && req.ninputs == 1, "V1 request with %d inputs", req.ninputs);
    FZ_CHECK(req.binary_size[0] == SIZE_MAX, "V1 input with a binary size");
    t = &req.inputs[0];
    FZ_CHECK(t->ndim >= 1 && t->ndim <= KS_MAX_DIMS, "V1 input with ndim %d", t->ndim);
    FZ_CHECK(t->shape[0] > 0, "V1 input with an empty first dimension");
    if (req.v1_complex) {
        /* a Python runtime reads the body itself */
        FZ_CHECK(req.body == (const char *)data && req.body_len == size, "complex V1 request lost its body");
        return 0;
    }
    fz_check_tensor(t);
    /* numpy's choices: bool, int64, uint64 (only values above INT64_MAX), float64, strings */
    FZ_CHECK(t->dtype == KS_DT_BOOL || t->dtype == KS_DT_INT64 || t->dtype == KS_DT_UINT64 || t->dtype == KS_DT_FP64 ||
                 t->dtype == KS_DT_BYTES,
             "V1 input decoded as %s", ks_dtype_name(t->dtype));
    fz_v1_roundtrip(&arena, &out, &req);
    return 0;
}
