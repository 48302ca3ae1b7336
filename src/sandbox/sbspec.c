/* SPDX-License-Identifier: MIT */
/* Sandbox create requests: see sbspec.h and docs/sandboxes.md. */
#include "sbspec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../base/compiler.h"

#define NAME_FIRST "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define NAME_REST  NAME_FIRST "_.-"
#define ENV_FIRST  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
#define ENV_REST   ENV_FIRST "0123456789"
#define HOST_CHARS NAME_FIRST ".-"

#define SPRITE_DIR "/.sprite" /* the daemon's own directory in a sandbox: no mount there */

/* A JSON path such as "mounts[63].idmap[7].range", with room for any size_t index. */
#define FIELD_MAX 128

/* How a path field is checked (get_path). */
enum path_kind {
    PATH_ABS,        /* absolute, no ".." */
    PATH_ABS_DOTDOT, /* absolute, ".." kept as written */
    PATH_REL,        /* relative, no "..", not empty once cleaned */
};

/* The state of one sbspec_parse call. */
struct pctx {
    struct sp_err *err;
};

static int fail(struct pctx *c, const char *fmt, ...) SP_PRINTF(2, 3);

static int fail(struct pctx *c, const char *fmt, ...)
{
    char msg[SP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sp_err_set(c->err, -EINVAL, "%s", msg);
}

static int oom(struct pctx *c)
{
    return sp_err_set(c->err, -ENOMEM, "out of memory");
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

/* obj[key], with JSON null counted as absent. */
static json_t *get(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

/* Sets obj[key] to v (a new reference, NULL when its allocation failed): 0 or -ENOMEM. */
static int set(struct pctx *c, json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0 ? 0 : oom(c);
}

static bool name_ok(const char *name)
{
    if (!name || !name[0] || !strchr(NAME_FIRST, name[0])) return false;
    size_t n = strlen(name);
    return n <= SBSPEC_MAX_NAME && strspn(name + 1, NAME_REST) == n - 1;
}

bool sbspec_name_ok(const char *name)
{
    return name_ok(name);
}

bool sbspec_volume_name_ok(const char *name)
{
    return name_ok(name);
}

/* Every key of obj must be one of the n names; prefix is "" or "mounts[0]: ". */
static int known_fields(struct pctx *c, const char *prefix, json_t *obj, const char *const *names,
                        size_t n)
{
    const char *k;
    size_t klen;
    json_t *v;
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

/* A string without NUL bytes; *out points into v, *len (if not NULL) is its length. */
static int get_string(struct pctx *c, const char *field, json_t *v, const char **out, size_t *len)
{
    if (!json_is_string(v)) return fail(c, "%s: expected a string, got %s", field, json_kind(v));
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v))
        return fail(c, "%s: must not contain NUL bytes", field);
    if (len) *len = json_string_length(v);
    return 0;
}

/* A string that is one of the NULL-terminated choices; *out points into v. */
static int get_choice(struct pctx *c, const char *field, json_t *v, const char *const *choices,
                      const char **out)
{
    int ret = get_string(c, field, v, out, NULL);
    if (ret < 0) return ret;
    for (size_t i = 0; choices[i]; i++)
        if (strcmp(*out, choices[i]) == 0) return 0;

    char list[128] = "";
    size_t n = 0;
    for (size_t i = 0; choices[i]; i++) {
        const char *sep = i == 0 ? "" : choices[i + 1] ? ", " : " or ";
        int w = snprintf(list + n, sizeof(list) - n, "%s\"%s\"", sep, choices[i]);
        if (w < 0 || (size_t)w >= sizeof(list) - n) break;
        n += (size_t)w;
    }
    return fail(c, "%s: expected %s, got \"%.64s\"", field, list, *out);
}

/* A JSON integer in [min, max]. */
static int get_int(struct pctx *c, const char *field, json_t *v, json_int_t min, json_int_t max,
                   json_int_t *out)
{
    if (!json_is_integer(v))
        return fail(c, "%s: must be an integer from %lld to %lld, got %s", field, (long long)min,
                    (long long)max, json_kind(v));
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return fail(c, "%s: must be an integer from %lld to %lld", field, (long long)min,
                    (long long)max);
    *out = i;
    return 0;
}

/*
 * Cleans the path s into out (at least strlen(s) + 1 bytes): empty and "." components are
 * dropped, the others joined with one '/', a leading '/' kept; "" and "." give "", "/" gives "/".
 * ".." components are kept. Returns whether there was one.
 */
static bool clean_path(const char *s, char *out)
{
    bool dotdot = false;
    size_t n = 0;
    const char *p = s;

    if (*p == '/') out[n++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p) break;
        const char *comp = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - comp);
        if (len == 1 && comp[0] == '.') continue;
        if (len == 2 && comp[0] == '.' && comp[1] == '.') dotdot = true;
        if (n > 0 && out[n - 1] != '/') out[n++] = '/';
        memcpy(out + n, comp, len);
        n += len;
    }
    out[n] = '\0';
    return dotdot;
}

