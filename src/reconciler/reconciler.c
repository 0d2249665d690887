/*
 * The reconciler.  See include/ks/reconciler.h.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ks/buf.h"
#include "ks/reconciler.h"
#include "ks/scaler.h"
#include "ks/runtime.h"
#include "ks/storage.h"

#define KIND_ISVC "InferenceService"
#define KIND_REV "Revision"
#define KIND_SR "ServingRuntime"
#define KIND_CSR "ClusterServingRuntime"
#define LABEL_ISVC "serving.kserve.io/inferenceservice"
#define LABEL_COMPONENT "component"
#define ANN_HASH "serving.kserve.io/spec-hash" /* what defines the revision, hashed */
#define MAX_PORTS 64
#define FAILED_AFTER_RESTARTS 2 /* a revision whose replicas crash this often is Failed */
#define KEEP_REVISIONS 20       /* older ones that nothing routes to are deleted */

/* ---- storage jobs: one background fetch per storageUri ------------------------------ */

typedef struct fetch {
    struct fetch *next;
    char *uri;
    int state; /* 0 running, 1 done, -1 failed */
    char dir[1024];
    char err[512];
    _Atomic uint64_t done, total;
    uint64_t logged_ns; /* last progress line in the daemon log */
    struct ks_reconciler *r;
} fetch_t;

struct ks_reconciler {
    ks_store_t *store;
    ks_supervisor_t *sup;
    ks_ingress_t *ingress;
    ks_platform_config_t cfg;
    char cache[1100], pvc[1100];
    json_t *builtin;
    pthread_t tid;
    pthread_mutex_t lock; /* fetch list, poke */
    pthread_cond_t cond;
    int poked, stopping, running;
    fetch_t *fetches;
    char *routes_key;
    uint64_t last_pass_ns;
    ks_scaler_t *scaler;
    json_t *pending_status; /* statuses this pass changed, written after the routes */
    pthread_mutex_t live_lock; /* live: the scaler's figures for the API server */
    json_t *live;
    uint64_t live_version;
};

static void on_progress(void *data, const char *uri, uint64_t done, uint64_t total)
{
    fetch_t *f = data;
    uint64_t now = ks_now_ns();
    f->done = done;
    f->total = total;
    /* a line a second in the daemon log; describe shows the same from status */
    if (now - f->logged_ns >= 1000000000u) {
        f->logged_ns = now;
        if (total > 0)
            fprintf(stderr, "kserve: storage: %s: %.1f of %.1f MB (%d%%)\n", uri, (double)done / 1e6, (double)total / 1e6,
                    (int)(done * 100 / total));
        else
            fprintf(stderr, "kserve: storage: %s: %.1f MB\n", uri, (double)done / 1e6);
    }
}

static void *fetch_main(void *arg)
{
    fetch_t *f = arg;
    char dir[1024], err[512];
    int rc;
    err[0] = '\0';
    rc = ks_storage_fetch(f->uri, f->r->cache, f->r->pvc, dir, sizeof(dir), on_progress, f, err, sizeof(err));
    pthread_mutex_lock(&f->r->lock);
    if (rc == 0) {
        snprintf(f->dir, sizeof(f->dir), "%s", dir);
        f->state = 1;
    } else {
        snprintf(f->err, sizeof(f->err), "%s", err[0] ? err : "download failed");
        f->state = -1;
    }
    f->r->poked = 1;
    pthread_cond_signal(&f->r->cond);
    pthread_mutex_unlock(&f->r->lock);
    fprintf(stderr, "kserve: storage: %s: %s\n", f->uri, rc == 0 ? dir : err);
    return NULL;
}

static int is_local_uri(const char *uri)
{
    return strstr(uri, "://") == NULL || strncmp(uri, "file://", 7) == 0 || strncmp(uri, "pvc://", 6) == 0;
}

/*
 * The local model directory for uri: 1 ready (dir set), 0 in progress, -1
 * failed (err set).  Local URIs resolve at once; remote ones start a
 * background fetch whose result a later pass picks up.  A failed fetch is
 * retried when the failure is older than a pass (a new apply, a fixed server).
 */
static int model_dir(ks_reconciler_t *r, const char *uri, char *dir, size_t dlen, char *err, size_t elen,
                     uint64_t *done, uint64_t *total)
{
    fetch_t *f;
    int st;

    *done = *total = 0;
    if (is_local_uri(uri))
        return ks_storage_fetch(uri, r->cache, r->pvc, dir, dlen, NULL, NULL, err, elen) == 0 ? 1 : -1;
    pthread_mutex_lock(&r->lock);
    for (f = r->fetches; f != NULL; f = f->next)
        if (strcmp(f->uri, uri) == 0)
            break;
    if (f == NULL && (f = calloc(1, sizeof(*f))) != NULL) {
        pthread_t t;
        f->uri = strdup(uri);
        f->r = r;
        f->logged_ns = ks_now_ns();
        fprintf(stderr, "kserve: storage: fetching %s\n", uri);
        f->next = r->fetches;
        r->fetches = f;
        if (pthread_create(&t, NULL, fetch_main, f) == 0)
            pthread_detach(t);
        else {
            f->state = -1;
            snprintf(f->err, sizeof(f->err), "cannot start a download thread");
        }
    }
    st = f != NULL ? f->state : -1;
    if (st == 1)
        snprintf(dir, dlen, "%s", f->dir);
    else if (st == -1)
        snprintf(err, elen, "%s", f != NULL ? f->err : "out of memory");
    if (f != NULL) {
        *done = f->done;
        *total = f->total;
    }
    pthread_mutex_unlock(&r->lock);
    return st == 0 ? 0 : st;
}

/* Forgets a failed fetch so the next pass tries again (called when the spec changes). */
static void forget_failed_fetch(ks_reconciler_t *r, const char *uri)
{
    fetch_t **p, *f;
    pthread_mutex_lock(&r->lock);
    for (p = &r->fetches; (f = *p) != NULL; p = &f->next)
        if (f->state == -1 && strcmp(f->uri, uri) == 0) {
            *p = f->next;
            free(f->uri);
            free(f);
            break;
        }
    pthread_mutex_unlock(&r->lock);
}

/* ---- helpers --------------------------------------------------------------------- */

static const char *sget(json_t *o, const char *path)
{
    /* "a.b.c" */
    char key[128];
    const char *p = path, *dot;
    while ((dot = strchr(p, '.')) != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
        o = json_object_get(o, key);
        p = dot + 1;
    }
    return json_string_value(json_object_get(o, p));
}

static json_t *oget(json_t *o, const char *path)
{
    char key[128];
    const char *p = path, *dot;
    while ((dot = strchr(p, '.')) != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
        o = json_object_get(o, key);
        p = dot + 1;
    }
    return json_object_get(o, p);
}

