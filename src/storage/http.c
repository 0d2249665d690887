/*
 * http:// and https://: one file, saved under the name the URL ends with; a
 * .tar.gz, .tgz or .zip is unpacked into the model directory instead.
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "storage_internal.h"

int ks__storage_fetch_http(ks__storage_fetch_t *f, const char *uri, const ks__storage_uri_t *u)
{
    int kind = ks__storage_archive_kind(u->filename);
    int saved = f->dirfd, r;
    char path[PATH_MAX];

    f->total_from_response = 1;
    if (kind == 0)
        return ks__storage_get_file(f, uri, NULL, u->filename, UINT64_MAX);
    /* the archive goes beside the model directory, so no entry can collide with it */
    f->dirfd = f->workfd;
    r = ks__storage_get_file(f, uri, NULL, u->filename, UINT64_MAX);
    f->dirfd = saved;
    if (r != 0)
        return r;
    snprintf(path, sizeof(path), "%s/%s", f->work, u->filename);
    r = ks__storage_unpack(path, kind, f->dir, KS_STORAGE_MAX_UNPACKED_BYTES, KS_STORAGE_MAX_ARCHIVE_ENTRIES, f->err,
                           f->errlen);
    unlink(path);
    if (r != 0) {
        char why[1024];
        snprintf(why, sizeof(why), "%s", f->err);
        ks_errorf(f->err, f->errlen, "%s: %s", uri, why);
    }
    return r;
}