/* A path field, checked as kind says and cleaned into out. */
static int get_path(struct pctx *c, const char *field, json_t *v, enum path_kind kind,
                    char out[SBSPEC_MAX_PATH + 1])
{
    const char *s;
    size_t len;
    int ret = get_string(c, field, v, &s, &len);
    if (ret < 0) return ret;
    if (len > SBSPEC_MAX_PATH) return fail(c, "%s: longer than %d bytes", field, SBSPEC_MAX_PATH);
    if (kind == PATH_REL) {
        if (s[0] == '/') return fail(c, "%s: must be a relative path, got \"%.64s\"", field, s);
    } else if (s[0] != '/') {
        return fail(c, "%s: must be an absolute path, got \"%.64s\"", field, s);
    }
    if (clean_path(s, out) && kind != PATH_ABS_DOTDOT)
        return fail(c, "%s: must not contain .. (got \"%.64s\")", field, s);
    if (kind == PATH_REL && !out[0]) return fail(c, "%s: must not be empty", field);
    return 0;
}

/* A nullable path: JSON null when v is absent. */
static int path_json(struct pctx *c, const char *field, json_t *v, enum path_kind kind,
                     json_t **out)
{
    char buf[SBSPEC_MAX_PATH + 1];
    if (!v) {
        *out = json_null();
        return 0;
    }
    int ret = get_path(c, field, v, kind, buf);
    if (ret < 0) return ret;
    *out = json_string(buf);
    return *out ? 0 : oom(c);
}

/* --- mounts -------------------------------------------------------------------------------- */

static const char *const mount_fields[] = {"type",     "source",   "target", "subpath",
                                           "readonly", "filetype", "idmap"};
static const char *const idmap_fields[] = {"from", "to", "range"};
static const char *const mount_types[] = {"volume", "bind", NULL};
static const char *const filetypes[] = {"file", "directory", "infer", NULL};

/* mounts[mi].idmap[j] into a new object appended to arr. */
static int parse_idmap_entry(struct pctx *c, size_t mi, size_t j, json_t *e, json_t *arr)
{
    static const json_int_t mins[] = {0, 0, 1};
    static const json_int_t maxs[] = {SBSPEC_MAX_IDMAP_ID, SBSPEC_MAX_IDMAP_ID,
                                      SBSPEC_MAX_IDMAP_RANGE};
    char prefix[FIELD_MAX], pfx[FIELD_MAX], field[FIELD_MAX];
    json_int_t val[3];
    int ret;

    snprintf(prefix, sizeof(prefix), "mounts[%zu].idmap[%zu]", mi, j);
    snprintf(pfx, sizeof(pfx), "mounts[%zu].idmap[%zu]: ", mi, j);
    if (!json_is_object(e)) return fail(c, "%s: expected an object, got %s", prefix, json_kind(e));
    ret = known_fields(c, pfx, e, idmap_fields, SP_ARRAY_LEN(idmap_fields));
    if (ret < 0) return ret;
    for (size_t k = 0; k < SP_ARRAY_LEN(idmap_fields); k++) {
        json_t *v = get(e, idmap_fields[k]);
        snprintf(field, sizeof(field), "mounts[%zu].idmap[%zu].%s", mi, j, idmap_fields[k]);
        if (!v) return fail(c, "%s: is required", field);
        if ((ret = get_int(c, field, v, mins[k], maxs[k], &val[k])) < 0) return ret;
    }
    /* at most 2^32 - 2 + 2^32 - 1: no overflow in a 64-bit json_int_t */
    if (val[0] + val[2] > SBSPEC_IDMAP_END)
        return fail(c, "%s: from + range must be at most %lld", prefix, SBSPEC_IDMAP_END);
    if (val[1] + val[2] > SBSPEC_IDMAP_END)
        return fail(c, "%s: to + range must be at most %lld", prefix, SBSPEC_IDMAP_END);

    json_t *o = json_object();
    if (!o) return oom(c);
    if (json_array_append_new(arr, o) < 0) return oom(c);
    for (size_t k = 0; k < SP_ARRAY_LEN(idmap_fields); k++)
        if ((ret = set(c, o, idmap_fields[k], json_integer(val[k]))) < 0) return ret;
    return 0;
}

