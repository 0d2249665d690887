/*
 * The storage initializer's internals, shared by the files of src/storage/
 * and exposed to tests/unit/test_storage.c.
 */
#ifndef KS_STORAGE_INTERNAL_H
#define KS_STORAGE_INTERNAL_H

#include <sys/types.h>

#include <curl/curl.h>

#include "ks/buf.h"
#include "ks/storage.h"

/* Timeouts of every network call, in seconds. */
#define KS__STORAGE_CONNECT_TIMEOUT 10
#define KS__STORAGE_LIST_TIMEOUT 120        /* one listing request, whole */
#define KS__STORAGE_FILE_TIMEOUT (12 * 3600) /* one file, whole */
#define KS__STORAGE_STALL_TIMEOUT 60        /* no byte for this long aborts a transfer */
#define KS__STORAGE_MAX_REDIRS 8
/* Largest listing page or API answer read into memory. */
#define KS__STORAGE_MAX_LIST_BODY (32u << 20)
#define KS__STORAGE_MAX_URI 4096

typedef enum ks__storage_scheme {
    KS__STORAGE_LOCAL, /* a path, or file:///path */
    KS__STORAGE_PVC,
    KS__STORAGE_HTTP,  /* http:// and https:// */
    KS__STORAGE_S3,
    KS__STORAGE_GCS,
    KS__STORAGE_HF,
} ks__storage_scheme_t;

/* A parsed storageUri; ks__storage_uri_free frees its strings. */
typedef struct ks__storage_uri {
    ks__storage_scheme_t scheme;
    char *bucket;   /* s3/gs bucket, pvc claim name, hf "org/model"; else NULL */
    char *path;     /* local path; pvc path in the claim, cleaned ("" = its root); s3/gs object prefix */
    char *filename; /* http: the file name the URL ends with, percent-decoded */
    char *revision; /* hf: the revision ("main" when absent) */
} ks__storage_uri_t;

/* Parses uri; 0, or KS_EINVAL/KS_ENOMEM with a message. */
int ks__storage_parse_uri(const char *uri, ks__storage_uri_t *u, char *err, size_t errlen);
void ks__storage_uri_free(ks__storage_uri_t *u);

/* The cache key: 64 lowercase hex digits of the SHA-256 of uri, NUL-terminated. */
void ks__storage_cache_key(const char *uri, char out[65]);

/*
 * Cleans a relative path found in an archive or a listing: drops empty and
 * "." components.  Returns 0 with the clean path in out, 1 when nothing is
 * left (the root itself), KS_EINVAL for an absolute path, a ".." component,
 * or a path or component too long.
 */
int ks__storage_clean_relpath(const char *in, char *out, size_t outlen);

/*
 * Whether the symlink at entry (a clean relative path) with target stays
 * inside the directory it is unpacked into, judged on the names alone:
 * 0, or KS_EINVAL for an absolute target or one that climbs out.
 */
int ks__storage_check_link(const char *entry, const char *target);

/*
 * Where an object listed under prefix goes in the model directory: the key
 * equal to the prefix is a single file named after its last component;
 * otherwise the key must continue the prefix at a '/' (or the prefix be empty
 * or end in '/') and keeps the rest.  Returns 1 with the clean relative path
 * in rel (outlen bytes) and *exact set, 0 when the object is not part of the
 * model (a sibling such as prefix "m" and key "m2/x", a "dir/" marker),
 * KS_EINVAL when the name is unsafe.
 */
int ks__storage_object_relpath(const char *prefix, const char *key, char *rel, size_t outlen, int *exact);

/* Appends s percent-encoded (all but A-Z a-z 0-9 - . _ ~, and '/' when keep_slash). */
int ks__storage_urlencode(ks_buf_t *b, const char *s, int keep_slash);

/* ".tar.gz"/".tgz" -> 1, ".zip" -> 2, else 0 (case-insensitive). */
int ks__storage_archive_kind(const char *filename);

/* ---- downloads ------------------------------------------------------------------------ */

/* One file of a remote model. */
typedef struct ks__storage_object {
    char *url;     /* where to GET it */
    char *rel;     /* its path in the model directory */
    uint64_t size; /* the listed size; UINT64_MAX when the listing does not say */
} ks__storage_object_t;

typedef struct ks__storage_objects {
    ks__storage_object_t *items;
    size_t n, cap;
} ks__storage_objects_t;

int ks__storage_objects_add(ks__storage_objects_t *l, const char *url, const char *rel, uint64_t size);
void ks__storage_objects_free(ks__storage_objects_t *l);

/* How requests of one scheme are made: extra headers, signing, TLS. */
typedef struct ks__storage_auth {
    struct curl_slist *headers; /* owned; freed by ks__storage_auth_free */
    char *aws_sigv4;            /* "aws:amz:REGION:s3" or NULL */
    char *username, *password;  /* with aws_sigv4 */
    int insecure;               /* do not verify the server's certificate */
    char *cainfo;               /* a CA bundle, or NULL */
} ks__storage_auth_t;

void ks__storage_auth_free(ks__storage_auth_t *a);

/* The state of one ks_storage_fetch download. */
typedef struct ks__storage_fetch {
    const char *uri;
    const char *dir;          /* the model directory being filled, inside work */
    int dirfd;
    const char *work;         /* the temporary directory of this download */
    int workfd;
    CURL *curl;               /* reused, so connections are too */
    ks_storage_progress_cb cb;
    void *cbdata;
    uint64_t done;            /* bytes of finished files */
    uint64_t cur;             /* bytes of the file in flight */
    uint64_t total;           /* 0: unknown */
    int total_from_response;  /* a single download: its Content-Length is the total */
    uint64_t reported, reported_ns;
    long stall_timeout;       /* seconds without a byte that abort a transfer */
    char *err;
    size_t errlen;
} ks__storage_fetch_t;

