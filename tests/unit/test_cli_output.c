/*
 * The command line's pure pieces (src/cli/output.c, src/cli/kinds.c): AGE,
 * durations, tables, traffic columns, label selectors, API paths, YAML.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ks/cli.h"
#include "ks/resource.h"

/* ---- AGE ------------------------------------------------------------------------------ */

static const char *age(int64_t s)
{
    static char buf[32];
    ks_cli_age(buf, sizeof(buf), s);
    return buf;
}

static void age_matches_kubectl(void **state)
{
    (void)state;
    assert_string_equal(age(-5), "<invalid>");
    assert_string_equal(age(-1), "0s"); /* clock skew of a second is "now" */
    assert_string_equal(age(0), "0s");
    assert_string_equal(age(45), "45s");
    assert_string_equal(age(119), "119s"); /* seconds up to two minutes */
    assert_string_equal(age(120), "2m");
    assert_string_equal(age(192), "3m12s");
    assert_string_equal(age(599), "9m59s");
    assert_string_equal(age(600), "10m"); /* minutes only from ten on */
    assert_string_equal(age(179 * 60 + 59), "179m");
    assert_string_equal(age(3 * 3600), "3h");
    assert_string_equal(age(5 * 3600 + 30 * 60), "5h30m");
    assert_string_equal(age(5 * 3600), "5h");
    assert_string_equal(age(8 * 3600 + 59 * 60), "8h"); /* hours only from eight on */
    assert_string_equal(age(47 * 3600), "47h");
    assert_string_equal(age(48 * 3600), "2d");
    assert_string_equal(age(51 * 3600), "2d3h");
    assert_string_equal(age(8 * 86400 + 3600), "8d");
    assert_string_equal(age(400 * 86400), "400d");
    assert_string_equal(age(730 * 86400), "2y");
    assert_string_equal(age(800 * 86400), "2y70d");
    assert_string_equal(age(9 * 365 * 86400), "9y");
}

static void age_since_reads_rfc3339(void **state)
{
    char buf[32];
    time_t t0;
    (void)state;
    assert_int_equal(ks_cli_parse_time("2026-01-02T03:04:05Z", &t0), 0);
    assert_true(t0 == (time_t)1767323045);
    ks_cli_age_since(buf, sizeof(buf), "2026-01-02T03:04:05Z", t0 + 192);
    assert_string_equal(buf, "3m12s");
    ks_cli_age_since(buf, sizeof(buf), "2026-01-02T03:04:05.123456Z", t0 + 45);
    assert_string_equal(buf, "45s");
    /* an offset: 05:04:05+02:00 is 03:04:05Z */
    ks_cli_age_since(buf, sizeof(buf), "2026-01-02T05:04:05+02:00", t0 + 2 * 86400);
    assert_string_equal(buf, "2d");
    ks_cli_age_since(buf, sizeof(buf), NULL, t0);
    assert_string_equal(buf, "<unknown>");
    ks_cli_age_since(buf, sizeof(buf), "yesterday", t0);
    assert_string_equal(buf, "<unknown>");
    ks_cli_age_since(buf, sizeof(buf), "2026-01-02T03:04:05", t0); /* no zone */
    assert_string_equal(buf, "<unknown>");
}

/* ---- durations ----------------------------------------------------------------------------- */

static int64_t dur(const char *s)
{
    char err[128];
    int64_t ms = -42;
    int r = ks_cli_parse_duration(s, &ms, err, sizeof(err));
    return r == 0 ? ms : -1;
}

