/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/sandbox/sbspec.c: the normalised object with its defaults, every error rule
 * with the field its message names, path cleaning, the limits on both sides of each bound, NUL
 * bytes in strings and keys, JSON null as absent, and that the request is never modified.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../src/base/compiler.h"
#include "../../src/sandbox/sbspec.h"

/* The normalised form of {"rootfs": "/r"}. */
#define DEFAULTS                                                                                   \
    "{\"name\": null, \"rootfs\": \"/r\", \"image\": null, \"mounts\": [], \"env\": {},"           \
    " \"user\": \"root\", \"workdir\": \"/\", \"hostname\": null, \"network\": \"none\","          \
    " \"resources\": {\"memory_mb\": null, \"cpus\": null, \"pids\": null}, \"ttl_sec\": 0,"       \
    " \"on_ttl\": \"pause\", \"labels\": {}}"

static json_t *load_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j) fail_msg("bad test JSON %s: %s", text, jerr.text);
    return j;
}

static char *dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s) fail_msg("json_dumps failed");
    return s;
}

/* Fails the test, showing both, when got and want differ. */
static void expect_equal(const char *what, json_t *got, json_t *want)
{
    if (json_equal(got, want)) return;
    char *g = dump(got), *w = dump(want);
    fail_msg("%s:\n got  %s\n want %s", what, g, w);
}

/* Fails the test when req no longer dumps as before (a dump, not json_deep_copy, which drops
 * keys holding NUL bytes). */
static void expect_unchanged(const char *what, json_t *req, const char *before)
{
    char *now = dump(req);
    if (strcmp(now, before) != 0)
        fail_msg("%s: the request changed:\n before %s\n after  %s", what, before, now);
    free(now);
}

/* Parses req (borrowed), expects success, checks that req is unchanged; returns the result. */
static json_t *parse_ok_obj(const char *what, json_t *req)
{
    char *before = dump(req);
    json_t *out = NULL;
    struct sp_err err;
    sp_err_clear(&err);
    int r = sbspec_parse(req, &out, &err);
    if (r != 0) fail_msg("%s: got %d (%s), want success", what, r, err.msg);
    assert_non_null(out);
    if (err.code != 0) fail_msg("%s: err was set on success", what);
    expect_unchanged(what, req, before);
    free(before);
    return out;
}

/* parse_ok_obj, and releases req. */
static json_t *parse_ok_take(const char *what, json_t *req)
{
    json_t *out = parse_ok_obj(what, req);
    json_decref(req);
    return out;
}

/* Parses text, expects the whole normalised object to equal want_text. */
static void ok_all(const char *text, const char *want_text)
{
    json_t *req = load_json(text);
    json_t *want = load_json(want_text);
    json_t *out = parse_ok_obj(text, req);
    expect_equal(text, out, want);
    json_decref(out);
    json_decref(want);
    json_decref(req);
}

/* Parses text, expects out[key] to equal want_text. */
static void ok_field(const char *text, const char *key, const char *want_text)
{
    json_t *req = load_json(text);
    json_t *want = load_json(want_text);
    json_t *out = parse_ok_obj(text, req);
    json_t *got = json_object_get(out, key);
    if (!got) fail_msg("%s: no \"%s\" in the result", text, key);
    expect_equal(text, got, want);
    json_decref(out);
    json_decref(want);
    json_decref(req);
}

/* Parses req (stolen), expects -EINVAL with a message holding needle, *out untouched and req
 * unchanged. */
static void bad_obj(const char *what, json_t *req, const char *needle)
{
    char *before = req ? dump(req) : NULL;
    json_t *sentinel = json_string("untouched");
    json_t *out = sentinel;
    struct sp_err err;
    sp_err_clear(&err);
    int r = sbspec_parse(req, &out, &err);
    if (r != -EINVAL) {
        if (r == 0 && out != sentinel) json_decref(out);
        fail_msg("%s: got %d, want -EINVAL", what, r);
    }
    if (out != sentinel) fail_msg("%s: *out was set on failure", what);
    if (err.code != -EINVAL) fail_msg("%s: err.code %d", what, err.code);
    if (!strstr(err.msg, needle))
        fail_msg("%s: message \"%s\" does not contain \"%s\"", what, err.msg, needle);
    if (req) expect_unchanged(what, req, before);
    free(before);
    json_decref(sentinel);
    json_decref(req);
}

static void bad(const char *text, const char *needle)
{
    bad_obj(text, load_json(text), needle);
}

/* {"rootfs": "/r"} plus key: v (stolen). */
static json_t *with(const char *key, json_t *v)
{
    json_t *req = load_json("{\"rootfs\": \"/r\"}");
    assert_non_null(v);
    assert_int_equal(json_object_set_new(req, key, v), 0);
    return req;
}

/* A string of n copies of c after prefix. */
static char *repeat(const char *prefix, char c, size_t n)
{
    size_t p = strlen(prefix);
    char *s = malloc(p + n + 1);
    assert_non_null(s);
    memcpy(s, prefix, p);
    memset(s + p, c, n);
    s[p + n] = '\0';
    return s;
}

/* An object with n keys "K0".."K<n-1>" (prefix given), every value "v". */
static json_t *object_of(const char *prefix, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof(k), "%s%zu", prefix, i);
        assert_int_equal(json_object_set_new(o, k, json_string("v")), 0);
    }
    return o;
}

/* {"rootfs": "/r", "mounts": [{"type": "volume", "source": "data", "target": "/m", <extra>}]} */
#define MOUNT(extra)                                                                               \
    "{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"data\","               \
    " \"target\": \"/m\"" extra "}]}"

/* A mount whose idmap is [{"from": F, "to": T, "range": R}]. */
#define IDMAP(f, t, r) MOUNT(", \"idmap\": [{\"from\": " f ", \"to\": " t ", \"range\": " r "}]")

