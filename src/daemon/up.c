/*
 * `kserve up`: the platform daemon.  One process: the API server, the store,
 * the reconciler (with the supervisor and the storage initializer) and the
 * ingress, each on its own threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks/apiserver.h"
#include "ks/autoscaler.h"
#include "ks/resource.h"
#include "ks/zygote.h"

static const char usage[] =
    "usage: kserve up [options]\n"
    "  --home DIR            state directory (default: $KSERVE_HOME, else ./.kserve)\n"
    "  --ingress-port PORT   ingress port (default 8080; 0 picks a free one)\n"
    "  --ingress-host ADDR   ingress address (default 127.0.0.1)\n"
    "  --api-port PORT       also serve the API on 127.0.0.1:PORT (default: only the Unix socket <home>/api.sock)\n"
    "  --domain DOMAIN       domain of InferenceService URLs (default example.com)\n"
    "  --workers N           ingress event-loop threads (default: half the cores, at least 1)\n"
    "  --no-zygote           start scikit-learn replicas by exec instead of forking a warm Python (slower start)\n"
    "  --autoscaler-config FILE  platform-wide autoscaler defaults: a YAML map (or a ConfigMap's data) of\n"
    "                        Knative's config-autoscaler keys, e.g. stable-window: 6s; see docs/autoscaler.md\n"
    "  --help                this text\n";

static int parse_port(const char *flag, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 0 || n > 65535) {
        fprintf(stderr, "kserve up: %s: expected a port from 0 to 65535, got \"%s\"\n", flag, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/*
 * The zygote: a child that starts Python and imports scikit-learn now, so
 * that scikit-learn replicas fork from it later (include/ks/zygote.h).  Its
 * padding argument is room for the replicas' command lines.
 */
static int start_zygote(const char *home, const char *self, ks_supervisor_t *sup)
{
    char sock[PATH_MAX], dir[PATH_MAX], log[PATH_MAX], pad[1600];
    pid_t pid;
    int fd;

    snprintf(sock, sizeof(sock), "%s/zygote.sock", home);
    snprintf(dir, sizeof(dir), "%s/zygote", home);
    snprintf(log, sizeof(log), "%s/logs/zygote.log", home);
    memset(pad, ' ', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(fd, 1);
        dup2(fd, 2);
        close_range(3, ~0U, 0);
        execl(self, self, "zygote", sock, dir, pad, (char *)NULL);
        _exit(127);
    }
    close(fd);
    if (pid < 0)
        return -1;
    ks_supervisor_set_zygote(sup, sock, dir);
    return 0;
}

/*
 * The platform's autoscaler defaults: Knative's config-autoscaler keys
 * (a plain map, or a ConfigMap whose data holds them), plus
 * activator-queue-depth.  Errors name the file, line and key.
 */
