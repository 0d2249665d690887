/*
 * Writing JSON into a ks_buf_t (src/common/json_write.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "ks/json.h"

/* NUL-terminates the buffer's content without counting the NUL */
static const char *cstr(ks_buf_t *b)
{
    assert_int_equal(ks_buf_putc(b, '\0'), 0);
    b->len--;
    return b->base;
}

static void expect_str(const char *in, size_t len, const char *want)
{
    ks_buf_t b;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_json_str(&b, in, len), 0);
    assert_int_equal(b.len, strlen(want));
    assert_string_equal(cstr(&b), want);
    ks_buf_free(&b);
}

static void json_str_plain_and_empty(void **state)
{
    (void)state;
    expect_str("hello", 5, "\"hello\"");
    expect_str("", 0, "\"\"");
    expect_str("hello world", 5, "\"hello\""); /* only len bytes */
}

static void json_str_quotes_and_backslash(void **state)
{
    (void)state;
    expect_str("a\"b", 3, "\"a\\\"b\"");
    expect_str("a\\b", 3, "\"a\\\\b\"");
    expect_str("\"\\\"", 3, "\"\\\"\\\\\\\"\"");
    expect_str("/", 1, "\"/\""); /* '/' needs no escape */
}

static void json_str_named_control_escapes(void **state)
{
    (void)state;
    expect_str("a\nb\rc\td", 7, "\"a\\nb\\rc\\td\"");
}

static void json_str_other_controls_as_u00xx(void **state)
{
    (void)state;
    expect_str("\x01", 1, "\"\\u0001\"");
    expect_str("\x1f", 1, "\"\\u001f\"");
    expect_str("\b\f", 2, "\"\\u0008\\u000c\"");
    expect_str("x\x10y", 3, "\"x\\u0010y\"");
    /* an embedded NUL is data, not the end */
    expect_str("a\0b", 3, "\"a\\u0000b\"");
    /* DEL (0x7f) is not a control character for JSON */
    expect_str("\x7f", 1, "\"\x7f\"");
}

static void json_str_utf8_passthrough(void **state)
{
    const char *s = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80"; /* héllo ✓ 😀 */
    char want[64];
    (void)state;
    snprintf(want, sizeof(want), "\"%s\"", s);
    expect_str(s, strlen(s), want);
}

static void json_str_long_mixed(void **state)
{
    ks_buf_t b;
    char in[3000];
    size_t n = 0;
    (void)state;
    for (int i = 0; i < 1000; ++i) {
        in[n++] = 'a';
        in[n++] = '"';
        in[n++] = '\x02';
    }
    ks_buf_init(&b, 0);
    assert_int_equal(ks_json_str(&b, in, n), 0);
    /* each group: a \" \u0002 = 1 + 2 + 6 bytes, plus the two quotes */
    assert_int_equal(b.len, 1000 * 9 + 2);
    assert_memory_equal(b.base, "\"a\\\"\\u0002a\\\"", 13);
    assert_int_equal(b.base[b.len - 1], '"');
    ks_buf_free(&b);
}

static void json_str_appends_after_existing(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_buf_puts(&b, "{\"k\":"), 0);
    assert_int_equal(ks_json_str(&b, "v", 1), 0);
    assert_int_equal(ks_buf_putc(&b, '}'), 0);
    assert_string_equal(cstr(&b), "{\"k\":\"v\"}");
    ks_buf_free(&b);
}

static void json_str_over_cap(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 4);
    assert_int_equal(ks_json_str(&b, "abc", 3), KS_ETOOBIG); /* needs 5 */
    ks_buf_reset(&b);
    assert_int_equal(ks_json_str(&b, "ab", 2), 0);
    assert_memory_equal(b.base, "\"ab\"", 4);
    ks_buf_reset(&b);
    /* escaping grows the text past the cap */
    assert_int_equal(ks_json_str(&b, "\x01", 1), KS_ETOOBIG); /* escaped: 8 bytes */
    ks_buf_free(&b);
}

/* ---- numbers -------------------------------------------------------------------------- */

