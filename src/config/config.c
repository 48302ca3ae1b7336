/* SPDX-License-Identifier: MIT */
/* Configuration: see config.h and docs/config.md. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../base/str.h"

#define PATH_MAX_LEN 256

enum kind {
    K_STRING,
    K_BOOL,
    K_STRV,
    K_DURATION_MS,
    K_SIZE,
    K_UINT,
    K_LOG_LEVEL,
    K_LISTEN,
    K_RAW,
    K_OBJECT,
    K_COMPAT, /* accepted for compatibility with the Go sprite-env; has no effect here */
};

struct key {
    const char *name;
    enum kind kind;
    size_t offset;         /* into struct config */
    const struct key *sub; /* K_OBJECT */
    uint64_t min, max;     /* K_SIZE / K_UINT / K_DURATION_MS (ms) bounds */
};

#define OFF(f) offsetof(struct config, f)

static const struct key exec_keys[] = {
    {"wrapper_command", K_STRV, OFF(exec_wrapper_command), NULL, 0, 0},
    {"tty_wrapper_command", K_STRV, OFF(exec_tty_wrapper_command), NULL, 0, 0},
    {"max_processes", K_UINT, OFF(exec.max_processes), NULL, 1, 100000},
    {"max_args_bytes", K_SIZE, OFF(exec.max_args_bytes), NULL, 4096, 16 * 1024 * 1024},
    {"log_bytes", K_SIZE, OFF(exec.log_bytes), NULL, 256 * 1024, 1024ull * 1024 * 1024},
    {"retention", K_DURATION_MS, OFF(exec.retention_ms), NULL, 0, 7 * 86400000ull},
    {"drain_timeout", K_DURATION_MS, OFF(exec.drain_ms), NULL, 0, 60000},
    {"transcripts", K_BOOL, OFF(exec.transcripts), NULL, 0, 0},
    {"max_retained", K_UINT, OFF(exec.max_retained), NULL, 0, 1000000},
    {"default_user", K_STRING, OFF(exec.default_user), NULL, 0, 0},
    {"oom_score_adj", K_UINT, OFF(exec.oom_score_adj), NULL, 0, 1000},
    {NULL, 0, 0, NULL, 0, 0},
};

static const struct key docker_keys[] = {
    {"container_name", K_STRING, OFF(docker.container_name), NULL, 0, 0},
    {"max_execs", K_UINT, OFF(docker.max_execs), NULL, 1, 100000},
    {"exec_retention", K_DURATION_MS, OFF(docker.exec_retention_ms), NULL, 0, 7 * 86400000ull},
    {NULL, 0, 0, NULL, 0, 0},
};

static const struct key files_keys[] = {
    {"root", K_STRING, OFF(files_root), NULL, 0, 0},
    {NULL, 0, 0, NULL, 0, 0},
};

static const struct key services_keys[] = {
    {"socket", K_STRING, OFF(services.socket), NULL, 0, 0},
    {"ring_bytes", K_SIZE, OFF(services.ring_bytes), NULL, 4096, 64 * 1024 * 1024},
    {"log_file_bytes", K_SIZE, OFF(services.log_file_bytes), NULL, 4096, 1024ull * 1024 * 1024},
    {"log_files", K_UINT, OFF(services.log_files), NULL, 0, 100},
    {NULL, 0, 0, NULL, 0, 0},
};

static const struct key sandboxes_keys[] = {
    {"enabled", K_BOOL, OFF(sandboxes.enabled), NULL, 0, 0},
    {"max", K_UINT, OFF(sandboxes.max), NULL, 0, 4096},
    {"auto_resume", K_BOOL, OFF(sandboxes.auto_resume), NULL, 0, 0},
    {"create_timeout", K_DURATION_MS, OFF(sandboxes.create_timeout_ms), NULL, 100, 600000},
    {"image_cache", K_UINT, OFF(sandboxes.image_cache), NULL, 0, 4096},
    {NULL, 0, 0, NULL, 0, 0},
};

