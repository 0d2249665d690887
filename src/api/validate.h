/*
 * The validator's machinery, shared by the schema files of src/api/ (internal).
 *
 * A schema is a table of fields.  ks__check_object() walks an object against one: unknown keys
 * are errors with a "did you mean" suggestion, fields marked KS_F_UNSUPPORTED are "not supported
 * yet", every other field is checked by its type (and its fn, if any).  Errors are collected in
 * the context with the current path (and, for a document, the position of that path) and
 * validation goes on, so one run reports every mistake.
 */
#ifndef KS_API_VALIDATE_H
#define KS_API_VALIDATE_H

#include <limits.h>

#include "ks/buf.h"
#include "ks/resource.h"

typedef struct ks_verr {
    int line, col;
    size_t seq;
    char *msg; /* "path: what is wrong" */
} ks_verr_t;

typedef struct ks_vctx {
    ks_doc_t *doc; /* NULL: a JSON body, no positions */
    ks_buf_t path; /* path of the value being checked */
    ks_verr_t *errs;
    size_t nerr, caperr, dropped;
    int nomem;
    ks_kind_t kind;
    int raw;       /* InferenceService in RawDeployment (or Standard) mode */
} ks_vctx_t;

typedef struct ks_field ks_field_t;
typedef struct ks_schema ks_schema_t;

/* Checks v (the value of key in parent, at the current path). */
typedef void (*ks_check_fn)(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f);

enum {
    KS_F_REQUIRED = 1,    /* missing (or null) is an error */
    KS_F_UNSUPPORTED = 2, /* KServe has it, the platform does not: "not supported yet" */
    KS_F_SERVER = 4,      /* set by the server: type-checked, the server overwrites it */
};

typedef enum {
    KS_FT_NONE,    /* only fn (or nothing, for unsupported fields) */
    KS_FT_STRING,  /* lo: minimum length */
    KS_FT_BOOL,
    KS_FT_INT,     /* lo..hi */
    KS_FT_ENUM,    /* one of values */
    KS_FT_STRLIST, /* list of strings */
    KS_FT_STRMAP,  /* mapping of string to string */
    KS_FT_OBJECT,  /* sub */
    KS_FT_LIST,    /* list of sub, at least lo items */
} ks_ftype_t;

struct ks_field {
    const char *name;
    ks_ftype_t type;
    unsigned flags;
    long long lo, hi;
    const char *const *values; /* KS_FT_ENUM, NULL-terminated */
    const ks_schema_t *sub;    /* KS_FT_OBJECT, KS_FT_LIST */
    ks_check_fn fn;            /* after the type check passed (KS_FT_NONE: instead of it) */
    const char *note;          /* KS_F_UNSUPPORTED: the message instead of "not supported yet" */
};

struct ks_schema {
    const ks_field_t *fields;
    size_t n;
    /* Called after the fields, with the object's path current (cross-field checks). */
    void (*post)(ks_vctx_t *c, json_t *obj);
    /* Unknown keys that are fields of this other schema get "(it belongs in <where>)". */
    const ks_schema_t *other;
    const char *other_where;
};

#define KS_SCHEMA(fields, ...) {(fields), KS_ARRAY_SIZE(fields), __VA_ARGS__}
#define KS_UNSUPPORTED(name) {(name), KS_FT_NONE, KS_F_UNSUPPORTED}
#define KS_INT_MAX LLONG_MAX

