/*
 * The KPA decider (src/autoscaler/): the window arithmetic of 1.1, the panic
 * window's rounding, the target of section 2, the config keys of section 7,
 * and every scenario of section 8 as a trace in tests/data/autoscaler/
 * replayed through ks_kpa_replay and checked against its .expect.jsonl.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ks/autoscaler.h"

/* ---- window ------------------------------------------------------------------------------ */

static void test_window_worked_example(void **state)
{
    ks_kpa_window_t st, pn;
    int64_t pw = ks_kpa_panic_window(6, 33);

    assert_int_equal(pw, 2);
    assert_int_equal(ks_kpa_window_init(&st, 6), 0);
    assert_int_equal(ks_kpa_window_init(&pn, pw), 0);
    for (int t = 1; t <= 10; ++t) {
        ks_kpa_window_record(&st, t, t + 4);
        ks_kpa_window_record(&pn, t, t + 4);
    }
    assert_true(ks_kpa_window_average(&st, 10) == 11.5);
    assert_true(ks_kpa_window_average(&pn, 10) == 13.5);
    assert_true(ks_kpa_window_average(&st, 12) == 12.5);
    assert_true(ks_kpa_window_average(&pn, 12) == 0);
    assert_true(ks_kpa_window_average(&st, 16) == 0);
    ks_kpa_window_free(&st);
    ks_kpa_window_free(&pn);

    assert_int_equal(ks_kpa_window_init(&st, 6), 0);
    ks_kpa_window_record(&st, 1, 5);
    ks_kpa_window_record(&st, 2, 6);
    assert_true(ks_kpa_window_average(&st, 2) == 5.5);
    ks_kpa_window_free(&st);
}

static void test_window_writes(void **state)
{
    ks_kpa_window_t w;
    assert_int_equal(ks_kpa_window_init(&w, 4), 0);
    assert_true(ks_kpa_window_average(&w, 0) == 0); /* never written */
    ks_kpa_window_record(&w, 10, 1);
    ks_kpa_window_record(&w, 10, 2);   /* same second: adds up */
    assert_true(ks_kpa_window_average(&w, 10) == 3);
    ks_kpa_window_record(&w, 12, 5);   /* second 11 had no write: counts as 0 */
    assert_true(ks_kpa_window_average(&w, 12) == ks_kpa_round6(8.0 / 3));
    ks_kpa_window_record(&w, 8, 100);  /* t <= last - N: ignored */
    assert_true(ks_kpa_window_average(&w, 12) == ks_kpa_round6(8.0 / 3));
    ks_kpa_window_record(&w, 9, 4);    /* last - N < t < last: adds, moves first back */
    assert_true(ks_kpa_window_average(&w, 12) == 3);      /* (4 + 3 + 0 + 5) / 4 */
    ks_kpa_window_record(&w, 20, 7);   /* a gap of N or more: starts over */
    assert_true(ks_kpa_window_average(&w, 20) == 7);
    assert_true(ks_kpa_window_average(&w, 22) == 7);      /* seconds after last do not count */
    assert_true(ks_kpa_window_average(&w, 24) == 0);
    ks_kpa_window_record(&w, -3, 1);   /* far older: ignored */
    assert_true(ks_kpa_window_average(&w, 20) == 7);
    ks_kpa_window_free(&w);

    /* negative seconds use the right slots */
    assert_int_equal(ks_kpa_window_init(&w, 3), 0);
    ks_kpa_window_record(&w, -2, 3);
    ks_kpa_window_record(&w, -1, 6);
    assert_true(ks_kpa_window_average(&w, -1) == 4.5);
    assert_true(ks_kpa_window_average(&w, 0) == 4.5);
    ks_kpa_window_free(&w);
}

static void test_panic_window_rounding(void **state)
{
    assert_int_equal(ks_kpa_panic_window(60, 10), 6);
    assert_int_equal(ks_kpa_panic_window(15, 10), 2);
    assert_int_equal(ks_kpa_panic_window(25, 10), 3);
    assert_int_equal(ks_kpa_panic_window(7, 10), 1);
    assert_int_equal(ks_kpa_panic_window(6, 1), 1);
    assert_int_equal(ks_kpa_panic_window(3600, 100), 3600);
    assert_int_equal(ks_kpa_panic_window(6, 33), 2);
}

static void test_round6(void **state)
{
    assert_true(ks_kpa_round6(3.4761905) == 3.476191);
    assert_true(ks_kpa_round6(2.0 / 3) == 0.666667);
    assert_true(ks_kpa_round6(-2.0 / 3) == -0.666667);
    assert_true(ks_kpa_round6(12.5) == 12.5);
    assert_true(ks_kpa_round6(0.0000004) == 0);
}

