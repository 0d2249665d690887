/*
 * ServingRuntime selection (src/reconciler/runtime_select.c): the built-in
 * ClusterServingRuntimes and runtimes built here as JSON, against KServe's
 * rules (docs: /work/shared/spec/platform.md, "ServingRuntime / ClusterServingRuntime").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ks/reconciler.h"

static char E[KS_ERRLEN];
static const char *R;

/* ---- helpers --------------------------------------------------------------------- */

/*
 * A runtime: kind, name, formats as JSON text (the supportedModelFormats
 * array), protocols as JSON text (NULL: no protocolVersions), disabled.
 */
static json_t *rt(const char *kind, const char *name, const char *formats, const char *protocols, int disabled)
{
    json_t *f = json_loads(formats, 0, NULL), *spec, *o;
    assert_non_null(f);
    spec = json_pack("{s:o, s:[{s:s, s:[s,s]}]}", "supportedModelFormats", f, "containers", "name", "kserve-container",
                     "command", "kserve", "model-server");
    if (protocols != NULL) {
        json_t *p = json_loads(protocols, 0, NULL);
        assert_non_null(p);
        json_object_set_new(spec, "protocolVersions", p);
    }
    if (disabled)
        json_object_set_new(spec, "disabled", json_true());
    o = json_pack("{s:s, s:s, s:{s:s}, s:o}", "apiVersion", "serving.kserve.io/v1alpha1", "kind", kind, "metadata",
                  "name", name, "spec", spec);
    assert_non_null(o);
    return o;
}

static json_t *crt(const char *name, const char *formats, const char *protocols, int disabled)
{
    return rt("ClusterServingRuntime", name, formats, protocols, disabled);
}

static json_t *srt(const char *name, const char *formats, const char *protocols, int disabled)
{
    return rt("ServingRuntime", name, formats, protocols, disabled);
}

/* an array of the given runtimes (references stolen), NULL terminated */
static json_t *list(json_t *first, ...)
{
    json_t *a = json_array(), *x;
    va_list ap;
    va_start(ap, first);
    for (x = first; x != NULL; x = va_arg(ap, json_t *))
        json_array_append_new(a, x);
    va_end(ap);
    return a;
}

/* predictor.model: format (NULL: none), version, runtime, protocolVersion (NULL: absent) */
static json_t *model(const char *format, const char *version, const char *runtime, const char *protocol)
{
    json_t *m = json_pack("{s:s}", "storageUri", "file:///tmp/model"), *f = json_object();
    if (format != NULL)
        json_object_set_new(f, "name", json_string(format));
    if (version != NULL)
        json_object_set_new(f, "version", json_string(version));
    json_object_set_new(m, "modelFormat", f);
    if (runtime != NULL)
        json_object_set_new(m, "runtime", json_string(runtime));
    if (protocol != NULL)
        json_object_set_new(m, "protocolVersion", json_string(protocol));
    return m;
}

static const char *name_of(json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
}

/* selects for m (consumed) and returns the chosen name, or NULL (R and E then say why) */
static const char *pick(json_t *m, json_t *ns_rts, json_t *cluster_rts)
{
    json_t *c;
    R = NULL;
    memset(E, 0, sizeof(E));
    c = ks_select_runtime(m, ns_rts, cluster_rts, &R, E, sizeof(E));
    json_decref(m);
    if (c == NULL) {
        assert_non_null(R);
        assert_true(E[0] != '\0');
        return NULL;
    }
    /* the chosen runtime is one of the arrays' own elements */
    int found = 0;
    size_t i;
    json_t *x;
    json_array_foreach(ns_rts, i, x) found |= x == c;
    json_array_foreach(cluster_rts, i, x) found |= x == c;
    assert_true(found);
    return name_of(c);
}

#define AUTO(n, prio) "{\"name\":\"" n "\",\"autoSelect\":true,\"priority\":" #prio "}"
#define AUTOV(n, v, prio) "{\"name\":\"" n "\",\"version\":\"" v "\",\"autoSelect\":true,\"priority\":" #prio "}"

/* ---- built-ins ------------------------------------------------------------------------ */

