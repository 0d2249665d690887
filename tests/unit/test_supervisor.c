/*
 * The supervisor (src/supervisor/supervisor.c) with real processes: a tiny
 * Python HTTP server as the replica (ready when it answers 200 on
 * /healthz), a shell command that crashes, scaling, removal, adoption of
 * the replicas a previous supervisor left running, and shutdown.
 *
 * Every wait is bounded.  Every process started here carries a marker
 * argument with this test's pid; teardown kills (by pid) whatever still
 * carries it, so nothing is left behind even when a test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks/supervisor.h"

#define WAIT_MS 10000 /* the bound of every wait */

static char HOME_DIR[256];
static char MARKER[64];
static char E[KS_ERRLEN];
static ks_supervisor_t *S;

/*
 * The replica: an HTTP server on the port given as "--port=N" that answers
 * 200 on /healthz and 404 elsewhere, prints "serving N <KS_GREETING>", and on
 * SIGTERM prints "got-sigterm" and exits 0 (after KS_SLOW_TERM seconds when
 * set), or ignores SIGTERM when KS_IGNORE_TERM is set.
 */
static const char PY[] =
    "import os,sys,time,signal,http.server as h\n"
    "port=int(sys.argv[1].split('=')[1])\n"
    "def term(*a):\n"
    "    os.write(1,b'got-sigterm\\n')\n"
    "    if os.environ.get('KS_SLOW_TERM'): time.sleep(float(os.environ['KS_SLOW_TERM']))\n"
    "    os._exit(0)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get('KS_IGNORE_TERM') else term)\n"
    "class H(h.BaseHTTPRequestHandler):\n"
    "    def do_GET(s):\n"
    "        s.send_response(200 if s.path=='/healthz' else 404); s.end_headers(); s.wfile.write(b'ok')\n"
    "    def log_message(s,*a): pass\n"
    "srv=h.HTTPServer(('127.0.0.1',port),H)\n"
    "print('serving',port,os.environ.get('KS_GREETING',''),flush=True)\n"
    "srv.serve_forever()\n";

static char *server_argv[6];
static char *crash_argv[5];

/* ---- process bookkeeping ------------------------------------------------------------ */

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

/* 1 when pid is a live (not zombie) process whose command line carries MARKER */
static int is_ours(pid_t pid)
{
    char path[64], buf[8192], st[512];
    ssize_t n;
    int fd, ours = 0;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
        if (strcmp(buf + i, MARKER) == 0)
            ours = 1;
    }
    if (!ours)
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

/* the live processes of this test, into pids[max]; returns how many */
static int our_processes(pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (*end != '\0' || v <= 0)
            continue;
        if (is_ours((pid_t)v) && n < max)
            pids[n++] = (pid_t)v;
    }
    closedir(d);
    return n;
}

static void kill_ours(void)
{
    pid_t pids[64];
    int n = our_processes(pids, 64);
    for (int i = 0; i < n; ++i) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0); /* ours to reap if it is our child */
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* gone: no such process, or a zombie nobody reaped yet */
static int gone(pid_t pid)
{
    return pid <= 0 || !is_ours(pid);
}

