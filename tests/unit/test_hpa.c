/*
 * Raw-mode autoscaling (src/autoscaler/hpa.c, procstat.c): the HPA's
 * formula, tolerance, missing-metric handling, stabilisation windows,
 * scaling policies and bounds; Kubernetes quantities; /proc readings of the
 * test process itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks/hpa.h"

/* ---- helpers ------------------------------------------------------------------------------- */

#define MAXS 64

/* n started, ready replicas at pct % each. */
static size_t uniform(ks_hpa_sample_t *s, size_t n, double pct)
{
    assert_true(n <= MAXS);
    for (size_t i = 0; i < n; ++i)
        s[i] = (ks_hpa_sample_t){.utilization_pct = pct, .has_metric = 1, .started = 1, .ready = 1};
    return n;
}

/* A decider with target_pct, replicas min - max, and the scale-down window given. */
static ks_hpa_t *decider(int target, int min, int max, int64_t down_window_s)
{
    ks_hpa_config_t c;
    ks_hpa_t *h;

    ks_hpa_config_defaults(&c);
    c.target_pct = target;
    c.min_replicas = min;
    c.max_replicas = max;
    c.down.window_s = down_window_s;
    h = ks_hpa_new(&c);
    assert_non_null(h);
    return h;
}

/* One decision with n replicas at pct % each. */
static int decide_uniform(ks_hpa_t *h, int64_t now, int current, size_t n, double pct, ks_hpa_decision_t *d)
{
    ks_hpa_sample_t s[MAXS];
    return ks_hpa_decide(h, now, current, s, uniform(s, n, pct), d);
}

/* ---- configuration ------------------------------------------------------------------------- */

static void test_config_defaults(void **state)
{
    ks_hpa_config_t c;
    char err[KS_ERRLEN] = "";
    int lo, hi;

    ks_hpa_config_defaults(&c);
    assert_int_equal(c.metric, KS_HPA_CPU);
    assert_int_equal(c.target_pct, 80);
    assert_true(c.tolerance == 0.1);
    assert_int_equal(c.up.window_s, 0);
    assert_int_equal(c.up.select, KS_HPA_SELECT_MAX);
    assert_int_equal(c.up.npolicies, 2);
    assert_int_equal(c.up.policies[0].type, KS_HPA_PERCENT);
    assert_int_equal(c.up.policies[0].value, 100);
    assert_int_equal(c.up.policies[0].period_s, 15);
    assert_int_equal(c.up.policies[1].type, KS_HPA_PODS);
    assert_int_equal(c.up.policies[1].value, 4);
    assert_int_equal(c.up.policies[1].period_s, 15);
    assert_int_equal(c.down.window_s, 300);
    assert_int_equal(c.down.select, KS_HPA_SELECT_MAX);
    assert_int_equal(c.down.npolicies, 1);
    assert_int_equal(c.down.policies[0].type, KS_HPA_PERCENT);
    assert_int_equal(c.down.policies[0].value, 100);
    assert_int_equal(c.down.policies[0].period_s, 15);
    assert_int_equal(ks_hpa_config_check(&c, err, sizeof(err)), 0);

    /* KServe's bounds: minReplicas below 1 is 1, maxReplicas below min is min */
    c.min_replicas = 0, c.max_replicas = 0;
    ks_hpa_bounds(&c, &lo, &hi);
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 1);
    c.min_replicas = 3, c.max_replicas = 2;
    ks_hpa_bounds(&c, &lo, &hi);
    assert_int_equal(lo, 3);
    assert_int_equal(hi, 3);
    c.min_replicas = -5, c.max_replicas = 7;
    ks_hpa_bounds(&c, &lo, &hi);
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 7);

    /* the defaults KServe applies to a predictor without resources */
    assert_string_equal(KS_HPA_DEFAULT_CPU_REQUEST, "1");
    assert_string_equal(KS_HPA_DEFAULT_MEMORY_REQUEST, "2Gi");
    {
        int64_t v;
        assert_int_equal(ks_quantity_millicores(KS_HPA_DEFAULT_CPU_REQUEST, &v, err, sizeof(err)), 0);
        assert_int_equal(v, KS_HPA_DEFAULT_CPU_MILLICORES);
        assert_int_equal(ks_quantity_bytes(KS_HPA_DEFAULT_MEMORY_REQUEST, &v, err, sizeof(err)), 0);
        assert_int_equal(v, KS_HPA_DEFAULT_MEMORY_BYTES);
    }
}

static void expect_config_error(const ks_hpa_config_t *c, const char *field)
{
    char err[KS_ERRLEN] = "";
    assert_int_equal(ks_hpa_config_check(c, err, sizeof(err)), KS_EINVAL);
    if (strstr(err, field) == NULL)
        fail_msg("message \"%s\" does not name %s", err, field);
    assert_null(ks_hpa_new(c));
}

