/*
 * Validation and normalisation of resources: ks_validate and ks_validate_json (src/api/validate.c,
 * inferenceservice.c, servingruntime.c), on KServe's own examples and on every class of mistake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ks/resource.h"

static ks_doc_list_t L;
static char E[16384];
static ks_kind_t K;

static int setup(void **state)
{
    (void)state;
    memset(&L, 0, sizeof(L));
    memset(E, 0, sizeof(E));
    K = KS_KIND_UNKNOWN;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_doc_list_free(&L);
    return 0;
}

/* Lines 1-6; the predictor's fields start on line 7 with four spaces. */
#define ISVC                                                                                                           \
    "apiVersion: serving.kserve.io/v1beta1\n"                                                                          \
    "kind: InferenceService\n"                                                                                         \
    "metadata:\n"                                                                                                      \
    "  name: m\n"                                                                                                      \
    "spec:\n"                                                                                                          \
    "  predictor:\n"
/* Lines 7-9. */
#define MODEL                                                                                                          \
    "    model:\n"                                                                                                     \
    "      modelFormat: {name: sklearn}\n"                                                                             \
    "      storageUri: gs://bucket/model\n"

/* Lines 1-6; the first container's fields start on line 7 with six spaces. */
#define RUNTIME                                                                                                        \
    "apiVersion: serving.kserve.io/v1alpha1\n"                                                                         \
    "kind: ServingRuntime\n"                                                                                           \
    "metadata:\n"                                                                                                      \
    "  name: rt\n"                                                                                                     \
    "spec:\n"                                                                                                          \
    "  containers:\n"                                                                                                  \
    "    - name: kserve-container\n"

static int check(const char *text)
{
    ks_doc_list_free(&L);
    K = KS_KIND_UNKNOWN;
    if (ks_yaml_load(text, strlen(text), "t.yaml", &L, E, sizeof(E)) != 0)
        fail_msg("load failed: %s", E);
    assert_int_equal(L.n, 1);
    return ks_validate(&L.docs[0], &K, E, sizeof(E));
}

static void expect_ok(const char *text)
{
    int r = check(text);
    if (r != 0)
        fail_msg("expected valid, got %d:\n%s", r, E);
}

/* The document is rejected and the errors include msg. */
static void expect(const char *text, const char *msg)
{
    int r = check(text);
    if (r != KS_EINVAL)
        fail_msg("expected KS_EINVAL, got %d for:\n%s", r, text);
    if (strstr(E, msg) == NULL)
        fail_msg("expected \"%s\" in:\n%s", msg, E);
}

static char *read_fixture(const char *name, size_t *len)
{
    static const char *const dirs[] = {"tests/data/resources/", "../../tests/data/resources/"};
    for (size_t i = 0; i < 2; ++i) {
        char path[512];
        FILE *f;
        snprintf(path, sizeof(path), "%s%s", dirs[i], name);
        if ((f = fopen(path, "rb")) != NULL) {
            char *buf = malloc(1 << 20);
            assert_non_null(buf);
            *len = fread(buf, 1, (1 << 20) - 1, f);
            buf[*len] = '\0';
            fclose(f);
            return buf;
        }
    }
    fail_msg("fixture %s not found (run from the repository root)", name);
    return NULL;
}

static void load_fixture(const char *name)
{
    size_t len;
    char *text = read_fixture(name, &len);
    ks_doc_list_free(&L);
    if (ks_yaml_load(text, len, name, &L, E, sizeof(E)) != 0)
        fail_msg("load %s: %s", name, E);
    free(text);
}

static void validate_fixture_ok(const char *name, ks_kind_t want)
{
    load_fixture(name);
    assert_int_equal(L.n, 1);
    if (ks_validate(&L.docs[0], &K, E, sizeof(E)) != 0)
        fail_msg("%s: %s", name, E);
    assert_int_equal(K, want);
}

static json_t *at(json_t *o, const char *dotted)
{
    char buf[256], *save = NULL, *k;
    snprintf(buf, sizeof(buf), "%s", dotted);
    for (k = strtok_r(buf, ".", &save); k != NULL && o != NULL; k = strtok_r(NULL, ".", &save))
        o = json_object_get(o, k);
    return o;
}

static const char *str_at(const char *dotted)
{
    return json_string_value(at(L.docs[0].obj, dotted));
}

/* ---- KServe's examples ------------------------------------------------------------------- */

static void sklearn_iris(void **state)
{
    (void)state;
    validate_fixture_ok("sklearn-iris.yaml", KS_KIND_ISVC);
    assert_string_equal(str_at("metadata.name"), "sklearn-iris");
    assert_string_equal(str_at("metadata.namespace"), "default"); /* defaulted */
    assert_string_equal(str_at("spec.predictor.model.modelFormat.name"), "sklearn");
    assert_string_equal(str_at("spec.predictor.model.storageUri"), "gs://kfserving-examples/models/sklearn/1.0/model");
}

static void xgboost_iris_keeps_its_namespace(void **state)
{
    (void)state;
    validate_fixture_ok("xgboost-iris.yaml", KS_KIND_ISVC);
    assert_string_equal(str_at("metadata.namespace"), "kserve-test");
    assert_string_equal(str_at("spec.predictor.model.modelFormat.name"), "xgboost");
}

static void v2_protocol(void **state)
{
    (void)state;
    validate_fixture_ok("sklearn-v2.yaml", KS_KIND_ISVC);
    assert_string_equal(str_at("spec.predictor.model.protocolVersion"), "v2");
    assert_string_equal(str_at("spec.predictor.model.runtime"), "kserve-sklearnserver");
}

static void old_single_key_form_becomes_model(void **state)
{
    int line, col;
    (void)state;
    validate_fixture_ok("sklearn-old.yaml", KS_KIND_ISVC);
    assert_null(at(L.docs[0].obj, "spec.predictor.sklearn"));
    assert_string_equal(str_at("spec.predictor.model.modelFormat.name"), "sklearn");
    assert_string_equal(str_at("spec.predictor.model.storageUri"), "gs://kfserving-examples/models/sklearn/1.0/model");
    assert_string_equal(str_at("spec.predictor.model.runtimeVersion"), "1.3.0");
    /* later errors about the new paths still point into the file */
    assert_int_equal(ks_doc_pos(&L.docs[0], "spec.predictor.model.storageUri", &line, &col), 1);
    assert_int_equal(line, 9);
    assert_int_equal(col, 7);
    assert_int_equal(ks_doc_pos(&L.docs[0], "spec.predictor.model", &line, &col), 1);
    assert_int_equal(line, 8);
    assert_int_equal(col, 5);
}

