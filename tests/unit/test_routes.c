/*
 * Route tables (ks_routes_* in src/ingress/ingress.c): the canonical key the
 * reconciler compares to decide whether to publish a new table.  It must
 * change whenever what the ingress would do changes (ports, percents,
 * revisions, hosts) and stay equal for tables built the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ks/ingress.h"

typedef struct {
    const char *host, *rev;
    int percent;
    int ports[4];
    int nports;
} entry_t;

/* the key of a table built from entries (a copy, to free) */
static char *key_of(const entry_t *e, size_t n)
{
    ks_routes_t *t = ks_routes_new();
    char *k;
    assert_non_null(t);
    for (size_t i = 0; i < n; ++i)
        assert_int_equal(ks_routes_add(t, e[i].host, e[i].rev, e[i].percent, e[i].ports, e[i].nports), 0);
    k = strdup(ks_routes_key(t));
    ks_routes_free(t);
    assert_non_null(k);
    return k;
}

#define KEY(arr) key_of((arr), KS_ARRAY_SIZE(arr))

static void assert_keys_differ(const entry_t *a, size_t na, const entry_t *b, size_t nb)
{
    char *ka = key_of(a, na), *kb = key_of(b, nb);
    if (strcmp(ka, kb) == 0)
        fail_msg("keys are equal for different tables: %s", ka);
    free(ka);
    free(kb);
}

#define DIFFER(a, b) assert_keys_differ((a), KS_ARRAY_SIZE(a), (b), KS_ARRAY_SIZE(b))

static const entry_t base[] = {
    {"sklearn-iris.default.example.com", "sklearn-iris-predictor-00001", 90, {40001, 40002}, 2},
    {"sklearn-iris.default.example.com", "sklearn-iris-predictor-00002", 10, {40003}, 1},
    {"latest-sklearn-iris-predictor.default.example.com", "sklearn-iris-predictor-00002", 100, {40003}, 1},
};

/* ---- equal ------------------------------------------------------------------------------------ */

static void empty_tables_have_equal_keys(void **state)
{
    (void)state;
    ks_routes_t *a = ks_routes_new(), *b = ks_routes_new();
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(ks_routes_key(a));
    assert_string_equal(ks_routes_key(a), ks_routes_key(b));
    assert_string_equal(ks_routes_key(a), "");
    ks_routes_free(a);
    ks_routes_free(b);
}

static void equal_tables_have_equal_keys(void **state)
{
    (void)state;
    char *a = KEY(base), *b = KEY(base);
    assert_string_equal(a, b);
    assert_true(strlen(a) > 0);
    free(a);
    free(b);
}

static void key_is_stable_across_calls(void **state)
{
    (void)state;
    ks_routes_t *t = ks_routes_new();
    char *first;
    for (size_t i = 0; i < KS_ARRAY_SIZE(base); ++i)
        assert_int_equal(ks_routes_add(t, base[i].host, base[i].rev, base[i].percent, base[i].ports, base[i].nports),
                         0);
    first = strdup(ks_routes_key(t));
    assert_string_equal(ks_routes_key(t), first);
    assert_string_equal(ks_routes_key(t), first);
    ks_routes_free(t);
    free(first);
}

static void key_follows_adds_made_after_reading_it(void **state)
{
    (void)state;
    ks_routes_t *t = ks_routes_new();
    char *partial, *whole = KEY(base), *only_first = key_of(base, 1);
    assert_int_equal(ks_routes_add(t, base[0].host, base[0].rev, base[0].percent, base[0].ports, base[0].nports), 0);
    partial = strdup(ks_routes_key(t));
    assert_string_equal(partial, only_first);
    for (size_t i = 1; i < KS_ARRAY_SIZE(base); ++i)
        assert_int_equal(ks_routes_add(t, base[i].host, base[i].rev, base[i].percent, base[i].ports, base[i].nports),
                         0);
    assert_string_not_equal(ks_routes_key(t), partial);
    assert_string_equal(ks_routes_key(t), whole);
    ks_routes_free(t);
    free(partial);
    free(whole);
    free(only_first);
}

/* ---- different ------------------------------------------------------------------------------------ */

static void key_changes_with_ports(void **state)
{
    (void)state;
    entry_t other_port[3], fewer[3], more[3], none[3];
    memcpy(other_port, base, sizeof(base));
    memcpy(fewer, base, sizeof(base));
    memcpy(more, base, sizeof(base));
    memcpy(none, base, sizeof(base));
    other_port[0].ports[1] = 40009; /* a replica restarted on another port */
    fewer[0].nports = 1;            /* a replica went away */
    more[1].ports[1] = 40004;       /* one got ready */
    more[1].nports = 2;
    none[1].nports = 0; /* no ready replica */
    DIFFER(base, other_port);
    DIFFER(base, fewer);
    DIFFER(base, more);
    DIFFER(base, none);
}

