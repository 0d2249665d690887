/*
 * gs://bucket/prefix: public objects through the Cloud Storage JSON API.
 * The host is https://storage.googleapis.com, or STORAGE_EMULATOR_HOST as
 * Google's client libraries read it (a URL, or host:port meaning http).
 */
#include <string.h>

#include <jansson.h>

#include "storage_internal.h"

int ks__storage_gcs_parse_list(const char *json, size_t len, ks__storage_key_cb add, void *data, char **token,
                               char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr), *items, *item, *next;
    size_t i;
    int r = 0;

    *token = NULL;
    if (root == NULL || !json_is_object(root)) {
        ks_errorf(err, errlen, "the answer is not a JSON object%s%s", root == NULL ? ": " : "",
                  root == NULL ? jerr.text : "");
        json_decref(root);
        return KS_EINVAL;
    }
    items = json_object_get(root, "items");
    if (items != NULL && !json_is_array(items)) {
        ks_errorf(err, errlen, "\"items\" is not an array");
        r = KS_EINVAL;
        goto out;
    }
    json_array_foreach(items, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        json_t *js = json_object_get(item, "size");
        uint64_t size = UINT64_MAX;
        if (name == NULL) {
            ks_errorf(err, errlen, "items[%zu] has no \"name\"", i);
            r = KS_EINVAL;
            goto out;
        }
        if (json_is_string(js)) { /* the JSON API sends sizes as decimal strings */
            char *e;
            const char *s = json_string_value(js);
            unsigned long long v = strtoull(s, &e, 10);
            if (*s >= '0' && *s <= '9' && *e == '\0')
                size = v;
        } else if (json_is_integer(js) && json_integer_value(js) >= 0) {
            size = (uint64_t)json_integer_value(js);
        }
        if ((r = add(data, name, size)) != 0)
            goto out;
    }
    next = json_object_get(root, "nextPageToken");
    if (json_is_string(next) && json_string_length(next) > 0 && (*token = strdup(json_string_value(next))) == NULL) {
        ks_errorf(err, errlen, "out of memory");
        r = KS_ENOMEM;
    }
out:
    json_decref(root);
    return r;
}

int ks__storage_fetch_gcs(ks__storage_fetch_t *f, const ks__storage_uri_t *u)
{
    const char *emu = getenv("STORAGE_EMULATOR_HOST");
    ks__storage_listing_t l = {.f = f, .prefix = u->path, .url_suffix = "?alt=media", .exact = SIZE_MAX};
    char *host = NULL, *obj_base = NULL, *token = NULL, what[1024];
    ks_buf_t url, body;
    int r, pages = 0;

    ks_buf_init(&url, 0);
    ks_buf_init(&body, KS__STORAGE_MAX_LIST_BODY);
    snprintf(what, sizeof(what), "gs://%s/%s", u->bucket, u->path);
    l.what = what;
    if (emu != NULL && *emu != '\0')
        r = asprintf(&host, "%s%s", strstr(emu, "://") != NULL ? "" : "http://", emu);
    else
        r = asprintf(&host, "https://storage.googleapis.com");
    if (r < 0)
        goto nomem;
    for (size_t n = strlen(host); n > 0 && host[n - 1] == '/';)
        host[--n] = '\0';
    if (asprintf(&obj_base, "%s/download/storage/v1/b/%s/o/", host, u->bucket) < 0)
        goto nomem;
    l.url_base = obj_base;
    do {
        ks_buf_reset(&url);
        if (ks_buf_printf(&url, "%s/storage/v1/b/%s/o?prefix=", host, u->bucket) != 0 ||
            ks__storage_urlencode(&url, u->path, 0) != 0)
            goto nomem;
        if (token != NULL && (ks_buf_puts(&url, "&pageToken=") != 0 || ks__storage_urlencode(&url, token, 0) != 0))
            goto nomem;
        if (ks_buf_putc(&url, '\0') != 0)
            goto nomem;
        free(token);
        token = NULL;
        if ((r = ks__storage_get_buf(f, url.base, NULL, &body, KS__STORAGE_MAX_LIST_BODY)) != 0)
            goto out;
        if ((r = ks__storage_gcs_parse_list(body.base, body.len, ks__storage_listing_add, &l, &token, f->err,
                                            f->errlen)) != 0) {
            char why[512];
            snprintf(why, sizeof(why), "%s", f->err);
            if (strncmp(why, what, strlen(what)) != 0)
                ks_errorf(f->err, f->errlen, "listing %s: %s", what, why);
            goto out;
        }
        if (++pages > KS_STORAGE_MAX_OBJECTS) {
            ks_errorf(f->err, f->errlen, "listing %s: too many pages", what);
            r = KS_ETOOBIG;
            goto out;
        }
    } while (token != NULL);
    if ((r = ks__storage_listing_finish(&l)) == 0)
        r = ks__storage_get_objects(f, &l.objs, NULL);
    goto out;
nomem:
    ks_errorf(f->err, f->errlen, "out of memory");
    r = KS_ENOMEM;
out:
    ks__storage_objects_free(&l.objs);
    ks_buf_free(&url);
    ks_buf_free(&body);
    free(host);
    free(obj_base);
    free(token);
    return r;
}