static const struct key http_keys[] = {
    {"max_header_bytes", K_SIZE, OFF(http.max_header_bytes), NULL, 1024, 80 * 1024},
    {"max_body_bytes", K_SIZE, OFF(http.max_body_bytes), NULL, 0, 1024ull * 1024 * 1024},
    {"max_connections", K_UINT, OFF(http.max_connections), NULL, 1, 100000},
    {"idle_timeout", K_DURATION_MS, OFF(http.idle_timeout_ms), NULL, 1, 86400000},
    {"request_timeout", K_DURATION_MS, OFF(http.request_timeout_ms), NULL, 1, 86400000},
    {"write_timeout", K_DURATION_MS, OFF(http.write_timeout_ms), NULL, 1, 86400000},
    {NULL, 0, 0, NULL, 0, 0},
};

static const struct key top_keys[] = {
    {"log_level", K_LOG_LEVEL, OFF(log_level), NULL, 0, 0},
    {"log_json", K_BOOL, OFF(log_json), NULL, 0, 0},
    {"api_listen_addr", K_LISTEN, OFF(listen), NULL, 0, 0},
    {"process_command", K_STRV, OFF(process_command), NULL, 0, 0},
    {"process_working_dir", K_STRING, OFF(process_working_dir), NULL, 0, 0},
    {"process_environment", K_STRV, OFF(process_environment), NULL, 0, 0},
    {"process_graceful_shutdown_timeout", K_DURATION_MS, OFF(graceful_ms), NULL, 0, 86400000},
    {"components", K_RAW, OFF(components), NULL, 0, 0},
    {"components_dir", K_STRING, OFF(components_dir), NULL, 0, 0},
    {"exec", K_OBJECT, 0, exec_keys, 0, 0},
    {"keep_alive_on_error", K_BOOL, OFF(keep_alive_on_error), NULL, 0, 0},
    {"debug_endpoints", K_BOOL, OFF(debug_endpoints), NULL, 0, 0},
    {"write_dir", K_STRING, OFF(write_dir), NULL, 0, 0},
    {"http", K_OBJECT, 0, http_keys, 0, 0},
    {"docker", K_OBJECT, 0, docker_keys, 0, 0},
    {"files", K_OBJECT, 0, files_keys, 0, 0},
    {"services", K_OBJECT, 0, services_keys, 0, 0},
    {"sandboxes", K_OBJECT, 0, sandboxes_keys, 0, 0},
    /* Keys of the Go original that belong to Fly's storage stack; accepted so their configs load.
     */
    {"s3", K_COMPAT, 0, NULL, 0, 0},
    {"debug", K_COMPAT, 0, NULL, 0, 0},
    {"tla_trace", K_COMPAT, 0, NULL, 0, 0},
    {"process_restart_max_retries", K_COMPAT, 0, NULL, 0, 0},
    {"process_restart_backoff_max", K_COMPAT, 0, NULL, 0, 0},
    {"exec_wrapper_command", K_COMPAT, 0, NULL, 0, 0},
    {"container_enabled", K_COMPAT, 0, NULL, 0, 0},
    {"juicefs_enabled", K_COMPAT, 0, NULL, 0, 0},
    {"juicefs_base_dir", K_COMPAT, 0, NULL, 0, 0},
    {"juicefs_local_mode", K_COMPAT, 0, NULL, 0, 0},
    {"juicefs_volume_name", K_COMPAT, 0, NULL, 0, 0},
    {"s3_access_key", K_COMPAT, 0, NULL, 0, 0},
    {"s3_secret_access_key", K_COMPAT, 0, NULL, 0, 0},
    {"s3_endpoint_url", K_COMPAT, 0, NULL, 0, 0},
    {"s3_bucket", K_COMPAT, 0, NULL, 0, 0},
    {"overlay_enabled", K_COMPAT, 0, NULL, 0, 0},
    {"overlay_image_size", K_COMPAT, 0, NULL, 0, 0},
    {"overlay_lower_path", K_COMPAT, 0, NULL, 0, 0},
    {"overlay_lower_paths", K_COMPAT, 0, NULL, 0, 0},
    {"overlay_target_path", K_COMPAT, 0, NULL, 0, 0},
    {"overlay_skip_overlayfs", K_COMPAT, 0, NULL, 0, 0},
    {"checkpoint_mount_path", K_COMPAT, 0, NULL, 0, 0},
    {"proxy_localhost_ipv4", K_COMPAT, 0, NULL, 0, 0},
    {"proxy_localhost_ipv6", K_COMPAT, 0, NULL, 0, 0},
    {NULL, 0, 0, NULL, 0, 0},
};