static void every_framework_key(void **state)
{
    static const char *const fw[] = {"sklearn", "xgboost",     "lightgbm", "onnx", "pytorch",
                                     "tensorflow", "triton", "huggingface", "pmml", "paddle"};
    (void)state;
    for (size_t i = 0; i < sizeof(fw) / sizeof(fw[0]); ++i) {
        char text[512];
        snprintf(text, sizeof(text), ISVC "    %s:\n      storageUri: s3://b/%s\n      protocolVersion: v2\n", fw[i],
                 fw[i]);
        expect_ok(text);
        assert_string_equal(str_at("spec.predictor.model.modelFormat.name"), fw[i]);
        assert_string_equal(str_at("spec.predictor.model.protocolVersion"), "v2");
        assert_null(json_object_get(at(L.docs[0].obj, "spec.predictor"), fw[i]));
    }
}

static void old_form_with_resources_and_numbers(void **state)
{
    (void)state;
    validate_fixture_ok("xgboost-old-v2.yaml", KS_KIND_ISVC);
    assert_string_equal(str_at("spec.predictor.model.modelFormat.name"), "xgboost");
    /* cpu: 1 (a number) is kept as the quantity "1" */
    assert_string_equal(str_at("spec.predictor.model.resources.limits.cpu"), "1");
    assert_string_equal(str_at("spec.predictor.model.resources.requests.cpu"), "100m");
    assert_int_equal(json_integer_value(at(L.docs[0].obj, "spec.predictor.minReplicas")), 0);
}

static void canary_with_every_predictor_field(void **state)
{
    (void)state;
    validate_fixture_ok("canary.yaml", KS_KIND_ISVC);
    assert_int_equal(json_integer_value(at(L.docs[0].obj, "spec.predictor.canaryTrafficPercent")), 10);
    assert_string_equal(str_at("metadata.labels.team"), "ml");
    assert_string_equal(json_string_value(json_object_get(at(L.docs[0].obj, "metadata.annotations"),
                                                          "autoscaling.knative.dev/target")),
                        "5");
}

static void raw_deployment_with_cpu_metric(void **state)
{
    (void)state;
    validate_fixture_ok("raw-deployment.yaml", KS_KIND_ISVC);
    assert_string_equal(str_at("spec.predictor.scaleMetric"), "cpu");
}

static void kserve_cluster_runtime(void **state)
{
    (void)state;
    validate_fixture_ok("kserve-sklearnserver.yaml", KS_KIND_CLUSTER_SERVING_RUNTIME);
    assert_null(at(L.docs[0].obj, "metadata.namespace")); /* cluster-wide: no namespace added */
    assert_string_equal(json_string_value(json_object_get(at(L.docs[0].obj, "spec.annotations"),
                                                          "prometheus.kserve.io/port")),
                        "8080");
    assert_true(json_is_true(json_object_get(json_array_get(at(L.docs[0].obj, "spec.supportedModelFormats"), 0),
                                             "autoSelect")));
}

static void multi_document_file(void **state)
{
    static const ks_kind_t want[] = {KS_KIND_SERVING_RUNTIME, KS_KIND_ISVC, KS_KIND_ISVC};
    (void)state;
    load_fixture("multi.yaml");
    assert_int_equal(L.n, 3);
    for (size_t i = 0; i < 3; ++i) {
        if (ks_validate(&L.docs[i], &K, E, sizeof(E)) != 0)
            fail_msg("document %zu: %s", i, E);
        assert_int_equal(K, want[i]);
    }
    assert_string_equal(json_string_value(at(L.docs[0].obj, "metadata.namespace")), "models");
    assert_string_equal(json_string_value(at(L.docs[2].obj, "metadata.namespace")), "default");
    assert_string_equal(json_string_value(at(L.docs[2].obj, "spec.predictor.model.modelFormat.name")), "sklearn");
}

static void json_file(void **state)
{
    (void)state;
    validate_fixture_ok("isvc.json", KS_KIND_ISVC);
    assert_string_equal(str_at("spec.predictor.model.storageUri"), "https://example.com/models/iris.tar.gz");
    assert_string_equal(str_at("metadata.namespace"), "default");
}

/* ---- the error classes, with positions -------------------------------------------------- */

static void every_error_of_a_bad_file(void **state)
{
    static const char *const lines[] = {
        "errors.yaml:4:3: metadata.name: \"Sklearn_Iris\" is not a valid InferenceService name",
        "errors.yaml:6:5: metadata.annotations[\"serving.kserve.io/deploymentMode\"]: must be one of Serverless, "
        "Knative, RawDeployment, Standard, got \"serverless\" (did you mean Serverless?)",
        "errors.yaml:7:5: metadata.annotations[\"autoscaling.knative.dev/target\"]: must be a string, got 10 (quote "
        "it: \"10\")",
        "errors.yaml:10:5: spec.predictor.minReplicas: must be an integer >= 0, got \"two\"",
        "errors.yaml:11:5: spec.predictor.maxReplicas: must be an integer >= 0, got -1",
        "errors.yaml:12:5: spec.predictor.scaleMetric: must be one of concurrency, rps, cpu, memory, got "
        "\"concurency\" (did you mean concurrency?)",
        "errors.yaml:13:5: spec.predictor.canaryTrafficPercent: must be an integer from 0 to 100, got 150",
        "errors.yaml:14:5: spec.predictor.timeout: must be an integer > 0, got 0",
        "errors.yaml:15:5: spec.predictor.nodeSelector: not supported yet",
        "errors.yaml:17:5: spec.predictor.batcher: not supported yet",
        "errors.yaml:19:5: spec.predictor.model.storageUri: required field missing",
        "errors.yaml:20:7: spec.predictor.model.modelFormat.name: required field missing",
        "errors.yaml:21:9: spec.predictor.model.modelFormat.version: must be a string, got 1 (quote it: \"1\")",
        "errors.yaml:22:7: spec.predictor.model.storgeUri: unknown field (did you mean storageUri?)",
        "errors.yaml:23:7: spec.predictor.model.protocolVersion: must be one of v1, v2, grpc-v2, got \"v3\"",
        "errors.yaml:24:19: spec.predictor.model.args[1]: must be a string, got 1 (quote it: \"1\")",
        "errors.yaml:27:11: spec.predictor.model.env[0].value: must be a string, got 1 (quote it: \"1\")",
        "errors.yaml:28:11: spec.predictor.model.env[1].name: required field missing",
        "errors.yaml:30:20: spec.predictor.model.resources.requests.cpu: must be a quantity such as \"500m\", \"1\" or "
        "\"1Gi\", got \"lots\"",
        "errors.yaml:30:31: spec.predictor.model.resources.requests.gpu: not supported yet (only cpu and memory)",
        "errors.yaml:32:5: spec.transformer.containers: must have at least 1 item",
    };
    const char *p;
    (void)state;
    load_fixture("errors.yaml");
    assert_int_equal(ks_validate(&L.docs[0], &K, E, sizeof(E)), KS_EINVAL);
    assert_int_equal(K, KS_KIND_ISVC);
    /* every error, one per line, in file order */
    p = E;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); ++i) {
        const char *hit = strstr(p, lines[i]);
        if (hit == NULL)
            fail_msg("expected, in order:\n%s\nin:\n%s", lines[i], E);
        assert_true(hit == E || hit[-1] == '\n');
        p = hit + strlen(lines[i]);
    }
    assert_null(strchr(p, '\n'));
}