/* ---- names ---- */

static void test_name_ok(void **state)
{
    (void)state;
    static const char *const good[] = {"a", "Z", "0", "box1", "a.b", "a_b", "a-b", "9-._x", "A..-"};
    static const char *const badn[] = {"", "-a", ".a", "_a", "a/b", "a b", "a:b", "é", "a\n"};
    for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
        if (!sbspec_name_ok(good[i])) fail_msg("\"%s\" refused", good[i]);
        if (!sbspec_volume_name_ok(good[i])) fail_msg("volume \"%s\" refused", good[i]);
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(badn); i++) {
        if (sbspec_name_ok(badn[i])) fail_msg("\"%s\" accepted", badn[i]);
        if (sbspec_volume_name_ok(badn[i])) fail_msg("volume \"%s\" accepted", badn[i]);
    }
    assert_false(sbspec_name_ok(NULL));
    assert_false(sbspec_volume_name_ok(NULL));

    char *n64 = repeat("a", 'b', 63), *n65 = repeat("a", 'b', 64);
    assert_true(sbspec_name_ok(n64));
    assert_true(sbspec_volume_name_ok(n64));
    assert_false(sbspec_name_ok(n65));
    assert_false(sbspec_volume_name_ok(n65));

    char buf[128], want[80];
    snprintf(buf, sizeof(buf), "{\"rootfs\": \"/r\", \"name\": \"%s\"}", n64);
    snprintf(want, sizeof(want), "\"%s\"", n64);
    ok_field(buf, "name", want);
    snprintf(buf, sizeof(buf), "{\"rootfs\": \"/r\", \"name\": \"%s\"}", n65);
    bad(buf, "name: \"abbb");
    free(n64);
    free(n65);

    ok_field("{\"rootfs\": \"/r\", \"name\": \"box1\"}", "name", "\"box1\"");
    bad("{\"rootfs\": \"/r\", \"name\": \"-x\"}", "name: \"-x\" is not a valid sandbox name");
    bad("{\"rootfs\": \"/r\", \"name\": \"\"}", "name: \"\" is not a valid sandbox name");
    bad("{\"rootfs\": \"/r\", \"name\": 5}", "name: expected a string, got a number");
}

/* ---- the normalised object ---- */

static void test_defaults(void **state)
{
    (void)state;
    ok_all("{\"rootfs\": \"/r\"}", DEFAULTS);
    ok_all("{\"image\": \"/i.tar\"}",
           "{\"name\": null, \"rootfs\": null, \"image\": \"/i.tar\", \"mounts\": [], \"env\": {},"
           " \"user\": \"root\", \"workdir\": \"/\", \"hostname\": null, \"network\": \"none\","
           " \"resources\": {\"memory_mb\": null, \"cpus\": null, \"pids\": null},"
           " \"ttl_sec\": 0, \"on_ttl\": \"pause\", \"labels\": {}}");
}

/* The doc's example (with rootfs only) comes out with every field as given. */
static void test_full(void **state)
{
    (void)state;
    ok_all("{\"name\": \"box1\", \"rootfs\": \"/srv/rootfs/busybox\","
           " \"mounts\": ["
           "  {\"type\": \"volume\", \"source\": \"data\", \"target\": \"/data\","
           "   \"subpath\": \"app\", \"readonly\": false},"
           "  {\"type\": \"bind\", \"source\": \"/etc/motd\", \"target\": \"/etc/motd\","
           "   \"filetype\": \"file\", \"readonly\": true,"
           "   \"idmap\": [{\"from\": 0, \"to\": 100000, \"range\": 65536}]}],"
           " \"env\": {\"K\": \"V\"}, \"user\": \"root\", \"workdir\": \"/\","
           " \"hostname\": \"box1\", \"network\": \"none\","
           " \"resources\": {\"memory_mb\": 256, \"cpus\": 1.5, \"pids\": 512},"
           " \"ttl_sec\": 600, \"on_ttl\": \"destroy\", \"labels\": {\"team\": \"a\"}}",
           "{\"name\": \"box1\", \"rootfs\": \"/srv/rootfs/busybox\", \"image\": null,"
           " \"mounts\": ["
           "  {\"type\": \"volume\", \"source\": \"data\", \"target\": \"/data\","
           "   \"subpath\": \"app\", \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []},"
           "  {\"type\": \"bind\", \"source\": \"/etc/motd\", \"target\": \"/etc/motd\","
           "   \"subpath\": null, \"readonly\": true, \"filetype\": \"file\","
           "   \"idmap\": [{\"from\": 0, \"to\": 100000, \"range\": 65536}]}],"
           " \"env\": {\"K\": \"V\"}, \"user\": \"root\", \"workdir\": \"/\","
           " \"hostname\": \"box1\", \"network\": \"none\","
           " \"resources\": {\"memory_mb\": 256, \"cpus\": 1.5, \"pids\": 512},"
           " \"ttl_sec\": 600, \"on_ttl\": \"destroy\", \"labels\": {\"team\": \"a\"}}");
    ok_field("{\"rootfs\": \"/r\", \"network\": \"host\"}", "network", "\"host\"");
    ok_field("{\"rootfs\": \"/r\", \"on_ttl\": \"pause\"}", "on_ttl", "\"pause\"");
    ok_field("{\"rootfs\": \"/r\", \"user\": \"1000\"}", "user", "\"1000\"");
    ok_field("{\"rootfs\": \"/r\", \"user\": \"1000:1000\"}", "user", "\"1000:1000\"");
    ok_field(MOUNT(", \"filetype\": \"directory\""), "mounts",
             "[{\"type\": \"volume\", \"source\": \"data\", \"target\": \"/m\", \"subpath\": null,"
             " \"readonly\": false, \"filetype\": \"directory\", \"idmap\": []}]");
    ok_field(MOUNT(", \"filetype\": \"infer\""), "mounts",
             "[{\"type\": \"volume\", \"source\": \"data\", \"target\": \"/m\", \"subpath\": null,"
             " \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []}]");
}

