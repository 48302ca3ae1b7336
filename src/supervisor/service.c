/* SPDX-License-Identifier: MIT */
/* The service manager: see service.h. */
#include "service.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../base/str.h"
#include "../base/time.h"
#include "../os/sig.h"
#include "../os/spawn.h"
#include "../os/users.h"
#include "probe.h"

extern char **environ;

#define GROUP_POLL_MS     20    /* while a group must empty: how often to look */
#define KILL_WAIT_MS      5000  /* after SIGKILL: how long before giving up on a group */
#define READ_CHUNK        65536 /* one read of a service's pipe */
#define PERSIST_MAX_BYTES 65536 /* a persisted definition */

enum kill_phase { KILL_NONE, KILL_SIGNALLED, KILL_KILLED };

struct service {
    struct svcmgr *m;
    struct svc_def *def;
    enum svc_state state;

    pid_t pid; /* group leader = pgid; 0: no process */
    bool leader_reaped;
    int leader_code; /* shell-style status of the leader */
    int exit_code;   /* of the last process that ended; -1: none yet */
    char error[512];

    bool stop_asked; /* the end of this process was asked for */
    bool restart_after_stop;
    bool delete_after_stop;
    bool deleting;
    bool failing;     /* its readiness check failed */
    bool ready;       /* the current process passed its readiness check */
    bool in_boot;     /* part of the boot being waited for */
    bool need_failed; /* it failed because a need did (not a cause of its own) */

    uint64_t started_wall_ms, ready_wall_ms, ready_mono_ms, next_restart_wall_ms;
    unsigned failures; /* consecutive restarts without a stable run: the back-off exponent */
    unsigned restarts; /* every restart */

    struct loop_io out_io, err_io;
    struct probe *probe;
    struct loop_timer backoff_timer;
    struct loop_timer kill_timer;
    enum kill_phase kill_phase;
    uint64_t kill_deadline_ms;

    char **envp;         /* the environment of its processes (NULL: the daemon's) */
    struct user_ids ids; /* its user, looked up at each start */

    struct logring ring;
    int log_fd[3]; /* by stream (1, 2); -1 when closed */
    uint64_t log_size[3];

    struct svc_watch *watches;
};

struct svcmgr {
    struct svcmgr_opts o;
    char state_dir[3072]; /* short enough for every path made from it to fit PATH_MAX */
    struct service **svcs;
    size_t n, alloc;

    bool booting;
    bool boot_starting; /* svcmgr_boot is still asking every service up */
    svcmgr_boot_fn boot_cb;
    void *boot_ud;

    bool shutting_down;
    bool shutdown_reported;
    bool in_step, step_again; /* shutdown_step is running (it is not re-entered) */
    svcmgr_done_fn done_cb;
    void *done_ud;
    struct loop_timer kick; /* reports boot/shutdown results from the loop */
};

static void after_transition(struct service *s, enum svc_state from);
static void try_spawn(struct service *s);
static void shutdown_step(struct svcmgr *m);
static void boot_check(struct svcmgr *m);
static void service_remove(struct service *s);

/* ---- small helpers ---- */

static bool needs_name(const struct service *s, const char *name)
{
    for (char **n = s->def->needs; n && *n; n++)
        if (strcmp(*n, name) == 0) return true;
    return false;
}

static bool has_process(const struct service *s)
{
    return s->pid > 0;
}

/* A service that needs s and is up or on its way (so s must not be stopped under it). */
static struct service *active_dependent(struct service *s)
{
    struct svcmgr *m = s->m;
    for (size_t i = 0; i < m->n; i++) {
        struct service *d = m->svcs[i];
        if (d == s || !needs_name(d, s->def->name)) continue;
        if (has_process(d) || d->state == SVC_STARTING || d->state == SVC_RUNNING) return d;
    }
    return NULL;
}

static struct service *any_dependent(struct service *s)
{
    struct svcmgr *m = s->m;
    for (size_t i = 0; i < m->n; i++)
        if (m->svcs[i] != s && needs_name(m->svcs[i], s->def->name)) return m->svcs[i];
    return NULL;
}

static void describe_status(int code, char *buf, size_t len)
{
    if (code > 128 && code < 128 + 65)
        snprintf(buf, len, "killed by %s", sig_name(code - 128));
    else
        snprintf(buf, len, "exited with code %d", code);
}

static bool group_alive(pid_t pgid)
{
    return pgid > 0 && (kill(-pgid, 0) == 0 || errno == EPERM);
}

/* ---- transitions ---- */

static bool fire(struct service *s, enum svc_event ev)
{
    int next = svcfsm_next(s->state, ev);
    if (next < 0) {
        sp_debug("service %s: event %s ignored in state %s", s->def->name, svcfsm_event_name(ev),
                 svcfsm_state_name(s->state));
        return false;
    }
    enum svc_state from = s->state;
    s->state = (enum svc_state)next;
    if (from != s->state)
        sp_info("service %s: %s -> %s", s->def->name, svcfsm_state_name(from),
                svcfsm_state_name(s->state));
    for (struct svc_watch *w = s->watches, *nx; w; w = nx) {
        nx = w->next;
        if (w->on_state) w->on_state(w, from, s->state);
    }
    after_transition(s, from);
    return true;
}

static void fail(struct service *s, const char *fmt, ...) SP_PRINTF(2, 3);
static void fail(struct service *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
    sp_error("service %s: %s", s->def->name, s->error);
    fire(s, SVC_EV_FAILED);
}

/* ---- logs ---- */

static void log_paths(const struct service *s, int stream, char *buf, size_t len)
{
    snprintf(buf, len, "%s/logs/services/%s%s", s->m->state_dir, s->def->name,
             stream == LOGRING_STDERR ? ".stderr.log" : ".log");
}

void service_log_paths(const struct service *s, char *out, size_t outlen, char *err, size_t errlen)
{
    log_paths(s, LOGRING_STDOUT, out, outlen);
    log_paths(s, LOGRING_STDERR, err, errlen);
}

