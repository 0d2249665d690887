/* yajl with its memory taken from a request arena.  Internal. */
#ifndef KS_PROTOCOL_YAJL_GLUE_H
#define KS_PROTOCOL_YAJL_GLUE_H

#include <yajl/yajl_parse.h>

#include "ks/buf.h"

/* A yajl handle whose allocations come from a; never needs yajl_free. */
yajl_handle ks__yajl_open(ks_arena_t *a, const yajl_callbacks *cb, void *ctx);

/*
 * Parses the whole of json.  Returns 0, or KS_EINVAL with "malformed JSON ..."
 * in err unless a callback already wrote its own message (cancelled).
 */
int ks__yajl_run(yajl_handle h, const char *json, size_t len, const int *cb_code, char *err, size_t errlen);

#endif
