/*
 * The storage initializer's pure parts (src/storage/): storageUri checking
 * and parsing, the cache key, the path checks that keep archives and
 * listings inside the model directory, the listing parsers, safe unpacking,
 * and local/file/pvc resolution on temporary directories.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/storage/storage_internal.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static char tmp_root[PATH_MAX];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof(tmp_root), "/tmp/ks-test-storage-XXXXXX");
    assert_non_null(mkdtemp(tmp_root));
    return 0;
}

static int teardown_tmp(void **state)
{
    (void)state;
    assert_int_equal(ks__storage_rmtree(tmp_root), 0);
    return 0;
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static char *read_file(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n;
    if (f == NULL)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* number of entries in dir, "." and ".." aside */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- storageUri checking ------------------------------------------------------------------ */

static void check_accepts_every_scheme(void **state)
{
    static const char *good[] = {
        "/models/iris",
        "relative/dir",
        "file:///models/iris",
        "file://localhost/models/iris",
        "pvc://claim/models/iris",
        "pvc://claim",
        "http://example.com/model.bin",
        "https://example.com:8443/a/b/model.tar.gz?x-id=1#frag",
        "HTTPS://example.com/m.zip",
        "s3://bucket",
        "s3://bucket/",
        "s3://my-bucket.v2/models/iris/",
        "gs://kfserving-examples/models/sklearn/1.0/model",
        "hf://org/model",
        "hf://meta-llama/Llama-2-7b:v1.0",
        "hf://org/model:0123abcd",
    };
    char err[KS_ERRLEN];
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_SIZE(good); ++i) {
        err[0] = '\0';
        if (ks_storage_check_uri(good[i], err, sizeof(err)) != 0)
            fail_msg("%s rejected: %s", good[i], err);
    }
}

static void check_rejects_malformed(void **state)
{
    static const struct {
        const char *uri, *why;
    } bad[] = {
        {"", "empty"},
        {"s3://", "bucket"},
        {"s3:///models", "bucket"},
        {"s3://bad bucket/x", "bucket"},
        {"gs://", "bucket"},
        {"hf://", "hf://ORG/MODEL"},
        {"hf://org", "hf://ORG/MODEL"},
        {"hf://org/", "hf://ORG/MODEL"},
        {"hf://org/model:", "revision"},
        {"hf://org/model:a/b", "revision"},
        {"hf://a/b/c", "hf://ORG/MODEL"},
        {"http://", "host"},
        {"http:///x.bin", "host"},
        {"http://host", "must name a file"},
        {"http://host/", "must name a file"},
        {"https://host/dir/?q=1", "must name a file"},
        {"http://host/..", "must name a file"},
        {"file://", "absolute path"},
        {"file://relative/x", "absolute path"},
        {"pvc://", "claim name"},
        {"pvc:///x", "claim name"},
        {"pvc://..", "claim name"},
        {"pvc://claim/../other", "\"..\""},
        {"azure://account/container", "unsupported scheme"},
        {"ftp://host/model.bin", "unsupported scheme"},
        {"s3://bucket/a\nb", "control character"},
    };
    char err[KS_ERRLEN];
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_SIZE(bad); ++i) {
        err[0] = '\0';
        if (ks_storage_check_uri(bad[i].uri, err, sizeof(err)) != KS_EINVAL)
            fail_msg("\"%s\" accepted", bad[i].uri);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("\"%s\": message \"%s\" does not say \"%s\"", bad[i].uri, err, bad[i].why);
    }
}

static void check_rejects_overlong(void **state)
{
    char *uri = malloc(KS__STORAGE_MAX_URI + 10), err[KS_ERRLEN];
    (void)state;
    memcpy(uri, "s3://b/", 7);
    memset(uri + 7, 'a', KS__STORAGE_MAX_URI);
    uri[KS__STORAGE_MAX_URI + 7] = '\0';
    assert_int_equal(ks_storage_check_uri(uri, err, sizeof(err)), KS_EINVAL);
    assert_non_null(strstr(err, "longer"));
    free(uri);
}

