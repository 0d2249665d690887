/*
 * The store (src/store/store.c) on a temporary SQLite database: create,
 * replace and upsert, generation and resourceVersion, optimistic concurrency,
 * status, listing, cluster scope, deletion, events, persistence across a
 * reopen and concurrent writers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks/store.h"

static char D[256];
static char DB[320];
static char E[KS_ERRLEN];
static ks_store_t *S;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(D, sizeof(D), "%s/ks-store-XXXXXX", getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(D) == NULL)
        return -1;
    snprintf(DB, sizeof(DB), "%s/store.db", D);
    memset(E, 0, sizeof(E));
    if (ks_store_open(DB, &S, E, sizeof(E)) != 0) {
        fprintf(stderr, "ks_store_open: %s\n", E);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ks_store_close(S);
    S = NULL;
    return nftw(D, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers --------------------------------------------------------------------- */

/* {"metadata": {"name": name, "namespace": ns}, "spec": {"x": x}} (ns NULL: none) */
static json_t *obj(const char *ns, const char *name, int x)
{
    json_t *o = json_pack("{s:{s:s}, s:{s:i}}", "metadata", "name", name, "spec", "x", x);
    if (ns != NULL)
        json_object_set_new(json_object_get(o, "metadata"), "namespace", json_string(ns));
    return o;
}

static const char *meta(json_t *o, const char *key)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), key));
}

static int64_t rv_of(json_t *o)
{
    const char *s = meta(o, "resourceVersion");
    assert_non_null(s);
    return strtoll(s, NULL, 10);
}

static int64_t gen_of(json_t *o)
{
    json_t *g = json_object_get(json_object_get(o, "metadata"), "generation");
    assert_true(json_is_integer(g));
    return json_integer_value(g);
}

static int64_t spec_x(json_t *o)
{
    return json_integer_value(json_object_get(json_object_get(o, "spec"), "x"));
}

/* puts o (stealing the reference) and returns the stored object */
static json_t *put_ok(const char *kind, json_t *o, int64_t expect_rv, int cluster)
{
    json_t *out = NULL;
    E[0] = '\0';
    int r = ks_store_put(S, kind, o, expect_rv, cluster, &out, E, sizeof(E));
    if (r != 0)
        fprintf(stderr, "ks_store_put: %d %s\n", r, E);
    assert_int_equal(r, 0);
    assert_non_null(out);
    json_decref(o);
    return out;
}

/* set_status with a new reference it consumes */
static int set_status_new(const char *kind, const char *ns, const char *name, json_t *st)
{
    int r = ks_store_set_status(S, kind, ns, name, st);
    json_decref(st);
    return r;
}

static int put_err(const char *kind, json_t *o, int64_t expect_rv)
{
    json_t *out = NULL;
    E[0] = '\0';
    int r = ks_store_put(S, kind, o, expect_rv, 0, &out, E, sizeof(E));
    json_decref(o);
    assert_null(out);
    return r;
}

/* ---- put ------------------------------------------------------------------------- */

static void create_sets_identity_and_defaults(void **state)
{
    (void)state;
    json_t *out = put_ok("Thing", obj(NULL, "a", 1), 0, 0), *got = NULL;
    const char *uid = meta(out, "uid"), *ts = meta(out, "creationTimestamp");

    assert_string_equal(meta(out, "name"), "a");
    assert_string_equal(meta(out, "namespace"), "default"); /* the default namespace */
    assert_int_equal(gen_of(out), 1);
    assert_true(rv_of(out) > 0);
    /* a v4 UUID */
    assert_non_null(uid);
    assert_int_equal(strlen(uid), 36);
    assert_int_equal(uid[8], '-');
    assert_int_equal(uid[14], '4');
    assert_true(strchr("89ab", uid[19]) != NULL);
    /* RFC 3339 UTC: 2026-11-25T21:40:00Z */
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 20);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], 'Z');
    assert_int_equal(spec_x(out), 1);
    assert_null(json_object_get(out, "status"));

    assert_int_equal(ks_store_get(S, "Thing", "default", "a", &got), 0);
    assert_true(json_equal(got, out));
    json_decref(got);
    json_decref(out);
}

static void create_ignores_client_identity(void **state)
{
    (void)state;
    json_t *o = obj("ns1", "a", 1), *out;
    json_object_set_new(json_object_get(o, "metadata"), "uid", json_string("forged"));
    json_object_set_new(json_object_get(o, "metadata"), "generation", json_integer(42));
    json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string("999999"));
    out = put_ok("Thing", o, 0, 0);
    assert_string_not_equal(meta(out, "uid"), "forged");
    assert_int_equal(gen_of(out), 1);
    assert_true(rv_of(out) < 999999);
    json_decref(out);
}

static void create_two_objects_get_distinct_uids(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj(NULL, "a", 1), 0, 0), *b = put_ok("Thing", obj(NULL, "b", 1), 0, 0);
    assert_string_not_equal(meta(a, "uid"), meta(b, "uid"));
    json_decref(a);
    json_decref(b);
}

