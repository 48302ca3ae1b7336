/* SPDX-License-Identifier: MIT */
/* Service definitions: see svcdef.h and docs/services.md. */
#include "svcdef.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/str.h"
#include "../os/sig.h"

#define SERVICE_JSON_MAX (64 * 1024)
#define DEFAULT_HOST     "127.0.0.1"
#define MAX_SIGNAL       64

/* The state of one svcdef_from_json call: who is being parsed, and how much it holds. */
struct pctx {
    const char *name;
    struct sp_err *err;
    size_t bytes; /* argv + ready command + env, NUL terminators included */
};

static int fail(struct pctx *c, const char *fmt, ...) SP_PRINTF(2, 3);

/* Fills the error as "service NAME: <message>" and returns -EINVAL. */
static int fail(struct pctx *c, const char *fmt, ...)
{
    char msg[SP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sp_err_set(c->err, -EINVAL, "service %s: %s", c->name, msg);
}

static int oom(struct pctx *c)
{
    return sp_err_set(c->err, -ENOMEM, "service %s: out of memory", c->name);
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

bool svcdef_name_ok(const char *name)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    if (!name || !name[0] || !strchr(alnum, name[0])) return false;
    size_t n = strlen(name);
    if (n > SVC_NAME_MAX) return false;
    /* the first character is alphanumeric, so "." and ".." are already out */
    return strspn(name + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
           n - 1;
}

/* 0, -EINVAL (not a duration) or -ERANGE (above SVC_MAX_DURATION_MS). */
static int duration_ms(json_t *v, uint64_t *out)
{
    uint64_t ms;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0) return -EINVAL;
        ms = (uint64_t)i;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        uint64_t ns;
        if (strlen(s) != json_string_length(v)) return -EINVAL;
        int r = sp_duration_parse(s, &ns);
        if (r < 0) return r == -ERANGE ? -ERANGE : -EINVAL;
        /* rounded up, so that a non-zero duration never becomes 0 */
        ms = ns / 1000000 + (ns % 1000000 != 0);
    } else {
        return -EINVAL;
    }
    if (ms > SVC_MAX_DURATION_MS) return -ERANGE;
    *out = ms;
    return 0;
}

int svcdef_duration_ms(json_t *v, uint64_t *out)
{
    return duration_ms(v, out) < 0 ? -EINVAL : 0;
}

/* A duration field; min_ms is 0 or 1 (must be more than 0). */
static int get_duration(struct pctx *c, const char *field, json_t *v, uint64_t min_ms,
                        uint64_t *out)
{
    int r = duration_ms(v, out);
    if (r == -ERANGE) return fail(c, "%s: must be at most 24h", field);
    if (r < 0) {
        if (json_is_string(v))
            return fail(c, "%s: \"%.64s\" is not a duration (such as \"250ms\" or \"1m30s\")",
                        field, json_string_value(v));
        if (json_is_integer(v)) return fail(c, "%s: must not be negative", field);
        return fail(c, "%s: expected a duration (such as \"250ms\") or milliseconds, got %s", field,
                    json_kind(v));
    }
    if (*out < min_ms) return fail(c, "%s: must be more than 0", field);
    return 0;
}

/* A string without NUL bytes; *out points into v. */
static int get_string(struct pctx *c, const char *field, json_t *v, const char **out)
{
    if (!json_is_string(v)) return fail(c, "%s: expected a string, got %s", field, json_kind(v));
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v))
        return fail(c, "%s: must not contain NUL bytes", field);
    return 0;
}

/*
 * An array of strings into a new vector, of at most SVC_MAX_ARGV elements (at least one when
 * nonempty). counted: its bytes count towards SVC_MAX_BYTES.
 */
static int get_strv(struct pctx *c, const char *field, json_t *v, bool nonempty, bool counted,
                    char ***out)
{
    if (!json_is_array(v))
        return fail(c, "%s: expected an array of strings, got %s", field, json_kind(v));
    size_t n = json_array_size(v);
    if (nonempty && n == 0) return fail(c, "%s: must not be empty", field);
    if (n > SVC_MAX_ARGV) return fail(c, "%s: %zu elements, at most %d", field, n, SVC_MAX_ARGV);
    char **sv = sp_strv_new(n);
    if (!sv) return oom(c);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            sp_strv_free(sv);
            return fail(c, "%s[%zu]: expected a string, got %s", field, i, json_kind(e));
        }
        if (strlen(json_string_value(e)) != json_string_length(e)) {
            sp_strv_free(sv);
            return fail(c, "%s[%zu]: must not contain NUL bytes", field, i);
        }
        sv[i] = strdup(json_string_value(e));
        if (!sv[i]) {
            sp_strv_free(sv);
            return oom(c);
        }
        if (counted) c->bytes += json_string_length(e) + 1;
    }
    *out = sv;
    return 0;
}

/* A JSON integer in [min, max]. */
static int get_int(struct pctx *c, const char *field, json_t *v, long min, long max, long *out)
{
    if (!json_is_integer(v)) return fail(c, "%s: expected an integer, got %s", field, json_kind(v));
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) return fail(c, "%s: must be %ld..%ld", field, min, max);
    *out = (long)i;
    return 0;
}

static const char *const top_fields[] = {
    "name", "cmd",  "args",  "start_command", "ready_command", "needs",       "dependencies", "env",
    "dir",  "user", "ready", "restart",       "backoff",       "stop_signal", "stop_timeout",
};
static const char *const ready_fields[] = {"command",   "tcp",      "http",
                                           "notify_fd", "interval", "timeout"};