static int parse_idmap(struct pctx *c, size_t mi, json_t *v, json_t *out)
{
    char field[FIELD_MAX];
    json_t *e;
    size_t i;
    int ret;

    snprintf(field, sizeof(field), "mounts[%zu].idmap", mi);
    json_t *arr = json_array();
    if (set(c, out, "idmap", arr) < 0) return -ENOMEM;
    if (!v) return 0;
    if (!json_is_array(v)) return fail(c, "%s: expected an array, got %s", field, json_kind(v));
    if (json_array_size(v) > SBSPEC_MAX_IDMAP)
        return fail(c, "%s: %zu entries, at most %d", field, json_array_size(v), SBSPEC_MAX_IDMAP);
    json_array_foreach(v, i, e)
    {
        if ((ret = parse_idmap_entry(c, mi, i, e, arr)) < 0) return ret;
    }
    return 0;
}

/* mounts[i] into a new object appended to arr; target gets its cleaned target. */
static int parse_mount(struct pctx *c, size_t i, json_t *m, json_t *arr,
                       char target[SBSPEC_MAX_PATH + 1])
{
    char prefix[FIELD_MAX], pfx[FIELD_MAX], field[FIELD_MAX];
    char buf[SBSPEC_MAX_PATH + 1];
    const char *type, *s;
    json_t *v;
    int ret;

    snprintf(prefix, sizeof(prefix), "mounts[%zu]", i);
    if (!json_is_object(m)) return fail(c, "%s: expected an object, got %s", prefix, json_kind(m));
    snprintf(pfx, sizeof(pfx), "mounts[%zu]: ", i);
    ret = known_fields(c, pfx, m, mount_fields, SP_ARRAY_LEN(mount_fields));
    if (ret < 0) return ret;

    json_t *o = json_object();
    if (!o) return oom(c);
    if (json_array_append_new(arr, o) < 0) return oom(c);

    /* type */
    snprintf(field, sizeof(field), "mounts[%zu].type", i);
    if (!(v = get(m, "type"))) return fail(c, "%s: is required (\"volume\" or \"bind\")", field);
    if ((ret = get_choice(c, field, v, mount_types, &type)) < 0) return ret;
    if ((ret = set(c, o, "type", json_string(type))) < 0) return ret;

    /* source */
    snprintf(field, sizeof(field), "mounts[%zu].source", i);
    if (!(v = get(m, "source"))) return fail(c, "%s: is required", field);
    if (strcmp(type, "volume") == 0) {
        if ((ret = get_string(c, field, v, &s, NULL)) < 0) return ret;
        if (!sbspec_volume_name_ok(s))
            return fail(c,
                        "%s: \"%.64s\" is not a valid volume name (1 to %d letters, digits, '_', "
                        "'.' or '-', starting with a letter or digit)",
                        field, s, SBSPEC_MAX_NAME);
        if ((ret = set(c, o, "source", json_string(s))) < 0) return ret;
    } else {
        if ((ret = get_path(c, field, v, PATH_ABS, buf)) < 0) return ret;
        if ((ret = set(c, o, "source", json_string(buf))) < 0) return ret;
    }

    /* target */
    snprintf(field, sizeof(field), "mounts[%zu].target", i);
    if (!(v = get(m, "target"))) return fail(c, "%s: is required", field);
    if ((ret = get_path(c, field, v, PATH_ABS, target)) < 0) return ret;
    if (strcmp(target, "/") == 0) return fail(c, "%s: must not be /", field);
    size_t sl = strlen(SPRITE_DIR);
    if (strncmp(target, SPRITE_DIR, sl) == 0 && (target[sl] == '\0' || target[sl] == '/'))
        return fail(c, "%s: must not be %s or under it", field, SPRITE_DIR);
    if ((ret = set(c, o, "target", json_string(target))) < 0) return ret;

    /* subpath */
    json_t *sub;
    snprintf(field, sizeof(field), "mounts[%zu].subpath", i);
    if ((ret = path_json(c, field, get(m, "subpath"), PATH_REL, &sub)) < 0) return ret;
    if ((ret = set(c, o, "subpath", sub)) < 0) return ret;

    /* readonly */
    bool ro = false;
    if ((v = get(m, "readonly"))) {
        if (!json_is_boolean(v))
            return fail(c, "%s.readonly: expected a boolean, got %s", prefix, json_kind(v));
        ro = json_is_true(v);
    }
    if ((ret = set(c, o, "readonly", json_boolean(ro))) < 0) return ret;

    /* filetype */
    const char *ft = "infer";
    snprintf(field, sizeof(field), "mounts[%zu].filetype", i);
    if ((v = get(m, "filetype")) && (ret = get_choice(c, field, v, filetypes, &ft)) < 0) return ret;
    if ((ret = set(c, o, "filetype", json_string(ft))) < 0) return ret;

    return parse_idmap(c, i, get(m, "idmap"), o);
}

