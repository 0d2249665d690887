/*
 * The C SDK (src/sdk/): its pure parts (options, predictor hosts, body
 * checks, JSON writing), then whole servers in this process on loopback
 * ports, with libcurl as the client:
 *
 *   M  a model (predict) whose behaviour the request body picks: echo the
 *      rows doubled, fail with a status, sleep, answer an error object;
 *   T  a transformer (preprocess, postprocess, jansson) in front of M;
 *   J  the same transformer on the JSON-text callbacks;
 *   raw predictors: scripted socket servers in a thread that answer in
 *      chunks, until EOF, or close a kept-alive connection.
 *
 * Every wait is bounded (curl's timeouts, WAIT_MS); every server a test
 * starts is stopped by that test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "../../src/sdk/internal.h"

#define WAIT_MS 10000

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a client ------------------------------------------------------------------------------------ */

typedef struct answer {
    long status;
    char body[16384];
    size_t len;
} answer_t;

static size_t on_data(char *p, size_t sz, size_t n, void *data)
{
    answer_t *a = data;
    size_t k = sz * n, room = sizeof(a->body) - 1 - a->len;
    memcpy(a->body + a->len, p, k < room ? k : room);
    a->len += k < room ? k : room;
    a->body[a->len] = '\0';
    return k;
}

/* GET when body is NULL, else POST; extra: one "Name: value" header or NULL */
static answer_t call(int port, const char *path, const char *body, const char *extra)
{
    answer_t a;
    char url[512];
    struct curl_slist *hs = NULL;
    CURL *c = curl_easy_init();

    memset(&a, 0, sizeof(a));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    hs = curl_slist_append(hs, "Content-Type: application/json");
    if (extra != NULL)
        hs = curl_slist_append(hs, extra);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) != CURLE_OK)
        a.status = -1;
    else
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return a;
}

/* the answer must be exactly this (a call is evaluated once) */
#define expect_answer(a, st, text)                                                                                     \
    do {                                                                                                               \
        answer_t got_ = (a);                                                                                           \
        if (got_.status != (st) || strcmp(got_.body, (text)) != 0)                                                     \
            fail_msg("got %ld %s, expected %d %s", got_.status, got_.body, (st), (text));                              \
    } while (0)

/* ---- the pure parts ------------------------------------------------------------------------------- */

