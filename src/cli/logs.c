/*
 * `kserve logs isvc NAME [-n NS] [-f] [--tail N] [--prefix]`: the replicas' logs.
 *
 * Replicas write stdout and stderr to $KSERVE_HOME/logs/<ns>/<revision>/<replica>.log.
 * The command reads the files of the InferenceService's latest ready
 * revision (else its latest created one): the replicas the status lists, or
 * every file of the revision when none is listed (it scaled to zero).  With
 * -f it polls the files every 100 ms, picks up replicas that start later,
 * and ends with exit status 0 on SIGINT or SIGTERM.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static const char logs_usage[] =
    "usage: kserve logs isvc NAME [-n NS] [-f] [--tail N] [--prefix]\n"
    "       kserve logs revision NAME [-n NS] [-f] [--tail N] [--prefix]\n"
    "Prints the logs of the replicas of an InferenceService's latest ready revision (else its latest\n"
    "created one).  Several replicas: each line starts with \"[replica-name] \".\n"
    "  -f, --follow            keep printing new lines (and new replicas) until interrupted\n"
    "      --tail N            only the last N lines of each replica (default: all)\n"
    "      --prefix            prefix lines with the replica name even for one replica\n"
    "  -n, --namespace NS      the namespace (default \"default\")\n";

#define FOLLOW_MS 100
#define MAX_LINE (64u << 10) /* a longer line is cut into pieces */

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct logfile {
    char *name; /* the replica */
    char *path;
    off_t offset;
    int followed;
    ks_buf_t partial; /* the start of a line not yet ended by '\n' */
} logfile_t;

typedef struct logset {
    logfile_t *files;
    size_t n, cap;
    int prefix;
    int out_failed;
} logset_t;

static logfile_t *add_file(logset_t *s, const char *dir, const char *name, int followed)
{
    logfile_t *f;
    size_t plen = strlen(dir) + strlen(name) + 6;

    for (size_t i = 0; i < s->n; ++i)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    if (s->n == s->cap) {
        size_t ncap = s->cap == 0 ? 8 : s->cap * 2;
        logfile_t *p = realloc(s->files, ncap * sizeof(*p));
        if (p == NULL)
            return NULL;
        s->files = p;
        s->cap = ncap;
    }
    f = &s->files[s->n];
    memset(f, 0, sizeof(*f));
    f->name = strdup(name);
    f->path = malloc(plen);
    if (f->name == NULL || f->path == NULL) {
        free(f->name);
        free(f->path);
        return NULL;
    }
    snprintf(f->path, plen, "%s/%s.log", dir, name);
    f->followed = followed;
    ks_buf_init(&f->partial, MAX_LINE);
    s->n++;
    return f;
}

static void free_set(logset_t *s)
{
    for (size_t i = 0; i < s->n; ++i) {
        free(s->files[i].name);
        free(s->files[i].path);
        ks_buf_free(&s->files[i].partial);
    }
    free(s->files);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const logfile_t *)a)->name, ((const logfile_t *)b)->name);
}

/* Every "<replica>.log" of dir as a file of the set (followed or only known). */
static void scan_dir(logset_t *s, const char *dir, int followed)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char name[256];
        if (n <= 4 || n - 4 >= sizeof(name) || strcmp(de->d_name + n - 4, ".log") != 0 || de->d_name[0] == '.')
            continue;
        memcpy(name, de->d_name, n - 4);
        name[n - 4] = '\0';
        add_file(s, dir, name, followed);
    }
    closedir(d);
}

static void emit(logset_t *s, const logfile_t *f, const char *line, size_t n)
{
    if (s->prefix)
        printf("[%s] ", f->name);
    fwrite(line, 1, n, stdout);
    putchar('\n');
    if (ferror(stdout))
        s->out_failed = 1;
}

/* Prints the complete lines of data (len bytes), keeping an unfinished last line in f->partial. */
static void feed(logset_t *s, logfile_t *f, const char *data, size_t len)
{
    const char *p = data, *end = data + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (nl == NULL) {
            if (ks_buf_append(&f->partial, p, n) != 0) { /* over MAX_LINE: print what we have */
                emit(s, f, f->partial.base, f->partial.len);
                ks_buf_reset(&f->partial);
                ks_buf_append(&f->partial, p, n);
            }
            return;
        }
        if (f->partial.len > 0) {
            if (ks_buf_append(&f->partial, p, n) == 0) {
                emit(s, f, f->partial.base, f->partial.len);
            } else {
                emit(s, f, f->partial.base, f->partial.len);
                emit(s, f, p, n);
            }
            ks_buf_reset(&f->partial);
        } else {
            emit(s, f, p, n);
        }
        p = nl + 1;
    }
}