static void durations_parse_like_go(void **state)
{
    char err[128];
    int64_t ms;
    (void)state;
    assert_int_equal(dur("500ms"), 500);
    assert_int_equal(dur("30s"), 30000);
    assert_int_equal(dur("2m"), 120000);
    assert_int_equal(dur("1h"), 3600000);
    assert_int_equal(dur("1m30s"), 90000);
    assert_int_equal(dur("1h2m3s4ms"), 3723004);
    assert_int_equal(dur("1.5s"), 1500);
    assert_int_equal(dur(".5m"), 30000);
    assert_int_equal(dur("0"), 0);
    assert_int_equal(dur("0s"), 0);
    assert_int_equal(dur("+10s"), 10000);
    assert_int_equal(dur("1500us"), 2); /* rounded to milliseconds */
    assert_int_equal(dur(""), -1);
    assert_int_equal(dur("s"), -1);
    assert_int_equal(dur("10x"), -1);
    assert_int_equal(dur("-1s"), -1);
    assert_int_equal(dur("1e3s"), -1);
    assert_int_equal(dur("ten seconds"), -1);
    assert_int_equal(dur("0x10s"), -1);
    assert_int_equal(dur("1..5s"), -1);
    assert_int_equal(dur("."), -1);
    /* a bare number says what is missing */
    assert_int_equal(ks_cli_parse_duration("30", &ms, err, sizeof(err)), KS_EINVAL);
    assert_non_null(strstr(err, "\"30\""));
    assert_non_null(strstr(err, "missing unit"));
    assert_int_equal(ks_cli_parse_duration("5d", &ms, err, sizeof(err)), KS_EINVAL);
    assert_non_null(strstr(err, "unknown unit"));
}

/* ---- tables --------------------------------------------------------------------------------- */

static char *render(ks_cli_table_t *t, const char *indent, size_t minwidth, size_t padding)
{
    ks_buf_t b;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_cli_table_render(t, &b, indent, minwidth, padding), 0);
    assert_int_equal(ks_buf_putc(&b, '\0'), 0);
    return b.base;
}

static void table_pads_like_tabwriter(void **state)
{
    ks_cli_table_t t;
    char *out;
    (void)state;
    ks_cli_table_init(&t, 3);
    assert_int_equal(ks_cli_table_rowv(&t, "NAME", "READY", "AGE"), 0);
    assert_int_equal(ks_cli_table_rowv(&t, "sklearn-iris", "True", "5m"), 0);
    assert_int_equal(ks_cli_table_rowv(&t, "x", NULL, "45s"), 0);
    /* kubectl get: widest cell + 3, at least 6; the last column is not padded */
    out = render(&t, NULL, 6, 3);
    assert_string_equal(out, "NAME           READY   AGE\n"
                             "sklearn-iris   True    5m\n"
                             "x                      45s\n");
    free(out);
    /* kubectl describe: padding 2, no minimum, an indent */
    out = render(&t, "  ", 0, 2);
    assert_string_equal(out, "  NAME          READY  AGE\n"
                             "  sklearn-iris  True   5m\n"
                             "  x                    45s\n");
    free(out);
    ks_cli_table_free(&t);
}

static void table_minwidth_and_trailing_blanks(void **state)
{
    ks_cli_table_t t;
    char *out;
    (void)state;
    ks_cli_table_init(&t, 3);
    ks_cli_table_rowv(&t, "A", "B", "C");
    ks_cli_table_rowv(&t, "a", "", "");
    out = render(&t, NULL, 6, 3);
    /* narrow columns are 6 wide; a row ending in empty cells has no trailing spaces */
    assert_string_equal(out, "A     B     C\n"
                             "a\n");
    free(out);
    ks_cli_table_free(&t);
}

static void table_counts_utf8_as_columns(void **state)
{
    ks_cli_table_t t;
    char *out;
    (void)state;
    ks_cli_table_init(&t, 2);
    ks_cli_table_rowv(&t, "h\xc3\xa9", "x"); /* "hé": two columns, three bytes */
    ks_cli_table_rowv(&t, "abc", "y");
    out = render(&t, NULL, 0, 1);
    assert_string_equal(out, "h\xc3\xa9  x\n"
                             "abc y\n");
    free(out);
    ks_cli_table_free(&t);
}

static void table_empty_renders_nothing(void **state)
{
    ks_cli_table_t t;
    char *out;
    (void)state;
    ks_cli_table_init(&t, 4);
    out = render(&t, NULL, 6, 3);
    assert_string_equal(out, "");
    free(out);
    ks_cli_table_free(&t);
}

/* ---- traffic columns -------------------------------------------------------------------------- */