static int load_autoscaler_config(const char *file, ks_platform_config_t *pc, char *err, size_t errlen)
{
    ks_doc_list_t docs = {NULL, 0};
    char *text = NULL, e[512];
    size_t len = 0;
    FILE *f = fopen(file, "r");
    json_t *map, *v;
    const char *key;
    int rc = KS_EINVAL;

    if (f == NULL) {
        ks_errorf(err, errlen, "%s: %s", file, strerror(errno));
        return KS_EINVAL;
    }
    {
        char buf[4096];
        size_t k;
        FILE *m = open_memstream(&text, &len);
        while (m != NULL && (k = fread(buf, 1, sizeof(buf), f)) > 0 && len < (1u << 20))
            fwrite(buf, 1, k, m);
        if (m != NULL)
            fclose(m);
    }
    fclose(f);
    if (text == NULL || ks_yaml_load(text, len, file, &docs, err, errlen) != 0)
        goto out;
    if (docs.n == 0) {
        rc = 0;
        goto out;
    }
    map = docs.docs[0].obj;
    if (json_is_object(json_object_get(map, "data")))
        map = json_object_get(map, "data");
    if (!json_is_object(map)) {
        ks_errorf(err, errlen, "%s: expected a map of autoscaler settings (e.g. stable-window: 6s)", file);
        goto out;
    }
    json_object_foreach(map, key, v)
    {
        char val[256];
        int line = docs.docs[0].line, col = 1;
        char path[300];
        if (map != docs.docs[0].obj && (strcmp(key, "apiVersion") == 0 || strcmp(key, "kind") == 0))
            continue;
        snprintf(path, sizeof(path), "%s%s", map != docs.docs[0].obj ? "data." : "", key);
        ks_doc_pos(&docs.docs[0], path, &line, &col);
        if (json_is_string(v))
            snprintf(val, sizeof(val), "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(val, sizeof(val), "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v))
            snprintf(val, sizeof(val), "%.17g", json_real_value(v));
        else if (json_is_boolean(v))
            snprintf(val, sizeof(val), "%s", json_is_true(v) ? "true" : "false");
        else {
            ks_errorf(err, errlen, "%s:%d:%d: %s: expected a string, number or boolean", file, line, col, key);
            goto out;
        }
        if (strcmp(key, "horizontal-pod-autoscaler-sync-period") == 0 ||
            strcmp(key, "horizontal-pod-autoscaler-downscale-stabilization") == 0) {
            int64_t secs;
            int sync = strcmp(key, "horizontal-pod-autoscaler-sync-period") == 0;
            if (ks_kpa_parse_duration(val, &secs) != 0 || secs < (sync ? 1 : 0) || secs > 3600) {
                ks_errorf(err, errlen, "%s:%d:%d: %s: expected a duration of whole seconds from %s to 1h, got \"%s\"",
                          file, line, col, key, sync ? "1s" : "0s", val);
                goto out;
            }
            if (sync)
                pc->hpa_sync_s = (int)secs;
            else
                pc->hpa_down_window_s = secs;
            continue;
        }
        if (strcmp(key, "horizontal-pod-autoscaler-tolerance") == 0) {
            char *end;
            double t = strtod(val, &end);
            if (*end != '\0' || !(t >= 0 && t < 1)) {
                ks_errorf(err, errlen, "%s:%d:%d: %s: expected a number from 0 to 1 (e.g. 0.1), got \"%s\"", file, line,
                          col, key, val);
                goto out;
            }
            pc->hpa_tolerance = t;
            continue;
        }
        if (strcmp(key, "activator-queue-depth") == 0) {
            char *end;
            long n = strtol(val, &end, 10);
            if (*end != '\0' || n < 1 || n > 1000000) {
                ks_errorf(err, errlen, "%s:%d:%d: activator-queue-depth: expected 1 to 1000000, got \"%s\"", file,
                          line, col, val);
                goto out;
            }
            pc->activator_queue_depth = (int)n;
            continue;
        }
        if (ks_kpa_config_set(&pc->autoscaler, key, val, e, sizeof(e)) != 0) {
            ks_errorf(err, errlen, "%s:%d:%d: %s", file, line, col, e);
            goto out;
        }
    }
    if (ks_kpa_config_check(&pc->autoscaler, e, sizeof(e)) != 0) {
        ks_errorf(err, errlen, "%s: %s", file, e);
        goto out;
    }
    rc = 0;
out:
    ks_doc_list_free(&docs);
    free(text);
    return rc;
}