static void test_null_as_absent(void **state)
{
    (void)state;
    ok_all("{\"rootfs\": \"/r\", \"image\": null, \"name\": null, \"mounts\": null,"
           " \"env\": null, \"user\": null, \"workdir\": null, \"hostname\": null,"
           " \"network\": null, \"resources\": null, \"ttl_sec\": null, \"on_ttl\": null,"
           " \"labels\": null}",
           DEFAULTS);
    ok_field("{\"rootfs\": \"/r\", \"resources\": {\"memory_mb\": null, \"cpus\": null,"
             " \"pids\": null}}",
             "resources", "{\"memory_mb\": null, \"cpus\": null, \"pids\": null}");
    ok_field(MOUNT(", \"subpath\": null, \"readonly\": null, \"filetype\": null, \"idmap\": null"),
             "mounts",
             "[{\"type\": \"volume\", \"source\": \"data\", \"target\": \"/m\", \"subpath\": null,"
             " \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []}]");
    /* a null rootfs is an absent one */
    ok_field("{\"rootfs\": null, \"image\": \"/i\"}", "image", "\"/i\"");
    bad("{\"rootfs\": null, \"image\": null}", "exactly one of rootfs and image is required");
    /* a required mount field given as null is missing */
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": null,"
        " \"target\": \"/m\"}]}",
        "mounts[0].source: is required");
    bad(IDMAP("0", "null", "1"), "mounts[0].idmap[0].to: is required");
}

/* ---- paths ---- */

static void test_path_cleaning(void **state)
{
    (void)state;
    ok_field("{\"rootfs\": \"/a//b/./c/\"}", "rootfs", "\"/a/b/c\"");
    ok_field("{\"rootfs\": \"/\"}", "rootfs", "\"/\"");
    ok_field("{\"rootfs\": \"///././/\"}", "rootfs", "\"/\"");
    ok_field("{\"rootfs\": \"/.a/..b/...\"}", "rootfs", "\"/.a/..b/...\"");
    ok_field("{\"image\": \"//srv//img.tar\"}", "image", "\"/srv/img.tar\"");
    ok_field("{\"rootfs\": \"/r\", \"workdir\": \"/a//b/./c/\"}", "workdir", "\"/a/b/c\"");
    /* workdir keeps "..": it is resolved inside the sandbox */
    ok_field("{\"rootfs\": \"/r\", \"workdir\": \"/a/../b/\"}", "workdir", "\"/a/../b\"");
    ok_field(
        "{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"bind\", \"source\": \"/h//x/./\","
        " \"target\": \"//t/./u/\", \"subpath\": \"./p//q/.\"}]}",
        "mounts",
        "[{\"type\": \"bind\", \"source\": \"/h/x\", \"target\": \"/t/u\", \"subpath\": \"p/q\","
        " \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []}]");
    /* a bind mount of the host's root is fine; only the target may not be / */
    ok_field("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"bind\", \"source\": \"//\","
             " \"target\": \"/host\"}]}",
             "mounts",
             "[{\"type\": \"bind\", \"source\": \"/\", \"target\": \"/host\", \"subpath\": null,"
             " \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []}]");
    /* near /.sprite but not in it */
    ok_field(MOUNT("") /* target /m */, "mounts",
             "[{\"type\": \"volume\", \"source\": \"data\", \"target\": \"/m\", \"subpath\": null,"
             " \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []}]");
    ok_field(
        "{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"/.spritex\"}, {\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"/a/.sprite\"}, {\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"/.SPRITE\"}]}",
        "mounts",
        "[{\"type\": \"volume\", \"source\": \"d\", \"target\": \"/.spritex\", \"subpath\": null,"
        " \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []},"
        " {\"type\": \"volume\", \"source\": \"d\", \"target\": \"/a/.sprite\","
        " \"subpath\": null, \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []},"
        " {\"type\": \"volume\", \"source\": \"d\", \"target\": \"/.SPRITE\", \"subpath\": null,"
        " \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []}]");
}

