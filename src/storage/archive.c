/*
 * Unpacking a downloaded .tar.gz/.tgz/.zip into the model directory, safely:
 * every entry's name is checked before anything is written, files are
 * created without following symlinks, symlinks are made only once every file
 * is in place and must then resolve inside the directory, and the content
 * and the entry count are capped.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage_internal.h"

typedef struct deferred_link {
    char *name, *target;
} deferred_link_t;

/* name with control characters replaced and long names cut, for messages */
static const char *shown(const char *name, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = name; *p != '\0' && o + 4 < outlen; ++p)
        out[o++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    if (strlen(name) > o)
        out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o] = '\0';
    return out;
}

static void split(const char *rel, char *parent, size_t plen, const char **leaf)
{
    const char *slash = strrchr(rel, '/');
    size_t n = slash != NULL ? (size_t)(slash - rel) : 0;
    if (n >= plen)
        n = plen - 1;
    memcpy(parent, rel, n);
    parent[n] = '\0';
    *leaf = slash != NULL ? slash + 1 : rel;
}

static int copy_data(struct archive *a, int fd, uint64_t *total, uint64_t max_bytes)
{
    char buf[65536];
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
        if (n == 0)
            return 0;
        if (n < 0)
            return KS_EINVAL;
        if ((uint64_t)n > max_bytes - *total)
            return KS_ETOOBIG;
        *total += (uint64_t)n;
        for (la_ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return KS_EINTERNAL;
            off += w;
        }
    }
}

static int make_hardlink(int dirfd, const char *name, const char *target)
{
    char np[PATH_MAX], tp[PATH_MAX];
    const char *nleaf, *tleaf;
    int nfd, tfd, r = 0;

    split(name, np, sizeof(np), &nleaf);
    split(target, tp, sizeof(tp), &tleaf);
    if ((nfd = ks__storage_open_dir(dirfd, np, 1)) < 0)
        return nfd;
    if ((tfd = ks__storage_open_dir(dirfd, tp, 0)) < 0) {
        close(nfd);
        return tfd;
    }
    if (linkat(tfd, tleaf, nfd, nleaf, 0) != 0)
        r = -errno;
    close(tfd);
    close(nfd);
    return r;
}

