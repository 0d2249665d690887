/*
 * ks_route (src/server/router.c): every route of include/ks/router.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ks/router.h"

static ks_route_t route(const char *method, const char *path)
{
    ks_route_t r;
    memset(&r, 0xa5, sizeof(r)); /* ks_route must set every field */
    ks_route(method, strlen(method), path, strlen(path), &r);
    return r;
}

static void expect_route(const char *method, const char *path, ks_route_kind_t kind, const char *model,
                         const char *version, int method_ok, const char *allow)
{
    ks_route_t r = route(method, path);
    if (r.kind != kind)
        fail_msg("%s %s: kind %d, expected %d", method, path, (int)r.kind, (int)kind);
    if (kind == KS_R_NOT_FOUND)
        return; /* nothing else is promised for an unknown path */
    if (model == NULL) {
        assert_int_equal(r.model_len, 0);
    } else {
        assert_non_null(r.model);
        if (r.model_len != strlen(model) || memcmp(r.model, model, r.model_len) != 0)
            fail_msg("%s %s: model \"%.*s\", expected \"%s\"", method, path, (int)r.model_len, r.model, model);
        /* the name points into the path */
        assert_true(r.model >= path && r.model + r.model_len <= path + strlen(path));
    }
    if (version == NULL) {
        assert_null(r.version);
        assert_int_equal(r.version_len, 0);
    } else {
        assert_non_null(r.version);
        if (r.version_len != strlen(version) || memcmp(r.version, version, r.version_len) != 0)
            fail_msg("%s %s: version \"%.*s\", expected \"%s\"", method, path, (int)r.version_len, r.version, version);
    }
    if (r.method_ok != method_ok)
        fail_msg("%s %s: method_ok %d, expected %d", method, path, r.method_ok, method_ok);
    assert_non_null(r.allow);
    assert_string_equal(r.allow, allow);
}

#define OK_GET(path, kind, model, version) expect_route("GET", path, kind, model, version, 1, "GET")
#define OK_POST(path, kind, model, version) expect_route("POST", path, kind, model, version, 1, "POST")
#define NOT_FOUND(method, path) expect_route(method, path, KS_R_NOT_FOUND, NULL, NULL, 0, NULL)

static void route_root_and_metrics(void **state)
{
    (void)state;
    OK_GET("/", KS_R_ROOT, NULL, NULL);
    OK_GET("/metrics", KS_R_METRICS, NULL, NULL);
    OK_GET("/metrics/", KS_R_METRICS, NULL, NULL);
    expect_route("HEAD", "/", KS_R_ROOT, NULL, NULL, 1, "GET");
    expect_route("POST", "/", KS_R_ROOT, NULL, NULL, 0, "GET");
    expect_route("DELETE", "/metrics", KS_R_METRICS, NULL, NULL, 0, "GET");
}

static void route_v1_models(void **state)
{
    (void)state;
    OK_GET("/v1/models", KS_R_V1_MODELS, NULL, NULL);
    OK_GET("/v1/models/", KS_R_V1_MODELS, NULL, NULL);
    OK_GET("/v1/models/sklearn-iris", KS_R_V1_MODEL, "sklearn-iris", NULL);
    OK_GET("/v1/models/sklearn-iris/", KS_R_V1_MODEL, "sklearn-iris", NULL);
    expect_route("POST", "/v1/models", KS_R_V1_MODELS, NULL, NULL, 0, "GET");
    expect_route("POST", "/v1/models/iris", KS_R_V1_MODEL, "iris", NULL, 0, "GET");
}

static void route_v1_predict_explain(void **state)
{
    (void)state;
    OK_POST("/v1/models/sklearn-iris:predict", KS_R_V1_PREDICT, "sklearn-iris", NULL);
    OK_POST("/v1/models/m:explain", KS_R_V1_EXPLAIN, "m", NULL);
    OK_POST("/v1/models/m:predict/", KS_R_V1_PREDICT, "m", NULL);
    expect_route("GET", "/v1/models/m:predict", KS_R_V1_PREDICT, "m", NULL, 0, "POST");
    expect_route("HEAD", "/v1/models/m:explain", KS_R_V1_EXPLAIN, "m", NULL, 0, "POST");
    expect_route("PUT", "/v1/models/m:predict", KS_R_V1_PREDICT, "m", NULL, 0, "POST");
}