/* The Kubernetes pod spec (but containers) that KServe inlines into predictors and runtimes. */
#define KS_POD_SPEC_UNSUPPORTED                                                                                        \
    KS_UNSUPPORTED("volumes"), KS_UNSUPPORTED("initContainers"), KS_UNSUPPORTED("ephemeralContainers"),                \
        KS_UNSUPPORTED("restartPolicy"), KS_UNSUPPORTED("terminationGracePeriodSeconds"),                              \
        KS_UNSUPPORTED("activeDeadlineSeconds"), KS_UNSUPPORTED("dnsPolicy"), KS_UNSUPPORTED("nodeSelector"),          \
        KS_UNSUPPORTED("serviceAccount"), KS_UNSUPPORTED("automountServiceAccountToken"), KS_UNSUPPORTED("nodeName"),  \
        KS_UNSUPPORTED("hostNetwork"), KS_UNSUPPORTED("hostPID"), KS_UNSUPPORTED("hostIPC"),                           \
        KS_UNSUPPORTED("shareProcessNamespace"), KS_UNSUPPORTED("securityContext"),                                    \
        KS_UNSUPPORTED("imagePullSecrets"), KS_UNSUPPORTED("hostname"), KS_UNSUPPORTED("subdomain"),                   \
        KS_UNSUPPORTED("affinity"), KS_UNSUPPORTED("schedulerName"), KS_UNSUPPORTED("tolerations"),                    \
        KS_UNSUPPORTED("hostAliases"), KS_UNSUPPORTED("priorityClassName"), KS_UNSUPPORTED("priority"),                \
        KS_UNSUPPORTED("dnsConfig"), KS_UNSUPPORTED("readinessGates"), KS_UNSUPPORTED("runtimeClassName"),             \
        KS_UNSUPPORTED("enableServiceLinks"), KS_UNSUPPORTED("preemptionPolicy"), KS_UNSUPPORTED("overhead"),          \
        KS_UNSUPPORTED("topologySpreadConstraints"), KS_UNSUPPORTED("setHostnameAsFQDN"), KS_UNSUPPORTED("os"),        \
        KS_UNSUPPORTED("hostUsers"), KS_UNSUPPORTED("schedulingGates"), KS_UNSUPPORTED("resourceClaims")

/* Records an error about the current path: "path: <fmt>". */
void ks__verr(ks_vctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same about parent path + key (a field that may be absent: its position is the parent's). */
void ks__verr_key(ks_vctx_t *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Path helpers: push returns the length to give back to pop. */
size_t ks__vpush_key(ks_vctx_t *c, const char *key);
size_t ks__vpush_index(ks_vctx_t *c, size_t i);
void ks__vpop(ks_vctx_t *c, size_t len);

/* Walks obj (at the current path) against s; an error if obj is not a mapping. */
void ks__check_object(ks_vctx_t *c, json_t *obj, const ks_schema_t *s);
/* Checks one value against one field's type and fn (the current path is the value's). */
void ks__check_value(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f);

/* Type checks that record "must be ..." and return 0 when v does not fit. */
int ks__want_string(ks_vctx_t *c, json_t *v, size_t minlen);
int ks__want_int(ks_vctx_t *c, json_t *v, long long lo, long long hi);
int ks__want_bool(ks_vctx_t *c, json_t *v);
int ks__want_enum(ks_vctx_t *c, json_t *v, const char *const *values);

/* "\"text\"", "12", "true", "a mapping", ... for messages. */
void ks__describe(json_t *v, char *buf, size_t n);
/* Closest of n names to s (edit distance <= 2, ignoring case), or NULL. */
const char *ks__suggest(const char *s, const char *const *names, size_t n);

/* Name syntaxes (Kubernetes'). */
int ks__is_dns1123_label(const char *s);
int ks__is_dns1123_subdomain(const char *s);

/* Checks shared by several resources (fields' fn). */
void ks__check_env(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f);
void ks__check_resources(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f);
void ks__check_annotations(ks_vctx_t *c, json_t *parent, const char *key, json_t *v, const ks_field_t *f);

/* The spec schemas (inferenceservice.c, servingruntime.c). */
extern const ks_schema_t ks__isvc_spec_schema;
extern const ks_schema_t ks__runtime_spec_schema;
/* After a valid InferenceService: the older single-key predictor becomes predictor.model. */
int ks__isvc_normalise(ks_vctx_t *c, json_t *obj);

#endif
