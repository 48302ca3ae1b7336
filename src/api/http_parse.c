/* SPDX-License-Identifier: MIT */
/* Request parsing: see http_parse.h. */
#include "http_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct http_reqparser *rp_of(http_parser *p)
{
    return SP_CONTAINER_OF(p, struct http_reqparser, p);
}

static int fail(struct http_reqparser *rp, int status, const char *code, const char *msg)
{
    if (rp->state != HTTP_PARSE_ERROR) {
        rp->state = HTTP_PARSE_ERROR;
        rp->error_status = status;
        rp->error_code = code;
        snprintf(rp->error_msg, sizeof(rp->error_msg), "%s", msg);
    }
    /* Any value but 0 stops http-parser; for on_headers_complete 1 and 2 mean "no body" and
     * "upgrade", so errors are -1 everywhere. */
    return -1;
}

static int count_header_bytes(struct http_reqparser *rp, size_t n)
{
    rp->header_bytes += n;
    if (rp->header_bytes > rp->lim->max_header_bytes)
        return fail(rp, 431, "headers_too_large", "request line and headers exceed the limit");
    return 0;
}

/* Appends to a NUL-terminated heap string. */
static int str_append(char **s, const char *at, size_t n)
{
    size_t old = *s ? strlen(*s) : 0;
    char *p = realloc(*s, old + n + 1);
    if (!p) return -ENOMEM;
    memcpy(p + old, at, n);
    p[old + n] = '\0';
    *s = p;
    return 0;
}

static int on_message_begin(http_parser *p)
{
    rp_of(p)->started = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_reqparser *rp = rp_of(p);
    if (count_header_bytes(rp, n)) return -1;
    if (str_append(&rp->req->target, at, n) < 0)
        return fail(rp, 503, "out_of_memory", "out of memory");
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_reqparser *rp = rp_of(p);
    struct http_request *req = rp->req;
    if (rp->headers_done) return 0; /* chunked trailers: never taken as headers */
    if (count_header_bytes(rp, n)) return -1;
    /* RFC 9112 §5.1: no whitespace in a field name. http-parser would take "Authorization :"
     * (and use "Content-Length :" for framing) while exact-name checks would not see it */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)at[i] <= 0x20 || (unsigned char)at[i] == 0x7f)
            return fail(rp, 400, "bad_request", "a header field name holds whitespace");
    if (rp->in_value || req->n_headers == 0) {
        if (count_header_bytes(rp, 4)) return -1; /* ": " and CRLF */
        if (req->n_headers >= HTTP_MAX_HEADERS)
            return fail(rp, 431, "headers_too_large", "too many header fields");
        if (req->n_headers == req->headers_cap) {
            size_t cap = req->headers_cap ? req->headers_cap * 2 : 16;
            struct http_header *h = realloc(req->headers, cap * sizeof(*h));
            if (!h) return fail(rp, 503, "out_of_memory", "out of memory");
            req->headers = h;
            req->headers_cap = cap;
        }
        req->headers[req->n_headers++] = (struct http_header){NULL, NULL};
        rp->in_value = false;
    }
    if (str_append(&req->headers[req->n_headers - 1].name, at, n) < 0)
        return fail(rp, 503, "out_of_memory", "out of memory");
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_reqparser *rp = rp_of(p);
    struct http_request *req = rp->req;
    if (rp->headers_done) return 0;
    if (count_header_bytes(rp, n)) return -1;
    rp->in_value = true;
    if (str_append(&req->headers[req->n_headers - 1].value, at, n) < 0)
        return fail(rp, 503, "out_of_memory", "out of memory");
    return 0;
}