/* Offset where the last `lines` lines of the open file start (size bytes). */
static off_t tail_start(int fd, off_t size, long lines)
{
    char buf[8192];
    off_t pos = size;
    long seen = 0;
    int first = 1;

    if (lines < 0)
        return 0;
    if (lines == 0)
        return size;
    while (pos > 0) {
        size_t want = pos >= (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
        ssize_t got = pread(fd, buf, want, pos - (off_t)want);
        if (got <= 0)
            return 0;
        for (ssize_t i = got - 1; i >= 0; --i) {
            if (buf[i] != '\n')
                continue;
            /* a newline ending the file does not start a line */
            if (first && pos - (off_t)want + i == size - 1)
                continue;
            if (++seen == lines)
                return pos - (off_t)want + i + 1;
        }
        first = 0;
        pos -= (off_t)want;
    }
    return 0;
}

/* Prints what was added to f since the last call (from its tail the first time). */
static void pump(logset_t *s, logfile_t *f, long tail, int first_time)
{
    char buf[65536];
    struct stat st;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return;
    }
    if (first_time)
        f->offset = tail_start(fd, st.st_size, tail);
    else if (st.st_size < f->offset) /* truncated or replaced: start over */
        f->offset = 0;
    while (!s->out_failed) {
        ssize_t n = pread(fd, buf, sizeof(buf), f->offset);
        if (n <= 0)
            break;
        feed(s, f, buf, (size_t)n);
        f->offset += n;
    }
    close(fd);
    fflush(stdout);
}

static void flush_partial(logset_t *s, logfile_t *f)
{
    if (f->partial.len > 0)
        emit(s, f, f->partial.base, f->partial.len);
    ks_buf_reset(&f->partial);
}

/* The revision whose logs to show and the replicas its status lists (a new array, may be empty). */
static int find_revision(ks__cli_client_t *c, const ks_cli_kind_t *k, const char *ns, const char *name, char *rev,
                         size_t revlen, json_t **replicas)
{
    char path[1024], err[512];
    json_t *obj = NULL, *rep;
    const char *r_name;
    long status;
    size_t i;
    int r;

    *replicas = json_array();
    ks_cli_kind_path(path, sizeof(path), k, ns, name, NULL, NULL);
    if ((r = ks__cli_call(c, "GET", path, NULL, &status, &obj, err, sizeof(err))) != 0) {
        fprintf(stderr, "%s\n", err);
        return r;
    }
    if (status != 200) {
        ks__cli_print_status(k, name, status, obj, NULL);
        json_decref(obj);
        return status == 404 ? KS_ENOENT : KS_EINTERNAL;
    }
    if (k->id == KS_CLI_REVISION) {
        r_name = name;
    } else {
        r_name = ks_cli_json_str(obj, "status.components.predictor.latestReadyRevision");
        if (r_name == NULL)
            r_name = ks_cli_json_str(obj, "status.components.predictor.latestCreatedRevision");
    }
    if (r_name == NULL) {
        fprintf(stderr, "error: %s/%s has no revision yet: see \"kserve describe %s %s -n %s\"\n", k->singular, name,
                k->shortname != NULL ? k->shortname : k->singular, name, ns);
        json_decref(obj);
        return KS_ENOENT;
    }
    snprintf(rev, revlen, "%s", r_name);
    json_array_foreach(ks_cli_json_path(obj, "status.replicas"), i, rep)
    {
        const char *rr = json_string_value(json_object_get(rep, "revision"));
        if (rr == NULL || strcmp(rr, rev) == 0)
            json_array_append(*replicas, rep);
    }
    json_decref(obj);
    return 0;
}