static void test_path_errors(void **state)
{
    (void)state;
    bad("{\"rootfs\": \"r\"}", "rootfs: must be an absolute path");
    bad("{\"rootfs\": \"\"}", "rootfs: must be an absolute path");
    bad("{\"rootfs\": \"./r\"}", "rootfs: must be an absolute path");
    bad("{\"rootfs\": \"/a/../b\"}", "rootfs: must not contain ..");
    bad("{\"rootfs\": \"/..\"}", "rootfs: must not contain ..");
    bad("{\"rootfs\": \"/a/..\"}", "rootfs: must not contain ..");
    bad("{\"rootfs\": 1}", "rootfs: expected a string, got a number");
    bad("{\"image\": \"i.tar\"}", "image: must be an absolute path");
    bad("{\"image\": \"/x/../i.tar\"}", "image: must not contain ..");
    bad("{\"image\": []}", "image: expected a string, got an array");
    bad("{\"rootfs\": \"/r\", \"workdir\": \"w\"}", "workdir: must be an absolute path");
    bad("{\"rootfs\": \"/r\", \"workdir\": \"\"}", "workdir: must be an absolute path");
    bad("{\"rootfs\": \"/r\", \"workdir\": true}", "workdir: expected a string, got a boolean");

    /* bind sources */
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"bind\", \"source\": \"h\","
        " \"target\": \"/t\"}]}",
        "mounts[0].source: must be an absolute path");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"bind\", \"source\": \"/h/../etc\","
        " \"target\": \"/t\"}]}",
        "mounts[0].source: must not contain ..");

    /* targets */
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"/a\"}, {\"type\": \"volume\", \"source\": \"d\", \"target\": \"data\"}]}",
        "mounts[1].target: must be an absolute path");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"/a/../b\"}]}",
        "mounts[0].target: must not contain ..");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"/\"}]}",
        "mounts[0].target: must not be /");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"//./\"}]}",
        "mounts[0].target: must not be /");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"/.sprite\"}]}",
        "mounts[0].target: must not be /.sprite or under it");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"//.sprite/\"}]}",
        "mounts[0].target: must not be /.sprite or under it");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"d\","
        " \"target\": \"/./.sprite/sock\"}]}",
        "mounts[0].target: must not be /.sprite or under it");

    /* subpaths */
    bad(MOUNT(", \"subpath\": \"/app\""), "mounts[0].subpath: must be a relative path");
    bad(MOUNT(", \"subpath\": \"a/../b\""), "mounts[0].subpath: must not contain ..");
    bad(MOUNT(", \"subpath\": \"..\""), "mounts[0].subpath: must not contain ..");
    bad(MOUNT(", \"subpath\": \".\""), "mounts[0].subpath: must not be empty");
    bad(MOUNT(", \"subpath\": \"./\""), "mounts[0].subpath: must not be empty");
    bad(MOUNT(", \"subpath\": \"\""), "mounts[0].subpath: must not be empty");
    bad(MOUNT(", \"subpath\": 3"), "mounts[0].subpath: expected a string, got a number");

    /* length: 4095 bytes as given are fine, 4096 are not */
    char *p = repeat("/", 'a', SBSPEC_MAX_PATH - 1);
    json_t *out = parse_ok_take("4095-byte rootfs", with("rootfs", json_string(p)));
    assert_string_equal(json_string_value(json_object_get(out, "rootfs")), p);
    json_decref(out);
    free(p);
    p = repeat("/", 'a', SBSPEC_MAX_PATH);
    bad_obj("4096-byte rootfs", with("rootfs", json_string(p)), "rootfs: longer than 4095 bytes");
    free(p);
}

/* ---- top level ---- */

static void test_top_errors(void **state)
{
    (void)state;
    bad_obj("NULL", NULL, "the request must be a JSON object");
    bad("[]", "the request must be a JSON object, got an array");
    bad("\"x\"", "the request must be a JSON object, got a string");
    bad("{\"rootfs\": \"/r\", \"foo\": 1}", "unknown field \"foo\"");
    bad("{\"rootfs\": \"/r\", \"Name\": \"x\"}", "unknown field \"Name\"");
    bad("{}", "exactly one of rootfs and image is required");
    bad("{\"rootfs\": \"/r\", \"image\": \"/i\"}", "exactly one of rootfs and image is required");
    bad("{\"rootfs\": \"/r\", \"network\": \"bridge\"}",
        "network: expected \"none\" or \"host\", got \"bridge\"");
    bad("{\"rootfs\": \"/r\", \"network\": 1}", "network: expected a string, got a number");
    bad("{\"rootfs\": \"/r\", \"on_ttl\": \"kill\"}",
        "on_ttl: expected \"pause\" or \"destroy\", got \"kill\"");
}

static void test_user_hostname(void **state)
{
    (void)state;
    bad("{\"rootfs\": \"/r\", \"user\": \"\"}", "user: must not be empty");
    bad("{\"rootfs\": \"/r\", \"user\": \"a/b\"}", "user: must not contain '/'");
    bad("{\"rootfs\": \"/r\", \"user\": 0}", "user: expected a string, got a number");
    char *u = repeat("", 'u', SBSPEC_MAX_USER);
    json_t *out = parse_ok_take("255-byte user", with("user", json_string(u)));
    assert_string_equal(json_string_value(json_object_get(out, "user")), u);
    json_decref(out);
    free(u);
    u = repeat("", 'u', SBSPEC_MAX_USER + 1);
    bad_obj("256-byte user", with("user", json_string(u)), "user: longer than 255 bytes");
    free(u);

    ok_field("{\"rootfs\": \"/r\", \"hostname\": \"a-1.B\"}", "hostname", "\"a-1.B\"");
    ok_field("{\"rootfs\": \"/r\", \"hostname\": \"0\"}", "hostname", "\"0\"");
    bad("{\"rootfs\": \"/r\", \"hostname\": \"-a\"}", "hostname: \"-a\" is not a valid hostname");
    bad("{\"rootfs\": \"/r\", \"hostname\": \".a\"}", "hostname: \".a\" is not a valid hostname");
    bad("{\"rootfs\": \"/r\", \"hostname\": \"a_b\"}", "hostname: \"a_b\" is not a valid hostname");
    bad("{\"rootfs\": \"/r\", \"hostname\": \"a b\"}", "hostname: \"a b\" is not a valid hostname");
    bad("{\"rootfs\": \"/r\", \"hostname\": \"\"}", "hostname: \"\" is not a valid hostname");
    bad("{\"rootfs\": \"/r\", \"hostname\": 1}", "hostname: expected a string, got a number");
    char *h = repeat("", 'h', SBSPEC_MAX_HOSTNAME);
    out = parse_ok_take("64-byte hostname", with("hostname", json_string(h)));
    assert_string_equal(json_string_value(json_object_get(out, "hostname")), h);
    json_decref(out);
    free(h);
    h = repeat("", 'h', SBSPEC_MAX_HOSTNAME + 1);
    bad_obj("65-byte hostname", with("hostname", json_string(h)), "is not a valid hostname");
    free(h);
}

/* ---- mounts ---- */

