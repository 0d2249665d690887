/*
 * The queue layer's breaker (src/queue/queue.c): admission, FIFO, the
 * per-second concurrency and rps with an injected clock; and the
 * queue-proxy's flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ks/common.h"
#include "ks/queue.h"

#define SEC 1000000000ull
#define MS 1000000ull
/* a whole second far from 0, so seconds before it exist */
#define T0 (1000 * SEC)

static ks_breaker_t B;
static ks_breaker_node_t N[64];

static ks_queue_stats_t stats_at(uint64_t now)
{
    ks_queue_stats_t s;
    ks_breaker_stats(&B, now, &s);
    return s;
}

static int index_of(const ks_breaker_node_t *n)
{
    return n == NULL ? -1 : (int)(n - N);
}

/* ---- admission ------------------------------------------------------------------------------ */

/* spec section 8, scenario 12: CC 1 takes 11 (1 running, 10 queued), the 12th is refused */
static void scenario_12(void **state)
{
    ks_queue_stats_t s;
    (void)state;
    ks_breaker_init(&B, 1, T0);
    assert_int_equal(ks_breaker_arrive(&B, &N[0], T0), KS_BREAKER_RUN);
    for (int i = 1; i <= 10; ++i)
        assert_int_equal(ks_breaker_arrive(&B, &N[i], T0), KS_BREAKER_QUEUED);
    assert_int_equal(ks_breaker_arrive(&B, &N[11], T0), KS_BREAKER_REJECTED);
    assert_int_equal(ks_breaker_arrive(&B, &N[12], T0), KS_BREAKER_REJECTED);
    s = stats_at(T0);
    assert_int_equal(s.in_flight, 1);
    assert_int_equal(s.queued, 10);
    assert_int_equal(s.requests_total, 13);
    assert_int_equal(s.rejected_total, 2);
    assert_int_equal(s.max_in_flight, 1);
    assert_int_equal(s.container_concurrency, 1);
    /* one finishes: the oldest waiting takes its slot, and one more fits */
    assert_int_equal(index_of(ks_breaker_release(&B, T0)), 1);
    assert_int_equal(ks_breaker_arrive(&B, &N[13], T0), KS_BREAKER_QUEUED);
    assert_int_equal(ks_breaker_arrive(&B, &N[14], T0), KS_BREAKER_REJECTED);
}

/* in flight + queued = 11 * CC is the limit, for any CC */
static void admission_11_cc(void **state)
{
    (void)state;
    for (int cc = 1; cc <= 5; ++cc) {
        int run = 0, queued = 0, rejected = 0;
        ks_breaker_init(&B, cc, T0);
        for (int i = 0; i < 11 * cc + 3; ++i) {
            switch (ks_breaker_arrive(&B, &N[i], T0)) {
            case KS_BREAKER_RUN: run++; break;
            case KS_BREAKER_QUEUED: queued++; break;
            case KS_BREAKER_REJECTED: rejected++; break;
            }
        }
        assert_int_equal(run, cc);
        assert_int_equal(queued, 10 * cc);
        assert_int_equal(rejected, 3);
        assert_int_equal(B.in_flight + B.queued, 11 * cc);
    }
}

/* slots go to waiting requests in arrival order; the slot count never moves while some wait */
static void fifo_order(void **state)
{
    (void)state;
    ks_breaker_init(&B, 2, T0);
    for (int i = 0; i < 8; ++i)
        ks_breaker_arrive(&B, &N[i], T0 + (uint64_t)i * MS);
    assert_int_equal(B.in_flight, 2);
    assert_int_equal(B.queued, 6);
    for (int want = 2; want < 8; ++want) {
        assert_int_equal(index_of(ks_breaker_release(&B, T0 + SEC)), want);
        assert_int_equal(B.in_flight, 2);
    }
    assert_null(ks_breaker_release(&B, T0 + SEC));
    assert_int_equal(B.in_flight, 1);
    assert_null(ks_breaker_release(&B, T0 + SEC));
    assert_int_equal(B.in_flight, 0);
    assert_int_equal(B.max_in_flight, 2);
}

/* a waiting request that leaves (client gone, timeout) gives its place to those behind it */
static void leave_keeps_order(void **state)
{
    ks_queue_stats_t s;
    (void)state;
    ks_breaker_init(&B, 1, T0);
    for (int i = 0; i < 5; ++i)
        ks_breaker_arrive(&B, &N[i], T0);
    ks_breaker_leave(&B, &N[2], 0, T0);     /* the client hung up */
    ks_breaker_leave(&B, &N[1], 1, T0);     /* timed out */
    assert_int_equal(B.queued, 2);
    assert_int_equal(index_of(ks_breaker_release(&B, T0)), 3);
    ks_breaker_leave(&B, &N[4], 1, T0);     /* the last one: the FIFO is empty again */
    assert_null(ks_breaker_release(&B, T0));
    assert_int_equal(B.in_flight, 0);
    s = stats_at(T0);
    assert_int_equal(s.timeouts_total, 2);
    assert_int_equal(s.rejected_total, 0);
    /* room again for 11 */
    for (int i = 10; i < 21; ++i)
        assert_int_not_equal(ks_breaker_arrive(&B, &N[i], T0), KS_BREAKER_REJECTED);
    assert_int_equal(ks_breaker_arrive(&B, &N[21], T0), KS_BREAKER_REJECTED);
    ks_breaker_count_timeout(&B);
    assert_int_equal(stats_at(T0).timeouts_total, 3);
}

