/*
 * The C SDK: write a KServe model server or transformer in C.
 *
 * libkserve-sdk.so runs KServe's V1 and V2 REST protocols on the same HTTP
 * and protocol code as `kserve model-server` (h2o event loops, one per
 * worker thread; the same routes, {"error": "..."} bodies, health and
 * metrics) and calls your code for the request body of
 *
 *     POST /v1/models/{name}:predict      POST /v2/models/{name}/infer
 *
 * as KServe's Python Model does: postprocess(predict(preprocess(body))).
 * Each step is optional.  Without predict, the SDK sends preprocess's
 * result to the predictor named by the predictor_host option (KServe's
 * --predictor_host) at /v1/models/{name}:predict or /v2/models/{name}/infer
 * (the protocol option, KServe's --protocol), over keep-alive connections,
 * and hands the predictor's answer to postprocess: that is a transformer.
 * An error answer of the predictor goes back to the client with its status.
 *
 * Two flavours of callbacks, the same pipeline:
 *   - ks_sdk_model_ops_t: jansson values in and out (C users);
 *   - ks_sdk_json_ops_t:  JSON text in and out (FFI: Python's ctypes).
 *
 * Threads: load runs once, on the thread that starts the server, before
 * the server reports ready.  preprocess, predict and postprocess run on the
 * worker threads, several at once (one request per worker at a time); with
 * the workers option at 1 they never overlap.  A callback blocks its worker's
 * event loop while it runs, so keep them short or add workers.
 *
 * Errors: functions that can fail return 0 or a negative KS_SDK_E* code and
 * write a message into (err, errlen) when they take one.  docs/sdk.md has
 * the design, examples/ two complete programs.
 */
#ifndef KS_SDK_H
#define KS_SDK_H

#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KS_SDK_VERSION "0.1.0"

/* Error codes (the values of include/ks/common.h's KS_E*). */
#define KS_SDK_EINVAL (-22)   /* a bad option or argument */
#define KS_SDK_ENOMEM (-12)   /* out of memory */
#define KS_SDK_EINTERNAL (-5) /* the server could not start (a port in use, a thread) or load failed */

typedef enum ks_sdk_protocol { KS_SDK_V1 = 1, KS_SDK_V2 = 2 } ks_sdk_protocol_t;

/* ---- options --------------------------------------------------------------------------------- */

/*
 * Options, set by name with KServe's flag names, so that a command line, an
 * FFI caller and C code go through the same checks:
 *
 *   http_port N            port to listen on (default $PORT, else 8080; 0: any free port)
 *   http_host ADDR         address to listen on (default 0.0.0.0)
 *   workers N              event-loop threads, 1-256 (default: one per core)
 *   model_name NAME        the model's name in the URLs (default "model", or ks_sdk_main's name)
 *   predictor_host H[:P]   the predictor a transformer forwards to (port 80 if absent;
 *                          an "http://" prefix is accepted)
 *   protocol v1|v2         the predictor's protocol (default v1)
 *   predictor_request_timeout_seconds S
 *                          a predictor call's limit, 1-86400 (default 600); then 504
 *   max_body_size SIZE     largest request body, bytes or K/M/G (default 16M); larger gets 413
 *   drain_timeout S        on stop, how long requests in flight may take to finish (default 30)
 *   model_dir DIR          recorded for your code to read back with ks_sdk_options_get
 *   grpc_port, max_threads accepted for KServe compatibility, not used
 *
 * Names may be written "http_port", "--http_port" or "--http-port".
 */
typedef struct ks_sdk_options ks_sdk_options_t;

/* New options with the defaults above; NULL when out of memory.  ks_sdk_options_free frees. */
ks_sdk_options_t *ks_sdk_options_new(void);
void ks_sdk_options_free(ks_sdk_options_t *o);

/* Sets one option from text.  0, or KS_SDK_EINVAL with a message naming the option. */
int ks_sdk_options_set(ks_sdk_options_t *o, const char *name, const char *value, char *err, size_t errlen);

