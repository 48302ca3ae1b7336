/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/supervisor/svcdef.c: every field's good and bad forms and the messages that
 * name them, the limits, to_json -> from_json round trips, the dependency graph checks and the
 * components directory (in a fresh temporary directory per test).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../../src/base/compiler.h"
#include "../../src/base/str.h"
#include "../../src/supervisor/svcdef.h"

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

static json_t *load_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) fail_msg("bad test JSON %s: %s", text, jerr.text);
    return j;
}

/* svcdef_from_json on JSON text; *out is set to NULL first. */
static int parse_as(const char *name, const char *text, struct svc_def **out, struct sp_err *err)
{
    json_t *j = load_json(text);
    *out = NULL;
    sp_err_clear(err);
    int r = svcdef_from_json(name, SVC_ORIGIN_CONFIG, j, out, err);
    json_decref(j);
    return r;
}

/* Parses text as service "db" and expects success. */
static struct svc_def *parse_ok(const char *text)
{
    struct svc_def *d;
    struct sp_err err;
    int r = parse_as("db", text, &d, &err);
    if (r != 0) fail_msg("%s: got %d (%s), want success", text, r, err.msg);
    assert_non_null(d);
    return d;
}

/* Parses text as service "db", expects -EINVAL with a message holding every NULL-ended needle. */
static void parse_bad(const char *text, ...)
{
    struct svc_def *d = (struct svc_def *)1;
    struct sp_err err;
    int r = parse_as("db", text, &d, &err);
    if (r != -EINVAL) {
        svcdef_free(r == 0 ? d : NULL);
        fail_msg("%s: got %d, want -EINVAL", text, r);
    }
    if (d != NULL) fail_msg("%s: *out was set on failure", text);
    if (err.code != -EINVAL) fail_msg("%s: err.code %d", text, err.code);
    if (strncmp(err.msg, "service db: ", 12) != 0)
        fail_msg("%s: message \"%s\" does not start with \"service db: \"", text, err.msg);
    va_list ap;
    va_start(ap, text);
    const char *want;
    while ((want = va_arg(ap, const char *)) != NULL)
        if (!strstr(err.msg, want))
            fail_msg("%s: message \"%s\" does not contain \"%s\"", text, err.msg, want);
    va_end(ap);
}

#define BAD(text, ...) parse_bad((text), __VA_ARGS__, NULL)

/* ---- names and defaults ---- */

static void test_name_ok(void **state)
{
    (void)state;
    static const char *const good[] = {"a",
                                       "db",
                                       "A1",
                                       "web-2",
                                       "x_y",
                                       "a.b",
                                       "9lives",
                                       "a..",
                                       "a-",
                                       "abcdefghijabcdefghijabcdefghijabcdefghijabcd"
                                       "efghijabcdefghijabc"};
    static const char *const bad[] = {
        "",
        ".",
        "..",
        ".a",
        "-a",
        "_a",
        "a b",
        "a/b",
        "a:b",
        "é",
        "a\n",
        "a$",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd"};
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++)
        if (!svcdef_name_ok(good[i])) fail_msg("\"%s\" refused", good[i]);
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++)
        if (svcdef_name_ok(bad[i])) fail_msg("\"%s\" accepted", bad[i]);
    assert_int_equal(strlen(good[SP_ARRAY_LEN(good) - 1]), SVC_NAME_MAX);
    assert_int_equal(strlen(bad[SP_ARRAY_LEN(bad) - 1]), SVC_NAME_MAX + 1);
    assert_false(svcdef_name_ok(NULL));
}

static void test_defaults(void **state)
{
    (void)state;
    json_t *j = load_json("{\"cmd\": \"/bin/db\"}");
    struct svc_def *d = NULL;
    struct sp_err err;
    assert_int_equal(svcdef_from_json("db", SVC_ORIGIN_API, j, &d, &err), 0);
    json_decref(j);
    assert_string_equal(d->name, "db");
    assert_int_equal(d->origin, SVC_ORIGIN_API);
    check_strv(d->argv, "/bin/db", NULL);
    check_strv(d->needs, NULL);
    check_strv(d->env, NULL);
    assert_null(d->dir);
    assert_null(d->user);
    assert_int_equal(d->ready.kind, SVC_READY_NONE);
    assert_null(d->ready.command);
    assert_int_equal(d->ready.interval_ms, SVC_DEFAULT_READY_INTERVAL_MS);
    assert_int_equal(d->ready.timeout_ms, SVC_DEFAULT_READY_TIMEOUT_MS);
    assert_int_equal(d->restart, SVC_RESTART_NO);
    assert_int_equal(d->backoff_initial_ms, SVC_DEFAULT_BACKOFF_INITIAL_MS);
    assert_int_equal(d->backoff_max_ms, SVC_DEFAULT_BACKOFF_MAX_MS);
    assert_int_equal(d->backoff_reset_ms, SVC_DEFAULT_BACKOFF_RESET_MS);
    assert_int_equal(d->stop_signal, SIGTERM);
    assert_int_equal(d->stop_timeout_ms, SVC_DEFAULT_STOP_TIMEOUT_MS);
    svcdef_free(d);
    svcdef_free(NULL);
}