static char *dump(json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* revision number from "<isvc>-predictor-00042" */
static int rev_number(const char *name)
{
    const char *d = strrchr(name, '-');
    return d != NULL ? atoi(d + 1) : 0;
}


/* how a component scales: the KPA (Serverless), or a fixed/HPA count (RawDeployment) */
typedef struct scaling {
    int kpa;                /* serverless: the KPA and the activator */
    int hpa;                /* raw: the HPA (else a fixed minReplicas) */
    ks_kpa_config_t cfg;    /* the KPA's settings */
    ks_hpa_config_t hcfg;   /* the HPA's */
    int64_t req_mc, req_bytes; /* the replica's requests, for utilisation */
    int timeout_s;          /* the component's timeout (KServe `timeout`) */
    int min, max;           /* raw mode: minReplicas, maxReplicas */
} scaling_t;

static int is_raw(json_t *isvc)
{
    const char *mode = json_string_value(json_object_get(oget(isvc, "metadata.annotations"), "serving.kserve.io/deploymentMode"));
    return mode != NULL && (strcmp(mode, "RawDeployment") == 0 || strcmp(mode, "Standard") == 0);
}

/* minScale -> min-scale: Knative's older spellings of the keys */
static void kebab(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (; *in && n + 2 < len; ++in) {
        if (*in >= 'A' && *in <= 'Z') {
            out[n++] = '-';
            out[n++] = (char)(*in - 'A' + 'a');
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

/*
 * The component's scaling: the platform's defaults, then the isvc's
 * autoscaling.knative.dev/<key> annotations, then KServe's own fields, which win
 * (minReplicas, maxReplicas, scaleTarget, scaleMetric, containerConcurrency,
 * timeout).  KServe's default minReplicas is 1: a component scales to zero
 * only with minReplicas: 0 (or min-scale "0").
 */
static void scaling_of(ks_reconciler_t *r, json_t *isvc, json_t *comp, scaling_t *sc)
{
    json_t *ann = oget(isvc, "metadata.annotations"), *v;
    const char *key, *metric;
    char k[128], val[64], e[256];
    int min_set = 0;

    memset(sc, 0, sizeof(*sc));
    sc->cfg = r->cfg.autoscaler;
    sc->kpa = !is_raw(isvc);
    json_object_foreach(ann, key, v)
    {
        if (strncmp(key, "autoscaling.knative.dev/", 24) != 0 || !json_is_string(v) || strcmp(key + 24, "class") == 0)
            continue;
        if (ks_kpa_config_set(&sc->cfg, key + 24, json_string_value(v), e, sizeof(e)) != 0) {
            kebab(key + 24, k, sizeof(k));
            ks_kpa_config_set(&sc->cfg, k, json_string_value(v), e, sizeof(e)); /* checked at apply */
        }
        kebab(key + 24, k, sizeof(k));
        if (strcmp(k, "min-scale") == 0)
            min_set = 1;
    }
    if (strcmp(json_string_value(json_object_get(ann, "autoscaling.knative.dev/class")) ?: "", "hpa.autoscaling.knative.dev") == 0)
        sc->kpa = 0;
    if ((v = json_object_get(comp, "minReplicas")) != NULL && json_is_integer(v)) {
        sc->cfg.min_scale = (int)json_integer_value(v);
        min_set = 1;
    }
    if (!min_set)
        sc->cfg.min_scale = 1; /* KServe's default minReplicas */
    if (sc->cfg.initial_scale == 0 && !sc->cfg.allow_zero_initial_scale)
        sc->cfg.initial_scale = 1; /* refused at apply; an older object still starts */
    if ((v = json_object_get(comp, "maxReplicas")) != NULL && json_is_integer(v))
        sc->cfg.max_scale = (int)json_integer_value(v);
    if ((v = json_object_get(comp, "containerConcurrency")) != NULL && json_is_integer(v))
        sc->cfg.cc = (int)json_integer_value(v);
    metric = json_string_value(json_object_get(comp, "scaleMetric"));
    if (metric != NULL && (strcmp(metric, "concurrency") == 0 || strcmp(metric, "rps") == 0))
        ks_kpa_config_set(&sc->cfg, "metric", metric, e, sizeof(e));
    else if (metric != NULL)
        sc->kpa = 0; /* cpu, memory: KServe uses an HPA for these */
    if ((v = json_object_get(comp, "scaleTarget")) != NULL && json_is_integer(v) && sc->kpa) {
        snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(v));
        ks_kpa_config_set(&sc->cfg, "target", val, e, sizeof(e));
    }
    sc->timeout_s = 300;
    if ((v = json_object_get(comp, "timeout")) != NULL && json_is_integer(v) && json_integer_value(v) > 0)
        sc->timeout_s = (int)json_integer_value(v);
    sc->min = sc->cfg.min_scale < 1 ? 1 : sc->cfg.min_scale; /* raw mode: no scale to zero */
    sc->max = sc->cfg.max_scale;
    if (sc->max > 0 && sc->min > sc->max)
        sc->max = sc->min;
    if (!sc->kpa) {
        /* RawDeployment: KServe's HPA (serving.kserve.io/autoscalerClass: hpa, the default; none/external: fixed) */
        const char *cls = json_string_value(json_object_get(ann, "serving.kserve.io/autoscalerClass"));
        json_t *res = json_object_get(json_object_get(comp, "model"), "resources");
        const char *cpu, *mem;
        sc->hpa = cls == NULL || strcmp(cls, "hpa") == 0;
        ks_hpa_config_defaults(&sc->hcfg);
        sc->hcfg.metric = metric != NULL && strcmp(metric, "memory") == 0 ? KS_HPA_MEMORY : KS_HPA_CPU;
        sc->hcfg.target_pct = KS_HPA_DEFAULT_TARGET_PCT;
        if ((v = json_object_get(comp, "scaleTarget")) != NULL && json_is_integer(v) && json_integer_value(v) >= 1)
            sc->hcfg.target_pct = (int)json_integer_value(v);
        sc->hcfg.min_replicas = sc->min;
        sc->hcfg.max_replicas = sc->max > 0 ? sc->max : sc->min;
        if (r->cfg.hpa_tolerance >= 0)
            sc->hcfg.tolerance = r->cfg.hpa_tolerance;
        if (r->cfg.hpa_down_window_s >= 0)
            sc->hcfg.down.window_s = r->cfg.hpa_down_window_s;
        if (res == NULL)
            res = json_object_get(comp, "resources");
        /* Kubernetes: a request left out defaults to the limit; KServe's defaults are cpu 1, memory 2Gi */
        cpu = json_string_value(json_object_get(json_object_get(res, "requests"), "cpu"));
        if (cpu == NULL)
            cpu = json_string_value(json_object_get(json_object_get(res, "limits"), "cpu"));
        mem = json_string_value(json_object_get(json_object_get(res, "requests"), "memory"));
        if (mem == NULL)
            mem = json_string_value(json_object_get(json_object_get(res, "limits"), "memory"));
        if (cpu == NULL || ks_quantity_millicores(cpu, &sc->req_mc, e, sizeof(e)) != 0 || sc->req_mc <= 0)
            sc->req_mc = KS_HPA_DEFAULT_CPU_MILLICORES;
        if (mem == NULL || ks_quantity_bytes(mem, &sc->req_bytes, e, sizeof(e)) != 0 || sc->req_bytes <= 0)
            sc->req_bytes = KS_HPA_DEFAULT_MEMORY_BYTES;
        if (ks_hpa_config_check(&sc->hcfg, e, sizeof(e)) != 0)
            sc->hpa = 0;
    }
}

static int rev_initialized(json_t *rev)
{
    return json_is_true(json_object_get(oget(rev, "status.autoscaler"), "scaleTargetInitialized"));
}

static char *find_in_path(const char *cmd)
{
    const char *path = getenv("PATH");
    char buf[4096];
    if (strchr(cmd, '/') != NULL || path == NULL)
        return strdup(cmd);
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, cmd);
        if (access(buf, X_OK) == 0)
            return strdup(buf);
        path += n;
        if (*path == ':')
            path++;
    }
    return strdup(cmd);
}

/*
 * The replica's command line from the runtime's container: "kserve" is this
 * binary, {{.Name}} the isvc's name, /mnt/models the local model directory,
 * --http_port the platform's port; the predictor's own args come last.
 */
/*
 * The replica's command line.  A native model server also gets the queue
 * layer's settings (containerConcurrency, timeout: the replica enforces them
 * itself, no extra hop).
 */
static char **build_argv(ks_reconciler_t *r, json_t *container, json_t *model, const char *name, const char *dir,
                         int cc, int timeout_s)
{
    json_t *cmd = json_object_get(container, "command"), *args = json_object_get(container, "args"), *x;
    json_t *margs = json_object_get(model, "args");
    size_t n = json_array_size(cmd) + json_array_size(args) + json_array_size(margs) + 6, k = 0, i;
    char **argv = calloc(n + 1, sizeof(char *));
    int have_port = 0, native;

    if (argv == NULL)
        return NULL;
    json_array_foreach(cmd, i, x)
    {
        const char *s = json_string_value(x);
        if (s == NULL)
            continue;
        if (k == 0)
            argv[k++] = strcmp(s, "kserve") == 0 ? strdup(r->cfg.self_exe) : find_in_path(s);
        else
            argv[k++] = strdup(s);
    }
    native = k >= 2 && strcmp(argv[0], r->cfg.self_exe) == 0 && strcmp(argv[1], "model-server") == 0;
    for (int pass = 0; pass < 2; ++pass) {
        json_t *list = pass == 0 ? args : margs;
        json_array_foreach(list, i, x)
        {
            const char *s = json_string_value(x);
            ks_buf_t b;
            if (s == NULL)
                continue;
            if (strncmp(s, "--http_port", 11) == 0) {
                argv[k++] = strdup("--http_port={{port}}");
                have_port = 1;
                continue;
            }
            /* substitute {{.Name}} and /mnt/models, whatever the lengths */
            ks_buf_init(&b, 0);
            while (*s) {
                if (strncmp(s, "{{.Name}}", 9) == 0) {
                    ks_buf_append(&b, name, strlen(name));
                    s += 9;
                } else if (strncmp(s, "/mnt/models", 11) == 0 && dir != NULL) {
                    ks_buf_append(&b, dir, strlen(dir));
                    s += 11;
                } else {
                    ks_buf_putc(&b, *s++);
                }
            }
            ks_buf_putc(&b, '\0');
            argv[k++] = b.base != NULL ? b.base : strdup("");
        }
    }
    if (!have_port)
        argv[k++] = strdup("--http_port={{port}}");
    if (native) {
        char flag[64];
        argv[k++] = strdup("--http_host=127.0.0.1");
        if (cc > 0) {
            snprintf(flag, sizeof(flag), "--container_concurrency=%d", cc);
            argv[k++] = strdup(flag);
        }
        if (timeout_s > 0 && timeout_s != 300) {
            snprintf(flag, sizeof(flag), "--timeout_seconds=%d", timeout_s);
            argv[k++] = strdup(flag);
        }
    }
    argv[k] = NULL;
    return argv;
}

/*
 * A custom container's replica: `kserve queue-proxy` on the replica's port,
 * starting the user's command as its child on a free port ($PORT,
 * --http_port) with the revision's containerConcurrency and timeout.
 */
static char **build_custom_argv(ks_reconciler_t *r, json_t *container, int cc, int timeout_s, const char *predictor_host)
{
    json_t *cmd = json_object_get(container, "command"), *args = json_object_get(container, "args"), *x;
    const char *probe = json_string_value(json_object_get(
        json_object_get(json_object_get(container, "readinessProbe"), "httpGet"), "path"));
    size_t n = json_array_size(cmd) + json_array_size(args) + 12, k = 0, i;
    char **argv = calloc(n + 1, sizeof(char *)), flag[1100];

    if (argv == NULL)
        return NULL;
    argv[k++] = strdup(r->cfg.self_exe);
    argv[k++] = strdup("queue-proxy");
    argv[k++] = strdup("--port={{port}}");
    argv[k++] = strdup("--workers=1");
    argv[k++] = strdup("--drain-seconds=1"); /* the ingress stops routing to it before SIGTERM */
    snprintf(flag, sizeof(flag), "--container-concurrency=%d", cc);
    argv[k++] = strdup(flag);
    snprintf(flag, sizeof(flag), "--timeout-seconds=%d", timeout_s > 0 && timeout_s <= 3600 ? timeout_s : 300);
    argv[k++] = strdup(flag);
    if (probe != NULL) {
        snprintf(flag, sizeof(flag), "--readiness-path=%s", probe);
        argv[k++] = strdup(flag);
    }
    argv[k++] = strdup("--");
    json_array_foreach(cmd, i, x) if (json_is_string(x)) argv[k++] = strdup(json_string_value(x));
    json_array_foreach(args, i, x) if (json_is_string(x)) argv[k++] = strdup(json_string_value(x));
    if (predictor_host != NULL) {
        /* a transformer: KServe's flag naming its predictor, unless the args name it already */
        int named = 0;
        json_array_foreach(args, i, x) named |= json_is_string(x) && strstr(json_string_value(x), "predictor_host") != NULL;
        if (!named) {
            snprintf(flag, sizeof(flag), "--predictor_host=%s", predictor_host);
            argv[k++] = strdup(flag);
        }
    }
    argv[k] = NULL;
    return argv;
}

/*
 * The replica's environment.  proxy_port > 0 (a transformer): plain HTTP
 * goes through the ingress as a proxy, so the predictor's host name
 * (<isvc>-predictor.<ns>.<domain>) reaches it, activator and all, with any
 * HTTP client that honours http_proxy.
 */
static char **build_env(json_t *container, json_t *model, int proxy_port)
{
    json_t *lists[2] = {json_object_get(container, "env"), json_object_get(model, "env")}, *e;
    size_t n = json_array_size(lists[0]) + json_array_size(lists[1]), k = 0, i;
    char **env = calloc(n + 5, sizeof(char *));
    if (env == NULL)
        return NULL;
    if (proxy_port > 0) {
        char v[64];
        snprintf(v, sizeof(v), "http_proxy=http://127.0.0.1:%d", proxy_port);
        env[k++] = strdup(v);
        snprintf(v, sizeof(v), "HTTP_PROXY=http://127.0.0.1:%d", proxy_port);
        env[k++] = strdup(v);
        env[k++] = strdup("no_proxy=");
        env[k++] = strdup("NO_PROXY=");
    }
    for (int l = 0; l < 2; ++l)
        json_array_foreach(lists[l], i, e)
        {
            const char *name = json_string_value(json_object_get(e, "name"));
            const char *value = json_string_value(json_object_get(e, "value"));
            char *kv;
            int overridden = 0;
            size_t j;
            json_t *o;
            if (name == NULL)
                continue;
            /* the predictor's env wins over the runtime's, as in KServe */
            if (l == 0)
                json_array_foreach(lists[1], j, o) if (strcmp(json_string_value(json_object_get(o, "name")) ?: "", name) == 0)
                    overridden = 1;
            if (overridden)
                continue;
            if ((kv = malloc(strlen(name) + strlen(value ? value : "") + 2)) == NULL)
                continue;
            sprintf(kv, "%s=%s", name, value ? value : "");
            env[k++] = kv;
        }
    return env;
}

static void free_strv(char **v)
{
    if (v == NULL)
        return;
    for (int i = 0; v[i] != NULL; ++i)
        free(v[i]);
    free(v);
}

/* conditions keep their lastTransitionTime while their status does not change */
static json_t *condition(json_t *old_status, const char *type, const char *status, const char *reason, const char *msg)
{
    json_t *c = json_pack("{s:s, s:s}", "type", type, "status", status), *oc;
    char now[32];
    size_t i;
    const char *t = NULL;
    if (reason != NULL && reason[0])
        json_object_set_new(c, "reason", json_string(reason));
    if (msg != NULL && msg[0])
        json_object_set_new(c, "message", json_string(msg));
    json_array_foreach(json_object_get(old_status, "conditions"), i, oc)
    {
        const char *ot = json_string_value(json_object_get(oc, "type"));
        const char *os = json_string_value(json_object_get(oc, "status"));
        if (ot != NULL && strcmp(ot, type) == 0 && os != NULL && strcmp(os, status) == 0)
            t = json_string_value(json_object_get(oc, "lastTransitionTime"));
    }
    if (t == NULL) {
        ks_rfc3339(now, sizeof(now));
        t = now;
    }
    json_object_set_new(c, "lastTransitionTime", json_string(t));
    return c;
}

/* writes status only when it changed (no resourceVersion churn) */
/*
 * A changed status is written at the end of the pass, after the route table
 * is published: a client that sees a new split in status finds the ingress
 * already doing it.
 */
static void put_status(ks_reconciler_t *r, const char *kind, const char *ns, const char *name, json_t *old, json_t *st)
{
    char *a = old != NULL ? dump(old) : NULL, *b = dump(st);
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        json_array_append_new(r->pending_status, json_pack("{s:s, s:s, s:s, s:O}", "kind", kind, "ns", ns, "name", name,
                                                          "status", st));
    free(a);
    free(b);
}

static void flush_status(ks_reconciler_t *r)
{
    size_t i;
    json_t *p;
    json_array_foreach(r->pending_status, i, p)
        ks_store_set_status(r->store, sget(p, "kind"), sget(p, "ns"), sget(p, "name"), json_object_get(p, "status"));
    json_array_clear(r->pending_status);
}

/* ---- one InferenceService --------------------------------------------------------------- */

typedef struct rev_view {
    json_t *obj;
    const char *name;
    int desired, actual, ready;
    int idle; /* scaled to zero by the autoscaler after it was ready: still Ready, not Active */
    int failed;
    char reason[64], message[1200];
    int exit_code;
} rev_view_t;

static void revision_status(ks_reconciler_t *r, rev_view_t *v, const char *ns, json_t *extra)
{
    json_t *old = json_object_get(v->obj, "status"), *st = json_object();
    json_t *conds = json_array();
    const char *ready = (v->ready > 0 && v->ready >= v->desired) || v->idle ? "True" : v->failed ? "False" : "Unknown";
    json_t *as = ks_scaler_status(r->scaler, ns, v->name, 0);
    json_array_append_new(conds, condition(old, "Ready", ready, v->failed ? v->reason : "", v->failed ? v->message : ""));
    json_array_append_new(conds, condition(old, "Active", v->ready > 0 ? "True" : "False", v->ready > 0 ? "" : v->idle ? "NoTraffic" : "Activating", ""));
    if (as != NULL)
        json_object_set_new(st, "autoscaler", as);
    json_object_set_new(st, "conditions", conds);
    json_object_set_new(st, "desiredReplicas", json_integer(v->desired));
    json_object_set_new(st, "actualReplicas", json_integer(v->actual));
    json_object_set_new(st, "readyReplicas", json_integer(v->ready));
    if (extra != NULL)
        json_object_update(st, extra);
    json_object_set_new(st, "replicas", ks_supervisor_status(r->sup, ns, v->name));
    put_status(r, KIND_REV, ns, v->name, old, st);
    json_decref(st);
}

static const char *rev_hash(json_t *rev)
{
    const char *h = json_string_value(json_object_get(oget(rev, "metadata.annotations"), ANN_HASH));
    return h != NULL ? h : "";
}

/* rev belongs to this isvc: same namespace and name, and (when recorded) the same uid */
static int owned_by(json_t *rev, json_t *isvc)
{
    const char *owner = json_string_value(json_object_get(oget(rev, "metadata.labels"), LABEL_ISVC));
    const char *uid = sget(json_array_get(oget(rev, "metadata.ownerReferences"), 0), "uid");
    const char *isvc_uid = sget(isvc, "metadata.uid");
    if (owner == NULL || strcmp(sget(rev, "metadata.namespace") ?: "", sget(isvc, "metadata.namespace") ?: "") != 0 ||
        strcmp(owner, sget(isvc, "metadata.name") ?: "") != 0)
        return 0;
    return uid == NULL || uid[0] == '\0' || isvc_uid == NULL || strcmp(uid, isvc_uid) == 0;
}

static int cmp_rev(const void *a, const void *b)
{
    return rev_number(((const rev_view_t *)a)->name) - rev_number(((const rev_view_t *)b)->name);
}

/* the percent of traffic a revision had in the status before, -1 when none */
static int old_percent(json_t *old_status, const char *rev)
{
    json_t *t;
    size_t i;
    json_array_foreach(oget(old_status, "components.predictor.traffic"), i, t)
    {
        const char *n = json_string_value(json_object_get(t, "revisionName"));
        if (n != NULL && strcmp(n, rev) == 0)
            return (int)json_integer_value(json_object_get(t, "percent"));
    }
    return -1;
}

/* the routes of one revision: the component's hosts, or a tag's host */
static void add_routes(ks_reconciler_t *r, ks_routes_t *routes, const char *name, const char *cname, int entry,
                       const char *ns, const char *tag, rev_view_t *v, int percent, const scaling_t *sc)
{
    char host[600];
    int ports[MAX_PORTS], np = ks_supervisor_ready_ports(r->sup, ns, v->name, ports, MAX_PORTS);
    ks_route_policy_t pol = {ks_ingress_revstat(r->ingress, ns, v->name),
                             (int)json_integer_value(json_object_get(json_object_get(json_object_get(v->obj, "spec"), cname),
                                                                     "containerConcurrency")),
                             sc->timeout_s, sc->kpa};
    if (tag != NULL) {
        snprintf(host, sizeof(host), "%s-%s-%s.%s.%s", tag, name, cname, ns, r->cfg.domain);
        ks_routes_add_target(routes, host, v->name, percent, ports, np, &pol);
        return;
    }
    if (entry) {
        snprintf(host, sizeof(host), "%s.%s.%s", name, ns, r->cfg.domain);
        ks_routes_add_target(routes, host, v->name, percent, ports, np, &pol);
    }
    snprintf(host, sizeof(host), "%s-%s.%s.%s", name, cname, ns, r->cfg.domain);
    ks_routes_add_target(routes, host, v->name, percent, ports, np, &pol);
}

/* a status.traffic entry; the url only when the tag has its own host (tag routing) */
static json_t *traffic_entry(ks_reconciler_t *r, const char *name, const char *cname, const char *ns, const char *tag,
                             rev_view_t *v, int percent, int latest, int tag_hosts)
{
    json_t *t = json_pack("{s:s, s:i, s:b}", "revisionName", v->name, "percent", percent, "latestRevision", latest);
    if (tag != NULL) {
        char url[600];
        json_object_set_new(t, "tag", json_string(tag));
        if (tag_hosts) {
            snprintf(url, sizeof(url), "http://%s-%s-%s.%s.%s", tag, name, cname, ns, r->cfg.domain);
            json_object_set_new(t, "url", json_string(url));
        }
    }
    return t;
}

/* what one component (predictor, transformer) reports to its InferenceService's status */
typedef struct comp_result {
    json_t *comp;         /* status.components.<name> */
    int ready;            /* a revision serves it (or is idle at zero) */
    int failed;           /* its spec or its latest revision failed */
    int routed;           /* it has a serving revision */
    char reason[64];
    char msg[1300];
    json_t *model_status; /* the predictor's modelStatus */
    json_t *replicas;     /* its replicas (status.replicas) */
} comp_result_t;

/*
 * One component of an InferenceService: its revisions (one per change of
 * spec.<cname>), runtime, replicas, rollout, routes and status.  The entry
 * component (the transformer when there is one, else the predictor) also
 * takes the isvc's own host.
 */
static void reconcile_component(ks_reconciler_t *r, json_t *isvc, const char *cname, int entry, json_t *all_revs,
                                json_t *cluster_rts, ks_routes_t *routes, json_t *keep, comp_result_t *res)
{
    const char *ns = sget(isvc, "metadata.namespace"), *name = sget(isvc, "metadata.name");
    json_t *predictor = json_object_get(oget(isvc, "spec"), cname), *model = json_object_get(predictor, "model");
    json_t *old_status = json_object_get(isvc, "status"), *comp = json_object();
    json_t *old_comp = json_object_get(oget(old_status, "components"), cname);
    json_t *ns_rts = NULL, *rt = NULL, *container = NULL, *rev, *traffic = json_array();
    rev_view_t *revs = calloc(json_array_size(all_revs) + 2, sizeof(rev_view_t));
    int nrevs = 0;
    const char *reason = NULL, *serving_name, *prev_name;
    char err[1200], url[512], dir[1024];
    char *key = NULL;
    rev_view_t *latest = NULL, *serving = NULL, *prev = NULL, *stable = NULL;
    int has_canary = 0, canary_pct = 100, tags = 0;
    size_t i;
    int model_ok = 0, spec_error = 0;
    uint64_t dl_done = 0, dl_total = 0;
    scaling_t sc;

    err[0] = '\0';
    if (revs == NULL)
        goto out;
    /* this isvc's revisions (this incarnation's: a deleted and re-created isvc starts afresh), oldest first */
    json_array_foreach(all_revs, i, rev)
    {
        const char *rc = json_string_value(json_object_get(oget(rev, "metadata.labels"), LABEL_COMPONENT));
        if (owned_by(rev, isvc) && strcmp(rc ?: "predictor", cname) == 0) {
            memset(&revs[nrevs], 0, sizeof(revs[0]));
            revs[nrevs].obj = rev;
            revs[nrevs].name = sget(rev, "metadata.name");
            nrevs++;
        }
    }
    qsort(revs, (size_t)nrevs, sizeof(revs[0]), cmp_rev);
    scaling_of(r, isvc, predictor, &sc);

    /* the runtime */
    ks_store_list(r->store, KIND_SR, ns, &ns_rts);
    if (model == NULL && json_array_size(json_object_get(predictor, "containers")) == 1) {
        /* a custom model server: its own command, behind the queue-proxy */
        container = json_array_get(json_object_get(predictor, "containers"), 0);
    } else if (model == NULL) {
        reason = "InvalidPredictorSpec";
        snprintf(err, sizeof(err), "spec.%s.%s is required", cname,
                 strcmp(cname, "predictor") == 0 ? "model or spec.predictor.containers" : "containers");
        spec_error = 1;
    } else if (strcmp(cname, "predictor") != 0) {
        reason = "InvalidSpec";
        snprintf(err, sizeof(err), "spec.%s.containers is required", cname);
        spec_error = 1;
    } else if ((rt = ks_select_runtime(model, ns_rts, cluster_rts, &reason, err, sizeof(err))) != NULL) {
        container = json_array_get(oget(rt, "spec.containers"), 0);
        if (container == NULL) {
            reason = "InvalidRuntime";
            snprintf(err, sizeof(err), "runtime %s has no container", sget(rt, "metadata.name"));
            spec_error = 1;
        }
    } else {
        spec_error = 1;
    }

    /* a new revision for every change of the component's spec (or of its runtime) */
    if (!spec_error) {
        /* what makes a new revision: the component's spec, except how traffic is split (canaryTrafficPercent) */
        json_t *pspec = json_copy(predictor);
        json_t *k;
        json_object_del(pspec, "canaryTrafficPercent");
        k = json_pack("{s:o, s:O, s:s}", "predictor", pspec, "container", container, "runtime",
                      sget(rt, "metadata.name") ?: "");
        {
            /* FNV-1a of the canonical text: what defines the revision */
            char *text = dump(k);
            uint64_t h = 1469598103934665603ull;
            for (const char *c = text ? text : ""; *c; ++c)
                h = (h ^ (unsigned char)*c) * 1099511628211ull;
            free(text);
            key = malloc(17);
            snprintf(key, 17, "%016llx", (unsigned long long)h);
        }
        json_decref(k);
        if (nrevs == 0 || strcmp(rev_hash(revs[nrevs - 1].obj), key) != 0) {
            char rname[256];
            json_t *obj, *stored = NULL;
            int n = nrevs > 0 ? rev_number(revs[nrevs - 1].name) + 1 : 1;
            char gen[24];
            snprintf(rname, sizeof(rname), "%s-%s-%05d", name, cname, n);
            snprintf(gen, sizeof(gen), "%lld", (long long)json_integer_value(oget(isvc, "metadata.generation")));
            obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s}, s:[{s:s, s:s, s:s, s:s}]}, "
                            "s:{s:s, s:O, s:O}}",
                            "apiVersion", "serving.knative.dev/v1", "kind", KIND_REV, "metadata", "name", rname,
                            "namespace", ns, "labels", LABEL_ISVC, name, LABEL_COMPONENT, cname,
                            "serving.knative.dev/configurationGeneration", gen, "annotations", ANN_HASH, key,
                            "ownerReferences", "apiVersion", "serving.kserve.io/v1beta1", "kind", KIND_ISVC, "name",
                            name, "uid", sget(isvc, "metadata.uid") ?: "", "spec", "runtime",
                            sget(rt, "metadata.name") ?: "", cname, predictor, "container", container);
            if (obj != NULL && ks_store_put(r->store, KIND_REV, obj, 0, 0, &stored, NULL, 0) == 0 && stored != NULL) {
                json_array_append_new(all_revs, stored); /* all_revs owns it */
                memset(&revs[nrevs], 0, sizeof(revs[0]));
                revs[nrevs].obj = stored;
                revs[nrevs].name = sget(stored, "metadata.name");
                nrevs++;
                ks_store_event(r->store, KIND_ISVC, ns, name, "Normal", "RevisionCreated",
                               "created revision %s (runtime %s)", rname, sget(rt, "metadata.name"));
                if (sget(model, "storageUri") != NULL)
                    forget_failed_fetch(r, sget(model, "storageUri"));
            }
            json_decref(obj);
        }
    }
    if (nrevs > 0 && !spec_error)
        latest = &revs[nrevs - 1];

    /* the revision that serves: the one rolled out last, if it still exists */
    serving_name = json_string_value(json_object_get(old_comp, "latestRolledoutRevision"));
    prev_name = json_string_value(json_object_get(old_comp, "previousRolledoutRevision"));
    for (int k = 0; k < nrevs; ++k)
        if (serving_name != NULL && strcmp(revs[k].name, serving_name) == 0)
            serving = &revs[k];
    {
        /* after a rollback (P = 0) the revision taking the traffic is not the one rolled out last: it keeps serving */
        json_t *t;
        size_t j;
        if (json_object_get(predictor, "canaryTrafficPercent") == NULL)
            json_array_foreach(json_object_get(old_comp, "traffic"), j, t)
            {
                const char *rn = json_string_value(json_object_get(t, "revisionName"));
                if (rn == NULL || json_integer_value(json_object_get(t, "percent")) != 100)
                    continue;
                for (int k = 0; k < nrevs; ++k)
                    if (strcmp(revs[k].name, rn) == 0)
                        serving = &revs[k];
            }
    }

    /*
     * Canary (spec: rollouts): with canaryTrafficPercent P the latest revision
     * gets P % once ready and the stable one the rest: the revision rolled out
     * last, or, when that is the latest itself, the one rolled out before it
     * (so P = 0 rolls back).  Tags route latest-/prev- hosts to each alone.
     */
    {
        json_t *p = json_object_get(predictor, "canaryTrafficPercent");
        const char *tr = json_string_value(json_object_get(oget(isvc, "metadata.annotations"),
                                                           "serving.kserve.io/enable-tag-routing"));
        has_canary = json_is_integer(p);
        canary_pct = has_canary ? (int)json_integer_value(p) : 100;
        tags = tr != NULL && strcmp(tr, "true") == 0;
        for (int k = 0; k < nrevs; ++k)
            if (prev_name != NULL && strcmp(revs[k].name, prev_name) == 0)
                prev = &revs[k];
        if (has_canary && latest != NULL)
            stable = serving != latest ? serving : prev;
        if (stable == latest)
            stable = NULL;
    }

    /* run the latest revision, the serving one while they differ, and a canary's or a tag's other revision */
    for (int k = 0; k < nrevs; ++k) {
        rev_view_t *v = &revs[k];
        if (v != latest && v != serving && v != stable && !(tags && v == prev))
            continue;
        json_t *rspec = json_object_get(v->obj, "spec"), *rcomp = json_object_get(rspec, cname);
        json_t *rmodel = json_object_get(rcomp, "model");
        json_t *extra = json_object();
        const char *uri = sget(rmodel, "storageUri");
        char ferr[600];
        int md = 1;
        v->desired = sc.kpa ? 0 : sc.min;
        ferr[0] = '\0';
        dir[0] = '\0';
        if (uri != NULL)
            md = model_dir(r, uri, dir, sizeof(dir), ferr, sizeof(ferr), &dl_done, &dl_total);
        if (md < 0) {
            v->failed = 1;
            snprintf(v->reason, sizeof(v->reason), "ModelLoadFailed");
            snprintf(v->message, sizeof(v->message), "storage initializer: %s", ferr);
            v->exit_code = 1;
        } else if (md == 0) {
            json_object_set_new(extra, "download", json_pack("{s:I, s:I}", "bytes", (json_int_t)dl_done, "total",
                                                             (json_int_t)dl_total));
        } else {
            json_t *custom = json_array_get(json_object_get(rcomp, "containers"), 0);
            char predictor_host[600];
            snprintf(predictor_host, sizeof(predictor_host), "%s-predictor.%s.%s", name, ns, r->cfg.domain);
            char **argv = custom != NULL
                              ? build_custom_argv(r, custom, (int)json_integer_value(json_object_get(rcomp, "containerConcurrency")),
                                                  (int)json_integer_value(json_object_get(rcomp, "timeout")),
                                                  strcmp(cname, "transformer") == 0 ? predictor_host : NULL)
                              : build_argv(r, json_object_get(rspec, "container"), rmodel, name, uri != NULL ? dir : NULL,
                                     /* the revision's own settings: revisions are immutable */
                                     (int)json_integer_value(json_object_get(rcomp, "containerConcurrency")),
                                     (int)json_integer_value(json_object_get(rcomp, "timeout")));
            char **env = build_env(custom != NULL ? custom : json_object_get(rspec, "container"), rmodel,
                                   strcmp(cname, "transformer") == 0 ? r->cfg.ingress_port : 0);
            if (argv != NULL) {
                const char *mrt = NULL;
                char *mpath = NULL;
                if (sc.kpa)
                    v->desired = ks_scaler_revision(r->scaler, ns, v->name, ks_ingress_revstat(r->ingress, ns, v->name),
                                                    &sc.cfg, v == serving || v == stable || v == latest || (tags && v == prev),
                                                    rev_initialized(v->obj));
                else if (sc.hpa)
                    v->desired = ks_scaler_hpa_revision(r->scaler, ns, v->name, &sc.hcfg, sc.req_mc, sc.req_bytes);
                ks_supervisor_set(r->sup, ns, v->name, v->desired, argv, env,
                                  custom != NULL ? "/ks/queue/ready" : "/v2/health/ready");
                /* a scikit-learn model on the native server: fork it from the warm zygote */
                if (uri != NULL && argv[1] != NULL && strcmp(argv[0], r->cfg.self_exe) == 0 &&
                    strcmp(argv[1], "model-server") == 0 && ks_model_find_file(dir, &mrt, &mpath, ferr, sizeof(ferr)) == 0)
                    ks_supervisor_prefer_zygote(r->sup, ns, v->name, strcmp(mrt, "sklearn") == 0);
                free(mpath);
            }
            json_object_set_new(extra, "modelDir", json_string(dir));
            free_strv(argv);
            free_strv(env);
            if (v == latest)
                model_ok = 1;
        }
        ks_supervisor_counts(r->sup, ns, v->name, &v->desired, &v->actual, &v->ready);
        {
            json_t *as = ks_scaler_status(r->scaler, ns, v->name, 0);
            v->idle = sc.kpa && v->desired == 0 && json_is_true(json_object_get(as, "scaleTargetInitialized"));
            json_decref(as);
        }
        if (!v->failed && v->ready == 0 && ks_supervisor_problem(r->sup, ns, v->name, v->reason, sizeof(v->reason),
                                                                  v->message, sizeof(v->message), &v->exit_code)) {
            json_t *reps = ks_supervisor_status(r->sup, ns, v->name), *rp;
            size_t j;
            json_array_foreach(reps, j, rp) if (json_integer_value(json_object_get(rp, "restarts")) >= FAILED_AFTER_RESTARTS)
                v->failed = 1;
            json_decref(reps);
            if (v->exit_code == 1 || v->exit_code == 2)
                snprintf(v->reason, sizeof(v->reason), "ModelLoadFailed");
        }
        json_array_append_new(keep, json_pack("{s:s, s:s}", "namespace", ns, "revision", v->name));
        revision_status(r, v, ns, extra);
        json_decref(extra);
    }

    /* roll out: the latest revision takes the traffic once it is ready (a canary keeps the stable one rolled out) */
    if (latest != NULL && latest != serving && !(has_canary && serving != NULL) && (latest->ready > 0 || latest->idle) &&
        latest->ready >= latest->desired) {
        if (serving != NULL) {
            prev_name = serving->name;
            ks_store_event(r->store, KIND_ISVC, ns, name, "Normal", "TrafficSwitched",
                           "100%% of traffic moved from %s to %s", serving->name, latest->name);
        } else {
            ks_store_event(r->store, KIND_ISVC, ns, name, "Normal", "RevisionReady", "revision %s is ready",
                           latest->name);
        }
        serving = latest;
        /* the old revision stops now that no route needs it (it drains on SIGTERM) */
    }

    /* routes */
    snprintf(url, sizeof(url), "http://%s-%s.%s.%s", name, cname, ns, r->cfg.domain);
    if (stable != NULL && latest != NULL && (stable->ready > 0 || stable->idle)) {
        /* a canary: P % to the latest once it is ready (a failed one never gets traffic) */
        int lp = (latest->ready > 0 || latest->idle) && !latest->failed ? canary_pct : 0;
        add_routes(r, routes, name, cname, entry, ns, NULL, latest, lp, &sc);
        add_routes(r, routes, name, cname, entry, ns, NULL, stable, 100 - lp, &sc);
        json_array_append_new(traffic, traffic_entry(r, name, cname, ns, "prev", stable, 100 - lp, 0, tags));
        json_array_append_new(traffic, traffic_entry(r, name, cname, ns, tags ? "latest" : NULL, latest, lp, 1, tags));
        if (old_percent(old_status, latest->name) != lp)
            ks_store_event(r->store, KIND_ISVC, ns, name, "Normal", "TrafficSplit", "%d%% of traffic to %s, %d%% to %s", lp,
                           latest->name, 100 - lp, stable->name);
    } else if (serving != NULL) {
        add_routes(r, routes, name, cname, entry, ns, NULL, serving, 100, &sc);
        json_array_append_new(traffic, traffic_entry(r, name, cname, ns, tags && serving == latest ? "latest" : NULL, serving, 100,
                                                     serving == latest, tags));
        if (tags && prev != NULL && prev != serving && (prev->ready > 0 || prev->idle))
            json_array_append_new(traffic, traffic_entry(r, name, cname, ns, "prev", prev, 0, 0, tags));
    }
    if (tags) {
        /* latest-<isvc>-<component> and prev-<isvc>-<component> reach each revision alone */
        if (latest != NULL && (latest->ready > 0 || latest->idle) && !latest->failed)
            add_routes(r, routes, name, cname, 0, ns, "latest", latest, 100, &sc);
        if (stable != NULL || (prev != NULL && prev != latest))
            add_routes(r, routes, name, cname, 0, ns, "prev", stable != NULL ? stable : prev, 100, &sc);
    }

    /* the component's status */
    {
        int pred_ready = serving != NULL && (serving->ready > 0 || serving->idle);
        const char *pr_reason = "", *pr_msg = "";
        char msgbuf[1300];
        json_t *ms = json_object(), *states = json_object();
        if (spec_error) {
            pr_reason = reason;
            pr_msg = err;
        } else if (latest != NULL && latest->failed) {
            pr_reason = latest->reason;
            snprintf(msgbuf, sizeof(msgbuf), "revision %s failed: %s", latest->name, latest->message);
            pr_msg = msgbuf;
        } else if (!pred_ready) {
            pr_reason = latest != NULL && !model_ok ? "ModelDownloading" : "ReplicasStarting";
        }
        res->ready = pred_ready;
        res->failed = spec_error || (latest != NULL && latest->failed);
        res->routed = serving != NULL;
        snprintf(res->reason, sizeof(res->reason), "%s", pred_ready ? "" : pr_reason ?: "");
        snprintf(res->msg, sizeof(res->msg), "%s", pred_ready ? "" : pr_msg ?: "");
        if (latest != NULL)
            json_object_set_new(comp, "latestCreatedRevision", json_string(latest->name));
        if (serving != NULL) {
            json_object_set_new(comp, "latestReadyRevision", json_string(serving->name));
            json_object_set_new(comp, "latestRolledoutRevision", json_string(serving->name));
        }
        if (latest != NULL && (latest->ready > 0 || latest->idle) && latest->ready >= latest->desired)
            json_object_set_new(comp, "latestReadyRevision", json_string(latest->name));
        if (prev_name != NULL && (serving == NULL || strcmp(prev_name, serving->name) != 0))
            json_object_set_new(comp, "previousRolledoutRevision", json_string(prev_name));
        json_object_set_new(comp, "traffic", traffic);
        traffic = NULL;
        if (serving != NULL) {
            json_t *as = ks_scaler_status(r->scaler, ns, serving->name, 0);
            json_object_set_new(comp, "replicaCounts", json_pack("{s:i, s:i, s:i}", "desired", serving->desired,
                                                                 "actual", serving->actual, "ready", serving->ready));
            if (as != NULL)
                json_object_set_new(comp, "autoscaler", as);
        }
        json_object_set_new(comp, "url", json_string(url));
        if (dl_total > 0 || dl_done > 0)
            json_object_set_new(comp, "download", json_pack("{s:I, s:I}", "bytes", (json_int_t)dl_done, "total",
                                                            (json_int_t)dl_total));
        res->comp = comp;
        comp = NULL;
        /* modelStatus as KServe reports it */
        if (spec_error) {
            json_object_set_new(ms, "transitionStatus", json_string("InvalidSpec"));
            json_object_set_new(states, "targetModelState", json_string("FailedToLoad"));
        } else if (latest != NULL && latest->failed) {
            json_object_set_new(ms, "transitionStatus", json_string("BlockedByFailedLoad"));
            json_object_set_new(states, "targetModelState", json_string("FailedToLoad"));
        } else if (latest != NULL && (latest->ready > 0 || latest->idle) && pred_ready &&
                   (latest == serving || (stable != NULL && canary_pct > 0))) {
            json_object_set_new(ms, "transitionStatus", json_string("UpToDate"));
            json_object_set_new(states, "targetModelState", json_string("Loaded"));
        } else {
            json_object_set_new(ms, "transitionStatus", json_string("InProgress"));
            json_object_set_new(states, "targetModelState", json_string(model_ok ? "Loading" : "Pending"));
        }
        json_object_set_new(states, "activeModelState", json_string(pred_ready ? "Loaded" : ""));
        json_object_set_new(ms, "states", states);
        if (spec_error || (latest != NULL && latest->failed)) {
            json_t *lf = json_pack("{s:s, s:s}", "reason", spec_error ? reason : latest->reason, "message",
                                   spec_error ? err : latest->message);
            if (!spec_error && latest->exit_code >= 0)
                json_object_set_new(lf, "exitCode", json_integer(latest->exit_code));
            json_object_set_new(ms, "lastFailureInfo", lf);
        }
        res->model_status = ms;
        {
            json_t *reps = json_array();
            for (int k = 0; k < nrevs; ++k)
                if (&revs[k] == latest || &revs[k] == serving || &revs[k] == stable)
                {
                    json_t *part = ks_supervisor_status(r->sup, ns, revs[k].name);
                    json_array_extend(reps, part);
                    json_decref(part);
                }
            res->replicas = reps;
        }
        /* a warning event when a failure starts (not on every restart of a crash loop) */
        if (pr_reason[0] && strcmp(pr_reason, "ReplicasStarting") != 0 && strcmp(pr_reason, "ModelDownloading") != 0) {
            json_t *last = NULL;
            const char *lr = NULL;
            ks_store_events(r->store, KIND_ISVC, ns, name, 1, &last);
            lr = sget(json_array_get(last, 0), "reason");
            if (lr == NULL || strcmp(lr, pr_reason) != 0)
                ks_store_event(r->store, KIND_ISVC, ns, name, "Warning", pr_reason, "%s", pr_msg);
            json_decref(last);
        }
    }
    /* keep the newest KEEP_REVISIONS revisions (and whatever serves) in the store, as Knative's GC */
    for (int k = 0; k < nrevs - KEEP_REVISIONS; ++k) {
        const char *prev = json_string_value(json_object_get(old_comp, "previousRolledoutRevision"));
        if (&revs[k] == latest || &revs[k] == serving || (prev != NULL && strcmp(prev, revs[k].name) == 0))
            continue;
        ks_store_delete(r->store, KIND_REV, ns, revs[k].name);
    }
