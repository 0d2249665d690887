#include <math.h>
#include <string.h>

#include "ks/tensor.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [KS_DT_INVALID] = {"INVALID", 0}, [KS_DT_BOOL] = {"BOOL", 1},     [KS_DT_UINT8] = {"UINT8", 1},
    [KS_DT_UINT16] = {"UINT16", 2},   [KS_DT_UINT32] = {"UINT32", 4}, [KS_DT_UINT64] = {"UINT64", 8},
    [KS_DT_INT8] = {"INT8", 1},       [KS_DT_INT16] = {"INT16", 2},   [KS_DT_INT32] = {"INT32", 4},
    [KS_DT_INT64] = {"INT64", 8},     [KS_DT_FP16] = {"FP16", 2},     [KS_DT_FP32] = {"FP32", 4},
    [KS_DT_FP64] = {"FP64", 8},       [KS_DT_BYTES] = {"BYTES", 0},   [KS_DT_BF16] = {"BF16", 2},
};

ks_dtype_t ks_dtype_from_name(const char *s, size_t len)
{
    for (size_t i = 1; i < KS_ARRAY_SIZE(dtypes); ++i)
        if (strlen(dtypes[i].name) == len && memcmp(dtypes[i].name, s, len) == 0)
            return (ks_dtype_t)i;
    return KS_DT_INVALID;
}

const char *ks_dtype_name(ks_dtype_t dt)
{
    return (unsigned)dt < KS_ARRAY_SIZE(dtypes) ? dtypes[dt].name : "INVALID";
}

size_t ks_dtype_size(ks_dtype_t dt)
{
    return (unsigned)dt < KS_ARRAY_SIZE(dtypes) ? dtypes[dt].size : 0;
}

int ks_dtype_is_integer(ks_dtype_t dt)
{
    return dt >= KS_DT_UINT8 && dt <= KS_DT_INT64;
}

int ks_dtype_is_float(ks_dtype_t dt)
{
    return dt == KS_DT_FP16 || dt == KS_DT_FP32 || dt == KS_DT_FP64 || dt == KS_DT_BF16;
}

int ks_shape_count(const int64_t *shape, int ndim, size_t *out)
{
    size_t n = 1;
    for (int i = 0; i < ndim; ++i) {
        if (shape[i] < 0)
            return KS_EINVAL;
        if (shape[i] != 0 && n > SIZE_MAX / (uint64_t)shape[i])
            return KS_EINVAL;
        n *= (size_t)shape[i];
    }
    *out = n;
    return 0;
}

float ks_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    float f;
    if (exp == 0) {
        /* zero or subnormal */
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

float ks_bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ks_float_to_half(float f)
{
    uint32_t x, sign, exp, man;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000;
    exp = (x >> 23) & 0xff;
    man = x & 0x7fffff;
    if (exp == 0xff) /* inf or NaN */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp > 142) /* too large: infinity */
        return (uint16_t)(sign | 0x7c00);
    if (exp < 113) {
        /* subnormal or zero in half */
        uint32_t shift, half, rem, mid;
        if (exp < 102)
            return (uint16_t)sign;
        man |= 0x800000;
        shift = 126 - exp; /* 14..24 */
        half = man >> shift;
        rem = man & ((1u << shift) - 1);
        mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    {
        uint32_t h = ((exp - 112) << 10) | (man >> 13), rem = man & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
            h++; /* may carry into the exponent, up to infinity: right */
        return (uint16_t)(sign | h);
    }
}

double ks_tensor_get_f64(const ks_tensor_t *t, size_t i)
{
    const char *p = t->data;
    switch (t->dtype) {
    case KS_DT_BOOL: return ((const uint8_t *)p)[i] != 0;
    case KS_DT_UINT8: return ((const uint8_t *)p)[i];
    case KS_DT_UINT16: return ((const uint16_t *)p)[i];
    case KS_DT_UINT32: return ((const uint32_t *)p)[i];
    case KS_DT_UINT64: return (double)((const uint64_t *)p)[i];
    case KS_DT_INT8: return ((const int8_t *)p)[i];
    case KS_DT_INT16: return ((const int16_t *)p)[i];
    case KS_DT_INT32: return ((const int32_t *)p)[i];
    case KS_DT_INT64: return (double)((const int64_t *)p)[i];
    case KS_DT_FP16: return ks_half_to_float(((const uint16_t *)p)[i]);
    case KS_DT_BF16: return ks_bf16_to_float(((const uint16_t *)p)[i]);
    case KS_DT_FP32: return ((const float *)p)[i];
    case KS_DT_FP64: return ((const double *)p)[i];
    default: return NAN;
    }
}
