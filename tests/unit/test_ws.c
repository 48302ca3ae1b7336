/* SPDX-License-Identifier: MIT */
/* WebSocket frame codec and handshake key (RFC 6455 examples). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "../../src/api/ws.h"
#include "../../src/base/sha1.h"

static void test_accept_key_rfc_example(void **state)
{
    (void)state;
    char out[29];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out); /* RFC 6455 §1.3 */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_sha1_vectors(void **state)
{
    (void)state;
    unsigned char d[SP_SHA1_LEN];
    static const unsigned char abc[] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
                                        0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
    sp_sha1("abc", 3, d);
    assert_memory_equal(d, abc, sizeof(abc));
    /* 56 bytes: the padding needs a second block */
    static const unsigned char two[] = {0x84, 0x98, 0x3e, 0x44, 0x1c, 0x3b, 0xd2, 0x6e, 0xba, 0xae,
                                        0x4a, 0xa1, 0xf9, 0x51, 0x29, 0xe5, 0xe5, 0x46, 0x70, 0xf1};
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sp_sha1(m, strlen(m), d);
    assert_memory_equal(d, two, sizeof(two));
}

static void test_masked_text_frame(void **state)
{
    (void)state;
    /* RFC 6455 §5.7: a masked "Hello" */
    char f[] = {(char)0x81, (char)0x85, 0x37, (char)0xfa, 0x21, 0x3d,
                0x7f,       (char)0x9f, 0x4d, 0x51,       0x58};
    struct ws_frame fr;
    assert_int_equal(ws_parse_frame(f, sizeof(f), &fr), (long)sizeof(f));
    assert_true(fr.fin);
    assert_int_equal(fr.opcode, 1);
    assert_true(fr.masked);
    assert_int_equal(fr.len, 5);
    assert_memory_equal(fr.payload, "Hello", 5);
}

static void test_incomplete_frames(void **state)
{
    (void)state;
    char f[] = {(char)0x81, (char)0x85, 0x37, (char)0xfa, 0x21, 0x3d,
                0x7f,       (char)0x9f, 0x4d, 0x51,       0x58};
    struct ws_frame fr;
    for (size_t n = 0; n < sizeof(f); n++) {
        char copy[sizeof(f)];
        memcpy(copy, f, sizeof(f));
        assert_int_equal(ws_parse_frame(copy, n, &fr), 0);
    }
}

static void test_extended_lengths(void **state)
{
    (void)state;
    static char f[10 + 4 + 70000];
    memset(f, 0, sizeof(f));
    f[0] = (char)0x82;
    f[1] = (char)(0x80 | 126);
    f[2] = (char)(300 >> 8);
    f[3] = (char)(300 & 0xff);
    struct ws_frame fr;
    assert_int_equal(ws_parse_frame(f, 4 + 4 + 300, &fr), 4 + 4 + 300);
    assert_int_equal(fr.len, 300);
    memset(f, 0, sizeof(f));
    f[0] = (char)0x82;
    f[1] = (char)(0x80 | 127);
    f[7] = (char)(70000 >> 16);
    f[8] = (char)((70000 >> 8) & 0xff);
    f[9] = (char)(70000 & 0xff);
    assert_int_equal(ws_parse_frame(f, sizeof(f), &fr), (long)sizeof(f));
    assert_int_equal(fr.len, 70000);
}

static void test_malformed_frames(void **state)
{
    (void)state;
    struct ws_frame fr;
    char rsv[] = {(char)0xc1, (char)0x80, 0, 0, 0, 0}; /* RSV1 without an extension */
    assert_int_equal(ws_parse_frame(rsv, sizeof(rsv), &fr), -1);
    char ping_frag[] = {(char)0x09, (char)0x80, 0, 0, 0, 0}; /* control frame without FIN */
    assert_int_equal(ws_parse_frame(ping_frag, sizeof(ping_frag), &fr), -1);
    char big_ping[] = {(char)0x89, (char)(0x80 | 126), 0, 126};
    assert_int_equal(ws_parse_frame(big_ping, sizeof(big_ping), &fr), -1);
    char huge[] = {(char)0x82, (char)(0x80 | 127), 0x7f, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ws_parse_frame(huge, sizeof(huge), &fr), -2); /* too big: 1009 */
    char sign[] = {(char)0x82, (char)(0x80 | 127), (char)0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ws_parse_frame(sign, sizeof(sign), &fr), -1); /* top bit set: malformed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_example), cmocka_unit_test(test_sha1_vectors),
        cmocka_unit_test(test_masked_text_frame),      cmocka_unit_test(test_incomplete_frames),
        cmocka_unit_test(test_extended_lengths),       cmocka_unit_test(test_malformed_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
