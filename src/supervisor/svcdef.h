/* SPDX-License-Identifier: MIT */
/*
 * Service definitions: what a service is, independent of whether it runs. A definition comes
 * from the configuration's "components" object, from a components directory, or from the API
 * (PUT /v1/services/{name}), always through svcdef_from_json(); svcdef_to_json() writes it
 * back (the API's view and the persisted file). The set of definitions is checked as a whole
 * by svcdef_check_graph(): every need exists, nobody needs itself, and there is no cycle.
 *
 * JSON fields (docs/services.md is the reference; every one but the command is optional):
 *   "cmd": "prog" with "args": [...]        sprite-env's shape
 *   "cmd": ["prog", "arg", ...]             the argv at once ("args" then must be absent)
 *   "start_command": ["prog", ...]          the seed's components shape (same as an argv "cmd")
 *   "ready_command": ["prog", ...]          the seed's: same as "ready": {"command": [...]}
 *   "needs": ["other", ...]                 (alias "dependencies")
 *   "env": ["K=V", ...] or {"K": "V"}       added to the daemon's environment
 *   "dir": "/path"   "user": "name|uid[:gid]"
 *   "ready": {"command": [...]} | {"tcp": PORT or "HOST:PORT"} | {"http": "http://HOST:PORT/PATH"}
 *            | {"notify_fd": N}   with optional "interval" and "timeout" (durations)
 *   "restart": "no" (alias "never") | "on-failure" | "always"
 *   "backoff": {"initial": DUR, "max": DUR, "reset_after": DUR}
 *   "stop_signal": "TERM" | "SIGTERM" | "term" | 15 (1..64)    "stop_timeout": DUR (0 allowed)
 *   "name": "db"                            optional; must equal the name given
 * A duration is a Go-style string ("250ms", "1m30s"; rounded up to whole milliseconds) or a
 * non-negative integer number of milliseconds. Unknown fields are errors (typos are caught), and
 * so are wrong types, NUL bytes in strings, a "needs" entry listed twice, and two ways of giving
 * the same thing ("cmd" and "start_command", "needs" and "dependencies", "ready" and
 * "ready_command"). "dir" must be absolute. ready.interval, ready.timeout and backoff.initial
 * must be more than 0, and backoff.max at least backoff.initial. ready.tcp/http hosts default to
 * 127.0.0.1; an IPv6 host is written in brackets ("[::1]:5432") and stored without them.
 */
#ifndef SP_SVCDEF_H
#define SP_SVCDEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../base/err.h"

#define SVC_NAME_MAX     63    /* [A-Za-z0-9][A-Za-z0-9_.-]*, no "." or ".." */
#define SVC_MAX_SERVICES 256   /* definitions at once */
#define SVC_MAX_ARGV     256   /* argv elements (cmd + args), also env entries, also needs */
#define SVC_MAX_BYTES    65536 /* total bytes of argv + ready command + env of one service */

/* Defaults (docs/services.md). */
#define SVC_DEFAULT_READY_INTERVAL_MS  100
#define SVC_DEFAULT_READY_TIMEOUT_MS   10000
#define SVC_DEFAULT_BACKOFF_INITIAL_MS 1000
#define SVC_DEFAULT_BACKOFF_MAX_MS     60000
#define SVC_DEFAULT_BACKOFF_RESET_MS   10000
#define SVC_DEFAULT_STOP_TIMEOUT_MS    5000
#define SVC_MAX_DURATION_MS            (24ull * 3600 * 1000) /* any duration above is refused */

enum svc_restart { SVC_RESTART_NO, SVC_RESTART_ON_FAILURE, SVC_RESTART_ALWAYS };

enum svc_ready_kind {
    SVC_READY_NONE,    /* ready as soon as it is started */
    SVC_READY_COMMAND, /* a command that exits 0, run every interval */
    SVC_READY_TCP,     /* a TCP connect to host:port that succeeds */
    SVC_READY_HTTP,    /* an HTTP GET that answers 2xx */
    SVC_READY_NOTIFY,  /* the service writes a newline on fd notify_fd (s6's notification-fd) */
};

