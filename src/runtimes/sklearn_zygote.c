/*
 * The zygote process itself (`kserve zygote`): lives in the scikit-learn
 * plugin, next to the interpreter it keeps warm.  See include/ks/zygote.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ks/runtime.h"
#include "ks/server.h"
#include "ks/zygote.h"

#define MAX_REQ (256 * 1024)
#define MAX_STRS 4096

/* ---- the zygote process ------------------------------------------------------------------ */

static char *title_start;
static size_t title_len;

/* Rewrites this process's command line in place (what ps and /proc/PID/cmdline show). */
static void set_title(char *const *argv)
{
    size_t off = 0;
    if (title_start == NULL)
        return;
    memset(title_start, 0, title_len);
    for (int i = 0; argv[i] != NULL && off < title_len - 1; ++i) {
        size_t l = strlen(argv[i]);
        if (off + l + 1 > title_len - 1)
            l = title_len - 2 - off;
        memcpy(title_start + off, argv[i], l);
        off += l + 1;
    }
}

static void reap(const char *status_dir)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        char path[1200], tmp[1200], buf[32];
        int fd, n;
        snprintf(path, sizeof(path), "%s/exit-%d", status_dir, (int)pid);
        snprintf(tmp, sizeof(tmp), "%s/.exit-%d", status_dir, (int)pid);
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) >= 0) {
            n = snprintf(buf, sizeof(buf), "%d\n", st);
            if (write(fd, buf, (size_t)n) != n)
                n = -1;
            close(fd);
            rename(tmp, path);
        }
    }
}

static char **take_strs(char **p, char *end)
{
    uint32_t n;
    char **v;
    if (end - *p < 4)
        return NULL;
    memcpy(&n, *p, 4);
    *p += 4;
    if (n > MAX_STRS || (v = calloc(n + 1, sizeof(char *))) == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; ++i) {
        char *z = memchr(*p, '\0', (size_t)(end - *p));
        if (z == NULL) {
            free(v);
            return NULL;
        }
        v[i] = *p;
        *p = z + 1;
    }
    return v;
}

static void serve_one(int listen_fd, int c, const char *status_dir)
{
    char cbuf[CMSG_SPACE(sizeof(int))], *buf = NULL, *p;
    uint32_t len;
    struct msghdr mh;
    struct iovec iov;
    struct cmsghdr *cm;
    int log_fd = -1, argc = 0;
    char **argv = NULL, **env = NULL;
    int32_t pid = -1;

    memset(&mh, 0, sizeof(mh));
    iov.iov_base = &len;
    iov.iov_len = 4;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    if (recvmsg(c, &mh, MSG_CMSG_CLOEXEC) != 4 || len > MAX_REQ)
        goto out;
    for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            memcpy(&log_fd, CMSG_DATA(cm), sizeof(int));
    if ((buf = malloc(len + 1)) == NULL || ks_recv_all(c, buf, len, 5000) != 0)
        goto out;
    p = buf;
    if ((argv = take_strs(&p, buf + len)) == NULL || (env = take_strs(&p, buf + len)) == NULL || argv[0] == NULL)
        goto out;
    while (argv[argc] != NULL)
        argc++;
    /* only model servers: argv is [exe, "model-server", flags...] */
    if (argc < 2 || strcmp(argv[1], "model-server") != 0)
        goto out;

    ks_sklearn_before_fork();
    pid = fork();
    if (pid == 0) {
        /* the replica */
        sigset_t none;
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ks_sklearn_after_fork(1);
        close(listen_fd);
        close(c);
        setsid();
        prctl(PR_SET_PDEATHSIG, 0);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        if (nul >= 0)
            dup2(nul, 0);
        if (log_fd >= 0) {
            dup2(log_fd, 1);
            dup2(log_fd, 2);
            close(log_fd);
        }
        clearenv();
        for (char **e = env; *e != NULL; ++e)
            putenv(strdup(*e));
        set_title(argv);
        prctl(PR_SET_NAME, "kserve", 0, 0, 0);
        _exit(ks_model_server_main(argc - 1, argv + 1));
    }
    ks_sklearn_after_fork(0);
    if (pid < 0)
        pid = -1;
out:
    if (ks_send_all(c, &pid, sizeof(pid)) != 0 && pid > 0)
        fprintf(stderr, "kserve zygote: the supervisor went away after asking for pid %d\n", (int)pid);
    if (log_fd >= 0)
        close(log_fd);
    free(argv);
    free(env);
    free(buf);
    reap(status_dir);
}

int ks_zygote_main(int argc, char **argv)
{
    struct sockaddr_un sa;
    char err[KS_ERRLEN];
    int fd;
    sigset_t sigs;

    if (argc < 3) {
        fprintf(stderr, "usage: kserve zygote SOCKET STATUS_DIR [PADDING]\n");
        return 2;
    }
    /* the room ps shows: from argv[0] to the end of the last argument */
    title_start = argv[-1] != NULL ? argv[-1] : argv[0];
    title_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - title_start);

    /* die with the daemon that started us (replicas forked from here do not) */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        return 0;
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    mkdir(argv[2], 0755);

    if (ks_sklearn_preload(err, sizeof(err)) != 0) {
        fprintf(stderr, "kserve zygote: %s\n", err);
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
    unlink(argv[1]);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 64) != 0) {
        fprintf(stderr, "kserve zygote: cannot listen on %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    fprintf(stderr, "kserve zygote: ready on %s\n", argv[1]);
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, 100);
        reap(argv[2]);
        if (getppid() == 1)
            break; /* the daemon is gone */
        if (r == 1) {
            int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                serve_one(fd, c, argv[2]);
                close(c);
            }
        }
    }
    unlink(argv[1]);
    return 0;
}
