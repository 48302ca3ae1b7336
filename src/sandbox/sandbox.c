/* SPDX-License-Identifier: MIT */
/* The sandbox manager: records, state, helpers, adoption, TTL and volumes (sandbox.h). */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../base/str.h"
#include "../base/time.h"
#include "../container/container.h"
#include "../os/spawn.h"
#include "sbspec.h"

#define TTL_TICK_MS     250
#define TTL_RETRY_MS    10000
#define UNPACK_MAX_MS   (30 * 60 * 1000) /* an image unpack may extend a create this long */
#define DESTROY_TIMEOUT 60000
#define PAUSE_TIMEOUT   30000

struct sbop {
    struct sbmgr *m;
    struct sandbox *sb;
    sbmgr_done_fn done;
    void *ud;
    bool detached;
    bool creating; /* a create (or the cleanup of a failed one) */
    pid_t pid;     /* the helper */
    struct loop_timer deadline;
    uint64_t started_mono;
    uint64_t timeout_ms;
    bool timed_out;
    bool unpacking; /* the deadline found the create unpacking an image */
    int fail_r;     /* a failed create: its error, reported once the cleanup is over */
    struct sp_err fail_err;
};

struct sandbox {
    struct sbmgr *m;
    char id[SANDBOX_ID_LEN + 1];
    char *name;
    enum sandbox_state state;
    json_t *spec;  /* normalised (sbspec) */
    json_t *binds; /* [{"host", "target", "readonly", "file", "idmap"}]: for the helper */
    uint64_t created_ms, last_active_ms; /* wall clock */
    uint64_t active_mono;                /* sp_now_ms() of the last activity */
    pid_t pid;
    int pidfd;
    struct loop_io pidio;
    char error[512];
    char docker_id[65];
    char *image_digest;
    char *lower;
    bool lower_unknown; /* an unreadable record: it may hold any image */
    char dir[PATH_MAX + 32];
    int run_fd;     /* O_PATH of <dir>/run while the agent runs, or -1 */
    char token[65]; /* the agent's API token: made here, never read back from the sandbox */
    char auth[80];
    unsigned inflight;
    uint64_t ttl_retry_mono; /* a failed TTL action is not retried before this */
    json_t *made_volumes;    /* volumes this create made: removed if it fails */
    struct sbop *op;
};

struct sbmgr {
    struct sbmgr_opts o;
    char write_dir[PATH_MAX];
    char sb_dir[PATH_MAX + 16];  /* <write dir>/sandboxes */
    char ct_root[PATH_MAX + 32]; /* <write dir>/sandboxes/.containers */
    char vol_dir[PATH_MAX + 16];
    char self_exe[PATH_MAX];
    struct sandbox **v;
    size_t n, cap;
    struct loop_timer ttl;
    bool gc_pending; /* images_gc waited for a create (or a sandbox of unknown image) to end */
};

const char *sandbox_state_name(enum sandbox_state s)
{
    switch (s) {
    case SB_CREATING: return "creating";
    case SB_RUNNING: return "running";
    case SB_PAUSED: return "paused";
    case SB_ERROR: return "error";
    case SB_DESTROYING: return "destroying";
    }
    return "error";
}

static int state_parse(const char *s, enum sandbox_state *out)
{
    for (int i = SB_CREATING; i <= SB_DESTROYING; i++)
        if (s && strcmp(s, sandbox_state_name(i)) == 0) {
            *out = i;
            return 0;
        }
    return -EINVAL;
}

const char *sandbox_id(const struct sandbox *sb)
{
    return sb->id;
}
const char *sandbox_name(const struct sandbox *sb)
{
    return sb->name;
}
enum sandbox_state sandbox_state(const struct sandbox *sb)
{
    return sb->state;
}
pid_t sandbox_pid(const struct sandbox *sb)
{
    return sb->pid;
}
uint64_t sandbox_created_ms(const struct sandbox *sb)
{
    return sb->created_ms;
}

const char *sandbox_docker_id(const struct sandbox *sb)
{
    return sb->docker_id;
}

struct sandbox *sbmgr_at(struct sbmgr *m, size_t i)
{
    return i < m->n ? m->v[i] : NULL;
}

/* ---- records ---- */

static json_t *record_json(const struct sandbox *sb)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s?, s:s?, s:s?, s:O, s:O}",
                     "token", sb->token, "docker_id", sb->docker_id, "id", sb->id, "name", sb->name,
                     "state", sandbox_state_name(sb->state), "created_ms",
                     (json_int_t)sb->created_ms, "last_active_ms", (json_int_t)sb->last_active_ms,
                     "pid", (json_int_t)sb->pid, "error", sb->error[0] ? sb->error : NULL,
                     "image_digest", sb->image_digest, "lower", sb->lower, "spec", sb->spec,
                     "binds", sb->binds);
}

/* Atomically replaces sandbox.json (no fsync: a record is only useful while its sandbox runs,
 * and a host crash ends those). */
static int save(struct sandbox *sb)
{
    json_t *j = record_json(sb);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) return -ENOMEM;
    char path[2 * PATH_MAX];
    snprintf(path, sizeof(path), "%s/sandbox.json", sb->dir);
    int r = sp_write_file_replace(path, text, strlen(text), 0600);
    if (r < 0) sp_warn("sandbox %s: saving %s: %s", sb->id, path, strerror(-r));
    free(text);
    return r;
}

static void sandbox_free(struct sandbox *sb)
{
    if (!sb) return;
    if (sb->pidfd >= 0) {
        loop_io_stop(sb->m->o.loop, &sb->pidio);
        close(sb->pidfd);
    }
    if (sb->run_fd >= 0) close(sb->run_fd);
    json_decref(sb->made_volumes);
    json_decref(sb->spec);
    json_decref(sb->binds);
    free(sb->name);
    free(sb->image_digest);
    free(sb->lower);
    free(sb);
}

static void list_remove(struct sbmgr *m, struct sandbox *sb)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i] == sb) {
            memmove(m->v + i, m->v + i + 1, (m->n - i - 1) * sizeof(*m->v));
            m->n--;
            return;
        }
}

static int list_add(struct sbmgr *m, struct sandbox *sb)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct sandbox **v = realloc(m->v, cap * sizeof(*v));
        if (!v) return -ENOMEM;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = sb;
    return 0;
}

static struct sandbox *sandbox_alloc(struct sbmgr *m, const char *id)
{
    struct sandbox *sb = calloc(1, sizeof(*sb));
    if (!sb) return NULL;
    sb->m = m;
    sb->pidfd = -1;
    snprintf(sb->id, sizeof(sb->id), "%s", id);
    snprintf(sb->dir, sizeof(sb->dir), "%s/%s", m->sb_dir, id);
    sb->run_fd = -1;
    return sb;
}

/* ---- the agent ---- */