static void test_name_argument_and_field(void **state)
{
    (void)state;
    struct svc_def *d = (struct svc_def *)1;
    struct sp_err err;

    svcdef_free(parse_ok("{\"name\": \"db\", \"cmd\": \"x\"}"));
    BAD("{\"name\": \"web\", \"cmd\": \"x\"}", "name", "\"web\"", "does not match");
    BAD("{\"name\": 5, \"cmd\": \"x\"}", "name: expected a string");

    assert_int_equal(parse_as("bad name", "{\"cmd\": \"x\"}", &d, &err), -EINVAL);
    assert_null(d);
    assert_contains(err.msg, "invalid service name \"bad name\"");
    assert_int_equal(parse_as("..", "{\"cmd\": \"x\"}", &d, &err), -EINVAL);
    assert_contains(err.msg, "invalid service name");

    /* the definition must be an object */
    static const char *const not_objects[] = {"[]", "\"x\"", "1", "null", "true"};
    for (size_t i = 0; i < SP_ARRAY_LEN(not_objects); i++) {
        json_t *j = json_loads(not_objects[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        d = NULL;
        assert_int_equal(svcdef_from_json("db", SVC_ORIGIN_CONFIG, j, &d, &err), -EINVAL);
        assert_null(d);
        assert_contains(err.msg, "service db: the definition must be a JSON object");
        json_decref(j);
    }
    assert_int_equal(svcdef_from_json("db", SVC_ORIGIN_CONFIG, NULL, &d, &err), -EINVAL);
    /* a NULL err is fine */
    assert_int_equal(svcdef_from_json("db", SVC_ORIGIN_CONFIG, NULL, &d, NULL), -EINVAL);
}

static void test_unknown_fields(void **state)
{
    (void)state;
    BAD("{\"cmd\": \"x\", \"foo\": 1}", "service db: unknown field \"foo\"");
    BAD("{\"cmd\": \"x\", \"Cmd\": \"y\"}", "unknown field \"Cmd\"");
    BAD("{\"cmd\": \"x\", \"origin\": \"api\"}", "unknown field \"origin\"");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"intervall\": \"1s\"}}",
        "ready: ", "unknown field \"intervall\"");
    BAD("{\"cmd\": \"x\", \"backoff\": {\"inital\": \"1s\"}}",
        "backoff: ", "unknown field \"inital\"");
}

/* ---- the command ---- */

static void test_cmd_forms(void **state)
{
    (void)state;
    struct svc_def *d;

    d = parse_ok("{\"cmd\": \"/bin/pg\", \"args\": [\"-D\", \"/data\", \"\"]}");
    check_strv(d->argv, "/bin/pg", "-D", "/data", "", NULL);
    svcdef_free(d);

    d = parse_ok("{\"cmd\": \"/bin/pg\", \"args\": []}");
    check_strv(d->argv, "/bin/pg", NULL);
    svcdef_free(d);

    d = parse_ok("{\"cmd\": [\"/bin/pg\", \"-D\", \"/data\"]}");
    check_strv(d->argv, "/bin/pg", "-D", "/data", NULL);
    svcdef_free(d);

    d = parse_ok("{\"start_command\": [\"redis-server\", \"--port\", \"6380\"]}");
    check_strv(d->argv, "redis-server", "--port", "6380", NULL);
    svcdef_free(d);
}

static void test_cmd_errors(void **state)
{
    (void)state;
    BAD("{}", "service db: \"cmd\" is required (or \"start_command\")");
    BAD("{\"needs\": []}", "\"cmd\" is required");
    BAD("{\"args\": [\"a\"]}", "\"args\"", "without \"cmd\"");
    BAD("{\"cmd\": \"x\", \"start_command\": [\"y\"]}", "\"cmd\"", "\"start_command\"", "not both");
    BAD("{\"cmd\": [\"x\"], \"args\": [\"a\"]}", "\"args\" must be absent");
    BAD("{\"start_command\": [\"x\"], \"args\": [\"a\"]}", "\"args\"", "start_command");
    BAD("{\"cmd\": []}", "cmd: must not be empty");
    BAD("{\"start_command\": []}", "start_command: must not be empty");
    BAD("{\"cmd\": \"\"}", "cmd: the program must not be empty");
    BAD("{\"cmd\": [\"\", \"a\"]}", "cmd: the program must not be empty");
    BAD("{\"cmd\": 5}", "cmd: expected a string or an array of strings, got a number");
    BAD("{\"cmd\": {}}", "cmd: expected a string or an array of strings, got an object");
    BAD("{\"cmd\": null}", "cmd: expected a string or an array of strings, got null");
    BAD("{\"cmd\": [\"x\", 1]}", "cmd[1]: expected a string, got a number");
    BAD("{\"start_command\": \"x\"}", "start_command: expected an array of strings");
    BAD("{\"cmd\": \"x\", \"args\": \"-v\"}", "args: expected an array of strings, got a string");
    BAD("{\"cmd\": \"x\", \"args\": [\"a\", null]}", "args[1]: expected a string, got null");
}

/* ---- needs, env, dir, user ---- */

static void test_needs(void **state)
{
    (void)state;
    struct svc_def *d;

    d = parse_ok("{\"cmd\": \"x\", \"needs\": [\"api\", \"cache.1\"]}");
    check_strv(d->needs, "api", "cache.1", NULL);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"dependencies\": [\"api\"]}");
    check_strv(d->needs, "api", NULL);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"needs\": []}");
    check_strv(d->needs, NULL);
    svcdef_free(d);
    /* a need on itself is for svcdef_check_graph to refuse */
    d = parse_ok("{\"cmd\": \"x\", \"needs\": [\"db\"]}");
    check_strv(d->needs, "db", NULL);
    svcdef_free(d);

    BAD("{\"cmd\": \"x\", \"needs\": [\"a\", \"b\", \"a\"]}", "needs: \"a\" is listed twice");
    BAD("{\"cmd\": \"x\", \"needs\": \"api\"}",
        "needs: expected an array of strings, got a string");
    BAD("{\"cmd\": \"x\", \"needs\": [\"api\", 3]}", "needs[1]: expected a string, got a number");
    BAD("{\"cmd\": \"x\", \"needs\": [\"bad name\"]}", "needs: \"bad name\" is not a valid");
    BAD("{\"cmd\": \"x\", \"needs\": [\"\"]}", "needs: \"\" is not a valid service name");
    BAD("{\"cmd\": \"x\", \"needs\": [], \"dependencies\": []}", "\"needs\"", "\"dependencies\"",
        "not both");
    BAD("{\"cmd\": \"x\", \"dependencies\": [\"a\", \"a\"]}",
        "dependencies: \"a\" is listed twice");
}

static void test_env(void **state)
{
    (void)state;
    struct svc_def *d;

    d = parse_ok("{\"cmd\": \"x\", \"env\": [\"A=1\", \"B=\", \"C=x=y\"]}");
    check_strv(d->env, "A=1", "B=", "C=x=y", NULL);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"env\": {\"PGDATA\": \"/data\"}}");
    check_strv(d->env, "PGDATA=/data", NULL);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"env\": {\"A\": \"1\", \"B\": \"\"}}");
    assert_int_equal(sp_strv_len(d->env), 2);
    bool a = false, b = false;
    for (size_t i = 0; d->env[i]; i++) {
        a |= strcmp(d->env[i], "A=1") == 0;
        b |= strcmp(d->env[i], "B=") == 0;
    }
    assert_true(a && b);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"env\": {}}");
    check_strv(d->env, NULL);
    svcdef_free(d);

    BAD("{\"cmd\": \"x\", \"env\": [\"NOEQ\"]}", "env[0]: \"NOEQ\" is not of the form");
    BAD("{\"cmd\": \"x\", \"env\": [\"A=1\", \"=V\"]}", "env[1]: \"=V\"", "KEY=VALUE");
    BAD("{\"cmd\": \"x\", \"env\": [\"A=1\", 2]}", "env[1]: expected a string");
    BAD("{\"cmd\": \"x\", \"env\": {\"A=B\": \"1\"}}", "env: \"A=B\" is not a valid variable name");
    BAD("{\"cmd\": \"x\", \"env\": {\"\": \"1\"}}", "env: \"\" is not a valid variable name");
    BAD("{\"cmd\": \"x\", \"env\": {\"A\": 1}}", "env.A: expected a string, got a number");
    BAD("{\"cmd\": \"x\", \"env\": \"A=1\"}", "env: expected an array", "got a string");
}

static void test_dir_user(void **state)
{
    (void)state;
    struct svc_def *d;

    d = parse_ok("{\"cmd\": \"x\", \"dir\": \"/srv/db\", \"user\": \"postgres\"}");
    assert_string_equal(d->dir, "/srv/db");
    assert_string_equal(d->user, "postgres");
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"user\": \"1000:1000\"}");
    assert_null(d->dir);
    assert_string_equal(d->user, "1000:1000");
    svcdef_free(d);

    BAD("{\"cmd\": \"x\", \"dir\": \"srv\"}", "dir: must be an absolute path");
    BAD("{\"cmd\": \"x\", \"dir\": \"\"}", "dir: must be an absolute path");
    BAD("{\"cmd\": \"x\", \"dir\": 1}", "dir: expected a string, got a number");
    BAD("{\"cmd\": \"x\", \"user\": \"\"}", "user: expected");
    BAD("{\"cmd\": \"x\", \"user\": \"a:\"}", "user: expected");
    BAD("{\"cmd\": \"x\", \"user\": \":g\"}", "user: expected");
    BAD("{\"cmd\": \"x\", \"user\": \"a:b:c\"}", "user: expected");
    BAD("{\"cmd\": \"x\", \"user\": 0}", "user: expected a string, got a number");
}

/* ---- ready ---- */

static void test_ready_command(void **state)
{
    (void)state;
    struct svc_def *d;

    d = parse_ok("{\"cmd\": \"x\", \"ready\": {\"command\": [\"pg_isready\", \"-q\"]}}");
    assert_int_equal(d->ready.kind, SVC_READY_COMMAND);
    check_strv(d->ready.command, "pg_isready", "-q", NULL);
    assert_int_equal(d->ready.interval_ms, SVC_DEFAULT_READY_INTERVAL_MS);
    assert_int_equal(d->ready.timeout_ms, SVC_DEFAULT_READY_TIMEOUT_MS);
    svcdef_free(d);

    d = parse_ok("{\"start_command\": [\"x\"], \"ready_command\": [\"check\", \"1\"]}");
    assert_int_equal(d->ready.kind, SVC_READY_COMMAND);
    check_strv(d->ready.command, "check", "1", NULL);
    svcdef_free(d);

    BAD("{\"cmd\": \"x\", \"ready\": {\"command\": [\"a\"]}, \"ready_command\": [\"b\"]}",
        "\"ready\"", "\"ready_command\"", "not both");
    BAD("{\"cmd\": \"x\", \"ready_command\": []}", "ready_command: must not be empty");
    BAD("{\"cmd\": \"x\", \"ready_command\": \"check\"}", "ready_command: expected an array");
    BAD("{\"cmd\": \"x\", \"ready\": {\"command\": []}}", "ready.command: must not be empty");
    BAD("{\"cmd\": \"x\", \"ready\": {\"command\": \"c\"}}", "ready.command: expected an array");
    BAD("{\"cmd\": \"x\", \"ready\": {\"command\": [1]}}", "ready.command[0]: expected a string");
    BAD("{\"cmd\": \"x\", \"ready\": []}", "ready: expected an object, got an array");
    BAD("{\"cmd\": \"x\", \"ready\": {}}", "ready: needs one of");
    BAD("{\"cmd\": \"x\", \"ready\": {\"interval\": \"1s\"}}", "ready: needs one of");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 80, \"http\": \"http://h/\"}}", "ready: give one of",
        "\"tcp\" and \"http\"");
    BAD("{\"cmd\": \"x\", \"ready\": {\"command\": [\"c\"], \"notify_fd\": 3}}",
        "\"command\" and \"notify_fd\"");
}

