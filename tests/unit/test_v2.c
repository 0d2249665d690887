/*
 * V2 (Open Inference Protocol) bodies: ks_v2_decode with the binary tensor
 * data extension, ks_v2_parse_header_length and ks_v2_encode
 * (src/protocol/v2.c, encode.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "ks/protocol.h"

static ks_arena_t A;
static ks_infer_request_t R;
static char E[KS_ERRLEN];
static char BODY[1 << 16];

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

static int decode(const char *json)
{
    return ks_v2_decode(&A, json, strlen(json), strlen(json), &R, E, sizeof(E));
}

/* json followed by n raw bytes, as one body */
static int decode_bin(const char *json, const void *raw, size_t n)
{
    size_t jl = strlen(json);
    assert_true(jl + n <= sizeof(BODY));
    memcpy(BODY, json, jl);
    if (n != 0)
        memcpy(BODY + jl, raw, n);
    return ks_v2_decode(&A, BODY, jl + n, jl, &R, E, sizeof(E));
}

static void expect_msg(const char *want)
{
    assert_true(strlen(E) > 0);
    if (strstr(E, want) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", E, want);
}

static void expect_einval(const char *json, const char *want)
{
    memset(E, 0, sizeof(E));
    assert_int_equal(decode(json), KS_EINVAL);
    expect_msg(want);
}

/* {"inputs":[{"name":"x","shape":SHAPE,"datatype":DT,"data":DATA}]} */
static int decode1(const char *dt, const char *shape, const char *data)
{
    static char json[4096];
    snprintf(json, sizeof(json), "{\"inputs\":[{\"name\":\"x\",\"shape\":%s,\"datatype\":\"%s\",\"data\":%s}]}", shape,
             dt, data);
    memset(E, 0, sizeof(E));
    return decode(json);
}

static void expect1_einval(const char *dt, const char *shape, const char *data, const char *want)
{
    assert_int_equal(decode1(dt, shape, data), KS_EINVAL);
    expect_msg(want);
}

/* ---- structure ----------------------------------------------------------------------------- */

static void v2_flat_data(void **state)
{
    const float *d;
    (void)state;
    assert_int_equal(decode("{\"inputs\":[{\"name\":\"input-0\",\"shape\":[2,4],\"datatype\":\"FP32\","
                            "\"data\":[6.8,2.8,4.8,1.4,6.0,3.4,4.5,1.6]}]}"),
                     0);
    assert_int_equal(R.protocol, KS_PROTO_V2);
    assert_null(R.id);
    assert_int_equal(R.binary_output, 0);
    assert_null(R.content_type);
    assert_int_equal(R.noutputs, 0);
    assert_int_equal(R.ninputs, 1);
    assert_string_equal(R.inputs[0].name, "input-0");
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP32);
    assert_int_equal(R.inputs[0].ndim, 2);
    assert_int_equal(R.inputs[0].shape[0], 2);
    assert_int_equal(R.inputs[0].shape[1], 4);
    assert_int_equal(R.inputs[0].nelem, 8);
    assert_true(R.binary_size[0] == SIZE_MAX);
    d = R.inputs[0].data;
    assert_true(d[0] == 6.8f);
    assert_true(d[3] == 1.4f);
    assert_true(d[4] == 6.0f);
    assert_true(d[7] == 1.6f);
}

static void v2_nested_data(void **state)
{
    const float *d;
    (void)state;
    assert_int_equal(decode("{\"inputs\":[{\"name\":\"input-0\",\"shape\":[2,4],\"datatype\":\"FP32\","
                            "\"data\":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}]}"),
                     0);
    assert_int_equal(R.inputs[0].ndim, 2);
    assert_int_equal(R.inputs[0].shape[0], 2);
    assert_int_equal(R.inputs[0].shape[1], 4);
    assert_int_equal(R.inputs[0].nelem, 8);
    d = R.inputs[0].data;
    assert_true(d[0] == 6.8f);
    assert_true(d[5] == 3.4f);
    assert_true(d[7] == 1.6f);
}

static void v2_field_order_and_unknown_fields(void **state)
{
    const int32_t *d;
    (void)state;
    /* data before shape and datatype; unknown fields anywhere are skipped */
    assert_int_equal(decode("{\"model_name\":\"m\",\"extra\":{\"inputs\":[1]},\"inputs\":[{\"data\":[[1,2,3]],"
                            "\"extra\":{\"a\":[1,{\"b\":null}]},\"parameters\":{\"content_type\":\"np\",\"x\":[1]},"
                            "\"datatype\":\"INT32\",\"shape\":[1,3],\"name\":\"in\"}],\"more\":[[1],[2]]}"),
                     0);
    assert_int_equal(R.ninputs, 1);
    assert_string_equal(R.inputs[0].name, "in");
    assert_int_equal(R.inputs[0].dtype, KS_DT_INT32);
    assert_int_equal(R.inputs[0].ndim, 2);
    assert_int_equal(R.inputs[0].nelem, 3);
    d = R.inputs[0].data;
    assert_int_equal(d[0], 1);
    assert_int_equal(d[2], 3);
}

static void v2_multiple_inputs(void **state)
{
    const int64_t *a;
    const ks_bytes_t *b;
    const uint8_t *c;
    (void)state;
    assert_int_equal(decode("{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"INT64\",\"data\":[5,-6]},"
                            "{\"name\":\"b\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"hi\"]},"
                            "{\"name\":\"c\",\"shape\":[1,2],\"datatype\":\"BOOL\",\"data\":[[false,true]]}]}"),
                     0);
    assert_int_equal(R.ninputs, 3);
    assert_string_equal(R.inputs[0].name, "a");
    assert_string_equal(R.inputs[1].name, "b");
    assert_string_equal(R.inputs[2].name, "c");
    a = R.inputs[0].data;
    b = R.inputs[1].data;
    c = R.inputs[2].data;
    assert_int_equal(a[0], 5);
    assert_int_equal(a[1], -6);
    assert_int_equal(b[0].len, 2);
    assert_memory_equal(b[0].base, "hi", 2);
    assert_int_equal(c[0], 0);
    assert_int_equal(c[1], 1);
    for (int i = 0; i < 3; ++i)
        assert_true(R.binary_size[i] == SIZE_MAX);
}

