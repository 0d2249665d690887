/*
 * The command line: kubectl's verbs against the platform daemon's API.
 *
 * `kserve apply|get|describe|delete|wait|logs` talk Kubernetes-style REST to
 * the daemon (`kserve up`) over the Unix socket $KSERVE_HOME/api.sock and
 * print what kubectl prints for the same resources.  Every command returns a
 * process exit status: 0 on success, 1 on any error (already printed on
 * stderr, saying what and where), 2 on bad usage.
 *
 * Below the entry points are the pure pieces the commands are built from
 * (resource kinds and paths, AGE, durations, tables, YAML); the unit tests
 * exercise them directly (tests/unit/test_cli_output.c).
 */
#ifndef KS_CLI_H
#define KS_CLI_H

#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "ks/buf.h"
#include "ks/common.h"

/* Exit statuses of the commands. */
#define KS_CLI_OK 0
#define KS_CLI_FAIL 1
#define KS_CLI_USAGE 2

/* Entry points: argv[0] is the command's own name ("apply", "get", ...). */
int ks_cli_apply_main(int argc, char **argv);
int ks_cli_get_main(int argc, char **argv);
int ks_cli_describe_main(int argc, char **argv);
int ks_cli_delete_main(int argc, char **argv);
int ks_cli_wait_main(int argc, char **argv);
int ks_cli_logs_main(int argc, char **argv);
/* `kserve autoscaler record`: argv[0] is "record" */
int ks_cli_record_main(int argc, char **argv);

/* ---- resource kinds (src/cli/kinds.c) ------------------------------------------ */

typedef enum ks_cli_kind_id {
    KS_CLI_ISVC,
    KS_CLI_SERVINGRUNTIME,
    KS_CLI_CLUSTERSERVINGRUNTIME,
    KS_CLI_REVISION,
} ks_cli_kind_id_t;

/* A resource type as the API serves it and as kubectl names it. */
typedef struct ks_cli_kind {
    ks_cli_kind_id_t id;
    const char *kind;     /* "InferenceService" */
    const char *singular; /* "inferenceservice" */
    const char *plural;   /* "inferenceservices" */
    const char *group;    /* "serving.kserve.io" */
    const char *version;  /* "v1beta1" */
    const char *shortname; /* "isvc", or NULL */
    int namespaced;
    int readonly;         /* revisions are made by the daemon, never applied */
} ks_cli_kind_t;

/*
 * The kind a user's word names: short name, singular, plural, Kind, or
 * "plural.group" ("isvc", "inferenceservices", "InferenceService",
 * "inferenceservices.serving.kserve.io"); case-insensitive.  NULL if none.
 */
const ks_cli_kind_t *ks_cli_kind_lookup(const char *word);
/* The kind of a document's "kind" field ("InferenceService"); NULL if none. */
const ks_cli_kind_t *ks_cli_kind_by_kind(const char *kind);

/*
 * The API path of a collection or an object into buf:
 *   /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<sub>]][?<query>]
 * ns NULL = every namespace (ignored for cluster-scoped kinds); name, sub and
 * query may be NULL.  Names are percent-encoded.  KS_ETOOBIG if buf is short.
 */
int ks_cli_kind_path(char *buf, size_t len, const ks_cli_kind_t *k, const char *ns, const char *name, const char *sub,
                     const char *query);

/* "inferenceservice.serving.kserve.io" into buf (kubectl's resource/name prefix). */
void ks_cli_kind_fullname(char *buf, size_t len, const ks_cli_kind_t *k);

/* ---- text helpers (src/cli/output.c) --------------------------------------------- */

/* kubectl's AGE of a duration in seconds ("45s", "3m12s", "5h", "2d"); "<invalid>" below -1. */
void ks_cli_age(char *buf, size_t len, int64_t seconds);
/* AGE of an RFC 3339 timestamp at now; "<unknown>" when ts is NULL or unreadable. */
void ks_cli_age_since(char *buf, size_t len, const char *ts, time_t now);
/* Parses RFC 3339 ("2026-01-02T03:04:05Z", fractions and offsets allowed). */
int ks_cli_parse_time(const char *ts, time_t *out);