static void test_config_errors(void **state)
{
    ks_hpa_config_t d, c;
    ks_hpa_config_defaults(&d);

    c = d, c.target_pct = 0;
    expect_config_error(&c, "scaleTarget");
    c = d, c.metric = (ks_hpa_metric_t)7;
    expect_config_error(&c, "scaleMetric");
    c = d, c.tolerance = -0.1;
    expect_config_error(&c, "tolerance");
    c = d, c.tolerance = NAN;
    expect_config_error(&c, "tolerance");
    c = d, c.down.window_s = 3601;
    expect_config_error(&c, "behavior.scaleDown.stabilizationWindowSeconds");
    c = d, c.up.window_s = -1;
    expect_config_error(&c, "behavior.scaleUp.stabilizationWindowSeconds");
    c = d, c.up.npolicies = 0;
    expect_config_error(&c, "behavior.scaleUp.policies");
    c = d, c.up.npolicies = KS_HPA_MAX_POLICIES + 1;
    expect_config_error(&c, "behavior.scaleUp.policies");
    c = d, c.up.policies[1].value = 0;
    expect_config_error(&c, "behavior.scaleUp.policies[1].value");
    c = d, c.down.policies[0].period_s = 0;
    expect_config_error(&c, "behavior.scaleDown.policies[0].periodSeconds");
    c = d, c.down.policies[0].period_s = 1801;
    expect_config_error(&c, "behavior.scaleDown.policies[0].periodSeconds");
    c = d, c.down.policies[0].type = (ks_hpa_policy_type_t)9;
    expect_config_error(&c, "behavior.scaleDown.policies[0].type");
    c = d, c.down.select = (ks_hpa_select_t)9;
    expect_config_error(&c, "behavior.scaleDown.selectPolicy");

    /* the limits themselves are fine */
    c = d, c.down.window_s = 3600, c.up.window_s = 3600, c.down.policies[0].period_s = 1800;
    {
        char err[KS_ERRLEN];
        ks_hpa_t *h;
        assert_int_equal(ks_hpa_config_check(&c, err, sizeof(err)), 0);
        assert_non_null(h = ks_hpa_new(&c));
        ks_hpa_free(h);
    }
    ks_hpa_free(NULL);
}

static void test_reason_names(void **state)
{
    assert_string_equal(ks_hpa_reason_name(KS_HPA_DESIRED_WITHIN_RANGE), "DesiredWithinRange");
    assert_string_equal(ks_hpa_reason_name(KS_HPA_SCALE_UP_LIMIT), "ScaleUpLimit");
    assert_string_equal(ks_hpa_reason_name(KS_HPA_SCALE_DOWN_LIMIT), "ScaleDownLimit");
    assert_string_equal(ks_hpa_reason_name(KS_HPA_TOO_MANY_REPLICAS), "TooManyReplicas");
    assert_string_equal(ks_hpa_reason_name(KS_HPA_TOO_FEW_REPLICAS), "TooFewReplicas");
    assert_string_equal(ks_hpa_reason_name(KS_HPA_ABOVE_MAX_REPLICAS), "AboveMaxReplicas");
    assert_string_equal(ks_hpa_reason_name(KS_HPA_BELOW_MIN_REPLICAS), "BelowMinReplicas");
    assert_string_equal(ks_hpa_reason_name(KS_HPA_NO_METRICS), "FailedGetResourceMetric");
    assert_string_equal(ks_hpa_reason_name(KS_HPA_SCALING_DISABLED), "ScalingDisabled");
    assert_string_equal(ks_hpa_reason_name((ks_hpa_reason_t)99), "Unknown");
}

/* ---- the formula ----------------------------------------------------------------------------- */

static void test_formula_and_ceil(void **state)
{
    ks_hpa_decision_t d;
    ks_hpa_t *h = decider(50, 1, 100, 0);

    /* 2 replicas at 100 % of a 50 % target: ratio 2, ceil(2 * 2) = 4 */
    assert_int_equal(decide_uniform(h, 0, 2, 2, 100, &d), 4);
    assert_int_equal(d.recommendation, 4);
    assert_int_equal(d.utilization, 100);
    assert_true(d.ratio == 2.0);
    assert_int_equal(d.ready, 2);
    assert_int_equal(d.reason, KS_HPA_DESIRED_WITHIN_RANGE);

    /* 3 at 70 %: ratio 1.4, 3 * 1.4 = 4.2 -> 5 */
    assert_int_equal(decide_uniform(h, 15, 3, 3, 70, &d), 5);
    /* 4 at 51 %: ratio 1.02, within the tolerance */
    assert_int_equal(decide_uniform(h, 30, 4, 4, 51, &d), 4);
    /* 5 at 56 %: ratio 1.12, 5.6 -> 6 (ceil, never rounding to nearest) */
    assert_int_equal(decide_uniform(h, 45, 5, 5, 56, &d), 6);
    /* 4 at 20 %: ratio 0.4, 1.6 -> 2 */
    assert_int_equal(decide_uniform(h, 60, 4, 4, 20, &d), 2);
    assert_int_equal(d.reason, KS_HPA_DESIRED_WITHIN_RANGE);
    /* 8 at 0 %: 0, raised to minReplicas */
    assert_int_equal(decide_uniform(h, 75, 8, 8, 0, &d), 1);
    assert_int_equal(d.recommendation, 0);
    assert_int_equal(d.reason, KS_HPA_TOO_FEW_REPLICAS);

    /* the average is over the replicas: 2 at 100 % and 2 at 0 % average 50 % */
    {
        ks_hpa_sample_t s[4];
        uniform(s, 4, 100);
        s[2].utilization_pct = s[3].utilization_pct = 0;
        assert_int_equal(ks_hpa_decide(h, 90, 4, s, 4, &d), 4);
        assert_int_equal(d.utilization, 50);
    }
    ks_hpa_free(h);
}