static void parse_fills_the_parts(void **state)
{
    ks__storage_uri_t u;
    char err[KS_ERRLEN];
    (void)state;

    assert_int_equal(ks__storage_parse_uri("s3://bucket/models/iris/", &u, err, sizeof(err)), 0);
    assert_int_equal(u.scheme, KS__STORAGE_S3);
    assert_string_equal(u.bucket, "bucket");
    assert_string_equal(u.path, "models/iris/");
    ks__storage_uri_free(&u);

    assert_int_equal(ks__storage_parse_uri("gs://b", &u, err, sizeof(err)), 0);
    assert_int_equal(u.scheme, KS__STORAGE_GCS);
    assert_string_equal(u.bucket, "b");
    assert_string_equal(u.path, "");
    ks__storage_uri_free(&u);

    assert_int_equal(ks__storage_parse_uri("https://h/dir/my%20model.tgz?sig=a/b", &u, err, sizeof(err)), 0);
    assert_int_equal(u.scheme, KS__STORAGE_HTTP);
    assert_string_equal(u.filename, "my model.tgz");
    ks__storage_uri_free(&u);

    assert_int_equal(ks__storage_parse_uri("hf://org/model", &u, err, sizeof(err)), 0);
    assert_int_equal(u.scheme, KS__STORAGE_HF);
    assert_string_equal(u.bucket, "org/model");
    assert_string_equal(u.revision, "main");
    ks__storage_uri_free(&u);

    assert_int_equal(ks__storage_parse_uri("hf://org/model:v2", &u, err, sizeof(err)), 0);
    assert_string_equal(u.bucket, "org/model");
    assert_string_equal(u.revision, "v2");
    ks__storage_uri_free(&u);

    assert_int_equal(ks__storage_parse_uri("pvc://claim//a/./b/", &u, err, sizeof(err)), 0);
    assert_int_equal(u.scheme, KS__STORAGE_PVC);
    assert_string_equal(u.bucket, "claim");
    assert_string_equal(u.path, "a/b");
    ks__storage_uri_free(&u);

    assert_int_equal(ks__storage_parse_uri("file:///models/x", &u, err, sizeof(err)), 0);
    assert_int_equal(u.scheme, KS__STORAGE_LOCAL);
    assert_string_equal(u.path, "/models/x");
    ks__storage_uri_free(&u);

    assert_int_equal(ks__storage_parse_uri("models/x", &u, err, sizeof(err)), 0);
    assert_int_equal(u.scheme, KS__STORAGE_LOCAL);
    assert_string_equal(u.path, "models/x");
    ks__storage_uri_free(&u);
}

/* ---- the cache key ---------------------------------------------------------------------------- */

static void cache_key_is_sha256_of_the_uri(void **state)
{
    char a[65], b[65];
    (void)state;
    ks__storage_cache_key("s3://bucket/models/iris", a);
    assert_string_equal(a, "389192dc6f23c394a0b3ff72986c030efca4d6ff0db3c536e4e111f0b915c123");
    ks__storage_cache_key("s3://bucket/models/iris/", b);
    assert_int_equal(strlen(b), 64);
    assert_string_not_equal(a, b);
}

/* ---- path checks ------------------------------------------------------------------------------- */