static void test_options_defaults_and_set(void **state)
{
    char err[256], buf[64];
    ks_sdk_options_t *o;

    unsetenv("PORT");
    o = ks_sdk_options_new();
    assert_non_null(o);
    assert_int_equal(ks_sdk_options_get(o, "http_port", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "8080");
    ks_sdk_options_get(o, "model_name", buf, sizeof(buf));
    assert_string_equal(buf, "model");
    ks_sdk_options_get(o, "protocol", buf, sizeof(buf));
    assert_string_equal(buf, "v1");
    ks_sdk_options_get(o, "predictor_host", buf, sizeof(buf));
    assert_string_equal(buf, "");
    assert_int_equal(ks_sdk_options_get(o, "nope", buf, sizeof(buf)), KS_SDK_EINVAL);

    /* the three spellings */
    assert_int_equal(ks_sdk_options_set(o, "http_port", "9000", err, sizeof(err)), 0);
    assert_int_equal(ks_sdk_options_set(o, "--workers", "3", err, sizeof(err)), 0);
    assert_int_equal(ks_sdk_options_set(o, "--max-body-size", "2M", err, sizeof(err)), 0);
    ks_sdk_options_get(o, "http-port", buf, sizeof(buf));
    assert_string_equal(buf, "9000");
    ks_sdk_options_get(o, "workers", buf, sizeof(buf));
    assert_string_equal(buf, "3");
    ks_sdk_options_get(o, "max_body_size", buf, sizeof(buf));
    assert_string_equal(buf, "2097152");
    assert_int_equal(ks_sdk_options_set(o, "protocol", "v2", err, sizeof(err)), 0);
    ks_sdk_options_get(o, "protocol", buf, sizeof(buf));
    assert_string_equal(buf, "v2");
    assert_int_equal(ks_sdk_options_set(o, "predictor_host", "http://iris-predictor:8080/", err, sizeof(err)), 0);
    ks_sdk_options_get(o, "predictor_host", buf, sizeof(buf));
    assert_string_equal(buf, "http://iris-predictor:8080/");
    assert_int_equal(ks_sdk_options_set(o, "predictor_host", "", err, sizeof(err)), 0); /* KServe's "none" */
    ks_sdk_options_get(o, "predictor_host", buf, sizeof(buf));
    assert_string_equal(buf, "");

    /* bad values name the flag */
    assert_int_equal(ks_sdk_options_set(o, "http_port", "70000", err, sizeof(err)), KS_SDK_EINVAL);
    assert_non_null(strstr(err, "--http_port"));
    assert_int_equal(ks_sdk_options_set(o, "workers", "0", err, sizeof(err)), KS_SDK_EINVAL);
    assert_non_null(strstr(err, "--workers"));
    assert_int_equal(ks_sdk_options_set(o, "protocol", "v3", err, sizeof(err)), KS_SDK_EINVAL);
    assert_non_null(strstr(err, "--protocol"));
    assert_int_equal(ks_sdk_options_set(o, "model_name", "a/b", err, sizeof(err)), KS_SDK_EINVAL);
    assert_int_equal(ks_sdk_options_set(o, "max_body_size", "12Q", err, sizeof(err)), KS_SDK_EINVAL);
    assert_int_equal(ks_sdk_options_set(o, "predictor_host", "https://x:1", err, sizeof(err)), KS_SDK_EINVAL);
    assert_non_null(strstr(err, "only http://"));
    assert_int_equal(ks_sdk_options_set(o, "colour", "red", err, sizeof(err)), KS_SDK_EINVAL);
    assert_non_null(strstr(err, "unknown option --colour"));
    assert_int_equal(ks_sdk_options_set(o, "workers", NULL, err, sizeof(err)), KS_SDK_EINVAL);
    assert_non_null(strstr(err, "--workers: missing value"));
    /* a failed set leaves the value */
    ks_sdk_options_get(o, "http_port", buf, sizeof(buf));
    assert_string_equal(buf, "9000");
    ks_sdk_options_free(o);
}

static void test_options_port_env(void **state)
{
    char err[256], buf[32];
    ks_sdk_options_t *o;
    ks_sdk_server_t *s;
    static const ks_sdk_model_ops_t ops = {.predict = NULL};

    setenv("PORT", "9123", 1);
    o = ks_sdk_options_new();
    ks_sdk_options_get(o, "http_port", buf, sizeof(buf));
    assert_string_equal(buf, "9123");
    ks_sdk_options_free(o);

    /* a bad $PORT is reported when a server is made... */
    setenv("PORT", "eighty", 1);
    o = ks_sdk_options_new();
    ks_sdk_options_set(o, "predictor_host", "127.0.0.1:1", err, sizeof(err));
    s = ks_sdk_server_new(o, &ops, NULL, err, sizeof(err));
    assert_null(s);
    assert_non_null(strstr(err, "$PORT"));
    /* ...unless --http_port replaced it */
    assert_int_equal(ks_sdk_options_set(o, "http_port", "0", err, sizeof(err)), 0);
    s = ks_sdk_server_new(o, &ops, NULL, err, sizeof(err));
    assert_non_null(s);
    ks_sdk_server_stop(s);
    ks_sdk_options_free(o);
    unsetenv("PORT");
}

static void test_options_parse(void **state)
{
    char err[256], buf[64];
    ks_sdk_options_t *o = ks_sdk_options_new();
    char *argv1[] = {"/usr/bin/prog", "--model_name", "iris", "--http_port=8081", "--predictor-host", "p:80",
                     "--protocol", "v2", NULL};
    char *argv_help[] = {"prog", "--workers", "2", "--help", NULL};
    char *argv_unknown[] = {"prog", "--enable_magic", "1", NULL};
    char *argv_missing[] = {"prog", "--model_name", NULL};
    char *argv_positional[] = {"prog", "iris", NULL};

    assert_int_equal(ks_sdk_options_parse(o, 8, argv1, err, sizeof(err)), 0);
    ks_sdk_options_get(o, "model_name", buf, sizeof(buf));
    assert_string_equal(buf, "iris");
    ks_sdk_options_get(o, "http_port", buf, sizeof(buf));
    assert_string_equal(buf, "8081");
    ks_sdk_options_get(o, "predictor_host", buf, sizeof(buf));
    assert_string_equal(buf, "p:80");
    assert_string_equal(o->program, "prog");
    assert_int_equal(ks_sdk_options_parse(o, 4, argv_help, err, sizeof(err)), 1);
    assert_int_equal(ks_sdk_options_parse(o, 3, argv_unknown, err, sizeof(err)), KS_SDK_EINVAL);
    assert_non_null(strstr(err, "--enable_magic"));
    assert_int_equal(ks_sdk_options_parse(o, 2, argv_missing, err, sizeof(err)), KS_SDK_EINVAL);
    assert_non_null(strstr(err, "--model_name: missing value"));
    assert_int_equal(ks_sdk_options_parse(o, 2, argv_positional, err, sizeof(err)), KS_SDK_EINVAL);
    assert_non_null(strstr(ks_sdk_usage(), "--predictor_host"));
    ks_sdk_options_free(o);
}

static void test_split_host(void **state)
{
    static const struct {
        const char *in;
        int ok;
        const char *host;
        int port;
    } cases[] = {
        {"iris-predictor", 1, "iris-predictor", 80},
        {"iris-predictor.default:8080", 1, "iris-predictor.default", 8080},
        {"http://127.0.0.1:9000/", 1, "127.0.0.1", 9000},
        {"[::1]:8081", 1, "::1", 8081},
        {"[::1]", 1, "::1", 80},
        {"::1", 0, NULL, 0},
        {"host:", 0, NULL, 0},
        {"host:0", 0, NULL, 0},
        {"host:65536", 0, NULL, 0},
        {"host:8o", 0, NULL, 0},
        {":80", 0, NULL, 0},
        {"", 0, NULL, 0},
        {"a/b:80", 0, NULL, 0},
        {"grpc://x:1", 0, NULL, 0},
        {"[::1", 0, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        char host[64], err[256];
        int port = -1, r = ks__sdk_split_host(cases[i].in, host, sizeof(host), &port, err, sizeof(err));
        if (cases[i].ok) {
            if (r != 0)
                fail_msg("%s: %s", cases[i].in, err);
            assert_string_equal(host, cases[i].host);
            assert_int_equal(port, cases[i].port);
        } else if (r == 0) {
            fail_msg("%s: accepted", cases[i].in);
        }
    }
}

static void test_check_body(void **state)
{
    static const struct {
        const char *text;
        ks_sdk_protocol_t proto;
        const char *err; /* NULL: fine */
    } cases[] = {
        {"{\"instances\":[[1,2]]}", KS_SDK_V1, NULL},
        {"{\"inputs\":[[1,2]]}", KS_SDK_V1, NULL},
        {"{\"anything\":1}", KS_SDK_V1, NULL},
        {"{\"instances\":{\"a\":1}}", KS_SDK_V1, "Expected \"instances\" to be a list"},
        {"{\"inputs\":3}", KS_SDK_V1, "Expected \"inputs\" to be a list"},
        {"[1,2]", KS_SDK_V1, "expected a JSON object"},
        {"{\"inputs\":[{\"name\":\"a\"}]}", KS_SDK_V2, NULL},
        {"{\"instances\":[]}", KS_SDK_V2, "\"inputs\" must be a list"},
        {"{\"inputs\":[1]}", KS_SDK_V2, "inputs[0] is not an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        char err[256] = "";
        json_t *j = ks__sdk_parse(cases[i].text, strlen(cases[i].text), err, sizeof(err));
        int r;
        assert_non_null(j);
        r = ks__sdk_check_body(j, cases[i].proto, err, sizeof(err));
        if (cases[i].err == NULL && r != 0)
            fail_msg("%s: %s", cases[i].text, err);
        if (cases[i].err != NULL && (r == 0 || strstr(err, cases[i].err) == NULL))
            fail_msg("%s: got \"%s\", expected \"%s\"", cases[i].text, r == 0 ? "accepted" : err, cases[i].err);
        json_decref(j);
    }
}

static void test_parse_errors(void **state)
{
    char err[256];
    assert_null(ks__sdk_parse("", 0, err, sizeof(err)));
    assert_string_equal(err, "the request has no body");
    assert_null(ks__sdk_parse("{\"a\":", 5, err, sizeof(err)));
    assert_non_null(strstr(err, "Unrecognized request format: "));
    assert_non_null(strstr(err, "line 1"));
    /* a NUL inside a string is JSON */
    json_decref(ks__sdk_parse("{\"a\":\"x\\u0000y\"}", 16, err, sizeof(err)));
}

static void test_dump(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"{\"b\":1,\"a\":[1.0,5.1,0.1,-2.5e-07,1e300,123456789012345678]}",
         "{\"b\":1,\"a\":[1.0,5.1,0.1,-2.5e-07,1e+300,123456789012345678]}"},
        {"{\"s\":\"q\\\"\\\\\\n\\u0001\\u00e9\",\"t\":true,\"f\":false,\"n\":null}",
         "{\"s\":\"q\\\"\\\\\\n\\u0001\xc3\xa9\",\"t\":true,\"f\":false,\"n\":null}"},
        {"[[],{},[{}]]", "[[],{},[{}]]"},
        {"{\"k\":\"a\\u0000b\"}", "{\"k\":\"a\\u0000b\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        char err[256];
        ks_buf_t b;
        json_t *j = ks__sdk_parse(cases[i].in, strlen(cases[i].in), err, sizeof(err));
        assert_non_null(j);
        ks_buf_init(&b, 0);
        assert_int_equal(ks__sdk_dump(&b, j), 0);
        ks_buf_putc(&b, '\0');
        assert_string_equal(b.base, cases[i].out);
        ks_buf_free(&b);
        json_decref(j);
    }
}

static void test_predictor_path(void **state)
{
    char buf[64];
    assert_int_equal(ks__sdk_predictor_path(buf, sizeof(buf), KS_SDK_V1, "iris"), 0);
    assert_string_equal(buf, "/v1/models/iris:predict");
    assert_int_equal(ks__sdk_predictor_path(buf, sizeof(buf), KS_SDK_V2, "iris"), 0);
    assert_string_equal(buf, "/v2/models/iris/infer");
    assert_int_not_equal(ks__sdk_predictor_path(buf, 10, KS_SDK_V2, "iris"), 0);
}

/* ---- the model M ---------------------------------------------------------------------------------- */

/*
 * {"instances": [[numbers]...]} -> {"predictions": [[each doubled]...]}
 * {"fail": status}       -> that status with "asked to fail" (0: no status set)
 * {"error_object": st}   -> fails with st: the transformer must pass the answer through
 * {"sleep_ms": n}        -> sleeps, then answers {"slept": n}
 * V2 -> {"outputs": [{"data": <inputs[0].data doubled>}]}
 */
static json_t *doubled(json_t *v)
{
    if (json_is_number(v))
        return json_real(json_number_value(v) * 2);
    if (json_is_array(v)) {
        json_t *o = json_array(), *e;
        size_t i;
        json_array_foreach (v, i, e)
            json_array_append_new(o, doubled(e));
        return o;
    }
    return json_null();
}

static _Atomic int m_calls;

static json_t *m_predict(void *user, const ks_sdk_request_t *r, json_t *body, ks_sdk_error_t *e)
{
    json_t *v;
    atomic_fetch_add(&m_calls, 1);
    if ((v = json_object_get(body, "fail")) != NULL) {
        if (json_integer_value(v) == 0)
            return NULL;
        return ks_sdk_error_set(e, (int)json_integer_value(v), "asked to fail");
    }
    if ((v = json_object_get(body, "sleep_ms")) != NULL) {
        msleep((int)json_integer_value(v));
        return json_pack("{s:I}", "slept", json_integer_value(v));
    }
    if (ks_sdk_request_protocol(r) == KS_SDK_V2) {
        json_t *in = json_array_get(json_object_get(body, "inputs"), 0);
        return json_pack("{s:s,s:[{s:s,s:o}]}", "model_name", ks_sdk_request_model_name(r), "outputs", "name", "out",
                         "data", doubled(json_object_get(in, "data")));
    }
    return json_pack("{s:o}", "predictions", doubled(json_object_get(body, "instances")));
}

/* ---- the transformer T: wraps {"x": [...]} into instances, adds "post": true ---------------------- */

static char seen_header[64];
static char seen_headers_json[1024];
static _Atomic int seen_worker = -1;

static json_t *t_pre(void *user, const ks_sdk_request_t *r, json_t *body, ks_sdk_error_t *e)
{
    size_t len;
    const char *h = ks_sdk_request_header(r, "X-Test", &len);
    json_t *x = json_object_get(body, "x");
    if (h != NULL) {
        char *all = ks_sdk_request_headers_json(r);
        snprintf(seen_header, sizeof(seen_header), "%.*s", (int)len, h);
        snprintf(seen_headers_json, sizeof(seen_headers_json), "%s", all != NULL ? all : "");
        ks_sdk_free(all);
        atomic_store(&seen_worker, ks_sdk_request_worker(r));
    }
    if (json_object_get(body, "pre_fail") != NULL)
        return ks_sdk_error_set(e, 422, "preprocess says no");
    if (x == NULL) /* passed on as it came */
        return json_incref(body);
    if (ks_sdk_request_predictor_protocol(r) == KS_SDK_V2)
        return json_pack("{s:[{s:s,s:O}]}", "inputs", "name", "in", "data", x);
    return json_pack("{s:O}", "instances", x);
}

static json_t *t_post(void *user, const ks_sdk_request_t *r, json_t *body, ks_sdk_error_t *e)
{
    json_object_set_new(body, "post", json_true());
    return json_incref(body);
}

/* ---- the same on JSON text -------------------------------------------------------------------- */

static int j_pre(void *user, const ks_sdk_request_t *r, const char *in, size_t len, char **out, int *status, char *err,
                 size_t errlen)
{
    if (strlen(in) != len) { /* not an assert: this runs on a worker thread */
        snprintf(err, errlen, "json_in is %zu bytes, len says %zu", strlen(in), len);
        return -1;
    }
    if (strstr(in, "\"pre_fail\"") != NULL) {
        *status = 418;
        snprintf(err, errlen, "teapot");
        return -1;
    }
    if (strstr(in, "\"garbage\"") != NULL) {
        *out = ks_sdk_strndup("{not json", 9);
        return 0;
    }
    if (strstr(in, "\"nothing\"") != NULL)
        return 0;
    *out = ks_sdk_strndup(in, len);
    return 0;
}

static int j_post(void *user, const ks_sdk_request_t *r, const char *in, size_t len, char **out, int *status, char *err,
                  size_t errlen)
{
    char *o = ks_sdk_alloc(len + 32);
    snprintf(o, len + 32, "{\"wrapped\":%s}", in);
    *out = o;
    return 0;
}

/* ---- starting servers ------------------------------------------------------------------------- */

static ks_sdk_server_t *start(const ks_sdk_model_ops_t *ops, const ks_sdk_json_ops_t *jops, const char *name,
                              int workers, const char *predictor, const char *extra_name, const char *extra_value)
{
    char err[256], n[16];
    ks_sdk_options_t *o = ks_sdk_options_new();
    ks_sdk_server_t *s;

    assert_non_null(o);
    snprintf(n, sizeof(n), "%d", workers);
    assert_int_equal(ks_sdk_options_set(o, "http_port", "0", err, sizeof(err)), 0);
    assert_int_equal(ks_sdk_options_set(o, "http_host", "127.0.0.1", err, sizeof(err)), 0);
    assert_int_equal(ks_sdk_options_set(o, "model_name", name, err, sizeof(err)), 0);
    assert_int_equal(ks_sdk_options_set(o, "workers", n, err, sizeof(err)), 0);
    assert_int_equal(ks_sdk_options_set(o, "drain_timeout", "5", err, sizeof(err)), 0);
    if (predictor != NULL)
        assert_int_equal(ks_sdk_options_set(o, "predictor_host", predictor, err, sizeof(err)), 0);
    if (extra_name != NULL && ks_sdk_options_set(o, extra_name, extra_value, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    s = jops != NULL ? ks_sdk_server_new_json(o, jops, NULL, err, sizeof(err)) : ks_sdk_server_new(o, ops, NULL, err, sizeof(err));
    ks_sdk_options_free(o);
    if (s == NULL)
        fail_msg("server: %s", err);
    if (ks_sdk_server_start(s, err, sizeof(err)) != 0)
        fail_msg("start: %s", err);
    return s;
}

static const ks_sdk_model_ops_t M_OPS = {.predict = m_predict};
static const ks_sdk_model_ops_t T_OPS = {.preprocess = t_pre, .postprocess = t_post};
static const ks_sdk_json_ops_t J_OPS = {.preprocess = j_pre, .postprocess = j_post};

static char *host_of(int port, char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%d", port);
    return buf;
}

/* ---- routes -------------------------------------------------------------------------------------- */

static void test_routes(void **state)
{
    ks_sdk_server_t *m = start(&M_OPS, NULL, "m", 1, NULL, NULL, NULL);
    int p = ks_sdk_server_port(m);
    answer_t a;

    expect_answer(call(p, "/", NULL, NULL), 200, "{\"status\":\"alive\"}");
    expect_answer(call(p, "/v2/health/live", NULL, NULL), 200, "{\"live\":true}");
    expect_answer(call(p, "/v2/health/ready", NULL, NULL), 200, "{\"ready\":true}");
    expect_answer(call(p, "/v1/models", NULL, NULL), 200, "{\"models\":[\"m\"]}");
    expect_answer(call(p, "/v2/models", NULL, NULL), 200, "{\"models\":[\"m\"]}");
    expect_answer(call(p, "/v1/models/m", NULL, NULL), 200, "{\"name\":\"m\",\"ready\":true}");
    expect_answer(call(p, "/v2/models/m/ready", NULL, NULL), 200, "{\"name\":\"m\",\"ready\":true}");
    expect_answer(call(p, "/v2/models/m/versions/1/ready", NULL, NULL), 200, "{\"name\":\"m\",\"ready\":true}");
    expect_answer(call(p, "/v2/models/m", NULL, NULL), 200,
                  "{\"name\":\"m\",\"versions\":[],\"platform\":\"kserve-c-sdk\",\"inputs\":[],\"outputs\":[]}");
    expect_answer(call(p, "/v1/models/other", NULL, NULL), 404, "{\"error\":\"Model with name other does not exist.\"}");
    expect_answer(call(p, "/v1/models/other:predict", "{}", NULL), 404,
                  "{\"error\":\"Model with name other does not exist.\"}");
    expect_answer(call(p, "/v1/models/m:explain", "{}", NULL), 501, "{\"error\":\"model m has no explainer\"}");
    expect_answer(call(p, "/nowhere", NULL, NULL), 404, "{\"error\":\"no such endpoint: /nowhere\"}");
    a = call(p, "/v1/models/m", "{}", NULL);
    assert_int_equal(a.status, 405);
    a = call(p, "/v2", NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "\"kserve-c-sdk\""));
    ks_sdk_server_stop(m);
}

static void test_model_predict(void **state)
{
    ks_sdk_server_t *m = start(&M_OPS, NULL, "m", 2, NULL, NULL, NULL);
    int p = ks_sdk_server_port(m);
    answer_t a;

    expect_answer(call(p, "/v1/models/m:predict", "{\"instances\":[[1,2.5],[3,4]]}", NULL), 200,
                  "{\"predictions\":[[2.0,5.0],[6.0,8.0]]}");
    expect_answer(call(p, "/v2/models/m/infer", "{\"inputs\":[{\"name\":\"a\",\"data\":[0.1]}]}", NULL), 200,
                  "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"out\",\"data\":[0.2]}]}");
    /* errors of the model */
    expect_answer(call(p, "/v1/models/m:predict", "{\"fail\":409}", NULL), 409, "{\"error\":\"asked to fail\"}");
    expect_answer(call(p, "/v1/models/m:predict", "{\"fail\":0}", NULL), 500, "{\"error\":\"predict failed\"}");
    /* errors of the request */
    a = call(p, "/v1/models/m:predict", "{\"instances\":", NULL);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.body, "Unrecognized request format"));
    expect_answer(call(p, "/v1/models/m:predict", "{\"instances\":1}", NULL), 400,
                  "{\"error\":\"Expected \\\"instances\\\" to be a list\"}");
    a = call(p, "/v2/models/m/infer", "{\"instances\":[]}", NULL);
    assert_int_equal(a.status, 400);
    a = call(p, "/v2/models/m/infer", "{\"inputs\":[]}", "Inference-Header-Content-Length: 14");
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.body, "binary tensor data"));
    a = call(p, "/metrics", NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "request_predict_seconds_count{model_name=\"m\"} 4\n"));
    assert_non_null(strstr(a.body, "kserve_inference_request_success{model=\"m\"} 2\n"));
    assert_non_null(strstr(a.body, "kserve_inference_request_failure{model=\"m\",reason=\"invalid_input\"} 5\n"));
    assert_non_null(strstr(a.body, "kserve_inference_request_failure{model=\"m\",reason=\"model_error\"} 1\n"));
    ks_sdk_server_stop(m);
}