static void test_tolerance_boundaries(void **state)
{
    ks_hpa_decision_t d;
    ks_hpa_config_t c;
    ks_hpa_t *h = decider(100, 1, 100, 0);

    /* ratio exactly 1.1 and 0.9 are within the tolerance; 1.11 and 0.89 are not */
    assert_int_equal(decide_uniform(h, 0, 10, 10, 110, &d), 10);
    assert_true(d.ratio == 1.1);
    assert_int_equal(decide_uniform(h, 15, 10, 10, 111, &d), 12); /* ceil(11.1) */
    assert_int_equal(decide_uniform(h, 30, 10, 10, 90, &d), 10);
    assert_int_equal(decide_uniform(h, 45, 10, 10, 89, &d), 9);   /* ceil(8.9) */
    /* the utilisation is whole percent, rounded down as in Kubernetes: 110.9 % is 110 % */
    assert_int_equal(decide_uniform(h, 60, 10, 10, 110.9, &d), 10);
    assert_int_equal(d.utilization, 110);
    ks_hpa_free(h);

    /* the same with KServe's default target of 80 %: 88 % is ratio 1.1 */
    h = decider(80, 1, 100, 0);
    assert_int_equal(decide_uniform(h, 0, 10, 10, 88, &d), 10);
    assert_int_equal(decide_uniform(h, 15, 10, 10, 89, &d), 12); /* 1.1125 * 10 -> 12 */
    assert_int_equal(decide_uniform(h, 30, 10, 10, 72, &d), 10); /* 0.9 */
    ks_hpa_free(h);

    /* configurable: tolerance 0 scales at 101 % */
    ks_hpa_config_defaults(&c);
    c.target_pct = 100, c.max_replicas = 100, c.tolerance = 0;
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 10, 10, 100, &d), 10);
    assert_int_equal(decide_uniform(h, 15, 10, 10, 101, &d), 11);
    ks_hpa_free(h);

    /* tolerance 0.5: 150 % stays, 151 % scales */
    c.tolerance = 0.5;
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 4, 4, 150, &d), 4);
    assert_int_equal(decide_uniform(h, 15, 4, 4, 151, &d), 7); /* ceil(6.04) */
    ks_hpa_free(h);
}

static void test_bounds(void **state)
{
    ks_hpa_decision_t d;
    ks_hpa_config_t c;
    ks_hpa_t *h = decider(100, 2, 5, 0);

    /* capped at maxReplicas (the policies would allow 6) */
    assert_int_equal(decide_uniform(h, 0, 2, 2, 1000, &d), 5);
    assert_int_equal(d.recommendation, 20);
    assert_int_equal(d.reason, KS_HPA_TOO_MANY_REPLICAS);
    /* raised to minReplicas */
    assert_int_equal(decide_uniform(h, 15, 5, 5, 1, &d), 2);
    assert_int_equal(d.reason, KS_HPA_TOO_FEW_REPLICAS);
    /* outside the bounds: straight to them, without looking at the metric */
    assert_int_equal(decide_uniform(h, 30, 9, 9, 1000, &d), 5);
    assert_int_equal(d.reason, KS_HPA_ABOVE_MAX_REPLICAS);
    assert_int_equal(d.recommendation, -1);
    assert_int_equal(decide_uniform(h, 45, 1, 1, 0, &d), 2);
    assert_int_equal(d.reason, KS_HPA_BELOW_MIN_REPLICAS);
    /* scaled to 0 by hand: left alone */
    assert_int_equal(ks_hpa_decide(h, 60, 0, NULL, 0, &d), 0);
    assert_int_equal(d.reason, KS_HPA_SCALING_DISABLED);
    assert_int_equal(ks_hpa_decide(h, 75, -3, NULL, 0, NULL), 0);
    ks_hpa_free(h);

    /* maxReplicas below minReplicas means max = min; minReplicas 0 means 1 */
    ks_hpa_config_defaults(&c);
    c.min_replicas = 3, c.max_replicas = 1, c.down.window_s = 0;
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 3, 3, 1000, &d), 3);
    assert_int_equal(d.reason, KS_HPA_TOO_MANY_REPLICAS);
    assert_int_equal(decide_uniform(h, 15, 3, 3, 1, &d), 3);
    ks_hpa_free(h);
    c.min_replicas = 0, c.max_replicas = 0;
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 1, 1, 1000, &d), 1);
    assert_int_equal(decide_uniform(h, 15, 2, 2, 1000, &d), 1);
    assert_int_equal(d.reason, KS_HPA_ABOVE_MAX_REPLICAS);
    ks_hpa_free(h);

    /* a huge ratio saturates instead of overflowing */
    h = decider(1, 1, INT_MAX, 0);
    assert_int_equal(decide_uniform(h, 0, 1000, 1, 1e300, &d), 2000);
    assert_int_equal(d.recommendation, INT_MAX);
    ks_hpa_free(h);
}

/* ---- missing metrics and not-ready replicas --------------------------------------------------- */