static void create_twice_is_eexist(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj("ns1", "a", 1), 0, 0), *got = NULL;
    assert_int_equal(put_err("Thing", obj("ns1", "a", 2), 0), KS_EEXIST);
    assert_non_null(strstr(E, "already exists"));
    assert_non_null(strstr(E, "ns1/a"));
    /* nothing changed */
    assert_int_equal(ks_store_get(S, "Thing", "ns1", "a", &got), 0);
    assert_true(json_equal(got, a));
    json_decref(got);
    json_decref(a);
}

static void same_name_other_kind_or_namespace_is_another_object(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj("ns1", "a", 1), 0, 0);
    json_t *b = put_ok("Other", obj("ns1", "a", 2), 0, 0);
    json_t *c = put_ok("Thing", obj("ns2", "a", 3), 0, 0), *got = NULL;
    assert_int_equal(ks_store_get(S, "Thing", "ns1", "a", &got), 0);
    assert_int_equal(spec_x(got), 1);
    json_decref(got);
    assert_int_equal(ks_store_get(S, "Other", "ns1", "a", &got), 0);
    assert_int_equal(spec_x(got), 2);
    json_decref(got);
    assert_int_equal(ks_store_get(S, "Thing", "ns2", "a", &got), 0);
    assert_int_equal(spec_x(got), 3);
    json_decref(got);
    assert_int_equal(ks_store_get(S, "Thing", "ns3", "a", &got), KS_ENOENT);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void replace_with_current_rv(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj(NULL, "a", 1), 0, 0);
    json_t *b = put_ok("Thing", obj(NULL, "a", 2), rv_of(a), 0);
    assert_int_equal(spec_x(b), 2);
    assert_true(rv_of(b) > rv_of(a));
    assert_int_equal(gen_of(b), 2);
    /* identity stays */
    assert_string_equal(meta(b, "uid"), meta(a, "uid"));
    assert_string_equal(meta(b, "creationTimestamp"), meta(a, "creationTimestamp"));
    json_decref(a);
    json_decref(b);
}

static void replace_keeps_uid_even_if_client_sends_another(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj(NULL, "a", 1), 0, 0), *o = obj(NULL, "a", 1), *b;
    json_object_set_new(json_object_get(o, "metadata"), "uid", json_string("forged"));
    json_object_set_new(json_object_get(o, "metadata"), "creationTimestamp", json_string("1999-01-01T00:00:00Z"));
    b = put_ok("Thing", o, -1, 0);
    assert_string_equal(meta(b, "uid"), meta(a, "uid"));
    assert_string_equal(meta(b, "creationTimestamp"), meta(a, "creationTimestamp"));
    json_decref(a);
    json_decref(b);
}

static void stale_rv_is_conflict(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj("ns1", "a", 1), 0, 0);
    json_t *b = put_ok("Thing", obj("ns1", "a", 2), rv_of(a), 0), *got = NULL;
    char want[128];

    /* a writer that still holds a's resourceVersion */
    assert_int_equal(put_err("Thing", obj("ns1", "a", 3), rv_of(a)), KS_ECONFLICT);
    assert_non_null(strstr(E, "Operation cannot be fulfilled on Thing ns1/a"));
    assert_non_null(strstr(E, "the object has been modified"));
    assert_non_null(strstr(E, "please apply your changes to the latest version and try again"));
    snprintf(want, sizeof(want), "resourceVersion %lld, yours %lld", (long long)rv_of(b), (long long)rv_of(a));
    assert_non_null(strstr(E, want));
    /* the stored object is b */
    assert_int_equal(ks_store_get(S, "Thing", "ns1", "a", &got), 0);
    assert_true(json_equal(got, b));
    json_decref(got);
    /* a resourceVersion from the future conflicts too */
    assert_int_equal(put_err("Thing", obj("ns1", "a", 3), rv_of(b) + 1000), KS_ECONFLICT);
    json_decref(a);
    json_decref(b);
}

static void replace_absent_is_enoent(void **state)
{
    (void)state;
    json_t *got = NULL;
    assert_int_equal(put_err("Thing", obj("ns1", "ghost", 1), 5), KS_ENOENT);
    assert_non_null(strstr(E, "not found"));
    assert_non_null(strstr(E, "ns1/ghost"));
    assert_int_equal(ks_store_get(S, "Thing", "ns1", "ghost", &got), KS_ENOENT);
}

static void upsert_creates_then_replaces(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj(NULL, "a", 1), -1, 0);
    json_t *b = put_ok("Thing", obj(NULL, "a", 2), -1, 0);
    assert_int_equal(gen_of(a), 1);
    assert_int_equal(gen_of(b), 2);
    assert_int_equal(spec_x(b), 2);
    assert_string_equal(meta(a, "uid"), meta(b, "uid"));
    assert_true(rv_of(b) > rv_of(a));
    json_decref(a);
    json_decref(b);
}

static void put_without_name_is_einval(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:{}, s:{}}", "metadata", "spec"), *out = NULL;
    assert_int_equal(ks_store_put(S, "Thing", o, -1, 0, &out, E, sizeof(E)), KS_EINVAL);
    assert_non_null(strstr(E, "metadata.name"));
    assert_null(out);
    json_decref(o);
    o = json_pack("{s:{}}", "spec");
    assert_int_equal(ks_store_put(S, "Thing", o, -1, 0, &out, E, sizeof(E)), KS_EINVAL);
    json_decref(o);
}