static void set_error(struct sandbox *sb, const char *fmt, ...) SP_PRINTF(2, 3);
static void set_error(struct sandbox *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sb->error, sizeof(sb->error), fmt, ap);
    va_end(ap);
    sb->state = SB_ERROR;
    sp_warn("sandbox %s (%s): %s", sb->id, sb->name, sb->error);
    save(sb);
}

static void unwatch_agent(struct sandbox *sb)
{
    if (sb->pidfd < 0) return;
    loop_io_stop(sb->m->o.loop, &sb->pidio);
    close(sb->pidfd);
    sb->pidfd = -1;
}

static void on_agent_exit(struct loop_io *io, uint32_t events)
{
    (void)events;
    struct sandbox *sb = SP_CONTAINER_OF(io, struct sandbox, pidio);
    unwatch_agent(sb);
    set_error(sb, "agent (pid %d) exited", (int)sb->pid);
}

static int watch_agent(struct sandbox *sb)
{
    int fd = (int)syscall(SYS_pidfd_open, sb->pid, 0);
    if (fd < 0) return -errno;
    /* pidfds are close-on-exec from the kernel */
    sb->pidfd = fd;
    loop_io_init(&sb->pidio, fd, on_agent_exit);
    int r = loop_io_start(sb->m->o.loop, &sb->pidio, EPOLLIN);
    if (r < 0) {
        close(fd);
        sb->pidfd = -1;
    }
    return r;
}

/* <dir>/run, which the sandbox sees as /.sprite/run: the agent's socket is in it. Only ever
 * opened without following symlinks, and nothing is read back from it. */
static int open_run_dir(struct sandbox *sb)
{
    if (sb->run_fd >= 0) return 0;
    char path[2 * PATH_MAX];
    snprintf(path, sizeof(path), "%s/run", sb->dir);
    sb->run_fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return sb->run_fd < 0 ? -errno : 0;
}

static bool is_hex(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* The agent's token and Docker container id (the sandbox id then random digits: every exec id
 * the agent makes starts with it), made here and kept in the record; the helper hands them to
 * the agent. */
static int make_secrets(struct sandbox *sb)
{
    unsigned char b[32 + 24];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) return -EIO;
    sp_hex_encode(b, 32, sb->token);
    sb->token[64] = 0;
    memcpy(sb->docker_id, sb->id, SANDBOX_ID_LEN);
    sp_hex_encode(b + 32, 24, sb->docker_id + SANDBOX_ID_LEN);
    sb->docker_id[64] = 0;
    snprintf(sb->auth, sizeof(sb->auth), "Bearer %s", sb->token);
    return 0;
}

struct sandbox *sbmgr_find_docker(struct sbmgr *m, const char *ref)
{
    if (ref[0] == '/') ref++;
    struct sandbox *sb = sbmgr_find(m, ref);
    if (sb || !*ref) return sb;
    size_t n = strlen(ref);
    for (size_t i = 0; i < m->n; i++)
        if (n <= 64 && strncmp(m->v[i]->docker_id, ref, n) == 0) {
            if (sb) return NULL; /* ambiguous */
            sb = m->v[i];
        }
    return sb;
}

/* ---- operations ---- */

static void ttl_arm(struct sbmgr *m);
static void remove_made_volumes(struct sandbox *sb);
static bool volume_in_use(struct sbmgr *m, const char *name);
static void remove_in_background(struct sbmgr *m, const char *path);
static void images_gc(struct sbmgr *m);
static void image_touch(const char *lower);

static void op_finish(struct sbop *op, struct sandbox *sb, int r, const struct sp_err *err)
{
    struct sbmgr *m = op->m;
    loop_timer_stop(m->o.loop, &op->deadline);
    if (op->sb && op->sb->op == op) op->sb->op = NULL;
    if (!op->detached && op->done) op->done(op->ud, sb, r, err);
    free(op);
    if (m->gc_pending) images_gc(m); /* a collection waited for this (a create's) end */
}

static void on_deadline(struct loop_timer *t)
{
    struct sbop *op = SP_CONTAINER_OF(t, struct sbop, deadline);
    /* unpacking an image is not what create_timeout is about: it gets more time, up to a bound */
    char path[2 * PATH_MAX];
    snprintf(path, sizeof(path), "%s/.unpacking", op->sb->dir);
    if (op->creating && access(path, F_OK) == 0 && sp_now_ms() - op->started_mono < UNPACK_MAX_MS) {
        op->unpacking = true; /* look again in a second */
        loop_timer_start(op->m->o.loop, &op->deadline, 1000);
        return;
    }
    if (op->unpacking) { /* the unpack is over: the rest of the create gets its whole time */
        op->unpacking = false;
        loop_timer_start(op->m->o.loop, &op->deadline, op->timeout_ms);
        return;
    }
    sp_warn("sandbox %s: helper %d timed out; killing it", op->sb->id, (int)op->pid);
    op->timed_out = true;
    kill(op->pid, SIGKILL);
}