void config_init(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->log_level = SP_LOG_INFO;
    c->graceful_ms = 30000;
    c->http.max_header_bytes = 32 * 1024;
    c->http.max_body_bytes = 1024 * 1024;
    c->http.max_connections = 1024;
    c->http.idle_timeout_ms = 60000;
    c->http.request_timeout_ms = 30000;
    c->http.write_timeout_ms = 60000;
    c->exec.max_processes = 1024;
    c->exec.max_args_bytes = 256 * 1024;
    c->exec.log_bytes = 1024 * 1024;
    c->exec.retention_ms = 5 * 60000;
    c->exec.drain_ms = 250;
    c->exec.max_retained = 1000;
    c->docker.max_execs = 1024;
    c->docker.exec_retention_ms = 5 * 60000;
    c->services.ring_bytes = 256 * 1024;
    c->services.log_file_bytes = 1024 * 1024;
    c->services.log_files = 1;
    c->sandboxes.enabled = true;
    c->sandboxes.max = 256;
    c->sandboxes.create_timeout_ms = 10000;
    c->sandboxes.image_cache = 8;
}

bool config_docker_name_ok(const char *name)
{
    static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t n = strlen(name);
    return n > 0 && n <= 64 && strchr(first, name[0]) &&
           strspn(name + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
               n - 1;
}

void config_free(struct config *c)
{
    sp_strv_free(c->listen);
    sp_strv_free(c->process_command);
    free(c->process_working_dir);
    sp_strv_free(c->process_environment);
    free(c->components_dir);
    free(c->services.socket);
    free(c->exec.default_user);
    json_decref(c->components);
    sp_strv_free(c->exec_wrapper_command);
    sp_strv_free(c->exec_tty_wrapper_command);
    free(c->write_dir);
    free(c->api_token);
    free(c->config_path);
    free(c->docker.container_name);
    free(c->files_root);
    memset(c, 0, sizeof(*c));
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

static void path_join(char *out, const char *base, const char *key)
{
    if (base[0])
        snprintf(out, PATH_MAX_LEN, "%s.%s", base, key);
    else
        snprintf(out, PATH_MAX_LEN, "%s", key);
}

/*
 * Replaces every {"$env": "VAR"} object by the variable's value, anywhere in the tree. Returns a
 * new reference, or NULL with err filled (an unset variable is an error: silently running with
 * an empty token or address is worse than refusing to start).
 */
static json_t *env_subst(json_t *v, const char *path, struct sp_err *err)
{
    char sub[PATH_MAX_LEN];

    if (json_is_object(v)) {
        json_t *name = json_object_get(v, "$env");
        if (name && json_object_size(v) == 1) {
            if (!json_is_string(name)) {
                sp_err_set(err, -EINVAL, "%s: \"$env\" must name a variable (a string), got %s",
                           path[0] ? path : "(top)", json_kind(name));
                return NULL;
            }
            const char *val = getenv(json_string_value(name));
            if (!val) {
                sp_err_set(err, -EINVAL, "%s: environment variable %s is not set",
                           path[0] ? path : "(top)", json_string_value(name));
                return NULL;
            }
            return json_string(val);
        }
        json_t *out = json_object();
        const char *k;
        json_t *child;
        if (!out) goto oom;
        json_object_foreach(v, k, child)
        {
            path_join(sub, path, k);
            json_t *n = env_subst(child, sub, err);
            if (!n || json_object_set_new(out, k, n) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *child;
        if (!out) goto oom;
        json_array_foreach(v, i, child)
        {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            json_t *n = env_subst(child, sub, err);
            if (!n || json_array_append_new(out, n) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    return json_incref(v);
oom:
    sp_err_set(err, -ENOMEM, "out of memory");
    return NULL;
}

static int want(struct sp_err *err, const char *path, const char *what, const json_t *v)
{
    return sp_err_set(err, -EINVAL, "%s: expected %s, got %s", path, what, json_kind(v));
}

static int decode_bool(const json_t *v, const char *path, bool *out, struct sp_err *err)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v)) { /* from {"$env": …} */
        const char *s = json_string_value(v);
        if (!strcasecmp(s, "true") || !strcmp(s, "1")) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(s, "false") || !strcmp(s, "0") || !*s) {
            *out = false;
            return 0;
        }
        return sp_err_set(err, -EINVAL, "%s: expected a boolean, got \"%s\"", path, s);
    }
    return want(err, path, "a boolean", v);
}

static int decode_uint(const json_t *v, const char *path, uint64_t min, uint64_t max, uint64_t *out,
                       struct sp_err *err)
{
    uint64_t n;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return sp_err_set(err, -EINVAL, "%s: must not be negative", path);
        n = (uint64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        if (sp_parse_u64(json_string_value(v), UINT64_MAX, &n) < 0)
            return sp_err_set(err, -EINVAL, "%s: expected an integer, got \"%s\"", path,
                              json_string_value(v));
    } else {
        return want(err, path, "an integer", v);
    }
    if (n < min || n > max)
        return sp_err_set(err, -ERANGE, "%s: %llu is out of range [%llu, %llu]", path,
                          (unsigned long long)n, (unsigned long long)min, (unsigned long long)max);
    *out = n;
    return 0;
}

static int parse_duration_ms(const char *s, const char *what, uint64_t min, uint64_t max,
                             uint64_t *out, struct sp_err *err)
{
    uint64_t ns;
    if (sp_duration_parse(s, &ns) < 0)
        return sp_err_set(
            err, -EINVAL,
            "%s: invalid duration \"%s\" (use a number with a unit: 500ms, 30s, 1m30s)", what, s);
    uint64_t ms = ns / 1000000u + (ns % 1000000u ? 1 : 0);
    if (ms < min || ms > max) {
        char lo[32], hi[32];
        sp_duration_format(min * 1000000u, lo, sizeof(lo));
        sp_duration_format(max * 1000000u, hi, sizeof(hi));
        return sp_err_set(err, -ERANGE, "%s: duration \"%s\" is out of range [%s, %s]", what, s, lo,
                          hi);
    }
    *out = ms;
    return 0;
}

static int decode_strv(const json_t *v, const char *path, char ***out, struct sp_err *err)
{
    if (!json_is_array(v)) return want(err, path, "an array of strings", v);
    char **sv = sp_strv_new(json_array_size(v));
    if (!sv) return sp_err_set(err, -ENOMEM, "out of memory");
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            char p[PATH_MAX_LEN];
            snprintf(p, sizeof(p), "%s[%zu]", path, i);
            sp_strv_free(sv);
            return want(err, p, "a string", e);
        }
        sv[i] = strdup(json_string_value(e));
        if (!sv[i]) {
            sp_strv_free(sv);
            return sp_err_set(err, -ENOMEM, "out of memory");
        }
    }
    sp_strv_free(*out);
    *out = sv;
    return 0;
}

static int decode_object(struct config *c, const struct key *keys, const json_t *obj,
                         const char *path, struct sp_err *err);

static int decode_key(struct config *c, const struct key *k, const json_t *v, const char *path,
                      struct sp_err *err)
{
    void *field = (char *)c + k->offset;
    uint64_t n;
    int r;

    switch (k->kind) {
    case K_STRING:
        if (!json_is_string(v)) return want(err, path, "a string", v);
        free(*(char **)field);
        *(char **)field = strdup(json_string_value(v));
        return *(char **)field ? 0 : sp_err_set(err, -ENOMEM, "out of memory");
    case K_BOOL: return decode_bool(v, path, field, err);
    case K_STRV: return decode_strv(v, path, field, err);
    case K_DURATION_MS:
        if (!json_is_string(v)) return want(err, path, "a duration string such as \"30s\"", v);
        return parse_duration_ms(json_string_value(v), path, k->min, k->max, field, err);
    case K_SIZE:
        r = decode_uint(v, path, k->min, k->max, &n, err);
        if (r == 0) *(size_t *)field = (size_t)n;
        return r;
    case K_UINT:
        r = decode_uint(v, path, k->min, k->max, &n, err);
        if (r == 0) *(unsigned *)field = (unsigned)n;
        return r;
    case K_LOG_LEVEL:
        if (!json_is_string(v)) return want(err, path, "a string", v);
        if (sp_log_level_parse(json_string_value(v), field) < 0)
            return sp_err_set(err, -EINVAL,
                              "%s: unknown log level \"%s\" (debug, info, warn, error)", path,
                              json_string_value(v));
        return 0;
    case K_LISTEN:
        if (json_is_string(v)) {
            char **sv = sp_strv_new(1);
            if (!sv || !(sv[0] = strdup(json_string_value(v)))) {
                sp_strv_free(sv);
                return sp_err_set(err, -ENOMEM, "out of memory");
            }
            sp_strv_free(*(char ***)field);
            *(char ***)field = sv;
            return 0;
        }
        return decode_strv(v, path, field, err);
    case K_RAW:
        if (!json_is_object(v)) return want(err, path, "an object", v);
        json_decref(*(json_t **)field);
        *(json_t **)field = json_incref((json_t *)v);
        return 0;
    case K_OBJECT:
        if (!json_is_object(v)) return want(err, path, "an object", v);
        return decode_object(c, k->sub, v, path, err);
    case K_COMPAT:
        sp_debug("config: %s is accepted for compatibility and has no effect", path);
        return 0;
    }
    return 0;
}

static int decode_object(struct config *c, const struct key *keys, const json_t *obj,
                         const char *path, struct sp_err *err)
{
    const char *name;
    json_t *v;
    char sub[PATH_MAX_LEN];

    json_object_foreach((json_t *)obj, name, v)
    {
        path_join(sub, path, name);
        const struct key *k = keys;
        while (k->name && strcmp(k->name, name) != 0)
            k++;
        if (!k->name) {
            sp_warn("config: unknown key \"%s\" (ignored)", sub);
            continue;
        }
        int r = decode_key(c, k, v, sub, err);
        if (r < 0) return r;
    }
    return 0;
}

int config_apply_json(struct config *c, const char *text, size_t len, const char *origin,
                      struct sp_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return sp_err_set(err, -EINVAL, "%s: invalid JSON at line %d column %d: %s", origin,
                          jerr.line, jerr.column, jerr.text);
    int r;
    json_t *subst = env_subst(root, "", err);
    if (!subst) {
        r = sp_err_prefix(err, "%s: ", origin);
        goto out;
    }
    if (!json_is_object(subst)) {
        r = sp_err_set(err, -EINVAL, "%s: the top level must be a JSON object, got %s", origin,
                       json_kind(subst));
        goto out;
    }
    r = decode_object(c, top_keys, subst, "", err);
    if (r < 0) sp_err_prefix(err, "%s: ", origin);
out:
    json_decref(subst);
    json_decref(root);
    return r;
}

static int load_file(struct config *c, const char *path, struct sp_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f) return sp_err_set(err, -errno, "config file %s: %s", path, strerror(errno));
    char *data = NULL;
    size_t len = 0, cap = 0;
    int r = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= 16u * 1024 * 1024) {
                r = sp_err_set(err, -EFBIG, "config file %s: larger than 16 MiB", path);
                break;
            }
            cap = cap ? cap * 2 : 4096;
            char *p = realloc(data, cap);
            if (!p) {
                r = sp_err_set(err, -ENOMEM, "out of memory");
                break;
            }
            data = p;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) r = sp_err_set(err, -EIO, "config file %s: read error", path);
            break;
        }
    }
    fclose(f);
    if (r == 0) {
        char origin[PATH_MAX_LEN + 16];
        snprintf(origin, sizeof(origin), "config file %s", path);
        r = config_apply_json(c, data ? data : "", len, origin, err);
    }
    free(data);
    return r;
}