static void put_with_null_out(void **state)
{
    (void)state;
    json_t *o = obj(NULL, "a", 1), *got = NULL;
    assert_int_equal(ks_store_put(S, "Thing", o, 0, 0, NULL, E, sizeof(E)), 0);
    json_decref(o);
    assert_int_equal(ks_store_get(S, "Thing", "default", "a", &got), 0);
    json_decref(got);
}

/* ---- generation and resourceVersion ----------------------------------------------- */

static void generation_bumps_only_on_spec_change(void **state)
{
    (void)state;
    json_t *o, *a, *b;

    a = put_ok("Thing", obj(NULL, "a", 1), 0, 0);
    assert_int_equal(gen_of(a), 1);

    /* labels and annotations: metadata only */
    o = obj(NULL, "a", 1);
    json_object_set_new(json_object_get(o, "metadata"), "labels", json_pack("{s:s}", "app", "x"));
    json_object_set_new(json_object_get(o, "metadata"), "annotations", json_pack("{s:s}", "note", "y"));
    b = put_ok("Thing", o, -1, 0);
    assert_int_equal(gen_of(b), 1);
    assert_true(rv_of(b) > rv_of(a));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(b, "metadata"), "labels"), "app")), "x");
    json_decref(a);
    a = b;

    /* the very same spec again */
    b = put_ok("Thing", obj(NULL, "a", 1), -1, 0);
    assert_int_equal(gen_of(b), 1);
    assert_true(rv_of(b) > rv_of(a));
    json_decref(a);
    a = b;

    /* the spec changes */
    b = put_ok("Thing", obj(NULL, "a", 2), -1, 0);
    assert_int_equal(gen_of(b), 2);
    json_decref(a);
    a = b;
    b = put_ok("Thing", obj(NULL, "a", 3), -1, 0);
    assert_int_equal(gen_of(b), 3);
    json_decref(a);
    json_decref(b);
}

static void generation_ignores_key_order(void **state)
{
    (void)state;
    json_t *a =
        put_ok("Thing",
               json_loads("{\"metadata\":{\"name\":\"k\"},\"spec\":{\"a\":1,\"b\":{\"c\":2,\"d\":3}}}", 0, NULL), 0, 0);
    json_t *b = put_ok(
        "Thing", json_loads("{\"spec\":{\"b\":{\"d\":3,\"c\":2},\"a\":1},\"metadata\":{\"name\":\"k\"}}", 0, NULL), -1,
        0);
    assert_int_equal(gen_of(a), 1);
    assert_int_equal(gen_of(b), 1);
    json_decref(a);
    json_decref(b);
}

static void generation_bumps_when_spec_appears_or_goes(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", json_pack("{s:{s:s}}", "metadata", "name", "n"), 0, 0);
    json_t *b = put_ok("Thing", obj(NULL, "n", 1), -1, 0);
    json_t *c = put_ok("Thing", json_pack("{s:{s:s}}", "metadata", "name", "n"), -1, 0);
    assert_int_equal(gen_of(a), 1);
    assert_int_equal(gen_of(b), 2);
    assert_int_equal(gen_of(c), 3);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void resource_version_is_one_counter_for_the_store(void **state)
{
    (void)state;
    int64_t last = 0, rv;
    json_t *o, *got;
    char name[16];

    /* every write, whatever its kind, namespace or object, gets a larger resourceVersion */
    for (int i = 0; i < 6; ++i) {
        snprintf(name, sizeof(name), "o%d", i % 3);
        o = put_ok(i % 2 ? "Thing" : "Other", obj(i % 2 ? "ns1" : "ns2", name, i), -1, 0);
        rv = rv_of(o);
        assert_true(rv > last);
        last = rv;
        json_decref(o);
    }
    /* set_status is a write too */
    assert_int_equal(set_status_new("Thing", "ns1", "o1", json_pack("{s:s}", "phase", "x")), 0);
    assert_int_equal(ks_store_get(S, "Thing", "ns1", "o1", &got), 0);
    assert_true(rv_of(got) > last);
    last = rv_of(got);
    json_decref(got);
    /* and a cluster-scoped object shares the counter */
    o = put_ok("Cluster", obj(NULL, "c", 1), -1, 1);
    assert_true(rv_of(o) > last);
    json_decref(o);
}

static void failed_writes_do_not_change_the_object(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj(NULL, "a", 1), 0, 0), *got = NULL;
    assert_int_equal(put_err("Thing", obj(NULL, "a", 9), 0), KS_EEXIST);
    assert_int_equal(put_err("Thing", obj(NULL, "a", 9), rv_of(a) + 1), KS_ECONFLICT);
    assert_int_equal(ks_store_get(S, "Thing", "default", "a", &got), 0);
    assert_true(json_equal(got, a));
    json_decref(got);
    json_decref(a);
}

/* ---- status ------------------------------------------------------------------------- */