static int start_helper(struct sbop *op, const char *what, uint64_t timeout_ms,
                        void (*on_exit)(void *, pid_t, int), struct sp_err *err)
{
    struct sbmgr *m = op->m;
    char ppid[24];
    snprintf(ppid, sizeof(ppid), "%d", (int)getpid());
    char *argv[] = {m->self_exe, "_sandbox", (char *)what, op->sb->dir, ppid, NULL};
    struct spawn_opts so = {.argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    int r = spawn(&so, &op->pid, err);
    if (r < 0) return r;
    if ((r = reaper_watch(m->o.reaper, op->pid, on_exit, op)) < 0) {
        kill(op->pid, SIGKILL);
        return sp_err_set(err, r, "watching the sandbox helper: %s", strerror(-r));
    }
    loop_timer_init(&op->deadline, on_deadline);
    loop_timer_start(m->o.loop, &op->deadline, timeout_ms);
    op->started_mono = sp_now_ms();
    op->timeout_ms = timeout_ms;
    op->timed_out = op->unpacking = false;
    return 0;
}

/* A helper's result file: {"error": "...", "errno": N} or the create's facts. */
static json_t *read_result(struct sandbox *sb, const char *name)
{
    char path[2 * PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", sb->dir, name);
    json_error_t je;
    return json_load_file(path, 0, &je);
}

static void on_destroy_exit(void *owner, pid_t pid, int status)
{
    (void)pid;
    struct sbop *op = owner;
    struct sbmgr *m = op->m;
    struct sandbox *sb = op->sb;
    struct sp_err e = {0};
    int r = 0;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        /* what could not be removed stays listed, in error, for another DELETE */
        json_t *res = read_result(sb, "destroy.out");
        const char *msg = json_string_value(json_object_get(res, "error"));
        r = sp_err_set(&e, -EIO, "destroying sandbox %s: %s", sb->id,
                       msg ? msg : "the helper failed");
        json_decref(res);
        set_error(sb, "%s", e.msg);
        if (op->fail_r) { /* the cleanup of a failed create: report the create's error */
            r = op->fail_r;
            e = op->fail_err;
        }
        op_finish(op, NULL, r, &e);
        return;
    }
    list_remove(m, sb);
    if (op->fail_r) {
        r = op->fail_r;
        e = op->fail_err;
        remove_made_volumes(sb);
    }
    op_finish(op, NULL, r, &e);
    sandbox_free(sb);
    images_gc(m);
}

/* Volumes a failed create made are removed if nothing was written in them. */
static void remove_made_volumes(struct sandbox *sb)
{
    size_t i;
    json_t *v;
    json_array_foreach(sb->made_volumes, i, v)
    {
        if (volume_in_use(sb->m, json_string_value(v))) continue; /* another sandbox's now */
        char path[2 * PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", sb->m->vol_dir, json_string_value(v));
        rmdir(path);
    }
}

/* Starts the destroy helper for op->sb (op is a new destroy, or a failed create's, which then
 * reports its error once the cleanup is over). */
static int destroy_with(struct sbop *op, struct sp_err *err)
{
    struct sandbox *sb = op->sb;
    unwatch_agent(sb);
    op->creating = false; /* a failed create's cleanup is a destroy like any other */
    enum sandbox_state was = sb->state;
    sb->state = SB_DESTROYING;
    save(sb); /* before the helper starts removing the directory, never after */
    int r = start_helper(op, "destroy", DESTROY_TIMEOUT, on_destroy_exit, err);
    if (r < 0) {
        sb->state = was;
        save(sb);
        return r;
    }
    sb->op = op;
    return 0;
}

static int destroy_start(struct sbmgr *m, struct sandbox *sb, sbmgr_done_fn done, void *ud,
                         struct sbop **out, struct sp_err *err)
{
    struct sbop *op = calloc(1, sizeof(*op));
    if (!op) return sp_err_set(err, -ENOMEM, "out of memory");
    *op = (struct sbop){.m = m, .sb = sb, .done = done, .ud = ud};
    int r = destroy_with(op, err);
    if (r < 0) {
        free(op);
        return r;
    }
    if (out) *out = op;
    return 0;
}

static void on_create_exit(void *owner, pid_t pid, int status)
{
    (void)pid;
    struct sbop *op = owner;
    struct sbmgr *m = op->m;
    struct sandbox *sb = op->sb;
    json_t *res = read_result(sb, "create.out");
    struct sp_err e = {0};
    int r;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
        json_is_integer(json_object_get(res, "pid"))) {
        sb->pid = (pid_t)json_integer_value(json_object_get(res, "pid"));
        free(sb->lower);
        free(sb->image_digest);
        const char *lower = json_string_value(json_object_get(res, "lower"));
        const char *dg = json_string_value(json_object_get(res, "image_digest"));
        sb->lower = lower ? strdup(lower) : NULL;
        sb->image_digest = dg ? strdup(dg) : NULL;
        json_decref(res);
        if (dg) image_touch(sb->lower);
        if ((r = open_run_dir(sb)) < 0)
            sp_err_set(&e, r, "the sandbox's run directory: %s", strerror(-r));
        else if ((r = watch_agent(sb)) < 0)
            sp_err_set(&e, r, "the agent (pid %d) is gone: %s", (int)sb->pid, strerror(-r));
        if (r == 0) {
            sb->state = SB_RUNNING;
            sb->last_active_ms = sp_wall_ms();
            sb->active_mono = sp_now_ms();
            save(sb);
            sp_info("sandbox %s (%s) running, agent pid %d", sb->id, sb->name, (int)sb->pid);
            op_finish(op, sb, 0, NULL);
            ttl_arm(m);
            return;
        }
    } else {
        const char *msg = json_string_value(json_object_get(res, "error"));
        json_int_t en = json_integer_value(json_object_get(res, "errno"));
        /* the helper says whose fault it is: the request's (EINVAL, ENOTSUP), the agent's
         * (ECHILD, ETIMEDOUT), or ours (anything else) */
        int code =
            (en == EINVAL || en == ENOTSUP || en == ECHILD || en == ETIMEDOUT) ? -(int)en : -EIO;
        if (msg)
            r = sp_err_set(&e, code, "%s", msg);
        else if (op->timed_out)
            r = sp_err_set(&e, -ETIMEDOUT, "creating the sandbox took longer than %llu ms",
                           (unsigned long long)m->o.create_timeout_ms);
        else if (WIFSIGNALED(status))
            r = sp_err_set(&e, -EIO, "the sandbox helper was killed by signal %d",
                           WTERMSIG(status));
        else
            r = sp_err_set(&e, -EIO, "the sandbox helper failed (status %d)",
                           reaper_status_code(status));
        json_decref(res);
    }
    /* undo everything, then report */
    loop_timer_stop(m->o.loop, &op->deadline);
    op->fail_r = r;
    op->fail_err = e;
    struct sp_err de = {0};
    if (destroy_with(op, &de) < 0) {
        sp_warn("sandbox %s: %s", sb->id, de.msg);
        set_error(sb, "%s", e.msg);
        op_finish(op, NULL, r, &e);
    }
}

void sbop_detach(struct sbop *op)
{
    if (op) op->detached = true;
}

/* ---- create ---- */

static int random_id(char out[SANDBOX_ID_LEN + 1])
{
    unsigned char b[SANDBOX_ID_LEN / 2];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) return -errno;
    sp_hex_encode(b, sizeof(b), out);
    out[SANDBOX_ID_LEN] = 0;
    return 0;
}

static bool volume_in_use(struct sbmgr *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++) {
        json_t *mounts = json_object_get(m->v[i]->spec, "mounts"), *mt;
        size_t k;
        json_array_foreach(mounts, k, mt)
        {
            if (strcmp(json_string_value(json_object_get(mt, "type")) ?: "", "volume") == 0 &&
                strcmp(json_string_value(json_object_get(mt, "source")) ?: "", name) == 0)
                return true;
        }
    }
    return false;
}

/* Resolves each mount's host side (volumes created when missing, subpaths inside their source)
 * into the binds list the helper mounts. */
