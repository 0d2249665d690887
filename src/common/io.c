/*
 * Whole reads and writes on sockets, bounded in time.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "ks/common.h"

int ks_send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int ks_recv_all(int fd, void *p, size_t n, int timeout_ms)
{
    char *c = p;
    while (n > 0) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t r;
        if (poll(&pfd, 1, timeout_ms) != 1)
            return -1;
        r = recv(fd, c, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}
