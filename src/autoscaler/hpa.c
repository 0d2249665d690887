/*
 * Raw-mode autoscaling: the Kubernetes HorizontalPodAutoscaler controller's
 * decision for one resource metric (cpu or memory utilisation), as its
 * replica calculator and its "behavior" normalisation compute it
 * (docs/hpa.md).  Pure: the caller passes the second and the samples.
 *
 * State: the unstabilised recommendations of the last stabilisation window
 * (the largest/smallest per second) and the scale events of the longest
 * policy period (replicas added/removed per second), each in a ring of
 * one-second slots allocated by ks_hpa_new.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "ks/hpa.h"

/* The recommendations made in second t: their smallest and largest. */
struct rec {
    int64_t t;
    int used;
    int lo, hi;
};

/* The replicas added and removed by the decisions of second t. */
struct event {
    int64_t t;
    int used;
    int64_t added, removed;
};

struct ks_hpa {
    ks_hpa_config_t cfg;
    int min, max;           /* the bounds after KServe's adjustments */
    struct rec *recs;       /* nrecs = max(up, down window, 1) slots; second t in slot t mod nrecs */
    int64_t nrecs;
    struct event *events;   /* nevents = the longest policy period */
    int64_t nevents;
    int64_t last_now;       /* the latest second seen */
    int seen;
};

/* ---- configuration ------------------------------------------------------------------------- */

static void default_rules(ks_hpa_rules_t *r, int64_t window_s)
{
    memset(r, 0, sizeof(*r));
    r->window_s = window_s;
    r->select = KS_HPA_SELECT_MAX;
}

void ks_hpa_config_defaults(ks_hpa_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->metric = KS_HPA_CPU;
    c->target_pct = KS_HPA_DEFAULT_TARGET_PCT;
    c->min_replicas = 1;
    c->max_replicas = 1;
    c->tolerance = 0.1;
    /* Kubernetes' defaults for an empty behavior (GenerateHPAScaleUpRules / ...ScaleDownRules) */
    default_rules(&c->up, 0);
    c->up.npolicies = 2;
    c->up.policies[0] = (ks_hpa_policy_t){KS_HPA_PERCENT, 100, 15};
    c->up.policies[1] = (ks_hpa_policy_t){KS_HPA_PODS, 4, 15};
    default_rules(&c->down, 300);
    c->down.npolicies = 1;
    c->down.policies[0] = (ks_hpa_policy_t){KS_HPA_PERCENT, 100, 15};
}

static int check_rules(const ks_hpa_rules_t *r, const char *name, char *err, size_t errlen)
{
    if (r->window_s < 0 || r->window_s > KS_HPA_MAX_WINDOW_S) {
        ks_errorf(err, errlen, "behavior.%s.stabilizationWindowSeconds: must be 0 - %d, got %lld", name,
                  KS_HPA_MAX_WINDOW_S, (long long)r->window_s);
        return KS_EINVAL;
    }
    if (r->select != KS_HPA_SELECT_MAX && r->select != KS_HPA_SELECT_MIN && r->select != KS_HPA_SELECT_DISABLED) {
        ks_errorf(err, errlen, "behavior.%s.selectPolicy: must be Max, Min or Disabled", name);
        return KS_EINVAL;
    }
    if (r->npolicies < 1 || r->npolicies > KS_HPA_MAX_POLICIES) {
        ks_errorf(err, errlen, "behavior.%s.policies: must hold 1 - %d policies, got %d", name, KS_HPA_MAX_POLICIES,
                  r->npolicies);
        return KS_EINVAL;
    }
    for (int i = 0; i < r->npolicies; ++i) {
        const ks_hpa_policy_t *p = &r->policies[i];
        if (p->type != KS_HPA_PODS && p->type != KS_HPA_PERCENT) {
            ks_errorf(err, errlen, "behavior.%s.policies[%d].type: must be Pods or Percent", name, i);
            return KS_EINVAL;
        }
        if (p->value < 1) {
            ks_errorf(err, errlen, "behavior.%s.policies[%d].value: must be at least 1, got %d", name, i, p->value);
            return KS_EINVAL;
        }
        if (p->period_s < 1 || p->period_s > KS_HPA_MAX_PERIOD_S) {
            ks_errorf(err, errlen, "behavior.%s.policies[%d].periodSeconds: must be 1 - %d, got %d", name, i,
                      KS_HPA_MAX_PERIOD_S, p->period_s);
            return KS_EINVAL;
        }
    }
    return 0;
}

