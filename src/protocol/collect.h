/*
 * Collects a nested JSON array of scalars (V1 "instances", V2 "data") into
 * 8-byte slots while checking that it is rectangular, the way numpy.array
 * would see it.  Internal to the protocol decoders.
 */
#ifndef KS_PROTOCOL_COLLECT_H
#define KS_PROTOCOL_COLLECT_H

#include "ks/protocol.h"

typedef enum ks_collect_kind {
    KS_CK_NONE = 0, /* no scalar seen yet */
    KS_CK_BOOL,     /* slots hold 0/1 */
    KS_CK_INT,      /* slots hold int64 */
    KS_CK_FLOAT,    /* slots hold double */
    KS_CK_STR,      /* strs hold strings */
} ks_collect_kind_t;

typedef struct ks_collect {
    ks_arena_t *arena;
    int depth;                       /* arrays currently open */
    int leaf;                        /* depth where scalars live; -1 unknown */
    int64_t shape[KS_MAX_DIMS];      /* -1 while unknown */
    size_t count[KS_MAX_DIMS + 1];   /* elements in the open array at each depth */
    ks_collect_kind_t kind;
    int complex;                     /* objects, nulls, strings mixed with numbers */
    int u64;                         /* KS_CK_INT slots hold uint64 (a value above INT64_MAX was seen) */
    int hint_u64;                    /* the datatype is known to be UINT64: read integers as unsigned */
    union {
        int64_t *i;
        double *d;
    } v;
    size_t n, cap;
    ks_bytes_t *strs;
    size_t nstr, strcap;
    char *err;
    size_t errlen;
} ks_collect_t;

void ks__collect_init(ks_collect_t *c, ks_arena_t *a, char *err, size_t errlen);
/* Each returns 0 or a KS_E* code with the message in c->err. */
int ks__collect_start_array(ks_collect_t *c);
int ks__collect_end_array(ks_collect_t *c);
int ks__collect_number(ks_collect_t *c, const char *s, size_t len);
int ks__collect_bool(ks_collect_t *c, int v);
int ks__collect_string(ks_collect_t *c, const char *s, size_t len);
/* A null or an object at the current position: marks the collection complex. */
int ks__collect_other(ks_collect_t *c);
/* Number of dims found (leaf depth); the shape is c->shape[0..ndim). */
int ks__collect_ndim(const ks_collect_t *c);

/*
 * Converts the collected scalars to dtype into t->data (arena memory);
 * KS_EINVAL when a value does not fit the datatype.
 */
int ks__collect_to_tensor(ks_collect_t *c, ks_dtype_t dtype, ks_tensor_t *t);

#endif