static void f64_text(double v, char *dst, size_t dstlen)
{
    ks_buf_t b;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_json_f64(&b, v), 0);
    assert_true(b.len < dstlen);
    memcpy(dst, b.base, b.len);
    dst[b.len] = '\0';
    ks_buf_free(&b);
}

static void f32_text(float v, char *dst, size_t dstlen)
{
    ks_buf_t b;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_json_f32(&b, v), 0);
    assert_true(b.len < dstlen);
    memcpy(dst, b.base, b.len);
    dst[b.len] = '\0';
    ks_buf_free(&b);
}

/* a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int is_json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return 0;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static void json_f64_integral_values(void **state)
{
    char t[64];
    (void)state;
    f64_text(1.0, t, sizeof(t));
    assert_string_equal(t, "1.0");
    f64_text(0.0, t, sizeof(t));
    assert_string_equal(t, "0.0");
    f64_text(-3.0, t, sizeof(t));
    assert_string_equal(t, "-3.0");
    f64_text(123456789.0, t, sizeof(t));
    assert_string_equal(t, "123456789.0");
}

static void json_f64_short_decimals(void **state)
{
    char t[64];
    (void)state;
    f64_text(0.1, t, sizeof(t));
    assert_string_equal(t, "0.1");
    f64_text(-1.5, t, sizeof(t));
    assert_string_equal(t, "-1.5");
    f64_text(2.25, t, sizeof(t));
    assert_string_equal(t, "2.25");
    f64_text(0.3, t, sizeof(t));
    assert_string_equal(t, "0.3");
}

static void json_f64_round_trips(void **state)
{
    static const double vals[] = {
        0.1, 0.2, 0.1 + 0.2, 1.0 / 3.0, 2.0 / 3.0, -1.0 / 7.0, 3.141592653589793, 1e-7, 1e-300, 5e-324,
        2.2250738585072014e-308, DBL_MAX, -DBL_MAX, 1e15, 1e16, 9007199254740993.0, 9007199254740992.0, 123456.789,
        1e300, -1e300, 6.02214076e23, 0.000123, 4.35, 0.7071067811865476,
    };
    char t[64];
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_SIZE(vals); ++i) {
        f64_text(vals[i], t, sizeof(t));
        assert_true(is_json_number(t));
        assert_true(strtod(t, NULL) == vals[i]);
    }
}

static void json_f64_large(void **state)
{
    char t[64];
    (void)state;
    f64_text(1e300, t, sizeof(t));
    assert_string_equal(t, "1e+300");
    f64_text(-2.5e20, t, sizeof(t));
    assert_string_equal(t, "-2.5e+20");
    f64_text(9007199254740992.0, t, sizeof(t)); /* 2^53: 17 digits needed */
    assert_true(strtod(t, NULL) == 9007199254740992.0);
}

static void json_f64_non_finite_is_null(void **state)
{
    char t[64];
    (void)state;
    f64_text(NAN, t, sizeof(t));
    assert_string_equal(t, "null");
    f64_text(INFINITY, t, sizeof(t));
    assert_string_equal(t, "null");
    f64_text(-INFINITY, t, sizeof(t));
    assert_string_equal(t, "null");
}

/*
 * include/ks/json.h promises the *shortest* text that reads back as the same
 * double (what Python's repr, and so KServe, prints): 1/3 is
 * 0.3333333333333333 (16 digits), not %.17g's 0.33333333333333331.
 */
static void json_f64_shortest_text(void **state)
{
    char t[64];
    (void)state;
    f64_text(1.0 / 3.0, t, sizeof(t));
    assert_string_equal(t, "0.3333333333333333");
    f64_text(0.1 + 0.2, t, sizeof(t));
    assert_string_equal(t, "0.30000000000000004");
}