static void v2_empty_tensor(void **state)
{
    (void)state;
    assert_int_equal(decode1("FP32", "[0]", "[]"), 0);
    assert_int_equal(R.inputs[0].ndim, 1);
    assert_int_equal(R.inputs[0].shape[0], 0);
    assert_int_equal(R.inputs[0].nelem, 0);
    assert_int_equal(decode1("INT64", "[2,0]", "[]"), 0);
    assert_int_equal(R.inputs[0].nelem, 0);
}

static void v2_scalar_shape(void **state)
{
    (void)state;
    /* shape [] is a scalar: one element */
    assert_int_equal(decode1("FP64", "[]", "[2.5]"), 0);
    assert_int_equal(R.inputs[0].ndim, 0);
    assert_int_equal(R.inputs[0].nelem, 1);
    assert_true(((const double *)R.inputs[0].data)[0] == 2.5);
    expect1_einval("FP64", "[]", "[1, 2]", "needs 1 elements but data has 2");
}

static void v2_id(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"id\":\"req-42\",\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\","
                            "\"data\":[1]}]}"),
                     0);
    assert_non_null(R.id);
    assert_int_equal(R.id_len, 6);
    assert_memory_equal(R.id, "req-42", 6);
    /* escapes are decoded */
    assert_int_equal(decode("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],"
                            "\"id\":\"a\\\"b\"}"),
                     0);
    assert_int_equal(R.id_len, 3);
    assert_memory_equal(R.id, "a\"b", 3);
    expect_einval("{\"id\":5,\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
                  "\"id\" must be a string");
}

static void v2_parameters(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"parameters\":{\"x\":{\"y\":[1]},\"binary_data_output\":true,\"content_type\":\"pd\","
                            "\"z\":[1,2]},\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}"),
                     0);
    assert_int_equal(R.binary_output, 1);
    assert_non_null(R.content_type);
    assert_string_equal(R.content_type, "pd");
    assert_int_equal(decode("{\"parameters\":{\"binary_data_output\":false},\"inputs\":[{\"name\":\"x\",\"shape\":[1],"
                            "\"datatype\":\"FP32\",\"data\":[1]}]}"),
                     0);
    assert_int_equal(R.binary_output, 0);
    expect_einval("{\"parameters\":{\"binary_data_output\":\"yes\"},\"inputs\":[{\"name\":\"x\",\"shape\":[1],"
                  "\"datatype\":\"FP32\",\"data\":[1]}]}",
                  "binary_data_output");
    expect_einval("{\"parameters\":[1],\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
                  "\"parameters\" has the wrong type");
}

static void v2_requested_outputs(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],"
                            "\"outputs\":[{\"name\":\"predict\",\"parameters\":{\"binary_data\":true}},"
                            "{\"parameters\":{\"binary_data\":false,\"other\":1},\"name\":\"proba\"},{\"name\":\"z\"}]}"),
                     0);
    assert_int_equal(R.noutputs, 3);
    assert_string_equal(R.outputs[0].name, "predict");
    assert_int_equal(R.outputs[0].binary, 1);
    assert_string_equal(R.outputs[1].name, "proba");
    assert_int_equal(R.outputs[1].binary, 0);
    assert_string_equal(R.outputs[2].name, "z");
    assert_int_equal(R.outputs[2].binary, 0);
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],"
                  "\"outputs\":[{\"parameters\":{\"binary_data\":true}}]}",
                  "has no \"name\"");
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],"
                  "\"outputs\":[{\"name\":\"p\",\"parameters\":{\"binary_data\":1}}]}",
                  "\"binary_data\" must be a boolean");
}

/* ---- datatypes ------------------------------------------------------------------------------ */

