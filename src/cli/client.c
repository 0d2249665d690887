/*
 * The API client (libcurl over the daemon's Unix socket) and the helpers the
 * commands share: operands, namespaces, files, kubectl's error lines.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ---- the client ------------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    ks_buf_t *b = arg;
    size_t n = size * nmemb;
    return ks_buf_append(b, data, n) == 0 ? n : 0;
}

int ks__cli_client_init(ks__cli_client_t *c, char *err, size_t errlen)
{
    const char *home = getenv("KSERVE_HOME");
    static int curl_ready;

    memset(c, 0, sizeof(*c));
    ks_buf_init(&c->reply, KS_CLI_MAX_REPLY);
    if (home == NULL || *home == '\0')
        home = "./.kserve";
    if ((size_t)snprintf(c->home, sizeof(c->home), "%s", home) >= sizeof(c->home) ||
        (size_t)snprintf(c->sock, sizeof(c->sock), "%s/api.sock", home) >= sizeof(c->sock)) {
        ks_errorf(err, errlen, "error: KSERVE_HOME is too long");
        return KS_EINVAL;
    }
    if (home[0] == '/') {
        snprintf(c->sock_abs, sizeof(c->sock_abs), "%s", c->sock);
    } else {
        char cwd[PATH_MAX];
        const char *rel = strncmp(c->sock, "./", 2) == 0 ? c->sock + 2 : c->sock;
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            snprintf(c->sock_abs, sizeof(c->sock_abs), "%s", c->sock);
        else
            snprintf(c->sock_abs, sizeof(c->sock_abs), "%s/%s", cwd, rel);
    }
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        ks_errorf(err, errlen, "error: cannot initialise libcurl");
        return KS_ENOMEM;
    }
    return 0;
}

void ks__cli_client_free(ks__cli_client_t *c)
{
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
    ks_buf_free(&c->reply);
}

static void unreachable(const ks__cli_client_t *c, char *err, size_t errlen)
{
    ks_errorf(err, errlen,
              "error: cannot reach the kserve daemon at %s: is \"kserve up\" running? "
              "(set KSERVE_HOME to its state directory)",
              c->sock_abs);
}

int ks__cli_call(ks__cli_client_t *c, const char *method, const char *path, json_t *body, long *status, json_t **reply,
                 char *err, size_t errlen)
{
    char url[PATH_MAX + 32], cerr[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    char *text = NULL;
    struct stat st;
    CURLcode cc;
    int r = 0;

    *status = 0;
    if (reply != NULL)
        *reply = NULL;
    /* connecting to a missing socket fails anyway; say so without asking curl */
    if (stat(c->sock, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        unreachable(c, err, errlen);
        return KS_EUNAVAIL;
    }
    if (strlen(c->sock) >= 108) {
        ks_errorf(err, errlen, "error: the daemon's socket path %s is longer than a Unix socket allows (107 bytes)",
                  c->sock);
        return KS_EINVAL;
    }
    snprintf(url, sizeof(url), "http://localhost%s", path);
    ks_buf_reset(&c->reply);
    cerr[0] = '\0';

    curl_easy_reset(c->curl);
    curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->sock);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->reply);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, cerr);
    headers = curl_slist_append(headers, "Accept: application/json");
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL) {
            ks_errorf(err, errlen, "error: cannot encode the request body");
            r = KS_ENOMEM;
            goto out;
        }
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);

    cc = curl_easy_perform(c->curl);
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
        unreachable(c, err, errlen);
        r = KS_EUNAVAIL;
        goto out;
    }
    if (cc != CURLE_OK) {
        ks_errorf(err, errlen, "error: %s %s on the kserve daemon at %s: %s", method, path, c->sock_abs,
                  cerr[0] != '\0' ? cerr : curl_easy_strerror(cc));
        r = KS_EINTERNAL;
        goto out;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    if (reply != NULL && c->reply.len > 0)
        *reply = json_loadb(c->reply.base, c->reply.len, 0, NULL);
    if (reply != NULL && *reply == NULL && *status >= 200 && *status < 300 && c->reply.len > 0) {
        ks_errorf(err, errlen, "error: %s %s: the daemon's answer is not JSON", method, path);
        r = KS_EINTERNAL;
    }
out:
    curl_slist_free_all(headers);
    free(text);
    return r;
}

