/*
 * hf://org/model[:revision]: a Hugging Face model repository at a revision
 * (default "main").  The model info API lists its files (siblings), each is
 * fetched from resolve/; HF_ENDPOINT replaces https://huggingface.co and
 * HF_TOKEN is sent as a bearer token.
 */
#include <string.h>

#include <jansson.h>

#include "storage_internal.h"

int ks__storage_hf_parse_model(const char *json, size_t len, ks__storage_key_cb add, void *data, char *err,
                               size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr), *sib, *item;
    size_t i;
    int r = 0;

    if (root == NULL || !json_is_object(root)) {
        ks_errorf(err, errlen, "the answer is not a JSON object%s%s", root == NULL ? ": " : "",
                  root == NULL ? jerr.text : "");
        json_decref(root);
        return KS_EINVAL;
    }
    sib = json_object_get(root, "siblings");
    if (!json_is_array(sib)) {
        ks_errorf(err, errlen, "the model info has no \"siblings\" list");
        json_decref(root);
        return KS_EINVAL;
    }
    json_array_foreach(sib, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "rfilename"));
        json_t *js = json_object_get(item, "size");
        if (name == NULL) {
            ks_errorf(err, errlen, "siblings[%zu] has no \"rfilename\"", i);
            r = KS_EINVAL;
            break;
        }
        if ((r = add(data, name, json_is_integer(js) && json_integer_value(js) >= 0 ? (uint64_t)json_integer_value(js)
                                                                                     : UINT64_MAX)) != 0)
            break;
    }
    json_decref(root);
    return r;
}

int ks__storage_fetch_hf(ks__storage_fetch_t *f, const ks__storage_uri_t *u)
{
    const char *ep = getenv("HF_ENDPOINT"), *tok = getenv("HF_TOKEN");
    ks__storage_auth_t auth = {0};
    ks__storage_listing_t l = {.f = f, .prefix = "", .url_suffix = "", .keep_slash = 1, .exact = SIZE_MAX};
    char *endpoint = NULL, what[512];
    ks_buf_t url, body, base;
    int r;

    ks_buf_init(&url, 0);
    ks_buf_init(&base, 0);
    ks_buf_init(&body, KS__STORAGE_MAX_LIST_BODY);
    snprintf(what, sizeof(what), "hf://%s:%s", u->bucket, u->revision);
    l.what = what;
    if ((endpoint = strdup(ep != NULL && *ep != '\0' ? ep : "https://huggingface.co")) == NULL)
        goto nomem;
    for (size_t n = strlen(endpoint); n > 0 && endpoint[n - 1] == '/';)
        endpoint[--n] = '\0';
    if (tok != NULL && *tok != '\0') {
        /* curl drops a custom Authorization header when a redirect leaves the host (the CDN) */
        char line[4096];
        if (snprintf(line, sizeof(line), "Authorization: Bearer %s", tok) >= (int)sizeof(line)) {
            ks_errorf(f->err, f->errlen, "HF_TOKEN is too long");
            r = KS_EINVAL;
            goto out;
        }
        if ((auth.headers = curl_slist_append(NULL, line)) == NULL)
            goto nomem;
        memset(line, 0, sizeof(line));
    }
    if (ks_buf_printf(&url, "%s/api/models/%s/revision/", endpoint, u->bucket) != 0 ||
        ks__storage_urlencode(&url, u->revision, 0) != 0 || ks_buf_putc(&url, '\0') != 0)
        goto nomem;
    if (ks_buf_printf(&base, "%s/%s/resolve/", endpoint, u->bucket) != 0 ||
        ks__storage_urlencode(&base, u->revision, 0) != 0 || ks_buf_puts(&base, "/") != 0 ||
        ks_buf_putc(&base, '\0') != 0)
        goto nomem;
    l.url_base = base.base;
    if ((r = ks__storage_get_buf(f, url.base, &auth, &body, KS__STORAGE_MAX_LIST_BODY)) != 0)
        goto out;
    if ((r = ks__storage_hf_parse_model(body.base, body.len, ks__storage_listing_add, &l, f->err, f->errlen)) != 0) {
        char why[512];
        snprintf(why, sizeof(why), "%s", f->err);
        if (strncmp(why, what, strlen(what)) != 0)
            ks_errorf(f->err, f->errlen, "listing %s: %s", what, why);
        goto out;
    }
    if ((r = ks__storage_listing_finish(&l)) == 0)
        r = ks__storage_get_objects(f, &l.objs, &auth);
    goto out;
nomem:
    ks_errorf(f->err, f->errlen, "out of memory");
    r = KS_ENOMEM;
out:
    ks__storage_objects_free(&l.objs);
    ks__storage_auth_free(&auth);
    ks_buf_free(&url);
    ks_buf_free(&base);
    ks_buf_free(&body);
    free(endpoint);
    return r;
}
