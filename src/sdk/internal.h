/*
 * The SDK's insides, shared by its files and its unit tests
 * (tests/unit/test_sdk.c).  Public API: include/ks/sdk.h.
 *
 *   options.c    the options and the command line
 *   body.c       the pure parts of the request path: checking a body, writing JSON
 *   predictor.c  the HTTP client to the predictor (per-worker keep-alive connections)
 *   server.c     routes, the predict pipeline, metrics, start and stop
 */
#ifndef KS_SDK_INTERNAL_H
#define KS_SDK_INTERNAL_H

#include <sys/socket.h>

#include "ks/buf.h"
#include "ks/http.h"
#include "ks/sdk.h"

#define KS__SDK_MAX_NAME 200

struct ks_sdk_options {
    char *model_name;
    char *http_host;
    int http_port;
    int workers;
    char *predictor_host; /* NULL: none */
    ks_sdk_protocol_t protocol;
    int predictor_timeout; /* seconds */
    size_t max_body_size;
    int drain_timeout; /* seconds */
    char *model_dir;
    int grpc_port;
    int max_threads;
    char *env_error; /* $PORT did not parse: reported when the server is created */
    char *program;   /* argv[0]'s last part (ks_sdk_options_parse), for log lines; NULL: "kserve-sdk" */
};

/* A deep copy (NULL when out of memory); ks_sdk_options_free frees it. */
ks_sdk_options_t *ks__sdk_options_dup(const ks_sdk_options_t *o);

/*
 * Splits a predictor host ("host", "host:port", "[v6]:port", with an
 * optional "http://" and trailing "/") into host (hostlen bytes) and port.
 * 0, or KS_EINVAL with a message.
 */
int ks__sdk_split_host(const char *in, char *host, size_t hostlen, int *port, char *err, size_t errlen);

/*
 * Checks a request body as KServe does before calling the model: a JSON
 * object; for V1 "instances" (or "inputs"), when present, is an array; for
 * V2 "inputs" is an array of objects.  0, or KS_EINVAL with a message.
 */
int ks__sdk_check_body(const json_t *body, ks_sdk_protocol_t proto, char *err, size_t errlen);

/*
 * Parses a body; NULL with the 400 message KServe gives for text that is
 * not JSON ("Unrecognized request format: ...").
 */
json_t *ks__sdk_parse(const char *text, size_t len, char *err, size_t errlen);

/*
 * Appends the compact JSON text of j to b, with floats as Python's repr
 * writes them (the shortest text that reads back the same).  0 or KS_E*.
 */
int ks__sdk_dump(ks_buf_t *b, const json_t *j);

/* The predictor path of a model's V1 or V2 inference ("/v1/models/m:predict", "/v2/models/m/infer"). */
int ks__sdk_predictor_path(char *buf, size_t len, ks_sdk_protocol_t proto, const char *model);

/* ---- the predictor client (predictor.c) ---------------------------------------------------------- */

typedef struct ks__predictor ks__predictor_t;
typedef struct ks__call ks__call_t;

/*
 * The end of a call, on the worker's thread, exactly once unless the call
 * was cancelled.  err NULL: the predictor answered status with body[0..len)
 * (valid during the callback only).  err set: no answer (cannot connect,
 * the connection broke, timeout, a malformed answer); status is what to
 * tell the client (502, or 504 for a timeout).
 */
typedef void (*ks__call_cb)(void *data, int status, const char *body, size_t len, const char *err);

/*
 * host_port as ks__sdk_split_host takes it; resolved now.  timeout_ms
 * bounds each call from start to the end of the answer.  NULL with a
 * message on failure.
 */
ks__predictor_t *ks__predictor_new(const char *host_port, int nworkers, uint64_t timeout_ms, size_t max_answer,
                                   char *err, size_t errlen);
/* After the workers have stopped: closes their idle connections and frees p. */
void ks__predictor_free(ks__predictor_t *p);

/*
 * POSTs body (copied) to path on the worker's thread; extra_headers
 * ("name: value\r\n" lines, copied) go with it.  Returns the call, which
 * ends with cb, or NULL with a message when it could not even start.
 */
ks__call_t *ks__predictor_post(ks__predictor_t *p, ks_http_worker_t *w, const char *path, const char *extra_headers,
                               size_t extra_len, const char *body, size_t len, ks__call_cb cb, void *data, char *err,
                               size_t errlen);
/* Abandons a call that has not ended: cb will not run. */
void ks__predictor_cancel(ks__call_t *c);

/* A server's predictor client, NULL when predict is local (tests). */
ks__predictor_t *ks__sdk_server_predictor(ks_sdk_server_t *s);

/* Connections opened and requests sent on a kept-alive one, over all workers (tests). */
void ks__predictor_counts(ks__predictor_t *p, uint64_t *connects, uint64_t *reused);

#endif