out:
    json_decref(comp);
    json_decref(traffic);
    json_decref(ns_rts);
    free(key);
    free(revs);
}

/* An InferenceService: its components, then its status as KServe reports it. */
static void reconcile_isvc(ks_reconciler_t *r, json_t *isvc, json_t *all_revs, json_t *cluster_rts, ks_routes_t *routes,
                           json_t *keep)
{
    const char *ns = sget(isvc, "metadata.namespace"), *name = sget(isvc, "metadata.name");
    json_t *old_status = json_object_get(isvc, "status"), *status = json_object(), *conds = json_array();
    json_t *comps = json_object(), *reps = json_array();
    int has_t = json_object_get(oget(isvc, "spec"), "transformer") != NULL;
    comp_result_t res[2];
    const char *names[2] = {"predictor", "transformer"}, *conds_names[2] = {"PredictorReady", "TransformerReady"};
    int n = has_t ? 2 : 1, all_ready = 1, any_failed = 0, entry_routed;
    const char *reason = "", *msg = "";
    char url[512];

    memset(res, 0, sizeof(res));
    for (int i = 0; i < n; ++i) {
        reconcile_component(r, isvc, names[i], i == n - 1, all_revs, cluster_rts, routes, keep, &res[i]);
        if (res[i].comp != NULL)
            json_object_set_new(comps, names[i], res[i].comp);
        if (res[i].replicas != NULL)
            json_array_extend(reps, res[i].replicas);
        if (!res[i].ready && all_ready) {
            reason = res[i].reason;
            msg = res[i].msg;
        }
        all_ready = all_ready && res[i].ready;
        any_failed = any_failed || (res[i].failed && !res[i].ready);
    }
    entry_routed = res[n - 1].routed;
    snprintf(url, sizeof(url), "http://%s.%s.%s", name, ns, r->cfg.domain);
    json_array_append_new(conds, condition(old_status, "IngressReady", entry_routed ? "True" : "Unknown", "", ""));
    for (int i = 0; i < n; ++i)
        json_array_append_new(conds, condition(old_status, conds_names[i],
                                               res[i].ready ? "True" : res[i].failed ? "False" : "Unknown",
                                               res[i].ready ? "" : res[i].reason, res[i].ready ? "" : res[i].msg));
    /* a new revision that failed while an old one serves: Ready stays True, the failure shows in modelStatus */
    json_array_append_new(conds, condition(old_status, "Ready", all_ready ? "True" : any_failed ? "False" : "Unknown",
                                           all_ready ? "" : reason, all_ready ? "" : msg));
    json_object_set_new(status, "conditions", conds);
    json_object_set_new(status, "url", json_string(url));
    json_object_set_new(status, "address", json_pack("{s:s}", "url", url));
    json_object_set_new(status, "observedGeneration", json_integer(json_integer_value(oget(isvc, "metadata.generation"))));
    /* the component that takes the isvc's host reports the isvc's URL, as KServe's predictor does */
    if (json_object_get(comps, names[n - 1]) != NULL)
        json_object_set_new(json_object_get(comps, names[n - 1]), "url", json_string(url));
    json_object_set_new(status, "components", comps);
    if (res[0].model_status != NULL)
        json_object_set(status, "modelStatus", res[0].model_status);
    json_object_set_new(status, "replicas", reps);
    put_status(r, KIND_ISVC, ns, name, old_status, status);
    json_decref(status);
    for (int i = 0; i < 2; ++i) {
        json_decref(res[i].model_status);
        json_decref(res[i].replicas);
    }
}

