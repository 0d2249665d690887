/*
 * The InferenceService's spec (serving.kserve.io/v1beta1): what the platform serves, what KServe
 * has and the platform does not yet, and the rewrite of the older single-key predictor.
 */
#include <string.h>

#include "posmap.h"
#include "validate.h"

/* The older predictor form: {predictor: {sklearn: {storageUri: ...}}}; modelFormat.name is the key. */
static const char *const frameworks[] = {"sklearn", "xgboost",     "lightgbm", "onnx", "pytorch",
                                         "tensorflow", "triton", "huggingface", "pmml", "paddle"};

static void check_storage_uri(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    static const char *const schemes[] = {"file", "http", "https", "s3", "gs", "pvc", "hf"};
    const char *s = json_string_value(v), *sep = strstr(s, "://");
    size_t n;

    if (sep == NULL)
        return; /* a local path */
    n = (size_t)(sep - s);
    for (size_t i = 0; i < KS_ARRAY_SIZE(schemes); ++i)
        if (strlen(schemes[i]) == n && strncmp(s, schemes[i], n) == 0)
            return;
    if (n == 3 && strncmp(s, "oci", 3) == 0)
        ks__verr(c, "oci:// (model images) is not supported yet");
    else
        ks__verr(c, "unsupported scheme \"%.*s://\" (gs://, s3://, http://, https://, pvc://, hf://, file:// or a "
                    "local path)",
                 (int)(n > 20 ? 20 : n), s);
}

static void check_protocol(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    static const char *const protocols[] = {"v1", "v2", "grpc-v2", NULL};
    if (json_is_string(v) && strcmp(json_string_value(v), "grpc-v1") == 0)
        ks__verr(c, "grpc-v1 is not supported yet (v1, v2 or grpc-v2)");
    else
        ks__want_enum(c, v, protocols);
}

static void check_runtime_name(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    char d[80];
    if (!ks__is_dns1123_subdomain(json_string_value(v))) {
        ks__describe(v, d, sizeof(d));
        ks__verr(c, "%s is not a valid ServingRuntime name", d);
    }
}

static const ks_field_t model_format_fields[] = {
    {"name", KS_FT_STRING, KS_F_REQUIRED, .lo = 1},
    {"version", KS_FT_STRING},
};
static const ks_schema_t model_format_schema = KS_SCHEMA(model_format_fields);

/* Fields of both predictor.model and the older framework keys (KServe's PredictorExtensionSpec). */
#define PREDICTOR_EXTENSION_FIELDS                                                                                     \
    {"storageUri", KS_FT_STRING, KS_F_REQUIRED, .lo = 1, .fn = check_storage_uri},                                     \
        {"protocolVersion", KS_FT_NONE, .fn = check_protocol}, {"runtimeVersion", KS_FT_STRING, .lo = 1},              \
        {"args", KS_FT_STRLIST}, {"env", KS_FT_NONE, .fn = ks__check_env},                                             \
        {"resources", KS_FT_NONE, .fn = ks__check_resources},                                                          \
        {"name", KS_FT_NONE, KS_F_UNSUPPORTED,                                                                         \
         .note = "not allowed in a predictor (the platform names the model server itself)"},                           \
        KS_UNSUPPORTED("image"), KS_UNSUPPORTED("command"), KS_UNSUPPORTED("workingDir"), KS_UNSUPPORTED("ports"),     \
        KS_UNSUPPORTED("envFrom"), KS_UNSUPPORTED("volumeMounts"), KS_UNSUPPORTED("volumeDevices"),                    \
        KS_UNSUPPORTED("livenessProbe"), KS_UNSUPPORTED("readinessProbe"), KS_UNSUPPORTED("startupProbe"),             \
        KS_UNSUPPORTED("lifecycle"), KS_UNSUPPORTED("terminationMessagePath"),                                         \
        KS_UNSUPPORTED("terminationMessagePolicy"), KS_UNSUPPORTED("imagePullPolicy"),                                 \
        KS_UNSUPPORTED("securityContext"), KS_UNSUPPORTED("stdin"), KS_UNSUPPORTED("stdinOnce"),                       \
        KS_UNSUPPORTED("tty"), KS_UNSUPPORTED("resizePolicy"), KS_UNSUPPORTED("restartPolicy"),                        \
        KS_UNSUPPORTED("storage"), KS_UNSUPPORTED("storageUris")

static const ks_field_t model_fields[] = {
    {"modelFormat", KS_FT_OBJECT, KS_F_REQUIRED, .sub = &model_format_schema},
    {"runtime", KS_FT_STRING, .lo = 1, .fn = check_runtime_name},
    PREDICTOR_EXTENSION_FIELDS,
};
static const ks_field_t framework_fields[] = {PREDICTOR_EXTENSION_FIELDS};