/* ---- setup ------------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(HOME_DIR, sizeof(HOME_DIR), "%s/ks-sup-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(HOME_DIR) == NULL)
        return -1;
    snprintf(MARKER, sizeof(MARKER), "ks-unit-supervisor-%d", (int)getpid());
    server_argv[0] = "/usr/bin/python3";
    server_argv[1] = "-c";
    server_argv[2] = (char *)PY;
    server_argv[3] = "--port={{port}}";
    server_argv[4] = MARKER;
    server_argv[5] = NULL;
    crash_argv[0] = "/bin/sh";
    crash_argv[1] = "-c";
    crash_argv[2] = "echo crash-output line one; echo crash-output line two >&2; exit 1";
    crash_argv[3] = MARKER; /* $0 */
    crash_argv[4] = NULL;
    memset(E, 0, sizeof(E));
    S = ks_supervisor_new(HOME_DIR, E, sizeof(E));
    if (S == NULL) {
        fprintf(stderr, "ks_supervisor_new: %s\n", E);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (S != NULL) {
        ks_supervisor_shutdown(S, 2000);
        ks_supervisor_free(S);
        S = NULL;
    }
    kill_ours();
    return nftw(HOME_DIR, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ------------------------------------------------------------------------------ */

typedef int (*cond_fn)(void *arg);

/* ticks S until cond holds or WAIT_MS passes; 1 if it held */
static int tick_until(ks_supervisor_t *s, cond_fn cond, void *arg, int bound_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)bound_ms;
    do {
        int want = ks_supervisor_tick(s);
        if (!(want >= 0 && want <= 30000))
            fail_msg("ks_supervisor_tick returned %d", want);
        if (cond(arg))
            return 1;
        sleep_ms(want < 20 ? want : 20);
    } while (now_ms() < deadline);
    return cond(arg);
}

typedef struct {
    ks_supervisor_t *s;
    const char *ns, *rev;
    int n;
} want_t;

static int ready_n(void *arg)
{
    want_t *w = arg;
    int ports[16];
    return ks_supervisor_ready_ports(w->s, w->ns, w->rev, ports, 16) == w->n;
}

static int actual_n(void *arg)
{
    want_t *w = arg;
    int d, a, r;
    ks_supervisor_counts(w->s, w->ns, w->rev, &d, &a, &r);
    json_t *st = ks_supervisor_status(w->s, w->ns, w->rev);
    int listed = (int)json_array_size(st);
    json_decref(st);
    return a == w->n && listed == w->n;
}

static int no_revisions(void *arg)
{
    json_t *r = ks_supervisor_revisions(((want_t *)arg)->s);
    int empty = json_array_size(r) == 0;
    json_decref(r);
    return empty;
}

static void wait_ready(ks_supervisor_t *s, const char *ns, const char *rev, int n)
{
    want_t w = {s, ns, rev, n};
    if (!tick_until(s, ready_n, &w, WAIT_MS)) {
        json_t *st = ks_supervisor_status(s, ns, rev);
        char *d = json_dumps(st, JSON_COMPACT);
        fprintf(stderr, "not ready in time: %s\n", d);
        free(d);
        json_decref(st);
        fail_msg("%s/%s: %d replicas not ready within %d ms", ns, rev, n, WAIT_MS);
    }
}

/* the pids of a revision's replicas (status order) */
static int pids_of(ks_supervisor_t *s, const char *ns, const char *rev, pid_t *pids, int max)
{
    json_t *st = ks_supervisor_status(s, ns, rev), *r;
    size_t i;
    int n = 0;
    json_array_foreach(st, i, r) if (n < max) pids[n++] = (pid_t)json_integer_value(json_object_get(r, "pid"));
    json_decref(st);
    return n;
}

static int has_pid(const pid_t *pids, int n, pid_t pid)
{
    for (int i = 0; i < n; ++i)
        if (pids[i] == pid)
            return 1;
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static char *replica_log(const char *ns, const char *rev, const char *replica)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/logs/%s/%s/%s.log", HOME_DIR, ns, rev, replica);
    return read_file(path);
}

/* waits (bounded) until the replica's log contains needle */
static int log_has(const char *ns, const char *rev, const char *replica, const char *needle)
{
    uint64_t deadline = now_ms() + 3000;
    do {
        char *l = replica_log(ns, rev, replica);
        int has = l != NULL && strstr(l, needle) != NULL;
        free(l);
        if (has)
            return 1;
        sleep_ms(20);
    } while (now_ms() < deadline);
    return 0;
}

/* GET path on 127.0.0.1:port: the status code, or -1 */
static int http_get(int port, const char *path)
{
    struct sockaddr_in a;
    char req[256], buf[256];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), code = -1, n;
    ssize_t got = 0, k;
    struct timeval tv = {2, 0};
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
        if (write(fd, req, (size_t)n) == n) {
            while (got < (ssize_t)sizeof(buf) - 1 && (k = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
                got += k;
            buf[got] = '\0';
            if (got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0)
                code = atoi(buf + 9);
        }
    }
    close(fd);
    return code;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int jint(json_t *o, const char *k)
{
    return (int)json_integer_value(json_object_get(o, k));
}

/* ---- start and readiness ----------------------------------------------------------------------- */

static void starts_and_gets_ready(void **state)
{
    (void)state;
    char *env[] = {"KS_GREETING=hello-from-env", NULL};
    int ports[4], d, a, r, n;
    json_t *st, *rep, *revs;
    char *persisted, want[64];

    assert_int_equal(ks_supervisor_set(S, "ns1", "web-00001", 1, server_argv, env, "/healthz"), 0);
    /* declared, not yet started */
    ks_supervisor_counts(S, "ns1", "web-00001", &d, &a, &r);
    assert_int_equal(d, 1);
    assert_int_equal(r, 0);

    wait_ready(S, "ns1", "web-00001", 1);
    n = ks_supervisor_ready_ports(S, "ns1", "web-00001", ports, 4);
    assert_int_equal(n, 1);
    assert_true(ports[0] > 0 && ports[0] < 65536);
    /* {{port}} became the port: the server answers there */
    assert_int_equal(http_get(ports[0], "/healthz"), 200);
    assert_int_equal(http_get(ports[0], "/other"), 404);

    ks_supervisor_counts(S, "ns1", "web-00001", &d, &a, &r);
    assert_int_equal(d, 1);
    assert_int_equal(a, 1);
    assert_int_equal(r, 1);

    st = ks_supervisor_status(S, "ns1", "web-00001");
    assert_int_equal(json_array_size(st), 1);
    rep = json_array_get(st, 0);
    assert_string_equal(jstr(rep, "name"), "web-00001-1");
    assert_string_equal(jstr(rep, "revision"), "web-00001");
    assert_string_equal(jstr(rep, "state"), "Ready");
    assert_int_equal(jint(rep, "port"), ports[0]);
    assert_int_equal(jint(rep, "restarts"), 0);
    assert_true(jint(rep, "pid") > 0);
    assert_true(is_ours(jint(rep, "pid")));
    assert_null(json_object_get(rep, "reason"));
    assert_null(json_object_get(rep, "lastLogLines"));

    /* the replica's output goes to its log; env reached it */
    snprintf(want, sizeof(want), "serving %d hello-from-env", ports[0]);
    assert_true(log_has("ns1", "web-00001", "web-00001-1", want));

    /* known revisions */
    revs = ks_supervisor_revisions(S);
    assert_int_equal(json_array_size(revs), 1);
    assert_string_equal(jstr(json_array_get(revs, 0), "namespace"), "ns1");
    assert_string_equal(jstr(json_array_get(revs, 0), "revision"), "web-00001");
    assert_false(json_is_true(json_object_get(json_array_get(revs, 0), "removing")));
    json_decref(revs);

    /* remembered on disk */
    {
        char path[512];
        snprintf(path, sizeof(path), "%s/replicas.json", HOME_DIR);
        persisted = read_file(path);
        assert_non_null(persisted);
        snprintf(want, sizeof(want), "%d", jint(rep, "pid"));
        assert_non_null(strstr(persisted, want));
        assert_non_null(strstr(persisted, "web-00001"));
        free(persisted);
    }
    json_decref(st);

    /* unknown revisions */
    assert_int_equal(ks_supervisor_ready_ports(S, "ns1", "nope", ports, 4), 0);
    ks_supervisor_counts(S, "nope", "web-00001", &d, &a, &r);
    assert_int_equal(d + a + r, 0);
    st = ks_supervisor_status(S, "ns1", "nope");
    assert_int_equal(json_array_size(st), 0);
    json_decref(st);
}

static void not_ready_without_200_on_the_health_path(void **state)
{
    (void)state;
    int d, a, r;
    want_t w = {S, "ns1", "sick", 1};
    json_t *st;

    assert_int_equal(ks_supervisor_set(S, "ns1", "sick", 1, server_argv, NULL, "/not-the-health-path"), 0);
    /* the process runs (it logs), but the health path answers 404 */
    {
        uint64_t deadline = now_ms() + WAIT_MS;
        while (now_ms() < deadline) {
            ks_supervisor_tick(S);
            char *l = replica_log("ns1", "sick", "sick-1");
            int up = l != NULL && strstr(l, "serving") != NULL;
            free(l);
            if (up)
                break;
            sleep_ms(10);
        }
    }
    assert_false(tick_until(S, ready_n, &w, 700));
    ks_supervisor_counts(S, "ns1", "sick", &d, &a, &r);
    assert_int_equal(d, 1);
    assert_int_equal(a, 1);
    assert_int_equal(r, 0);
    st = ks_supervisor_status(S, "ns1", "sick");
    assert_string_equal(jstr(json_array_get(st, 0), "state"), "Starting");
    assert_int_equal(jint(json_array_get(st, 0), "restarts"), 0);
    json_decref(st);
}

static void two_replicas_get_distinct_ports(void **state)
{
    (void)state;
    int ports[4];
    json_t *st;
    assert_int_equal(ks_supervisor_set(S, "ns1", "two", 2, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "two", 2);
    assert_int_equal(ks_supervisor_ready_ports(S, "ns1", "two", ports, 4), 2);
    assert_int_not_equal(ports[0], ports[1]);
    assert_int_equal(http_get(ports[0], "/healthz"), 200);
    assert_int_equal(http_get(ports[1], "/healthz"), 200);
    /* max caps what is written */
    assert_int_equal(ks_supervisor_ready_ports(S, "ns1", "two", ports, 1), 1);
    st = ks_supervisor_status(S, "ns1", "two");
    assert_int_equal(json_array_size(st), 2);
    assert_string_not_equal(jstr(json_array_get(st, 0), "name"), jstr(json_array_get(st, 1), "name"));
    assert_int_not_equal(jint(json_array_get(st, 0), "pid"), jint(json_array_get(st, 1), "pid"));
    json_decref(st);
}

static void scale_up(void **state)
{
    (void)state;
    pid_t before[4], after[4];
    assert_int_equal(ks_supervisor_set(S, "ns1", "up", 1, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "up", 1);
    assert_int_equal(pids_of(S, "ns1", "up", before, 4), 1);
    assert_int_equal(ks_supervisor_set(S, "ns1", "up", 3, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "up", 3);
    assert_int_equal(pids_of(S, "ns1", "up", after, 4), 3);
    /* the first one kept running */
    assert_true(has_pid(after, 3, before[0]));
}

/* ---- crashes ---------------------------------------------------------------------------------------- */

static void crash_restarts_with_backoff(void **state)
{
    (void)state;
    uint64_t t0 = now_ms(), deadline = t0 + WAIT_MS;
    int saw_error = 0, saw_loop = 0, d, a, r, code = 0;
    char reason[64], msg[1024];
    json_t *st, *rep;

    assert_int_equal(ks_supervisor_set(S, "ns1", "crash", 1, crash_argv, NULL, "/healthz"), 0);
    while (now_ms() < deadline && !(saw_error && saw_loop)) {
        int want = ks_supervisor_tick(S);
        st = ks_supervisor_status(S, "ns1", "crash");
        rep = json_array_get(st, 0);
        if (rep != NULL && jint(rep, "restarts") == 1 && jstr(rep, "reason") != NULL &&
            strcmp(jstr(rep, "reason"), "Error") == 0) {
            saw_error = 1;
            assert_int_equal(jint(rep, "lastExitCode"), 1);
            assert_non_null(strstr(jstr(rep, "message"), "exited with code 1"));
            assert_non_null(jstr(rep, "lastLogLines"));
            assert_non_null(strstr(jstr(rep, "lastLogLines"), "crash-output line one"));
        }
        if (rep != NULL && jint(rep, "restarts") >= 2 && jstr(rep, "reason") != NULL &&
            strcmp(jstr(rep, "reason"), "CrashLoopBackOff") == 0) {
            saw_loop = 1;
            assert_non_null(jstr(rep, "lastLogLines"));
            /* stdout and stderr both reach the log */
            assert_non_null(strstr(jstr(rep, "lastLogLines"), "crash-output line one"));
            assert_non_null(strstr(jstr(rep, "lastLogLines"), "crash-output line two"));
            assert_int_equal(jint(rep, "lastExitCode"), 1);
        }
        json_decref(st);
        sleep_ms(want < 10 ? want : 10);
    }
    assert_true(saw_error);
    assert_true(saw_loop);

    /* never ready */
    ks_supervisor_counts(S, "ns1", "crash", &d, &a, &r);
    assert_int_equal(d, 1);
    assert_int_equal(r, 0);

    /* the problem, for conditions */
    assert_int_equal(ks_supervisor_problem(S, "ns1", "crash", reason, sizeof(reason), msg, sizeof(msg), &code), 1);
    assert_true(strcmp(reason, "CrashLoopBackOff") == 0 || strcmp(reason, "Error") == 0);
    assert_non_null(strstr(msg, "crash-output line"));
    assert_non_null(strstr(msg, "crash-1"));
    assert_int_equal(code, 1);
}

static void crash_backoff_grows(void **state)
{
    (void)state;
    uint64_t t0 = now_ms();
    int restarts;
    json_t *st;

    assert_int_equal(ks_supervisor_set(S, "ns1", "crash", 1, crash_argv, NULL, "/healthz"), 0);
    /* 1.6 s of ticking: back-off 100, 200, 400, 800 ms allows about 4-5 starts, not dozens */
    while (now_ms() < t0 + 1600) {
        int want = ks_supervisor_tick(S);
        sleep_ms(want < 5 ? want : 5);
    }
    st = ks_supervisor_status(S, "ns1", "crash");
    restarts = jint(json_array_get(st, 0), "restarts");
    json_decref(st);
    assert_true(restarts >= 2);
    assert_true(restarts <= 6);
}

static void exec_failure_is_reported(void **state)
{
    (void)state;
    char *argv[] = {"/nonexistent/ks-unit-binary", MARKER, NULL};
    uint64_t deadline = now_ms() + WAIT_MS;
    json_t *st = NULL, *rep = NULL;

    assert_int_equal(ks_supervisor_set(S, "ns1", "noexec", 1, argv, NULL, "/healthz"), 0);
    while (now_ms() < deadline) {
        int want = ks_supervisor_tick(S);
        st = ks_supervisor_status(S, "ns1", "noexec");
        rep = json_array_get(st, 0);
        if (rep != NULL && jint(rep, "restarts") >= 1)
            break;
        json_decref(st);
        st = NULL;
        sleep_ms(want < 10 ? want : 10);
    }
    assert_non_null(st);
    assert_int_equal(jint(rep, "lastExitCode"), 127);
    assert_non_null(strstr(jstr(rep, "message"), "127"));
    assert_non_null(jstr(rep, "lastLogLines"));
    assert_non_null(strstr(jstr(rep, "lastLogLines"), "cannot execute"));
    json_decref(st);
}

static void killed_replica_is_restarted(void **state)
{
    (void)state;
    pid_t before[2], after[2];
    json_t *st;
    assert_int_equal(ks_supervisor_set(S, "ns1", "victim", 1, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "victim", 1);
    assert_int_equal(pids_of(S, "ns1", "victim", before, 2), 1);
    kill(before[0], SIGKILL);
    /* reaped, restarted with a new process, ready again */
    {
        uint64_t deadline = now_ms() + WAIT_MS;
        int ok = 0;
        while (!ok && now_ms() < deadline) {
            int want = ks_supervisor_tick(S);
            int ports[2];
            ok = pids_of(S, "ns1", "victim", after, 2) == 1 && after[0] != before[0] && after[0] > 0 &&
                 ks_supervisor_ready_ports(S, "ns1", "victim", ports, 2) == 1;
            sleep_ms(want < 10 ? want : 10);
        }
        assert_true(ok);
    }
    st = ks_supervisor_status(S, "ns1", "victim");
    assert_int_equal(jint(json_array_get(st, 0), "restarts"), 1);
    assert_int_equal(jint(json_array_get(st, 0), "lastExitCode"), 128 + SIGKILL);
    assert_string_equal(jstr(json_array_get(st, 0), "state"), "Ready");
    json_decref(st);
    assert_true(gone(before[0]));
}

/* ---- scale down and remove --------------------------------------------------------------------------- */

static void scale_down_stops_one_with_sigterm(void **state)
{
    (void)state;
    pid_t before[4], after[4], stopped = 0;
    want_t w = {S, "ns1", "down", 1};
    json_t *st;
    const char *stopped_name = NULL;
    char names[2][64];

    assert_int_equal(ks_supervisor_set(S, "ns1", "down", 2, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "down", 2);
    assert_int_equal(pids_of(S, "ns1", "down", before, 4), 2);
    st = ks_supervisor_status(S, "ns1", "down");
    snprintf(names[0], sizeof(names[0]), "%s", jstr(json_array_get(st, 0), "name"));
    snprintf(names[1], sizeof(names[1]), "%s", jstr(json_array_get(st, 1), "name"));
    json_decref(st);

    assert_int_equal(ks_supervisor_set(S, "ns1", "down", 1, server_argv, NULL, "/healthz"), 0);
    assert_true(tick_until(S, actual_n, &w, WAIT_MS));
    assert_int_equal(pids_of(S, "ns1", "down", after, 4), 1);
    assert_true(has_pid(before, 2, after[0]));
    stopped = after[0] == before[0] ? before[1] : before[0];
    stopped_name = after[0] == before[0] ? names[1] : names[0];
    assert_true(gone(stopped));
    assert_false(gone(after[0]));
    /* it got SIGTERM (graceful), not SIGKILL */
    assert_true(log_has("ns1", "down", stopped_name, "got-sigterm"));
    /* the other keeps serving */
    {
        int ports[2], d, a, r;
        assert_int_equal(ks_supervisor_ready_ports(S, "ns1", "down", ports, 2), 1);
        assert_int_equal(http_get(ports[0], "/healthz"), 200);
        ks_supervisor_counts(S, "ns1", "down", &d, &a, &r);
        assert_int_equal(d, 1);
        assert_int_equal(a, 1);
        assert_int_equal(r, 1);
    }
}

/*
 * Scaling down stops the newest replica first, as the source says ("stop the
 * newest first, not-ready before ready") and as a ReplicaSet does.
 */
static void scale_down_stops_the_newest(void **state)
{
    (void)state;
    want_t w = {S, "ns1", "order", 1};
    json_t *st;
    char kept[64];
    int n;

    assert_int_equal(ks_supervisor_set(S, "ns1", "order", 2, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "order", 2);
    assert_int_equal(ks_supervisor_set(S, "ns1", "order", 1, server_argv, NULL, "/healthz"), 0);
    assert_true(tick_until(S, actual_n, &w, WAIT_MS));
    st = ks_supervisor_status(S, "ns1", "order");
    n = (int)json_array_size(st);
    snprintf(kept, sizeof(kept), "%s", n == 1 ? jstr(json_array_get(st, 0), "name") : "?");
    json_decref(st);
    assert_int_equal(n, 1);
    if (strcmp(kept, "order-1") != 0)
        fprintf(stderr, "scale-down kept %s and stopped order-1 (the oldest)\n", kept);
    assert_string_equal(kept, "order-1");
}

static void scale_down_prefers_not_ready(void **state)
{
    (void)state;
    /* one ready revision of 1, then scaled to 2 with a health path the new one... shares: use crash + server */
    want_t w = {S, "ns1", "mixed", 1};
    json_t *st;
    pid_t p[4];

    assert_int_equal(ks_supervisor_set(S, "ns1", "mixed", 1, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "mixed", 1);
    assert_int_equal(pids_of(S, "ns1", "mixed", p, 4), 1);
    /* scale to 2 and immediately back to 1: the new replica is not ready yet, it is the one to go */
    assert_int_equal(ks_supervisor_set(S, "ns1", "mixed", 2, server_argv, NULL, "/healthz"), 0);
    ks_supervisor_tick(S); /* starts mixed-2 */
    assert_int_equal(ks_supervisor_set(S, "ns1", "mixed", 1, server_argv, NULL, "/healthz"), 0);
    assert_true(tick_until(S, actual_n, &w, WAIT_MS));
    st = ks_supervisor_status(S, "ns1", "mixed");
    assert_int_equal(json_array_size(st), 1);
    assert_string_equal(jstr(json_array_get(st, 0), "name"), "mixed-1");
    assert_int_equal(jint(json_array_get(st, 0), "pid"), p[0]);
    json_decref(st);
}

static void remove_stops_everything(void **state)
{
    (void)state;
    pid_t pids[4];
    int n, d, a, r, ports[4];
    json_t *st;
    char *persisted, path[512];

    assert_int_equal(ks_supervisor_set(S, "ns1", "gone", 2, server_argv, NULL, "/healthz"), 0);
    assert_int_equal(ks_supervisor_set(S, "ns1", "stays", 1, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "gone", 2);
    wait_ready(S, "ns1", "stays", 1);
    n = pids_of(S, "ns1", "gone", pids, 4);
    assert_int_equal(n, 2);

    ks_supervisor_remove(S, "ns1", "gone");
    /* at once: nothing of it is ready or counted */
    assert_int_equal(ks_supervisor_ready_ports(S, "ns1", "gone", ports, 4), 0);
    ks_supervisor_counts(S, "ns1", "gone", &d, &a, &r);
    assert_int_equal(d, 0);
    assert_int_equal(a, 0);
    assert_int_equal(r, 0);

    /* forgotten once the processes are gone */
    {
        uint64_t deadline = now_ms() + WAIT_MS;
        int forgotten = 0;
        while (!forgotten && now_ms() < deadline) {
            int want = ks_supervisor_tick(S);
            json_t *revs = ks_supervisor_revisions(S);
            size_t i;
            json_t *e;
            forgotten = 1;
            json_array_foreach(revs, i, e) if (strcmp(jstr(e, "revision"), "gone") == 0) forgotten = 0;
            json_decref(revs);
            sleep_ms(want < 10 ? want : 10);
        }
        assert_true(forgotten);
    }
    assert_true(gone(pids[0]));
    assert_true(gone(pids[1]));
    st = ks_supervisor_status(S, "ns1", "gone");
    assert_int_equal(json_array_size(st), 0);
    json_decref(st);
    /* gracefully */
    assert_true(log_has("ns1", "gone", "gone-1", "got-sigterm"));
    assert_true(log_has("ns1", "gone", "gone-2", "got-sigterm"));
    /* the other revision is untouched */
    assert_int_equal(ks_supervisor_ready_ports(S, "ns1", "stays", ports, 4), 1);
    /* and the file forgot it too */
    snprintf(path, sizeof(path), "%s/replicas.json", HOME_DIR);
    persisted = read_file(path);
    assert_non_null(persisted);
    assert_null(strstr(persisted, "\"gone\""));
    assert_non_null(strstr(persisted, "\"stays\""));
    free(persisted);
}

static void remove_unknown_is_harmless(void **state)
{
    (void)state;
    ks_supervisor_remove(S, "ns1", "never-declared");
    assert_true(ks_supervisor_tick(S) >= 0);
}

static void set_after_remove_revives(void **state)
{
    (void)state;
    assert_int_equal(ks_supervisor_set(S, "ns1", "back", 1, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "back", 1);
    ks_supervisor_remove(S, "ns1", "back");
    assert_int_equal(ks_supervisor_set(S, "ns1", "back", 1, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "back", 1);
    {
        json_t *revs = ks_supervisor_revisions(S);
        assert_int_equal(json_array_size(revs), 1);
        assert_false(json_is_true(json_object_get(json_array_get(revs, 0), "removing")));
        json_decref(revs);
    }
}

/* ---- adoption ----------------------------------------------------------------------------------------- */

static void new_supervisor_adopts_running_replicas(void **state)
{
    (void)state;
    pid_t before[4], after[4], live[16];
    int ports_before[4], ports_after[4], d, a, r;
    json_t *st;
    size_t i;
    json_t *rep;

    assert_int_equal(ks_supervisor_set(S, "ns1", "keep", 2, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "keep", 2);
    assert_int_equal(pids_of(S, "ns1", "keep", before, 4), 2);
    assert_int_equal(ks_supervisor_ready_ports(S, "ns1", "keep", ports_before, 4), 2);

    /* the daemon dies: the supervisor is forgotten, the processes keep running */
    ks_supervisor_free(S);
    S = NULL;
    assert_false(gone(before[0]));
    assert_false(gone(before[1]));

    S = ks_supervisor_new(HOME_DIR, E, sizeof(E));
    assert_non_null(S);
    /* before any tick: the replicas are known, with their pids, not ready until checked */
    ks_supervisor_counts(S, "ns1", "keep", &d, &a, &r);
    assert_int_equal(d, 2);
    assert_int_equal(a, 2);
    assert_int_equal(r, 0);
    assert_int_equal(pids_of(S, "ns1", "keep", after, 4), 2);
    assert_true(has_pid(after, 2, before[0]));
    assert_true(has_pid(after, 2, before[1]));

    wait_ready(S, "ns1", "keep", 2);
    /* a while longer: nothing new gets started */
    {
        uint64_t t = now_ms() + 500;
        while (now_ms() < t) {
            ks_supervisor_tick(S);
            sleep_ms(10);
        }
    }
    assert_int_equal(pids_of(S, "ns1", "keep", after, 4), 2);
    assert_true(has_pid(after, 2, before[0]));
    assert_true(has_pid(after, 2, before[1]));
    assert_int_equal(ks_supervisor_ready_ports(S, "ns1", "keep", ports_after, 4), 2);
    assert_true(ports_after[0] == ports_before[0] || ports_after[0] == ports_before[1]);
    assert_true(ports_after[1] == ports_before[0] || ports_after[1] == ports_before[1]);
    assert_int_equal(our_processes(live, 16), 2);
    st = ks_supervisor_status(S, "ns1", "keep");
    json_array_foreach(st, i, rep)
    {
        assert_int_equal(jint(rep, "restarts"), 0);
        assert_string_equal(jstr(rep, "state"), "Ready");
    }
    json_decref(st);

    /* and the new supervisor stops them */
    ks_supervisor_shutdown(S, 5000);
    assert_true(gone(before[0]));
    assert_true(gone(before[1]));
}

static void dead_pid_is_not_adopted(void **state)
{
    (void)state;
    pid_t before[4], after[4], live[16];
    int d, a, r;

    assert_int_equal(ks_supervisor_set(S, "ns1", "half", 2, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "half", 2);
    assert_int_equal(pids_of(S, "ns1", "half", before, 4), 2);
    ks_supervisor_free(S);
    S = NULL;

    /* one replica dies while no supervisor runs */
    kill(before[0], SIGKILL);
    waitpid(before[0], NULL, 0); /* (our child here; the daemon's would be reaped by init) */
    assert_true(gone(before[0]));

    S = ks_supervisor_new(HOME_DIR, E, sizeof(E));
    assert_non_null(S);
    ks_supervisor_counts(S, "ns1", "half", &d, &a, &r);
    assert_int_equal(d, 2);
    assert_int_equal(a, 1);
    assert_int_equal(pids_of(S, "ns1", "half", after, 4), 1);
    assert_int_equal(after[0], before[1]);

    /* it makes up the difference with a new process */
    wait_ready(S, "ns1", "half", 2);
    assert_int_equal(pids_of(S, "ns1", "half", after, 4), 2);
    assert_true(has_pid(after, 2, before[1]));
    assert_int_equal(our_processes(live, 16), 2);
}

static void reused_pid_is_not_adopted(void **state)
{
    (void)state;
    pid_t before[2], other, after[4];
    char path[512];
    json_t *file, *reps;
    int d, a, r;

    assert_int_equal(ks_supervisor_set(S, "ns1", "reuse", 1, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "reuse", 1);
    assert_int_equal(pids_of(S, "ns1", "reuse", before, 2), 1);
    ks_supervisor_free(S);
    S = NULL;
    kill(before[0], SIGKILL);
    waitpid(before[0], NULL, 0);

    /* another process now holds the pid the file names (simulated by editing the file) */
    other = fork();
    assert_true(other >= 0);
    if (other == 0) {
        execl("/usr/bin/python3", "/usr/bin/python3", "-c", "import time; time.sleep(30)", MARKER, (char *)NULL);
        _exit(127);
    }
    {
        uint64_t t = now_ms() + 2000;
        while (!is_ours(other) && now_ms() < t)
            sleep_ms(5);
    }
    snprintf(path, sizeof(path), "%s/replicas.json", HOME_DIR);
    file = json_load_file(path, 0, NULL);
    assert_non_null(file);
    reps = json_object_get(json_array_get(file, 0), "replicas");
    assert_int_equal(json_array_size(reps), 1);
    json_object_set_new(json_array_get(reps, 0), "pid", json_integer(other));
    assert_int_equal(json_dump_file(file, path, 0), 0);
    json_decref(file);

    S = ks_supervisor_new(HOME_DIR, E, sizeof(E));
    assert_non_null(S);
    ks_supervisor_counts(S, "ns1", "reuse", &d, &a, &r);
    assert_int_equal(d, 1);
    assert_int_equal(a, 0);
    wait_ready(S, "ns1", "reuse", 1);
    assert_int_equal(pids_of(S, "ns1", "reuse", after, 4), 1);
    assert_int_not_equal(after[0], other);
    /* the stranger was left alone */
    assert_false(gone(other));
    ks_supervisor_shutdown(S, 5000);
    assert_false(gone(other));
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
}

static void adopted_replica_that_dies_is_restarted(void **state)
{
    (void)state;
    pid_t before[2], after[2];
    assert_int_equal(ks_supervisor_set(S, "ns1", "adie", 1, server_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "adie", 1);
    assert_int_equal(pids_of(S, "ns1", "adie", before, 2), 1);
    ks_supervisor_free(S);
    S = ks_supervisor_new(HOME_DIR, E, sizeof(E));
    assert_non_null(S);
    wait_ready(S, "ns1", "adie", 1);
    kill(before[0], SIGKILL);
    {
        uint64_t deadline = now_ms() + WAIT_MS;
        int ok = 0, ports[2];
        while (!ok && now_ms() < deadline) {
            int want = ks_supervisor_tick(S);
            ok = pids_of(S, "ns1", "adie", after, 2) == 1 && after[0] > 0 && after[0] != before[0] &&
                 ks_supervisor_ready_ports(S, "ns1", "adie", ports, 2) == 1;
            sleep_ms(want < 10 ? want : 10);
        }
        assert_true(ok);
    }
    assert_true(gone(before[0]));
}

static void adoption_finishes_a_removal(void **state)
{
    (void)state;
    char *env[] = {"KS_SLOW_TERM=0.5", NULL};
    pid_t before[4];
    want_t w = {NULL, NULL, NULL, 0};
    json_t *revs, *file;
    char path[512];

    assert_int_equal(ks_supervisor_set(S, "ns1", "half-removed", 2, server_argv, env, "/healthz"), 0);
    wait_ready(S, "ns1", "half-removed", 2);
    assert_int_equal(pids_of(S, "ns1", "half-removed", before, 4), 2);
    /* removal asked; the daemon dies while the replicas are still draining (they take 0.5 s) */
    ks_supervisor_remove(S, "ns1", "half-removed");
    ks_supervisor_tick(S);
    snprintf(path, sizeof(path), "%s/replicas.json", HOME_DIR);
    file = json_load_file(path, 0, NULL);
    assert_non_null(file);
    assert_true(json_is_true(json_object_get(json_array_get(file, 0), "removing")));
    json_decref(file);
    ks_supervisor_free(S);
    S = ks_supervisor_new(HOME_DIR, E, sizeof(E));
    assert_non_null(S);
    revs = ks_supervisor_revisions(S);
    assert_int_equal(json_array_size(revs), 1);
    assert_true(json_is_true(json_object_get(json_array_get(revs, 0), "removing")));
    json_decref(revs);
    /* the new supervisor finishes the job */
    w.s = S;
    assert_true(tick_until(S, no_revisions, &w, WAIT_MS));
    assert_true(gone(before[0]));
    assert_true(gone(before[1]));
}

/* ---- shutdown ---------------------------------------------------------------------------------------------- */

static void shutdown_stops_everything(void **state)
{
    (void)state;
    pid_t pids[8], live[16];
    int n = 0;
    uint64_t t0;
    char path[512], *persisted;
    json_t *revs, *arr;

    assert_int_equal(ks_supervisor_set(S, "ns1", "a", 2, server_argv, NULL, "/healthz"), 0);
    assert_int_equal(ks_supervisor_set(S, "ns2", "b", 1, server_argv, NULL, "/healthz"), 0);
    assert_int_equal(ks_supervisor_set(S, "ns2", "c", 1, crash_argv, NULL, "/healthz"), 0);
    wait_ready(S, "ns1", "a", 2);
    wait_ready(S, "ns2", "b", 1);
    n += pids_of(S, "ns1", "a", pids + n, 4);
    n += pids_of(S, "ns2", "b", pids + n, 4);
    assert_int_equal(n, 3);

    t0 = now_ms();
    ks_supervisor_shutdown(S, 5000);
    assert_true(now_ms() - t0 < 5000); /* they exit on SIGTERM: no need to wait for the grace */
    for (int i = 0; i < n; ++i)
        assert_true(gone(pids[i]));
    assert_int_equal(our_processes(live, 16), 0);
    assert_true(log_has("ns1", "a", "a-1", "got-sigterm"));
    assert_true(log_has("ns2", "b", "b-1", "got-sigterm"));

    revs = ks_supervisor_revisions(S);
    assert_int_equal(json_array_size(revs), 0);
    json_decref(revs);
    snprintf(path, sizeof(path), "%s/replicas.json", HOME_DIR);
    persisted = read_file(path);
    assert_non_null(persisted);
    arr = json_loads(persisted, 0, NULL);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
    free(persisted);

    /* nothing is adopted afterwards */
    ks_supervisor_free(S);
    S = ks_supervisor_new(HOME_DIR, E, sizeof(E));
    assert_non_null(S);
    revs = ks_supervisor_revisions(S);
    assert_int_equal(json_array_size(revs), 0);
    json_decref(revs);
}

static void shutdown_kills_what_ignores_sigterm(void **state)
{
    (void)state;
    char *env[] = {"KS_IGNORE_TERM=1", NULL};
    pid_t pids[2], live[16];
    uint64_t t0;

    assert_int_equal(ks_supervisor_set(S, "ns1", "stubborn", 1, server_argv, env, "/healthz"), 0);
    wait_ready(S, "ns1", "stubborn", 1);
    assert_int_equal(pids_of(S, "ns1", "stubborn", pids, 2), 1);
    t0 = now_ms();
    ks_supervisor_shutdown(S, 300);
    assert_true(now_ms() - t0 >= 250); /* it waited for the grace */
    assert_true(now_ms() - t0 < 5000); /* then SIGKILL */
    assert_true(gone(pids[0]));
    assert_int_equal(our_processes(live, 16), 0);
}

static void new_on_unwritable_home_fails(void **state)
{
    (void)state;
    char err[KS_ERRLEN] = "";
    char path[512];
    FILE *f;
    /* a file where the home's logs/ directory should be */
    snprintf(path, sizeof(path), "%s/file", HOME_DIR);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_null(ks_supervisor_new(path, err, sizeof(err)));
    assert_true(err[0] != '\0');
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(starts_and_gets_ready),
        T(not_ready_without_200_on_the_health_path),
        T(two_replicas_get_distinct_ports),
        T(scale_up),
        T(crash_restarts_with_backoff),
        T(crash_backoff_grows),
        T(exec_failure_is_reported),
        T(killed_replica_is_restarted),
        T(scale_down_stops_one_with_sigterm),
        T(scale_down_stops_the_newest),
        T(scale_down_prefers_not_ready),
        T(remove_stops_everything),
        T(remove_unknown_is_harmless),
        T(set_after_remove_revives),
        T(new_supervisor_adopts_running_replicas),
        T(dead_pid_is_not_adopted),
        T(reused_pid_is_not_adopted),
        T(adopted_replica_that_dies_is_restarted),
        T(adoption_finishes_a_removal),
        T(shutdown_stops_everything),
        T(shutdown_kills_what_ignores_sigterm),
        T(new_on_unwritable_home_fails),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
