/* SPDX-License-Identifier: MIT */
/*
 * The daemon's configuration: defaults, then the JSON file (-config), then environment
 * variables, then command-line flags; a later source wins. docs/config.md is the reference for
 * every key, flag and variable; keep the two in step.
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../base/err.h"
#include "../base/log.h"

#define CONFIG_DEFAULT_LISTEN "127.0.0.1:8080"

struct config_http {
    size_t max_header_bytes;     /* request line + headers; 431 beyond */
    size_t max_body_bytes;       /* buffered request bodies; 413 beyond */
    unsigned max_connections;    /* open client connections; 503 beyond */
    uint64_t idle_timeout_ms;    /* keep-alive connection with no request in flight */
    uint64_t request_timeout_ms; /* first byte of a request to its last byte; 408 beyond */
    uint64_t write_timeout_ms;   /* a response that makes no progress (client not reading) */
};

struct config_exec {
    unsigned max_processes; /* running at once */
    size_t max_args_bytes;  /* argv + env of one exec */
    size_t log_bytes;       /* output kept per stream of each process */
    uint64_t retention_ms;  /* exited processes stay listable this long */
    uint64_t drain_ms;      /* after an exit, wait this long for pipes a child still holds */
    bool transcripts;       /* record transcripts from the start */
    unsigned max_retained;  /* finished processes kept listable */
    char *default_user;     /* processes started without a user run as this one; NULL: ours */
    unsigned oom_score_adj; /* children's oom_score_adj (raised only); 0: inherited */
};

struct config_docker {
    char *container_name;       /* the root environment's Docker name; NULL: "sprite" */
    unsigned max_execs;         /* exec records kept (created, running or ended) */
    uint64_t exec_retention_ms; /* an ended exec stays inspectable this long */
};

struct config_services {
    char *socket; /* the local unix socket (no token; mode 0600); NULL: <write dir>/sprite.sock, "":
                     none */
    size_t ring_bytes;     /* recent output kept in memory per service */
    size_t log_file_bytes; /* a service's log file is rotated beyond this */
    unsigned log_files;    /* rotated files kept per stream */
};

struct config_sandboxes {
    bool enabled;               /* serve the sandbox and volume routes */
    unsigned max;               /* sandboxes at once */
    bool auto_resume;           /* a request to a paused sandbox resumes it */
    uint64_t create_timeout_ms; /* from the request to the agent answering */
    unsigned image_cache;       /* unused unpacked images kept */
};

struct config {
    enum sp_log_level log_level;
    bool log_json;
    char **listen;              /* NULL-terminated; never empty after config_load */
    char **process_command;     /* NULL: API server only */
    char *process_working_dir;  /* NULL: inherited */
    char **process_environment; /* "K=V" added to the daemon's environment */
    uint64_t graceful_ms;
    char *components_dir;
    json_t *components; /* {"name": {definition}}; NULL when absent */
    char **exec_wrapper_command;
    char **exec_tty_wrapper_command;
    bool keep_alive_on_error;
    bool debug_endpoints;
    char *write_dir; /* state directory */
    char *api_token; /* NULL: generated and stored under write_dir */
    char *config_path;
    struct config_http http;
    struct config_exec exec;
    struct config_docker docker;
    struct config_services services;
    struct config_sandboxes sandboxes;
    char *files_root; /* files.root: where file routes resolve paths; NULL: "/" */
    bool show_version;
    bool show_help;
};

/* Fills every default. Must be called before config_load. */
void config_init(struct config *c);

/*
 * Applies the file named by -config (if any), the environment and the flags in argv (argv[0] is
 * the program name). On failure fills err with one line naming the flag or key path and returns
 * a negative code: the caller exits 2. Warnings (unknown keys) are logged, not errors.
 */
int config_load(struct config *c, int argc, char **argv, struct sp_err *err);

/* Parses a JSON document (already read) into c, as config_load does with the file. */
int config_apply_json(struct config *c, const char *text, size_t len, const char *origin,
                      struct sp_err *err);

void config_free(struct config *c);
/* A valid Docker container name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, 1 to 64 characters. */
bool config_docker_name_ok(const char *name);

/* The usage text for -help. */
void config_print_usage(void);

#endif
