#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ks/json.h"

int ks_json_str(ks_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int r;
    size_t i, start = 0;

    if ((r = ks_buf_reserve(b, len + 2)) != 0)
        return r;
    b->base[b->len++] = '"';
    for (i = 0; i < len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((r = ks_buf_append(b, s + start, i - start)) != 0)
            return r;
        start = i + 1;
        switch (c) {
        case '"': r = ks_buf_puts(b, "\\\""); break;
        case '\\': r = ks_buf_puts(b, "\\\\"); break;
        case '\n': r = ks_buf_puts(b, "\\n"); break;
        case '\r': r = ks_buf_puts(b, "\\r"); break;
        case '\t': r = ks_buf_puts(b, "\\t"); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            r = ks_buf_append(b, u, 6);
        }
        }
        if (r != 0)
            return r;
    }
    if ((r = ks_buf_append(b, s + start, len - start)) != 0)
        return r;
    return ks_buf_putc(b, '"');
}

int ks_json_f64(ks_buf_t *b, double v)
{
    char tmp[40];
    int n, r;

    if (!isfinite(v))
        return ks_buf_puts(b, "null");
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
        /* integral values print as Python prints floats: 1.0 */
        n = snprintf(tmp, sizeof(tmp), "%.1f", v);
    } else {
        /* the shortest that reads back the same, as Python's repr */
        n = snprintf(tmp, sizeof(tmp), "%.15g", v);
        if (strtod(tmp, NULL) != v) {
            n = snprintf(tmp, sizeof(tmp), "%.16g", v);
            if (strtod(tmp, NULL) != v)
                n = snprintf(tmp, sizeof(tmp), "%.17g", v);
        }
    }
    /* a float must read back as a float: 12345678901234568 -> 12345678901234568.0 */
    if (strpbrk(tmp, ".e") == NULL && n < (int)sizeof(tmp) - 3) {
        tmp[n++] = '.';
        tmp[n++] = '0';
        tmp[n] = '\0';
    }
    if ((r = ks_buf_reserve(b, (size_t)n)) != 0)
        return r;
    memcpy(b->base + b->len, tmp, (size_t)n);
    b->len += (size_t)n;
    return 0;
}

int ks_json_f32(ks_buf_t *b, float v)
{
    char tmp[40];
    int n, r;

    if (!isfinite(v))
        return ks_buf_puts(b, "null");
    if (fabsf(v) < 1e7f && v == (float)(int32_t)v) {
        n = snprintf(tmp, sizeof(tmp), "%.1f", (double)v);
    } else {
        n = snprintf(tmp, sizeof(tmp), "%.7g", (double)v);
        if (strtof(tmp, NULL) != v) {
            n = snprintf(tmp, sizeof(tmp), "%.8g", (double)v);
            if (strtof(tmp, NULL) != v)
                n = snprintf(tmp, sizeof(tmp), "%.9g", (double)v);
        }
    }
    if (strpbrk(tmp, ".e") == NULL && n < (int)sizeof(tmp) - 3) {
        tmp[n++] = '.';
        tmp[n++] = '0';
        tmp[n] = '\0';
    }
    if ((r = ks_buf_reserve(b, (size_t)n)) != 0)
        return r;
    memcpy(b->base + b->len, tmp, (size_t)n);
    b->len += (size_t)n;
    return 0;
}

int ks_json_i64(ks_buf_t *b, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    return ks_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int ks_json_u64(ks_buf_t *b, uint64_t u)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    return ks_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int ks_json_error(ks_buf_t *b, const char *msg)
{
    int r;
    if ((r = ks_buf_puts(b, "{\"error\":")) != 0 || (r = ks_json_str(b, msg, strlen(msg))) != 0)
        return r;
    return ks_buf_putc(b, '}');
}
