/*
 * The reconciler's decisions (src/reconciler/reconciler.c), driven pass by
 * pass: a real store, supervisor and ingress, the reconciler's thread NOT
 * started -- each test calls ks_reconciler_pass() and ks_supervisor_tick()
 * in bounded loops and reads the store (InferenceService status, Revisions)
 * and the supervisor (counts, ready ports) to see what the pass decided.
 *
 * The replicas are a tiny Python HTTP server, the only container of a
 * ServingRuntime "fake" in namespace "default".  It takes --http_port=N
 * (the reconciler rewrites the runtime's --http_port=8080 into
 * --http_port={{port}}), answers 200 on /v2/health/ready and, on any other
 * path, "marker=<--marker> model_dir=<--model_dir>" (and " greeting=<$KS_GREETING>"
 * when set).  --delay=S waits S seconds before listening; --exit=N exits
 * with N at once; --gate=DIR lets the first replica to create DIR/first
 * listen at once and the others only once DIR/open exists.
 *
 * Every wait is bounded.  Every replica carries MARKER (this test's pid) in
 * its command line; teardown kills (by pid) whatever still carries it.
 *
 * There is no ks_reconciler_free() and no ks_ingress_free(): the objects of
 * every test are kept in static arrays so that LeakSanitizer sees them
 * reachable at exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks/ingress.h"
#include "ks/reconciler.h"
#include "ks/store.h"
#include "ks/supervisor.h"

#define WAIT_MS 15000 /* the bound of every wait */
#define NS "default"

static char HOME_DIR[256];
static char MODEL_DIR[512];  /* the storageUri's directory, as given */
static char MODEL_REAL[PATH_MAX]; /* its realpath: what /mnt/models becomes */
static char STORAGE_URI[600];
static char MARKER[64];
static char E[KS_ERRLEN];
static char MSG[4096]; /* failure messages, formatted before what they name is freed */

static ks_store_t *STORE;
static ks_supervisor_t *SUP;
static ks_ingress_t *ING;
static ks_reconciler_t *REC;
static int ING_PORT;

/* no free functions: kept reachable until exit (see the comment at the top) */
static ks_reconciler_t *ALL_REC[64];
static ks_ingress_t *ALL_ING[64];
static int NKEPT;

static const char PY[] =
    "import os,sys,time,http.server as h\n"
    "port=0; marker=''; mdir=''; delay=0.0; code=None; gate=''\n"
    "for a in sys.argv[1:]:\n"
    "    k,_,v=a.partition('=')\n"
    "    if k=='--http_port': port=int(v)\n"
    "    elif k=='--marker': marker=v\n"
    "    elif k=='--model_dir': mdir=v\n"
    "    elif k=='--delay': delay=float(v)\n"
    "    elif k=='--exit': code=int(v)\n"
    "    elif k=='--gate': gate=v\n"
    "if code is not None: sys.exit(code)\n"
    "if delay: time.sleep(delay)\n"
    "if gate:\n"
    "    try: os.close(os.open(gate+'/first',os.O_CREAT|os.O_EXCL|os.O_WRONLY))\n"
    "    except FileExistsError:\n"
    "        t=time.time()\n"
    "        while not os.path.exists(gate+'/open') and time.time()-t<30: time.sleep(0.02)\n"
    "g=os.environ.get('KS_GREETING','')\n"
    "class H(h.BaseHTTPRequestHandler):\n"
    "    def do_GET(s):\n"
    "        b=(b'ready' if s.path=='/v2/health/ready' else ('marker=%s model_dir=%s'%(marker,mdir)+(' greeting='+g if g else '')).encode())\n"
    "        s.send_response(200); s.send_header('Content-Length',str(len(b))); s.end_headers(); s.wfile.write(b)\n"
    "    def log_message(s,*a): pass\n"
    "h.HTTPServer(('127.0.0.1',port),H).serve_forever()\n";

/* ---- time, processes ------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* the command line of pid ('\0' separated) into buf; its length, or -1 */
static ssize_t cmdline_of(pid_t pid, char *buf, size_t len)
{
    char path[64];
    ssize_t n;
    int fd;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static int cmdline_has(const char *buf, ssize_t n, const char *arg)
{
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
        if (strcmp(buf + i, arg) == 0)
            return 1;
    return 0;
}

/* 1 when pid is a live (not zombie) process whose command line carries MARKER */
static int is_ours(pid_t pid)
{
    char path[64], buf[16384], st[512];
    ssize_t n;
    int fd;
    char *p;

    if ((n = cmdline_of(pid, buf, sizeof(buf))) <= 0 || !cmdline_has(buf, n, MARKER))
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, st, sizeof(st) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    st[n] = '\0';
    if ((p = strrchr(st, ')')) == NULL || p[1] == '\0')
        return 0;
    return p[2] != 'Z' && p[2] != 'X';
}

static void kill_ours(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            char *end;
            long v = strtol(e->d_name, &end, 10);
            if (*end != '\0' || v <= 0 || v == (long)getpid())
                continue;
            if (is_ours((pid_t)v)) {
                kill((pid_t)v, SIGKILL);
                waitpid((pid_t)v, NULL, 0);
            }
        }
        closedir(d);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* ---- setup ----------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static json_t *fake_runtime(const char *name, const char *format)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:b}], s:[s, s], s:[{s:s, s:s, s:[s, s, s], s:[s, s, s]}]}}",
                     "apiVersion", "serving.kserve.io/v1alpha1", "kind", "ServingRuntime", "metadata", "name", name,
                     "namespace", NS, "spec", "supportedModelFormats", "name", format, "autoSelect", 1,
                     "protocolVersions", "v1", "v2", "containers", "name", "kserve-container", "image", "fake:latest",
                     "command", "/usr/bin/python3", "-c", PY, "args", "--model_dir=/mnt/models", "--http_port=8080",
                     MARKER);
}