/* ---- target and config ------------------------------------------------------------------- */

static ks_kpa_config_t cfg(const char *const *kv)
{
    ks_kpa_config_t c;
    char err[KS_ERRLEN];
    ks_kpa_config_defaults(&c);
    for (; kv != NULL && kv[0] != NULL; kv += 2)
        if (ks_kpa_config_set(&c, kv[0], kv[1], err, sizeof(err)) != 0)
            fail_msg("%s=%s: %s", kv[0], kv[1], err);
    return c;
}

#define CFG(...) cfg((const char *const[]){__VA_ARGS__, NULL})

static void test_target(void **state)
{
    ks_kpa_config_t c = cfg(NULL);
    assert_true(ks_kpa_total(&c) == 100 && ks_kpa_target(&c) == 70);
    c = CFG("container-concurrency", "10");
    assert_true(ks_kpa_total(&c) == 10 && ks_kpa_target(&c) == 7);
    c = CFG("container-concurrency", "10", "target", "50");                  /* capped at CC */
    assert_true(ks_kpa_total(&c) == 10 && ks_kpa_target(&c) == 7);
    c = CFG("container-concurrency", "10", "target", "5");
    assert_true(ks_kpa_total(&c) == 5 && ks_kpa_target(&c) == 3.5);
    c = CFG("target", "10", "target-utilization-percentage", "100");
    assert_true(ks_kpa_target(&c) == 10);
    c = CFG("container-concurrency-target-percentage", "50");
    assert_true(ks_kpa_target(&c) == 50);
    c = CFG("container-concurrency-target-default", "20");
    assert_true(ks_kpa_total(&c) == 20 && ks_kpa_target(&c) == 14);
    c = CFG("metric", "rps");
    assert_true(ks_kpa_total(&c) == 200 && ks_kpa_target(&c) == 140);
    c = CFG("metric", "rps", "container-concurrency-target-percentage", "50"); /* concurrency's only */
    assert_true(ks_kpa_target(&c) == 140);
    c = CFG("metric", "rps", "target", "300", "container-concurrency", "10"); /* no CC cap */
    assert_true(ks_kpa_total(&c) == 300 && ks_kpa_target(&c) == 210);
    c = CFG("metric", "rps", "target-utilization-percentage", "50");
    assert_true(ks_kpa_target(&c) == 100);
    c = CFG("target", "0.01", "target-utilization-percentage", "1");          /* at least 0.01 */
    assert_true(ks_kpa_target(&c) == 0.01);
}

static void test_config_defaults_and_durations(void **state)
{
    ks_kpa_config_t c;
    int64_t s;
    ks_kpa_config_defaults(&c);
    assert_int_equal(c.window_s, 60);
    assert_true(c.panic_window_pct == 10 && c.panic_threshold_pct == 200);
    assert_true(c.max_up == 1000 && c.max_down == 2 && c.tbc == 211 && c.activator_capacity == 100);
    assert_int_equal(c.grace_s, 30);
    assert_int_equal(c.retention_s, 0);
    assert_int_equal(c.scale_down_delay_s, 0);
    assert_int_equal(c.initial_scale, 1);
    assert_int_equal(c.min_scale, 0);
    assert_int_equal(c.max_scale, 0);
    assert_int_equal(c.enable_scale_to_zero, 1);
    assert_int_equal(c.metric_rps, 0);
    assert_int_equal(c.has_target, 0);

    assert_int_equal(ks_kpa_parse_duration("30s", &s), 0);
    assert_int_equal(s, 30);
    assert_int_equal(ks_kpa_parse_duration("1m30s", &s), 0);
    assert_int_equal(s, 90);
    assert_int_equal(ks_kpa_parse_duration("1h", &s), 0);
    assert_int_equal(s, 3600);
    assert_int_equal(ks_kpa_parse_duration("45", &s), 0);
    assert_int_equal(s, 45);
    assert_int_equal(ks_kpa_parse_duration("1500ms", &s), KS_EINVAL); /* not whole seconds */
    assert_int_equal(ks_kpa_parse_duration("2000ms", &s), 0);
    assert_int_equal(s, 2);
    assert_int_equal(ks_kpa_parse_duration("1.5s", &s), KS_EINVAL);
    assert_int_equal(ks_kpa_parse_duration("", &s), KS_EINVAL);
    assert_int_equal(ks_kpa_parse_duration("10x", &s), KS_EINVAL);
    assert_int_equal(ks_kpa_parse_duration("-5s", &s), KS_EINVAL);
    assert_int_equal(ks_kpa_parse_duration("s", &s), KS_EINVAL);

    c = CFG("autoscaling.knative.dev/window", "1m30s", "stable-window", "2m", "scale-down-delay", "300",
            "enable-scale-to-zero", "false", "allow-zero-initial-scale", "true", "initial-scale", "0");
    assert_int_equal(c.window_s, 120);
    assert_int_equal(c.scale_down_delay_s, 300);
    assert_int_equal(c.enable_scale_to_zero, 0);
    assert_int_equal(c.initial_scale, 0);
}