static void builtins_are_listed(void **state)
{
    (void)state;
    json_t *b = ks_builtin_runtimes(), *x;
    size_t i;
    int sk = 0, xgb = 0;
    assert_true(json_is_array(b));
    json_array_foreach(b, i, x)
    {
        assert_string_equal(json_string_value(json_object_get(x, "kind")), "ClusterServingRuntime");
        assert_true(json_array_size(json_object_get(json_object_get(x, "spec"), "containers")) > 0);
        assert_true(json_is_string(json_object_get(json_object_get(x, "metadata"), "creationTimestamp")));
        if (strcmp(name_of(x), "kserve-sklearnserver") == 0)
            sk++;
        if (strcmp(name_of(x), "kserve-xgbserver") == 0)
            xgb++;
    }
    assert_int_equal(sk, 1);
    assert_int_equal(xgb, 1);
    json_decref(b);
}

static void builtins_select_by_format(void **state)
{
    (void)state;
    json_t *b = ks_builtin_runtimes(), *none = json_array();

    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), none, b), "kserve-sklearnserver");
    assert_string_equal(pick(model("xgboost", NULL, NULL, NULL), none, b), "kserve-xgbserver");
    /* the version they list, and both protocols */
    assert_string_equal(pick(model("sklearn", "1", NULL, NULL), none, b), "kserve-sklearnserver");
    assert_string_equal(pick(model("xgboost", "1", NULL, "v1"), none, b), "kserve-xgbserver");
    assert_string_equal(pick(model("sklearn", NULL, NULL, "v2"), none, b), "kserve-sklearnserver");
    assert_string_equal(pick(model("xgboost", NULL, NULL, "v2"), none, b), "kserve-xgbserver");
    /* named */
    assert_string_equal(pick(model("sklearn", NULL, "kserve-sklearnserver", NULL), none, b), "kserve-sklearnserver");
    /* NULL namespace list */
    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), NULL, b), "kserve-sklearnserver");

    json_decref(none);
    json_decref(b);
}

static void builtins_reject_what_they_do_not_serve(void **state)
{
    (void)state;
    json_t *b = ks_builtin_runtimes();

    assert_null(pick(model("onnx", NULL, NULL, NULL), NULL, b));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_non_null(strstr(E, "onnx"));
    /* a version they do not list */
    assert_null(pick(model("sklearn", "2", NULL, NULL), NULL, b));
    assert_string_equal(R, "NoSupportingRuntime");
    /* a protocol they do not speak */
    assert_null(pick(model("sklearn", NULL, NULL, "grpc-v2"), NULL, b));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_non_null(strstr(E, "grpc-v2"));
    /* the sklearn server named for an xgboost model */
    assert_null(pick(model("xgboost", NULL, "kserve-sklearnserver", NULL), NULL, b));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_non_null(strstr(E, "kserve-sklearnserver"));
    assert_non_null(strstr(E, "xgboost"));
    json_decref(b);
}

/* ---- format versions ----------------------------------------------------------------------- */

static void format_version_must_match(void **state)
{
    (void)state;
    json_t *c = list(crt("sk-v1", "[" AUTOV("sklearn", "1", 1) "]", NULL, 0),
                     crt("sk-v2", "[" AUTOV("sklearn", "2", 1) "]", NULL, 0), NULL);

    assert_string_equal(pick(model("sklearn", "1", NULL, NULL), NULL, c), "sk-v1");
    assert_string_equal(pick(model("sklearn", "2", NULL, NULL), NULL, c), "sk-v2");
    assert_null(pick(model("sklearn", "3", NULL, NULL), NULL, c));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_non_null(strstr(E, "sklearn"));
    assert_non_null(strstr(E, "3"));
    /* no version asked: any runtime of the format */
    assert_non_null(pick(model("sklearn", NULL, NULL, NULL), NULL, c));
    /* named runtime with the wrong version */
    assert_null(pick(model("sklearn", "2", "sk-v1", NULL), NULL, c));
    assert_string_equal(R, "NoSupportingRuntime");
    json_decref(c);
}