static void log_open(struct service *s, int stream)
{
    char path[PATH_MAX];
    log_paths(s, stream, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    struct stat st;
    if (fd < 0) {
        sp_warn("service %s: log file %s: %s", s->def->name, path, strerror(errno));
        return;
    }
    s->log_fd[stream] = fd;
    s->log_size[stream] = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void log_rotate(struct service *s, int stream)
{
    char path[PATH_MAX], from[PATH_MAX + 16], to[PATH_MAX + 16];
    log_paths(s, stream, path, sizeof(path));
    sp_close(s->log_fd[stream]);
    s->log_fd[stream] = -1;
    unsigned kept = s->m->o.log_files_kept;
    if (kept == 0) {
        unlink(path);
    } else {
        for (unsigned i = kept; i > 1; i--) {
            snprintf(from, sizeof(from), "%s.%u", path, i - 1);
            snprintf(to, sizeof(to), "%s.%u", path, i);
            rename(from, to);
        }
        snprintf(to, sizeof(to), "%s.1", path);
        rename(path, to);
    }
    log_open(s, stream);
    if (s->log_fd[stream] >= 0 && s->log_size[stream] > 0) {
        /* the file could not be moved away (append-only, quota, …): start it over rather than
         * trying again and again */
        sp_warn("service %s: could not rotate %s; truncating it", s->def->name, path);
        if (ftruncate(s->log_fd[stream], 0) == 0) {
            s->log_size[stream] = 0;
        } else {
            sp_close(s->log_fd[stream]);
            s->log_fd[stream] = -1;
        }
    }
}

/* Appends to the stream's file. A file never grows past log_file_bytes, and lines are kept
 * whole: what does not fit goes to the next file after a rotation (a line longer than a whole
 * file is split). */
static void log_write(struct service *s, int stream, const char *data, size_t n)
{
    uint64_t max = s->m->o.log_file_bytes;
    bool rotated = false;
    while (n > 0) {
        if (s->log_fd[stream] < 0) log_open(s, stream);
        if (s->log_fd[stream] < 0) return; /* no file: the ring still has the output */
        if (s->log_size[stream] >= max && rotated) return; /* cannot make room: drop it */
        size_t room = s->log_size[stream] >= max ? 0 : (size_t)(max - s->log_size[stream]);
        size_t k = n;
        if (n > room) {
            const char *nl = room ? memrchr(data, '\n', room) : NULL;
            k = nl ? (size_t)(nl - data) + 1 : 0;
            if (k == 0 && s->log_size[stream] > 0) {
                log_rotate(s, stream);
                rotated = true;
                continue;
            }
            if (k == 0) k = room; /* an empty file and a line longer than it */
        }
        if (sp_write_all(s->log_fd[stream], data, k) < 0) return;
        s->log_size[stream] += k;
        data += k;
        n -= k;
        if (n > 0) {
            log_rotate(s, stream);
            rotated = true;
        }
    }
}

static void deliver_records(struct service *s, uint64_t from_seq)
{
    for (uint64_t q = from_seq; q < logring_end_seq(&s->ring); q++) {
        const struct logring_rec *rec = logring_get(&s->ring, q);
        if (!rec) continue;
        for (struct svc_watch *w = s->watches, *nx; w; w = nx) {
            nx = w->next;
            if (w->on_log) w->on_log(w, rec);
        }
    }
}

/* Reads what the pipe holds now; false at EOF or error (the pipe is then closed). */
static bool pipe_drain(struct service *s, struct loop_io *io, int stream)
{
    static char buf[READ_CHUNK];
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = read(io->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return true;
        if (n <= 0) {
            loop_io_stop(s->m->o.loop, io);
            sp_close(io->fd);
            io->fd = -1;
            uint64_t seq = logring_end_seq(&s->ring);
            logring_flush(&s->ring, stream);
            deliver_records(s, seq);
            return false;
        }
        log_write(s, stream, buf, (size_t)n);
        uint64_t seq = logring_end_seq(&s->ring);
        logring_feed(&s->ring, stream, buf, (size_t)n);
        deliver_records(s, seq);
    }
    return true;
}

static void out_cb(struct loop_io *io, uint32_t events)
{
    (void)events;
    pipe_drain(SP_CONTAINER_OF(io, struct service, out_io), io, LOGRING_STDOUT);
}

static void err_cb(struct loop_io *io, uint32_t events)
{
    (void)events;
    pipe_drain(SP_CONTAINER_OF(io, struct service, err_io), io, LOGRING_STDERR);
}

/* ---- the end of a process ---- */

static void close_pipes(struct service *s)
{
    /* the group is gone: what is in the pipes is all there will be (unless something that left
     * the group holds them: then it is cut off here) */
    if (s->out_io.fd >= 0 && pipe_drain(s, &s->out_io, LOGRING_STDOUT)) {
        loop_io_stop(s->m->o.loop, &s->out_io);
        sp_closep(&s->out_io.fd);
    }
    if (s->err_io.fd >= 0 && pipe_drain(s, &s->err_io, LOGRING_STDERR)) {
        loop_io_stop(s->m->o.loop, &s->err_io);
        sp_closep(&s->err_io.fd);
    }
    for (int st = LOGRING_STDOUT; st <= LOGRING_STDERR; st++) {
        uint64_t seq = logring_end_seq(&s->ring);
        logring_flush(&s->ring, st);
        deliver_records(s, seq);
    }
}

static uint64_t backoff_delay(struct service *s)
{
    const struct svc_def *d = s->def;
    if (s->ready && sp_now_ms() - s->ready_mono_ms >= d->backoff_reset_ms) s->failures = 0;
    uint64_t delay = d->backoff_initial_ms;
    for (unsigned i = 0; i < s->failures && delay < d->backoff_max_ms; i++)
        delay *= 2;
    if (delay > d->backoff_max_ms) delay = d->backoff_max_ms;
    s->failures++;
    return delay;
}

static void process_ended(struct service *s)
{
    struct svcmgr *m = s->m;
    int code = s->leader_code;

    probe_free(s->probe);
    s->probe = NULL;
    loop_timer_stop(m->o.loop, &s->kill_timer);
    s->kill_phase = KILL_NONE;
    close_pipes(s);
    s->pid = 0;
    s->leader_reaped = false;
    s->exit_code = code;

    char how[64];
    describe_status(code, how, sizeof(how));
    sp_info("service %s: process %s", s->def->name, how);
    for (struct svc_watch *w = s->watches, *nx; w; w = nx) {
        nx = w->next;
        if (w->on_exit) w->on_exit(w, code);
    }

    bool failure = code != 0 || s->failing;
    if (s->stop_asked) {
        s->stop_asked = false;
        s->error[0] = '\0';
        fire(s, SVC_EV_EXITED);
        return;
    }
    if (!s->failing) {
        if (failure)
            snprintf(s->error, sizeof(s->error), "%s", how);
        else
            s->error[0] = '\0';
    }
    if (m->shutting_down) {
        fire(s, failure ? SVC_EV_FAILED : SVC_EV_EXITED);
        return;
    }
    if (m->booting && s->in_boot && !s->ready) {
        if (!s->failing) snprintf(s->error, sizeof(s->error), "%s before it was ready", how);
        fire(s, SVC_EV_FAILED);
        return;
    }
    enum svc_restart pol = s->def->restart;
    if (pol == SVC_RESTART_ALWAYS || (pol == SVC_RESTART_ON_FAILURE && failure)) {
        uint64_t delay = backoff_delay(s);
        s->next_restart_wall_ms = sp_wall_ms() + delay;
        loop_timer_start(m->o.loop, &s->backoff_timer, delay);
        char dur[32];
        sp_duration_format(delay * 1000000ull, dur, sizeof(dur));
        sp_info("service %s: restarting in %s", s->def->name, dur);
        fire(s, SVC_EV_RESTART);
        return;
    }
    fire(s, failure ? SVC_EV_FAILED : SVC_EV_EXITED);
}

/* Looks whether a process whose leader is gone has an empty group now. */
static void check_group(struct service *s)
{
    if (!has_process(s) || !s->leader_reaped) return;
    if (!group_alive(s->pid)) process_ended(s);
}

static void kill_timer_cb(struct loop_timer *t)
{
    struct service *s = SP_CONTAINER_OF(t, struct service, kill_timer);
    if (!has_process(s)) return;
    pid_t pid = s->pid;
    check_group(s);
    /* the process ended (and may have been restarted): this timer was about the old one */
    if (!has_process(s) || s->pid != pid || s->kill_phase == KILL_NONE) return;
    uint64_t now = sp_now_ms();
    if (now >= s->kill_deadline_ms) {
        if (s->kill_phase == KILL_SIGNALLED) {
            sp_warn("service %s: process group %d still running after %llu ms: sending SIGKILL",
                    s->def->name, (int)s->pid, (unsigned long long)s->def->stop_timeout_ms);
            kill(-s->pid, SIGKILL);
            s->kill_phase = KILL_KILLED;
            s->kill_deadline_ms = now + KILL_WAIT_MS;
        } else {
            sp_error("service %s: process group %d did not go away after SIGKILL; giving up on it",
                     s->def->name, (int)s->pid);
            if (!s->leader_reaped) {
                reaper_unwatch(s->m->o.reaper, s->pid);
                s->leader_code = 128 + SIGKILL;
            }
            process_ended(s);
            return;
        }
    }
    loop_timer_start(s->m->o.loop, &s->kill_timer, GROUP_POLL_MS);
}

/* The stop signal (and SIGCONT) to the group, SIGKILL after the stop timeout. */
static void begin_kill(struct service *s)
{
    if (!has_process(s) || s->kill_phase != KILL_NONE) return;
    kill(-s->pid, s->def->stop_signal);
    if (s->def->stop_signal != SIGKILL && s->def->stop_signal != SIGCONT) kill(-s->pid, SIGCONT);
    s->kill_phase = KILL_SIGNALLED;
    s->kill_deadline_ms = sp_now_ms() + s->def->stop_timeout_ms;
    loop_timer_start(s->m->o.loop, &s->kill_timer, GROUP_POLL_MS);
}

static void on_reaped(void *owner, pid_t pid, int status)
{
    struct service *s = owner;
    (void)pid;
    s->leader_reaped = true;
    s->leader_code = reaper_status_code(status);
    /* svcmgr_poll (after this collect) looks at the group; leftovers are stopped like a stop */
    if (group_alive(s->pid) && s->kill_phase == KILL_NONE) begin_kill(s);
}

/* ---- starting ---- */

static void ready_cb(void *ud, bool ready, const char *why)
{
    struct service *s = ud;
    probe_free(s->probe);
    s->probe = NULL;
    if (ready) {
        s->ready = true;
        s->ready_wall_ms = sp_wall_ms();
        s->ready_mono_ms = sp_now_ms();
        s->error[0] = '\0';
        fire(s, SVC_EV_READY);
        return;
    }
    s->failing = true;
    snprintf(s->error, sizeof(s->error), "%s", why);
    sp_error("service %s: %s", s->def->name, why);
    fire(s, SVC_EV_NOT_READY);
    begin_kill(s);
}

static int spawn_service(struct service *s, struct sp_err *err)
{
    struct svcmgr *m = s->m;
    const struct svc_def *d = s->def;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, notp[2] = {-1, -1};
    struct user_ids *ids = &s->ids;
    int r = 0;

    if (d->user && users_lookup("/", d->user, ids, err) < 0) return -EINVAL;
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
        (d->ready.kind == SVC_READY_NOTIFY && pipe2(notp, O_CLOEXEC) < 0)) {
        r = sp_err_set(err, -errno, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (d->env && d->env[0] && !s->envp && !(s->envp = sp_env_merge(environ, d->env))) {
        r = sp_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct spawn_opts o = {
        .argv = d->argv,
        .envp = s->envp,
        .cwd = d->dir,
        .flags = SPAWN_SETSID,
        .set_user = d->user != NULL,
        .uid = d->user ? ids->uid : 0,
        .gid = d->user ? ids->gid : 0,
        .groups = d->user ? ids->groups : NULL,
        .n_groups = d->user ? ids->n_groups : 0,
        .stdin_fd = null,
        .stdout_fd = outp[1],
        .stderr_fd = errp[1],
        .extra_fd = notp[1],
        .extra_fd_target = d->ready.kind == SVC_READY_NOTIFY ? d->ready.notify_fd : 0,
    };
    pid_t pid;
    r = spawn(&o, &pid, err);
    sp_close(null);
    if (r < 0) goto fail;
    if ((r = reaper_watch(m->o.reaper, pid, on_reaped, s)) < 0) {
        kill(-pid, SIGKILL);
        r = sp_err_set(err, r, "registering the process: %s", strerror(-r));
        goto fail;
    }
    sp_closep(&outp[1]);
    sp_closep(&errp[1]);
    sp_closep(&notp[1]);
    sp_set_nonblock(outp[0], 1);
    sp_set_nonblock(errp[0], 1);
    loop_io_init(&s->out_io, outp[0], out_cb);
    loop_io_init(&s->err_io, errp[0], err_cb);
    loop_io_start(m->o.loop, &s->out_io, EPOLLIN);
    loop_io_start(m->o.loop, &s->err_io, EPOLLIN);
    s->pid = pid;
    s->leader_reaped = false;
    s->started_wall_ms = sp_wall_ms();
    s->ready = false;
    s->failing = false;
    s->kill_phase = KILL_NONE;
    sp_info("service %s: started, pid %d", d->name, (int)pid);

    if (d->ready.kind != SVC_READY_NONE) {
        sp_set_nonblock(notp[0], 1);
        struct probe_ctx pc = {
            .loop = m->o.loop,
            .reaper = m->o.reaper,
            .envp = s->envp,
            .cwd = d->dir,
            .set_user = d->user != NULL,
            .uid = o.uid,
            .gid = o.gid,
            .groups = o.groups,
            .n_groups = o.n_groups,
        };
        /* what probe_ctx points at (envp, groups) lives on the service, as long as the probe */
        r = probe_start(&s->probe, &pc, &d->ready, notp[0], ready_cb, s);
        notp[0] = -1;
        if (r < 0) {
            snprintf(s->error, sizeof(s->error), "readiness check: %s", strerror(-r));
            s->failing = true;
            fire(s, SVC_EV_NOT_READY);
            begin_kill(s);
            return 0;
        }
    }
    return 0;
fail:
    sp_close(outp[0]);
    sp_close(outp[1]);
    sp_close(errp[0]);
    sp_close(errp[1]);
    sp_close(notp[0]);
    sp_close(notp[1]);
    return r;
}

static bool needs_running(struct service *s, struct service **blocker)
{
    for (char **n = s->def->needs; n && *n; n++) {
        struct service *d = svcmgr_find(s->m, *n);
        if (!d || d->state != SVC_RUNNING) {
            if (blocker) *blocker = d;
            return false;
        }
    }
    return true;
}

static void try_spawn(struct service *s)
{
    if (s->state != SVC_STARTING || has_process(s) || s->deleting) return;
    if (!needs_running(s, NULL)) return;
    struct sp_err err = {0};
    if (spawn_service(s, &err) < 0) {
        fail(s, "%s", err.msg);
        return;
    }
    if (s->def->ready.kind == SVC_READY_NONE && has_process(s)) {
        s->ready = true;
        s->ready_wall_ms = sp_wall_ms();
        s->ready_mono_ms = sp_now_ms();
        fire(s, SVC_EV_READY);
    }
}

/* Wants s up: STARTING, its needs wanted up too, spawned once they run. */
static int want_up(struct service *s, unsigned depth, struct sp_err *err)
{
    if (depth > SVC_MAX_SERVICES) return sp_err_set(err, -ELOOP, "dependency chain too deep");
    if (s->state == SVC_RUNNING || s->state == SVC_STARTING) return 0;
    if (s->state == SVC_STOPPING) {
        s->restart_after_stop = true; /* it comes back once it is down */
        return 0;
    }
    loop_timer_stop(s->m->o.loop, &s->backoff_timer);
    s->error[0] = '\0';
    s->need_failed = false;
    if (s->state == SVC_STOPPED || s->state == SVC_FAILED) s->failures = 0;
    if (!fire(s, SVC_EV_START))
        return sp_err_set(err, -EBUSY, "service %s cannot start now", s->def->name);
    for (char **n = s->def->needs; n && *n; n++) {
        struct service *d = svcmgr_find(s->m, *n);
        if (!d)
            return sp_err_set(err, -ENOENT, "service %s needs %s, which is not defined",
                              s->def->name, *n);
        int r = want_up(d, depth + 1, err);
        if (r < 0) return r;
    }
    try_spawn(s);
    return 0;
}

static void backoff_cb(struct loop_timer *t)
{
    struct service *s = SP_CONTAINER_OF(t, struct service, backoff_timer);
    s->restarts++;
    if (fire(s, SVC_EV_RETRY)) {
        for (char **n = s->def->needs; n && *n; n++) {
            struct service *d = svcmgr_find(s->m, *n);
            struct sp_err err = {0};
            if (d) want_up(d, 1, &err);
        }
        try_spawn(s);
    }
}

/* ---- stopping ---- */

static void stop_service(struct service *s)
{
    s->restart_after_stop = false;
    switch (s->state) {
    case SVC_BACKOFF:
        loop_timer_stop(s->m->o.loop, &s->backoff_timer);
        fire(s, SVC_EV_STOP);
        break;
    case SVC_STARTING:
    case SVC_RUNNING:
    case SVC_STOPPING:
        s->stop_asked = true;
        probe_free(s->probe);
        s->probe = NULL;
        if (s->state != SVC_STOPPING) fire(s, SVC_EV_STOP);
        if (has_process(s))
            begin_kill(s);
        else if (s->state == SVC_STOPPING) {
            /* it was still waiting for its needs: there is nothing to stop */
            s->stop_asked = false;
            fire(s, SVC_EV_EXITED);
        }
        break;
    default: break;
    }
}

/* ---- reactions ---- */

static void after_transition(struct service *s, enum svc_state from)
{
    struct svcmgr *m = s->m;
    (void)from;
    if (s->state == SVC_RUNNING) {
        for (size_t i = 0; i < m->n; i++)
            if (needs_name(m->svcs[i], s->def->name)) try_spawn(m->svcs[i]);
    }
    bool coming_back = s->state == SVC_STOPPED && s->restart_after_stop && !m->shutting_down &&
                       !s->delete_after_stop;
    if ((s->state == SVC_STOPPED || s->state == SVC_FAILED) && !coming_back) {
        /* who was waiting for it will not get it (unless it is about to start again) */
        for (size_t i = 0; i < m->n; i++) {
            struct service *d = m->svcs[i];
            if (d == s || !needs_name(d, s->def->name)) continue;
            if (d->state == SVC_STARTING && !has_process(d)) {
                d->need_failed = true;
                fail(d, "needs %s, which %s", s->def->name,
                     s->state == SVC_FAILED ? "failed" : "stopped");
            }
        }
    }
    if (!svcfsm_has_process(s->state) && !has_process(s)) {
        if (s->delete_after_stop) {
            service_remove(s);
            shutdown_step(m);
            boot_check(m);
            return;
        }
        if (s->restart_after_stop && !m->shutting_down && s->state != SVC_BACKOFF) {
            s->restart_after_stop = false;
            struct sp_err err = {0};
            if (want_up(s, 0, &err) < 0) sp_warn("service %s: restart: %s", s->def->name, err.msg);
        }
    }
    shutdown_step(m);
    boot_check(m);
}

static void kick_cb(struct loop_timer *t)
{
    struct svcmgr *m = SP_CONTAINER_OF(t, struct svcmgr, kick);
    boot_check(m);
    shutdown_step(m);
}

static void boot_check(struct svcmgr *m)
{
    if (!m->booting || m->boot_starting) return;
    const char *why = NULL;
    char buf[700];
    bool all = true;
    /* a failure of its own is the cause; "needs X, which failed" is only a consequence */
    for (size_t i = 0; i < m->n && !why; i++) {
        struct service *s = m->svcs[i];
        if (s->in_boot && !s->need_failed &&
            (s->state == SVC_FAILED || (s->state == SVC_STOPPING && s->failing))) {
            snprintf(buf, sizeof(buf), "service %s failed: %s", s->def->name,
                     s->error[0] ? s->error : "unknown reason");
            why = buf;
        }
    }
    for (size_t i = 0; i < m->n && !why; i++) {
        struct service *s = m->svcs[i];
        if (!s->in_boot) continue;
        if (s->state == SVC_FAILED || (s->state == SVC_STOPPING && s->failing)) {
            snprintf(buf, sizeof(buf), "service %s failed: %s", s->def->name,
                     s->error[0] ? s->error : "unknown reason");
            why = buf;
        } else if (s->state == SVC_STOPPED || s->state == SVC_STOPPING) {
            snprintf(buf, sizeof(buf), "service %s was stopped during boot", s->def->name);
            why = buf;
        } else if (s->state != SVC_RUNNING) {
            all = false;
        }
    }
    if (!why && !all) return;
    m->booting = false;
    for (size_t i = 0; i < m->n; i++)
        m->svcs[i]->in_boot = false;
    if (why)
        sp_error("boot failed: %s", why);
    else if (m->n)
        sp_info("all %zu services are running", m->n);
    if (m->boot_cb) m->boot_cb(m->boot_ud, why == NULL, why ? why : "");
}

static void shutdown_pass(struct svcmgr *m);

/* Stops what can be stopped now; reports when nothing is left. The transitions it causes come
 * back here: they are folded into another pass instead of nesting. */
static void shutdown_step(struct svcmgr *m)
{
    if (!m->shutting_down || m->shutdown_reported) return;
    if (m->in_step) {
        m->step_again = true;
        return;
    }
    m->in_step = true;
    do {
        m->step_again = false;
        shutdown_pass(m);
    } while (m->step_again && !m->shutdown_reported);
    m->in_step = false;
}

static void shutdown_pass(struct svcmgr *m)
{
    bool left = false;
    for (size_t i = 0; i < m->n; i++) {
        struct service *s = m->svcs[i];
        if (s->state == SVC_BACKOFF || (s->state == SVC_STARTING && !has_process(s)))
            stop_service(s);
    }
    for (size_t i = 0; i < m->n; i++) {
        struct service *s = m->svcs[i];
        if (!has_process(s)) continue;
        left = true;
        if (s->stop_asked) continue; /* on its way down */
        bool dependent_up = false;
        for (size_t j = 0; j < m->n && !dependent_up; j++)
            dependent_up =
                m->svcs[j] != s && has_process(m->svcs[j]) && needs_name(m->svcs[j], s->def->name);
        if (!dependent_up) stop_service(s);
    }
    if (left || m->shutdown_reported) return;
    m->shutdown_reported = true;
    sp_info("every service is stopped");
    if (m->done_cb) m->done_cb(m->done_ud);
}

/* ---- the manager ---- */

int svcmgr_new(struct svcmgr **out, const struct svcmgr_opts *o, struct sp_err *err)
{
    struct svcmgr *m = calloc(1, sizeof(*m));
    if (!m) return sp_err_set(err, -ENOMEM, "out of memory");
    m->o = *o;
    snprintf(m->state_dir, sizeof(m->state_dir), "%s", o->state_dir);
    m->o.state_dir = m->state_dir;
    if (!m->o.ring_bytes) m->o.ring_bytes = 256 * 1024;
    if (!m->o.log_file_bytes) m->o.log_file_bytes = 1024 * 1024;
    loop_timer_init(&m->kick, kick_cb);
    *out = m;
    return 0;
}

static int add_service(struct svcmgr *m, struct svc_def *def, struct service **out)
{
    if (m->n >= SVC_MAX_SERVICES) return -ENOSPC;
    if (m->n == m->alloc) {
        size_t na = m->alloc ? m->alloc * 2 : 16;
        struct service **nv = realloc(m->svcs, na * sizeof(*nv));
        if (!nv) return -ENOMEM;
        m->svcs = nv;
        m->alloc = na;
    }
    struct service *s = calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    s->m = m;
    s->def = def;
    s->state = SVC_STOPPED;
    s->exit_code = -1;
    s->log_fd[0] = s->log_fd[1] = s->log_fd[2] = -1;
    loop_io_init(&s->out_io, -1, out_cb);
    loop_io_init(&s->err_io, -1, err_cb);
    loop_timer_init(&s->backoff_timer, backoff_cb);
    loop_timer_init(&s->kill_timer, kill_timer_cb);
    logring_init(&s->ring, m->o.ring_bytes);
    m->svcs[m->n++] = s;
    if (out) *out = s;
    return 0;
}

/* Lets go of everything s holds in the loop and the system (processes, fds, timers). */
static void service_release(struct service *s)
{
    struct svcmgr *m = s->m;
    if (has_process(s)) {
        if (!s->leader_reaped) reaper_unwatch(m->o.reaper, s->pid);
        kill(-s->pid, SIGKILL);
    }
    probe_free(s->probe);
    loop_timer_stop(m->o.loop, &s->backoff_timer);
    loop_timer_stop(m->o.loop, &s->kill_timer);
    for (struct loop_io *io = &s->out_io; io; io = io == &s->out_io ? &s->err_io : NULL) {
        if (io->fd < 0) continue;
        loop_io_stop(m->o.loop, io);
        sp_closep(&io->fd);
    }
    for (int i = 0; i < 3; i++) {
        sp_close(s->log_fd[i]);
        s->log_fd[i] = -1;
    }
}

static void service_dealloc(void *arg)
{
    struct service *s = arg;
    logring_free(&s->ring);
    sp_strv_free(s->envp);
    svcdef_free(s->def);
    free(s);
}

static void persist_path(const struct svcmgr *m, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/services/%s.json", m->state_dir, name);
}

/* Forgets s: watchers hear on_gone, a persisted definition is removed. */
static void service_remove(struct service *s)
{
    struct svcmgr *m = s->m;
    if (s->def->origin == SVC_ORIGIN_API) {
        char path[PATH_MAX];
        persist_path(m, s->def->name, path, sizeof(path));
        if (unlink(path) < 0 && errno != ENOENT)
            sp_warn("service %s: removing %s: %s", s->def->name, path, strerror(errno));
    }
    for (size_t i = 0; i < m->n; i++) {
        if (m->svcs[i] != s) continue;
        memmove(&m->svcs[i], &m->svcs[i + 1], (m->n - i - 1) * sizeof(*m->svcs));
        m->n--;
        break;
    }
    sp_info("service %s: deleted", s->def->name);
    while (s->watches) {
        struct svc_watch *w = s->watches;
        svcmgr_unwatch(w);
        if (w->on_gone) w->on_gone(w);
    }
    service_release(s);
    /* callers up the stack may still look at s: it goes after this batch */
    if (loop_defer(m->o.loop, service_dealloc, s) < 0) service_dealloc(s);
}

void svcmgr_free(struct svcmgr *m)
{
    if (!m) return;
    loop_timer_stop(m->o.loop, &m->kick);
    for (size_t i = 0; i < m->n; i++) {
        struct service *s = m->svcs[i];
        while (s->watches)
            svcmgr_unwatch(s->watches);
        service_release(s);
        service_dealloc(s);
    }
    free(m->svcs);
    free(m);
}

static int mkdirs(const char *base, const char *sub)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", base);
    if (mkdir(path, 0700) < 0 && errno != EEXIST) return -errno;
    for (const char *p = sub; *p;) {
        const char *slash = strchrnul(p, '/');
        size_t l = strlen(path);
        snprintf(path + l, sizeof(path) - l, "/%.*s", (int)(slash - p), p);
        if (mkdir(path, 0700) < 0 && errno != EEXIST) return -errno;
        p = *slash ? slash + 1 : slash;
    }
    return 0;
}

static int check_graph(struct svcmgr *m, struct svc_def *extra, struct sp_err *err);

/* Reads the <state dir>/services/NAME.json files. A bad file is reported and skipped, never
 * fatal: also one whose needs are no longer defined (the configuration changed). */
static void load_persisted(struct svcmgr *m)
{
    struct svc_def *pending[SVC_MAX_SERVICES];
    size_t npending = 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/services", m->state_dir);
    DIR *dp = opendir(dir);
    if (!dp) return;
    struct dirent *de;
    while ((de = readdir(dp))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json") != 0) continue;
        char name[SVC_NAME_MAX + 1];
        if (l - 5 > SVC_NAME_MAX) continue;
        memcpy(name, de->d_name, l - 5);
        name[l - 5] = '\0';
        char path[PATH_MAX];
        persist_path(m, name, path, sizeof(path));
        json_error_t je;
        json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        struct svc_def *def = NULL;
        struct sp_err err = {0};
        if (!j) {
            sp_error("service definition %s: %s (line %d); skipped", path, je.text, je.line);
            continue;
        }
        int r = svcdef_from_json(name, SVC_ORIGIN_API, j, &def, &err);
        json_decref(j);
        if (r < 0) {
            sp_error("service definition %s: %s; skipped", path, err.msg);
            continue;
        }
        if (svcmgr_find(m, name)) {
            sp_warn("service definition %s: a service %s is defined in the configuration already; "
                    "skipped",
                    path, name);
            svcdef_free(def);
            continue;
        }
        if (npending == SVC_MAX_SERVICES) {
            sp_error("service definition %s: too many services; skipped", path);
            svcdef_free(def);
            continue;
        }
        pending[npending++] = def;
    }
    closedir(dp);
    /* in rounds: a definition goes in once everything it needs is in */
    for (bool progress = true; progress && npending;) {
        progress = false;
        for (size_t i = 0; i < npending; i++) {
            struct sp_err err = {0};
            if (check_graph(m, pending[i], &err) < 0) continue;
            if (add_service(m, pending[i], NULL) < 0) {
                sp_error("service %s: too many services; skipped", pending[i]->name);
                svcdef_free(pending[i]);
            }
            pending[i--] = pending[--npending];
            progress = true;
        }
    }
    for (size_t i = 0; i < npending; i++) {
        struct sp_err err = {0};
        check_graph(m, pending[i], &err);
        sp_error("saved service definition %s skipped: %s", pending[i]->name, err.msg);
        svcdef_free(pending[i]);
    }
}

static int check_graph(struct svcmgr *m, struct svc_def *extra, struct sp_err *err)
{
    struct svc_def **defs = calloc(m->n + 1, sizeof(*defs));
    if (!defs) return sp_err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n; i++)
        defs[i] = m->svcs[i]->def;
    size_t n = m->n;
    if (extra) defs[n++] = extra;
    int r = svcdef_check_graph(defs, n, err);
    free(defs);
    return r;
}

int svcmgr_load(struct svcmgr *m, struct svc_def **defs, size_t n, struct sp_err *err)
{
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        if (r == 0 && svcmgr_find(m, defs[i]->name))
            r = sp_err_set(err, -EINVAL, "service %s is defined twice", defs[i]->name);
        else if (r == 0 && (r = add_service(m, defs[i], NULL)) < 0)
            r = sp_err_set(err, r, "too many services (at most %d)", SVC_MAX_SERVICES);
        else if (r == 0)
            continue;
        svcdef_free(defs[i]);
    }
    if (r < 0) return r;
    int e = mkdirs(m->state_dir, "logs/services");
    if (e == 0) e = mkdirs(m->state_dir, "services");
    if (e < 0) return sp_err_set(err, e, "%s: %s", m->state_dir, strerror(-e));
    if ((r = check_graph(m, NULL, err)) < 0) return r;
    load_persisted(m);
    return 0;
}

void svcmgr_boot(struct svcmgr *m, svcmgr_boot_fn cb, void *ud)
{
    m->booting = true;
    m->boot_cb = cb;
    m->boot_ud = ud;
    for (size_t i = 0; i < m->n; i++)
        m->svcs[i]->in_boot = true;
    m->boot_starting = true;
    for (size_t i = 0; i < m->n && m->booting; i++) {
        struct sp_err err = {0};
        if (want_up(m->svcs[i], 0, &err) < 0) sp_error("%s", err.msg);
    }
    m->boot_starting = false;
    loop_timer_start(m->o.loop, &m->kick, 0);
}

void svcmgr_shutdown(struct svcmgr *m, svcmgr_done_fn cb, void *ud)
{
    if (m->shutting_down) return;
    m->shutting_down = true;
    m->booting = false;
    m->done_cb = cb;
    m->done_ud = ud;
    sp_info("stopping %zu services", m->n);
    loop_timer_start(m->o.loop, &m->kick, 0);
}

void svcmgr_poll(struct svcmgr *m)
{
    for (size_t i = 0; i < m->n; i++) {
        struct service *s = m->svcs[i];
        if (has_process(s) && s->leader_reaped) {
            size_t n = m->n;
            check_group(s);
            if (m->n != n) i = (size_t)-1; /* the array changed: look again from the start */
        }
    }
}

size_t svcmgr_count(const struct svcmgr *m)
{
    return m->n;
}

struct service *svcmgr_find(struct svcmgr *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->svcs[i]->def->name, name) == 0) return m->svcs[i];
    return NULL;
}