static void expect_bad(const char *key, const char *value, const char *in_err)
{
    ks_kpa_config_t c;
    char err[KS_ERRLEN] = "";
    ks_kpa_config_defaults(&c);
    if (ks_kpa_config_set(&c, key, value, err, sizeof(err)) != KS_EINVAL)
        fail_msg("%s=%s accepted", key, value);
    if (strstr(err, in_err) == NULL)
        fail_msg("%s=%s: \"%s\" lacks \"%s\"", key, value, err, in_err);
}

static void test_config_errors(void **state)
{
    ks_kpa_config_t c;
    char err[KS_ERRLEN];

    expect_bad("window", "5s", "window");
    expect_bad("window", "2h", "window");
    expect_bad("window", "6.5s", "window");
    expect_bad("autoscaling.knative.dev/window", "soon", "window");
    expect_bad("panic-window-percentage", "0", "panic-window-percentage");
    expect_bad("panic-window-percentage", "101", "panic-window-percentage");
    expect_bad("panic-threshold-percentage", "100", "panic-threshold-percentage");
    expect_bad("target", "0", "target");
    expect_bad("target", "ten", "target");
    expect_bad("target-utilization-percentage", "0", "target-utilization-percentage");
    expect_bad("container-concurrency", "-1", "container-concurrency");
    expect_bad("container-concurrency", "1.5", "container-concurrency");
    expect_bad("max-scale-up-rate", "1", "max-scale-up-rate");
    expect_bad("max-scale-down-rate", "0.5", "max-scale-down-rate");
    expect_bad("target-burst-capacity", "-0.5", "target-burst-capacity");
    expect_bad("target-burst-capacity", "-2", "target-burst-capacity");
    expect_bad("min-scale", "-1", "min-scale");
    expect_bad("activation-scale", "0", "activation-scale");
    expect_bad("metric", "cpu", "metric");
    expect_bad("enable-scale-to-zero", "yes", "enable-scale-to-zero");
    expect_bad("scale-down-delay", "61m", "scale-down-delay");
    expect_bad("scale-to-zero-grace-period", "5s", "scale-to-zero-grace-period");
    expect_bad("no-such-key", "1", "no-such-key");

    c = CFG("target-burst-capacity", "-1");
    assert_true(c.tbc == -1);
    c = CFG("min-scale", "4", "max-scale", "3");
    assert_int_equal(ks_kpa_config_check(&c, err, sizeof(err)), KS_EINVAL);
    assert_non_null(strstr(err, "min-scale"));
    c = CFG("initial-scale", "0");
    assert_int_equal(ks_kpa_config_check(&c, err, sizeof(err)), KS_EINVAL);
    assert_non_null(strstr(err, "initial-scale"));
    c = CFG("min-scale", "3", "max-scale", "3");
    assert_int_equal(ks_kpa_config_check(&c, err, sizeof(err)), 0);
}

/* scenario 7: the bounds are applied after the decider */
static void test_bounded_scale(void **state)
{
    ks_kpa_config_t c = CFG("min-scale", "2", "max-scale", "3");
    assert_int_equal(ks_kpa_bounded_scale(&c, 0, 1, 1), 2);
    assert_int_equal(ks_kpa_bounded_scale(&c, 1, 1, 1), 2);
    assert_int_equal(ks_kpa_bounded_scale(&c, 10, 1, 1), 3);
    assert_int_equal(ks_kpa_bounded_scale(&c, 0, 0, 1), 0);  /* unreachable: minScale counts as 0 */
    c = CFG("initial-scale", "5");
    assert_int_equal(ks_kpa_bounded_scale(&c, 1, 1, 0), 5);  /* not yet reached initial-scale */
    assert_int_equal(ks_kpa_bounded_scale(&c, 1, 1, 1), 1);
    assert_int_equal(ks_kpa_bounded_scale(&c, 1, 0, 0), 1);
}

