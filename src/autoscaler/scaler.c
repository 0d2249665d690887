/*
 * The live autoscaler.  See include/ks/scaler.h.
 *
 * Seconds are Unix seconds, as the decider and the replay count them.  Each
 * revision is collected once per second: the ingress's time-weighted
 * concurrency and arrivals over the time since the last collection, written
 * as one record at the current second while the revision has a ready replica
 * (spec 1: nothing is written with none).  A poke (a request found no ready
 * replica) writes a record of the requests waiting and ticks at once.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ks/scaler.h"

#define HPA_MAX_REPLICAS 256

typedef struct srev {
    struct srev *next;
    struct ks_scaler *sc;
    char ns[256], rev[256];
    ks_revstat_t *stat;
    ks_kpa_config_t cfg;
    ks_kpa_t *kpa;
    int seen;
    int reachable;
    int initialized;
    int scale;               /* the replica count applied */
    int64_t last_collect_s;  /* the second of the last collection */
    uint64_t last_collect_ns;
    int64_t next_tick_s;
    int64_t inactive_since;  /* second desired first became 0; -1 while active */
    int64_t in_path_since;   /* second since which the activator is in the path; -1 while not */
    ks_kpa_decision_t last;
    int have_decision;
    FILE *trace, *decisions;
    /* RawDeployment: the HPA */
    int hpa;
    ks_hpa_config_t hcfg;
    ks_hpa_t *h;
    int64_t req_mc, req_bytes;
    int64_t next_sync_s;
    struct {
        pid_t pid;
        double cpu_s, wall_s;
    } prev[HPA_MAX_REPLICAS];
    int nprev;
    ks_hpa_decision_t hlast;
    int have_hlast;
} srev_t;

struct ks_scaler {
    char home[1024];
    ks_supervisor_t *sup;
    srev_t *revs;
    int hpa_period_s;
    uint64_t version;
};

static int mkdirs(const char *path)
{
    char buf[1400];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; ++p)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

ks_scaler_t *ks_scaler_new(const char *home, ks_supervisor_t *sup)
{
    ks_scaler_t *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return NULL;
    snprintf(sc->home, sizeof(sc->home), "%s", home);
    sc->sup = sup;
    sc->hpa_period_s = 15;
    return sc;
}

static void close_files(srev_t *r)
{
    if (r->trace != NULL)
        fclose(r->trace);
    if (r->decisions != NULL)
        fclose(r->decisions);
    r->trace = r->decisions = NULL;
}

static void free_rev(srev_t *r)
{
    close_files(r);
    ks_kpa_free(r->kpa);
    ks_hpa_free(r->h);
    free(r);
}

void ks_scaler_free(ks_scaler_t *sc)
{
    srev_t *r;
    if (sc == NULL)
        return;
    while ((r = sc->revs) != NULL) {
        sc->revs = r->next;
        free_rev(r);
    }
    free(sc);
}

/* a fresh trace for a fresh decider: the previous one is kept as .1 */
static void open_files(ks_scaler_t *sc, srev_t *r)
{
    char dir[1400], path[2000], old[2100];
    const char *what[2] = {"trace", "decisions"};
    FILE **f[2] = {&r->trace, &r->decisions};
    close_files(r);
    snprintf(dir, sizeof(dir), "%s/autoscaler/%s", sc->home, r->ns);
    if (mkdirs(dir) != 0)
        return;
    for (int i = 0; i < 2; ++i) {
        snprintf(path, sizeof(path), "%s/%s.%s.jsonl", dir, r->rev, what[i]);
        snprintf(old, sizeof(old), "%s.1", path);
        rename(path, old);
        if ((*f[i] = fopen(path, "we")) != NULL)
            setvbuf(*f[i], NULL, _IOLBF, 0);
    }
    if (r->trace != NULL)
        ks_kpa_config_write(r->trace, &r->cfg);
}

/* Unix seconds, and the monotonic ns until the next one starts */
static int64_t unix_second(uint64_t *ns_to_next)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *ns_to_next = 1000000000u - (uint64_t)ts.tv_nsec;
    return (int64_t)ts.tv_sec;
}

