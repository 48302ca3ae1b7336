/* SPDX-License-Identifier: MIT */
/* A raw stream on a hijacked connection: see rawconn.h. */
#include "rawconn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "../base/buf.h"
#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../base/time.h"

#define READ_CHUNK      65536
#define READS_PER_EVENT 16

struct rawconn {
    struct loop *loop;
    struct loop_io io;
    struct loop_timer timer;
    struct sp_buf out;
    struct sp_buf early; /* bytes the client sent behind its request */
    const struct rawconn_handlers *h;
    void *data;
    struct http_hijack_owner owner;
    uint64_t write_progress_ms;
    uint64_t linger_deadline_ms;
    bool dead;      /* fd closed; freed from the loop */
    bool finishing; /* the owner is done: flush, shut down, drain, close */
    bool rd_eof;    /* the client half-closed */
    bool wr_shut;   /* we shut our write side */
    bool paused;    /* the owner stopped reading */
};

static void rc_free(void *arg)
{
    struct rawconn *rc = arg;
    sp_buf_free(&rc->out);
    sp_buf_free(&rc->early);
    free(rc);
}

static void rc_closed_deferred(void *arg)
{
    struct rawconn *rc = arg;
    /* an owner that finished meanwhile has forgotten us: no callback */
    if (!rc->finishing && rc->h->on_close) rc->h->on_close(rc);
    rc_free(rc);
}

/* Closes the socket. The owner hears of it (from the loop) unless it already finished. */
static void rc_close(struct rawconn *rc)
{
    if (rc->dead) return;
    rc->dead = true;
    loop_timer_stop(rc->loop, &rc->timer);
    loop_io_stop(rc->loop, &rc->io);
    sp_close(rc->io.fd);
    rc->io.fd = -1;
    http_hijack_done(&rc->owner);
    if (loop_defer(rc->loop, rc->finishing ? rc_free : rc_closed_deferred, rc) < 0)
        sp_error("rawconn: leaking a connection (out of memory)");
}

static void rc_update(struct rawconn *rc)
{
    if (rc->dead) return;
    if (rc->finishing && rc->wr_shut && rc->rd_eof) { /* both directions are done */
        rc_close(rc);
        return;
    }
    uint32_t ev = 0;
    if (!rc->rd_eof && (!rc->paused || rc->finishing)) ev |= EPOLLIN;
    if (sp_buf_pending(&rc->out)) ev |= EPOLLOUT;
    if (loop_io_set(rc->loop, &rc->io, ev) < 0) {
        rc_close(rc);
        return;
    }
    uint64_t now = sp_now_ms(), deadline = 0;
    if (sp_buf_pending(&rc->out))
        deadline = rc->write_progress_ms + RAWCONN_WRITE_TIMEOUT_MS;
    else if (rc->wr_shut)
        deadline = rc->linger_deadline_ms;
    if (deadline)
        loop_timer_start(rc->loop, &rc->timer, deadline > now ? deadline - now : 0);
    else
        loop_timer_stop(rc->loop, &rc->timer);
}

/* Once everything queued is out, a finishing stream shuts its write side. */
static void rc_maybe_shut(struct rawconn *rc)
{
    if (!rc->finishing || rc->wr_shut || sp_buf_pending(&rc->out)) return;
    shutdown(rc->io.fd, SHUT_WR);
    rc->wr_shut = true;
    rc->linger_deadline_ms = sp_now_ms() + RAWCONN_LINGER_MS;
}

/* Writes what the socket takes; false when the connection died. */
static bool rc_flush(struct rawconn *rc)
{
    while (sp_buf_pending(&rc->out)) {
        ssize_t w = send(rc->io.fd, sp_buf_head(&rc->out), sp_buf_pending(&rc->out),
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w < 0) {
            rc_close(rc);
            return false;
        }
        sp_buf_consume(&rc->out, (size_t)w);
        rc->write_progress_ms = sp_now_ms();
    }
    rc_maybe_shut(rc);
    rc_update(rc);
    return !rc->dead;
}

static void rc_read(struct rawconn *rc)
{
    char buf[READ_CHUNK];
    for (int i = 0; i < READS_PER_EVENT && !rc->dead && !rc->rd_eof; i++) {
        if (rc->paused && !rc->finishing) break;
        ssize_t r = recv(rc->io.fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) break;
        if (r < 0) { /* reset */
            rc_close(rc);
            return;
        }
        if (r == 0) {
            rc->rd_eof = true;
            if (!rc->finishing && rc->h->on_eof) rc->h->on_eof(rc);
            break;
        }
        if (!rc->finishing && rc->h->on_data) rc->h->on_data(rc, buf, (size_t)r);
        /* while finishing, input is read only to be dropped */
    }
    rc_update(rc);
}