static int parse_mounts(struct pctx *c, json_t *req, json_t *out)
{
    json_t *v = get(req, "mounts"), *m;
    size_t i;
    int ret;

    json_t *arr = json_array();
    if (set(c, out, "mounts", arr) < 0) return -ENOMEM;
    if (!v) return 0;
    if (!json_is_array(v)) return fail(c, "mounts: expected an array, got %s", json_kind(v));
    if (json_array_size(v) > SBSPEC_MAX_MOUNTS)
        return fail(c, "mounts: %zu entries, at most %d", json_array_size(v), SBSPEC_MAX_MOUNTS);
    json_array_foreach(v, i, m)
    {
        char target[SBSPEC_MAX_PATH + 1];
        if ((ret = parse_mount(c, i, m, arr, target)) < 0) return ret;
        for (size_t j = 0; j < i; j++) {
            json_t *prev = json_object_get(json_array_get(arr, j), "target");
            if (strcmp(json_string_value(prev), target) == 0)
                return fail(c, "mounts[%zu].target: \"%.64s\" is already the target of mounts[%zu]",
                            i, target, j);
        }
    }
    return 0;
}

/* --- env, labels --------------------------------------------------------------------------- */

static bool env_key_ok(const char *k, size_t klen)
{
    return klen > 0 && klen <= SBSPEC_MAX_ENV_KEY && strlen(k) == klen && strchr(ENV_FIRST, k[0]) &&
           strspn(k + 1, ENV_REST) == klen - 1;
}

static int parse_env(struct pctx *c, json_t *req, json_t *out)
{
    json_t *v = get(req, "env"), *e;
    const char *k, *s;
    size_t klen, len;
    int ret;

    json_t *o = json_object();
    if (set(c, out, "env", o) < 0) return -ENOMEM;
    if (!v) return 0;
    if (!json_is_object(v)) return fail(c, "env: expected an object, got %s", json_kind(v));
    if (json_object_size(v) > SBSPEC_MAX_ENV)
        return fail(c, "env: %zu entries, at most %d", json_object_size(v), SBSPEC_MAX_ENV);
    json_object_keylen_foreach(v, k, klen, e)
    {
        char field[FIELD_MAX + 8];
        if (!env_key_ok(k, klen))
            return fail(c,
                        "env: \"%.64s\" is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*, at "
                        "most %d bytes)",
                        k, SBSPEC_MAX_ENV_KEY);
        snprintf(field, sizeof(field), "env.%.64s", k);
        if ((ret = get_string(c, field, e, &s, &len)) < 0) return ret;
        if (len > SBSPEC_MAX_ENV_VALUE)
            return fail(c, "%s: longer than %d bytes", field, SBSPEC_MAX_ENV_VALUE);
        if ((ret = set(c, o, k, json_stringn(s, len))) < 0) return ret;
    }
    return 0;
}