static void test_missing_metrics(void **state)
{
    ks_hpa_sample_t s[8];
    ks_hpa_decision_t d;
    ks_hpa_config_t c;
    ks_hpa_t *h = decider(50, 1, 100, 0);

    /* scale-up: a replica without a metric counts as 0 %.  2 at 60 % and 1 missing: ratio 1.2,
       then (60 + 60 + 0) / 3 = 40 %, ratio 0.8: the direction reverses, the count stays */
    uniform(s, 3, 60);
    s[2].has_metric = 0;
    assert_int_equal(ks_hpa_decide(h, 0, 3, s, 3, &d), 3);
    assert_int_equal(d.ready, 2);
    assert_int_equal(d.missing, 1);
    assert_true(d.ratio == 1.2);
    assert_true(d.new_ratio == 0.8);
    /* 2 at 150 %, 1 missing: 100 % over 3, ratio 2, ceil(2 * 3) = 6 */
    uniform(s, 3, 150);
    s[0].has_metric = 0;
    assert_int_equal(ks_hpa_decide(h, 15, 3, s, 3, &d), 6);
    assert_true(d.ratio == 3.0);
    assert_true(d.new_ratio == 2.0);

    /* scale-down: a replica without a metric counts as 100 %.  3 at 10 % and 1 missing:
       (30 + 100) / 4 = 32 %, ratio 0.64, ceil(2.56) = 3 (not ceil(0.2 * 3) = 1) */
    uniform(s, 4, 10);
    s[3].has_metric = 0;
    assert_int_equal(ks_hpa_decide(h, 30, 4, s, 4, &d), 3);
    assert_int_equal(d.utilization, 10);
    assert_true(d.new_ratio == 0.64);
    /* a non-finite or negative utilisation is no metric */
    uniform(s, 4, 10);
    s[3].utilization_pct = NAN;
    assert_int_equal(ks_hpa_decide(h, 45, 4, s, 4, &d), 3);
    assert_int_equal(d.missing, 1);
    s[3].utilization_pct = -1;
    assert_int_equal(ks_hpa_decide(h, 60, 4, s, 4, &d), 3);
    s[3].utilization_pct = INFINITY;
    assert_int_equal(ks_hpa_decide(h, 75, 4, s, 4, &d), 3);
    /* the count stays where the filled-in ratio lands within the tolerance */
    uniform(s, 2, 40);
    s[1].has_metric = 0; /* 40 % alone: 0.8; (40 + 100) / 2 = 70 %: 1.4 reverses */
    assert_int_equal(ks_hpa_decide(h, 90, 2, s, 2, &d), 2);
    ks_hpa_free(h);

    /* with a target above 100 %, missing replicas count at the target on a scale-down */
    h = decider(150, 1, 100, 0);
    uniform(s, 4, 15);
    s[3].has_metric = 0; /* 15 % over 3, then (45 + 150) / 4 = 48 %: 0.32, ceil(1.28) = 2 */
    assert_int_equal(ks_hpa_decide(h, 0, 4, s, 4, &d), 2);
    ks_hpa_free(h);

    /* nothing to go on: the count stays */
    h = decider(50, 1, 100, 0);
    uniform(s, 3, 100);
    s[0].has_metric = s[1].has_metric = s[2].has_metric = 0;
    assert_int_equal(ks_hpa_decide(h, 0, 3, s, 3, &d), 3);
    assert_int_equal(d.reason, KS_HPA_NO_METRICS);
    assert_int_equal(d.recommendation, -1);
    assert_int_equal(d.missing, 3);
    assert_int_equal(ks_hpa_decide(h, 15, 3, NULL, 0, &d), 3);
    assert_int_equal(d.reason, KS_HPA_NO_METRICS);
    ks_hpa_free(h);

    /* cpu: a started replica that is not ready is set aside; on a scale-up it counts as 0 % */
    h = decider(100, 1, 100, 0);
    uniform(s, 4, 200);
    s[2].ready = s[3].ready = 0; /* 2 at 200 %: ratio 2; 400 / 4 = 100 %: ratio 1, stays */
    assert_int_equal(ks_hpa_decide(h, 0, 4, s, 4, &d), 4);
    assert_int_equal(d.ready, 2);
    assert_int_equal(d.unready, 2);
    assert_true(d.new_ratio == 1.0);
    uniform(s, 4, 300);
    s[3].ready = 0; /* 3 at 300 %, 1 at 0 %: 225 %, ceil(2.25 * 4) = 9 */
    assert_int_equal(ks_hpa_decide(h, 15, 4, s, 4, &d), 8); /* 4 + 4 in one step (policy) */
    assert_int_equal(d.recommendation, 9);
    /* on a scale-down, not-ready replicas are simply left out: ceil(0.2 * 2) = 1 */
    uniform(s, 4, 20);
    s[0].ready = s[1].ready = 0;
    assert_int_equal(ks_hpa_decide(h, 30, 4, s, 4, &d), 1);
    /* a replica that has not started is never counted; all of them: no metrics */
    uniform(s, 2, 20);
    s[0].started = s[1].started = 0;
    assert_int_equal(ks_hpa_decide(h, 45, 2, s, 2, &d), 2);
    assert_int_equal(d.reason, KS_HPA_NO_METRICS);
    assert_int_equal(d.unready, 2);
    ks_hpa_free(h);

    /* memory: a started replica counts with its metric whether ready or not */
    ks_hpa_config_defaults(&c);
    c.metric = KS_HPA_MEMORY, c.target_pct = 100, c.max_replicas = 100, c.down.window_s = 0;
    assert_non_null(h = ks_hpa_new(&c));
    uniform(s, 4, 200);
    s[2].ready = s[3].ready = 0;
    assert_int_equal(ks_hpa_decide(h, 0, 4, s, 4, &d), 8);
    assert_int_equal(d.ready, 4);
    assert_int_equal(d.unready, 0);
    uniform(s, 4, 200);
    s[3].started = 0; /* not started: set aside; 3 at 200 % + 1 at 0 %: 150 %, ceil(6) = 6 */
    assert_int_equal(ks_hpa_decide(h, 15, 4, s, 4, &d), 6);
    assert_int_equal(d.unready, 1);
    ks_hpa_free(h);
}

/* ---- stabilisation ----------------------------------------------------------------------------- */

