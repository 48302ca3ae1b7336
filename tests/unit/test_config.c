/* SPDX-License-Identifier: MIT */
/* Unit tests for src/config/config.c: defaults, flags, the JSON file, $env, the environment. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/base/compiler.h"
#include "../../src/base/str.h"
#include "../../src/config/config.h"

/* Every variable config_load or the tests read; cleared before each test. */
static const char *const env_vars[] = {
    "SPRITE_HTTP_API_TOKEN",
    "SPRITE_WRITE_DIR",
    "SPRITE_KEEP_ALIVE_ON_ERROR",
    "LOG_LEVEL",
    "LOG_JSON",
    "SPT_ADDR",
    "SPT_WORD",
    "SPT_DUR",
    "SPT_BOOL",
    "SPT_NUM",
    "SPT_EMPTY",
    "SPT_UNSET_VAR",
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(env_vars); i++)
        unsetenv(env_vars[i]);
    return 0;
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        const char *n_ = (needle);                                                                 \
        if (!h_ || !strstr(h_, n_))                                                                \
            fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                    \
    } while (0)

/* Compares a NULL-terminated vector with the given strings (terminated by NULL). */
static void check_strv(char **v, ...)
{
    va_list ap;
    size_t i = 0;
    const char *want;
    assert_non_null(v);
    va_start(ap, v);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (!v[i]) fail_msg("vector has %zu elements, want more (next \"%s\")", i, want);
        if (strcmp(v[i], want) != 0) fail_msg("element %zu is \"%s\", want \"%s\"", i, v[i], want);
        i++;
    }
    va_end(ap);
    if (v[i]) fail_msg("vector has an extra element %zu \"%s\"", i, v[i]);
}

/* config_load with a NULL-terminated argument list (argv[0] added). */
#define LOAD(c, err, ...) load_args((c), (err), (const char *[]){"sprite-env", __VA_ARGS__, NULL})
#define LOAD0(c, err)     load_args((c), (err), (const char *[]){"sprite-env", NULL})

static int load_args(struct config *c, struct sp_err *err, const char **args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    sp_err_clear(err);
    return config_load(c, argc, (char **)args, err);
}

static int apply(struct config *c, const char *json, struct sp_err *err)
{
    sp_err_clear(err);
    return config_apply_json(c, json, strlen(json), "test", err);
}

/* Writes text to a fresh temporary file; the path goes into path (PATH_MAX-ish buffer). */
static void write_temp(char *path, size_t len, const char *text)
{
    snprintf(path, len, "/tmp/sprite-env-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    memset(&c, 0xa5, sizeof(c));
    config_init(&c);
    assert_int_equal(c.log_level, SP_LOG_INFO);
    assert_false(c.log_json);
    assert_null(c.listen);
    assert_null(c.process_command);
    assert_null(c.process_working_dir);
    assert_null(c.process_environment);
    assert_int_equal(c.graceful_ms, 30000);
    assert_null(c.components_dir);
    assert_null(c.components);
    assert_null(c.exec_wrapper_command);
    assert_null(c.exec_tty_wrapper_command);
    assert_false(c.keep_alive_on_error);
    assert_false(c.debug_endpoints);
    assert_null(c.write_dir);
    assert_null(c.api_token);
    assert_null(c.config_path);
    assert_int_equal(c.http.max_header_bytes, 32768);
    assert_int_equal(c.http.max_body_bytes, 1048576);
    assert_int_equal(c.http.max_connections, 1024);
    assert_int_equal(c.http.idle_timeout_ms, 60000);
    assert_int_equal(c.http.request_timeout_ms, 30000);
    assert_int_equal(c.http.write_timeout_ms, 60000);
    assert_false(c.show_version);
    assert_false(c.show_help);
    config_free(&c);
}

static void test_load_no_args(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    config_init(&c);
    assert_int_equal(LOAD0(&c, &err), 0);
    check_strv(c.listen, CONFIG_DEFAULT_LISTEN, NULL);
    assert_string_equal(c.listen[0], "127.0.0.1:8080");
    assert_null(c.process_command);
    assert_int_equal(c.log_level, SP_LOG_INFO);
    assert_int_equal(c.graceful_ms, 30000);
    assert_null(c.config_path);
    config_free(&c);
    assert_null(c.listen); /* config_free zeroes */
}

/* ---- flags ---- */

static void test_flag_listen_repeatable(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-listen", ":1", "--listen=:2", "-listen=unix:/tmp/s.sock",
                          "--listen", "[::1]:4"),
                     0);
    check_strv(c.listen, ":1", ":2", "unix:/tmp/s.sock", "[::1]:4", NULL);
    assert_null(c.process_command);
    config_free(&c);
}

static void test_flag_booleans(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;

    config_init(&c);
    assert_int_equal(
        LOAD(&c, &err, "-debug", "-log-json", "-debug-endpoints", "-keep-alive-on-error"), 0);
    assert_int_equal(c.log_level, SP_LOG_DEBUG);
    assert_true(c.log_json);
    assert_true(c.debug_endpoints);
    assert_true(c.keep_alive_on_error);
    config_free(&c);

    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "--debug", "--log-json=true", "--debug-endpoints=1",
                          "--keep-alive-on-error=TRUE"),
                     0);
    assert_int_equal(c.log_level, SP_LOG_DEBUG);
    assert_true(c.log_json);
    assert_true(c.debug_endpoints);
    assert_true(c.keep_alive_on_error);
    config_free(&c);

    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-debug=false", "-log-json=0", "-debug-endpoints=false",
                          "-keep-alive-on-error=0"),
                     0);
    assert_int_equal(c.log_level, SP_LOG_INFO);
    assert_false(c.log_json);
    assert_false(c.debug_endpoints);
    assert_false(c.keep_alive_on_error);
    config_free(&c);

    /* The last occurrence wins. */
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-log-json", "-log-json=false"), 0);
    assert_false(c.log_json);
    config_free(&c);

    config_init(&c);
    assert_true(LOAD(&c, &err, "-debug=maybe") < 0);
    assert_int_equal(err.code, -EINVAL);
    assert_contains(err.msg, "-debug");
    assert_contains(err.msg, "maybe");
    config_free(&c);
}

