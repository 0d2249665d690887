/*
 * ks_server_parse_flags (src/server/flags.c): KServe's model server flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks/common.h"
#include "ks/server.h"

static ks_server_config_t C;
static char E[KS_ERRLEN];

/* parses a NULL-terminated list of arguments after the subcommand */
static int parse_v(const char *const *args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"model-server";
    for (; *args != NULL; ++args) {
        assert_true(argc < 63);
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    memset(E, 0, sizeof(E));
    return ks_server_parse_flags(argc, argv, &C, E, sizeof(E));
}

#define PARSE(...) parse_v((const char *const[]){__VA_ARGS__, NULL})

static void expect_einval_v(const char *const *args, const char *want)
{
    assert_int_equal(parse_v(args), KS_EINVAL);
    if (strstr(E, want) == NULL)
        fail_msg("error \"%s\" does not name \"%s\"", E, want);
}

#define EXPECT_EINVAL(want, ...) expect_einval_v((const char *const[]){__VA_ARGS__, NULL}, want)

static void flags_defaults(void **state)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    (void)state;
    assert_int_equal(PARSE("--model_dir", "/models/iris"), 0);
    assert_string_equal(C.model_dir, "/models/iris");
    assert_string_equal(C.model_name, "model");
    assert_string_equal(C.http_host, "0.0.0.0");
    assert_int_equal(C.http_port, 8080);
    assert_int_equal(C.grpc_port, 8081);
    assert_int_equal(C.enable_grpc, 0);
    assert_int_equal(C.nthread, 1);
    assert_int_equal(C.max_body_size, 16u << 20);
    assert_string_equal(C.protocol, "v1");
    assert_int_equal(C.drain_timeout, 30);
    assert_int_equal(C.workers, ncpu > 64 ? 64 : (ncpu > 0 ? ncpu : 1));
}

static void flags_space_separated_values(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--model_name", "sklearn-iris", "--model_dir", "/m", "--http_port", "9000", "--grpc_port",
                           "9001", "--http_host", "127.0.0.1", "--workers", "3", "--max_threads", "8", "--nthread", "2",
                           "--max_body_size", "1048576", "--protocol", "v2", "--drain_timeout", "0"),
                     0);
    assert_string_equal(C.model_name, "sklearn-iris");
    assert_string_equal(C.model_dir, "/m");
    assert_int_equal(C.http_port, 9000);
    assert_int_equal(C.grpc_port, 9001);
    assert_string_equal(C.http_host, "127.0.0.1");
    assert_int_equal(C.workers, 3);
    assert_int_equal(C.max_threads, 8);
    assert_int_equal(C.nthread, 2);
    assert_int_equal(C.max_body_size, 1048576);
    assert_string_equal(C.protocol, "v2");
    assert_int_equal(C.drain_timeout, 0);
}

static void flags_equals_values(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--model_dir=/a/b", "--http_port=0", "--model_name=x=y", "--workers=256"), 0);
    assert_string_equal(C.model_dir, "/a/b");
    assert_int_equal(C.http_port, 0);
    assert_string_equal(C.model_name, "x=y"); /* only the first '=' splits */
    assert_int_equal(C.workers, 256);
}

static void flags_dashes_and_underscores(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--model-dir", "/m", "--model-name=iris", "--http-port", "1234", "--max-body-size", "2M",
                           "--drain-timeout=5"),
                     0);
    assert_string_equal(C.model_dir, "/m");
    assert_string_equal(C.model_name, "iris");
    assert_int_equal(C.http_port, 1234);
    assert_int_equal(C.max_body_size, 2u << 20);
    assert_int_equal(C.drain_timeout, 5);
}

static void flags_last_wins(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--model_dir", "/a", "--http_port", "1", "--http_port=2", "--model_dir", "/b"), 0);
    assert_int_equal(C.http_port, 2);
    assert_string_equal(C.model_dir, "/b");
}

static void flags_size_suffixes(void **state)
{
    static const struct {
        const char *v;
        size_t want;
    } ok[] = {
        {"1", 1},       {"1K", 1024},          {"1k", 1024},        {"16M", 16u << 20}, {"16m", 16u << 20},
        {"2G", 2ull << 30}, {"1KiB", 1024},    {"1kb", 1024},       {"3MB", 3u << 20},  {"1024G", 1ull << 40},
        {"1099511627776", 1ull << 40},
    };
    char arg[64];
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_SIZE(ok); ++i) {
        snprintf(arg, sizeof(arg), "--max_body_size=%s", ok[i].v);
        assert_int_equal(PARSE("--model_dir", "/m", arg), 0);
        if (C.max_body_size != ok[i].want)
            fail_msg("%s: %zu, expected %zu", ok[i].v, C.max_body_size, ok[i].want);
    }
}