/* ---- the pass ---------------------------------------------------------------------------- */

static int kept(json_t *keep, const char *ns, const char *rev)
{
    size_t i;
    json_t *k;
    json_array_foreach(keep, i, k) if (strcmp(sget(k, "namespace"), ns) == 0 && strcmp(sget(k, "revision"), rev) == 0) return 1;
    return 0;
}

void ks_reconciler_pass(ks_reconciler_t *r)
{
    json_t *isvcs = NULL, *revs = NULL, *csrs = NULL, *keep = json_array(), *live = json_array(), *x, *known;
    ks_routes_t *routes = ks_routes_new();
    size_t i;

    ks_store_list(r->store, KIND_ISVC, NULL, &isvcs);
    ks_store_list(r->store, KIND_REV, NULL, &revs);
    ks_store_list(r->store, KIND_CSR, NULL, &csrs);
    json_array_extend(csrs, r->builtin);

    /* first, revisions whose isvc is gone (or was deleted and created anew) go, with their events */
    json_array_foreach(revs, i, x)
    {
        const char *ns = sget(x, "metadata.namespace"), *owner = json_string_value(json_object_get(oget(x, "metadata.labels"), LABEL_ISVC));
        int found = 0, same_name = 0;
        size_t j;
        json_t *y;
        json_array_foreach(isvcs, j, y)
        {
            if (owned_by(x, y))
                found = 1;
            else if (owner != NULL && strcmp(sget(y, "metadata.namespace"), ns) == 0 && strcmp(sget(y, "metadata.name"), owner) == 0)
                same_name = 1;
        }
        if (found) {
            json_array_append(live, x);
        } else {
            ks_store_delete(r->store, KIND_REV, ns, sget(x, "metadata.name"));
            /* the events go with the isvc, unless a new one of the same name has begun */
            if (owner != NULL && !same_name)
                ks_store_events_delete(r->store, KIND_ISVC, ns, owner);
        }
    }
    json_array_foreach(isvcs, i, x) reconcile_isvc(r, x, live, csrs, routes, keep);

    /* replicas nobody needs: stop them (drain) */
    known = ks_supervisor_revisions(r->sup);
    json_array_foreach(known, i, x)
    {
        if (!json_is_true(json_object_get(x, "removing")) && !kept(keep, sget(x, "namespace"), sget(x, "revision")))
            ks_supervisor_remove(r->sup, sget(x, "namespace"), sget(x, "revision"));
    }
    json_decref(known);

    ks_scaler_sweep(r->scaler);

    /* routes: publish only a changed table */
    if (r->routes_key == NULL || strcmp(r->routes_key, ks_routes_key(routes)) != 0) {
        free(r->routes_key);
        r->routes_key = strdup(ks_routes_key(routes));
        ks_ingress_publish(r->ingress, routes);
    } else {
        ks_routes_free(routes);
    }
    flush_status(r);
    json_decref(isvcs);
    json_decref(revs);
    json_decref(csrs);
    json_decref(keep);
    json_decref(live);
}