static void set_status_keeps_spec_and_bumps_rv(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj("ns1", "a", 7), 0, 0), *got = NULL, *st;

    st = json_pack("{s:[{s:s, s:s}]}", "conditions", "type", "Ready", "status", "True");
    assert_int_equal(ks_store_set_status(S, "Thing", "ns1", "a", st), 0);
    assert_int_equal(ks_store_get(S, "Thing", "ns1", "a", &got), 0);
    assert_true(json_equal(json_object_get(got, "status"), st));
    assert_true(json_equal(json_object_get(got, "spec"), json_object_get(a, "spec")));
    assert_int_equal(gen_of(got), gen_of(a));
    assert_true(rv_of(got) > rv_of(a));
    assert_string_equal(meta(got, "uid"), meta(a, "uid"));
    /* the object's resourceVersion is what a replace must quote */
    json_t *b = put_ok("Thing", obj("ns1", "a", 8), rv_of(got), 0);
    assert_int_equal(gen_of(b), 2);
    json_decref(b);
    assert_int_equal(put_err("Thing", obj("ns1", "a", 9), rv_of(a)), KS_ECONFLICT);
    json_decref(st);
    json_decref(got);
    json_decref(a);
}

static void status_survives_a_later_put(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj("ns1", "a", 1), 0, 0), *b, *o, *got = NULL;
    json_t *st = json_pack("{s:s}", "url", "http://a.ns1.example.com");

    assert_int_equal(ks_store_set_status(S, "Thing", "ns1", "a", st), 0);
    /* a put of the spec (as kubectl apply sends it: no status) */
    b = put_ok("Thing", obj("ns1", "a", 2), -1, 0);
    assert_true(json_equal(json_object_get(b, "status"), st));
    assert_int_equal(spec_x(b), 2);
    json_decref(b);
    /* a put that carries a status does not replace the stored one */
    o = obj("ns1", "a", 3);
    json_object_set_new(o, "status", json_pack("{s:s}", "url", "forged"));
    b = put_ok("Thing", o, -1, 0);
    assert_true(json_equal(json_object_get(b, "status"), st));
    json_decref(b);
    assert_int_equal(ks_store_get(S, "Thing", "ns1", "a", &got), 0);
    assert_true(json_equal(json_object_get(got, "status"), st));
    assert_int_equal(spec_x(got), 3);
    json_decref(got);
    json_decref(st);
    json_decref(a);
}

static void set_status_replaces_the_whole_status(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj(NULL, "a", 1), 0, 0), *got = NULL;
    json_t *s1 = json_pack("{s:s, s:i}", "x", "1", "y", 2), *s2 = json_pack("{s:s}", "z", "3");
    assert_int_equal(ks_store_set_status(S, "Thing", "default", "a", s1), 0);
    assert_int_equal(ks_store_set_status(S, "Thing", "default", "a", s2), 0);
    assert_int_equal(ks_store_get(S, "Thing", "default", "a", &got), 0);
    assert_true(json_equal(json_object_get(got, "status"), s2));
    json_decref(got);
    json_decref(s1);
    json_decref(s2);
    json_decref(a);
}

static void set_status_of_absent_is_enoent(void **state)
{
    (void)state;
    json_t *st = json_object(), *got = NULL;
    uint64_t v = ks_store_version(S);
    assert_int_equal(ks_store_set_status(S, "Thing", "default", "ghost", st), KS_ENOENT);
    assert_int_equal(ks_store_get(S, "Thing", "default", "ghost", &got), KS_ENOENT);
    assert_true(ks_store_version(S) == v);
    json_decref(st);
}

/* ---- list ---------------------------------------------------------------------------- */

static void list_by_namespace_and_all_sorted(void **state)
{
    (void)state;
    static const char *order[][2] = {{"b", "zeta"}, {"a", "mid"},   {"b", "alpha"},
                                     {"c", "x"},    {"a", "alpha"}, {"b", "mid"}};
    json_t *l = NULL, *o;
    size_t i;

    for (i = 0; i < KS_ARRAY_SIZE(order); ++i)
        json_decref(put_ok("Thing", obj(order[i][0], order[i][1], (int)i), 0, 0));
    json_decref(put_ok("Other", obj("b", "other", 0), 0, 0)); /* another kind: never listed */

    assert_int_equal(ks_store_list(S, "Thing", "b", &l), 0);
    assert_int_equal(json_array_size(l), 3);
    assert_string_equal(meta(json_array_get(l, 0), "name"), "alpha");
    assert_string_equal(meta(json_array_get(l, 1), "name"), "mid");
    assert_string_equal(meta(json_array_get(l, 2), "name"), "zeta");
    json_array_foreach(l, i, o) assert_string_equal(meta(o, "namespace"), "b");
    json_decref(l);

    assert_int_equal(ks_store_list(S, "Thing", NULL, &l), 0);
    assert_int_equal(json_array_size(l), 6);
    static const char *want[][2] = {{"a", "alpha"}, {"a", "mid"},  {"b", "alpha"},
                                    {"b", "mid"},   {"b", "zeta"}, {"c", "x"}};
    json_array_foreach(l, i, o)
    {
        assert_string_equal(meta(o, "namespace"), want[i][0]);
        assert_string_equal(meta(o, "name"), want[i][1]);
    }
    json_decref(l);

    assert_int_equal(ks_store_list(S, "Thing", "nowhere", &l), 0);
    assert_true(json_is_array(l));
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    assert_int_equal(ks_store_list(S, "Nothing", NULL, &l), 0);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
}

