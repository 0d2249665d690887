/*
 * The API server.  See include/ks/apiserver.h.
 */
#include <string.h>

#include "ks/apiserver.h"
#include "ks/http.h"
#include "ks/json.h"
#include "ks/resource.h"

typedef struct kind_info {
    const char *plural;
    const char *kind;
    const char *group_version; /* "serving.kserve.io/v1beta1" */
    int cluster_scoped;
    int read_only;
} kind_info_t;

static const kind_info_t kinds[] = {
    {"inferenceservices", "InferenceService", "serving.kserve.io/v1beta1", 0, 0},
    {"servingruntimes", "ServingRuntime", "serving.kserve.io/v1alpha1", 0, 0},
    {"clusterservingruntimes", "ClusterServingRuntime", "serving.kserve.io/v1alpha1", 1, 0},
    {"revisions", "Revision", "serving.knative.dev/v1", 0, 1},
};

struct ks_apiserver {
    ks_http_server_t *http;
    ks_store_t *store;
    ks_reconciler_t *rec;
    json_t *builtin;
};

/* ---- answers ------------------------------------------------------------------------------ */

static void send_json(ks_http_worker_t *w, h2o_req_t *req, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s == NULL) {
        ks_http_send_error(w, req, 500, "cannot encode the answer");
        return;
    }
    ks_http_send(req, status, NULL, s, strlen(s));
    free(s);
}

static const char *reason_of(int status)
{
    switch (status) {
    case 400: return "BadRequest";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 422: return "Invalid";
    default: return status >= 500 ? "InternalError" : "BadRequest";
    }
}

/* Kubernetes' Status object, with the platform's {"error": ...} */
static void send_status(ks_http_worker_t *w, h2o_req_t *req, int status, const char *reason, const char *msg)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "error", msg, "kind", "Status", "apiVersion", "v1",
                          "status", "Failure", "message", msg, "reason", reason != NULL ? reason : reason_of(status),
                          "code", status);
    send_json(w, req, status, j);
    json_decref(j);
}

/* ---- paths ---------------------------------------------------------------------------------- */

typedef struct api_path {
    const kind_info_t *k;
    char ns[254];
    char name[254];
    int all_ns;
    int events;
} api_path_t;

static int seg(const char **p, const char *end, char *out, size_t len)
{
    const char *s = *p, *e = s;
    while (e < end && *e != '/')
        e++;
    if (e == s || (size_t)(e - s) >= len)
        return 0;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    *p = e < end ? e + 1 : e;
    return 1;
}

/* /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/events]] */
static int parse_path(const char *path, size_t len, api_path_t *ap)
{
    const char *q = memchr(path, '?', len), *p = path, *end;
    char group[64], version[32], a[254], gv[128];
    memset(ap, 0, sizeof(*ap));
    end = q != NULL ? q : path + len;
    if ((size_t)(end - p) < 6 || memcmp(p, "/apis/", 6) != 0)
        return 0;
    p += 6;
    if (!seg(&p, end, group, sizeof(group)) || !seg(&p, end, version, sizeof(version)) || !seg(&p, end, a, sizeof(a)))
        return 0;
    snprintf(gv, sizeof(gv), "%s/%s", group, version);
    if (strcmp(a, "namespaces") == 0) {
        if (!seg(&p, end, ap->ns, sizeof(ap->ns)) || !seg(&p, end, a, sizeof(a)))
            return 0;
    } else {
        ap->all_ns = 1;
    }
    for (size_t i = 0; i < KS_ARRAY_SIZE(kinds); ++i)
        if (strcmp(kinds[i].plural, a) == 0 && strcmp(kinds[i].group_version, gv) == 0)
            ap->k = &kinds[i];
    if (ap->k == NULL)
        return 0;
    if (ap->k->cluster_scoped) {
        if (!ap->all_ns)
            return 0;
        ap->all_ns = 0;
    }
    if (p < end && !seg(&p, end, ap->name, sizeof(ap->name)))
        return 0;
    if (p < end) {
        if (!seg(&p, end, a, sizeof(a)) || strcmp(a, "events") != 0 || ap->name[0] == '\0' || p < end)
            return 0;
        ap->events = 1;
    }
    return 1;
}