/* ---- the thread ------------------------------------------------------------------------ */

static void *reconciler_main(void *arg)
{
    ks_reconciler_t *r = arg;
    uint64_t seen = (uint64_t)-1;
    int wait_ms = 0;

    for (;;) {
        struct timespec ts;
        uint64_t v;
        int sup_ms, scale_ms = 1000, scaled;

        pthread_mutex_lock(&r->lock);
        if (!r->poked && !r->stopping && wait_ms > 0) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)wait_ms * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&r->cond, &r->lock, &ts);
        }
        r->poked = 0;
        if (r->stopping) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        pthread_mutex_unlock(&r->lock);

        sup_ms = ks_supervisor_tick(r->sup);
        scaled = ks_scaler_step(r->scaler, ks_now_ns(), &scale_ms);
        if (ks_scaler_version(r->scaler) != r->live_version) {
            json_t *snap = ks_scaler_snapshot(r->scaler), *old;
            r->live_version = ks_scaler_version(r->scaler);
            pthread_mutex_lock(&r->live_lock);
            old = r->live;
            r->live = snap;
            pthread_mutex_unlock(&r->live_lock);
            json_decref(old);
        }
        v = ks_store_version(r->store);
        /* a full pass when the store changed, a replica changed state, a scale changed, or every second */
        if (v != seen || sup_ms == 0 || scaled || ks_now_ns() - r->last_pass_ns > 1000000000u) {
            seen = v;
            ks_reconciler_pass(r);
            r->last_pass_ns = ks_now_ns();
            /* the pass may have declared replicas: let the supervisor start them now */
            sup_ms = ks_supervisor_tick(r->sup);
        }
        ks_ingress_reclaim(r->ingress);
        if (scale_ms < sup_ms)
            sup_ms = scale_ms;
        wait_ms = sup_ms < 1 ? 1 : sup_ms > 500 ? 500 : sup_ms;
    }
    return NULL;
}

