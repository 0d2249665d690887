/*
 * The spec of ServingRuntime and ClusterServingRuntime (serving.kserve.io/v1alpha1): the model
 * formats a runtime serves and the command lines that start its replicas.
 */
#include <string.h>

#include "validate.h"

static const ks_field_t model_format_fields[] = {
    {"name", KS_FT_STRING, KS_F_REQUIRED, .lo = 1},
    {"version", KS_FT_STRING},
    {"autoSelect", KS_FT_BOOL},
    {"priority", KS_FT_INT, .lo = 1, .hi = KS_INT_MAX},
};
static const ks_schema_t model_format_schema = KS_SCHEMA(model_format_fields);

/* grpc-v1 is listed by KServe's own runtimes (torchserve): accepted here, never selected. */
static void check_protocols(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    static const char *const protocols[] = {"v1", "v2", "grpc-v1", "grpc-v2", NULL};
    size_t i;
    json_t *p;

    json_array_foreach(v, i, p) {
        size_t old = ks__vpush_index(c, i);
        ks__want_enum(c, p, protocols);
        ks__vpop(c, old);
    }
}

static void check_container_name(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    char d[80];
    if (!ks__is_dns1123_label(json_string_value(v))) {
        ks__describe(v, d, sizeof(d));
        ks__verr(c, "%s is not a valid container name: at most 63 lower-case letters, digits and '-', starting and "
                    "ending with a letter or digit",
                 d);
    }
}

static const char *const port_protocols[] = {"TCP", "UDP", "SCTP", NULL};

static const ks_field_t port_fields[] = {
    {"containerPort", KS_FT_INT, KS_F_REQUIRED, .lo = 1, .hi = 65535},
    {"name", KS_FT_STRING, .lo = 1},
    {"protocol", KS_FT_ENUM, .values = port_protocols},
    KS_UNSUPPORTED("hostPort"),
    KS_UNSUPPORTED("hostIP"),
};
static const ks_schema_t port_schema = KS_SCHEMA(port_fields);

/* Settings that only take privileges away are accepted; asking for more is not supported. */
static void check_no_privilege(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    if (json_is_true(v))
        ks__verr(c, "true is not supported yet (replicas run without extra privileges)");
}

static const ks_field_t capabilities_fields[] = {
    {"drop", KS_FT_STRLIST},
    KS_UNSUPPORTED("add"),
};
static const ks_schema_t capabilities_schema = KS_SCHEMA(capabilities_fields);

static const ks_field_t security_context_fields[] = {
    {"allowPrivilegeEscalation", KS_FT_BOOL, .fn = check_no_privilege},
    {"privileged", KS_FT_BOOL, .fn = check_no_privilege},
    {"runAsNonRoot", KS_FT_BOOL},
    {"capabilities", KS_FT_OBJECT, .sub = &capabilities_schema},
    KS_UNSUPPORTED("runAsUser"),
    KS_UNSUPPORTED("runAsGroup"),
    KS_UNSUPPORTED("readOnlyRootFilesystem"),
    KS_UNSUPPORTED("seLinuxOptions"),
    KS_UNSUPPORTED("seccompProfile"),
    KS_UNSUPPORTED("windowsOptions"),
    KS_UNSUPPORTED("procMount"),
    KS_UNSUPPORTED("appArmorProfile"),
};
static const ks_schema_t security_context_schema = KS_SCHEMA(security_context_fields);

