/*
 * scikit-learn through an embedded CPython: Debian's libpython3 and the
 * python3-sklearn / joblib packages of /usr/bin/python3, never whatever
 * interpreter comes first on PATH.
 *
 * Tensors become numpy arrays of the same dtype (as KServe's InferInput
 * .as_numpy() gives them), so answers equal sklearnserver's.  V1 bodies whose
 * instances hold objects or strings go through the same Python function
 * KServe uses (get_predict_input), pandas records included.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "ks/runtime.h"

static const char *const extensions[] = {".joblib", ".pkl", ".pickle", NULL};

/* the Python half of this runtime */
static const char helper_source[] =
    "import json\n"
    "import numpy as np\n"
    "import joblib\n"
    "\n"
    "def load(path):\n"
    "    return joblib.load(path)\n"
    "\n"
    "def meta(model, proba):\n"
    "    nf = getattr(model, 'n_features_in_', -1)\n"
    "    try:\n"
    "        nf = int(nf)\n"
    "    except Exception:\n"
    "        nf = -1\n"
    "    classes = getattr(model, 'classes_', None)\n"
    "    if proba:\n"
    "        return (nf, 'FP64', len(classes) if classes is not None else 0)\n"
    "    if classes is None:\n"
    "        return (nf, 'FP64', 0)\n"
    "    k = np.asarray(classes).dtype.kind\n"
    "    return (nf, {'i': 'INT64', 'u': 'INT64', 'f': 'FP64', 'b': 'BOOL'}.get(k, 'BYTES'), 0)\n"
    "\n"
    "def v1_input(body):\n"
    "    payload = json.loads(body)\n"
    "    instances = payload['inputs'] if 'inputs' in payload else payload['instances']\n"
    "    if len(instances) == 0:\n"
    "        return np.array(instances)\n"
    "    if isinstance(instances[0], dict) or (isinstance(instances[0], list) and len(instances[0]) != 0\n"
    "                                          and isinstance(instances[0][0], dict)):\n"
    "        import pandas as pd\n"
    "        if isinstance(instances[0], dict):\n"
    "            return pd.DataFrame.from_records(instances)\n"
    "        return pd.concat([pd.DataFrame.from_records(i) for i in instances], axis=0)\n"
    "    if isinstance(instances[0], str):\n"
    "        return instances\n"
    "    return np.array(instances)\n"
    "\n"
    "def v2_frame(columns):\n"
    "    import pandas as pd\n"
    "    return pd.concat([pd.DataFrame(list(data), columns=[name]) for name, data in columns], axis=1)\n"
    "def out(result):\n"
    "    a = np.asarray(result)\n"
    "    if a.dtype.kind in 'iufb':\n"
    "        if a.dtype.kind == 'f' and a.dtype.itemsize not in (4, 8):\n"
    "            a = a.astype(np.float64)\n"
    "        return (a.shape, np.ascontiguousarray(a))\n"
    "    return (a.shape, [x if isinstance(x, str) else str(x) for x in a.ravel().tolist()])\n";

static pthread_mutex_t py_lock = PTHREAD_MUTEX_INITIALIZER;
static int py_ready;
static PyObject *helper, *fn_load, *fn_meta, *fn_v1_input, *fn_v2_frame, *fn_out;

/*
 * Each thread keeps one Python thread state for good: PyGILState_Ensure()
 * would create and destroy one around every request.
 */
static PyInterpreterState *interp;
static __thread PyThreadState *tstate;

static void gil_take(void)
{
    if (tstate == NULL)
        tstate = PyThreadState_New(interp);
    PyEval_RestoreThread(tstate);
}

static void gil_drop(void)
{
    PyEval_SaveThread();
}

typedef struct sk_model {
    PyObject *model;
    PyObject *method; /* bound predict or predict_proba */
} sk_model_t;

