/* SPDX-License-Identifier: MIT */
/*
 * A reverse proxy to an HTTP server on a unix socket: the host daemon relays
 * /v1/sandboxes/{id}/<rest> to the sandbox's own agent this way.
 *
 * proxy_request() connects to the upstream socket, takes the client's connection from the server
 * (http_hijack), sends the request head rewritten for the upstream, then relays raw bytes both
 * ways from the loop until both sides are done. The request body and the response are not parsed:
 * a chunked body stays chunked, an upgraded connection (WebSocket, Docker's hijack) is relayed
 * like any other.
 *
 * Keep-alive: for an HTTP/1.1 client that did not ask to close (and no upgrade), the upstream is
 * not told to close either, and its response is parsed (http-parser) as it is relayed. When it
 * ends (its Content-Length, its last chunk, or its head for HEAD, 1xx, 204 and 304, whatever
 * length it announces; a 100 Continue is passed on and the response after it followed), the
 * upstream connection is closed and nothing it sent beyond its response is passed on. Then, if
 * the response does not say "Connection: close" and the request had ended first, the client's
 * connection goes back to the server (http_hijack_return) with the bytes the client sent past
 * its request: its next request is the server's, authenticated and routed again. Otherwise (and
 * when the response does not parse, or is a 1xx other than 100) the relay ends there, the
 * client's connection with it. An agent answering before the request ended says
 * "Connection: close" (sprite-env's server does). For every other request the upstream is told
 * "Connection: close" and the relay ends with its response, which says so to the client.
 *
 * Head sent upstream: "<METHOD> <target> HTTP/1.<client's minor>", then the client's header
 * fields as sent except the hop-by-hop ones (Connection, Keep-Alive, Proxy-Connection,
 * Proxy-Authorization, TE, Trailer, Upgrade unless req->upgrade, and every field the client's
 * Connection header names, but never Host, Content-Length or Transfer-Encoding), Expect (the
 * front server answered it already) and the client's credentials for the host (Authorization,
 * X-Access-Token); then "Authorization: <o->authorization>" when given, "Host: localhost" when
 * the client sent no Host, and "Connection: close" ("Connection: Upgrade, close" and the
 * client's Upgrade field when req->upgrade; nothing for a keep-alive request).
 *
 * Request bodies: routes that proxy take their body as a stream (http_server_set_body_hook), so
 * the handler runs when the head is in and the body, read or not yet, is relayed raw with its
 * framing as sent. A body the server buffered instead (req->body_buffered, an empty chunked one
 * too) is sent first, with its framing replaced by Content-Length.
 *
 * One request, whatever the upstream does: the bytes sent upstream (the rewritten head, then the
 * client's) are parsed as the upstream will parse them (http-parser), and nothing beyond the end
 * of the request is sent: a client that reuses the connection (pipelining, or a keep-alive
 * answer from an upstream that does not close) never has its next request, with the host's
 * credentials, read by the upstream; those bytes go back to the server with the connection
 * (keep-alive), or are dropped. For an upgrade, what the client
 * sends behind its head is held until the upstream's answer begins: "HTTP/1.x 101" opens the
 * tunnel (raw bytes both ways from then on), anything else drops them.
 *
 * Relaying: each direction has a buffer of at most PROXY_BUF_MAX bytes; its source is not read
 * while it is full, so memory stays bounded whatever the peers do. Half-closes travel: the
 * client's EOF becomes shutdown(SHUT_WR) upstream once what it sent is written, and the response
 * keeps flowing. The upstream's EOF ends the relay: the upstream socket is closed, what it sent is
 * written to the client, the client's write side is shut, its input is drained and dropped until
 * it closes (at most PROXY_LINGER_MS, so the last bytes are not lost to a reset), then the socket
 * is closed. A read or write error on the upstream (a reset: the agent died, or answered early
 * and closed without reading the body) ends it the same way, after reading what it sent; an
 * upstream that closes or fails before sending a single byte gets the client a 502 (JSON, code
 * "bad_gateway") instead of a bare close. A client that closes both directions or fails, or
 * buffered bytes that make no progress for PROXY_STALL_MS, close both at once. A relay where both
 * sides are alive and silent never times out (long streams and WebSockets are legitimate); a TCP
 * client is sent keepalive probes (every PROXY_PROBE_S s once idle) so one that vanished is
 * noticed.
 *
 * The client's connection counts against the server's max_connections until the relay ends;
 * http_server_free() ends the relays of its connections.
 */
#ifndef SP_PROXY_H
#define SP_PROXY_H

#include "../base/err.h"
#include "../os/loop.h"
#include "http.h"

#define PROXY_BUF_MAX   (256 * 1024) /* bytes buffered per direction */
#define PROXY_STALL_MS  60000        /* buffered bytes that cannot be written for this long */
#define PROXY_LINGER_MS 5000         /* draining the client after its response ended */
#define PROXY_PROBE_S   15           /* TCP keepalive idle time and interval for the client */

struct proxy_opts {
    const char *socket_path;   /* the upstream HTTP server's unix socket */
    const char *target;        /* the request target sent upstream: path and query ("/x?y=1") */
    const char *authorization; /* the Authorization value sent upstream; NULL: none */
    void (*on_end)(void *ud);  /* called once, from the loop, when the relay is over and freed
                                * (may be NULL) */
    void *ud;
};

/*
 * Relays req to the upstream server. Call it from the handler itself, as soon as the request's
 * head is in (from a route whose body is streamed; a request without a body is dispatched
 * complete). A handler that must wait before calling it pauses the body first (http_body_pause).
 * The strings in o are used during the call only; ud must live until on_end.
 *
 * Returns 0 once the connection is taken: the request must not be used afterwards and on_end
 * will run. Or -errno with err set, the request still the caller's to answer (a 502 when the
 * upstream is unreachable) and on_end never called: -ENOENT (no socket), -ECONNREFUSED (nobody
 * listening), -EAGAIN (its backlog is full), -EINVAL (an empty target or one with a space or a
 * control byte, an authorization with CR or LF, a socket path too long, a streamed body already
 * partly handed to the handler), -ENOMEM.
 */
int proxy_request(struct http_request *req, struct loop *loop, const struct proxy_opts *o,
                  struct sp_err *err);

#endif
