/* SPDX-License-Identifier: MIT */
/* Readiness checks: see probe.h. */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../base/str.h"
#include "../os/spawn.h"

#define HTTP_LINE_MAX 512

struct probe {
    struct probe_ctx c;
    const struct svc_ready *r;
    probe_fn cb;
    void *ud;
    struct loop_timer deadline;
    struct loop_timer next; /* the next attempt */
    struct loop_io io;      /* the connection of a TCP/HTTP attempt, or the notification fd */
    pid_t cmd_pid;          /* a running check command (its group) */
    bool sent;              /* HTTP: the request is out */
    size_t got;
    char line[HTTP_LINE_MAX];
    char last[1600]; /* why the last attempt failed */
    bool done;
};

static void finish(struct probe *p, bool ready)
{
    char why[1700];
    p->done = true;
    loop_timer_stop(p->c.loop, &p->deadline);
    loop_timer_stop(p->c.loop, &p->next);
    if (ready) {
        why[0] = '\0';
    } else {
        char dur[32];
        sp_duration_format(p->r->timeout_ms * 1000000ull, dur, sizeof(dur));
        snprintf(why, sizeof(why), "not ready within %s%s%s", dur, p->last[0] ? ": " : "", p->last);
    }
    p->cb(p->ud, ready, why); /* may free p */
}

static void close_io(struct probe *p)
{
    if (p->io.fd < 0) return;
    loop_io_stop(p->c.loop, &p->io);
    sp_close(p->io.fd);
    p->io.fd = -1;
}

static void schedule(struct probe *p)
{
    loop_timer_start(p->c.loop, &p->next, p->r->interval_ms);
}

/* ---- command ---- */

static void cmd_reaped(void *owner, pid_t pid, int status)
{
    struct probe *p = owner;
    p->cmd_pid = 0;
    kill(-pid, SIGKILL); /* what the check left in its group goes with it */
    int code = reaper_status_code(status);
    if (code == 0) {
        finish(p, true);
        return;
    }
    snprintf(p->last, sizeof(p->last), "ready command exited with code %d", code);
    schedule(p);
}

static void cmd_attempt(struct probe *p)
{
    struct sp_err err = {0};
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    struct spawn_opts o = {
        .argv = p->r->command,
        .envp = p->c.envp,
        .cwd = p->c.cwd,
        .flags = SPAWN_SETSID,
        .set_user = p->c.set_user,
        .uid = p->c.uid,
        .gid = p->c.gid,
        .groups = p->c.groups,
        .n_groups = p->c.n_groups,
        .stdin_fd = null,
        .stdout_fd = null,
        .stderr_fd = null,
    };
    pid_t pid;
    int r = null < 0 ? -errno : spawn(&o, &pid, &err);
    sp_close(null);
    if (r == 0 && (r = reaper_watch(p->c.reaper, pid, cmd_reaped, p)) < 0) {
        kill(-pid, SIGKILL);
        snprintf(err.msg, sizeof(err.msg), "registering the ready command: %s", strerror(-r));
    }
    if (r < 0) {
        /* an exec failure will not mend itself: give up at once */
        snprintf(p->last, sizeof(p->last), "ready command: %s",
                 err.msg[0] ? err.msg : strerror(-r));
        char why[1700];
        snprintf(why, sizeof(why), "%s", p->last);
        p->done = true;
        loop_timer_stop(p->c.loop, &p->deadline);
        p->cb(p->ud, false, why);
        return;
    }
    p->cmd_pid = pid;
}

static void cmd_kill(struct probe *p)
{
    if (p->cmd_pid <= 0) return;
    reaper_unwatch(p->c.reaper, p->cmd_pid);
    kill(-p->cmd_pid, SIGKILL);
    p->cmd_pid = 0;
}

/* ---- TCP and HTTP ---- */

static bool http_status_ok(struct probe *p)
{
    /* "HTTP/1.1 204 No Content" */
    const char *sp = strchr(p->line, ' ');
    if (strncmp(p->line, "HTTP/", 5) != 0 || !sp) {
        snprintf(p->last, sizeof(p->last), "GET http://%s:%u%s: not an HTTP answer", p->r->host,
                 p->r->port, p->r->path);
        return false;
    }
    int status = atoi(sp + 1);
    if (status >= 200 && status <= 299) return true;
    snprintf(p->last, sizeof(p->last), "GET http://%s:%u%s answered %d", p->r->host, p->r->port,
             p->r->path, status);
    return false;
}

static void conn_failed(struct probe *p, const char *what, int e)
{
    snprintf(p->last, sizeof(p->last), "%s %s:%u: %s", what, p->r->host, p->r->port, strerror(e));
    close_io(p);
    schedule(p);
}