/* "TypeName: message" of the pending exception; clears it.  GIL held. */
static int py_error(const char *what, char *err, size_t errlen)
{
    PyObject *type, *value, *tb;
    int code = KS_EINTERNAL;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (type != NULL && (PyErr_GivenExceptionMatches(type, PyExc_ValueError) ||
                         PyErr_GivenExceptionMatches(type, PyExc_TypeError) ||
                         PyErr_GivenExceptionMatches(type, PyExc_KeyError) ||
                         PyErr_GivenExceptionMatches(type, PyExc_IndexError)))
        code = KS_EINVAL;
    {
        PyObject *s = value != NULL ? PyObject_Str(value) : NULL;
        const char *msg = s != NULL ? PyUnicode_AsUTF8(s) : NULL;
        const char *tname = type != NULL ? ((PyTypeObject *)type)->tp_name : "error";
        if (msg == NULL)
            PyErr_Clear();
        ks_errorf(err, errlen, "%s%s%s: %s", what, what[0] ? ": " : "", tname, msg != NULL ? msg : "(no message)");
        Py_XDECREF(s);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return code;
}

/* Starts the interpreter once, from Debian's /usr/bin/python3 installation. */
static int py_start(char *err, size_t errlen)
{
    PyStatus st;
    PyConfig config;
    PyObject *code;
    int r = 0;

    pthread_mutex_lock(&py_lock);
    if (py_ready) {
        pthread_mutex_unlock(&py_lock);
        return 0;
    }
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.site_import = 1;
    st = PyConfig_SetString(&config, &config.program_name, L"/usr/bin/python3");
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        ks_errorf(err, errlen, "cannot start the embedded Python: %s", st.err_msg != NULL ? st.err_msg : "unknown");
        pthread_mutex_unlock(&py_lock);
        return KS_EINTERNAL;
    }
    if (_import_array() < 0) {
        r = py_error("cannot import numpy", err, errlen);
        goto out;
    }
    if ((code = Py_CompileString(helper_source, "<kserve-c sklearn>", Py_file_input)) == NULL) {
        r = py_error("internal helper", err, errlen);
        goto out;
    }
    helper = PyImport_ExecCodeModule("_kserve_c_sklearn", code);
    Py_DECREF(code);
    if (helper == NULL) {
        r = py_error("cannot import joblib/numpy", err, errlen);
        goto out;
    }
    fn_load = PyObject_GetAttrString(helper, "load");
    fn_meta = PyObject_GetAttrString(helper, "meta");
    fn_v1_input = PyObject_GetAttrString(helper, "v1_input");
    fn_out = PyObject_GetAttrString(helper, "out");
    fn_v2_frame = PyObject_GetAttrString(helper, "v2_frame");
    py_ready = 1;
out:
    /* every later call takes the GIL with gil_take() */
    interp = PyInterpreterState_Get();
    tstate = PyEval_SaveThread();
    pthread_mutex_unlock(&py_lock);
    return r != 0 ? KS_EINTERNAL : 0;
}

/*
 * For the zygote: starts the interpreter and imports scikit-learn's usual
 * estimator modules, so that replicas forked from it load a model in
 * milliseconds and share those pages.
 */
int ks_sklearn_preload(char *err, size_t errlen)
{
    static const char mods[] = "import sklearn, sklearn.base, sklearn.utils, sklearn.svm, sklearn.linear_model, "
                               "sklearn.ensemble, sklearn.tree, sklearn.pipeline, sklearn.preprocessing, "
                               "sklearn.neighbors, sklearn.naive_bayes, sklearn.compose, sklearn.impute\n";
    int r;
    if ((r = py_start(err, errlen)) != 0)
        return r;
    gil_take();
    if (PyRun_SimpleString(mods) != 0)
        fprintf(stderr, "kserve zygote: some scikit-learn modules did not import; models will import them\n");
    gil_drop();
    return 0;
}

/* Around fork() in a process that runs Python (the zygote): the interpreter's own fork protocol. */
void ks_sklearn_before_fork(void)
{
    if (!py_ready)
        return;
    gil_take();
    PyOS_BeforeFork();
}

void ks_sklearn_after_fork(int child)
{
    if (!py_ready)
        return;
    if (child)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    gil_drop();
}

static int predict_proba_wanted(void)
{
    const char *v = getenv("PREDICT_PROBA");
    return v != NULL && strcasecmp(v, "true") == 0;
}