static void test_scale_down_stabilization(void **state)
{
    ks_hpa_decision_t d;
    ks_hpa_t *h = decider(50, 1, 10, 300); /* the default 5-minute scale-down window */
    int64_t t;

    /* t = 0: 4 replicas at 100 % -> 8 */
    assert_int_equal(decide_uniform(h, 0, 4, 4, 100, &d), 8);
    /* the load drops: recommendation 2, held at the highest of the last 300 s */
    for (t = 15; t < 100; t += 15) {
        assert_int_equal(decide_uniform(h, t, 8, 8, 10, &d), 8);
        assert_int_equal(d.recommendation, 2);
        assert_int_equal(d.stabilized, 8);
    }
    /* t = 100: a short burst at the target recommends 8 again */
    assert_int_equal(decide_uniform(h, 100, 8, 8, 50, &d), 8);
    assert_int_equal(d.recommendation, 8);
    for (t = 115; t < 400; t += 15)
        assert_int_equal(decide_uniform(h, t, 8, 8, 10, &d), 8);
    assert_int_equal(decide_uniform(h, 399, 8, 8, 10, &d), 8);
    /* 300 s after the last higher recommendation */
    assert_int_equal(decide_uniform(h, 400, 8, 8, 10, &d), 2);
    assert_int_equal(d.stabilized, 2);
    assert_int_equal(d.reason, KS_HPA_DESIRED_WITHIN_RANGE);
    ks_hpa_free(h);

    /* window 0: at once */
    h = decider(50, 1, 10, 0);
    assert_int_equal(decide_uniform(h, 0, 4, 4, 100, &d), 8);
    assert_int_equal(decide_uniform(h, 15, 8, 8, 10, &d), 2);
    ks_hpa_free(h);

    /* the stabilised value is the highest recent one, not the first: 8 at t = 0, 6 at t = 200 */
    h = decider(50, 1, 10, 300);
    assert_int_equal(decide_uniform(h, 0, 8, 8, 50, &d), 8);
    assert_int_equal(decide_uniform(h, 200, 8, 8, 37, &d), 8); /* 0.74 * 8 -> 6 */
    assert_int_equal(d.recommendation, 6);
    assert_int_equal(decide_uniform(h, 250, 8, 8, 10, &d), 8);
    assert_int_equal(decide_uniform(h, 300, 8, 8, 10, &d), 6);  /* t = 0 has left */
    assert_int_equal(decide_uniform(h, 499, 6, 6, 10, &d), 6);
    assert_int_equal(decide_uniform(h, 500, 6, 6, 10, &d), 2);  /* t = 200 has left */
    /* long gaps reuse the ring's slots */
    assert_int_equal(decide_uniform(h, 900, 2, 2, 100, &d), 4);
    assert_int_equal(decide_uniform(h, 1800, 4, 4, 10, &d), 1);
    /* now going back counts as the latest second seen: the 4 of t = 1800 holds */
    assert_int_equal(decide_uniform(h, 1810, 1, 1, 200, &d), 4);
    assert_int_equal(decide_uniform(h, 1000, 4, 4, 1, &d), 4);
    ks_hpa_free(h);
}

static void test_scale_up_stabilization(void **state)
{
    ks_hpa_decision_t d;
    ks_hpa_config_t c;
    ks_hpa_t *h;

    ks_hpa_config_defaults(&c);
    c.target_pct = 50, c.max_replicas = 20, c.up.window_s = 60, c.down.window_s = 0;
    assert_non_null(h = ks_hpa_new(&c));
    /* t = 0: at the target; t = 30: the load triples, held at the lowest recent (2) */
    assert_int_equal(decide_uniform(h, 0, 2, 2, 50, &d), 2);
    assert_int_equal(decide_uniform(h, 30, 2, 2, 150, &d), 2);
    assert_int_equal(d.recommendation, 6);
    assert_int_equal(d.stabilized, 2);
    assert_int_equal(decide_uniform(h, 59, 2, 2, 150, &d), 2);
    /* t = 60: the 2 of t = 0 has left the window */
    assert_int_equal(decide_uniform(h, 60, 2, 2, 150, &d), 6);
    ks_hpa_free(h);
}

/* ---- scaling policies -------------------------------------------------------------------------- */