/* ---- command-line flags ---- */

enum flag_id {
    F_CONFIG,
    F_COMPONENTS_DIR,
    F_TEST_DIR,
    F_LISTEN,
    F_DEBUG,
    F_LOG_JSON,
    F_GRACEFUL,
    F_VERSION,
    F_DEBUG_ENDPOINTS,
    F_KEEP_ALIVE,
    F_SERVICES_SOCKET,
    F_HELP,
};

struct flag {
    const char *name;
    enum flag_id id;
    bool takes_value;
};

static const struct flag flags[] = {
    {"config", F_CONFIG, true},
    {"components-dir", F_COMPONENTS_DIR, true},
    {"test-dir", F_TEST_DIR, true},
    {"listen", F_LISTEN, true},
    {"debug", F_DEBUG, false},
    {"log-json", F_LOG_JSON, false},
    {"graceful-shutdown-timeout", F_GRACEFUL, true},
    {"version", F_VERSION, false},
    {"debug-endpoints", F_DEBUG_ENDPOINTS, false},
    {"keep-alive-on-error", F_KEEP_ALIVE, false},
    {"services-socket", F_SERVICES_SOCKET, true},
    {"help", F_HELP, false},
    {"h", F_HELP, false},
};

struct flag_value {
    bool set;
    const char *value; /* for value flags */
    bool on;           /* for booleans */
};