static void test_mount_errors(void **state)
{
    (void)state;
    bad("{\"rootfs\": \"/r\", \"mounts\": {}}", "mounts: expected an array, got an object");
    bad("{\"rootfs\": \"/r\", \"mounts\": [\"/a:/b\"]}",
        "mounts[0]: expected an object, got a string");
    bad(MOUNT(", \"options\": []"), "mounts[0]: unknown field \"options\"");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"source\": \"d\", \"target\": \"/t\"}]}",
        "mounts[0].type: is required");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"tmpfs\", \"source\": \"d\","
        " \"target\": \"/t\"}]}",
        "mounts[0].type: expected \"volume\" or \"bind\", got \"tmpfs\"");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"target\": \"/t\"}]}",
        "mounts[0].source: is required");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"d\"}]}",
        "mounts[0].target: is required");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"a/b\","
        " \"target\": \"/t\"}]}",
        "mounts[0].source: \"a/b\" is not a valid volume name");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": \"/data\","
        " \"target\": \"/t\"}]}",
        "mounts[0].source: \"/data\" is not a valid volume name");
    bad("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"volume\", \"source\": 1,"
        " \"target\": \"/t\"}]}",
        "mounts[0].source: expected a string, got a number");
    bad(MOUNT(", \"readonly\": \"yes\""), "mounts[0].readonly: expected a boolean, got a string");
    bad(MOUNT(", \"readonly\": 1"), "mounts[0].readonly: expected a boolean, got a number");
    bad(MOUNT(", \"filetype\": \"dir\""),
        "mounts[0].filetype: expected \"file\", \"directory\" or \"infer\", got \"dir\"");

    /* at most 64 mounts */
    json_t *mounts = json_array();
    for (size_t i = 0; i < SBSPEC_MAX_MOUNTS + 1; i++) {
        char t[32];
        snprintf(t, sizeof(t), "/m%zu", i);
        json_array_append_new(
            mounts, json_pack("{s:s, s:s, s:s}", "type", "volume", "source", "v", "target", t));
    }
    bad_obj("65 mounts", with("mounts", json_copy(mounts)), "mounts: 65 entries, at most 64");
    json_array_remove(mounts, SBSPEC_MAX_MOUNTS);
    json_t *out = parse_ok_take("64 mounts", with("mounts", mounts));
    assert_int_equal(json_array_size(json_object_get(out, "mounts")), SBSPEC_MAX_MOUNTS);
    json_decref(out);
}

static void test_duplicate_targets(void **state)
{
    (void)state;
    bad("{\"rootfs\": \"/r\", \"mounts\": ["
        " {\"type\": \"volume\", \"source\": \"a\", \"target\": \"/data\"},"
        " {\"type\": \"bind\", \"source\": \"/h\", \"target\": \"/data\"}]}",
        "mounts[1].target: \"/data\" is already the target of mounts[0]");
    /* the same after cleaning */
    bad("{\"rootfs\": \"/r\", \"mounts\": ["
        " {\"type\": \"volume\", \"source\": \"a\", \"target\": \"/x\"},"
        " {\"type\": \"volume\", \"source\": \"a\", \"target\": \"/data\"},"
        " {\"type\": \"volume\", \"source\": \"b\", \"target\": \"//data/./\"}]}",
        "mounts[2].target: \"/data\" is already the target of mounts[1]");
    /* nested targets are fine */
    ok_field("{\"rootfs\": \"/r\", \"mounts\": ["
             " {\"type\": \"volume\", \"source\": \"a\", \"target\": \"/data\"},"
             " {\"type\": \"volume\", \"source\": \"a\", \"target\": \"/data/sub\"}]}",
             "mounts",
             "[{\"type\": \"volume\", \"source\": \"a\", \"target\": \"/data\", \"subpath\": null,"
             " \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []},"
             " {\"type\": \"volume\", \"source\": \"a\", \"target\": \"/data/sub\","
             " \"subpath\": null, \"readonly\": false, \"filetype\": \"infer\", \"idmap\": []}]");
}