static int query_param(h2o_req_t *req, const char *key, char *out, size_t len)
{
    const char *q = memchr(req->path.base, '?', req->path.len), *end = req->path.base + req->path.len;
    size_t kl = strlen(key);
    if (q == NULL)
        return 0;
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp != NULL ? amp : end;
        if ((size_t)(e - p) > kl && memcmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t n = (size_t)(e - p) - kl - 1, o = 0;
            /* %XX decoding */
            for (size_t i = 0; i < n && o + 1 < len; ++i) {
                const char *c = p + kl + 1 + i;
                if (*c == '%' && i + 2 < n) {
                    char hex[3] = {c[1], c[2], 0};
                    out[o++] = (char)strtol(hex, NULL, 16);
                    i += 2;
                } else {
                    out[o++] = *c == '+' ? ' ' : *c;
                }
            }
            out[o] = '\0';
            return 1;
        }
        p = e + 1;
    }
    return 0;
}

/* ---- handlers ------------------------------------------------------------------------------- */

static int builtin_named(ks_apiserver_t *a, const char *name, json_t **out)
{
    size_t i;
    json_t *rt;
    json_array_foreach(a->builtin, i, rt) if (strcmp(json_string_value(json_object_get(json_object_get(rt, "metadata"),
                                                                                       "name")) ?: "",
                                                      name) == 0)
    {
        *out = json_incref(rt);
        return 1;
    }
    return 0;
}

static void do_list(ks_apiserver_t *a, ks_http_worker_t *w, h2o_req_t *req, const api_path_t *ap)
{
    json_t *items = NULL, *list;
    char sel[300];
    ks_store_list(a->store, ap->k->kind, ap->all_ns || ap->k->cluster_scoped ? NULL : ap->ns, &items);
    if (ap->k->cluster_scoped) {
        /* the built-ins, unless the user stored one of the same name */
        size_t i;
        json_t *rt;
        json_array_foreach(a->builtin, i, rt)
        {
            const char *n = json_string_value(json_object_get(json_object_get(rt, "metadata"), "name"));
            int shadowed = 0;
            size_t j;
            json_t *x;
            json_array_foreach(items, j, x) if (strcmp(json_string_value(json_object_get(json_object_get(x, "metadata"),
                                                                                         "name")) ?: "",
                                                       n ?: "") == 0) shadowed = 1;
            if (!shadowed)
                json_array_append(items, rt);
        }
    }
    if (a->rec != NULL) {
        size_t i;
        json_t *x;
        json_array_foreach(items, i, x) ks_reconciler_overlay(a->rec, x);
    }
    if (query_param(req, "labelSelector", sel, sizeof(sel))) {
        /* k=v[,k=v] */
        json_t *kept = json_array(), *x;
        size_t i;
        json_array_foreach(items, i, x)
        {
            json_t *labels = json_object_get(json_object_get(x, "metadata"), "labels");
            int ok = 1;
            char copy[300], *tok, *save = NULL;
            snprintf(copy, sizeof(copy), "%s", sel);
            for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(tok, '=');
                const char *v;
                if (eq == NULL) {
                    ok = ok && json_object_get(labels, tok) != NULL;
                    continue;
                }
                *eq = '\0';
                if (eq[1] == '=')
                    eq++;
                v = json_string_value(json_object_get(labels, tok));
                ok = ok && v != NULL && strcmp(v, eq + 1) == 0;
            }
            if (ok)
                json_array_append(kept, x);
        }
        json_decref(items);
        items = kept;
    }
    {
        char kind[128];
        snprintf(kind, sizeof(kind), "%sList", ap->k->kind);
        list = json_pack("{s:s, s:s, s:{s:s}, s:o}", "apiVersion", ap->k->group_version, "kind", kind, "metadata",
                         "resourceVersion", "", "items", items);
    }
    send_json(w, req, 200, list);
    json_decref(list);
}

static void not_found(ks_http_worker_t *w, h2o_req_t *req, const api_path_t *ap)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "%s.%.*s \"%s\" not found", ap->k->plural,
             (int)(strchr(ap->k->group_version, '/') - ap->k->group_version), ap->k->group_version, ap->name);
    send_status(w, req, 404, "NotFound", msg);
}

static void do_get(ks_apiserver_t *a, ks_http_worker_t *w, h2o_req_t *req, const api_path_t *ap)
{
    json_t *o = NULL;
    if (ks_store_get(a->store, ap->k->kind, ap->k->cluster_scoped ? "" : ap->ns, ap->name, &o) != 0 &&
        !(ap->k->cluster_scoped && builtin_named(a, ap->name, &o))) {
        not_found(w, req, ap);
        return;
    }
    if (ap->events) {
        json_t *ev = NULL, *res;
        ks_store_events(a->store, ap->k->kind, ap->ns, ap->name, 100, &ev);
        res = json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "EventList", "items", ev);
        send_json(w, req, 200, res);
        json_decref(res);
    } else {
        if (a->rec != NULL)
            ks_reconciler_overlay(a->rec, o);
        send_json(w, req, 200, o);
    }
    json_decref(o);
}

