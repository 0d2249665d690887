/*
 * The supervisor.  See include/ks/supervisor.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ks/supervisor.h"
#include "ks/zygote.h"

#define GRACE_MS 30000        /* SIGTERM to SIGKILL, as Kubernetes' default */
#define PRESTOP_MS 200        /* out of the routes to SIGTERM */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define LOG_TAIL_LINES 10

typedef struct replica {
    struct replica *next;
    char name[192];
    pid_t pid;
    int port;
    int child; /* ours to waitpid; adopted ones are watched with kill(0) */
    int zygote; /* forked by the zygote: it records the exit status */
    unsigned long long starttime;
    ks_replica_state_t state;
    int restarts;
    int last_exit; /* exit code, 128+signal, -1 none */
    uint64_t next_start_ns, term_deadline_ns, started_ns;
    uint64_t sigterm_ns; /* SIGTERM goes at this time (0: sent) */
    char reason[64];
    char message[512];
} replica_t;

typedef struct revset {
    struct revset *next;
    char ns[128];
    char rev[192];
    char **argv;
    char **env; /* the child's whole environment */
    char health[128];
    int desired;
    int seq;
    int removing;
    int use_zygote;
    replica_t *replicas;
} revset_t;

struct ks_supervisor {
    char home[1024];
    char zygote_sock[1100];
    char zygote_dir[1100];
    revset_t *sets;
    int dirty;
};

static uint64_t now_ns(void)
{
    return ks_now_ns();
}

static char **copy_argv(char *const *argv)
{
    int n = 0;
    char **c;
    while (argv[n] != NULL)
        n++;
    if ((c = calloc((size_t)n + 1, sizeof(*c))) == NULL)
        return NULL;
    for (int i = 0; i < n; ++i)
        if ((c[i] = strdup(argv[i])) == NULL)
            return NULL;
    return c;
}

static void free_argv(char **a)
{
    if (a == NULL)
        return;
    for (int i = 0; a[i] != NULL; ++i)
        free(a[i]);
    free(a);
}

static int mkdirs(const char *path)
{
    char tmp[1024], *p;
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (p = tmp + 1; *p; ++p)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* field 22 of /proc/PID/stat: start time since boot, in clock ticks */
static unsigned long long proc_starttime(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long v = 0;
    ssize_t n;
    int fd, field;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if ((p = strrchr(buf, ')')) == NULL)
        return 0;
    /* after ") " comes field 3 */
    for (field = 3, p += 2; *p && field < 22; ++p)
        if (*p == ' ')
            field++;
    sscanf(p, "%llu", &v);
    return v;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void log_path(ks_supervisor_t *s, const revset_t *rs, const replica_t *r, char *out, size_t len)
{
    snprintf(out, len, "%s/logs/%s/%s/%s.log", s->home, rs->ns, rs->rev, r->name);
}

/* The last lines of a replica's log (for status), at most max bytes. */
static void log_tail(const char *path, char *out, size_t max)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC), lines = 0;
    off_t size;
    ssize_t n;
    char *p;

    out[0] = '\0';
    if (fd < 0)
        return;
    size = lseek(fd, 0, SEEK_END);
    if (size > (off_t)sizeof(buf) - 1)
        lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
    else
        lseek(fd, 0, SEEK_SET);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    for (p = buf + n; p > buf; --p)
        if (p[-1] == '\n' && ++lines == LOG_TAIL_LINES)
            break;
    if (strlen(p) >= max) {
        /* too long: keep the end, from a line start */
        char *nl;
        p += strlen(p) - max + 1;
        if ((nl = strchr(p, '\n')) != NULL)
            p = nl + 1;
    }
    snprintf(out, max, "%s", p);
}

/* ---- persistence: replicas.json --------------------------------------------- */

