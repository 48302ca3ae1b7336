/* SPDX-License-Identifier: MIT */
/* The process table: see proc.h. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/buf.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../base/str.h"
#include "../base/time.h"
#include "../os/sig.h"
#include "../os/spawn.h"
#include "../os/users.h"
#include "transcript.h"

#define TRANSCRIPT_MAX_BYTES (64ull * 1024 * 1024)

extern char **environ;

#define READ_CHUNK       (64 * 1024)
#define BIG_PIPE         (1024 * 1024) /* a stream that fills its pipe gets a pipe this big */
#define READS_PER_EVENT  4  /* fairness: at most this many reads per pipe per loop turn */
#define READS_AFTER_EXIT 32 /* after the exit: the pipe holds at most its capacity */
#define STDIN_MAX_QUEUED PROC_STDIN_MAX

struct pipe_in {
    struct loop_io io; /* fd -1 once closed */
    bool eof;
    bool big; /* its size was raised */
};

struct proc {
    struct proc_table *t;
    struct proc *prev, *next; /* table list, start order */
    int refs;
    bool in_table;

    pid_t pid;
    char tag[64];
    char **argv;
    char *cwd;
    uint64_t started_ms, ended_ms, start_mono_ms, end_mono_ms;

    struct pipe_in out[2];
    struct outlog log[2];
    struct loop_io in_io; /* stdin, fd -1 when closed */
    struct sp_buf in_pending;
    bool in_close_requested;

    bool reaped, finished, timed_out, tty, detachable;
    int parked_master;     /* a pty master kept open until the reap (see read_stream), or -1 */
    bool counted_retained; /* counted in the table's retained */
    bool group_gone;       /* the leader was reaped and its group is empty */
    size_t n_followers;
    int exit_code, term_signal;
    int pauses;

    struct loop_timer timeout_timer, drain_timer, retention_timer;
    struct transcript *transcript;
    uint64_t ts_cursor[2]; /* what the transcript has recorded of each stream */
    struct proc_follower *followers;
    struct proc_follower *iter_next; /* safe iteration while notifying */
};

struct proc_table {
    struct loop *loop;
    struct reaper *reaper;
    struct proc_limits lim;
    char **wrapper;
    char **tty_wrapper;
    char *transcripts; /* directory, or NULL when off */
    struct proc *head, *tail;
    unsigned running;
    unsigned retained; /* finished processes still listed */
};

static void proc_finish(struct proc *p);
static void notify(struct proc *p, bool exit_event);
static bool group_alive(struct proc *p);

/* ---- table ---- */