static void unknown_field_with_suggestion(void **state)
{
    (void)state;
    expect(ISVC "    model:\n      modelFormat: {name: sklearn}\n      storgeUri: gs://b/m\n",
           "t.yaml:9:7: spec.predictor.model.storgeUri: unknown field (did you mean storageUri?)");
    expect(ISVC MODEL "    minReplica: 1\n", "t.yaml:10:5: spec.predictor.minReplica: unknown field (did you mean "
                                             "minReplicas?)");
    expect(ISVC MODEL "    MinReplicas: 1\n", "(did you mean minReplicas?)");
    expect(ISVC MODEL "    canaryTraficPercent: 1\n", "(did you mean canaryTrafficPercent?)");
    expect(ISVC MODEL "    sklean: {}\n", "spec.predictor.sklean: unknown field (did you mean sklearn?)");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetdata: {name: m}\nspec: {}\n",
           "t.yaml:3:1: metdata: unknown field (did you mean metadata?)");
    expect(ISVC MODEL "  transfomer: {}\n", "t.yaml:10:3: spec.transfomer: unknown field (did you mean transformer?)");
}

static void unknown_field_without_suggestion(void **state)
{
    (void)state;
    expect(ISVC MODEL "    replicasWanted: 3\n", "t.yaml:10:5: spec.predictor.replicasWanted: unknown field");
    assert_string_equal(E, "t.yaml:10:5: spec.predictor.replicasWanted: unknown field"); /* and nothing else */
    expect(ISVC MODEL "    ab: 3\n", "spec.predictor.ab: unknown field");
    assert_null(strstr(E, "did you mean"));
    expect(ISVC MODEL "extra: 1\n", "t.yaml:10:1: extra: unknown field");
}

static void field_in_the_wrong_place(void **state)
{
    (void)state;
    expect(ISVC MODEL "    storageUri: gs://b/m\n",
           "t.yaml:10:5: spec.predictor.storageUri: unknown field here (it belongs in spec.predictor.model)");
    expect(ISVC MODEL "      minReplicas: 1\n",
           "t.yaml:10:7: spec.predictor.model.minReplicas: unknown field here (it belongs in spec.predictor)");
    expect(ISVC "    sklearn:\n      storageUri: gs://b/m\n      minReplicas: 0\n",
           "t.yaml:9:7: spec.predictor.sklearn.minReplicas: unknown field here (it belongs in spec.predictor)");
}

static void wrong_types_name_the_expected_type(void **state)
{
    (void)state;
    expect(ISVC MODEL "    minReplicas: two\n", "t.yaml:10:5: spec.predictor.minReplicas: must be an integer >= 0, got "
                                                "\"two\"");
    expect(ISVC MODEL "    minReplicas: \"1\"\n", "spec.predictor.minReplicas: must be an integer >= 0, got \"1\"");
    expect(ISVC MODEL "    minReplicas: 1.5\n", "spec.predictor.minReplicas: must be an integer >= 0, got 1.5");
    expect(ISVC MODEL "    minReplicas: 1.0\n", "spec.predictor.minReplicas: must be an integer >= 0, got 1.0");
    expect(ISVC MODEL "    serviceAccountName: [a]\n", "spec.predictor.serviceAccountName: must be a non-empty string, "
                                                       "got a list");
    expect(ISVC MODEL "    serviceAccountName: \"\"\n", "spec.predictor.serviceAccountName: must be a non-empty "
                                                        "string");
    expect(ISVC "    model: [a]\n", "t.yaml:7:5: spec.predictor.model: must be a mapping, got a list");
    expect(ISVC "    model:\n      modelFormat: sklearn\n      storageUri: gs://b/m\n",
           "t.yaml:8:7: spec.predictor.model.modelFormat: must be a mapping, got \"sklearn\"");
    expect(ISVC "    model:\n      modelFormat: {name: sklearn}\n      storageUri: gs://b/m\n      args: --x\n",
           "t.yaml:10:7: spec.predictor.model.args: must be a list, got \"--x\"");
    expect(ISVC "    model:\n      modelFormat: {name: 3}\n      storageUri: gs://b/m\n",
           "spec.predictor.model.modelFormat.name: must be a non-empty string, got 3 (quote it: \"3\")");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: m\nspec: {}\n",
           "t.yaml:3:1: metadata: must be a mapping, got \"m\"");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: m}\nspec: [1]\n",
           "t.yaml:4:1: spec: must be a mapping, got a list");
}

static void replicas_rules(void **state)
{
    (void)state;
    expect(ISVC MODEL "    minReplicas: 3\n    maxReplicas: 2\n",
           "t.yaml:10:5: spec.predictor.minReplicas: 3 is greater than maxReplicas 2");
    expect_ok(ISVC MODEL "    minReplicas: 3\n    maxReplicas: 0\n"); /* 0: no limit */
    expect_ok(ISVC MODEL "    minReplicas: 0\n    maxReplicas: 1\n");
    expect_ok(ISVC MODEL "    minReplicas: 2\n    maxReplicas: 2\n");
    expect(ISVC MODEL "    maxReplicas: -2\n", "spec.predictor.maxReplicas: must be an integer >= 0, got -2");
    expect(ISVC MODEL "    containerConcurrency: -1\n", "spec.predictor.containerConcurrency: must be an integer >= 0");
    expect(ISVC MODEL "    timeout: 0\n", "t.yaml:10:5: spec.predictor.timeout: must be an integer > 0, got 0");
    expect(ISVC MODEL "    scaleTarget: 0\n", "spec.predictor.scaleTarget: must be an integer > 0, got 0");
    expect_ok(ISVC MODEL "    timeout: 600\n    scaleTarget: 1\n    containerConcurrency: 0\n");
}

static void canary_percent_bounds(void **state)
{
    (void)state;
    expect_ok(ISVC MODEL "    canaryTrafficPercent: 0\n");
    expect_ok(ISVC MODEL "    canaryTrafficPercent: 100\n");
    expect(ISVC MODEL "    canaryTrafficPercent: 101\n",
           "t.yaml:10:5: spec.predictor.canaryTrafficPercent: must be an integer from 0 to 100, got 101");
    expect(ISVC MODEL "    canaryTrafficPercent: -1\n", "must be an integer from 0 to 100, got -1");
    expect(ISVC MODEL "    canaryTrafficPercent: 10%\n", "must be an integer from 0 to 100, got \"10%\"");
}

#define ANNOTATED(mode)                                                                                                \
    "apiVersion: serving.kserve.io/v1beta1\n"                                                                          \
    "kind: InferenceService\n"                                                                                         \
    "metadata:\n"                                                                                                      \
    "  name: m\n"                                                                                                      \
    "  annotations: {serving.kserve.io/deploymentMode: " mode "}\n"                                                    \
    "spec:\n"                                                                                                          \
    "  predictor:\n" MODEL

