/*
 * Per-model metrics (src/server/metrics.c): ks_stats_* then ks_metrics_render
 * over hand-built models.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "ks/metrics.h"
#include "ks/runtime.h"

static ks_model_t make_model(const char *name, int nstats)
{
    ks_model_t m;
    memset(&m, 0, sizeof(m));
    m.name = (char *)name;
    m.nstats = nstats;
    m.stats = ks_model_stats_new(nstats);
    assert_non_null(m.stats);
    return m;
}

static const char *render(ks_buf_t *b, ks_model_t *const *models, int n)
{
    ks_buf_reset(b);
    assert_int_equal(ks_metrics_render(b, models, n), 0);
    assert_int_equal(ks_buf_putc(b, '\0'), 0);
    b->len--;
    return b->base;
}

static void expect_line(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "\n%s\n", line);
    if (strstr(text, want) == NULL)
        fail_msg("line \"%s\" not in:\n%s", line, text);
}

static int count_of(const char *text, const char *s)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, s)) != NULL; p += strlen(s))
        n++;
    return n;
}

/*
 * Parses the bucket lines of model `name` in order: le bounds and cumulative
 * counts; returns how many there are.
 */
static int buckets(const char *text, const char *name, double *le, unsigned long long *cum, int max)
{
    char prefix[128];
    int n = 0;
    snprintf(prefix, sizeof(prefix), "request_predict_seconds_bucket{model_name=\"%s\",le=\"", name);
    for (const char *p = text; (p = strstr(p, prefix)) != NULL && n < max; ++n) {
        char *end;
        p += strlen(prefix);
        le[n] = strtod(p, &end);
        assert_true(end != p);
        assert_memory_equal(end, "\"} ", 3);
        cum[n] = strtoull(end + 3, &end, 10);
        assert_int_equal(*end, '\n');
        p = end;
    }
    return n;
}

static void stats_new_zeroed_and_aligned(void **state)
{
    ks_model_stats_t *s = ks_model_stats_new(4);
    ks_model_stats_t zero;
    (void)state;
    assert_non_null(s);
    assert_int_equal((uintptr_t)s % 64, 0);
    assert_int_equal(sizeof(ks_model_stats_t) % 64, 0); /* slots never share a cache line */
    memset(&zero, 0, sizeof(zero));
    for (int i = 0; i < 4; ++i)
        assert_memory_equal(&s[i], &zero, sizeof(zero));
    free(s);
    s = ks_model_stats_new(0); /* at least one slot */
    assert_non_null(s);
    assert_memory_equal(s, &zero, sizeof(zero));
    free(s);
}

static void stats_success_buckets(void **state)
{
    ks_model_stats_t *s = ks_model_stats_new(1);
    (void)state;
    ks_stats_success(s, 0, 1);                  /* 0 s -> first bucket */
    ks_stats_success(s, 50000, 1);              /* exactly 5e-05: le is inclusive */
    ks_stats_success(s, 50001, 1);              /* just over: next bucket */
    ks_stats_success(s, 1000000, 1);            /* exactly 1 ms */
    ks_stats_success(s, 10000000000ull, 1);     /* exactly 10 s: last finite bucket */
    ks_stats_success(s, 10000000001ull, 1);     /* over 10 s: +Inf */
    ks_stats_success(s, 3600000000000ull, 2);   /* an hour */
    assert_int_equal(s->predict_hist[0], 2);
    assert_int_equal(s->predict_hist[1], 1);
    assert_int_equal(s->predict_hist[4], 1);
    assert_int_equal(s->predict_hist[KS_HIST_NBOUNDS - 1], 1);
    assert_int_equal(s->predict_hist[KS_HIST_NBOUNDS], 2);
    assert_int_equal(s->success, 7);
    assert_int_equal(s->exec_count, 7);
    assert_int_equal(s->inference_count, 8);
    assert_true(s->predict_ns_sum == 0 + 50000 + 50001 + 1000000 + 10000000000ull + 10000000001ull + 3600000000000ull);
    for (int k = 0; k < KS_FAIL_NREASONS; ++k)
        assert_int_equal(s->failure[k], 0);
    free(s);
}

static void stats_batch_counts_every_request(void **state)
{
    ks_model_stats_t *s = ks_model_stats_new(1);
    (void)state;
    ks_stats_success_batch(s, 200000, 4, 10); /* 0.2 ms: bucket le=0.00025 */
    assert_int_equal(s->predict_hist[2], 4);
    assert_int_equal(s->success, 4);
    assert_int_equal(s->inference_count, 10);
    assert_int_equal(s->exec_count, 1);
    assert_int_equal(s->predict_ns_sum, 800000);
    free(s);
}