int proc_table_new(struct proc_table **out, struct loop *loop, struct reaper *reaper,
                   const struct proc_limits *lim, char *const *wrapper, char *const *tty_wrapper)
{
    struct proc_table *t = calloc(1, sizeof(*t));
    if (!t) return -ENOMEM;
    t->loop = loop;
    t->reaper = reaper;
    t->lim = *lim;
    if ((wrapper && wrapper[0] && !(t->wrapper = sp_strv_dup(wrapper))) ||
        (tty_wrapper && tty_wrapper[0] && !(t->tty_wrapper = sp_strv_dup(tty_wrapper)))) {
        sp_strv_free(t->wrapper);
        free(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

static void close_in(struct proc *p)
{
    if (p->in_io.fd < 0) return;
    loop_io_stop(p->t->loop, &p->in_io);
    sp_close(p->in_io.fd);
    p->in_io.fd = -1;
    sp_buf_free(&p->in_pending);
}

static void close_out(struct proc *p, int s)
{
    struct pipe_in *o = &p->out[s];
    if (o->io.fd < 0) return;
    loop_io_stop(p->t->loop, &o->io);
    sp_close(o->io.fd);
    o->io.fd = -1;
    o->eof = true;
}

static void proc_free(struct proc *p)
{
    struct loop *l = p->t->loop;
    close_in(p);
    close_out(p, 0);
    close_out(p, 1);
    sp_close(p->parked_master);
    loop_timer_stop(l, &p->timeout_timer);
    loop_timer_stop(l, &p->drain_timer);
    loop_timer_stop(l, &p->retention_timer);
    outlog_free(&p->log[0]);
    outlog_free(&p->log[1]);
    if (p->transcript) transcript_close(p->transcript, p);
    sp_strv_free(p->argv);
    free(p->cwd);
    free(p);
}

static void table_remove(struct proc *p)
{
    struct proc_table *t = p->t;
    if (!p->in_table) return;
    if (p->prev)
        p->prev->next = p->next;
    else
        t->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        t->tail = p->prev;
    p->in_table = false;
}

void proc_ref(struct proc *p)
{
    p->refs++;
}

static void proc_free_deferred(void *arg)
{
    proc_free(arg);
}

void proc_unref(struct proc *p)
{
    if (--p->refs > 0) return;
    table_remove(p);
    /* pending loop events may still point at our ios: free after the batch */
    loop_io_stop(p->t->loop, &p->out[0].io);
    loop_io_stop(p->t->loop, &p->out[1].io);
    loop_io_stop(p->t->loop, &p->in_io);
    if (loop_defer(p->t->loop, proc_free_deferred, p) < 0) sp_error("proc: leaking a record");
}

void proc_table_free(struct proc_table *t)
{
    if (!t) return;
    while (t->head) {
        struct proc *p = t->head;
        if (!p->reaped) {
            kill(-p->pid, SIGKILL);
            reaper_unwatch(t->reaper, p->pid);
        }
        table_remove(p);
        proc_free(p);
    }
    sp_strv_free(t->wrapper);
    sp_strv_free(t->tty_wrapper);
    free(t->transcripts);
    free(t);
}

/* ---- followers ---- */

void proc_follow(struct proc *p, struct proc_follower *f)
{
    f->proc = p;
    f->prev = NULL;
    f->next = p->followers;
    if (p->followers) p->followers->prev = f;
    p->followers = f;
    p->n_followers++;
    proc_ref(p);
}

void proc_unfollow(struct proc_follower *f)
{
    struct proc *p = f->proc;
    if (!p) return;
    if (p->iter_next == f) p->iter_next = f->next;
    if (f->prev)
        f->prev->next = f->next;
    else
        p->followers = f->next;
    if (f->next) f->next->prev = f->prev;
    f->proc = NULL;
    f->prev = f->next = NULL;
    p->n_followers--;
    proc_unref(p);
}

static void transcript_pump(struct proc *p)
{
    static const char *const names[2] = {"stdout", "stderr"};
    char buf[65536];
    for (int s = 0; s < 2 && p->transcript; s++) {
        size_t n;
        while ((n = outlog_read(&p->log[s], &p->ts_cursor[s], buf, sizeof(buf), NULL)) > 0)
            transcript_data(p->transcript, names[s], buf, n);
    }
}

static void notify(struct proc *p, bool exit_event)
{
    if (p->transcript) {
        transcript_pump(p);
        if (exit_event) {
            transcript_close(p->transcript, p);
            p->transcript = NULL;
        }
    }
    proc_ref(p);
    for (struct proc_follower *f = p->followers; f; f = p->iter_next) {
        p->iter_next = f->next;
        proc_follower_fn fn = exit_event ? f->on_exit : f->on_output;
        if (fn) fn(f);
    }
    p->iter_next = NULL;
    proc_unref(p);
}

/* ---- output ---- */

static void update_out_interest(struct proc *p)
{
    for (int s = 0; s < 2; s++) {
        struct pipe_in *o = &p->out[s];
        if (o->io.fd < 0) continue;
        /* pauses hold after the exit too: a surviving child may still write a lot */
        uint32_t ev = p->pauses > 0 ? 0 : EPOLLIN;
        loop_io_set(p->t->loop, &o->io, ev);
    }
}

void proc_pause(struct proc *p)
{
    if (p->pauses++ == 0) update_out_interest(p);
}

void proc_resume(struct proc *p)
{
    if (p->pauses > 0 && --p->pauses == 0) update_out_interest(p);
}

/* Reads what the pipe holds (bounded per call); returns true when something was read. */
/*
 * Reads from a pipe straight into its log, notifying followers after every read so that a
 * lossless follower can take the bytes (or pause us) before the next read could overwrite them.
 */
static bool read_stream(struct proc *p, int s, int max_reads)
{
    struct pipe_in *o = &p->out[s];
    bool got = false;
    for (int i = 0; i < max_reads && o->io.fd >= 0 && (i == 0 || p->pauses == 0); i++) {
        ssize_t r = outlog_read_fd(&p->log[s], o->io.fd, READ_CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) { /* EOF, or EIO from a pty whose other side is gone */
            if (p->tty && !p->reaped && p->parked_master < 0) {
                /* The process closed the terminal but has not exited yet: closing the master
                 * now would hang the terminal up and SIGHUP it on its way out. */
                loop_io_stop(p->t->loop, &o->io);
                p->parked_master = o->io.fd;
                o->io.fd = -1;
                o->eof = true;
                break;
            }
            close_out(p, s);
            break;
        }
        if (r >= 65536 && !o->big && !p->tty) {
            /* chatty: fewer, larger reads from now on (quiet processes keep small pipes, so a
             * thousand of them do not reach the per-user pipe budget) */
            o->big = true;
            fcntl(o->io.fd, F_SETPIPE_SZ, BIG_PIPE);
        }
        got = true;
        notify(p, false);
        if ((size_t)r < READ_CHUNK) break;
    }
    return got;
}

static void maybe_finish(struct proc *p)
{
    if (p->reaped && !p->finished && p->out[0].io.fd < 0 && p->out[1].io.fd < 0) proc_finish(p);
}

static void out_cb_stream(struct proc *p, int s)
{
    proc_ref(p);
    bool got = read_stream(p, s, READS_PER_EVENT);
    maybe_finish(p);
    /* after the exit, output still flowing (from a surviving child) postpones the end */
    if (got && p->reaped && !p->finished)
        loop_timer_start(p->t->loop, &p->drain_timer, p->t->lim.drain_ms);
    proc_unref(p);
}

static void out0_cb(struct loop_io *io, uint32_t events)
{
    (void)events;
    out_cb_stream(SP_CONTAINER_OF(io, struct proc, out[0].io), 0);
}

static void out1_cb(struct loop_io *io, uint32_t events)
{
    (void)events;
    out_cb_stream(SP_CONTAINER_OF(io, struct proc, out[1].io), 1);
}

/* ---- stdin ---- */

static void in_flush(struct proc *p)
{
    while (p->in_io.fd >= 0 && sp_buf_pending(&p->in_pending)) {
        ssize_t w = write(p->in_io.fd, sp_buf_head(&p->in_pending), sp_buf_pending(&p->in_pending));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w < 0) { /* EPIPE: the process closed its stdin */
            close_in(p);
            return;
        }
        sp_buf_consume(&p->in_pending, (size_t)w);
    }
    if (p->in_io.fd < 0) return;
    if (!sp_buf_pending(&p->in_pending) && p->in_close_requested) {
        close_in(p);
        return;
    }
    loop_io_set(p->t->loop, &p->in_io, sp_buf_pending(&p->in_pending) ? EPOLLOUT : 0);
}

static void in_cb(struct loop_io *io, uint32_t events)
{
    struct proc *p = SP_CONTAINER_OF(io, struct proc, in_io);
    if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLOUT)) {
        close_in(p);
        return;
    }
    in_flush(p);
}