static void test_flag_graceful(void **state)
{
    (void)state;
    static const struct {
        const char *arg1, *arg2;
        uint64_t ms;
    } ok[] = {
        {"-graceful-shutdown-timeout", "500ms", 500},
        {"--graceful-shutdown-timeout", "2s", 2000},
        {"-graceful-shutdown-timeout=1.5s", NULL, 1500},
        {"--graceful-shutdown-timeout=1m30s", NULL, 90000},
        {"-graceful-shutdown-timeout", "0", 0},
        {"-graceful-shutdown-timeout", "1ns", 1},    /* rounded up to a millisecond */
        {"-graceful-shutdown-timeout", "1500us", 2}, /* rounded up */
        {"-graceful-shutdown-timeout", "24h", 86400000},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(ok); i++) {
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = ok[i].arg2 ? LOAD(&c, &err, ok[i].arg1, ok[i].arg2) : LOAD(&c, &err, ok[i].arg1);
        if (r != 0) fail_msg("%s %s: %d %s", ok[i].arg1, ok[i].arg2 ? ok[i].arg2 : "", r, err.msg);
        if (c.graceful_ms != ok[i].ms)
            fail_msg("%s %s: graceful_ms = %llu, want %llu", ok[i].arg1,
                     ok[i].arg2 ? ok[i].arg2 : "", (unsigned long long)c.graceful_ms,
                     (unsigned long long)ok[i].ms);
        config_free(&c);
    }

    static const struct {
        const char *val;
        int code;
    } bad[] = {
        {"bad", -EINVAL}, {"5", -EINVAL}, {"-1s", -EINVAL}, {"", -EINVAL}, {"25h", -ERANGE},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = LOAD(&c, &err, "-graceful-shutdown-timeout", bad[i].val);
        if (r != bad[i].code) fail_msg("\"%s\": %d, want %d", bad[i].val, r, bad[i].code);
        assert_int_equal(err.code, bad[i].code);
        assert_contains(err.msg, "-graceful-shutdown-timeout");
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "\"%s\"", bad[i].val);
        assert_contains(err.msg, quoted);
        config_free(&c);
    }
}

static void test_flag_unknown(void **state)
{
    (void)state;
    static const char *const cases[] = {"-nope",    "--nope", "--nope=1",
                                        "-listenx", "-Debug", "-liste"};
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = LOAD(&c, &err, "-listen", ":1", cases[i]);
        if (r != -EINVAL) fail_msg("%s: %d, want -EINVAL", cases[i], r);
        assert_int_equal(err.code, -EINVAL);
        assert_contains(err.msg, "unknown flag");
        assert_contains(err.msg, cases[i]);
        config_free(&c);
    }
}

static void test_flag_missing_value(void **state)
{
    (void)state;
    static const char *const cases[] = {"-listen", "-config", "-graceful-shutdown-timeout",
                                        "--components-dir"};
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = LOAD(&c, &err, "-debug", cases[i]);
        if (r != -EINVAL) fail_msg("%s at the end: %d, want -EINVAL", cases[i], r);
        assert_contains(err.msg, "needs a value");
        const char *name = cases[i] + (cases[i][1] == '-' ? 2 : 1);
        assert_contains(err.msg, name);
        config_free(&c);
    }
}

static void test_flag_value_may_look_like_a_flag(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    config_init(&c);
    /* A value flag takes the next argument whatever it looks like. */
    assert_int_equal(LOAD(&c, &err, "-components-dir", "-debug"), 0);
    assert_string_equal(c.components_dir, "-debug");
    assert_int_equal(c.log_level, SP_LOG_INFO);
    config_free(&c);
}

static void test_flag_double_dash_command(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;

    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-listen", ":1", "--", "cmd", "a", "b"), 0);
    check_strv(c.process_command, "cmd", "a", "b", NULL);
    check_strv(c.listen, ":1", NULL);
    config_free(&c);

    /* After "--" everything is the command, flags included. */
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "--", "-debug", "--", "-x"), 0);
    check_strv(c.process_command, "-debug", "--", "-x", NULL);
    assert_int_equal(c.log_level, SP_LOG_INFO);
    config_free(&c);

    /* A bare "--" leaves no command. */
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-debug", "--"), 0);
    assert_null(c.process_command);
    assert_int_equal(c.log_level, SP_LOG_DEBUG);
    config_free(&c);
}

static void test_flag_first_non_flag_starts_command(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;

    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-listen", ":1", "sleep", "5"), 0);
    check_strv(c.listen, ":1", NULL);
    check_strv(c.process_command, "sleep", "5", NULL);
    config_free(&c);

    /* Flags after the command belong to it. */
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "sh", "-c", "echo hi", "-debug", "--", "-nope"), 0);
    check_strv(c.process_command, "sh", "-c", "echo hi", "-debug", "--", "-nope", NULL);
    assert_int_equal(c.log_level, SP_LOG_INFO);
    check_strv(c.listen, CONFIG_DEFAULT_LISTEN, NULL);
    config_free(&c);

    /* A lone "-" is not a flag. */
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-", "x"), 0);
    check_strv(c.process_command, "-", "x", NULL);
    config_free(&c);
}

static void test_flag_version_help(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;

    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-version"), 0);
    assert_true(c.show_version);
    assert_false(c.show_help);
    config_free(&c);

    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "--version"), 0);
    assert_true(c.show_version);
    config_free(&c);

    /* -version wins over a config file that does not exist. */
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-config", "/nonexistent/sprite.json", "-version"), 0);
    assert_true(c.show_version);
    config_free(&c);

    static const char *const help[] = {"-help", "--help", "-h", "--h"};
    for (size_t i = 0; i < SP_ARRAY_LEN(help); i++) {
        config_init(&c);
        assert_int_equal(LOAD(&c, &err, help[i]), 0);
        if (!c.show_help) fail_msg("%s did not set show_help", help[i]);
        assert_false(c.show_version);
        config_free(&c);
    }
}

