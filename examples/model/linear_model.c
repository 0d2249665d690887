/*
 * A model server in C on libkserve-sdk: a linear classifier (multinomial
 * logistic regression) that answers the class with the highest score.
 *
 *   V1  {"instances": [[6.8, 2.8, 4.8, 1.4]]}  ->  {"predictions": [1]}
 *   V2  {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [1, 4], "data": [6.8, 2.8, 4.8, 1.4]}]}
 *       ->  {"model_name": ..., "outputs": [{"name": "predict", "datatype": "INT64", "shape": [1], "data": [1]}]}
 *
 * Its weights come from --model_dir DIR (DIR/model.json: {"coef": [[...], ...],
 * "intercept": [...]}, one row per class), where KServe's storage
 * initializer puts a model; without it, weights fitted to the iris data set
 * (scikit-learn's LogisticRegression) are built in.  predict only reads the
 * weights, so it is safe on every worker at once.
 *
 * Build: make (build/examples/linear-model); run: see README.md.
 */
#include <stdio.h>
#include <string.h>

#include "ks/sdk.h"

#define MAX_CLASSES 16
#define MAX_FEATURES 64

typedef struct linear {
    char dir[4096]; /* --model_dir, "" when not given */
    int nclasses, nfeatures;
    double coef[MAX_CLASSES][MAX_FEATURES];
    double intercept[MAX_CLASSES];
} linear_t;

static const linear_t iris = {
    .nclasses = 3,
    .nfeatures = 4,
    .coef = {{-0.423054, 0.96713, -2.517386, -1.079541},
             {0.534066, -0.321289, -0.20624, -0.944204},
             {-0.111011, -0.645841, 2.723627, 2.023746}},
    .intercept = {9.848607, 2.238044, -12.08665},
};

/* reads DIR/model.json; runs once, before the server is ready */
static int load(void *user, char *err, size_t errlen)
{
    linear_t *m = user;
    char path[4200];
    json_error_t je;
    json_t *doc, *coef, *icpt, *row, *v;
    size_t c, f;

    if (m->dir[0] == '\0')
        return 0; /* the built-in iris weights */
    snprintf(path, sizeof(path), "%s/model.json", m->dir);
    if ((doc = json_load_file(path, 0, &je)) == NULL) {
        snprintf(err, errlen, "%s: %s", path, je.text);
        return -1;
    }
    coef = json_object_get(doc, "coef");
    icpt = json_object_get(doc, "intercept");
    m->nclasses = (int)json_array_size(coef);
    m->nfeatures = (int)json_array_size(json_array_get(coef, 0));
    if (m->nclasses < 2 || m->nclasses > MAX_CLASSES || m->nfeatures < 1 || m->nfeatures > MAX_FEATURES ||
        json_array_size(icpt) != (size_t)m->nclasses) {
        snprintf(err, errlen, "%s: expected {\"coef\": [[...] per class], \"intercept\": [one per class]}", path);
        json_decref(doc);
        return -1;
    }
    json_array_foreach (coef, c, row) {
        if (json_array_size(row) != (size_t)m->nfeatures) {
            snprintf(err, errlen, "%s: coef row %zu has %zu values, row 0 has %d", path, c, json_array_size(row),
                     m->nfeatures);
            json_decref(doc);
            return -1;
        }
        json_array_foreach (row, f, v)
            m->coef[c][f] = json_number_value(v);
        m->intercept[c] = json_number_value(json_array_get(icpt, c));
    }
    json_decref(doc);
    return 0;
}

static int classify(const linear_t *m, const double *x)
{
    int best = 0;
    double best_score = 0;
    for (int c = 0; c < m->nclasses; ++c) {
        double s = m->intercept[c];
        for (int f = 0; f < m->nfeatures; ++f)
            s += m->coef[c][f] * x[f];
        if (c == 0 || s > best_score) {
            best = c;
            best_score = s;
        }
    }
    return best;
}

/* appends the numbers of a row-major value (nested or flat) to x; -1 when one is not a number or too many */
static int flatten(const json_t *v, double *x, size_t cap, size_t *n)
{
    size_t i;
    json_t *e;
    if (json_is_number(v)) {
        if (*n == cap)
            return -1;
        x[(*n)++] = json_number_value(v);
        return 0;
    }
    if (!json_is_array(v))
        return -1;
    json_array_foreach (v, i, e)
        if (flatten(e, x, cap, n) != 0)
            return -1;
    return 0;
}