int proc_stdin_write(struct proc *p, const void *data, size_t n)
{
    if (p->in_io.fd < 0 || p->in_close_requested) return -EPIPE;
    if (sp_buf_pending(&p->in_pending) + n > STDIN_MAX_QUEUED) return -ENOBUFS;
    int r = sp_buf_append(&p->in_pending, data, n);
    if (r < 0) return r;
    transcript_data(p->transcript, "stdin", data, n);
    in_flush(p);
    return 0;
}

size_t proc_stdin_pending(const struct proc *p)
{
    return sp_buf_pending(&p->in_pending);
}

bool proc_stdin_open(const struct proc *p)
{
    return p->in_io.fd >= 0 && !p->in_close_requested && !p->tty ? true
                                                                 : p->tty && p->in_io.fd >= 0;
}

void proc_stdin_close(struct proc *p)
{
    if (p->tty) return; /* a terminal has no end of input: the client sends ^D if it wants */
    p->in_close_requested = true;
    in_flush(p);
}

int proc_resize(struct proc *p, unsigned short cols, unsigned short rows)
{
    if (!p->tty) return -ENOTTY;
    if (p->out[0].io.fd < 0) return -ESRCH;
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    return ioctl(p->out[0].io.fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

bool proc_is_tty(const struct proc *p)
{
    return p->tty;
}

bool proc_is_detachable(const struct proc *p)
{
    return p->detachable;
}

size_t proc_follower_count(const struct proc *p)
{
    return p->n_followers;
}

/* A pty pair: the master (non-blocking, ours) and the slave (for the child). */
static int open_pty(int *master, int *slave, unsigned short cols, unsigned short rows)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) return -errno;
    char name[64];
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
        int e = errno;
        sp_close(m);
        return -e;
    }
    int sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (sl < 0) {
        int e = errno;
        sp_close(m);
        return -e;
    }
    struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
    ioctl(m, TIOCSWINSZ, &ws);
    sp_set_nonblock(m, 1);
    *master = m;
    *slave = sl;
    return 0;
}