extern const ks_schema_t ks__predictor_schema;
static const ks_schema_t model_schema = KS_SCHEMA(model_fields, NULL, &ks__predictor_schema, "spec.predictor");
static const ks_schema_t framework_schema = KS_SCHEMA(framework_fields, NULL, &ks__predictor_schema, "spec.predictor");

static const char *const scale_metrics[] = {"concurrency", "rps", "cpu", "memory", NULL};

/* predictor.containers: a custom model server, run here as a local command behind the queue-proxy */
static const ks_field_t custom_port_fields[] = {
    {"containerPort", KS_FT_INT, .lo = 1, .hi = 65535},
    {"name", KS_FT_STRING, .lo = 1},
    {"protocol", KS_FT_STRING, .lo = 1},
    KS_UNSUPPORTED("hostPort"),
    KS_UNSUPPORTED("hostIP"),
};
static const ks_schema_t custom_port_schema = KS_SCHEMA(custom_port_fields);

static void check_probe_path(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    const char *p = json_string_value(v);
    if (p != NULL && (p[0] != '/' || strpbrk(p, " \r\n") != NULL || strlen(p) > 1024))
        ks__verr(c, "expected a path starting with '/' (at most 1024 characters, no spaces)");
}

static const ks_field_t http_get_fields[] = {
    {"path", KS_FT_STRING, .lo = 1, .fn = check_probe_path},
    {"port", KS_FT_NONE},
    {"scheme", KS_FT_STRING},
    KS_UNSUPPORTED("host"),
    KS_UNSUPPORTED("httpHeaders"),
};
static const ks_schema_t http_get_schema = KS_SCHEMA(http_get_fields);

static const ks_field_t probe_fields[] = {
    {"httpGet", KS_FT_OBJECT, .sub = &http_get_schema},
    {"tcpSocket", KS_FT_NONE},
    {"initialDelaySeconds", KS_FT_INT, .lo = 0, .hi = KS_INT_MAX},
    {"periodSeconds", KS_FT_INT, .lo = 1, .hi = KS_INT_MAX},
    {"timeoutSeconds", KS_FT_INT, .lo = 1, .hi = KS_INT_MAX},
    {"successThreshold", KS_FT_INT, .lo = 1, .hi = KS_INT_MAX},
    {"failureThreshold", KS_FT_INT, .lo = 1, .hi = KS_INT_MAX},
    KS_UNSUPPORTED("exec"),
    KS_UNSUPPORTED("grpc"),
};
static const ks_schema_t probe_schema = KS_SCHEMA(probe_fields);

static void custom_container_post(ks_vctx_t *c, json_t *obj)
{
    json_t *cmd = json_object_get(obj, "command");
    const char *image = json_string_value(json_object_get(obj, "image"));
    if (json_array_size(cmd) == 0) {
        if (image != NULL)
            ks__verr_key(c, "command", "required: image \"%s\" cannot run here (this platform runs model servers as "
                                       "local processes, not container images); give the command that starts your "
                                       "model server, e.g. command: [python3, model.py]",
                         image);
        else
            ks__verr_key(c, "command", "required: the command that starts your model server, e.g. "
                                       "command: [python3, model.py]");
    }
}

static const ks_field_t custom_container_fields[] = {
    {"name", KS_FT_STRING, .lo = 1},
    {"image", KS_FT_STRING}, /* not run: the command is */
    {"command", KS_FT_STRLIST},
    {"args", KS_FT_STRLIST},
    {"env", KS_FT_NONE, .fn = ks__check_env},
    {"ports", KS_FT_LIST, .sub = &custom_port_schema},
    {"resources", KS_FT_NONE, .fn = ks__check_resources},
    {"readinessProbe", KS_FT_OBJECT, .sub = &probe_schema},
    {"livenessProbe", KS_FT_OBJECT, .sub = &probe_schema}, /* the supervisor watches the process itself */
    {"imagePullPolicy", KS_FT_STRING},
    KS_UNSUPPORTED("workingDir"),
    KS_UNSUPPORTED("envFrom"),
    KS_UNSUPPORTED("volumeMounts"),
    KS_UNSUPPORTED("volumeDevices"),
    KS_UNSUPPORTED("startupProbe"),
    KS_UNSUPPORTED("lifecycle"),
    KS_UNSUPPORTED("securityContext"),
    KS_UNSUPPORTED("stdin"),
    KS_UNSUPPORTED("stdinOnce"),
    KS_UNSUPPORTED("tty"),
};
static const ks_schema_t custom_container_schema = KS_SCHEMA(custom_container_fields, custom_container_post);