int ks_hpa_config_check(const ks_hpa_config_t *c, char *err, size_t errlen)
{
    if (c->metric != KS_HPA_CPU && c->metric != KS_HPA_MEMORY) {
        ks_errorf(err, errlen, "scaleMetric: must be cpu or memory");
        return KS_EINVAL;
    }
    if (c->target_pct < 1) {
        ks_errorf(err, errlen, "scaleTarget: must be at least 1 (percent of the request), got %d", c->target_pct);
        return KS_EINVAL;
    }
    if (!isfinite(c->tolerance) || c->tolerance < 0) {
        ks_errorf(err, errlen, "tolerance: must be a number >= 0, got %g", c->tolerance);
        return KS_EINVAL;
    }
    if (check_rules(&c->up, "scaleUp", err, errlen) != 0 || check_rules(&c->down, "scaleDown", err, errlen) != 0)
        return KS_EINVAL;
    return 0;
}

void ks_hpa_bounds(const ks_hpa_config_t *c, int *min_replicas, int *max_replicas)
{
    int lo = c->min_replicas < 1 ? 1 : c->min_replicas;
    *min_replicas = lo;
    *max_replicas = c->max_replicas < lo ? lo : c->max_replicas;
}

static int longest_period(const ks_hpa_rules_t *r)
{
    int p = 1;
    for (int i = 0; i < r->npolicies; ++i)
        if (r->policies[i].period_s > p)
            p = r->policies[i].period_s;
    return p;
}

ks_hpa_t *ks_hpa_new(const ks_hpa_config_t *c)
{
    char err[KS_ERRLEN];
    ks_hpa_t *h;
    int64_t w;
    int p;

    if (ks_hpa_config_check(c, err, sizeof(err)) != 0)
        return NULL;
    if ((h = calloc(1, sizeof(*h))) == NULL)
        return NULL;
    h->cfg = *c;
    ks_hpa_bounds(c, &h->min, &h->max);
    w = c->up.window_s > c->down.window_s ? c->up.window_s : c->down.window_s;
    h->nrecs = w > 0 ? w : 1;
    p = longest_period(&c->up);
    if (longest_period(&c->down) > p)
        p = longest_period(&c->down);
    h->nevents = p;
    if ((h->recs = calloc((size_t)h->nrecs, sizeof(*h->recs))) == NULL ||
        (h->events = calloc((size_t)h->nevents, sizeof(*h->events))) == NULL)
        goto error;
    return h;
error:
    ks_hpa_free(h);
    return NULL;
}

void ks_hpa_free(ks_hpa_t *h)
{
    if (h == NULL)
        return;
    free(h->recs);
    free(h->events);
    free(h);
}

const char *ks_hpa_reason_name(ks_hpa_reason_t r)
{
    switch (r) {
    case KS_HPA_DESIRED_WITHIN_RANGE:
        return "DesiredWithinRange";
    case KS_HPA_SCALE_UP_LIMIT:
        return "ScaleUpLimit";
    case KS_HPA_SCALE_DOWN_LIMIT:
        return "ScaleDownLimit";
    case KS_HPA_TOO_MANY_REPLICAS:
        return "TooManyReplicas";
    case KS_HPA_TOO_FEW_REPLICAS:
        return "TooFewReplicas";
    case KS_HPA_ABOVE_MAX_REPLICAS:
        return "AboveMaxReplicas";
    case KS_HPA_BELOW_MIN_REPLICAS:
        return "BelowMinReplicas";
    case KS_HPA_NO_METRICS:
        return "FailedGetResourceMetric";
    case KS_HPA_SCALING_DISABLED:
        return "ScalingDisabled";
    }
    return "Unknown";
}

/* ---- the metric's recommendation (the replica calculator) ------------------------------------ */

static int64_t floor_mod(int64_t a, int64_t n)
{
    int64_t m = a % n;
    return m < 0 ? m + n : m;
}

/* A count from a non-negative product, saturating at INT_MAX. */
static int ceil_count(double x)
{
    if (!(x < (double)INT_MAX))
        return INT_MAX;
    return x <= 0 ? 0 : (int)ceil(x);
}

/*
 * The average utilisation of n replicas whose utilisations add up to sum, in whole percent
 * rounded down (Kubernetes' currentUtilization is an int32).  A mean that falls short of a whole
 * percent only by float rounding (less than 1e-9) counts as that percent.
 */
static int64_t average_utilization(double sum, int64_t n)
{
    double mean = sum / (double)n;
    if (mean > 1e15)
        mean = 1e15;
    return (int64_t)floor(mean + 1e-9);
}

static int within_tolerance(const ks_hpa_t *h, double ratio)
{
    return 1.0 - h->cfg.tolerance <= ratio && ratio <= 1.0 + h->cfg.tolerance;
}

