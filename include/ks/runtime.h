/*
 * Model runtimes and the models they serve.
 *
 * A runtime turns decoded request tensors into response tensors.  Each is one
 * file in src/runtimes/: xgboost.c (libxgboost's C API) and sklearn.c (an
 * embedded CPython running scikit-learn).  The runtime is chosen by the model
 * file's extension, as KServe's servers do.
 */
#ifndef KS_RUNTIME_H
#define KS_RUNTIME_H

#include <stdatomic.h>

#include "ks/protocol.h"

typedef struct ks_model ks_model_t;
typedef struct ks_model_stats ks_model_stats_t;

typedef struct ks_runtime {
    const char *name;              /* also the V2 metadata "platform" */
    const char *const *extensions; /* NULL-terminated, with the dot */
    /*
     * Rows are independent and a call has a high fixed cost (the Python
     * interpreter): requests that arrive together may share one call.
     */
    int batch_rows;
    /* Loads m->path into m->impl and fills m->meta; KS_E* with err on failure. */
    int (*load)(ks_model_t *m, char *err, size_t errlen);
    /* Frees m->impl. */
    void (*unload)(ks_model_t *m);
    /*
     * Runs inference.  Output data comes from the arena.  Returns KS_EINVAL
     * for input the model cannot take (400), KS_EINTERNAL when the model
     * failed (500).  Called from any worker thread at once.
     */
    int (*infer)(ks_model_t *m, ks_arena_t *a, const ks_infer_request_t *req, ks_infer_response_t *res, char *err,
                 size_t errlen);
} ks_runtime_t;

typedef struct ks_model_meta {
    int64_t nfeatures;      /* -1 unknown */
    ks_dtype_t input_dtype;
    const char *output_name;
    ks_dtype_t output_dtype;
    int output_ndim;        /* 1 or 2 */
    int64_t output_cols;    /* second dimension when output_ndim == 2 */
} ks_model_meta_t;

struct ks_model {
    char *name;
    char *dir;
    char *path; /* the model file */
    const ks_runtime_t *rt;
    void *impl;
    int nthread;
    ks_model_meta_t meta;
    ks_model_stats_t *stats; /* one per worker thread */
    int nstats;
};

extern const ks_runtime_t ks_runtime_xgboost;
/* In the kserve-sklearn.so plugin (include/ks/plugin.h): reach it through ks_model_find. */
extern const ks_runtime_t ks_runtime_sklearn;

/* The zygote's hooks into the embedded interpreter (src/runtimes/sklearn.c, same plugin). */
int ks_sklearn_preload(char *err, size_t errlen);
void ks_sklearn_before_fork(void);
void ks_sklearn_after_fork(int child);

/*
 * Finds the single model file in dir and its runtime, as KServe does: every
 * regular file whose name ends in a known extension counts; none or more
 * than one is an error.  *path is malloc'd (caller frees).
 */
int ks_model_find(const char *dir, const ks_runtime_t **rt, char **path, char *err, size_t errlen);
/* The same without loading the runtime: *runtime is its name ("xgboost", "sklearn"). */
int ks_model_find_file(const char *dir, const char **runtime, char **path, char *err, size_t errlen);

/*
 * Creates and loads a model named name from dir; nstats worker slots for its
 * metrics.  NULL on failure with the reason in err.  ks_model_free() frees.
 */
ks_model_t *ks_model_load(const char *name, const char *dir, int nthread, int nstats, char *err, size_t errlen);
void ks_model_free(ks_model_t *m);

#endif