static int setup(void **state)
{
    char path[600];
    FILE *f;
    json_t *rt;
    ks_platform_config_t cfg;
    (void)state;

    snprintf(HOME_DIR, sizeof(HOME_DIR), "%s/ks-rec-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(HOME_DIR) == NULL)
        return -1;
    snprintf(MARKER, sizeof(MARKER), "--ks-unit-reconciler-%d", (int)getpid());
    snprintf(MODEL_DIR, sizeof(MODEL_DIR), "%s/model", HOME_DIR);
    if (mkdir(MODEL_DIR, 0755) != 0 || realpath(MODEL_DIR, MODEL_REAL) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/model.bin", MODEL_DIR);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fputs("not really a model\n", f);
    fclose(f);
    snprintf(STORAGE_URI, sizeof(STORAGE_URI), "file://%s", MODEL_DIR);

    snprintf(path, sizeof(path), "%s/store.db", HOME_DIR);
    if (ks_store_open(path, &STORE, E, sizeof(E)) != 0) {
        fprintf(stderr, "ks_store_open: %s\n", E);
        return -1;
    }
    if ((SUP = ks_supervisor_new(HOME_DIR, E, sizeof(E))) == NULL) {
        fprintf(stderr, "ks_supervisor_new: %s\n", E);
        return -1;
    }
    if ((ING = ks_ingress_new("127.0.0.1", 0, 1, E, sizeof(E))) == NULL || ks_ingress_start(ING, E, sizeof(E)) != 0) {
        fprintf(stderr, "ingress: %s\n", E);
        return -1;
    }
    ING_PORT = ks_ingress_port(ING);
    memset(&cfg, 0, sizeof(cfg));
    cfg.home = HOME_DIR;
    cfg.domain = "example.com";
    cfg.self_exe = "/bin/true";
    cfg.ingress_port = ING_PORT;
    if ((REC = ks_reconciler_new(STORE, SUP, ING, &cfg)) == NULL)
        return -1;
    if (NKEPT < 64) {
        ALL_REC[NKEPT] = REC;
        ALL_ING[NKEPT] = ING;
        NKEPT++;
    }
    rt = fake_runtime("fake", "fake");
    if (ks_store_put(STORE, "ServingRuntime", rt, 0, 0, NULL, E, sizeof(E)) != 0) {
        fprintf(stderr, "put runtime: %s\n", E);
        json_decref(rt);
        return -1;
    }
    json_decref(rt);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (SUP != NULL) {
        ks_supervisor_shutdown(SUP, 3000);
        ks_supervisor_free(SUP);
        SUP = NULL;
    }
    if (ING != NULL) {
        ks_ingress_stop(ING, 500);
        ING = NULL;
    }
    REC = NULL;
    if (STORE != NULL) {
        ks_store_close(STORE);
        STORE = NULL;
    }
    kill_ours();
    return nftw(HOME_DIR, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the store ---------------------------------------------------------------------------- */

/*
 * Creates or replaces the InferenceService name: model format fmt, the
 * storageUri of the test, args (NULL terminated, may be NULL), minReplicas /
 * maxReplicas when >= 0, model.runtime when not NULL, metadata.labels when
 * not NULL (a JSON object text).
 */
static void put_isvc(const char *name, const char *fmt, const char *const *args, int min, int max, const char *runtime,
                     const char *labels)
{
    json_t *o, *model, *pred, *a = json_array();
    int rc;
    for (int i = 0; args != NULL && args[i] != NULL; ++i)
        json_array_append_new(a, json_string(args[i]));
    model = json_pack("{s:{s:s}, s:s, s:o}", "modelFormat", "name", fmt, "storageUri", STORAGE_URI, "args", a);
    if (runtime != NULL)
        json_object_set_new(model, "runtime", json_string(runtime));
    pred = json_pack("{s:o}", "model", model);
    if (min >= 0)
        json_object_set_new(pred, "minReplicas", json_integer(min));
    if (max >= 0)
        json_object_set_new(pred, "maxReplicas", json_integer(max));
    o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:o}}", "apiVersion", "serving.kserve.io/v1beta1", "kind",
                  "InferenceService", "metadata", "name", name, "namespace", NS, "spec", "predictor", pred);
    assert_non_null(o);
    if (labels != NULL) {
        json_t *l = json_loads(labels, 0, NULL);
        assert_non_null(l);
        json_object_set_new(json_object_get(o, "metadata"), "labels", l);
    }
    rc = ks_store_put(STORE, "InferenceService", o, -1, 0, NULL, E, sizeof(E));
    json_decref(o);
    if (rc != 0)
        fail_msg("put isvc %s: %d %s", name, rc, E);
}

static json_t *get_obj(const char *kind, const char *name)
{
    json_t *o = NULL;
    if (ks_store_get(STORE, kind, NS, name, &o) != 0)
        return NULL;
    return o;
}

static json_t *path_get(json_t *o, const char *path)
{
    char key[128];
    const char *p = path, *dot;
    while (o != NULL && (dot = strchr(p, '.')) != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
        o = json_object_get(o, key);
        p = dot + 1;
    }
    return o != NULL ? json_object_get(o, p) : NULL;
}

static const char *path_str(json_t *o, const char *path)
{
    return json_string_value(path_get(o, path));
}

static json_t *condition_of(json_t *obj, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(path_get(obj, "status.conditions"), i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t != NULL && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

/* "True", "False", "Unknown" or "" when absent */
static const char *cond_status(json_t *obj, const char *type)
{
    const char *s = json_string_value(json_object_get(condition_of(obj, type), "status"));
    return s != NULL ? s : "";
}

static const char *cond_reason(json_t *obj, const char *type)
{
    const char *s = json_string_value(json_object_get(condition_of(obj, type), "reason"));
    return s != NULL ? s : "";
}

/* the isvc's Revisions (a new array) */
static json_t *revisions_of(const char *isvc)
{
    json_t *all = NULL, *mine = json_array(), *r;
    size_t i;
    assert_int_equal(ks_store_list(STORE, "Revision", NS, &all), 0);
    json_array_foreach(all, i, r)
    {
        json_t *labels = path_get(r, "metadata.labels");
        const char *l = json_string_value(json_object_get(labels, "serving.kserve.io/inferenceservice"));
        if (l != NULL && strcmp(l, isvc) == 0)
            json_array_append(mine, r);
    }
    json_decref(all);
    return mine;
}

static size_t nrevisions(const char *isvc)
{
    json_t *r = revisions_of(isvc);
    size_t n = json_array_size(r);
    json_decref(r);
    return n;
}

static size_t nrevisions_all(void)
{
    json_t *all = NULL;
    size_t n;
    assert_int_equal(ks_store_list(STORE, "Revision", NULL, &all), 0);
    n = json_array_size(all);
    json_decref(all);
    return n;
}

/* "<isvc>-predictor-0000n" */
static const char *rev_name(char *buf, size_t len, const char *isvc, int n)
{
    snprintf(buf, len, "%s-predictor-%05d", isvc, n);
    return buf;
}

/* ---- the supervisor ------------------------------------------------------------------------ */

static int sup_knows(const char *rev)
{
    json_t *revs = ks_supervisor_revisions(SUP), *x;
    size_t i;
    int found = 0;
    json_array_foreach(revs, i, x)
    {
        const char *r = json_string_value(json_object_get(x, "revision"));
        const char *n = json_string_value(json_object_get(x, "namespace"));
        if (r != NULL && n != NULL && strcmp(r, rev) == 0 && strcmp(n, NS) == 0)
            found = 1;
    }
    json_decref(revs);
    return found;
}

static int desired_of(const char *rev)
{
    int d = -1, a = -1, r = -1;
    ks_supervisor_counts(SUP, NS, rev, &d, &a, &r);
    return d;
}

/* pids of a revision's replicas into pids[max]; how many */
static int pids_of(const char *rev, pid_t *pids, int max)
{
    json_t *st = ks_supervisor_status(SUP, NS, rev), *x;
    size_t i;
    int n = 0;
    json_array_foreach(st, i, x) if (n < max && json_integer_value(json_object_get(x, "pid")) > 0) pids[n++] =
        (pid_t)json_integer_value(json_object_get(x, "pid"));
    json_decref(st);
    return n;
}

/* ---- the loop ------------------------------------------------------------------------------- */

typedef int (*cond_fn)(const void *arg);

/*
 * pass, tick, check, sleep 20 ms; until cond holds or bound_ms passes.  every
 * (may be NULL) is called after each pass to assert invariants that must hold
 * all along.  1 if cond held.
 */
static int drive_until(cond_fn cond, const void *arg, int bound_ms, void (*every)(const void *), const void *earg)
{
    uint64_t deadline = now_ms() + (uint64_t)bound_ms;
    do {
        int want;
        ks_reconciler_pass(REC);
        if (every != NULL)
            every(earg);
        want = ks_supervisor_tick(SUP);
        if (!(want >= 0 && want <= 60000))
            fail_msg("ks_supervisor_tick returned %d", want);
        if (cond(arg))
            return 1;
        sleep_ms(20);
    } while (now_ms() < deadline);
    return cond(arg);
}

static void passes(int n)
{
    for (int i = 0; i < n; ++i) {
        ks_reconciler_pass(REC);
        ks_supervisor_tick(SUP);
        sleep_ms(20);
    }
}

typedef struct {
    const char *isvc, *rev;
} rollout_t;

/* the isvc's status rolled out rev and its predictor is ready */
static int rolled_out(const void *arg)
{
    const rollout_t *w = arg;
    json_t *o = get_obj("InferenceService", w->isvc);
    int ok = o != NULL && strcmp(cond_status(o, "Ready"), "True") == 0 &&
             strcmp(path_str(o, "status.components.predictor.latestRolledoutRevision") ?: "", w->rev) == 0;
    json_decref(o);
    return ok;
}

static int isvc_transition_is(const void *arg)
{
    const char *const *a = arg; /* {isvc, transitionStatus} */
    json_t *o = get_obj("InferenceService", a[0]);
    int ok = o != NULL && strcmp(path_str(o, "status.modelStatus.transitionStatus") ?: "", a[1]) == 0;
    json_decref(o);
    return ok;
}

static int sup_forgot(const void *rev)
{
    int d = -1, a = -1, r = -1;
    ks_supervisor_counts(SUP, NS, rev, &d, &a, &r);
    return d == 0 && a == 0 && r == 0 && !sup_knows(rev);
}

typedef struct {
    const char *rev;
    int n;
} ready_t;

static int ready_n(const void *arg)
{
    const ready_t *w = arg;
    int d, a, r;
    ks_supervisor_counts(SUP, NS, w->rev, &d, &a, &r);
    return r == w->n && a == w->n;
}

/* brings isvc (new, args) to Ready with revision 00001 serving */
static void deploy_ready(const char *isvc, const char *const *args)
{
    char rev[128];
    rollout_t w = {isvc, rev_name(rev, sizeof(rev), isvc, 1)};
    put_isvc(isvc, "fake", args, -1, -1, NULL, NULL);
    if (!drive_until(rolled_out, &w, WAIT_MS, NULL, NULL))
        fail_msg("%s did not become Ready on %s within %d ms", isvc, rev, WAIT_MS);
}

/* ---- HTTP through the ingress --------------------------------------------------------------- */

/* GET / with Host: host through the ingress; the status code (body into body), or -1 */
static int ingress_get(const char *host, char *body, size_t blen)
{
    struct sockaddr_in a;
    struct timeval tv = {5, 0};
    char req[512], resp[8192];
    size_t got = 0;
    ssize_t n;
    int fd, code = -1;
    const char *p;

    body[0] = '\0';
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)ING_PORT);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    snprintf(req, sizeof(req), "GET /v1/models/x HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    resp[got] = '\0';
    if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1)
        return -1;
    if ((p = strstr(resp, "\r\n\r\n")) != NULL)
        snprintf(body, blen, "%s", p + 4);
    return code;
}

static void host_of(char *buf, size_t len, const char *isvc)
{
    snprintf(buf, len, "%s.%s.example.com", isvc, NS);
}

/* ---- 1. the first revision --------------------------------------------------------------------- */

static void first_pass_creates_revision_and_rolls_out(void **state)
{
    (void)state;
    const char *args[] = {"--marker=one", NULL};
    char rev[128], host[256], body[4096], want[1200], cmd[16384];
    json_t *revs, *r, *o, *traffic, *t0;
    const char *hash;
    rollout_t w = {"m1", rev_name(rev, sizeof(rev), "m1", 1)};
    int ports[8], d, a, rd;
    pid_t pids[4];
    ssize_t n;

    put_isvc("m1", "fake", args, -1, -1, NULL, NULL);
    ks_reconciler_pass(REC);

    /* the revision */
    revs = revisions_of("m1");
    assert_int_equal(json_array_size(revs), 1);
    r = json_array_get(revs, 0);
    assert_string_equal(path_str(r, "metadata.name"), "m1-predictor-00001");
    assert_string_equal(path_str(r, "metadata.namespace"), NS);
    assert_string_equal(json_string_value(json_object_get(path_get(r, "metadata.labels"),
                                                          "serving.kserve.io/inferenceservice")),
                        "m1");
    hash = json_string_value(json_object_get(path_get(r, "metadata.annotations"), "serving.kserve.io/spec-hash"));
    assert_non_null(hash);
    assert_true(strlen(hash) > 0);
    assert_string_equal(path_str(r, "spec.runtime"), "fake");
    json_decref(revs);

    /* one replica declared at once */
    ks_supervisor_counts(SUP, NS, rev, &d, &a, &rd);
    assert_int_equal(d, 1);
    assert_int_equal(rd, 0);

    /* not ready yet: no traffic, Ready not True */
    o = get_obj("InferenceService", "m1");
    assert_non_null(o);
    assert_string_not_equal(cond_status(o, "Ready"), "True");
    assert_string_equal(path_str(o, "status.components.predictor.latestCreatedRevision"), rev);
    assert_null(path_str(o, "status.components.predictor.latestRolledoutRevision"));
    assert_int_equal(json_array_size(path_get(o, "status.components.predictor.traffic")), 0);
    json_decref(o);

    /* ready */
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    o = get_obj("InferenceService", "m1");
    assert_string_equal(cond_status(o, "Ready"), "True");
    assert_string_equal(cond_status(o, "PredictorReady"), "True");
    assert_string_equal(cond_status(o, "IngressReady"), "True");
    assert_string_equal(path_str(o, "status.components.predictor.latestReadyRevision"), rev);
    assert_string_equal(path_str(o, "status.components.predictor.latestRolledoutRevision"), rev);
    assert_string_equal(path_str(o, "status.components.predictor.latestCreatedRevision"), rev);
    assert_null(path_str(o, "status.components.predictor.previousRolledoutRevision"));
    traffic = path_get(o, "status.components.predictor.traffic");
    assert_int_equal(json_array_size(traffic), 1);
    t0 = json_array_get(traffic, 0);
    assert_string_equal(json_string_value(json_object_get(t0, "revisionName")), rev);
    assert_int_equal(json_integer_value(json_object_get(t0, "percent")), 100);
    assert_true(json_is_true(json_object_get(t0, "latestRevision")));
    assert_string_equal(path_str(o, "status.url"), "http://m1.default.example.com");
    assert_string_equal(path_str(o, "status.modelStatus.transitionStatus"), "UpToDate");
    assert_int_equal(json_integer_value(path_get(o, "status.observedGeneration")),
                     json_integer_value(path_get(o, "metadata.generation")));
    json_decref(o);

    /* the revision's own status */
    r = get_obj("Revision", rev);
    assert_non_null(r);
    assert_string_equal(cond_status(r, "Ready"), "True");
    assert_int_equal(json_integer_value(path_get(r, "status.readyReplicas")), 1);
    assert_string_equal(path_str(r, "status.modelDir"), MODEL_REAL);
    json_decref(r);

    assert_int_equal(ks_supervisor_ready_ports(SUP, NS, rev, ports, 8), 1);

    /* the command line: --http_port replaced by the replica's port, /mnt/models by the model directory */
    assert_int_equal(pids_of(rev, pids, 4), 1);
    n = cmdline_of(pids[0], cmd, sizeof(cmd));
    assert_true(n > 0);
    snprintf(want, sizeof(want), "--http_port=%d", ports[0]);
    assert_true(cmdline_has(cmd, n, want));
    assert_false(cmdline_has(cmd, n, "--http_port=8080"));
    snprintf(want, sizeof(want), "--model_dir=%s", MODEL_REAL);
    assert_true(cmdline_has(cmd, n, want));
    assert_true(cmdline_has(cmd, n, "--marker=one"));

    /* the ingress routes both hosts to it */
    host_of(host, sizeof(host), "m1");
    assert_int_equal(ingress_get(host, body, sizeof(body)), 200);
    snprintf(want, sizeof(want), "marker=one model_dir=%s", MODEL_REAL);
    assert_string_equal(body, want);
    assert_int_equal(ingress_get("m1-predictor.default.example.com", body, sizeof(body)), 200);
    assert_string_equal(body, want);
}

/* the runtime's container without --http_port: the reconciler appends one */
static void http_port_appended_when_absent(void **state)
{
    (void)state;
    json_t *rt = fake_runtime("noport", "noportfmt"), *args;
    char rev[128], want[64], cmd[16384];
    int ports[4];
    pid_t pids[4];
    ssize_t n;
    rollout_t w = {"np", rev_name(rev, sizeof(rev), "np", 1)};

    args = path_get(json_array_get(path_get(rt, "spec.containers"), 0), "args");
    json_array_remove(args, 1); /* --http_port=8080 */
    assert_int_equal(ks_store_put(STORE, "ServingRuntime", rt, 0, 0, NULL, E, sizeof(E)), 0);
    json_decref(rt);
    put_isvc("np", "noportfmt", NULL, -1, -1, NULL, NULL);
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    assert_int_equal(ks_supervisor_ready_ports(SUP, NS, rev, ports, 4), 1);
    assert_int_equal(pids_of(rev, pids, 4), 1);
    n = cmdline_of(pids[0], cmd, sizeof(cmd));
    assert_true(n > 0);
    snprintf(want, sizeof(want), "--http_port=%d", ports[0]);
    assert_true(cmdline_has(cmd, n, want));
    {
        json_t *r = get_obj("Revision", rev);
        assert_string_equal(path_str(r, "spec.runtime"), "noport");
        json_decref(r);
    }
}

/* ---- 2. a pass with nothing to do ------------------------------------------------------------- */

static void steady_pass_writes_nothing(void **state)
{
    (void)state;
    const char *args[] = {"--marker=one", NULL};
    json_t *o, *r;
    json_t *isvc_rv, *rev_rv;
    uint64_t v;
    char rev[128];

    deploy_ready("m1", args);
    rev_name(rev, sizeof(rev), "m1", 1);
    o = get_obj("InferenceService", "m1");
    r = get_obj("Revision", rev);
    isvc_rv = json_incref(path_get(o, "metadata.resourceVersion"));
    rev_rv = json_incref(path_get(r, "metadata.resourceVersion"));
    assert_non_null(isvc_rv);
    assert_non_null(rev_rv);
    json_decref(o);
    json_decref(r);
    v = ks_store_version(STORE);

    passes(10);

    assert_int_equal(nrevisions("m1"), 1);
    o = get_obj("InferenceService", "m1");
    r = get_obj("Revision", rev);
    if (!json_equal(isvc_rv, path_get(o, "metadata.resourceVersion"))) {
        char *a = json_dumps(path_get(o, "status"), JSON_INDENT(1) | JSON_SORT_KEYS);
        snprintf(MSG, sizeof(MSG), "the isvc's resourceVersion changed on passes with nothing to do; status now:\n%s", a);
        free(a);
        json_decref(o);
        json_decref(r);
        json_decref(isvc_rv);
        json_decref(rev_rv);
        fail_msg("%s", MSG);
    }
    assert_true(json_equal(rev_rv, path_get(r, "metadata.resourceVersion")));
    assert_int_equal(ks_store_version(STORE), v);
    assert_string_equal(cond_status(o, "Ready"), "True");
    json_decref(o);
    json_decref(r);
    json_decref(isvc_rv);
    json_decref(rev_rv);
}

/* ---- 3. labels, then a spec change: a rollout ------------------------------------------------- */

typedef struct {
    const char *isvc, *serving;
    const char *host, *body;
} stays_t;

/* while the new revision is not ready: traffic stays on the old one, the isvc stays Ready */
static void traffic_stays(const void *arg)
{
    const stays_t *s = arg;
    json_t *o = get_obj("InferenceService", s->isvc), *tr;
    const char *rolled;
    if (o == NULL)
        fail_msg("isvc %s vanished", s->isvc);
    rolled = path_str(o, "status.components.predictor.latestRolledoutRevision");
    MSG[0] = '\0';
    if (rolled != NULL && strcmp(rolled, s->serving) == 0) {
        tr = path_get(o, "status.components.predictor.traffic");
        if (json_array_size(tr) != 1 ||
            strcmp(json_string_value(json_object_get(json_array_get(tr, 0), "revisionName")) ?: "", s->serving) != 0 ||
            json_integer_value(json_object_get(json_array_get(tr, 0), "percent")) != 100)
            snprintf(MSG, sizeof(MSG), "traffic moved away from %s before the new revision was ready", s->serving);
        else if (strcmp(cond_status(o, "Ready"), "True") != 0)
            snprintf(MSG, sizeof(MSG), "Ready is %s while %s still serves", cond_status(o, "Ready"), s->serving);
    }
    json_decref(o);
    if (MSG[0])
        fail_msg("%s", MSG);
}

static void labels_do_not_make_a_revision_spec_does(void **state)
{
    (void)state;
    const char *one[] = {"--marker=one", NULL};
    const char *two[] = {"--marker=two", "--delay=1.5", NULL};
    char rev1[128], rev2[128], host[256], body[4096], want[1200];
    json_t *o, *tr;
    json_int_t gen;
    pid_t old[4];
    int nold;
    rollout_t w;
    stays_t s;

    rev_name(rev1, sizeof(rev1), "m1", 1);
    rev_name(rev2, sizeof(rev2), "m1", 2);
    host_of(host, sizeof(host), "m1");
    deploy_ready("m1", one);
    nold = pids_of(rev1, old, 4);
    assert_int_equal(nold, 1);
    o = get_obj("InferenceService", "m1");
    gen = json_integer_value(path_get(o, "metadata.generation"));
    json_decref(o);

    /* labels only */
    put_isvc("m1", "fake", one, -1, -1, NULL, "{\"team\": \"a\"}");
    o = get_obj("InferenceService", "m1");
    assert_int_equal(json_integer_value(path_get(o, "metadata.generation")), gen);
    json_decref(o);
    passes(5);
    assert_int_equal(nrevisions("m1"), 1);
    assert_true(sup_knows(rev1));
    assert_false(sup_knows(rev2));

    /* the spec: a new revision, slow to get ready */
    put_isvc("m1", "fake", two, -1, -1, NULL, "{\"team\": \"a\"}");
    ks_reconciler_pass(REC);
    assert_int_equal(nrevisions("m1"), 2);
    o = get_obj("Revision", rev2);
    assert_non_null(o);
    assert_string_equal(path_str(o, "spec.runtime"), "fake");
    json_decref(o);
    o = get_obj("InferenceService", "m1");
    assert_string_equal(path_str(o, "status.components.predictor.latestCreatedRevision"), rev2);
    assert_string_equal(path_str(o, "status.components.predictor.latestRolledoutRevision"), rev1);
    assert_string_equal(path_str(o, "status.components.predictor.latestReadyRevision"), rev1);
    assert_string_equal(cond_status(o, "Ready"), "True");
    tr = path_get(o, "status.components.predictor.traffic");
    assert_int_equal(json_array_size(tr), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tr, 0), "revisionName")), rev1);
    assert_false(json_is_true(json_object_get(json_array_get(tr, 0), "latestRevision")));
    json_decref(o);
    /* both run meanwhile */
    assert_int_equal(desired_of(rev1), 1);
    assert_int_equal(desired_of(rev2), 1);

    /* the old revision still answers (the new one sleeps 1.5 s before listening) */
    passes(3);
    assert_int_equal(ingress_get(host, body, sizeof(body)), 200);
    snprintf(want, sizeof(want), "marker=one model_dir=%s", MODEL_REAL);
    assert_string_equal(body, want);

    /* the switch, traffic never leaving rev1 before */
    w.isvc = "m1";
    w.rev = rev2;
    s.isvc = "m1";
    s.serving = rev1;
    assert_true(drive_until(rolled_out, &w, WAIT_MS, traffic_stays, &s));
    o = get_obj("InferenceService", "m1");
    tr = path_get(o, "status.components.predictor.traffic");
    assert_int_equal(json_array_size(tr), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tr, 0), "revisionName")), rev2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tr, 0), "percent")), 100);
    assert_true(json_is_true(json_object_get(json_array_get(tr, 0), "latestRevision")));
    assert_string_equal(path_str(o, "status.components.predictor.previousRolledoutRevision"), rev1);
    assert_string_equal(path_str(o, "status.components.predictor.latestReadyRevision"), rev2);
    assert_string_equal(path_str(o, "status.components.predictor.latestCreatedRevision"), rev2);
    json_decref(o);
    assert_int_equal(nrevisions("m1"), 2);

    /* the ingress follows */
    assert_int_equal(ingress_get(host, body, sizeof(body)), 200);
    snprintf(want, sizeof(want), "marker=two model_dir=%s", MODEL_REAL);
    assert_string_equal(body, want);

    /* and the old revision stops */
    assert_true(drive_until(sup_forgot, rev1, WAIT_MS, NULL, NULL));
    assert_false(is_ours(old[0]));
    assert_int_equal(desired_of(rev2), 1);

    /* previousRolledoutRevision survives later passes */
    passes(3);
    o = get_obj("InferenceService", "m1");
    assert_string_equal(path_str(o, "status.components.predictor.previousRolledoutRevision"), rev1);
    assert_string_equal(path_str(o, "status.components.predictor.latestRolledoutRevision"), rev2);
    assert_string_equal(cond_status(o, "Ready"), "True");
    json_decref(o);
}