/* the classes of rows[0..n) of x (nfeatures each) */
static json_t *classes_of(const linear_t *m, const double *x, size_t n)
{
    json_t *out = json_array();
    for (size_t i = 0; i < n; ++i)
        json_array_append_new(out, json_integer(classify(m, x + i * (size_t)m->nfeatures)));
    return out;
}

static json_t *predict(void *user, const ks_sdk_request_t *r, json_t *body, ks_sdk_error_t *e)
{
    const linear_t *m = user;
    json_t *rows, *row, *t, *classes;
    double *x;
    size_t i, n = 0, cap;

    if (ks_sdk_request_protocol(r) == KS_SDK_V1) {
        if ((rows = json_object_get(body, "instances")) == NULL)
            rows = json_object_get(body, "inputs");
        if (!json_is_array(rows) || json_array_size(rows) == 0)
            return ks_sdk_error_set(e, 400, "expected {\"instances\": [[%d numbers], ...]}", m->nfeatures);
        cap = json_array_size(rows) * (size_t)m->nfeatures;
        if ((x = malloc(cap * sizeof(*x))) == NULL)
            return ks_sdk_error_set(e, 500, "out of memory");
        json_array_foreach (rows, i, row) {
            size_t before = n;
            if (flatten(row, x, cap, &n) != 0 || n - before != (size_t)m->nfeatures) {
                free(x);
                return ks_sdk_error_set(e, 400, "instance %zu: expected %d numbers", i, m->nfeatures);
            }
        }
        classes = classes_of(m, x, json_array_size(rows));
        free(x);
        return json_pack("{s:o}", "predictions", classes);
    }
    /* V2: the first input, [rows, nfeatures] */
    t = json_array_get(json_object_get(body, "inputs"), 0);
    row = json_object_get(t, "shape");
    if (json_array_size(row) != 2 || json_integer_value(json_array_get(row, 1)) != m->nfeatures ||
        json_integer_value(json_array_get(row, 0)) < 1 || json_integer_value(json_array_get(row, 0)) > 1000000)
        return ks_sdk_error_set(e, 400, "expected one input of shape [N, %d]", m->nfeatures);
    cap = (size_t)json_integer_value(json_array_get(row, 0)) * (size_t)m->nfeatures;
    if ((x = malloc(cap * sizeof(*x))) == NULL)
        return ks_sdk_error_set(e, 500, "out of memory");
    if (flatten(json_object_get(t, "data"), x, cap, &n) != 0 || n != cap) {
        free(x);
        return ks_sdk_error_set(e, 400, "the input's data does not hold %zu numbers", cap);
    }
    classes = classes_of(m, x, cap / (size_t)m->nfeatures);
    free(x);
    return json_pack("{s:s, s:O*, s:[{s:s, s:s, s:[I], s:o}]}", "model_name", ks_sdk_request_model_name(r), "id",
                     json_object_get(body, "id"), "outputs", "name", "predict", "datatype", "INT64", "shape",
                     (json_int_t)(cap / (size_t)m->nfeatures), "data", classes);
}

int main(int argc, char **argv)
{
    static const ks_sdk_model_ops_t ops = {.load = load, .predict = predict};
    static linear_t model;
    char err[256];
    ks_sdk_options_t *o = ks_sdk_options_new();
    int r;

    /* the long form of ks_sdk_main, to read --model_dir back before serving */
    if (o == NULL || ks_sdk_options_set(o, "model_name", "linear", err, sizeof(err)) != 0)
        return 1;
    if ((r = ks_sdk_options_parse(o, argc, argv, err, sizeof(err))) != 0) {
        if (r == 1)
            printf("usage: %s [--model_dir DIR] [options]\n%s", argv[0], ks_sdk_usage());
        else
            fprintf(stderr, "%s: %s\n", argv[0], err);
        ks_sdk_options_free(o);
        return r == 1 ? 0 : 2;
    }
    model = iris;
    ks_sdk_options_get(o, "model_dir", model.dir, sizeof(model.dir));
    r = ks_sdk_serve(o, &ops, &model);
    ks_sdk_options_free(o);
    return r;
}