static int check_body_length(struct http_reqparser *rp)
{
    if ((rp->p.flags & F_CONTENTLENGTH) && rp->p.content_length > rp->lim->max_body_bytes)
        return fail(rp, 413, "body_too_large", "request body exceeds the limit");
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_reqparser *rp = rp_of(p);
    struct http_request *req = rp->req;
    rp->headers_done = true;

    /* Headers with an empty value never got a value callback. */
    for (size_t i = 0; i < req->n_headers; i++) {
        if (!req->headers[i].value && str_append(&req->headers[i].value, "", 0) < 0)
            return fail(rp, 503, "out_of_memory", "out of memory");
    }
    if (!req->target && str_append(&req->target, "/", 1) < 0)
        return fail(rp, 503, "out_of_memory", "out of memory");
    if (p->http_major != 1)
        return fail(rp, 400, "bad_request", "unsupported HTTP version (HTTP/1.0 and 1.1 only)");
    req->method = http_method_str((enum http_method)p->method);
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    req->keep_alive = http_should_keep_alive(p);
    req->upgrade = p->upgrade;

    char *q = strchr(req->target, '?');
    size_t plen = q ? (size_t)(q - req->target) : strlen(req->target);
    req->path = strndup(req->target, plen);
    req->query = strdup(q ? q + 1 : "");
    if (!req->path || !req->query) return fail(rp, 503, "out_of_memory", "out of memory");

    const char *expect = http_header_get(req, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0) rp->expect_continue = true;
    bool has_body =
        (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
    if (rp->ask_stream && has_body && !p->upgrade) {
        rp->state = HTTP_PARSE_HEADERS;
        http_parser_pause(p, 1); /* the caller chooses how the body is taken */
        return 0;
    }
    return check_body_length(rp);
}

/*
 * http-parser, as Debian builds it (not strict), takes any two bytes after a chunk's data as its
 * CRLF, so "3\r\nabcXY0\r\n\r\n" would be a valid body. A peer that frames the message
 * differently would then disagree with us on where it ends, so check those bytes ourselves: they
 * are the bytes right after the last data byte of a chunk, in this feed or the next one.
 */
static int check_chunk_crlf(struct http_reqparser *rp, const char *from)
{
    static const char crlf[] = "\r\n";
    while (rp->crlf_due && rp->crlf_seen < 2 && from < rp->feed_end) {
        if (*from++ != crlf[rp->crlf_seen])
            return fail(rp, 400, "bad_request", "malformed request: bad chunk framing");
        if (++rp->crlf_seen == 2) rp->crlf_due = false;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_reqparser *rp = rp_of(p);
    struct http_request *req = rp->req;
    if ((p->flags & F_CHUNKED) && p->content_length == 0) {
        rp->crlf_due = true; /* this callback ends the chunk's data */
        rp->crlf_seen = 0;
        if (check_chunk_crlf(rp, at + n)) return -1;
    }
    if (!rp->stream_body && sp_buf_pending(&req->body) + n > rp->lim->max_body_bytes)
        return fail(rp, 413, "body_too_large", "request body exceeds the limit");
    if (sp_buf_append(&req->body, at, n) < 0)
        return fail(rp, 503, "out_of_memory", "out of memory");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_reqparser *rp = rp_of(p);
    rp->state = HTTP_PARSE_COMPLETE;
    http_parser_pause(p, 1); /* one request at a time: the rest stays unparsed */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_reqparser_init(struct http_reqparser *rp, const struct http_limits *lim)
{
    memset(rp, 0, sizeof(*rp));
    rp->lim = lim;
}

void http_reqparser_reset(struct http_reqparser *rp, struct http_request *req)
{
    const struct http_limits *lim = rp->lim;
    bool ask = rp->ask_stream;
    memset(rp, 0, sizeof(*rp));
    rp->lim = lim;
    rp->ask_stream = ask;
    rp->req = req;
    http_parser_init(&rp->p, HTTP_REQUEST);
}

size_t http_reqparser_feed(struct http_reqparser *rp, const char *data, size_t len)
{
    if (rp->state != HTTP_PARSE_MORE || len == 0) return 0;
    rp->feed_end = data + len;
    if (rp->crlf_due && check_chunk_crlf(rp, data)) return 0; /* CRLF split across feeds */
    size_t n = http_parser_execute(&rp->p, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&rp->p);

    if (rp->state == HTTP_PARSE_ERROR) return n;
    if (rp->state == HTTP_PARSE_HEADERS) {
        if (e == HPE_PAUSED) http_parser_pause(&rp->p, 0);
        return n;
    }
    if (rp->state == HTTP_PARSE_COMPLETE) {
        if (e == HPE_PAUSED) http_parser_pause(&rp->p, 0);
        return n;
    }
    if (e != HPE_OK) {
        char msg[160];
        if (e == HPE_HEADER_OVERFLOW) {
            fail(rp, 431, "headers_too_large", "request line and headers exceed the limit");
        } else {
            snprintf(msg, sizeof(msg), "malformed request: %s", http_errno_description(e));
            fail(rp, 400, "bad_request", msg);
        }
    } else if (rp->p.upgrade && n < len) {
        /* http-parser stops at the end of an upgrade request's headers */
        rp->state = HTTP_PARSE_COMPLETE;
    }
    return n;
}

void http_reqparser_body_mode(struct http_reqparser *rp, bool stream)
{
    if (rp->state != HTTP_PARSE_HEADERS) return;
    rp->state = HTTP_PARSE_MORE;
    rp->stream_body = stream;
    if (!stream) check_body_length(rp);
}

void http_request_clear(struct http_request *req)
{
    free(req->target);
    free(req->path);
    free(req->query);
    for (size_t i = 0; i < req->n_headers; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    sp_buf_free(&req->body);
    memset(req, 0, sizeof(*req));
}