static void scale_metric_fits_the_deployment_mode(void **state)
{
    (void)state;
    expect_ok(ISVC MODEL "    scaleMetric: concurrency\n");
    expect_ok(ISVC MODEL "    scaleMetric: rps\n    scaleTarget: 200\n");
    expect(ISVC MODEL "    scaleMetric: cpu\n",
           "t.yaml:10:5: spec.predictor.scaleMetric: cpu needs the annotation serving.kserve.io/deploymentMode: "
           "RawDeployment");
    expect(ANNOTATED("Serverless") "    scaleMetric: memory\n", "t.yaml:11:5: spec.predictor.scaleMetric: memory needs");
    expect_ok(ANNOTATED("RawDeployment") "    scaleMetric: memory\n");
    expect_ok(ANNOTATED("Standard") "    scaleMetric: cpu\n    scaleTarget: 50\n");
    expect(ANNOTATED("RawDeployment") "    scaleMetric: rps\n",
           "t.yaml:11:5: spec.predictor.scaleMetric: rps needs the Serverless deployment mode");
    expect(ANNOTATED("RawDeployment") "    scaleMetric: cpu\n    scaleTarget: 150\n",
           "t.yaml:12:5: spec.predictor.scaleTarget: with scaleMetric cpu this is a utilisation percentage: must be "
           "from 1 to 100, got 150");
    expect(ANNOTATED("RawDeployment") "    minReplicas: 0\n",
           "t.yaml:11:5: spec.predictor.minReplicas: 0 (scale to zero) needs the Serverless deployment mode");
    expect_ok(ANNOTATED("Knative") "    minReplicas: 0\n");
    expect(ISVC MODEL "    scaleMetric: latency\n", "spec.predictor.scaleMetric: must be one of concurrency, rps, cpu, "
                                                    "memory, got \"latency\"");
}

static void deployment_mode_annotation(void **state)
{
    (void)state;
    expect(ANNOTATED("ModelMesh"), "t.yaml:5:17: metadata.annotations[\"serving.kserve.io/deploymentMode\"]: must be "
                                   "one of Serverless, Knative, RawDeployment, Standard, got \"ModelMesh\"");
    expect(ANNOTATED("rawdeployment"), "(did you mean RawDeployment?)");
    expect(ANNOTATED("true"), "must be a string, got true (quote it: \"true\")");
    expect_ok(ANNOTATED("Serverless"));
}

#define AUTOSCALING(key, value)                                                                                        \
    "apiVersion: serving.kserve.io/v1beta1\n"                                                                          \
    "kind: InferenceService\n"                                                                                         \
    "metadata:\n"                                                                                                      \
    "  name: m\n"                                                                                                      \
    "  annotations: {autoscaling.knative.dev/" key ": " value "}\n"                                                     \
    "spec:\n"                                                                                                          \
    "  predictor:\n" MODEL

static void autoscaling_annotations_are_checked(void **state)
{
    (void)state;
    expect_ok(AUTOSCALING("target", "\"10\""));
    expect_ok(AUTOSCALING("window", "\"30s\""));
    expect_ok(AUTOSCALING("minScale", "\"1\""));
    expect_ok(AUTOSCALING("max-scale", "\"3\""));
    expect_ok(AUTOSCALING("metric", "rps"));
    expect_ok(AUTOSCALING("class", "hpa.autoscaling.knative.dev"));
    expect_ok(AUTOSCALING("scale-down-delay", "\"1m30s\""));
    expect(AUTOSCALING("window", "thirty"), "t.yaml:5:17: metadata.annotations[\"autoscaling.knative.dev/window\"]: "
                                            "window: malformed value");
    expect(AUTOSCALING("target", "\"-1\""), "autoscaling.knative.dev/target");
    expect(AUTOSCALING("panic-threshold-percentage", "\"50\""), "panic-threshold-percentage");
    expect(AUTOSCALING("class", "magic"), "must be kpa.autoscaling.knative.dev or hpa.autoscaling.knative.dev");
    expect(AUTOSCALING("no-such-knob", "\"1\""), "no-such-knob");
}

static void annotations_and_labels(void **state)
{
    (void)state;
    expect_ok("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n  annotations:\n"
              "    autoscaling.knative.dev/target: \"10\"\n    serving.kserve.io/enable-auth: \"true\"\n"
              "    anything: goes here\n  labels: {app: iris, example.com/tier: \"\"}\nspec:\n  predictor:\n" MODEL);
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n  annotations:\n"
           "    autoscaling.knative.dev/min-scale: 2\nspec:\n  predictor:\n" MODEL,
           "t.yaml:6:5: metadata.annotations[\"autoscaling.knative.dev/min-scale\"]: must be a string, got 2 (quote it: "
           "\"2\")");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n  annotations:\n"
           "    serving.kserve.io/enable-auth: {x: 1}\nspec:\n  predictor:\n" MODEL,
           "must be a string, got a mapping");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n  annotations: [a]\n"
           "spec:\n  predictor:\n" MODEL,
           "t.yaml:5:3: metadata.annotations: must be a mapping of strings to strings, got a list");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n  annotations:\n"
           "    \"bad key!\": x\nspec:\n  predictor:\n" MODEL,
           "t.yaml:6:5: metadata.annotations[\"bad key!\"]: not a valid key");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n  labels:\n"
           "    app: \"has space\"\nspec:\n  predictor:\n" MODEL,
           "t.yaml:6:5: metadata.labels.app: \"has space\" is not a valid label value");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n  labels:\n"
           "    version: 2\nspec:\n  predictor:\n" MODEL,
           "metadata.labels.version: must be a string, got 2 (quote it: \"2\")");
}

static void not_supported_yet_by_name(void **state)
{
    static const char *const predictor_fields[] = {
        "batcher: {maxBatchSize: 32}",       "logger: {mode: all}",
        "nodeSelector: {disk: ssd}",         "tolerations: []",             "affinity: {}",
        "volumes: []",                       "imagePullSecrets: []",        "labels: {a: b}",
        "securityContext: {}",               "initContainers: []",          "workerSpec: {}",
    };
    char text[512], want[128];
    (void)state;
    for (size_t i = 0; i < sizeof(predictor_fields) / sizeof(predictor_fields[0]); ++i) {
        size_t n = strcspn(predictor_fields[i], ":");
        snprintf(text, sizeof(text), ISVC MODEL "    %s\n", predictor_fields[i]);
        snprintf(want, sizeof(want), "t.yaml:10:5: spec.predictor.%.*s: not supported yet", (int)n, predictor_fields[i]);
        expect(text, want);
    }
    expect(ISVC MODEL "  transformer:\n    containers: []\n", "t.yaml:11:5: spec.transformer.containers: must have at least 1 item");
    expect(ISVC MODEL "  explainer: {}\n", "t.yaml:10:3: spec.explainer: not supported yet");
    expect(ISVC MODEL "      image: my/server:1\n", "t.yaml:10:7: spec.predictor.model.image: not supported yet");
    expect(ISVC MODEL "      ports: [{containerPort: 9000}]\n", "spec.predictor.model.ports: not supported yet");
    expect(ISVC MODEL "      name: kserve-container\n", "spec.predictor.model.name: not allowed in a predictor");
    expect(ISVC MODEL "      protocolVersion: grpc-v1\n",
           "t.yaml:10:7: spec.predictor.model.protocolVersion: grpc-v1 is not supported yet");
    expect(ISVC MODEL "      env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n",
           "t.yaml:10:23: spec.predictor.model.env[0].valueFrom: not supported yet");
    /* a containers-only predictor: an image alone cannot run here, and "model" is not missing */
    expect(ISVC "    containers: [{name: c, image: x}]\n",
           "spec.predictor.containers[0].command: required: image \"x\" cannot run here");
    assert_null(strstr(E, "spec.predictor.model"));
    expect(ISVC "    containers: [{name: c, command: [a]}, {name: d, command: [b]}]\n",
           "spec.predictor.containers: one container (the model server) is supported, got 2");
}