/* CC 0: no limit and no queue, but everything is counted */
static void unlimited(void **state)
{
    ks_queue_stats_t s;
    (void)state;
    ks_breaker_init(&B, 0, T0);
    for (int i = 0; i < 50; ++i)
        assert_int_equal(ks_breaker_arrive(&B, &N[i % 64], T0), KS_BREAKER_RUN);
    s = stats_at(T0);
    assert_int_equal(s.in_flight, 50);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.max_in_flight, 50);
    assert_int_equal(s.container_concurrency, 0);
    for (int i = 0; i < 50; ++i)
        assert_null(ks_breaker_release(&B, T0));
    assert_int_equal(stats_at(T0).in_flight, 0);
    ks_breaker_init(&B, -3, T0); /* nonsense is unlimited, not a crash */
    assert_int_equal(ks_breaker_arrive(&B, &N[0], T0), KS_BREAKER_RUN);
}

/* ---- per-second figures ------------------------------------------------------------------------- */

/* time-weighted: 1 request for 0.5 s, 2 for 0.25 s, 1 for 0.25 s = 1.25; 2 arrivals */
static void concurrency_time_weighted(void **state)
{
    ks_queue_stats_t s;
    (void)state;
    ks_breaker_init(&B, 0, T0);
    ks_breaker_arrive(&B, &N[0], T0);
    ks_breaker_arrive(&B, &N[1], T0 + 500 * MS);
    ks_breaker_release(&B, T0 + 750 * MS);
    s = stats_at(T0 + 999 * MS); /* the second is not complete yet: nothing reported */
    assert_true(s.concurrency == 0.0);
    assert_int_equal(s.rps, 0);
    s = stats_at(T0 + SEC + 200 * MS);
    assert_true(s.concurrency > 1.25 - 1e-9 && s.concurrency < 1.25 + 1e-9);
    assert_int_equal(s.rps, 2);
    /* the next second: 1 in flight all along, nobody arrived */
    s = stats_at(T0 + 2 * SEC);
    assert_true(s.concurrency > 1.0 - 1e-9 && s.concurrency < 1.0 + 1e-9);
    assert_int_equal(s.rps, 0);
}

/* waiting requests count as in flight; refused ones count as arrivals but hold nothing */
static void queued_counts_refused_do_not(void **state)
{
    ks_queue_stats_t s;
    (void)state;
    ks_breaker_init(&B, 1, T0);
    for (int i = 0; i < 11; ++i)
        ks_breaker_arrive(&B, &N[i], T0); /* 1 running + 10 waiting for the whole second */
    for (int i = 11; i < 15; ++i)
        assert_int_equal(ks_breaker_arrive(&B, &N[i], T0 + 100 * MS), KS_BREAKER_REJECTED);
    s = stats_at(T0 + SEC);
    assert_true(s.concurrency > 11.0 - 1e-9 && s.concurrency < 11.0 + 1e-9);
    assert_int_equal(s.rps, 15);
}

/* 4 clients each holding a 1 s request (the e2e test's load): 4.0 */
static void four_clients_one_second(void **state)
{
    ks_queue_stats_t s;
    (void)state;
    ks_breaker_init(&B, 0, T0 - 300 * MS);
    for (int i = 0; i < 4; ++i)
        ks_breaker_arrive(&B, &N[i], T0 - 100 * MS + (uint64_t)i * MS);
    for (int i = 0; i < 4; ++i)
        ks_breaker_release(&B, T0 + 900 * MS + (uint64_t)i * MS);
    s = stats_at(T0 + SEC);
    /* (0.9 + 0.901 + 0.902 + 0.903) s of requests in the second [T0, T0+1) */
    assert_true(s.concurrency > 3.606 - 1e-9 && s.concurrency < 3.606 + 1e-9);
    assert_int_equal(s.rps, 0); /* they arrived in the second before */
}