static void list_includes_status(void **state)
{
    (void)state;
    json_t *l = NULL, *st = json_pack("{s:b}", "ready", 1);
    json_decref(put_ok("Thing", obj("n", "a", 1), 0, 0));
    json_decref(put_ok("Thing", obj("n", "b", 1), 0, 0));
    assert_int_equal(ks_store_set_status(S, "Thing", "n", "b", st), 0);
    assert_int_equal(ks_store_list(S, "Thing", "n", &l), 0);
    assert_int_equal(json_array_size(l), 2);
    assert_null(json_object_get(json_array_get(l, 0), "status"));
    assert_true(json_equal(json_object_get(json_array_get(l, 1), "status"), st));
    json_decref(l);
    json_decref(st);
}

/* ---- cluster scope --------------------------------------------------------------------- */

static void cluster_scoped_objects_have_no_namespace(void **state)
{
    (void)state;
    json_t *o = obj("should-go", "rt", 1), *out, *got = NULL, *l = NULL;

    out = put_ok("ClusterServingRuntime", o, 0, 1);
    assert_null(json_object_get(json_object_get(out, "metadata"), "namespace"));
    json_decref(out);
    /* found with a NULL or empty namespace, not with the one it was written with */
    assert_int_equal(ks_store_get(S, "ClusterServingRuntime", NULL, "rt", &got), 0);
    assert_null(json_object_get(json_object_get(got, "metadata"), "namespace"));
    json_decref(got);
    assert_int_equal(ks_store_get(S, "ClusterServingRuntime", "", "rt", &got), 0);
    json_decref(got);
    assert_int_equal(ks_store_get(S, "ClusterServingRuntime", "should-go", "rt", &got), KS_ENOENT);
    assert_int_equal(ks_store_get(S, "ClusterServingRuntime", "default", "rt", &got), KS_ENOENT);

    /* create again: already exists */
    assert_int_equal(ks_store_put(S, "ClusterServingRuntime", (o = obj(NULL, "rt", 2)), 0, 1, NULL, E, sizeof(E)),
                     KS_EEXIST);
    json_decref(o);
    /* replace: generation 2 */
    out = put_ok("ClusterServingRuntime", obj(NULL, "rt", 2), -1, 1);
    assert_int_equal(gen_of(out), 2);
    json_decref(out);

    assert_int_equal(ks_store_list(S, "ClusterServingRuntime", NULL, &l), 0);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);

    assert_int_equal(set_status_new("ClusterServingRuntime", NULL, "rt", json_object()), 0);
    assert_int_equal(ks_store_delete(S, "ClusterServingRuntime", NULL, "rt"), 0);
    assert_int_equal(ks_store_get(S, "ClusterServingRuntime", NULL, "rt", &got), KS_ENOENT);
}

/* ---- delete -------------------------------------------------------------------------------- */

static void delete_removes_only_that_object(void **state)
{
    (void)state;
    json_t *got = NULL, *l = NULL, *a;
    json_decref(put_ok("Thing", obj("n", "a", 1), 0, 0));
    json_decref(put_ok("Thing", obj("n", "b", 1), 0, 0));
    json_decref(put_ok("Thing", obj("m", "a", 1), 0, 0));
    assert_int_equal(ks_store_delete(S, "Thing", "n", "a"), 0);
    assert_int_equal(ks_store_get(S, "Thing", "n", "a", &got), KS_ENOENT);
    assert_int_equal(ks_store_delete(S, "Thing", "n", "a"), KS_ENOENT);
    assert_int_equal(ks_store_delete(S, "Thing", "n", "never"), KS_ENOENT);
    assert_int_equal(ks_store_list(S, "Thing", NULL, &l), 0);
    assert_int_equal(json_array_size(l), 2);
    json_decref(l);
    /* created again after a delete: a new object (generation 1, a new uid) */
    a = put_ok("Thing", obj("n", "a", 5), 0, 0);
    assert_int_equal(gen_of(a), 1);
    assert_null(json_object_get(a, "status"));
    json_decref(a);
}

static void delete_drops_the_status(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj("n", "a", 1), 0, 0), *b;
    assert_int_equal(set_status_new("Thing", "n", "a", json_pack("{s:s}", "k", "v")), 0);
    assert_int_equal(ks_store_delete(S, "Thing", "n", "a"), 0);
    b = put_ok("Thing", obj("n", "a", 1), 0, 0);
    assert_null(json_object_get(b, "status"));
    assert_string_not_equal(meta(a, "uid"), meta(b, "uid"));
    json_decref(a);
    json_decref(b);
}

/* ---- events ------------------------------------------------------------------------------------ */