static const ks_field_t container_fields[] = {
    {"name", KS_FT_STRING, KS_F_REQUIRED, .lo = 1, .fn = check_container_name},
    {"image", KS_FT_STRING}, /* the platform decides later whether it can run it */
    {"command", KS_FT_STRLIST},
    {"args", KS_FT_STRLIST},
    {"env", KS_FT_NONE, .fn = ks__check_env},
    {"ports", KS_FT_LIST, .sub = &port_schema},
    {"resources", KS_FT_NONE, .fn = ks__check_resources},
    {"securityContext", KS_FT_OBJECT, .sub = &security_context_schema},
    KS_UNSUPPORTED("workingDir"),
    KS_UNSUPPORTED("envFrom"),
    KS_UNSUPPORTED("volumeMounts"),
    KS_UNSUPPORTED("volumeDevices"),
    KS_UNSUPPORTED("livenessProbe"),
    KS_UNSUPPORTED("readinessProbe"),
    KS_UNSUPPORTED("startupProbe"),
    KS_UNSUPPORTED("lifecycle"),
    KS_UNSUPPORTED("terminationMessagePath"),
    KS_UNSUPPORTED("terminationMessagePolicy"),
    KS_UNSUPPORTED("imagePullPolicy"),
    KS_UNSUPPORTED("stdin"),
    KS_UNSUPPORTED("stdinOnce"),
    KS_UNSUPPORTED("tty"),
    KS_UNSUPPORTED("resizePolicy"),
    KS_UNSUPPORTED("restartPolicy"),
};
static const ks_schema_t container_schema = KS_SCHEMA(container_fields);

/* Container names are unique within a runtime (a set of the names seen: no quadratic scan). */
static void check_container_names(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    json_t *seen = json_object(), *item;
    size_t i;

    if (seen == NULL) {
        c->nomem = 1;
        return;
    }
    json_array_foreach(v, i, item) {
        json_t *name = json_object_get(item, "name"), *first;
        if (!json_is_string(name) || strlen(json_string_value(name)) != json_string_length(name))
            continue;
        if ((first = json_object_get(seen, json_string_value(name))) != NULL) {
            size_t old = ks__vpush_index(c, i);
            ks__verr_key(c, "name", "duplicate container name \"%s\" (also containers[%" JSON_INTEGER_FORMAT "])",
                         json_string_value(name), json_integer_value(first));
            ks__vpop(c, old);
        } else if (json_object_set_new(seen, json_string_value(name), json_integer((json_int_t)i)) != 0) {
            c->nomem = 1;
            break;
        }
    }
    json_decref(seen);
}

static const ks_field_t adapter_fields[] = {
    {"serverType", KS_FT_STRING, .lo = 1},
    {"runtimeManagementPort", KS_FT_INT, .lo = 1, .hi = 65535},
    {"memBufferBytes", KS_FT_INT, .lo = 0, .hi = KS_INT_MAX},
    {"modelLoadingTimeoutMillis", KS_FT_INT, .lo = 0, .hi = KS_INT_MAX},
    {"env", KS_FT_NONE, .fn = ks__check_env},
};
static const ks_schema_t adapter_schema = KS_SCHEMA(adapter_fields);

static const ks_field_t runtime_spec_fields[] = {
    {"supportedModelFormats", KS_FT_LIST, .sub = &model_format_schema},
    {"protocolVersions", KS_FT_STRLIST, .fn = check_protocols},
    {"multiModel", KS_FT_BOOL},
    {"disabled", KS_FT_BOOL},
    {"containers", KS_FT_LIST, KS_F_REQUIRED, .lo = 1, .sub = &container_schema, .fn = check_container_names},
    {"builtInAdapter", KS_FT_OBJECT, .sub = &adapter_schema},
    {"annotations", KS_FT_NONE, .fn = ks__check_annotations},
    KS_UNSUPPORTED("labels"),
    KS_UNSUPPORTED("grpcEndpoint"),
    KS_UNSUPPORTED("grpcDataEndpoint"),
    KS_UNSUPPORTED("httpDataEndpoint"),
    KS_UNSUPPORTED("replicas"),
    KS_UNSUPPORTED("storageHelper"),
    KS_UNSUPPORTED("workerSpec"),
    KS_POD_SPEC_UNSUPPORTED,
};
const ks_schema_t ks__runtime_spec_schema = KS_SCHEMA(runtime_spec_fields);