static const char *const backoff_fields[] = {"initial", "max", "reset_after"};

/* Every key of obj must be one of the n names. */
static int known_fields(struct pctx *c, const char *prefix, json_t *obj, const char *const *names,
                        size_t n)
{
    const char *k;
    json_t *v;
    size_t klen;
    json_object_keylen_foreach(obj, k, klen, v)
    {
        size_t i = n;
        if (strlen(k) == klen) /* a key with a NUL inside is no field */
            for (i = 0; i < n; i++)
                if (strcmp(k, names[i]) == 0) break;
        if (i == n) return fail(c, "%sunknown field \"%.64s\"", prefix, k);
    }
    return 0;
}

/* --- command ------------------------------------------------------------------------------- */

/* start_path: the components directory's start file, which then is the command. */
static int parse_command(struct pctx *c, json_t *obj, const char *start_path, struct svc_def *d)
{
    json_t *cmd = json_object_get(obj, "cmd");
    json_t *args = json_object_get(obj, "args");
    json_t *start = json_object_get(obj, "start_command");

    if (start_path) {
        const char *f = cmd ? "cmd" : start ? "start_command" : args ? "args" : NULL;
        if (f)
            return fail(c, "\"%s\" is given, but %s exists (give the command one way only)", f,
                        start_path);
        d->argv = sp_strv_new(1);
        if (!d->argv || !(d->argv[0] = strdup(start_path))) return oom(c);
        c->bytes += strlen(start_path) + 1;
        return 0;
    }
    if (cmd && start) return fail(c, "give either \"cmd\" or \"start_command\", not both");
    if (start) {
        if (args) return fail(c, "\"args\" goes with a string \"cmd\", not with \"start_command\"");
        if (!json_is_array(start))
            return fail(c, "start_command: expected an array of strings, got %s", json_kind(start));
        cmd = start;
    }
    if (!cmd) {
        if (args) return fail(c, "\"args\" is given without \"cmd\"");
        return fail(c, "\"cmd\" is required (or \"start_command\")");
    }
    const char *field = start ? "start_command" : "cmd";
    if (json_is_array(cmd)) {
        if (args)
            return fail(c, "\"args\" must be absent when \"cmd\" is an array (the whole argv)");
        int r = get_strv(c, field, cmd, true, true, &d->argv);
        if (r < 0) return r;
    } else if (json_is_string(cmd)) {
        const char *prog;
        int r = get_string(c, "cmd", cmd, &prog);
        if (r < 0) return r;
        d->argv = sp_strv_new(0);
        if (!d->argv || sp_strv_push(&d->argv, prog) < 0) return oom(c);
        c->bytes += strlen(prog) + 1;
        if (args) {
            char **rest = NULL;
            r = get_strv(c, "args", args, false, true, &rest);
            if (r < 0) return r;
            size_t n = sp_strv_len(rest);
            if (n + 1 > SVC_MAX_ARGV) {
                sp_strv_free(rest);
                return fail(c, "cmd and args: %zu elements, at most %d", n + 1, SVC_MAX_ARGV);
            }
            char **all = realloc(d->argv, (n + 2) * sizeof(char *));
            if (!all) {
                sp_strv_free(rest);
                return oom(c);
            }
            memcpy(all + 1, rest, (n + 1) * sizeof(char *));
            free(rest); /* the strings now belong to all */
            d->argv = all;
        }
    } else {
        return fail(c, "%s: expected a string or an array of strings, got %s", field,
                    json_kind(cmd));
    }
    if (d->argv[0][0] == '\0') return fail(c, "%s: the program must not be empty", field);
    return 0;
}

/* --- needs, env, dir, user ---------------------------------------------------------------- */

static int parse_needs(struct pctx *c, json_t *obj, struct svc_def *d)
{
    json_t *needs = json_object_get(obj, "needs");
    json_t *deps = json_object_get(obj, "dependencies");
    const char *field = "needs";

    if (needs && deps) return fail(c, "give either \"needs\" or \"dependencies\", not both");
    if (deps) {
        needs = deps;
        field = "dependencies";
    }
    if (!needs) {
        d->needs = sp_strv_new(0);
        return d->needs ? 0 : oom(c);
    }
    int r = get_strv(c, field, needs, false, false, &d->needs);
    if (r < 0) return r;
    for (size_t i = 0; d->needs[i]; i++) {
        if (!svcdef_name_ok(d->needs[i]))
            return fail(c, "%s: \"%.64s\" is not a valid service name", field, d->needs[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->needs[i], d->needs[j]) == 0)
                return fail(c, "%s: \"%s\" is listed twice", field, d->needs[i]);
    }
    return 0;
}

static int env_key_ok(const char *k, size_t klen)
{
    return klen > 0 && memchr(k, '=', klen) == NULL;
}