static int resolve_mounts(struct sbmgr *m, json_t *spec, json_t **out, json_t *made,
                          struct sp_err *err)
{
    json_t *binds = json_array(), *mt;
    size_t i;
    if (!binds) return sp_err_set(err, -ENOMEM, "out of memory");
    json_array_foreach(json_object_get(spec, "mounts"), i, mt)
    {
        const char *type = json_string_value(json_object_get(mt, "type"));
        const char *source = json_string_value(json_object_get(mt, "source"));
        const char *subpath = json_string_value(json_object_get(mt, "subpath"));
        const char *ft = json_string_value(json_object_get(mt, "filetype"));
        char base[2 * PATH_MAX], want[3 * PATH_MAX], real[PATH_MAX];
        if (strcmp(type, "volume") == 0) {
            snprintf(base, sizeof(base), "%s/%s", m->vol_dir, source);
            if (mkdir(base, 0755) == 0)
                json_array_append_new(made, json_string(source));
            else if (errno != EEXIST) {
                json_decref(binds);
                return sp_err_set(err, -errno, "mounts[%zu]: creating volume %s: %s", i, source,
                                  strerror(errno));
            }
        } else if (!realpath(source, base)) {
            json_decref(binds);
            return sp_err_set(err, -EINVAL, "mounts[%zu].source: %s: %s", i, source,
                              strerror(errno));
        }
        if (subpath)
            snprintf(want, sizeof(want), "%s/%s", base, subpath);
        else
            snprintf(want, sizeof(want), "%s", base);
        if (!realpath(want, real)) {
            json_decref(binds);
            return sp_err_set(err, -EINVAL, "mounts[%zu].subpath: %s: %s", i, subpath ?: "",
                              strerror(errno));
        }
        size_t bl = strlen(base);
        if (subpath && !(strncmp(real, base, bl) == 0 && (real[bl] == '/' || real[bl] == 0))) {
            json_decref(binds);
            return sp_err_set(err, -EINVAL, "mounts[%zu].subpath: %s leads out of the source", i,
                              subpath);
        }
        struct stat st;
        if (stat(real, &st) < 0) {
            json_decref(binds);
            return sp_err_set(err, -EINVAL, "mounts[%zu]: %s: %s", i, real, strerror(errno));
        }
        bool is_dir = S_ISDIR(st.st_mode);
        if ((strcmp(ft, "file") == 0 && is_dir) || (strcmp(ft, "directory") == 0 && !is_dir)) {
            json_decref(binds);
            return sp_err_set(err, -EINVAL, "mounts[%zu].filetype: %s is %s a directory", i, real,
                              is_dir ? "" : "not");
        }
        json_t *b =
            /* with a subpath, the container resolves it again inside the source when it mounts
             * (a volume's content is another sandbox's to change meanwhile) */
            json_pack("{s:s, s:s?, s:O, s:O, s:b, s:O}", "host", subpath ? base : real, "subpath",
                      subpath, "target", json_object_get(mt, "target"), "readonly",
                      json_object_get(mt, "readonly"), "file", !is_dir, "idmap",
                      json_object_get(mt, "idmap"));
        if (!b || json_array_append_new(binds, b) < 0) {
            json_decref(binds);
            return sp_err_set(err, -ENOMEM, "out of memory");
        }
    }
    *out = binds;
    return 0;
}

int sbmgr_create(struct sbmgr *m, json_t *spec, sbmgr_done_fn done, void *ud, struct sbop **opp,
                 struct sp_err *err)
{
    if (geteuid() != 0) return sp_err_set(err, -EPERM, "sandboxes need the daemon to run as root");
    if (m->n >= m->o.max)
        return sp_err_set(err, -EAGAIN, "too many sandboxes (sandboxes.max is %u)", m->o.max);
    const char *name = json_string_value(json_object_get(spec, "name"));
    if (name && sbmgr_find(m, name))
        return sp_err_set(err, -EEXIST, "a sandbox named %s exists", name);
    const char *rootfs = json_string_value(json_object_get(spec, "rootfs"));
    const char *image = json_string_value(json_object_get(spec, "image"));
    struct stat st;
    if (rootfs && stat(rootfs, &st) < 0)
        return sp_err_set(err, -EINVAL, "rootfs: %s: %s", rootfs, strerror(errno));
    if (rootfs && !S_ISDIR(st.st_mode))
        return sp_err_set(err, -EINVAL, "rootfs: %s is not a directory", rootfs);
    char real[PATH_MAX];
    if (rootfs && realpath(rootfs, real) && strpbrk(real, ",:\\"))
        return sp_err_set(err, -EINVAL,
                          "rootfs: %s: an overlay's lower layer cannot have ',', ':' or '\\' in "
                          "its path",
                          real);
    if (image && stat(image, &st) < 0)
        return sp_err_set(err, -EINVAL, "image: %s: %s", image, strerror(errno));

    char id[SANDBOX_ID_LEN + 1];
    int r = random_id(id);
    if (r < 0) return sp_err_set(err, r, "random id: %s", strerror(-r));
    if (name && sbmgr_find(m, id)) return sp_err_set(err, -EEXIST, "id collision, try again");
    json_t *binds = NULL, *made = json_array();
    if (!made) return sp_err_set(err, -ENOMEM, "out of memory");
    if ((r = resolve_mounts(m, spec, &binds, made, err)) < 0) {
        size_t i;
        json_t *v;
        json_array_foreach(made, i, v)
        {
            char path[2 * PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", m->vol_dir, json_string_value(v));
            rmdir(path);
        }
        json_decref(made);
        return r;
    }

    struct sandbox *sb = sandbox_alloc(m, id);
    struct sbop *op = calloc(1, sizeof(*op));
    if (!sb || !op || !(sb->name = strdup(name ? name : id)) || list_add(m, sb) < 0) {
        json_decref(binds);
        json_decref(made);
        sandbox_free(sb);
        free(op);
        return sp_err_set(err, -ENOMEM, "out of memory");
    }
    sb->spec = json_incref(spec);
    sb->binds = binds;
    sb->made_volumes = made;
    sb->state = SB_CREATING;
    sb->created_ms = sb->last_active_ms = sp_wall_ms();
    sb->active_mono = sp_now_ms();
    char run[2 * PATH_MAX];
    snprintf(run, sizeof(run), "%s/run/state", sb->dir);
    if ((r = make_secrets(sb)) < 0 || (r = sp_mkdir_p(run, 0700)) < 0 || (r = save(sb)) < 0) {
        sp_err_set(err, r, "creating %s: %s", sb->dir, strerror(-r));
        goto fail;
    }
    *op = (struct sbop){.m = m, .sb = sb, .done = done, .ud = ud, .creating = true};
    if ((r = start_helper(op, "create", m->o.create_timeout_ms, on_create_exit, err)) < 0)
        goto fail;
    sb->op = op;
    if (opp) *opp = op;
    return 0;
fail:
    list_remove(m, sb);
    remove_made_volumes(sb);
    sp_rm_rf(sb->dir);
    sandbox_free(sb);
    free(op);
    return r;
}

int sbmgr_destroy(struct sbmgr *m, struct sandbox *sb, sbmgr_done_fn done, void *ud,
                  struct sbop **op, struct sp_err *err)
{
    if (sb->state == SB_CREATING || sb->state == SB_DESTROYING)
        return sp_err_set(err, -EBUSY, "sandbox %s is %s", sb->id,
                          sb->state == SB_CREATING ? "being created" : "being destroyed");
    if (sb->op) return sp_err_set(err, -EBUSY, "sandbox %s is being paused", sb->id);
    return destroy_start(m, sb, done, ud, op, err);
}

static void on_pause_exit(void *owner, pid_t pid, int status)
{
    (void)pid;
    struct sbop *op = owner;
    struct sandbox *sb = op->sb;
    struct sp_err e = {0}, te = {0};
    int r = 0;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok && sb->state != SB_RUNNING) { /* the agent died meanwhile: it stays in error */
        r = sp_err_set(&e, -EBUSY, "sandbox %s is %s", sb->id, sandbox_state_name(sb->state));
    } else if (ok && !op->done && (sb->inflight || sb->active_mono > op->started_mono)) {
        /* a time-to-live pause that activity overtook: undone */
        if (container_thaw(op->m->ct_root, sb->id, &te) < 0)
            sp_warn("sandbox %s: %s", sb->id, te.msg);
    } else if (ok) {
        sb->state = SB_PAUSED;
        save(sb);
    } else {
        /* a freeze left half done (helper killed, freezer stuck) is undone */
        if (container_thaw(op->m->ct_root, sb->id, &te) < 0)
            sp_warn("sandbox %s: %s", sb->id, te.msg);
        json_t *res = read_result(sb, "pause.out");
        const char *msg = json_string_value(json_object_get(res, "error"));
        r = sp_err_set(&e, -EIO, "pausing sandbox %s: %s", sb->id,
                       msg             ? msg
                       : op->timed_out ? "the freezer did not settle"
                                       : "the helper failed");
        json_decref(res);
        sp_warn("%s", e.msg);
    }
    op_finish(op, sb, r, &e);
}