/* ---- 4. replicas ------------------------------------------------------------------------------ */

static void min_replicas_and_the_cap(void **state)
{
    (void)state;
    const char *args[] = {"--marker=r", NULL};
    char two[128], capped[128], zero[128];
    ready_t w2, w1, w0;
    rollout_t r2 = {"two", rev_name(two, sizeof(two), "two", 1)};
    json_t *o;

    rev_name(capped, sizeof(capped), "capped", 1);
    rev_name(zero, sizeof(zero), "zero", 1);
    put_isvc("two", "fake", args, 2, -1, NULL, NULL);
    put_isvc("capped", "fake", args, 3, 1, NULL, NULL); /* the validator refuses it; the store does not */
    put_isvc("zero", "fake", args, 0, -1, NULL, NULL);
    ks_reconciler_pass(REC);
    assert_int_equal(desired_of(two), 2);
    assert_int_equal(desired_of(capped), 1);
    assert_int_equal(desired_of(zero), 1); /* no scale to zero yet: at least one */

    w2.rev = two;
    w2.n = 2;
    w1.rev = capped;
    w1.n = 1;
    w0.rev = zero;
    w0.n = 1;
    assert_true(drive_until(ready_n, &w2, WAIT_MS, NULL, NULL));
    assert_true(drive_until(ready_n, &w1, WAIT_MS, NULL, NULL));
    assert_true(drive_until(ready_n, &w0, WAIT_MS, NULL, NULL));
    assert_true(drive_until(rolled_out, &r2, WAIT_MS, NULL, NULL));
    passes(3);
    assert_true(ready_n(&w2));
    assert_true(ready_n(&w1));

    o = get_obj("Revision", two);
    assert_int_equal(json_integer_value(path_get(o, "status.desiredReplicas")), 2);
    assert_int_equal(json_integer_value(path_get(o, "status.readyReplicas")), 2);
    assert_int_equal(json_array_size(path_get(o, "status.replicas")), 2);
    json_decref(o);
    o = get_obj("Revision", capped);
    assert_int_equal(json_integer_value(path_get(o, "status.desiredReplicas")), 1);
    json_decref(o);
    o = get_obj("InferenceService", "two");
    assert_string_equal(cond_status(o, "Ready"), "True");
    assert_int_equal(json_array_size(path_get(o, "status.replicas")), 2);
    json_decref(o);
}