static int sk_load(ks_model_t *m, char *err, size_t errlen)
{
    PyObject *model = NULL, *meta = NULL;
    sk_model_t *sk;
    int r = 0, proba;

    if ((r = py_start(err, errlen)) != 0)
        return r;
    if ((sk = calloc(1, sizeof(*sk))) == NULL)
        return KS_ENOMEM;
    gil_take();
    if ((model = PyObject_CallFunction(fn_load, "s", m->path)) == NULL) {
        char what[600];
        snprintf(what, sizeof(what), "cannot load scikit-learn model %s", m->path);
        py_error(what, err, errlen);
        r = KS_EINVAL;
        goto out;
    }
    proba = predict_proba_wanted() && PyObject_HasAttrString(model, "predict_proba");
    if ((sk->method = PyObject_GetAttrString(model, proba ? "predict_proba" : "predict")) == NULL) {
        PyErr_Clear();
        ks_errorf(err, errlen, "the object in %s has no predict method", m->path);
        r = KS_EINVAL;
        goto out;
    }
    if ((meta = PyObject_CallFunction(fn_meta, "Oi", model, proba)) != NULL) {
        long long nf = -1, cols = 0;
        const char *dt = "FP64";
        if (PyArg_ParseTuple(meta, "Lsl", &nf, &dt, &cols)) {
            m->meta.nfeatures = nf;
            m->meta.output_dtype = ks_dtype_from_name(dt, strlen(dt));
            if (cols > 0) {
                m->meta.output_ndim = 2;
                m->meta.output_cols = cols;
            }
        } else {
            PyErr_Clear();
        }
    } else {
        PyErr_Clear();
    }
    m->meta.input_dtype = KS_DT_FP64;
    m->meta.output_name = proba ? "predict_proba" : "predict";
    sk->model = model;
    model = NULL;
    m->impl = sk;
    sk = NULL;
out:
    Py_XDECREF(meta);
    Py_XDECREF(model);
    if (sk != NULL) {
        Py_XDECREF(sk->method);
        free(sk);
    }
    gil_drop();
    return r;
}

static void sk_unload(ks_model_t *m)
{
    sk_model_t *sk = m->impl;
    gil_take();
    Py_XDECREF(sk->method);
    Py_XDECREF(sk->model);
    gil_drop();
    free(sk);
    m->impl = NULL;
}

static int npy_type_of(ks_dtype_t dt)
{
    switch (dt) {
    case KS_DT_BOOL: return NPY_BOOL;
    case KS_DT_UINT8: return NPY_UINT8;
    case KS_DT_UINT16: return NPY_UINT16;
    case KS_DT_UINT32: return NPY_UINT32;
    case KS_DT_UINT64: return NPY_UINT64;
    case KS_DT_INT8: return NPY_INT8;
    case KS_DT_INT16: return NPY_INT16;
    case KS_DT_INT32: return NPY_INT32;
    case KS_DT_INT64: return NPY_INT64;
    case KS_DT_FP16: return NPY_FLOAT16;
    case KS_DT_FP32: return NPY_FLOAT32;
    case KS_DT_FP64: return NPY_FLOAT64;
    default: return -1;
    }
}

static ks_dtype_t dtype_of_npy(int t)
{
    switch (t) {
    case NPY_BOOL: return KS_DT_BOOL;
    case NPY_UINT8: return KS_DT_UINT8;
    case NPY_UINT16: return KS_DT_UINT16;
    case NPY_UINT32: return KS_DT_UINT32;
    case NPY_UINT64: return KS_DT_UINT64;
    case NPY_INT8: return KS_DT_INT8;
    case NPY_INT16: return KS_DT_INT16;
    case NPY_INT32: return KS_DT_INT32;
    case NPY_INT64: return KS_DT_INT64;
    case NPY_FLOAT32: return KS_DT_FP32;
    case NPY_FLOAT64: return KS_DT_FP64;
    default: return KS_DT_INVALID;
    }
}