/* ---- transformers --------------------------------------------------------------------------------- */

static void test_transformer(void **state)
{
    ks_sdk_server_t *m = start(&M_OPS, NULL, "m", 2, NULL, NULL, NULL);
    char host[64];
    ks_sdk_server_t *t = start(&T_OPS, NULL, "m", 2, host_of(ks_sdk_server_port(m), host, sizeof(host)), NULL, NULL);
    ks_sdk_server_t *t2 = start(&T_OPS, NULL, "m", 1, host, "protocol", "v2");
    int p = ks_sdk_server_port(t);
    uint64_t connects, reused;
    answer_t a;

    expect_answer(call(p, "/v1/models/m:predict", "{\"x\":[[1,2]]}", "X-Test: hello"), 200,
                  "{\"predictions\":[[2.0,4.0]],\"post\":true}");
    assert_string_equal(seen_header, "hello");
    assert_non_null(strstr(seen_headers_json, "\"x-test\":\"hello\""));
    assert_in_range(atomic_load(&seen_worker), 0, 1);
    /* V2 in, V1 to the predictor */
    expect_answer(call(p, "/v2/models/m/infer", "{\"inputs\":[],\"x\":[1]}", NULL), 200,
                  "{\"predictions\":[2.0],\"post\":true}");
    /* --protocol v2: the predictor's V2 route */
    expect_answer(call(ks_sdk_server_port(t2), "/v1/models/m:predict", "{\"x\":[3]}", NULL), 200,
                  "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"out\",\"data\":[6.0]}],\"post\":true}");
    /* the predictor's errors pass through with their status and body */
    expect_answer(call(p, "/v1/models/m:predict", "{\"fail\":409}", NULL), 409, "{\"error\":\"asked to fail\"}");
    expect_answer(call(p, "/v1/models/m:predict", "{\"fail\":0}", NULL), 500, "{\"error\":\"predict failed\"}");
    /* preprocess's own */
    expect_answer(call(p, "/v1/models/m:predict", "{\"pre_fail\":1}", NULL), 422, "{\"error\":\"preprocess says no\"}");
    /* requests went over kept-alive connections */
    for (int i = 0; i < 20; ++i) {
        a = call(p, "/v1/models/m:predict", "{\"x\":[1]}", NULL);
        assert_int_equal(a.status, 200);
    }
    ks__predictor_counts(ks__sdk_server_predictor(t), &connects, &reused);
    assert_in_range(connects, 1, 2); /* one per worker at most */
    assert_true(reused >= 22);
    a = call(p, "/metrics", NULL, NULL);
    assert_non_null(strstr(a.body, "kserve_inference_request_failure{model=\"m\",reason=\"predictor_error\"} 2\n"));
    assert_non_null(strstr(a.body, "request_postprocess_seconds_count{model_name=\"m\"} 22\n"));
    ks_sdk_server_stop(t);
    ks_sdk_server_stop(t2);
    ks_sdk_server_stop(m);
}