static void test_idmap(void **state)
{
    (void)state;
    /* the extremes that still fit */
    ok_field(IDMAP("4294967294", "0", "2"), "mounts",
             "[{\"type\": \"volume\", \"source\": \"data\", \"target\": \"/m\", \"subpath\": null,"
             " \"readonly\": false, \"filetype\": \"infer\","
             " \"idmap\": [{\"from\": 4294967294, \"to\": 0, \"range\": 2}]}]");
    ok_field(IDMAP("1", "1", "4294967295"), "mounts",
             "[{\"type\": \"volume\", \"source\": \"data\", \"target\": \"/m\", \"subpath\": null,"
             " \"readonly\": false, \"filetype\": \"infer\","
             " \"idmap\": [{\"from\": 1, \"to\": 1, \"range\": 4294967295}]}]");
    ok_field(IDMAP("0", "4294967294", "2"), "mounts",
             "[{\"type\": \"volume\", \"source\": \"data\", \"target\": \"/m\", \"subpath\": null,"
             " \"readonly\": false, \"filetype\": \"infer\","
             " \"idmap\": [{\"from\": 0, \"to\": 4294967294, \"range\": 2}]}]");

    bad(IDMAP("-1", "0", "1"), "mounts[0].idmap[0].from: must be an integer from 0 to 4294967294");
    bad(IDMAP("4294967295", "0", "1"),
        "mounts[0].idmap[0].from: must be an integer from 0 to 4294967294");
    bad(IDMAP("0", "-1", "1"), "mounts[0].idmap[0].to: must be an integer from 0 to 4294967294");
    bad(IDMAP("0", "4294967295", "1"),
        "mounts[0].idmap[0].to: must be an integer from 0 to 4294967294");
    bad(IDMAP("0", "0", "0"), "mounts[0].idmap[0].range: must be an integer from 1 to 4294967295");
    bad(IDMAP("0", "0", "4294967296"),
        "mounts[0].idmap[0].range: must be an integer from 1 to 4294967295");
    bad(IDMAP("0", "0", "9223372036854775807"),
        "mounts[0].idmap[0].range: must be an integer from 1 to 4294967295");
    bad(IDMAP("1.0", "0", "1"), "mounts[0].idmap[0].from: must be an integer from 0 to 4294967294");
    bad(IDMAP("\"0\"", "0", "1"), "mounts[0].idmap[0].from: must be an integer");
    bad(IDMAP("4294967294", "0", "3"),
        "mounts[0].idmap[0]: from + range must be at most 4294967296");
    bad(IDMAP("2", "0", "4294967295"),
        "mounts[0].idmap[0]: from + range must be at most 4294967296");
    bad(IDMAP("0", "4294967294", "3"), "mounts[0].idmap[0]: to + range must be at most 4294967296");
    bad(MOUNT(", \"idmap\": [{\"from\": 0, \"to\": 0}]"), "mounts[0].idmap[0].range: is required");
    bad(MOUNT(", \"idmap\": [{\"to\": 0, \"range\": 1}]"), "mounts[0].idmap[0].from: is required");
    bad(MOUNT(", \"idmap\": [{\"from\": 0, \"to\": 0, \"range\": 1, \"size\": 1}]"),
        "mounts[0].idmap[0]: unknown field \"size\"");
    bad(MOUNT(", \"idmap\": [{\"from\": 0, \"to\": 0, \"range\": 1}, 5]"),
        "mounts[0].idmap[1]: expected an object, got a number");
    bad(MOUNT(", \"idmap\": {}"), "mounts[0].idmap: expected an array, got an object");

    /* at most 8 entries */
    json_t *req = load_json(MOUNT(""));
    json_t *m = json_array_get(json_object_get(req, "mounts"), 0);
    json_t *idmap = json_array();
    for (int i = 0; i < SBSPEC_MAX_IDMAP; i++)
        json_array_append_new(
            idmap, json_pack("{s:i, s:i, s:i}", "from", i * 10, "to", i * 10, "range", 10));
    json_object_set_new(m, "idmap", idmap);
    json_t *out = parse_ok_obj("8 idmap entries", req);
    json_t *got = json_object_get(json_array_get(json_object_get(out, "mounts"), 0), "idmap");
    expect_equal("8 idmap entries", got, idmap);
    json_decref(out);
    json_array_append_new(idmap, json_pack("{s:i, s:i, s:i}", "from", 80, "to", 80, "range", 1));
    bad_obj("9 idmap entries", req, "mounts[0].idmap: 9 entries, at most 8");
}

/* ---- env, labels ---- */

static void test_env(void **state)
{
    (void)state;
    ok_field("{\"rootfs\": \"/r\", \"env\": {\"_\": \"\", \"a1_B\": \"x=y\", \"PATH\": \"/bin\"}}",
             "env", "{\"_\": \"\", \"a1_B\": \"x=y\", \"PATH\": \"/bin\"}");
    bad("{\"rootfs\": \"/r\", \"env\": [\"K=V\"]}", "env: expected an object, got an array");
    bad("{\"rootfs\": \"/r\", \"env\": {\"1A\": \"v\"}}",
        "env: \"1A\" is not a valid variable name");
    bad("{\"rootfs\": \"/r\", \"env\": {\"A-B\": \"v\"}}",
        "env: \"A-B\" is not a valid variable name");
    bad("{\"rootfs\": \"/r\", \"env\": {\"A=B\": \"v\"}}",
        "env: \"A=B\" is not a valid variable name");
    bad("{\"rootfs\": \"/r\", \"env\": {\"\": \"v\"}}", "env: \"\" is not a valid variable name");
    bad("{\"rootfs\": \"/r\", \"env\": {\"K\": 1}}", "env.K: expected a string, got a number");
    bad("{\"rootfs\": \"/r\", \"env\": {\"K\": null}}", "env.K: expected a string, got null");

    char *k = repeat("K", 'k', SBSPEC_MAX_ENV_KEY - 1);
    char *v = repeat("", 'v', SBSPEC_MAX_ENV_VALUE);
    json_t *env = json_object();
    json_object_set_new(env, k, json_string(v));
    json_t *out = parse_ok_take("longest key and value", with("env", json_copy(env)));
    expect_equal("longest key and value", json_object_get(out, "env"), env);
    json_decref(out);
    json_decref(env);
    free(k);
    k = repeat("K", 'k', SBSPEC_MAX_ENV_KEY);
    env = json_object();
    json_object_set_new(env, k, json_string("v"));
    bad_obj("256-byte key", with("env", env), "is not a valid variable name");
    free(k);
    free(v);
    v = repeat("", 'v', SBSPEC_MAX_ENV_VALUE + 1);
    env = json_object();
    json_object_set_new(env, "K", json_string(v));
    bad_obj("32769-byte value", with("env", env), "env.K: longer than 32768 bytes");
    free(v);

    out = parse_ok_take("256 entries", with("env", object_of("K", SBSPEC_MAX_ENV)));
    assert_int_equal(json_object_size(json_object_get(out, "env")), SBSPEC_MAX_ENV);
    json_decref(out);
    bad_obj("257 entries", with("env", object_of("K", SBSPEC_MAX_ENV + 1)),
            "env: 257 entries, at most 256");
}