int sbmgr_pause(struct sbmgr *m, struct sandbox *sb, sbmgr_done_fn done, void *ud,
                struct sbop **opp, struct sp_err *err)
{
    if (opp) *opp = NULL;
    if (sb->state == SB_PAUSED) return 0;
    if (sb->state != SB_RUNNING)
        return sp_err_set(err, -EBUSY, "sandbox %s is %s", sb->id, sandbox_state_name(sb->state));
    if (sb->op) return sp_err_set(err, -EBUSY, "sandbox %s is being paused", sb->id);
    struct sbop *op = calloc(1, sizeof(*op));
    if (!op) return sp_err_set(err, -ENOMEM, "out of memory");
    *op = (struct sbop){.m = m, .sb = sb, .done = done, .ud = ud};
    int r = start_helper(op, "pause", PAUSE_TIMEOUT, on_pause_exit, err);
    if (r < 0) {
        free(op);
        return r;
    }
    sb->op = op;
    if (opp) *opp = op;
    return 0;
}

int sbmgr_resume(struct sbmgr *m, struct sandbox *sb, struct sp_err *err)
{
    if (sb->state == SB_RUNNING && !sb->op) return 0;
    if (sb->state != SB_PAUSED || sb->op)
        return sp_err_set(err, -EBUSY, "sandbox %s is %s", sb->id,
                          sb->op ? "being paused" : sandbox_state_name(sb->state));
    struct sp_err e = {0};
    if (container_thaw(m->ct_root, sb->id, &e) < 0)
        return sp_err_set(err, -EIO, "resuming sandbox %s: %s", sb->id, e.msg);
    sb->state = SB_RUNNING;
    sb->ttl_retry_mono = 0;
    sandbox_touch(m, sb);
    ttl_arm(m);
    save(sb);
    return 0;
}

struct sandbox *sbmgr_find(struct sbmgr *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i]->id, key) == 0) return m->v[i];
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i]->name, key) == 0) return m->v[i];
    return NULL;
}

/* The kernel's count of OOM kills in the sandbox's memory cgroup (v1 memory.oom_control, v2
 * memory.events); 0 when unknown. */
static long long oom_kills(const struct sandbox *sb)
{
    char paths[2][256], buf[1024];
    snprintf(paths[0], sizeof(paths[0]),
             "/sys/fs/cgroup/memory/sprite-sandboxes/%s/memory.oom_control", sb->id);
    snprintf(paths[1], sizeof(paths[1]), "/sys/fs/cgroup/sprite-sandboxes/%s/memory.events",
             sb->id);
    for (size_t i = 0; i < 2; i++) {
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = sp_read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = 0;
        const char *p = strstr(buf, "oom_kill ");
        if (p) return strtoll(p + 9, NULL, 10);
    }
    return 0;
}

json_t *sandbox_json(const struct sandbox *sb)
{
    char created[64], active[64];
    sp_time_rfc3339_ms(sb->created_ms, created, sizeof(created));
    sp_time_rfc3339_ms(sb->last_active_ms, active, sizeof(active));
    json_t *s = sb->spec;
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:s?, s:I, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, "
        "s:O, s:O, s:I, s:s?}",
        "id", sb->id, "name", sb->name, "state", sandbox_state_name(sb->state), "created_at",
        created, "last_active_at", active, "rootfs", json_object_get(s, "rootfs"), "image",
        json_object_get(s, "image"), "image_digest", sb->image_digest, "pid", (json_int_t)sb->pid,
        "mounts", json_object_get(s, "mounts"), "env", json_object_get(s, "env"), "user",
        json_object_get(s, "user"), "workdir", json_object_get(s, "workdir"), "hostname",
        json_object_get(s, "hostname"), "network", json_object_get(s, "network"), "resources",
        json_object_get(s, "resources"), "ttl_sec", json_object_get(s, "ttl_sec"), "on_ttl",
        json_object_get(s, "on_ttl"), "labels", json_object_get(s, "labels"), "oom_kills",
        (json_int_t)oom_kills(sb), "error", sb->error[0] ? sb->error : NULL);
    if (j && !sb->image_digest) json_object_set_new(j, "image_digest", json_null());
    if (j && !sb->error[0]) json_object_set_new(j, "error", json_null());
    if (j && json_is_null(json_object_get(s, "hostname")))
        json_object_set_new(j, "hostname", json_string(sb->name));
    return j;
}