static void traffic_single_revision(void **state)
{
    ks_cli_traffic_t t;
    json_t *isvc = json_loads("{\"status\":{\"components\":{\"predictor\":{\"traffic\":[{\"revisionName\":"
                              "\"iris-predictor-00001\",\"percent\":100,\"latestRevision\":true}]}}}}",
                              0, NULL);
    (void)state;
    assert_non_null(isvc);
    ks_cli_traffic(isvc, &t);
    assert_string_equal(t.prev, "");
    assert_string_equal(t.latest, "100");
    assert_string_equal(t.prev_revision, "");
    assert_string_equal(t.latest_revision, "iris-predictor-00001");
    json_decref(isvc);
}

static void traffic_canary(void **state)
{
    ks_cli_traffic_t t;
    json_t *isvc = json_loads(
        "{\"status\":{\"components\":{\"predictor\":{\"traffic\":["
        "{\"revisionName\":\"iris-predictor-00002\",\"percent\":10,\"latestRevision\":true,\"tag\":\"latest\"},"
        "{\"revisionName\":\"iris-predictor-00001\",\"percent\":90,\"latestRevision\":false,\"tag\":\"prev\"}]}}}}",
        0, NULL);
    (void)state;
    ks_cli_traffic(isvc, &t);
    assert_string_equal(t.prev, "90");
    assert_string_equal(t.latest, "10");
    assert_string_equal(t.prev_revision, "iris-predictor-00001");
    assert_string_equal(t.latest_revision, "iris-predictor-00002");
    json_decref(isvc);
}

static void traffic_prev_by_rolledout_name(void **state)
{
    ks_cli_traffic_t t;
    /* no tags: the previous one is the entry naming previousRolledoutRevision */
    json_t *isvc = json_loads("{\"status\":{\"components\":{\"predictor\":{"
                              "\"previousRolledoutRevision\":\"a-predictor-00001\",\"traffic\":["
                              "{\"revisionName\":\"a-predictor-00001\",\"percent\":75},"
                              "{\"revisionName\":\"a-predictor-00002\",\"percent\":25,\"latestRevision\":true}]}}}}",
                              0, NULL);
    (void)state;
    ks_cli_traffic(isvc, &t);
    assert_string_equal(t.prev, "75");
    assert_string_equal(t.latest, "25");
    assert_string_equal(t.prev_revision, "a-predictor-00001");
    json_decref(isvc);
}

static void traffic_unknown_is_empty(void **state)
{
    ks_cli_traffic_t t;
    json_t *isvc = json_loads("{\"metadata\":{\"name\":\"x\"}}", 0, NULL);
    (void)state;
    ks_cli_traffic(isvc, &t);
    assert_string_equal(t.prev, "");
    assert_string_equal(t.latest, "");
    assert_string_equal(t.latest_revision, "");
    ks_cli_traffic(NULL, &t);
    assert_string_equal(t.latest, "");
    json_decref(isvc);
}

/* ---- selectors, paths, kinds ------------------------------------------------------------------- */

static void label_selector_is_encoded(void **state)
{
    char buf[128];
    (void)state;
    assert_int_equal(ks_cli_label_selector(buf, sizeof(buf), "serving.kserve.io/inferenceservice", "sklearn-iris"), 0);
    assert_string_equal(buf, "labelSelector=serving.kserve.io%2Finferenceservice%3Dsklearn-iris");
    assert_int_equal(ks_cli_label_selector(buf, sizeof(buf), "a b", "c&d=e"), 0);
    assert_string_equal(buf, "labelSelector=a%20b%3Dc%26d%3De");
    assert_int_equal(ks_cli_label_selector(buf, 10, "serving.kserve.io/inferenceservice", "x"), KS_ETOOBIG);
}