static void test_flag_components_dir(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;

    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-components-dir", "/opt/comp"), 0);
    assert_string_equal(c.components_dir, "/opt/comp");
    config_free(&c);

    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "--components-dir=/a"), 0);
    assert_string_equal(c.components_dir, "/a");
    config_free(&c);

    /* -test-dir is an alias. */
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-test-dir", "/t"), 0);
    assert_string_equal(c.components_dir, "/t");
    config_free(&c);
}

/* ---- config_apply_json: every key ---- */

static void test_json_every_key(void **state)
{
    (void)state;
    static const char json[] =
        "{\n"
        "  \"log_level\": \"debug\",\n"
        "  \"log_json\": true,\n"
        "  \"api_listen_addr\": \"127.0.0.1:9000\",\n"
        "  \"process_command\": [\"/bin/app\", \"--port\", \"3000\"],\n"
        "  \"process_working_dir\": \"/srv\",\n"
        "  \"process_environment\": [\"A=1\", \"B=two=2\"],\n"
        "  \"process_graceful_shutdown_timeout\": \"10s\",\n"
        "  \"components\": {\"web\": {\"start_command\": [\"run\"]}},\n"
        "  \"components_dir\": \"/comp\",\n"
        "  \"exec\": {\"wrapper_command\": [\"nsenter\", \"-t\", \"1\"],\n"
        "           \"tty_wrapper_command\": [\"script\", \"-q\"]},\n"
        "  \"keep_alive_on_error\": true,\n"
        "  \"debug_endpoints\": true,\n"
        "  \"write_dir\": \"/var/lib/x\",\n"
        "  \"http\": {\"max_header_bytes\": 2048, \"max_body_bytes\": 0,\n"
        "           \"max_connections\": 7, \"idle_timeout\": \"5s\",\n"
        "           \"request_timeout\": \"1m\", \"write_timeout\": \"250ms\"}\n"
        "}\n";
    struct config c;
    struct sp_err err;
    config_init(&c);
    assert_int_equal(apply(&c, json, &err), 0);
    assert_int_equal(c.log_level, SP_LOG_DEBUG);
    assert_true(c.log_json);
    check_strv(c.listen, "127.0.0.1:9000", NULL);
    check_strv(c.process_command, "/bin/app", "--port", "3000", NULL);
    assert_string_equal(c.process_working_dir, "/srv");
    check_strv(c.process_environment, "A=1", "B=two=2", NULL);
    assert_int_equal(c.graceful_ms, 10000);
    assert_non_null(c.components);
    assert_true(json_is_object(c.components));
    json_t *web = json_object_get(c.components, "web");
    assert_true(json_is_object(web));
    json_t *sc = json_object_get(web, "start_command");
    assert_true(json_is_array(sc));
    assert_string_equal(json_string_value(json_array_get(sc, 0)), "run");
    assert_string_equal(c.components_dir, "/comp");
    check_strv(c.exec_wrapper_command, "nsenter", "-t", "1", NULL);
    check_strv(c.exec_tty_wrapper_command, "script", "-q", NULL);
    assert_true(c.keep_alive_on_error);
    assert_true(c.debug_endpoints);
    assert_string_equal(c.write_dir, "/var/lib/x");
    assert_int_equal(c.http.max_header_bytes, 2048);
    assert_int_equal(c.http.max_body_bytes, 0);
    assert_int_equal(c.http.max_connections, 7);
    assert_int_equal(c.http.idle_timeout_ms, 5000);
    assert_int_equal(c.http.request_timeout_ms, 60000);
    assert_int_equal(c.http.write_timeout_ms, 250);
    /* Not from JSON. */
    assert_null(c.api_token);
    config_free(&c);
}

static void test_json_empty_object_keeps_defaults(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    config_init(&c);
    assert_int_equal(apply(&c, "{}", &err), 0);
    assert_int_equal(c.graceful_ms, 30000);
    assert_int_equal(c.http.max_header_bytes, 32768);
    assert_null(c.listen);
    config_free(&c);
}

static void test_json_listen_forms(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    config_init(&c);
    assert_int_equal(apply(&c, "{\"api_listen_addr\": \":1\"}", &err), 0);
    check_strv(c.listen, ":1", NULL);
    /* A later document replaces, not appends. */
    assert_int_equal(apply(&c, "{\"api_listen_addr\": [\":2\", \"unix:/s\"]}", &err), 0);
    check_strv(c.listen, ":2", "unix:/s", NULL);
    assert_int_equal(apply(&c, "{\"api_listen_addr\": \":3\"}", &err), 0);
    check_strv(c.listen, ":3", NULL);
    assert_int_equal(apply(&c, "{\"api_listen_addr\": []}", &err), 0);
    assert_non_null(c.listen);
    assert_null(c.listen[0]);
    config_free(&c);
}

static void test_json_replace_frees(void **state)
{
    (void)state;
    /* Applying twice replaces every owned value (ASan checks nothing leaks). */
    static const char json[] = "{\"process_command\": [\"a\"], \"process_working_dir\": \"/x\","
                               " \"components\": {\"k\": 1}, \"write_dir\": \"/w\","
                               " \"exec\": {\"wrapper_command\": [\"w\"]}}";
    static const char json2[] =
        "{\"process_command\": [\"b\", \"c\"], \"process_working_dir\": \"/y\","
        " \"components\": {\"a\": 1, \"b\": 2}, \"write_dir\": \"/v\","
        " \"exec\": {\"wrapper_command\": [\"v\"]}}";
    struct config c;
    struct sp_err err;
    config_init(&c);
    assert_int_equal(apply(&c, json, &err), 0);
    assert_int_equal(apply(&c, json2, &err), 0);
    check_strv(c.process_command, "b", "c", NULL);
    assert_string_equal(c.process_working_dir, "/y");
    assert_true(json_is_object(c.components));
    assert_int_equal(json_object_size(c.components), 2);
    assert_string_equal(c.write_dir, "/v");
    check_strv(c.exec_wrapper_command, "v", NULL);
    config_free(&c);
}