int ks_cli_logs_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'}, {"follow", no_argument, NULL, 'f'},
        {"tail", required_argument, NULL, 't'},      {"prefix", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    const char *ns_flag = NULL, *ns;
    ks__cli_target_t *targets = NULL;
    size_t ntargets = 0, i;
    int opt, follow = 0, force_prefix = 0, rc = KS_CLI_OK;
    long tail = -1;
    char err[512], rev[256], dir[PATH_MAX];
    json_t *replicas = NULL, *rep;
    ks__cli_client_t client;
    logset_t set;
    struct sigaction sa;

    memset(&set, 0, sizeof(set));
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":n:fh", opts, NULL)) != -1) {
        switch (opt) {
        case 'n': ns_flag = optarg; break;
        case 'f': follow = 1; break;
        case 'p': force_prefix = 1; break;
        case 't': {
            char *end;
            errno = 0;
            tail = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || tail < -1)
                return ks__cli_usage_error("logs", "--tail: \"%s\" is not a number of lines", optarg);
            break;
        }
        case 'h': fputs(logs_usage, stdout); return KS_CLI_OK;
        case ':': return ks__cli_usage_error("logs", "flag needs an argument: %s", argv[optind - 1]);
        default: return ks__cli_usage_error("logs", "unknown flag: %s", argv[optind - 1]);
        }
    }
    if (ks__cli_targets("logs", argc - optind, argv + optind, &targets, &ntargets) != 0)
        return KS_CLI_USAGE;
    if (ntargets != 1 || targets[0].name == NULL ||
        (targets[0].kind->id != KS_CLI_ISVC && targets[0].kind->id != KS_CLI_REVISION)) {
        free(targets);
        return ks__cli_usage_error("logs", "give one InferenceService (isvc NAME) or one revision (revision NAME)");
    }
    ns = ks__cli_namespace(ns_flag);
    if (ks__cli_client_init(&client, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        free(targets);
        return KS_CLI_FAIL;
    }
    if (find_revision(&client, targets[0].kind, ns, targets[0].name, rev, sizeof(rev), &replicas) != 0) {
        rc = KS_CLI_FAIL;
        goto out;
    }
    if (!ks__cli_path_segment_ok(ns) || !ks__cli_path_segment_ok(rev)) {
        fprintf(stderr, "error: namespace \"%s\" or revision \"%s\" cannot name a log directory\n", ns, rev);
        rc = KS_CLI_FAIL;
        goto out;
    }
    snprintf(dir, sizeof(dir), "%s/logs/%s/%s", client.home, ns, rev);

    /* the listed replicas; every file of the revision when none is listed */
    json_array_foreach(replicas, i, rep)
    {
        const char *name = json_string_value(json_object_get(rep, "name"));
        if (ks__cli_path_segment_ok(name))
            add_file(&set, dir, name, 1);
    }
    scan_dir(&set, dir, json_array_size(replicas) == 0);
    qsort(set.files, set.n, sizeof(*set.files), by_name);
    {
        size_t followed = 0;
        for (i = 0; i < set.n; ++i) {
            struct stat st;
            /* a listed replica without a file has not started yet: still followed with -f */
            if (set.files[i].followed && (follow || stat(set.files[i].path, &st) == 0))
                followed++;
        }
        if (followed == 0 && !follow) {
            fprintf(stderr, "error: no replica of revision %s has written a log yet (%s)\n", rev, dir);
            rc = KS_CLI_FAIL;
            goto out;
        }
        set.prefix = force_prefix || followed > 1;
    }

    if (follow) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_stop;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < set.n && !set.out_failed; ++i)
        if (set.files[i].followed) {
            pump(&set, &set.files[i], tail, 1);
            if (!follow)
                flush_partial(&set, &set.files[i]);
        } else {
            /* known at start but not followed: only new bytes of new replicas count */
            struct stat st;
            set.files[i].offset = stat(set.files[i].path, &st) == 0 ? st.st_size : 0;
        }
    while (follow && !stop_requested && !set.out_failed) {
        size_t before = set.n;
        ks__cli_sleep_ms(FOLLOW_MS);
        if (stop_requested)
            break;
        /* a replica that appeared since: follow it from its first line */
        scan_dir(&set, dir, 1);
        if (set.n > before) {
            size_t followed = 0;
            for (i = 0; i < set.n; ++i)
                followed += set.files[i].followed != 0;
            if (followed > 1)
                set.prefix = 1;
        }
        for (i = 0; i < set.n && !set.out_failed; ++i)
            if (set.files[i].followed)
                pump(&set, &set.files[i], -1, 0);
    }
    fflush(stdout);
out:
    json_decref(replicas);
    free_set(&set);
    ks__cli_client_free(&client);
    free(targets);
    return rc;
}