json_t *sbmgr_list_json(struct sbmgr *m)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < m->n; i++)
        if (json_array_append_new(a, sandbox_json(m->v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ---- activity and TTL ---- */

void sandbox_touch(struct sbmgr *m, struct sandbox *sb)
{
    (void)m;
    sb->last_active_ms = sp_wall_ms();
    sb->active_mono = sp_now_ms();
}

void sbmgr_request_begin(struct sbmgr *m, struct sandbox *sb)
{
    sb->inflight++;
    sandbox_touch(m, sb);
}

void sbmgr_request_end(struct sbmgr *m, const char *id)
{
    struct sandbox *sb = sbmgr_find(m, id);
    if (!sb || strcmp(sb->id, id) != 0) return;
    if (sb->inflight) sb->inflight--;
    sandbox_touch(m, sb);
}

static void on_ttl(struct loop_timer *t)
{
    struct sbmgr *m = SP_CONTAINER_OF(t, struct sbmgr, ttl);
    uint64_t now = sp_now_ms();
    for (size_t i = 0; i < m->n;) {
        struct sandbox *sb = m->v[i++];
        json_int_t ttl = json_integer_value(json_object_get(sb->spec, "ttl_sec"));
        if (ttl <= 0 || sb->state != SB_RUNNING || sb->inflight || sb->op ||
            now - sb->active_mono < (uint64_t)ttl * 1000 || now < sb->ttl_retry_mono)
            continue;
        sb->ttl_retry_mono = now + TTL_RETRY_MS;
        const char *what = json_string_value(json_object_get(sb->spec, "on_ttl"));
        struct sp_err e = {0};
        if (what && strcmp(what, "destroy") == 0) {
            sp_info("sandbox %s (%s): idle for %llds, destroying it", sb->id, sb->name,
                    (long long)ttl);
            if (sbmgr_destroy(m, sb, NULL, NULL, NULL, &e) < 0)
                sp_warn("sandbox %s: %s", sb->id, e.msg);
        } else {
            sp_info("sandbox %s (%s): idle for %llds, pausing it", sb->id, sb->name,
                    (long long)ttl);
            if (sbmgr_pause(m, sb, NULL, NULL, NULL, &e) < 0)
                sp_warn("sandbox %s: %s", sb->id, e.msg);
        }
    }
    ttl_arm(m);
}

static void ttl_arm(struct sbmgr *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (json_integer_value(json_object_get(m->v[i]->spec, "ttl_sec")) > 0 &&
            m->v[i]->state == SB_RUNNING) {
            if (!loop_timer_armed(&m->ttl)) loop_timer_start(m->o.loop, &m->ttl, TTL_TICK_MS);
            return;
        }
}

/* ---- the proxy's side ---- */

int sandbox_upstream(struct sbmgr *m, struct sandbox *sb, char *path, size_t path_len,
                     const char **authorization, struct sp_err *err)
{
    if (sb->state == SB_PAUSED && m->o.auto_resume) {
        int r = sbmgr_resume(m, sb, err);
        if (r < 0) return r;
    }
    if (sb->op && sb->state == SB_RUNNING) /* never to an agent being frozen */
        return sp_err_set(err, -EBUSY, "sandbox is being paused");
    switch (sb->state) {
    case SB_RUNNING: break;
    case SB_PAUSED: return sp_err_set(err, -EBUSY, "sandbox is paused");
    case SB_CREATING: return sp_err_set(err, -EBUSY, "sandbox is being created");
    case SB_DESTROYING: return sp_err_set(err, -EBUSY, "sandbox is being destroyed");
    case SB_ERROR: return sp_err_set(err, -EBUSY, "sandbox is in error: %s", sb->error);
    }
    if (sb->inflight >= SANDBOX_MAX_INFLIGHT)
        return sp_err_set(err, -EMFILE, "sandbox %s has %u requests in flight; try again later",
                          sb->id, sb->inflight);
    /* the socket file as it is, never a symlink the sandbox put there */
    errno = EBADF;
    int fd = sb->run_fd < 0 ? -1 : openat(sb->run_fd, "api.sock", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))) {
        close(fd);
        fd = -1;
        errno = ENOTSOCK;
    }
    if (fd < 0) return sp_err_set(err, -ECONNREFUSED, "the agent's socket: %s", strerror(errno));
    snprintf(path, path_len, "/proc/self/fd/%d", fd);
    *authorization = sb->auth;
    return fd;
}

/* ---- volumes ---- */

static json_t *volume_json(struct sbmgr *m, const char *name)
{
    char path[2 * PATH_MAX], created[64];
    snprintf(path, sizeof(path), "%s/%s", m->vol_dir, name);
    struct stat st;
    uint64_t ms = stat(path, &st) == 0 ? (uint64_t)st.st_mtim.tv_sec * 1000 : 0;
    sp_time_rfc3339_ms(ms, created, sizeof(created));
    return json_pack("{s:s, s:s, s:s}", "name", name, "path", path, "created_at", created);
}

static void on_rm_exit(void *owner, pid_t pid, int status)
{
    (void)owner, (void)pid;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        sp_warn("a background removal failed (status %d)", reaper_status_code(status));
}

/* rm -rf in a helper process; what it could not remove is removed at the next start. */
static void remove_in_background(struct sbmgr *m, const char *path)
{
    char ppid[24];
    snprintf(ppid, sizeof(ppid), "%d", (int)getpid());
    char *argv[] = {m->self_exe, "_sandbox", "rm", (char *)path, ppid, NULL};
    struct spawn_opts so = {.argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    struct sp_err e = {0};
    pid_t pid;
    if (spawn(&so, &pid, &e) < 0) {
        sp_warn("removing %s: %s", path, e.msg);
        return;
    }
    if (reaper_watch(m->o.reaper, pid, on_rm_exit, NULL) < 0) sp_warn("watching pid %d", (int)pid);
}

json_t *sbmgr_volumes_json(struct sbmgr *m)
{
    json_t *a = json_array();
    DIR *d = opendir(m->vol_dir);
    if (!d) return a;
    char **names = NULL;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && sbspec_volume_name_ok(de->d_name))
            sp_strv_push(&names, de->d_name);
    closedir(d);
    size_t n = sp_strv_len(names);
    for (size_t i = 0; i + 1 < n; i++) /* few volumes: a simple sort */
        for (size_t k = i + 1; k < n; k++)
            if (strcmp(names[i], names[k]) > 0) {
                char *t = names[i];
                names[i] = names[k];
                names[k] = t;
            }
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, volume_json(m, names[i]));
    sp_strv_free(names);
    return a;
}

