/*
 * The storage initializer: a storageUri in, a local model directory out.
 *
 * The model cache (cache_root) holds one directory per remote storageUri,
 * named by the SHA-256 of the uri.  A download fills cache_root/.KEY.tmp-XXXXXX
 * while holding cache_root/.KEY.lock (flock) and ends with one rename() of the
 * finished model directory to cache_root/KEY; a directory at that name is
 * therefore always complete, and a failure (or a crash: the next holder of
 * the lock removes what it finds) leaves nothing behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage_internal.h"

typedef int (*fill_cb)(ks__storage_fetch_t *f, const char *uri, const ks__storage_uri_t *u, const char *arg);

int ks_storage_check_uri(const char *uri, char *err, size_t errlen)
{
    ks__storage_uri_t u;
    int r = ks__storage_parse_uri(uri, &u, err, errlen);
    if (r == 0)
        ks__storage_uri_free(&u);
    return r;
}

static int put_out(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    if (snprintf(out, outlen, "%s", path) >= (int)outlen) {
        ks_errorf(err, errlen, "the model directory %s is longer than the %zu bytes given for it", path, outlen);
        return KS_ETOOBIG;
    }
    return 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p != '\0'; ++p) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -errno : 0;
}

/* Removes what a download that died left behind (only ever called holding the key's lock). */
static void remove_stale(const char *root, const char *key)
{
    char prefix[80], path[PATH_MAX];
    DIR *d = opendir(root);
    struct dirent *de;

    if (d == NULL)
        return;
    snprintf(prefix, sizeof(prefix), ".%s.tmp-", key);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
            snprintf(path, sizeof(path), "%s/%s", root, de->d_name) < (int)sizeof(path))
            ks__storage_rmtree(path);
    }
    closedir(d);
}

static long stall_timeout(void)
{
    const char *v = getenv("KSERVE_STORAGE_STALL_SECONDS");
    long n = v != NULL ? strtol(v, NULL, 10) : 0;
    return n > 0 && n <= 86400 ? n : KS__STORAGE_STALL_TIMEOUT;
}

/*
 * Returns cache_root/KEY, filling it with fill(arg) first unless it is there
 * already; see the comment at the top of the file.
 */