static void persist(ks_supervisor_t *s)
{
    char path[1100], tmp[1100];
    json_t *arr = json_array();
    for (revset_t *rs = s->sets; rs != NULL; rs = rs->next) {
        json_t *argv = json_array(), *reps = json_array();
        for (int i = 0; rs->argv[i] != NULL; ++i)
            json_array_append_new(argv, json_string(rs->argv[i]));
        for (replica_t *r = rs->replicas; r != NULL; r = r->next)
            if (r->pid > 0)
                json_array_append_new(reps, json_pack("{s:s, s:i, s:i, s:I, s:i, s:b}", "name", r->name, "pid",
                                                      (int)r->pid, "port", r->port, "starttime",
                                                      (json_int_t)r->starttime, "restarts", r->restarts, "zygote",
                                                      r->zygote));
        json_t *env = json_array();
        for (int i = 0; rs->env[i] != NULL; ++i)
            json_array_append_new(env, json_string(rs->env[i]));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:o, s:s, s:i, s:i, s:b, s:o}", "namespace", rs->ns,
                                             "revision", rs->rev, "argv", argv, "env", env, "health", rs->health,
                                             "desired", rs->desired, "seq", rs->seq, "removing", rs->removing,
                                             "replicas", reps));
    }
    snprintf(path, sizeof(path), "%s/replicas.json", s->home);
    snprintf(tmp, sizeof(tmp), "%s/replicas.json.tmp", s->home);
    if (json_dump_file(arr, tmp, JSON_INDENT(1)) == 0)
        rename(tmp, path);
    json_decref(arr);
    s->dirty = 0;
}

static revset_t *find_set(ks_supervisor_t *s, const char *ns, const char *rev)
{
    for (revset_t *rs = s->sets; rs != NULL; rs = rs->next)
        if (strcmp(rs->ns, ns) == 0 && strcmp(rs->rev, rev) == 0)
            return rs;
    return NULL;
}

extern char **environ;

/* the daemon's environment with extra NAME=value pairs set over it */
static char **merge_env(char *const *extra)
{
    int n = 0, m = 0, k = 0;
    char **e;
    while (environ[n] != NULL)
        n++;
    while (extra != NULL && extra[m] != NULL)
        m++;
    if ((e = calloc((size_t)(n + m + 1), sizeof(char *))) == NULL)
        return NULL;
    for (int i = 0; i < n; ++i) {
        size_t l = strcspn(environ[i], "=");
        int overridden = 0;
        for (int j = 0; j < m; ++j)
            if (strncmp(extra[j], environ[i], l) == 0 && extra[j][l] == '=')
                overridden = 1;
        if (!overridden)
            e[k++] = strdup(environ[i]);
    }
    for (int j = 0; j < m; ++j)
        e[k++] = strdup(extra[j]);
    return e;
}

static revset_t *new_set(ks_supervisor_t *s, const char *ns, const char *rev, char *const *argv, char *const *env,
                         const char *health)
{
    revset_t *rs = calloc(1, sizeof(*rs));
    if (rs == NULL || (rs->argv = copy_argv(argv)) == NULL || (rs->env = merge_env(env)) == NULL) {
        if (rs != NULL)
            free_argv(rs->argv);
        free(rs);
        return NULL;
    }
    snprintf(rs->ns, sizeof(rs->ns), "%s", ns);
    snprintf(rs->rev, sizeof(rs->rev), "%s", rev);
    snprintf(rs->health, sizeof(rs->health), "%s", health != NULL ? health : "/");
    rs->next = s->sets;
    s->sets = rs;
    return rs;
}