struct service *svcmgr_at(struct svcmgr *m, size_t i)
{
    return i < m->n ? m->svcs[i] : NULL;
}

/* ---- the API's operations ---- */

int svcmgr_create(struct svcmgr *m, struct svc_def *def, struct sp_err *err)
{
    int r;
    if (m->shutting_down) {
        r = sp_err_set(err, -ECANCELED, "shutting down");
    } else if (svcmgr_find(m, def->name)) {
        r = sp_err_set(err, -EEXIST, "service %s already exists", def->name);
    } else if (m->n >= SVC_MAX_SERVICES) {
        r = sp_err_set(err, -ENOSPC, "too many services (at most %d)", SVC_MAX_SERVICES);
    } else if ((r = check_graph(m, def, err)) == 0) {
        def->origin = SVC_ORIGIN_API;
        json_t *j = svcdef_to_json(def);
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        char path[PATH_MAX];
        persist_path(m, def->name, path, sizeof(path));
        int e = mkdirs(m->state_dir, "services");
        if (!text)
            r = sp_err_set(err, -ENOMEM, "out of memory");
        else if (e < 0 || (e = sp_write_file_atomic(path, text, strlen(text), 0600)) < 0)
            r = sp_err_set(err, e, "saving %s: %s", path, strerror(-e));
        free(text);
        if (r == 0 && (r = add_service(m, def, NULL)) < 0) {
            unlink(path);
            r = sp_err_set(err, r, "out of memory");
        }
        if (r == 0) {
            sp_info("service %s: defined", def->name);
            if (mkdirs(m->state_dir, "logs/services") < 0)
                sp_warn("service %s: cannot create the log directory", def->name);
            return 0;
        }
    }
    svcdef_free(def);
    return r;
}

