/*
 * An iris transformer: KServe's transformer example, in C on libkserve-sdk.
 *
 * Clients send records,
 *
 *   V1  {"instances": [{"sepal_length": 6.8, "sepal_width": 2.8, "petal_length": 4.8, "petal_width": 1.4}]}
 *   V2  {"inputs": [{"name": "sepal_length", "datatype": "FP64", "shape": [1], "data": [6.8]}, ...one per feature]}
 *
 * preprocess turns them into rows of 4 numbers in the predictor's protocol
 * (--protocol v1: {"instances": [[...]]}, v2: one FP32 tensor [n, 4]), the SDK
 * sends those to --predictor_host, and postprocess names the classes the
 * predictor answers (an index, or a row of probabilities: the highest wins):
 *
 *   V1  {"predictions": ["versicolor"]}
 *   V2  {"model_name": ..., "outputs": [{"name": "class", "datatype": "BYTES", "shape": [1], "data": ["versicolor"]}]}
 *
 * Build: make (build/examples/iris-transformer); run: see README.md.
 */
#include <math.h>
#include <string.h>

#include "ks/sdk.h"

static const char *const features[4] = {"sepal_length", "sepal_width", "petal_length", "petal_width"};
static const char *const classes[3] = {"setosa", "versicolor", "virginica"};

/* V1 records -> rows; NULL with e set */
static json_t *rows_from_records(json_t *instances, ks_sdk_error_t *e)
{
    json_t *rows = json_array(), *rec;
    size_t i;

    json_array_foreach (instances, i, rec) {
        json_t *row = json_array();
        json_array_append_new(rows, row);
        if (json_is_array(rec) && json_array_size(rec) == 4) { /* already a row */
            json_array_extend(row, rec);
            continue;
        }
        if (!json_is_object(rec)) {
            json_decref(rows);
            return ks_sdk_error_set(e, 400, "instance %zu: expected an object with %s, %s, %s and %s", i, features[0],
                                    features[1], features[2], features[3]);
        }
        for (int f = 0; f < 4; ++f) {
            json_t *v = json_object_get(rec, features[f]);
            if (!json_is_number(v)) {
                json_decref(rows);
                return ks_sdk_error_set(e, 400, "instance %zu: \"%s\" is %s", i, features[f],
                                        v == NULL ? "missing" : "not a number");
            }
            json_array_append_new(row, json_real(json_number_value(v)));
        }
    }
    return rows;
}

/* V2 columns (one tensor per feature) -> rows */
static json_t *rows_from_columns(json_t *inputs, ks_sdk_error_t *e)
{
    json_t *cols[4] = {NULL, NULL, NULL, NULL}, *t, *rows;
    size_t i, n = 0;

    json_array_foreach (inputs, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        for (int f = 0; f < 4; ++f)
            if (name != NULL && strcmp(name, features[f]) == 0)
                cols[f] = json_object_get(t, "data");
    }
    for (int f = 0; f < 4; ++f) {
        if (!json_is_array(cols[f]))
            return ks_sdk_error_set(e, 400, "input \"%s\" is missing (send one tensor per feature)", features[f]);
        if (f > 0 && json_array_size(cols[f]) != n)
            return ks_sdk_error_set(e, 400, "input \"%s\" has %zu values, \"%s\" has %zu", features[f],
                                    json_array_size(cols[f]), features[0], n);
        n = json_array_size(cols[f]);
    }
    rows = json_array();
    for (i = 0; i < n; ++i) {
        json_t *row = json_array();
        json_array_append_new(rows, row);
        for (int f = 0; f < 4; ++f) {
            json_t *v = json_array_get(cols[f], i);
            if (!json_is_number(v)) {
                json_decref(rows);
                return ks_sdk_error_set(e, 400, "input \"%s\": value %zu is not a number", features[f], i);
            }
            json_array_append_new(row, json_real(json_number_value(v)));
        }
    }
    return rows;
}