static void check_one_container(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f)
{
    if (json_array_size(v) > 1)
        ks__verr(c, "one container (the model server) is supported, got %zu: sidecar containers cannot run here",
                 json_array_size(v));
}

static int json_streq(json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* Cross-field rules: one implementation, min <= max, the metric fits the deployment mode. */
static void predictor_post(ks_vctx_t *c, json_t *obj)
{
    const char *impl[2 + KS_ARRAY_SIZE(frameworks)];
    size_t nimpl = 0;
    json_t *min = json_object_get(obj, "minReplicas"), *max = json_object_get(obj, "maxReplicas");
    json_t *metric = json_object_get(obj, "scaleMetric"), *target = json_object_get(obj, "scaleTarget");

    if (json_object_get(obj, "model") != NULL)
        impl[nimpl++] = "model";
    if (json_object_get(obj, "containers") != NULL)
        impl[nimpl++] = "containers";
    for (size_t i = 0; i < KS_ARRAY_SIZE(frameworks); ++i)
        if (json_object_get(obj, frameworks[i]) != NULL)
            impl[nimpl++] = frameworks[i];
    if (nimpl == 0)
        ks__verr_key(c, "model", "required field missing (or the older form: one of sklearn, xgboost, lightgbm, onnx, "
                                 "pytorch, tensorflow, triton, huggingface, pmml, paddle)");
    for (size_t i = 1; i < nimpl; ++i)
        ks__verr_key(c, impl[i], "only one of model, containers or a framework (sklearn, xgboost, ...) may be set, "
                                 "%s is set too",
                     impl[0]);

    if (json_is_integer(min) && json_is_integer(max) && json_integer_value(max) > 0 &&
        json_integer_value(min) > json_integer_value(max))
        ks__verr_key(c, "minReplicas", "%" JSON_INTEGER_FORMAT " is greater than maxReplicas %" JSON_INTEGER_FORMAT,
                     json_integer_value(min), json_integer_value(max));
    if (c->raw && json_is_integer(min) && json_integer_value(min) == 0)
        ks__verr_key(c, "minReplicas", "0 (scale to zero) needs the Serverless deployment mode; RawDeployment keeps "
                                       "at least one replica");

    if (!c->raw && (json_streq(metric, "cpu") || json_streq(metric, "memory")))
        ks__verr_key(c, "scaleMetric", "%s needs the annotation serving.kserve.io/deploymentMode: RawDeployment "
                                       "(Serverless scales on concurrency or rps)",
                     json_string_value(metric));
    if (c->raw && (json_streq(metric, "concurrency") || json_streq(metric, "rps")))
        ks__verr_key(c, "scaleMetric", "%s needs the Serverless deployment mode (RawDeployment scales on cpu or "
                                       "memory)",
                     json_string_value(metric));
    if (json_streq(metric, "cpu") && json_is_integer(target) && json_integer_value(target) > 100)
        ks__verr_key(c, "scaleTarget", "with scaleMetric cpu this is a utilisation percentage: must be from 1 to 100, "
                                       "got %" JSON_INTEGER_FORMAT,
                     json_integer_value(target));
}

#define FRAMEWORK(name) {(name), KS_FT_OBJECT, .sub = &framework_schema}

static const ks_field_t predictor_fields[] = {
    {"model", KS_FT_OBJECT, .sub = &model_schema},
    FRAMEWORK("sklearn"),
    FRAMEWORK("xgboost"),
    FRAMEWORK("lightgbm"),
    FRAMEWORK("onnx"),
    FRAMEWORK("pytorch"),
    FRAMEWORK("tensorflow"),
    FRAMEWORK("triton"),
    FRAMEWORK("huggingface"),
    FRAMEWORK("pmml"),
    FRAMEWORK("paddle"),
    {"minReplicas", KS_FT_INT, .lo = 0, .hi = KS_INT_MAX},
    {"maxReplicas", KS_FT_INT, .lo = 0, .hi = KS_INT_MAX},
    {"scaleTarget", KS_FT_INT, .lo = 1, .hi = KS_INT_MAX},
    {"scaleMetric", KS_FT_ENUM, .values = scale_metrics},
    {"containerConcurrency", KS_FT_INT, .lo = 0, .hi = KS_INT_MAX},
    {"timeout", KS_FT_INT, .lo = 1, .hi = KS_INT_MAX},
    {"canaryTrafficPercent", KS_FT_INT, .lo = 0, .hi = 100},
    {"serviceAccountName", KS_FT_STRING, .lo = 1},
    /* KServe's component extensions the platform does not implement yet */
    {"containers", KS_FT_LIST, .lo = 1, .sub = &custom_container_schema, .fn = check_one_container},
    KS_UNSUPPORTED("batcher"),
    KS_UNSUPPORTED("logger"),
    KS_UNSUPPORTED("labels"),
    KS_UNSUPPORTED("annotations"),
    KS_UNSUPPORTED("deploymentStrategy"),
    KS_UNSUPPORTED("scaleMetricType"),
    KS_UNSUPPORTED("autoScaling"),
    KS_UNSUPPORTED("workerSpec"),
    KS_UNSUPPORTED("storageUris"),
    /* the Kubernetes pod spec KServe inlines into the predictor */
    KS_POD_SPEC_UNSUPPORTED,
};
const ks_schema_t ks__predictor_schema = KS_SCHEMA(predictor_fields, predictor_post, &model_schema,
                                                   "spec.predictor.model");

/* spec.transformer: a pre/post-processor in front of the predictor, a custom container with its own revisions */
static void transformer_post(ks_vctx_t *c, json_t *obj)
{
    json_t *min = json_object_get(obj, "minReplicas"), *max = json_object_get(obj, "maxReplicas");
    if (json_object_get(obj, "containers") == NULL)
        ks__verr_key(c, "containers", "required field missing: the command of your transformer, e.g. "
                                      "containers: [{name: kserve-container, command: [python3, transformer.py]}]");
    if (json_is_integer(min) && json_is_integer(max) && json_integer_value(max) > 0 &&
        json_integer_value(min) > json_integer_value(max))
        ks__verr_key(c, "minReplicas", "%" JSON_INTEGER_FORMAT " is greater than maxReplicas %" JSON_INTEGER_FORMAT,
                     json_integer_value(min), json_integer_value(max));
}

static const ks_field_t transformer_fields[] = {
    {"containers", KS_FT_LIST, .lo = 1, .sub = &custom_container_schema, .fn = check_one_container},
    {"minReplicas", KS_FT_INT, .lo = 0, .hi = KS_INT_MAX},
    {"maxReplicas", KS_FT_INT, .lo = 0, .hi = KS_INT_MAX},
    {"scaleTarget", KS_FT_INT, .lo = 1, .hi = KS_INT_MAX},
    {"scaleMetric", KS_FT_ENUM, .values = scale_metrics},
    {"containerConcurrency", KS_FT_INT, .lo = 0, .hi = KS_INT_MAX},
    {"timeout", KS_FT_INT, .lo = 1, .hi = KS_INT_MAX},
    {"canaryTrafficPercent", KS_FT_INT, .lo = 0, .hi = 100},
    {"serviceAccountName", KS_FT_STRING, .lo = 1},
    KS_UNSUPPORTED("batcher"),
    KS_UNSUPPORTED("logger"),
    KS_UNSUPPORTED("labels"),
    KS_UNSUPPORTED("annotations"),
    KS_UNSUPPORTED("deploymentStrategy"),
    KS_POD_SPEC_UNSUPPORTED,
};
static const ks_schema_t transformer_schema = KS_SCHEMA(transformer_fields, transformer_post);

static const ks_field_t isvc_spec_fields[] = {
    {"predictor", KS_FT_OBJECT, KS_F_REQUIRED, .sub = &ks__predictor_schema},
    {"transformer", KS_FT_OBJECT, .sub = &transformer_schema},
    KS_UNSUPPORTED("explainer"),
};
const ks_schema_t ks__isvc_spec_schema = KS_SCHEMA(isvc_spec_fields);

int ks__isvc_normalise(ks_vctx_t *c, json_t *obj)
{
    json_t *pred = json_object_get(json_object_get(obj, "spec"), "predictor"), *fw = NULL, *model, *format;
    const char *name = NULL;
    char from[64];

    for (size_t i = 0; i < KS_ARRAY_SIZE(frameworks) && fw == NULL; ++i)
        if ((fw = json_object_get(pred, frameworks[i])) != NULL)
            name = frameworks[i];
    if (fw == NULL || json_object_get(pred, "model") != NULL)
        return 0;
    /* model = {modelFormat: {name: <framework>}, <the framework's fields>} */
    if ((model = json_object()) == NULL)
        return KS_ENOMEM;
    if ((format = json_pack("{s:s}", "name", name)) == NULL || json_object_set_new(model, "modelFormat", format) != 0 ||
        json_object_update(model, fw) != 0) {
        json_decref(model);
        return KS_ENOMEM;
    }
    if (json_object_set_new(pred, "model", model) != 0) /* takes model even when it fails */
        return KS_ENOMEM;
    json_object_del(pred, name);
    if (c->doc != NULL && c->doc->pos != NULL) {
        snprintf(from, sizeof(from), "spec.predictor.%s", name);
        return ks__posmap_copy_prefix(c->doc->pos, from, "spec.predictor.model");
    }
    return 0;
}
