/*
 * V1 predict bodies: ks_v1_decode and ks_v1_encode (src/protocol/v1.c, encode.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks/protocol.h"

static ks_arena_t A;
static ks_infer_request_t R;
static char E[KS_ERRLEN];

static int setup(void **state)
{
    (void)state;
    ks_arena_init(&A, 0);
    memset(E, 0, sizeof(E));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_arena_destroy(&A);
    return 0;
}

static int decode(const char *body)
{
    return ks_v1_decode(&A, body, strlen(body), &R, E, sizeof(E));
}

/* the decode fails with KS_EINVAL and a message holding want */
static void expect_einval(const char *body, const char *want)
{
    memset(E, 0, sizeof(E));
    assert_int_equal(decode(body), KS_EINVAL);
    assert_true(strlen(E) > 0);
    if (strstr(E, want) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", E, want);
}

static const int64_t *i64s(void) { return (const int64_t *)R.inputs[0].data; }
static const double *f64s(void) { return (const double *)R.inputs[0].data; }

/* ---- roots ----------------------------------------------------------------------------- */

static void v1_instances_2d_ints(void **state)
{
    const char *body = "{\"instances\": [[1, 2, 3], [4, 5, 6]]}";
    (void)state;
    assert_int_equal(decode(body), 0);
    assert_int_equal(R.protocol, KS_PROTO_V1);
    assert_int_equal(R.ninputs, 1);
    assert_int_equal(R.v1_complex, 0);
    assert_ptr_equal(R.body, body);
    assert_int_equal(R.body_len, strlen(body));
    assert_true(R.binary_size[0] == SIZE_MAX);
    assert_string_equal(R.inputs[0].name, "instances");
    assert_int_equal(R.inputs[0].dtype, KS_DT_INT64);
    assert_int_equal(R.inputs[0].ndim, 2);
    assert_int_equal(R.inputs[0].shape[0], 2);
    assert_int_equal(R.inputs[0].shape[1], 3);
    assert_int_equal(R.inputs[0].nelem, 6);
    for (int i = 0; i < 6; ++i)
        assert_int_equal(i64s()[i], i + 1);
}

static void v1_inputs_root(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"inputs\":[7,8,9]}"), 0);
    assert_string_equal(R.inputs[0].name, "inputs");
    assert_int_equal(R.inputs[0].dtype, KS_DT_INT64);
    assert_int_equal(R.inputs[0].ndim, 1);
    assert_int_equal(R.inputs[0].shape[0], 3);
    assert_int_equal(R.inputs[0].nelem, 3);
    assert_int_equal(i64s()[0], 7);
    assert_int_equal(i64s()[2], 9);
}

static void v1_inputs_wins_over_instances(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"instances\":[1,2,3],\"inputs\":[2.5,3.5]}"), 0);
    assert_string_equal(R.inputs[0].name, "inputs");
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    assert_int_equal(R.inputs[0].shape[0], 2);
    assert_true(f64s()[0] == 2.5);
    assert_true(f64s()[1] == 3.5);
    /* in the other order too */
    assert_int_equal(decode("{\"inputs\":[[true]],\"instances\":[1,2,3]}"), 0);
    assert_string_equal(R.inputs[0].name, "inputs");
    assert_int_equal(R.inputs[0].dtype, KS_DT_BOOL);
    assert_int_equal(R.inputs[0].ndim, 2);
}

static void v1_other_keys_ignored(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"signature_name\":\"serving_default\",\"meta\":{\"a\":[1,{\"b\":null}],\"inputs\":5},"
                            "\"instances\":[[1.5]],\"extra\":[[\"x\"]],\"n\":null,\"t\":true}"),
                     0);
    assert_string_equal(R.inputs[0].name, "instances");
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    assert_int_equal(R.inputs[0].nelem, 1);
    assert_true(f64s()[0] == 1.5);
}

static void v1_surrounding_whitespace(void **state)
{
    (void)state;
    /* curl -d @file bodies end in a newline */
    assert_int_equal(decode(" \t\r\n{ \"instances\" : [ [ 1 , 2 ] ] }\n"), 0);
    assert_int_equal(R.inputs[0].ndim, 2);
    assert_int_equal(R.inputs[0].nelem, 2);
    assert_int_equal(i64s()[1], 2);
}