static void key_changes_with_percents(void **state)
{
    (void)state;
    entry_t p[3];
    memcpy(p, base, sizeof(base));
    p[0].percent = 50;
    p[1].percent = 50;
    DIFFER(base, p);
    memcpy(p, base, sizeof(base));
    p[0].percent = 100;
    p[1].percent = 0;
    DIFFER(base, p);
    /* the digits of percent and port must not run together */
    {
        entry_t a[] = {{"h", "r", 1, {23}, 1}};
        entry_t b[] = {{"h", "r", 12, {3}, 1}};
        DIFFER(a, b);
    }
}

static void key_changes_with_revisions(void **state)
{
    (void)state;
    entry_t r[3];
    memcpy(r, base, sizeof(base));
    r[1].rev = "sklearn-iris-predictor-00003";
    DIFFER(base, r);
    memcpy(r, base, sizeof(base));
    r[2].rev = "sklearn-iris-predictor-00001"; /* the tag now points at the other revision */
    DIFFER(base, r);
}

static void key_changes_with_hosts_and_targets(void **state)
{
    (void)state;
    entry_t h[3];
    memcpy(h, base, sizeof(base));
    h[2].host = "prev-sklearn-iris-predictor.default.example.com";
    DIFFER(base, h);
    /* a route dropped */
    assert_keys_differ(base, 3, base, 2);
    /* a target dropped: 100 % to one revision, the same ports */
    {
        entry_t one[] = {{"sklearn-iris.default.example.com", "sklearn-iris-predictor-00001", 100, {40001, 40002}, 2}};
        entry_t two[] = {{"sklearn-iris.default.example.com", "sklearn-iris-predictor-00001", 100, {40001, 40002}, 2},
                         {"sklearn-iris.default.example.com", "sklearn-iris-predictor-00002", 0, {0}, 0}};
        DIFFER(one, two);
    }
    /* the same targets on two hosts vs one host with both */
    {
        entry_t split[] = {{"a.example.com", "r1", 100, {1}, 1}, {"b.example.com", "r2", 100, {2}, 1}};
        entry_t joined[] = {{"a.example.com", "r1", 100, {1}, 1}, {"a.example.com", "r2", 100, {2}, 1}};
        DIFFER(split, joined);
    }
}

/* ---- limits -------------------------------------------------------------------------------------------- */

static void too_many_targets_for_one_host(void **state)
{
    (void)state;
    ks_routes_t *t = ks_routes_new();
    char rev[32], *before;
    int port = 5000, r = 0, added = 0;
    for (int i = 0; i < 64 && r == 0; ++i) {
        snprintf(rev, sizeof(rev), "rev-%05d", i);
        if ((r = ks_routes_add(t, "h.example.com", rev, 1, &port, 1)) == 0)
            added++;
    }
    assert_int_equal(r, KS_ETOOBIG);
    assert_true(added >= 2);
    /* the refused target leaves no trace in the key */
    before = strdup(ks_routes_key(t));
    assert_int_equal(ks_routes_add(t, "h.example.com", "one-more", 1, &port, 1), KS_ETOOBIG);
    assert_string_equal(ks_routes_key(t), before);
    assert_null(strstr(before, "one-more"));
    /* another host still takes targets */
    assert_int_equal(ks_routes_add(t, "other.example.com", "x", 100, &port, 1), 0);
    ks_routes_free(t);
    free(before);
}

static void many_hosts_and_ports(void **state)
{
    (void)state;
    ks_routes_t *a = ks_routes_new(), *b = ks_routes_new();
    char host[64];
    int ports[64];
    for (int i = 0; i < 64; ++i)
        ports[i] = 30000 + i;
    for (int i = 0; i < 100; ++i) {
        snprintf(host, sizeof(host), "isvc-%d.ns.example.com", i);
        assert_int_equal(ks_routes_add(a, host, "r", 100, ports, 64), 0);
        assert_int_equal(ks_routes_add(b, host, "r", 100, ports, 64), 0);
    }
    assert_string_equal(ks_routes_key(a), ks_routes_key(b));
    ports[63] = 1;
    assert_int_equal(ks_routes_add(a, "last.example.com", "r", 100, ports, 64), 0);
    ports[63] = 2;
    assert_int_equal(ks_routes_add(b, "last.example.com", "r", 100, ports, 64), 0);
    assert_string_not_equal(ks_routes_key(a), ks_routes_key(b));
    ks_routes_free(a);
    ks_routes_free(b);
    ks_routes_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_tables_have_equal_keys),  cmocka_unit_test(equal_tables_have_equal_keys),
        cmocka_unit_test(key_is_stable_across_calls),    cmocka_unit_test(key_follows_adds_made_after_reading_it),
        cmocka_unit_test(key_changes_with_ports),        cmocka_unit_test(key_changes_with_percents),
        cmocka_unit_test(key_changes_with_revisions),    cmocka_unit_test(key_changes_with_hosts_and_targets),
        cmocka_unit_test(too_many_targets_for_one_host), cmocka_unit_test(many_hosts_and_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
