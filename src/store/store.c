/*
 * The store over SQLite (WAL).  One connection guarded by a mutex: writes are
 * rare (applies, status changes) and short.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "ks/store.h"

struct ks_store {
    sqlite3 *db;
    pthread_mutex_t lock;
    _Atomic uint64_t version;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS objects ("
    "  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
    "  generation INTEGER NOT NULL, resource_version INTEGER NOT NULL,"
    "  spec_hash TEXT NOT NULL, body TEXT NOT NULL, status TEXT,"
    "  PRIMARY KEY (kind, namespace, name));"
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO counters VALUES ('resource_version', 0);"
    "CREATE TABLE IF NOT EXISTS events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, namespace TEXT, name TEXT,"
    "  time TEXT, type TEXT, reason TEXT, message TEXT);"
    "CREATE INDEX IF NOT EXISTS events_by_object ON events (kind, namespace, name, id);";

void ks_rfc3339(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ks_store_open(const char *path, ks_store_t **out, char *err, size_t errlen)
{
    ks_store_t *s = calloc(1, sizeof(*s));
    char *msg = NULL;

    if (s == NULL)
        return KS_ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        ks_errorf(err, errlen, "cannot open the store %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto error;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        ks_errorf(err, errlen, "cannot set up the store %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        goto error;
    }
    *out = s;
    return 0;
error:
    sqlite3_close(s->db);
    free(s);
    return KS_EINTERNAL;
}

void ks_store_close(ks_store_t *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

uint64_t ks_store_version(ks_store_t *s)
{
    return s->version;
}

static int64_t next_rv(ks_store_t *s)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(s->db, "UPDATE counters SET value = value + 1 WHERE name = 'resource_version' RETURNING value",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* a stable digest of spec: the sorted compact dump itself (specs are small) */
static char *spec_key(const json_t *obj)
{
    json_t *spec = json_object_get(obj, "spec");
    return spec != NULL ? dump(spec) : strdup("null");
}

static const char *meta_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* body + status columns -> the object with status attached (new reference) */
static json_t *row_object(sqlite3_stmt *st, int body_col, int status_col)
{
    json_t *o = json_loads((const char *)sqlite3_column_text(st, body_col), 0, NULL);
    const unsigned char *status = sqlite3_column_text(st, status_col);
    if (o != NULL && status != NULL) {
        json_t *js = json_loads((const char *)status, 0, NULL);
        if (js != NULL)
            json_object_set_new(o, "status", js);
    }
    return o;
}

static int get_locked(ks_store_t *s, const char *kind, const char *ns, const char *name, json_t **out);