static void test_transformer_json(void **state)
{
    ks_sdk_server_t *m = start(&M_OPS, NULL, "m", 1, NULL, NULL, NULL);
    char host[64];
    ks_sdk_server_t *t = start(NULL, &J_OPS, "m", 2, host_of(ks_sdk_server_port(m), host, sizeof(host)), NULL, NULL);
    int p = ks_sdk_server_port(t);
    answer_t a;

    expect_answer(call(p, "/v1/models/m:predict", "{\"instances\": [[1, 2]]}", NULL), 200,
                  "{\"wrapped\":{\"predictions\":[[2.0,4.0]]}}");
    expect_answer(call(p, "/v1/models/m:predict", "{\"pre_fail\":1}", NULL), 418, "{\"error\":\"teapot\"}");
    a = call(p, "/v1/models/m:predict", "{\"garbage\":1}", NULL);
    assert_int_equal(a.status, 500);
    assert_non_null(strstr(a.body, "preprocess returned text that is not JSON"));
    expect_answer(call(p, "/v1/models/m:predict", "{\"nothing\":1}", NULL), 500,
                  "{\"error\":\"preprocess returned no JSON\"}");
    ks_sdk_server_stop(t);
    ks_sdk_server_stop(m);
}

static void test_predictor_down_and_timeout(void **state)
{
    ks_sdk_server_t *m = start(&M_OPS, NULL, "m", 1, NULL, NULL, NULL);
    char host[64];
    int mport = ks_sdk_server_port(m);
    ks_sdk_server_t *t = start(&T_OPS, NULL, "m", 1, host_of(mport, host, sizeof(host)),
                               "predictor_request_timeout_seconds", "1");
    int p = ks_sdk_server_port(t);
    answer_t a;

    /* h2o's timers fire up to a loop turn (100 ms here) late: the model sleeps well past the limit */
    a = call(p, "/v1/models/m:predict", "{\"sleep_ms\":2500}", NULL);
    assert_int_equal(a.status, 504);
    assert_non_null(strstr(a.body, "did not answer within 1 s"));
    msleep(1800); /* the model (one worker) finishes its sleep */
    expect_answer(call(p, "/v1/models/m:predict", "{\"x\":[1]}", NULL), 200, "{\"predictions\":[2.0],\"post\":true}");
    ks_sdk_server_stop(m);
    a = call(p, "/v1/models/m:predict", "{\"x\":[1]}", NULL);
    assert_int_equal(a.status, 502);
    assert_non_null(strstr(a.body, "cannot connect to the predictor"));
    a = call(p, "/v2/health/ready", NULL, NULL);
    assert_int_equal(a.status, 200); /* a transformer's readiness is its own */
    ks_sdk_server_stop(t);
}

