/*
 * The zygote: a process that has started the embedded Python and imported
 * scikit-learn once, and forks model-server replicas on request.  A replica
 * forked from it skips the interpreter's start-up (most of a scikit-learn
 * replica's start time) and shares those pages with its siblings.
 *
 * The supervisor asks over a Unix socket: it sends the replica's argv and
 * environment, with the log file descriptor attached (SCM_RIGHTS); the
 * zygote answers with the new process's pid.  The replica rewrites its
 * command line, so `ps` shows `kserve model-server --model_name ...` as for
 * an exec'd one.  When the zygote reaps a replica it writes the exit status
 * to <dir>/exit-<pid>, where the supervisor reads it.
 */
#ifndef KS_ZYGOTE_H
#define KS_ZYGOTE_H

#include <sys/types.h>

#include "ks/common.h"

/* `kserve zygote SOCKET STATUS_DIR [PADDING]`. */
int ks_zygote_main(int argc, char **argv);

/*
 * Asks the zygote at sock_path to start argv with env (the whole
 * environment), stdout/stderr going to log_fd.  Returns the pid, or -1
 * (no zygote, or it failed) with err set.
 */
pid_t ks_zygote_spawn(const char *sock_path, char *const *argv, char *const *env, int log_fd, char *err, size_t errlen);

/* The exit status the zygote recorded for pid (consumed), or -1 if none. */
int ks_zygote_exit_status(const char *status_dir, pid_t pid);

#endif
