/*
 * The file-system side of the model cache: creating files under a directory
 * without ever following a symlink, removing trees, and the per-uri lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage_internal.h"

int ks__storage_open_dir(int dirfd, const char *rel, int create)
{
    char buf[PATH_MAX];
    char *p, *save = NULL;
    int cur;

    if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    if ((cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) < 0)
        return -errno;
    for (p = strtok_r(buf, "/", &save); p != NULL; p = strtok_r(NULL, "/", &save)) {
        int next;
        if (create && mkdirat(cur, p, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            close(cur);
            return -e;
        }
        next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(cur);
        if (next < 0)
            return -errno;
        cur = next;
    }
    return cur;
}

int ks__storage_create_file(int dirfd, const char *rel, mode_t mode)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(rel, '/');
    const char *leaf = slash != NULL ? slash + 1 : rel;
    int pfd, fd, e;

    if ((size_t)(leaf - rel) >= sizeof(parent))
        return -ENAMETOOLONG;
    memcpy(parent, rel, (size_t)(leaf - rel));
    parent[leaf - rel] = '\0';
    if ((pfd = ks__storage_open_dir(dirfd, parent, 1)) < 0)
        return pfd;
    fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    e = errno;
    close(pfd);
    return fd >= 0 ? fd : -e;
}

/* Removes everything in the directory fd (which it closes). */
static int rm_children(int fd)
{
    DIR *d = fdopendir(fd);
    struct dirent *de;
    int r = 0;

    if (d == NULL) {
        r = -errno;
        close(fd);
        return r;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                rm_children(sub);
            if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) != 0 && r == 0)
                r = -errno;
        } else if (unlinkat(dirfd(d), de->d_name, 0) != 0 && r == 0) {
            r = -errno;
        }
    }
    closedir(d);
    return r;
}

int ks__storage_rmtree(const char *path)
{
    struct stat st;
    int fd, r;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? 0 : -errno;
    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return -errno;
    r = rm_children(fd);
    if (rmdir(path) != 0 && r == 0)
        r = -errno;
    return r;
}

static void lock_path(char *out, size_t outlen, const char *cache_root, const char *key)
{
    snprintf(out, outlen, "%s/.%s.lock", cache_root, key);
}

/*
 * flock on cache_root/.KEY.lock.  The holder removes the file before it lets
 * go, so a waiter that wakes up on a file no longer at that path retries on
 * a fresh one; the lock therefore leaves nothing behind in the cache.
 */
int ks__storage_lock(const char *cache_root, const char *key, int *fdp)
{
    char path[PATH_MAX];

    lock_path(path, sizeof(path), cache_root, key);
    for (;;) {
        struct stat a, b;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            return -errno;
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                int e = errno;
                close(fd);
                return -e;
            }
        }
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            *fdp = fd;
            return 0;
        }
        close(fd);
    }
}

void ks__storage_unlock(const char *cache_root, const char *key, int fd)
{
    char path[PATH_MAX];

    lock_path(path, sizeof(path), cache_root, key);
    unlink(path);
    close(fd);
}
