/*
 * The KPA decider (shared/spec/autoscaling.md section 3): the stable and
 * panic windows of the scaling metric, the panic state and the scale-down
 * delay window.  A tick turns the window averages into a desired replica count
 * and the excess burst capacity.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "ks/autoscaler.h"

#define TICK_S 2 /* the decider ticks every 2 s: the scale-down delay's bucket width */

/* One bucket of the scale-down delay's max-window. */
struct bucket {
    int64_t idx; /* floor(t / 2) of the ticks recorded into it */
    int used;
    int value;   /* the largest value recorded */
};

struct ks_kpa {
    ks_kpa_config_t cfg;
    double target, total, panic_threshold;
    ks_kpa_window_t stable, panic;
    int panicking;
    int64_t panic_start;
    int max_panic_pods;
    struct bucket *delay; /* K buckets when scale_down_delay_s > 0 */
    int64_t ndelay;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

ks_kpa_t *ks_kpa_new(const ks_kpa_config_t *c)
{
    ks_kpa_t *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    k->cfg = *c;
    k->target = ks_kpa_target(c);
    k->total = ks_kpa_total(c);
    k->panic_threshold = c->panic_threshold_pct / 100;
    if (ks_kpa_window_init(&k->stable, c->window_s) != 0 ||
        ks_kpa_window_init(&k->panic, ks_kpa_panic_window(c->window_s, c->panic_window_pct)) != 0)
        goto error;
    if (c->scale_down_delay_s > 0) {
        k->ndelay = (c->scale_down_delay_s + TICK_S - 1) / TICK_S;
        if ((k->delay = calloc((size_t)k->ndelay, sizeof(*k->delay))) == NULL)
            goto error;
    }
    return k;
error:
    ks_kpa_free(k);
    return NULL;
}

void ks_kpa_free(ks_kpa_t *k)
{
    if (k == NULL)
        return;
    ks_kpa_window_free(&k->stable);
    ks_kpa_window_free(&k->panic);
    free(k->delay);
    free(k);
}

void ks_kpa_record(ks_kpa_t *k, int64_t t, double concurrency, double rps)
{
    double v = k->cfg.metric_rps ? rps : concurrency;
    ks_kpa_window_record(&k->stable, t, v);
    ks_kpa_window_record(&k->panic, t, v);
}

/* Records v into the bucket of second now and returns the largest value of the last K buckets. */
static int delay_window(ks_kpa_t *k, int64_t now, int v)
{
    int64_t b = floor_div(now, TICK_S);
    struct bucket *s = &k->delay[(b % k->ndelay + k->ndelay) % k->ndelay];
    int max = v;

    if (!s->used || s->idx != b) {
        s->used = 1;
        s->idx = b;
        s->value = v;
    } else if (v > s->value) {
        s->value = v;
    }
    for (int64_t i = 0; i < k->ndelay; ++i) {
        const struct bucket *o = &k->delay[i];
        if (o->used && o->idx > b - k->ndelay && o->idx <= b && o->value > max)
            max = o->value;
    }
    return max;
}

static double max3(double a, double b, double c)
{
    double m = a > b ? a : b;
    return m > c ? m : c;
}

/* A replica count as an int; counts past INT_MAX (absurd inputs) saturate. */
static int to_count(double v)
{
    return v >= (double)INT_MAX ? INT_MAX : v <= 0 ? 0 : (int)v;
}

/* floor(x) as an int64, saturating. */
static int64_t ebc_of(double x)
{
    x = floor(x);
    return x >= 9.2e18 ? INT64_MAX : x <= -9.2e18 ? INT64_MIN : (int64_t)x;
}

void ks_kpa_tick(ks_kpa_t *k, int64_t now, int ready, int reachable, ks_kpa_decision_t *out)
{
    const ks_kpa_config_t *c = &k->cfg;
    double stable, panic, readyf, max_up, max_down, dspc, dppc, s, p, desired;

    memset(out, 0, sizeof(*out));
    /* 0. no data (1.2); with TBC -1 Knative never reports it */
    if ((!k->stable.written || now - k->stable.last > c->window_s) && c->tbc != -1)
        return;
    out->valid = 1;
    /* 1. */
    stable = ks_kpa_window_average(&k->stable, now);
    panic = ks_kpa_window_average(&k->panic, now);
    /* 2. */
    readyf = ready > 1 ? ready : 1;
    max_up = ceil(c->max_up * readyf);
    max_down = reachable ? floor(readyf / c->max_down) : 0;
    /* 3. */
    dspc = ceil(stable / k->target);
    dppc = ceil(panic / k->target);
    s = fmin(fmax(dspc, max_down), max_up);
    p = fmin(fmax(dppc, max_down), max_up);
    /* 4. */
    if (c->activation_scale > 1) {
        if (dspc > 0)
            s = fmax(s, c->activation_scale);
        if (dppc > 0)
            p = fmax(p, c->activation_scale);
    }
    /* 5. */
    if (dppc / readyf >= k->panic_threshold) {
        k->panicking = 1;
        k->panic_start = now;
    } else if (k->panicking && now > k->panic_start + c->window_s) {
        k->panicking = 0;
        k->max_panic_pods = 0;
    }
    /* 6. */
    if (k->panicking) {
        k->max_panic_pods = to_count(max3(k->max_panic_pods, s, p));
        desired = k->max_panic_pods;
    } else {
        desired = s;
    }
    /* 7. */
    if (k->delay != NULL && reachable)
        desired = delay_window(k, now, to_count(desired));
    /* 8. */
    if (c->tbc == 0)
        out->ebc = 0;
    else if (c->tbc < 0)
        out->ebc = -1;
    else
        out->ebc = ebc_of((double)ready * k->total - c->tbc - panic);

    out->desired = to_count(desired);
    out->panic = k->panicking;
    out->stable = stable;
    out->panic_avg = panic;
}