int sbmgr_volume_create(struct sbmgr *m, const char *name, json_t **out, struct sp_err *err)
{
    if (!sbspec_volume_name_ok(name))
        return sp_err_set(err, -EINVAL,
                          "name: a volume name is [a-zA-Z0-9][a-zA-Z0-9_.-]*, 1 to 64 characters");
    char path[2 * PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", m->vol_dir, name);
    if (mkdir(path, 0755) < 0) {
        if (errno == EEXIST) return sp_err_set(err, -EEXIST, "volume %s exists", name);
        return sp_err_set(err, -errno, "creating volume %s: %s", name, strerror(errno));
    }
    *out = volume_json(m, name);
    return 0;
}

int sbmgr_volume_delete(struct sbmgr *m, const char *name, struct sp_err *err)
{
    if (!sbspec_volume_name_ok(name)) return sp_err_set(err, -ENOENT, "no volume %s", name);
    char path[2 * PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", m->vol_dir, name);
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return sp_err_set(err, -ENOENT, "no volume %s", name);
    if (volume_in_use(m, name))
        return sp_err_set(err, -EBUSY, "volume %s is mounted by a sandbox", name);
    /* the name is free at once; the content (any size) goes in a helper, off the loop */
    char trash[2 * PATH_MAX], hex[17];
    unsigned char b[8];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) memset(b, 0, sizeof(b));
    sp_hex_encode(b, sizeof(b), hex);
    hex[16] = 0;
    snprintf(trash, sizeof(trash), "%s/.trash-%s", m->vol_dir, hex);
    if (rename(path, trash) < 0)
        return sp_err_set(err, -errno, "removing volume %s: %s", name, strerror(errno));
    remove_in_background(m, trash);
    return 0;
}

/* ---- start-up: adoption ---- */

static int cmp_created(const void *a, const void *b)
{
    const struct sandbox *x = *(struct sandbox *const *)a, *y = *(struct sandbox *const *)b;
    return x->created_ms < y->created_ms ? -1 : x->created_ms > y->created_ms;
}

/* A sandbox directory whose record cannot be used: listed in error with a placeholder spec. */
static void adopt_broken(struct sbmgr *m, const char *id, struct sandbox *sb, const char *why)
{
    struct sp_err e = {0};
    json_t *req = json_pack("{s:s}", "rootfs", "/");
    if (!sb) sb = sandbox_alloc(m, id);
    if (!sb || !req || sbspec_parse(req, &sb->spec, &e) < 0 || !(sb->name = strdup(id)) ||
        !(sb->binds = json_array()) || make_secrets(sb) < 0 || list_add(m, sb) < 0) {
        json_decref(req);
        sandbox_free(sb);
        return;
    }
    json_decref(req);
    sb->created_ms = sb->last_active_ms = sp_wall_ms();
    snprintf(sb->error, sizeof(sb->error), "record unreadable after a restart (%.200s): delete it",
             why);
    sb->state = SB_ERROR; /* not saved: the record on disk is left as it was */
    sb->lower_unknown = true;
}

static void adopt_one(struct sbmgr *m, const char *id)
{
    char path[2 * PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/sandbox.json", m->sb_dir, id);
    json_error_t je;
    json_t *rec = json_load_file(path, 0, &je);
    struct sandbox *sb = rec ? sandbox_alloc(m, id) : NULL;
    enum sandbox_state st;
    json_t *spec = NULL;
    struct sp_err e = {0};
    const char *token = json_string_value(json_object_get(rec, "token"));
    const char *docker_id = json_string_value(json_object_get(rec, "docker_id"));
    if (!sb || state_parse(json_string_value(json_object_get(rec, "state")), &st) < 0 ||
        !json_string_value(json_object_get(rec, "name")) || !token || !is_hex(token, 64) ||
        !docker_id || !is_hex(docker_id, 64) || strncmp(docker_id, id, SANDBOX_ID_LEN) != 0 ||
        sbspec_parse(json_object_get(rec, "spec"), &spec, &e) < 0) {
        /* listed in error, so that a DELETE can still destroy what it made */
        sp_warn("sandbox %s: unreadable record %s%s%s", id, path, e.msg[0] ? ": " : "", e.msg);
        json_decref(rec);
        json_decref(spec);
        adopt_broken(m, id, sb, e.msg[0] ? e.msg : "unreadable");
        return;
    }
    memcpy(sb->token, token, 65);
    memcpy(sb->docker_id, docker_id, 65);
    snprintf(sb->auth, sizeof(sb->auth), "Bearer %s", sb->token);
    sb->name = strdup(json_string_value(json_object_get(rec, "name")));
    sb->spec = spec;
    sb->binds = json_incref(json_object_get(rec, "binds"));
    if (!sb->binds) sb->binds = json_array();
    sb->created_ms = (uint64_t)json_integer_value(json_object_get(rec, "created_ms"));
    sb->last_active_ms = sp_wall_ms();
    sb->active_mono = sp_now_ms();
    sb->pid = (pid_t)json_integer_value(json_object_get(rec, "pid"));
    const char *s;
    if ((s = json_string_value(json_object_get(rec, "image_digest")))) sb->image_digest = strdup(s);
    if ((s = json_string_value(json_object_get(rec, "lower")))) sb->lower = strdup(s);
    if ((s = json_string_value(json_object_get(rec, "error"))))
        snprintf(sb->error, sizeof(sb->error), "%s", s);
    json_decref(rec);
    sb->state = st;
    if (!sb->name || list_add(m, sb) < 0) {
        sandbox_free(sb);
        return;
    }
    if (st == SB_CREATING || st == SB_DESTROYING) {
        sp_info("sandbox %s: the daemon stopped while it was %s; destroying it", id,
                sandbox_state_name(st));
        sb->state = SB_ERROR;
        if (destroy_start(m, sb, NULL, NULL, NULL, &e) < 0) set_error(sb, "%s", e.msg);
        return;
    }
    if (st == SB_ERROR) return;
    struct container_info info = {0};
    int r = container_state(m->ct_root, id, &info, &e);
    bool alive = r == 0 && info.pid > 0 && info.pid == sb->pid &&
                 (info.status == CONTAINER_RUNNING || info.status == CONTAINER_PAUSED);
    if (alive) sb->state = info.status == CONTAINER_PAUSED ? SB_PAUSED : SB_RUNNING;
    /* a pause the previous daemon left half done (its helper died with it) is undone */
    if (alive && sb->state == SB_RUNNING && container_thaw(m->ct_root, id, &e) < 0)
        sp_warn("sandbox %s: %s", id, e.msg);
    container_info_clear(&info);
    if (!alive) {
        set_error(sb, "agent not running after the daemon restarted");
        return;
    }
    if ((r = open_run_dir(sb)) < 0 || (r = watch_agent(sb)) < 0) {
        set_error(sb, "adopting the agent (pid %d): %s", (int)sb->pid, strerror(-r));
        return;
    }
    save(sb);
    sp_info("sandbox %s (%s) adopted: agent pid %d, %s", id, sb->name, (int)sb->pid,
            sandbox_state_name(sb->state));
}

/* ---- the image cache ---- */

/* A sandbox was just made from an unpacked image: the cache's most recently used. */
static void image_touch(const char *lower)
{
    char dir[PATH_MAX];
    size_t n = lower ? strlen(lower) : 0;
    if (n > 7 && n < sizeof(dir) && strcmp(lower + n - 7, "/rootfs") == 0) {
        snprintf(dir, sizeof(dir), "%.*s", (int)(n - 7), lower);
        (void)utimensat(AT_FDCWD, dir, NULL, 0);
    }
}

struct cached_image {
    char name[72];
    struct timespec used; /* the directory's mtime: when a sandbox was last made from it */
};

static int cmp_newest(const void *a, const void *b)
{
    const struct timespec *x = &((const struct cached_image *)a)->used;
    const struct timespec *y = &((const struct cached_image *)b)->used;
    if (x->tv_sec != y->tv_sec) return x->tv_sec < y->tv_sec ? 1 : -1;
    return x->tv_nsec < y->tv_nsec ? 1 : x->tv_nsec > y->tv_nsec ? -1 : 0;
}

struct file_id {
    dev_t dev;
    ino_t ino;
};

/*
 * Unpacked images (images/<hex>) that no sandbox uses: the image_cache most recently used stay
 * (a sandbox made from one starts at once), the others go: renamed to images/tmp-gc-<hex>-<n>
 * (a create never finds half of one; a removal cut short is finished by the next start's sweep),
 * then removed by a helper. A sandbox uses the image whose rootfs is its lower layer (compared by
 * inode: a rootfs given as a path into the cache counts too). Nothing goes while a sandbox may
 * use an image its record does not name: one being created, one from an image whose create failed
 * before it knew its lower layer (its cleanup may still run over it), one whose record was
 * unreadable; the collection runs again when the last of those is gone.
 */
static void images_gc(struct sbmgr *m)
{
    struct file_id *in_use = calloc(m->n + 1, sizeof(*in_use));
    size_t n_use = 0;
    if (!in_use) return; /* out of memory: next time */
    for (size_t i = 0; i < m->n; i++) {
        const struct sandbox *sb = m->v[i];
        struct stat st;
        if (sb->state == SB_CREATING || sb->lower_unknown ||
            (!sb->lower && json_object_get(sb->spec, "image"))) {
            m->gc_pending = true;
            free(in_use);
            return;
        }
        if (sb->lower && stat(sb->lower, &st) == 0)
            in_use[n_use++] = (struct file_id){st.st_dev, st.st_ino};
    }
    m->gc_pending = false;
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/images", m->write_dir);
    DIR *d = opendir(dir);
    if (!d) {
        free(in_use);
        return;
    }
    struct cached_image *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strlen(de->d_name) != 64 || strspn(de->d_name, "0123456789abcdef") != 64) continue;
        char rootfs[80];
        snprintf(rootfs, sizeof(rootfs), "%.64s/rootfs", de->d_name);
        struct stat st, rst;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        bool used = false;
        if (fstatat(dirfd(d), rootfs, &rst, AT_SYMLINK_NOFOLLOW) == 0)
            for (size_t i = 0; i < n_use && !used; i++)
                used = in_use[i].dev == rst.st_dev && in_use[i].ino == rst.st_ino;
        if (used) continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            struct cached_image *nv = realloc(v, ncap * sizeof(*v));
            if (!nv) break; /* out of memory: fewer are looked at this time */
            v = nv;
            cap = ncap;
        }
        memcpy(v[n].name, de->d_name, 65); /* 64 hex digits and the NUL */
        v[n++].used = st.st_mtim;
    }
    closedir(d);
    free(in_use);
    if (n) qsort(v, n, sizeof(*v), cmp_newest);
    for (size_t i = m->o.image_cache; i < n; i++) {
        char from[PATH_MAX + 100], to[PATH_MAX + 130];
        snprintf(from, sizeof(from), "%s/%s", dir, v[i].name);
        snprintf(to, sizeof(to), "%s/tmp-gc-%s-%llx", dir, v[i].name,
                 (unsigned long long)sp_now_ms());
        if (rename(from, to) < 0) {
            sp_warn("image cache: renaming %s: %s", from, strerror(errno));
            continue;
        }
        sp_info("image cache: removing the unpacked image %s (unused, beyond the %u kept)",
                v[i].name, m->o.image_cache);
        remove_in_background(m, to);
    }
    free(v);
}