static void v2_fp64_exact(void **state)
{
    const double *d;
    (void)state;
    assert_int_equal(decode1("FP64", "[5]", "[0.1, -2.5, 1e300, 3, 4.9e-324]"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP64);
    d = R.inputs[0].data;
    assert_true(d[0] == 0.1);
    assert_true(d[1] == -2.5);
    assert_true(d[2] == 1e300);
    assert_true(d[3] == 3.0);
    assert_true(d[4] == 4.9e-324);
}

static void v2_fp32_exact(void **state)
{
    const float *d;
    (void)state;
    assert_int_equal(decode1("FP32", "[4]", "[0.1, -1, 3.4028234663852886e38, 16777217]"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP32);
    d = R.inputs[0].data;
    assert_true(d[0] == 0.1f);
    assert_true(d[1] == -1.0f);
    assert_true(d[2] == 3.4028234663852886e38f);
    assert_true(d[3] == 16777216.0f); /* rounds like numpy.float32 */
}

static void v2_int8(void **state)
{
    const int8_t *d;
    (void)state;
    assert_int_equal(decode1("INT8", "[3]", "[-128, 127, 0]"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_INT8);
    d = R.inputs[0].data;
    assert_int_equal(d[0], -128);
    assert_int_equal(d[1], 127);
    assert_int_equal(d[2], 0);
    expect1_einval("INT8", "[1]", "[128]", "out of range for INT8");
    expect1_einval("INT8", "[1]", "[-129]", "out of range for INT8");
    expect1_einval("INT8", "[2]", "[1, 200]", "input \"x\": a value is out of range for INT8");
}

static void v2_int16(void **state)
{
    const int16_t *d;
    (void)state;
    assert_int_equal(decode1("INT16", "[2]", "[-32768, 32767]"), 0);
    d = R.inputs[0].data;
    assert_int_equal(d[0], -32768);
    assert_int_equal(d[1], 32767);
    expect1_einval("INT16", "[1]", "[32768]", "out of range for INT16");
}

static void v2_int32(void **state)
{
    const int32_t *d;
    (void)state;
    assert_int_equal(decode1("INT32", "[3]", "[-2147483648, 2147483647, 2.0]"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_INT32);
    d = R.inputs[0].data;
    assert_int_equal(d[0], INT32_MIN);
    assert_int_equal(d[1], INT32_MAX);
    assert_int_equal(d[2], 2); /* an integral float is an integer */
    expect1_einval("INT32", "[1]", "[2147483648]", "out of range for INT32");
    expect1_einval("INT32", "[2]", "[1, 1.5]", "INT32 data must hold integers");
}

static void v2_int64(void **state)
{
    const int64_t *d;
    (void)state;
    assert_int_equal(decode1("INT64", "[3]", "[-9223372036854775808, 9223372036854775807, 0]"), 0);
    d = R.inputs[0].data;
    assert_true(d[0] == INT64_MIN);
    assert_true(d[1] == INT64_MAX);
    assert_int_equal(d[2], 0);
    expect1_einval("INT64", "[1]", "[0.5]", "INT64 data must hold integers");
}

static void v2_uint8_16_32(void **state)
{
    (void)state;
    assert_int_equal(decode1("UINT8", "[2]", "[0, 255]"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_UINT8);
    assert_int_equal(((const uint8_t *)R.inputs[0].data)[0], 0);
    assert_int_equal(((const uint8_t *)R.inputs[0].data)[1], 255);
    expect1_einval("UINT8", "[1]", "[256]", "out of range for UINT8");
    expect1_einval("UINT8", "[1]", "[-1]", "out of range for UINT8");
    assert_int_equal(decode1("UINT16", "[1]", "[65535]"), 0);
    assert_int_equal(((const uint16_t *)R.inputs[0].data)[0], 65535);
    expect1_einval("UINT16", "[1]", "[65536]", "out of range for UINT16");
    assert_int_equal(decode1("UINT32", "[1]", "[4294967295]"), 0);
    assert_true(((const uint32_t *)R.inputs[0].data)[0] == UINT32_MAX);
    expect1_einval("UINT32", "[1]", "[4294967296]", "out of range for UINT32");
}

static void v2_uint64(void **state)
{
    const uint64_t *d;
    (void)state;
    assert_int_equal(decode1("UINT64", "[2]", "[0, 9223372036854775807]"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_UINT64);
    d = R.inputs[0].data;
    assert_true(d[0] == 0);
    assert_true(d[1] == (uint64_t)INT64_MAX);
    expect1_einval("UINT64", "[1]", "[-1]", "out of range for UINT64");
}

/* UINT64 holds values up to 2^64-1; the JSON path must not stop at INT64_MAX */
static void v2_uint64_above_int64_max(void **state)
{
    const uint64_t *d;
    (void)state;
    assert_int_equal(decode1("UINT64", "[2]", "[9223372036854775808, 18446744073709551615]"), 0);
    d = R.inputs[0].data;
    assert_true(d[0] == 9223372036854775808ull);
    assert_true(d[1] == UINT64_MAX);
}

static void v2_bool(void **state)
{
    const uint8_t *d;
    (void)state;
    assert_int_equal(decode1("BOOL", "[3]", "[true, false, true]"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_BOOL);
    d = R.inputs[0].data;
    assert_int_equal(d[0], 1);
    assert_int_equal(d[1], 0);
    assert_int_equal(d[2], 1);
    assert_int_equal(decode1("BOOL", "[2]", "[0, 1]"), 0);
    d = R.inputs[0].data;
    assert_int_equal(d[0], 0);
    assert_int_equal(d[1], 1);
    expect1_einval("BOOL", "[1]", "[2]", "BOOL data must be true/false");
    expect1_einval("BOOL", "[1]", "[0.5]", "BOOL data must be true/false");
    expect1_einval("BOOL", "[1]", "[1e300]", "BOOL data must be true/false");
    expect1_einval("BOOL", "[1]", "[\"true\"]", "BOOL data must hold only numbers or booleans");
}

static void v2_bytes(void **state)
{
    const ks_bytes_t *d;
    (void)state;
    assert_int_equal(decode1("BYTES", "[3]", "[\"abc\", \"\", \"\\u00e9\\n\"]"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_BYTES);
    assert_int_equal(R.inputs[0].nelem, 3);
    d = R.inputs[0].data;
    assert_int_equal(d[0].len, 3);
    assert_memory_equal(d[0].base, "abc", 3);
    assert_int_equal(d[1].len, 0);
    assert_int_equal(d[2].len, 3);
    assert_memory_equal(d[2].base, "\xc3\xa9\n", 3);
    expect1_einval("BYTES", "[2]", "[1, 2]", "BYTES data must be strings");
    expect1_einval("BYTES", "[2]", "[\"a\", 2]", "BYTES data must hold only strings");
    expect1_einval("FP32", "[1]", "[\"1.0\"]", "FP32 data must hold only numbers");
}

/* the contract lists FP16 among the JSON datatypes; only BF16 is binary-only */
static void v2_fp16_in_json(void **state)
{
    const uint16_t *d;
    (void)state;
    assert_int_equal(decode1("FP16", "[3]", "[1.5, -2, 0]"), 0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP16);
    d = R.inputs[0].data;
    assert_int_equal(d[0], 0x3e00);
    assert_int_equal(d[1], 0xc000);
    assert_int_equal(d[2], 0x0000);
}

static void v2_bf16_json_rejected(void **state)
{
    (void)state;
    expect1_einval("BF16", "[1]", "[1.5]", "binary");
}

/* ---- errors -------------------------------------------------------------------------------- */

static void v2_unknown_datatype(void **state)
{
    (void)state;
    expect1_einval("FP128", "[1]", "[1]", "input \"x\": unknown datatype \"FP128\"");
    expect1_einval("fp32", "[1]", "[1]", "unknown datatype \"fp32\"");
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":5,\"data\":[1]}]}",
                  "\"datatype\" must be a string");
}

static void v2_shape_data_mismatch(void **state)
{
    (void)state;
    expect1_einval("FP32", "[3]", "[1, 2]", "input \"x\": shape [3] needs 3 elements but data has 2");
    expect1_einval("FP32", "[2,2]", "[[1,2],[3,4],[5,6]]", "shape [2,2] needs 4 elements but data has 6");
    expect1_einval("BYTES", "[1]", "[\"a\",\"b\"]", "needs 1 elements but data has 2");
}

static void v2_missing_fields(void **state)
{
    (void)state;
    expect_einval("{\"inputs\":[{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}", "an input has no \"name\"");
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"data\":[1]}]}", "input \"x\" has no \"shape\"");
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"data\":[1]}]}", "input \"x\" has no \"datatype\"");
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\"}]}", "input \"x\" has no \"data\"");
    expect_einval("{\"inputs\":[{\"name\":5,\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
                  "\"name\" must be a string");
}

static void v2_no_inputs(void **state)
{
    (void)state;
    expect_einval("{\"inputs\":[]}", "no \"inputs\"");
    expect_einval("{}", "no \"inputs\"");
    expect_einval("{\"id\":\"x\"}", "no \"inputs\"");
    expect_einval("{\"inputs\":5}", "\"inputs\" has the wrong type");
    expect_einval("{\"inputs\":{\"name\":\"x\"}}", "\"inputs\" has the wrong type");
    expect_einval("{\"inputs\":[1]}", "");
    expect_einval("{\"inputs\":[[1]]}", "");
}

static void v2_data_wrong_shape_of_json(void **state)
{
    (void)state;
    expect1_einval("FP32", "[1]", "5", "\"data\" must be a list");
    expect1_einval("FP32", "[1]", "\"abc\"", "\"data\" must be a list");
    expect1_einval("FP32", "[1]", "{\"a\":1}", "\"data\" must be a list");
    expect1_einval("FP32", "[1]", "[{\"a\":1}]", "not objects");
    expect1_einval("FP32", "[2]", "[1, null]", "\"data\" holds null");
    expect1_einval("FP32", "[4]", "[[1,2],[3]]", "ragged");
}

static void v2_bad_shape(void **state)
{
    (void)state;
    expect1_einval("FP32", "[-1]", "[1]", "negative dimension");
    expect1_einval("FP32", "[2,-3]", "[1]", "negative dimension");
    expect1_einval("FP32", "[1.5]", "[1]", "\"shape\" must be a list of integers");
    expect1_einval("FP32", "[\"1\"]", "[1]", "\"shape\" must be a list of integers");
    expect1_einval("FP32", "[[1]]", "[1]", "\"shape\" must be a flat list of integers");
    expect1_einval("FP32", "1", "[1]", "\"shape\" must be a list of integers");
    expect1_einval("FP32", "[1,1,1,1,1,1,1,1,1]", "[1]", "more than 8 dimensions");
}

static void v2_malformed_json(void **state)
{
    (void)state;
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]", "malformed JSON");
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1,]}]}", "malformed JSON");
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]} x", "malformed JSON");
    expect_einval("{\"inp", "malformed JSON");
    expect_einval("[1,2]", "");
    expect_einval("42", "");
    expect_einval("", "");
}