static void clean_relpath_cases(void **state)
{
    char out[PATH_MAX];
    (void)state;
    assert_int_equal(ks__storage_clean_relpath("model.bst", out, sizeof(out)), 0);
    assert_string_equal(out, "model.bst");
    assert_int_equal(ks__storage_clean_relpath("./a//b/./c.txt", out, sizeof(out)), 0);
    assert_string_equal(out, "a/b/c.txt");
    assert_int_equal(ks__storage_clean_relpath("dir/", out, sizeof(out)), 0);
    assert_string_equal(out, "dir");
    assert_int_equal(ks__storage_clean_relpath("./", out, sizeof(out)), 1);
    assert_int_equal(ks__storage_clean_relpath("", out, sizeof(out)), 1);
    assert_int_equal(ks__storage_clean_relpath("..a/b..", out, sizeof(out)), 0);
    assert_string_equal(out, "..a/b..");
    assert_int_equal(ks__storage_clean_relpath("../evil", out, sizeof(out)), KS_EINVAL);
    assert_int_equal(ks__storage_clean_relpath("a/../../evil", out, sizeof(out)), KS_EINVAL);
    assert_int_equal(ks__storage_clean_relpath("a/..", out, sizeof(out)), KS_EINVAL);
    assert_int_equal(ks__storage_clean_relpath("/etc/passwd", out, sizeof(out)), KS_EINVAL);
    assert_int_equal(ks__storage_clean_relpath("a/b", out, 3), KS_EINVAL); /* does not fit */
    char longname[NAME_MAX + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(ks__storage_clean_relpath(longname, out, sizeof(out)), KS_EINVAL);
}

static void check_link_cases(void **state)
{
    (void)state;
    assert_int_equal(ks__storage_check_link("link", "model.bst"), 0);
    assert_int_equal(ks__storage_check_link("a/b/link", "../c/model.bst"), 0);
    assert_int_equal(ks__storage_check_link("a/b/link", "../../model.bst"), 0);
    assert_int_equal(ks__storage_check_link("a/link", "./x/../y"), 0);
    assert_int_equal(ks__storage_check_link("link", "../outside"), KS_EINVAL);
    assert_int_equal(ks__storage_check_link("a/b/link", "../../../outside"), KS_EINVAL);
    assert_int_equal(ks__storage_check_link("a/link", "x/../../../y"), KS_EINVAL);
    assert_int_equal(ks__storage_check_link("link", "/etc/passwd"), KS_EINVAL);
    assert_int_equal(ks__storage_check_link("link", ""), KS_EINVAL);
}

static void object_relpath_cases(void **state)
{
    char rel[PATH_MAX];
    int exact;
    (void)state;
    /* a directory-like prefix, with or without the slash */
    assert_int_equal(ks__storage_object_relpath("models/iris", "models/iris/model.bst", rel, sizeof(rel), &exact), 1);
    assert_string_equal(rel, "model.bst");
    assert_false(exact);
    assert_int_equal(ks__storage_object_relpath("models/iris/", "models/iris/sub/a.txt", rel, sizeof(rel), &exact), 1);
    assert_string_equal(rel, "sub/a.txt");
    /* a sibling that merely shares the prefix is another model */
    assert_int_equal(ks__storage_object_relpath("models/iris", "models/iris2/model.bst", rel, sizeof(rel), &exact), 0);
    /* the prefix is exactly one object's key: that file */
    assert_int_equal(ks__storage_object_relpath("models/iris/model.bst", "models/iris/model.bst", rel, sizeof(rel),
                                                &exact),
                     1);
    assert_string_equal(rel, "model.bst");
    assert_true(exact);
    /* the whole bucket */
    assert_int_equal(ks__storage_object_relpath("", "a/b.txt", rel, sizeof(rel), &exact), 1);
    assert_string_equal(rel, "a/b.txt");
    /* directory markers are skipped */
    assert_int_equal(ks__storage_object_relpath("models/iris", "models/iris/", rel, sizeof(rel), &exact), 0);
    assert_int_equal(ks__storage_object_relpath("models/", "models/sub/", rel, sizeof(rel), &exact), 0);
    /* names that would climb out */
    assert_int_equal(ks__storage_object_relpath("m", "m/../../etc/x", rel, sizeof(rel), &exact), KS_EINVAL);
    assert_int_equal(ks__storage_object_relpath("", "../x", rel, sizeof(rel), &exact), KS_EINVAL);
    assert_int_equal(ks__storage_object_relpath("m/", "m//x", rel, sizeof(rel), &exact), 1);
    assert_string_equal(rel, "x");
}

static void urlencode_cases(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks__storage_urlencode(&b, "a b/c+d~e_f.g-h=%", 1), 0);
    assert_int_equal(ks_buf_putc(&b, '\0'), 0);
    assert_string_equal(b.base, "a%20b/c%2Bd~e_f.g-h%3D%25");
    ks_buf_reset(&b);
    assert_int_equal(ks__storage_urlencode(&b, "models/\xc3\xa9", 0), 0);
    assert_int_equal(ks_buf_putc(&b, '\0'), 0);
    assert_string_equal(b.base, "models%2F%C3%A9");
    ks_buf_free(&b);
}

static void archive_kind_and_redaction(void **state)
{
    char out[256];
    (void)state;
    assert_int_equal(ks__storage_archive_kind("model.tar.gz"), 1);
    assert_int_equal(ks__storage_archive_kind("MODEL.TGZ"), 1);
    assert_int_equal(ks__storage_archive_kind("model.zip"), 2);
    assert_int_equal(ks__storage_archive_kind("model.bst"), 0);
    assert_int_equal(ks__storage_archive_kind(".zip"), 0);
    assert_int_equal(ks__storage_archive_kind("model.tar"), 0);
    ks__storage_redact_url("https://user:secret@host/x@y", out, sizeof(out));
    assert_string_equal(out, "https://host/x@y");
    ks__storage_redact_url("https://host/x@y", out, sizeof(out));
    assert_string_equal(out, "https://host/x@y");
}