static void do_write(ks_apiserver_t *a, ks_http_worker_t *w, h2o_req_t *req, const api_path_t *ap, int create)
{
    json_error_t je;
    json_t *obj, *meta, *stored = NULL;
    ks_kind_t kind;
    char err[2048];
    const char *bname, *bns, *rv;
    int64_t expect = create ? 0 : KS_STORE_REPLACE; /* PUT replaces, as Kubernetes does: 404 when absent */
    int r;

    if (req->entity.base == NULL || req->entity.len == 0) {
        send_status(w, req, 400, NULL, "the request has no body");
        return;
    }
    if ((obj = json_loadb(req->entity.base, req->entity.len, 0, &je)) == NULL) {
        snprintf(err, sizeof(err), "malformed JSON at line %d, column %d: %s", je.line, je.column, je.text);
        send_status(w, req, 400, NULL, err);
        return;
    }
    err[0] = '\0';
    /* an object without a namespace belongs to the request's (the validator would default it) */
    if (!ap->k->cluster_scoped && json_is_object(json_object_get(obj, "metadata")) &&
        json_object_get(json_object_get(obj, "metadata"), "namespace") == NULL)
        json_object_set_new(json_object_get(obj, "metadata"), "namespace", json_string(ap->ns));
    if (ks_validate_json(obj, &kind, err, sizeof(err)) != 0) {
        send_status(w, req, 422, "Invalid", err);
        json_decref(obj);
        return;
    }
    if (strcmp(json_string_value(json_object_get(obj, "kind")) ?: "", ap->k->kind) != 0) {
        snprintf(err, sizeof(err), "kind %s does not belong at %s (expected %s)",
                 json_string_value(json_object_get(obj, "kind")) ?: "?", ap->k->plural, ap->k->kind);
        send_status(w, req, 400, NULL, err);
        json_decref(obj);
        return;
    }
    meta = json_object_get(obj, "metadata");
    bname = json_string_value(json_object_get(meta, "name"));
    bns = json_string_value(json_object_get(meta, "namespace"));
    if (!ap->k->cluster_scoped) {
        if (bns != NULL && strcmp(bns, ap->ns) != 0) {
            snprintf(err, sizeof(err), "the namespace of the object (%s) does not match the namespace of the request (%s)",
                     bns, ap->ns);
            send_status(w, req, 400, NULL, err);
            json_decref(obj);
            return;
        }
        json_object_set_new(meta, "namespace", json_string(ap->ns));
    }
    if (!create && strcmp(bname ?: "", ap->name) != 0) {
        snprintf(err, sizeof(err), "the name of the object (%s) does not match the name in the path (%s)", bname ?: "",
                 ap->name);
        send_status(w, req, 400, NULL, err);
        json_decref(obj);
        return;
    }
    /* a runtime named by an InferenceService must exist (the rest of the choice shows in status) */
    if (kind == KS_KIND_ISVC) {
        const char *rt = json_string_value(
            json_object_get(json_object_get(json_object_get(json_object_get(obj, "spec"), "predictor"), "model"), "runtime"));
        json_t *found = NULL;
        if (rt != NULL && ks_store_get(a->store, "ServingRuntime", ap->ns, rt, &found) != 0 &&
            ks_store_get(a->store, "ClusterServingRuntime", "", rt, &found) != 0 && !builtin_named(a, rt, &found)) {
            snprintf(err, sizeof(err),
                     "spec.predictor.model.runtime: no ServingRuntime in namespace %s or ClusterServingRuntime named \"%s\"",
                     ap->ns, rt);
            send_status(w, req, 422, "Invalid", err);
            json_decref(obj);
            return;
        }
        json_decref(found);
        /* initial-scale 0 is the platform's to allow (Knative's allow-zero-initial-scale is cluster-wide) */
        {
            json_t *ann = json_object_get(meta, "annotations");
            const char *is = json_string_value(json_object_get(ann, "autoscaling.knative.dev/initial-scale"));
            if (is == NULL)
                is = json_string_value(json_object_get(ann, "autoscaling.knative.dev/initialScale"));
            if (is != NULL && strtol(is, NULL, 10) == 0 && a->rec != NULL && !ks_reconciler_allows_zero_initial_scale(a->rec)) {
                send_status(w, req, 422, "Invalid",
                            "metadata.annotations.autoscaling.knative.dev/initial-scale: 0 is only allowed when the "
                            "platform's autoscaler config sets allow-zero-initial-scale: true");
                json_decref(obj);
                return;
            }
        }
    }
    if (!create && (rv = json_string_value(json_object_get(meta, "resourceVersion"))) != NULL && rv[0])
        expect = strtoll(rv, NULL, 10);
    r = ks_store_put(a->store, ap->k->kind, obj, expect, ap->k->cluster_scoped, &stored, err, sizeof(err));
    json_decref(obj);
    switch (r) {
    case 0:
        ks_reconciler_poke(a->rec);
        send_json(w, req, create ? 201 : 200, stored);
        break;
    case KS_EEXIST: send_status(w, req, 409, "AlreadyExists", err); break;
    case KS_ECONFLICT: send_status(w, req, 409, "Conflict", err); break;
    case KS_ENOENT: send_status(w, req, 404, "NotFound", err); break;
    case KS_EINVAL: send_status(w, req, 422, "Invalid", err); break;
    default: send_status(w, req, 500, NULL, err[0] ? err : "store failure"); break;
    }
    json_decref(stored);
}

