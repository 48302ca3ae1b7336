/* SPDX-License-Identifier: MIT */
/*
 * A raw byte stream on a connection taken from the HTTP server (Docker's hijacked exec start):
 * after the response head the socket carries unframed bytes both ways.
 *
 * The owner sends with rawconn_send() (what the socket does not take is queued; the return value
 * is the backlog, so a producer can pause above a mark and resume on on_drain) and receives the
 * client's bytes through on_data. A read EOF is only a half-close (on_eof): Docker clients shut
 * their write side when their stdin ends and keep reading. The connection is gone (on_close) on a
 * reset, a write error, a peer that closed both directions, or a backlog that made no progress for
 * RAWCONN_WRITE_TIMEOUT_MS. on_close runs from the loop, never inside a rawconn_* call, and the
 * rawconn is freed right after it.
 *
 * rawconn_finish() ends the stream the way moby does: what is queued is written, then the write
 * side is shut (the client reads EOF), then input is drained until the client closes (at most
 * RAWCONN_LINGER_MS) so that closing never resets a connection whose last bytes are unread. No
 * callback runs after rawconn_finish(); the rawconn frees itself.
 */
#ifndef SP_RAWCONN_H
#define SP_RAWCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../os/loop.h"
#include "http.h"

#define RAWCONN_WRITE_TIMEOUT_MS 60000
#define RAWCONN_LINGER_MS        5000

struct rawconn;
struct iovec;

struct rawconn_handlers {
    void (*on_data)(struct rawconn *rc, const char *data, size_t len);
    void (*on_eof)(struct rawconn *rc);   /* the client will send nothing more */
    void (*on_drain)(struct rawconn *rc); /* the send backlog was written out */
    void (*on_close)(struct rawconn *rc); /* the connection is gone */
};

/*
 * Takes req's connection, queues head (the response head, written before anything else) and
 * hands bytes the client already sent behind its request to on_data from the loop. 0, or
 * -errno with the request still the caller's to answer.
 */
int rawconn_accept(struct http_request *req, struct loop *loop, const char *head, size_t head_len,
                   const struct rawconn_handlers *h, void *data, struct rawconn **out);
void *rawconn_data(struct rawconn *rc);
/* Sends the pieces in order; returns the backlog, or -EPIPE once the connection is gone. */
long rawconn_send(struct rawconn *rc, const struct iovec *iov, int iovcnt);
/* Stops (or restarts) reading the client; a half-close or reset is still noticed. */
void rawconn_pause_reading(struct rawconn *rc, bool paused);
/* Ends the stream (see above). The owner must not use rc afterwards. */
void rawconn_finish(struct rawconn *rc);

#endif