static int parse_labels(struct pctx *c, json_t *req, json_t *out)
{
    json_t *v = get(req, "labels"), *e;
    const char *k, *s;
    size_t klen, len;
    int ret;

    json_t *o = json_object();
    if (set(c, out, "labels", o) < 0) return -ENOMEM;
    if (!v) return 0;
    if (!json_is_object(v)) return fail(c, "labels: expected an object, got %s", json_kind(v));
    if (json_object_size(v) > SBSPEC_MAX_LABELS)
        return fail(c, "labels: %zu entries, at most %d", json_object_size(v), SBSPEC_MAX_LABELS);
    json_object_keylen_foreach(v, k, klen, e)
    {
        char field[FIELD_MAX + 8];
        if (strlen(k) != klen) return fail(c, "labels: a key must not contain NUL bytes");
        if (klen == 0) return fail(c, "labels: a key must not be empty");
        if (klen > SBSPEC_MAX_LABEL_BYTES)
            return fail(c, "labels: key \"%.64s...\" is longer than %d bytes", k,
                        SBSPEC_MAX_LABEL_BYTES);
        snprintf(field, sizeof(field), "labels.%.64s", k);
        if ((ret = get_string(c, field, e, &s, &len)) < 0) return ret;
        if (len > SBSPEC_MAX_LABEL_BYTES)
            return fail(c, "%s: longer than %d bytes", field, SBSPEC_MAX_LABEL_BYTES);
        if ((ret = set(c, o, k, json_stringn(s, len))) < 0) return ret;
    }
    return 0;
}

/* --- the rest ------------------------------------------------------------------------------ */

static const char *const top_fields[] = {
    "name",     "rootfs",  "image",     "mounts",  "env",    "user",   "workdir",
    "hostname", "network", "resources", "ttl_sec", "on_ttl", "labels",
};
static const char *const resource_fields[] = {"memory_mb", "cpus", "pids"};
static const char *const networks[] = {"none", "host", NULL};
static const char *const on_ttls[] = {"pause", "destroy", NULL};

static int parse_name(struct pctx *c, json_t *req, json_t *out)
{
    json_t *v = get(req, "name");
    const char *s;
    int ret;

    if (!v) return set(c, out, "name", json_null());
    if ((ret = get_string(c, "name", v, &s, NULL)) < 0) return ret;
    if (!sbspec_name_ok(s))
        return fail(c,
                    "name: \"%.64s\" is not a valid sandbox name (1 to %d letters, digits, '_', "
                    "'.' or '-', starting with a letter or digit)",
                    s, SBSPEC_MAX_NAME);
    return set(c, out, "name", json_string(s));
}

static int parse_root(struct pctx *c, json_t *req, json_t *out)
{
    json_t *rootfs = get(req, "rootfs"), *image = get(req, "image"), *p;
    int ret;

    if (!rootfs == !image) return fail(c, "exactly one of rootfs and image is required");
    if ((ret = path_json(c, "rootfs", rootfs, PATH_ABS, &p)) < 0) return ret;
    if ((ret = set(c, out, "rootfs", p)) < 0) return ret;
    if ((ret = path_json(c, "image", image, PATH_ABS, &p)) < 0) return ret;
    return set(c, out, "image", p);
}

static int parse_process(struct pctx *c, json_t *req, json_t *out)
{
    char buf[SBSPEC_MAX_PATH + 1];
    const char *s;
    size_t len;
    json_t *v;
    int ret;

    s = "root";
    if ((v = get(req, "user"))) {
        if ((ret = get_string(c, "user", v, &s, &len)) < 0) return ret;
        if (len == 0) return fail(c, "user: must not be empty");
        if (len > SBSPEC_MAX_USER) return fail(c, "user: longer than %d bytes", SBSPEC_MAX_USER);
        if (strchr(s, '/')) return fail(c, "user: must not contain '/'");
    }
    if ((ret = set(c, out, "user", json_string(s))) < 0) return ret;

    strcpy(buf, "/");
    if ((v = get(req, "workdir")) && (ret = get_path(c, "workdir", v, PATH_ABS_DOTDOT, buf)) < 0)
        return ret;
    if ((ret = set(c, out, "workdir", json_string(buf))) < 0) return ret;

    if ((v = get(req, "hostname"))) {
        if ((ret = get_string(c, "hostname", v, &s, &len)) < 0) return ret;
        if (len == 0 || len > SBSPEC_MAX_HOSTNAME || strspn(s, HOST_CHARS) != len || s[0] == '-' ||
            s[0] == '.')
            return fail(c,
                        "hostname: \"%.64s\" is not a valid hostname (1 to %d letters, digits, '.' "
                        "or '-', not starting with '.' or '-')",
                        s, SBSPEC_MAX_HOSTNAME);
        ret = set(c, out, "hostname", json_string(s));
    } else {
        ret = set(c, out, "hostname", json_null());
    }
    if (ret < 0) return ret;

    s = "none";
    if ((v = get(req, "network")) && (ret = get_choice(c, "network", v, networks, &s)) < 0)
        return ret;
    return set(c, out, "network", json_string(s));
}

