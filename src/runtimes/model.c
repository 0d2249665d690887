/*
 * Finding a model file and loading it through its runtime.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ks/metrics.h"
#include "ks/plugin.h"
#include "ks/runtime.h"

/* which runtime serves which model files; the sklearn runtime is a plugin loaded on first use */
static const struct {
    const char *name;
    const char *extensions[4];
} kinds[] = {
    {"xgboost", {".bst", ".json", ".ubj", NULL}},
    {"sklearn", {".joblib", ".pkl", ".pickle", NULL}},
};

static const char *runtime_of(const char *file)
{
    size_t n = strlen(file);
    for (size_t i = 0; i < KS_ARRAY_SIZE(kinds); ++i)
        for (const char *const *e = kinds[i].extensions; *e != NULL; ++e) {
            size_t l = strlen(*e);
            if (n > l && strcmp(file + n - l, *e) == 0)
                return kinds[i].name;
        }
    return NULL;
}

static const ks_runtime_t *runtime_named(const char *name, char *err, size_t errlen)
{
    if (strcmp(name, "xgboost") == 0)
        return &ks_runtime_xgboost;
    return ks_plugin_sym("sklearn", "ks_runtime_sklearn", err, errlen);
}

int ks_model_find(const char *dir, const ks_runtime_t **rt, char **path, char *err, size_t errlen)
{
    const char *name;
    int r;
    if ((r = ks_model_find_file(dir, &name, path, err, errlen)) != 0)
        return r;
    if ((*rt = runtime_named(name, err, errlen)) == NULL) {
        free(*path);
        *path = NULL;
        return KS_EINTERNAL;
    }
    return 0;
}

int ks_model_find_file(const char *dir, const char **runtime, char **path, char *err, size_t errlen)
{
    DIR *d;
    struct dirent *de;
    char found[2][512];
    const char *frt = NULL;
    int n = 0;
    struct stat st;

    if (stat(dir, &st) != 0) {
        ks_errorf(err, errlen, "model directory %s: %s", dir, strerror(errno));
        return KS_ENOENT;
    }
    if (!S_ISDIR(st.st_mode)) {
        ks_errorf(err, errlen, "model directory %s is not a directory", dir);
        return KS_ENOENT;
    }
    if ((d = opendir(dir)) == NULL) {
        ks_errorf(err, errlen, "model directory %s: %s", dir, strerror(errno));
        return KS_ENOENT;
    }
    while ((de = readdir(d)) != NULL) {
        char full[1024];
        const char *r;
        if ((r = runtime_of(de->d_name)) == NULL)
            continue;
        snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n < 2)
            snprintf(found[n], sizeof(found[n]), "%s", de->d_name);
        frt = r;
        n++;
    }
    closedir(d);
    if (n == 0) {
        ks_errorf(err, errlen,
                  "no model file in %s (expected one of model.bst, model.json, model.ubj for xgboost or model.joblib, "
                  "model.pkl, model.pickle for scikit-learn)",
                  dir);
        return KS_ENOENT;
    }
    if (n > 1) {
        ks_errorf(err, errlen, "more than one model file in %s (%s, %s%s): only one is allowed", dir, found[0], found[1],
                  n > 2 ? ", ..." : "");
        return KS_EINVAL;
    }
    if ((*path = malloc(strlen(dir) + strlen(found[0]) + 2)) == NULL)
        return KS_ENOMEM;
    sprintf(*path, "%s/%s", dir, found[0]);
    *runtime = frt;
    return 0;
}

ks_model_t *ks_model_load(const char *name, const char *dir, int nthread, int nstats, char *err, size_t errlen)
{
    ks_model_t *m = calloc(1, sizeof(*m));
    int r;

    if (m == NULL)
        goto nomem;
    m->nthread = nthread;
    m->meta.nfeatures = -1;
    m->meta.input_dtype = KS_DT_FP32;
    m->meta.output_name = "predict";
    m->meta.output_ndim = 1;
    if ((m->name = strdup(name)) == NULL || (m->dir = strdup(dir)) == NULL)
        goto nomem;
    if ((m->stats = ks_model_stats_new(nstats)) == NULL)
        goto nomem;
    m->nstats = nstats;
    if (ks_model_find(dir, &m->rt, &m->path, err, errlen) != 0)
        goto error;
    if ((r = m->rt->load(m, err, errlen)) != 0)
        goto error;
    return m;
nomem:
    ks_errorf(err, errlen, "out of memory");
error:
    if (m != NULL) {
        m->rt = NULL; /* nothing loaded */
        ks_model_free(m);
    }
    return NULL;
}

void ks_model_free(ks_model_t *m)
{
    if (m == NULL)
        return;
    if (m->rt != NULL && m->impl != NULL)
        m->rt->unload(m);
    free(m->stats);
    free(m->name);
    free(m->dir);
    free(m->path);
    free(m);
}
