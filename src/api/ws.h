/* SPDX-License-Identifier: MIT */
/*
 * WebSocket (RFC 6455), server side, on a connection taken from the HTTP server. ws_accept()
 * checks the handshake, answers 101 and takes the socket (http_hijack); from then on the owner
 * sends messages with ws_send() and gets them through its handlers. Fragmented messages are
 * reassembled (up to WS_MAX_MESSAGE), pings are answered, client frames must be masked.
 *
 * Lifetime: on_close runs exactly once, from the loop (never from inside a ws_* call), when the
 * connection is over (closing handshake done, peer gone, or protocol error); the ws_conn is
 * freed right after it returns, so the owner forgets it there. Between the end and on_close,
 * ws_send returns -EPIPE and ws_close does nothing. Loop-thread only.
 */
#ifndef SP_WS_H
#define SP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../os/loop.h"
#include "http.h"

#define WS_MAX_MESSAGE (4u * 1024 * 1024)

enum ws_opcode { WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

struct ws_conn;

struct ws_handlers {
    void (*on_message)(struct ws_conn *ws, enum ws_opcode op, const char *data, size_t len);
    void (*on_drain)(struct ws_conn *ws);           /* the send backlog was written out */
    void (*on_close)(struct ws_conn *ws, int code); /* 1006 when the peer just went away */
};

/* Answers the request in every case: 101 and *out on success (returns 0), or a 400/426 error
 * (returns -1). */
int ws_accept(struct http_request *req, struct loop *loop, const struct ws_handlers *h, void *data,
              struct ws_conn **out);

void *ws_data(struct ws_conn *ws);

/* Queues one message; returns the bytes not yet written (the backlog) or -EPIPE once closing. */
long ws_send(struct ws_conn *ws, enum ws_opcode op, const void *data, size_t len);

/* Starts the closing handshake (code 1000 = normal); on_close follows. */
void ws_close(struct ws_conn *ws, uint16_t code, const char *reason);

/* Stops / resumes reading from the client (back-pressure on what it sends). */
void ws_pause_reading(struct ws_conn *ws, bool paused);

/* Frame codec, exposed for unit tests. Parses one frame at p (n bytes available): returns its
 * total length, 0 when incomplete, -1 when malformed, -2 when larger than WS_MAX_MESSAGE. Unmasks
 * the payload in place. */
struct ws_frame {
    bool fin;
    int opcode;
    bool masked;
    const char *payload;
    size_t len;
};
long ws_parse_frame(char *p, size_t n, struct ws_frame *f);
/* The Sec-WebSocket-Accept value for a key (29 bytes with the NUL). */
void ws_accept_key(const char *key, char out[29]);

#endif