enum svc_origin {
    SVC_ORIGIN_CONFIG, /* the configuration's "components" */
    SVC_ORIGIN_DIR,    /* -components-dir */
    SVC_ORIGIN_API,    /* PUT /v1/services/{name}; persisted under the write directory */
};

struct svc_ready {
    enum svc_ready_kind kind;
    char **command;       /* COMMAND: argv, NULL-terminated, heap-owned */
    char host[256];       /* TCP/HTTP; default "127.0.0.1" */
    uint16_t port;        /* TCP/HTTP; HTTP default 80 */
    char path[1024];      /* HTTP: path and query; default "/" */
    int notify_fd;        /* NOTIFY: 3..1023 */
    uint64_t interval_ms; /* between two probes (COMMAND, TCP, HTTP) */
    uint64_t timeout_ms;  /* from the start until the service must be ready */
};

struct svc_def {
    char name[SVC_NAME_MAX + 1];
    enum svc_origin origin;
    char **argv;  /* cmd + args; never empty */
    char **needs; /* names; NULL-terminated (empty vector when none), no duplicates */
    char **env;   /* "K=V"; NULL-terminated, possibly empty */
    char *dir;    /* NULL: the daemon's */
    char *user;   /* NULL: the daemon's */
    struct svc_ready ready;
    enum svc_restart restart;
    uint64_t backoff_initial_ms, backoff_max_ms, backoff_reset_ms;
    int stop_signal;
    uint64_t stop_timeout_ms;
};

/*
 * Parses one definition. name comes from the map key / directory / URL (a "name" field in the
 * JSON, if present, must equal it). On failure returns -EINVAL and err says which field and why
 * ("service db: ready.tcp: port must be 1..65535"); nothing is allocated then. -ENOMEM when
 * out of memory. A need on itself is accepted here and refused by svcdef_check_graph().
 */
int svcdef_from_json(const char *name, enum svc_origin origin, json_t *obj, struct svc_def **out,
                     struct sp_err *err);

/* The definition as JSON (every field, defaults included, durations as Go strings, the
 * signal as "SIGTERM"): "cmd" is argv[0] and "args" the rest, as sprite-env shows them; the
 * result parses back to an equal definition. NULL when out of memory. */
json_t *svcdef_to_json(const struct svc_def *d);

void svcdef_free(struct svc_def *d);

/* [A-Za-z0-9][A-Za-z0-9_.-]{0,62}, and not "." or "..". */
bool svcdef_name_ok(const char *name);

/*
 * Checks a set of n definitions as a whole: unique names, no self dependency ("service db
 * cannot depend on itself"), every need defined ("service web needs api, which is not
 * defined"), no cycle ("dependency cycle: a -> b -> c -> a", naming the cycle found).
 * 0 or -EINVAL with err set.
 */
int svcdef_check_graph(struct svc_def *const *defs, size_t n, struct sp_err *err);

/*
 * Reads a components directory. Every subdirectory DIR/<name> is a service (entries that are not
 * directories, or whose name starts with '.', are skipped; a bad name is an error):
 *   - DIR/<name>/service.json (optional, at most 64 KiB) is parsed by svcdef_from_json(); a
 *     missing one counts as {}.
 *   - DIR/<name>/start, when it exists, must be an executable regular file and is the command
 *     (argv = {its path}); service.json must then not give "cmd", "args" or "start_command".
 *     When it does not exist, service.json must give the command.
 *   - DIR/<name>/ready likewise: when it exists, it is the ready command, and service.json must
 *     not give "ready_command" or a check in "ready" (only "interval" / "timeout" there).
 * The paths are absolute (a relative DIR is taken from the current directory). Fills *out with
 * a heap array of *n definitions (origin SVC_ORIGIN_DIR), sorted by name, at most
 * SVC_MAX_SERVICES; on failure *out is NULL and *n 0. A missing directory is -ENOENT with err
 * set.
 */
int svcdef_load_dir(const char *dir, struct svc_def ***out, size_t *n, struct sp_err *err);

/* Parses a duration field value: a Go-style string (rounded up to whole ms) or a non-negative
 * integer number of ms, at most SVC_MAX_DURATION_MS. 0 or -EINVAL. */
int svcdef_duration_ms(json_t *v, uint64_t *out);

#endif
