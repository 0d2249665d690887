/*
 * What the command-line files share: the API client, argument helpers and
 * kubectl's error lines.  Private to src/cli/.
 */
#ifndef KS_CLI_INTERNAL_H
#define KS_CLI_INTERNAL_H

#include <limits.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ks/buf.h"
#include "ks/cli.h"

/* The biggest reply the client reads (a list of many objects). */
#define KS_CLI_MAX_REPLY (64u << 20)
/* The namespace when neither the document nor -n says one. */
#define KS_CLI_DEFAULT_NS "default"

/* A connection to the daemon's API socket; one per command run. */
typedef struct ks__cli_client {
    CURL *curl;
    char home[PATH_MAX];     /* $KSERVE_HOME, or ./.kserve */
    char sock[PATH_MAX];     /* <home>/api.sock, as connected to */
    char sock_abs[PATH_MAX]; /* the same, absolute, for messages */
    ks_buf_t reply;
} ks__cli_client_t;

/* Reads KSERVE_HOME and prepares the connection (nothing is connected yet). */
int ks__cli_client_init(ks__cli_client_t *c, char *err, size_t errlen);
void ks__cli_client_free(ks__cli_client_t *c);

/*
 * One request: method on path (from ks_cli_kind_path) with body (NULL: none)
 * as JSON.  *status gets the HTTP status; *reply (if not NULL) the parsed JSON
 * reply, a new reference the caller frees, or NULL when the body is empty or
 * not JSON.  Returns 0 whenever the daemon answered (whatever the status);
 * KS_EUNAVAIL when the daemon cannot be reached (err says so in the words the
 * user sees), KS_EINTERNAL on another transport failure.
 */
int ks__cli_call(ks__cli_client_t *c, const char *method, const char *path, json_t *body, long *status, json_t **reply,
                 char *err, size_t errlen);

/*
 * Prints kubectl's line for a failed call on stderr:
 *   Error from server (NotFound): [context: ]inferenceservices.serving.kserve.io "x" not found
 *   Error from server (Conflict): [context: ]<the daemon's message>
 * context (e.g. `error when creating "isvc.yaml"`) may be NULL; name may be NULL.
 */
void ks__cli_print_status(const ks_cli_kind_t *k, const char *name, long status, json_t *reply, const char *context);

/* Prints "error: <msg>" and "See 'kserve <cmd> --help' for usage." on stderr; returns KS_CLI_USAGE. */
int ks__cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes buf's bytes to stdout (or stderr) and empties it. */
void ks__cli_flush(ks_buf_t *b, FILE *f);

/* A command's operand: a kind and a name (NULL name: every object of the kind). */
typedef struct ks__cli_target {
    const ks_cli_kind_t *kind;
    const char *name;
} ks__cli_target_t;

/*
 * Reads "TYPE [NAME...]" or "TYPE/NAME..." from argv[0..argc): *out gets a
 * malloc'd array of *n targets (at least one; a lone TYPE gives one target
 * with a NULL name) that the caller frees.  Prints a usage error and returns
 * KS_EINVAL on an unknown type or a missing one.
 */
int ks__cli_targets(const char *cmd, int argc, char **argv, ks__cli_target_t **out, size_t *n);

/* "-n"'s value, or "default". */
const char *ks__cli_namespace(const char *flag);

/* Reads a whole file ("-" = stdin) into a malloc'd NUL-terminated buffer; KS_E* with err. */
int ks__cli_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen);

/*
 * Expands -f operands into files: a directory gives its *.yaml, *.yml and
 * *.json files in name order; "-" and regular files are kept.  *out gets a
 * malloc'd array of malloc'd paths; ks__cli_files_free frees it.
 */
int ks__cli_expand_files(char **paths, size_t npaths, char ***out, size_t *n, char *err, size_t errlen);
void ks__cli_files_free(char **files, size_t n);

/* Is s usable as one directory name of a path ($KSERVE_HOME/logs/<ns>/<rev>/...)? No "/", not "." or "..". */
int ks__cli_path_segment_ok(const char *s);

/* Sleeps ms milliseconds (returns early on a signal). */
void ks__cli_sleep_ms(int64_t ms);

#endif