int svcmgr_start(struct svcmgr *m, struct service *s, struct sp_err *err)
{
    if (m->shutting_down) return sp_err_set(err, -ECANCELED, "shutting down");
    if (s->deleting) return sp_err_set(err, -EBUSY, "service %s is being deleted", s->def->name);
    if (s->state == SVC_STOPPING && s->stop_asked)
        return sp_err_set(err, -EBUSY, "service %s is stopping", s->def->name);
    return want_up(s, 0, err);
}

int svcmgr_stop(struct svcmgr *m, struct service *s, struct sp_err *err)
{
    (void)m;
    if (s->state == SVC_STOPPED || s->state == SVC_FAILED)
        return sp_err_set(err, -ESRCH, "service %s is not running", s->def->name);
    struct service *d = active_dependent(s);
    if (d)
        return sp_err_set(err, -EBUSY, "service %s is needed by %s, which is %s", s->def->name,
                          d->def->name, svcfsm_state_name(d->state));
    stop_service(s);
    return 0;
}

int svcmgr_restart(struct svcmgr *m, struct service *s, struct sp_err *err)
{
    if (m->shutting_down) return sp_err_set(err, -ECANCELED, "shutting down");
    if (s->deleting) return sp_err_set(err, -EBUSY, "service %s is being deleted", s->def->name);
    if (!has_process(s) && s->state != SVC_BACKOFF) return want_up(s, 0, err);
    struct service *d = active_dependent(s);
    if (d)
        return sp_err_set(err, -EBUSY, "service %s is needed by %s, which is %s", s->def->name,
                          d->def->name, svcfsm_state_name(d->state));
    stop_service(s);
    if (has_process(s) || s->state == SVC_STOPPING)
        s->restart_after_stop = true;
    else
        return want_up(s, 0, err);
    return 0;
}