/* ---- kubectl's error lines -------------------------------------------------------------- */

static const char *reason_of(long status)
{
    switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 503: return "ServiceUnavailable";
    default: return status >= 500 ? "InternalError" : "BadRequest";
    }
}

void ks__cli_print_status(const ks_cli_kind_t *k, const char *name, long status, json_t *reply, const char *context)
{
    const char *reason = json_string_value(json_object_get(reply, "reason"));
    const char *msg = json_string_value(json_object_get(reply, "message"));
    const char *sep = context != NULL ? ": " : "";

    if (reason == NULL || *reason == '\0')
        reason = reason_of(status);
    if (msg == NULL)
        msg = json_string_value(json_object_get(reply, "error"));
    if (context == NULL)
        context = "";
    if (status == 404 && k != NULL && name != NULL) {
        fprintf(stderr, "Error from server (NotFound): %s%s%s.%s \"%s\" not found\n", context, sep, k->plural,
                k->group, name);
        return;
    }
    if (status == 409 && strcmp(reason, "AlreadyExists") == 0 && k != NULL && name != NULL && msg == NULL) {
        fprintf(stderr, "Error from server (AlreadyExists): %s%s%s.%s \"%s\" already exists\n", context, sep,
                k->plural, k->group, name);
        return;
    }
    if (msg == NULL || *msg == '\0')
        msg = "the server gave no message";
    fprintf(stderr, "Error from server (%s): %s%s%s\n", reason, context, sep, msg);
}

int ks__cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nSee 'kserve %s --help' for usage.\n", cmd);
    return KS_CLI_USAGE;
}

void ks__cli_flush(ks_buf_t *b, FILE *f)
{
    if (b->len > 0)
        fwrite(b->base, 1, b->len, f);
    fflush(f);
    ks_buf_reset(b);
}

/* ---- operands ------------------------------------------------------------------------------ */

int ks__cli_targets(const char *cmd, int argc, char **argv, ks__cli_target_t **out, size_t *n)
{
    ks__cli_target_t *t;
    size_t count = 0;

    *out = NULL;
    *n = 0;
    if (argc < 1) {
        ks__cli_usage_error(cmd, "you must say the type of resource (isvc, revision, servingruntime, "
                                 "clusterservingruntime)");
        return KS_EINVAL;
    }
    t = calloc((size_t)argc, sizeof(*t));
    if (t == NULL)
        return KS_ENOMEM;
    if (strchr(argv[0], '/') != NULL) {
        /* isvc/a rev/b ... */
        for (int i = 0; i < argc; ++i) {
            char word[128];
            const char *slash = strchr(argv[i], '/');
            size_t wl = slash != NULL ? (size_t)(slash - argv[i]) : 0;
            if (slash == NULL || slash[1] == '\0' || wl == 0 || wl >= sizeof(word)) {
                ks__cli_usage_error(cmd, "there is no need to say a resource type as a separate argument when "
                                         "passing arguments in TYPE/NAME form (\"%s\")",
                                    argv[i]);
                free(t);
                return KS_EINVAL;
            }
            memcpy(word, argv[i], wl);
            word[wl] = '\0';
            t[count].kind = ks_cli_kind_lookup(word);
            if (t[count].kind == NULL) {
                fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n", word);
                free(t);
                return KS_EINVAL;
            }
            t[count++].name = slash + 1;
        }
    } else {
        const ks_cli_kind_t *k = ks_cli_kind_lookup(argv[0]);
        if (k == NULL) {
            fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n", argv[0]);
            free(t);
            return KS_EINVAL;
        }
        if (argc == 1) {
            t[count].kind = k;
            t[count++].name = NULL;
        }
        for (int i = 1; i < argc; ++i) {
            if (strchr(argv[i], '/') != NULL) {
                ks__cli_usage_error(cmd, "there is no need to say a resource type as a separate argument when "
                                         "passing arguments in TYPE/NAME form (\"%s\")",
                                    argv[i]);
                free(t);
                return KS_EINVAL;
            }
            t[count].kind = k;
            t[count++].name = argv[i];
        }
    }
    *out = t;
    *n = count;
    return 0;
}

