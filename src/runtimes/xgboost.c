/*
 * XGBoost through libxgboost's C API: no Python on this path.
 *
 * Inputs are converted to float32 rows, as xgboost.DMatrix does with the
 * numpy array KServe's xgbserver builds, and predicted in place
 * (XGBoosterPredictFromDense, thread safe); the result buffer is thread-local
 * in libxgboost and copied out at once.
 */
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "ks/runtime.h"

static const char *const extensions[] = {".bst", ".json", ".ubj", NULL};

static const char predict_config[] = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                                     "\"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}";

/*
 * Without a proxy DMatrix libxgboost makes one per call, and its context reads
 * the cgroup CPU quota files each time: one per worker thread avoids both.
 */
static __thread DMatrixHandle proxy;

static int xgb_fail(const char *what, char *err, size_t errlen)
{
    const char *m = XGBGetLastError();
    /* xgboost prefixes messages with a source location: keep the reason */
    const char *p = m != NULL ? strstr(m, ": ") : NULL;
    const char *msg = p != NULL ? p + 2 : (m != NULL ? m : "unknown error");
    /* and drop the stack trace that follows */
    ks_errorf(err, errlen, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    return KS_EINTERNAL;
}

/* num_class and objective from the booster's JSON configuration */
static void read_config(BoosterHandle h, ks_model_meta_t *meta)
{
    bst_ulong len = 0;
    const char *cfg = NULL;
    json_t *root, *lp, *obj;

    if (XGBoosterSaveJsonConfig(h, &len, &cfg) != 0 || cfg == NULL)
        return;
    if ((root = json_loadb(cfg, len, 0, NULL)) == NULL)
        return;
    lp = json_object_get(json_object_get(root, "learner"), "learner_model_param");
    obj = json_object_get(json_object_get(json_object_get(root, "learner"), "objective"), "name");
    if (lp != NULL) {
        const char *nc = json_string_value(json_object_get(lp, "num_class"));
        long k = nc != NULL ? strtol(nc, NULL, 10) : 0;
        const char *name = json_string_value(obj);
        if (k > 1 && name != NULL && strcmp(name, "multi:softprob") == 0) {
            meta->output_ndim = 2;
            meta->output_cols = k;
        }
    }
    json_decref(root);
}

static int xgb_load(ks_model_t *m, char *err, size_t errlen)
{
    BoosterHandle h = NULL;
    bst_ulong nf = 0;
    char nthread[16];

    if (XGBoosterCreate(NULL, 0, &h) != 0)
        return xgb_fail("cannot create an xgboost booster", err, errlen);
    if (XGBoosterLoadModel(h, m->path) != 0) {
        char what[600];
        snprintf(what, sizeof(what), "cannot load xgboost model %s", m->path);
        xgb_fail(what, err, errlen);
        XGBoosterFree(h);
        return KS_EINVAL;
    }
    snprintf(nthread, sizeof(nthread), "%d", m->nthread > 0 ? m->nthread : 1);
    if (XGBoosterSetParam(h, "nthread", nthread) != 0) {
        xgb_fail("cannot set nthread", err, errlen);
        XGBoosterFree(h);
        return KS_EINVAL;
    }
    if (XGBoosterGetNumFeature(h, &nf) == 0 && nf > 0)
        m->meta.nfeatures = (int64_t)nf;
    m->meta.input_dtype = KS_DT_FP32;
    m->meta.output_dtype = KS_DT_FP32;
    m->meta.output_name = "predict";
    read_config(h, &m->meta);
    m->impl = h;
    return 0;
}

static void xgb_unload(ks_model_t *m)
{
    XGBoosterFree(m->impl);
    m->impl = NULL;
}

static int xgb_infer(ks_model_t *m, ks_arena_t *a, const ks_infer_request_t *req, ks_infer_response_t *res, char *err,
                     size_t errlen)
{
    const ks_tensor_t *in = &req->inputs[0];
    const bst_ulong *oshape = NULL;
    bst_ulong odim = 0;
    const float *oresult = NULL;
    char iface[160];
    float *x;
    size_t rows, cols, n;
    ks_tensor_t *out;

    if (req->v1_complex || in->dtype == KS_DT_BYTES || in->dtype == KS_DT_INVALID) {
        ks_errorf(err, errlen, "xgboost takes numbers only: the input holds strings, objects or nulls");
        return KS_EINVAL;
    }
    if (in->ndim != 2) {
        ks_errorf(err, errlen, "xgboost expects a 2-dimensional input [rows, features], got %d dimension%s", in->ndim,
                  in->ndim == 1 ? "" : "s");
        return KS_EINVAL;
    }
    rows = (size_t)in->shape[0];
    cols = (size_t)in->shape[1];
    if (m->meta.nfeatures > 0 && (int64_t)cols != m->meta.nfeatures) {
        ks_errorf(err, errlen, "the model expects %lld features per row, got %zu", (long long)m->meta.nfeatures, cols);
        return KS_EINVAL;
    }
    if (rows == 0) {
        ks_errorf(err, errlen, "no rows to predict");
        return KS_EINVAL;
    }
    n = rows * cols;
    if (in->dtype == KS_DT_FP32) {
        x = in->data;
    } else {
        if ((x = ks_arena_alloc(a, n * sizeof(float))) == NULL) {
            ks_errorf(err, errlen, "request too large");
            return KS_ETOOBIG;
        }
        if (in->dtype == KS_DT_FP64) {
            const double *d = in->data;
            for (size_t i = 0; i < n; ++i)
                x[i] = (float)d[i];
        } else {
            for (size_t i = 0; i < n; ++i)
                x[i] = (float)ks_tensor_get_f64(in, i);
        }
    }
    snprintf(iface, sizeof(iface), "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", \"version\": 3}",
             (unsigned long long)(uintptr_t)x, rows, cols);
    if (proxy == NULL && XGProxyDMatrixCreate(&proxy) != 0)
        return xgb_fail("cannot create an xgboost proxy matrix", err, errlen);
    if (XGBoosterPredictFromDense(m->impl, iface, predict_config, proxy, &oshape, &odim, &oresult) != 0)
        return xgb_fail("xgboost prediction failed", err, errlen);
    if (odim < 1 || odim > KS_MAX_DIMS) {
        ks_errorf(err, errlen, "xgboost returned a %llu-dimensional result", (unsigned long long)odim);
        return KS_EINTERNAL;
    }
    out = &res->outputs[0];
    res->noutputs = 1;
    out->name = m->meta.output_name;
    out->dtype = KS_DT_FP32;
    out->ndim = (int)odim;
    n = 1;
    for (bst_ulong i = 0; i < odim; ++i) {
        out->shape[i] = (int64_t)oshape[i];
        n *= (size_t)oshape[i];
    }
    out->nelem = n;
    if ((out->data = ks_arena_alloc(a, n * sizeof(float))) == NULL) {
        ks_errorf(err, errlen, "response too large");
        return KS_ETOOBIG;
    }
    memcpy(out->data, oresult, n * sizeof(float));
    return 0;
}

const ks_runtime_t ks_runtime_xgboost = {
    .name = "xgboost",
    .extensions = extensions,
    .load = xgb_load,
    .unload = xgb_unload,
    .infer = xgb_infer,
};