static void json_f32_values(void **state)
{
    char t[64];
    (void)state;
    f32_text(1.0f, t, sizeof(t));
    assert_string_equal(t, "1.0");
    f32_text(-2.0f, t, sizeof(t));
    assert_string_equal(t, "-2.0");
    f32_text(0.1f, t, sizeof(t));
    assert_string_equal(t, "0.1");
    f32_text(0.5f, t, sizeof(t));
    assert_string_equal(t, "0.5");
    f32_text(NAN, t, sizeof(t));
    assert_string_equal(t, "null");
    f32_text(-INFINITY, t, sizeof(t));
    assert_string_equal(t, "null");
}

static void json_f32_round_trips(void **state)
{
    static const float vals[] = {
        0.1f, 0.2f, 1.0f / 3.0f, -2.0f / 3.0f, 3.14159265f, 1e-7f, FLT_MIN, 1e-45f, FLT_MAX, -FLT_MAX, 16777216.0f,
        16777215.0f, 1e10f, 0.7310586f, 123.456f, 6.5e-3f,
    };
    char t[64];
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_SIZE(vals); ++i) {
        f32_text(vals[i], t, sizeof(t));
        assert_true(is_json_number(t));
        assert_true(strtof(t, NULL) == vals[i]);
    }
}

static void json_i64_and_u64(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_json_i64(&b, 0), 0);
    assert_string_equal(cstr(&b), "0");
    ks_buf_reset(&b);
    assert_int_equal(ks_json_i64(&b, INT64_MIN), 0);
    assert_string_equal(cstr(&b), "-9223372036854775808");
    ks_buf_reset(&b);
    assert_int_equal(ks_json_i64(&b, INT64_MAX), 0);
    assert_string_equal(cstr(&b), "9223372036854775807");
    ks_buf_reset(&b);
    assert_int_equal(ks_json_i64(&b, -1), 0);
    assert_int_equal(ks_buf_putc(&b, ','), 0);
    assert_int_equal(ks_json_i64(&b, 42), 0);
    assert_string_equal(cstr(&b), "-1,42");
    ks_buf_reset(&b);
    assert_int_equal(ks_json_u64(&b, UINT64_MAX), 0);
    assert_string_equal(cstr(&b), "18446744073709551615");
    ks_buf_reset(&b);
    assert_int_equal(ks_json_u64(&b, 0), 0);
    assert_string_equal(cstr(&b), "0");
    ks_buf_free(&b);
}

static void json_error_object(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_json_error(&b, "Model with name x does not exist."), 0);
    assert_string_equal(cstr(&b), "{\"error\":\"Model with name x does not exist.\"}");
    ks_buf_reset(&b);
    assert_int_equal(ks_json_error(&b, "bad \"q\"\n\\"), 0);
    assert_string_equal(cstr(&b), "{\"error\":\"bad \\\"q\\\"\\n\\\\\"}");
    ks_buf_reset(&b);
    assert_int_equal(ks_json_error(&b, ""), 0);
    assert_string_equal(cstr(&b), "{\"error\":\"\"}");
    ks_buf_free(&b);
}

static void json_error_over_cap(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 12);
    assert_int_equal(ks_json_error(&b, "too long a message"), KS_ETOOBIG);
    ks_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_str_plain_and_empty),
        cmocka_unit_test(json_str_quotes_and_backslash),
        cmocka_unit_test(json_str_named_control_escapes),
        cmocka_unit_test(json_str_other_controls_as_u00xx),
        cmocka_unit_test(json_str_utf8_passthrough),
        cmocka_unit_test(json_str_long_mixed),
        cmocka_unit_test(json_str_appends_after_existing),
        cmocka_unit_test(json_str_over_cap),
        cmocka_unit_test(json_f64_integral_values),
        cmocka_unit_test(json_f64_short_decimals),
        cmocka_unit_test(json_f64_round_trips),
        cmocka_unit_test(json_f64_large),
        cmocka_unit_test(json_f64_non_finite_is_null),
        cmocka_unit_test(json_f64_shortest_text),
        cmocka_unit_test(json_f32_values),
        cmocka_unit_test(json_f32_round_trips),
        cmocka_unit_test(json_i64_and_u64),
        cmocka_unit_test(json_error_object),
        cmocka_unit_test(json_error_over_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