/* One tensor as InferInput.as_numpy() gives it (BYTES: a list of str). GIL held; new reference. */
static PyObject *tensor_to_py(const ks_tensor_t *t, char *err, size_t errlen)
{
    npy_intp dims[KS_MAX_DIMS];
    PyObject *arr;
    int type;

    if (t->dtype == KS_DT_BYTES) {
        const ks_bytes_t *b = t->data;
        PyObject *list = PyList_New((Py_ssize_t)t->nelem);
        for (size_t i = 0; list != NULL && i < t->nelem; ++i) {
            PyObject *s = PyUnicode_DecodeUTF8(b[i].base, (Py_ssize_t)b[i].len, "strict");
            if (s == NULL) {
                PyErr_Clear();
                s = PyBytes_FromStringAndSize(b[i].base, (Py_ssize_t)b[i].len);
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i, s);
        }
        return list;
    }
    for (int i = 0; i < t->ndim; ++i)
        dims[i] = (npy_intp)t->shape[i];
    if (t->dtype == KS_DT_BF16) {
        float *f;
        if ((arr = PyArray_SimpleNew(t->ndim, dims, NPY_FLOAT32)) == NULL)
            return NULL;
        f = PyArray_DATA((PyArrayObject *)arr);
        for (size_t i = 0; i < t->nelem; ++i)
            f[i] = ks_bf16_to_float(((const uint16_t *)t->data)[i]);
        return arr;
    }
    if ((type = npy_type_of(t->dtype)) < 0) {
        ks_errorf(err, errlen, "unsupported input datatype %s", ks_dtype_name(t->dtype));
        return NULL;
    }
    if ((arr = PyArray_SimpleNew(t->ndim, dims, type)) == NULL) {
        py_error("", err, errlen);
        return NULL;
    }
    if (t->nelem != 0)
        memcpy(PyArray_DATA((PyArrayObject *)arr), t->data, t->nelem * ks_dtype_size(t->dtype));
    return arr;
}

/* The model's input as KServe's get_predict_input() builds it. GIL held; new reference. */
static PyObject *make_input(const ks_infer_request_t *req, char *err, size_t errlen)
{
    const ks_tensor_t *t = &req->inputs[0];
    PyObject *x;

    if (req->v1_complex || (req->protocol == KS_PROTO_V1 && t->dtype == KS_DT_BYTES)) {
        PyObject *body = PyBytes_FromStringAndSize(req->body, (Py_ssize_t)req->body_len);
        x = body != NULL ? PyObject_CallOneArg(fn_v1_input, body) : NULL;
        Py_XDECREF(body);
        if (x == NULL)
            py_error("", err, errlen);
        return x;
    }
    if (req->protocol == KS_PROTO_V2 && req->content_type != NULL && strcmp(req->content_type, "pd") == 0) {
        /* every input is a column of a pandas DataFrame */
        PyObject *cols = PyList_New(req->ninputs);
        for (int i = 0; cols != NULL && i < req->ninputs; ++i) {
            ks_tensor_t flat = req->inputs[i];
            PyObject *v;
            flat.ndim = 1;
            flat.shape[0] = (int64_t)flat.nelem;
            if ((v = tensor_to_py(&flat, err, errlen)) == NULL) {
                Py_DECREF(cols);
                return NULL;
            }
            PyList_SET_ITEM(cols, i, Py_BuildValue("(sN)", flat.name, v));
        }
        x = cols != NULL ? PyObject_CallOneArg(fn_v2_frame, cols) : NULL;
        Py_XDECREF(cols);
        if (x == NULL)
            py_error("", err, errlen);
        return x;
    }
    return tensor_to_py(t, err, errlen);
}

