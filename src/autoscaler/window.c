/*
 * The linear window average of shared/spec/autoscaling.md 1.1: n one-second
 * slots, a running total and the seconds of the first and last writes.  The
 * stable and the panic window are both one of these.
 */
#include <math.h>
#include <string.h>

#include "ks/autoscaler.h"

static int64_t slot_of(const ks_kpa_window_t *w, int64_t t)
{
    int64_t i = t % w->n;
    return i < 0 ? i + w->n : i;
}

int ks_kpa_window_init(ks_kpa_window_t *w, int64_t n)
{
    KS_ASSERT(n >= 1);
    memset(w, 0, sizeof(*w));
    if ((w->slots = calloc((size_t)n, sizeof(double))) == NULL)
        return KS_ENOMEM;
    w->n = n;
    return 0;
}

void ks_kpa_window_free(ks_kpa_window_t *w)
{
    free(w->slots);
    w->slots = NULL;
}

void ks_kpa_window_record(ks_kpa_window_t *w, int64_t t, double v)
{
    if (w->written && t != w->last && t <= w->last - w->n)
        return; /* older than the window */
    if (!w->written || t != w->last) {
        if (!w->written || t < w->first)
            w->first = t;
        if (!w->written || t > w->last) {
            if (!w->written || t - w->last >= w->n) {
                memset(w->slots, 0, (size_t)w->n * sizeof(double));
                w->total = 0;
                w->first = t;
            } else {
                for (int64_t s = w->last + 1; s <= t; ++s) {
                    w->total -= w->slots[slot_of(w, s)];
                    w->slots[slot_of(w, s)] = 0;
                }
            }
            w->last = t;
            w->written = 1;
        }
    }
    w->slots[slot_of(w, t)] += v;
    w->total += v;
}

double ks_kpa_round6(double x)
{
    return round(x * 1e6) / 1e6;
}

double ks_kpa_window_average(const ks_kpa_window_t *w, int64_t now)
{
    int64_t d, span;
    double sum;

    if (!w->written)
        return 0;
    d = now - w->last;
    if (d >= w->n)
        return 0;
    span = w->last - w->first + 1;
    if (d <= 0)
        return ks_kpa_round6(w->total / (double)(span < w->n ? span : w->n));
    sum = w->total;
    for (int64_t s = w->last + 1; s <= now; ++s)
        sum -= w->slots[slot_of(w, s)];
    return ks_kpa_round6(sum / (double)(span < w->n - d ? span : w->n - d));
}

int64_t ks_kpa_panic_window(int64_t window_s, double pct)
{
    const int64_t sec = 1000000000;
    int64_t ns = (int64_t)((double)(window_s * sec) * pct / 100.0); /* fraction of a ns dropped */
    int64_t s = (ns + sec / 2) / sec;                                 /* halves up */
    return s < 1 ? 1 : s;
}