static void v2_duplicate_fields(void **state)
{
    (void)state;
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
                  "duplicate \"shape\"");
    expect_einval("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],\"data\":[2]}]}",
                  "duplicate \"data\"");
}

static void v2_arena_cap_is_too_big(void **state)
{
    ks_arena_t small;
    static char json[60000];
    size_t o = 0;
    (void)state;
    o += (size_t)snprintf(json + o, sizeof(json) - o,
                          "{\"inputs\":[{\"name\":\"x\",\"shape\":[5000],\"datatype\":\"INT64\",\"data\":[");
    for (int i = 0; i < 5000; ++i)
        o += (size_t)snprintf(json + o, sizeof(json) - o, "%s%d", i ? "," : "", i);
    snprintf(json + o, sizeof(json) - o, "]}]}");
    int r;
    ks_arena_init(&small, 16 * 1024);
    r = ks_v2_decode(&small, json, strlen(json), strlen(json), &R, E, sizeof(E));
    ks_arena_destroy(&small);
    assert_string_equal(E, "request too large");
    assert_int_equal(r, KS_ETOOBIG); /* 413, not 400 */
}

/* ---- Inference-Header-Content-Length ------------------------------------------------------- */

static void v2_header_length(void **state)
{
    size_t out = 12345;
    (void)state;
    assert_int_equal(ks_v2_parse_header_length("123", 3, 200, &out), 0);
    assert_int_equal(out, 123);
    assert_int_equal(ks_v2_parse_header_length("0", 1, 200, &out), 0);
    assert_int_equal(out, 0);
    assert_int_equal(ks_v2_parse_header_length("200", 3, 200, &out), 0); /* all JSON */
    assert_int_equal(out, 200);
    assert_int_equal(ks_v2_parse_header_length("1234", 2, 200, &out), 0); /* only len bytes */
    assert_int_equal(out, 12);
}

static void v2_header_length_invalid(void **state)
{
    size_t out = 777;
    (void)state;
    assert_int_equal(ks_v2_parse_header_length("", 0, 200, &out), KS_EINVAL);
    assert_int_equal(ks_v2_parse_header_length("12a", 3, 200, &out), KS_EINVAL);
    assert_int_equal(ks_v2_parse_header_length("-1", 2, 200, &out), KS_EINVAL);
    assert_int_equal(ks_v2_parse_header_length("+1", 2, 200, &out), KS_EINVAL);
    assert_int_equal(ks_v2_parse_header_length(" 12", 3, 200, &out), KS_EINVAL);
    assert_int_equal(ks_v2_parse_header_length("1.5", 3, 200, &out), KS_EINVAL);
    assert_int_equal(ks_v2_parse_header_length("201", 3, 200, &out), KS_EINVAL); /* larger than the body */
    assert_int_equal(ks_v2_parse_header_length("9999999999999999999", 19, 200, &out), KS_EINVAL);
    assert_int_equal(ks_v2_parse_header_length("18446744073709551617", 20, SIZE_MAX, &out), KS_EINVAL);
    assert_int_equal(out, 777); /* untouched on error */
}