static void poke_cb(void *data)
{
    ks_reconciler_poke(data);
}

ks_reconciler_t *ks_reconciler_new(ks_store_t *store, ks_supervisor_t *sup, ks_ingress_t *ingress,
                                   const ks_platform_config_t *cfg)
{
    ks_reconciler_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->store = store;
    r->sup = sup;
    r->ingress = ingress;
    r->cfg = *cfg;
    if (r->cfg.autoscaler.window_s == 0)
        ks_kpa_config_defaults(&r->cfg.autoscaler);
    if (r->cfg.activator_queue_depth <= 0) {
        /* a caller that left the config zeroed (the unit tests) */
        r->cfg.activator_queue_depth = KS_ACTIVATOR_QUEUE_DEPTH;
        r->cfg.hpa_tolerance = -1;
        r->cfg.hpa_down_window_s = -1;
    }
    r->pending_status = json_array();
    if ((r->scaler = ks_scaler_new(cfg->home, sup)) == NULL) {
        free(r);
        return NULL;
    }
    ks_ingress_set_queue_depth(ingress, r->cfg.activator_queue_depth);
    ks_scaler_set_hpa_period(r->scaler, r->cfg.hpa_sync_s);
    ks_ingress_set_poke(ingress, poke_cb, r);
    snprintf(r->cache, sizeof(r->cache), "%s/models", cfg->home);
    snprintf(r->pvc, sizeof(r->pvc), "%s/pvc", cfg->home);
    mkdir(r->cache, 0755);
    r->builtin = ks_builtin_runtimes();
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->live_lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    return r;
}