static void exactly_one_implementation(void **state)
{
    (void)state;
    expect(ISVC MODEL "    sklearn: {storageUri: gs://b/m}\n",
           "t.yaml:10:5: spec.predictor.sklearn: only one of model, containers or a framework (sklearn, xgboost, ...) "
           "may be set, model is set too");
    expect(ISVC "    xgboost: {storageUri: gs://b/m}\n    sklearn: {storageUri: gs://b/m}\n",
           "t.yaml:7:5: spec.predictor.xgboost: only one of model, containers or a framework (sklearn, xgboost, ...) "
           "may be set, sklearn is set too");
    expect(ISVC "    minReplicas: 1\n",
           "t.yaml:6:3: spec.predictor.model: required field missing (or the older form: one of sklearn, xgboost");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: m}\nspec:\n  predictor:\n",
           "t.yaml:5:3: spec.predictor: required field missing"); /* predictor: null is absent */
}

static void required_fields(void **state)
{
    (void)state;
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: m}\n",
           "t.yaml:1:1: spec: required field missing");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nspec: {}\n",
           "t.yaml:1:1: metadata: required field missing");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  namespace: x\nspec:\n"
           "  predictor:\n" MODEL,
           "t.yaml:3:1: metadata.name: required field missing");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: m}\nspec: {}\n",
           "t.yaml:4:1: spec.predictor: required field missing");
    expect(ISVC "    model:\n      storageUri: gs://b/m\n",
           "t.yaml:7:5: spec.predictor.model.modelFormat: required field missing");
    expect(ISVC "    model:\n      modelFormat: {name: \"\"}\n      storageUri: gs://b/m\n",
           "t.yaml:8:21: spec.predictor.model.modelFormat.name: must be a non-empty string");
}

static void api_version_and_kind(void **state)
{
    (void)state;
    expect("apiVersion: serving.kserve.io/v1alpha2\nkind: InferenceService\nmetadata: {name: m}\nspec: {}\n",
           "t.yaml:1:1: apiVersion: must be serving.kserve.io/v1beta1 for an InferenceService, got "
           "\"serving.kserve.io/v1alpha2\"");
    expect("apiVersion: serving.kubeflow.org/v1beta1\nkind: InferenceService\nmetadata: {name: m}\nspec: {}\n",
           "must be serving.kserve.io/v1beta1");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: ServingRuntime\nmetadata: {name: m}\nspec: {}\n",
           "apiVersion: must be serving.kserve.io/v1alpha1 for a ServingRuntime");
    expect("kind: InferenceService\nmetadata: {name: m}\nspec: {}\n", "t.yaml:1:1: apiVersion: required field missing");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceServce\nmetadata: {name: m}\nspec: {}\n",
           "t.yaml:2:1: kind: unknown kind \"InferenceServce\" (did you mean InferenceService?)");
    assert_int_equal(K, KS_KIND_UNKNOWN);
    expect("apiVersion: serving.kserve.io/v1alpha1\nkind: InferenceGraph\nmetadata: {name: g}\nspec: {nodes: {}}\n",
           "t.yaml:2:1: kind: InferenceGraph is not supported yet");
    expect("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
           "kind: unknown kind \"Pod\" (InferenceService, ServingRuntime or ClusterServingRuntime)");
    expect("apiVersion: serving.kserve.io/v1beta1\nmetadata: {name: m}\nspec: {}\n",
           "t.yaml:1:1: kind: required field missing");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: 7\n", "t.yaml:2:1: kind: must be a string, got 7");
}

static void kind_is_reported_even_when_invalid(void **state)
{
    (void)state;
    expect(RUNTIME "      foo: 1\n", "spec.containers[0].foo: unknown field");
    assert_int_equal(K, KS_KIND_SERVING_RUNTIME);
    expect(ISVC "    foo: 1\n", "spec.predictor.foo");
    assert_int_equal(K, KS_KIND_ISVC);
}

static void names(void **state)
{
    char text[1024];
    (void)state;
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: 1model}\nspec:\n"
           "  predictor:\n" MODEL,
           "t.yaml:3:12: metadata.name: \"1model\" is not a valid InferenceService name: lower-case letters, digits "
           "and '-', starting with a letter");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: my.model}\nspec:\n"
           "  predictor:\n" MODEL,
           "is not a valid InferenceService name");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: model-}\nspec:\n"
           "  predictor:\n" MODEL,
           "is not a valid InferenceService name");
    snprintf(text, sizeof(text),
             "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: a%s}\nspec:\n"
             "  predictor:\n" MODEL,
             "123456789012345678901234567890123456789012345678901234567890123");
    expect(text, "metadata.name: must be at most 63 characters, got 64");
    snprintf(text, sizeof(text),
             "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: a%s}\nspec:\n"
             "  predictor:\n" MODEL,
             "12345678901234567890123456789012345678901234567890123456789012");
    expect_ok(text);
    /* runtimes are DNS-1123 subdomains (dots allowed) */
    expect_ok("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\nmetadata: {name: my.runtime-1}\nspec:\n"
              "  containers: [{name: c}]\n");
    expect("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\nmetadata: {name: My_Runtime}\nspec:\n"
           "  containers: [{name: c}]\n",
           "metadata.name: \"My_Runtime\" is not a valid name");
}

static void namespaces(void **state)
{
    (void)state;
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: m, namespace: Prod}\n"
           "spec:\n  predictor:\n" MODEL,
           "t.yaml:3:21: metadata.namespace: \"Prod\" is not a valid namespace");
    expect("apiVersion: serving.kserve.io/v1alpha1\nkind: ClusterServingRuntime\nmetadata:\n  name: c\n"
           "  namespace: default\nspec:\n  containers: [{name: c}]\n",
           "t.yaml:5:3: metadata.namespace: a ClusterServingRuntime is cluster-wide and has no namespace");
    expect_ok("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\nmetadata: {name: r}\nspec:\n"
              "  containers: [{name: c}]\n");
    assert_string_equal(str_at("metadata.namespace"), "default");
}