static int cached(const char *uri, const ks__storage_uri_t *u, const char *cache_root, fill_cb fill, const char *arg,
                  ks_storage_progress_cb cb, void *cbdata, char *out, size_t outlen, char *err, size_t errlen)
{
    char root[PATH_MAX], key[65], final[PATH_MAX + 80], work[PATH_MAX + 80], model[PATH_MAX + 96];
    ks__storage_fetch_t f = {.uri = uri, .dirfd = -1, .workfd = -1, .cb = cb, .cbdata = cbdata, .err = err,
                             .errlen = errlen, .stall_timeout = stall_timeout()};
    int lockfd = -1, r;

    if (cache_root == NULL || *cache_root == '\0') {
        ks_errorf(err, errlen, "storageUri %s: no model cache directory to download into", uri);
        return KS_EINVAL;
    }
    if ((r = mkdir_p(cache_root)) != 0 || realpath(cache_root, root) == NULL) {
        ks_errorf(err, errlen, "model cache %s: %s", cache_root, strerror(r != 0 ? -r : errno));
        return KS_EINTERNAL;
    }
    ks__storage_cache_key(uri, key);
    snprintf(final, sizeof(final), "%s/%s", root, key);
    if (is_dir(final)) /* the rename that put it there came after the last byte */
        return put_out(final, out, outlen, err, errlen);
    if ((r = ks__storage_lock(root, key, &lockfd)) != 0) {
        ks_errorf(err, errlen, "model cache %s: locking: %s", root, strerror(-r));
        return KS_EINTERNAL;
    }
    if (is_dir(final)) { /* another process downloaded it while we waited */
        r = put_out(final, out, outlen, err, errlen);
        goto unlock;
    }
    remove_stale(root, key);
    snprintf(work, sizeof(work), "%s/.%s.tmp-XXXXXX", root, key);
    if (mkdtemp(work) == NULL) {
        ks_errorf(err, errlen, "model cache %s: creating a download directory: %s", root, strerror(errno));
        r = KS_EINTERNAL;
        goto unlock;
    }
    snprintf(model, sizeof(model), "%s/m", work);
    if (mkdir(model, 0755) != 0 || (f.workfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (f.dirfd = open(model, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        ks_errorf(err, errlen, "model cache %s: creating a download directory: %s", root, strerror(errno));
        r = KS_EINTERNAL;
        goto cleanup;
    }
    f.work = work;
    f.dir = model;
    if (u->scheme != KS__STORAGE_LOCAL && u->scheme != KS__STORAGE_PVC && (f.curl = ks__storage_curl_new()) == NULL) {
        ks_errorf(err, errlen, "out of memory");
        r = KS_ENOMEM;
        goto cleanup;
    }
    if ((r = fill(&f, uri, u, arg)) != 0)
        goto cleanup;
    f.total = f.done;
    ks__storage_progress(&f, 1);
    /* durable before visible */
    if (syncfs(f.dirfd) != 0 || rename(model, final) != 0) {
        if (is_dir(final)) { /* someone put it there without the lock: theirs is as good */
            r = put_out(final, out, outlen, err, errlen);
            goto cleanup;
        }
        ks_errorf(err, errlen, "model cache %s: moving the download into place: %s", root, strerror(errno));
        r = KS_EINTERNAL;
        goto cleanup;
    }
    r = put_out(final, out, outlen, err, errlen);
cleanup:
    if (f.curl != NULL)
        curl_easy_cleanup(f.curl);
    if (f.dirfd >= 0)
        close(f.dirfd);
    if (f.workfd >= 0)
        close(f.workfd);
    ks__storage_rmtree(work);
unlock:
    ks__storage_unlock(root, key, lockfd);
    return r;
}

static int fill_remote(ks__storage_fetch_t *f, const char *uri, const ks__storage_uri_t *u, const char *arg)
{
    (void)arg;
    switch (u->scheme) {
    case KS__STORAGE_HTTP: return ks__storage_fetch_http(f, uri, u);
    case KS__STORAGE_S3: return ks__storage_fetch_s3(f, u);
    case KS__STORAGE_GCS: return ks__storage_fetch_gcs(f, u);
    case KS__STORAGE_HF: return ks__storage_fetch_hf(f, u);
    default: KS_ASSERT(!"not a remote scheme"); return KS_EINTERNAL;
    }
}

/* A single local file: the model directory holds a symlink named like it. */
static int fill_symlink(ks__storage_fetch_t *f, const char *uri, const ks__storage_uri_t *u, const char *target)
{
    const char *name = strrchr(target, '/') + 1;
    (void)u;
    if (symlinkat(target, f->dirfd, name) != 0) {
        ks_errorf(f->err, f->errlen, "storageUri %s: linking %s: %s", uri, target, strerror(errno));
        return KS_EINTERNAL;
    }
    return 0;
}

static int fetch_local(const char *uri, const ks__storage_uri_t *u, const char *cache_root, const char *pvc_root,
                       char *out, size_t outlen, char *err, size_t errlen)
{
    char path[PATH_MAX * 2], real[PATH_MAX];
    struct stat st;

    if (u->scheme == KS__STORAGE_PVC)
        snprintf(path, sizeof(path), "%s/%s%s%s", pvc_root != NULL ? pvc_root : KS_STORAGE_PVC_ROOT, u->bucket,
                 u->path[0] != '\0' ? "/" : "", u->path);
    else
        snprintf(path, sizeof(path), "%s", u->path);
    if (realpath(path, real) == NULL || stat(real, &st) != 0) {
        ks_errorf(err, errlen, "storageUri %s: %s: %s", uri, path, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? KS_ENOENT : KS_EINTERNAL;
    }
    if (S_ISDIR(st.st_mode))
        return put_out(real, out, outlen, err, errlen);
    if (!S_ISREG(st.st_mode)) {
        ks_errorf(err, errlen, "storageUri %s: %s is neither a file nor a directory", uri, real);
        return KS_EINVAL;
    }
    return cached(uri, u, cache_root, fill_symlink, real, NULL, NULL, out, outlen, err, errlen);
}

int ks_storage_fetch(const char *uri, const char *cache_root, const char *pvc_root, char *out, size_t outlen,
                     ks_storage_progress_cb cb, void *cbdata, char *err, size_t errlen)
{
    ks__storage_uri_t u;
    int r;

    if ((r = ks__storage_parse_uri(uri, &u, err, errlen)) != 0)
        return r;
    if (u.scheme == KS__STORAGE_LOCAL || u.scheme == KS__STORAGE_PVC)
        r = fetch_local(uri, &u, cache_root, pvc_root, out, outlen, err, errlen);
    else
        r = cached(uri, &u, cache_root, fill_remote, NULL, cb, cbdata, out, outlen, err, errlen);
    ks__storage_uri_free(&u);
    return r;
}