static void format_version_picks_the_matching_entry_of_one_runtime(void **state)
{
    (void)state;
    /* one runtime listing two versions of a format, with different priorities */
    json_t *c = list(crt("multi", "[" AUTOV("tensorflow", "1", 1) "," AUTOV("tensorflow", "2", 5) "]", NULL, 0),
                     crt("tf2-only", "[" AUTOV("tensorflow", "2", 3) "]", NULL, 0), NULL);
    /* version 2: multi's entry for 2 has priority 5 > 3 */
    assert_string_equal(pick(model("tensorflow", "2", NULL, NULL), NULL, c), "multi");
    assert_string_equal(pick(model("tensorflow", "1", NULL, NULL), NULL, c), "multi");
    json_decref(c);
}

static void format_name_must_match_exactly(void **state)
{
    (void)state;
    json_t *c = list(crt("sk", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    assert_null(pick(model("sklearn2", NULL, NULL, NULL), NULL, c));
    assert_null(pick(model("sklear", NULL, NULL, NULL), NULL, c));
    assert_string_equal(R, "NoSupportingRuntime");
    json_decref(c);
}

/* ---- protocols -------------------------------------------------------------------------------- */

static void protocol_v2_needs_a_runtime_that_lists_it(void **state)
{
    (void)state;
    json_t *only_v1 = list(crt("v1-only", "[" AUTO("sklearn", 9) "]", "[\"v1\"]", 0), NULL);
    json_t *both = list(crt("v1-only", "[" AUTO("sklearn", 9) "]", "[\"v1\"]", 0),
                        crt("v2-too", "[" AUTO("sklearn", 1) "]", "[\"v1\",\"v2\"]", 0), NULL);

    assert_null(pick(model("sklearn", NULL, NULL, "v2"), NULL, only_v1));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_non_null(strstr(E, "sklearn"));
    assert_non_null(strstr(E, "v2"));
    assert_string_equal(pick(model("sklearn", NULL, NULL, "v1"), NULL, only_v1), "v1-only");
    /* no protocolVersion: v1 */
    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), NULL, only_v1), "v1-only");

    /* v2: the only v2 runtime, despite its lower priority; v1: the higher priority */
    assert_string_equal(pick(model("sklearn", NULL, NULL, "v2"), NULL, both), "v2-too");
    assert_string_equal(pick(model("sklearn", NULL, NULL, "v1"), NULL, both), "v1-only");

    /* named, but it does not speak the protocol */
    assert_null(pick(model("sklearn", NULL, "v1-only", "v2"), NULL, both));
    assert_string_equal(R, "NoSupportingRuntime");
    json_decref(only_v1);
    json_decref(both);
}

static void protocol_grpc_v2(void **state)
{
    (void)state;
    json_t *c = list(crt("http", "[" AUTO("triton", 5) "]", "[\"v2\"]", 0),
                     crt("grpc", "[" AUTO("triton", 1) "]", "[\"v2\",\"grpc-v2\"]", 0), NULL);
    assert_string_equal(pick(model("triton", NULL, NULL, "grpc-v2"), NULL, c), "grpc");
    assert_string_equal(pick(model("triton", NULL, NULL, "v2"), NULL, c), "http");
    assert_null(pick(model("triton", NULL, NULL, "v1"), NULL, c));
    json_decref(c);
}

/* ---- autoSelect, disabled, named ---------------------------------------------------------------- */

static void auto_select_false_is_skipped_unless_named(void **state)
{
    (void)state;
    json_t *c = list(crt("manual", "[{\"name\":\"sklearn\",\"autoSelect\":false,\"priority\":9}]", NULL, 0),
                     crt("absent", "[{\"name\":\"sklearn\"}]", NULL, 0), NULL);
    json_t *with_auto = list(crt("manual", "[{\"name\":\"sklearn\",\"autoSelect\":false,\"priority\":9}]", NULL, 0),
                             crt("auto", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);

    assert_null(pick(model("sklearn", NULL, NULL, NULL), NULL, c));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_string_equal(pick(model("sklearn", NULL, "manual", NULL), NULL, c), "manual");
    assert_string_equal(pick(model("sklearn", NULL, "absent", NULL), NULL, c), "absent");
    /* the autoSelect one wins over a higher-priority manual one */
    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), NULL, with_auto), "auto");
    json_decref(c);
    json_decref(with_auto);
}