static json_t *preprocess(void *user, const ks_sdk_request_t *r, json_t *body, ks_sdk_error_t *e)
{
    json_t *rows, *flat, *row, *v;
    size_t i, k;

    if (ks_sdk_request_protocol(r) == KS_SDK_V1) {
        json_t *instances = json_object_get(body, "instances");
        if (!json_is_array(instances))
            return ks_sdk_error_set(e, 400, "expected {\"instances\": [records]}");
        rows = rows_from_records(instances, e);
    } else {
        rows = rows_from_columns(json_object_get(body, "inputs"), e);
    }
    if (rows == NULL)
        return NULL;
    if (ks_sdk_request_predictor_protocol(r) == KS_SDK_V1)
        return json_pack("{s:o}", "instances", rows);
    flat = json_array();
    json_array_foreach (rows, i, row)
        json_array_foreach (row, k, v)
            json_array_append(flat, v);
    /* a V2 predictor echoes the id: the client's, when it sent one over V2 */
    v = json_pack("{s:O*, s:[{s:s, s:s, s:[I,i], s:o}]}", "id", json_object_get(body, "id"), "inputs", "name",
                  "input-0", "datatype", "FP32", "shape", (json_int_t)json_array_size(rows), 4, "data", flat);
    json_decref(rows);
    return v;
}

/* a class index, or the index of the highest of a row of probabilities; -1 when it is neither */
static int class_of(const json_t *p)
{
    if (json_is_integer(p))
        return json_integer_value(p) >= 0 && json_integer_value(p) <= 2 ? (int)json_integer_value(p) : -1;
    if (json_is_real(p)) /* an index written as a float (1.0) */
        return json_real_value(p) >= 0 && json_real_value(p) <= 2 && json_real_value(p) == floor(json_real_value(p))
                   ? (int)json_real_value(p)
                   : -1;
    if (json_is_array(p) && json_array_size(p) > 0) {
        size_t i, best = 0;
        json_t *v;
        json_array_foreach (p, i, v) {
            if (!json_is_number(v))
                return -1;
            if (json_number_value(v) > json_number_value(json_array_get(p, best)))
                best = i;
        }
        return (int)best;
    }
    return -1;
}

/* the predictor's answer as one entry per row: V1 "predictions", or V2's first output split by its shape */
static json_t *per_row(json_t *body, ks_sdk_error_t *e)
{
    json_t *out, *data, *shape, *rows;
    size_t n, cols;

    if (json_is_array(json_object_get(body, "predictions")))
        return json_incref(json_object_get(body, "predictions"));
    out = json_array_get(json_object_get(body, "outputs"), 0);
    data = json_object_get(out, "data");
    shape = json_object_get(out, "shape");
    if (!json_is_array(data) || !json_is_array(shape) || json_array_size(shape) < 1)
        return ks_sdk_error_set(e, 500, "the predictor's answer has neither \"predictions\" nor \"outputs\"");
    n = (size_t)json_integer_value(json_array_get(shape, 0));
    cols = json_array_size(shape) > 1 ? (size_t)json_integer_value(json_array_get(shape, 1)) : 0;
    if (json_array_size(data) > 0 && json_is_array(json_array_get(data, 0)))
        return json_incref(data); /* nested already */
    if (n == 0 || json_array_size(data) != n * (cols ? cols : 1))
        return ks_sdk_error_set(e, 500, "the predictor's output has %zu values for its shape", json_array_size(data));
    if (cols == 0)
        return json_incref(data);
    rows = json_array();
    for (size_t i = 0; i < n; ++i) {
        json_t *row = json_array();
        for (size_t c = 0; c < cols; ++c)
            json_array_append(row, json_array_get(data, i * cols + c));
        json_array_append_new(rows, row);
    }
    return rows;
}

static json_t *postprocess(void *user, const ks_sdk_request_t *r, json_t *body, ks_sdk_error_t *e)
{
    json_t *preds = per_row(body, e), *names, *p;
    size_t i;

    if (preds == NULL)
        return NULL;
    names = json_array();
    json_array_foreach (preds, i, p) {
        int c = class_of(p);
        if (c < 0 || c > 2) {
            json_decref(preds);
            json_decref(names);
            return ks_sdk_error_set(e, 500, "prediction %zu is not a class of iris", i);
        }
        json_array_append_new(names, json_string(classes[c]));
    }
    json_decref(preds);
    if (ks_sdk_request_protocol(r) == KS_SDK_V1)
        return json_pack("{s:o}", "predictions", names);
    return json_pack("{s:s, s:O*, s:[{s:s, s:s, s:[I], s:o}]}", "model_name", ks_sdk_request_model_name(r), "id",
                     json_object_get(body, "id"), "outputs", "name", "class", "datatype", "BYTES", "shape",
                     (json_int_t)json_array_size(names), "data", names);
}

int main(int argc, char **argv)
{
    static const ks_sdk_model_ops_t ops = {.preprocess = preprocess, .postprocess = postprocess};
    return ks_sdk_main(argc, argv, "iris", &ops, NULL);
}