static void storage_uris(void **state)
{
    static const char *const ok[] = {"gs://b/m", "s3://b/m", "http://h/m.tar.gz", "https://h/m.zip", "pvc://claim/m",
                                     "hf://org/model", "file:///models/m", "/models/m", "models/relative"};
    char text[1024];
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); ++i) {
        snprintf(text, sizeof(text), ISVC "    model:\n      modelFormat: {name: sklearn}\n      storageUri: \"%s\"\n",
                 ok[i]);
        expect_ok(text);
    }
    expect(ISVC "    model:\n      modelFormat: {name: sklearn}\n      storageUri: ftp://h/m\n",
           "t.yaml:9:7: spec.predictor.model.storageUri: unsupported scheme \"ftp://\"");
    expect(ISVC "    model:\n      modelFormat: {name: sklearn}\n      storageUri: oci://registry/m:1\n",
           "spec.predictor.model.storageUri: oci:// (model images) is not supported yet");
    expect(ISVC "    model:\n      modelFormat: {name: sklearn}\n      storageUri: \"\"\n",
           "spec.predictor.model.storageUri: must be a non-empty string");
}

static void env_lists(void **state)
{
    (void)state;
    expect_ok(ISVC MODEL "      env: [{name: A, value: \"1\"}, {name: B}, {name: C, value: \"\"}]\n");
    expect(ISVC MODEL "      env: [{name: \"A=B\", value: x}]\n",
           "t.yaml:10:14: spec.predictor.model.env[0].name: an environment variable name cannot contain '='");
    expect(ISVC MODEL "      env: {A: x}\n", "spec.predictor.model.env: must be a list, got a mapping");
    expect(ISVC MODEL "      env: [A=x]\n", "t.yaml:10:13: spec.predictor.model.env[0]: must be a mapping, got \"A=x\"");
    expect(ISVC MODEL "      env:\n        - name: A\n          value: true\n",
           "t.yaml:12:11: spec.predictor.model.env[0].value: must be a string, got true (quote it: \"true\")");
}

static void resources_and_quantities(void **state)
{
    (void)state;
    expect_ok(ISVC MODEL "      resources:\n        requests: {cpu: 100m, memory: 512Mi}\n"
                         "        limits: {cpu: 0.5, memory: 1e9}\n");
    assert_string_equal(str_at("spec.predictor.model.resources.limits.cpu"), "0.5");
    assert_string_equal(str_at("spec.predictor.model.resources.limits.memory"), "1000000000"); /* 1e9 */
    expect_ok(ISVC MODEL "      resources: {limits: {cpu: \"2\", memory: 2G}, requests: {cpu: 1500m, memory: 1.5Gi}}\n");
    expect(ISVC MODEL "      resources:\n        requests: {cpu: \"2\"}\n        limits: {cpu: 1}\n",
           "t.yaml:11:20: spec.predictor.model.resources.requests.cpu: 2 must be less than or equal to the limit 1");
    expect(ISVC MODEL "      resources: {requests: {memory: 1.2.3}}\n",
           "spec.predictor.model.resources.requests.memory: must be a quantity such as");
    expect(ISVC MODEL "      resources: {requests: {memory: 1Gb}}\n", "must be a quantity");
    expect(ISVC MODEL "      resources: {requests: {cpu: -1}}\n", "spec.predictor.model.resources.requests.cpu: must not "
                                                                     "be negative");
    expect(ISVC MODEL "      resources: {limits: {nvidia.com/gpu: 1}}\n",
           "spec.predictor.model.resources.limits[\"nvidia.com/gpu\"]: not supported yet (only cpu and memory)");
    expect(ISVC MODEL "      resources: {limits: {memroy: 1Gi}}\n",
           "spec.predictor.model.resources.limits.memroy: unknown resource (did you mean memory?)");
    expect(ISVC MODEL "      resources: {request: {cpu: 1}}\n",
           "spec.predictor.model.resources.request: unknown field (did you mean requests?)");
    expect(ISVC MODEL "      resources: {limits: [1]}\n", "must be a mapping of resource names (cpu, memory) to "
                                                           "quantities, got a list");
}

static void nulls_are_absent(void **state)
{
    (void)state;
    expect_ok("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n"
              "  annotations:\n  labels: ~\nspec:\n  predictor:\n    minReplicas: null\n" MODEL);
    assert_null(at(L.docs[0].obj, "metadata.annotations"));
    assert_null(at(L.docs[0].obj, "metadata.labels"));
    assert_null(at(L.docs[0].obj, "spec.predictor.minReplicas"));
    expect(ISVC "    model:\n      modelFormat: {name: sklearn}\n      storageUri:\n",
           "t.yaml:9:7: spec.predictor.model.storageUri: required field missing");
}

static void server_fields_and_status(void **state)
{
    (void)state;
    expect_ok("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n"
              "  namespace: default\n  generation: 3\n  resourceVersion: \"123\"\n  uid: 0b1c\n"
              "  creationTimestamp: null\nspec:\n  predictor:\n" MODEL
              "status:\n  url: http://m.default.example.com\n  conditions: [{type: Ready, status: \"True\"}]\n");
    assert_null(json_object_get(L.docs[0].obj, "status")); /* dropped: the server writes it */
    assert_int_equal(json_integer_value(at(L.docs[0].obj, "metadata.generation")), 3);
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n"
           "  generation: x\nspec:\n  predictor:\n" MODEL,
           "t.yaml:5:3: metadata.generation: must be an integer >= 0, got \"x\"");
    expect("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n"
           "  finalizers: [x]\nspec:\n  predictor:\n" MODEL,
           "t.yaml:5:3: metadata.finalizers: not supported yet");
}

static void root_must_be_a_mapping(void **state)
{
    (void)state;
    expect("[1, 2]\n", "t.yaml:1:1: a resource must be a mapping with apiVersion, kind, metadata and spec, got a list");
    expect("hello\n", "got \"hello\"");
}

static void errors_come_in_file_order(void **state)
{
    const char *a, *b, *c;
    (void)state;
    /* spec comes first in this file; metadata's error is still reported after it */
    expect("spec:\n  predictor:\n    minReplicas: x\n" MODEL "apiVersion: serving.kserve.io/v1beta1\n"
           "kind: InferenceService\nmetadata: {name: Bad}\n",
           "t.yaml:3:5: spec.predictor.minReplicas");
    a = strstr(E, "t.yaml:3:5:");
    b = strstr(E, "t.yaml:7:"); /* apiVersion is fine: no error there */
    c = strstr(E, "t.yaml:9:12: metadata.name");
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    assert_true(a < c);
    assert_non_null(strchr(E, '\n'));
}

