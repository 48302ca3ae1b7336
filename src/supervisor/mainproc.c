/* SPDX-License-Identifier: MIT */
/* The main process: see mainproc.h. */
#include "mainproc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../base/log.h"
#include "../base/str.h"
#include "../base/time.h"
#include "../os/sig.h"
#include "../os/spawn.h"

extern char **environ;

#define GROUP_POLL_MS 20 /* while stopping: how often to look whether the group is gone */
#define KILL_WAIT_MS  5000

enum stop_phase { STOP_NONE, STOP_GRACE, STOP_KILLED, STOP_DONE };

struct mainproc {
    struct loop *loop;
    struct reaper *reaper;
    char **argv;
    char **envp; /* NULL: environ */
    char *cwd;
    mainproc_exit_fn on_exit;
    mainproc_stopped_fn on_stopped;
    void *ud;

    enum mainproc_state state;
    pid_t pid; /* also the process group id */
    int exit_code;
    char error[SP_ERR_MSG_MAX];

    enum stop_phase phase;
    uint64_t stop_deadline_ms;
    struct loop_timer stop_timer;
    struct loop_timer notify_timer; /* delivers exec failures and "already stopped" from the loop */
    bool exit_pending;
    bool group_gone; /* the leader was reaped and nothing of its group is left */
};

/* Once the leader is reaped and its group found empty, the id may be reused by an unrelated
 * group: from then on it is never signalled again. */
static bool group_alive(struct mainproc *m)
{
    if (m->pid <= 0 || m->group_gone) return false;
    if (kill(-m->pid, 0) == 0 || errno == EPERM) return true;
    if (m->state != MAINPROC_RUNNING) m->group_gone = true;
    return false;
}

static void stop_finish(struct mainproc *m)
{
    m->phase = STOP_DONE;
    loop_timer_stop(m->loop, &m->stop_timer);
    if (m->on_stopped) {
        mainproc_stopped_fn fn = m->on_stopped;
        m->on_stopped = NULL;
        fn(m->ud);
    }
}

void mainproc_poll(struct mainproc *m)
{
    if (m->state != MAINPROC_RUNNING && !m->group_gone) group_alive(m);
    if ((m->phase == STOP_GRACE || m->phase == STOP_KILLED) && m->state != MAINPROC_RUNNING &&
        !group_alive(m))
        stop_finish(m);
}

static void stop_timer_cb(struct loop_timer *t)
{
    struct mainproc *m = SP_CONTAINER_OF(t, struct mainproc, stop_timer);
    uint64_t now = loop_now(m->loop);

    mainproc_poll(m);
    if (m->phase == STOP_DONE) return;
    if (now >= m->stop_deadline_ms) {
        if (m->phase == STOP_GRACE) {
            sp_warn("main process group %d still running after the grace period: sending SIGKILL",
                    (int)m->pid);
            kill(-m->pid, SIGKILL);
            if (m->state == MAINPROC_RUNNING) kill(m->pid, SIGKILL);
            m->phase = STOP_KILLED;
            m->stop_deadline_ms = now + KILL_WAIT_MS;
        } else {
            sp_error("main process group %d did not go away after SIGKILL; giving up on it",
                     (int)m->pid);
            stop_finish(m);
            return;
        }
    }
    loop_timer_start(m->loop, &m->stop_timer, GROUP_POLL_MS);
}

static void notify_cb(struct loop_timer *t)
{
    struct mainproc *m = SP_CONTAINER_OF(t, struct mainproc, notify_timer);
    if (m->exit_pending) {
        m->exit_pending = false;
        m->on_exit(m->ud, m->exit_code);
    }
}

static void on_reaped(void *owner, pid_t pid, int status)
{
    struct mainproc *m = owner;
    m->state = MAINPROC_EXITED;
    m->exit_code = reaper_status_code(status);
    if (WIFSIGNALED(status))
        sp_info("main process %d was killed by %s (exit status %d)", (int)pid,
                sig_name(WTERMSIG(status)), m->exit_code);
    else
        sp_info("main process %d exited with status %d", (int)pid, m->exit_code);
    /* Stopping, and the leader is gone: what is left of its group are leftovers (background
     * jobs of a shell ignore SIGINT, for one), so they get SIGTERM now rather than waiting out
     * the grace period for a signal they never got. */
    if (m->phase == STOP_GRACE && group_alive(m)) kill(-pid, SIGTERM);
    m->on_exit(m->ud, m->exit_code);
}

static char **merge_env(char *const *extra)
{
    return sp_env_merge(environ, extra);
}

