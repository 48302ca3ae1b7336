/* SPDX-License-Identifier: MIT */
/* Unit tests for api_auth_ok (src/api/router.c): Bearer and Basic "bearer:<token>". */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../src/api/api.h"
#include "../../src/base/compiler.h"
#include "../../src/base/str.h"

static void test_table(void **state)
{
    (void)state;
    static const struct {
        const char *header;
        const char *token;
        bool ok;
    } cases[] = {
        /* Bearer */
        {"Bearer tok", "tok", true},
        {"bearer tok", "tok", true},
        {"BEARER tok", "tok", true},
        {"BeArEr tok", "tok", true},
        {"BEARER   tok  ", "tok", true},
        {"Bearer tok\t", "tok", true},
        {"  Bearer tok", "tok", true},
        {"Bearer wrong", "tok", false},
        {"Bearer to", "tok", false},   /* a prefix of the token */
        {"Bearer tokX", "tok", false}, /* the token extended */
        {"Bearer tok", "toke", false}, /* the header is a prefix of the token */
        {"Bearer TOK", "tok", false},  /* tokens are case-sensitive */
        {"Bearer tok extra", "tok", false},
        {"Bearer", "tok", false},
        {"Bearer ", "tok", false},
        {"Bearer    ", "tok", false},
        {"Bearertok", "tok", false},
        {"Bearer\ttok", "tok", false}, /* the scheme is followed by a space */
        {"Bear tok", "tok", false},
        {"Bearerx tok", "tok", false},
        {"Token tok", "tok", false},
        {"tok", "tok", false},
        {"", "tok", false},
        /* Basic with the user "bearer" and the token as password */
        {"Basic YmVhcmVyOnRvaw==", "tok", true}, /* bearer:tok */
        {"basic YmVhcmVyOnRvaw==", "tok", true},
        {"BASIC   YmVhcmVyOnRvaw==  ", "tok", true},
        {"Basic YmVhcmVyOnRvaw", "tok", true},    /* padding is optional */
        {"Basic dXNlcjp0b2s=", "tok", false},     /* user:tok */
        {"Basic QmVhcmVyOnRvaw==", "tok", false}, /* Bearer:tok: the user name is "bearer" */
        {"Basic YmVhcmVyOnRva1g=", "tok", false}, /* bearer:tokX */
        {"Basic YmVhcmVyOnRv", "tok", false},     /* bearer:to */
        {"Basic YmVhcmVyOg==", "tok", false},     /* bearer: */
        {"Basic !!!!", "tok", false},             /* not base64 */
        {"Basic YmVhcmVyOnRvaw=", "tok", true},   /* short padding: padding is optional */
        {"Basic Y", "tok", false},                /* impossible length */
        {"Basic ", "tok", false},
        {"Basic", "tok", false},
        {"Basic dG9r", "tok", false}, /* just "tok" */
        {"Basicx YmVhcmVyOnRvaw==", "tok", false},
        {"Bearer YmVhcmVyOnRvaw==", "tok", false}, /* base64 is only decoded for Basic */
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        bool r = api_auth_ok(cases[i].header, cases[i].token);
        if (r != cases[i].ok)
            fail_msg("api_auth_ok(\"%s\", \"%s\") = %d, want %d", cases[i].header, cases[i].token,
                     r, cases[i].ok);
    }
}

static void test_null_header(void **state)
{
    (void)state;
    assert_false(api_auth_ok(NULL, "tok"));
}

static void test_long_token(void **state)
{
    (void)state;
    /* A real token: 32 random bytes, hex. */
    unsigned char raw[32];
    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(i * 37 + 11);
    char token[65];
    sp_hex_encode(raw, sizeof(raw), token);

    char header[512];
    snprintf(header, sizeof(header), "Bearer %s", token);
    assert_true(api_auth_ok(header, token));

    char cred[128];
    snprintf(cred, sizeof(cred), "bearer:%s", token);
    char b64[256];
    sp_base64_encode(cred, strlen(cred), b64);
    snprintf(header, sizeof(header), "Basic %s", b64);
    assert_true(api_auth_ok(header, token));

    /* Flip each character of the token in turn: every one matters. */
    for (size_t i = 0; i < 64; i++) {
        char bad[65];
        memcpy(bad, token, sizeof(bad));
        bad[i] = bad[i] == 'a' ? 'b' : 'a';
        snprintf(header, sizeof(header), "Bearer %s", bad);
        if (api_auth_ok(header, token)) fail_msg("token with character %zu changed accepted", i);
        snprintf(cred, sizeof(cred), "bearer:%s", bad);
        sp_base64_encode(cred, strlen(cred), b64);
        snprintf(header, sizeof(header), "Basic %s", b64);
        if (api_auth_ok(header, token))
            fail_msg("Basic token with character %zu changed accepted", i);
    }
}

static void test_basic_oversized(void **state)
{
    (void)state;
    /* A huge Basic credential is refused without overflowing anything. */
    static char header[4096];
    memcpy(header, "Basic ", 6);
    memset(header + 6, 'A', sizeof(header) - 7);
    header[sizeof(header) - 1] = '\0';
    assert_false(api_auth_ok(header, "tok"));

    /* The largest credential that decodes into the 1 KiB buffer still works. */
    char token[900];
    memset(token, 'z', sizeof(token) - 1);
    token[sizeof(token) - 1] = '\0';
    char cred[1024];
    snprintf(cred, sizeof(cred), "bearer:%s", token);
    char b64[1400];
    sp_base64_encode(cred, strlen(cred), b64);
    snprintf(header, sizeof(header), "Basic %s", b64);
    assert_true(api_auth_ok(header, token));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_null_header),
        cmocka_unit_test(test_long_token),
        cmocka_unit_test(test_basic_oversized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