static void test_ready_tcp(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *host;
        unsigned port;
    } good[] = {
        {"5432", "127.0.0.1", 5432},
        {"1", "127.0.0.1", 1},
        {"65535", "127.0.0.1", 65535},
        {"\"localhost:6379\"", "localhost", 6379},
        {"\"10.0.0.2:80\"", "10.0.0.2", 80},
        {"\"[::1]:8080\"", "::1", 8080},
        {"\"[fe80::1%eth0]:22\"", "fe80::1%eth0", 22},
        {"\":9000\"", "127.0.0.1", 9000},
        {"\"db-1.internal:5432\"", "db-1.internal", 5432},
    };
    static const struct {
        const char *value;
        const char *want;
    } bad[] = {
        {"0", "ready.tcp: port must be 1..65535"},
        {"65536", "ready.tcp: port must be 1..65535"},
        {"-1", "ready.tcp: port must be 1..65535"},
        {"\"host:0\"", "ready.tcp: port must be 1..65535"},
        {"\"host:65536\"", "ready.tcp: port must be 1..65535"},
        {"\"host:99999999\"", "ready.tcp: port must be 1..65535"},
        {"\"host:\"", "ready.tcp: port must be 1..65535"},
        {"\"host:8a\"", "ready.tcp: port must be 1..65535"},
        {"\"host\"", "ready.tcp: expected \"HOST:PORT\""},
        {"\"5432\"", "ready.tcp: expected"},
        {"\"::1:80\"", "ready.tcp: an IPv6 address must be in brackets"},
        {"\"[::1]\"", "ready.tcp: expected"},
        {"\"[::1\"", "ready.tcp: missing ']'"},
        {"\"[::1]80\"", "ready.tcp: expected ':'"},
        {"\"[]:80\"", "ready.tcp: \"\" is not a valid host"},
        {"\"[zz::1]:80\"", "is not a valid host"},
        {"\"ho st:80\"", "ready.tcp: \"ho st\" is not a valid host"},
        {"\"a/b:80\"", "is not a valid host"},
        {"true", "ready.tcp: expected a port number or \"HOST:PORT\", got a boolean"},
        {"1.5", "ready.tcp: expected a port number"},
    };
    char text[256];
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
        snprintf(text, sizeof(text), "{\"cmd\": \"x\", \"ready\": {\"tcp\": %s}}", good[i].value);
        struct svc_def *d = parse_ok(text);
        if (d->ready.kind != SVC_READY_TCP || strcmp(d->ready.host, good[i].host) != 0 ||
            d->ready.port != good[i].port)
            fail_msg("%s: kind %d host \"%s\" port %u", good[i].value, d->ready.kind, d->ready.host,
                     d->ready.port);
        svcdef_free(d);
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        snprintf(text, sizeof(text), "{\"cmd\": \"x\", \"ready\": {\"tcp\": %s}}", bad[i].value);
        parse_bad(text, bad[i].want, NULL);
    }
}

static void test_ready_http(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *host;
        unsigned port;
        const char *path;
    } good[] = {
        {"http://localhost:8080/health", "localhost", 8080, "/health"},
        {"http://example.com", "example.com", 80, "/"},
        {"http://example.com/", "example.com", 80, "/"},
        {"HTTP://h:81/a/b?x=1&y=2", "h", 81, "/a/b?x=1&y=2"},
        {"http://h?q=1", "h", 80, "/?q=1"},
        {"http://[::1]:9000/ready", "::1", 9000, "/ready"},
        {"http://[::1]/", "::1", 80, "/"},
        {"http://:3000/x", "127.0.0.1", 3000, "/x"},
        {"http://10.1.2.3:65535/%20", "10.1.2.3", 65535, "/%20"},
    };
    static const struct {
        const char *url;
        const char *want;
    } bad[] = {
        {"https://h/", "ready.http: only http:// is supported"},
        {"ftp://h/", "ready.http: must start with \"http://\""},
        {"localhost:8080/health", "ready.http: must start with \"http://\""},
        {"", "ready.http: must start with"},
        {"http://h:0/", "ready.http: port must be 1..65535"},
        {"http://h:70000/", "ready.http: port must be 1..65535"},
        {"http://h:/", "ready.http: port must be 1..65535"},
        {"http://u:p@h/", "ready.http: user info"},
        {"http://h/a b", "ready.http: the path must not hold spaces"},
        {"http://h/a\tb", "ready.http: the path must not hold"},
        {"http://h/a#frag", "ready.http: the path must not hold"},
        {"http://h#frag", "ready.http: must not have a fragment"},
        {"http://::1/", "ready.http: an IPv6 address must be in brackets"},
        {"http://h h/", "is not a valid host"},
    };
    char text[4096];
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
        json_t *j = load_json("{\"cmd\": \"x\"}");
        json_t *r = json_object();
        json_object_set_new(r, "http", json_string(good[i].url));
        json_object_set_new(j, "ready", r);
        struct svc_def *d = NULL;
        struct sp_err err;
        if (svcdef_from_json("db", SVC_ORIGIN_CONFIG, j, &d, &err) != 0)
            fail_msg("%s: %s", good[i].url, err.msg);
        json_decref(j);
        if (d->ready.kind != SVC_READY_HTTP || strcmp(d->ready.host, good[i].host) != 0 ||
            d->ready.port != good[i].port || strcmp(d->ready.path, good[i].path) != 0)
            fail_msg("%s: kind %d host \"%s\" port %u path \"%s\"", good[i].url, d->ready.kind,
                     d->ready.host, d->ready.port, d->ready.path);
        svcdef_free(d);
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        json_t *j = load_json("{\"cmd\": \"x\"}");
        json_t *r = json_object();
        json_object_set_new(r, "http", json_string(bad[i].url));
        json_object_set_new(j, "ready", r);
        char *s = json_dumps(j, 0);
        json_decref(j);
        parse_bad(s, bad[i].want, NULL);
        free(s);
    }
    BAD("{\"cmd\": \"x\", \"ready\": {\"http\": 80}}",
        "ready.http: expected a string, got a number");

    /* a path that does not fit svc_ready.path */
    char path[1100];
    memset(path, 'p', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    snprintf(text, sizeof(text), "{\"cmd\": \"x\", \"ready\": {\"http\": \"http://h/%s\"}}", path);
    BAD(text, "ready.http: path longer than");
    /* a host that does not fit svc_ready.host */
    char host[300];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(text, sizeof(text), "{\"cmd\": \"x\", \"ready\": {\"http\": \"http://%s/\"}}", host);
    BAD(text, "ready.http: host longer than 255 bytes");
    snprintf(text, sizeof(text), "{\"cmd\": \"x\", \"ready\": {\"tcp\": \"%s:1\"}}", host);
    BAD(text, "ready.tcp: host longer than 255 bytes");
}

static void test_ready_notify(void **state)
{
    (void)state;
    struct svc_def *d = parse_ok("{\"cmd\": \"x\", \"ready\": {\"notify_fd\": 3}}");
    assert_int_equal(d->ready.kind, SVC_READY_NOTIFY);
    assert_int_equal(d->ready.notify_fd, 3);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"ready\": {\"notify_fd\": 1023, \"timeout\": \"1m\"}}");
    assert_int_equal(d->ready.notify_fd, 1023);
    assert_int_equal(d->ready.timeout_ms, 60000);
    svcdef_free(d);

    BAD("{\"cmd\": \"x\", \"ready\": {\"notify_fd\": 2}}", "ready.notify_fd: must be 3..1023");
    BAD("{\"cmd\": \"x\", \"ready\": {\"notify_fd\": 1024}}", "ready.notify_fd: must be 3..1023");
    BAD("{\"cmd\": \"x\", \"ready\": {\"notify_fd\": -1}}", "ready.notify_fd: must be 3..1023");
    BAD("{\"cmd\": \"x\", \"ready\": {\"notify_fd\": \"3\"}}",
        "ready.notify_fd: expected an integer, got a string");
}