/* adopt what a previous daemon left running */
static void adopt(ks_supervisor_t *s)
{
    char path[1100];
    json_t *arr, *e, *r;
    size_t i, j;

    snprintf(path, sizeof(path), "%s/replicas.json", s->home);
    if ((arr = json_load_file(path, 0, NULL)) == NULL)
        return;
    json_array_foreach(arr, i, e)
    {
        json_t *jargv = json_object_get(e, "argv"), *jenv = json_object_get(e, "env"), *x;
        size_t n = json_array_size(jargv), ne = json_array_size(jenv), k;
        char **argv = calloc(n + 1, sizeof(char *)), **env = calloc(ne + 1, sizeof(char *));
        revset_t *rs;
        if (argv == NULL || env == NULL) {
            free(argv);
            free(env);
            continue;
        }
        json_array_foreach(jargv, k, x) argv[k] = (char *)json_string_value(x);
        json_array_foreach(jenv, k, x) env[k] = (char *)json_string_value(x);
        rs = new_set(s, json_string_value(json_object_get(e, "namespace")),
                     json_string_value(json_object_get(e, "revision")), argv, env,
                     json_string_value(json_object_get(e, "health")));
        free(argv);
        free(env);
        if (rs == NULL)
            continue;
        rs->desired = (int)json_integer_value(json_object_get(e, "desired"));
        rs->seq = (int)json_integer_value(json_object_get(e, "seq"));
        rs->removing = json_is_true(json_object_get(e, "removing"));
        json_array_foreach(json_object_get(e, "replicas"), j, r)
        {
            pid_t pid = (pid_t)json_integer_value(json_object_get(r, "pid"));
            unsigned long long st = (unsigned long long)json_integer_value(json_object_get(r, "starttime"));
            replica_t *rep;
            /* the same process, not a new one that got the same pid */
            if (pid <= 0 || kill(pid, 0) != 0 || proc_starttime(pid) != st)
                continue;
            if ((rep = calloc(1, sizeof(*rep))) == NULL)
                continue;
            snprintf(rep->name, sizeof(rep->name), "%s", json_string_value(json_object_get(r, "name")));
            rep->pid = pid;
            rep->port = (int)json_integer_value(json_object_get(r, "port"));
            rep->starttime = st;
            rep->restarts = (int)json_integer_value(json_object_get(r, "restarts"));
            rep->zygote = json_is_true(json_object_get(r, "zygote"));
            rep->state = KS_REP_STARTING; /* the health check says when it is ready */
            rep->last_exit = -1;
            rep->started_ns = now_ns();
            snprintf(rep->reason, sizeof(rep->reason), "Adopted");
            {
                /* keep the order: oldest first */
                replica_t **tail = &rs->replicas;
                while (*tail != NULL)
                    tail = &(*tail)->next;
                *tail = rep;
            }
        }
        if (rs->removing) {
            /* it was being stopped: finish that */
            for (replica_t *rp = rs->replicas; rp != NULL; rp = rp->next) {
                kill(rp->pid, SIGTERM);
                rp->state = KS_REP_TERMINATING;
                rp->term_deadline_ns = now_ns() + (uint64_t)GRACE_MS * 1000000u;
            }
        }
    }
    json_decref(arr);
    s->dirty = 1;
}

ks_supervisor_t *ks_supervisor_new(const char *home, char *err, size_t errlen)
{
    ks_supervisor_t *s = calloc(1, sizeof(*s));
    char logs[1100];
    if (s == NULL)
        return NULL;
    snprintf(s->home, sizeof(s->home), "%s", home);
    snprintf(logs, sizeof(logs), "%s/logs", home);
    if (mkdirs(logs) != 0) {
        ks_errorf(err, errlen, "cannot create %s: %s", logs, strerror(errno));
        free(s);
        return NULL;
    }
    adopt(s);
    return s;
}

static void free_set(revset_t *rs)
{
    replica_t *r, *n;
    for (r = rs->replicas; r != NULL; r = n) {
        n = r->next;
        free(r);
    }
    free_argv(rs->argv);
    free_argv(rs->env);
    free(rs);
}

void ks_supervisor_free(ks_supervisor_t *s)
{
    revset_t *rs, *n;
    if (s == NULL)
        return;
    if (s->dirty)
        persist(s);
    for (rs = s->sets; rs != NULL; rs = n) {
        n = rs->next;
        free_set(rs);
    }
    free(s);
}

static void terminate(replica_t *r);

static int same_argv(char *const *a, char *const *b)
{
    int i = 0;
    for (; a[i] != NULL && b[i] != NULL; ++i)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return a[i] == NULL && b[i] == NULL;
}

int ks_supervisor_set(ks_supervisor_t *s, const char *ns, const char *rev, int replicas, char *const *argv,
                      char *const *env, const char *health_path)
{
    revset_t *rs = find_set(s, ns, rev);
    if (rs != NULL && !same_argv(rs->argv, argv)) {
        /* the same name, another command: a deleted isvc's revision, re-created with another spec; retire the old */
        size_t l = strlen(rs->rev);
        snprintf(rs->rev + (l < sizeof(rs->rev) - 12 ? l : sizeof(rs->rev) - 12), 12, "~replaced");
        rs->removing = 1;
        rs->desired = 0;
        for (replica_t *r = rs->replicas; r != NULL; r = r->next)
            terminate(r);
        s->dirty = 1;
        rs = NULL;
    }
    if (rs == NULL && (rs = new_set(s, ns, rev, argv, env, health_path)) == NULL)
        return KS_ENOMEM;
    if (rs->desired != replicas || rs->removing)
        s->dirty = 1;
    rs->desired = replicas;
    rs->removing = 0;
    return 0;
}