static int parse_env(struct pctx *c, json_t *obj, struct svc_def *d)
{
    json_t *env = json_object_get(obj, "env");
    if (!env || json_is_array(env)) {
        if (!env) {
            d->env = sp_strv_new(0);
            return d->env ? 0 : oom(c);
        }
        int r = get_strv(c, "env", env, false, true, &d->env);
        if (r < 0) return r;
        for (size_t i = 0; d->env[i]; i++) {
            const char *eq = strchr(d->env[i], '=');
            if (!eq || eq == d->env[i])
                return fail(c, "env[%zu]: \"%.64s\" is not of the form \"KEY=VALUE\"", i,
                            d->env[i]);
        }
        return 0;
    }
    if (!json_is_object(env))
        return fail(c, "env: expected an array of \"KEY=VALUE\" strings or an object, got %s",
                    json_kind(env));
    size_t n = json_object_size(env);
    if (n > SVC_MAX_ARGV) return fail(c, "env: %zu entries, at most %d", n, SVC_MAX_ARGV);
    d->env = sp_strv_new(n);
    if (!d->env) return oom(c);
    size_t i = 0;
    const char *k;
    json_t *v;
    size_t klen;
    json_object_keylen_foreach(env, k, klen, v)
    {
        if (strlen(k) != klen || !env_key_ok(k, klen))
            return fail(c, "env: \"%.64s\" is not a valid variable name", k);
        if (!json_is_string(v))
            return fail(c, "env.%.64s: expected a string, got %s", k, json_kind(v));
        if (strlen(json_string_value(v)) != json_string_length(v))
            return fail(c, "env.%.64s: must not contain NUL bytes", k);
        if (asprintf(&d->env[i], "%s=%s", k, json_string_value(v)) < 0) {
            d->env[i] = NULL;
            return oom(c);
        }
        c->bytes += strlen(d->env[i]) + 1;
        i++;
    }
    return 0;
}

static int parse_dir_user(struct pctx *c, json_t *obj, struct svc_def *d)
{
    json_t *v;
    const char *s;
    int r;

    if ((v = json_object_get(obj, "dir"))) {
        if ((r = get_string(c, "dir", v, &s)) < 0) return r;
        if (s[0] != '/') return fail(c, "dir: must be an absolute path, got \"%.64s\"", s);
        if (strlen(s) >= PATH_MAX) return fail(c, "dir: longer than %d bytes", PATH_MAX - 1);
        if (!(d->dir = strdup(s))) return oom(c);
    }
    if ((v = json_object_get(obj, "user"))) {
        if ((r = get_string(c, "user", v, &s)) < 0) return r;
        const char *colon = strchr(s, ':');
        if (!s[0] || s[0] == ':' || (colon && (!colon[1] || strchr(colon + 1, ':'))))
            return fail(c, "user: expected \"name\", \"uid\" or \"user:group\", got \"%.64s\"", s);
        if (strlen(s) > 255) return fail(c, "user: longer than 255 bytes");
        if (!(d->user = strdup(s))) return oom(c);
    }
    return 0;
}

/* --- ready --------------------------------------------------------------------------------- */

/* Whether h[0..n) is a plausible host: a name or IPv4 address, or (bracketed) an IPv6 one. */
static bool host_ok(const char *h, size_t n, bool bracketed)
{
    static const char name_chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
    const char *set = bracketed ? "0123456789abcdefABCDEF:." : name_chars;
    if (n == 0) return !bracketed;
    for (size_t i = 0; i < n; i++) {
        if (bracketed && h[i] == '%') {
            /* a zone ("fe80::1%eth0"): letters, digits, '.', '-', '_' */
            if (i + 1 == n) return false;
            for (i++; i < n; i++)
                if (!h[i] || !strchr(name_chars, h[i])) return false;
            break;
        }
        if (!h[i] || !strchr(set, h[i])) return false;
    }
    return !bracketed || memchr(h, ':', n) != NULL;
}

/*
 * Parses "HOST[:PORT]" (s[0..n)) into r->host / r->port. HOST may be empty (127.0.0.1) or a
 * bracketed IPv6 address, stored without brackets. need_port: the port is required; otherwise it
 * defaults to 80.
 */
static int parse_hostport(struct pctx *c, const char *field, const char *s, size_t n,
                          bool need_port, struct svc_ready *r)
{
    const char *host = s, *port = NULL;
    size_t hlen, plen = 0;
    bool bracketed = false;

    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return fail(c, "%s: missing ']' after the IPv6 address", field);
        host = s + 1;
        hlen = (size_t)(close - host);
        bracketed = true;
        const char *rest = close + 1;
        size_t rlen = n - (size_t)(rest - s);
        if (rlen > 0) {
            if (rest[0] != ':') return fail(c, "%s: expected ':' and a port after ']'", field);
            port = rest + 1;
            plen = rlen - 1;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        hlen = colon ? (size_t)(colon - s) : n;
        if (colon) {
            port = colon + 1;
            plen = n - hlen - 1;
            if (memchr(port, ':', plen))
                return fail(c, "%s: an IPv6 address must be in brackets (\"[::1]:8080\")", field);
        }
    }
    if (!host_ok(host, hlen, bracketed))
        return fail(c, "%s: \"%.*s\" is not a valid host", field, (int)(hlen > 64 ? 64 : hlen),
                    host);
    if (hlen >= sizeof(r->host)) return fail(c, "%s: host longer than 255 bytes", field);
    if (hlen == 0) {
        snprintf(r->host, sizeof(r->host), "%s", DEFAULT_HOST);
    } else {
        memcpy(r->host, host, hlen);
        r->host[hlen] = '\0';
    }
    if (!port) {
        if (need_port) return fail(c, "%s: expected \"HOST:PORT\" or a port number", field);
        r->port = 80;
        return 0;
    }
    char buf[8];
    uint64_t p = 0;
    if (plen == 0 || plen >= sizeof(buf)) return fail(c, "%s: port must be 1..65535", field);
    memcpy(buf, port, plen);
    buf[plen] = '\0';
    if (sp_parse_u64(buf, 65535, &p) < 0 || p == 0)
        return fail(c, "%s: port must be 1..65535", field);
    r->port = (uint16_t)p;
    return 0;
}