static void disabled_is_skipped(void **state)
{
    (void)state;
    json_t *c =
        list(crt("off", "[" AUTO("sklearn", 9) "]", NULL, 1), crt("on", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    json_t *only_off = list(crt("off", "[" AUTO("sklearn", 9) "]", NULL, 1), NULL);
    json_t *ns = list(srt("ns-off", "[" AUTO("sklearn", 1) "]", NULL, 1), NULL);

    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), NULL, c), "on");
    assert_null(pick(model("sklearn", NULL, NULL, NULL), NULL, only_off));
    assert_string_equal(R, "NoSupportingRuntime");
    /* a disabled namespace runtime does not hide the cluster ones */
    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), ns, c), "on");
    json_decref(c);
    json_decref(only_off);
    json_decref(ns);
}

static void named_disabled_is_runtime_disabled(void **state)
{
    (void)state;
    json_t *c =
        list(crt("off", "[" AUTO("sklearn", 9) "]", NULL, 1), crt("on", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    json_t *ns = list(srt("ns-off", "[" AUTO("sklearn", 1) "]", NULL, 1), NULL);

    assert_null(pick(model("sklearn", NULL, "off", NULL), NULL, c));
    assert_string_equal(R, "RuntimeDisabled");
    assert_non_null(strstr(E, "off"));
    assert_non_null(strstr(E, "disabled"));
    /* disabled wins over "does not support": a disabled runtime is not looked at further */
    assert_null(pick(model("onnx", NULL, "off", NULL), NULL, c));
    assert_string_equal(R, "RuntimeDisabled");
    assert_null(pick(model("sklearn", NULL, "ns-off", NULL), ns, c));
    assert_string_equal(R, "RuntimeDisabled");
    json_decref(c);
    json_decref(ns);
}

static void named_unknown_is_not_recognized(void **state)
{
    (void)state;
    json_t *c = list(crt("sk", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    json_t *ns = list(srt("ns-sk", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    assert_null(pick(model("sklearn", NULL, "no-such-runtime", NULL), ns, c));
    assert_string_equal(R, "RuntimeNotRecognized");
    assert_non_null(strstr(E, "no-such-runtime"));
    /* nothing at all */
    assert_null(pick(model("sklearn", NULL, "no-such-runtime", NULL), NULL, NULL));
    assert_string_equal(R, "RuntimeNotRecognized");
    /* a prefix is not a name */
    assert_null(pick(model("sklearn", NULL, "s", NULL), ns, c));
    assert_string_equal(R, "RuntimeNotRecognized");
    json_decref(c);
    json_decref(ns);
}

static void named_but_unsupported_format(void **state)
{
    (void)state;
    json_t *c =
        list(crt("sk", "[" AUTO("sklearn", 1) "]", NULL, 0), crt("xgb", "[" AUTO("xgboost", 1) "]", NULL, 0), NULL);
    assert_null(pick(model("xgboost", NULL, "sk", NULL), NULL, c));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_non_null(strstr(E, "sk"));
    assert_non_null(strstr(E, "xgboost"));
    json_decref(c);
}

static void named_is_used_even_if_another_has_higher_priority(void **state)
{
    (void)state;
    json_t *c =
        list(crt("high", "[" AUTO("sklearn", 100) "]", NULL, 0), crt("low", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    assert_string_equal(pick(model("sklearn", NULL, "low", NULL), NULL, c), "low");
    json_decref(c);
}

static void named_namespace_runtime_before_cluster_runtime_of_the_same_name(void **state)
{
    (void)state;
    json_t *ns = list(srt("same", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    json_t *c = list(crt("same", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    json_t *chosen;
    R = NULL;
    json_t *m = model("sklearn", NULL, "same", NULL);
    chosen = ks_select_runtime(m, ns, c, &R, E, sizeof(E));
    json_decref(m);
    assert_ptr_equal(chosen, json_array_get(ns, 0));
    json_decref(ns);
    json_decref(c);
}

/* ---- namespace vs cluster, priority ---------------------------------------------------------------- */

static void namespace_runtime_beats_higher_priority_cluster_runtime(void **state)
{
    (void)state;
    json_t *ns = list(srt("ns-low", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    json_t *c = list(crt("cluster-high", "[" AUTO("sklearn", 100) "]", NULL, 0), NULL);
    json_t *ns_other = list(srt("ns-xgb", "[" AUTO("xgboost", 1) "]", NULL, 0), NULL);

    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), ns, c), "ns-low");
    /* a namespace runtime that does not fit leaves the choice to the cluster ones */
    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), ns_other, c), "cluster-high");
    json_decref(ns);
    json_decref(c);
    json_decref(ns_other);
}

static void higher_priority_wins_in_either_order(void **state)
{
    (void)state;
    json_t *a = list(crt("p1", "[" AUTO("sklearn", 1) "]", NULL, 0), crt("p5", "[" AUTO("sklearn", 5) "]", NULL, 0),
                     crt("p3", "[" AUTO("sklearn", 3) "]", NULL, 0), NULL);
    json_t *b = list(crt("p5", "[" AUTO("sklearn", 5) "]", NULL, 0), crt("p3", "[" AUTO("sklearn", 3) "]", NULL, 0),
                     crt("p1", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    json_t *ns =
        list(srt("n2", "[" AUTO("sklearn", 2) "]", NULL, 0), srt("n7", "[" AUTO("sklearn", 7) "]", NULL, 0), NULL);

    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), NULL, a), "p5");
    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), NULL, b), "p5");
    /* among namespace runtimes too */
    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), ns, a), "n7");
    json_decref(a);
    json_decref(b);
    json_decref(ns);
}

static void priority_is_per_format(void **state)
{
    (void)state;
    /* "multi" is preferred for xgboost, "sk" for sklearn */
    json_t *c =
        list(crt("multi", "[" AUTO("sklearn", 1) "," AUTO("xgboost", 9) "]", NULL, 0),
             crt("sk", "[" AUTO("sklearn", 5) "]", NULL, 0), crt("xgb", "[" AUTO("xgboost", 2) "]", NULL, 0), NULL);
    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), NULL, c), "sk");
    assert_string_equal(pick(model("xgboost", NULL, NULL, NULL), NULL, c), "multi");
    json_decref(c);
}