int mainproc_new(struct mainproc **out, struct loop *loop, struct reaper *reaper,
                 const struct mainproc_opts *o, mainproc_exit_fn on_exit, void *ud)
{
    struct mainproc *m = calloc(1, sizeof(*m));
    if (!m) return -ENOMEM;
    m->loop = loop;
    m->reaper = reaper;
    m->on_exit = on_exit;
    m->ud = ud;
    m->exit_code = -1;
    m->state = MAINPROC_NONE;
    loop_timer_init(&m->stop_timer, stop_timer_cb);
    loop_timer_init(&m->notify_timer, notify_cb);
    if (o && o->argv && o->argv[0]) {
        m->argv = sp_strv_dup(o->argv);
        m->envp = o->extra_env && o->extra_env[0] ? merge_env(o->extra_env) : NULL;
        m->cwd = o->cwd ? strdup(o->cwd) : NULL;
        if (!m->argv || (o->extra_env && o->extra_env[0] && !m->envp) || (o->cwd && !m->cwd)) {
            mainproc_free(m);
            return -ENOMEM;
        }
    }
    *out = m;
    return 0;
}

void mainproc_free(struct mainproc *m)
{
    if (!m) return;
    if (m->state == MAINPROC_RUNNING) reaper_unwatch(m->reaper, m->pid);
    loop_timer_stop(m->loop, &m->stop_timer);
    loop_timer_stop(m->loop, &m->notify_timer);
    sp_strv_free(m->argv);
    sp_strv_free(m->envp);
    free(m->cwd);
    free(m);
}

int mainproc_start(struct mainproc *m, struct sp_err *err)
{
    struct sp_err e = {0};
    if (!m->argv) return 0;

    struct spawn_opts o = {
        .argv = m->argv,
        .envp = m->envp,
        .cwd = m->cwd,
        .flags = SPAWN_SETPGID | SPAWN_FOREGROUND,
        .stdin_fd = -1,
        .stdout_fd = -1,
        .stderr_fd = -1,
    };
    pid_t pid;
    int r = spawn(&o, &pid, &e);
    if (r < 0) {
        if (strncmp(e.msg, "fork", 4) == 0 || strncmp(e.msg, "clone", 5) == 0 ||
            strncmp(e.msg, "pipe", 4) == 0)
            return sp_err_set(err, r, "%s", e.msg);
        m->state = MAINPROC_FAILED;
        m->exit_code = spawn_exec_error_code(r);
        snprintf(m->error, sizeof(m->error), "%s", e.msg);
        sp_error("main process: %s (exit status %d)", e.msg, m->exit_code);
        m->exit_pending = true;
        loop_timer_start(m->loop, &m->notify_timer, 0);
        return 0;
    }
    r = reaper_watch(m->reaper, pid, on_reaped, m);
    if (r < 0) {
        kill(-pid, SIGKILL);
        return sp_err_set(err, r, "registering the main process: %s", strerror(-r));
    }
    m->pid = pid;
    m->state = MAINPROC_RUNNING;
    sp_info("main process %d started: %s", (int)pid, m->argv[0]);
    return 0;
}

void mainproc_signal(struct mainproc *m, int sig)
{
    if (m->pid <= 0 || m->group_gone) return;
    if (kill(-m->pid, sig) < 0 && errno == ESRCH && m->state == MAINPROC_RUNNING) kill(m->pid, sig);
    sp_debug("forwarded %s to main process group %d", sig_name(sig), (int)m->pid);
}

void mainproc_stop(struct mainproc *m, int sig, uint64_t grace_ms, mainproc_stopped_fn on_stopped)
{
    if (m->phase == STOP_GRACE || m->phase == STOP_KILLED) {
        if (sig) mainproc_signal(m, sig);
        return;
    }
    m->on_stopped = on_stopped;
    m->phase = STOP_GRACE;
    m->stop_deadline_ms = sp_now_ms() + grace_ms;
    if (m->state == MAINPROC_RUNNING || group_alive(m)) {
        if (sig) mainproc_signal(m, sig);
        /* a stopped process cannot act on the signal until it is continued */
        if (sig && sig != SIGCONT && sig != SIGKILL) mainproc_signal(m, SIGCONT);
        loop_timer_start(m->loop, &m->stop_timer,
                         grace_ms < GROUP_POLL_MS ? grace_ms : GROUP_POLL_MS);
    } else {
        /* nothing left: report from the loop, never from the caller's stack */
        loop_timer_start(m->loop, &m->stop_timer, 0);
    }
}

enum mainproc_state mainproc_state(const struct mainproc *m)
{
    return m->state;
}

const char *mainproc_state_name(enum mainproc_state s)
{
    switch (s) {
    case MAINPROC_NONE: return "none";
    case MAINPROC_RUNNING: return "running";
    case MAINPROC_EXITED: return "exited";
    case MAINPROC_FAILED: return "failed";
    }
    return "unknown";
}

pid_t mainproc_pid(const struct mainproc *m)
{
    return m->pid;
}

int mainproc_exit_code(const struct mainproc *m)
{
    return m->exit_code;
}

const char *mainproc_error(const struct mainproc *m)
{
    return m->error[0] ? m->error : NULL;
}