static int parse_http(struct pctx *c, const char *url, struct svc_ready *r)
{
    static const char scheme[] = "http://";
    if (strncasecmp(url, scheme, sizeof(scheme) - 1) != 0) {
        if (strncasecmp(url, "https://", 8) == 0)
            return fail(c, "ready.http: only http:// is supported, not https://");
        return fail(c, "ready.http: must start with \"http://\", got \"%.64s\"", url);
    }
    const char *auth = url + sizeof(scheme) - 1;
    size_t alen = strcspn(auth, "/?#");
    if (auth[alen] == '#') return fail(c, "ready.http: must not have a fragment ('#')");
    if (memchr(auth, '@', alen)) return fail(c, "ready.http: user info ('@') is not supported");
    int ret = parse_hostport(c, "ready.http", auth, alen, false, r);
    if (ret < 0) return ret;
    const char *path = auth + alen;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '#')
            return fail(c, "ready.http: the path must not hold spaces, control characters or '#'");
    int n = snprintf(r->path, sizeof(r->path), "%s%s", path[0] == '/' ? "" : "/", path);
    if (n < 0 || (size_t)n >= sizeof(r->path))
        return fail(c, "ready.http: path longer than %zu bytes", sizeof(r->path) - 1);
    return 0;
}

/* ready_path: the components directory's ready file, which then is the ready command. */
static int parse_ready(struct pctx *c, json_t *obj, const char *ready_path, struct svc_def *d)
{
    struct svc_ready *r = &d->ready;
    json_t *ready = json_object_get(obj, "ready");
    json_t *rcmd = json_object_get(obj, "ready_command");
    int ret;

    r->kind = SVC_READY_NONE;
    r->interval_ms = SVC_DEFAULT_READY_INTERVAL_MS;
    r->timeout_ms = SVC_DEFAULT_READY_TIMEOUT_MS;
    if (ready && rcmd) return fail(c, "give either \"ready\" or \"ready_command\", not both");
    if (ready_path) {
        if (rcmd)
            return fail(c, "\"ready_command\" is given, but %s exists (give it one way only)",
                        ready_path);
        if (ready && json_is_object(ready) && json_object_get(ready, "command"))
            return fail(c, "\"ready.command\" is given, but %s exists (give it one way only)",
                        ready_path);
        if (ready && json_is_object(ready) &&
            (json_object_get(ready, "tcp") || json_object_get(ready, "http") ||
             json_object_get(ready, "notify_fd")))
            return fail(c, "\"ready\" gives a check, but %s exists (give one check only)",
                        ready_path);
    }
    if (rcmd) {
        if ((ret = get_strv(c, "ready_command", rcmd, true, true, &r->command)) < 0) return ret;
        r->kind = SVC_READY_COMMAND;
        return 0;
    }
    if (ready_path) {
        r->command = sp_strv_new(1);
        if (!r->command || !(r->command[0] = strdup(ready_path))) return oom(c);
        c->bytes += strlen(ready_path) + 1;
        r->kind = SVC_READY_COMMAND;
    }
    if (!ready) return 0;
    if (!json_is_object(ready))
        return fail(c, "ready: expected an object, got %s", json_kind(ready));
    ret = known_fields(c, "ready: ", ready, ready_fields, SP_ARRAY_LEN(ready_fields));
    if (ret < 0) return ret;

    const char *kinds[] = {"command", "tcp", "http", "notify_fd"};
    const char *found = NULL;
    for (size_t i = 0; i < SP_ARRAY_LEN(kinds); i++) {
        if (!json_object_get(ready, kinds[i])) continue;
        if (found)
            return fail(c,
                        "ready: give one of \"command\", \"tcp\", \"http\", \"notify_fd\", not "
                        "both \"%s\" and \"%s\"",
                        found, kinds[i]);
        found = kinds[i];
    }
    if (!found && !ready_path)
        return fail(c, "ready: needs one of \"command\", \"tcp\", \"http\", \"notify_fd\"");

    json_t *v;
    if ((v = json_object_get(ready, "command"))) {
        if ((ret = get_strv(c, "ready.command", v, true, true, &r->command)) < 0) return ret;
        r->kind = SVC_READY_COMMAND;
    } else if ((v = json_object_get(ready, "tcp"))) {
        r->kind = SVC_READY_TCP;
        if (json_is_integer(v)) {
            json_int_t p = json_integer_value(v);
            if (p < 1 || p > 65535) return fail(c, "ready.tcp: port must be 1..65535");
            snprintf(r->host, sizeof(r->host), "%s", DEFAULT_HOST);
            r->port = (uint16_t)p;
        } else if (json_is_string(v)) {
            const char *s;
            if ((ret = get_string(c, "ready.tcp", v, &s)) < 0) return ret;
            if ((ret = parse_hostport(c, "ready.tcp", s, strlen(s), true, r)) < 0) return ret;
        } else {
            return fail(c, "ready.tcp: expected a port number or \"HOST:PORT\", got %s",
                        json_kind(v));
        }
    } else if ((v = json_object_get(ready, "http"))) {
        const char *s;
        r->kind = SVC_READY_HTTP;
        if ((ret = get_string(c, "ready.http", v, &s)) < 0) return ret;
        if ((ret = parse_http(c, s, r)) < 0) return ret;
    } else if ((v = json_object_get(ready, "notify_fd"))) {
        long fd;
        if ((ret = get_int(c, "ready.notify_fd", v, 3, 1023, &fd)) < 0) return ret;
        r->kind = SVC_READY_NOTIFY;
        r->notify_fd = (int)fd;
    }
    if ((v = json_object_get(ready, "interval")) &&
        (ret = get_duration(c, "ready.interval", v, 1, &r->interval_ms)) < 0)
        return ret;
    if ((v = json_object_get(ready, "timeout")) &&
        (ret = get_duration(c, "ready.timeout", v, 1, &r->timeout_ms)) < 0)
        return ret;
    return 0;
}

