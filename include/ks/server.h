/*
 * `kserve model-server`: the replica process.
 */
#ifndef KS_SERVER_H
#define KS_SERVER_H

#include <stddef.h>

typedef struct ks_server_config {
    const char *model_name;   /* --model_name (default "model") */
    const char *model_dir;    /* --model_dir (required) */
    const char *http_host;    /* --http_host (default 0.0.0.0) */
    int http_port;            /* --http_port (8080) */
    int grpc_port;            /* --grpc_port (8081; gRPC arrives later) */
    int enable_grpc;          /* --enable_grpc */
    int workers;              /* --workers: event-loop threads (one per core) */
    int max_threads;          /* --max_threads (accepted for KServe compatibility) */
    int nthread;              /* --nthread: runtime threads per prediction (1) */
    size_t max_body_size;     /* --max_body_size (bytes, K/M/G suffixes; 16M) */
    const char *protocol;     /* --protocol v1|v2 (informational) */
    const char *predictor_host; /* --predictor_host (transformers; recorded) */
    int drain_timeout;        /* --drain_timeout seconds on SIGTERM (30) */
    int container_concurrency; /* --container_concurrency: inference requests at once (0: unlimited) */
    int timeout_seconds;      /* --timeout_seconds: an inference request's limit, queue time included (300) */
    int drain_seconds;        /* --drain_seconds: on SIGTERM keep serving until this long without a request (0: off) */
} ks_server_config_t;

/*
 * Parses argv (argv[0] is the subcommand) into cfg.  Returns 0, 1 when the
 * user asked for --help, or KS_EINVAL with a message naming the flag in err.
 */
int ks_server_parse_flags(int argc, char **argv, ks_server_config_t *cfg, char *err, size_t errlen);

/* The usage text. */
extern const char ks_server_usage[];

/* Runs the model server; returns the process exit status. */
int ks_model_server_main(int argc, char **argv);

#endif