/*
 * Stops a replica: it leaves the routes at once (it is no longer ready), and
 * SIGTERM follows PRESTOP_MS later, so that a request the ingress had already
 * picked it for still finds it listening (Kubernetes' preStop sleep).
 */
static void terminate(replica_t *r)
{
    if (r->state == KS_REP_TERMINATING)
        return;
    if (r->pid > 0) {
        r->sigterm_ns = r->state == KS_REP_READY ? now_ns() + PRESTOP_MS * 1000000ull : 0;
        if (r->sigterm_ns == 0)
            kill(r->pid, SIGTERM);
        r->state = KS_REP_TERMINATING;
        r->term_deadline_ns = now_ns() + (uint64_t)(GRACE_MS + PRESTOP_MS) * 1000000u;
    } else {
        r->state = KS_REP_TERMINATING;
        r->term_deadline_ns = 0;
    }
}

void ks_supervisor_prefer_zygote(ks_supervisor_t *s, const char *ns, const char *rev, int on)
{
    revset_t *rs = find_set(s, ns, rev);
    if (rs != NULL)
        rs->use_zygote = on;
}

void ks_supervisor_set_zygote(ks_supervisor_t *s, const char *sock_path, const char *status_dir)
{
    snprintf(s->zygote_sock, sizeof(s->zygote_sock), "%s", sock_path);
    snprintf(s->zygote_dir, sizeof(s->zygote_dir), "%s", status_dir);
}

void ks_supervisor_remove(ks_supervisor_t *s, const char *ns, const char *rev)
{
    revset_t *rs = find_set(s, ns, rev);
    if (rs == NULL)
        return;
    rs->removing = 1;
    rs->desired = 0;
    for (replica_t *r = rs->replicas; r != NULL; r = r->next)
        terminate(r);
    s->dirty = 1;
}

/* ---- processes ------------------------------------------------------------------ */

static int start(ks_supervisor_t *s, revset_t *rs, replica_t *r)
{
    char lpath[1400], dir[1300], portbuf[16];
    char **argv;
    int n = 0, fd;
    pid_t pid;

    if ((r->port = free_port()) < 0)
        return KS_EINTERNAL;
    snprintf(portbuf, sizeof(portbuf), "%d", r->port);
    while (rs->argv[n] != NULL)
        n++;
    if ((argv = calloc((size_t)n + 1, sizeof(char *))) == NULL)
        return KS_ENOMEM;
    for (int i = 0; i < n; ++i) {
        const char *a = rs->argv[i], *p = strstr(a, "{{port}}");
        if (p == NULL) {
            argv[i] = strdup(a);
        } else if ((argv[i] = malloc(strlen(a) + 16)) != NULL) {
            sprintf(argv[i], "%.*s%s%s", (int)(p - a), a, portbuf, p + 8);
        }
    }
    snprintf(dir, sizeof(dir), "%s/logs/%s/%s", s->home, rs->ns, rs->rev);
    mkdirs(dir);
    log_path(s, rs, r, lpath, sizeof(lpath));
    fd = open(lpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (rs->use_zygote && s->zygote_sock[0] && fd >= 0) {
        char zerr[256];
        pid = ks_zygote_spawn(s->zygote_sock, argv, rs->env, fd, zerr, sizeof(zerr));
        if (pid > 0) {
            close(fd);
            free_argv(argv);
            r->pid = pid;
            r->child = 0;
            r->zygote = 1;
            r->starttime = proc_starttime(pid);
            r->state = KS_REP_STARTING;
            r->started_ns = now_ns();
            s->dirty = 1;
            return 0;
        }
        /* no zygote (yet): start it the ordinary way */
    }
    pid = fork();
    if (pid == 0) {
        /* the child: only async-signal-safe calls until exec */
        sigset_t none;
        int nul = open("/dev/null", O_RDONLY);
        setsid();
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (nul >= 0)
            dup2(nul, 0);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        close_range(3, ~0U, 0);
        execve(argv[0], argv, rs->env);
        {
            static const char msg[] = "kserve supervisor: cannot execute the replica's command\n";
            ssize_t w = write(2, msg, sizeof(msg) - 1);
            (void)w;
        }
        _exit(127);
    }
    if (fd >= 0)
        close(fd);
    free_argv(argv);
    if (pid < 0) {
        snprintf(r->reason, sizeof(r->reason), "StartError");
        snprintf(r->message, sizeof(r->message), "fork failed: %s", strerror(errno));
        return KS_EINTERNAL;
    }
    r->pid = pid;
    r->child = 1;
    r->zygote = 0;
    r->starttime = proc_starttime(pid);
    r->state = KS_REP_STARTING;
    r->started_ns = now_ns();
    s->dirty = 1;
    return 0;
}

/* GET health on 127.0.0.1:port; 1 when it answers 200 */
static int healthy(int port, const char *path)
{
    struct sockaddr_in a;
    char req[256], buf[64];
    struct pollfd pfd;
    int fd, n, ok = 0;
    ssize_t got = 0;

    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS)
        goto out;
    pfd.fd = fd;
    pfd.events = POLLOUT;
    if (poll(&pfd, 1, 50) != 1 || (pfd.revents & (POLLERR | POLLHUP)))
        goto out;
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: kserve-supervisor\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n)
        goto out;
    pfd.events = POLLIN;
    while (got < 12 && poll(&pfd, 1, 200) == 1) {
        ssize_t k = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got);
        if (k <= 0)
            break;
        got += k;
    }
    buf[got] = '\0';
    ok = got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0;