/* ---- binary tensor data --------------------------------------------------------------------- */

static void v2_binary_fp32(void **state)
{
    const float raw[3] = {1.5f, -2.25f, 1e-3f};
    const float *d;
    (void)state;
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
                                "\"parameters\":{\"binary_data_size\":12}}]}",
                                raw, sizeof(raw)),
                     0);
    assert_int_equal(R.ninputs, 1);
    assert_int_equal(R.binary_size[0], 12);
    assert_int_equal(R.inputs[0].dtype, KS_DT_FP32);
    assert_int_equal(R.inputs[0].nelem, 3);
    d = R.inputs[0].data;
    assert_non_null(d);
    assert_int_equal((uintptr_t)d % sizeof(float), 0);
    assert_true(d[0] == 1.5f);
    assert_true(d[1] == -2.25f);
    assert_true(d[2] == 1e-3f);
}

static void v2_binary_inputs_in_order_mixed_with_json(void **state)
{
    unsigned char raw[8 + 3];
    const int32_t a[2] = {-7, 100000};
    const uint8_t c[3] = {9, 0, 255};
    const int32_t *da;
    const uint8_t *dc;
    const double *db;
    (void)state;
    memcpy(raw, a, 8);
    memcpy(raw + 8, c, 3);
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"INT32\","
                                "\"parameters\":{\"binary_data_size\":8}},"
                                "{\"name\":\"b\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[0.5]},"
                                "{\"name\":\"c\",\"shape\":[3],\"datatype\":\"UINT8\","
                                "\"parameters\":{\"binary_data_size\":3}}]}",
                                raw, sizeof(raw)),
                     0);
    assert_int_equal(R.ninputs, 3);
    assert_int_equal(R.binary_size[0], 8);
    assert_true(R.binary_size[1] == SIZE_MAX);
    assert_int_equal(R.binary_size[2], 3);
    da = R.inputs[0].data;
    db = R.inputs[1].data;
    dc = R.inputs[2].data;
    assert_int_equal(da[0], -7);
    assert_int_equal(da[1], 100000);
    assert_true(db[0] == 0.5);
    assert_int_equal(dc[0], 9);
    assert_int_equal(dc[1], 0);
    assert_int_equal(dc[2], 255);
}

static void v2_binary_bool_and_fp16(void **state)
{
    const unsigned char raw[] = {1, 0, 1, 0x00, 0x3c, 0x00, 0xc0}; /* BOOL x3, FP16 1.0 and -2.0 */
    const uint8_t *b;
    const uint16_t *h;
    (void)state;
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"b\",\"shape\":[3],\"datatype\":\"BOOL\","
                                "\"parameters\":{\"binary_data_size\":3}},"
                                "{\"name\":\"h\",\"shape\":[2],\"datatype\":\"FP16\","
                                "\"parameters\":{\"binary_data_size\":4}}]}",
                                raw, sizeof(raw)),
                     0);
    b = R.inputs[0].data;
    h = R.inputs[1].data;
    assert_int_equal(b[0], 1);
    assert_int_equal(b[1], 0);
    assert_int_equal(b[2], 1);
    assert_int_equal(h[0], 0x3c00);
    assert_int_equal(h[1], 0xc000);
    assert_true(ks_tensor_get_f64(&R.inputs[1], 0) == 1.0);
    assert_true(ks_tensor_get_f64(&R.inputs[1], 1) == -2.0);
}

static void v2_binary_bytes(void **state)
{
    /* three elements: "abc", "", "xy" each with a 4-byte little-endian length */
    const unsigned char raw[] = {3, 0, 0, 0, 'a', 'b', 'c', 0, 0, 0, 0, 2, 0, 0, 0, 'x', 'y'};
    const ks_bytes_t *d;
    (void)state;
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"s\",\"shape\":[3],\"datatype\":\"BYTES\","
                                "\"parameters\":{\"binary_data_size\":17}}]}",
                                raw, sizeof(raw)),
                     0);
    assert_int_equal(R.inputs[0].dtype, KS_DT_BYTES);
    assert_int_equal(R.inputs[0].nelem, 3);
    d = R.inputs[0].data;
    assert_int_equal(d[0].len, 3);
    assert_memory_equal(d[0].base, "abc", 3);
    assert_int_equal(d[1].len, 0);
    assert_int_equal(d[2].len, 2);
    assert_memory_equal(d[2].base, "xy", 2);
}

static void v2_binary_bytes_malformed(void **state)
{
    const unsigned char two[] = {1, 0, 0, 0, 'a', 1, 0, 0, 0, 'b'};
    const unsigned char overlong[] = {9, 0, 0, 0, 'a', 'b'};
    const unsigned char short_prefix[] = {1, 0, 0, 0, 'a', 0, 0};
    (void)state;
    /* shape says 3 elements, the data holds 2 */
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"s\",\"shape\":[3],\"datatype\":\"BYTES\","
                                "\"parameters\":{\"binary_data_size\":10}}]}",
                                two, sizeof(two)),
                     KS_EINVAL);
    expect_msg("input \"s\": binary BYTES data does not hold 3 length-prefixed elements in 10 bytes");
    /* shape says 1 element, the data holds 2 */
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"s\",\"shape\":[1],\"datatype\":\"BYTES\","
                                "\"parameters\":{\"binary_data_size\":10}}]}",
                                two, sizeof(two)),
                     KS_EINVAL);
    expect_msg("does not hold 1 length-prefixed");
    /* a length running past the element's bytes */
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"s\",\"shape\":[1],\"datatype\":\"BYTES\","
                                "\"parameters\":{\"binary_data_size\":6}}]}",
                                overlong, sizeof(overlong)),
                     KS_EINVAL);
    /* a truncated length prefix */
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"s\",\"shape\":[2],\"datatype\":\"BYTES\","
                                "\"parameters\":{\"binary_data_size\":7}}]}",
                                short_prefix, sizeof(short_prefix)),
                     KS_EINVAL);
}