/* At start, nothing of ours runs yet: what a killed unpack (images/tmp-*) or volume removal
 * (volumes/.trash-*) left behind goes, in a helper. */
static void sweep(struct sbmgr *m)
{
    char dirs[2][PATH_MAX + 16];
    snprintf(dirs[0], sizeof(dirs[0]), "%s/images", m->write_dir);
    snprintf(dirs[1], sizeof(dirs[1]), "%s", m->vol_dir);
    static const char *const prefix[] = {"tmp-", ".trash-"};
    for (size_t k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (strncmp(de->d_name, prefix[k], strlen(prefix[k])) == 0) {
                char path[2 * PATH_MAX + 300];
                snprintf(path, sizeof(path), "%s/%s", dirs[k], de->d_name);
                sp_info("removing %s, left by an earlier run", path);
                remove_in_background(m, path);
            }
        if (d) closedir(d);
    }
}

int sbmgr_new(struct sbmgr **out, const struct sbmgr_opts *o, struct sp_err *err)
{
    struct sbmgr *m = calloc(1, sizeof(*m));
    if (!m) return sp_err_set(err, -ENOMEM, "out of memory");
    m->o = *o;
    snprintf(m->write_dir, sizeof(m->write_dir), "%s", o->write_dir);
    snprintf(m->sb_dir, sizeof(m->sb_dir), "%s/sandboxes", o->write_dir);
    snprintf(m->ct_root, sizeof(m->ct_root), "%s/sandboxes/.containers", o->write_dir);
    snprintf(m->vol_dir, sizeof(m->vol_dir), "%s/volumes", o->write_dir);
    loop_timer_init(&m->ttl, on_ttl);
    /* helpers run this very binary, even after a newer one replaced it on disk */
    snprintf(m->self_exe, sizeof(m->self_exe), "/proc/self/exe");
    if (strpbrk(m->ct_root, ",:\\")) {
        free(m);
        return sp_err_set(err, -EINVAL,
                          "the write directory %s has ',', ':' or '\\' in its path, which an "
                          "overlay's options cannot hold",
                          o->write_dir);
    }
    int r;
    if ((r = sp_mkdir_p(m->ct_root, 0700)) < 0 || (r = sp_mkdir_p(m->vol_dir, 0755)) < 0) {
        free(m);
        return sp_err_set(err, r, "creating %s: %s", m->sb_dir, strerror(-r));
    }
    DIR *d = opendir(m->sb_dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strlen(de->d_name) == SANDBOX_ID_LEN &&
            strspn(de->d_name, "0123456789abcdef") == SANDBOX_ID_LEN)
            adopt_one(m, de->d_name);
    if (d) closedir(d);
    if (m->n) qsort(m->v, m->n, sizeof(*m->v), cmp_created);
    sweep(m);
    images_gc(m);
    ttl_arm(m);
    *out = m;
    return 0;
}

void sbmgr_free(struct sbmgr *m)
{
    if (!m) return;
    loop_timer_stop(m->o.loop, &m->ttl);
    for (size_t i = 0; i < m->n; i++) {
        struct sandbox *sb = m->v[i];
        if (sb->op) {
            reaper_unwatch(m->o.reaper, sb->op->pid);
            if (sb->state == SB_RUNNING) { /* a pause in flight: stopped and undone */
                struct sp_err e = {0};
                kill(sb->op->pid, SIGKILL);
                if (container_thaw(m->ct_root, sb->id, &e) < 0)
                    sp_warn("sandbox %s: %s", sb->id, e.msg);
            }
            loop_timer_stop(m->o.loop, &sb->op->deadline);
            free(sb->op);
        }
        sandbox_free(sb);
    }
    free(m->v);
    free(m);
}