static void do_delete(ks_apiserver_t *a, ks_http_worker_t *w, h2o_req_t *req, const api_path_t *ap)
{
    json_t *res;
    if (ks_store_delete(a->store, ap->k->kind, ap->k->cluster_scoped ? "" : ap->ns, ap->name) != 0) {
        not_found(w, req, ap);
        return;
    }
    ks_reconciler_poke(a->rec);
    res = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "kind", "Status", "apiVersion", "v1", "status", "Success", "details",
                    "name", ap->name, "kind", ap->k->plural);
    send_json(w, req, 200, res);
    json_decref(res);
}

static void handle(ks_http_worker_t *w, h2o_req_t *req, void *data)
{
    ks_apiserver_t *a = data;
    api_path_t ap;
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    int put = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT"));
    int del = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE"));
    char msg[400];

    if (h2o_memis(req->path.base, req->path.len, H2O_STRLIT("/healthz")) ||
        h2o_memis(req->path.base, req->path.len, H2O_STRLIT("/readyz"))) {
        ks_http_send(req, 200, "text/plain", H2O_STRLIT("ok"));
        return;
    }
    if (h2o_memis(req->path.base, req->path.len, H2O_STRLIT("/version"))) {
        ks_http_send(req, 200, NULL, H2O_STRLIT("{\"gitVersion\":\"kserve-c 0.1.0\",\"platform\":\"linux\"}"));
        return;
    }
    if (!parse_path(req->path.base, req->path.len, &ap)) {
        snprintf(msg, sizeof(msg), "no such resource path: %.*s", (int)(req->path.len > 300 ? 300 : req->path.len),
                 req->path.base);
        send_status(w, req, 404, "NotFound", msg);
        return;
    }
    if (ap.name[0] == '\0') {
        if (get)
            do_list(a, w, req, &ap);
        else if (post && !ap.all_ns && !ap.k->read_only)
            do_write(a, w, req, &ap, 1);
        else
            send_status(w, req, 405, NULL, "method not allowed on a collection");
        return;
    }
    if (ap.events && !get) {
        send_status(w, req, 405, NULL, "events are read only");
        return;
    }
    if (get)
        do_get(a, w, req, &ap);
    else if (put && !ap.k->read_only)
        do_write(a, w, req, &ap, 0);
    else if (del && !ap.k->read_only)
        do_delete(a, w, req, &ap);
    else
        send_status(w, req, 405, NULL, ap.k->read_only ? "revisions are read only" : "method not allowed");
}

ks_apiserver_t *ks_apiserver_new(ks_store_t *store, ks_reconciler_t *rec, const char *unix_path, const char *host,
                                 int port, char *err, size_t errlen)
{
    ks_apiserver_t *a = calloc(1, sizeof(*a));
    ks_http_config_t hc;
    if (a == NULL)
        return NULL;
    a->store = store;
    a->rec = rec;
    a->builtin = ks_builtin_runtimes();
    memset(&hc, 0, sizeof(hc));
    hc.unix_path = unix_path;
    hc.host = host;
    hc.port = port;
    hc.workers = 1;
    hc.max_body = 8u << 20;
    hc.handler = handle;
    hc.data = a;
    if ((a->http = ks_http_server_new(&hc, err, errlen)) == NULL) {
        json_decref(a->builtin);
        free(a);
        return NULL;
    }
    return a;
}

int ks_apiserver_start(ks_apiserver_t *a, char *err, size_t errlen)
{
    return ks_http_server_start(a->http, err, errlen);
}

void ks_apiserver_stop(ks_apiserver_t *a)
{
    ks_http_server_stop(a->http, 1000);
}