static void v2_binary_size_mismatch(void **state)
{
    const float raw[2] = {1, 2};
    (void)state;
    /* shape [2] FP32 needs 8 bytes */
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\","
                                "\"parameters\":{\"binary_data_size\":4}}]}",
                                raw, 4),
                     KS_EINVAL);
    expect_msg("input \"x\": binary_data_size is 4 but shape and FP32 need 8 bytes");
    /* binary_data_size beyond the bytes sent */
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"x\",\"shape\":[4],\"datatype\":\"FP32\","
                                "\"parameters\":{\"binary_data_size\":16}}]}",
                                raw, 8),
                     KS_EINVAL);
    expect_msg("input \"x\": binary_data_size 16 runs past the end of the body (8 bytes left)");
    /* no binary part at all */
    assert_int_equal(decode("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\","
                            "\"parameters\":{\"binary_data_size\":8}}]}"),
                     KS_EINVAL);
    expect_msg("runs past the end");
}

static void v2_binary_leftover_bytes(void **state)
{
    const float raw[3] = {1, 2, 3};
    (void)state;
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\","
                                "\"parameters\":{\"binary_data_size\":8}}]}",
                                raw, 12),
                     KS_EINVAL);
    expect_msg("the body has 12 bytes of binary data but the inputs' binary_data_size add up to 8");
    /* bytes after a JSON-only request */
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
                                raw, 4),
                     KS_EINVAL);
    expect_msg("4 bytes of binary data");
}

static void v2_binary_with_data_rejected(void **state)
{
    const float raw[1] = {1};
    (void)state;
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],"
                                "\"parameters\":{\"binary_data_size\":4}}]}",
                                raw, 4),
                     KS_EINVAL);
    expect_msg("both \"data\" and binary_data_size");
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\","
                                "\"parameters\":{\"binary_data_size\":-4}}]}",
                                raw, 4),
                     KS_EINVAL);
    expect_msg("binary_data_size");
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\","
                                "\"parameters\":{\"binary_data_size\":\"4\"}}]}",
                                raw, 4),
                     KS_EINVAL);
    expect_msg("binary_data_size");
}

static void v2_binary_huge_shape_numeric(void **state)
{
    const float raw[2] = {1, 2};
    (void)state;
    /* nelem * 4 overflows size_t: must be a size mismatch, not a wrap to a small size */
    assert_int_equal(decode_bin("{\"inputs\":[{\"name\":\"x\",\"shape\":[4611686018427387905],\"datatype\":\"FP32\","
                                "\"parameters\":{\"binary_data_size\":4}}]}",
                                raw, 4),
                     KS_EINVAL);
    expect_msg("binary_data_size is 4");
}

/*
 * BYTES with a huge shape: (nelem + 1) * sizeof(ks_bytes_t) wraps around
 * (2^60 + 1) * 16 == 16 (mod 2^64), so the element table is 16 bytes while
 * the loop fills as many elements as the data holds.  The memory right after
 * the table must be untouched.
 */
static void v2_binary_bytes_huge_shape_no_overflow(void **state)
{
    const unsigned char raw[8] = {0}; /* two empty elements */
    unsigned char *p;
    int r;
    (void)state;
    /* fill the arena's block with a pattern, then forget the allocation */
    p = ks_arena_alloc(&A, 60000);
    assert_non_null(p);
    memset(p, 0xee, 60000);
    ks_arena_reset(&A);
    r = decode_bin("{\"inputs\":[{\"name\":\"s\",\"shape\":[1152921504606846976],\"datatype\":\"BYTES\","
                   "\"parameters\":{\"binary_data_size\":8}}]}",
                   raw, sizeof(raw));
    assert_true(r == KS_EINVAL || r == KS_ETOOBIG);
    /* the next allocation starts where the decoder's last one ended */
    p = ks_arena_alloc(&A, 64);
    assert_non_null(p);
    for (int i = 0; i < 64; ++i)
        if (p[i] != 0xee)
            fail_msg("arena memory after the BYTES element table was overwritten at byte %d", i);
}

/* ---- encode ------------------------------------------------------------------------------------ */

static void init_req(ks_infer_request_t *req)
{
    memset(req, 0, sizeof(*req));
    req->protocol = KS_PROTO_V2;
}

static const char *cstr(ks_buf_t *b, size_t len)
{
    static char s[4096];
    assert_true(len < sizeof(s));
    memcpy(s, b->base, len);
    s[len] = '\0';
    return s;
}

static void v2_encode_echoes_id(void **state)
{
    ks_buf_t b;
    ks_infer_request_t req;
    ks_infer_response_t res;
    int64_t pred[2] = {1, 1};
    size_t jl = 0;
    (void)state;
    init_req(&req);
    req.id = "req-7";
    req.id_len = 5;
    memset(&res, 0, sizeof(res));
    res.noutputs = 1;
    res.outputs[0] = (ks_tensor_t){.name = "predict", .dtype = KS_DT_INT64, .ndim = 1, .shape = {2}, .nelem = 2, .data = pred};
    ks_buf_init(&b, 0);
    assert_int_equal(ks_v2_encode(&b, "sklearn-iris", &req, &res, &jl), 0);
    assert_int_equal(jl, b.len);
    assert_string_equal(cstr(&b, b.len), "{\"model_name\":\"sklearn-iris\",\"id\":\"req-7\",\"outputs\":[{\"name\":"
                                         "\"predict\",\"shape\":[2],\"datatype\":\"INT64\",\"data\":[1,1]}]}");
    /* ids needing escapes are escaped; only id_len bytes count */
    ks_buf_reset(&b);
    req.id = "a\"b\nXYZ";
    req.id_len = 4;
    assert_int_equal(ks_v2_encode(&b, "m", &req, &res, &jl), 0);
    assert_non_null(strstr(cstr(&b, b.len), "\"id\":\"a\\\"b\\n\","));
    ks_buf_free(&b);
}

