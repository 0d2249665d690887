/*
 * The store: the single source of truth for desired state and status, a
 * SQLite database in WAL mode under $KSERVE_HOME.
 *
 * Objects are Kubernetes-shaped JSON documents (jansson) keyed by kind,
 * namespace and name.  The store owns metadata.uid, creationTimestamp,
 * generation (bumped when spec changes) and resourceVersion (bumped on every
 * write, from one counter for the whole store, as etcd's revision is).
 * Every function is safe to call from any thread.
 */
#ifndef KS_STORE_H
#define KS_STORE_H

#include <jansson.h>

#include "ks/common.h"

typedef struct ks_store ks_store_t;

#define KS_STORE_REPLACE (-2)

/* Opens (creating) the database at path. */
int ks_store_open(const char *path, ks_store_t **out, char *err, size_t errlen);
void ks_store_close(ks_store_t *s);

/*
 * Writes obj (its metadata.namespace and metadata.name say where; a missing
 * namespace is "default" unless cluster_scoped).  expect_rv: 0 = create only
 * (KS_EEXIST if present), > 0 = replace only if the stored resourceVersion
 * equals it (KS_ECONFLICT otherwise, KS_ENOENT if absent), KS_STORE_REPLACE =
 * replace whatever version is stored (KS_ENOENT if absent), other < 0 =
 * create or replace.  The stored status is kept.  *out (if not NULL) gets the stored
 * object, a new reference.
 */
int ks_store_put(ks_store_t *s, const char *kind, json_t *obj, int64_t expect_rv, int cluster_scoped, json_t **out,
                 char *err, size_t errlen);
/* The object (new reference) or KS_ENOENT. */
int ks_store_get(ks_store_t *s, const char *kind, const char *ns, const char *name, json_t **out);
/* Every object of kind, in ns (NULL: all namespaces), ordered by namespace and name; a new JSON array. */
int ks_store_list(ks_store_t *s, const char *kind, const char *ns, json_t **out);
/* KS_ENOENT when absent. */
int ks_store_delete(ks_store_t *s, const char *kind, const char *ns, const char *name);
/* Replaces the status (a new resourceVersion, the same generation); KS_ENOENT when absent. */
int ks_store_set_status(ks_store_t *s, const char *kind, const char *ns, const char *name, json_t *status);

/* An event for `kubectl describe`: type Normal|Warning, a CamelCase reason and a message. */
int ks_store_event(ks_store_t *s, const char *kind, const char *ns, const char *name, const char *type,
                   const char *reason, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* The last `limit` events of an object, oldest first; a new JSON array of {time,type,reason,message}. */
int ks_store_events(ks_store_t *s, const char *kind, const char *ns, const char *name, int limit, json_t **out);
/* Removes the events of an object. */
int ks_store_events_delete(ks_store_t *s, const char *kind, const char *ns, const char *name);

/* A counter bumped by every write: the reconciler compares it to know something changed. */
uint64_t ks_store_version(ks_store_t *s);

/* Now as RFC 3339 UTC ("2026-11-25T21:40:00Z") into buf (>= 32 bytes). */
void ks_rfc3339(char *buf, size_t len);

#endif