static void test_json_log_levels(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum sp_log_level level;
    } cases[] = {
        {"debug", SP_LOG_DEBUG},  {"info", SP_LOG_INFO},   {"warn", SP_LOG_WARN},
        {"warning", SP_LOG_WARN}, {"error", SP_LOG_ERROR}, {"DEBUG", SP_LOG_DEBUG},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char json[64];
        struct config c;
        struct sp_err err;
        config_init(&c);
        c.log_level = cases[i].level == SP_LOG_INFO ? SP_LOG_ERROR : SP_LOG_INFO;
        snprintf(json, sizeof(json), "{\"log_level\": \"%s\"}", cases[i].name);
        assert_int_equal(apply(&c, json, &err), 0);
        if (c.log_level != cases[i].level)
            fail_msg("log_level \"%s\" gave %d", cases[i].name, (int)c.log_level);
        config_free(&c);
    }
}

static void test_json_http_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        size_t off;
        uint64_t want;
    } ok[] = {
        {"{\"http\": {\"max_header_bytes\": 1024}}", 0, 1024},
        {"{\"http\": {\"max_header_bytes\": 81920}}", 0, 81920},
        {"{\"http\": {\"max_body_bytes\": 1073741824}}", 1, 1073741824},
        {"{\"http\": {\"max_connections\": 1}}", 2, 1},
        {"{\"http\": {\"max_connections\": 100000}}", 2, 100000},
        {"{\"http\": {\"idle_timeout\": \"1ms\"}}", 3, 1},
        {"{\"http\": {\"idle_timeout\": \"1ns\"}}", 3, 1},
        {"{\"http\": {\"idle_timeout\": \"24h\"}}", 3, 86400000},
        {"{\"http\": {\"request_timeout\": \"1.5s\"}}", 4, 1500},
        {"{\"http\": {\"write_timeout\": \"2m\"}}", 5, 120000},
        {"{\"http\": {\"max_connections\": \"256\"}}", 2, 256}, /* a string number is accepted */
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(ok); i++) {
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = apply(&c, ok[i].json, &err);
        if (r != 0) fail_msg("%s: %d %s", ok[i].json, r, err.msg);
        uint64_t got = 0;
        switch (ok[i].off) {
        case 0: got = c.http.max_header_bytes; break;
        case 1: got = c.http.max_body_bytes; break;
        case 2: got = c.http.max_connections; break;
        case 3: got = c.http.idle_timeout_ms; break;
        case 4: got = c.http.request_timeout_ms; break;
        case 5: got = c.http.write_timeout_ms; break;
        }
        if (got != ok[i].want)
            fail_msg("%s: got %llu, want %llu", ok[i].json, (unsigned long long)got,
                     (unsigned long long)ok[i].want);
        config_free(&c);
    }
}

/* ---- config_apply_json: errors name the key path ---- */