int svcmgr_signal(struct svcmgr *m, struct service *s, int sig, struct sp_err *err)
{
    (void)m;
    if (!has_process(s)) return sp_err_set(err, -ESRCH, "service %s is not running", s->def->name);
    if (kill(-s->pid, sig) < 0 && errno == ESRCH && !s->leader_reaped) kill(s->pid, sig);
    sp_info("service %s: sent %s to process group %d", s->def->name, sig_name(sig), (int)s->pid);
    return 0;
}

int svcmgr_delete(struct svcmgr *m, struct service *s, struct sp_err *err)
{
    (void)m;
    if (s->deleting) return 0;
    if (s->def->origin != SVC_ORIGIN_API)
        return sp_err_set(
            err, -EPERM, "service %s is defined in the %s; remove it there", s->def->name,
            s->def->origin == SVC_ORIGIN_DIR ? "components directory" : "configuration");
    struct service *d = any_dependent(s);
    if (d) return sp_err_set(err, -EBUSY, "service %s is needed by %s", s->def->name, d->def->name);
    s->deleting = true;
    if (has_process(s) || s->state == SVC_BACKOFF || s->state == SVC_STARTING ||
        s->state == SVC_RUNNING || s->state == SVC_STOPPING) {
        s->delete_after_stop = true;
        stop_service(s);
        return 0; /* stop_service may have removed it already */
    }
    service_remove(s);
    return 0;
}