static void test_scale_up_policies(void **state)
{
    ks_hpa_decision_t d;
    ks_hpa_config_t c;
    ks_hpa_t *h = decider(100, 1, 100, 0);

    /* from 1 replica at 1000 %: at most max(1 + 100 %, 1 + 4) = 5 in one step */
    assert_int_equal(decide_uniform(h, 0, 1, 1, 1000, &d), 5);
    assert_int_equal(d.recommendation, 10);
    assert_int_equal(d.reason, KS_HPA_SCALE_UP_LIMIT);
    /* within the same 15 s the period started at 1: nothing more */
    assert_int_equal(decide_uniform(h, 14, 5, 5, 1000, &d), 5);
    assert_int_equal(d.reason, KS_HPA_SCALE_UP_LIMIT);
    /* t = 15: a new period from 5: max(10, 9) = 10 */
    assert_int_equal(decide_uniform(h, 15, 5, 5, 1000, &d), 10);
    /* t = 30: from 10: max(20, 14) = 20 (the percent policy wins) */
    assert_int_equal(decide_uniform(h, 30, 10, 10, 1000, &d), 20);
    ks_hpa_free(h);

    /* selectPolicy Min: the smaller change, min(20, 14) */
    ks_hpa_config_defaults(&c);
    c.target_pct = 100, c.max_replicas = 100, c.down.window_s = 0, c.up.select = KS_HPA_SELECT_MIN;
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 10, 10, 1000, &d), 14);
    ks_hpa_free(h);

    /* Disabled: never up */
    c.up.select = KS_HPA_SELECT_DISABLED;
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 3, 3, 1000, &d), 3);
    assert_int_equal(d.reason, KS_HPA_SCALE_UP_LIMIT);
    assert_int_equal(decide_uniform(h, 15, 3, 3, 10, &d), 1); /* down still works */
    ks_hpa_free(h);

    /* a scale-down inside the period counts back: from 4 down to 2 at t = 0, then up at t = 5
       starts from 4 (2 - 0 + 2): Pods 1 per 60 s allows 5 */
    ks_hpa_config_defaults(&c);
    c.target_pct = 100, c.max_replicas = 100, c.down.window_s = 0;
    c.up.npolicies = 1, c.up.policies[0] = (ks_hpa_policy_t){KS_HPA_PODS, 1, 60};
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 4, 4, 50, &d), 2);
    assert_int_equal(decide_uniform(h, 5, 2, 2, 1000, &d), 5);
    assert_int_equal(decide_uniform(h, 10, 5, 5, 1000, &d), 5); /* 5 - 3 + 2 = 4, + 1 = 5 */
    assert_int_equal(decide_uniform(h, 60, 5, 5, 1000, &d), 5); /* t = 0 has left: 5 - 3 = 2, + 1 < 5 */
    assert_int_equal(decide_uniform(h, 65, 5, 5, 1000, &d), 6); /* t = 5 has left too: 5 + 1 */
    ks_hpa_free(h);
}

static void test_scale_down_policies(void **state)
{
    ks_hpa_decision_t d;
    ks_hpa_config_t c;
    ks_hpa_t *h;

    /* the default 100 % per 15 s allows any scale-down at once */
    h = decider(100, 1, 100, 0);
    assert_int_equal(decide_uniform(h, 0, 40, 40, 1, &d), 1);
    ks_hpa_free(h);

    /* Pods 1 per 60 s */
    ks_hpa_config_defaults(&c);
    c.target_pct = 100, c.max_replicas = 100, c.down.window_s = 0;
    c.down.policies[0] = (ks_hpa_policy_t){KS_HPA_PODS, 1, 60};
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 5, 5, 1, &d), 4);
    assert_int_equal(d.reason, KS_HPA_SCALE_DOWN_LIMIT);
    assert_int_equal(decide_uniform(h, 59, 4, 4, 1, &d), 4);
    assert_int_equal(d.reason, KS_HPA_SCALE_DOWN_LIMIT);
    assert_int_equal(decide_uniform(h, 60, 4, 4, 1, &d), 3);
    ks_hpa_free(h);

    /* Percent 50 per 15 s with Pods 1: Max (the default) takes the larger change */
    c.down.npolicies = 2;
    c.down.policies[0] = (ks_hpa_policy_t){KS_HPA_PERCENT, 50, 15};
    c.down.policies[1] = (ks_hpa_policy_t){KS_HPA_PODS, 1, 15};
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 9, 9, 1, &d), 4); /* 9 * 0.5 = 4.5 -> 4 (truncated) */
    ks_hpa_free(h);
    c.down.select = KS_HPA_SELECT_MIN; /* the smaller change: 9 - 1 */
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 9, 9, 1, &d), 8);
    ks_hpa_free(h);
    c.down.select = KS_HPA_SELECT_DISABLED;
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 9, 9, 1, &d), 9);
    assert_int_equal(d.reason, KS_HPA_SCALE_DOWN_LIMIT);
    ks_hpa_free(h);

    /* percent policies round as the controller's doubles do: 20 * (1 - 0.8) truncates to 3,
       25 * (1 + 0.12) rounds up to 29 */
    ks_hpa_config_defaults(&c);
    c.target_pct = 100, c.max_replicas = 100, c.down.window_s = 0;
    c.down.policies[0] = (ks_hpa_policy_t){KS_HPA_PERCENT, 80, 15};
    c.up.npolicies = 1, c.up.policies[0] = (ks_hpa_policy_t){KS_HPA_PERCENT, 12, 15};
    assert_non_null(h = ks_hpa_new(&c));
    assert_int_equal(decide_uniform(h, 0, 20, 20, 1, &d), 3);
    assert_int_equal(decide_uniform(h, 15, 25, 25, 1000, &d), 29);
    assert_int_equal(decide_uniform(h, 30, 10, 10, 1000, &d), 12); /* ceil(11.200000000000001) */
    ks_hpa_free(h);
}

/* ---- quantities ------------------------------------------------------------------------------- */

static void expect_millicores(const char *s, int64_t want)
{
    char err[KS_ERRLEN] = "";
    int64_t v = -1;
    if (ks_quantity_millicores(s, &v, err, sizeof(err)) != 0)
        fail_msg("\"%s\": %s", s, err);
    if (v != want)
        fail_msg("\"%s\": %lld millicores, want %lld", s, (long long)v, (long long)want);
}

static void expect_bytes(const char *s, int64_t want)
{
    char err[KS_ERRLEN] = "";
    int64_t v = -1;
    if (ks_quantity_bytes(s, &v, err, sizeof(err)) != 0)
        fail_msg("\"%s\": %s", s, err);
    if (v != want)
        fail_msg("\"%s\": %lld bytes, want %lld", s, (long long)v, (long long)want);
}