static srev_t *find(ks_scaler_t *sc, const char *ns, const char *rev)
{
    for (srev_t *r = sc->revs; r != NULL; r = r->next)
        if (strcmp(r->ns, ns) == 0 && strcmp(r->rev, rev) == 0)
            return r;
    return NULL;
}

static int initial_scale(const ks_kpa_config_t *c)
{
    int n = c->initial_scale > c->min_scale ? c->initial_scale : c->min_scale;
    if (c->max_scale > 0 && n > c->max_scale)
        n = c->max_scale;
    return n;
}

int ks_scaler_revision(ks_scaler_t *sc, const char *ns, const char *rev, ks_revstat_t *stat, const ks_kpa_config_t *cfg,
                       int reachable, int initialized)
{
    srev_t *r = find(sc, ns, rev);
    uint64_t now = ks_now_ns();
    if (r != NULL && r->hpa) {
        /* the mode changed: start afresh */
        srev_t **rp;
        for (rp = &sc->revs; *rp != r; rp = &(*rp)->next)
            ;
        *rp = r->next;
        free_rev(r);
        r = NULL;
    }
    if (r != NULL && memcmp(&r->cfg, cfg, sizeof(*cfg)) != 0) {
        /* new settings: a new decider (the replay format has one config per trace) */
        ks_kpa_t *k = ks_kpa_new(cfg);
        if (k != NULL) {
            ks_kpa_free(r->kpa);
            r->kpa = k;
            r->cfg = *cfg;
            r->have_decision = 0;
            open_files(sc, r);
        }
    }
    if (r == NULL) {
        if ((r = calloc(1, sizeof(*r))) == NULL || (r->kpa = ks_kpa_new(cfg)) == NULL) {
            free(r);
            return initial_scale(cfg);
        }
        snprintf(r->ns, sizeof(r->ns), "%s", ns);
        snprintf(r->rev, sizeof(r->rev), "%s", rev);
        r->sc = sc;
        r->cfg = *cfg;
        /* initial-scale 0 (allow-zero-initial-scale): a new revision is at its initial scale from the start */
        r->initialized = initialized || (cfg->initial_scale == 0 && cfg->allow_zero_initial_scale);
        if (initialized) {
            /* the daemon restarted: what runs (adopted) is the scale until the decider knows better */
            int d, a, ready;
            ks_supervisor_counts(sc->sup, ns, rev, &d, &a, &ready);
            r->scale = ks_kpa_bounded_scale(cfg, a, reachable, 1);
            if (r->scale == 0 && a == 0 && (cfg->min_scale > 0 || !cfg->enable_scale_to_zero))
                r->scale = cfg->min_scale > 0 ? cfg->min_scale : 1;
        } else {
            r->scale = initial_scale(cfg);
        }
        {
            uint64_t ignored;
            r->last_collect_s = unix_second(&ignored);
        }
        r->last_collect_ns = now;
        r->next_tick_s = r->last_collect_s + 2;
        r->inactive_since = -1;
        r->in_path_since = -1;
        r->next = sc->revs;
        sc->revs = r;
        open_files(sc, r);
    }
    r->stat = stat;
    r->reachable = reachable;
    r->seen = 1;
    if (!r->initialized && reachable) {
        int d, a, ready;
        ks_supervisor_counts(sc->sup, ns, rev, &d, &a, &ready);
        r->initialized = ready >= r->cfg.initial_scale;
    }
    return r->scale;
}

void ks_scaler_set_hpa_period(ks_scaler_t *sc, int seconds)
{
    sc->hpa_period_s = seconds > 0 ? seconds : 15;
}