static int parse_resources(struct pctx *c, json_t *req, json_t *out)
{
    json_t *v = get(req, "resources"), *f;
    json_int_t i;
    int ret;

    json_t *o = json_object();
    if (set(c, out, "resources", o) < 0) return -ENOMEM;
    if (v) {
        if (!json_is_object(v))
            return fail(c, "resources: expected an object, got %s", json_kind(v));
        ret = known_fields(c, "resources: ", v, resource_fields, SP_ARRAY_LEN(resource_fields));
        if (ret < 0) return ret;
    }

    f = v ? get(v, "memory_mb") : NULL;
    if (f && (ret = get_int(c, "resources.memory_mb", f, SBSPEC_MIN_MEMORY_MB, SBSPEC_MAX_MEMORY_MB,
                            &i)) < 0)
        return ret;
    if ((ret = set(c, o, "memory_mb", f ? json_integer(i) : json_null())) < 0) return ret;

    f = v ? get(v, "cpus") : NULL;
    double cpus = 0;
    if (f) {
        if (!json_is_number(f))
            return fail(c, "resources.cpus: must be a number from 0.01 to 1024, got %s",
                        json_kind(f));
        cpus = json_number_value(f);
        if (!isfinite(cpus) || cpus < SBSPEC_MIN_CPUS || cpus > SBSPEC_MAX_CPUS)
            return fail(c, "resources.cpus: must be a number from 0.01 to 1024");
    }
    if ((ret = set(c, o, "cpus", f ? json_real(cpus) : json_null())) < 0) return ret;

    f = v ? get(v, "pids") : NULL;
    if (f && (ret = get_int(c, "resources.pids", f, SBSPEC_MIN_PIDS, SBSPEC_MAX_PIDS, &i)) < 0)
        return ret;
    return set(c, o, "pids", f ? json_integer(i) : json_null());
}

static int parse_ttl(struct pctx *c, json_t *req, json_t *out)
{
    json_int_t ttl = 0;
    const char *s = "pause";
    json_t *v;
    int ret;

    if ((v = get(req, "ttl_sec")) &&
        (ret = get_int(c, "ttl_sec", v, 0, SBSPEC_MAX_TTL_SEC, &ttl)) < 0)
        return ret;
    if ((ret = set(c, out, "ttl_sec", json_integer(ttl))) < 0) return ret;
    if ((v = get(req, "on_ttl")) && (ret = get_choice(c, "on_ttl", v, on_ttls, &s)) < 0) return ret;
    return set(c, out, "on_ttl", json_string(s));
}

int sbspec_parse(json_t *req, json_t **out, struct sp_err *err)
{
    struct pctx c = {.err = err};
    int ret;

    if (!json_is_object(req))
        return fail(&c, "the request must be a JSON object, got %s",
                    req ? json_kind(req) : "nothing");
    if ((ret = known_fields(&c, "", req, top_fields, SP_ARRAY_LEN(top_fields))) < 0) return ret;

    json_t *o = json_object();
    if (!o) return oom(&c);
    if ((ret = parse_name(&c, req, o)) < 0 || (ret = parse_root(&c, req, o)) < 0 ||
        (ret = parse_mounts(&c, req, o)) < 0 || (ret = parse_env(&c, req, o)) < 0 ||
        (ret = parse_process(&c, req, o)) < 0 || (ret = parse_resources(&c, req, o)) < 0 ||
        (ret = parse_ttl(&c, req, o)) < 0 || (ret = parse_labels(&c, req, o)) < 0) {
        json_decref(o);
        return ret;
    }
    *out = o;
    return 0;
}