static void expect_bad(int cpu, const char *s, const char *needle)
{
    char err[KS_ERRLEN] = "";
    int64_t v = 12345;
    int rc = cpu ? ks_quantity_millicores(s, &v, err, sizeof(err)) : ks_quantity_bytes(s, &v, err, sizeof(err));
    if (rc != KS_EINVAL)
        fail_msg("\"%s\": accepted as %lld", s, (long long)v);
    assert_int_equal(v, 12345);
    if (strstr(err, needle) == NULL)
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", s, err, needle);
}

static void test_quantities(void **state)
{
    expect_millicores("500m", 500);
    expect_millicores("1", 1000);
    expect_millicores("2", 2000);
    expect_millicores("1.5", 1500);
    expect_millicores("0.1", 100);
    expect_millicores(".5", 500);
    expect_millicores("1.", 1000);
    expect_millicores("+2", 2000);
    expect_millicores("0", 0);
    expect_millicores("-0", 0);
    expect_millicores("0.0", 0);
    expect_millicores("100m", 100);
    expect_millicores("1e3", 1000000);
    expect_millicores("1E3", 1000000);
    expect_millicores("1e-3", 1);
    expect_millicores("1.5e+1", 15000);
    expect_millicores("250000u", 250);
    expect_millicores("1n", 1);       /* rounded up to whole millicores */
    expect_millicores("1500001u", 1501);
    expect_millicores("0.0005", 1);
    expect_millicores("1k", 1000000);
    expect_millicores("2Ki", 2048000);
    expect_millicores("007", 7000);
    expect_millicores("1e-400", 1);

    expect_bytes("2Gi", 2147483648LL);
    expect_bytes("512Mi", 536870912LL);
    expect_bytes("1.5Gi", 1610612736LL);
    expect_bytes("1G", 1000000000LL);
    expect_bytes("100M", 100000000LL);
    expect_bytes("1e3", 1000);
    expect_bytes("1k", 1000);
    expect_bytes("1Ki", 1024);
    expect_bytes("0.5", 1);          /* rounded up */
    expect_bytes("1500m", 2);
    expect_bytes("1000m", 1);
    expect_bytes("128974848", 128974848);
    expect_bytes("129e6", 129000000);
    expect_bytes("123Mi", 128974848);
    expect_bytes("7Ei", 7LL << 60);
    expect_bytes("1E", 1000000000000000000LL);
    expect_bytes("9223372036854775807", INT64_MAX);
    expect_bytes("9.223372036854775807E", INT64_MAX);
    expect_bytes("0.000000000000000001Ei", 2);  /* 1.15... bytes, rounded up */
    expect_bytes("0.000000000000000000001Ei", 1);
    expect_bytes("1000000000000000000000000000000e-30", 1);   /* trailing zeros are not significant */

    expect_bad(1, "", "empty");
    expect_bad(1, "abc", "not a number");
    expect_bad(1, ".", "not a number");
    expect_bad(1, "m", "not a number");
    expect_bad(1, "e3", "not a number");
    expect_bad(1, " 1", "not a number");
    expect_bad(1, "1 ", "unknown suffix \" \"");
    expect_bad(1, "1.2.3", "unknown suffix \".3\"");
    expect_bad(0, "1GB", "unknown suffix \"GB\"");
    expect_bad(0, "1K", "unknown suffix \"K\"");
    expect_bad(0, "1ki", "unknown suffix \"ki\"");
    expect_bad(0, "1e", "unknown suffix \"e\"");
    expect_bad(0, "1e3.5", "unknown suffix");
    expect_bad(0, "1Gi2", "unknown suffix");
    expect_bad(0, "1\x01", "unknown suffix \"?\"");
    expect_bad(1, "-1", "must not be negative");
    expect_bad(0, "-512Mi", "must not be negative");
    expect_bad(0, "9223372036854775808", "too large");
    expect_bad(0, "8Ei", "too large");
    expect_bad(0, "1e400", "too large");
    expect_bad(1, "9223372036854775.808", "too large"); /* 1000x the bytes limit in millicores */
    expect_bad(1, "12345678901234567891", "more than 19 significant digits");
    expect_bad(0, "1.0000000000000000001", "more than 19 significant digits");
    expect_bad(0, "11111111111111111111111111111111111111111111111111111111111111111", "longer than 64");
    expect_bad(0, "\"1\"", "not a number");
}

/* ---- /proc -------------------------------------------------------------------------------------- */

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_procstat_self(void **state)
{
    uint64_t rss = 0;
    double cpu0, cpu1, w0, w1, pct;
    volatile uint64_t x = 1;

    assert_int_equal(ks_procstat_rss_bytes(getpid(), &rss), 0);
    assert_true(rss > 0);
    assert_int_equal(rss % (uint64_t)sysconf(_SC_PAGESIZE), 0);

    assert_int_equal(ks_procstat_cpu_seconds(getpid(), &cpu0), 0);
    assert_true(cpu0 >= 0);
    w0 = wall_s();
    /* busy for at least 0.2 s of CPU, at most 10 s of wall time */
    do {
        for (int i = 0; i < 1000000; ++i)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        assert_int_equal(ks_procstat_cpu_seconds(getpid(), &cpu1), 0);
    } while (cpu1 - cpu0 < 0.2 && wall_s() - w0 < 10);
    w1 = wall_s();
    assert_true(cpu1 > cpu0);

    /* one thread busy against a 1-CPU request: about 100 %, against 250m about 400 % */
    assert_int_equal(ks_procstat_cpu_pct(cpu0, cpu1, w0, w1, 1000, &pct), 0);
    assert_true(pct > 0 && pct < 200);
    {
        double pct4;
        assert_int_equal(ks_procstat_cpu_pct(cpu0, cpu1, w0, w1, 250, &pct4), 0);
        assert_true(fabs(pct4 - 4 * pct) < 1e-9 * pct4);
    }

    /* no such process */
    assert_int_equal(ks_procstat_cpu_seconds(0, &cpu0), KS_ENOENT);
    assert_int_equal(ks_procstat_cpu_seconds(-1, &cpu0), KS_ENOENT);
    assert_int_equal(ks_procstat_cpu_seconds(INT_MAX, &cpu0), KS_ENOENT); /* above any pid_max */
    assert_int_equal(ks_procstat_rss_bytes(INT_MAX, &rss), KS_ENOENT);
}