int ks_scaler_hpa_revision(ks_scaler_t *sc, const char *ns, const char *rev, const ks_hpa_config_t *cfg,
                           int64_t request_millicores, int64_t request_bytes)
{
    srev_t *r = find(sc, ns, rev);
    int lo, hi;
    uint64_t ignored;
    if (r != NULL && (!r->hpa || memcmp(&r->hcfg, cfg, sizeof(*cfg)) != 0 || r->req_mc != request_millicores ||
                      r->req_bytes != request_bytes)) {
        /* new settings: a new decider, starting from what runs */
        srev_t **rp;
        int keep = r->scale;
        for (rp = &sc->revs; *rp != r; rp = &(*rp)->next)
            ;
        *rp = r->next;
        free_rev(r);
        if ((r = calloc(1, sizeof(*r))) == NULL)
            return keep;
        r->scale = keep;
        goto init;
    }
    if (r == NULL) {
        if ((r = calloc(1, sizeof(*r))) == NULL)
            return cfg->min_replicas > 0 ? cfg->min_replicas : 1;
        ks_hpa_bounds(cfg, &lo, &hi);
        r->scale = lo;
    init:
        snprintf(r->ns, sizeof(r->ns), "%s", ns);
        snprintf(r->rev, sizeof(r->rev), "%s", rev);
        r->hpa = 1;
        r->hcfg = *cfg;
        r->req_mc = request_millicores;
        r->req_bytes = request_bytes;
        r->inactive_since = r->in_path_since = -1;
        r->h = ks_hpa_new(cfg);
        r->next_sync_s = unix_second(&ignored) + sc->hpa_period_s;
        r->next = sc->revs;
        sc->revs = r;
    }
    ks_hpa_bounds(cfg, &lo, &hi);
    if (r->scale < lo)
        r->scale = lo;
    if (r->scale > hi)
        r->scale = hi;
    r->seen = 1;
    return r->scale;
}

/* the HPA's sync: measure every replica that runs, decide */
static int hpa_sync(ks_scaler_t *sc, srev_t *r, int64_t t)
{
    pid_t pids[HPA_MAX_REPLICAS];
    int ready[HPA_MAX_REPLICAS], n, old = r->scale;
    ks_hpa_sample_t samples[HPA_MAX_REPLICAS];
    struct timespec ts;
    double wall;
    int nprev = 0;
    __typeof__(r->prev[0]) next[HPA_MAX_REPLICAS];

    if (r->h == NULL)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    n = ks_supervisor_pids(sc->sup, r->ns, r->rev, pids, ready, HPA_MAX_REPLICAS);
    for (int i = 0; i < n; ++i) {
        ks_hpa_sample_t *x = &samples[i];
        memset(x, 0, sizeof(*x));
        x->started = 1;
        x->ready = ready[i];
        if (r->hcfg.metric == KS_HPA_MEMORY) {
            uint64_t rss;
            if (ks_procstat_rss_bytes(pids[i], &rss) == 0 &&
                ks_procstat_memory_pct(rss, r->req_bytes, &x->utilization_pct) == 0)
                x->has_metric = 1;
        } else {
            double cpu;
            if (ks_procstat_cpu_seconds(pids[i], &cpu) == 0) {
                /* CPU needs two samples of the same process */
                for (int k = 0; k < r->nprev; ++k)
                    if (r->prev[k].pid == pids[i] &&
                        ks_procstat_cpu_pct(r->prev[k].cpu_s, cpu, r->prev[k].wall_s, wall, r->req_mc,
                                            &x->utilization_pct) == 0)
                        x->has_metric = 1;
                next[nprev].pid = pids[i];
                next[nprev].cpu_s = cpu;
                next[nprev].wall_s = wall;
                nprev++;
            }
        }
    }
    memcpy(r->prev, next, sizeof(next[0]) * (size_t)nprev);
    r->nprev = nprev;
    r->scale = ks_hpa_decide(r->h, t, r->scale, samples, (size_t)n, &r->hlast);
    sc->version++;
    r->have_hlast = 1;
    return r->scale != old;
}

void ks_scaler_sweep(ks_scaler_t *sc)
{
    srev_t **rp = &sc->revs, *r;
    while ((r = *rp) != NULL) {
        if (!r->seen) {
            *rp = r->next;
            free_rev(r);
            continue;
        }
        r->seen = 0;
        rp = &r->next;
    }
}