static void test_json_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int code;
        const char *want1;
        const char *want2;
    } cases[] = {
        {"{\"process_command\": [\"a\", 3]}", -EINVAL, "process_command[1]",
         "expected a string, got a number"},
        {"{\"process_command\": \"a b\"}", -EINVAL, "process_command",
         "expected an array of strings, got a string"},
        {"{\"process_command\": [\"a\", null]}", -EINVAL, "process_command[1]", "null"},
        {"{\"process_environment\": [true]}", -EINVAL, "process_environment[0]", "a boolean"},
        {"{\"http\": {\"idle_timeout\": \"5x\"}}", -EINVAL, "http.idle_timeout",
         "invalid duration \"5x\""},
        {"{\"http\": {\"idle_timeout\": 5}}", -EINVAL, "http.idle_timeout", "duration"},
        {"{\"http\": {\"idle_timeout\": \"0s\"}}", -ERANGE, "http.idle_timeout", "out of range"},
        {"{\"http\": {\"idle_timeout\": \"0\"}}", -ERANGE, "http.idle_timeout", "out of range"},
        {"{\"http\": {\"request_timeout\": \"25h\"}}", -ERANGE, "http.request_timeout",
         "out of range"},
        {"{\"http\": {\"write_timeout\": \"-1s\"}}", -EINVAL, "http.write_timeout", "-1s"},
        {"{\"http\": {\"max_connections\": 0}}", -ERANGE, "http.max_connections", "out of range"},
        {"{\"http\": {\"max_connections\": 100001}}", -ERANGE, "http.max_connections", "100001"},
        {"{\"http\": {\"max_connections\": -1}}", -EINVAL, "http.max_connections", "negative"},
        {"{\"http\": {\"max_connections\": 1.5}}", -EINVAL, "http.max_connections",
         "expected an integer"},
        {"{\"http\": {\"max_connections\": \"12x\"}}", -EINVAL, "http.max_connections", "\"12x\""},
        {"{\"http\": {\"max_connections\": true}}", -EINVAL, "http.max_connections", "a boolean"},
        {"{\"http\": {\"max_header_bytes\": 1023}}", -ERANGE, "http.max_header_bytes",
         "out of range"},
        {"{\"http\": {\"max_header_bytes\": 81921}}", -ERANGE, "http.max_header_bytes",
         "out of range"},
        {"{\"http\": {\"max_body_bytes\": 1073741825}}", -ERANGE, "http.max_body_bytes",
         "out of range"},
        {"{\"http\": 5}", -EINVAL, "http", "expected an object"},
        {"{\"http\": [1]}", -EINVAL, "http", "expected an object, got an array"},
        {"{\"exec\": {\"wrapper_command\": [1]}}", -EINVAL, "exec.wrapper_command[0]",
         "expected a string"},
        {"{\"exec\": {\"tty_wrapper_command\": \"x\"}}", -EINVAL, "exec.tty_wrapper_command",
         "array"},
        {"{\"exec\": \"x\"}", -EINVAL, "exec", "expected an object"},
        {"{\"log_level\": \"loud\"}", -EINVAL, "log_level", "\"loud\""},
        {"{\"log_level\": 3}", -EINVAL, "log_level", "expected a string"},
        {"{\"log_json\": \"yes\"}", -EINVAL, "log_json", "expected a boolean"},
        {"{\"log_json\": 1}", -EINVAL, "log_json", "expected a boolean, got a number"},
        {"{\"keep_alive_on_error\": null}", -EINVAL, "keep_alive_on_error", "null"},
        {"{\"debug_endpoints\": []}", -EINVAL, "debug_endpoints", "an array"},
        {"{\"api_listen_addr\": 8080}", -EINVAL, "api_listen_addr", "a number"},
        {"{\"api_listen_addr\": [\"a\", {}]}", -EINVAL, "api_listen_addr[1]", "an object"},
        {"{\"process_working_dir\": 1}", -EINVAL, "process_working_dir", "expected a string"},
        {"{\"write_dir\": false}", -EINVAL, "write_dir", "expected a string"},
        {"{\"components_dir\": [\"a\"]}", -EINVAL, "components_dir", "expected a string"},
        {"{\"process_graceful_shutdown_timeout\": \"forever\"}", -EINVAL,
         "process_graceful_shutdown_timeout", "invalid duration"},
        {"{\"process_graceful_shutdown_timeout\": \"48h\"}", -ERANGE,
         "process_graceful_shutdown_timeout", "out of range"},
        {"{\"process_graceful_shutdown_timeout\": 30}", -EINVAL,
         "process_graceful_shutdown_timeout", "duration"},
        /* Not a substitution: an object with two keys is an object. */
        {"{\"write_dir\": {\"$env\": \"HOME\", \"other\": 1}}", -EINVAL, "write_dir",
         "expected a string, got an object"},
        /* Invalid JSON reports where. */
        {"{\"a\": }", -EINVAL, "invalid JSON", "line 1"},
        {"{\n\"a\": 1,\n}", -EINVAL, "invalid JSON", "line"},
        {"{", -EINVAL, "invalid JSON", "line"},
        {"", -EINVAL, "invalid JSON", "line"},
        {"{\"a\": 1, \"a\": 2}", -EINVAL, "invalid JSON", "duplicate"},
        /* The top level must be an object. */
        {"[]", -EINVAL, "top level", "an array"},
        {"[{\"log_level\": \"debug\"}]", -EINVAL, "top level", "object"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = apply(&c, cases[i].json, &err);
        if (r != cases[i].code)
            fail_msg("%s: returned %d (%s), want %d", cases[i].json, r, r ? err.msg : "",
                     cases[i].code);
        assert_int_equal(err.code, cases[i].code);
        if (strncmp(err.msg, "test: ", 6) != 0)
            fail_msg("%s: message \"%s\" does not start with the origin", cases[i].json, err.msg);
        if (!strstr(err.msg, cases[i].want1) || !strstr(err.msg, cases[i].want2))
            fail_msg("%s: message \"%s\" lacks \"%s\" or \"%s\"", cases[i].json, err.msg,
                     cases[i].want1, cases[i].want2);
        assert_null(strchr(err.msg, '\n'));
        config_free(&c);
    }
}

static void test_json_non_object_top_levels(void **state)
{
    (void)state;
    static const char *const cases[] = {"5", "\"str\"", "null", "true", "[1, 2]"};
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = apply(&c, cases[i], &err);
        if (r >= 0) fail_msg("top level %s accepted", cases[i]);
        assert_int_equal(err.code, -EINVAL);
        config_free(&c);
    }
}

static void test_json_error_leaves_field(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    config_init(&c);
    assert_int_equal(apply(&c, "{\"process_command\": [\"keep\", \"me\"]}", &err), 0);
    assert_true(apply(&c, "{\"process_command\": [\"a\", 3]}", &err) < 0);
    check_strv(c.process_command, "keep", "me", NULL);
    assert_true(apply(&c, "{\"http\": {\"max_connections\": 0}}", &err) < 0);
    assert_int_equal(c.http.max_connections, 1024);
    assert_true(apply(&c, "{\"http\": {\"idle_timeout\": \"0s\"}}", &err) < 0);
    assert_int_equal(c.http.idle_timeout_ms, 60000);
    config_free(&c);
}

static void test_json_unknown_keys_warn_only(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    config_init(&c);
    int r = apply(&c,
                  "{\"nope\": 1, \"http\": {\"nope\": {\"x\": []}, \"max_connections\": 9},"
                  " \"exec\": {\"other\": true}, \"log_json\": true}",
                  &err);
    assert_int_equal(r, 0);
    assert_int_equal(c.http.max_connections, 9);
    assert_true(c.log_json);
    config_free(&c);
}

static void test_json_compat_keys(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    config_init(&c);
    int r = apply(&c,
                  "{\"s3\": {\"bucket\": \"b\"}, \"juicefs_enabled\": true,"
                  " \"overlay_lower_paths\": [\"/a\"], \"debug\": 3, \"tla_trace\": null,"
                  " \"process_restart_max_retries\": 5, \"exec_wrapper_command\": \"x\","
                  " \"proxy_localhost_ipv4\": \"1.2.3.4\", \"checkpoint_mount_path\": \"/c\"}",
                  &err);
    if (r != 0) fail_msg("compat keys: %d %s", r, err.msg);
    assert_int_equal(c.log_level, SP_LOG_INFO); /* "debug": 3 has no effect */
    assert_null(c.exec_wrapper_command);
    config_free(&c);
}

/* ---- $env substitution ---- */