/* ---- lifecycle ---- */

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static void retention_cb(struct loop_timer *tm)
{
    struct proc *p = SP_CONTAINER_OF(tm, struct proc, retention_timer);
    loop_timer_stop(p->t->loop, tm);
    if (p->counted_retained) {
        p->counted_retained = false;
        p->t->retained--;
    }
    table_remove(p); /* no longer listable; freed when the last follower lets go */
    proc_unref(p);   /* the table's reference */
}

static void proc_finish(struct proc *p)
{
    struct proc_table *t = p->t;
    p->finished = true;
    t->running--; /* counted until its output is done, so leftovers cannot bypass max_procs */
    loop_timer_stop(t->loop, &p->drain_timer);
    loop_timer_stop(t->loop, &p->timeout_timer);
    close_out(p, 0);
    close_out(p, 1);
    close_in(p);
    notify(p, true);
    t->retained++;
    p->counted_retained = true;
    loop_timer_start(t->loop, &p->retention_timer, t->lim.retention_ms);
    /* bounded memory whatever the exec rate: beyond max_retained, forget the oldest finished */
    for (struct proc *q = t->head; q && t->retained > t->lim.max_retained;) {
        struct proc *next = q->next;
        if (q->finished && q != p) retention_cb(&q->retention_timer);
        q = next;
    }
}

static void drain_cb(struct loop_timer *tm)
{
    struct proc *p = SP_CONTAINER_OF(tm, struct proc, drain_timer);
    /* A surviving child still holds the pipes. While bytes wait in them (a lossless follower
     * is catching up, or the child is still writing), keep waiting; once they have been idle
     * for drain_ms, stop. */
    for (int s = 0; s < 2; s++) {
        int pending = 0;
        if (p->out[s].io.fd >= 0 && ioctl(p->out[s].io.fd, FIONREAD, &pending) == 0 &&
            pending > 0) {
            loop_timer_start(p->t->loop, &p->drain_timer, p->t->lim.drain_ms);
            return;
        }
    }
    if (!p->finished) proc_finish(p);
}

static void timeout_cb(struct loop_timer *tm)
{
    struct proc *p = SP_CONTAINER_OF(tm, struct proc, timeout_timer);
    if (!group_alive(p)) return;
    p->timed_out = true;
    sp_info("process %d (%s) timed out: SIGKILL to its group", (int)p->pid, p->tag);
    kill(-p->pid, SIGKILL);
}

static void on_reaped(void *owner, pid_t pid, int status)
{
    struct proc *p = owner;
    (void)pid;
    struct proc_table *t = p->t;
    p->reaped = true;
    sp_close(p->parked_master);
    p->parked_master = -1;
    p->exit_code = reaper_status_code(status);
    p->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    p->ended_ms = wall_ms();
    p->end_mono_ms = sp_now_ms();
    /* the timeout stays armed: it also covers children the leader left in its group */
    proc_ref(p);
    /* everything the process wrote is in the pipes now: take it (unless a lossless follower
     * holds a pause, then it comes as the follower catches up) */
    if (p->pauses == 0) {
        read_stream(p, 0, READS_AFTER_EXIT);
        read_stream(p, 1, READS_AFTER_EXIT);
    }
    update_out_interest(p);
    if (!p->finished) {
        maybe_finish(p);
        if (!p->finished) loop_timer_start(t->loop, &p->drain_timer, t->lim.drain_ms);
    }
    proc_unref(p);
}