static void test_ready_interval_timeout(void **state)
{
    (void)state;
    struct svc_def *d;

    d = parse_ok("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"interval\": \"250ms\", "
                 "\"timeout\": \"1m30s\"}}");
    assert_int_equal(d->ready.interval_ms, 250);
    assert_int_equal(d->ready.timeout_ms, 90000);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"interval\": 50, \"timeout\": 2000}}");
    assert_int_equal(d->ready.interval_ms, 50);
    assert_int_equal(d->ready.timeout_ms, 2000);
    svcdef_free(d);

    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"interval\": \"0s\"}}",
        "ready.interval: must be more than 0");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"interval\": 0}}",
        "ready.interval: must be more than 0");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"timeout\": \"0\"}}",
        "ready.timeout: must be more than 0");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"timeout\": \"soon\"}}",
        "ready.timeout: \"soon\" is not a duration");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"timeout\": \"10\"}}",
        "ready.timeout: \"10\" is not a duration");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"timeout\": -5}}",
        "ready.timeout: must not be negative");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"timeout\": true}}",
        "ready.timeout: expected a duration", "got a boolean");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"timeout\": \"25h\"}}",
        "ready.timeout: must be at most 24h");
    BAD("{\"cmd\": \"x\", \"ready\": {\"tcp\": 1, \"interval\": 86400001}}",
        "ready.interval: must be at most 24h");
}

/* ---- restart, backoff, stop ---- */

static void test_restart(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        enum svc_restart want;
    } good[] = {
        {"no", SVC_RESTART_NO},
        {"never", SVC_RESTART_NO},
        {"on-failure", SVC_RESTART_ON_FAILURE},
        {"always", SVC_RESTART_ALWAYS},
    };
    char text[128];
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
        snprintf(text, sizeof(text), "{\"cmd\": \"x\", \"restart\": \"%s\"}", good[i].value);
        struct svc_def *d = parse_ok(text);
        if (d->restart != good[i].want)
            fail_msg("%s: restart %d, want %d", good[i].value, d->restart, good[i].want);
        svcdef_free(d);
    }
    BAD("{\"cmd\": \"x\", \"restart\": \"sometimes\"}", "restart: expected \"no\", \"on-failure\"",
        "\"sometimes\"");
    BAD("{\"cmd\": \"x\", \"restart\": \"Always\"}", "restart: expected");
    BAD("{\"cmd\": \"x\", \"restart\": \"on_failure\"}", "restart: expected");
    BAD("{\"cmd\": \"x\", \"restart\": true}", "restart: expected a string, got a boolean");
}

static void test_backoff(void **state)
{
    (void)state;
    struct svc_def *d;

    d = parse_ok("{\"cmd\": \"x\", \"backoff\": {\"initial\": \"500ms\", \"max\": \"30s\", "
                 "\"reset_after\": \"1m\"}}");
    assert_int_equal(d->backoff_initial_ms, 500);
    assert_int_equal(d->backoff_max_ms, 30000);
    assert_int_equal(d->backoff_reset_ms, 60000);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"backoff\": {\"max\": \"2m\"}}");
    assert_int_equal(d->backoff_initial_ms, SVC_DEFAULT_BACKOFF_INITIAL_MS);
    assert_int_equal(d->backoff_max_ms, 120000);
    assert_int_equal(d->backoff_reset_ms, SVC_DEFAULT_BACKOFF_RESET_MS);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"backoff\": {\"initial\": \"2s\", \"max\": \"2s\", "
                 "\"reset_after\": 0}}");
    assert_int_equal(d->backoff_max_ms, 2000);
    assert_int_equal(d->backoff_reset_ms, 0);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"backoff\": {}}");
    assert_int_equal(d->backoff_max_ms, SVC_DEFAULT_BACKOFF_MAX_MS);
    svcdef_free(d);

    BAD("{\"cmd\": \"x\", \"backoff\": {\"initial\": 0}}", "backoff.initial: must be more than 0");
    BAD("{\"cmd\": \"x\", \"backoff\": {\"initial\": \"2s\", \"max\": \"1s\"}}",
        "backoff: max (1s) must not be less than initial (2s)");
    /* max below the default initial */
    BAD("{\"cmd\": \"x\", \"backoff\": {\"max\": \"500ms\"}}",
        "backoff: max (500ms) must not be less than initial (1s)");
    BAD("{\"cmd\": \"x\", \"backoff\": {\"max\": 0}}", "backoff.max: must be more than 0");
    BAD("{\"cmd\": \"x\", \"backoff\": {\"reset_after\": \"x\"}}",
        "backoff.reset_after: \"x\" is not a duration");
    BAD("{\"cmd\": \"x\", \"backoff\": \"1s\"}", "backoff: expected an object, got a string");
}

static void test_stop(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int want;
    } good[] = {
        {"\"TERM\"", SIGTERM}, {"\"SIGTERM\"", SIGTERM},
        {"\"term\"", SIGTERM}, {"\"sigint\"", SIGINT},
        {"\"KILL\"", SIGKILL}, {"\"SIGQUIT\"", SIGQUIT},
        {"15", SIGTERM},       {"9", SIGKILL},
        {"\"2\"", SIGINT},     {"64", 64},
        {"1", SIGHUP},
    };
    static const char *const bad[] = {"0",     "65",     "-15",  "\"\"", "\"FOO\"", "\"SIG\"",
                                      "\"0\"", "\"99\"", "true", "[15]", "15.0"};
    char text[128];
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
        snprintf(text, sizeof(text), "{\"cmd\": \"x\", \"stop_signal\": %s}", good[i].value);
        struct svc_def *d = parse_ok(text);
        if (d->stop_signal != good[i].want)
            fail_msg("%s: signal %d, want %d", good[i].value, d->stop_signal, good[i].want);
        svcdef_free(d);
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
        snprintf(text, sizeof(text), "{\"cmd\": \"x\", \"stop_signal\": %s}", bad[i]);
        parse_bad(text, "stop_signal: ", NULL);
    }
    BAD("{\"cmd\": \"x\", \"stop_signal\": 65}", "stop_signal: must be 1..64");
    BAD("{\"cmd\": \"x\", \"stop_signal\": \"FOO\"}", "stop_signal: \"FOO\" is not a signal");

    struct svc_def *d = parse_ok("{\"cmd\": \"x\", \"stop_timeout\": \"30s\"}");
    assert_int_equal(d->stop_timeout_ms, 30000);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"stop_timeout\": 0}");
    assert_int_equal(d->stop_timeout_ms, 0);
    svcdef_free(d);
    BAD("{\"cmd\": \"x\", \"stop_timeout\": \"forever\"}", "stop_timeout: \"forever\" is not a");
    BAD("{\"cmd\": \"x\", \"stop_timeout\": \"48h\"}", "stop_timeout: must be at most 24h");
    BAD("{\"cmd\": \"x\", \"stop_timeout\": [1]}", "stop_timeout: expected a duration");
}

static void test_duration_ms(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int ret;
        uint64_t ms;
    } cases[] = {
        {"\"250ms\"", 0, 250},
        {"\"1m30s\"", 0, 90000},
        {"\"1.5s\"", 0, 1500},
        {"\"0\"", 0, 0},
        {"\"0s\"", 0, 0},
        {"\"1us\"", 0, 1}, /* rounded up */
        {"\"1500us\"", 0, 2},
        {"\"1ns\"", 0, 1},
        {"\"24h\"", 0, 24ull * 3600 * 1000},
        {"1500", 0, 1500},
        {"0", 0, 0},
        {"86400000", 0, 86400000},
        {"86400001", -EINVAL, 0},
        {"\"24h0m0.001s\"", -EINVAL, 0},
        {"\"99999999999h\"", -EINVAL, 0},
        {"-1", -EINVAL, 0},
        {"\"-1s\"", -EINVAL, 0},
        {"\"\"", -EINVAL, 0},
        {"\"5\"", -EINVAL, 0},
        {"\"5 s\"", -EINVAL, 0},
        {"1.5", -EINVAL, 0},
        {"true", -EINVAL, 0},
        {"null", -EINVAL, 0},
        {"{}", -EINVAL, 0},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        uint64_t ms = 777;
        int r = svcdef_duration_ms(j, &ms);
        json_decref(j);
        if (r != cases[i].ret) fail_msg("%s: returned %d, want %d", cases[i].json, r, cases[i].ret);
        if (r == 0 && ms != cases[i].ms)
            fail_msg("%s: %llu ms, want %llu", cases[i].json, (unsigned long long)ms,
                     (unsigned long long)cases[i].ms);
        if (r < 0 && ms != 777) fail_msg("%s: *out changed on failure", cases[i].json);
    }
    /* a string with a NUL byte inside */
    json_t *j = json_stringn("1s\0junk", 7);
    uint64_t ms;
    assert_int_equal(svcdef_duration_ms(j, &ms), -EINVAL);
    json_decref(j);
}