static void v2_encode_several_outputs(void **state)
{
    ks_buf_t b;
    ks_infer_request_t req;
    ks_infer_response_t res;
    float proba[4] = {0.25f, 0.75f, 1.0f, 0.0f};
    ks_bytes_t labels[2] = {{"cat", 3}, {"dog", 3}};
    size_t jl = 0;
    (void)state;
    init_req(&req);
    req.id = "1";
    req.id_len = 1;
    memset(&res, 0, sizeof(res));
    res.noutputs = 2;
    res.outputs[0] = (ks_tensor_t){.name = "proba", .dtype = KS_DT_FP32, .ndim = 2, .shape = {2, 2}, .nelem = 4, .data = proba};
    res.outputs[1] = (ks_tensor_t){.name = "label", .dtype = KS_DT_BYTES, .ndim = 1, .shape = {2}, .nelem = 2, .data = labels};
    ks_buf_init(&b, 0);
    assert_int_equal(ks_v2_encode(&b, "m", &req, &res, &jl), 0);
    assert_int_equal(jl, b.len);
    assert_string_equal(cstr(&b, b.len),
                        "{\"model_name\":\"m\",\"id\":\"1\",\"outputs\":["
                        "{\"name\":\"proba\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[0.25,0.75,1.0,0.0]},"
                        "{\"name\":\"label\",\"shape\":[2],\"datatype\":\"BYTES\",\"data\":[\"cat\",\"dog\"]}]}");
    ks_buf_free(&b);
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void generated_id(char *out37)
{
    ks_buf_t b;
    ks_infer_request_t req;
    ks_infer_response_t res;
    size_t jl = 0;
    const char *s, *p;
    init_req(&req);
    memset(&res, 0, sizeof(res));
    ks_buf_init(&b, 0);
    assert_int_equal(ks_v2_encode(&b, "m", &req, &res, &jl), 0);
    s = cstr(&b, b.len);
    p = strstr(s, "\"id\":\"");
    assert_non_null(p);
    p += 6;
    assert_int_equal(p[36], '"');
    memcpy(out37, p, 36);
    out37[36] = '\0';
    assert_string_equal(p + 37, ",\"outputs\":[]}");
    ks_buf_free(&b);
}

static void v2_encode_generates_uuid_when_no_id(void **state)
{
    char id1[37], id2[37];
    (void)state;
    generated_id(id1);
    for (int i = 0; i < 36; ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id1[i], '-');
        else
            assert_true(is_hex(id1[i]));
    }
    assert_int_equal(id1[14], '4'); /* version 4 */
    assert_non_null(strchr("89ab", id1[19])); /* RFC 4122 variant */
    generated_id(id2);
    assert_string_not_equal(id1, id2);
}

static void v2_encode_binary_output(void **state)
{
    ks_buf_t b;
    ks_infer_request_t req;
    ks_infer_response_t res;
    float pred[2] = {1.5f, -2.0f};
    const char *want = "{\"model_name\":\"m\",\"id\":\"r\",\"outputs\":[{\"name\":\"predict\",\"shape\":[2],"
                       "\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":8}}]}";
    size_t jl = 0;
    (void)state;
    init_req(&req);
    req.id = "r";
    req.id_len = 1;
    req.noutputs = 1;
    req.outputs[0].name = "predict";
    req.outputs[0].binary = 1;
    memset(&res, 0, sizeof(res));
    res.noutputs = 1;
    res.outputs[0] = (ks_tensor_t){.name = "predict", .dtype = KS_DT_FP32, .ndim = 1, .shape = {2}, .nelem = 2, .data = pred};
    ks_buf_init(&b, 0);
    assert_int_equal(ks_v2_encode(&b, "m", &req, &res, &jl), 0);
    assert_int_equal(jl, strlen(want));
    assert_string_equal(cstr(&b, jl), want);
    assert_int_equal(b.len, jl + 8);
    assert_memory_equal(b.base + jl, pred, 8);
    ks_buf_free(&b);
}

static void v2_encode_binary_data_output_all(void **state)
{
    ks_buf_t b;
    ks_infer_request_t req;
    ks_infer_response_t res;
    int64_t pred[2] = {3, -1};
    ks_bytes_t s[2] = {{"ab", 2}, {"", 0}};
    const unsigned char bytes_raw[] = {2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0};
    const char *want = "{\"model_name\":\"m\",\"id\":\"r\",\"outputs\":["
                       "{\"name\":\"predict\",\"shape\":[2],\"datatype\":\"INT64\",\"parameters\":{\"binary_data_size\":16}},"
                       "{\"name\":\"s\",\"shape\":[2],\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":10}}]}";
    size_t jl = 0;
    (void)state;
    init_req(&req);
    req.id = "r";
    req.id_len = 1;
    req.binary_output = 1;
    memset(&res, 0, sizeof(res));
    res.noutputs = 2;
    res.outputs[0] = (ks_tensor_t){.name = "predict", .dtype = KS_DT_INT64, .ndim = 1, .shape = {2}, .nelem = 2, .data = pred};
    res.outputs[1] = (ks_tensor_t){.name = "s", .dtype = KS_DT_BYTES, .ndim = 1, .shape = {2}, .nelem = 2, .data = s};
    ks_buf_init(&b, 0);
    assert_int_equal(ks_v2_encode(&b, "m", &req, &res, &jl), 0);
    assert_string_equal(cstr(&b, jl), want);
    assert_int_equal(b.len, jl + 16 + 10);
    assert_memory_equal(b.base + jl, pred, 16);
    assert_memory_equal(b.base + jl + 16, bytes_raw, 10);
    ks_buf_free(&b);
}