int ks_store_put(ks_store_t *s, const char *kind, json_t *obj, int64_t expect_rv, int cluster_scoped, json_t **out,
                 char *err, size_t errlen)
{
    json_t *meta = json_object_get(obj, "metadata"), *copy = NULL;
    const char *ns, *name;
    char *body = NULL, *skey = NULL, created[32], rvs[24], uid[40];
    sqlite3_stmt *st = NULL;
    int r = 0, exists = 0;
    int64_t gen = 1, cur_rv = 0, rv;

    if (!json_is_object(meta) || (name = meta_str(obj, "name")) == NULL) {
        ks_errorf(err, errlen, "metadata.name is required");
        return KS_EINVAL;
    }
    ns = cluster_scoped ? "" : meta_str(obj, "namespace");
    if (ns == NULL)
        ns = "default";
    pthread_mutex_lock(&s->lock);
    sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT generation, resource_version, spec_hash, body FROM objects WHERE kind=? AND "
                           "namespace=? AND name=?",
                           -1, &st, NULL) != SQLITE_OK) {
        r = KS_EINTERNAL;
        goto out;
    }
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    copy = json_deep_copy(obj);
    json_object_del(copy, "status");
    meta = json_object_get(copy, "metadata");
    skey = spec_key(copy);
    if (sqlite3_step(st) == SQLITE_ROW) {
        json_t *old = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
        exists = 1;
        gen = sqlite3_column_int64(st, 0);
        cur_rv = sqlite3_column_int64(st, 1);
        if (strcmp((const char *)sqlite3_column_text(st, 2), skey) != 0)
            gen++;
        /* identity stays */
        if (old != NULL) {
            json_t *om = json_object_get(old, "metadata");
            json_object_set(meta, "uid", json_object_get(om, "uid"));
            json_object_set(meta, "creationTimestamp", json_object_get(om, "creationTimestamp"));
            json_decref(old);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (expect_rv == 0 && exists) {
        ks_errorf(err, errlen, "%s %s/%s already exists", kind, ns, name);
        r = KS_EEXIST;
        goto out;
    }
    if ((expect_rv > 0 || expect_rv == KS_STORE_REPLACE) && !exists) {
        ks_errorf(err, errlen, "%s %s/%s not found", kind, ns, name);
        r = KS_ENOENT;
        goto out;
    }
    if (expect_rv > 0 && expect_rv != cur_rv) {
        ks_errorf(err, errlen,
                  "Operation cannot be fulfilled on %s %s/%s: the object has been modified (resourceVersion %lld, "
                  "yours %lld); please apply your changes to the latest version and try again",
                  kind, ns, name, (long long)cur_rv, (long long)expect_rv);
        r = KS_ECONFLICT;
        goto out;
    }
    if ((rv = next_rv(s)) < 0) {
        r = KS_EINTERNAL;
        goto out;
    }
    if (!exists) {
        unsigned char b[16];
        FILE *f = fopen("/dev/urandom", "rb");
        if (f == NULL || fread(b, 1, 16, f) != 16)
            memset(b, 0x5a, 16);
        if (f != NULL)
            fclose(f);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        snprintf(uid, sizeof(uid), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        ks_rfc3339(created, sizeof(created));
        json_object_set_new(meta, "uid", json_string(uid));
        json_object_set_new(meta, "creationTimestamp", json_string(created));
    }
    if (!cluster_scoped)
        json_object_set_new(meta, "namespace", json_string(ns));
    else
        json_object_del(meta, "namespace");
    json_object_set_new(meta, "generation", json_integer(gen));
    snprintf(rvs, sizeof(rvs), "%lld", (long long)rv);
    json_object_set_new(meta, "resourceVersion", json_string(rvs));
    body = dump(copy);
    if (sqlite3_prepare_v2(s->db,
                           exists ? "UPDATE objects SET generation=?, resource_version=?, spec_hash=?, body=? WHERE "
                                    "kind=? AND namespace=? AND name=?"
                                  : "INSERT INTO objects (generation, resource_version, spec_hash, body, kind, namespace, "
                                    "name) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        r = KS_EINTERNAL;
        goto out;
    }
    sqlite3_bind_int64(st, 1, gen);
    sqlite3_bind_int64(st, 2, rv);
    sqlite3_bind_text(st, 3, skey, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        ks_errorf(err, errlen, "store write failed: %s", sqlite3_errmsg(s->db));
        r = KS_EINTERNAL;
    }
out:
    if (st != NULL)
        sqlite3_finalize(st);
    sqlite3_exec(s->db, r == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    if (r == 0)
        s->version++;
    /* what this write stored, read before another writer can change it */
    if (r == 0 && out != NULL && get_locked(s, kind, ns, name, out) != 0)
        *out = NULL;
    pthread_mutex_unlock(&s->lock);
    if (r == KS_EINTERNAL && err != NULL && err[0] == '\0')
        ks_errorf(err, errlen, "store failure: %s", sqlite3_errmsg(s->db));
    json_decref(copy);
    free(body);
    free(skey);
    return r;
}

static int get_locked(ks_store_t *s, const char *kind, const char *ns, const char *name, json_t **out)
{
    sqlite3_stmt *st;
    int r = KS_ENOENT;
    if (sqlite3_prepare_v2(s->db, "SELECT body, status FROM objects WHERE kind=? AND namespace=? AND name=?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ns != NULL ? ns : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && (*out = row_object(st, 0, 1)) != NULL)
            r = 0;
        sqlite3_finalize(st);
    }
    return r;
}

int ks_store_get(ks_store_t *s, const char *kind, const char *ns, const char *name, json_t **out)
{
    int r;
    pthread_mutex_lock(&s->lock);
    r = get_locked(s, kind, ns, name, out);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int ks_store_list(ks_store_t *s, const char *kind, const char *ns, json_t **out)
{
    sqlite3_stmt *st;
    json_t *arr = json_array();
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db,
                           ns != NULL ? "SELECT body, status FROM objects WHERE kind=? AND namespace=? ORDER BY name"
                                      : "SELECT body, status FROM objects WHERE kind=? ORDER BY namespace, name",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        if (ns != NULL)
            sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *o = row_object(st, 0, 1);
            if (o != NULL)
                json_array_append_new(arr, o);
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    *out = arr;
    return 0;
}

static int exec_obj(ks_store_t *s, const char *sql, const char *kind, const char *ns, const char *name, const char *text,
                    int bump)
{
    sqlite3_stmt *st;
    int r = KS_EINTERNAL;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        int i = 1;
        if (text != NULL)
            sqlite3_bind_text(st, i++, text, -1, SQLITE_STATIC);
        if (bump) {
            int64_t rv = next_rv(s);
            sqlite3_bind_int64(st, i++, rv);
        }
        sqlite3_bind_text(st, i++, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, i++, ns != NULL ? ns : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, i++, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE)
            r = sqlite3_changes(s->db) > 0 ? 0 : KS_ENOENT;
        sqlite3_finalize(st);
    }
    if (r == 0)
        s->version++;
    pthread_mutex_unlock(&s->lock);
    return r;
}

int ks_store_delete(ks_store_t *s, const char *kind, const char *ns, const char *name)
{
    return exec_obj(s, "DELETE FROM objects WHERE kind=? AND namespace=? AND name=?", kind, ns, name, NULL, 0);
}

int ks_store_set_status(ks_store_t *s, const char *kind, const char *ns, const char *name, json_t *status)
{
    char *text = dump(status);
    int r = exec_obj(s,
                     "UPDATE objects SET status=?, resource_version=?, body=json_set(body, '$.metadata.resourceVersion', "
                     "CAST((SELECT value FROM counters WHERE name='resource_version') AS TEXT)) WHERE kind=? AND "
                     "namespace=? AND name=?",
                     kind, ns, name, text, 1);
    free(text);
    return r;
}

int ks_store_event(ks_store_t *s, const char *kind, const char *ns, const char *name, const char *type,
                   const char *reason, const char *fmt, ...)
{
    char msg[1024], now[32];
    va_list ap;
    sqlite3_stmt *st;
    int r = KS_EINTERNAL;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ks_rfc3339(now, sizeof(now));
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO events (kind, namespace, name, time, type, reason, message) VALUES (?,?,?,?,?,?,?)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ns != NULL ? ns : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, msg, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE)
            r = 0;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

int ks_store_events(ks_store_t *s, const char *kind, const char *ns, const char *name, int limit, json_t **out)
{
    sqlite3_stmt *st;
    json_t *arr = json_array();
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT time, type, reason, message FROM (SELECT * FROM events WHERE kind=? AND namespace=? "
                           "AND name=? ORDER BY id DESC LIMIT ?) ORDER BY id",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ns != NULL ? ns : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, limit);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "time", sqlite3_column_text(st, 0), "type",
                                                 sqlite3_column_text(st, 1), "reason", sqlite3_column_text(st, 2),
                                                 "message", sqlite3_column_text(st, 3)));
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    *out = arr;
    return 0;
}

int ks_store_events_delete(ks_store_t *s, const char *kind, const char *ns, const char *name)
{
    int r = exec_obj(s, "DELETE FROM events WHERE kind=? AND namespace=? AND name=?", kind, ns, name, NULL, 0);
    return r == KS_ENOENT ? 0 : r;
}