/* ---- 5. a revision that cannot start ------------------------------------------------------------ */

static void crash_looping_revision_never_gets_traffic(void **state)
{
    (void)state;
    const char *one[] = {"--marker=one", NULL};
    const char *bad[] = {"--marker=bad", "--exit=1", NULL};
    const char *blocked[] = {"m1", "BlockedByFailedLoad"};
    char rev1[128], rev2[128], host[256], body[4096], want[1200];
    json_t *o, *lf, *tr, *ev = NULL, *e;
    int ports[4], warned = 0;
    size_t i;
    stays_t s;

    rev_name(rev1, sizeof(rev1), "m1", 1);
    rev_name(rev2, sizeof(rev2), "m1", 2);
    host_of(host, sizeof(host), "m1");
    deploy_ready("m1", one);
    put_isvc("m1", "fake", bad, -1, -1, NULL, NULL);
    s.isvc = "m1";
    s.serving = rev1;
    if (!drive_until(isvc_transition_is, blocked, WAIT_MS, traffic_stays, &s)) {
        o = get_obj("InferenceService", "m1");
        char *d = json_dumps(path_get(o, "status"), JSON_INDENT(1) | JSON_SORT_KEYS);
        snprintf(MSG, sizeof(MSG), "not BlockedByFailedLoad within %d ms; status:\n%s", WAIT_MS, d);
        free(d);
        json_decref(o);
        fail_msg("%s", MSG);
    }
    o = get_obj("InferenceService", "m1");
    assert_string_equal(path_str(o, "status.components.predictor.latestCreatedRevision"), rev2);
    assert_string_equal(path_str(o, "status.components.predictor.latestRolledoutRevision"), rev1);
    assert_string_equal(path_str(o, "status.components.predictor.latestReadyRevision"), rev1);
    tr = path_get(o, "status.components.predictor.traffic");
    assert_int_equal(json_array_size(tr), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tr, 0), "revisionName")), rev1);
    assert_string_equal(cond_status(o, "Ready"), "True"); /* the old revision still serves */
    lf = path_get(o, "status.modelStatus.lastFailureInfo");
    assert_non_null(lf);
    assert_string_equal(json_string_value(json_object_get(lf, "reason")), "ModelLoadFailed");
    assert_int_equal(json_integer_value(json_object_get(lf, "exitCode")), 1);
    assert_non_null(strstr(json_string_value(json_object_get(lf, "message")) ?: "", rev2));
    assert_string_equal(path_str(o, "status.modelStatus.states.targetModelState"), "FailedToLoad");
    json_decref(o);

    o = get_obj("Revision", rev2);
    assert_string_equal(cond_status(o, "Ready"), "False");
    assert_string_equal(cond_reason(o, "Ready"), "ModelLoadFailed");
    json_decref(o);

    /* a Warning event says so */
    assert_int_equal(ks_store_events(STORE, "InferenceService", NS, "m1", 20, &ev), 0);
    json_array_foreach(ev, i, e) if (strcmp(json_string_value(json_object_get(e, "type")) ?: "", "Warning") == 0 &&
                                     strcmp(json_string_value(json_object_get(e, "reason")) ?: "", "ModelLoadFailed") == 0)
        warned++;
    json_decref(ev);
    assert_int_equal(warned, 1); /* once, not on every restart */

    /* rev1 still runs and answers */
    assert_int_equal(ks_supervisor_ready_ports(SUP, NS, rev1, ports, 4), 1);
    assert_int_equal(ingress_get(host, body, sizeof(body)), 200);
    snprintf(want, sizeof(want), "marker=one model_dir=%s", MODEL_REAL);
    assert_string_equal(body, want);
}