struct parsed_flags {
    struct flag_value v[F_HELP + 1];
    char **listen; /* every -listen, in order */
    int cmd_index; /* first argv index of the command, or argc */
};

static int parse_flags(int argc, char **argv, struct parsed_flags *pf, struct sp_err *err)
{
    int i = 1;
    memset(pf, 0, sizeof(*pf));
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') break; /* first non-flag: the command starts here */
        a += a[1] == '-' ? 2 : 1;
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const struct flag *f = NULL;
        for (size_t j = 0; j < SP_ARRAY_LEN(flags); j++) {
            if (strlen(flags[j].name) == nlen && strncmp(flags[j].name, a, nlen) == 0) {
                f = &flags[j];
                break;
            }
        }
        if (!f) return sp_err_set(err, -EINVAL, "unknown flag: %s (see -help)", argv[i]);
        struct flag_value *fv = &pf->v[f->id];
        if (f->takes_value) {
            const char *val;
            if (eq) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                return sp_err_set(err, -EINVAL, "flag -%s needs a value", f->name);
            }
            fv->set = true;
            fv->value = val;
            if (f->id == F_LISTEN && sp_strv_push(&pf->listen, val) < 0)
                return sp_err_set(err, -ENOMEM, "out of memory");
        } else {
            fv->set = true;
            fv->on = true;
            if (eq) {
                const char *val = eq + 1;
                if (!strcasecmp(val, "true") || !strcmp(val, "1"))
                    fv->on = true;
                else if (!strcasecmp(val, "false") || !strcmp(val, "0"))
                    fv->on = false;
                else
                    return sp_err_set(err, -EINVAL, "flag -%s: expected true or false, got \"%s\"",
                                      f->name, val);
            }
        }
    }
    pf->cmd_index = i;
    return 0;
}

