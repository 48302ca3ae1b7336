/* SPDX-License-Identifier: MIT */
/* Unit tests for Docker API path handling (api_unversioned_path, src/api/router.c) and container
 * names (config_docker_name_ok, src/config/config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "../../src/api/api_internal.h"
#include "../../src/base/compiler.h"
#include "../../src/config/config.h"

static void test_unversioned(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *rest;
        unsigned minor;
    } cases[] = {
        {"/v1.51/containers/x/json", "/containers/x/json", 51},
        {"/v1.41/_ping", "/_ping", 41},
        {"/v1.24/exec/abc/start", "/exec/abc/start", 24},
        {"/v1/exec", "/exec", DOCKER_API_MINOR}, /* no minor: the current one */
        {"/_ping", "/_ping", DOCKER_API_MINOR},
        {"/exec", "/exec", DOCKER_API_MINOR},
        {"/v1.51", "/v1.51", DOCKER_API_MINOR},           /* nothing after the prefix */
        {"/vx.1/_ping", "/vx.1/_ping", DOCKER_API_MINOR}, /* not a version */
        {"/version", "/version", DOCKER_API_MINOR},       /* a route, not a prefix */
        {"/v1.2.3/info", "/info", 2},
        {"/", "/", DOCKER_API_MINOR},
        {"", "", DOCKER_API_MINOR},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        unsigned minor = 999;
        const char *rest = api_unversioned_path(cases[i].path, &minor);
        if (strcmp(rest, cases[i].rest) != 0 || minor != cases[i].minor)
            fail_msg("api_unversioned_path(\"%s\") = \"%s\" (minor %u), want \"%s\" (%u)",
                     cases[i].path, rest, minor, cases[i].rest, cases[i].minor);
        assert_ptr_equal(api_unversioned_path(cases[i].path, NULL), rest);
    }
}

static void test_container_names(void **state)
{
    (void)state;
    static const char *const good[] = {"sprite", "a", "Box_1.test-2", "0abc"};
    static const char *const bad[] = {
        "",    "-x",  ".x", "_x",
        "a b", "a/b", "é",  "0123456789012345678901234567890123456789012345678901234567890123x"};
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++)
        if (!config_docker_name_ok(good[i])) fail_msg("\"%s\" should be a valid name", good[i]);
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++)
        if (config_docker_name_ok(bad[i])) fail_msg("\"%s\" should be refused", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unversioned),
        cmocka_unit_test(test_container_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