static void flags_bad_size(void **state)
{
    static const char *const bad[] = {"16X", "16MBx", "0", "", "-1", "M", "1T", "1025G", "1.5M", "16 M", "1iB",
                                      "99999999999999999999999"};
    char arg[64];
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_SIZE(bad); ++i) {
        snprintf(arg, sizeof(arg), "--max_body_size=%s", bad[i]);
        assert_int_equal(PARSE("--model_dir", "/m", arg), KS_EINVAL);
        if (strstr(E, "--max_body_size") == NULL)
            fail_msg("%s: error \"%s\" does not name the flag", bad[i], E);
    }
}

static void flags_bad_ports(void **state)
{
    (void)state;
    EXPECT_EINVAL("--http_port", "--model_dir", "/m", "--http_port", "65536");
    EXPECT_EINVAL("--http_port", "--model_dir", "/m", "--http_port", "-1");
    EXPECT_EINVAL("--http_port", "--model_dir", "/m", "--http_port", "http");
    EXPECT_EINVAL("--http_port", "--model_dir", "/m", "--http_port", "80a");
    EXPECT_EINVAL("--http_port", "--model_dir", "/m", "--http_port", "0x50");
    EXPECT_EINVAL("--http_port", "--model_dir", "/m", "--http_port=");
    EXPECT_EINVAL("--http_port", "--model_dir", "/m", "--http_port", "99999999999999999999");
    EXPECT_EINVAL("--grpc_port", "--model_dir", "/m", "--grpc_port", "70000");
    EXPECT_EINVAL("--http_port", "--model_dir", "/m", "--http-port", "65536"); /* named as normalised */
    assert_int_equal(PARSE("--model_dir", "/m", "--http_port", "65535"), 0);
    assert_int_equal(C.http_port, 65535);
}

static void flags_bad_counts(void **state)
{
    (void)state;
    EXPECT_EINVAL("--workers", "--model_dir", "/m", "--workers", "0");
    EXPECT_EINVAL("--workers", "--model_dir", "/m", "--workers", "257");
    EXPECT_EINVAL("--workers", "--model_dir", "/m", "--workers", "four");
    EXPECT_EINVAL("--nthread", "--model_dir", "/m", "--nthread", "0");
    EXPECT_EINVAL("--max_threads", "--model_dir", "/m", "--max_threads", "0");
    EXPECT_EINVAL("--drain_timeout", "--model_dir", "/m", "--drain_timeout", "3601");
    EXPECT_EINVAL("--drain_timeout", "--model_dir", "/m", "--drain_timeout", "-5");
}

static void flags_missing_value(void **state)
{
    (void)state;
    EXPECT_EINVAL("--http_port", "--model_dir", "/m", "--http_port");
    EXPECT_EINVAL("--model_name", "--model_dir", "/m", "--model_name");
    EXPECT_EINVAL("--model_dir", "--model_dir");
    assert_non_null(strstr(E, "missing value"));
}

static void flags_unknown_and_stray(void **state)
{
    (void)state;
    EXPECT_EINVAL("--foo", "--model_dir", "/m", "--foo", "1");
    EXPECT_EINVAL("--foo", "--model_dir", "/m", "--foo=1");
    EXPECT_EINVAL("--modeldir", "--modeldir", "/m");
    EXPECT_EINVAL("unknown flag", "--model_dir", "/m",
                  "--a-very-long-flag-name-that-goes-on-and-on-and-on-for-more-than-sixty-four-chars");
    EXPECT_EINVAL("\"extra\"", "--model_dir", "/m", "extra");
    EXPECT_EINVAL("\"-x\"", "--model_dir", "/m", "-x");
    EXPECT_EINVAL("\"--\"", "--model_dir", "/m", "--");
}

static void flags_model_dir_required(void **state)
{
    (void)state;
    EXPECT_EINVAL("--model_dir", "--model_name", "iris");
    assert_string_equal(E, "--model_dir is required");
    assert_int_equal(parse_v((const char *const[]){NULL}), KS_EINVAL);
    assert_string_equal(E, "--model_dir is required");
    EXPECT_EINVAL("--model_dir", "--model_dir=");
}

static void flags_bad_names_and_protocol(void **state)
{
    (void)state;
    EXPECT_EINVAL("--model_name", "--model_dir", "/m", "--model_name", "a/b");
    EXPECT_EINVAL("--model_name", "--model_dir", "/m", "--model_name=");
    EXPECT_EINVAL("--protocol", "--model_dir", "/m", "--protocol", "v3");
    EXPECT_EINVAL("--protocol", "--model_dir", "/m", "--protocol", "V1");
    EXPECT_EINVAL("--protocol", "--model_dir", "/m", "--protocol", "grpc-v2");
}