/* ---- listing parsers ------------------------------------------------------------------------------ */

typedef struct seen {
    char keys[8][128];
    uint64_t sizes[8];
    int n;
} seen_t;

static int on_key(void *data, const char *key, uint64_t size)
{
    seen_t *s = data;
    if (s->n == 8)
        return KS_ETOOBIG;
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
    s->sizes[s->n++] = size;
    return 0;
}

static void s3_list_parses_keys_sizes_and_token(void **state)
{
    static const char xml[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>m/</Prefix>"
        "<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
        "<Contents><Key>m/a&amp;b &lt;1&gt;.txt</Key><LastModified>x</LastModified><ETag>&quot;e&quot;</ETag>"
        "<Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Key>m/caf&#233;&#x2F;x</Key><Size>0</Size></Contents>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
        "</ListBucketResult>";
    seen_t s = {0};
    int truncated;
    char *token, err[KS_ERRLEN];
    (void)state;
    assert_int_equal(ks__storage_s3_parse_list(xml, sizeof(xml) - 1, on_key, &s, &truncated, &token, err, sizeof(err)),
                     0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "m/a&b <1>.txt");
    assert_int_equal(s.sizes[0], 12);
    assert_string_equal(s.keys[1], "m/caf\xc3\xa9/x");
    assert_int_equal(s.sizes[1], 0);
    assert_true(truncated);
    assert_string_equal(token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    free(token);
}

static void s3_list_last_page_and_errors(void **state)
{
    static const char last[] = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    static const char error[] = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
    static const char open[] = "<ListBucketResult><Contents><Key>a</Key><Size>1</Size>";
    static const char nokey[] = "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>";
    static const char badent[] = "<ListBucketResult><Contents><Key>a&bogus;</Key></Contents></ListBucketResult>";
    static const char nul[] = "<ListBucketResult><Contents><Key>a&#0;</Key></Contents></ListBucketResult>";
    seen_t s = {0};
    int truncated;
    char *token, err[KS_ERRLEN];
#define S3_PARSE(doc) ks__storage_s3_parse_list(doc, sizeof(doc) - 1, on_key, &s, &truncated, &token, err, sizeof(err))
    (void)state;
    assert_int_equal(S3_PARSE(last), 0);
    assert_int_equal(s.n, 0);
    assert_false(truncated);
    assert_null(token);
    assert_int_equal(S3_PARSE(error), KS_EINVAL);
    assert_int_equal(S3_PARSE(open), KS_EINVAL);
    assert_int_equal(S3_PARSE(nokey), KS_EINVAL);
    assert_int_equal(S3_PARSE(badent), KS_EINVAL);
    assert_int_equal(S3_PARSE(nul), KS_EINVAL);
    assert_int_equal(s.n, 0);
#undef S3_PARSE
}

static void gcs_list_parses_items_and_page_token(void **state)
{
    static const char page[] = "{\"kind\":\"storage#objects\",\"nextPageToken\":\"tok en\",\"items\":["
                               "{\"name\":\"m/model.bst\",\"size\":\"1234\"},{\"name\":\"m/x\",\"size\":7},"
                               "{\"name\":\"m/y\"}]}";
    static const char last[] = "{\"kind\":\"storage#objects\"}";
    seen_t s = {0};
    char *token, err[KS_ERRLEN];
    (void)state;
    assert_int_equal(ks__storage_gcs_parse_list(page, sizeof(page) - 1, on_key, &s, &token, err, sizeof(err)), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.keys[0], "m/model.bst");
    assert_int_equal(s.sizes[0], 1234);
    assert_int_equal(s.sizes[1], 7);
    assert_true(s.sizes[2] == UINT64_MAX);
    assert_string_equal(token, "tok en");
    free(token);
    assert_int_equal(ks__storage_gcs_parse_list(last, sizeof(last) - 1, on_key, &s, &token, err, sizeof(err)), 0);
    assert_null(token);
    assert_int_equal(ks__storage_gcs_parse_list("[1]", 3, on_key, &s, &token, err, sizeof(err)), KS_EINVAL);
    assert_int_equal(ks__storage_gcs_parse_list("{\"items\":[{}]}", 14, on_key, &s, &token, err, sizeof(err)),
                     KS_EINVAL);
    assert_int_equal(ks__storage_gcs_parse_list("{\"items\":", 9, on_key, &s, &token, err, sizeof(err)), KS_EINVAL);
}

static void hf_model_info_lists_siblings(void **state)
{
    static const char doc[] = "{\"id\":\"org/model\",\"sha\":\"abc\",\"siblings\":[{\"rfilename\":\"config.json\"},"
                              "{\"rfilename\":\"sub/model.safetensors\",\"size\":10}]}";
    seen_t s = {0};
    char err[KS_ERRLEN];
    (void)state;
    assert_int_equal(ks__storage_hf_parse_model(doc, sizeof(doc) - 1, on_key, &s, err, sizeof(err)), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "config.json");
    assert_true(s.sizes[0] == UINT64_MAX);
    assert_string_equal(s.keys[1], "sub/model.safetensors");
    assert_int_equal(s.sizes[1], 10);
    assert_int_equal(ks__storage_hf_parse_model("{\"id\":\"x\"}", 10, on_key, &s, err, sizeof(err)), KS_EINVAL);
    assert_non_null(strstr(err, "siblings"));
    assert_int_equal(ks__storage_hf_parse_model("{\"siblings\":[{\"x\":1}]}", 22, on_key, &s, err, sizeof(err)),
                     KS_EINVAL);
}

/* ---- unpacking --------------------------------------------------------------------------------------- */

typedef struct entry {
    const char *name;
    mode_t type;        /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR... */
    const char *data;   /* file content, or the link target */
    int hardlink;       /* data is the hard link's target */
} entry_t;

/* Writes a .tar.gz (kind 1) or .zip (kind 2) of the entries to path. */
static void make_archive(const char *path, int kind, const entry_t *e, size_t n)
{
    struct archive *a = archive_write_new();
    assert_non_null(a);
    if (kind == 1) {
        archive_write_add_filter_gzip(a);
        archive_write_set_format_pax_restricted(a);
    } else {
        archive_write_set_format_zip(a);
    }
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; ++i) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_perm(ae, e[i].type == AE_IFDIR ? 0755 : 0644);
        if (e[i].hardlink) {
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_hardlink(ae, e[i].data);
            archive_entry_set_size(ae, 0);
        } else {
            archive_entry_set_filetype(ae, e[i].type);
            if (e[i].type == AE_IFLNK)
                archive_entry_set_symlink(ae, e[i].data);
            if (e[i].type == AE_IFCHR)
                archive_entry_set_rdev(ae, 0x0103);
            archive_entry_set_size(ae, e[i].type == AE_IFREG ? (la_int64_t)strlen(e[i].data) : 0);
        }
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        if (e[i].type == AE_IFREG && !e[i].hardlink)
            assert_int_equal(archive_write_data(a, e[i].data, strlen(e[i].data)), (la_ssize_t)strlen(e[i].data));
        archive_entry_free(ae);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* Makes tmp_root/NAME as a fresh directory, its path in out. */
static void fresh_dir(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", tmp_root, name);
    ks__storage_rmtree(out);
    assert_int_equal(mkdir(out, 0755), 0);
}

static void unpack_tar_gz_and_zip(void **state)
{
    static const entry_t ok[] = {
        {"./", AE_IFDIR, NULL, 0},
        {"./model.bst", AE_IFREG, "booster", 0},
        {"sub/", AE_IFDIR, NULL, 0},
        {"sub/deeper/config.json", AE_IFREG, "{}", 0},
        {"sub/link", AE_IFLNK, "../model.bst", 0},
        {"sub/hard", AE_IFREG, "model.bst", 1},
    };
    char dir[PATH_MAX], arc[PATH_MAX], p[PATH_MAX * 2], err[KS_ERRLEN];
    char target[PATH_MAX];
    ssize_t n;
    (void)state;
    for (int kind = 1; kind <= 2; ++kind) {
        snprintf(arc, sizeof(arc), "%s/ok.%s", tmp_root, kind == 1 ? "tar.gz" : "zip");
        make_archive(arc, kind, ok, kind == 1 ? KS_ARRAY_SIZE(ok) : KS_ARRAY_SIZE(ok) - 1);
        fresh_dir("out", dir, sizeof(dir));
        if (ks__storage_unpack(arc, kind, dir, 1 << 20, 100, err, sizeof(err)) != 0)
            fail_msg("kind %d: %s", kind, err);
        snprintf(p, sizeof(p), "%s/model.bst", dir);
        assert_string_equal(read_file(p), "booster");
        snprintf(p, sizeof(p), "%s/sub/deeper/config.json", dir);
        assert_string_equal(read_file(p), "{}");
        snprintf(p, sizeof(p), "%s/sub/link", dir);
        n = readlink(p, target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, "../model.bst");
        assert_string_equal(read_file(p), "booster");
        if (kind == 1) {
            snprintf(p, sizeof(p), "%s/sub/hard", dir);
            assert_string_equal(read_file(p), "booster");
        }
    }
}

/* Each unsafe archive is rejected with a message naming the entry, and writes nothing outside. */
static void unpack_rejects_unsafe_entries(void **state)
{
    static const struct {
        entry_t e[2];
        size_t n;
        const char *names;
    } cases[] = {
        {{{"../evil", AE_IFREG, "x", 0}}, 1, "../evil"},
        {{{"a/../../evil", AE_IFREG, "x", 0}}, 1, "a/../../evil"},
        {{{"/tmp/ks-test-storage-abs-evil", AE_IFREG, "x", 0}}, 1, "/tmp/ks-test-storage-abs-evil"},
        {{{"link", AE_IFLNK, "../../etc/passwd", 0}}, 1, "link"},
        {{{"link", AE_IFLNK, "/etc/passwd", 0}}, 1, "link"},
        {{{"hard", AE_IFREG, "../outside", 1}}, 1, "hard"},
        {{{"hard", AE_IFREG, "/etc/passwd", 1}}, 1, "hard"},
        {{{"dev", AE_IFCHR, NULL, 0}}, 1, "dev"},
        {{{"fifo", AE_IFIFO, NULL, 0}}, 1, "fifo"},
        /* a chain: d -> ".", then x -> "d/d/.." climbs out although its name does not say so */
        {{{"d", AE_IFLNK, ".", 0}, {"x", AE_IFLNK, "d/d/..", 0}}, 2, "x"},
        /* a dangling link cannot be judged: rejected */
        {{{"nowhere", AE_IFLNK, "missing/file", 0}}, 1, "nowhere"},
    };
    char dir[PATH_MAX], arc[PATH_MAX], err[KS_ERRLEN];
    (void)state;
    for (size_t i = 0; i < KS_ARRAY_SIZE(cases); ++i) {
        snprintf(arc, sizeof(arc), "%s/bad.tar.gz", tmp_root);
        make_archive(arc, 1, cases[i].e, cases[i].n);
        fresh_dir("out", dir, sizeof(dir));
        err[0] = '\0';
        if (ks__storage_unpack(arc, 1, dir, 1 << 20, 100, err, sizeof(err)) != KS_EINVAL)
            fail_msg("case %zu (%s) accepted", i, cases[i].names);
        if (strstr(err, cases[i].names) == NULL)
            fail_msg("case %zu: message \"%s\" does not name \"%s\"", i, err, cases[i].names);
        assert_false(exists("/tmp/ks-test-storage-abs-evil"));
        snprintf(arc, sizeof(arc), "%s/evil", tmp_root);
        assert_false(exists(arc));
    }
}

static void unpack_caps_size_and_entries(void **state)
{
    static const entry_t big[] = {{"a", AE_IFREG, "0123456789", 0}, {"b", AE_IFREG, "0123456789", 0}};
    static const entry_t many[] = {{"a", AE_IFREG, "", 0}, {"b", AE_IFREG, "", 0}, {"c", AE_IFREG, "", 0}};
    char dir[PATH_MAX], arc[PATH_MAX], err[KS_ERRLEN];
    (void)state;
    snprintf(arc, sizeof(arc), "%s/big.tar.gz", tmp_root);
    make_archive(arc, 1, big, 2);
    fresh_dir("out", dir, sizeof(dir));
    assert_int_equal(ks__storage_unpack(arc, 1, dir, 15, 100, err, sizeof(err)), KS_ETOOBIG);
    assert_non_null(strstr(err, "\"b\""));
    fresh_dir("out", dir, sizeof(dir));
    assert_int_equal(ks__storage_unpack(arc, 1, dir, 20, 100, err, sizeof(err)), 0);

    snprintf(arc, sizeof(arc), "%s/many.zip", tmp_root);
    make_archive(arc, 2, many, 3);
    fresh_dir("out", dir, sizeof(dir));
    assert_int_equal(ks__storage_unpack(arc, 2, dir, 100, 2, err, sizeof(err)), KS_ETOOBIG);
    assert_non_null(strstr(err, "\"c\""));
}

static void unpack_rejects_garbage(void **state)
{
    char dir[PATH_MAX], arc[PATH_MAX], err[KS_ERRLEN];
    (void)state;
    snprintf(arc, sizeof(arc), "%s/garbage.tar.gz", tmp_root);
    write_file(arc, "this is not an archive at all, not even gzip\n");
    fresh_dir("out", dir, sizeof(dir));
    assert_int_equal(ks__storage_unpack(arc, 1, dir, 100, 100, err, sizeof(err)), KS_EINVAL);
    assert_non_null(strstr(err, "garbage.tar.gz"));
    snprintf(arc, sizeof(arc), "%s/garbage.zip", tmp_root);
    write_file(arc, "PK nothing");
    assert_int_equal(ks__storage_unpack(arc, 2, dir, 100, 100, err, sizeof(err)), KS_EINVAL);
}

/* ---- local, file:// and pvc:// ------------------------------------------------------------------------- */

static void local_directory_is_used_in_place(void **state)
{
    char dir[PATH_MAX], cache[PATH_MAX], uri[PATH_MAX + 16], out[PATH_MAX], err[KS_ERRLEN];
    (void)state;
    fresh_dir("models", dir, sizeof(dir));
    snprintf(cache, sizeof(cache), "%s/cache", tmp_root);
    assert_int_equal(ks_storage_fetch(dir, cache, NULL, out, sizeof(out), NULL, NULL, err, sizeof(err)), 0);
    assert_string_equal(out, dir);
    snprintf(uri, sizeof(uri), "file://%s/", dir);
    assert_int_equal(ks_storage_fetch(uri, cache, NULL, out, sizeof(out), NULL, NULL, err, sizeof(err)), 0);
    assert_string_equal(out, dir);
    assert_false(exists(cache)); /* nothing copied, nothing cached */
    /* a relative path comes back absolute */
    assert_int_equal(chdir(tmp_root), 0);
    assert_int_equal(ks_storage_fetch("./models", cache, NULL, out, sizeof(out), NULL, NULL, err, sizeof(err)), 0);
    assert_string_equal(out, dir);
    assert_int_equal(chdir("/"), 0);
}

static void local_file_gets_a_cache_dir_with_a_symlink(void **state)
{
    char dir[PATH_MAX], file[PATH_MAX + 16], cache[PATH_MAX], uri[PATH_MAX + 32], out[PATH_MAX], out2[PATH_MAX];
    char link[PATH_MAX * 2], target[PATH_MAX], key[65], err[KS_ERRLEN];
    ssize_t n;
    (void)state;
    fresh_dir("models", dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/model.bst", dir);
    write_file(file, "booster");
    snprintf(cache, sizeof(cache), "%s/cache", tmp_root);
    snprintf(uri, sizeof(uri), "file://%s", file);
    assert_int_equal(ks_storage_fetch(uri, cache, NULL, out, sizeof(out), NULL, NULL, err, sizeof(err)), 0);
    ks__storage_cache_key(uri, key);
    assert_non_null(strstr(out, key));
    snprintf(link, sizeof(link), "%s/model.bst", out);
    n = readlink(link, target, sizeof(target) - 1);
    assert_true(n > 0);
    target[n] = '\0';
    assert_string_equal(target, file);
    assert_string_equal(read_file(link), "booster");
    /* again: the same directory, and only it in the cache (no lock or temp left) */
    assert_int_equal(ks_storage_fetch(uri, cache, NULL, out2, sizeof(out2), NULL, NULL, err, sizeof(err)), 0);
    assert_string_equal(out, out2);
    assert_int_equal(count_entries(cache), 1);
}

static void pvc_resolves_under_its_root(void **state)
{
    char root[PATH_MAX], p[PATH_MAX * 2], cache[PATH_MAX], out[PATH_MAX], err[KS_ERRLEN];
    (void)state;
    fresh_dir("pvc", root, sizeof(root));
    snprintf(p, sizeof(p), "%s/claim", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/claim/models", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(cache, sizeof(cache), "%s/cache", tmp_root);
    assert_int_equal(ks_storage_fetch("pvc://claim/models", cache, root, out, sizeof(out), NULL, NULL, err, KS_ERRLEN),
                     0);
    assert_string_equal(out, p);
    snprintf(p, sizeof(p), "%s/claim", root);
    assert_int_equal(ks_storage_fetch("pvc://claim", cache, root, out, sizeof(out), NULL, NULL, err, sizeof(err)), 0);
    assert_string_equal(out, p);
    assert_int_equal(ks_storage_fetch("pvc://other/models", cache, root, out, sizeof(out), NULL, NULL, err, KS_ERRLEN),
                     KS_ENOENT);
    assert_non_null(strstr(err, "pvc://other/models"));
}

static void missing_local_path_is_enoent(void **state)
{
    char cache[PATH_MAX], out[PATH_MAX], err[KS_ERRLEN];
    (void)state;
    snprintf(cache, sizeof(cache), "%s/cache", tmp_root);
    assert_int_equal(ks_storage_fetch("/nonexistent/ks/model", cache, NULL, out, sizeof(out), NULL, NULL, err,
                                      sizeof(err)),
                     KS_ENOENT);
    assert_non_null(strstr(err, "/nonexistent/ks/model"));
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(ks_storage_fetch("azure://x/y", cache, NULL, out, sizeof(out), NULL, NULL, err, sizeof(err)),
                     KS_EINVAL);
}

typedef struct racer {
    const char *uri, *cache;
    char out[PATH_MAX];
    int r;
} racer_t;

static void *race(void *data)
{
    racer_t *r = data;
    char err[KS_ERRLEN];
    r->r = ks_storage_fetch(r->uri, r->cache, NULL, r->out, sizeof(r->out), NULL, NULL, err, sizeof(err));
    return NULL;
}

/* Threads of one process take the same lock as processes do: one result, nothing else left. */
static void concurrent_fetches_agree(void **state)
{
    char dir[PATH_MAX], file[PATH_MAX + 16], cache[PATH_MAX];
    racer_t r[8];
    pthread_t t[8];
    (void)state;
    fresh_dir("models", dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/model.bst", dir);
    write_file(file, "booster");
    snprintf(cache, sizeof(cache), "%s/cache-race", tmp_root);
    for (int i = 0; i < 8; ++i) {
        r[i].uri = file;
        r[i].cache = cache;
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 8; ++i) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].r, 0);
        assert_string_equal(r[i].out, r[0].out);
    }
    assert_int_equal(count_entries(cache), 1);
}

/* A server that is not there: an error naming the URL, and nothing in the cache. */
static void unreachable_server_leaves_nothing(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    char uri[128], cache[PATH_MAX], out[PATH_MAX], err[1024];
    (void)state;
    /* a port that was free a moment ago and has nobody listening */
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
    close(s);
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/model.bst", ntohs(sa.sin_port));
    snprintf(cache, sizeof(cache), "%s/cache-unreachable", tmp_root);
    assert_int_equal(ks_storage_fetch(uri, cache, NULL, out, sizeof(out), NULL, NULL, err, sizeof(err)), KS_EUNAVAIL);
    assert_non_null(strstr(err, uri));
    assert_int_equal(count_entries(cache), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_accepts_every_scheme),
        cmocka_unit_test(check_rejects_malformed),
        cmocka_unit_test(check_rejects_overlong),
        cmocka_unit_test(parse_fills_the_parts),
        cmocka_unit_test(cache_key_is_sha256_of_the_uri),
        cmocka_unit_test(clean_relpath_cases),
        cmocka_unit_test(check_link_cases),
        cmocka_unit_test(object_relpath_cases),
        cmocka_unit_test(urlencode_cases),
        cmocka_unit_test(archive_kind_and_redaction),
        cmocka_unit_test(s3_list_parses_keys_sizes_and_token),
        cmocka_unit_test(s3_list_last_page_and_errors),
        cmocka_unit_test(gcs_list_parses_items_and_page_token),
        cmocka_unit_test(hf_model_info_lists_siblings),
        cmocka_unit_test_setup_teardown(unpack_tar_gz_and_zip, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(unpack_rejects_unsafe_entries, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(unpack_caps_size_and_entries, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(unpack_rejects_garbage, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(local_directory_is_used_in_place, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(local_file_gets_a_cache_dir_with_a_symlink, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(pvc_resolves_under_its_root, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(missing_local_path_is_enoent, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(concurrent_fetches_agree, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(unreachable_server_leaves_nothing, setup_tmp, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