/* ---- the decider through its API ---------------------------------------------------------- */

static void test_decider_no_data_keeps_state(void **state)
{
    ks_kpa_config_t c = CFG("window", "6s", "target", "10", "target-utilization-percentage", "100");
    ks_kpa_t *k = ks_kpa_new(&c);
    ks_kpa_decision_t d;

    assert_non_null(k);
    ks_kpa_tick(k, 0, 1, 1, &d);
    assert_int_equal(d.valid, 0);
    for (int t = 1; t <= 3; ++t)
        ks_kpa_record(k, t, 100, 0);
    ks_kpa_tick(k, 3, 1, 1, &d);  /* 10 / 1 >= 2: panic */
    assert_int_equal(d.valid, 1);
    assert_int_equal(d.panic, 1);
    assert_int_equal(d.desired, 10);
    ks_kpa_tick(k, 10, 1, 1, &d); /* 7 s after the last write: no data, panic state untouched */
    assert_int_equal(d.valid, 0);
    ks_kpa_record(k, 11, 0, 0);
    ks_kpa_tick(k, 11, 1, 1, &d); /* now > panicStart + W: leaves panic */
    assert_int_equal(d.valid, 1);
    assert_int_equal(d.panic, 0);
    assert_int_equal(d.desired, 0);
    ks_kpa_free(k);
}

/* ---- scenarios as traces ------------------------------------------------------------------- */

static const char *data_dir(void)
{
    static char dir[1024];
    if (access("tests/data/autoscaler", R_OK) == 0)
        return "tests/data/autoscaler";
    snprintf(dir, sizeof(dir), "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    snprintf(slash != NULL ? slash + 1 : dir, sizeof(dir) - (size_t)(slash != NULL ? slash + 1 - dir : 0),
             "../data/autoscaler");
    return dir;
}

/* Replays NAME.jsonl and checks every NAME.expect.jsonl line against the next output line of its "t". */
static void test_trace(void **state)
{
    const char *name = *state;
    char path[1200], err[KS_ERRLEN], *outbuf = NULL, *line = NULL;
    size_t outlen = 0, cap = 0;
    FILE *in, *out, *exp;
    json_error_t jerr;
    json_t *outs = json_array();
    size_t next = 0;
    int nexp = 0;

    snprintf(path, sizeof(path), "%s/%s.jsonl", data_dir(), name);
    assert_non_null(in = fopen(path, "r"));
    assert_non_null(out = open_memstream(&outbuf, &outlen));
    if (ks_kpa_replay(in, out, err, sizeof(err)) != 0)
        fail_msg("%s: %s", path, err);
    fclose(in);
    fclose(out);
    for (char *p = outbuf, *nl; *p != '\0'; p = nl + 1) {
        json_t *o;
        assert_non_null(nl = strchr(p, '\n'));
        assert_non_null(o = json_loadb(p, (size_t)(nl - p), 0, &jerr));
        json_array_append_new(outs, o);
    }
    snprintf(path, sizeof(path), "%s/%s.expect.jsonl", data_dir(), name);
    assert_non_null(exp = fopen(path, "r"));
    while (getline(&line, &cap, exp) > 0) {
        json_t *e = json_loads(line, 0, &jerr), *o = NULL, *v;
        const char *key;
        assert_non_null(e);
        while (next < json_array_size(outs)) {
            json_t *cand = json_array_get(outs, next++);
            if (json_integer_value(json_object_get(cand, "t")) == json_integer_value(json_object_get(e, "t"))) {
                o = cand;
                break;
            }
        }
        if (o == NULL)
            fail_msg("%s: no decision for %s", name, line);
        json_object_foreach(e, key, v) {
            json_t *got = json_object_get(o, key);
            int ok;
            if (strcmp(key, "valid") == 0)
                ok = json_is_true(v) == (got == NULL || json_is_true(got));
            else
                ok = got != NULL && (json_is_number(v) ? json_is_number(got) && json_number_value(got) == json_number_value(v)
                                                       : json_equal(got, v));
            if (!ok) {
                char *s = json_dumps(o, 0);
                fail_msg("%s: expected %s got %s", name, line, s);
            }
        }
        json_decref(e);
        nexp++;
    }
    assert_true(nexp > 0);
    free(line);
    fclose(exp);
    free(outbuf);
    json_decref(outs);
}