/* ---- limits ---- */

/* {"cmd": [n strings of len bytes]} */
static json_t *argv_json(size_t n, size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    memset(s, 'a', len);
    s[len] = '\0';
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(s));
    free(s);
    json_t *o = json_object();
    json_object_set_new(o, "cmd", a);
    return o;
}

static int parse_json(json_t *j, struct svc_def **d, struct sp_err *err)
{
    *d = NULL;
    sp_err_clear(err);
    int r = svcdef_from_json("db", SVC_ORIGIN_CONFIG, j, d, err);
    json_decref(j);
    return r;
}

static void test_limits(void **state)
{
    (void)state;
    struct svc_def *d;
    struct sp_err err;

    /* argv */
    assert_int_equal(parse_json(argv_json(SVC_MAX_ARGV, 1), &d, &err), 0);
    assert_int_equal(sp_strv_len(d->argv), SVC_MAX_ARGV);
    svcdef_free(d);
    assert_int_equal(parse_json(argv_json(SVC_MAX_ARGV + 1, 1), &d, &err), -EINVAL);
    assert_null(d);
    assert_contains(err.msg, "service db: cmd: 257 elements, at most 256");

    /* cmd + args */
    json_t *j = json_object();
    json_t *args = json_array();
    for (int i = 0; i < SVC_MAX_ARGV - 1; i++)
        json_array_append_new(args, json_string("a"));
    json_object_set_new(j, "cmd", json_string("prog"));
    json_object_set_new(j, "args", args);
    assert_int_equal(parse_json(json_incref(j), &d, &err), 0);
    assert_int_equal(sp_strv_len(d->argv), SVC_MAX_ARGV);
    svcdef_free(d);
    json_array_append_new(args, json_string("b"));
    assert_int_equal(parse_json(j, &d, &err), -EINVAL);
    assert_contains(err.msg, "service db: cmd and args: 257 elements, at most 256");

    /* env and needs entries */
    j = argv_json(1, 1);
    json_t *env = json_array(), *needs = json_array();
    char buf[32];
    for (int i = 0; i <= SVC_MAX_ARGV; i++) {
        snprintf(buf, sizeof(buf), "K%d=v", i);
        json_array_append_new(env, json_string(buf));
        snprintf(buf, sizeof(buf), "s%d", i);
        json_array_append_new(needs, json_string(buf));
    }
    json_object_set_new(j, "env", env);
    assert_int_equal(parse_json(json_incref(j), &d, &err), -EINVAL);
    assert_contains(err.msg, "env: 257 elements, at most 256");
    json_object_del(j, "env");
    json_object_set_new(j, "needs", needs);
    assert_int_equal(parse_json(j, &d, &err), -EINVAL);
    assert_contains(err.msg, "needs: 257 elements, at most 256");

    /* env as an object */
    j = argv_json(1, 1);
    env = json_object();
    for (int i = 0; i <= SVC_MAX_ARGV; i++) {
        snprintf(buf, sizeof(buf), "K%d", i);
        json_object_set_new(env, buf, json_string("v"));
    }
    json_object_set_new(j, "env", env);
    assert_int_equal(parse_json(j, &d, &err), -EINVAL);
    assert_contains(err.msg, "env: 257 entries, at most 256");

    /* bytes: exactly at the limit, then one more (each string counts its NUL) */
    assert_int_equal(parse_json(argv_json(1, SVC_MAX_BYTES - 1), &d, &err), 0);
    svcdef_free(d);
    assert_int_equal(parse_json(argv_json(1, SVC_MAX_BYTES), &d, &err), -EINVAL);
    assert_null(d);
    assert_contains(err.msg, "65537 bytes, at most 65536");
    /* argv, env and the ready command together */
    j = argv_json(1, 30000);
    json_t *e = json_array();
    char *big = malloc(30001);
    memset(big, 'v', 30000);
    big[0] = 'K';
    big[1] = '=';
    big[30000] = '\0';
    json_array_append_new(e, json_string(big));
    json_object_set_new(j, "env", e);
    json_t *rc = json_array();
    json_array_append_new(rc, json_string(big + 2));
    json_object_set_new(j, "ready_command", rc);
    free(big);
    assert_int_equal(parse_json(j, &d, &err), -EINVAL);
    assert_contains(err.msg, "bytes, at most 65536");

    /* NUL bytes in strings */
    j = json_object();
    json_object_set_new(j, "cmd", json_stringn("a\0b", 3));
    assert_int_equal(parse_json(j, &d, &err), -EINVAL);
    assert_contains(err.msg, "cmd: must not contain NUL bytes");
    j = argv_json(1, 1);
    e = json_array();
    json_array_append_new(e, json_stringn("A=\0", 3));
    json_object_set_new(j, "env", e);
    assert_int_equal(parse_json(j, &d, &err), -EINVAL);
    assert_contains(err.msg, "env[0]: must not contain NUL bytes");
    j = argv_json(1, 1);
    e = json_object();
    json_object_set_new(e, "A", json_stringn("x\0y", 3));
    json_object_set_new(j, "env", e);
    assert_int_equal(parse_json(j, &d, &err), -EINVAL);
    assert_contains(err.msg, "env.A: must not contain NUL bytes");
    j = argv_json(1, 1);
    e = json_object();
    json_object_setn_new(e, "A\0B", 3, json_string("x"));
    json_object_set_new(j, "env", e);
    assert_int_equal(parse_json(j, &d, &err), -EINVAL);
    assert_contains(err.msg, "env: \"A\" is not a valid variable name");
    /* a key with a NUL inside is no known field, even when it starts like one */
    j = argv_json(1, 1);
    json_object_setn_new(j, "dir\0x", 5, json_string("/"));
    assert_int_equal(parse_json(j, &d, &err), -EINVAL);
    assert_contains(err.msg, "service db: unknown field \"dir\"");
}

/* ---- to_json and round trips ---- */

static void strv_equal(char **a, char **b, const char *what)
{
    size_t n = sp_strv_len(a);
    if (n != sp_strv_len(b)) fail_msg("%s: %zu vs %zu elements", what, n, sp_strv_len(b));
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0) fail_msg("%s[%zu]: \"%s\" vs \"%s\"", what, i, a[i], b[i]);
}

static void opt_equal(const char *a, const char *b, const char *what)
{
    if (!a || !b) {
        if (a != b) fail_msg("%s: \"%s\" vs \"%s\"", what, a ? a : "(null)", b ? b : "(null)");
        return;
    }
    if (strcmp(a, b) != 0) fail_msg("%s: \"%s\" vs \"%s\"", what, a, b);
}

static void defs_equal(const struct svc_def *a, const struct svc_def *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->origin, b->origin);
    strv_equal(a->argv, b->argv, "argv");
    strv_equal(a->needs, b->needs, "needs");
    strv_equal(a->env, b->env, "env");
    opt_equal(a->dir, b->dir, "dir");
    opt_equal(a->user, b->user, "user");
    assert_int_equal(a->ready.kind, b->ready.kind);
    if (a->ready.command || b->ready.command)
        strv_equal(a->ready.command, b->ready.command, "ready.command");
    assert_string_equal(a->ready.host, b->ready.host);
    assert_int_equal(a->ready.port, b->ready.port);
    assert_string_equal(a->ready.path, b->ready.path);
    assert_int_equal(a->ready.notify_fd, b->ready.notify_fd);
    assert_int_equal(a->ready.interval_ms, b->ready.interval_ms);
    assert_int_equal(a->ready.timeout_ms, b->ready.timeout_ms);
    assert_int_equal(a->restart, b->restart);
    assert_int_equal(a->backoff_initial_ms, b->backoff_initial_ms);
    assert_int_equal(a->backoff_max_ms, b->backoff_max_ms);
    assert_int_equal(a->backoff_reset_ms, b->backoff_reset_ms);
    assert_int_equal(a->stop_signal, b->stop_signal);
    assert_int_equal(a->stop_timeout_ms, b->stop_timeout_ms);
}

