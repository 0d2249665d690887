/*
 * The supervisor: runs each revision's replicas as child processes on free
 * loopback ports, watches them (exit, readiness), restarts crashed ones with
 * back-off, stops them gracefully, and remembers them in a file so that a
 * restarted daemon adopts the replicas that still run instead of starting
 * duplicates.
 *
 * Not thread safe: the reconciler thread owns it.  The ingress learns ready
 * ports through the route table the reconciler publishes.
 */
#ifndef KS_SUPERVISOR_H
#define KS_SUPERVISOR_H

#include <jansson.h>
#include <sys/types.h>

#include "ks/common.h"

typedef struct ks_supervisor ks_supervisor_t;

typedef enum ks_replica_state {
    KS_REP_STARTING = 0,
    KS_REP_READY,
    KS_REP_BACKOFF,      /* exited; waiting to be started again */
    KS_REP_TERMINATING,  /* SIGTERM sent, draining */
} ks_replica_state_t;

/* home: $KSERVE_HOME (logs/ and replicas.json live there). */
ks_supervisor_t *ks_supervisor_new(const char *home, char *err, size_t errlen);
/* Forgets everything without stopping processes (the daemon was killed: they are adopted next time). */
void ks_supervisor_free(ks_supervisor_t *s);

/*
 * Declares that revision (ns, rev) runs `replicas` processes of argv (NULL
 * terminated, copied; "{{port}}" anywhere in an argument becomes the
 * replica's port).  env (NULL terminated "NAME=value", may be NULL) is added
 * to the daemon's environment.  health_path is polled on 127.0.0.1:port for readiness
 * (200 = ready).  Changing argv of an existing revision is not allowed:
 * revisions are immutable.
 */
int ks_supervisor_set(ks_supervisor_t *s, const char *ns, const char *rev, int replicas, char *const *argv,
                      char *const *env, const char *health_path);
/*
 * Replicas of the revision start by forking the zygote (include/ks/zygote.h)
 * when one is available: scikit-learn replicas then skip the interpreter's
 * start-up.  Falls back to fork and exec.
 */
void ks_supervisor_prefer_zygote(ks_supervisor_t *s, const char *ns, const char *rev, int on);
/* Where the zygote listens and writes exit statuses. */
void ks_supervisor_set_zygote(ks_supervisor_t *s, const char *sock_path, const char *status_dir);

/* Stops every replica of the revision (SIGTERM, then SIGKILL after grace) and forgets it once they are gone. */
void ks_supervisor_remove(ks_supervisor_t *s, const char *ns, const char *rev);
/*
 * Does the work: reaps, health-checks, starts, restarts, kills.  Returns ms
 * until it wants the next tick, 0 when a replica changed state.
 */
int ks_supervisor_tick(ks_supervisor_t *s);

/* Ready replicas' ports of a revision into ports[max]; returns how many. */
int ks_supervisor_ready_ports(ks_supervisor_t *s, const char *ns, const char *rev, int *ports, int max);
/* The pids of a revision's replicas that run (not terminating) into pids[max], ready[i] 1 when ready; returns how many. */
int ks_supervisor_pids(ks_supervisor_t *s, const char *ns, const char *rev, pid_t *pids, int *ready, int max);
/* Counts of a revision's replicas: desired, existing (not terminating), ready. */
void ks_supervisor_counts(ks_supervisor_t *s, const char *ns, const char *rev, int *desired, int *actual, int *ready);
/*
 * The replicas of a revision as status JSON (a new array of {name, revision,
 * pid, port, state, restarts, reason, message, lastLogLines}).
 */
json_t *ks_supervisor_status(ks_supervisor_t *s, const char *ns, const char *rev);
/* The worst problem of a revision's replicas, for conditions: reason/message, or 0 if none. */
int ks_supervisor_problem(ks_supervisor_t *s, const char *ns, const char *rev, char *reason, size_t rlen, char *msg,
                          size_t mlen, int *exit_code);
/* Every revision the supervisor knows of (running or adopted), as "ns/rev" strings; a new JSON array. */
json_t *ks_supervisor_revisions(ks_supervisor_t *s);
/* Stops everything and waits (up to grace_ms) for the processes to end; SIGKILL after that. */
void ks_supervisor_shutdown(ks_supervisor_t *s, int grace_ms);

#endif