/*
 * A trace grows ~60 bytes a second per revision; past TRACE_MAX_BYTES it
 * starts again (the old one kept as .1).  A replay of the new file begins
 * with a fresh decider, so its first window's decisions can differ.
 */
#define TRACE_MAX_BYTES (32l << 20)

static void write_stat(srev_t *r, int64_t t, double conc, double rps)
{
    if (r->trace == NULL)
        return;
    if (ftell(r->trace) > TRACE_MAX_BYTES)
        open_files(r->sc, r);
    if (r->trace == NULL)
        return;
    fprintf(r->trace, "{\"t\": %lld, \"concurrency\": ", (long long)t);
    ks_kpa_put_double(r->trace, conc);
    fputs(", \"rps\": ", r->trace);
    ks_kpa_put_double(r->trace, rps);
    fputs("}\n", r->trace);
}

/* one tick at second t: the decision and what to apply; returns 1 when the scale changed */
static int tick(ks_scaler_t *sc, srev_t *r, int64_t t)
{
    int desired, actual, ready, want, old = r->scale, in_path;
    ks_kpa_decision_t d;

    ks_supervisor_counts(sc->sup, r->ns, r->rev, &desired, &actual, &ready);
    if (r->trace != NULL)
        fprintf(r->trace, "{\"t\": %lld, \"tick\": true, \"ready\": %d%s}\n", (long long)t, ready,
                r->reachable ? "" : ", \"reachable\": false");
    ks_kpa_tick(r->kpa, t, ready, r->reachable, &d);
    if (r->reachable && ready >= r->cfg.initial_scale)
        r->initialized = 1;
    if (!d.valid) {
        /* no data: Knative keeps the scale as it is */
        want = r->scale;
    } else {
        r->last = d;
        r->have_decision = 1;
        want = ks_kpa_bounded_scale(&r->cfg, d.desired, r->reachable, r->initialized);
    }
    /* the activator is in the path iff the scale is 0 or EBC < 0 (spec 3); desired 0 puts it there */
    in_path = ready == 0 || (d.valid && (d.ebc < 0 || want == 0));
    if (!in_path)
        r->in_path_since = -1;
    else if (r->in_path_since < 0)
        r->in_path_since = t;
    /* scale to zero (spec 4): only after the grace period in the path and the pod retention period */
    if (want == 0) {
        if (!r->cfg.enable_scale_to_zero) {
            want = 1;
        } else {
            int64_t grace = r->cfg.grace_s;
            if (r->inactive_since < 0)
                r->inactive_since = t;
            if (r->scale > 0 && !(t - r->in_path_since >= grace && t - r->inactive_since >= r->cfg.retention_s))
                want = r->scale > 0 ? r->scale : 1;
        }
    } else {
        r->inactive_since = -1;
    }
    r->scale = want;
    sc->version++;
    if (r->decisions != NULL) {
        FILE *f = r->decisions;
        if (!d.valid) {
            fprintf(f, "{\"t\": %lld, \"valid\": false", (long long)t);
        } else {
            fprintf(f, "{\"t\": %lld, \"desired\": %d, \"panic\": %s, \"stable\": ", (long long)t, d.desired,
                    d.panic ? "true" : "false");
            ks_kpa_put_double(f, d.stable);
            fputs(", \"panic_avg\": ", f);
            ks_kpa_put_double(f, d.panic_avg);
            fprintf(f, ", \"ebc\": %lld", (long long)d.ebc);
        }
        fprintf(f, ", \"ready\": %d, \"actual\": %d, \"scale\": %d, \"in_path\": %s}\n", ready, actual, r->scale,
                in_path ? "true" : "false");
    }
    return r->scale != old;
}