static void conn_cb(struct loop_io *io, uint32_t events)
{
    struct probe *p = SP_CONTAINER_OF(io, struct probe, io);
    (void)events;
    if (!p->sent) {
        int e = 0;
        socklen_t len = sizeof(e);
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0) e = errno;
        if (e == EINPROGRESS) return;
        if (e) {
            conn_failed(p, "connect", e);
            return;
        }
        if (p->r->kind == SVC_READY_TCP) {
            close_io(p);
            finish(p, true);
            return;
        }
        char req[1500];
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: sprite-env\r\n"
                         "Connection: close\r\n\r\n",
                         p->r->path, p->r->host, p->r->port);
        if (n < 0 || (size_t)n >= sizeof(req) || send(io->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
            conn_failed(p, "GET", errno ? errno : EMSGSIZE);
            return;
        }
        p->sent = true;
        loop_io_set(p->c.loop, io, EPOLLIN);
        return;
    }
    ssize_t n = read(io->fd, p->line + p->got, sizeof(p->line) - 1 - p->got);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) {
        conn_failed(p, "GET", errno);
        return;
    }
    p->got += (size_t)n;
    p->line[p->got] = '\0';
    char *eol = strstr(p->line, "\r\n");
    if (!eol && n > 0 && p->got < sizeof(p->line) - 1) return;
    if (eol) *eol = '\0';
    bool ok = http_status_ok(p);
    close_io(p);
    if (ok)
        finish(p, true);
    else
        schedule(p);
}

static void conn_attempt(struct probe *p)
{
    /* numeric addresses only: a name lookup would block the loop (docs/services.md) */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", p->r->port);
    const char *host = strcmp(p->r->host, "localhost") == 0 ? "127.0.0.1" : p->r->host;
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr != 0 || !ai) {
        snprintf(p->last, sizeof(p->last), "%s is not an IP address (or localhost): %s", p->r->host,
                 gai_strerror(gr));
        if (ai) freeaddrinfo(ai);
        schedule(p);
        return;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) e = errno;
    freeaddrinfo(ai);
    if (e) {
        sp_close(fd);
        conn_failed(p, "connect", e);
        return;
    }
    p->sent = false;
    p->got = 0;
    loop_io_init(&p->io, fd, conn_cb);
    if ((e = -loop_io_start(p->c.loop, &p->io, EPOLLOUT)) > 0) {
        sp_close(fd);
        p->io.fd = -1;
        conn_failed(p, "connect", e);
        return;
    }
    /* one attempt at a time: it has until the next interval */
    schedule(p);
}

/* ---- notification fd ---- */

static void notify_cb(struct loop_io *io, uint32_t events)
{
    struct probe *p = SP_CONTAINER_OF(io, struct probe, io);
    char buf[512];
    (void)events;
    for (;;) {
        ssize_t n = read(io->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n > 0 && memchr(buf, '\n', (size_t)n)) {
            close_io(p);
            finish(p, true);
            return;
        }
        if (n <= 0) {
            snprintf(p->last, sizeof(p->last), "fd %d was closed without a newline written to it",
                     p->r->notify_fd);
            close_io(p);
            return;
        }
    }
}

/* ---- the driver ---- */

static void next_cb(struct loop_timer *t)
{
    struct probe *p = SP_CONTAINER_OF(t, struct probe, next);
    if (p->done) return;
    switch (p->r->kind) {
    case SVC_READY_COMMAND:
        if (p->cmd_pid == 0) cmd_attempt(p);
        break;
    case SVC_READY_TCP:
    case SVC_READY_HTTP:
        if (p->io.fd >= 0) {
            /* the last attempt is still pending: it is over */
            snprintf(p->last, sizeof(p->last), "%s %s:%u: no answer", p->sent ? "GET" : "connect",
                     p->r->host, p->r->port);
            close_io(p);
        }
        conn_attempt(p);
        break;
    default: break;
    }
}

static void deadline_cb(struct loop_timer *t)
{
    struct probe *p = SP_CONTAINER_OF(t, struct probe, deadline);
    cmd_kill(p);
    close_io(p);
    finish(p, false);
}

int probe_start(struct probe **out, const struct probe_ctx *c, const struct svc_ready *r,
                int notify_fd, probe_fn cb, void *ud)
{
    struct probe *p = calloc(1, sizeof(*p));
    if (!p) {
        sp_close(notify_fd);
        return -ENOMEM;
    }
    p->c = *c;
    p->r = r;
    p->cb = cb;
    p->ud = ud;
    loop_timer_init(&p->deadline, deadline_cb);
    loop_timer_init(&p->next, next_cb);
    loop_io_init(&p->io, -1, NULL);
    int e = 0;
    if (r->kind == SVC_READY_NOTIFY) {
        loop_io_init(&p->io, notify_fd, notify_cb);
        if (notify_fd < 0 || (e = loop_io_start(c->loop, &p->io, EPOLLIN)) < 0) {
            sp_close(notify_fd);
            free(p);
            return e < 0 ? e : -EBADF;
        }
    } else {
        sp_close(notify_fd);
        e = loop_timer_start(c->loop, &p->next, 0); /* the first attempt, from the loop */
    }
    if (e == 0) e = loop_timer_start(c->loop, &p->deadline, r->timeout_ms);
    if (e < 0) {
        probe_free(p);
        return e;
    }
    *out = p;
    return 0;
}

void probe_free(struct probe *p)
{
    if (!p) return;
    cmd_kill(p);
    close_io(p);
    loop_timer_stop(p->c.loop, &p->deadline);
    loop_timer_stop(p->c.loop, &p->next);
    free(p);
}