/* ---- raw predictors ------------------------------------------------------------------------------ */

typedef struct raw {
    int fd, port;
    pthread_t tid;
    const char *const *answers; /* one per request, in order */
    int close_after[8];         /* close the connection after answer i */
    int nanswers;
    _Atomic int accepted;
} raw_t;

/* reads one request (head, then content-length bytes); 0, or -1 on EOF */
static int read_request(int fd)
{
    char buf[8192];
    size_t n = 0;
    char *end;
    long clen = 0;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t r;
        if (poll(&pfd, 1, WAIT_MS) != 1 || (r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) <= 0)
            return -1;
        n += (size_t)r;
        buf[n] = '\0';
        if ((end = strstr(buf, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(buf, "content-length:");
            if (cl != NULL)
                clen = strtol(cl + 15, NULL, 10);
            if (n >= (size_t)(end + 4 - buf) + (size_t)clen)
                return 0;
        }
    }
}

static void *raw_main(void *arg)
{
    raw_t *r = arg;
    int i = 0;
    while (i < r->nanswers) {
        struct pollfd pfd = {r->fd, POLLIN, 0};
        int c;
        if (poll(&pfd, 1, WAIT_MS) != 1 || (c = accept(r->fd, NULL, NULL)) < 0)
            break;
        atomic_fetch_add(&r->accepted, 1);
        while (i < r->nanswers && read_request(c) == 0) {
            send(c, r->answers[i], strlen(r->answers[i]), MSG_NOSIGNAL);
            if (r->close_after[i++])
                break;
        }
        close(c);
    }
    return NULL;
}

static void raw_start(raw_t *r)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(r->fd, 16), 0);
    getsockname(r->fd, (struct sockaddr *)&sa, &sl);
    r->port = ntohs(sa.sin_port);
    pthread_create(&r->tid, NULL, raw_main, r);
}