static void rc_io_cb(struct loop_io *io, uint32_t events)
{
    struct rawconn *rc = SP_CONTAINER_OF(io, struct rawconn, io);
    if (events & EPOLLERR) {
        rc_close(rc);
        return;
    }
    if (events & EPOLLOUT) {
        bool was_pending = sp_buf_pending(&rc->out) > 0;
        if (!rc_flush(rc)) return;
        if (was_pending && !sp_buf_pending(&rc->out) && !rc->finishing && rc->h->on_drain) {
            rc->h->on_drain(rc);
            if (rc->dead) return;
        }
    }
    if (events & (EPOLLIN | EPOLLHUP)) rc_read(rc);
    if (rc->dead) return;
    /* Both directions are shut: the peer closed the connection (on a unix socket that is how a
     * client that went away looks), or it half-closed after our own shutdown. */
    if (events & EPOLLHUP) rc_close(rc);
}

static void rc_timer_cb(struct loop_timer *t)
{
    struct rawconn *rc = SP_CONTAINER_OF(t, struct rawconn, timer);
    if (!rc->finishing)
        sp_warn("rawconn: client stopped reading for %d s; closing",
                RAWCONN_WRITE_TIMEOUT_MS / 1000);
    rc_close(rc);
}

static void rc_owner_close(struct http_hijack_owner *o)
{
    rc_close(SP_CONTAINER_OF(o, struct rawconn, owner));
}

static void rc_deliver_early(void *arg)
{
    struct rawconn *rc = arg;
    if (rc->dead || rc->finishing || !sp_buf_pending(&rc->early)) return;
    if (rc->h->on_data) rc->h->on_data(rc, sp_buf_head(&rc->early), sp_buf_pending(&rc->early));
    sp_buf_free(&rc->early);
}

/*
 * A Docker client half-closes as soon as its stdin ends, so a peer that later dies sends
 * nothing we could notice while the process is silent. TCP keepalive probes make its kernel
 * answer with a reset (or time out when the host is gone).
 */
static void probe_dead_peers(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return;
    int on = 1, idle = RAWCONN_PROBE_S, intvl = RAWCONN_PROBE_S, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

int rawconn_accept(struct http_request *req, struct loop *loop, const char *head, size_t head_len,
                   const struct rawconn_handlers *h, void *data, struct rawconn **out)
{
    struct rawconn *rc = calloc(1, sizeof(*rc));
    if (!rc) return -ENOMEM;
    int r = sp_buf_append(&rc->out, head, head_len);
    int fd;
    rc->owner.close = rc_owner_close;
    if (r < 0 || (r = http_hijack(req, &fd, &rc->early, &rc->owner)) < 0) {
        rc_free(rc);
        return r;
    }
    rc->loop = loop;
    rc->h = h;
    rc->data = data;
    rc->write_progress_ms = sp_now_ms();
    loop_io_init(&rc->io, fd, rc_io_cb);
    loop_timer_init(&rc->timer, rc_timer_cb);
    probe_dead_peers(fd);
    *out = rc;
    if (loop_io_start(loop, &rc->io, 0) < 0) {
        rc_close(rc); /* the owner hears of it from the loop, like any other end */
        return 0;
    }
    if (sp_buf_pending(&rc->early) && loop_defer(loop, rc_deliver_early, rc) < 0) {
        rc_close(rc);
        return 0;
    }
    rc_flush(rc);
    return 0;
}

void *rawconn_data(struct rawconn *rc)
{
    return rc->data;
}

long rawconn_send(struct rawconn *rc, const struct iovec *iov, int iovcnt)
{
    if (rc->dead || rc->finishing) return -EPIPE;
    size_t sent = 0;
    if (!sp_buf_pending(&rc->out)) {
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t w;
        do
            w = sendmsg(rc->io.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN) {
            rc_close(rc);
            return -EPIPE;
        }
        if (w > 0) {
            sent = (size_t)w;
            rc->write_progress_ms = sp_now_ms();
        }
    }
    for (int i = 0; i < iovcnt; i++) { /* queue what the socket did not take */
        if (sent >= iov[i].iov_len) {
            sent -= iov[i].iov_len;
            continue;
        }
        if (sp_buf_append(&rc->out, (const char *)iov[i].iov_base + sent, iov[i].iov_len - sent) <
            0) {
            rc_close(rc);
            return -ENOMEM;
        }
        sent = 0;
    }
    rc_update(rc);
    return rc->dead ? -EPIPE : (long)sp_buf_pending(&rc->out);
}

void rawconn_pause_reading(struct rawconn *rc, bool paused)
{
    if (rc->dead || rc->paused == paused) return;
    rc->paused = paused;
    rc_update(rc);
}

void rawconn_finish(struct rawconn *rc)
{
    if (rc->finishing) return;
    rc->finishing = true; /* also when already dead: its queued on_close must not run */
    if (rc->dead) return;
    sp_buf_free(&rc->early);
    rc_maybe_shut(rc);
    rc_update(rc);
}
