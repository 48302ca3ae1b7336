/* SPDX-License-Identifier: MIT */
/*
 * Containers from OCI bundles: the library under sprite-runc (and, later, sandboxes). Each
 * operation is one call that a short-lived command runs; what must outlive it is on disk in the
 * state directory <root>/<id>/ (state.json written atomically, the config.json copied at
 * create, and exec.fifo while the container is "created").
 *
 * Life cycle, as runc's: create sets everything up and leaves the container's init process
 * blocked on the exec fifo (the init is a child of the caller; the caller's subreaper — the
 * containerd shim, conmon — inherits it when the caller exits); start opens the fifo, and the
 * init execs the user program with the same pid; kill signals it; delete removes what create
 * made. Status: "created" (init alive, fifo present), "running", "paused" (frozen cgroup),
 * "stopped" (init gone, or its pid reused: the start time is checked).
 *
 * Errors are returned as -errno with err set, worded as runc words them where callers match
 * strings ("container does not exist", "container not running", "container with given ID
 * already exists", "cannot start an already running container", …).
 */
#ifndef SP_CONTAINER_H
#define SP_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../base/err.h"
#include "oci.h"

#define CONTAINER_ID_MAX 1024

enum container_status {
    CONTAINER_CREATED,
    CONTAINER_RUNNING,
    CONTAINER_PAUSED,
    CONTAINER_STOPPED,
};

struct container_create_opts {
    const char *root; /* state root, e.g. /run/sprite-runc */
    const char *id;
    const char *bundle;         /* directory holding config.json */
    const char *pid_file;       /* NULL: none; gets the bare pid, no newline */
    const char *console_socket; /* NULL: none; required when process.terminal */
    bool no_pivot;
    bool no_new_keyring;
    unsigned preserve_fds; /* fds 3 .. 3+n-1 stay open in the container */
};

/* The state a command reads back. */
struct container_info {
    char id[CONTAINER_ID_MAX + 1];
    pid_t pid; /* 0 when stopped */
    enum container_status status;
    char bundle[4096];
    char rootfs[4096];
    char created[64];    /* RFC 3339 with nanoseconds, UTC */
    json_t *annotations; /* NULL when none; owned by the info (container_info_clear) */
};

/* True for a valid id: [A-Za-z0-9_+.-]+, not "." or "..", at most CONTAINER_ID_MAX bytes. */
bool container_id_ok(const char *id);

/* create: the container is "created" when it returns 0. */
int container_create(const struct container_create_opts *o, struct sp_err *err);

/* start: a "created" container's init execs the user program; poststart hooks run. */
int container_start(const char *root, const char *id, struct sp_err *err);

/* The container's state. -ENOENT "container does not exist". */
int container_state(const char *root, const char *id, struct container_info *out,
                    struct sp_err *err);
void container_info_clear(struct container_info *info);
/* runc's state JSON (ociVersion, id, pid, status, bundle, rootfs, created, owner, annotations?). */
json_t *container_info_json(const struct container_info *info);
const char *container_status_name(enum container_status s);

/* The ids under root, sorted. */
int container_list(const char *root, char ***ids, struct sp_err *err);

/* kill: sig to the init ("container not running" unless created/running/paused); with all, to
 * every process of its cgroup (also when stopped; nothing to do is fine). */
int container_kill(const char *root, const char *id, int sig, bool all, struct sp_err *err);

/* delete: a stopped or created container is destroyed (processes killed, cgroup and state
 * removed, poststop hooks run); a running/paused one only with force. A missing one: -ENOENT,
 * but 0 with force. */
int container_delete(const char *root, const char *id, bool force, struct sp_err *err);

/* pause / resume through the freezer. */
int container_pause(const char *root, const char *id, bool pause, struct sp_err *err);

/* Thaws the container's cgroup whatever its status says (a freeze left half done: FREEZING). */
int container_thaw(const char *root, const char *id, struct sp_err *err);

/* The host pids in the container's cgroup. */
int container_pids(const char *root, const char *id, pid_t **pids, size_t *n, struct sp_err *err);

/* update --resources: applies linux.resources JSON to the container's cgroup. */
int container_update(const char *root, const char *id, json_t *resources, struct sp_err *err);

struct container_exec_opts {
    const char *pid_file;
    const char *console_socket;
    bool detach;
    unsigned preserve_fds;
};

/*
 * exec: runs process (args, env, cwd, user, terminal, caps, rlimits, no_new_privileges) in the
 * running container: its namespaces, cgroup and root. With detach, returns once the program
 * was exec'd (*exit_code untouched); otherwise waits for it and fills *exit_code (128+signal
 * for a signal).
 */
int container_exec(const char *root, const char *id, const struct oci_process *process,
                   const struct container_exec_opts *o, int *exit_code, struct sp_err *err);

/* The "process" object of the config.json saved at create (a new reference), for an exec that
 * starts from it; NULL with err set. */
json_t *container_config_process_json(const char *root, const char *id, struct sp_err *err);

/* run = create + start, then (unless detach) wait for the init and delete: *exit_code is its
 * status. */
int container_run(const struct container_create_opts *o, bool detach, int *exit_code,
                  struct sp_err *err);

#endif