static void raw_stop(raw_t *r)
{
    pthread_join(r->tid, NULL);
    close(r->fd);
}

static void test_raw_answers(void **state)
{
    static const char *const answers[] = {
        /* chunked, in two chunks, with a trailer */
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\n{\"a\":[\r\n4\r\n1,2]\r\n1\r\n}\r\n0\r\nx-t: 1\r\n\r\n",
        /* a 100 first, then a length; the connection is then closed by the predictor (a stale keep-alive) */
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{\"b\":2}",
        /* on a new connection (the SDK retried): HTTP/1.0 until EOF */
        "HTTP/1.0 200 OK\r\n\r\n{\"c\":3}",
        /* an error without JSON */
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
        /* text that is not JSON */
        "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc",
        /* a malformed head */
        "HTTP/9 what\r\n\r\n",
    };
    raw_t r;
    char host[64];
    ks_sdk_server_t *t;
    int p;
    answer_t a;

    memset(&r, 0, sizeof(r));
    r.answers = answers;
    r.nanswers = 6;
    r.close_after[1] = 1; /* after "b", without saying so */
    r.close_after[2] = 1;
    r.close_after[3] = 1;
    r.close_after[5] = 1;
    raw_start(&r);
    t = start(&T_OPS, NULL, "m", 1, host_of(r.port, host, sizeof(host)), NULL, NULL);
    p = ks_sdk_server_port(t);

    expect_answer(call(p, "/v1/models/m:predict", "{\"x\":[1]}", NULL), 200, "{\"a\":[1,2],\"post\":true}");
    expect_answer(call(p, "/v1/models/m:predict", "{\"x\":[1]}", NULL), 200, "{\"b\":2,\"post\":true}");
    msleep(100); /* the predictor's close has not always arrived: either way the next request must work */
    expect_answer(call(p, "/v1/models/m:predict", "{\"x\":[1]}", NULL), 200, "{\"c\":3,\"post\":true}");
    expect_answer(call(p, "/v1/models/m:predict", "{\"x\":[1]}", NULL), 503,
                  "{\"error\":\"the predictor answered 503: busy\"}");
    a = call(p, "/v1/models/m:predict", "{\"x\":[1]}", NULL);
    assert_int_equal(a.status, 502);
    assert_non_null(strstr(a.body, "not JSON"));
    a = call(p, "/v1/models/m:predict", "{\"x\":[1]}", NULL);
    assert_int_equal(a.status, 502);
    assert_non_null(strstr(a.body, "malformed"));
    raw_stop(&r);
    assert_int_equal(atomic_load(&r.accepted), 4);
    ks_sdk_server_stop(t);
}

/* ---- lifecycle ----------------------------------------------------------------------------------- */

static int load_fails(void *user, char *err, size_t errlen)
{
    snprintf(err, errlen, "no weights");
    return -1;
}

static void test_new_and_load_errors(void **state)
{
    static const ks_sdk_model_ops_t nothing = {.preprocess = t_pre};
    static const ks_sdk_model_ops_t bad_load = {.load = load_fails, .predict = m_predict};
    char err[256];
    ks_sdk_options_t *o = ks_sdk_options_new();
    ks_sdk_server_t *s, *s2;

    ks_sdk_options_set(o, "http_port", "0", err, sizeof(err));
    ks_sdk_options_set(o, "http_host", "127.0.0.1", err, sizeof(err));
    assert_null(ks_sdk_server_new(o, &nothing, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "no predict callback and no --predictor_host"));
    assert_null(ks_sdk_server_new(o, NULL, NULL, err, sizeof(err)));
    ks_sdk_options_set(o, "predictor_host", "no-such-host.invalid:80", err, sizeof(err));
    assert_null(ks_sdk_server_new(o, &nothing, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot resolve"));
    ks_sdk_options_set(o, "predictor_host", "", err, sizeof(err));

    /* load fails: start says why; the server only stops */
    s = ks_sdk_server_new(o, &bad_load, NULL, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(ks_sdk_server_start(s, err, sizeof(err)), KS_SDK_EINTERNAL);
    assert_non_null(strstr(err, "failed to load model model: no weights"));
    assert_int_equal(ks_sdk_server_start(s, err, sizeof(err)), KS_SDK_EINVAL);
    ks_sdk_server_stop(s);

    /* the port in use; a server never started still stops */
    s = ks_sdk_server_new(o, &M_OPS, NULL, err, sizeof(err));
    assert_non_null(s);
    snprintf(err, sizeof(err), "%d", ks_sdk_server_port(s));
    ks_sdk_options_set(o, "http_port", err, err, sizeof(err));
    s2 = ks_sdk_server_new(o, &M_OPS, NULL, err, sizeof(err));
    assert_null(s2);
    assert_non_null(strstr(err, "cannot listen"));
    ks_sdk_server_stop(s);
    ks_sdk_server_stop(NULL);
    ks_sdk_options_free(o);

    /* NULL options: the defaults (port 8080 may be taken here: only the options check is certain) */
    s = ks_sdk_server_new(NULL, &nothing, NULL, err, sizeof(err));
    assert_null(s);
    assert_non_null(strstr(err, "no predict callback"));
}

typedef struct slow_call {
    int port;
    answer_t a;
} slow_call_t;

static void *slow_client(void *arg)
{
    slow_call_t *c = arg;
    c->a = call(c->port, "/v1/models/m:predict", "{\"sleep_ms\":400}", NULL);
    return NULL;
}

/* a stop lets requests in flight finish, the transformer's predictor calls included */
static void test_stop_drains(void **state)
{
    ks_sdk_server_t *m = start(&M_OPS, NULL, "m", 1, NULL, NULL, NULL);
    char host[64];
    ks_sdk_server_t *t = start(&T_OPS, NULL, "m", 2, host_of(ks_sdk_server_port(m), host, sizeof(host)), NULL, NULL);
    slow_call_t c = {.port = ks_sdk_server_port(t)};
    pthread_t tid;
    int before = atomic_load(&m_calls);

    pthread_create(&tid, NULL, slow_client, &c);
    for (int i = 0; i < WAIT_MS / 5 && atomic_load(&m_calls) == before; ++i)
        msleep(5);
    assert_int_not_equal(atomic_load(&m_calls), before);
    ks_sdk_server_stop(t); /* returns once the request is answered */
    pthread_join(tid, NULL);
    expect_answer(c.a, 200, "{\"slept\":400,\"post\":true}");
    ks_sdk_server_stop(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_defaults_and_set),
        cmocka_unit_test(test_options_port_env),
        cmocka_unit_test(test_options_parse),
        cmocka_unit_test(test_split_host),
        cmocka_unit_test(test_check_body),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_predictor_path),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_model_predict),
        cmocka_unit_test(test_transformer),
        cmocka_unit_test(test_transformer_json),
        cmocka_unit_test(test_predictor_down_and_timeout),
        cmocka_unit_test(test_raw_answers),
        cmocka_unit_test(test_new_and_load_errors),
        cmocka_unit_test(test_stop_drains),
    };
    curl_global_init(CURL_GLOBAL_ALL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