/* ---- datatypes ----------------------------------------------------------------------------- */

static void v1_ints_are_int64(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"instances\":[0,-1,9223372036854775807,-9223372036854775808]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_INT64);
    assert_int_equal(i64s()[0], 0);
    assert_int_equal(i64s()[1], -1);
    assert_true(i64s()[2] == INT64_MAX);
    assert_true(i64s()[3] == INT64_MIN);
}

static void v1_floats_are_fp64_exact(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"instances\":[[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    assert_int_equal(R.inputs[0].shape[0], 2);
    assert_int_equal(R.inputs[0].shape[1], 4);
    assert_true(f64s()[0] == 6.8);
    assert_true(f64s()[1] == 2.8);
    assert_true(f64s()[3] == 1.4);
    assert_true(f64s()[4] == 6.0);
    assert_true(f64s()[7] == 1.6);
}

static void v1_mixed_ints_floats_are_fp64(void **state)
{
    (void)state;
    /* ints first: earlier slots are converted once a float shows up */
    assert_int_equal(decode("{\"instances\":[[1, 2], [3, 0.1], [-4, 5]]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    assert_true(f64s()[0] == 1.0);
    assert_true(f64s()[1] == 2.0);
    assert_true(f64s()[2] == 3.0);
    assert_true(f64s()[3] == 0.1);
    assert_true(f64s()[4] == -4.0);
    assert_true(f64s()[5] == 5.0);
}

static void v1_exponents_are_floats(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"instances\":[1e2, 2E-1, -3.5e+1]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    assert_true(f64s()[0] == 100.0);
    assert_true(f64s()[1] == 0.2);
    assert_true(f64s()[2] == -35.0);
}

static void v1_int_beyond_int64_becomes_float(void **state)
{
    (void)state;
    /* numpy: only values above INT64_MAX -> uint64; next to an int64 -> float64 */
    assert_int_equal(decode("{\"instances\":[9223372036854775808, 18446744073709551615]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_UINT64);
    assert_true(((const uint64_t *)R.inputs[0].data)[0] == 9223372036854775808ull);
    assert_true(((const uint64_t *)R.inputs[0].data)[1] == 18446744073709551615ull);
    assert_int_equal(decode("{\"instances\":[1, 9223372036854775808]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    assert_true(f64s()[1] == 9223372036854775808.0);
    assert_int_equal(decode("{\"instances\":[-1, 9223372036854775808]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    assert_true(f64s()[0] == -1.0);
    assert_true(f64s()[1] == 9223372036854775808.0);
    assert_int_equal(decode("{\"instances\":[9223372036854775808, -1]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    assert_true(f64s()[0] == 9223372036854775808.0);
    assert_true(f64s()[1] == -1.0);
}

static void v1_bools(void **state)
{
    const uint8_t *d;
    (void)state;
    assert_int_equal(decode("{\"instances\":[[true,false],[false,true]]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_BOOL);
    assert_int_equal(R.inputs[0].ndim, 2);
    assert_int_equal(R.inputs[0].nelem, 4);
    d = R.inputs[0].data;
    assert_int_equal(d[0], 1);
    assert_int_equal(d[1], 0);
    assert_int_equal(d[2], 0);
    assert_int_equal(d[3], 1);
}

static void v1_bools_with_numbers_follow_numpy(void **state)
{
    (void)state;
    /* numpy.array([True, 2]) is int64 [1, 2]; [True, 0.5] is float64 [1.0, 0.5] */
    assert_int_equal(decode("{\"instances\":[true, 2]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_INT64);
    assert_int_equal(i64s()[0], 1);
    assert_int_equal(i64s()[1], 2);
    assert_int_equal(decode("{\"instances\":[true, 0.5, false]}"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    assert_true(f64s()[0] == 1.0);
    assert_true(f64s()[1] == 0.5);
    assert_true(f64s()[2] == 0.0);
}

static void v1_strings_are_bytes(void **state)
{
    const ks_bytes_t *s;
    (void)state;
    assert_int_equal(decode("{\"instances\":[\"abc\", \"\", \"q\\\"u\\u00e9\"]}"), 0);
    assert_int_equal(R.v1_complex, 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_BYTES);
    assert_int_equal(R.inputs[0].ndim, 1);
    assert_int_equal(R.inputs[0].shape[0], 3);
    assert_int_equal(R.inputs[0].nelem, 3);
    s = R.inputs[0].data;
    assert_int_equal(s[0].len, 3);
    assert_memory_equal(s[0].base, "abc", 3);
    assert_int_equal(s[1].len, 0);
    /* JSON escapes are decoded: q " u and é in UTF-8 */
    assert_int_equal(s[2].len, 5);
    assert_memory_equal(s[2].base, "q\"u\xc3\xa9", 5);
}

static void v1_many_values_grow(void **state)
{
    char body[20000];
    size_t o = 0;
    (void)state;
    o += (size_t)snprintf(body + o, sizeof(body) - o, "{\"instances\":[");
    for (int i = 0; i < 1000; ++i)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "%s[%d,%d]", i ? "," : "", i, -i);
    snprintf(body + o, sizeof(body) - o, "]}");
    assert_int_equal(decode(body), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_INT64);
    assert_int_equal(R.inputs[0].shape[0], 1000);
    assert_int_equal(R.inputs[0].shape[1], 2);
    assert_int_equal(R.inputs[0].nelem, 2000);
    for (int i = 0; i < 1000; ++i) {
        assert_int_equal(i64s()[2 * i], i);
        assert_int_equal(i64s()[2 * i + 1], -i);
    }
}

static void v1_many_strings_grow(void **state)
{
    char body[8000];
    size_t o = 0;
    const ks_bytes_t *s;
    (void)state;
    o += (size_t)snprintf(body + o, sizeof(body) - o, "{\"instances\":[");
    for (int i = 0; i < 100; ++i)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "%s\"s%d\"", i ? "," : "", i);
    snprintf(body + o, sizeof(body) - o, "]}");
    assert_int_equal(decode(body), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_BYTES);
    assert_int_equal(R.inputs[0].nelem, 100);
    s = R.inputs[0].data;
    assert_int_equal(s[0].len, 2);
    assert_memory_equal(s[0].base, "s0", 2);
    assert_int_equal(s[99].len, 3);
    assert_memory_equal(s[99].base, "s99", 3);
}

/* ---- shapes ---------------------------------------------------------------------------------- */

static void v1_shape_1d(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"instances\":[5.5]}"), 0);
    assert_int_equal(R.inputs[0].ndim, 1);
    assert_int_equal(R.inputs[0].shape[0], 1);
    assert_int_equal(R.inputs[0].nelem, 1);
}

static void v1_shape_3d(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"instances\":[[[1,2],[3,4],[5,6]],[[7,8],[9,10],[11,12]]]}"), 0);
    assert_int_equal(R.inputs[0].ndim, 3);
    assert_int_equal(R.inputs[0].shape[0], 2);
    assert_int_equal(R.inputs[0].shape[1], 3);
    assert_int_equal(R.inputs[0].shape[2], 2);
    assert_int_equal(R.inputs[0].nelem, 12);
    for (int i = 0; i < 12; ++i)
        assert_int_equal(i64s()[i], i + 1);
}

static void v1_shape_8d_is_the_limit(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"instances\":[[[[[[[[1,2]]]]]]]]}"), 0);
    assert_int_equal(R.inputs[0].ndim, 8);
    for (int i = 0; i < 7; ++i)
        assert_int_equal(R.inputs[0].shape[i], 1);
    assert_int_equal(R.inputs[0].shape[7], 2);
    expect_einval("{\"instances\":[[[[[[[[[1]]]]]]]]]}", "nested too deeply");
}

static void v1_empty_rows(void **state)
{
    (void)state;
    /* numpy.array([[], []]) has shape (2, 0) */
    assert_int_equal(decode("{\"instances\":[[],[]]}"), 0);
    assert_int_equal(R.inputs[0].ndim, 2);
    assert_int_equal(R.inputs[0].shape[0], 2);
    assert_int_equal(R.inputs[0].shape[1], 0);
    assert_int_equal(R.inputs[0].nelem, 0);
}

/* ---- complex instances --------------------------------------------------------------------- */

static void v1_objects_are_complex(void **state)
{
    const char *body = "{\"instances\":[{\"a\":1,\"b\":[1,2]},{\"a\":2,\"b\":{\"c\":3}}]}";
    (void)state;
    assert_int_equal(decode(body), 0);
    assert_int_equal(R.v1_complex, 1);
    assert_int_equal(R.ninputs, 1);
    assert_int_equal(R.inputs[0].dtype, KS_DT_INVALID);
    assert_int_equal(R.inputs[0].ndim, 1);
    assert_int_equal(R.inputs[0].shape[0], 2);
    assert_ptr_equal(R.body, body);
    assert_int_equal(R.body_len, strlen(body));
}

static void v1_nulls_are_complex(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"instances\":[[1, null], [2, 3]]}"), 0);
    assert_int_equal(R.v1_complex, 1);
    assert_int_equal(R.inputs[0].dtype, KS_DT_INVALID);
    assert_int_equal(R.inputs[0].shape[0], 2);
    assert_int_equal(R.inputs[0].shape[1], 2);
}

static void v1_strings_mixed_with_numbers_are_complex(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"instances\":[[\"a\", 1]]}"), 0);
    assert_int_equal(R.v1_complex, 1);
    assert_int_equal(R.inputs[0].dtype, KS_DT_INVALID);
    assert_int_equal(decode("{\"instances\":[[1.5, \"a\"]]}"), 0);
    assert_int_equal(R.v1_complex, 1);
    assert_int_equal(decode("{\"instances\":[\"a\", true]}"), 0);
    assert_int_equal(R.v1_complex, 1);
    assert_int_equal(decode("{\"instances\":[false, \"a\"]}"), 0);
    assert_int_equal(R.v1_complex, 1);
}

/* ---- errors ----------------------------------------------------------------------------------- */

static void v1_malformed_json(void **state)
{
    (void)state;
    expect_einval("{\"instances\": [1, 2,]}", "malformed JSON");
    expect_einval("{\"instances\" [1]}", "malformed JSON");
    expect_einval("{instances: [1]}", "malformed JSON");
    expect_einval("{\"instances\": [1]} trailing", "malformed JSON");
    expect_einval("{\"instances\": [01]}", "malformed JSON");
}

static void v1_truncated_json(void **state)
{
    (void)state;
    expect_einval("{\"instances\": [1, 2", "malformed JSON");
    expect_einval("{\"instances\": [[1, 2], [3", "malformed JSON");
    expect_einval("{\"inst", "malformed JSON");
    expect_einval("", "");
}

static void v1_non_object_root(void **state)
{
    (void)state;
    expect_einval("[1, 2, 3]", "JSON object");
    expect_einval("42", "JSON object");
    expect_einval("\"instances\"", "JSON object");
    expect_einval("null", "JSON object");
    expect_einval("true", "JSON object");
}

static void v1_missing_key(void **state)
{
    (void)state;
    expect_einval("{}", "\"instances\" or \"inputs\"");
    expect_einval("{\"instance\": [1]}", "\"instances\" or \"inputs\"");
    /* a nested "instances" is not the root key */
    expect_einval("{\"meta\": {\"instances\": [1]}}", "\"instances\" or \"inputs\"");
}

static void v1_empty_instances(void **state)
{
    (void)state;
    expect_einval("{\"instances\": []}", "empty");
    expect_einval("{\"inputs\": []}", "\"inputs\" is empty");
}

static void v1_ragged_rows(void **state)
{
    (void)state;
    expect_einval("{\"instances\": [[1, 2], [3]]}", "ragged");
    expect_einval("{\"instances\": [[1, 2], 3]}", "ragged");
    expect_einval("{\"instances\": [1, [2, 3]]}", "ragged");
    expect_einval("{\"instances\": [[1, 2], []]}", "ragged");
    expect_einval("{\"instances\": [[], [1]]}", "ragged");
    expect_einval("{\"instances\": [[[1], [2]], [[3], [4], [5]]]}", "ragged");
}

static void v1_instances_not_a_list(void **state)
{
    (void)state;
    expect_einval("{\"instances\": 5}", "\"instances\" must be a list");
    expect_einval("{\"instances\": \"abc\"}", "\"instances\" must be a list");
    expect_einval("{\"instances\": {\"a\": [1]}}", "\"instances\" must be a list");
    expect_einval("{\"instances\": null}", "\"instances\" must be a list");
    expect_einval("{\"inputs\": true}", "\"inputs\" must be a list");
}

static void v1_duplicate_key(void **state)
{
    (void)state;
    expect_einval("{\"instances\": [1], \"instances\": [2]}", "duplicate");
}

static void v1_arena_cap_is_too_big(void **state)
{
    ks_arena_t small;
    char body[40000];
    size_t o = 0;
    (void)state;
    o += (size_t)snprintf(body + o, sizeof(body) - o, "{\"instances\":[");
    for (int i = 0; i < 5000; ++i)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "%s%d", i ? "," : "", i);
    snprintf(body + o, sizeof(body) - o, "]}");
    int r;
    ks_arena_init(&small, 16 * 1024);
    r = ks_v1_decode(&small, body, strlen(body), &R, E, sizeof(E));
    ks_arena_destroy(&small);
    assert_string_equal(E, "request too large");
    assert_int_equal(r, KS_ETOOBIG); /* 413, not 400 */
}

/*
 * Whatever allocation reaches the arena cap -- ours or yajl's own (it
 * allocates from the same arena) -- the decoder must return an error, never
 * crash.  Each cap runs in a child process so a crash fails only this test.
 */
static void v1_arena_cap_anywhere_never_crashes(void **state)
{
    const char *body = "{\"instances\":[1,2,3]}";
    int crashed = 0;
    size_t first_crash = 0;
    (void)state;
    for (size_t cap = 16; cap <= 4096; cap += 16) {
        pid_t pid;
        int st;
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            ks_arena_t a;
            int r;
            /* cmocka's handlers would resume the test run inside the child */
            static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
            for (size_t k = 0; k < KS_ARRAY_SIZE(sigs); ++k)
                signal(sigs[k], SIG_DFL);
            ks_arena_init(&a, cap);
            r = ks_v1_decode(&a, body, strlen(body), &R, E, sizeof(E));
            _exit(r == 0 || r == KS_ETOOBIG || r == KS_EINVAL ? 0 : 3);
        }
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (crashed++ == 0)
                first_crash = cap;
        }
    }
    if (crashed != 0)
        fail_msg("ks_v1_decode crashed for %d arena caps (first: %zu bytes)", crashed, first_crash);
}

/* ---- encode ------------------------------------------------------------------------------------- */

static const char *encode(ks_buf_t *b, const ks_tensor_t *t)
{
    ks_infer_response_t res;
    memset(&res, 0, sizeof(res));
    if (t != NULL) {
        res.noutputs = 1;
        res.outputs[0] = *t;
    }
    ks_buf_reset(b);
    assert_int_equal(ks_v1_encode(b, &res), 0);
    assert_int_equal(ks_buf_putc(b, '\0'), 0);
    b->len--;
    return b->base;
}

static void v1_encode_1d(void **state)
{
    ks_buf_t b;
    int64_t i64[] = {1, -2, 3};
    float f32[] = {0.5f, 1.0f, -3.25f};
    double f64[] = {0.1, 2.0, 1e300};
    ks_bytes_t s[] = {{"a", 1}, {"b\"c", 3}};
    ks_tensor_t t = {.name = "predict", .ndim = 1, .shape = {3}, .nelem = 3};
    (void)state;
    ks_buf_init(&b, 0);
    t.dtype = KS_DT_INT64;
    t.data = i64;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[1,-2,3]}");
    t.dtype = KS_DT_FP32;
    t.data = f32;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[0.5,1.0,-3.25]}");
    t.dtype = KS_DT_FP64;
    t.data = f64;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[0.1,2.0,1e+300]}");
    t.dtype = KS_DT_BYTES;
    t.data = s;
    t.shape[0] = 2;
    t.nelem = 2;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[\"a\",\"b\\\"c\"]}");
    ks_buf_free(&b);
}

