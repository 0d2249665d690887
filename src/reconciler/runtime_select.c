/*
 * ServingRuntime selection, as KServe's controller does it.
 */
#include <string.h>

#include "ks/reconciler.h"
#include "ks/resource.h"
#include "ks/store.h"
#include "builtin_runtimes.inc"

json_t *ks_builtin_runtimes(void)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < sizeof(builtin_runtime_files) / sizeof(builtin_runtime_files[0]); ++i) {
        ks_doc_list_t l = {0};
        char err[KS_ERRLEN];
        if (ks_yaml_load(builtin_runtime_files[i].text, strlen(builtin_runtime_files[i].text), builtin_runtime_files[i].name, &l,
                         err, sizeof(err)) != 0) {
            fprintf(stderr, "kserve: built-in runtime %s: %s\n", builtin_runtime_files[i].name, err);
            continue;
        }
        for (size_t k = 0; k < l.n; ++k) {
            /* built in: as old as this daemon */
            static char started[32];
            json_t *meta = json_object_get(l.docs[k].obj, "metadata");
            if (started[0] == '\0')
                ks_rfc3339(started, sizeof(started));
            if (json_is_object(meta) && json_object_get(meta, "creationTimestamp") == NULL)
                json_object_set_new(meta, "creationTimestamp", json_string(started));
            json_array_append(arr, l.docs[k].obj);
        }
        ks_doc_list_free(&l);
    }
    return arr;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* the priority of rt's entry for the format, or 0 when rt does not support it */
static int supports(json_t *rt, const char *format, const char *version, const char *protocol, int need_auto)
{
    json_t *spec = json_object_get(rt, "spec"), *f, *protos = json_object_get(spec, "protocolVersions"), *p;
    size_t i;
    int proto_ok = 0;

    if (protos == NULL || json_array_size(protos) == 0) {
        proto_ok = 1; /* KServe: a runtime that lists none supports every protocol */
    } else {
        json_array_foreach(protos, i, p) if (json_is_string(p) && strcmp(json_string_value(p), protocol) == 0) proto_ok = 1;
    }
    if (!proto_ok)
        return 0;
    json_array_foreach(json_object_get(spec, "supportedModelFormats"), i, f)
    {
        const char *n = str(f, "name"), *v = str(f, "version");
        if (n == NULL || strcmp(n, format) != 0)
            continue;
        /* KServe: a model asking for a version needs a runtime declaring exactly that version */
        if (version != NULL && (v == NULL || strcmp(version, v) != 0))
            continue;
        if (need_auto && !json_is_true(json_object_get(f, "autoSelect")))
            continue;
        json_t *pr = json_object_get(f, "priority");
        return json_is_integer(pr) && json_integer_value(pr) > 0 ? (int)json_integer_value(pr) : 1;
    }
    return 0;
}

json_t *ks_select_runtime(json_t *model, json_t *ns_runtimes, json_t *cluster_runtimes, const char **reason, char *err,
                          size_t errlen)
{
    json_t *fmt = json_object_get(model, "modelFormat"), *rt, *best = NULL;
    const char *format = str(fmt, "name"), *version = str(fmt, "version"), *named = str(model, "runtime");
    const char *protocol = str(model, "protocolVersion");
    json_t *lists[2] = {ns_runtimes, cluster_runtimes};
    size_t i;
    int best_prio = 0;

    if (protocol == NULL || strcmp(protocol, "grpc-v2") == 0)
        protocol = protocol == NULL ? "v1" : "grpc-v2";
    if (format == NULL) {
        *reason = "InvalidPredictorSpec";
        ks_errorf(err, errlen, "spec.predictor.model.modelFormat.name is required");
        return NULL;
    }
    if (named != NULL) {
        for (int l = 0; l < 2; ++l)
            json_array_foreach(lists[l], i, rt)
            {
                if (strcmp(str(json_object_get(rt, "metadata"), "name") ?: "", named) != 0)
                    continue;
                if (json_is_true(json_object_get(json_object_get(rt, "spec"), "disabled"))) {
                    *reason = "RuntimeDisabled";
                    ks_errorf(err, errlen, "runtime %s is disabled", named);
                    return NULL;
                }
                if (!supports(rt, format, version, protocol, 0)) {
                    *reason = "NoSupportingRuntime";
                    ks_errorf(err, errlen, "specified runtime %s does not support model format %s%s%s with protocol %s",
                              named, format, version ? " version " : "", version ? version : "", protocol);
                    return NULL;
                }
                return rt;
            }
        *reason = "RuntimeNotRecognized";
        ks_errorf(err, errlen, "no ServingRuntime or ClusterServingRuntime named %s", named);
        return NULL;
    }
    /* namespace runtimes win over cluster runtimes, then priority */
    for (int l = 0; l < 2 && best == NULL; ++l)
        json_array_foreach(lists[l], i, rt)
        {
            int p;
            if (json_is_true(json_object_get(json_object_get(rt, "spec"), "disabled")))
                continue;
            if ((p = supports(rt, format, version, protocol, 1)) > best_prio) {
                best = rt;
                best_prio = p;
            }
        }
    if (best == NULL) {
        *reason = "NoSupportingRuntime";
        ks_errorf(err, errlen, "no runtime found to support predictor with model type %s%s%s and protocol %s", format,
                  version ? " version " : "", version ? version : "", protocol);
    }
    return best;
}