/* the first revision fails: no traffic at all, Ready False */
static void failing_first_revision(void **state)
{
    (void)state;
    const char *bad[] = {"--exit=1", NULL};
    const char *blocked[] = {"b1", "BlockedByFailedLoad"};
    char host[256], body[4096];
    json_t *o;

    put_isvc("b1", "fake", bad, -1, -1, NULL, NULL);
    assert_true(drive_until(isvc_transition_is, blocked, WAIT_MS, NULL, NULL));
    o = get_obj("InferenceService", "b1");
    assert_string_equal(cond_status(o, "Ready"), "False");
    assert_string_equal(cond_reason(o, "Ready"), "ModelLoadFailed");
    assert_string_equal(cond_status(o, "PredictorReady"), "False");
    assert_int_equal(json_array_size(path_get(o, "status.components.predictor.traffic")), 0);
    assert_null(path_str(o, "status.components.predictor.latestRolledoutRevision"));
    assert_null(path_str(o, "status.components.predictor.latestReadyRevision"));
    assert_non_null(path_get(o, "status.modelStatus.lastFailureInfo"));
    json_decref(o);
    host_of(host, sizeof(host), "b1");
    assert_int_equal(ingress_get(host, body, sizeof(body)), 404);
}

/* a storageUri that does not exist: the storage initializer fails, no replica runs */
static void missing_model_fails_the_load(void **state)
{
    (void)state;
    json_t *o;
    char rev[128];
    snprintf(STORAGE_URI, sizeof(STORAGE_URI), "file://%s/does-not-exist", HOME_DIR);
    put_isvc("nomodel", "fake", NULL, -1, -1, NULL, NULL);
    passes(2);
    rev_name(rev, sizeof(rev), "nomodel", 1);
    assert_int_equal(nrevisions("nomodel"), 1);
    assert_false(sup_knows(rev));
    o = get_obj("InferenceService", "nomodel");
    assert_string_equal(cond_status(o, "Ready"), "False");
    assert_string_equal(cond_reason(o, "Ready"), "ModelLoadFailed");
    assert_string_equal(path_str(o, "status.modelStatus.transitionStatus"), "BlockedByFailedLoad");
    assert_non_null(strstr(path_str(o, "status.modelStatus.lastFailureInfo.message") ?: "", "storage initializer"));
    json_decref(o);
}

/* ---- 6. no runtime --------------------------------------------------------------------------------- */