static void stats_failures(void **state)
{
    ks_model_stats_t *s = ks_model_stats_new(1);
    (void)state;
    ks_stats_failure(s, KS_FAIL_INVALID);
    ks_stats_failure(s, KS_FAIL_INVALID);
    ks_stats_failure(s, KS_FAIL_UNAVAILABLE);
    assert_int_equal(s->failure[KS_FAIL_INVALID], 2);
    assert_int_equal(s->failure[KS_FAIL_INTERNAL], 0);
    assert_int_equal(s->failure[KS_FAIL_UNAVAILABLE], 1);
    assert_int_equal(s->success, 0);
    free(s);
}

static void hist_bounds_increasing(void **state)
{
    (void)state;
    assert_true(ks_hist_bounds[0] == 0.00005);
    assert_true(ks_hist_bounds[KS_HIST_NBOUNDS - 1] == 10.0);
    for (int i = 1; i < KS_HIST_NBOUNDS; ++i)
        assert_true(ks_hist_bounds[i] > ks_hist_bounds[i - 1]);
}

static void render_sums_worker_slots(void **state)
{
    ks_model_t m = make_model("iris", 3);
    ks_model_t *models[] = {&m};
    ks_buf_t b;
    const char *text;
    double le[32];
    unsigned long long cum[32], want[KS_HIST_NBOUNDS + 1];
    int n;
    (void)state;
    ks_stats_success(&m.stats[0], 30000, 2);             /* bucket 0 */
    ks_stats_success(&m.stats[1], 2000000, 1);           /* 0.002 s: bucket 5 (le 0.0025) */
    ks_stats_success(&m.stats[2], 20000000000ull, 5);    /* 20 s: +Inf */
    ks_stats_success(&m.stats[0], 1000000, 0);           /* 0.001 s: bucket 4 */
    ks_stats_success_batch(&m.stats[2], 50000, 3, 6);    /* bucket 0, three requests */
    ks_stats_failure(&m.stats[0], KS_FAIL_INVALID);
    ks_stats_failure(&m.stats[0], KS_FAIL_INVALID);
    ks_stats_failure(&m.stats[1], KS_FAIL_INVALID);
    ks_stats_failure(&m.stats[2], KS_FAIL_INTERNAL);
    ks_stats_failure(&m.stats[1], KS_FAIL_UNAVAILABLE);

    ks_buf_init(&b, 0);
    text = render(&b, models, 1);

    /* histogram: cumulative over buckets, summed over slots */
    n = buckets(text, "iris", le, cum, 32);
    assert_int_equal(n, KS_HIST_NBOUNDS + 1);
    for (int i = 0; i <= KS_HIST_NBOUNDS; ++i)
        want[i] = i < 4 ? 4 : i == 4 ? 5 : i < KS_HIST_NBOUNDS ? 6 : 7;
    for (int i = 0; i < n; ++i) {
        if (i < KS_HIST_NBOUNDS)
            assert_true(le[i] == ks_hist_bounds[i]);
        else
            assert_true(isinf(le[i]) && le[i] > 0);
        if (cum[i] != want[i])
            fail_msg("bucket %d (le %g): %llu, expected %llu", i, le[i], cum[i], want[i]);
        if (i > 0)
            assert_true(cum[i] >= cum[i - 1]);
    }
    expect_line(text, "request_predict_seconds_bucket{model_name=\"iris\",le=\"+Inf\"} 7");
    expect_line(text, "request_predict_seconds_count{model_name=\"iris\"} 7");
    expect_line(text, "request_predict_seconds_sum{model_name=\"iris\"} 20.003180000");

    /* counters */
    expect_line(text, "kserve_inference_request_success{model=\"iris\"} 7");
    expect_line(text, "kserve_inference_count{model=\"iris\"} 14");
    expect_line(text, "kserve_inference_exec_count{model=\"iris\"} 5");
    expect_line(text, "kserve_inference_request_failure{model=\"iris\",reason=\"invalid_input\"} 3");
    expect_line(text, "kserve_inference_request_failure{model=\"iris\",reason=\"model_error\"} 1");
    expect_line(text, "kserve_inference_request_failure{model=\"iris\",reason=\"unavailable\"} 1");

    ks_buf_free(&b);
    free(m.stats);
}

static void render_help_and_type_lines(void **state)
{
    ks_model_t m = make_model("iris", 1);
    ks_model_t *models[] = {&m};
    ks_buf_t b;
    const char *text;
    (void)state;
    ks_buf_init(&b, 0);
    text = render(&b, models, 1);
    assert_memory_equal(text, "# HELP request_predict_seconds ", 31);
    expect_line(text, "# TYPE request_predict_seconds histogram");
    expect_line(text, "# TYPE kserve_inference_request_success counter");
    expect_line(text, "# TYPE kserve_inference_count counter");
    expect_line(text, "# TYPE kserve_inference_exec_count counter");
    expect_line(text, "# TYPE kserve_inference_request_failure counter");
    assert_int_equal(text[b.len - 1], '\n');
    ks_buf_free(&b);
    free(m.stats);
}