/* seconds with no change between two readings: the count held */
static void idle_seconds_between(void **state)
{
    ks_queue_stats_t s;
    (void)state;
    ks_breaker_init(&B, 2, T0);
    ks_breaker_arrive(&B, &N[0], T0 + 10 * MS);
    ks_breaker_arrive(&B, &N[1], T0 + 10 * MS);
    ks_breaker_arrive(&B, &N[2], T0 + 10 * MS); /* waits */
    s = stats_at(T0 + 5 * SEC + 1);
    assert_true(s.concurrency == 3.0);
    assert_int_equal(s.rps, 0);
    /* a reading with a clock behind the last one changes nothing */
    s = stats_at(T0 + 2 * SEC);
    assert_true(s.concurrency == 3.0);
    ks_breaker_release(&B, T0 + 5 * SEC + 500 * MS); /* the waiting one takes the slot: still 2 + 0 */
    assert_int_equal(B.in_flight, 2);
    s = stats_at(T0 + 6 * SEC);
    assert_true(s.concurrency > 2.5 - 1e-9 && s.concurrency < 2.5 + 1e-9);
}

/* the first second starts where the breaker does: time before it counts as empty */
static void starts_mid_second(void **state)
{
    ks_queue_stats_t s;
    (void)state;
    ks_breaker_init(&B, 0, T0 + 600 * MS);
    ks_breaker_arrive(&B, &N[0], T0 + 600 * MS);
    s = stats_at(T0 + SEC);
    assert_true(s.concurrency > 0.4 - 1e-9 && s.concurrency < 0.4 + 1e-9);
    assert_int_equal(s.rps, 1);
    assert_int_equal(B.last_arrival_ns, T0 + 600 * MS);
}

/* ---- kserve queue-proxy's flags -------------------------------------------------------------------- */

static ks_queue_proxy_config_t QC;
static char E[KS_ERRLEN];

static int qp_parse(const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"queue-proxy";
    for (; *args != NULL; ++args)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    memset(E, 0, sizeof(E));
    return ks_queue_proxy_parse_flags(argc, argv, &QC, E, sizeof(E));
}

#define QP(...) qp_parse((const char *const[]){__VA_ARGS__, NULL})
#define QP_BAD(want, ...)                                                                                                  \
    do {                                                                                                                   \
        assert_int_equal(QP(__VA_ARGS__), KS_EINVAL);                                                                      \
        if (strstr(E, want) == NULL)                                                                                       \
            fail_msg("error \"%s\" does not name \"%s\"", E, want);                                                       \
    } while (0)

static void proxy_flags(void **state)
{
    (void)state;
    assert_int_equal(QP("--upstream", "8080"), 0);
    assert_int_equal(QC.upstream, 8080);
    assert_int_equal(QC.port, 8012);
    assert_string_equal(QC.host, "127.0.0.1");
    assert_int_equal(QC.container_concurrency, 0);
    assert_int_equal(QC.timeout_seconds, 300);
    assert_int_equal(QC.drain_seconds, 30);
    assert_null(QC.readiness_path);
    assert_true(QC.workers >= 1);
    assert_int_equal(QP("--upstream=9000", "--port", "0", "--container_concurrency", "3", "--timeout-seconds=9",
                        "--drain_seconds", "0", "--readiness-path", "/v2/health/ready", "--workers", "2", "--host",
                        "::1"),
                     0);
    assert_int_equal(QC.upstream, 9000);
    assert_int_equal(QC.port, 0);
    assert_int_equal(QC.container_concurrency, 3);
    assert_int_equal(QC.timeout_seconds, 9);
    assert_int_equal(QC.drain_seconds, 0);
    assert_string_equal(QC.readiness_path, "/v2/health/ready");
    assert_int_equal(QC.workers, 2);
    assert_string_equal(QC.host, "::1");
    assert_int_equal(QP("--help"), 1);
}

static void proxy_bad_flags(void **state)
{
    (void)state;
    QP_BAD("--upstream is required", "--port", "1");
    QP_BAD("--upstream", "--upstream", "0");
    QP_BAD("--upstream", "--upstream", "70000");
    QP_BAD("--upstream", "--upstream", "80x");
    QP_BAD("--container-concurrency", "--upstream", "1", "--container-concurrency", "1001");
    QP_BAD("--timeout-seconds", "--upstream", "1", "--timeout_seconds", "0");
    QP_BAD("--drain-seconds", "--upstream", "1", "--drain-seconds", "-1");
    QP_BAD("--readiness-path", "--upstream", "1", "--readiness-path", "ready");
    QP_BAD("--workers", "--upstream", "1", "--workers", "0");
    QP_BAD("--port: missing value", "--upstream", "1", "--port");
    QP_BAD("unknown flag --nope", "--upstream", "1", "--nope", "1");
    QP_BAD("unexpected argument", "--upstream", "1", "stray");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scenario_12),
        cmocka_unit_test(admission_11_cc),
        cmocka_unit_test(fifo_order),
        cmocka_unit_test(leave_keeps_order),
        cmocka_unit_test(unlimited),
        cmocka_unit_test(concurrency_time_weighted),
        cmocka_unit_test(queued_counts_refused_do_not),
        cmocka_unit_test(four_clients_one_second),
        cmocka_unit_test(idle_seconds_between),
        cmocka_unit_test(starts_mid_second),
        cmocka_unit_test(proxy_flags),
        cmocka_unit_test(proxy_bad_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