static void v1_encode_2d(void **state)
{
    ks_buf_t b;
    int64_t i64[] = {1, 2, 3, 4, 5, 6};
    float f32[] = {0.25f, 0.75f, 1.0f, 0.0f};
    double f64[] = {0.1, 0.9, 0.5, 0.5};
    ks_bytes_t s[] = {{"x", 1}, {"y", 1}, {"", 0}, {"zz", 2}};
    ks_tensor_t t = {.name = "predict", .ndim = 2, .shape = {3, 2}, .nelem = 6};
    (void)state;
    ks_buf_init(&b, 0);
    t.dtype = KS_DT_INT64;
    t.data = i64;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[[1,2],[3,4],[5,6]]}");
    t.shape[0] = 2;
    t.shape[1] = 3;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[[1,2,3],[4,5,6]]}");
    t.shape[0] = 2;
    t.shape[1] = 2;
    t.nelem = 4;
    t.dtype = KS_DT_FP32;
    t.data = f32;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[[0.25,0.75],[1.0,0.0]]}");
    t.dtype = KS_DT_FP64;
    t.data = f64;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[[0.1,0.9],[0.5,0.5]]}");
    t.dtype = KS_DT_BYTES;
    t.data = s;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[[\"x\",\"y\"],[\"\",\"zz\"]]}");
    ks_buf_free(&b);
}