static void events_add_list_limit_order(void **state)
{
    (void)state;
    json_t *ev = NULL, *e;
    size_t i;
    char want[32];

    for (int k = 0; k < 5; ++k)
        assert_int_equal(
            ks_store_event(S, "Thing", "n", "a", k % 2 ? "Warning" : "Normal", "Reason", "message %d of %s", k, "a"),
            0);
    assert_int_equal(ks_store_event(S, "Thing", "n", "b", "Normal", "Other", "for b"), 0);
    assert_int_equal(ks_store_event(S, "Thing", "m", "a", "Normal", "Other", "for m/a"), 0);

    /* all of a's, oldest first */
    assert_int_equal(ks_store_events(S, "Thing", "n", "a", 100, &ev), 0);
    assert_int_equal(json_array_size(ev), 5);
    json_array_foreach(ev, i, e)
    {
        snprintf(want, sizeof(want), "message %d of a", (int)i);
        assert_string_equal(json_string_value(json_object_get(e, "message")), want);
        assert_string_equal(json_string_value(json_object_get(e, "type")), i % 2 ? "Warning" : "Normal");
        assert_string_equal(json_string_value(json_object_get(e, "reason")), "Reason");
        const char *t = json_string_value(json_object_get(e, "time"));
        assert_non_null(t);
        assert_int_equal(strlen(t), 20);
        assert_int_equal(t[19], 'Z');
    }
    json_decref(ev);

    /* the last 3, still oldest first */
    assert_int_equal(ks_store_events(S, "Thing", "n", "a", 3, &ev), 0);
    assert_int_equal(json_array_size(ev), 3);
    for (i = 0; i < 3; ++i) {
        snprintf(want, sizeof(want), "message %d of a", (int)i + 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(ev, i), "message")), want);
    }
    json_decref(ev);

    assert_int_equal(ks_store_events(S, "Thing", "n", "b", 10, &ev), 0);
    assert_int_equal(json_array_size(ev), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "message")), "for b");
    json_decref(ev);

    assert_int_equal(ks_store_events(S, "Thing", "n", "nobody", 10, &ev), 0);
    assert_true(json_is_array(ev));
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
}

static void events_message_is_truncated_not_overflowed(void **state)
{
    (void)state;
    char big[4000];
    json_t *ev = NULL;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ks_store_event(S, "Thing", "n", "a", "Warning", "Big", "%s", big), 0);
    assert_int_equal(ks_store_events(S, "Thing", "n", "a", 1, &ev), 0);
    assert_int_equal(json_array_size(ev), 1);
    const char *m = json_string_value(json_object_get(json_array_get(ev, 0), "message"));
    assert_non_null(m);
    assert_true(strlen(m) > 0 && strlen(m) < sizeof(big) - 1);
    json_decref(ev);
}

static void events_delete(void **state)
{
    (void)state;
    json_t *ev = NULL;
    assert_int_equal(ks_store_event(S, "Thing", "n", "a", "Normal", "R", "one"), 0);
    assert_int_equal(ks_store_event(S, "Thing", "n", "a", "Normal", "R", "two"), 0);
    assert_int_equal(ks_store_event(S, "Thing", "n", "b", "Normal", "R", "b's"), 0);
    assert_int_equal(ks_store_events_delete(S, "Thing", "n", "a"), 0);
    assert_int_equal(ks_store_events(S, "Thing", "n", "a", 10, &ev), 0);
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
    assert_int_equal(ks_store_events(S, "Thing", "n", "b", 10, &ev), 0);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
    /* nothing to delete is not an error */
    assert_int_equal(ks_store_events_delete(S, "Thing", "n", "a"), 0);
    assert_int_equal(ks_store_events_delete(S, "Thing", "n", "never"), 0);
    /* new events after a delete are listed */
    assert_int_equal(ks_store_event(S, "Thing", "n", "a", "Normal", "R", "three"), 0);
    assert_int_equal(ks_store_events(S, "Thing", "n", "a", 10, &ev), 0);
    assert_int_equal(json_array_size(ev), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "message")), "three");
    json_decref(ev);
}

static void events_of_cluster_scoped_object(void **state)
{
    (void)state;
    json_t *ev = NULL;
    assert_int_equal(ks_store_event(S, "ClusterServingRuntime", NULL, "rt", "Normal", "R", "c"), 0);
    assert_int_equal(ks_store_events(S, "ClusterServingRuntime", NULL, "rt", 10, &ev), 0);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
    assert_int_equal(ks_store_events(S, "ClusterServingRuntime", "", "rt", 10, &ev), 0);
    assert_int_equal(json_array_size(ev), 1);
    json_decref(ev);
}

/* ---- version ------------------------------------------------------------------------------------- */

static void version_increases_on_writes_only(void **state)
{
    (void)state;
    uint64_t v0 = ks_store_version(S), v;
    json_t *o = NULL, *l = NULL;

    json_decref(put_ok("Thing", obj(NULL, "a", 1), 0, 0));
    v = ks_store_version(S);
    assert_true(v > v0);

    json_decref(put_ok("Thing", obj(NULL, "a", 1), -1, 0)); /* even an unchanged spec is a write */
    assert_true(ks_store_version(S) > v);
    v = ks_store_version(S);

    assert_int_equal(set_status_new("Thing", "default", "a", json_pack("{}")), 0);
    assert_true(ks_store_version(S) > v);
    v = ks_store_version(S);

    /* reads and failed writes do not move it */
    assert_int_equal(ks_store_get(S, "Thing", "default", "a", &o), 0);
    json_decref(o);
    assert_int_equal(ks_store_list(S, "Thing", NULL, &l), 0);
    json_decref(l);
    assert_int_equal(put_err("Thing", obj(NULL, "a", 2), 0), KS_EEXIST);
    assert_int_equal(put_err("Thing", obj(NULL, "zz", 2), 77), KS_ENOENT);
    assert_int_equal(ks_store_delete(S, "Thing", "default", "zz"), KS_ENOENT);
    assert_true(ks_store_version(S) == v);

    assert_int_equal(ks_store_delete(S, "Thing", "default", "a"), 0);
    assert_true(ks_store_version(S) > v);
}