/* A new easy handle, after libcurl's one-time global setup (thread-safe); NULL without memory. */
CURL *ks__storage_curl_new(void);

/*
 * GETs url into body (capped at max bytes; KS_ETOOBIG above).  An HTTP status
 * of 400 or more gives KS_ENOENT (404) or KS_EUNAVAIL with the status and the
 * server's own explanation in err; a transport failure gives KS_EUNAVAIL with
 * curl's message.
 */
int ks__storage_get_buf(ks__storage_fetch_t *f, const char *url, const ks__storage_auth_t *auth, ks_buf_t *body,
                        size_t max);

/* GETs url into the file rel (created, with its directories) of f->dir; expect is checked unless UINT64_MAX. */
int ks__storage_get_file(ks__storage_fetch_t *f, const char *url, const ks__storage_auth_t *auth, const char *rel,
                         uint64_t expect);

/* Downloads every object of l into f->dir. */
int ks__storage_get_objects(ks__storage_fetch_t *f, const ks__storage_objects_t *l, const ks__storage_auth_t *auth);

/*
 * Gathers the objects of a listing (S3, GCS, Hugging Face) that make up the
 * model under prefix; ks__storage_listing_add is a ks__storage_key_cb.  The
 * object URL is url_base + the key percent-encoded ('/' kept when keep_slash)
 * + url_suffix.
 */
typedef struct ks__storage_listing {
    ks__storage_fetch_t *f;
    const char *what;       /* "s3://bucket/prefix", for messages */
    const char *prefix;
    const char *url_base, *url_suffix;
    int keep_slash;
    ks__storage_objects_t objs;
    size_t exact;           /* index of the object whose key is the prefix; SIZE_MAX: none */
} ks__storage_listing_t;

int ks__storage_listing_add(void *data, const char *key, uint64_t size);
/* Keeps only the exact object when there is one; KS_ENOENT "no objects under ..." when empty. */
int ks__storage_listing_finish(ks__storage_listing_t *l);

/* Reports progress to f->cb (throttled unless force). */
void ks__storage_progress(ks__storage_fetch_t *f, int force);

/* Copies s with any user:password@ removed, for messages. */
void ks__storage_redact_url(const char *s, char *out, size_t outlen);

/* ---- the schemes ------------------------------------------------------------------------ */

int ks__storage_fetch_http(ks__storage_fetch_t *f, const char *uri, const ks__storage_uri_t *u);
int ks__storage_fetch_s3(ks__storage_fetch_t *f, const ks__storage_uri_t *u);
int ks__storage_fetch_gcs(ks__storage_fetch_t *f, const ks__storage_uri_t *u);
int ks__storage_fetch_hf(ks__storage_fetch_t *f, const ks__storage_uri_t *u);

/*
 * One ListObjectsV2 page: every <Contents> with its <Key> and <Size> is passed
 * to add (return non-zero to stop); *truncated and *token (malloc'd, or NULL)
 * say whether and how to ask for the next page.  KS_EINVAL when the document
 * is not a ListBucketResult.
 */
typedef int (*ks__storage_key_cb)(void *data, const char *key, uint64_t size);
int ks__storage_s3_parse_list(const char *xml, size_t len, ks__storage_key_cb add, void *data, int *truncated,
                              char **token, char *err, size_t errlen);
/* Decodes XML character and entity references of s[0..len) into b. */
int ks__storage_xml_text(ks_buf_t *b, const char *s, size_t len);
/* One GCS objects.list page: items[].name and size to add; *token the nextPageToken or NULL. */
int ks__storage_gcs_parse_list(const char *json, size_t len, ks__storage_key_cb add, void *data, char **token,
                               char *err, size_t errlen);
/* A Hugging Face model info document: siblings[].rfilename (and size when given) to add. */
int ks__storage_hf_parse_model(const char *json, size_t len, ks__storage_key_cb add, void *data, char *err,
                               size_t errlen);

/* ---- archives and the file system ------------------------------------------------------------ */

/*
 * Unpacks the archive at path (kind from ks__storage_archive_kind) into the
 * directory dir.  Rejects, with an error naming the entry: absolute paths,
 * ".." components, symlinks or hard links that lead outside, device files,
 * FIFOs and sockets, and more than max_bytes of content or max_entries entries.
 */
int ks__storage_unpack(const char *path, int kind, const char *dir, uint64_t max_bytes, uint64_t max_entries, char *err,
                       size_t errlen);

/* Opens (creating with mode 0755 when create) the directory rel under dirfd, never following a symlink. */
int ks__storage_open_dir(int dirfd, const char *rel, int create);
/* Creates the file rel under dirfd (and its directories) for writing; returns the fd or -errno. */
int ks__storage_create_file(int dirfd, const char *rel, mode_t mode);
/* Removes path and everything under it (symlinks themselves, never what they point to); 0 or -errno. */
int ks__storage_rmtree(const char *path);

/* Exclusive lock for key in cache_root (blocking); *fd for ks__storage_unlock.  0 or -errno. */
int ks__storage_lock(const char *cache_root, const char *key, int *fd);
void ks__storage_unlock(const char *cache_root, const char *key, int fd);

#endif