static void error_buffer_limits(void **state)
{
    char small[200], tiny[16];
    const char *text = ISVC MODEL "    minReplicas: a\n    maxReplicas: b\n    timeout: c\n    scaleTarget: d\n"
                                  "    containerConcurrency: e\n";
    (void)state;
    ks_doc_list_free(&L);
    assert_int_equal(ks_yaml_load(text, strlen(text), "t.yaml", &L, E, sizeof(E)), 0);
    assert_int_equal(ks_validate(&L.docs[0], &K, small, sizeof(small)), KS_EINVAL);
    assert_true(strlen(small) < sizeof(small));
    assert_non_null(strstr(small, "t.yaml:10:5: spec.predictor.minReplicas"));
    assert_non_null(strstr(small, "more errors)"));
    ks_doc_list_free(&L);
    assert_int_equal(ks_yaml_load(text, strlen(text), "t.yaml", &L, E, sizeof(E)), 0);
    memset(tiny, 'x', sizeof(tiny));
    assert_int_equal(ks_validate(&L.docs[0], &K, tiny, sizeof(tiny)), KS_EINVAL);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    ks_doc_list_free(&L);
    assert_int_equal(ks_yaml_load(text, strlen(text), "t.yaml", &L, E, sizeof(E)), 0);
    assert_int_equal(ks_validate(&L.docs[0], NULL, NULL, 0), KS_EINVAL);
}

static void many_errors_are_counted(void **state)
{
    size_t cap = 64 * 1100 + 512, o;
    char *text = malloc(cap);
    (void)state;
    assert_non_null(text);
    o = (size_t)snprintf(text, cap, ISVC MODEL);
    for (int i = 0; i < 1100; ++i)
        o += (size_t)snprintf(text + o, cap - o, "    unknown%d: 1\n", i);
    assert_int_equal(check(text), KS_EINVAL);
    assert_non_null(strstr(E, "spec.predictor.unknown0: unknown field"));
    assert_non_null(strstr(E, "more errors)"));
    free(text);
}

static void aliases_report_at_the_alias(void **state)
{
    (void)state;
    expect(ISVC "    model: &m\n      modelFormat: {name: sklearn}\n      storageUri: gs://b/m\n"
                "  transformer: *m\n",
           "t.yaml:10:3: spec.transformer.storageUri: unknown field");
    /* merged from an alias: the merged keys have no position of their own */
    expect(ISVC "    model: &m\n      modelFormat: {name: sklearn}\n      storageUri: gs://b/m\n"
                "    sklearn:\n      <<: *m\n",
           "t.yaml:10:5: spec.predictor.sklearn.modelFormat: unknown field");
    expect_ok("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: m\n"
              "  labels: {format: &f sklearn}\nspec:\n  predictor:\n    model:\n      modelFormat: {name: *f}\n"
              "      storageUri: gs://b/m\n");
    assert_string_equal(str_at("spec.predictor.model.modelFormat.name"), "sklearn");
}

/* ---- JSON bodies (the API server) -------------------------------------------------------- */

static void json_bodies_without_positions(void **state)
{
    json_error_t je;
    json_t *obj = json_loads("{\"apiVersion\": \"serving.kserve.io/v1beta1\", \"kind\": \"InferenceService\","
                             " \"metadata\": {\"name\": \"m\"}, \"spec\": {\"predictor\": {\"minReplicas\": \"two\","
                             " \"model\": {\"modelFormat\": {\"name\": \"sklearn\"}, \"storgeUri\": \"gs://b\"}}}}",
                             0, &je);
    (void)state;
    assert_non_null(obj);
    assert_int_equal(ks_validate_json(obj, &K, E, sizeof(E)), KS_EINVAL);
    assert_int_equal(K, KS_KIND_ISVC);
    assert_non_null(strstr(E, "spec.predictor.minReplicas: must be an integer >= 0, got \"two\""));
    assert_non_null(strstr(E, "spec.predictor.model.storgeUri: unknown field (did you mean storageUri?)"));
    assert_non_null(strstr(E, "spec.predictor.model.storageUri: required field missing"));
    assert_null(strstr(E, ":1:")); /* no positions */
    assert_true(strncmp(E, "spec.", 5) == 0);
    json_decref(obj);

    obj = json_loads("{\"apiVersion\": \"serving.kserve.io/v1beta1\", \"kind\": \"InferenceService\","
                     " \"metadata\": {\"name\": \"m\"}, \"spec\": {\"predictor\": {\"xgboost\": "
                     "{\"storageUri\": \"gs://b\"}}}}",
                     0, &je);
    assert_non_null(obj);
    assert_int_equal(ks_validate_json(obj, &K, E, sizeof(E)), 0);
    assert_string_equal(json_string_value(at(obj, "metadata.namespace")), "default");
    assert_string_equal(json_string_value(at(obj, "spec.predictor.model.modelFormat.name")), "xgboost");
    assert_null(at(obj, "spec.predictor.xgboost"));
    json_decref(obj);

    obj = json_string("x");
    assert_int_equal(ks_validate_json(obj, &K, E, sizeof(E)), KS_EINVAL);
    assert_string_equal(E, "a resource must be a mapping with apiVersion, kind, metadata and spec, got \"x\"");
    json_decref(obj);
}

/* ---- ServingRuntime ------------------------------------------------------------------------ */

static void runtime_containers(void **state)
{
    (void)state;
    expect_ok(RUNTIME "      image: kserve/sklearnserver:latest\n      command: [kserve]\n"
                      "      args: [\"--model_name={{.Name}}\"]\n      env: [{name: A, value: b}]\n"
                      "      ports: [{containerPort: 8080, name: http1, protocol: TCP}]\n"
                      "      resources: {limits: {cpu: 1}}\n");
    expect("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\nmetadata: {name: rt}\nspec:\n"
           "  supportedModelFormats: [{name: sklearn}]\n",
           "t.yaml:4:1: spec.containers: required field missing");
    expect("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\nmetadata: {name: rt}\nspec:\n"
           "  containers: []\n",
           "t.yaml:5:3: spec.containers: must have at least 1 item");
    expect("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\nmetadata: {name: rt}\nspec:\n"
           "  containers:\n    - image: x\n",
           "t.yaml:6:7: spec.containers[0].name: required field missing");
    expect(RUNTIME "    - name: kserve-container\n",
           "t.yaml:8:7: spec.containers[1].name: duplicate container name \"kserve-container\" (also containers[0])");
    expect(RUNTIME "      ports:\n        - containerPort: 70000\n",
           "t.yaml:9:11: spec.containers[0].ports[0].containerPort: must be an integer from 1 to 65535, got 70000");
    expect(RUNTIME "      ports:\n        - {containerPort: 80, protocol: tcp}\n",
           "spec.containers[0].ports[0].protocol: must be one of TCP, UDP, SCTP, got \"tcp\" (did you mean TCP?)");
    expect(RUNTIME "      ports:\n        - {name: http}\n",
           "t.yaml:9:11: spec.containers[0].ports[0].containerPort: required field missing");
    expect(RUNTIME "      volumeMounts: [{name: v, mountPath: /m}]\n",
           "t.yaml:8:7: spec.containers[0].volumeMounts: not supported yet");
    expect(RUNTIME "      livenessProbe: {}\n", "spec.containers[0].livenessProbe: not supported yet");
    expect(RUNTIME "      comand: [x]\n", "t.yaml:8:7: spec.containers[0].comand: unknown field (did you mean "
                                          "command?)");
    expect(RUNTIME "      command: kserve model-server\n",
           "spec.containers[0].command: must be a list, got \"kserve model-server\"");
    expect(RUNTIME "      image: 5\n", "spec.containers[0].image: must be a string, got 5");
    expect(RUNTIME "    - name: Bad_Name\n", "spec.containers[1].name: \"Bad_Name\" is not a valid container name");
}