static void no_supporting_runtime(void **state)
{
    (void)state;
    json_t *o, *revs;

    put_isvc("nofmt", "no-such-format", NULL, -1, -1, NULL, NULL);
    put_isvc("norun", "fake", NULL, -1, -1, "no-such-runtime", NULL);
    passes(3);
    assert_int_equal(nrevisions("nofmt"), 0);
    assert_int_equal(nrevisions("norun"), 0);
    revs = ks_supervisor_revisions(SUP);
    assert_int_equal(json_array_size(revs), 0);
    json_decref(revs);

    o = get_obj("InferenceService", "nofmt");
    assert_string_equal(cond_status(o, "Ready"), "False");
    assert_string_equal(cond_reason(o, "Ready"), "NoSupportingRuntime");
    assert_string_equal(cond_status(o, "PredictorReady"), "False");
    assert_string_equal(cond_reason(o, "PredictorReady"), "NoSupportingRuntime");
    assert_string_equal(path_str(o, "status.modelStatus.transitionStatus"), "InvalidSpec");
    assert_string_equal(path_str(o, "status.modelStatus.lastFailureInfo.reason"), "NoSupportingRuntime");
    assert_int_equal(json_array_size(path_get(o, "status.components.predictor.traffic")), 0);
    json_decref(o);

    o = get_obj("InferenceService", "norun");
    assert_string_equal(cond_status(o, "Ready"), "False");
    assert_string_equal(cond_reason(o, "Ready"), "RuntimeNotRecognized");
    assert_string_equal(path_str(o, "status.modelStatus.lastFailureInfo.reason"), "RuntimeNotRecognized");
    json_decref(o);

    /* naming the runtime that exists works */
    put_isvc("norun", "fake", NULL, -1, -1, "fake", NULL);
    {
        char rev[128];
        rollout_t w = {"norun", rev_name(rev, sizeof(rev), "norun", 1)};
        assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    }
}

/* ---- 7. deletion ------------------------------------------------------------------------------------- */

static void delete_removes_revisions_and_replicas(void **state)
{
    (void)state;
    const char *one[] = {"--marker=one", NULL};
    const char *two[] = {"--marker=two", NULL};
    const char *other[] = {"--marker=other", NULL};
    char m1a[128], m1b[128], oth[128], host[256], body[4096], want[1200];
    pid_t pids[8];
    int n = 0;
    rollout_t w = {"m1", rev_name(m1b, sizeof(m1b), "m1", 2)};

    rev_name(m1a, sizeof(m1a), "m1", 1);
    rev_name(oth, sizeof(oth), "other", 1);
    deploy_ready("m1", one);
    deploy_ready("other", other);
    put_isvc("m1", "fake", two, -1, -1, NULL, NULL);
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    assert_int_equal(nrevisions("m1"), 2);
    n += pids_of(m1b, pids + n, 4);
    n += pids_of(m1a, pids + n, 4); /* may already be stopping */
    assert_true(n >= 1);

    assert_int_equal(ks_store_delete(STORE, "InferenceService", NS, "m1"), 0);
    ks_reconciler_pass(REC);
    assert_int_equal(nrevisions("m1"), 0);
    assert_int_equal(nrevisions("other"), 1);
    assert_int_equal(nrevisions_all(), 1);
    assert_true(drive_until(sup_forgot, m1b, WAIT_MS, NULL, NULL));
    assert_true(drive_until(sup_forgot, m1a, WAIT_MS, NULL, NULL));
    for (int i = 0; i < n; ++i)
        assert_false(is_ours(pids[i]));

    /* the route went; the other isvc is untouched */
    host_of(host, sizeof(host), "m1");
    assert_int_equal(ingress_get(host, body, sizeof(body)), 404);
    host_of(host, sizeof(host), "other");
    assert_int_equal(ingress_get(host, body, sizeof(body)), 200);
    snprintf(want, sizeof(want), "marker=other model_dir=%s", MODEL_REAL);
    assert_string_equal(body, want);
    assert_int_equal(desired_of(oth), 1);

    /* a new isvc of the same name starts over at 00001 */
    deploy_ready("m1", one);
    assert_int_equal(nrevisions("m1"), 1);
}

/* ---- more decisions ------------------------------------------------------------------------- */

/* a crash-looping new revision is dropped as soon as a fixed spec makes a newer one */
static void fixing_a_failed_revision(void **state)
{
    (void)state;
    const char *one[] = {"--marker=one", NULL};
    const char *bad[] = {"--marker=bad", "--exit=1", NULL};
    const char *good[] = {"--marker=three", NULL};
    const char *blocked[] = {"m1", "BlockedByFailedLoad"};
    char rev1[128], rev2[128], rev3[128], host[256], body[4096], want[1200];
    rollout_t w = {"m1", rev_name(rev3, sizeof(rev3), "m1", 3)};
    json_t *o;

    rev_name(rev1, sizeof(rev1), "m1", 1);
    rev_name(rev2, sizeof(rev2), "m1", 2);
    deploy_ready("m1", one);
    put_isvc("m1", "fake", bad, -1, -1, NULL, NULL);
    assert_true(drive_until(isvc_transition_is, blocked, WAIT_MS, NULL, NULL));
    put_isvc("m1", "fake", good, -1, -1, NULL, NULL);
    ks_reconciler_pass(REC);
    assert_int_equal(nrevisions("m1"), 3);
    assert_int_equal(desired_of(rev3), 1);
    /* the failed one is no longer wanted */
    assert_true(drive_until(sup_forgot, rev2, WAIT_MS, NULL, NULL));
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    o = get_obj("InferenceService", "m1");
    assert_string_equal(path_str(o, "status.components.predictor.previousRolledoutRevision"), rev1);
    assert_string_equal(path_str(o, "status.modelStatus.transitionStatus"), "UpToDate");
    assert_null(path_get(o, "status.modelStatus.lastFailureInfo"));
    assert_string_equal(cond_reason(o, "Ready"), "");
    json_decref(o);
    assert_true(drive_until(sup_forgot, rev1, WAIT_MS, NULL, NULL));
    host_of(host, sizeof(host), "m1");
    assert_int_equal(ingress_get(host, body, sizeof(body)), 200);
    snprintf(want, sizeof(want), "marker=three model_dir=%s", MODEL_REAL);
    assert_string_equal(body, want);
}

/* three rollouts: previousRolledoutRevision is always the one before */
static void previous_follows_each_rollout(void **state)
{
    (void)state;
    const char *a1[] = {"--marker=1", NULL}, *a2[] = {"--marker=2", NULL}, *a3[] = {"--marker=3", NULL};
    char rev[128], prev[128];
    rollout_t w = {"m1", rev};
    json_t *o;

    deploy_ready("m1", a1);
    put_isvc("m1", "fake", a2, -1, -1, NULL, NULL);
    rev_name(rev, sizeof(rev), "m1", 2);
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    put_isvc("m1", "fake", a3, -1, -1, NULL, NULL);
    rev_name(rev, sizeof(rev), "m1", 3);
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    passes(2);
    o = get_obj("InferenceService", "m1");
    assert_string_equal(path_str(o, "status.components.predictor.previousRolledoutRevision"),
                        rev_name(prev, sizeof(prev), "m1", 2));
    json_decref(o);
    assert_true(drive_until(sup_forgot, prev, WAIT_MS, NULL, NULL));
    assert_true(sup_forgot(rev_name(prev, sizeof(prev), "m1", 1)));
    assert_int_equal(nrevisions("m1"), 3);
}

/* the runtime's container is part of what defines a revision; its env reaches the replica */
static void runtime_change_makes_a_revision(void **state)
{
    (void)state;
    const char *one[] = {"--marker=one", NULL};
    char rev2[128], host[256], body[4096], want[1200];
    rollout_t w = {"m1", rev_name(rev2, sizeof(rev2), "m1", 2)};
    json_t *rt = NULL, *c;

    deploy_ready("m1", one);
    assert_int_equal(ks_store_get(STORE, "ServingRuntime", NS, "fake", &rt), 0);
    c = json_array_get(path_get(rt, "spec.containers"), 0);
    json_object_set_new(c, "env", json_pack("[{s:s, s:s}]", "name", "KS_GREETING", "value", "from-runtime"));
    json_object_del(rt, "status");
    assert_int_equal(ks_store_put(STORE, "ServingRuntime", rt, KS_STORE_REPLACE, 0, NULL, E, sizeof(E)), 0);
    json_decref(rt);
    ks_reconciler_pass(REC);
    assert_int_equal(nrevisions("m1"), 2);
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    host_of(host, sizeof(host), "m1");
    assert_int_equal(ingress_get(host, body, sizeof(body)), 200);
    snprintf(want, sizeof(want), "marker=one model_dir=%s greeting=from-runtime", MODEL_REAL);
    assert_string_equal(body, want);
}