static char **build_env(char *const *extra)
{
    return sp_env_merge(environ, extra);
}

static size_t strv_bytes(char *const *v)
{
    size_t n = 0;
    for (size_t i = 0; v && v[i]; i++)
        n += strlen(v[i]) + 1;
    return n;
}

static bool tag_in_use(struct proc_table *t, const char *tag)
{
    for (struct proc *p = t->head; p; p = p->next)
        if (!p->finished && strcmp(p->tag, tag) == 0) return true;
    return false;
}

static int make_pipes(int fds[2], bool read_end_ours)
{
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    return sp_set_nonblock(read_end_ours ? fds[0] : fds[1], 1);
}

int proc_start(struct proc_table *t, const struct proc_spec *s, struct proc **out,
               struct sp_err *err)
{
    if (!s->argv || !s->argv[0] || !s->argv[0][0])
        return sp_err_set(err, -EINVAL, "no command given");
    if (strv_bytes(s->argv) + strv_bytes(s->env) > t->lim.max_args_bytes)
        return sp_err_set(err, -E2BIG, "command and environment exceed %zu bytes",
                          t->lim.max_args_bytes);
    for (size_t i = 0; s->env && s->env[i]; i++)
        if (!strchr(s->env[i], '=') || s->env[i][0] == '=')
            return sp_err_set(err, -EINVAL, "environment entry \"%s\" is not KEY=VALUE", s->env[i]);
    if (t->running >= t->lim.max_procs)
        return sp_err_set(err, -EAGAIN, "too many processes running (limit %u)", t->lim.max_procs);
    if (s->tag && s->tag[0]) {
        /* tags name files (transcripts) and appear in URLs: a safe alphabet only */
        size_t tl = strlen(s->tag);
        if (tl >= 64 || strspn(s->tag, "0123456789") == tl || s->tag[0] == '.' ||
            strspn(s->tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                tl)
            return sp_err_set(
                err, -EINVAL,
                "tag must be 1 to 63 letters, digits, '.', '_' or '-', not start with "
                "'.' and not be all digits");
        if (tag_in_use(t, s->tag))
            return sp_err_set(err, -EEXIST, "tag \"%s\" is in use by a running process", s->tag);
    }
    struct user_ids uid;
    const char *user = s->user && s->user[0] ? s->user : t->lim.default_user;
    if (user && user[0] && users_lookup("/", user, &uid, err) < 0) return err->code;

    struct proc *p = calloc(1, sizeof(*p));
    if (!p) return sp_err_set(err, -ENOMEM, "out of memory");
    p->t = t;
    p->refs = 1; /* the table's */
    p->exit_code = -1;
    p->parked_master = -1;
    p->detachable = s->detachable;
    loop_io_init(&p->out[0].io, -1, out0_cb);
    loop_io_init(&p->out[1].io, -1, out1_cb);
    loop_io_init(&p->in_io, -1, in_cb);
    loop_timer_init(&p->timeout_timer, timeout_cb);
    loop_timer_init(&p->drain_timer, drain_cb);
    loop_timer_init(&p->retention_timer, retention_cb);
    outlog_init(&p->log[0], t->lim.log_bytes);
    outlog_init(&p->log[1], t->lim.log_bytes);
    if (s->tag && s->tag[0]) {
        snprintf(p->tag, sizeof(p->tag), "%s", s->tag);
    } else {
        unsigned char rnd[4];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) memset(rnd, 0, sizeof(rnd));
        char hex[9];
        sp_hex_encode(rnd, sizeof(rnd), hex);
        snprintf(p->tag, sizeof(p->tag), "proc-%s", hex);
    }
    p->argv = sp_strv_dup(s->argv);
    p->cwd = s->cwd ? strdup(s->cwd) : NULL;
    /* with a user: HOME, USER and LOGNAME as login would set them (the request may override) */
    char **extra = sp_strv_new(0);
    if (extra && user && user[0]) {
        char kv[400];
        snprintf(kv, sizeof(kv), "HOME=%s", uid.home[0] ? uid.home : "/");
        sp_strv_push(&extra, kv);
        if (uid.name[0]) {
            snprintf(kv, sizeof(kv), "USER=%s", uid.name);
            sp_strv_push(&extra, kv);
            snprintf(kv, sizeof(kv), "LOGNAME=%s", uid.name);
            sp_strv_push(&extra, kv);
        }
    }
    for (size_t i = 0; extra && s->env && s->env[i]; i++)
        sp_strv_push(&extra, s->env[i]);
    char **env = extra ? build_env(extra) : NULL;
    sp_strv_free(extra);
    char **argv = NULL;
    int r = 0;
    if (!p->argv || (s->cwd && !p->cwd) || !env) {
        r = sp_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    char **wrapper = s->tty ? t->tty_wrapper : t->wrapper;
    if (s->wrap && wrapper) {
        argv = sp_strv_dup(wrapper);
        for (size_t i = 0; argv && s->argv[i]; i++)
            if (sp_strv_push(&argv, s->argv[i]) < 0) {
                sp_strv_free(argv);
                argv = NULL;
            }
        if (!argv) {
            r = sp_err_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
    }

    int in[2] = {-1, -1}, o1[2] = {-1, -1}, o2[2] = {-1, -1};
    if (s->tty) {
        /* o1[0] = master (read), in[1] = a dup of it (write), the slave is 0, 1 and 2 */
        int m = -1, sl = -1;
        if ((r = open_pty(&m, &sl, s->cols, s->rows)) < 0) {
            sp_err_set(err, r, "pty: %s", strerror(-r));
            goto fail_pipes;
        }
        o1[0] = m;
        in[0] = sl;
        /* stdin=false: nothing the API sends reaches the terminal */
        in[1] = s->stdin_open ? fcntl(m, F_DUPFD_CLOEXEC, 3) : -2;
        if (in[1] == -2) {
            in[1] = -1;
        } else if (in[1] < 0) {
            r = sp_err_set(err, -errno, "dup: %s", strerror(errno));
            goto fail_pipes;
        }
        p->tty = true;
    } else if ((r = make_pipes(o1, true)) < 0 || (r = make_pipes(o2, true)) < 0 ||
               (s->stdin_open && (r = make_pipes(in, false)) < 0)) {
        sp_err_set(err, r, "pipe: %s", strerror(-r));
        goto fail_pipes;
    }
    if (!s->stdin_open && !s->tty) {
        in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in[0] < 0) {
            r = sp_err_set(err, -errno, "/dev/null: %s", strerror(errno));
            goto fail_pipes;
        }
    }
    struct spawn_opts so = {
        .argv = argv ? argv : p->argv,
        .envp = env,
        .cwd = s->cwd,
        .flags = s->tty ? SPAWN_SETSID | SPAWN_CTTY : SPAWN_SETPGID,
        .stdin_fd = in[0],
        .stdout_fd = s->tty ? in[0] : o1[1],
        .stderr_fd = s->tty ? in[0] : o2[1],
    };
    if (user && user[0]) {
        so.set_user = 1;
        so.uid = uid.uid;
        so.gid = uid.gid;
        so.groups = uid.groups;
        so.n_groups = uid.n_groups;
    }
    if (s->umask >= 0) {
        so.set_umask = 1;
        so.umask = (mode_t)s->umask;
    }
    r = spawn(&so, &p->pid, err);
    sp_close(in[0]);
    sp_close(o1[1]);
    sp_close(o2[1]);
    in[0] = o1[1] = o2[1] = -1;
    if (r < 0) goto fail_pipes;
    if ((r = reaper_watch(t->reaper, p->pid, on_reaped, p)) < 0) {
        kill(-p->pid, SIGKILL); /* its status will be counted as an orphan's */
        sp_err_set(err, r, "out of memory");
        goto fail_pipes;
    }

    p->started_ms = wall_ms();
    p->start_mono_ms = sp_now_ms();
    p->out[0].io.fd = o1[0];
    p->out[1].io.fd = o2[0];
    p->in_io.fd = in[1];
    loop_io_start(t->loop, &p->out[0].io, EPOLLIN);
    if (p->out[1].io.fd >= 0) loop_io_start(t->loop, &p->out[1].io, EPOLLIN);
    if (p->in_io.fd >= 0) loop_io_start(t->loop, &p->in_io, 0);
    if (s->timeout_ms) loop_timer_start(t->loop, &p->timeout_timer, s->timeout_ms);
    t->running++;
    p->prev = t->tail;
    if (t->tail)
        t->tail->next = p;
    else
        t->head = p;
    t->tail = p;
    p->in_table = true;
    if (t->transcripts) p->transcript = transcript_open(t->transcripts, p, TRANSCRIPT_MAX_BYTES);
    sp_strv_free(env);
    sp_strv_free(argv);
    sp_debug("process %d (%s) started: %s", (int)p->pid, p->tag, p->argv[0]);
    *out = p;
    return 0;

fail_pipes:
    sp_close(in[0]);
    sp_close(in[1]);
    sp_close(o1[0]);
    sp_close(o1[1]);
    sp_close(o2[0]);
    sp_close(o2[1]);
fail:
    sp_strv_free(env);
    sp_strv_free(argv);
    proc_free(p);
    return r;
}

int proc_table_set_transcripts(struct proc_table *t, const char *dir)
{
    if (!dir) {
        free(t->transcripts);
        t->transcripts = NULL;
        return 0;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) return -errno;
    char *d = strdup(dir);
    if (!d) return -ENOMEM;
    free(t->transcripts);
    t->transcripts = d;
    return 0;
}

const char *proc_table_transcripts(const struct proc_table *t)
{
    return t->transcripts;
}

struct proc *proc_find(struct proc_table *t, const char *sel)
{
    uint64_t pid;
    if (sp_parse_u64(sel, 0x7fffffff, &pid) == 0) {
        for (struct proc *p = t->tail; p; p = p->prev)
            if (p->pid == (pid_t)pid) return p;
        return NULL;
    }
    struct proc *newest = NULL;
    for (struct proc *p = t->tail; p; p = p->prev) {
        if (strcmp(p->tag, sel) != 0) continue;
        if (!p->finished) return p;
        if (!newest) newest = p;
    }
    return newest;
}

struct proc *proc_next(struct proc_table *t, struct proc *prev)
{
    return prev ? prev->next : t->head;
}

size_t proc_read(struct proc *p, enum proc_stream s, uint64_t *cursor, void *dst, size_t n,
                 uint64_t *missed)
{
    return outlog_read(&p->log[s], cursor, dst, n, missed);
}

size_t proc_peek(struct proc *p, enum proc_stream s, uint64_t *cursor, size_t n, const char **p1,
                 size_t *n1, const char **p2, size_t *n2, uint64_t *missed)
{
    return outlog_peek(&p->log[s], cursor, n, p1, n1, p2, n2, missed);
}

const struct outlog *proc_log(const struct proc *p, enum proc_stream s)
{
    return &p->log[s];
}

/* Alive while the leader runs, and after it while its process group still has members (the
 * children it left behind keep the group, so the id cannot have been reused meanwhile). */
static bool group_alive(struct proc *p)
{
    if (p->group_gone || p->finished) return false;
    if (!p->reaped) return true;
    if (kill(-p->pid, 0) == 0 || errno == EPERM) return true;
    p->group_gone = true;
    return false;
}

int proc_signal(struct proc *p, int sig)
{
    if (!group_alive(p)) return -ESRCH;
    if (kill(-p->pid, sig) < 0 && (p->reaped || kill(p->pid, sig) < 0)) return -errno;
    return 0;
}

bool proc_active(struct proc *p)
{
    return group_alive(p);
}

pid_t proc_pid(const struct proc *p)
{
    return p->pid;
}
const char *proc_tag(const struct proc *p)
{
    return p->tag;
}
char *const *proc_argv(const struct proc *p)
{
    return p->argv;
}
const char *proc_cwd(const struct proc *p)
{
    return p->cwd;
}
bool proc_running(const struct proc *p)
{
    return !p->reaped;
}
bool proc_finished(const struct proc *p)
{
    return p->finished;
}
int proc_exit_code(const struct proc *p)
{
    return p->exit_code;
}
int proc_term_signal(const struct proc *p)
{
    return p->term_signal;
}
bool proc_timed_out(const struct proc *p)
{
    return p->timed_out;
}
uint64_t proc_started_ms(const struct proc *p)
{
    return p->started_ms;
}
uint64_t proc_ended_ms(const struct proc *p)
{
    return p->ended_ms;
}
uint64_t proc_duration_ms(const struct proc *p)
{
    return (p->reaped ? p->end_mono_ms : sp_now_ms()) - p->start_mono_ms;
}
