/*
 * Tensors as the Open Inference Protocol names them: a datatype, a shape and
 * row-major data in native (little-endian) byte order.
 */
#ifndef KS_TENSOR_H
#define KS_TENSOR_H

#include "ks/buf.h"

typedef enum ks_dtype {
    KS_DT_INVALID = 0,
    KS_DT_BOOL,
    KS_DT_UINT8,
    KS_DT_UINT16,
    KS_DT_UINT32,
    KS_DT_UINT64,
    KS_DT_INT8,
    KS_DT_INT16,
    KS_DT_INT32,
    KS_DT_INT64,
    KS_DT_FP16,
    KS_DT_FP32,
    KS_DT_FP64,
    KS_DT_BYTES,
    KS_DT_BF16,
} ks_dtype_t;

#define KS_MAX_DIMS 8
#define KS_MAX_TENSORS 16

/* One BYTES element: a length and the bytes (not NUL-terminated). */
typedef struct ks_bytes {
    const char *base;
    size_t len;
} ks_bytes_t;

typedef struct ks_tensor {
    const char *name;
    ks_dtype_t dtype;
    int ndim;
    int64_t shape[KS_MAX_DIMS];
    size_t nelem; /* product of shape */
    void *data;   /* nelem elements of dtype; BYTES: nelem ks_bytes_t */
} ks_tensor_t;

/* "FP32" -> KS_DT_FP32; KS_DT_INVALID for an unknown name. */
ks_dtype_t ks_dtype_from_name(const char *s, size_t len);
const char *ks_dtype_name(ks_dtype_t dt);
/* Bytes per element on the wire (BYTES: 0, variable). */
size_t ks_dtype_size(ks_dtype_t dt);
int ks_dtype_is_integer(ks_dtype_t dt);
int ks_dtype_is_float(ks_dtype_t dt);

/* Product of shape; KS_EINVAL for a negative dim or an overflow. */
int ks_shape_count(const int64_t *shape, int ndim, size_t *out);

/* Element i of a numeric tensor as a double / int64. */
double ks_tensor_get_f64(const ks_tensor_t *t, size_t i);

/* Half-precision helpers (IEEE binary16 and bfloat16). */
float ks_half_to_float(uint16_t h);
float ks_bf16_to_float(uint16_t h);
/* float -> IEEE binary16, rounding to nearest even (overflow: infinity). */
uint16_t ks_float_to_half(float f);

#endif