static void test_env_subst_scalar(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    setenv("SPT_ADDR", ":9999", 1);
    setenv("SPT_DUR", "5s", 1);
    setenv("SPT_EMPTY", "", 1);
    config_init(&c);
    assert_int_equal(apply(&c,
                           "{\"api_listen_addr\": {\"$env\": \"SPT_ADDR\"},"
                           " \"process_graceful_shutdown_timeout\": {\"$env\": \"SPT_DUR\"},"
                           " \"write_dir\": {\"$env\": \"SPT_EMPTY\"}}",
                           &err),
                     0);
    check_strv(c.listen, ":9999", NULL);
    assert_int_equal(c.graceful_ms, 5000);
    assert_string_equal(c.write_dir, ""); /* set but empty: "" */
    config_free(&c);
}

static void test_env_subst_array_and_nested(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    setenv("SPT_WORD", "hello world", 1);
    setenv("SPT_DUR", "750ms", 1);
    setenv("SPT_NUM", "256", 1);
    config_init(&c);
    int r = apply(&c,
                  "{\"process_command\": [\"echo\", {\"$env\": \"SPT_WORD\"}, \"x\"],"
                  " \"http\": {\"idle_timeout\": {\"$env\": \"SPT_DUR\"},"
                  "            \"max_connections\": {\"$env\": \"SPT_NUM\"}},"
                  " \"exec\": {\"wrapper_command\": [{\"$env\": \"SPT_WORD\"}]},"
                  " \"components\": {\"web\": {\"env\": [{\"$env\": \"SPT_WORD\"}]}}}",
                  &err);
    if (r != 0) fail_msg("%d %s", r, err.msg);
    check_strv(c.process_command, "echo", "hello world", "x", NULL);
    assert_int_equal(c.http.idle_timeout_ms, 750);
    assert_int_equal(c.http.max_connections, 256);
    check_strv(c.exec_wrapper_command, "hello world", NULL);
    /* Substituted inside the raw components tree too. */
    json_t *e = json_object_get(json_object_get(c.components, "web"), "env");
    assert_true(json_is_array(e));
    assert_string_equal(json_string_value(json_array_get(e, 0)), "hello world");
    config_free(&c);
}

static void test_env_subst_bool_strings(void **state)
{
    (void)state;
    static const struct {
        const char *val;
        int ret;
        bool want;
    } cases[] = {
        {"true", 0, true},       {"TRUE", 0, true},     {"1", 0, true}, {"false", 0, false},
        {"False", 0, false},     {"0", 0, false},       {"", 0, false}, {"maybe", -EINVAL, false},
        {"yes", -EINVAL, false}, {"2", -EINVAL, false},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct config c;
        struct sp_err err;
        setenv("SPT_BOOL", cases[i].val, 1);
        config_init(&c);
        c.log_json = !cases[i].want;
        int r = apply(&c, "{\"log_json\": {\"$env\": \"SPT_BOOL\"}}", &err);
        if (r != cases[i].ret)
            fail_msg("SPT_BOOL=\"%s\": %d, want %d", cases[i].val, r, cases[i].ret);
        if (r == 0 && c.log_json != cases[i].want)
            fail_msg("SPT_BOOL=\"%s\": log_json = %d", cases[i].val, c.log_json);
        if (r < 0) {
            assert_contains(err.msg, "log_json");
            assert_contains(err.msg, cases[i].val);
        }
        config_free(&c);
    }
}

static void test_env_subst_number_string_errors(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    setenv("SPT_NUM", "abc", 1);
    config_init(&c);
    assert_int_equal(apply(&c, "{\"http\": {\"max_connections\": {\"$env\": \"SPT_NUM\"}}}", &err),
                     -EINVAL);
    assert_contains(err.msg, "http.max_connections");
    assert_contains(err.msg, "abc");
    setenv("SPT_NUM", "0", 1);
    assert_int_equal(apply(&c, "{\"http\": {\"max_connections\": {\"$env\": \"SPT_NUM\"}}}", &err),
                     -ERANGE);
    assert_contains(err.msg, "http.max_connections");
    config_free(&c);
}

static void test_env_subst_unset(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *path;
    } cases[] = {
        {"{\"write_dir\": {\"$env\": \"SPT_UNSET_VAR\"}}", "write_dir"},
        {"{\"http\": {\"idle_timeout\": {\"$env\": \"SPT_UNSET_VAR\"}}}", "http.idle_timeout"},
        {"{\"process_command\": [\"a\", {\"$env\": \"SPT_UNSET_VAR\"}]}", "process_command[1]"},
        {"{\"exec\": {\"wrapper_command\": [{\"$env\": \"SPT_UNSET_VAR\"}]}}",
         "exec.wrapper_command[0]"},
        {"{\"components\": {\"a\": {\"b\": [1, {\"$env\": \"SPT_UNSET_VAR\"}]}}}",
         "components.a.b[1]"},
        /* Unknown keys are substituted too, so an unset variable there is still an error. */
        {"{\"unknown\": {\"$env\": \"SPT_UNSET_VAR\"}}", "unknown"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = apply(&c, cases[i].json, &err);
        if (r != -EINVAL) fail_msg("%s: %d, want -EINVAL", cases[i].json, r);
        if (strncmp(err.msg, "test: ", 6) != 0) fail_msg("no origin in \"%s\"", err.msg);
        char want[128];
        snprintf(want, sizeof(want), "%s: environment variable SPT_UNSET_VAR is not set",
                 cases[i].path);
        assert_contains(err.msg, want);
        config_free(&c);
    }
}

static void test_env_subst_non_string_name(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *path;
    } cases[] = {
        {"{\"write_dir\": {\"$env\": 5}}", "write_dir"},
        {"{\"process_command\": [{\"$env\": null}]}", "process_command[0]"},
        {"{\"http\": {\"idle_timeout\": {\"$env\": [\"A\"]}}}", "http.idle_timeout"},
        {"{\"log_json\": {\"$env\": {\"$env\": \"SPT_WORD\"}}}", "log_json"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = apply(&c, cases[i].json, &err);
        if (r != -EINVAL) fail_msg("%s: %d, want -EINVAL", cases[i].json, r);
        assert_contains(err.msg, cases[i].path);
        assert_contains(err.msg, "$env");
        config_free(&c);
    }
}