static void many_containers_are_checked_in_linear_time(void **state)
{
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:[]}}", "apiVersion", "serving.kserve.io/v1alpha1", "kind",
                            "ServingRuntime", "metadata", "name", "rt", "spec", "containers");
    json_t *list = json_object_get(json_object_get(obj, "spec"), "containers");
    char name[32];
    (void)state;
    assert_non_null(obj);
    for (int i = 0; i < 50000; ++i) {
        snprintf(name, sizeof(name), "c%d", i);
        json_array_append_new(list, json_pack("{s:s}", "name", name));
    }
    json_array_append_new(list, json_pack("{s:s}", "name", "c7"));
    assert_int_equal(ks_validate_json(obj, &K, E, sizeof(E)), KS_EINVAL);
    assert_string_equal(E, "spec.containers[50000].name: duplicate container name \"c7\" (also containers[7])");
    json_decref(obj);
}

static void runtime_security_context(void **state)
{
    (void)state;
    expect_ok(RUNTIME "      securityContext:\n        allowPrivilegeEscalation: false\n        privileged: false\n"
                      "        runAsNonRoot: true\n        capabilities: {drop: [ALL]}\n");
    expect(RUNTIME "      securityContext: {privileged: true}\n",
           "spec.containers[0].securityContext.privileged: true is not supported yet");
    expect(RUNTIME "      securityContext: {capabilities: {add: [NET_ADMIN]}}\n",
           "spec.containers[0].securityContext.capabilities.add: not supported yet");
    expect(RUNTIME "      securityContext: {runAsUser: 1000}\n",
           "spec.containers[0].securityContext.runAsUser: not supported yet");
}

static void runtime_model_formats_and_protocols(void **state)
{
    (void)state;
    expect_ok(RUNTIME "  supportedModelFormats:\n    - {name: sklearn, version: \"1\", autoSelect: true, priority: 1}\n"
                      "    - {name: xgboost}\n  protocolVersions: [v1, v2, grpc-v1, grpc-v2]\n  multiModel: false\n"
                      "  disabled: true\n");
    expect(RUNTIME "  supportedModelFormats:\n    - {version: \"1\"}\n",
           "t.yaml:9:7: spec.supportedModelFormats[0].name: required field missing");
    expect(RUNTIME "  supportedModelFormats:\n    - {name: sklearn, priority: 0}\n",
           "spec.supportedModelFormats[0].priority: must be an integer > 0, got 0");
    expect(RUNTIME "  supportedModelFormats:\n    - {name: sklearn, autoSelect: yes}\n",
           "spec.supportedModelFormats[0].autoSelect: must be true or false, got \"yes\"");
    expect(RUNTIME "  supportedModelFormats:\n    - {name: sklearn, version: 1}\n",
           "spec.supportedModelFormats[0].version: must be a string, got 1 (quote it: \"1\")");
    expect(RUNTIME "  protocolVersions: [v1, v3]\n",
           "t.yaml:8:26: spec.protocolVersions[1]: must be one of v1, v2, grpc-v1, grpc-v2, got \"v3\"");
    expect(RUNTIME "  protocolVersions: v1\n", "spec.protocolVersions: must be a list, got \"v1\"");
    expect(RUNTIME "  multiModel: \"false\"\n", "t.yaml:8:3: spec.multiModel: must be true or false, got \"false\"");
    expect(RUNTIME "  supportedModelFormat: []\n",
           "spec.supportedModelFormat: unknown field (did you mean supportedModelFormats?)");
}

static void runtime_unsupported_and_adapter(void **state)
{
    (void)state;
    expect_ok(RUNTIME "  builtInAdapter:\n    serverType: triton\n    runtimeManagementPort: 8001\n"
                      "    memBufferBytes: 134217728\n    modelLoadingTimeoutMillis: 90000\n"
                      "  annotations: {prometheus.kserve.io/port: \"8080\"}\n");
    expect(RUNTIME "  builtInAdapter: {runtimeManagementPort: 0}\n",
           "spec.builtInAdapter.runtimeManagementPort: must be an integer from 1 to 65535, got 0");
    expect(RUNTIME "  volumes: []\n", "t.yaml:8:3: spec.volumes: not supported yet");
    expect(RUNTIME "  nodeSelector: {a: b}\n", "spec.nodeSelector: not supported yet");
    expect(RUNTIME "  grpcDataEndpoint: port:8001\n", "spec.grpcDataEndpoint: not supported yet");
    expect(RUNTIME "  annotations: {prometheus.kserve.io/port: 8080}\n",
           "spec.annotations[\"prometheus.kserve.io/port\"]: must be a string, got 8080 (quote it: \"8080\")");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(sklearn_iris),
        T(xgboost_iris_keeps_its_namespace),
        T(v2_protocol),
        T(old_single_key_form_becomes_model),
        T(every_framework_key),
        T(old_form_with_resources_and_numbers),
        T(canary_with_every_predictor_field),
        T(raw_deployment_with_cpu_metric),
        T(kserve_cluster_runtime),
        T(multi_document_file),
        T(json_file),
        T(every_error_of_a_bad_file),
        T(unknown_field_with_suggestion),
        T(unknown_field_without_suggestion),
        T(field_in_the_wrong_place),
        T(wrong_types_name_the_expected_type),
        T(replicas_rules),
        T(canary_percent_bounds),
        T(scale_metric_fits_the_deployment_mode),
        T(deployment_mode_annotation),
        T(annotations_and_labels),
        T(not_supported_yet_by_name),
        T(exactly_one_implementation),
        T(required_fields),
        T(api_version_and_kind),
        T(kind_is_reported_even_when_invalid),
        T(names),
        T(namespaces),
        T(storage_uris),
        T(env_lists),
        T(resources_and_quantities),
        T(nulls_are_absent),
        T(server_fields_and_status),
        T(root_must_be_a_mapping),
        T(errors_come_in_file_order),
        T(error_buffer_limits),
        T(many_errors_are_counted),
        T(aliases_report_at_the_alias),
        T(json_bodies_without_positions),
        T(autoscaling_annotations_are_checked),
        T(runtime_containers),
        T(many_containers_are_checked_in_linear_time),
        T(runtime_security_context),
        T(runtime_model_formats_and_protocols),
        T(runtime_unsupported_and_adapter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