static int set_str(char **field, const char *v, struct sp_err *err)
{
    char *s = strdup(v);
    if (!s) return sp_err_set(err, -ENOMEM, "out of memory");
    free(*field);
    *field = s;
    return 0;
}

/* -1 unset, 0/1; anything but true/1/yes/on or false/0/no/off/"" is a warning and false. */
static int env_true(const char *name)
{
    const char *v = getenv(name);
    if (!v) return -1;
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
        return 1;
    if (*v && strcasecmp(v, "false") && strcmp(v, "0") && strcasecmp(v, "no") &&
        strcasecmp(v, "off"))
        sp_warn("%s=\"%s\" is not a boolean (true/false): taken as false", name, v);
    return 0;
}

static int apply_env(struct config *c, struct sp_err *err)
{
    const char *v;
    int b;

    if ((v = getenv("SPRITE_HTTP_API_TOKEN")) && *v && set_str(&c->api_token, v, err) < 0)
        return err->code;
    if ((v = getenv("SPRITE_WRITE_DIR")) && *v && set_str(&c->write_dir, v, err) < 0)
        return err->code;
    if ((b = env_true("SPRITE_KEEP_ALIVE_ON_ERROR")) >= 0) c->keep_alive_on_error = b;
    if ((v = getenv("LOG_LEVEL")) && *v && sp_log_level_parse(v, &c->log_level) < 0)
        return sp_err_set(err, -EINVAL, "LOG_LEVEL: unknown log level \"%s\"", v);
    if ((b = env_true("LOG_JSON")) >= 0) c->log_json = b;
    return 0;
}

static int apply_flags(struct config *c, const struct parsed_flags *pf, int argc, char **argv,
                       struct sp_err *err)
{
    const struct flag_value *v = pf->v;