static void flags_enable_grpc(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--model_dir", "/m", "--enable_grpc", "false"), 0);
    assert_int_equal(C.enable_grpc, 0);
    assert_int_equal(PARSE("--model_dir", "/m", "--enable-grpc=False"), 0);
    assert_int_equal(C.enable_grpc, 0);
    assert_int_equal(PARSE("--enable_grpc=0", "--model_dir", "/m"), 0);
    /* gRPC is not served yet: asking for it is an error, not silently ignored */
    EXPECT_EINVAL("--enable_grpc", "--model_dir", "/m", "--enable_grpc", "true");
    EXPECT_EINVAL("--enable_grpc", "--model_dir", "/m", "--enable_grpc");              /* bare flag: true */
    EXPECT_EINVAL("--enable_grpc", "--enable_grpc", "--model_dir", "/m");              /* followed by a flag */
    EXPECT_EINVAL("--enable_grpc", "--model_dir", "/m", "--enable_grpc=maybe");
}

static void flags_help(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--help"), 1);
    assert_int_equal(PARSE("-h"), 1);
    assert_int_equal(PARSE("--model_dir", "/m", "--help"), 1);
    assert_int_equal(PARSE("--http_port", "1", "--help", "--bogus"), 1);
    assert_non_null(strstr(ks_server_usage, "--model_dir"));
    assert_non_null(strstr(ks_server_usage, "--max_body_size"));
}

/* docs/spec: KServe's --predictor_host (for transformers) is one of the flags to accept */
static void flags_predictor_host_accepted(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--model_dir", "/m", "--predictor_host", "iris-predictor.default"), 0);
}

static void flags_err_always_terminated(void **state)
{
    char small[16];
    char *argv[] = {(char *)"model-server", (char *)"--model_dir", (char *)"/m", (char *)"--unknown-flag-here=1", NULL};
    (void)state;
    memset(small, 'x', sizeof(small));
    assert_int_equal(ks_server_parse_flags(4, argv, &C, small, sizeof(small)), KS_EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, "unknown flag --", 15);
}

/* the queue layer's flags (docs/queue.md) */
static void flags_queue(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--model_dir", "/m"), 0);
    assert_int_equal(C.container_concurrency, 0);
    assert_int_equal(C.timeout_seconds, 300);
    assert_int_equal(C.drain_seconds, 0);
    assert_int_equal(PARSE("--model_dir", "/m", "--container-concurrency", "4", "--timeout_seconds=7", "--drain-seconds=2"), 0);
    assert_int_equal(C.container_concurrency, 4);
    assert_int_equal(C.timeout_seconds, 7);
    assert_int_equal(C.drain_seconds, 2);
    assert_int_equal(PARSE("--model_dir", "/m", "--container_concurrency", "1000", "--timeout_seconds", "3600"), 0);
    EXPECT_EINVAL("--container_concurrency", "--model_dir", "/m", "--container_concurrency", "1001");
    EXPECT_EINVAL("--container_concurrency", "--model_dir", "/m", "--container_concurrency", "-1");
    EXPECT_EINVAL("--timeout_seconds", "--model_dir", "/m", "--timeout_seconds", "0");
    EXPECT_EINVAL("--timeout_seconds", "--model_dir", "/m", "--timeout_seconds", "3601");
    EXPECT_EINVAL("--drain_seconds", "--model_dir", "/m", "--drain_seconds", "x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flags_defaults),
        cmocka_unit_test(flags_space_separated_values),
        cmocka_unit_test(flags_equals_values),
        cmocka_unit_test(flags_dashes_and_underscores),
        cmocka_unit_test(flags_last_wins),
        cmocka_unit_test(flags_size_suffixes),
        cmocka_unit_test(flags_bad_size),
        cmocka_unit_test(flags_bad_ports),
        cmocka_unit_test(flags_bad_counts),
        cmocka_unit_test(flags_missing_value),
        cmocka_unit_test(flags_unknown_and_stray),
        cmocka_unit_test(flags_model_dir_required),
        cmocka_unit_test(flags_bad_names_and_protocol),
        cmocka_unit_test(flags_enable_grpc),
        cmocka_unit_test(flags_help),
        cmocka_unit_test(flags_predictor_host_accepted),
        cmocka_unit_test(flags_err_always_terminated),
        cmocka_unit_test(flags_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
