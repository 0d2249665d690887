/*
 * The resources users write: InferenceService (serving.kserve.io/v1beta1), ServingRuntime and
 * ClusterServingRuntime (serving.kserve.io/v1alpha1).
 *
 * ks_yaml_load() turns a YAML or JSON file (possibly several documents) into jansson documents
 * and remembers where each field was written; ks_validate() checks one document against KServe's
 * schema and normalises it, so every error can name the field and its file position:
 *
 *     isvc.yaml:9:7: spec.predictor.model.storgeUri: unknown field (did you mean storageUri?)
 *
 * Paths name a field the way users read it: keys joined with '.', list items as "[i]", and keys
 * that are not plain words quoted: metadata.annotations["serving.kserve.io/deploymentMode"].
 * docs/resources.md lists what is accepted and what is rejected.
 */
#ifndef KS_RESOURCE_H
#define KS_RESOURCE_H

#include <jansson.h>

#include "ks/common.h"

/* Caps on what a client controls in a resource file. */
#define KS_RESOURCE_MAX_BYTES (4u << 20) /* whole input */
#define KS_RESOURCE_MAX_DEPTH 64         /* nested mappings/lists, aliases expanded */
#define KS_RESOURCE_MAX_NODES 100000     /* values in one file, aliases expanded */
#define KS_RESOURCE_MAX_KEY 4096         /* bytes in one mapping key */

struct ks_posmap;

typedef struct ks_doc {
    json_t *obj;           /* the document as JSON (jansson), owned */
    const char *file;      /* as given to ks_yaml_load (not copied: must outlive the document) */
    int line, col;         /* where the document's content starts (1-based) */
    struct ks_posmap *pos; /* path -> line/col of the key (or list item) that starts it */
} ks_doc_t;

typedef struct ks_doc_list {
    ks_doc_t *docs;
    size_t n;
} ks_doc_list_t;

/*
 * Parses YAML 1.2 (core schema) or JSON text, one or more documents separated by "---".
 * Empty documents (nothing, or only null) are skipped.  Plain scalars become JSON null, booleans,
 * integers or reals as the core schema says; quoted and block scalars are strings; !!str, !!int,
 * !!float, !!bool, !!null, !!map and !!seq are honoured and any other tag is an error.  Anchors and
 * aliases are expanded (copies, so a document can be changed in place), "<<" merge keys are
 * merged, duplicate keys are errors.
 *
 * On success *out holds the documents (free with ks_doc_list_free).  On failure *out is empty and
 * err holds "file:line:col: message": KS_EINVAL for a syntax or structure error, KS_ETOOBIG over
 * one of the caps above, KS_ENOMEM.  libfyaml's own diagnostics never reach stderr.
 */
int ks_yaml_load(const char *text, size_t len, const char *file, ks_doc_list_t *out, char *err, size_t errlen);

/* Frees every document of l and the array; l is left empty.  NULL-safe. */
void ks_doc_list_free(ks_doc_list_t *l);

/* Frees what one document owns (obj and the position map); the ks_doc_t itself is the caller's. */
void ks_doc_free(ks_doc_t *d);

/*
 * Line and column (1-based) where path was written, or its nearest ancestor's ("" is the document
 * itself).  Returns 1 with *line and *col set, 0 when nothing is known (a document without positions).
 */
int ks_doc_pos(const ks_doc_t *d, const char *path, int *line, int *col);

typedef enum {
    KS_KIND_UNKNOWN,
    KS_KIND_ISVC,
    KS_KIND_SERVING_RUNTIME,
    KS_KIND_CLUSTER_SERVING_RUNTIME
} ks_kind_t;

/* "InferenceService", "ServingRuntime", "ClusterServingRuntime" or "unknown". */
const char *ks_kind_name(ks_kind_t kind);

/*
 * Validates one document and normalises it in place:
 * - apiVersion and kind (*kind is set as soon as kind is known, even when other checks fail);
 * - metadata: name (InferenceService: [a-z]([-a-z0-9]*[a-z0-9])?, <= 63 chars, as KServe; runtimes: a
 *   DNS-1123 subdomain), namespace (a DNS-1123 label, set to "default" when absent; a
 *   ClusterServingRuntime must not have one), labels and annotations (string maps with
 *   Kubernetes' key syntax); generation, resourceVersion, uid, creationTimestamp are accepted for
 *   the server to overwrite; a top-level status is accepted and removed;
 * - the spec, field by field: unknown fields are errors (with "did you mean X?" when one is close),
 *   fields of KServe's schema the platform does not implement are errors saying "not supported
 *   yet", wrong types name the expected type;
 * - keys whose value is null are removed (Kubernetes reads them as absent); resource quantities
 *   written as numbers (cpu: 1) become strings ("1");
 * - an InferenceService's older single-key predictor ({sklearn: {storageUri: ...}}, also xgboost,
 *   lightgbm, onnx, pytorch, tensorflow, triton, huggingface, pmml, paddle) becomes
 *   predictor.model with modelFormat.name set to the framework, as KServe does; positions of the
 *   old paths are copied to the new ones.
 * Returns 0, KS_EINVAL with every error found as "file:line:col: path: what is wrong", joined with
 * "\n", as many as fit in errlen (then "(N more errors)"), or KS_ENOMEM.
 */
int ks_validate(ks_doc_t *d, ks_kind_t *kind, char *err, size_t errlen);

/* The same checks and normalisation for a JSON body (the API server): messages are "path: what". */
int ks_validate_json(json_t *obj, ks_kind_t *kind, char *err, size_t errlen);

#endif