/* Copies the (shape, data) pair from helper.out() into out.  GIL held. */
static int take_output(PyObject *pair, ks_arena_t *a, ks_tensor_t *out, char *err, size_t errlen)
{
    PyObject *shape = PyTuple_GetItem(pair, 0), *data = PyTuple_GetItem(pair, 1);
    Py_ssize_t nd = PyTuple_Size(shape);
    size_t n = 1;

    if (nd < 0 || nd > KS_MAX_DIMS) {
        ks_errorf(err, errlen, "the model returned a %zd-dimensional result", nd);
        return KS_EINTERNAL;
    }
    if (nd == 0) {
        /* a scalar: present it as one value */
        out->ndim = 1;
        out->shape[0] = 1;
    } else {
        out->ndim = (int)nd;
        for (Py_ssize_t i = 0; i < nd; ++i) {
            out->shape[i] = PyLong_AsLongLong(PyTuple_GetItem(shape, i));
            n *= (size_t)out->shape[i];
        }
    }
    out->nelem = n;
    if (PyList_Check(data)) {
        ks_bytes_t *b = ks_arena_alloc(a, (n + 1) * sizeof(*b));
        if (b == NULL || (size_t)PyList_Size(data) != n)
            goto toobig;
        for (size_t i = 0; i < n; ++i) {
            Py_ssize_t l;
            const char *s = PyUnicode_AsUTF8AndSize(PyList_GetItem(data, (Py_ssize_t)i), &l);
            if (s == NULL) {
                PyErr_Clear();
                s = "";
                l = 0;
            }
            if ((b[i].base = ks_arena_strndup(a, s, (size_t)l)) == NULL)
                goto toobig;
            b[i].len = (size_t)l;
        }
        out->dtype = KS_DT_BYTES;
        out->data = b;
        return 0;
    }
    if (!PyArray_Check(data) || (out->dtype = dtype_of_npy(PyArray_TYPE((PyArrayObject *)data))) == KS_DT_INVALID) {
        ks_errorf(err, errlen, "the model returned a result of an unsupported type");
        return KS_EINTERNAL;
    }
    if ((out->data = ks_arena_alloc(a, n * ks_dtype_size(out->dtype) + 1)) == NULL)
        goto toobig;
    if (n != 0)
        memcpy(out->data, PyArray_DATA((PyArrayObject *)data), n * ks_dtype_size(out->dtype));
    return 0;
toobig:
    ks_errorf(err, errlen, "response too large");
    return KS_ETOOBIG;
}

static int sk_infer(ks_model_t *m, ks_arena_t *a, const ks_infer_request_t *req, ks_infer_response_t *res, char *err,
                    size_t errlen)
{
    sk_model_t *sk = m->impl;
    const ks_tensor_t *t = &req->inputs[0];
    PyObject *x = NULL, *y = NULL, *pair = NULL;
    int r = 0;

    int frame = req->content_type != NULL && strcmp(req->content_type, "pd") == 0;

    if (!req->v1_complex && !frame && t->dtype != KS_DT_BYTES && m->meta.nfeatures > 0) {
        if (t->ndim != 2) {
            ks_errorf(err, errlen, "the model expects a 2-dimensional input [rows, %lld features], got %d dimension%s",
                      (long long)m->meta.nfeatures, t->ndim, t->ndim == 1 ? "" : "s");
            return KS_EINVAL;
        }
        if (t->shape[1] != m->meta.nfeatures) {
            ks_errorf(err, errlen, "the model expects %lld features per row, got %lld", (long long)m->meta.nfeatures,
                      (long long)t->shape[1]);
            return KS_EINVAL;
        }
        if (t->shape[0] == 0) {
            ks_errorf(err, errlen, "no rows to predict");
            return KS_EINVAL;
        }
    }
    gil_take();
    if ((x = make_input(req, err, errlen)) == NULL) {
        r = KS_EINVAL;
        goto out;
    }
    if ((y = PyObject_CallOneArg(sk->method, x)) == NULL) {
        r = py_error("", err, errlen);
        goto out;
    }
    if ((pair = PyObject_CallOneArg(fn_out, y)) == NULL) {
        r = py_error("", err, errlen);
        if (r == KS_EINVAL)
            r = KS_EINTERNAL;
        goto out;
    }
    res->noutputs = 1;
    res->outputs[0].name = m->meta.output_name;
    r = take_output(pair, a, &res->outputs[0], err, errlen);
out:
    Py_XDECREF(pair);
    Py_XDECREF(y);
    Py_XDECREF(x);
    gil_drop();
    return r;
}

const ks_runtime_t ks_runtime_sklearn = {
    .name = "sklearn",
    .extensions = extensions,
    .batch_rows = 1,
    .load = sk_load,
    .unload = sk_unload,
    .infer = sk_infer,
};
