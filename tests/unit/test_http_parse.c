/* SPDX-License-Identifier: MIT */
/* Unit tests for src/api/http_parse.c (and the lookups of src/api/http.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../src/api/http.h"
#include "../../src/api/http_parse.h"
#include "../../src/base/compiler.h"

static const struct http_limits small_limits = {
    .max_header_bytes = 256,
    .max_body_bytes = 16,
    .max_connections = 4,
    .idle_timeout_ms = 1000,
    .request_timeout_ms = 1000,
    .write_timeout_ms = 1000,
};

struct ctx {
    struct http_reqparser rp;
    struct http_request req;
};

static void start(struct ctx *c, const struct http_limits *lim)
{
    memset(c, 0, sizeof(*c));
    http_reqparser_init(&c->rp, lim);
    http_reqparser_reset(&c->rp, &c->req);
}

static void finish(struct ctx *c)
{
    http_request_clear(&c->req);
}

/* Feeds all of s in one call. */
static size_t feed(struct ctx *c, const char *s)
{
    return http_reqparser_feed(&c->rp, s, strlen(s));
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        if (!h_ || !strstr(h_, (needle)))                                                          \
            fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", (needle));              \
    } while (0)

static void test_simple_get(void **state)
{
    (void)state;
    struct ctx c;
    static const char r[] = "GET /v1/exec?cmd=ls&tty=true HTTP/1.1\r\n"
                            "Host: localhost\r\n"
                            "X-Empty:\r\n"
                            "Authorization: Bearer tok\r\n"
                            "\r\n";
    start(&c, &small_limits);
    assert_int_equal(c.rp.state, HTTP_PARSE_MORE);
    assert_int_equal(feed(&c, r), strlen(r));
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_string_equal(c.req.method, "GET");
    assert_string_equal(c.req.target, "/v1/exec?cmd=ls&tty=true");
    assert_string_equal(c.req.path, "/v1/exec");
    assert_string_equal(c.req.query, "cmd=ls&tty=true");
    assert_int_equal(c.req.http_major, 1);
    assert_int_equal(c.req.http_minor, 1);
    assert_true(c.req.keep_alive);
    assert_false(c.req.upgrade);
    assert_false(c.rp.expect_continue);
    assert_int_equal(c.req.n_headers, 3);
    assert_string_equal(c.req.headers[0].name, "Host");
    assert_string_equal(c.req.headers[0].value, "localhost");
    assert_string_equal(c.req.headers[1].name, "X-Empty");
    assert_string_equal(c.req.headers[1].value, ""); /* never NULL */
    assert_string_equal(c.req.headers[2].name, "Authorization");
    assert_string_equal(c.req.headers[2].value, "Bearer tok");
    assert_int_equal(sp_buf_pending(&c.req.body), 0);

    /* Nothing more is consumed once complete. */
    assert_int_equal(feed(&c, "GET / HTTP/1.1\r\n\r\n"), 0);
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    finish(&c);
    assert_null(c.req.target);
    assert_int_equal(c.req.n_headers, 0);
}

static void test_methods_and_no_query(void **state)
{
    (void)state;
    static const char *const methods[] = {"GET",  "POST",    "PUT",  "DELETE",
                                          "HEAD", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < SP_ARRAY_LEN(methods); i++) {
        struct ctx c;
        char r[128];
        snprintf(r, sizeof(r), "%s /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n", methods[i]);
        start(&c, &small_limits);
        assert_int_equal(feed(&c, r), strlen(r));
        if (c.rp.state != HTTP_PARSE_COMPLETE) fail_msg("%s: state %d", methods[i], c.rp.state);
        assert_string_equal(c.req.method, methods[i]);
        assert_string_equal(c.req.path, "/health");
        assert_string_equal(c.req.query, "");
        finish(&c);
    }

    /* A trailing '?' gives an empty query; the path stays percent-encoded. */
    struct ctx c;
    start(&c, &small_limits);
    feed(&c, "GET /a%20b? HTTP/1.1\r\n\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_string_equal(c.req.path, "/a%20b");
    assert_string_equal(c.req.query, "");
    assert_string_equal(c.req.target, "/a%20b?");
    finish(&c);
}

static void test_keep_alive_variants(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        bool keep_alive;
        unsigned minor;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", true, 1},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false, 1},
        {"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false, 1},
        {"GET / HTTP/1.0\r\n\r\n", false, 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, 0},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct ctx c;
        start(&c, &small_limits);
        assert_int_equal(feed(&c, cases[i].req), strlen(cases[i].req));
        assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
        if (c.req.keep_alive != cases[i].keep_alive)
            fail_msg("case %zu: keep_alive %d, want %d", i, c.req.keep_alive, cases[i].keep_alive);
        assert_int_equal(c.req.http_major, 1);
        assert_int_equal(c.req.http_minor, cases[i].minor);
        finish(&c);
    }
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    static const char r[] = "POST /v1/things?a=1 HTTP/1.1\r\n"
                            "Host: example\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: 11\r\n"
                            "\r\n"
                            "{\"k\": true}";
    struct ctx c;
    start(&c, &small_limits);
    size_t n = strlen(r);
    for (size_t i = 0; i < n; i++) {
        if (c.rp.state != HTTP_PARSE_MORE) fail_msg("state %d before byte %zu", c.rp.state, i);
        size_t used = http_reqparser_feed(&c.rp, r + i, 1);
        if (used != 1) fail_msg("byte %zu: consumed %zu", i, used);
        if (i + 1 < n && c.rp.state != HTTP_PARSE_MORE)
            fail_msg("complete too early at byte %zu", i);
    }
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_true(c.rp.started);
    assert_string_equal(c.req.method, "POST");
    assert_string_equal(c.req.target, "/v1/things?a=1");
    assert_string_equal(c.req.path, "/v1/things");
    assert_string_equal(c.req.query, "a=1");
    assert_int_equal(c.req.n_headers, 3);
    /* Names and values split over many callbacks are joined. */
    assert_string_equal(c.req.headers[1].name, "Content-Type");
    assert_string_equal(c.req.headers[1].value, "application/json");
    assert_string_equal(http_header_get(&c.req, "content-length"), "11");
    assert_int_equal(sp_buf_pending(&c.req.body), 11);
    assert_memory_equal(sp_buf_head(&c.req.body), "{\"k\": true}", 11);
    finish(&c);
}

static void test_split_at_every_point(void **state)
{
    (void)state;
    static const char r[] = "PUT /x HTTP/1.1\r\nA: 1\r\nBb: 22\r\nContent-Length: 3\r\n\r\nabc";
    size_t n = strlen(r);
    for (size_t cut = 1; cut < n; cut++) {
        struct ctx c;
        start(&c, &small_limits);
        size_t a = http_reqparser_feed(&c.rp, r, cut);
        assert_int_equal(a, cut);
        assert_int_equal(c.rp.state, HTTP_PARSE_MORE);
        size_t b = http_reqparser_feed(&c.rp, r + cut, n - cut);
        if (b != n - cut) fail_msg("cut %zu: second feed consumed %zu of %zu", cut, b, n - cut);
        assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
        assert_int_equal(c.req.n_headers, 3);
        assert_string_equal(c.req.headers[0].name, "A");
        assert_string_equal(c.req.headers[0].value, "1");
        assert_string_equal(c.req.headers[1].name, "Bb");
        assert_string_equal(c.req.headers[1].value, "22");
        assert_int_equal(sp_buf_pending(&c.req.body), 3);
        assert_memory_equal(sp_buf_head(&c.req.body), "abc", 3);
        finish(&c);
    }
}

static void test_pipelined(void **state)
{
    (void)state;
    static const char first[] = "POST /one HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    static const char second[] = "GET /two?x=2 HTTP/1.1\r\nHost: h\r\n\r\n";
    char both[256];
    snprintf(both, sizeof(both), "%s%s", first, second);

    struct ctx c;
    start(&c, &small_limits);
    size_t n = feed(&c, both);
    assert_int_equal(n, strlen(first)); /* exactly the first request */
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_string_equal(c.req.method, "POST");
    assert_string_equal(c.req.path, "/one");
    assert_int_equal(sp_buf_pending(&c.req.body), 5);
    assert_memory_equal(sp_buf_head(&c.req.body), "hello", 5);

    http_request_clear(&c.req);
    http_reqparser_reset(&c.rp, &c.req);
    assert_int_equal(c.rp.state, HTTP_PARSE_MORE);
    size_t m = http_reqparser_feed(&c.rp, both + n, strlen(both) - n);
    assert_int_equal(m, strlen(second));
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_string_equal(c.req.method, "GET");
    assert_string_equal(c.req.path, "/two");
    assert_string_equal(c.req.query, "x=2");
    assert_int_equal(c.req.n_headers, 1);
    assert_string_equal(http_header_get(&c.req, "host"), "h");
    assert_int_equal(sp_buf_pending(&c.req.body), 0);
    finish(&c);
}

static void test_pipelined_bodyless(void **state)
{
    (void)state;
    /* Three GETs back to back (no body, so the end is the blank line). */
    static const char all[] =
        "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
    static const char *const paths[] = {"/a", "/b", "/c"};
    struct ctx c;
    start(&c, &small_limits);
    size_t off = 0;
    for (size_t i = 0; i < 3; i++) {
        size_t n = http_reqparser_feed(&c.rp, all + off, strlen(all) - off);
        assert_int_equal(n, 19);
        assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
        assert_string_equal(c.req.path, paths[i]);
        off += n;
        http_request_clear(&c.req);
        http_reqparser_reset(&c.rp, &c.req);
    }
    assert_int_equal(off, strlen(all));
    finish(&c);
}

static void test_content_length_body(void **state)
{
    (void)state;
    struct ctx c;
    start(&c, &small_limits);
    /* Exactly max_body_bytes (16) is allowed. */
    static const char r[] = "POST /b HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef";
    assert_int_equal(feed(&c, r), strlen(r));
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_int_equal(sp_buf_pending(&c.req.body), 16);
    assert_memory_equal(sp_buf_head(&c.req.body), "0123456789abcdef", 16);
    finish(&c);

    /* Headers complete but the body is still coming. */
    start(&c, &small_limits);
    static const char part[] = "POST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\nab";
    assert_int_equal(feed(&c, part), strlen(part));
    assert_int_equal(c.rp.state, HTTP_PARSE_MORE);
    assert_string_equal(c.req.path, "/b"); /* filled at the end of the headers */
    assert_int_equal(feed(&c, "cdEXTRA"), 2);
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_memory_equal(sp_buf_head(&c.req.body), "abcd", 4);
    finish(&c);

    /* Binary body with NUL bytes. */
    start(&c, &small_limits);
    static const char bin[] = "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\na\0b";
    size_t blen = sizeof(bin) - 1;
    assert_int_equal(http_reqparser_feed(&c.rp, bin, blen), blen);
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_int_equal(sp_buf_pending(&c.req.body), 3);
    assert_memory_equal(sp_buf_head(&c.req.body), "a\0b", 3);
    finish(&c);
}

static void test_chunked_body(void **state)
{
    (void)state;
    static const char r[] = "POST /c HTTP/1.1\r\n"
                            "Transfer-Encoding: chunked\r\n"
                            "\r\n"
                            "5\r\nhello\r\n"
                            "1;ext=1\r\n,\r\n"
                            "A\r\n0123456789\r\n"
                            "0\r\n"
                            "\r\n";
    struct ctx c;
    start(&c, &small_limits);
    assert_int_equal(feed(&c, r), strlen(r));
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_int_equal(sp_buf_pending(&c.req.body), 16);
    assert_memory_equal(sp_buf_head(&c.req.body), "hello,0123456789", 16);
    assert_true(c.req.keep_alive);
    finish(&c);

    /* Byte by byte too. */
    start(&c, &small_limits);
    for (size_t i = 0; i < strlen(r); i++)
        assert_int_equal(http_reqparser_feed(&c.rp, r + i, 1), 1);
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_memory_equal(sp_buf_head(&c.req.body), "hello,0123456789", 16);
    finish(&c);

    /* With trailers. */
    static const char t[] = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n0\r\nX-Trailer: v\r\n\r\n";
    start(&c, &small_limits);
    assert_int_equal(feed(&c, t), strlen(t));
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_int_equal(sp_buf_pending(&c.req.body), 3);
    finish(&c);
}

static void test_body_too_large_content_length(void **state)
{
    (void)state;
    struct ctx c;
    start(&c, &small_limits);
    /* Refused at the end of the headers, before any body byte arrives. */
    feed(&c, "POST /b HTTP/1.1\r\nContent-Length: 17\r\n\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_ERROR);
    assert_int_equal(c.rp.error_status, 413);
    assert_string_equal(c.rp.error_code, "body_too_large");
    assert_true(strlen(c.rp.error_msg) > 0);
    /* After an error nothing more is consumed. */
    assert_int_equal(feed(&c, "01234567890123456"), 0);
    assert_int_equal(c.rp.state, HTTP_PARSE_ERROR);
    finish(&c);

    start(&c, &small_limits);
    feed(&c, "POST /b HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_ERROR);
    assert_int_equal(c.rp.error_status, 413);
    assert_string_equal(c.rp.error_code, "body_too_large");
    finish(&c);
}

static void test_body_too_large_chunked(void **state)
{
    (void)state;
    struct ctx c;
    start(&c, &small_limits);
    /* 10 + 10 = 20 > 16: the second chunk trips the limit. */
    feed(&c, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
             "a\r\n0123456789\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_MORE);
    feed(&c, "a\r\n0123456789\r\n0\r\n\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_ERROR);
    assert_int_equal(c.rp.error_status, 413);
    assert_string_equal(c.rp.error_code, "body_too_large");
    assert_true(sp_buf_pending(&c.req.body) <= small_limits.max_body_bytes);
    finish(&c);

    /* A single chunk larger than the limit, delivered in pieces. */
    start(&c, &small_limits);
    feed(&c, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n");
    for (int i = 0; i < 4 && c.rp.state == HTTP_PARSE_MORE; i++)
        feed(&c, "01234567");
    assert_int_equal(c.rp.state, HTTP_PARSE_ERROR);
    assert_int_equal(c.rp.error_status, 413);
    assert_string_equal(c.rp.error_code, "body_too_large");
    finish(&c);
}

static void test_zero_body_limit(void **state)
{
    (void)state;
    struct http_limits lim = small_limits;
    lim.max_body_bytes = 0;
    struct ctx c;
    start(&c, &lim);
    feed(&c, "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    finish(&c);
    start(&c, &lim);
    feed(&c, "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
    assert_int_equal(c.rp.state, HTTP_PARSE_ERROR);
    assert_int_equal(c.rp.error_status, 413);
    finish(&c);
}

static void test_headers_too_large(void **state)
{
    (void)state;
    char big[600];
    struct ctx c;

    /* One long header value. */
    memset(big, 'v', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    start(&c, &small_limits);
    feed(&c, "GET / HTTP/1.1\r\nX-Big: ");
    assert_int_equal(c.rp.state, HTTP_PARSE_MORE);
    feed(&c, big);
    assert_int_equal(c.rp.state, HTTP_PARSE_ERROR);
    assert_int_equal(c.rp.error_status, 431);
    assert_string_equal(c.rp.error_code, "headers_too_large");
    finish(&c);

    /* A long request target. */
    start(&c, &small_limits);
    char line[700];
    snprintf(line, sizeof(line), "GET /%s HTTP/1.1\r\n\r\n", big);
    feed(&c, line);
    assert_int_equal(c.rp.state, HTTP_PARSE_ERROR);
    assert_int_equal(c.rp.error_status, 431);
    assert_string_equal(c.rp.error_code, "headers_too_large");
    finish(&c);

    /* Many small headers add up. */
    start(&c, &small_limits);
    feed(&c, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 100 && c.rp.state == HTTP_PARSE_MORE; i++)
        feed(&c, "X-A: b\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_ERROR);
    assert_int_equal(c.rp.error_status, 431);
    assert_string_equal(c.rp.error_code, "headers_too_large");
    finish(&c);

    /* Just under the limit is fine. */
    start(&c, &small_limits);
    char ok[300];
    memset(ok, 'v', 150);
    ok[150] = '\0';
    char req[400];
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Ok: %s\r\n\r\n", ok);
    feed(&c, req);
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_int_equal(strlen(http_header_get(&c.req, "x-ok")), 150);
    finish(&c);
}

static void test_bad_requests(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "garbage\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/9.9x\r\n\r\n",
        "GET / FTP/1.1\r\n\r\n",
        "\x01\x02\x03\r\n\r\n",
        "GET / HTTP/1.1\r\nX-Bad\x01Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\nX-Bad(Name): x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct ctx c;
        start(&c, &small_limits);
        feed(&c, cases[i]);
        if (c.rp.state != HTTP_PARSE_ERROR)
            fail_msg("case %zu: state %d, want ERROR", i, c.rp.state);
        if (c.rp.error_status != 400)
            fail_msg("case %zu: status %d, want 400", i, c.rp.error_status);
        assert_string_equal(c.rp.error_code, "bad_request");
        assert_contains(c.rp.error_msg, "malformed request");
        finish(&c);
    }
}

/* RFC 9112 §5.1: whitespace in a field name is refused (http-parser alone would take
 * "Authorization :" and frame the body by "Content-Length :"). */
static void test_whitespace_in_field_name(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "GET / HTTP/1.1\r\nAuthorization : Bearer x\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello",
        "GET / HTTP/1.1\r\nX\tTab: y\r\n\r\n",
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct ctx c;
        start(&c, &small_limits);
        feed(&c, cases[i]);
        if (c.rp.state != HTTP_PARSE_ERROR || c.rp.error_status != 400)
            fail_msg("case %zu: state %d status %d, want a 400", i, c.rp.state, c.rp.error_status);
        if (i < 2) assert_contains(c.rp.error_msg, "whitespace"); /* a tab: http-parser's own */
        finish(&c);
    }
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct ctx c;
    start(&c, &small_limits);
    feed(&c, "POST /b HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_MORE); /* the body is still to come */
    assert_true(c.rp.expect_continue);
    feed(&c, "body");
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_memory_equal(sp_buf_head(&c.req.body), "body", 4);
    finish(&c);

    start(&c, &small_limits);
    feed(&c, "POST /b HTTP/1.1\r\nContent-Length: 4\r\nexpect: 100-CONTINUE\r\n\r\n");
    assert_true(c.rp.expect_continue);
    finish(&c);

    start(&c, &small_limits);
    feed(&c, "POST /b HTTP/1.1\r\nContent-Length: 4\r\nExpect: something-else\r\n\r\n");
    assert_false(c.rp.expect_continue);
    finish(&c);

    /* A reset clears it. */
    start(&c, &small_limits);
    feed(&c, "POST /b HTTP/1.1\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n");
    assert_true(c.rp.expect_continue);
    http_request_clear(&c.req);
    http_reqparser_reset(&c.rp, &c.req);
    assert_false(c.rp.expect_continue);
    feed(&c, "GET / HTTP/1.1\r\n\r\n");
    assert_false(c.rp.expect_continue);
    finish(&c);
}

static void test_upgrade(void **state)
{
    (void)state;
    static const char head[] = "GET /v1/exec HTTP/1.1\r\n"
                               "Host: h\r\n"
                               "Connection: Upgrade\r\n"
                               "Upgrade: tcp\r\n"
                               "\r\n";
    static const char rest[] = "\x01\x02raw stream bytes";
    char all[256];
    memcpy(all, head, strlen(head));
    memcpy(all + strlen(head), rest, sizeof(rest) - 1);
    size_t total = strlen(head) + sizeof(rest) - 1;

    struct ctx c;
    start(&c, &small_limits);
    size_t n = http_reqparser_feed(&c.rp, all, total);
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_true(c.req.upgrade);
    assert_int_equal(n, strlen(head)); /* the new protocol's bytes are left alone */
    assert_string_equal(c.req.path, "/v1/exec");
    assert_string_equal(http_header_get(&c.req, "upgrade"), "tcp");
    assert_int_equal(sp_buf_pending(&c.req.body), 0);
    finish(&c);

    /* Headers only, nothing after them. */
    start(&c, &small_limits);
    n = feed(&c, head);
    assert_int_equal(n, strlen(head));
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_true(c.req.upgrade);
    finish(&c);

    /* Byte by byte, then the stream. */
    start(&c, &small_limits);
    for (size_t i = 0; i < strlen(head); i++) {
        assert_int_equal(c.rp.state, HTTP_PARSE_MORE);
        assert_int_equal(http_reqparser_feed(&c.rp, head + i, 1), 1);
    }
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_true(c.req.upgrade);
    assert_int_equal(feed(&c, "stream"), 0);
    finish(&c);

    /* Connection: keep-alive, Upgrade (a list) counts too. */
    start(&c, &small_limits);
    feed(&c, "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_true(c.req.upgrade);
    finish(&c);

    /* An Upgrade header without Connection: upgrade is a plain request. */
    start(&c, &small_limits);
    n = feed(&c, "GET / HTTP/1.1\r\nUpgrade: tcp\r\n\r\nGET");
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_false(c.req.upgrade);
    assert_int_equal(n, strlen("GET / HTTP/1.1\r\nUpgrade: tcp\r\n\r\n"));
    finish(&c);
}

static void test_header_get(void **state)
{
    (void)state;
    struct ctx c;
    start(&c, &small_limits);
    feed(&c, "GET / HTTP/1.1\r\nContent-Type: text/plain\r\nX-Dup: one\r\nx-dup: two\r\n"
             "X-Spaces:   padded   \r\n\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_string_equal(http_header_get(&c.req, "Content-Type"), "text/plain");
    assert_string_equal(http_header_get(&c.req, "content-type"), "text/plain");
    assert_string_equal(http_header_get(&c.req, "CONTENT-TYPE"), "text/plain");
    assert_string_equal(http_header_get(&c.req, "cOnTeNt-TyPe"), "text/plain");
    assert_null(http_header_get(&c.req, "Content"));
    assert_null(http_header_get(&c.req, "Content-Type2"));
    assert_null(http_header_get(&c.req, "Missing"));
    assert_string_equal(http_header_get(&c.req, "X-DUP"), "one"); /* the first one */
    /* Leading whitespace is not part of the value (trailing handling is http-parser's). */
    const char *sp = http_header_get(&c.req, "x-spaces");
    assert_non_null(sp);
    assert_true(strncmp(sp, "padded", 6) == 0);
    finish(&c);

    struct http_request empty;
    memset(&empty, 0, sizeof(empty));
    assert_null(http_header_get(&empty, "Host"));
}

static void test_many_headers_growth(void **state)
{
    (void)state;
    struct http_limits lim = small_limits;
    lim.max_header_bytes = 8192;
    struct ctx c;
    start(&c, &lim);
    feed(&c, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 40; i++) {
        char h[64];
        snprintf(h, sizeof(h), "H%d: v%d\r\n", i, i);
        feed(&c, h);
    }
    feed(&c, "\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    assert_int_equal(c.req.n_headers, 40);
    assert_true(c.req.headers_cap >= 40);
    assert_string_equal(http_header_get(&c.req, "h0"), "v0");
    assert_string_equal(http_header_get(&c.req, "h17"), "v17");
    assert_string_equal(http_header_get(&c.req, "H39"), "v39");
    finish(&c);
}

static void set_query(struct http_request *req, const char *q)
{
    memset(req, 0, sizeof(*req));
    req->query = (char *)q;
}

static void test_query_get(void **state)
{
    (void)state;
    struct http_request req;
    char buf[64];

    static const struct {
        const char *query;
        const char *name;
        const char *want; /* NULL: absent */
    } cases[] = {
        {"a=1&b=2", "a", "1"},
        {"a=1&b=2", "b", "2"},
        {"a=1&b=2", "c", NULL},
        {"a=1&b=2", "", NULL},
        {"a=1&ab=2", "ab", "2"},
        {"ab=1&a=2", "a", "2"},
        {"cmd=hello%20world", "cmd", "hello world"},
        {"cmd=a+b+c", "cmd", "a b c"},
        {"cmd=%2B%26%3D", "cmd", "+&="},
        {"cmd=%e2%82%ac", "cmd", "\xe2\x82\xac"},
        {"cmd=%zz", "cmd", "%zz"}, /* invalid escapes are kept as they are */
        {"cmd=%4", "cmd", "%4"},
        {"cmd=50%", "cmd", "50%"},
        {"cmd=%41", "cmd", "A"},
        {"tty", "tty", ""}, /* a key without '=' is present and empty */
        {"a=1&tty&b=2", "tty", ""},
        {"tty=", "tty", ""},
        {"a=&b", "a", ""},
        {"x%20y=1", "x y", "1"}, /* keys are decoded too */
        {"x+y=1", "x y", "1"},
        {"a=1&a=2", "a", "1"}, /* the first one */
        {"a=b=c", "a", "b=c"},
        {"&&a=1&&", "a", "1"},
        {"", "a", NULL},
        {"A=1", "a", NULL}, /* case-sensitive */
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        set_query(&req, cases[i].query);
        memset(buf, 'x', sizeof(buf));
        const char *r = http_query_get(&req, cases[i].name, buf, sizeof(buf));
        if (!cases[i].want) {
            if (r)
                fail_msg("query \"%s\" key \"%s\": got \"%s\", want absent", cases[i].query,
                         cases[i].name, r);
            continue;
        }
        if (!r)
            fail_msg("query \"%s\" key \"%s\": absent, want \"%s\"", cases[i].query, cases[i].name,
                     cases[i].want);
        assert_ptr_equal(r, buf);
        if (strcmp(r, cases[i].want) != 0)
            fail_msg("query \"%s\" key \"%s\": got \"%s\", want \"%s\"", cases[i].query,
                     cases[i].name, r, cases[i].want);
    }

    /* NULL query behaves as empty. */
    set_query(&req, NULL);
    assert_null(http_query_get(&req, "a", buf, sizeof(buf)));

    /* The value is truncated to the buffer and stays NUL-terminated. */
    set_query(&req, "k=abcdefghij");
    char small[5];
    assert_ptr_equal(http_query_get(&req, "k", small, sizeof(small)), small);
    assert_string_equal(small, "abcd");
}

static void test_query_from_parser(void **state)
{
    (void)state;
    struct ctx c;
    start(&c, &small_limits);
    feed(&c, "GET /v1/exec?cmd=echo+hi%21&dir=%2Ftmp&tty HTTP/1.1\r\n\r\n");
    assert_int_equal(c.rp.state, HTTP_PARSE_COMPLETE);
    char buf[32];
    assert_string_equal(http_query_get(&c.req, "cmd", buf, sizeof(buf)), "echo hi!");
    assert_string_equal(http_query_get(&c.req, "dir", buf, sizeof(buf)), "/tmp");
    assert_string_equal(http_query_get(&c.req, "tty", buf, sizeof(buf)), "");
    assert_null(http_query_get(&c.req, "env", buf, sizeof(buf)));
    finish(&c);
}

static void test_clear_is_idempotent(void **state)
{
    (void)state;
    struct http_request req;
    memset(&req, 0, sizeof(req));
    http_request_clear(&req);
    http_request_clear(&req);
    assert_null(req.headers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_methods_and_no_query),
        cmocka_unit_test(test_keep_alive_variants),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_split_at_every_point),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_pipelined_bodyless),
        cmocka_unit_test(test_content_length_body),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_body_too_large_content_length),
        cmocka_unit_test(test_body_too_large_chunked),
        cmocka_unit_test(test_zero_body_limit),
        cmocka_unit_test(test_headers_too_large),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_whitespace_in_field_name),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_header_get),
        cmocka_unit_test(test_many_headers_growth),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_query_from_parser),
        cmocka_unit_test(test_clear_is_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