int ks__storage_unpack(const char *path, int kind, const char *dir, uint64_t max_bytes, uint64_t max_entries, char *err,
                       size_t errlen)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    deferred_link_t *links = NULL;
    size_t nlinks = 0;
    uint64_t entries = 0, total = 0;
    char clean[PATH_MAX], ctarget[PATH_MAX], root[PATH_MAX], s1[256], s2[256];
    int r = 0, ar, dirfd = -1;

    if (a == NULL) {
        ks_errorf(err, errlen, "out of memory");
        return KS_ENOMEM;
    }
    if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        ks_errorf(err, errlen, "%s: %s", dir, strerror(errno));
        archive_read_free(a);
        return KS_EINTERNAL;
    }
    if (kind == 1) {
        archive_read_support_filter_gzip(a);
        archive_read_support_format_tar(a);
    } else {
        archive_read_support_format_zip(a);
    }
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        ks_errorf(err, errlen, "archive %s: %s", base, archive_error_string(a));
        r = KS_EINVAL;
        goto out;
    }
    while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(e);
        const char *hl = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        int c, fd;

        if (name == NULL) {
            ks_errorf(err, errlen, "archive %s: entry %llu has no name", base, (unsigned long long)entries + 1);
            r = KS_EINVAL;
            goto out;
        }
        if (++entries > max_entries) {
            ks_errorf(err, errlen, "archive %s: entry \"%s\" is past the cap of %llu entries", base,
                      shown(name, s1, sizeof(s1)), (unsigned long long)max_entries);
            r = KS_ETOOBIG;
            goto out;
        }
        if ((c = ks__storage_clean_relpath(name, clean, sizeof(clean))) < 0) {
            ks_errorf(err, errlen, "archive %s: entry \"%s\": absolute paths and \"..\" are not allowed", base,
                      shown(name, s1, sizeof(s1)));
            r = KS_EINVAL;
            goto out;
        }
        if (hl != NULL) {
            if (c == 1 || ks__storage_clean_relpath(hl, ctarget, sizeof(ctarget)) != 0) {
                ks_errorf(err, errlen, "archive %s: entry \"%s\": hard link to \"%s\" leads outside the model", base,
                          shown(name, s1, sizeof(s1)), shown(hl, s2, sizeof(s2)));
                r = KS_EINVAL;
                goto out;
            }
            if ((fd = make_hardlink(dirfd, clean, ctarget)) != 0) {
                ks_errorf(err, errlen, "archive %s: entry \"%s\": hard link to \"%s\": %s", base,
                          shown(name, s1, sizeof(s1)), shown(hl, s2, sizeof(s2)), strerror(-fd));
                r = KS_EINVAL;
                goto out;
            }
            continue;
        }
        if (type == AE_IFDIR) {
            if (c == 1)
                continue; /* "./" */
            if ((fd = ks__storage_open_dir(dirfd, clean, 1)) < 0) {
                ks_errorf(err, errlen, "archive %s: entry \"%s\": %s", base, shown(name, s1, sizeof(s1)),
                          strerror(-fd));
                r = KS_EINVAL;
                goto out;
            }
            close(fd);
        } else if (type == AE_IFREG && c == 0) {
            if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
                (uint64_t)archive_entry_size(e) > max_bytes - total) {
                r = KS_ETOOBIG;
            } else if ((fd = ks__storage_create_file(dirfd, clean, archive_entry_perm(e) & 0111 ? 0755 : 0644)) < 0) {
                ks_errorf(err, errlen, "archive %s: entry \"%s\": %s", base, shown(name, s1, sizeof(s1)),
                          strerror(-fd));
                r = KS_EINVAL;
                goto out;
            } else {
                r = copy_data(a, fd, &total, max_bytes);
                if (close(fd) != 0 && r == 0)
                    r = KS_EINTERNAL;
            }
            if (r == KS_ETOOBIG)
                ks_errorf(err, errlen, "archive %s: entry \"%s\" takes the unpacked size past the cap of %llu bytes",
                          base, shown(name, s1, sizeof(s1)), (unsigned long long)max_bytes);
            else if (r == KS_EINVAL)
                ks_errorf(err, errlen, "archive %s: entry \"%s\": %s", base, shown(name, s1, sizeof(s1)),
                          archive_error_string(a) != NULL ? archive_error_string(a) : "unreadable data");
            else if (r != 0)
                ks_errorf(err, errlen, "archive %s: entry \"%s\": writing: %s", base, shown(name, s1, sizeof(s1)),
                          strerror(errno));
            if (r != 0)
                goto out;
        } else if (type == AE_IFLNK && c == 0) {
            const char *target = archive_entry_symlink(e);
            deferred_link_t *p;
            if (target == NULL || ks__storage_check_link(clean, target) != 0) {
                ks_errorf(err, errlen, "archive %s: entry \"%s\": symlink to \"%s\" leads outside the model", base,
                          shown(name, s1, sizeof(s1)), target != NULL ? shown(target, s2, sizeof(s2)) : "");
                r = KS_EINVAL;
                goto out;
            }
            if ((p = realloc(links, (nlinks + 1) * sizeof(*p))) == NULL) {
                r = KS_ENOMEM;
                goto out;
            }
            links = p;
            links[nlinks].name = strdup(clean);
            links[nlinks].target = strdup(target);
            if (links[nlinks++].name == NULL || links[nlinks - 1].target == NULL) {
                r = KS_ENOMEM;
                goto out;
            }
        } else {
            ks_errorf(err, errlen, "archive %s: entry \"%s\": only files, directories and links are allowed", base,
                      shown(name, s1, sizeof(s1)));
            r = KS_EINVAL;
            goto out;
        }
    }
    if (ar != ARCHIVE_EOF) {
        ks_errorf(err, errlen, "archive %s: %s", base, archive_error_string(a));
        r = KS_EINVAL;
        goto out;
    }
    /* symlinks last, so that no file above was written through one; then each must resolve inside */
    for (size_t i = 0; i < nlinks; ++i) {
        char parent[PATH_MAX];
        const char *leaf;
        int pfd;
        split(links[i].name, parent, sizeof(parent), &leaf);
        if ((pfd = ks__storage_open_dir(dirfd, parent, 1)) < 0 || symlinkat(links[i].target, pfd, leaf) != 0) {
            int e2 = pfd < 0 ? -pfd : errno;
            ks_errorf(err, errlen, "archive %s: entry \"%s\": %s", base, shown(links[i].name, s1, sizeof(s1)),
                      strerror(e2));
            if (pfd >= 0)
                close(pfd);
            r = KS_EINVAL;
            goto out;
        }
        close(pfd);
    }
    if (nlinks != 0 && realpath(dir, root) == NULL) {
        ks_errorf(err, errlen, "%s: %s", dir, strerror(errno));
        r = KS_EINTERNAL;
        goto out;
    }
    for (size_t i = 0; i < nlinks; ++i) {
        char at[PATH_MAX * 2], real[PATH_MAX];
        size_t rl = strlen(root);
        snprintf(at, sizeof(at), "%s/%s", dir, links[i].name);
        if (realpath(at, real) == NULL || strncmp(real, root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
            ks_errorf(err, errlen, "archive %s: entry \"%s\": symlink to \"%s\" does not lead to a file of the model",
                      base, shown(links[i].name, s1, sizeof(s1)), shown(links[i].target, s2, sizeof(s2)));
            r = KS_EINVAL;
            goto out;
        }
    }
out:
    for (size_t i = 0; i < nlinks; ++i) {
        free(links[i].name);
        free(links[i].target);
    }
    free(links);
    archive_read_free(a);
    close(dirfd);
    return r;
}