const char *ks__cli_namespace(const char *flag)
{
    return flag != NULL && *flag != '\0' ? flag : KS_CLI_DEFAULT_NS;
}

/* ---- files ------------------------------------------------------------------------------------ */

#define KS_CLI_MAX_FILE (16u << 20)

int ks__cli_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    ks_buf_t b;
    char chunk[65536];
    size_t n;
    int r = 0;

    *text = NULL;
    *len = 0;
    if (f == NULL) {
        ks_errorf(err, errlen, "error: the path \"%s\" cannot be read: %s", path, strerror(errno));
        return errno == ENOENT ? KS_ENOENT : KS_EINVAL;
    }
    ks_buf_init(&b, KS_CLI_MAX_FILE);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if ((r = ks_buf_append(&b, chunk, n)) != 0)
            break;
    if (r == 0 && ferror(f)) {
        ks_errorf(err, errlen, "error: reading \"%s\": %s", path, strerror(errno));
        r = KS_EINVAL;
    } else if (r == KS_ETOOBIG) {
        ks_errorf(err, errlen, "error: \"%s\" is larger than %u MiB", path, KS_CLI_MAX_FILE >> 20);
    } else if (r == 0) {
        r = ks_buf_putc(&b, '\0');
    }
    if (f != stdin)
        fclose(f);
    if (r != 0) {
        if (r == KS_ENOMEM)
            ks_errorf(err, errlen, "error: out of memory reading \"%s\"", path);
        ks_buf_free(&b);
        return r;
    }
    *len = b.len - 1;
    *text = b.base;
    return 0;
}

static int manifest_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0;
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static int push_file(char ***files, size_t *n, size_t *cap, const char *path)
{
    if (*n == *cap) {
        size_t ncap = *cap == 0 ? 8 : *cap * 2;
        char **p = realloc(*files, ncap * sizeof(*p));
        if (p == NULL)
            return KS_ENOMEM;
        *files = p;
        *cap = ncap;
    }
    if (((*files)[*n] = strdup(path)) == NULL)
        return KS_ENOMEM;
    (*n)++;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ks__cli_expand_files(char **paths, size_t npaths, char ***out, size_t *n, char *err, size_t errlen)
{
    char **files = NULL;
    size_t count = 0, cap = 0;
    int r = 0;

    for (size_t i = 0; i < npaths && r == 0; ++i) {
        struct stat st;
        if (strcmp(paths[i], "-") == 0) {
            r = push_file(&files, &count, &cap, "-");
        } else if (stat(paths[i], &st) != 0) {
            ks_errorf(err, errlen, "error: the path \"%s\" does not exist", paths[i]);
            r = KS_ENOENT;
        } else if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(paths[i]);
            struct dirent *de;
            size_t first = count;
            if (d == NULL) {
                ks_errorf(err, errlen, "error: the directory \"%s\" cannot be read: %s", paths[i], strerror(errno));
                r = KS_EINVAL;
                break;
            }
            while (r == 0 && (de = readdir(d)) != NULL) {
                char path[PATH_MAX];
                if (!manifest_name(de->d_name))
                    continue;
                snprintf(path, sizeof(path), "%s/%s", paths[i], de->d_name);
                r = push_file(&files, &count, &cap, path);
            }
            closedir(d);
            qsort(files + first, count - first, sizeof(*files), name_cmp);
        } else {
            r = push_file(&files, &count, &cap, paths[i]);
        }
    }
    if (r == KS_ENOMEM)
        ks_errorf(err, errlen, "error: out of memory");
    if (r != 0) {
        ks__cli_files_free(files, count);
        return r;
    }
    *out = files;
    *n = count;
    return 0;
}

void ks__cli_files_free(char **files, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        free(files[i]);
    free(files);
}

int ks__cli_path_segment_ok(const char *s)
{
    return s != NULL && *s != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

void ks__cli_sleep_ms(int64_t ms)
{
    struct timespec ts;
    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}