/*
 * KServe merges the predictor's container over the runtime's: an env entry
 * of the predictor replaces the runtime's entry of the same name.
 */
static void model_env_overrides_runtime_env(void **state)
{
    (void)state;
    const char *one[] = {"--marker=one", NULL};
    char rev[128], host[256], body[4096], want[1200];
    rollout_t w = {"m1", rev_name(rev, sizeof(rev), "m1", 1)};
    json_t *rt = NULL, *o;

    assert_int_equal(ks_store_get(STORE, "ServingRuntime", NS, "fake", &rt), 0);
    json_object_set_new(json_array_get(path_get(rt, "spec.containers"), 0), "env",
                        json_pack("[{s:s, s:s}]", "name", "KS_GREETING", "value", "from-runtime"));
    json_object_del(rt, "status");
    assert_int_equal(ks_store_put(STORE, "ServingRuntime", rt, KS_STORE_REPLACE, 0, NULL, E, sizeof(E)), 0);
    json_decref(rt);
    put_isvc("m1", "fake", one, -1, -1, NULL, NULL);
    host_of(host, sizeof(host), "m1");
    o = get_obj("InferenceService", "m1");
    json_object_del(o, "status");
    json_object_set_new(path_get(o, "spec.predictor.model"), "env",
                        json_pack("[{s:s, s:s}]", "name", "KS_GREETING", "value", "from-model"));
    assert_int_equal(ks_store_put(STORE, "InferenceService", o, KS_STORE_REPLACE, 0, NULL, E, sizeof(E)), 0);
    json_decref(o);
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    /* the replica's environment holds KS_GREETING once, from the model */
    {
        pid_t pid;
        char path[64], envbuf[65536], list[1024] = "";
        ssize_t n = -1;
        int fd, count = 0;
        assert_int_equal(pids_of(w.rev, &pid, 1), 1);
        snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
            n = read(fd, envbuf, sizeof(envbuf) - 1);
            close(fd);
        }
        if (n <= 0)
            fail_msg("cannot read %s", path);
        envbuf[n > 0 ? (size_t)n : 0] = '\0';
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(envbuf + i) + 1)
            if (strncmp(envbuf + i, "KS_GREETING=", 12) == 0) {
                count++;
                snprintf(list + strlen(list), sizeof(list) - strlen(list), " [%s]", envbuf + i);
            }
        if (count != 1 || strstr(list, "from-model") == NULL)
            fail_msg("the replica's environment has KS_GREETING %d times:%s (want once, from-model)", count, list);
    }
    assert_int_equal(ingress_get(host, body, sizeof(body)), 200);
    snprintf(want, sizeof(want), "marker=one model_dir=%s greeting=from-model", MODEL_REAL);
    assert_string_equal(body, want);
}

/* a serving replica killed: restarted, no new revision, traffic stays */
static void killed_replica_comes_back_without_a_revision(void **state)
{
    (void)state;
    const char *one[] = {"--marker=one", NULL};
    char rev1[128];
    rollout_t w = {"m1", rev_name(rev1, sizeof(rev1), "m1", 1)};
    pid_t before[2], after[2];
    json_t *o;

    deploy_ready("m1", one);
    assert_int_equal(pids_of(rev1, before, 2), 1);
    assert_int_equal(kill(before[0], SIGKILL), 0);
    /* not ready any more, then ready again with another process */
    {
        uint64_t deadline = now_ms() + WAIT_MS;
        int ports[4];
        while (ks_supervisor_ready_ports(SUP, NS, rev1, ports, 4) > 0 && now_ms() < deadline) {
            ks_reconciler_pass(REC);
            ks_supervisor_tick(SUP);
            sleep_ms(20);
        }
    }
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    assert_int_equal(pids_of(rev1, after, 2), 1);
    assert_int_not_equal(after[0], before[0]);
    assert_int_equal(nrevisions("m1"), 1);
    o = get_obj("InferenceService", "m1");
    assert_string_equal(path_str(o, "status.components.predictor.latestRolledoutRevision"), rev1);
    json_decref(o);
}

/* with two replicas, traffic moves only once both of the new revision's replicas are ready */
static void rollout_waits_for_every_replica(void **state)
{
    (void)state;
    const char *one[] = {"--marker=one", NULL};
    char gate[600], gate_arg[700], opened[700], rev1[128], rev2[128];
    const char *two[] = {"--marker=two", gate_arg, NULL};
    rollout_t w = {"m1", rev_name(rev2, sizeof(rev2), "m1", 2)};
    stays_t s;
    json_t *o;
    FILE *f;

    rev_name(rev1, sizeof(rev1), "m1", 1);
    snprintf(gate, sizeof(gate), "%s/gate", HOME_DIR);
    assert_int_equal(mkdir(gate, 0755), 0);
    snprintf(gate_arg, sizeof(gate_arg), "--gate=%s", gate);
    snprintf(opened, sizeof(opened), "%s/open", gate);

    deploy_ready("m1", one);
    put_isvc("m1", "fake", two, 2, -1, NULL, NULL);
    s.isvc = "m1";
    s.serving = rev1;
    /* one of two ready */
    {
        uint64_t deadline = now_ms() + WAIT_MS;
        int d = 0, a = 0, r = 0;
        do {
            ks_reconciler_pass(REC);
            traffic_stays(&s);
            ks_supervisor_tick(SUP);
            ks_supervisor_counts(SUP, NS, rev2, &d, &a, &r);
            sleep_ms(20);
        } while (r < 1 && now_ms() < deadline);
        assert_int_equal(d, 2);
        assert_int_equal(r, 1);
    }
    /* a while with one of two: traffic does not move */
    for (int i = 0; i < 10; ++i) {
        ks_reconciler_pass(REC);
        traffic_stays(&s);
        ks_supervisor_tick(SUP);
        sleep_ms(20);
    }
    o = get_obj("InferenceService", "m1");
    assert_string_equal(path_str(o, "status.components.predictor.latestRolledoutRevision"), rev1);
    json_decref(o);
    /* open the gate */
    f = fopen(opened, "w");
    assert_non_null(f);
    fclose(f);
    assert_true(drive_until(rolled_out, &w, WAIT_MS, traffic_stays, &s));
    {
        int d, a, r;
        ks_supervisor_counts(SUP, NS, rev2, &d, &a, &r);
        assert_int_equal(r, 2);
    }
}

/* the same name in two namespaces: separate revisions; deleting one leaves the other */
static void namespaces_are_separate(void **state)
{
    (void)state;
    json_t *rt = fake_runtime("fake", "fake"), *o, *all = NULL;
    const char *one[] = {"--marker=default", NULL};
    char body[4096];
    int d, a, r;
    uint64_t deadline;

    json_object_set_new(json_object_get(rt, "metadata"), "namespace", json_string("team"));
    assert_int_equal(ks_store_put(STORE, "ServingRuntime", rt, 0, 0, NULL, E, sizeof(E)), 0);
    json_decref(rt);
    deploy_ready("m1", one);
    o = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:{s:{s:s}, s:s, s:[s]}}}}", "apiVersion", "serving.kserve.io/v1beta1",
                  "kind", "InferenceService", "metadata", "name", "m1", "namespace", "team", "spec", "predictor", "model",
                  "modelFormat", "name", "fake", "storageUri", STORAGE_URI, "args", "--marker=team");
    assert_int_equal(ks_store_put(STORE, "InferenceService", o, 0, 0, NULL, E, sizeof(E)), 0);
    json_decref(o);
    deadline = now_ms() + WAIT_MS;
    do {
        ks_reconciler_pass(REC);
        ks_supervisor_tick(SUP);
        sleep_ms(20);
        ks_supervisor_counts(SUP, "team", "m1-predictor-00001", &d, &a, &r);
    } while (r < 1 && now_ms() < deadline);
    assert_int_equal(r, 1);
    passes(2);
    assert_int_equal(ks_store_list(STORE, "Revision", NULL, &all), 0);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    assert_int_equal(ingress_get("m1.team.example.com", body, sizeof(body)), 200);
    assert_non_null(strstr(body, "marker=team"));
    assert_int_equal(ingress_get("m1.default.example.com", body, sizeof(body)), 200);
    assert_non_null(strstr(body, "marker=default"));

    assert_int_equal(ks_store_delete(STORE, "InferenceService", "team", "m1"), 0);
    passes(2);
    assert_int_equal(ks_store_list(STORE, "Revision", NULL, &all), 0);
    assert_int_equal(json_array_size(all), 1);
    assert_string_equal(path_str(json_array_get(all, 0), "metadata.namespace"), NS);
    json_decref(all);
    deadline = now_ms() + WAIT_MS;
    do {
        ks_reconciler_pass(REC);
        ks_supervisor_tick(SUP);
        sleep_ms(20);
        ks_supervisor_counts(SUP, "team", "m1-predictor-00001", &d, &a, &r);
    } while ((d | a | r) != 0 && now_ms() < deadline);
    assert_int_equal(d + a + r, 0);
    assert_int_equal(ks_supervisor_ready_ports(SUP, NS, "m1-predictor-00001", &d, 1), 1);
    assert_int_equal(ingress_get("m1.default.example.com", body, sizeof(body)), 200);
    assert_int_equal(ingress_get("m1.team.example.com", body, sizeof(body)), 404);
}