static int usable(const ks_hpa_sample_t *s)
{
    return s->has_metric && isfinite(s->utilization_pct) && s->utilization_pct >= 0;
}

/*
 * Kubernetes' GetResourceReplicas for one utilisation target.  The replicas are grouped: not
 * started (Pending) -> unready; started without a metric -> missing; cpu and not ready ->
 * unready; the rest are counted with their metric.  Without missing replicas, and unless
 * scaling up with unready ones, the answer is ceil(ratio * counted) outside the tolerance.
 * Otherwise the missing replicas count as using max(100, target) % on a scale-down and 0 % on a
 * scale-up, the unready ones as 0 % on a scale-up, and the ratio is computed again; if that is
 * within the tolerance or reverses the direction, or the new count would, the count stays.
 * Returns -1 when no replica is counted with a metric.
 */
static int recommend(const ks_hpa_t *h, int current, const ks_hpa_sample_t *samples, size_t nsamples,
                     ks_hpa_decision_t *d)
{
    double target = h->cfg.target_pct, sum = 0, fill, ratio, new_ratio;
    int64_t ready = 0, missing = 0, unready = 0, counted, util;
    int scale_up_with_unready, n;

    for (size_t i = 0; i < nsamples; ++i) {
        const ks_hpa_sample_t *s = &samples[i];
        if (!s->started)
            ++unready;
        else if (!usable(s))
            ++missing;
        else if (h->cfg.metric == KS_HPA_CPU && !s->ready)
            ++unready;
        else
            ++ready, sum += s->utilization_pct;
    }
    d->ready = (int)ready;
    d->missing = (int)missing;
    d->unready = (int)unready;
    if (ready == 0)
        return -1;

    util = average_utilization(sum, ready);
    ratio = (double)util / target;
    d->utilization = util;
    d->ratio = d->new_ratio = ratio;

    scale_up_with_unready = unready > 0 && ratio > 1.0;
    if (!scale_up_with_unready && missing == 0) {
        if (within_tolerance(h, ratio))
            return current;
        return ceil_count(ratio * (double)ready);
    }

    counted = ready;
    if (missing > 0 && ratio < 1.0) {
        fill = target > 100 ? target : 100;
        sum += fill * (double)missing;
        counted += missing;
    } else if (missing > 0 && ratio > 1.0) {
        counted += missing; /* at 0 % */
    }
    if (scale_up_with_unready)
        counted += unready; /* at 0 % */

    new_ratio = (double)average_utilization(sum, counted) / target;
    d->new_ratio = new_ratio;
    if (within_tolerance(h, new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0))
        return current;
    n = ceil_count(new_ratio * (double)counted);
    if ((new_ratio < 1.0 && n > current) || (new_ratio > 1.0 && n < current))
        return current;
    return n;
}

/* ---- stabilisation ----------------------------------------------------------------------------- */

/*
 * The recommendation brought within [lowest of the scale-up window, highest of the scale-down
 * window] (both windows include `desired`), starting from current; then desired is recorded.  A
 * recommendation of second t is in a window of w seconds while t > now - w.
 */
static int stabilize(ks_hpa_t *h, int64_t now, int current, int desired)
{
    int up = desired, down = desired, r = current;
    struct rec *slot;

    for (int64_t i = 0; i < h->nrecs; ++i) {
        const struct rec *e = &h->recs[i];
        if (!e->used)
            continue;
        if (e->t > now - h->cfg.up.window_s && e->lo < up)
            up = e->lo;
        if (e->t > now - h->cfg.down.window_s && e->hi > down)
            down = e->hi;
    }
    if (r < up)
        r = up;
    if (r > down)
        r = down;

    slot = &h->recs[floor_mod(now, h->nrecs)];
    if (!slot->used || slot->t != now) {
        *slot = (struct rec){.t = now, .used = 1, .lo = desired, .hi = desired};
    } else {
        if (desired < slot->lo)
            slot->lo = desired;
        if (desired > slot->hi)
            slot->hi = desired;
    }
    return r;
}

/* ---- scaling policies -------------------------------------------------------------------------- */

/* Replicas added (or removed) by the scale events of the last period_s seconds. */
static int64_t changed_in(const ks_hpa_t *h, int64_t now, int period_s, int removed)
{
    int64_t sum = 0;
    for (int64_t i = 0; i < h->nevents; ++i) {
        const struct event *e = &h->events[i];
        if (e->used && e->t > now - period_s)
            sum += removed ? e->removed : e->added;
    }
    return sum;
}