static void expect_replay_error(const char *trace, const char *in_err)
{
    char err[KS_ERRLEN] = "", *outbuf = NULL;
    size_t outlen = 0;
    FILE *in = fmemopen((void *)trace, strlen(trace), "r"), *out = open_memstream(&outbuf, &outlen);
    assert_non_null(in);
    assert_non_null(out);
    assert_int_equal(ks_kpa_replay(in, out, err, sizeof(err)), KS_EINVAL);
    fclose(in);
    fclose(out);
    free(outbuf);
    if (strstr(err, in_err) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", err, in_err);
}

static void test_replay_errors(void **state)
{
    expect_replay_error("", "line 1");
    expect_replay_error("{\"t\": 1, \"concurrency\": 1}\n", "line 1");
    expect_replay_error("{\"config\": {\"window\": \"5s\"}}\n", "line 1: window");
    expect_replay_error("{\"config\": {\"bogus\": 1}}\n", "bogus");
    expect_replay_error("{\"config\": {}}\n{\"t\": 1, \"concurrency\": 1}\nnot json\n", "line 3");
    expect_replay_error("{\"config\": {}}\n{\"t\": 1.5, \"concurrency\": 1}\n", "line 2");
    expect_replay_error("{\"config\": {}}\n{\"t\": 1}\n", "line 2");
    expect_replay_error("{\"config\": {}}\n{\"t\": 1, \"concurrency\": -1}\n", "line 2");
    expect_replay_error("{\"config\": {}}\n{\"t\": 1, \"tick\": true}\n", "line 2");
    expect_replay_error("{\"config\": {}}\n{\"t\": 1, \"tick\": true, \"ready\": 1, \"reachable\": 1}\n", "line 2");
    expect_replay_error("{\"config\": {}}\n{\"t\": 1, \"tick\": true, \"ready\": 1, \"x\": 1}\n", "line 2");
    expect_replay_error("{\"config\": {\"min-scale\": 3, \"max-scale\": 2}}\n", "min-scale");
    expect_replay_error("{\"config\": {}}\n{\"t\": 9000000000000000000, \"concurrency\": 1}\n", "line 2");
    expect_replay_error("{\"config\": {}}\n{\"t\": 1, \"concurrency\": 1e300}\n", "line 2");
    expect_replay_error("{\"config\": {\"window\": [1]}}\n", "window");
}

static void test_replay_output_format(void **state)
{
    const char *trace = "{\"config\": {\"window\": 6}}\n\n{\"t\": 1, \"concurrency\": 1}\n{\"t\": 2, \"concurrency\": 1}\n"
                        "{\"t\": 3, \"concurrency\": 0.1}\n{\"t\": 3, \"tick\": true, \"ready\": 1}\n";
    char err[KS_ERRLEN], *outbuf = NULL;
    size_t outlen = 0;
    FILE *in = fmemopen((void *)trace, strlen(trace), "r"), *out = open_memstream(&outbuf, &outlen);
    assert_int_equal(ks_kpa_replay(in, out, err, sizeof(err)), 0);
    fclose(in);
    fclose(out);
    /* (1 + 1 + 0.1) / 3 = 0.7 after rounding; PW 1 s: 0.1 */
    assert_string_equal(outbuf, "{\"t\": 3, \"desired\": 1, \"panic\": false, \"stable\": 0.7, \"panic_avg\": 0.1, "
                                "\"ebc\": -112}\n");
    free(outbuf);
}

#define TRACE(name) cmocka_unit_test_prestate(test_trace, (void *)name)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_worked_example),
        cmocka_unit_test(test_window_writes),
        cmocka_unit_test(test_panic_window_rounding),
        cmocka_unit_test(test_round6),
        cmocka_unit_test(test_target),
        cmocka_unit_test(test_config_defaults_and_durations),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_bounded_scale),
        cmocka_unit_test(test_decider_no_data_keeps_state),
        cmocka_unit_test(test_replay_errors),
        cmocka_unit_test(test_replay_output_format),
        TRACE("window_example"),
        TRACE("window_two_values"),
        TRACE("no_data"),
        TRACE("no_data_tbc_minus_1"),
        TRACE("unreachable"),
        TRACE("s01_steady"),
        TRACE("s02_target10"),
        TRACE("s03_panic"),
        TRACE("s03_boundary_75"),
        TRACE("s03_boundary_70"),
        TRACE("s04_panic_holds"),
        TRACE("s04_panic_holds_rate2"),
        TRACE("s05_scale_up_rate"),
        TRACE("s05_scale_up_rate_1_1"),
        TRACE("s06_scale_down"),
        TRACE("s07_bounds"),
        TRACE("s08_activation_scale"),
        TRACE("s09_rps"),
        TRACE("s10_scale_down_delay"),
        TRACE("s11_ebc"),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