/* an isvc with an invalid spec: passes after the first write nothing either */
static void steady_invalid_spec_writes_nothing(void **state)
{
    (void)state;
    uint64_t v;
    json_t *ev = NULL;
    put_isvc("nofmt", "no-such-format", NULL, -1, -1, NULL, NULL);
    passes(2);
    v = ks_store_version(STORE);
    passes(5);
    assert_int_equal(ks_store_version(STORE), v);
    assert_int_equal(ks_store_events(STORE, "InferenceService", NS, "nofmt", 20, &ev), 0);
    assert_int_equal(json_array_size(ev), 1); /* one Warning NoSupportingRuntime */
    json_decref(ev);
}

/*
 * Deleted and created again between two passes (kubectl delete; kubectl
 * apply): the new object (another uid) must not inherit the old one's
 * revisions -- KServe's revisions are owned by uid and garbage-collected.
 */
static void recreated_isvc_does_not_adopt_old_revisions(void **state)
{
    (void)state;
    const char *one[] = {"--marker=one", NULL};
    const char *two[] = {"--marker=two", NULL};
    json_t *revs, *o;
    const char *uid;

    deploy_ready("m1", one);
    assert_int_equal(ks_store_delete(STORE, "InferenceService", NS, "m1"), 0);
    put_isvc("m1", "fake", two, -1, -1, NULL, NULL);
    ks_reconciler_pass(REC);
    o = get_obj("InferenceService", "m1");
    uid = path_str(o, "metadata.uid");
    assert_non_null(uid);
    revs = revisions_of("m1");
    for (size_t i = 0; i < json_array_size(revs); ++i) {
        json_t *ow = json_array_get(path_get(json_array_get(revs, i), "metadata.ownerReferences"), 0);
        const char *ouid = json_string_value(json_object_get(ow, "uid"));
        if (ouid == NULL || strcmp(ouid, uid) != 0) {
            snprintf(MSG, sizeof(MSG), "revision %s is owned by uid %s, not by the new isvc's %s",
                     path_str(json_array_get(revs, i), "metadata.name"), ouid ? ouid : "(none)", uid);
            json_decref(revs);
            json_decref(o);
            fail_msg("%s", MSG);
        }
    }
    assert_int_equal(json_array_size(revs), 1);
    assert_string_equal(path_str(json_array_get(revs, 0), "metadata.name"), "m1-predictor-00001");
    json_decref(revs);
    json_decref(o);
}

/*
 * A long-lived isvc makes many revisions: the 65th spec must still make,
 * keep and run revision 00065, and old revisions nothing routes to are
 * garbage-collected (the newest 20 stay).
 */
static void many_revisions_keep_the_newest(void **state)
{
    (void)state;
    char arg[64], rev[128], want[1200], host[256], body[4096];
    const char *args[] = {arg, NULL};
    rollout_t w = {"m1", rev};
    json_t *o;
    const int last = 65;

    for (int i = 1; i <= last; ++i) {
        snprintf(arg, sizeof(arg), "--marker=%d", i);
        put_isvc("m1", "fake", args, -1, -1, NULL, NULL);
        ks_reconciler_pass(REC); /* no tick: nothing starts until the end */
        o = get_obj("InferenceService", "m1");
        rev_name(rev, sizeof(rev), "m1", i);
        if (strcmp(path_str(o, "status.components.predictor.latestCreatedRevision") ?: "", rev) != 0) {
            snprintf(MSG, sizeof(MSG), "after spec change %d: latestCreatedRevision is %s, want %s (%zu revisions in the store)",
                     i, path_str(o, "status.components.predictor.latestCreatedRevision") ?: "(none)", rev,
                     nrevisions("m1"));
            json_decref(o);
            fail_msg("%s", MSG);
        }
        json_decref(o);
    }
    assert_true(nrevisions("m1") <= 22);
    assert_true(nrevisions("m1") >= 20);
    /* a pass with nothing new keeps the newest */
    ks_reconciler_pass(REC);
    o = get_obj("InferenceService", "m1");
    if (strcmp(path_str(o, "status.components.predictor.latestCreatedRevision") ?: "", rev) != 0) {
        snprintf(MSG, sizeof(MSG),
                 "with %d revisions, a pass with no change made latestCreatedRevision %s (want %s): the isvc would "
                 "roll back to an older spec",
                 last, path_str(o, "status.components.predictor.latestCreatedRevision") ?: "(none)", rev);
        json_decref(o);
        fail_msg("%s", MSG);
    }
    json_decref(o);
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    host_of(host, sizeof(host), "m1");
    assert_int_equal(ingress_get(host, body, sizeof(body)), 200);
    snprintf(want, sizeof(want), "marker=%d model_dir=%s", last, MODEL_REAL);
    assert_string_equal(body, want);
}

/* the predictor's args reach the replica whole, with {{.Name}} substituted */
static void model_args_reach_the_replica(void **state)
{
    (void)state;
    static char longarg[3100];
    const char *args[] = {"--name={{.Name}}", longarg, NULL};
    char rev[128], cmd[16384];
    rollout_t w = {"m1", rev_name(rev, sizeof(rev), "m1", 1)};
    pid_t pid;
    ssize_t n;

    /* a long argument (a JSON config, say): 3000 characters */
    snprintf(longarg, sizeof(longarg), "--marker=");
    memset(longarg + strlen(longarg), 'x', 3000 - strlen(longarg));
    longarg[3000] = '\0';
    put_isvc("m1", "fake", args, -1, -1, NULL, NULL);
    assert_true(drive_until(rolled_out, &w, WAIT_MS, NULL, NULL));
    assert_int_equal(pids_of(rev, &pid, 1), 1);
    n = cmdline_of(pid, cmd, sizeof(cmd));
    assert_true(n > 0);
    assert_true(cmdline_has(cmd, n, "--name=m1"));
    if (!cmdline_has(cmd, n, longarg)) {
        size_t got = 0;
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(cmd + i) + 1)
            if (strncmp(cmd + i, "--marker=", 9) == 0)
                got = strlen(cmd + i);
        fail_msg("a model argument of %zu characters reached the replica as %zu characters", strlen(longarg), got);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(first_pass_creates_revision_and_rolls_out),
        T(http_port_appended_when_absent),
        T(model_args_reach_the_replica),
        T(steady_pass_writes_nothing),
        T(labels_do_not_make_a_revision_spec_does),
        T(min_replicas_and_the_cap),
        T(crash_looping_revision_never_gets_traffic),
        T(failing_first_revision),
        T(missing_model_fails_the_load),
        T(no_supporting_runtime),
        T(delete_removes_revisions_and_replicas),
        T(fixing_a_failed_revision),
        T(previous_follows_each_rollout),
        T(runtime_change_makes_a_revision),
        T(model_env_overrides_runtime_env),
        T(killed_replica_comes_back_without_a_revision),
        T(rollout_waits_for_every_replica),
        T(namespaces_are_separate),
        T(steady_invalid_spec_writes_nothing),
        T(recreated_isvc_does_not_adopt_old_revisions),
        T(many_revisions_keep_the_newest),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
