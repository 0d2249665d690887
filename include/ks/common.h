/*
 * kserve-c common definitions: error codes, assertions, small helpers.
 */
#ifndef KS_COMMON_H
#define KS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Error codes: functions return 0 or one of these (negative). */
#define KS_OK 0
#define KS_EINVAL (-22)      /* invalid input from a client or a user */
#define KS_ENOMEM (-12)      /* allocation failed */
#define KS_ENOENT (-2)       /* no such model / file */
#define KS_ETOOBIG (-27)     /* a client-controlled size over its cap */
#define KS_EUNAVAIL (-11)    /* not ready */
#define KS_ENOTSUP (-95)     /* not implemented */
#define KS_EINTERNAL (-5)    /* a runtime failed while doing its job */
#define KS_EEXIST (-17)      /* already exists (409) */
#define KS_ECONFLICT (-16)   /* a stale update: resourceVersion does not match (409) */

/* Size of the error message buffers passed down the request path. */
#define KS_ERRLEN 256

#define KS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KS_STRLIT(s) (s), (sizeof(s) - 1)

/* A broken invariant: abort loudly with file and line.  Never for bad input. */
#define KS_ASSERT(cond)                                                                                                    \
    do {                                                                                                                   \
        if (!(cond)) {                                                                                                     \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);                               \
            abort();                                                                                                       \
        }                                                                                                                  \
    } while (0)

/* printf-style message into err (errlen bytes, always NUL-terminated). */
void ks_errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sends all of p on a socket (no SIGPIPE); 0 or -1. */
int ks_send_all(int fd, const void *p, size_t n);
/* Receives exactly n bytes, waiting at most timeout_ms for each read; 0 or -1. */
int ks_recv_all(int fd, void *p, size_t n, int timeout_ms);

/* Monotonic clock in nanoseconds. */
uint64_t ks_now_ns(void);

#endif
