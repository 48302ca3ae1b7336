/* SPDX-License-Identifier: MIT */
/*
 * The sandbox manager (docs/sandboxes.md): sandboxes are containers of the container library
 * (src/container/), each running this binary as its agent (PID 1), whose API the host reaches
 * over a unix socket. The manager lives on the event loop; everything slow or blocking (image
 * unpacking, container create/start, waiting for the agent, destroy) runs in a helper process,
 * this binary run as `sprite-env _sandbox create|destroy DIR` (sandbox_helper_main), whose exit
 * the reaper reports. So the loop never blocks on a sandbox, and a helper that hangs is killed
 * at the deadline.
 *
 * On disk, under <write dir>: sandboxes/<id>/sandbox.json (the record, replaced atomically on
 * every state change), sandboxes/<id>/bundle/, sandboxes/<id>/run/ (/.sprite/run inside:
 * api.sock, agent.json, state/), sandboxes/.containers/<id>/ (the container, with the upper
 * layer), images/ and volumes/. sbmgr_new() reads every record back: live agents are adopted
 * (watched through a pidfd), dead ones marked "error", half-created ones destroyed.
 *
 * Errors are -errno with err set; the API maps them: -EINVAL 400, -ENOTSUP 400 unsupported,
 * -ENOENT 404, -EEXIST 409 (name taken), -EBUSY 409 (not in a state for that), -EAGAIN 429 (too
 * many), -EPERM 403 (not root), others 500.
 */
#ifndef SP_SANDBOX_H
#define SP_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../base/err.h"
#include "../os/loop.h"
#include "../os/reap.h"

#define SANDBOX_ID_LEN 16 /* hex characters */
/* proxied requests in flight to one sandbox: a sandbox that never answers holds at most this many
 * of the host's connections */
#define SANDBOX_MAX_INFLIGHT 256

struct sbmgr;
struct sandbox;
struct sbop;

enum sandbox_state { SB_CREATING, SB_RUNNING, SB_PAUSED, SB_ERROR, SB_DESTROYING };

struct sbmgr_opts {
    struct loop *loop;
    struct reaper *reaper;
    const char *write_dir;
    unsigned max;
    bool auto_resume;
    uint64_t create_timeout_ms;
    unsigned image_cache; /* unpacked images no sandbox uses that are kept (most recent first) */
};

int sbmgr_new(struct sbmgr **out, const struct sbmgr_opts *o, struct sp_err *err);
/* Forgets every sandbox (they keep running: the next daemon adopts them); pending operations'
 * callbacks are not called. */
void sbmgr_free(struct sbmgr *m);

/* The end of an asynchronous operation: r is 0 or -errno with err set; sb is the sandbox (NULL
 * after a destroy, or when a create failed). Called from the loop, never from inside the call
 * that started the operation. */
typedef void (*sbmgr_done_fn)(void *ud, struct sandbox *sb, int r, const struct sp_err *err);
/* The caller is gone: the operation goes on, its callback is not called. */
void sbop_detach(struct sbop *op);

/* Creates a sandbox from a normalised spec (sbspec_parse; borrowed). Synchronous errors (bad
 * paths, name taken, too many) return -errno and nothing is left; otherwise 0, and done runs
 * when the agent answers (or the create failed and everything it made is removed). */
int sbmgr_create(struct sbmgr *m, json_t *spec, sbmgr_done_fn done, void *ud, struct sbop **op,
                 struct sp_err *err);
/* Destroys a sandbox (any state but creating/destroying: -EBUSY). done runs once nothing is
 * left. */
int sbmgr_destroy(struct sbmgr *m, struct sandbox *sb, sbmgr_done_fn done, void *ud,
                  struct sbop **op, struct sp_err *err);
/* Freezes a running sandbox (cgroup freezer). Freezing can take a while (a task in
 * uninterruptible sleep), so it runs in the helper: done runs once the sandbox is paused. A
 * paused sandbox is 0 at once (done not called: *op NULL); -EBUSY in other states or while
 * another operation runs. */
int sbmgr_pause(struct sbmgr *m, struct sandbox *sb, sbmgr_done_fn done, void *ud, struct sbop **op,
                struct sp_err *err);
/* Thaws a paused sandbox (immediate); a running one is 0; -EBUSY in other states. */
int sbmgr_resume(struct sbmgr *m, struct sandbox *sb, struct sp_err *err);

/* By id, or else by name; NULL when none. */
struct sandbox *sbmgr_find(struct sbmgr *m, const char *id_or_name);
/* Every sandbox, oldest first (a new array). */
json_t *sbmgr_list_json(struct sbmgr *m);
/* The API's view of a sandbox (a new object). */
json_t *sandbox_json(const struct sandbox *sb);

/* Activity: pushes the time-to-live back. */
void sandbox_touch(struct sbmgr *m, struct sandbox *sb);

/* Where a request for the sandbox goes: the agent's socket as a path to connect to (written to
 * path, "/proc/self/fd/N": the socket file opened without following a symlink, since the
 * directory is the sandbox's to write) and the Authorization value. Returns the fd N, which the
 * caller closes once connected, or -EBUSY with err when the sandbox is not running ("sandbox is
 * paused" — with auto_resume it is resumed first —, "sandbox is being created", "sandbox is in
 * error: …"), -EMFILE with SANDBOX_MAX_INFLIGHT requests in flight, -ECONNREFUSED when there is
 * no socket. While a proxied request runs, the
 * time-to-live does not expire: sbmgr_request_begin / sbmgr_request_end(id) bracket it (end by
 * id: the sandbox may be gone by then). */
int sandbox_upstream(struct sbmgr *m, struct sandbox *sb, char *path, size_t path_len,
                     const char **authorization, struct sp_err *err);
void sbmgr_request_begin(struct sbmgr *m, struct sandbox *sb);
void sbmgr_request_end(struct sbmgr *m, const char *id);

const char *sandbox_id(const struct sandbox *sb);
const char *sandbox_name(const struct sandbox *sb);
enum sandbox_state sandbox_state(const struct sandbox *sb);
const char *sandbox_state_name(enum sandbox_state s);
pid_t sandbox_pid(const struct sandbox *sb);
uint64_t sandbox_created_ms(const struct sandbox *sb);
/* The container id Docker clients see (the agent's: the sandbox id and 48 more hex digits). */
const char *sandbox_docker_id(const struct sandbox *sb);
/* By Docker reference: the name ("/name" too), the id, or a unique prefix of the Docker id. */
struct sandbox *sbmgr_find_docker(struct sbmgr *m, const char *ref);
/* The sandboxes in creation order, for iteration (NULL past the end). */
struct sandbox *sbmgr_at(struct sbmgr *m, size_t i);

/* Volumes: named directories under <write dir>/volumes. */
json_t *sbmgr_volumes_json(struct sbmgr *m);
/* 0 and the volume's JSON in *out, -EEXIST, -EINVAL (bad name). */
int sbmgr_volume_create(struct sbmgr *m, const char *name, json_t **out, struct sp_err *err);
/* -ENOENT, -EBUSY while a sandbox mounts it. */
int sbmgr_volume_delete(struct sbmgr *m, const char *name, struct sp_err *err);

/* The helper process: argv = {"_sandbox", "create"|"destroy"|"pause", DIR} or {"_sandbox",
 * "rm", PATH}. Returns the exit code. */
int sandbox_helper_main(int argc, char **argv);

#endif