int ks_scaler_step(ks_scaler_t *sc, uint64_t now, int *wait_ms)
{
    uint64_t to_next;
    int64_t t = unix_second(&to_next);
    int changed = 0;
    uint64_t next_ns = now + to_next;

    for (srev_t *r = sc->revs; r != NULL; r = r->next) {
        int poked;
        if (r->hpa) {
            if (t >= r->next_sync_s) {
                changed |= hpa_sync(sc, r, t);
                r->next_sync_s = t + sc->hpa_period_s;
            }
            continue;
        }
        poked = r->stat != NULL && ks_revstat_take_poke(r->stat);
        if (t > r->last_collect_s && r->stat != NULL) {
            double conc, reqs;
            int held, d, a, ready;
            ks_revstat_collect(r->stat, now, r->last_collect_ns, &conc, &reqs, &held);
            ks_supervisor_counts(sc->sup, r->ns, r->rev, &d, &a, &ready);
            if (ready > 0) {
                /* rps: arrivals per second over the time since the last collection */
                double dt = (double)(now - r->last_collect_ns) / 1e9;
                double rps = dt > 0.5 ? reqs / dt : reqs;
                ks_kpa_record(r->kpa, t, conc, rps);
                write_stat(r, t, conc, rps);
            }
            r->last_collect_s = t;
            r->last_collect_ns = now;
        }
        if (poked) {
            /* a request waits for a replica: it counts at once (a stat of what waits), and the decider ticks now */
            int64_t held = ks_revstat_in_flight(r->stat);
            double c = held > 0 ? (double)held : 1;
            ks_kpa_record(r->kpa, t, c, c);
            write_stat(r, t, c, c);
            changed |= tick(sc, r, t);
            r->next_tick_s = t + 2;
        } else if (t >= r->next_tick_s) {
            changed |= tick(sc, r, t);
            r->next_tick_s = t + 2;
        }
    }
    {
        uint64_t ms = next_ns > now ? (next_ns - now) / 1000000u + 1 : 1;
        *wait_ms = (int)(ms > 1000 ? 1000 : ms);
    }
    return changed;
}

uint64_t ks_scaler_version(const ks_scaler_t *sc)
{
    return sc->version;
}

static json_t *status_of(srev_t *r, int live);

json_t *ks_scaler_snapshot(ks_scaler_t *sc)
{
    json_t *o = json_object();
    char key[600];
    for (srev_t *r = sc->revs; r != NULL; r = r->next) {
        snprintf(key, sizeof(key), "%s/%s", r->ns, r->rev);
        json_object_set_new(o, key, status_of(r, 1));
    }
    return o;
}

json_t *ks_scaler_status(ks_scaler_t *sc, const char *ns, const char *rev, int live)
{
    srev_t *r = find(sc, ns, rev);
    return r != NULL ? status_of(r, live) : NULL;
}

static json_t *status_of(srev_t *r, int live)
{
    json_t *o;
    if (r->hpa) {
        o = json_pack("{s:s, s:s, s:i, s:i}", "class", "hpa.autoscaling.knative.dev", "metric",
                      r->hcfg.metric == KS_HPA_MEMORY ? "memory" : "cpu", "target", r->hcfg.target_pct, "desiredScale",
                      r->scale);
        if (r->have_hlast && live) {
            json_object_set_new(o, "reason", json_string(ks_hpa_reason_name(r->hlast.reason)));
            if (r->hlast.utilization >= 0)
                json_object_set_new(o, "currentUtilization", json_integer(r->hlast.utilization));
        }
        return o;
    }
    o = json_pack("{s:s, s:s, s:f, s:i, s:b, s:b}", "class", "kpa.autoscaling.knative.dev", "metric",
                  r->cfg.metric_rps ? "rps" : "concurrency", "target", ks_kpa_target(&r->cfg), "desiredScale",
                  r->scale, "scaleTargetInitialized", r->initialized, "panic", r->have_decision && r->last.panic);
    if (live)
        json_object_set_new(o, "activatorInPath", json_boolean(r->in_path_since >= 0 || r->scale == 0));
    if (r->have_decision && live) {
        json_object_set_new(o, "stableAverage", json_real(r->last.stable));
        json_object_set_new(o, "panicAverage", json_real(r->last.panic_avg));
        json_object_set_new(o, "excessBurstCapacity", json_integer(r->last.ebc));
        json_object_set_new(o, "decidedScale", json_integer(r->last.desired));
    }
    return o;
}