static void route_v1_colons_in_names(void **state)
{
    (void)state;
    OK_POST("/v1/models/a:b:predict", KS_R_V1_PREDICT, "a:b", NULL);
    OK_POST("/v1/models/ns:model:v1:explain", KS_R_V1_EXPLAIN, "ns:model:v1", NULL);
    OK_GET("/v1/models/a:b", KS_R_V1_MODEL, "a:b", NULL);
    /* only an exact ":predict"/":explain" suffix is a verb */
    OK_GET("/v1/models/m:predictx", KS_R_V1_MODEL, "m:predictx", NULL);
    OK_GET("/v1/models/m:Predict", KS_R_V1_MODEL, "m:Predict", NULL);
    OK_GET("/v1/models/m:predict:x", KS_R_V1_MODEL, "m:predict:x", NULL);
}

static void route_v1_not_found(void **state)
{
    (void)state;
    NOT_FOUND("POST", "/v1/models/:predict");
    NOT_FOUND("POST", "/v1/models/:explain");
    NOT_FOUND("GET", "/v1/models/a/b");
    NOT_FOUND("POST", "/v1/models/a/b:predict");
    NOT_FOUND("GET", "/v1/modelsx");
    NOT_FOUND("GET", "/v1/models//");
    NOT_FOUND("GET", "/v1");
    NOT_FOUND("GET", "/v1/");
    NOT_FOUND("GET", "/v1/model/iris");
}

static void route_query_strings(void **state)
{
    (void)state;
    OK_POST("/v1/models/iris:predict?debug=1", KS_R_V1_PREDICT, "iris", NULL);
    OK_GET("/v1/models/iris?x=a:predict", KS_R_V1_MODEL, "iris", NULL);
    OK_GET("/v2/health/live?probe=k8s", KS_R_V2_LIVE, NULL, NULL);
    OK_GET("/v2/health/ready/?a=1", KS_R_V2_READY, NULL, NULL);
    OK_POST("/v2/models/m/versions/2/infer?x=/y/z", KS_R_V2_INFER, "m", "2");
    OK_GET("/?", KS_R_ROOT, NULL, NULL);
    OK_GET("/metrics?name[]=x", KS_R_METRICS, NULL, NULL);
    NOT_FOUND("GET", "?/v2");
}

static void route_v2_server_and_health(void **state)
{
    (void)state;
    OK_GET("/v2", KS_R_V2_SERVER, NULL, NULL);
    OK_GET("/v2/", KS_R_V2_SERVER, NULL, NULL);
    OK_GET("/v2/health/live", KS_R_V2_LIVE, NULL, NULL);
    OK_GET("/v2/health/ready", KS_R_V2_READY, NULL, NULL);
    OK_GET("/v2/health/live/", KS_R_V2_LIVE, NULL, NULL);
    expect_route("HEAD", "/v2/health/ready", KS_R_V2_READY, NULL, NULL, 1, "GET");
    expect_route("POST", "/v2/health/live", KS_R_V2_LIVE, NULL, NULL, 0, "GET");
    NOT_FOUND("GET", "/v2/health");
    NOT_FOUND("GET", "/v2/health/alive");
    NOT_FOUND("GET", "/v2x");
}

static void route_v2_models_and_metadata(void **state)
{
    (void)state;
    OK_GET("/v2/models", KS_R_V2_MODELS, NULL, NULL);
    OK_GET("/v2/models/", KS_R_V2_MODELS, NULL, NULL);
    OK_GET("/v2/models/iris", KS_R_V2_MODEL, "iris", NULL);
    OK_GET("/v2/models/iris/", KS_R_V2_MODEL, "iris", NULL);
    OK_GET("/v2/models/iris/versions/1", KS_R_V2_MODEL, "iris", "1");
    OK_GET("/v2/models/a:b/versions/v2.0", KS_R_V2_MODEL, "a:b", "v2.0");
    expect_route("POST", "/v2/models/iris", KS_R_V2_MODEL, "iris", NULL, 0, "GET");
}

static void route_v2_model_ready(void **state)
{
    (void)state;
    OK_GET("/v2/models/iris/ready", KS_R_V2_MODEL_READY, "iris", NULL);
    OK_GET("/v2/models/iris/versions/3/ready", KS_R_V2_MODEL_READY, "iris", "3");
    OK_GET("/v2/models/iris/ready/", KS_R_V2_MODEL_READY, "iris", NULL);
    expect_route("POST", "/v2/models/iris/ready", KS_R_V2_MODEL_READY, "iris", NULL, 0, "GET");
}