/*
 * The most (up) or fewest (down) replicas the policies allow: each policy starts from the count
 * at the start of its period (current - added + removed within it) and adds/removes its pods or
 * percent (up: ceil(start * (1 + pct / 100)); down: start * (1 - pct / 100) truncated, in
 * doubles as Kubernetes computes them); Max picks the largest change, Min the smallest.
 */
static int64_t policy_limit(const ks_hpa_t *h, int64_t now, int current, const ks_hpa_rules_t *r, int up)
{
    int largest = (r->select == KS_HPA_SELECT_MAX) == (up != 0); /* keep the largest proposal */
    int64_t result = largest ? INT64_MIN : INT64_MAX;

    if (r->select == KS_HPA_SELECT_DISABLED)
        return current;
    for (int i = 0; i < r->npolicies; ++i) {
        const ks_hpa_policy_t *p = &r->policies[i];
        int64_t start = current - changed_in(h, now, p->period_s, 0) + changed_in(h, now, p->period_s, 1);
        int64_t proposed;
        if (p->type == KS_HPA_PODS)
            proposed = up ? start + p->value : start - p->value;
        else if (up)
            proposed = (int64_t)ceil((double)start * (1 + (double)p->value / 100));
        else
            proposed = (int64_t)((double)start * (1 - (double)p->value / 100));
        if (largest ? proposed > result : proposed < result)
            result = proposed;
    }
    return result;
}

/* The stabilised recommendation limited by the policies and the bounds. */
static int limit(const ks_hpa_t *h, int64_t now, int current, int desired, ks_hpa_reason_t *reason)
{
    if (desired > current) {
        int64_t lim = policy_limit(h, now, current, &h->cfg.up, 1), allowed = h->max;
        if (lim < current)
            lim = current; /* no further scale-up until older events leave the period */
        *reason = KS_HPA_TOO_MANY_REPLICAS;
        if (allowed > lim) {
            allowed = lim;
            *reason = KS_HPA_SCALE_UP_LIMIT;
        }
        if (desired > allowed)
            return (int)allowed;
    } else if (desired < current) {
        int64_t lim = policy_limit(h, now, current, &h->cfg.down, 0), allowed = h->min;
        if (lim > current)
            lim = current;
        *reason = KS_HPA_TOO_FEW_REPLICAS;
        if (allowed < lim) {
            allowed = lim;
            *reason = KS_HPA_SCALE_DOWN_LIMIT;
        }
        if (desired < allowed)
            return (int)allowed;
    }
    *reason = KS_HPA_DESIRED_WITHIN_RANGE;
    return desired;
}

static void record_event(ks_hpa_t *h, int64_t now, int from, int to)
{
    struct event *e = &h->events[floor_mod(now, h->nevents)];
    if (!e->used || e->t != now)
        *e = (struct event){.t = now, .used = 1};
    if (to > from)
        e->added += to - from;
    else
        e->removed += from - to;
}

/* ---- the decision ------------------------------------------------------------------------------ */

int ks_hpa_decide(ks_hpa_t *h, int64_t now, int current, const ks_hpa_sample_t *samples, size_t nsamples,
                  ks_hpa_decision_t *out)
{
    ks_hpa_decision_t d;
    int rec;

    KS_ASSERT(samples != NULL || nsamples == 0);
    memset(&d, 0, sizeof(d));
    d.recommendation = d.stabilized = -1;
    d.utilization = -1;
    if (now > KS_HPA_MAX_SECOND)
        now = KS_HPA_MAX_SECOND;
    if (now < -KS_HPA_MAX_SECOND)
        now = -KS_HPA_MAX_SECOND;
    if (h->seen && now < h->last_now)
        now = h->last_now;
    h->last_now = now;
    h->seen = 1;
    if (current < 0)
        current = 0;

    if (current == 0) {
        d.replicas = 0;
        d.reason = KS_HPA_SCALING_DISABLED;
    } else if (current > h->max) {
        d.replicas = h->max;
        d.reason = KS_HPA_ABOVE_MAX_REPLICAS;
    } else if (current < h->min) {
        d.replicas = h->min;
        d.reason = KS_HPA_BELOW_MIN_REPLICAS;
    } else if ((rec = recommend(h, current, samples, nsamples, &d)) < 0) {
        d.replicas = current;
        d.reason = KS_HPA_NO_METRICS;
    } else {
        d.recommendation = rec;
        d.stabilized = stabilize(h, now, current, rec);
        d.replicas = limit(h, now, current, d.stabilized, &d.reason);
    }
    if (d.replicas != current)
        record_event(h, now, current, d.replicas);
    if (out != NULL)
        *out = d;
    return d.replicas;
}
