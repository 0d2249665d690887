/*
 * The inference protocols: V1 (TensorFlow-Serving style) and V2 (the Open
 * Inference Protocol) over REST, with V2's binary tensor data extension.
 *
 * Decoders stream the JSON body with yajl and write numbers straight into
 * typed buffers taken from the request's arena: there is no document tree.
 * Everything a decoder returns lives in that arena and dies with the request.
 */
#ifndef KS_PROTOCOL_H
#define KS_PROTOCOL_H

#include "ks/buf.h"
#include "ks/tensor.h"

typedef enum ks_protocol { KS_PROTO_V1 = 1, KS_PROTO_V2 = 2 } ks_protocol_t;

/* An output the client asked for by name. */
typedef struct ks_requested_output {
    const char *name;
    int binary; /* parameters.binary_data */
} ks_requested_output_t;

typedef struct ks_infer_request {
    ks_protocol_t protocol;
    const char *id; /* V2 "id", NULL when absent */
    size_t id_len;
    int binary_output;         /* parameters.binary_data_output */
    const char *content_type;  /* parameters.content_type, NULL when absent */
    int ninputs;
    ks_tensor_t inputs[KS_MAX_TENSORS];
    size_t binary_size[KS_MAX_TENSORS]; /* binary_data_size, SIZE_MAX when data is JSON */
    int noutputs;
    ks_requested_output_t outputs[KS_MAX_TENSORS];
    /*
     * V1 only: the instances hold objects, strings mixed with numbers or nulls,
     * which only a runtime that understands Python objects can take.  The
     * runtime then reads the original body.
     */
    int v1_complex;
    const char *body;
    size_t body_len;
} ks_infer_request_t;

typedef struct ks_infer_response {
    int noutputs;
    ks_tensor_t outputs[KS_MAX_TENSORS];
} ks_infer_response_t;

/*
 * Decodes a V1 predict body ({"instances": [...]} or {"inputs": [...]}) into
 * req->inputs[0]: INT64 when every number is an integer, FP64 otherwise, BOOL
 * for booleans only, BYTES for strings only; shape as numpy would give.
 * Returns 0, or KS_EINVAL with a message in err, KS_ETOOBIG over the arena cap.
 */
int ks_v1_decode(ks_arena_t *a, const char *body, size_t len, ks_infer_request_t *req, char *err, size_t errlen);

/*
 * Decodes a V2 infer body.  json_len is the length of the JSON part (the
 * Inference-Header-Content-Length for the binary extension, else len); the
 * bytes after it are the binary tensor data, assigned in input order.
 */
int ks_v2_decode(ks_arena_t *a, const char *body, size_t len, size_t json_len, ks_infer_request_t *req, char *err,
                 size_t errlen);

/* Parses an Inference-Header-Content-Length value; KS_EINVAL if not a size within body_len. */
int ks_v2_parse_header_length(const char *s, size_t len, size_t body_len, size_t *out);

/* {"predictions": [...]} nested by the first output's shape. */
int ks_v1_encode(ks_buf_t *out, const ks_infer_response_t *res);

/*
 * The V2 response.  Outputs the request asked for in binary are appended
 * after the JSON; *json_len tells where the JSON ends (== out->len when no
 * output is binary).
 */
int ks_v2_encode(ks_buf_t *out, const char *model_name, const ks_infer_request_t *req, const ks_infer_response_t *res,
                 size_t *json_len);

/* Writes one tensor's elements as a flat JSON array. */
int ks_json_tensor_flat(ks_buf_t *out, const ks_tensor_t *t);

#endif
