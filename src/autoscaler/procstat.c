/*
 * Measuring a replica for the HPA (docs/hpa.md): its CPU time and resident
 * memory read from /proc, its utilisation of the resources it requested, and
 * the Kubernetes quantities ("500m", "2Gi") those requests are written in.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ks/hpa.h"

/* ---- /proc ------------------------------------------------------------------------------------ */

/* Reads /proc/PID/NAME into buf (NUL-terminated).  0, KS_ENOENT or KS_EINVAL (empty, too long). */
static int read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
    char path[64];
    size_t len = 0;
    int fd, rc = 0;

    if (pid <= 0)
        return KS_ENOENT;
    snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT || errno == ESRCH ? KS_ENOENT : KS_EINVAL;
    for (;;) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errno == ESRCH ? KS_ENOENT : KS_EINVAL; /* the process exited while we read */
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == size - 1) {
            rc = KS_EINVAL;
            goto out;
        }
    }
    buf[len] = '\0';
    if (len == 0)
        rc = KS_EINVAL;
out:
    close(fd);
    return rc;
}

/* The next unsigned decimal field of *p (after spaces); 0 or -1. */
static int next_u64(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;

    while (*s == ' ')
        ++s;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); ++s) {
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (*s != ' ' && *s != '\n' && *s != '\0')
        return -1;
    *v = x;
    *p = s;
    return 0;
}

/*
 * /proc/PID/stat is "pid (comm) state ppid ... utime stime ...": comm may hold anything, so the
 * fields are counted from the last ')'.  utime and stime are fields 14 and 15 (proc(5)), the
 * 12th and 13th after the state.
 */
int ks__procstat_parse_stat(const char *text, uint64_t *utime_ticks, uint64_t *stime_ticks)
{
    const char *p = strrchr(text, ')');
    uint64_t v;

    if (p == NULL)
        return KS_EINVAL;
    ++p;
    while (*p == ' ')
        ++p;
    if (*p == '\0' || *p == ' ' || p[1] != ' ') /* the state: one character */
        return KS_EINVAL;
    ++p;
    for (int field = 4; field <= 13; ++field) { /* ppid ... cmajflt; tty_nr and tpgid may be negative */
        while (*p == ' ')
            ++p;
        if (*p == '-')
            ++p;
        if (next_u64(&p, &v) != 0)
            return KS_EINVAL;
    }
    if (next_u64(&p, utime_ticks) != 0 || next_u64(&p, stime_ticks) != 0)
        return KS_EINVAL;
    return 0;
}

int ks_procstat_cpu_seconds(pid_t pid, double *cpu_s)
{
    char buf[4096];
    uint64_t ut = 0, st = 0;
    long hz = sysconf(_SC_CLK_TCK);
    int rc;

    if ((rc = read_proc(pid, "stat", buf, sizeof(buf))) != 0)
        return rc;
    if (ks__procstat_parse_stat(buf, &ut, &st) != 0 || hz <= 0)
        return KS_EINVAL;
    *cpu_s = ((double)ut + (double)st) / (double)hz;
    return 0;
}

int ks_procstat_rss_bytes(pid_t pid, uint64_t *rss)
{
    char buf[512];
    const char *p = buf;
    uint64_t size = 0, resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    int rc;

    if ((rc = read_proc(pid, "statm", buf, sizeof(buf))) != 0)
        return rc;
    if (next_u64(&p, &size) != 0 || next_u64(&p, &resident) != 0 || page <= 0)
        return KS_EINVAL;
    if (resident > UINT64_MAX / (uint64_t)page)
        return KS_EINVAL;
    *rss = resident * (uint64_t)page;
    return 0;
}

/* ---- utilisation ------------------------------------------------------------------------------ */

int ks_procstat_cpu_pct(double cpu0_s, double cpu1_s, double wall0_s, double wall1_s, int64_t request_millicores,
                        double *pct)
{
    double dcpu = cpu1_s - cpu0_s, dwall = wall1_s - wall0_s;

    if (!isfinite(dcpu) || !isfinite(dwall) || dwall <= 0 || dcpu < 0 || request_millicores <= 0)
        return KS_EINVAL;
    *pct = dcpu / dwall / ((double)request_millicores / 1000) * 100;
    return 0;
}

int ks_procstat_memory_pct(uint64_t rss, int64_t request_bytes, double *pct)
{
    if (request_bytes <= 0)
        return KS_EINVAL;
    *pct = (double)rss / (double)request_bytes * 100;
    return 0;
}

/* ---- quantities ------------------------------------------------------------------------------- */

#define MAX_DIGITS 19 /* significant digits: m < 10^19 < 2^64, so that m * 2^60 < 2^124 < 10^38 */

typedef unsigned __int128 u128;