/*
 * Writes an option's current value as text into buf (always NUL-terminated;
 * "" for an unset string).  0, or KS_SDK_EINVAL for an unknown name.
 */
int ks_sdk_options_get(const ks_sdk_options_t *o, const char *name, char *buf, size_t buflen);

/*
 * Parses a command line (argv[0], the program, is skipped): "--name value"
 * or "--name=value" for each option above.  Returns 0, 1 when --help or -h
 * was given, or KS_SDK_EINVAL with a message naming the flag (unknown
 * flags are errors, as in the model server).
 */
int ks_sdk_options_parse(ks_sdk_options_t *o, int argc, char **argv, char *err, size_t errlen);

/* The options' usage text (static). */
const char *ks_sdk_usage(void);

/* ---- requests and errors ----------------------------------------------------------------------- */

/* The request a callback works on.  Valid only during the callback. */
typedef struct ks_sdk_request ks_sdk_request_t;

/* The protocol of the request's route: KS_SDK_V1 (:predict) or KS_SDK_V2 (/infer). */
ks_sdk_protocol_t ks_sdk_request_protocol(const ks_sdk_request_t *r);
/* The protocol the predictor speaks (the protocol option): what preprocess should produce. */
ks_sdk_protocol_t ks_sdk_request_predictor_protocol(const ks_sdk_request_t *r);
/* The model's name (NUL-terminated, lives as long as the server). */
const char *ks_sdk_request_model_name(const ks_sdk_request_t *r);
/* The worker thread running the callback: 0 .. workers-1 (for per-thread state of yours). */
int ks_sdk_request_worker(const ks_sdk_request_t *r);
/*
 * A request header's value (name in any case), or NULL.  *len gets its
 * length; the value is not NUL-terminated and lives during the callback.
 * Of a repeated header, the first.
 */
const char *ks_sdk_request_header(const ks_sdk_request_t *r, const char *name, size_t *len);
/*
 * Every request header as the text of a JSON object {"name": "value", ...}
 * (names lower case, repeated headers joined with ", ").  malloc'd: the
 * caller frees it with ks_sdk_free.  NULL when out of memory.
 */
char *ks_sdk_request_headers_json(const ks_sdk_request_t *r);

/* What a failing callback answers: an HTTP status (0 means 500) and a message. */
typedef struct ks_sdk_error {
    int status;
    char message[256];
} ks_sdk_error_t;