static void render_two_models(void **state)
{
    ks_model_t a = make_model("iris", 2), x = make_model("xgb", 1);
    ks_model_t *models[] = {&a, &x};
    ks_buf_t b;
    const char *text;
    double le[32];
    unsigned long long cum[32];
    (void)state;
    ks_stats_success(&a.stats[1], 400000, 1); /* 0.4 ms: le 0.0005 */
    ks_stats_success(&x.stats[0], 7000000000ull, 3);
    ks_stats_failure(&x.stats[0], KS_FAIL_INTERNAL);
    ks_buf_init(&b, 0);
    text = render(&b, models, 2);
    /* each family's HELP/TYPE once, a series per model */
    assert_int_equal(count_of(text, "# TYPE request_predict_seconds histogram"), 1);
    assert_int_equal(count_of(text, "# TYPE kserve_inference_count counter"), 1);
    assert_int_equal(count_of(text, "# TYPE kserve_inference_request_failure counter"), 1);
    assert_int_equal(count_of(text, "request_predict_seconds_bucket{"), 2 * (KS_HIST_NBOUNDS + 1));
    assert_int_equal(count_of(text, "kserve_inference_request_failure{"), 2 * KS_FAIL_NREASONS);
    assert_int_equal(buckets(text, "iris", le, cum, 32), KS_HIST_NBOUNDS + 1);
    assert_int_equal(cum[2], 0);
    assert_int_equal(cum[3], 1);
    assert_int_equal(cum[KS_HIST_NBOUNDS], 1);
    assert_int_equal(buckets(text, "xgb", le, cum, 32), KS_HIST_NBOUNDS + 1);
    assert_int_equal(cum[17], 0); /* le 5 */
    assert_int_equal(cum[18], 1); /* le 7.5 */
    expect_line(text, "kserve_inference_count{model=\"iris\"} 1");
    expect_line(text, "kserve_inference_count{model=\"xgb\"} 3");
    expect_line(text, "request_predict_seconds_sum{model_name=\"xgb\"} 7.000000000");
    expect_line(text, "request_predict_seconds_sum{model_name=\"iris\"} 0.000400000");
    expect_line(text, "kserve_inference_request_failure{model=\"xgb\",reason=\"model_error\"} 1");
    expect_line(text, "kserve_inference_request_failure{model=\"iris\",reason=\"model_error\"} 0");
    ks_buf_free(&b);
    free(a.stats);
    free(x.stats);
}

static void render_no_models(void **state)
{
    ks_buf_t b;
    const char *text;
    (void)state;
    ks_buf_init(&b, 0);
    text = render(&b, NULL, 0);
    assert_null(strchr(text, '{'));
    assert_int_equal(count_of(text, "# HELP "), 5);
    assert_int_equal(count_of(text, "# TYPE "), 5);
    ks_buf_free(&b);
}

static void render_escapes_model_name(void **state)
{
    ks_model_t m = make_model("a\"b\\c", 1);
    ks_model_t *models[] = {&m};
    ks_buf_t b;
    const char *text;
    (void)state;
    ks_buf_init(&b, 0);
    text = render(&b, models, 1);
    expect_line(text, "kserve_inference_request_success{model=\"a\\\"b\\\\c\"} 0");
    expect_line(text, "request_predict_seconds_count{model_name=\"a\\\"b\\\\c\"} 0");
    ks_buf_free(&b);
    free(m.stats);
}

static void render_appends_and_fails_over_cap(void **state)
{
    ks_model_t m = make_model("iris", 1);
    ks_model_t *models[] = {&m};
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_buf_puts(&b, "PREFIX\n"), 0);
    assert_int_equal(ks_metrics_render(&b, models, 1), 0);
    assert_memory_equal(b.base, "PREFIX\n# HELP ", 14);
    ks_buf_free(&b);
    ks_buf_init(&b, 200);
    assert_true(ks_metrics_render(&b, models, 1) != 0);
    assert_true(b.len <= 200);
    ks_buf_free(&b);
    free(m.stats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stats_new_zeroed_and_aligned),
        cmocka_unit_test(stats_success_buckets),
        cmocka_unit_test(stats_batch_counts_every_request),
        cmocka_unit_test(stats_failures),
        cmocka_unit_test(hist_bounds_increasing),
        cmocka_unit_test(render_sums_worker_slots),
        cmocka_unit_test(render_help_and_type_lines),
        cmocka_unit_test(render_two_models),
        cmocka_unit_test(render_no_models),
        cmocka_unit_test(render_escapes_model_name),
        cmocka_unit_test(render_appends_and_fails_over_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