int ks_up_main(int argc, char **argv)
{
    const char *home = getenv("KSERVE_HOME"), *domain = "example.com", *ingress_host = "127.0.0.1";
    /* half the cores: the replicas need the rest (measured: on 2 cores 1 worker keeps 0.68 of direct req/s, 2 keep 0.46) */
    int ingress_port = 8080, api_port = -1, workers = (int)sysconf(_SC_NPROCESSORS_ONLN) / 2, lockfd, sig, zygote = 1;
    char err[1024], path[PATH_MAX], sock[PATH_MAX], self[PATH_MAX], abs_home[PATH_MAX], pidbuf[32];
    ks_store_t *store = NULL;
    ks_supervisor_t *sup;
    ks_ingress_t *ingress;
    ks_reconciler_t *rec;
    ks_apiserver_t *api, *api_tcp = NULL;
    ks_platform_config_t pc;
    sigset_t sigs;
    ssize_t n;
    const char *as_config = NULL;

    memset(&pc, 0, sizeof(pc));
    ks_kpa_config_defaults(&pc.autoscaler);
    pc.activator_queue_depth = KS_ACTIVATOR_QUEUE_DEPTH;
    pc.hpa_tolerance = -1;
    pc.hpa_down_window_s = -1;

    if (home == NULL || home[0] == '\0')
        home = ".kserve";
    if (workers < 1)
        workers = 1;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i], *v = NULL;
        char flag[64];
        const char *eq = strchr(a, '=');
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--no-zygote") == 0) {
            zygote = 0;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "kserve up: unexpected argument \"%s\"\n%s", a, usage);
            return 2;
        }
        snprintf(flag, sizeof(flag), "%.*s", eq != NULL ? (int)(eq - a) : (int)strlen(a), a);
        if (eq != NULL)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else {
            fprintf(stderr, "kserve up: %s: missing value\n", flag);
            return 2;
        }
        if (strcmp(flag, "--home") == 0)
            home = v;
        else if (strcmp(flag, "--autoscaler-config") == 0)
            as_config = v;
        else if (strcmp(flag, "--domain") == 0)
            domain = v;
        else if (strcmp(flag, "--ingress-host") == 0)
            ingress_host = v;
        else if (strcmp(flag, "--ingress-port") == 0) {
            if (parse_port(flag, v, &ingress_port) != 0)
                return 2;
        } else if (strcmp(flag, "--api-port") == 0) {
            if (parse_port(flag, v, &api_port) != 0)
                return 2;
        } else if (strcmp(flag, "--workers") == 0) {
            char *end;
            long w = strtol(v, &end, 10);
            if (*end != '\0' || w < 1 || w > 256) {
                fprintf(stderr, "kserve up: --workers: expected 1 to 256, got \"%s\"\n", v);
                return 2;
            }
            workers = (int)w;
        } else {
            fprintf(stderr, "kserve up: unknown flag %s\n%s", flag, usage);
            return 2;
        }
    }

    if (as_config != NULL && load_autoscaler_config(as_config, &pc, err, sizeof(err)) != 0) {
        fprintf(stderr, "kserve up: --autoscaler-config: %s\n", err);
        return 2;
    }

    /* the state directory, and one daemon per state directory */
    if (mkdir(home, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "kserve up: cannot create the state directory %s: %s\n", home, strerror(errno));
        return 1;
    }
    if (realpath(home, abs_home) == NULL) {
        fprintf(stderr, "kserve up: %s: %s\n", home, strerror(errno));
        return 1;
    }
    home = abs_home;
    snprintf(path, sizeof(path), "%s/kserve.lock", home);
    if ((lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        fprintf(stderr, "kserve up: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        n = read(lockfd, pidbuf, sizeof(pidbuf) - 1);
        pidbuf[n > 0 ? n : 0] = '\0';
        fprintf(stderr, "kserve up: another kserve daemon (pid %s) is using the state directory %s; stop it first\n",
                n > 0 ? strtok(pidbuf, "\n") : "?", home);
        return 1;
    }
    if (ftruncate(lockfd, 0) == 0) {
        int l = snprintf(pidbuf, sizeof(pidbuf), "%d\n", (int)getpid());
        if (write(lockfd, pidbuf, (size_t)l) != l)
            fprintf(stderr, "kserve up: cannot write %s\n", path);
    }
    if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0) {
        fprintf(stderr, "kserve up: cannot find my own executable\n");
        return 1;
    }
    self[n] = '\0';

    /* only the main thread takes signals; threads inherit the mask */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    snprintf(path, sizeof(path), "%s/store.db", home);
    if (ks_store_open(path, &store, err, sizeof(err)) != 0) {
        fprintf(stderr, "kserve up: %s\n", err);
        return 1;
    }
    if ((sup = ks_supervisor_new(home, err, sizeof(err))) == NULL) {
        fprintf(stderr, "kserve up: %s\n", err);
        return 1;
    }
    if (zygote && start_zygote(home, self, sup) != 0)
        fprintf(stderr, "kserve up: no zygote: scikit-learn replicas will start by exec\n");
    if ((ingress = ks_ingress_new(ingress_host, ingress_port, workers, err, sizeof(err))) == NULL) {
        fprintf(stderr, "kserve up: ingress: %s\n", err);
        return 1;
    }
    pc.home = home;
    pc.domain = domain;
    pc.self_exe = self;
    pc.ingress_port = ks_ingress_port(ingress);
    if ((rec = ks_reconciler_new(store, sup, ingress, &pc)) == NULL) {
        fprintf(stderr, "kserve up: out of memory\n");
        return 1;
    }
    snprintf(sock, sizeof(sock), "%s/api.sock", home);
    if ((api = ks_apiserver_new(store, rec, sock, NULL, 0, err, sizeof(err))) == NULL) {
        fprintf(stderr, "kserve up: API: %s\n", err);
        return 1;
    }
    if (api_port >= 0 && (api_tcp = ks_apiserver_new(store, rec, NULL, "127.0.0.1", api_port, err, sizeof(err))) == NULL) {
        fprintf(stderr, "kserve up: API: %s\n", err);
        return 1;
    }
    if (ks_reconciler_start(rec) != 0 || ks_ingress_start(ingress, err, sizeof(err)) != 0 ||
        ks_apiserver_start(api, err, sizeof(err)) != 0 || (api_tcp != NULL && ks_apiserver_start(api_tcp, err, sizeof(err)) != 0)) {
        fprintf(stderr, "kserve up: %s\n", err);
        return 1;
    }
    fprintf(stderr,
            "kserve up: state in %s; API on unix:%s; ingress on http://%s:%d (hosts <name>.<namespace>.%s); pid %d\n",
            home, sock, ingress_host, ks_ingress_port(ingress), domain, (int)getpid());

    do {
        sig = sigwaitinfo(&sigs, NULL);
    } while (sig != SIGTERM && sig != SIGINT);
    fprintf(stderr, "kserve up: %s: stopping every replica\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ks_apiserver_stop(api);
    if (api_tcp != NULL)
        ks_apiserver_stop(api_tcp);
    ks_reconciler_stop(rec, 1);
    ks_ingress_stop(ingress, 2000);
    ks_ingress_free_stats(ingress);
    unlink(sock);
    ks_store_close(store);
    fprintf(stderr, "kserve up: stopped\n");
    return 0;
}