/* Fills e (printf-style message, truncated to fit).  Returns NULL, for `return ks_sdk_error_set(...);`. */
void *ks_sdk_error_set(ks_sdk_error_t *e, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- the model: jansson values ----------------------------------------------------------------- */

/*
 * load: optional; 0, or non-zero with a message in err (the server then
 * exits 1 without ever being ready).
 *
 * preprocess, predict, postprocess: each optional; predict is required
 * unless predictor_host is set, and is then not called.  body is borrowed:
 * the SDK releases it after the call.  Return a new reference (the SDK
 * releases it): a new value, or json_incref(body) to pass body on, changed
 * or not.  Return NULL to fail the request: the client gets e->status (500
 * when not set) and {"error": e->message}.
 */
typedef struct ks_sdk_model_ops {
    int (*load)(void *user, char *err, size_t errlen);
    json_t *(*preprocess)(void *user, const ks_sdk_request_t *r, json_t *body, ks_sdk_error_t *e);
    json_t *(*predict)(void *user, const ks_sdk_request_t *r, json_t *body, ks_sdk_error_t *e);
    json_t *(*postprocess)(void *user, const ks_sdk_request_t *r, json_t *body, ks_sdk_error_t *e);
} ks_sdk_model_ops_t;

/* ---- the model: JSON text (for FFI) ------------------------------------------------------------ */

/*
 * A step on JSON text.  json_in is NUL-terminated and len bytes long; it
 * lives during the call.  On success return 0 and set *json_out to a
 * NUL-terminated JSON text allocated with ks_sdk_alloc or ks_sdk_strndup
 * (or malloc): the SDK frees it.  On failure return non-zero, set *status
 * (it starts at 500) and write a message into err (errlen bytes, starts
 * empty).  Text that is not JSON fails the request with 500.
 */
typedef int (*ks_sdk_json_cb)(void *user, const ks_sdk_request_t *r, const char *json_in, size_t len,
                              char **json_out, int *status, char *err, size_t errlen);

typedef struct ks_sdk_json_ops {
    int (*load)(void *user, char *err, size_t errlen);
    ks_sdk_json_cb preprocess;
    ks_sdk_json_cb predict;
    ks_sdk_json_cb postprocess;
} ks_sdk_json_ops_t;

/* Memory for *json_out (and for anything else the SDK frees): malloc, so NULL when out of memory. */
void *ks_sdk_alloc(size_t n);
/* A NUL-terminated copy of s[0..n) in ks_sdk_alloc memory. */
char *ks_sdk_strndup(const char *s, size_t n);
/* Frees what the SDK hands out (ks_sdk_request_headers_json) or ks_sdk_alloc gave. */
void ks_sdk_free(void *p);

/* ---- running it ------------------------------------------------------------------------------ */

typedef struct ks_sdk_server ks_sdk_server_t;

/*
 * Creates a server and binds its port (so a port in use shows here), but
 * serves nothing yet.  o and ops are copied; user is passed to every
 * callback and must outlive the server.  NULL with a message in err when
 * the options do not fit (no predict and no predictor_host, a predictor
 * host that does not resolve, the port in use).
 */
ks_sdk_server_t *ks_sdk_server_new(const ks_sdk_options_t *o, const ks_sdk_model_ops_t *ops, void *user, char *err,
                                   size_t errlen);
ks_sdk_server_t *ks_sdk_server_new_json(const ks_sdk_options_t *o, const ks_sdk_json_ops_t *ops, void *user,
                                        char *err, size_t errlen);

/*
 * Starts the worker threads (which block every asynchronous signal, so
 * signals stay with the caller's threads), runs load on this thread while
 * the health endpoints answer "not ready", then reports ready.  0, or
 * KS_SDK_EINTERNAL with a message (load failed: the server is stopped, and
 * only ks_sdk_server_stop may still be called).
 */
int ks_sdk_server_start(ks_sdk_server_t *s, char *err, size_t errlen);

/* The port the server listens on (useful with http_port 0). */
int ks_sdk_server_port(const ks_sdk_server_t *s);

/*
 * Graceful stop, as the model server's on SIGTERM: readiness answers 503,
 * the listeners close, requests in flight (predictor calls included) finish
 * for up to drain_timeout seconds, idle keep-alive connections close; then
 * the workers are joined and s is freed.  Call it from any thread but a
 * worker (never from a callback).  h2o 2.2 cannot free an event loop, so a
 * few hundred kB per server stay allocated until the process exits.
 */
void ks_sdk_server_stop(ks_sdk_server_t *s);

/*
 * new + start, then waits for SIGTERM or SIGINT (blocked in the calling
 * thread and taken with sigwait), then stop.  Ignores SIGPIPE.  Errors go
 * to stderr.  Returns the process exit status: 0 after a signal, 1 when the
 * server could not start.
 */
int ks_sdk_serve(const ks_sdk_options_t *o, const ks_sdk_model_ops_t *ops, void *user);
int ks_sdk_serve_json(const ks_sdk_options_t *o, const ks_sdk_json_ops_t *ops, void *user);

/*
 * A whole main(): options with model_name defaulting to name, parsed from
 * argv (--help prints the usage), then ks_sdk_serve.  Returns the exit
 * status: 0, 1 (could not start), 2 (bad command line).
 *
 *     int main(int argc, char **argv)
 *     {
 *         static const ks_sdk_model_ops_t ops = {.preprocess = pre, .postprocess = post};
 *         return ks_sdk_main(argc, argv, "iris", &ops, NULL);
 *     }
 */
int ks_sdk_main(int argc, char **argv, const char *name, const ks_sdk_model_ops_t *ops, void *user);

#ifdef __cplusplus
}
#endif

#endif