/* Parses text, writes it back, parses that again: both definitions and both JSON texts equal. */
static void round_trip(const char *text)
{
    struct svc_def *a = parse_ok(text), *b = NULL;
    struct sp_err err;
    json_t *j1 = svcdef_to_json(a);
    assert_non_null(j1);
    int r = svcdef_from_json("db", SVC_ORIGIN_CONFIG, j1, &b, &err);
    if (r != 0) {
        char *s = json_dumps(j1, JSON_SORT_KEYS);
        fail_msg("%s: to_json gave %s, which does not parse: %s", text, s, err.msg);
    }
    defs_equal(a, b);
    json_t *j2 = svcdef_to_json(b);
    assert_non_null(j2);
    if (!json_equal(j1, j2)) fail_msg("%s: to_json differs after the round trip", text);
    json_decref(j1);
    json_decref(j2);
    svcdef_free(a);
    svcdef_free(b);
}

static void test_round_trip(void **state)
{
    (void)state;
    /* every field */
    round_trip("{\"name\": \"db\", \"cmd\": \"/usr/bin/postgres\", \"args\": [\"-D\", \"/data\", "
               "\"\", \"a b\"], \"needs\": [\"net\", \"vol\"], \"env\": {\"PGDATA\": \"/data\", "
               "\"X\": \"=\"}, \"dir\": \"/srv\", \"user\": \"postgres:postgres\", \"ready\": "
               "{\"command\": [\"pg_isready\", \"-q\"], \"interval\": \"250ms\", \"timeout\": "
               "\"1m30s\"}, \"restart\": \"on-failure\", \"backoff\": {\"initial\": \"200ms\", "
               "\"max\": \"1h\", \"reset_after\": \"0s\"}, \"stop_signal\": \"int\", "
               "\"stop_timeout\": \"12.5s\"}");
    /* the seed's shape */
    round_trip("{\"start_command\": [\"redis-server\"], \"ready_command\": [\"redis-cli\", "
               "\"ping\"], \"dependencies\": [\"a\"]}");
    /* each ready kind */
    round_trip("{\"cmd\": \"x\"}");
    round_trip("{\"cmd\": \"x\", \"ready\": {\"tcp\": 5432}}");
    round_trip("{\"cmd\": \"x\", \"ready\": {\"tcp\": \"[::1]:5432\", \"timeout\": 1}}");
    round_trip("{\"cmd\": \"x\", \"ready\": {\"tcp\": \"[fe80::1%eth0]:1\"}}");
    round_trip("{\"cmd\": \"x\", \"ready\": {\"http\": \"http://h/\"}}");
    round_trip("{\"cmd\": \"x\", \"ready\": {\"http\": \"http://[::1]:8080/a?b=c\"}}");
    round_trip("{\"cmd\": \"x\", \"ready\": {\"http\": \"http://h?x\"}}");
    round_trip("{\"cmd\": \"x\", \"ready\": {\"notify_fd\": 7, \"interval\": \"24h\"}}");
    /* restart and signals */
    round_trip("{\"cmd\": \"x\", \"restart\": \"always\", \"stop_signal\": 9}");
    round_trip("{\"cmd\": \"x\", \"restart\": \"never\", \"stop_signal\": 40}"); /* no name */
    round_trip("{\"cmd\": \"x\", \"stop_timeout\": 0, \"backoff\": {\"initial\": \"1us\"}}");
    /* lots of odd strings */
    round_trip("{\"cmd\": [\"pr\\u00f6g\", \"\\n\", \"\\\"\", \"\\\\\"], \"env\": [\"A=\\t\"]}");
}

static void test_to_json_shape(void **state)
{
    (void)state;
    struct svc_def *d = parse_ok("{\"cmd\": [\"/bin/db\", \"-v\"], \"ready\": {\"http\": "
                                 "\"http://localhost/health\"}, \"env\": {\"A\": \"1\"}}");
    json_t *j = svcdef_to_json(d);
    assert_non_null(j);
    json_t *want = load_json(
        "{\"name\": \"db\", \"cmd\": \"/bin/db\", \"args\": [\"-v\"], \"needs\": [], \"env\": "
        "[\"A=1\"], \"ready\": {\"http\": \"http://localhost:80/health\", \"interval\": "
        "\"100ms\", \"timeout\": \"10s\"}, \"restart\": \"no\", \"backoff\": {\"initial\": "
        "\"1s\", \"max\": \"1m0s\", \"reset_after\": \"10s\"}, \"stop_signal\": \"SIGTERM\", "
        "\"stop_timeout\": \"5s\"}");
    if (!json_equal(j, want)) {
        char *s = json_dumps(j, JSON_SORT_KEYS);
        fail_msg("to_json gave %s", s);
    }
    json_decref(j);
    json_decref(want);
    svcdef_free(d);

    /* no "ready", "dir" or "user" when there are none; tcp as "HOST:PORT"; dir and user */
    d = parse_ok("{\"cmd\": \"x\", \"dir\": \"/w\", \"user\": \"1\"}");
    j = svcdef_to_json(d);
    assert_null(json_object_get(j, "ready"));
    assert_string_equal(json_string_value(json_object_get(j, "dir")), "/w");
    assert_string_equal(json_string_value(json_object_get(j, "user")), "1");
    assert_int_equal(json_array_size(json_object_get(j, "args")), 0);
    json_decref(j);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"ready\": {\"tcp\": 6379}}");
    j = svcdef_to_json(d);
    assert_null(json_object_get(j, "dir"));
    assert_null(json_object_get(j, "user"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "ready"), "tcp")),
                        "127.0.0.1:6379");
    json_decref(j);
    svcdef_free(d);
    d = parse_ok("{\"cmd\": \"x\", \"ready\": {\"tcp\": \"[::1]:1\"}}");
    j = svcdef_to_json(d);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "ready"), "tcp")),
                        "[::1]:1");
    json_decref(j);
    svcdef_free(d);
}

/* ---- the graph ---- */

/* A definition with the given needs (NULL-terminated). */
static struct svc_def *def_needs(const char *name, ...)
{
    json_t *j = load_json("{\"cmd\": \"x\"}");
    json_t *needs = json_array();
    va_list ap;
    va_start(ap, name);
    const char *n;
    while ((n = va_arg(ap, const char *)) != NULL)
        json_array_append_new(needs, json_string(n));
    va_end(ap);
    json_object_set_new(j, "needs", needs);
    struct svc_def *d = NULL;
    struct sp_err err;
    if (svcdef_from_json(name, SVC_ORIGIN_CONFIG, j, &d, &err) != 0) fail_msg("%s", err.msg);
    json_decref(j);
    return d;
}

static void free_defs(struct svc_def **defs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        svcdef_free(defs[i]);
}

static void test_graph_empty_and_ok(void **state)
{
    (void)state;
    struct sp_err err;
    sp_err_clear(&err);
    assert_int_equal(svcdef_check_graph(NULL, 0, &err), 0);
    assert_int_equal(err.code, 0);

    struct svc_def *one[] = {def_needs("a", NULL)};
    assert_int_equal(svcdef_check_graph(one, 1, &err), 0);
    free_defs(one, 1);

    /* a diamond: top needs l and r, both need base */
    struct svc_def *d[] = {def_needs("top", "l", "r", NULL), def_needs("l", "base", NULL),
                           def_needs("r", "base", NULL), def_needs("base", NULL)};
    assert_int_equal(svcdef_check_graph(d, 4, &err), 0);
    assert_int_equal(err.code, 0);
    free_defs(d, 4);

    /* a long chain, in reverse order */
    struct svc_def *c[SVC_MAX_SERVICES];
    char name[16], need[16];
    for (int i = 0; i < SVC_MAX_SERVICES; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        snprintf(need, sizeof(need), "s%d", i + 1);
        c[SVC_MAX_SERVICES - 1 - i] =
            i + 1 < SVC_MAX_SERVICES ? def_needs(name, need, NULL) : def_needs(name, NULL);
    }
    assert_int_equal(svcdef_check_graph(c, SVC_MAX_SERVICES, &err), 0);
    assert_int_equal(svcdef_check_graph(c, SVC_MAX_SERVICES + 0, NULL), 0);
    free_defs(c, SVC_MAX_SERVICES);
}