static void v1_encode_edge_cases(void **state)
{
    ks_buf_t b;
    uint8_t bools[] = {1, 0};
    double nan_inf[] = {NAN, 1.5};
    ks_tensor_t t = {.name = "p", .dtype = KS_DT_BOOL, .ndim = 1, .shape = {2}, .nelem = 2, .data = bools};
    (void)state;
    ks_buf_init(&b, 0);
    assert_string_equal(encode(&b, NULL), "{\"predictions\":[]}");
    assert_string_equal(encode(&b, &t), "{\"predictions\":[true,false]}");
    t.ndim = 0; /* no shape: flat */
    assert_string_equal(encode(&b, &t), "{\"predictions\":[true,false]}");
    t.ndim = 2;
    t.shape[0] = 2;
    t.shape[1] = 0;
    t.nelem = 0;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[[],[]]}");
    t.dtype = KS_DT_FP64;
    t.data = nan_inf;
    t.ndim = 1;
    t.shape[0] = 2;
    t.nelem = 2;
    assert_string_equal(encode(&b, &t), "{\"predictions\":[null,1.5]}");
    ks_buf_free(&b);
}

static void v1_decode_encode_round_trip(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(decode("{\"instances\":[[6.8,2.8],[6.0,3.4]]}"), 0);
    assert_string_equal(encode(&b, &R.inputs[0]), "{\"predictions\":[[6.8,2.8],[6.0,3.4]]}");
    ks_buf_free(&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(v1_instances_2d_ints),
        T(v1_inputs_root),
        T(v1_inputs_wins_over_instances),
        T(v1_other_keys_ignored),
        T(v1_surrounding_whitespace),
        T(v1_ints_are_int64),
        T(v1_floats_are_fp64_exact),
        T(v1_mixed_ints_floats_are_fp64),
        T(v1_exponents_are_floats),
        T(v1_int_beyond_int64_becomes_float),
        T(v1_bools),
        T(v1_bools_with_numbers_follow_numpy),
        T(v1_strings_are_bytes),
        T(v1_many_values_grow),
        T(v1_many_strings_grow),
        T(v1_shape_1d),
        T(v1_shape_3d),
        T(v1_shape_8d_is_the_limit),
        T(v1_empty_rows),
        T(v1_objects_are_complex),
        T(v1_nulls_are_complex),
        T(v1_strings_mixed_with_numbers_are_complex),
        T(v1_malformed_json),
        T(v1_truncated_json),
        T(v1_non_object_root),
        T(v1_missing_key),
        T(v1_empty_instances),
        T(v1_ragged_rows),
        T(v1_instances_not_a_list),
        T(v1_duplicate_key),
        T(v1_arena_cap_is_too_big),
        T(v1_arena_cap_anywhere_never_crashes),
        T(v1_encode_1d),
        T(v1_encode_2d),
        T(v1_encode_edge_cases),
        T(v1_decode_encode_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