static void v2_encode_binary_only_where_asked(void **state)
{
    ks_buf_t b;
    ks_infer_request_t req;
    ks_infer_response_t res;
    int64_t pred[1] = {2};
    double proba[2] = {0.1, 0.9};
    const char *want = "{\"model_name\":\"m\",\"id\":\"r\",\"outputs\":["
                       "{\"name\":\"predict\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[2]},"
                       "{\"name\":\"proba\",\"shape\":[1,2],\"datatype\":\"FP64\",\"parameters\":{\"binary_data_size\":16}}]}";
    size_t jl = 0;
    (void)state;
    init_req(&req);
    req.id = "r";
    req.id_len = 1;
    req.noutputs = 2;
    req.outputs[0].name = "proba";
    req.outputs[0].binary = 1;
    req.outputs[1].name = "predict";
    req.outputs[1].binary = 0;
    memset(&res, 0, sizeof(res));
    res.noutputs = 2;
    res.outputs[0] = (ks_tensor_t){.name = "predict", .dtype = KS_DT_INT64, .ndim = 1, .shape = {1}, .nelem = 1, .data = pred};
    res.outputs[1] = (ks_tensor_t){.name = "proba", .dtype = KS_DT_FP64, .ndim = 2, .shape = {1, 2}, .nelem = 2, .data = proba};
    ks_buf_init(&b, 0);
    assert_int_equal(ks_v2_encode(&b, "m", &req, &res, &jl), 0);
    assert_string_equal(cstr(&b, jl), want);
    assert_int_equal(b.len, jl + 16);
    assert_memory_equal(b.base + jl, proba, 16);
    ks_buf_free(&b);
}

static void v2_json_tensor_flat_all_dtypes(void **state)
{
    ks_buf_t b;
    uint64_t u64[2] = {0, UINT64_MAX};
    int8_t i8[2] = {-128, 127};
    uint16_t u16[1] = {65535};
    uint16_t f16[2] = {0x3c00, 0xc100}; /* 1.0, -2.5 */
    uint16_t bf16[1] = {0x3fc0};        /* 1.5 */
    uint8_t bools[3] = {0, 1, 1};
    ks_tensor_t t = {.name = "t", .ndim = 1};
    (void)state;
    ks_buf_init(&b, 0);
#define FLAT(dt, arr, n, want)                                                                                             \
    do {                                                                                                                   \
        t.dtype = (dt);                                                                                                    \
        t.data = (arr);                                                                                                    \
        t.nelem = (n);                                                                                                     \
        ks_buf_reset(&b);                                                                                                  \
        assert_int_equal(ks_json_tensor_flat(&b, &t), 0);                                                                  \
        assert_string_equal(cstr(&b, b.len), (want));                                                                      \
    } while (0)
    FLAT(KS_DT_UINT64, u64, 2, "[0,18446744073709551615]");
    FLAT(KS_DT_INT8, i8, 2, "[-128,127]");
    FLAT(KS_DT_UINT16, u16, 1, "[65535]");
    FLAT(KS_DT_FP16, f16, 2, "[1.0,-2.5]");
    FLAT(KS_DT_BF16, bf16, 1, "[1.5]");
    FLAT(KS_DT_BOOL, bools, 3, "[false,true,true]");
    FLAT(KS_DT_INT64, u64, 0, "[]");
#undef FLAT
    ks_buf_free(&b);
}

static void v2_decode_then_encode_round_trip(void **state)
{
    ks_buf_t b;
    ks_infer_response_t res;
    size_t jl = 0;
    (void)state;
    assert_int_equal(decode("{\"id\":\"rt\",\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"FP64\","
                            "\"data\":[[0.1,0.2],[0.3,0.4]]}]}"),
                     0);
    memset(&res, 0, sizeof(res));
    res.noutputs = 1;
    res.outputs[0] = R.inputs[0];
    ks_buf_init(&b, 0);
    assert_int_equal(ks_v2_encode(&b, "echo", &R, &res, &jl), 0);
    assert_string_equal(cstr(&b, b.len), "{\"model_name\":\"echo\",\"id\":\"rt\",\"outputs\":[{\"name\":\"x\",\"shape\":"
                                         "[2,2],\"datatype\":\"FP64\",\"data\":[0.1,0.2,0.3,0.4]}]}");
    ks_buf_free(&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(v2_flat_data),
        T(v2_nested_data),
        T(v2_field_order_and_unknown_fields),
        T(v2_multiple_inputs),
        T(v2_empty_tensor),
        T(v2_scalar_shape),
        T(v2_id),
        T(v2_parameters),
        T(v2_requested_outputs),
        T(v2_fp64_exact),
        T(v2_fp32_exact),
        T(v2_int8),
        T(v2_int16),
        T(v2_int32),
        T(v2_int64),
        T(v2_uint8_16_32),
        T(v2_uint64),
        T(v2_uint64_above_int64_max),
        T(v2_bool),
        T(v2_bytes),
        T(v2_fp16_in_json),
        T(v2_bf16_json_rejected),
        T(v2_unknown_datatype),
        T(v2_shape_data_mismatch),
        T(v2_missing_fields),
        T(v2_no_inputs),
        T(v2_data_wrong_shape_of_json),
        T(v2_bad_shape),
        T(v2_malformed_json),
        T(v2_duplicate_fields),
        T(v2_arena_cap_is_too_big),
        T(v2_header_length),
        T(v2_header_length_invalid),
        T(v2_binary_fp32),
        T(v2_binary_inputs_in_order_mixed_with_json),
        T(v2_binary_bool_and_fp16),
        T(v2_binary_bytes),
        T(v2_binary_bytes_malformed),
        T(v2_binary_size_mismatch),
        T(v2_binary_leftover_bytes),
        T(v2_binary_with_data_rejected),
        T(v2_binary_huge_shape_numeric),
        T(v2_binary_bytes_huge_shape_no_overflow),
        T(v2_encode_echoes_id),
        T(v2_encode_several_outputs),
        T(v2_encode_generates_uuid_when_no_id),
        T(v2_encode_binary_output),
        T(v2_encode_binary_data_output_all),
        T(v2_encode_binary_only_where_asked),
        T(v2_json_tensor_flat_all_dtypes),
        T(v2_decode_then_encode_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