static void test_labels(void **state)
{
    (void)state;
    ok_field("{\"rootfs\": \"/r\", \"labels\": {\"team\": \"a\", \"x.y/z\": \"\", \"é\": \"ü\"}}",
             "labels", "{\"team\": \"a\", \"x.y/z\": \"\", \"é\": \"ü\"}");
    bad("{\"rootfs\": \"/r\", \"labels\": [\"a\"]}", "labels: expected an object, got an array");
    bad("{\"rootfs\": \"/r\", \"labels\": {\"\": \"v\"}}", "labels: a key must not be empty");
    bad("{\"rootfs\": \"/r\", \"labels\": {\"k\": 1}}",
        "labels.k: expected a string, got a number");
    bad("{\"rootfs\": \"/r\", \"labels\": {\"k\": true}}",
        "labels.k: expected a string, got a boolean");

    char *s = repeat("", 'l', SBSPEC_MAX_LABEL_BYTES);
    json_t *labels = json_object();
    json_object_set_new(labels, s, json_string(s));
    json_t *out = parse_ok_take("256-byte key and value", with("labels", json_copy(labels)));
    expect_equal("256-byte key and value", json_object_get(out, "labels"), labels);
    json_decref(out);
    json_decref(labels);
    free(s);
    s = repeat("", 'l', SBSPEC_MAX_LABEL_BYTES + 1);
    labels = json_object();
    json_object_set_new(labels, s, json_string("v"));
    bad_obj("257-byte key", with("labels", labels), "is longer than 256 bytes");
    labels = json_object();
    json_object_set_new(labels, "k", json_string(s));
    bad_obj("257-byte value", with("labels", labels), "labels.k: longer than 256 bytes");
    free(s);

    out = parse_ok_take("64 labels", with("labels", object_of("l", SBSPEC_MAX_LABELS)));
    assert_int_equal(json_object_size(json_object_get(out, "labels")), SBSPEC_MAX_LABELS);
    json_decref(out);
    bad_obj("65 labels", with("labels", object_of("l", SBSPEC_MAX_LABELS + 1)),
            "labels: 65 entries, at most 64");
}

/* ---- numbers ---- */

static void test_resources(void **state)
{
    (void)state;
    ok_field("{\"rootfs\": \"/r\", \"resources\": {\"memory_mb\": 4, \"cpus\": 0.01, \"pids\": 8}}",
             "resources", "{\"memory_mb\": 4, \"cpus\": 0.01, \"pids\": 8}");
    ok_field("{\"rootfs\": \"/r\", \"resources\": {\"memory_mb\": 1048576, \"cpus\": 1024,"
             " \"pids\": 4194304}}",
             "resources", "{\"memory_mb\": 1048576, \"cpus\": 1024.0, \"pids\": 4194304}");
    /* an integer cpus comes out as a real */
    ok_field("{\"rootfs\": \"/r\", \"resources\": {\"cpus\": 2}}", "resources",
             "{\"memory_mb\": null, \"cpus\": 2.0, \"pids\": null}");
    ok_field("{\"rootfs\": \"/r\", \"resources\": {\"pids\": 512}}", "resources",
             "{\"memory_mb\": null, \"cpus\": null, \"pids\": 512}");
    ok_field("{\"rootfs\": \"/r\", \"resources\": {}}", "resources",
             "{\"memory_mb\": null, \"cpus\": null, \"pids\": null}");

    bad("{\"rootfs\": \"/r\", \"resources\": 5}", "resources: expected an object, got a number");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"disk_mb\": 5}}",
        "resources: unknown field \"disk_mb\"");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"memory_mb\": 3}}",
        "resources.memory_mb: must be an integer from 4 to 1048576");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"memory_mb\": 1048577}}",
        "resources.memory_mb: must be an integer from 4 to 1048576");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"memory_mb\": 256.0}}",
        "resources.memory_mb: must be an integer from 4 to 1048576, got a number");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"memory_mb\": \"256\"}}",
        "resources.memory_mb: must be an integer from 4 to 1048576, got a string");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"memory_mb\": -9223372036854775808}}",
        "resources.memory_mb: must be an integer from 4 to 1048576");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"cpus\": 0.009}}",
        "resources.cpus: must be a number from 0.01 to 1024");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"cpus\": 0}}",
        "resources.cpus: must be a number from 0.01 to 1024");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"cpus\": -1.5}}",
        "resources.cpus: must be a number from 0.01 to 1024");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"cpus\": 1024.001}}",
        "resources.cpus: must be a number from 0.01 to 1024");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"cpus\": 1e300}}",
        "resources.cpus: must be a number from 0.01 to 1024");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"cpus\": \"1\"}}",
        "resources.cpus: must be a number from 0.01 to 1024, got a string");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"pids\": 7}}",
        "resources.pids: must be an integer from 8 to 4194304");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"pids\": 4194305}}",
        "resources.pids: must be an integer from 8 to 4194304");
    bad("{\"rootfs\": \"/r\", \"resources\": {\"pids\": 8.5}}",
        "resources.pids: must be an integer from 8 to 4194304, got a number");
}

static void test_ttl(void **state)
{
    (void)state;
    ok_field("{\"rootfs\": \"/r\", \"ttl_sec\": 2592000}", "ttl_sec", "2592000");
    ok_field("{\"rootfs\": \"/r\", \"ttl_sec\": 0}", "ttl_sec", "0");
    bad("{\"rootfs\": \"/r\", \"ttl_sec\": 2592001}",
        "ttl_sec: must be an integer from 0 to 2592000");
    bad("{\"rootfs\": \"/r\", \"ttl_sec\": -1}", "ttl_sec: must be an integer from 0 to 2592000");
    bad("{\"rootfs\": \"/r\", \"ttl_sec\": 600.0}",
        "ttl_sec: must be an integer from 0 to 2592000");
    bad("{\"rootfs\": \"/r\", \"ttl_sec\": \"600\"}",
        "ttl_sec: must be an integer from 0 to 2592000");
    bad("{\"rootfs\": \"/r\", \"ttl_sec\": 9223372036854775807}",
        "ttl_sec: must be an integer from 0 to 2592000");
}

/* ---- NUL bytes ---- */