/* --- restart, backoff, stop ---------------------------------------------------------------- */

static int parse_restart(struct pctx *c, json_t *obj, struct svc_def *d)
{
    json_t *v;
    int ret;

    d->restart = SVC_RESTART_NO;
    d->backoff_initial_ms = SVC_DEFAULT_BACKOFF_INITIAL_MS;
    d->backoff_max_ms = SVC_DEFAULT_BACKOFF_MAX_MS;
    d->backoff_reset_ms = SVC_DEFAULT_BACKOFF_RESET_MS;

    if ((v = json_object_get(obj, "restart"))) {
        const char *s;
        if ((ret = get_string(c, "restart", v, &s)) < 0) return ret;
        if (strcmp(s, "no") == 0 || strcmp(s, "never") == 0)
            d->restart = SVC_RESTART_NO;
        else if (strcmp(s, "on-failure") == 0)
            d->restart = SVC_RESTART_ON_FAILURE;
        else if (strcmp(s, "always") == 0)
            d->restart = SVC_RESTART_ALWAYS;
        else
            return fail(c, "restart: expected \"no\", \"on-failure\" or \"always\", got \"%.64s\"",
                        s);
    }
    if ((v = json_object_get(obj, "backoff"))) {
        json_t *f;
        if (!json_is_object(v)) return fail(c, "backoff: expected an object, got %s", json_kind(v));
        ret = known_fields(c, "backoff: ", v, backoff_fields, SP_ARRAY_LEN(backoff_fields));
        if (ret < 0) return ret;
        if ((f = json_object_get(v, "initial")) &&
            (ret = get_duration(c, "backoff.initial", f, 1, &d->backoff_initial_ms)) < 0)
            return ret;
        if ((f = json_object_get(v, "max")) &&
            (ret = get_duration(c, "backoff.max", f, 1, &d->backoff_max_ms)) < 0)
            return ret;
        if ((f = json_object_get(v, "reset_after")) &&
            (ret = get_duration(c, "backoff.reset_after", f, 0, &d->backoff_reset_ms)) < 0)
            return ret;
    }
    if (d->backoff_max_ms < d->backoff_initial_ms) {
        char a[32], b[32];
        sp_duration_format(d->backoff_max_ms * 1000000, a, sizeof(a));
        sp_duration_format(d->backoff_initial_ms * 1000000, b, sizeof(b));
        return fail(c, "backoff: max (%s) must not be less than initial (%s)", a, b);
    }
    return 0;
}

static int parse_stop(struct pctx *c, json_t *obj, struct svc_def *d)
{
    json_t *v;
    int ret;

    d->stop_signal = SIGTERM;
    d->stop_timeout_ms = SVC_DEFAULT_STOP_TIMEOUT_MS;
    if ((v = json_object_get(obj, "stop_signal"))) {
        if (json_is_integer(v)) {
            long sig;
            if ((ret = get_int(c, "stop_signal", v, 1, MAX_SIGNAL, &sig)) < 0) return ret;
            d->stop_signal = (int)sig;
        } else if (json_is_string(v)) {
            const char *s;
            if ((ret = get_string(c, "stop_signal", v, &s)) < 0) return ret;
            int sig = sig_parse(s);
            if (sig < 1 || sig > MAX_SIGNAL)
                return fail(c, "stop_signal: \"%.64s\" is not a signal (\"TERM\", \"SIGINT\", 15)",
                            s);
            d->stop_signal = sig;
        } else {
            return fail(c, "stop_signal: expected a signal name or number, got %s", json_kind(v));
        }
    }
    if ((v = json_object_get(obj, "stop_timeout")) &&
        (ret = get_duration(c, "stop_timeout", v, 0, &d->stop_timeout_ms)) < 0)
        return ret;
    return 0;
}

/* --- the definition ------------------------------------------------------------------------ */

/*
 * svcdef_from_json, and svcdef_load_dir's parser: start_path / ready_path (or NULL) are the
 * components directory's executable files, which then give the command / the ready command.
 * no_cmd_hint (or NULL): the message when neither a start file nor "cmd" gives the command.
 */
static int parse_def(const char *name, enum svc_origin origin, json_t *obj, const char *start_path,
                     const char *ready_path, const char *no_cmd_hint, struct svc_def **out,
                     struct sp_err *err)
{
    struct pctx c = {.name = name, .err = err};
    int ret;

    if (!svcdef_name_ok(name))
        return sp_err_set(err, -EINVAL,
                          "invalid service name \"%.64s\": use 1 to %d letters, digits, '_', '.' "
                          "or '-', starting with a letter or digit",
                          name ? name : "(null)", SVC_NAME_MAX);
    if (!obj || !json_is_object(obj))
        return fail(&c, "the definition must be a JSON object, got %s",
                    obj ? json_kind(obj) : "nothing");
    if ((ret = known_fields(&c, "", obj, top_fields, SP_ARRAY_LEN(top_fields))) < 0) return ret;

    json_t *v = json_object_get(obj, "name");
    if (v) {
        const char *s;
        if ((ret = get_string(&c, "name", v, &s)) < 0) return ret;
        if (strcmp(s, name) != 0)
            return fail(&c, "name: \"%.64s\" does not match the service's name", s);
    }

    struct svc_def *d = calloc(1, sizeof(*d));
    if (!d) return oom(&c);
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->origin = origin;