/*
 * Regression (src/config/config.c, config_apply_json, fixed): the "top level must be an object"
 * check runs before $env substitution, so a document that is exactly {"$env": "VAR"} becomes a
 * string and decode_object() iterates nothing: the call returns 0 and silently ignores the file.
 */
static void test_env_subst_top_level(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;
    setenv("SPT_WORD", "hello", 1);
    config_init(&c);
    int r = apply(&c, "{\"$env\": \"SPT_WORD\"}", &err);
    config_free(&c);
    if (r == 0) fail_msg("{\"$env\": \"SPT_WORD\"} as the whole document was accepted");
    assert_int_equal(r, -EINVAL);

    /* Unset: an error naming the top level. */
    config_init(&c);
    assert_int_equal(apply(&c, "{\"$env\": \"SPT_UNSET_VAR\"}", &err), -EINVAL);
    assert_contains(err.msg, "SPT_UNSET_VAR");
    config_free(&c);
}

/* ---- the file, the environment and the flags together ---- */

static void test_file_then_flags(void **state)
{
    (void)state;
    char path[64];
    write_temp(path, sizeof(path),
               "{\"api_listen_addr\": \"file:1\", \"log_level\": \"warn\","
               " \"process_graceful_shutdown_timeout\": \"10s\","
               " \"process_command\": [\"from\", \"file\"], \"keep_alive_on_error\": false,"
               " \"write_dir\": \"/from/file\"}");
    struct config c;
    struct sp_err err;

    /* The file alone. */
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-config", path), 0);
    check_strv(c.listen, "file:1", NULL);
    assert_int_equal(c.log_level, SP_LOG_WARN);
    assert_int_equal(c.graceful_ms, 10000);
    check_strv(c.process_command, "from", "file", NULL);
    assert_string_equal(c.write_dir, "/from/file");
    assert_string_equal(c.config_path, path);
    config_free(&c);

    /* "--config=" has an empty value: it does not take the next argument. */
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "--config=", path), -ENOENT);
    config_free(&c);

    /* Flags win over the file; what the flags do not set stays from the file. */
    char eq[96];
    snprintf(eq, sizeof(eq), "--config=%s", path);
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, eq, "-listen", ":2", "-listen", ":3",
                          "-graceful-shutdown-timeout", "1s", "-keep-alive-on-error", "cmd", "x"),
                     0);
    check_strv(c.listen, ":2", ":3", NULL);
    assert_int_equal(c.graceful_ms, 1000);
    check_strv(c.process_command, "cmd", "x", NULL);
    assert_int_equal(c.log_level, SP_LOG_WARN);
    assert_true(c.keep_alive_on_error);
    config_free(&c);

    /* Environment over the file, flags over the environment. */
    setenv("SPRITE_WRITE_DIR", "/from/env", 1);
    setenv("LOG_LEVEL", "error", 1);
    setenv("SPRITE_KEEP_ALIVE_ON_ERROR", "true", 1);
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-config", path), 0);
    assert_string_equal(c.write_dir, "/from/env");
    assert_int_equal(c.log_level, SP_LOG_ERROR);
    assert_true(c.keep_alive_on_error);
    config_free(&c);

    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-config", path, "-debug", "-keep-alive-on-error=false"), 0);
    assert_int_equal(c.log_level, SP_LOG_DEBUG);
    assert_false(c.keep_alive_on_error);
    assert_string_equal(c.write_dir, "/from/env");
    config_free(&c);

    unlink(path);
}

static void test_file_errors(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;

    config_init(&c);
    int r = LOAD(&c, &err, "-config", "/nonexistent/dir/sprite.json");
    assert_int_equal(r, -ENOENT);
    assert_contains(err.msg, "/nonexistent/dir/sprite.json");
    config_free(&c);

    char path[64];
    write_temp(path, sizeof(path), "{\n  \"log_level\": \"info\",\n  \"http\": {\n}}}\n");
    config_init(&c);
    r = LOAD(&c, &err, "-config", path);
    assert_int_equal(r, -EINVAL);
    assert_contains(err.msg, "config file");
    assert_contains(err.msg, path);
    assert_contains(err.msg, "line 4");
    config_free(&c);
    unlink(path);

    write_temp(path, sizeof(path), "{\"process_command\": [\"a\", 3]}");
    config_init(&c);
    r = LOAD(&c, &err, "-config", path);
    assert_int_equal(r, -EINVAL);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "process_command[1]: expected a string, got a number");
    config_free(&c);
    unlink(path);

    /* An empty file is not a JSON object. */
    write_temp(path, sizeof(path), "");
    config_init(&c);
    r = LOAD(&c, &err, "-config", path);
    assert_int_equal(r, -EINVAL);
    assert_contains(err.msg, path);
    config_free(&c);
    unlink(path);

    /* A directory cannot be read as a file. */
    config_init(&c);
    r = LOAD(&c, &err, "-config", "/");
    assert_true(r < 0);
    config_free(&c);
}

static void test_file_empty_command_and_listen(void **state)
{
    (void)state;
    char path[64];
    write_temp(path, sizeof(path), "{\"process_command\": [], \"api_listen_addr\": []}");
    struct config c;
    struct sp_err err;
    config_init(&c);
    assert_int_equal(LOAD(&c, &err, "-config", path), 0);
    assert_null(c.process_command);
    check_strv(c.listen, CONFIG_DEFAULT_LISTEN, NULL);
    config_free(&c);
    unlink(path);
}