    if (v[F_DEBUG].set && v[F_DEBUG].on) c->log_level = SP_LOG_DEBUG;
    if (v[F_LOG_JSON].set) c->log_json = v[F_LOG_JSON].on;
    if (v[F_DEBUG_ENDPOINTS].set) c->debug_endpoints = v[F_DEBUG_ENDPOINTS].on;
    if (v[F_KEEP_ALIVE].set) c->keep_alive_on_error = v[F_KEEP_ALIVE].on;
    if (v[F_GRACEFUL].set && parse_duration_ms(v[F_GRACEFUL].value, "-graceful-shutdown-timeout", 0,
                                               86400000, &c->graceful_ms, err) < 0)
        return err->code;
    if (v[F_SERVICES_SOCKET].set &&
        set_str(&c->services.socket, v[F_SERVICES_SOCKET].value, err) < 0)
        return err->code;
    if (v[F_COMPONENTS_DIR].set && set_str(&c->components_dir, v[F_COMPONENTS_DIR].value, err) < 0)
        return err->code;
    if (v[F_TEST_DIR].set && set_str(&c->components_dir, v[F_TEST_DIR].value, err) < 0)
        return err->code;
    if (pf->listen) {
        char **dup = sp_strv_dup(pf->listen);
        if (!dup) return sp_err_set(err, -ENOMEM, "out of memory");
        sp_strv_free(c->listen);
        c->listen = dup;
    }
    if (pf->cmd_index < argc) {
        char **cmd = sp_strv_dup(argv + pf->cmd_index);
        if (!cmd) return sp_err_set(err, -ENOMEM, "out of memory");
        sp_strv_free(c->process_command);
        c->process_command = cmd;
    }
    return 0;
}

int config_load(struct config *c, int argc, char **argv, struct sp_err *err)
{
    struct parsed_flags pf;
    int r = parse_flags(argc, argv, &pf, err);
    if (r < 0) goto out;
    c->show_version = pf.v[F_VERSION].on;
    c->show_help = pf.v[F_HELP].on;
    if (c->show_version || c->show_help) goto out;

    if (pf.v[F_CONFIG].set) {
        if ((r = set_str(&c->config_path, pf.v[F_CONFIG].value, err)) < 0) goto out;
        if ((r = load_file(c, c->config_path, err)) < 0) goto out;
    }
    if ((r = apply_env(c, err)) < 0) goto out;
    if ((r = apply_flags(c, &pf, argc, argv, err)) < 0) goto out;

    if (c->process_command && !c->process_command[0]) {
        sp_strv_free(c->process_command);
        c->process_command = NULL;
    }
    if (c->process_command && !c->process_command[0][0]) {
        r = sp_err_set(err, -EINVAL, "process_command: the program name is empty");
        goto out;
    }
    if (!c->listen || !c->listen[0]) {
        sp_strv_free(c->listen);
        c->listen = sp_strv_new(1);
        if (!c->listen || !(c->listen[0] = strdup(CONFIG_DEFAULT_LISTEN))) {
            r = sp_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; c->process_environment && c->process_environment[i]; i++) {
        const char *kv = c->process_environment[i];
        if (!strchr(kv, '=') || kv[0] == '=') {
            r = sp_err_set(err, -EINVAL,
                           "process_environment[%zu]: expected \"KEY=VALUE\", got \"%s\"", i, kv);
            goto out;
        }
    }
    if (c->docker.container_name && !config_docker_name_ok(c->docker.container_name)) {
        r = sp_err_set(err, -EINVAL,
                       "docker.container_name: \"%s\" is not a container name "
                       "([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64 characters)",
                       c->docker.container_name);
        goto out;
    }
out:
    sp_strv_free(pf.listen);
    return r;
}

void config_print_usage(void)
{
    fputs("usage: sprite-env [options] [-- command args...]\n"
          "\n"
          "  -config FILE                      JSON configuration file (see docs/config.md)\n"
          "  -components-dir DIR               directory of component definitions\n"
          "  -services-socket PATH             the local services socket (\"\" for none;\n"
          "                                    default <write dir>/sprite.sock)\n"
          "  -listen ADDR                      API address: :8080, 127.0.0.1:8080, [::1]:8080 or\n"
          "                                    unix:/path/to.sock (repeatable; "
          "default " CONFIG_DEFAULT_LISTEN ")\n"
          "  -debug                            debug logging\n"
          "  -log-json                         logs as JSON lines\n"
          "  -graceful-shutdown-timeout DUR    wait before SIGKILL on shutdown (default 30s)\n"
          "  -keep-alive-on-error              keep serving when the main process fails\n"
          "  -debug-endpoints                  enable /debug/* routes (testing only)\n"
          "  -version                          print the version and exit\n"
          "\n"
          "Flags may be written -flag, --flag, -flag=value or -flag value.\n"
          "Environment: SPRITE_HTTP_API_TOKEN, SPRITE_WRITE_DIR, SPRITE_KEEP_ALIVE_ON_ERROR,\n"
          "LOG_LEVEL, LOG_JSON.\n",
          stdout);
}