    if (no_cmd_hint && !start_path && !json_object_get(obj, "cmd") &&
        !json_object_get(obj, "start_command")) {
        ret = fail(&c, "%s", no_cmd_hint);
        goto fail;
    }
    if ((ret = parse_command(&c, obj, start_path, d)) < 0 || (ret = parse_needs(&c, obj, d)) < 0 ||
        (ret = parse_env(&c, obj, d)) < 0 || (ret = parse_dir_user(&c, obj, d)) < 0 ||
        (ret = parse_ready(&c, obj, ready_path, d)) < 0 || (ret = parse_restart(&c, obj, d)) < 0 ||
        (ret = parse_stop(&c, obj, d)) < 0)
        goto fail;
    if (c.bytes > SVC_MAX_BYTES) {
        ret = fail(&c, "the command, ready command and env take %zu bytes, at most %d", c.bytes,
                   SVC_MAX_BYTES);
        goto fail;
    }
    *out = d;
    return 0;
fail:
    svcdef_free(d);
    return ret;
}

int svcdef_from_json(const char *name, enum svc_origin origin, json_t *obj, struct svc_def **out,
                     struct sp_err *err)
{
    return parse_def(name, origin, obj, NULL, NULL, NULL, out, err);
}

void svcdef_free(struct svc_def *d)
{
    if (!d) return;
    sp_strv_free(d->argv);
    sp_strv_free(d->needs);
    sp_strv_free(d->env);
    free(d->dir);
    free(d->user);
    sp_strv_free(d->ready.command);
    free(d);
}

/* --- to JSON ------------------------------------------------------------------------------- */