static void kind_paths(void **state)
{
    const ks_cli_kind_t *isvc = ks_cli_kind_lookup("isvc"), *csr = ks_cli_kind_lookup("clusterservingruntimes");
    const ks_cli_kind_t *rev = ks_cli_kind_lookup("rev");
    char p[256];
    (void)state;
    assert_int_equal(ks_cli_kind_path(p, sizeof(p), isvc, "default", NULL, NULL, NULL), 0);
    assert_string_equal(p, "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices");
    assert_int_equal(ks_cli_kind_path(p, sizeof(p), isvc, "ns1", "sklearn-iris", "events", NULL), 0);
    assert_string_equal(p, "/apis/serving.kserve.io/v1beta1/namespaces/ns1/inferenceservices/sklearn-iris/events");
    assert_int_equal(ks_cli_kind_path(p, sizeof(p), isvc, NULL, NULL, NULL, NULL), 0);
    assert_string_equal(p, "/apis/serving.kserve.io/v1beta1/inferenceservices");
    assert_int_equal(ks_cli_kind_path(p, sizeof(p), csr, "default", "kserve-sklearnserver", NULL, NULL), 0);
    assert_string_equal(p, "/apis/serving.kserve.io/v1alpha1/clusterservingruntimes/kserve-sklearnserver");
    assert_int_equal(ks_cli_kind_path(p, sizeof(p), rev, "default", NULL, NULL, "labelSelector=a%3Db"), 0);
    assert_string_equal(p, "/apis/serving.knative.dev/v1/namespaces/default/revisions?labelSelector=a%3Db");
    assert_int_equal(ks_cli_kind_path(p, sizeof(p), isvc, "default", "a/b c", NULL, NULL), 0);
    assert_string_equal(p, "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices/a%2Fb%20c");
    assert_int_equal(ks_cli_kind_path(p, 20, isvc, "default", NULL, NULL, NULL), KS_ETOOBIG);
}

static void kind_lookup_accepts_kubectl_words(void **state)
{
    char full[128];
    (void)state;
    assert_int_equal(ks_cli_kind_lookup("isvc")->id, KS_CLI_ISVC);
    assert_int_equal(ks_cli_kind_lookup("inferenceservice")->id, KS_CLI_ISVC);
    assert_int_equal(ks_cli_kind_lookup("InferenceServices")->id, KS_CLI_ISVC);
    assert_int_equal(ks_cli_kind_lookup("inferenceservices.serving.kserve.io")->id, KS_CLI_ISVC);
    assert_int_equal(ks_cli_kind_lookup("rev")->id, KS_CLI_REVISION);
    assert_int_equal(ks_cli_kind_lookup("revisions")->id, KS_CLI_REVISION);
    assert_int_equal(ks_cli_kind_lookup("servingruntime")->id, KS_CLI_SERVINGRUNTIME);
    assert_int_equal(ks_cli_kind_lookup("ClusterServingRuntime")->id, KS_CLI_CLUSTERSERVINGRUNTIME);
    assert_null(ks_cli_kind_lookup("pods"));
    assert_null(ks_cli_kind_lookup("inferenceservices.example.com"));
    assert_null(ks_cli_kind_lookup(NULL));
    assert_int_equal(ks_cli_kind_by_kind("ServingRuntime")->id, KS_CLI_SERVINGRUNTIME);
    assert_null(ks_cli_kind_by_kind("servingruntime")); /* a document's kind is exact */
    ks_cli_kind_fullname(full, sizeof(full), ks_cli_kind_lookup("isvc"));
    assert_string_equal(full, "inferenceservice.serving.kserve.io");
    assert_false(ks_cli_kind_lookup("clusterservingruntime")->namespaced);
    assert_true(ks_cli_kind_lookup("rev")->readonly);
}

static void json_helpers(void **state)
{
    char buf[64];
    json_t *o = json_loads("{\"metadata\":{\"name\":\"x\",\"generation\":3},\"spec\":{\"disabled\":true},"
                           "\"status\":{\"conditions\":[{\"type\":\"IngressReady\",\"status\":\"True\"},"
                           "{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"ModelLoadFailed\"}]}}",
                           0, NULL);
    (void)state;
    assert_string_equal(ks_cli_json_str(o, "metadata.name"), "x");
    assert_null(ks_cli_json_str(o, "metadata.generation"));
    assert_null(ks_cli_json_str(o, "metadata.name.more"));
    assert_null(ks_cli_json_str(o, "nothing.here"));
    assert_string_equal(ks_cli_json_text(o, "metadata.generation", buf, sizeof(buf)), "3");
    assert_string_equal(ks_cli_json_text(o, "spec.disabled", buf, sizeof(buf)), "true");
    assert_string_equal(ks_cli_json_text(o, "spec.absent", buf, sizeof(buf)), "");
    assert_string_equal(json_string_value(json_object_get(ks_cli_condition(o, "Ready"), "reason")), "ModelLoadFailed");
    assert_null(ks_cli_condition(o, "PredictorReady"));
    json_decref(o);
}

