/*
 * Writing JSON straight into a ks_buf_t: no document tree.
 */
#ifndef KS_JSON_H
#define KS_JSON_H

#include "ks/buf.h"

/* A JSON string literal with quotes, escaping what JSON requires. */
int ks_json_str(ks_buf_t *b, const char *s, size_t len);
/* Shortest text that reads back as the same double (NaN/inf: null). */
int ks_json_f64(ks_buf_t *b, double v);
/* Shortest text that reads back as the same float (NaN/inf: null). */
int ks_json_f32(ks_buf_t *b, float v);
int ks_json_i64(ks_buf_t *b, int64_t v);
int ks_json_u64(ks_buf_t *b, uint64_t v);
/* {"error":"<msg>"} */
int ks_json_error(ks_buf_t *b, const char *msg);

#endif