static json_t *strv_json(char *const *v, size_t from)
{
    json_t *a = json_array();
    if (!a) return NULL;
    for (size_t i = from; v && v[i]; i++) {
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *duration_json(uint64_t ms)
{
    char buf[64];
    sp_duration_format(ms * 1000000, buf, sizeof(buf));
    return json_string(buf);
}

/* "HOST:PORT", with an IPv6 host in brackets. */
static void hostport(const struct svc_ready *r, char *buf, size_t len)
{
    if (strchr(r->host, ':'))
        snprintf(buf, len, "[%s]:%u", r->host, (unsigned)r->port);
    else
        snprintf(buf, len, "%s:%u", r->host, (unsigned)r->port);
}

static json_t *ready_json(const struct svc_ready *r)
{
    char buf[sizeof(r->host) + sizeof(r->path) + 32];
    json_t *o = json_object();
    int bad = !o;

    if (!o) return NULL;
    switch (r->kind) {
    case SVC_READY_COMMAND:
        bad |= json_object_set_new(o, "command", strv_json(r->command, 0));
        break;
    case SVC_READY_TCP:
        hostport(r, buf, sizeof(buf));
        bad |= json_object_set_new(o, "tcp", json_string(buf));
        break;
    case SVC_READY_HTTP: {
        char hp[sizeof(r->host) + 16];
        hostport(r, hp, sizeof(hp));
        snprintf(buf, sizeof(buf), "http://%s%s", hp, r->path[0] ? r->path : "/");
        bad |= json_object_set_new(o, "http", json_string(buf));
        break;
    }
    case SVC_READY_NOTIFY:
        bad |= json_object_set_new(o, "notify_fd", json_integer(r->notify_fd));
        break;
    case SVC_READY_NONE: break;
    }
    bad |= json_object_set_new(o, "interval", duration_json(r->interval_ms));
    bad |= json_object_set_new(o, "timeout", duration_json(r->timeout_ms));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *svcdef_to_json(const struct svc_def *d)
{
    static const char *const restarts[] = {"no", "on-failure", "always"};
    json_t *o = json_object();
    int bad = 0;

    if (!o) return NULL;
    bad |= json_object_set_new(o, "name", json_string(d->name));
    bad |= json_object_set_new(o, "cmd", json_string(d->argv && d->argv[0] ? d->argv[0] : ""));
    bad |= json_object_set_new(o, "args", strv_json(d->argv, d->argv && d->argv[0] ? 1 : 0));
    bad |= json_object_set_new(o, "needs", strv_json(d->needs, 0));
    bad |= json_object_set_new(o, "env", strv_json(d->env, 0));
    if (d->dir) bad |= json_object_set_new(o, "dir", json_string(d->dir));
    if (d->user) bad |= json_object_set_new(o, "user", json_string(d->user));
    if (d->ready.kind != SVC_READY_NONE)
        bad |= json_object_set_new(o, "ready", ready_json(&d->ready));
    bad |= json_object_set_new(
        o, "restart",
        json_string((unsigned)d->restart < SP_ARRAY_LEN(restarts) ? restarts[d->restart] : "no"));
    json_t *b = json_object();
    if (b) {
        bad |= json_object_set_new(b, "initial", duration_json(d->backoff_initial_ms));
        bad |= json_object_set_new(b, "max", duration_json(d->backoff_max_ms));
        bad |= json_object_set_new(b, "reset_after", duration_json(d->backoff_reset_ms));
    }
    bad |= json_object_set_new(o, "backoff", b);
    const char *sn = sig_name(d->stop_signal);
    /* a signal without a name (a real-time one) is written as its number */
    bad |= json_object_set_new(
        o, "stop_signal", strcmp(sn, "SIG?") == 0 ? json_integer(d->stop_signal) : json_string(sn));
    bad |= json_object_set_new(o, "stop_timeout", duration_json(d->stop_timeout_ms));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* --- the graph ----------------------------------------------------------------------------- */

enum { WHITE, GRAY, BLACK };

struct graph {
    struct svc_def *const *defs;
    size_t *first; /* node i's edges are edges[first[i] .. first[i + 1]) */
    size_t *edges;
    unsigned char *color;
    size_t *stack; /* the current DFS path */
    size_t depth;
};

/* Writes "a -> b -> ... -> a" (the path from stack position `from`, then the gray node). */
static int cycle_error(const struct graph *g, size_t from, size_t back, struct sp_err *err)
{
    char msg[SP_ERR_MSG_MAX];
    size_t len = 0;
    for (size_t i = from; i <= g->depth; i++) {
        const char *nm = i < g->depth ? g->defs[g->stack[i]]->name : g->defs[back]->name;
        int w = snprintf(msg + len, sizeof(msg) - len, "%s%s", i == from ? "" : " -> ", nm);
        if (w < 0 || (size_t)w >= sizeof(msg) - len) break;
        len += (size_t)w;
    }
    return sp_err_set(err, -EINVAL, "dependency cycle: %s", msg);
}

/* Depth-first from node v; the depth is at most the number of nodes (SVC_MAX_SERVICES). */
static int dfs(struct graph *g, size_t v, struct sp_err *err)
{
    g->color[v] = GRAY;
    g->stack[g->depth++] = v;
    for (size_t e = g->first[v]; e < g->first[v + 1]; e++) {
        size_t w = g->edges[e];
        if (g->color[w] == GRAY) {
            size_t from = 0;
            while (g->stack[from] != w)
                from++;
            return cycle_error(g, from, w, err);
        }
        if (g->color[w] == WHITE) {
            int r = dfs(g, w, err);
            if (r < 0) return r;
        }
    }
    g->depth--;
    g->color[v] = BLACK;
    return 0;
}

static ssize_t find_def(struct svc_def *const *defs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(defs[i]->name, name) == 0) return (ssize_t)i;
    return -1;
}

int svcdef_check_graph(struct svc_def *const *defs, size_t n, struct sp_err *err)
{
    struct graph g = {.defs = defs};
    size_t n_edges = 0;
    int ret = 0;

    if (n == 0) return 0;
    if (n > SVC_MAX_SERVICES)
        return sp_err_set(err, -EINVAL, "%zu services, at most %d", n, SVC_MAX_SERVICES);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(defs[i]->name, defs[j]->name) == 0)
                return sp_err_set(err, -EINVAL, "duplicate service name \"%s\"", defs[i]->name);
        for (size_t k = 0; defs[i]->needs && defs[i]->needs[k]; k++) {
            const char *need = defs[i]->needs[k];
            if (strcmp(need, defs[i]->name) == 0)
                return sp_err_set(err, -EINVAL, "service %s cannot depend on itself",
                                  defs[i]->name);
            n_edges++;
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; defs[i]->needs && defs[i]->needs[k]; k++)
            if (find_def(defs, n, defs[i]->needs[k]) < 0)
                return sp_err_set(err, -EINVAL, "service %s needs %.64s, which is not defined",
                                  defs[i]->name, defs[i]->needs[k]);

    g.first = calloc(n + 1, sizeof(size_t));
    g.edges = calloc(n_edges + 1, sizeof(size_t));
    g.color = calloc(n, 1);
    g.stack = calloc(n, sizeof(size_t));
    if (!g.first || !g.edges || !g.color || !g.stack) {
        ret = sp_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    size_t e = 0;
    for (size_t i = 0; i < n; i++) {
        g.first[i] = e;
        for (size_t k = 0; defs[i]->needs && defs[i]->needs[k]; k++)
            g.edges[e++] = (size_t)find_def(defs, n, defs[i]->needs[k]);
    }
    g.first[n] = e;
    for (size_t i = 0; i < n && ret == 0; i++)
        if (g.color[i] == WHITE) ret = dfs(&g, i, err);
out:
    free(g.first);
    free(g.edges);
    free(g.color);
    free(g.stack);
    return ret;
}

/* --- the components directory -------------------------------------------------------------- */

/*
 * Looks at DIR/<name>/<file>: 1 when it is an executable regular file (path filled), 0 when it
 * does not exist, or an error.
 */
static int exec_file(int sfd, const char *svcpath, const char *name, const char *file, char *path,
                     size_t len, struct sp_err *err)
{
    struct stat st;
    int n = snprintf(path, len, "%s/%s", svcpath, file);
    if (n < 0 || (size_t)n >= len)
        return sp_err_set(err, -ENAMETOOLONG, "service %s: path %s/%s is too long", name, svcpath,
                          file);
    if (fstatat(sfd, file, &st, 0) < 0) {
        if (errno == ENOENT) return 0;
        return sp_err_set(err, -errno, "service %s: %s: %s", name, path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return sp_err_set(err, -EINVAL, "service %s: %s is not a regular file", name, path);
    if (!(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        return sp_err_set(err, -EINVAL, "service %s: %s is not executable", name, path);
    return 1;
}

/* Reads DIR/<name>/service.json into *out (NULL when there is none). */
static int read_service_json(int sfd, const char *svcpath, const char *name, json_t **out,
                             struct sp_err *err)
{
    struct stat st;
    *out = NULL;
    /* O_NONBLOCK: a FIFO in its place must not block the daemon in open() */
    int fd = openat(sfd, "service.json", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        return sp_err_set(err, -errno, "service %s: %s/service.json: %s", name, svcpath,
                          strerror(errno));
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        sp_close(fd);
        return sp_err_set(err, -EINVAL, "service %s: %s/service.json is not a regular file", name,
                          svcpath);
    }
    char *buf = malloc(SERVICE_JSON_MAX + 1);
    if (!buf) {
        sp_close(fd);
        return sp_err_set(err, -ENOMEM, "out of memory");
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = sp_read(fd, buf + len, SERVICE_JSON_MAX + 1 - len);
        if (r < 0) {
            int e = (int)r;
            sp_close(fd);
            free(buf);
            return sp_err_set(err, e, "service %s: reading %s/service.json: %s", name, svcpath,
                              strerror(-e));
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len > SERVICE_JSON_MAX) {
            sp_close(fd);
            free(buf);
            return sp_err_set(err, -EFBIG, "service %s: %s/service.json is larger than %d KiB",
                              name, svcpath, SERVICE_JSON_MAX / 1024);
        }
    }
    sp_close(fd);
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    free(buf);
    if (!root)
        return sp_err_set(err, -EINVAL, "service %s: %s/service.json: line %d: %s", name, svcpath,
                          jerr.line, jerr.text);
    *out = root;
    return 0;
}

/* One service from DIR/<name> (dfd is DIR). */
static int load_one(int dfd, const char *dir, const char *name, struct svc_def **out,
                    struct sp_err *err)
{
    char svcpath[PATH_MAX], start[PATH_MAX], ready[PATH_MAX], hint[PATH_MAX + 128];
    json_t *obj = NULL;
    int ret;

    int n = snprintf(svcpath, sizeof(svcpath), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(svcpath))
        return sp_err_set(err, -ENAMETOOLONG, "service %s: path too long", name);
    if (!svcdef_name_ok(name))
        return sp_err_set(err, -EINVAL,
                          "%s: \"%.64s\" is not a valid service name (use 1 to %d letters, digits, "
                          "'_', '.' or '-', starting with a letter or digit)",
                          dir, name, SVC_NAME_MAX);
    int sfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return sp_err_set(err, -errno, "service %s: %s: %s", name, svcpath, strerror(errno));
    int has_start = exec_file(sfd, svcpath, name, "start", start, sizeof(start), err);
    int has_ready =
        has_start < 0 ? 0 : exec_file(sfd, svcpath, name, "ready", ready, sizeof(ready), err);
    if (has_start < 0 || has_ready < 0) {
        sp_close(sfd);
        return has_start < 0 ? has_start : has_ready;
    }
    ret = read_service_json(sfd, svcpath, name, &obj, err);
    sp_close(sfd);
    if (ret < 0) return ret;
    if (!obj && !(obj = json_object())) return sp_err_set(err, -ENOMEM, "out of memory");
    snprintf(hint, sizeof(hint), "%s has no executable start, and no service.json \"cmd\"",
             svcpath);
    ret = parse_def(name, SVC_ORIGIN_DIR, obj, has_start ? start : NULL, has_ready ? ready : NULL,
                    hint, out, err);
    json_decref(obj);
    return ret;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int svcdef_load_dir(const char *dir, struct svc_def ***out, size_t *n, struct sp_err *err)
{
    char base[PATH_MAX];
    char **names = NULL;
    struct svc_def **defs = NULL;
    size_t count = 0;
    int ret = 0;

    *out = NULL;
    *n = 0;
    /* argv[0] must not depend on the daemon's working directory: make the path absolute */
    if (dir[0] == '/') {
        if (snprintf(base, sizeof(base), "%s", dir) >= (int)sizeof(base))
            return sp_err_set(err, -ENAMETOOLONG, "components directory %.64s...: too long", dir);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            return sp_err_set(err, -errno, "getcwd: %s", strerror(errno));
        if (snprintf(base, sizeof(base), "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, dir) >=
            (int)sizeof(base))
            return sp_err_set(err, -ENAMETOOLONG, "components directory %.64s...: too long", dir);
    }
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/')
        base[--bl] = '\0';

    int dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sp_err_set(err, -errno, "components directory %s: %s", base, strerror(errno));
    DIR *d = fdopendir(dfd);
    if (!d) {
        ret = sp_err_set(err, -errno, "components directory %s: %s", base, strerror(errno));
        sp_close(dfd);
        return ret;
    }
    names = sp_strv_new(0);
    if (!names) {
        ret = sp_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                ret = sp_err_set(err, -errno, "components directory %s: %s", base, strerror(errno));
            break;
        }
        if (de->d_name[0] == '.') continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
            if (errno == ENOENT) continue; /* removed meanwhile, or a dangling symlink */
            ret = sp_err_set(err, -errno, "%s/%s: %s", base, de->d_name, strerror(errno));
            break;
        }
        if (!S_ISDIR(st.st_mode)) continue;
        if (count >= SVC_MAX_SERVICES) {
            ret = sp_err_set(err, -EINVAL, "components directory %s: more than %d services", base,
                             SVC_MAX_SERVICES);
            break;
        }
        if (sp_strv_push(&names, de->d_name) < 0) {
            ret = sp_err_set(err, -ENOMEM, "out of memory");
            break;
        }
        count++;
    }
    if (ret < 0) goto out;
    qsort(names, count, sizeof(char *), cmp_str);
    defs = calloc(count + 1, sizeof(*defs));
    if (!defs) {
        ret = sp_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        ret = load_one(dirfd(d), base, names[i], &defs[i], err);
        if (ret < 0) {
            for (size_t j = 0; j < i; j++)
                svcdef_free(defs[j]);
            free(defs);
            defs = NULL;
            goto out;
        }
    }
    *out = defs;
    *n = count;
out:
    sp_strv_free(names);
    closedir(d);
    return ret;
}