/* ---- YAML ------------------------------------------------------------------------------------------ */

static char *yaml(const char *json_text, const char *indent)
{
    char err[128];
    ks_buf_t b;
    json_t *v = json_loads(json_text, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    ks_buf_init(&b, 0);
    assert_int_equal(ks_cli_yaml_emit(v, &b, indent, err, sizeof(err)), 0);
    assert_int_equal(ks_buf_putc(&b, '\0'), 0);
    json_decref(v);
    return b.base;
}

static void yaml_block_style_sorted_keys(void **state)
{
    char *out;
    (void)state;
    out = yaml("{\"kind\":\"InferenceService\",\"apiVersion\":\"serving.kserve.io/v1beta1\","
               "\"metadata\":{\"name\":\"sklearn-iris\",\"generation\":1},"
               "\"spec\":{\"predictor\":{\"minReplicas\":0,\"model\":{\"modelFormat\":{\"name\":\"sklearn\"},"
               "\"args\":[\"--workers=2\",\"-v\"],\"env\":[{\"name\":\"A\",\"value\":\"b\"}]}}}}",
               NULL);
    assert_string_equal(out, "apiVersion: serving.kserve.io/v1beta1\n"
                             "kind: InferenceService\n"
                             "metadata:\n"
                             "  generation: 1\n"
                             "  name: sklearn-iris\n"
                             "spec:\n"
                             "  predictor:\n"
                             "    minReplicas: 0\n"
                             "    model:\n"
                             "      args:\n"
                             "      - --workers=2\n"
                             "      - -v\n"
                             "      env:\n"
                             "      - name: A\n"
                             "        value: b\n"
                             "      modelFormat:\n"
                             "        name: sklearn\n");
    free(out);
}

static void yaml_quotes_what_would_change_type(void **state)
{
    char *out;
    (void)state;
    out = yaml("{\"a\":\"1\",\"b\":\"true\",\"c\":\"\",\"d\":\"null\",\"e\":\"2026-01-02T03:04:05Z\",\"f\":\"1.5\","
               "\"g\":\"yes\",\"h\":\"x: y\",\"i\":\"# no\",\"j\":\"100m\",\"k\":\"1Gi\",\"l\":\"-\",\"m\":\"0x1F\","
               "\"n\":\"~\",\"o\":\"tab\\there\",\"p\":\" lead\",\"q\":\"{{.Name}}\"}",
               NULL);
    assert_string_equal(out, "a: \"1\"\n"
                             "b: \"true\"\n"
                             "c: \"\"\n"
                             "d: \"null\"\n"
                             "e: \"2026-01-02T03:04:05Z\"\n"
                             "f: \"1.5\"\n"
                             "g: \"yes\"\n"
                             "h: \"x: y\"\n"
                             "i: \"# no\"\n"
                             "j: 100m\n"
                             "k: 1Gi\n"
                             "l: \"-\"\n"
                             "m: \"0x1F\"\n"
                             "\"n\": \"~\"\n" /* n is a YAML 1.1 boolean */
                             "o: \"tab\\there\"\n"
                             "p: \" lead\"\n"
                             "q: \"{{.Name}}\"\n");
    free(out);
}

static void yaml_scalars_and_empty_collections(void **state)
{
    char *out;
    (void)state;
    out = yaml("{\"i\":-3,\"r\":0.5,\"w\":2.0,\"t\":true,\"f\":false,\"z\":null,\"ea\":[],\"eo\":{}}", NULL);
    assert_string_equal(out, "ea: []\n"
                             "eo: {}\n"
                             "f: false\n"
                             "i: -3\n"
                             "r: 0.5\n"
                             "t: true\n"
                             "w: 2.0\n"
                             "z: null\n");
    free(out);
}

static void yaml_multiline_is_literal(void **state)
{
    char *out;
    (void)state;
    out = yaml("{\"log\":\"line one\\nline two\\n\",\"msg\":\"a\\nb\"}", NULL);
    assert_string_equal(out, "log: |\n"
                             "  line one\n"
                             "  line two\n"
                             "msg: |-\n"
                             "  a\n"
                             "  b\n");
    free(out);
}

static void yaml_indent_prefixes_each_line(void **state)
{
    char *out;
    (void)state;
    out = yaml("{\"predictor\":{\"model\":{\"storageUri\":\"file:///m\"}}}", "  ");
    assert_string_equal(out, "  predictor:\n"
                             "    model:\n"
                             "      storageUri: file:///m\n");
    free(out);
}

static void yaml_round_trips_through_a_parser(void **state)
{
    /* what we emit reads back (ks_yaml_load, YAML 1.2 core schema) as the same JSON */
    static const char *const tricky[] = {"1",    "true", "",     "null",  "2026-01-02", "-1",  "1e3",  ".inf",
                                         "on",   "a: b", "a #b", "[x]",   "{y}",        "*z",  "&w",   "!t",
                                         "- x",  "-",    "--f",  "x:",    "multi\nline", "two\n\n", " pad",
                                         "pad ", "\"q\"", "'s'", "%p", "@a", "`b", "\xc3\xa9t\xc3\xa9", "0o17",
                                         "1_000"};
    json_t *obj = json_object(), *arr = json_array();
    ks_doc_list_t docs = {0};
    char err[256];
    ks_buf_t b;
    (void)state;
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); ++i) {
        json_array_append_new(arr, json_string(tricky[i]));
        json_object_set_new(obj, tricky[i], json_string(tricky[i])); /* as keys too */
    }
    json_object_set_new(obj, "list", arr);
    json_object_set_new(obj, "nums", json_pack("[i, f, b, n]", 7, 0.25, 1));
    ks_buf_init(&b, 0);
    assert_int_equal(ks_cli_yaml_emit(obj, &b, NULL, err, sizeof(err)), 0);
    assert_int_equal(ks_yaml_load(b.base, b.len, "emitted.yaml", &docs, err, sizeof(err)), 0);
    assert_int_equal(docs.n, 1);
    if (!json_equal(docs.docs[0].obj, obj)) {
        ks_buf_putc(&b, '\0');
        print_error("emitted:\n%s\n", b.base);
        fail();
    }
    ks_doc_list_free(&docs);
    ks_buf_free(&b);
    json_decref(obj);
}