out:
    close(fd);
    return ok;
}

static replica_t *find_pid(ks_supervisor_t *s, pid_t pid, revset_t **rsp)
{
    for (revset_t *rs = s->sets; rs != NULL; rs = rs->next)
        for (replica_t *r = rs->replicas; r != NULL; r = r->next)
            if (r->pid == pid) {
                *rsp = rs;
                return r;
            }
    return NULL;
}

static void exited(ks_supervisor_t *s, revset_t *rs, replica_t *r, int status)
{
    char lpath[1400], tail[400];
    uint64_t backoff;

    r->pid = 0;
    s->dirty = 1;
    if (r->state == KS_REP_TERMINATING)
        return; /* removed by the sweep */
    if (status >= 0 && WIFEXITED(status))
        r->last_exit = WEXITSTATUS(status);
    else if (status >= 0 && WIFSIGNALED(status))
        r->last_exit = 128 + WTERMSIG(status);
    else
        r->last_exit = -1;
    r->restarts++;
    backoff = (uint64_t)BACKOFF_MIN_MS << (r->restarts > 9 ? 9 : r->restarts - 1);
    if (backoff > BACKOFF_MAX_MS)
        backoff = BACKOFF_MAX_MS;
    r->next_start_ns = now_ns() + backoff * 1000000u;
    r->state = KS_REP_BACKOFF;
    log_path(s, rs, r, lpath, sizeof(lpath));
    log_tail(lpath, tail, sizeof(tail));
    snprintf(r->reason, sizeof(r->reason), "%s", r->restarts > 1 ? "CrashLoopBackOff" : "Error");
    if (status >= 0 && WIFSIGNALED(status))
        snprintf(r->message, sizeof(r->message), "killed by signal %d; restarting in %llu ms (restart %d)",
                 WTERMSIG(status), (unsigned long long)backoff, r->restarts);
    else
        snprintf(r->message, sizeof(r->message), "exited with code %d; restarting in %llu ms (restart %d)",
                 r->last_exit, (unsigned long long)backoff, r->restarts);
}

