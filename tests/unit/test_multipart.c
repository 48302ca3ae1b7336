/* SPDX-License-Identifier: MIT */
/* Unit tests for the streaming multipart/form-data parser (src/api/multipart.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../src/api/multipart.h"
#include "../../src/base/buf.h"

struct rec {
    char log[4096]; /* "name|filename=data;" per part */
    size_t len;
    int parts;
};

static int on_part(void *ud, const char *name, const char *filename)
{
    struct rec *r = ud;
    r->len += (size_t)snprintf(r->log + r->len, sizeof(r->log) - r->len, "%s|%s=", name, filename);
    r->parts++;
    return 0;
}

static int on_data(void *ud, const char *d, size_t n)
{
    struct rec *r = ud;
    assert_true(r->len + n < sizeof(r->log));
    memcpy(r->log + r->len, d, n);
    r->len += n;
    r->log[r->len] = 0;
    return 0;
}

static int on_end(void *ud)
{
    struct rec *r = ud;
    r->log[r->len++] = ';';
    r->log[r->len] = 0;
    return 0;
}

static const struct mp_callbacks cbs = {on_part, on_data, on_end};

static const char body[] =
    "preamble to ignore\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"path\"\r\n"
    "\r\n"
    "/tmp/a.txt\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"q\\\".txt\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "line1\r\n--Xy not a delimiter\r\n-- XyZ\r\nend\r\n"
    "--XyZ--\r\n"
    "epilogue";

static const char want[] = "path|=/tmp/a.txt;file|a \"q\".txt=line1\r\n--Xy not a delimiter\r\n-- "
                           "XyZ\r\nend;";

static void run(size_t step)
{
    struct mp_parser p;
    struct rec r = {0};
    assert_int_equal(mp_init(&p, "multipart/form-data; boundary=XyZ", &cbs, &r), 0);
    size_t n = sizeof(body) - 1;
    for (size_t i = 0; i < n; i += step)
        assert_int_equal(mp_feed(&p, body + i, i + step > n ? n - i : step), 0);
    assert_int_equal(mp_finish(&p), 0);
    if (strcmp(r.log, want) != 0) fail_msg("step %zu: got \"%s\"", step, r.log);
    assert_int_equal(r.parts, 2);
    mp_free(&p);
}

static void test_every_split(void **state)
{
    (void)state;
    for (size_t step = 1; step <= sizeof(body); step++)
        run(step);
}

static void test_boundary_forms(void **state)
{
    (void)state;
    struct mp_parser p;
    struct rec r = {0};
    assert_int_equal(mp_init(&p, "Multipart/Form-Data;boundary=\"a b\"", &cbs, &r), 0);
    assert_string_equal(p.delim, "\r\n--a b");
    mp_free(&p);
    assert_int_equal(mp_init(&p, "application/json", &cbs, &r), -EINVAL);
    mp_free(&p);
    assert_int_equal(mp_init(&p, "multipart/form-data", &cbs, &r), -EINVAL);
    mp_free(&p);
    assert_int_equal(mp_init(&p, "multipart/form-data; boundary=", &cbs, &r), -EINVAL);
    mp_free(&p);
    char ct[200];
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%071d", 0);
    assert_int_equal(mp_init(&p, ct, &cbs, &r), -EINVAL); /* 71 > 70 */
    mp_free(&p);
}

static void test_truncated_and_malformed(void **state)
{
    (void)state;
    struct mp_parser p;
    struct rec r = {0};
    static const char cut[] = "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc";
    assert_int_equal(mp_init(&p, "multipart/form-data; boundary=B", &cbs, &r), 0);
    assert_int_equal(mp_feed(&p, cut, sizeof(cut) - 1), 0);
    assert_int_equal(mp_finish(&p), -EINVAL);
    mp_free(&p);

    memset(&r, 0, sizeof(r));
    static const char bad[] =
        "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--Bjunk";
    assert_int_equal(mp_init(&p, "multipart/form-data; boundary=B", &cbs, &r), 0);
    assert_int_equal(mp_feed(&p, bad, sizeof(bad) - 1), -EINVAL);
    assert_non_null(strstr(p.error, "delimiter"));
    mp_free(&p);

    memset(&r, 0, sizeof(r));
    assert_int_equal(mp_init(&p, "multipart/form-data; boundary=B", &cbs, &r), 0);
    assert_int_equal(mp_feed(&p, "--B\r\n", 5), 0);
    char big[MP_MAX_HEADER + 10];
    memset(big, 'h', sizeof(big));
    assert_int_equal(mp_feed(&p, big, sizeof(big)), -EINVAL); /* headers without end */
    mp_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_boundary_forms),
        cmocka_unit_test(test_truncated_and_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