/* ---- JSON ------------------------------------------------------------------------------------------ */

static void json_is_indented_by_four(void **state)
{
    json_t *v = json_loads("{\"a\":{\"b\":[1]}}", 0, NULL);
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_cli_json_emit(v, &b), 0);
    ks_buf_putc(&b, '\0');
    assert_string_equal(b.base, "{\n    \"a\": {\n        \"b\": [\n            1\n        ]\n    }\n}\n");
    ks_buf_free(&b);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(age_matches_kubectl),
        cmocka_unit_test(age_since_reads_rfc3339),
        cmocka_unit_test(durations_parse_like_go),
        cmocka_unit_test(table_pads_like_tabwriter),
        cmocka_unit_test(table_minwidth_and_trailing_blanks),
        cmocka_unit_test(table_counts_utf8_as_columns),
        cmocka_unit_test(table_empty_renders_nothing),
        cmocka_unit_test(traffic_single_revision),
        cmocka_unit_test(traffic_canary),
        cmocka_unit_test(traffic_prev_by_rolledout_name),
        cmocka_unit_test(traffic_unknown_is_empty),
        cmocka_unit_test(label_selector_is_encoded),
        cmocka_unit_test(kind_paths),
        cmocka_unit_test(kind_lookup_accepts_kubectl_words),
        cmocka_unit_test(json_helpers),
        cmocka_unit_test(yaml_block_style_sorted_keys),
        cmocka_unit_test(yaml_quotes_what_would_change_type),
        cmocka_unit_test(yaml_scalars_and_empty_collections),
        cmocka_unit_test(yaml_multiline_is_literal),
        cmocka_unit_test(yaml_indent_prefixes_each_line),
        cmocka_unit_test(yaml_round_trips_through_a_parser),
        cmocka_unit_test(json_is_indented_by_four),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