/*
 * Parses a Go-style duration ("500ms", "30s", "2m", "1h", "1m30s", "1.5s",
 * "0") into milliseconds.  KS_EINVAL with a message naming the text otherwise.
 */
int ks_cli_parse_duration(const char *s, int64_t *ms, char *err, size_t errlen);

/* Percent-encodes s for a URL path segment or query value (unreserved characters kept). */
int ks_cli_urlencode(ks_buf_t *out, const char *s);
/* "labelSelector=<key>%3D<value>" (each part percent-encoded) into buf; KS_ETOOBIG if short. */
int ks_cli_label_selector(char *buf, size_t len, const char *key, const char *value);

/* The value at a dotted path ("status.components.predictor.url") or NULL; borrowed. */
json_t *ks_cli_json_path(json_t *root, const char *path);
/* The string at a dotted path, or NULL when absent or not a string. */
const char *ks_cli_json_str(json_t *root, const char *path);
/* A scalar at a dotted path as text into buf ("" when absent; numbers and booleans printed). */
const char *ks_cli_json_text(json_t *root, const char *path, char *buf, size_t len);
/* The status.conditions[] entry of the given type, or NULL; borrowed. */
json_t *ks_cli_condition(json_t *obj, const char *type);

/*
 * An InferenceService's traffic columns, as KServe's printer columns read
 * status.components.predictor.traffic: PREV/PREVROLLEDOUTREVISION from the
 * entry tagged "prev" (else the one naming previousRolledoutRevision),
 * LATEST/LATESTREADYREVISION from the entry with latestRevision true.
 * Each buffer gets "" when unknown.
 */
typedef struct ks_cli_traffic {
    char prev[16];
    char latest[16];
    char prev_revision[128];
    char latest_revision[128];
} ks_cli_traffic_t;
void ks_cli_traffic(json_t *isvc, ks_cli_traffic_t *out);

/* ---- tables (src/cli/output.c) ----------------------------------------------------- */

/*
 * Rows of text cells laid out like Go's tabwriter as kubectl configures it:
 * each column but the last is as wide as its widest cell plus `padding`
 * spaces, and at least `minwidth` (kubectl get: minwidth 6, padding 3;
 * kubectl describe: 0 and 2).
 */
typedef struct ks_cli_table {
    size_t ncols;
    size_t nrows;
    size_t cap;
    char **cells; /* nrows * ncols, each malloc'd */
} ks_cli_table_t;

void ks_cli_table_init(ks_cli_table_t *t, size_t ncols);
/* Appends a row of t->ncols cells (NULL cells print empty); copies them. */
int ks_cli_table_row(ks_cli_table_t *t, const char *const *cells);
/* Appends a row given as t->ncols const char * arguments. */
int ks_cli_table_rowv(ks_cli_table_t *t, ...);
/* Appends the laid-out table to out, each line starting with indent (may be NULL). */
int ks_cli_table_render(const ks_cli_table_t *t, ks_buf_t *out, const char *indent, size_t minwidth, size_t padding);
void ks_cli_table_free(ks_cli_table_t *t);

/* ---- YAML and JSON output (src/cli/output.c) ---------------------------------------- */

/*
 * Appends v as a block-style YAML document (libfyaml's emitter) to out,
 * keys sorted as kubectl prints them; each line prefixed by indent (may be
 * NULL).  Strings that would read back as another type ("1", "true", "",
 * timestamps) are double-quoted; multi-line strings use literal blocks.
 */
int ks_cli_yaml_emit(json_t *v, ks_buf_t *out, const char *indent, char *err, size_t errlen);
/* Appends v as JSON indented by 4 (kubectl -o json) and a newline. */
int ks_cli_json_emit(json_t *v, ks_buf_t *out);

#endif