/* ---- persistence -------------------------------------------------------------------------------------- */

static void reopen_finds_the_data(void **state)
{
    (void)state;
    json_t *a = put_ok("Thing", obj("n", "a", 1), 0, 0), *c = put_ok("Cluster", obj(NULL, "c", 2), 0, 1), *got = NULL;
    json_t *st = json_pack("{s:s}", "phase", "Ready"), *ev = NULL, *b;
    int64_t last;

    assert_int_equal(ks_store_set_status(S, "Thing", "n", "a", st), 0);
    assert_int_equal(ks_store_event(S, "Thing", "n", "a", "Normal", "Created", "made %s", "a"), 0);
    assert_int_equal(ks_store_get(S, "Thing", "n", "a", &got), 0);
    last = rv_of(got);
    json_decref(got);

    ks_store_close(S);
    S = NULL;
    assert_int_equal(ks_store_open(DB, &S, E, sizeof(E)), 0);

    assert_int_equal(ks_store_get(S, "Thing", "n", "a", &got), 0);
    assert_string_equal(meta(got, "uid"), meta(a, "uid"));
    assert_int_equal(spec_x(got), 1);
    assert_true(json_equal(json_object_get(got, "status"), st));
    assert_int_equal(rv_of(got), last);
    json_decref(got);
    assert_int_equal(ks_store_get(S, "Cluster", NULL, "c", &got), 0);
    assert_true(json_equal(got, c));
    json_decref(got);
    assert_int_equal(ks_store_events(S, "Thing", "n", "a", 10, &ev), 0);
    assert_int_equal(json_array_size(ev), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "message")), "made a");
    json_decref(ev);

    /* the resourceVersion counter carries on from where it was, and optimistic concurrency still holds */
    b = put_ok("Thing", obj("n", "b", 1), 0, 0);
    assert_true(rv_of(b) > last);
    json_decref(b);
    b = put_ok("Thing", obj("n", "a", 2), last, 0);
    assert_int_equal(gen_of(b), 2);
    json_decref(b);
    json_decref(st);
    json_decref(a);
    json_decref(c);
}

static void open_bad_path_fails_with_message(void **state)
{
    (void)state;
    ks_store_t *s2 = NULL;
    char p[400];
    snprintf(p, sizeof(p), "%s/no/such/dir/store.db", D);
    E[0] = '\0';
    assert_int_not_equal(ks_store_open(p, &s2, E, sizeof(E)), 0);
    assert_null(s2);
    assert_true(E[0] != '\0');
}

static void two_handles_on_one_file(void **state)
{
    (void)state;
    ks_store_t *s2 = NULL;
    json_t *got = NULL, *b, *o;
    json_decref(put_ok("Thing", obj("n", "a", 1), 0, 0));
    assert_int_equal(ks_store_open(DB, &s2, E, sizeof(E)), 0);
    assert_int_equal(ks_store_get(s2, "Thing", "n", "a", &got), 0);
    json_decref(got);
    /* a write through the second handle shares the resourceVersion counter */
    o = obj("n", "b", 1);
    assert_int_equal(ks_store_put(s2, "Thing", o, 0, 0, &b, E, sizeof(E)), 0);
    json_decref(o);
    assert_int_equal(ks_store_get(S, "Thing", "n", "b", &got), 0);
    assert_true(json_equal(got, b));
    json_decref(got);
    json_decref(b);
    ks_store_close(s2);
}

/* ---- concurrency -------------------------------------------------------------------------------------- */

#define NTHREADS 4
#define PER_THREAD 50