static void test_graph_self_and_missing(void **state)
{
    (void)state;
    struct sp_err err;

    struct svc_def *s[] = {def_needs("api", NULL), def_needs("db", "api", "db", NULL)};
    assert_int_equal(svcdef_check_graph(s, 2, &err), -EINVAL);
    assert_string_equal(err.msg, "service db cannot depend on itself");
    free_defs(s, 2);

    struct svc_def *m[] = {def_needs("db", NULL), def_needs("web", "db", "api", NULL)};
    assert_int_equal(svcdef_check_graph(m, 2, &err), -EINVAL);
    assert_string_equal(err.msg, "service web needs api, which is not defined");
    free_defs(m, 2);
}

static void test_graph_cycles(void **state)
{
    (void)state;
    struct sp_err err;

    struct svc_def *c3[] = {def_needs("a", "b", NULL), def_needs("b", "c", NULL),
                            def_needs("c", "a", NULL)};
    assert_int_equal(svcdef_check_graph(c3, 3, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    assert_string_equal(err.msg, "dependency cycle: a -> b -> c -> a");
    free_defs(c3, 3);

    /* the cycle is named without the path that led to it */
    struct svc_def *t[] = {def_needs("x", "a", NULL), def_needs("ok", NULL),
                           def_needs("a", "ok", "b", NULL), def_needs("b", "c", NULL),
                           def_needs("c", "ok", "a", NULL)};
    assert_int_equal(svcdef_check_graph(t, 5, &err), -EINVAL);
    assert_string_equal(err.msg, "dependency cycle: a -> b -> c -> a");
    free_defs(t, 5);

    struct svc_def *c2[] = {def_needs("web", "db", NULL), def_needs("db", "web", NULL)};
    assert_int_equal(svcdef_check_graph(c2, 2, &err), -EINVAL);
    assert_string_equal(err.msg, "dependency cycle: web -> db -> web");
    free_defs(c2, 2);

    /* a cycle reached only after a finished (black) branch */
    struct svc_def *c4[] = {def_needs("a", "b", "c", NULL), def_needs("b", NULL),
                            def_needs("c", "d", NULL), def_needs("d", "c", NULL)};
    assert_int_equal(svcdef_check_graph(c4, 4, &err), -EINVAL);
    assert_string_equal(err.msg, "dependency cycle: c -> d -> c");
    free_defs(c4, 4);
}

static void test_graph_duplicates_and_limit(void **state)
{
    (void)state;
    struct sp_err err;

    struct svc_def *d[] = {def_needs("x", NULL), def_needs("y", NULL), def_needs("x", NULL)};
    assert_int_equal(svcdef_check_graph(d, 3, &err), -EINVAL);
    assert_string_equal(err.msg, "duplicate service name \"x\"");
    free_defs(d, 3);

    struct svc_def *one = def_needs("a", NULL);
    struct svc_def *many[SVC_MAX_SERVICES + 1];
    for (size_t i = 0; i < SP_ARRAY_LEN(many); i++)
        many[i] = one;
    assert_int_equal(svcdef_check_graph(many, SP_ARRAY_LEN(many), &err), -EINVAL);
    assert_contains(err.msg, "at most 256");
    svcdef_free(one);
}

/* ---- the components directory ---- */

static char g_dir[64];

static int unlink_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int dir_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/sprite-env-test-svcdef-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int dir_teardown(void **state)
{
    (void)state;
    return nftw(g_dir, unlink_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *at(const char *rel)
{
    static char bufs[4][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", g_dir, rel);
    return b;
}

static void mkdir_at(const char *rel)
{
    if (mkdir(at(rel), 0755) < 0) fail_msg("mkdir %s: %s", rel, strerror(errno));
}

static void write_at(const char *rel, const char *text, mode_t mode)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) fail_msg("create %s: %s", rel, strerror(errno));
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    assert_int_equal(chmod(at(rel), mode), 0);
}

/* svcdef_load_dir on g_dir, expecting a failure whose message holds want (and names the service
 * when svc is not NULL). */
static void load_bad(int code, const char *svc, const char *want)
{
    struct svc_def **defs = (struct svc_def **)1;
    size_t n = 99;
    struct sp_err err;
    sp_err_clear(&err);
    int r = svcdef_load_dir(g_dir, &defs, &n, &err);
    if (r == 0) {
        free_defs(defs, n);
        free(defs);
        fail_msg("loaded, want an error holding \"%s\"", want);
    }
    if (r != code) fail_msg("returned %d, want %d (%s)", r, code, err.msg);
    assert_int_equal(err.code, code);
    assert_null(defs);
    assert_int_equal(n, 0);
    assert_contains(err.msg, want);
    if (svc) {
        char prefix[80];
        snprintf(prefix, sizeof(prefix), "service %s: ", svc);
        assert_contains(err.msg, prefix);
    }
}

static void test_load_dir(void **state)
{
    (void)state;
    /* db: start and ready files, service.json with the rest */
    mkdir_at("db");
    write_at("db/start", "#!/bin/sh\nexec sleep 1000\n", 0755);
    write_at("db/ready", "#!/bin/sh\nexit 0\n", 0700);
    write_at("db/service.json",
             "{\"restart\": \"always\", \"ready\": {\"interval\": \"50ms\"}, \"env\": [\"A=1\"]}",
             0644);
    /* web: service.json only */
    mkdir_at("web");
    write_at("web/service.json",
             "{\"name\": \"web\", \"cmd\": [\"/bin/web\", \"-p\", \"80\"], \"needs\": [\"db\"], "
             "\"ready\": {\"http\": \"http://127.0.0.1/\"}}",
             0644);
    /* api: start only, executable by others only */
    mkdir_at("api");
    write_at("api/start", "#!/bin/sh\n", 0701);
    /* skipped: dotfiles (even a bad one), plain files, a symlink to a file */
    mkdir_at(".hidden");
    mkdir_at(".git");
    write_at(".hidden/start", "x", 0644);
    write_at("README", "not a service", 0644);
    write_at("bad name.txt", "a file: skipped though its name is no service name", 0644);
    assert_int_equal(symlink(at("README"), at("link")), 0);

    struct svc_def **defs = NULL;
    size_t n = 0;
    struct sp_err err;
    int r = svcdef_load_dir(g_dir, &defs, &n, &err);
    if (r != 0) fail_msg("load_dir: %d %s", r, err.msg);
    assert_int_equal(n, 3);
    assert_string_equal(defs[0]->name, "api");
    assert_string_equal(defs[1]->name, "db");
    assert_string_equal(defs[2]->name, "web");
    for (size_t i = 0; i < n; i++)
        assert_int_equal(defs[i]->origin, SVC_ORIGIN_DIR);

    check_strv(defs[0]->argv, at("api/start"), NULL);
    assert_int_equal(defs[0]->ready.kind, SVC_READY_NONE);

    check_strv(defs[1]->argv, at("db/start"), NULL);
    assert_int_equal(defs[1]->ready.kind, SVC_READY_COMMAND);
    check_strv(defs[1]->ready.command, at("db/ready"), NULL);
    assert_int_equal(defs[1]->ready.interval_ms, 50);
    assert_int_equal(defs[1]->ready.timeout_ms, SVC_DEFAULT_READY_TIMEOUT_MS);
    assert_int_equal(defs[1]->restart, SVC_RESTART_ALWAYS);
    check_strv(defs[1]->env, "A=1", NULL);

    check_strv(defs[2]->argv, "/bin/web", "-p", "80", NULL);
    check_strv(defs[2]->needs, "db", NULL);
    assert_int_equal(defs[2]->ready.kind, SVC_READY_HTTP);

    assert_int_equal(svcdef_check_graph(defs, n, &err), 0);
    /* what a loaded definition writes back parses again (as the API would persist it) */
    for (size_t i = 0; i < n; i++) {
        json_t *j = svcdef_to_json(defs[i]);
        struct svc_def *back = NULL;
        assert_int_equal(svcdef_from_json(defs[i]->name, SVC_ORIGIN_DIR, j, &back, &err), 0);
        defs_equal(defs[i], back);
        svcdef_free(back);
        json_decref(j);
    }
    free_defs(defs, n);
    free(defs);
}

static void test_load_dir_empty_relative_and_missing(void **state)
{
    (void)state;
    struct svc_def **defs = NULL;
    size_t n = 7;
    struct sp_err err;

    assert_int_equal(svcdef_load_dir(g_dir, &defs, &n, &err), 0);
    assert_int_equal(n, 0);
    free(defs);

    /* a relative directory gives absolute paths */
    mkdir_at("svc");
    write_at("svc/start", "", 0755);
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir("/tmp"), 0);
    char with_slash[128];
    snprintf(with_slash, sizeof(with_slash), "%s/", g_dir + strlen("/tmp/"));
    int r = svcdef_load_dir(with_slash, &defs, &n, &err);
    assert_int_equal(chdir(cwd), 0);
    if (r != 0) fail_msg("%s", err.msg);
    assert_int_equal(n, 1);
    check_strv(defs[0]->argv, at("svc/start"), NULL);
    free_defs(defs, n);
    free(defs);

    char missing[128];
    snprintf(missing, sizeof(missing), "%s/nope", g_dir);
    defs = (struct svc_def **)1;
    assert_int_equal(svcdef_load_dir(missing, &defs, &n, &err), -ENOENT);
    assert_null(defs);
    assert_int_equal(n, 0);
    assert_int_equal(err.code, -ENOENT);
    assert_contains(err.msg, missing);

    /* a file is not a directory */
    assert_int_equal(svcdef_load_dir("/etc/hostname", &defs, &n, &err) < 0, 1);
    assert_null(defs);
}

static void test_load_dir_no_start(void **state)
{
    (void)state;
    mkdir_at("db");
    load_bad(-EINVAL, "db", "has no executable start, and no service.json \"cmd\"");
    write_at("db/service.json", "{\"restart\": \"always\"}", 0644);
    load_bad(-EINVAL, "db", "has no executable start");
}

static void test_load_dir_not_executable(void **state)
{
    (void)state;
    mkdir_at("db");
    write_at("db/start", "#!/bin/sh\n", 0644);
    load_bad(-EINVAL, "db", "db/start is not executable");
    assert_int_equal(chmod(at("db/start"), 0755), 0);
    write_at("db/ready", "#!/bin/sh\n", 0600);
    load_bad(-EINVAL, "db", "db/ready is not executable");
    assert_int_equal(unlink(at("db/ready")), 0);
    mkdir_at("db/ready");
    load_bad(-EINVAL, "db", "db/ready is not a regular file");
}

static void test_load_dir_conflicts(void **state)
{
    (void)state;
    mkdir_at("db");
    write_at("db/start", "#!/bin/sh\n", 0755);
    write_at("db/service.json", "{\"cmd\": \"/bin/db\"}", 0644);
    load_bad(-EINVAL, "db", "\"cmd\" is given, but");
    write_at("db/service.json", "{\"start_command\": [\"/bin/db\"]}", 0644);
    load_bad(-EINVAL, "db", "\"start_command\" is given, but");
    write_at("db/service.json", "{\"args\": [\"-v\"]}", 0644);
    load_bad(-EINVAL, "db", "\"args\" is given, but");
    write_at("db/ready", "#!/bin/sh\n", 0755);
    write_at("db/service.json", "{\"ready_command\": [\"x\"]}", 0644);
    load_bad(-EINVAL, "db", "\"ready_command\" is given, but");
    write_at("db/service.json", "{\"ready\": {\"command\": [\"x\"]}}", 0644);
    load_bad(-EINVAL, "db", "\"ready.command\" is given, but");
    write_at("db/service.json", "{\"ready\": {\"tcp\": 80}}", 0644);
    load_bad(-EINVAL, "db", "\"ready\" gives a check, but");
}

static void test_load_dir_bad_json(void **state)
{
    (void)state;
    mkdir_at("db");
    write_at("db/start", "#!/bin/sh\n", 0755);
    write_at("db/service.json", "{\"restart\": ", 0644);
    load_bad(-EINVAL, "db", "service.json: line 1");
    write_at("db/service.json", "{\"restart\": \"no\", \"restart\": \"always\"}", 0644);
    load_bad(-EINVAL, "db", "service.json");
    write_at("db/service.json", "[]", 0644);
    load_bad(-EINVAL, "db", "must be a JSON object");
    write_at("db/service.json", "{\"name\": \"other\"}", 0644);
    load_bad(-EINVAL, "db", "does not match");
    write_at("db/service.json", "{\"restrat\": \"no\"}", 0644);
    load_bad(-EINVAL, "db", "unknown field \"restrat\"");

    /* larger than 64 KiB */
    size_t big = 64 * 1024 + 1;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, ' ', big);
    text[0] = '{';
    text[big - 1] = '}';
    text[big] = '\0';
    write_at("db/service.json", text, 0644);
    load_bad(-EFBIG, "db", "larger than 64 KiB");
    /* exactly 64 KiB is fine */
    text[big - 2] = '}';
    text[big - 1] = '\0';
    write_at("db/service.json", text, 0644);
    free(text);
    struct svc_def **defs = NULL;
    size_t n = 0;
    struct sp_err err;
    if (svcdef_load_dir(g_dir, &defs, &n, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(n, 1);
    free_defs(defs, n);
    free(defs);

    /* a FIFO in place of service.json does not block */
    assert_int_equal(unlink(at("db/service.json")), 0);
    assert_int_equal(mkfifo(at("db/service.json"), 0644), 0);
    load_bad(-EINVAL, "db", "service.json is not a regular file");
}

static void test_load_dir_bad_name(void **state)
{
    (void)state;
    mkdir_at("ok");
    write_at("ok/start", "", 0755);
    mkdir_at("bad name");
    write_at("bad name/start", "", 0755);
    load_bad(-EINVAL, NULL, "\"bad name\" is not a valid service name");
    assert_int_equal(unlink(at("bad name/start")), 0);
    assert_int_equal(rmdir(at("bad name")), 0);
    mkdir_at("-dash");
    load_bad(-EINVAL, NULL, "\"-dash\" is not a valid service name");
}

static void test_load_dir_errors_free_everything(void **state)
{
    (void)state;
    /* a, b load, c fails: what was loaded is freed (ASan checks) */
    mkdir_at("a");
    write_at("a/start", "", 0755);
    mkdir_at("b");
    write_at("b/start", "", 0755);
    write_at("b/service.json", "{\"env\": {\"K\": \"V\"}, \"needs\": [\"a\"]}", 0644);
    mkdir_at("c");
    write_at("c/start", "", 0755);
    write_at("c/service.json", "{\"stop_signal\": \"NOPE\"}", 0644);
    load_bad(-EINVAL, "c", "stop_signal: \"NOPE\" is not a signal");
}

static void test_load_dir_too_many(void **state)
{
    (void)state;
    char name[32];
    for (int i = 0; i <= SVC_MAX_SERVICES; i++) {
        snprintf(name, sizeof(name), "s%03d", i);
        mkdir_at(name);
    }
    load_bad(-EINVAL, NULL, "more than 256 services");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_ok),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_name_argument_and_field),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_cmd_forms),
        cmocka_unit_test(test_cmd_errors),
        cmocka_unit_test(test_needs),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_dir_user),
        cmocka_unit_test(test_ready_command),
        cmocka_unit_test(test_ready_tcp),
        cmocka_unit_test(test_ready_http),
        cmocka_unit_test(test_ready_notify),
        cmocka_unit_test(test_ready_interval_timeout),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_duration_ms),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_to_json_shape),
        cmocka_unit_test(test_graph_empty_and_ok),
        cmocka_unit_test(test_graph_self_and_missing),
        cmocka_unit_test(test_graph_cycles),
        cmocka_unit_test(test_graph_duplicates_and_limit),
        cmocka_unit_test_setup_teardown(test_load_dir, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_dir_empty_relative_and_missing, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_dir_no_start, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_dir_not_executable, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_dir_conflicts, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_dir_bad_json, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_dir_bad_name, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_dir_errors_free_everything, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_dir_too_many, dir_setup, dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