int ks_supervisor_tick(ks_supervisor_t *s)
{
    uint64_t now = now_ns();
    int status, want = 1000;
    pid_t pid;
    revset_t *rs, **rsp;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        replica_t *r = find_pid(s, pid, &rs);
        if (r != NULL)
            exited(s, rs, r, status);
    }
    for (rs = s->sets; rs != NULL; rs = rs->next) {
        int alive = 0;
        replica_t **rp, *r;
        /* adopted processes are not our children: watch them */
        for (r = rs->replicas; r != NULL; r = r->next)
            if (r->pid > 0 && !r->child && (kill(r->pid, 0) != 0 || proc_starttime(r->pid) != r->starttime))
                exited(s, rs, r, r->zygote ? ks_zygote_exit_status(s->zygote_dir, r->pid) : -1);
        for (r = rs->replicas; r != NULL; r = r->next)
            if (r->state != KS_REP_TERMINATING)
                alive++;
        /* scale down: not-ready before ready, the newest first (the list is oldest first) */
        if (alive > rs->desired) {
            replica_t *order[256];
            int n = 0;
            for (r = rs->replicas; r != NULL && n < 256; r = r->next)
                order[n++] = r;
            for (int pass = 0; pass < 2 && alive > rs->desired; ++pass)
                for (int k = n - 1; k >= 0 && alive > rs->desired; --k)
                    if (order[k]->state != KS_REP_TERMINATING && (pass == 1 || order[k]->state != KS_REP_READY)) {
                        terminate(order[k]);
                        alive--;
                        s->dirty = 1;
                    }
        }
        /* scale up */
        while (alive < rs->desired && !rs->removing) {
            replica_t *n = calloc(1, sizeof(*n));
            if (n == NULL)
                break;
            snprintf(n->name, sizeof(n->name), "%s-%d", rs->rev, ++rs->seq);
            n->state = KS_REP_BACKOFF;
            n->last_exit = -1;
            n->next_start_ns = now;
            /* append: oldest first */
            for (rp = &rs->replicas; *rp != NULL; rp = &(*rp)->next)
                ;
            *rp = n;
            alive++;
            s->dirty = 1;
        }
        for (rp = &rs->replicas; (r = *rp) != NULL;) {
            switch (r->state) {
            case KS_REP_BACKOFF:
                if (now >= r->next_start_ns) {
                    if (start(s, rs, r) != 0)
                        r->next_start_ns = now + 1000000000u;
                    want = 5;
                } else {
                    uint64_t ms = (r->next_start_ns - now) / 1000000u + 1;
                    if (ms < (uint64_t)want)
                        want = (int)ms;
                }
                break;
            case KS_REP_STARTING:
                if (r->pid > 0 && healthy(r->port, rs->health)) {
                    r->state = KS_REP_READY;
                    r->reason[0] = r->message[0] = '\0';
                    s->dirty = 1;
                } else {
                    /* poll fast: readiness is the latency of apply -> Ready and of a cold start */
                    want = now - r->started_ns < 1000000000u ? 1 : 5;
                }
                break;
            case KS_REP_TERMINATING:
                if (r->pid <= 0) {
                    /* gone: forget it */
                    *rp = r->next;
                    free(r);
                    s->dirty = 1;
                    continue;
                }
                if (r->sigterm_ns != 0 && now >= r->sigterm_ns) {
                    kill(r->pid, SIGTERM);
                    r->sigterm_ns = 0;
                }
                if (now >= r->term_deadline_ns)
                    kill(r->pid, SIGKILL);
                if (want > 20)
                    want = 20;
                break;
            default: break;
            }
            rp = &r->next;
        }
    }
    /* forget removed revisions with nothing left */
    for (rsp = &s->sets; (rs = *rsp) != NULL;) {
        if (rs->removing && rs->replicas == NULL) {
            *rsp = rs->next;
            free_set(rs);
            s->dirty = 1;
            continue;
        }
        rsp = &rs->next;
    }
    if (s->dirty) {
        /* something changed (a replica started, got ready, exited): the reconciler should look now */
        persist(s);
        return 0;
    }
    return want;
}

int ks_supervisor_ready_ports(ks_supervisor_t *s, const char *ns, const char *rev, int *ports, int max)
{
    revset_t *rs = find_set(s, ns, rev);
    int n = 0;
    if (rs == NULL)
        return 0;
    for (replica_t *r = rs->replicas; r != NULL && n < max; r = r->next)
        if (r->state == KS_REP_READY && r->pid > 0)
            ports[n++] = r->port;
    return n;
}

int ks_supervisor_pids(ks_supervisor_t *s, const char *ns, const char *rev, pid_t *pids, int *ready, int max)
{
    revset_t *rs = find_set(s, ns, rev);
    int n = 0;
    if (rs == NULL)
        return 0;
    for (replica_t *r = rs->replicas; r != NULL && n < max; r = r->next)
        if (r->pid > 0 && (r->state == KS_REP_READY || r->state == KS_REP_STARTING)) {
            pids[n] = r->pid;
            ready[n++] = r->state == KS_REP_READY;
        }
    return n;
}

void ks_supervisor_counts(ks_supervisor_t *s, const char *ns, const char *rev, int *desired, int *actual, int *ready)
{
    revset_t *rs = find_set(s, ns, rev);
    *desired = *actual = *ready = 0;
    if (rs == NULL)
        return;
    *desired = rs->desired;
    for (replica_t *r = rs->replicas; r != NULL; r = r->next) {
        if (r->state != KS_REP_TERMINATING && r->pid > 0)
            (*actual)++;
        if (r->state == KS_REP_READY && r->pid > 0)
            (*ready)++;
    }
}