typedef struct {
    int id;
    int64_t rvs[PER_THREAD];
    int failures;
    int increments; /* successful read-modify-writes of the shared counter */
    int conflicts;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    char name[32], err[KS_ERRLEN];
    for (int k = 0; k < PER_THREAD; ++k) {
        json_t *o, *out = NULL, *cur = NULL;
        int r;

        /* an object of its own */
        snprintf(name, sizeof(name), "t%d-%d", w->id, k);
        o = obj("conc", name, w->id * 1000 + k);
        if (ks_store_put(S, "Thing", o, 0, 0, &out, err, sizeof(err)) != 0 || out == NULL) {
            w->failures++;
        } else {
            w->rvs[k] = strtoll(meta(out, "resourceVersion") ?: "0", NULL, 10);
        }
        json_decref(o);
        json_decref(out);

        /* a shared counter, incremented with optimistic concurrency: no increment may be lost */
        for (int tries = 0; tries < 1000; ++tries) {
            int64_t rv, n;
            if (ks_store_get(S, "Thing", "conc", "counter", &cur) != 0) {
                w->failures++;
                break;
            }
            rv = strtoll(meta(cur, "resourceVersion") ?: "0", NULL, 10);
            n = spec_x(cur);
            json_decref(cur);
            o = obj("conc", "counter", (int)n + 1);
            r = ks_store_put(S, "Thing", o, rv, 0, NULL, err, sizeof(err));
            json_decref(o);
            if (r == 0) {
                w->increments++;
                break;
            }
            if (r != KS_ECONFLICT) {
                w->failures++;
                break;
            }
            w->conflicts++;
        }
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void concurrent_puts_lose_nothing(void **state)
{
    (void)state;
    pthread_t th[NTHREADS];
    worker_t w[NTHREADS];
    int64_t all[NTHREADS * PER_THREAD];
    json_t *l = NULL, *counter = NULL;
    int total = 0;

    json_decref(put_ok("Thing", obj("conc", "counter", 0), 0, 0));
    memset(w, 0, sizeof(w));
    for (int i = 0; i < NTHREADS; ++i) {
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; ++i)
        pthread_join(th[i], NULL);

    for (int i = 0; i < NTHREADS; ++i) {
        assert_int_equal(w[i].failures, 0);
        assert_int_equal(w[i].increments, PER_THREAD);
        total += w[i].increments;
        memcpy(all + i * PER_THREAD, w[i].rvs, sizeof(w[i].rvs));
    }
    /* every object is there */
    assert_int_equal(ks_store_list(S, "Thing", "conc", &l), 0);
    assert_int_equal(json_array_size(l), NTHREADS * PER_THREAD + 1);
    json_decref(l);
    /* no increment lost */
    assert_int_equal(ks_store_get(S, "Thing", "conc", "counter", &counter), 0);
    assert_int_equal(spec_x(counter), total);
    assert_int_equal(gen_of(counter), total + 1);
    json_decref(counter);
    /* each write got its own resourceVersion */
    qsort(all, NTHREADS * PER_THREAD, sizeof(all[0]), cmp_i64);
    for (int i = 1; i < NTHREADS * PER_THREAD; ++i)
        assert_true(all[i] > all[i - 1]);
    assert_true(all[0] > 0);
}

/*
 * The object a put hands back is the one it wrote: with several writers
 * replacing one object, each must get its own spec and resourceVersion back
 * (as the API server answers a PUT with exactly what it stored).
 */
#define RACE_PER_THREAD 400

typedef struct {
    int id;
    int mismatches;
    int64_t rvs[RACE_PER_THREAD];
} upserter_t;

static void *upserter(void *arg)
{
    upserter_t *u = arg;
    char err[KS_ERRLEN];
    for (int k = 0; k < RACE_PER_THREAD; ++k) {
        int x = u->id * 1000 + k;
        json_t *o = obj("race", "shared", x), *out = NULL;
        if (ks_store_put(S, "Thing", o, -1, 0, &out, err, sizeof(err)) != 0 || out == NULL || spec_x(out) != x)
            u->mismatches++;
        u->rvs[k] = out != NULL ? strtoll(meta(out, "resourceVersion") ?: "0", NULL, 10) : 0;
        json_decref(o);
        json_decref(out);
    }
    return NULL;
}

static void concurrent_upserts_return_their_own_write(void **state)
{
    (void)state;
    pthread_t th[NTHREADS];
    upserter_t u[NTHREADS];
    int64_t all[NTHREADS * RACE_PER_THREAD];
    int mism = 0, dups = 0;

    memset(u, 0, sizeof(u));
    for (int i = 0; i < NTHREADS; ++i) {
        u[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, upserter, &u[i]), 0);
    }
    for (int i = 0; i < NTHREADS; ++i) {
        pthread_join(th[i], NULL);
        mism += u[i].mismatches;
        memcpy(all + i * RACE_PER_THREAD, u[i].rvs, sizeof(u[i].rvs));
    }
    qsort(all, NTHREADS * RACE_PER_THREAD, sizeof(all[0]), cmp_i64);
    for (int i = 1; i < NTHREADS * RACE_PER_THREAD; ++i)
        dups += all[i] == all[i - 1];
    if (mism || dups)
        fprintf(stderr, "ks_store_put returned another writer's object %d times (duplicate resourceVersions: %d)\n",
                mism, dups);
    assert_int_equal(mism, 0);
    assert_int_equal(dups, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(create_sets_identity_and_defaults),
        T(create_ignores_client_identity),
        T(create_two_objects_get_distinct_uids),
        T(create_twice_is_eexist),
        T(same_name_other_kind_or_namespace_is_another_object),
        T(replace_with_current_rv),
        T(replace_keeps_uid_even_if_client_sends_another),
        T(stale_rv_is_conflict),
        T(replace_absent_is_enoent),
        T(upsert_creates_then_replaces),
        T(put_without_name_is_einval),
        T(put_with_null_out),
        T(generation_bumps_only_on_spec_change),
        T(generation_ignores_key_order),
        T(generation_bumps_when_spec_appears_or_goes),
        T(resource_version_is_one_counter_for_the_store),
        T(failed_writes_do_not_change_the_object),
        T(set_status_keeps_spec_and_bumps_rv),
        T(status_survives_a_later_put),
        T(set_status_replaces_the_whole_status),
        T(set_status_of_absent_is_enoent),
        T(list_by_namespace_and_all_sorted),
        T(list_includes_status),
        T(cluster_scoped_objects_have_no_namespace),
        T(delete_removes_only_that_object),
        T(delete_drops_the_status),
        T(events_add_list_limit_order),
        T(events_message_is_truncated_not_overflowed),
        T(events_delete),
        T(events_of_cluster_scoped_object),
        T(version_increases_on_writes_only),
        T(reopen_finds_the_data),
        T(open_bad_path_fails_with_message),
        T(two_handles_on_one_file),
        T(concurrent_puts_lose_nothing),
        T(concurrent_upserts_return_their_own_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