int ks_reconciler_start(ks_reconciler_t *r)
{
    if (pthread_create(&r->tid, NULL, reconciler_main, r) != 0)
        return KS_EINTERNAL;
    r->running = 1;
    return 0;
}

void ks_reconciler_overlay(ks_reconciler_t *r, json_t *obj)
{
    const char *kind = json_string_value(json_object_get(obj, "kind")), *ns = sget(obj, "metadata.namespace");
    const char *rev = NULL;
    json_t *target, *live;
    char key[600];

    if (kind == NULL || ns == NULL)
        return;
    if (strcmp(kind, KIND_REV) == 0) {
        rev = sget(obj, "metadata.name");
        target = json_object_get(obj, "status");
    } else if (strcmp(kind, KIND_ISVC) == 0) {
        rev = sget(obj, "status.components.predictor.latestRolledoutRevision");
        target = oget(obj, "status.components.predictor");
    } else {
        return;
    }
    if (rev == NULL || !json_is_object(target) || json_object_get(target, "autoscaler") == NULL)
        return;
    snprintf(key, sizeof(key), "%s/%s", ns, rev);
    pthread_mutex_lock(&r->live_lock);
    live = json_deep_copy(json_object_get(r->live, key));
    pthread_mutex_unlock(&r->live_lock);
    if (live != NULL)
        json_object_update(json_object_get(target, "autoscaler"), live);
    json_decref(live);
}

int ks_reconciler_allows_zero_initial_scale(const ks_reconciler_t *r)
{
    return r->cfg.autoscaler.allow_zero_initial_scale;
}

void ks_reconciler_poke(ks_reconciler_t *r)
{
    pthread_mutex_lock(&r->lock);
    r->poked = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void ks_reconciler_stop(ks_reconciler_t *r, int stop_replicas)
{
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (r->running)
        pthread_join(r->tid, NULL);
    r->running = 0;
    if (stop_replicas)
        ks_supervisor_shutdown(r->sup, 30000);
}
