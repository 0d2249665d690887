/*
 * The zygote, the supervisor's side: asking for a replica.  See include/ks/zygote.h.
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

#include "ks/zygote.h"

#define MAX_REQ (256 * 1024)
#define MAX_STRS 4096

/* ---- the wire: u32 length, then argc, argv..., envc, env... as NUL-terminated strings ---- */

static size_t put_strs(char *buf, size_t off, size_t cap, char *const *v)
{
    uint32_t n = 0;
    size_t at = off;
    for (; v != NULL && v[n] != NULL; ++n)
        ;
    if (off + 4 > cap)
        return SIZE_MAX;
    memcpy(buf + off, &n, 4);
    off += 4;
    for (uint32_t i = 0; i < n; ++i) {
        size_t l = strlen(v[i]) + 1;
        if (off + l > cap)
            return SIZE_MAX;
        memcpy(buf + off, v[i], l);
        off += l;
    }
    (void)at;
    return off;
}

pid_t ks_zygote_spawn(const char *sock_path, char *const *argv, char *const *env, int log_fd, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    char *buf = malloc(MAX_REQ), cbuf[CMSG_SPACE(sizeof(int))];
    size_t len;
    uint32_t len32;
    int32_t pid = -1;
    int fd = -1;
    struct msghdr mh;
    struct iovec iov;
    struct cmsghdr *cm;

    if (buf == NULL)
        return -1;
    if ((len = put_strs(buf, 4, MAX_REQ, argv)) == SIZE_MAX || (len = put_strs(buf, len, MAX_REQ, env)) == SIZE_MAX) {
        ks_errorf(err, errlen, "command line too long for the zygote");
        goto out;
    }
    len32 = (uint32_t)(len - 4);
    memcpy(buf, &len32, 4);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        ks_errorf(err, errlen, "zygote not available: %s", strerror(errno));
        goto out;
    }
    /* the header travels with the log descriptor */
    memset(&mh, 0, sizeof(mh));
    iov.iov_base = buf;
    iov.iov_len = 4;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &log_fd, sizeof(int));
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) != 4 || ks_send_all(fd, buf + 4, len - 4) != 0 ||
        ks_recv_all(fd, &pid, sizeof(pid), 5000) != 0 || pid <= 0) {
        ks_errorf(err, errlen, "the zygote did not start the replica");
        pid = -1;
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return (pid_t)pid;
}

int ks_zygote_exit_status(const char *status_dir, pid_t pid)
{
    char path[1200], buf[32];
    int fd, st = -1;
    ssize_t n;
    snprintf(path, sizeof(path), "%s/exit-%d", status_dir, (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    unlink(path);
    if (n > 0) {
        buf[n] = '\0';
        st = atoi(buf);
    }
    return st;
}