static void test_env_vars(void **state)
{
    (void)state;
    struct config c;
    struct sp_err err;

    setenv("SPRITE_HTTP_API_TOKEN", "s3cret", 1);
    setenv("SPRITE_WRITE_DIR", "/state", 1);
    setenv("SPRITE_KEEP_ALIVE_ON_ERROR", "true", 1);
    config_init(&c);
    assert_int_equal(LOAD0(&c, &err), 0);
    assert_string_equal(c.api_token, "s3cret");
    assert_string_equal(c.write_dir, "/state");
    assert_true(c.keep_alive_on_error);
    config_free(&c);

    static const struct {
        const char *val;
        bool want;
    } kae[] = {{"1", true},  {"TRUE", true}, {"yes", true}, {"false", false},
               {"0", false}, {"", false},    {"no", false}};
    for (size_t i = 0; i < SP_ARRAY_LEN(kae); i++) {
        setenv("SPRITE_KEEP_ALIVE_ON_ERROR", kae[i].val, 1);
        config_init(&c);
        c.keep_alive_on_error = !kae[i].want;
        assert_int_equal(LOAD0(&c, &err), 0);
        if (c.keep_alive_on_error != kae[i].want)
            fail_msg("SPRITE_KEEP_ALIVE_ON_ERROR=\"%s\" gave %d", kae[i].val,
                     c.keep_alive_on_error);
        config_free(&c);
    }
    unsetenv("SPRITE_KEEP_ALIVE_ON_ERROR");

    /* Empty token and write dir are ignored. */
    setenv("SPRITE_HTTP_API_TOKEN", "", 1);
    setenv("SPRITE_WRITE_DIR", "", 1);
    config_init(&c);
    assert_int_equal(LOAD0(&c, &err), 0);
    assert_null(c.api_token);
    assert_null(c.write_dir);
    assert_false(c.keep_alive_on_error);
    config_free(&c);

    setenv("LOG_LEVEL", "debug", 1);
    setenv("LOG_JSON", "1", 1);
    config_init(&c);
    assert_int_equal(LOAD0(&c, &err), 0);
    assert_int_equal(c.log_level, SP_LOG_DEBUG);
    assert_true(c.log_json);
    config_free(&c);

    setenv("LOG_LEVEL", "loud", 1);
    config_init(&c);
    assert_int_equal(LOAD0(&c, &err), -EINVAL);
    assert_contains(err.msg, "LOG_LEVEL");
    assert_contains(err.msg, "loud");
    config_free(&c);
}

static void test_process_environment_validation(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int ret;
        const char *want;
    } cases[] = {
        {"{\"process_environment\": [\"A=1\", \"NOEQUALS\"]}", -EINVAL, "process_environment[1]"},
        {"{\"process_environment\": [\"=value\"]}", -EINVAL, "process_environment[0]"},
        {"{\"process_environment\": [\"A=\", \"B==\", \"C=x=y\"]}", 0, NULL},
        {"{\"process_environment\": []}", 0, NULL},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char path[64];
        write_temp(path, sizeof(path), cases[i].json);
        struct config c;
        struct sp_err err;
        config_init(&c);
        int r = LOAD(&c, &err, "-config", path);
        if (r != cases[i].ret)
            fail_msg("%s: %d (%s), want %d", cases[i].json, r, err.msg, cases[i].ret);
        if (cases[i].want) {
            assert_contains(err.msg, cases[i].want);
            assert_contains(err.msg, "KEY=VALUE");
        }
        config_free(&c);
        unlink(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_load_no_args, clear_env),
        cmocka_unit_test_setup(test_flag_listen_repeatable, clear_env),
        cmocka_unit_test_setup(test_flag_booleans, clear_env),
        cmocka_unit_test_setup(test_flag_graceful, clear_env),
        cmocka_unit_test_setup(test_flag_unknown, clear_env),
        cmocka_unit_test_setup(test_flag_missing_value, clear_env),
        cmocka_unit_test_setup(test_flag_value_may_look_like_a_flag, clear_env),
        cmocka_unit_test_setup(test_flag_double_dash_command, clear_env),
        cmocka_unit_test_setup(test_flag_first_non_flag_starts_command, clear_env),
        cmocka_unit_test_setup(test_flag_version_help, clear_env),
        cmocka_unit_test_setup(test_flag_components_dir, clear_env),
        cmocka_unit_test_setup(test_json_every_key, clear_env),
        cmocka_unit_test_setup(test_json_empty_object_keeps_defaults, clear_env),
        cmocka_unit_test_setup(test_json_listen_forms, clear_env),
        cmocka_unit_test_setup(test_json_replace_frees, clear_env),
        cmocka_unit_test_setup(test_json_log_levels, clear_env),
        cmocka_unit_test_setup(test_json_http_bounds, clear_env),
        cmocka_unit_test_setup(test_json_errors, clear_env),
        cmocka_unit_test_setup(test_json_non_object_top_levels, clear_env),
        cmocka_unit_test_setup(test_json_error_leaves_field, clear_env),
        cmocka_unit_test_setup(test_json_unknown_keys_warn_only, clear_env),
        cmocka_unit_test_setup(test_json_compat_keys, clear_env),
        cmocka_unit_test_setup(test_env_subst_scalar, clear_env),
        cmocka_unit_test_setup(test_env_subst_array_and_nested, clear_env),
        cmocka_unit_test_setup(test_env_subst_bool_strings, clear_env),
        cmocka_unit_test_setup(test_env_subst_number_string_errors, clear_env),
        cmocka_unit_test_setup(test_env_subst_unset, clear_env),
        cmocka_unit_test_setup(test_env_subst_non_string_name, clear_env),
        cmocka_unit_test_setup(test_env_subst_top_level, clear_env),
        cmocka_unit_test_setup(test_file_then_flags, clear_env),
        cmocka_unit_test_setup(test_file_errors, clear_env),
        cmocka_unit_test_setup(test_file_empty_command_and_listen, clear_env),
        cmocka_unit_test_setup(test_env_vars, clear_env),
        cmocka_unit_test_setup(test_process_environment_validation, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
