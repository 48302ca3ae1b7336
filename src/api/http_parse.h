/* SPDX-License-Identifier: MIT */
/*
 * Incremental request parsing on top of http-parser, separate from any socket so it can be unit
 * tested: feed bytes, learn whether a request is complete, still partial, or bad (with the
 * status and error code to answer with). Internal to src/api.
 */
#ifndef SP_HTTP_PARSE_H
#define SP_HTTP_PARSE_H

#include <http_parser.h>

#include "http.h"

/* Header fields per request; more is a 431 (each field costs memory beyond its bytes). */
#define HTTP_MAX_HEADERS 128

enum http_parse_state {
    HTTP_PARSE_MORE,     /* need more bytes */
    HTTP_PARSE_HEADERS,  /* (ask_stream only) the headers are in and a body follows: call
                          * http_reqparser_body_mode() before feeding more */
    HTTP_PARSE_COMPLETE, /* req is a whole request */
    HTTP_PARSE_ERROR,    /* answer error_status/error_code and close */
};

struct http_reqparser {
    http_parser p;
    const struct http_limits *lim;
    struct http_request *req; /* being built; owned by the caller */
    size_t header_bytes;
    bool in_value; /* last header callback was a value */
    bool started;  /* some byte of this request was seen */
    bool expect_continue;
    bool headers_done;
    bool ask_stream;      /* stop at HTTP_PARSE_HEADERS when a body follows */
    bool stream_body;     /* body bytes go to req->body with no limit; the caller drains them */
    const char *feed_end; /* end of the bytes given to the current http_parser_execute */
    int crlf_seen;        /* chunk framing: 0..2 bytes of the CRLF after chunk data checked */
    bool crlf_due;        /* chunk data ended: its CRLF is still to be checked */
    enum http_parse_state state;
    int error_status;
    const char *error_code;
    char error_msg[160];
};

void http_reqparser_init(struct http_reqparser *rp, const struct http_limits *lim);
/* Starts a new request into req (which must be zeroed). */
void http_reqparser_reset(struct http_reqparser *rp, struct http_request *req);
/* Feeds bytes; returns how many were consumed. After COMPLETE, the rest belongs to the next
 * request (or, for an upgrade, to the new protocol). */
size_t http_reqparser_feed(struct http_reqparser *rp, const char *data, size_t len);
/* After HTTP_PARSE_HEADERS: stream (no size limit; drain req->body after every feed) or buffer
 * (max_body_bytes applies; a larger announced length fails with 413 right away). */
void http_reqparser_body_mode(struct http_reqparser *rp, bool stream);
/* Frees everything a request owns (not the struct). */
void http_request_clear(struct http_request *req);

#endif