static void test_nul(void **state)
{
    (void)state;
    bad_obj("rootfs", load_json("{\"rootfs\": \"/r\\u0000/x\"}"), "rootfs: must not contain NUL");
    bad_obj("image", json_pack("{s:s%}", "image", "/i\0x", (size_t)4),
            "image: must not contain NUL");
    bad_obj("name", with("name", json_stringn("box\0", 4)), "name: must not contain NUL");
    bad_obj("user", with("user", json_stringn("root\0x", 6)), "user: must not contain NUL");
    bad_obj("workdir", with("workdir", json_stringn("/\0", 2)), "workdir: must not contain NUL");
    bad_obj("hostname", with("hostname", json_stringn("h\0", 2)), "hostname: must not contain NUL");
    /* "none\0" must not pass as "none" */
    bad_obj("network", with("network", json_stringn("none\0", 5)), "network: must not contain NUL");
    bad_obj("on_ttl", with("on_ttl", json_stringn("pause\0x", 7)), "on_ttl: must not contain NUL");
    bad_obj("env value", with("env", json_pack("{s:s%}", "K", "a\0b", (size_t)3)),
            "env.K: must not contain NUL");
    bad_obj("label value", with("labels", json_pack("{s:s%}", "k", "a\0b", (size_t)3)),
            "labels.k: must not contain NUL");

    json_t *o = json_object();
    json_object_setn_new(o, "K\0X", 3, json_string("v"));
    bad_obj("env key", with("env", o), "env: \"K\" is not a valid variable name");
    o = json_object();
    json_object_setn_new(o, "k\0x", 3, json_string("v"));
    bad_obj("label key", with("labels", o), "labels: a key must not contain NUL bytes");

    /* a key "rootfs\0x" is not "rootfs" */
    json_t *req = load_json("{\"rootfs\": \"/r\"}");
    json_object_setn_new(req, "rootfs\0x", 8, json_string("/x"));
    bad_obj("top-level key", req, "unknown field \"rootfs\"");
    req = load_json(MOUNT(""));
    json_object_setn_new(json_array_get(json_object_get(req, "mounts"), 0), "readonly\0", 9,
                         json_true());
    bad_obj("mount key", req, "mounts[0]: unknown field \"readonly\"");

    static const char *const fields[] = {"type", "source", "target", "subpath", "filetype"};
    static const char *const values[] = {"volume", "data", "/m", "sub", "infer"};
    for (size_t i = 0; i < SP_ARRAY_LEN(fields); i++) {
        char want[64], v[32];
        size_t n = strlen(values[i]);
        memcpy(v, values[i], n);
        v[n] = '\0';
        req = load_json(MOUNT(""));
        json_object_set_new(json_array_get(json_object_get(req, "mounts"), 0), fields[i],
                            json_stringn(v, n + 1));
        snprintf(want, sizeof(want), "mounts[0].%s: must not contain NUL", fields[i]);
        bad_obj(fields[i], req, want);
    }
    req = load_json("{\"rootfs\": \"/r\", \"mounts\": [{\"type\": \"bind\", \"source\": \"/h\","
                    " \"target\": \"/t\"}]}");
    json_object_set_new(json_array_get(json_object_get(req, "mounts"), 0), "source",
                        json_stringn("/h\0", 3));
    bad_obj("bind source", req, "mounts[0].source: must not contain NUL");
}

/* ---- the request is left alone ---- */

static void test_input_untouched(void **state)
{
    (void)state;
    const char *text =
        "{\"name\": \"b\", \"rootfs\": \"//r/./x/\", \"mounts\": [{\"type\": \"bind\","
        " \"source\": \"/h//\", \"target\": \"/t/\", \"subpath\": \"./s\", \"idmap\": [{\"from\": "
        "0,"
        " \"to\": 1, \"range\": 2}]}], \"env\": {\"K\": \"V\"}, \"workdir\": \"/w/\","
        " \"resources\": {\"cpus\": 2, \"pids\": null}, \"labels\": {\"a\": \"b\"}, \"user\": "
        "null}";
    json_t *req = load_json(text);
    json_t *copy = json_deep_copy(req);
    json_t *mounts = json_object_get(req, "mounts");
    size_t refs = req->refcount, mrefs = mounts->refcount;

    json_t *out = parse_ok_obj(text, req); /* checks that req is unchanged */
    assert_int_equal(req->refcount, refs);
    assert_int_equal(mounts->refcount, mrefs);

    /* the result shares nothing with the request: changing it leaves the request alone */
    json_object_set_new(json_object_get(out, "env"), "NEW", json_string("x"));
    json_object_set_new(json_object_get(out, "labels"), "new", json_string("x"));
    json_t *om = json_array_get(json_object_get(out, "mounts"), 0);
    json_object_set_new(om, "target", json_string("/other"));
    json_array_clear(json_object_get(om, "idmap"));
    json_object_set_new(json_object_get(out, "resources"), "pids", json_integer(9));
    expect_equal("the request after changing the result", req, copy);
    json_decref(out);
    expect_equal("the request after freeing the result", req, copy);
    assert_int_equal(req->refcount, refs);

    /* and on failure (a late error, after most of the result was built) */
    json_object_set_new(req, "on_ttl", json_string("never"));
    json_decref(copy);
    bad_obj("late error", req, "on_ttl: expected \"pause\" or \"destroy\", got \"never\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_ok),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_null_as_absent),
        cmocka_unit_test(test_path_cleaning),
        cmocka_unit_test(test_path_errors),
        cmocka_unit_test(test_top_errors),
        cmocka_unit_test(test_user_hostname),
        cmocka_unit_test(test_mount_errors),
        cmocka_unit_test(test_duplicate_targets),
        cmocka_unit_test(test_idmap),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_input_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