static void route_v2_infer(void **state)
{
    (void)state;
    OK_POST("/v2/models/sklearn-iris/infer", KS_R_V2_INFER, "sklearn-iris", NULL);
    OK_POST("/v2/models/m/versions/1/infer", KS_R_V2_INFER, "m", "1");
    OK_POST("/v2/models/m/infer/", KS_R_V2_INFER, "m", NULL);
    expect_route("GET", "/v2/models/m/infer", KS_R_V2_INFER, "m", NULL, 0, "POST");
    expect_route("HEAD", "/v2/models/m/versions/1/infer", KS_R_V2_INFER, "m", "1", 0, "POST");
    expect_route("post", "/v2/models/m/infer", KS_R_V2_INFER, "m", NULL, 0, "POST"); /* methods are case-sensitive */
}

static void route_v2_repository(void **state)
{
    (void)state;
    OK_POST("/v2/repository/models/iris/load", KS_R_V2_LOAD, "iris", NULL);
    OK_POST("/v2/repository/models/iris/unload", KS_R_V2_UNLOAD, "iris", NULL);
    OK_POST("/v2/repository/models/iris/load/", KS_R_V2_LOAD, "iris", NULL);
    expect_route("GET", "/v2/repository/models/iris/load", KS_R_V2_LOAD, "iris", NULL, 0, "POST");
    NOT_FOUND("POST", "/v2/repository/models/iris");
    NOT_FOUND("POST", "/v2/repository/models//load");
    NOT_FOUND("POST", "/v2/repository/models/iris/reload");
    NOT_FOUND("POST", "/v2/repository/index");
}

static void route_v2_not_found(void **state)
{
    (void)state;
    NOT_FOUND("GET", "/v2/models/iris/metadata");
    NOT_FOUND("POST", "/v2/models/iris/predict");
    NOT_FOUND("GET", "/v2/models/iris/versions");
    NOT_FOUND("GET", "/v2/models/iris/versions/");
    NOT_FOUND("POST", "/v2/models/iris/versions//infer");
    NOT_FOUND("POST", "/v2/models//infer");
    NOT_FOUND("POST", "/v2/models/iris/versions/1/2/infer");
    NOT_FOUND("POST", "/v2/models/iris/infer/extra");
}

static void route_unknown_paths(void **state)
{
    (void)state;
    NOT_FOUND("GET", "");
    NOT_FOUND("GET", "/foo");
    NOT_FOUND("GET", "/metricsx");
    NOT_FOUND("GET", "//metrics");
    NOT_FOUND("GET", "/v3/models");
    NOT_FOUND("GET", "/V2/health/live");
    NOT_FOUND("POST", "/predict");
}

static void route_path_not_nul_terminated(void **state)
{
    /* the path is (pointer, length): bytes after it must not matter */
    const char buf[] = "/v2/models/iris/inferXXXX";
    ks_route_t r;
    (void)state;
    ks_route("POST", 4, buf, strlen("/v2/models/iris/infer"), &r);
    assert_int_equal(r.kind, KS_R_V2_INFER);
    assert_int_equal(r.method_ok, 1);
    assert_int_equal(r.model_len, 4);
    assert_memory_equal(r.model, "iris", 4);
    ks_route("GET", 3, buf, strlen("/v2/models/ir"), &r);
    assert_int_equal(r.kind, KS_R_V2_MODEL);
    assert_int_equal(r.model_len, 2);
    assert_memory_equal(r.model, "ir", 2);
    /* a method given by length too */
    ks_route("POSTX", 4, buf, strlen("/v2/models/iris/infer"), &r);
    assert_int_equal(r.method_ok, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(route_root_and_metrics),
        cmocka_unit_test(route_v1_models),
        cmocka_unit_test(route_v1_predict_explain),
        cmocka_unit_test(route_v1_colons_in_names),
        cmocka_unit_test(route_v1_not_found),
        cmocka_unit_test(route_query_strings),
        cmocka_unit_test(route_v2_server_and_health),
        cmocka_unit_test(route_v2_models_and_metadata),
        cmocka_unit_test(route_v2_model_ready),
        cmocka_unit_test(route_v2_infer),
        cmocka_unit_test(route_v2_repository),
        cmocka_unit_test(route_v2_not_found),
        cmocka_unit_test(route_unknown_paths),
        cmocka_unit_test(route_path_not_nul_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