/* The input quoted for a message: at most KS_QUANTITY_MAX_LEN bytes, non-printing bytes as '?'. */
static void quote(const char *s, char *q, size_t qlen)
{
    size_t i = 0;
    for (; s[i] != '\0' && i < KS_QUANTITY_MAX_LEN && i + 1 < qlen; ++i)
        q[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
    q[i] = '\0';
}

/* The suffix: a decimal exponent (*e10) and a binary one (*e2).  0 or -1. */
static int parse_suffix(const char *s, int *e10, int *e2)
{
    static const struct {
        const char *name;
        int e10, e2;
    } suffixes[] = {
        {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
        {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
        {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
    };
    const char *p;
    int sign = 1;
    long e = 0;

    for (size_t i = 0; i < KS_ARRAY_SIZE(suffixes); ++i) {
        if (strcmp(s, suffixes[i].name) == 0) {
            *e10 = suffixes[i].e10;
            *e2 = suffixes[i].e2;
            return 0;
        }
    }
    if (*s != 'e' && *s != 'E')
        return -1;
    p = s + 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); ++p)
        if (e < 100000)
            e = e * 10 + (*p - '0');
    if (*p != '\0')
        return -1;
    /* anything past 10^+-400 is out of range or rounds to the smallest unit alike */
    *e10 = (int)(sign * (e > 400 ? 400 : e));
    *e2 = 0;
    return 0;
}

/*
 * Parses s and returns ceil(value * 10^scale10) in *out (scale10 3 for millicores, 0 for
 * bytes), exactly: the digits are kept as an integer m with a decimal exponent, so that
 * "0.1" is 100m and not 100.00000000000001m.
 */
static int parse_quantity(const char *s, int scale10, const char *unit, int64_t *out, char *err, size_t errlen)
{
    char q[KS_QUANTITY_MAX_LEN + 1], qs[KS_QUANTITY_MAX_LEN + 1];
    const char *p = s;
    uint64_t m = 0;
    int ndigits = 0, sig = 0, frac = 0, zeros = 0, negative = 0, e10, e2, d10;
    u128 x;

    quote(s, q, sizeof(q));
    if (*s == '\0') {
        ks_errorf(err, errlen, "empty quantity (examples: \"500m\", \"1\", \"2Gi\")");
        return KS_EINVAL;
    }
    if (strlen(s) > KS_QUANTITY_MAX_LEN) {
        ks_errorf(err, errlen, "quantity \"%s...\": longer than %d characters", q, KS_QUANTITY_MAX_LEN);
        return KS_EINVAL;
    }
    if (*p == '+' || *p == '-')
        negative = *p++ == '-';
    /* digits, with trailing zeros held back in `zeros` so that only significant ones count */
    for (int in_frac = 0;; ++p) {
        if (*p == '.' && !in_frac) {
            in_frac = 1;
            continue;
        }
        if (!isdigit((unsigned char)*p))
            break;
        ++ndigits;
        if (in_frac)
            ++frac;
        if (*p == '0') {
            if (sig > 0)
                ++zeros;
            continue;
        }
        if (sig + zeros + 1 > MAX_DIGITS) {
            ks_errorf(err, errlen, "quantity \"%s\": more than %d significant digits", q, MAX_DIGITS);
            return KS_EINVAL;
        }
        for (; zeros > 0; --zeros, ++sig)
            m *= 10;
        m = m * 10 + (uint64_t)(*p - '0');
        ++sig;
    }
    if (ndigits == 0) {
        ks_errorf(err, errlen, "quantity \"%s\": not a number (examples: \"500m\", \"1\", \"1.5\", \"2Gi\", \"1e3\")", q);
        return KS_EINVAL;
    }
    if (parse_suffix(p, &e10, &e2) != 0) {
        quote(p, qs, sizeof(qs));
        ks_errorf(err, errlen,
                  "quantity \"%s\": unknown suffix \"%s\" (use n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or e<exponent>)",
                  q, qs);
        return KS_EINVAL;
    }
    if (m == 0) {
        *out = 0;
        return 0;
    }
    if (negative) {
        ks_errorf(err, errlen, "quantity \"%s\": must not be negative", q);
        return KS_EINVAL;
    }
    /* value = m * 10^(zeros - frac + e10 + scale10) * 2^e2 */
    d10 = zeros - frac + e10 + scale10;
    x = (u128)m << e2;
    if (d10 >= 0) {
        for (int i = 0; i < d10 && x <= (u128)INT64_MAX; ++i)
            x *= 10;
    } else if (d10 < -38) {
        x = 1; /* x < 2^124 < 10^38: a positive amount below one unit */
    } else {
        u128 pow10 = 1;
        for (int i = 0; i < -d10; ++i)
            pow10 *= 10;
        x = x / pow10 + (x % pow10 != 0);
    }
    if (x > (u128)INT64_MAX) {
        ks_errorf(err, errlen, "quantity \"%s\": too large (over %lld %s)", q, (long long)INT64_MAX, unit);
        return KS_EINVAL;
    }
    *out = (int64_t)x;
    return 0;
}

int ks_quantity_millicores(const char *s, int64_t *millicores, char *err, size_t errlen)
{
    return parse_quantity(s, 3, "millicores", millicores, err, errlen);
}

int ks_quantity_bytes(const char *s, int64_t *bytes, char *err, size_t errlen)
{
    return parse_quantity(s, 0, "bytes", bytes, err, errlen);
}
