/*
 * `kserve storage-initializer URI CACHE_DIR`: the storage initializer as a
 * command, as KServe runs it in an init container: prints the local model
 * directory on stdout, or the cause of the failure on stderr.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ks/storage.h"

static const char usage[] =
    "usage: kserve storage-initializer URI CACHE_DIR [--pvc_root DIR]\n"
    "  Makes the model at URI available locally and prints its directory.\n"
    "  URI: a local path, file:///path, pvc://NAME/PATH (DIR/NAME/PATH, DIR default " KS_STORAGE_PVC_ROOT "),\n"
    "       http(s)://host/file (.tar.gz, .tgz, .zip are unpacked), s3://bucket/prefix,\n"
    "       gs://bucket/prefix, hf://org/model[:revision]\n"
    "  Remote models are downloaded once into CACHE_DIR/<sha256 of URI>/.\n"
    "environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ENDPOINT_URL or S3_ENDPOINT,\n"
    "  S3_USE_HTTPS, S3_VERIFY_SSL, AWS_CA_BUNDLE, AWS_DEFAULT_REGION or AWS_REGION; STORAGE_EMULATOR_HOST;\n"
    "  HF_ENDPOINT, HF_TOKEN; KSERVE_STORAGE_STALL_SECONDS (abort a transfer idle that long, default 60)\n";

typedef struct progress {
    uint64_t start_ns, last_ns;
} progress_t;

/* Long downloads only: one line every few seconds on stderr. */
static void on_progress(void *data, const char *uri, uint64_t done, uint64_t total)
{
    progress_t *p = data;
    uint64_t now = ks_now_ns();
    if (now - p->start_ns < 3000000000ull || now - p->last_ns < 3000000000ull)
        return;
    p->last_ns = now;
    if (total != 0)
        fprintf(stderr, "kserve storage-initializer: %s: %.1f of %.1f MiB\n", uri, done / 1048576.0,
                total / 1048576.0);
    else
        fprintf(stderr, "kserve storage-initializer: %s: %.1f MiB\n", uri, done / 1048576.0);
}

int ks_storage_main(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *pvc_root = NULL;
    char out[4096], err[2048];
    progress_t prog;
    int npos = 0;

    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--pvc_root") == 0 && i + 1 < argc) {
            pvc_root = argv[++i];
        } else if (strncmp(argv[i], "--pvc_root=", 11) == 0) {
            pvc_root = argv[i] + 11;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "kserve storage-initializer: unknown option %s\n%s", argv[i], usage);
            return 2;
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else {
            fprintf(stderr, "kserve storage-initializer: too many arguments\n%s", usage);
            return 2;
        }
    }
    if (npos != 2) {
        fputs(usage, stderr);
        return 2;
    }
    prog.start_ns = prog.last_ns = ks_now_ns();
    if (ks_storage_fetch(pos[0], pos[1], pvc_root, out, sizeof(out), on_progress, &prog, err, sizeof(err)) != 0) {
        fprintf(stderr, "kserve storage-initializer: %s\n", err);
        return 1;
    }
    puts(out);
    return fflush(stdout) == 0 ? 0 : 1;
}