static void test_procstat_parse(void **state)
{
    uint64_t ut = 0, st = 0;

    assert_int_equal(ks__procstat_parse_stat("42 (kserve) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 "
                                             "12345 1000000 200 18446744073709551615\n",
                                             &ut, &st),
                     0);
    assert_int_equal(ut, 250);
    assert_int_equal(st, 75);
    /* comm holding spaces and ')' */
    assert_int_equal(ks__procstat_parse_stat("7 (a) b) c) R 1 7 7 34816 7 0 1 2 3 4 18446744073709551615 9 0\n", &ut, &st),
                     0);
    assert_int_equal(ut, UINT64_MAX);
    assert_int_equal(st, 9);

    assert_int_equal(ks__procstat_parse_stat("", &ut, &st), KS_EINVAL);
    assert_int_equal(ks__procstat_parse_stat("42 kserve S 1", &ut, &st), KS_EINVAL);
    assert_int_equal(ks__procstat_parse_stat("42 (kserve) S 1 42 42 0 -1 4194560 100 0 0 0 250", &ut, &st), KS_EINVAL);
    assert_int_equal(ks__procstat_parse_stat("42 (kserve) S 1 42 42 0 -1 4194560 100 0 0 0 x 75 0", &ut, &st),
                     KS_EINVAL);
    assert_int_equal(ks__procstat_parse_stat("42 (kserve) SS 1 42 42 0 -1 4194560 100 0 0 0 250 75 0", &ut, &st),
                     KS_EINVAL);
    assert_int_equal(ks__procstat_parse_stat("42 (kserve) S 1 42 42 0 -1 4194560 100 0 0 0 250 "
                                             "18446744073709551616 0",
                                             &ut, &st),
                     KS_EINVAL); /* over 64 bits */
}

static void test_utilization(void **state)
{
    double pct = -1;

    /* 0.5 CPU-seconds per second against 500m: 100 %; against 250m: 200 % */
    assert_int_equal(ks_procstat_cpu_pct(10, 10.5, 100, 101, 500, &pct), 0);
    assert_true(fabs(pct - 100) < 1e-9);
    assert_int_equal(ks_procstat_cpu_pct(10, 10.5, 100, 101, 250, &pct), 0);
    assert_true(fabs(pct - 200) < 1e-9);
    /* 2 CPUs busy for 2 s against KServe's default of 1 CPU: 200 % */
    assert_int_equal(ks_procstat_cpu_pct(0, 4, 0, 2, KS_HPA_DEFAULT_CPU_MILLICORES, &pct), 0);
    assert_true(fabs(pct - 200) < 1e-9);
    assert_int_equal(ks_procstat_cpu_pct(1, 1, 0, 2, 1000, &pct), 0);
    assert_true(pct == 0);

    pct = -1;
    assert_int_equal(ks_procstat_cpu_pct(0, 1, 5, 5, 1000, &pct), KS_EINVAL);  /* no time passed */
    assert_int_equal(ks_procstat_cpu_pct(0, 1, 5, 4, 1000, &pct), KS_EINVAL);  /* time went back */
    assert_int_equal(ks_procstat_cpu_pct(2, 1, 0, 1, 1000, &pct), KS_EINVAL);  /* the process restarted */
    assert_int_equal(ks_procstat_cpu_pct(0, 1, 0, 1, 0, &pct), KS_EINVAL);
    assert_int_equal(ks_procstat_cpu_pct(0, NAN, 0, 1, 1000, &pct), KS_EINVAL);
    assert_int_equal(ks_procstat_cpu_pct(0, 1, 0, INFINITY, 1000, &pct), KS_EINVAL);
    assert_true(pct == -1);

    /* 1 GiB resident against KServe's default 2Gi: 50 % */
    assert_int_equal(ks_procstat_memory_pct(1ULL << 30, KS_HPA_DEFAULT_MEMORY_BYTES, &pct), 0);
    assert_true(pct == 50);
    assert_int_equal(ks_procstat_memory_pct(3ULL << 30, 1LL << 30, &pct), 0);
    assert_true(pct == 300);
    assert_int_equal(ks_procstat_memory_pct(1, 0, &pct), KS_EINVAL);
    assert_int_equal(ks_procstat_memory_pct(1, -5, &pct), KS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_formula_and_ceil),
        cmocka_unit_test(test_tolerance_boundaries),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_missing_metrics),
        cmocka_unit_test(test_scale_down_stabilization),
        cmocka_unit_test(test_scale_up_stabilization),
        cmocka_unit_test(test_scale_up_policies),
        cmocka_unit_test(test_scale_down_policies),
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_procstat_self),
        cmocka_unit_test(test_procstat_parse),
        cmocka_unit_test(test_utilization),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