void svcmgr_watch(struct service *s, struct svc_watch *w)
{
    w->svc = s;
    w->prev = NULL;
    w->next = s->watches;
    if (s->watches) s->watches->prev = w;
    s->watches = w;
}

void svcmgr_unwatch(struct svc_watch *w)
{
    struct service *s = w->svc;
    if (!s) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        s->watches = w->next;
    if (w->next) w->next->prev = w->prev;
    w->svc = NULL;
    w->prev = w->next = NULL;
}

/* ---- reading ---- */

const struct svc_def *service_def(const struct service *s)
{
    return s->def;
}

enum svc_state service_state(const struct service *s)
{
    return s->state;
}

pid_t service_pid(const struct service *s)
{
    return s->pid;
}

bool service_deleting(const struct service *s)
{
    return s->deleting;
}

const struct logring *service_log(const struct service *s)
{
    return &s->ring;
}

static json_t *time_json(uint64_t wall_ms)
{
    char buf[40];
    if (!wall_ms) return json_string("0001-01-01T00:00:00Z");
    sp_time_rfc3339_ms(wall_ms, buf, sizeof(buf));
    return json_string(buf);
}

json_t *service_to_json(const struct service *s)
{
    json_t *o = svcdef_to_json(s->def);
    json_t *st = json_object();
    if (!o || !st) {
        json_decref(o);
        json_decref(st);
        return NULL;
    }
    static const char *const origins[] = {"config", "components_dir", "api"};
    json_object_set_new(o, "origin", json_string(origins[s->def->origin]));
    json_object_set_new(st, "name", json_string(s->def->name));
    json_object_set_new(st, "status", json_string(svcfsm_state_name(s->state)));
    if (has_process(s)) json_object_set_new(st, "pid", json_integer(s->pid));
    json_object_set_new(st, "started_at", time_json(has_process(s) ? s->started_wall_ms : 0));
    if (s->error[0]) json_object_set_new(st, "error", json_string(s->error));
    json_object_set_new(st, "ready", json_boolean(s->state == SVC_RUNNING));
    if (s->state == SVC_RUNNING) json_object_set_new(st, "ready_at", time_json(s->ready_wall_ms));
    if (s->exit_code >= 0) json_object_set_new(st, "exit_code", json_integer(s->exit_code));
    json_object_set_new(st, "restarts", json_integer(s->restarts));
    if (s->state == SVC_BACKOFF)
        json_object_set_new(st, "next_restart_at", time_json(s->next_restart_wall_ms));
    if (s->state == SVC_STARTING && !has_process(s)) {
        json_t *wf = json_array();
        for (char **n = s->def->needs; wf && n && *n; n++) {
            struct service *d = svcmgr_find(s->m, *n);
            if (!d || d->state != SVC_RUNNING) json_array_append_new(wf, json_string(*n));
        }
        if (wf) json_object_set_new(st, "waiting_for", wf);
    }
    json_object_set_new(o, "state", st);
    return o;
}

json_t *svcmgr_summary_json(const struct svcmgr *m)
{
    json_t *o = json_object();
    if (!o) return NULL;
    size_t counts[SVC_STATE_COUNT] = {0};
    for (size_t i = 0; i < m->n; i++)
        counts[m->svcs[i]->state]++;
    json_object_set_new(o, "total", json_integer((json_int_t)m->n));
    for (int st = 0; st < SVC_STATE_COUNT; st++)
        json_object_set_new(o, svcfsm_state_name(st), json_integer((json_int_t)counts[st]));
    return o;
}