/* ---- KServe compatibility (pkg/apis/serving/v1beta1/predictor_model.go, v1alpha1 servingruntime_types.go) -------- */

/*
 * KServe matches format labels: a model asking for "mt:sklearn:1" needs a
 * runtime entry that declares version "1"; an entry without a version only
 * yields "mt:sklearn", which serves models that ask for no version.
 */
static void versioned_model_needs_a_runtime_declaring_that_version(void **state)
{
    (void)state;
    json_t *c = list(crt("unversioned", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL);
    const char *got;
    int chosen;
    assert_string_equal(pick(model("sklearn", NULL, NULL, NULL), NULL, c), "unversioned");
    got = pick(model("sklearn", "1", NULL, NULL), NULL, c);
    if ((chosen = got != NULL))
        fprintf(stderr, "a model asking for sklearn version 1 got %s, whose sklearn entry has no version\n", got);
    json_decref(c); /* before asserting: nothing leaks when it fails */
    assert_false(chosen);
    assert_string_equal(R, "NoSupportingRuntime");
}

/*
 * KServe's IsProtocolVersionSupported: a runtime that lists no
 * protocolVersions supports every protocol, so a KServe ServingRuntime
 * without the field serves a protocolVersion: v2 model.
 */
static void runtime_without_protocol_versions_supports_any_protocol(void **state)
{
    (void)state;
    json_t *c = list(crt("custom", "[" AUTO("custom-format", 1) "]", NULL, 0), NULL);
    int chosen;
    assert_string_equal(pick(model("custom-format", NULL, NULL, NULL), NULL, c), "custom");
    assert_string_equal(pick(model("custom-format", NULL, NULL, "v1"), NULL, c), "custom");
    chosen = pick(model("custom-format", NULL, NULL, "v2"), NULL, c) != NULL;
    if (!chosen)
        fprintf(stderr, "protocolVersion v2 with a runtime listing no protocolVersions: %s: %s\n", R, E);
    json_decref(c);
    assert_true(chosen);
}

/* ---- invalid input and nothing found ------------------------------------------------------------------ */

static void no_format_is_invalid_predictor_spec(void **state)
{
    (void)state;
    json_t *b = ks_builtin_runtimes(), *m;

    assert_null(pick(model(NULL, NULL, NULL, NULL), NULL, b));
    assert_string_equal(R, "InvalidPredictorSpec");
    assert_non_null(strstr(E, "modelFormat"));
    /* no modelFormat object at all, even with a runtime named */
    m = json_pack("{s:s, s:s}", "storageUri", "file:///m", "runtime", "kserve-sklearnserver");
    assert_null(pick(m, NULL, b));
    assert_string_equal(R, "InvalidPredictorSpec");
    /* a non-string name */
    m = json_pack("{s:{s:i}}", "modelFormat", "name", 5);
    assert_null(pick(m, NULL, b));
    assert_string_equal(R, "InvalidPredictorSpec");
    json_decref(b);
}

static void nothing_matches_names_the_format(void **state)
{
    (void)state;
    json_t *c = list(crt("sk", "[" AUTO("sklearn", 1) "]", NULL, 0), NULL), *empty = json_array();

    assert_null(pick(model("lightgbm", NULL, NULL, NULL), NULL, c));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_non_null(strstr(E, "lightgbm"));
    assert_null(pick(model("lightgbm", "4", NULL, NULL), empty, empty));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_non_null(strstr(E, "lightgbm"));
    assert_non_null(strstr(E, "version 4"));
    assert_null(pick(model("sklearn", NULL, NULL, NULL), NULL, NULL));
    assert_string_equal(R, "NoSupportingRuntime");
    assert_non_null(strstr(E, "sklearn"));
    json_decref(c);
    json_decref(empty);
}

static void malformed_runtimes_are_not_chosen(void **state)
{
    (void)state;
    /* runtimes without spec, without formats, formats that are not objects, no metadata */
    json_t *c = json_array(), *m;
    json_array_append_new(c,
                          json_pack("{s:s, s:{s:s}}", "kind", "ClusterServingRuntime", "metadata", "name", "nospec"));
    json_array_append_new(c, json_pack("{s:{s:s}, s:{}}", "metadata", "name", "noformats", "spec"));
    json_array_append_new(c, json_pack("{s:{s:s}, s:{s:[s, i]}}", "metadata", "name", "badformats", "spec",
                                       "supportedModelFormats", "sklearn", 3));
    json_array_append_new(
        c, json_pack("{s:{s:[{s:s, s:b}]}}", "spec", "supportedModelFormats", "name", "sklearn", "autoSelect", 1));
    assert_null(pick(model("onnx", NULL, NULL, NULL), NULL, c));
    assert_string_equal(R, "NoSupportingRuntime");
    /* the nameless one can be chosen by format (it supports sklearn) but never by name */
    m = model("sklearn", NULL, "", NULL);
    R = NULL;
    json_t *chosen = ks_select_runtime(m, NULL, c, &R, E, sizeof(E));
    json_decref(m);
    (void)chosen; /* either answer is acceptable; it must simply not crash */
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtins_are_listed),
        cmocka_unit_test(builtins_select_by_format),
        cmocka_unit_test(builtins_reject_what_they_do_not_serve),
        cmocka_unit_test(format_version_must_match),
        cmocka_unit_test(format_version_picks_the_matching_entry_of_one_runtime),
        cmocka_unit_test(format_name_must_match_exactly),
        cmocka_unit_test(protocol_v2_needs_a_runtime_that_lists_it),
        cmocka_unit_test(protocol_grpc_v2),
        cmocka_unit_test(auto_select_false_is_skipped_unless_named),
        cmocka_unit_test(disabled_is_skipped),
        cmocka_unit_test(named_disabled_is_runtime_disabled),
        cmocka_unit_test(named_unknown_is_not_recognized),
        cmocka_unit_test(named_but_unsupported_format),
        cmocka_unit_test(named_is_used_even_if_another_has_higher_priority),
        cmocka_unit_test(named_namespace_runtime_before_cluster_runtime_of_the_same_name),
        cmocka_unit_test(namespace_runtime_beats_higher_priority_cluster_runtime),
        cmocka_unit_test(higher_priority_wins_in_either_order),
        cmocka_unit_test(priority_is_per_format),
        cmocka_unit_test(versioned_model_needs_a_runtime_declaring_that_version),
        cmocka_unit_test(runtime_without_protocol_versions_supports_any_protocol),
        cmocka_unit_test(no_format_is_invalid_predictor_spec),
        cmocka_unit_test(nothing_matches_names_the_format),
        cmocka_unit_test(malformed_runtimes_are_not_chosen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