static const char *state_name(ks_replica_state_t st)
{
    switch (st) {
    case KS_REP_STARTING: return "Starting";
    case KS_REP_READY: return "Ready";
    case KS_REP_BACKOFF: return "CrashLoopBackOff";
    case KS_REP_TERMINATING: return "Terminating";
    }
    return "Unknown";
}

json_t *ks_supervisor_status(ks_supervisor_t *s, const char *ns, const char *rev)
{
    json_t *arr = json_array();
    revset_t *rs = find_set(s, ns, rev);
    if (rs == NULL)
        return arr;
    for (replica_t *r = rs->replicas; r != NULL; r = r->next) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:s, s:i}", "name", r->name, "revision", rs->rev, "pid", (int)r->pid,
                              "port", r->port, "state",
                              r->state == KS_REP_BACKOFF && r->restarts == 0 ? "Pending" : state_name(r->state),
                              "restarts", r->restarts);
        if (r->reason[0])
            json_object_set_new(o, "reason", json_string(r->reason));
        if (r->message[0])
            json_object_set_new(o, "message", json_string(r->message));
        if (r->last_exit >= 0)
            json_object_set_new(o, "lastExitCode", json_integer(r->last_exit));
        if (r->restarts > 0 && r->state != KS_REP_READY) {
            char lpath[1400], tail[400];
            log_path(s, rs, r, lpath, sizeof(lpath));
            log_tail(lpath, tail, sizeof(tail));
            json_object_set_new(o, "lastLogLines", json_string(tail));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

int ks_supervisor_problem(ks_supervisor_t *s, const char *ns, const char *rev, char *reason, size_t rlen, char *msg,
                          size_t mlen, int *exit_code)
{
    revset_t *rs = find_set(s, ns, rev);
    if (rs == NULL)
        return 0;
    for (replica_t *r = rs->replicas; r != NULL; r = r->next) {
        /* crashed before, and not ready since: waiting to restart or restarting */
        if ((r->state == KS_REP_BACKOFF || r->state == KS_REP_STARTING) && r->restarts > 0) {
            char lpath[1400], tail[400];
            log_path(s, rs, r, lpath, sizeof(lpath));
            log_tail(lpath, tail, sizeof(tail));
            snprintf(reason, rlen, "%s", r->reason);
            snprintf(msg, mlen, "replica %s %s; last log lines:\n%s", r->name, r->message, tail);
            *exit_code = r->last_exit;
            return 1;
        }
    }
    return 0;
}

json_t *ks_supervisor_revisions(ks_supervisor_t *s)
{
    json_t *arr = json_array();
    for (revset_t *rs = s->sets; rs != NULL; rs = rs->next)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "namespace", rs->ns, "revision", rs->rev, "removing",
                                             rs->removing));
    return arr;
}

void ks_supervisor_shutdown(ks_supervisor_t *s, int grace_ms)
{
    uint64_t deadline = now_ns() + (uint64_t)grace_ms * 1000000u;
    int left;
    for (revset_t *rs = s->sets; rs != NULL; rs = rs->next) {
        rs->removing = 1;
        rs->desired = 0;
        for (replica_t *r = rs->replicas; r != NULL; r = r->next) {
            terminate(r);
            if (r->sigterm_ns != 0 && r->pid > 0)
                kill(r->pid, SIGTERM);
            r->sigterm_ns = 0;
        }
    }
    do {
        int status;
        pid_t pid;
        revset_t *rs;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            replica_t *r = find_pid(s, pid, &rs);
            if (r != NULL)
                r->pid = 0;
        }
        left = 0;
        for (rs = s->sets; rs != NULL; rs = rs->next)
            for (replica_t *r = rs->replicas; r != NULL; r = r->next) {
                if (r->pid > 0 && !r->child && kill(r->pid, 0) != 0)
                    r->pid = 0;
                if (r->pid > 0) {
                    left++;
                    if (now_ns() >= deadline)
                        kill(r->pid, SIGKILL);
                }
            }
        if (left > 0) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    } while (left > 0 && now_ns() < deadline + 5000000000u);
    ks_supervisor_tick(s); /* sweeps and persists an empty list */
}
