/*
 * The storage initializer: turns an InferenceService's storageUri into a
 * local model directory that replicas read from.
 *
 * Local paths, file:// and pvc:// are used where they are.  Remote models
 * (http(s)://, s3://, gs://, hf://) are downloaded once into a
 * content-addressed model cache, cache_root/<sha256 of the uri>/, so that a
 * second InferenceService with the same storageUri, or a replica scaled up
 * from zero, finds them there and downloads nothing.
 */
#ifndef KS_STORAGE_H
#define KS_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ks/common.h"

/* Caps on what an archive (.tar.gz, .tgz, .zip) may unpack to. */
#define KS_STORAGE_MAX_UNPACKED_BYTES (16ull << 30)  /* 16 GiB in all */
#define KS_STORAGE_MAX_ARCHIVE_ENTRIES 100000
/* Caps on a remote model: bytes downloaded in all, and objects listed. */
#define KS_STORAGE_MAX_DOWNLOAD_BYTES (1ull << 40)   /* 1 TiB */
#define KS_STORAGE_MAX_OBJECTS 100000
/* The PVC root when the caller passes NULL: claim NAME lives at /mnt/pvc/NAME. */
#define KS_STORAGE_PVC_ROOT "/mnt/pvc"

/*
 * Called while a model downloads: done bytes of total (0: not known yet) for
 * the storageUri uri.  Called at most once per MiB or per second, and once
 * more when the download is complete; from the thread that called
 * ks_storage_fetch.
 */
typedef void (*ks_storage_progress_cb)(void *data, const char *uri, uint64_t done, uint64_t total);

/*
 * Checks a storageUri's form when an InferenceService is applied, without
 * touching the network or the disk: a known scheme (a local path, file://,
 * pvc://, http(s)://, s3://, gs://, hf://) with what it needs (a bucket, a
 * file name, org/model).  Returns 0, or KS_EINVAL with the reason in err.
 */
int ks_storage_check_uri(const char *uri, char *err, size_t errlen);

/*
 * Makes the model at uri available as a local directory and writes its
 * absolute path to out (outlen bytes).
 *
 * A local path, file:///path and pvc://NAME/PATH (pvc_root/NAME/PATH; pvc_root
 * NULL means KS_STORAGE_PVC_ROOT) are not copied: out is the directory itself,
 * or, when the uri names a single file, a cache directory holding a symlink
 * to it.  http(s)://, s3://, gs:// and hf:// are downloaded once into
 * cache_root/<sha256 of uri>/; later calls, from any thread or process, find
 * the directory there and download nothing.  A download fills a temporary
 * directory under cache_root that is renamed into place only once complete
 * and verified, so a failed or partial download is never returned and leaves
 * nothing behind.  Concurrent calls for the same uri take a lock (flock) in
 * cache_root: one downloads, the others wait for it and reuse its result.
 *
 * cb (may be NULL) reports progress.  Returns 0; KS_EINVAL for a malformed
 * uri or an unsafe archive; KS_ENOENT when the model is not there (a missing
 * path, HTTP 404, no objects under a prefix); KS_ETOOBIG over a size cap;
 * KS_EUNAVAIL when a server cannot be reached or fails; KS_EINTERNAL for a
 * local I/O error.  err names the URL and the cause.
 */
int ks_storage_fetch(const char *uri, const char *cache_root, const char *pvc_root, char *out, size_t outlen,
                     ks_storage_progress_cb cb, void *cbdata, char *err, size_t errlen);

/*
 * `kserve storage-initializer URI CACHE_DIR [--pvc_root DIR]`: fetches the
 * model and prints its local directory on stdout.  Returns the exit status:
 * 0, 1 with the cause on stderr, 2 for a usage error.
 */
int ks_storage_main(int argc, char **argv);

#endif
