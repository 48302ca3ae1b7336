/* SPDX-License-Identifier: MIT */
/*
 * config.json (OCI runtime-spec 1.0/1.1) into struct oci_spec: see oci.h. Every getter checks
 * the JSON type and names the JSON path in its error ("process.args[2]: must be a string, got a
 * number"). A JSON null counts as absent, as it does for runc (Go decodes null to the zero
 * value). The spec is filled in place, with each array's count set as soon as the array is
 * allocated, so oci_spec_free can release a half-built one on any error path.
 */
#include "oci.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/str.h"

/* Room for a JSON path such as "hooks.createContainer[12].args[3]" or "linux.sysctl.<key>". */
#define JPATH_MAX 192

/* --- tables ---------------------------------------------------------------------------------- */

static const char *const cap_names[] = {
    [0] = "CAP_CHOWN",
    [1] = "CAP_DAC_OVERRIDE",
    [2] = "CAP_DAC_READ_SEARCH",
    [3] = "CAP_FOWNER",
    [4] = "CAP_FSETID",
    [5] = "CAP_KILL",
    [6] = "CAP_SETGID",
    [7] = "CAP_SETUID",
    [8] = "CAP_SETPCAP",
    [9] = "CAP_LINUX_IMMUTABLE",
    [10] = "CAP_NET_BIND_SERVICE",
    [11] = "CAP_NET_BROADCAST",
    [12] = "CAP_NET_ADMIN",
    [13] = "CAP_NET_RAW",
    [14] = "CAP_IPC_LOCK",
    [15] = "CAP_IPC_OWNER",
    [16] = "CAP_SYS_MODULE",
    [17] = "CAP_SYS_RAWIO",
    [18] = "CAP_SYS_CHROOT",
    [19] = "CAP_SYS_PTRACE",
    [20] = "CAP_SYS_PACCT",
    [21] = "CAP_SYS_ADMIN",
    [22] = "CAP_SYS_BOOT",
    [23] = "CAP_SYS_NICE",
    [24] = "CAP_SYS_RESOURCE",
    [25] = "CAP_SYS_TIME",
    [26] = "CAP_SYS_TTY_CONFIG",
    [27] = "CAP_MKNOD",
    [28] = "CAP_LEASE",
    [29] = "CAP_AUDIT_WRITE",
    [30] = "CAP_AUDIT_CONTROL",
    [31] = "CAP_SETFCAP",
    [32] = "CAP_MAC_OVERRIDE",
    [33] = "CAP_MAC_ADMIN",
    [34] = "CAP_SYSLOG",
    [35] = "CAP_WAKE_ALARM",
    [36] = "CAP_BLOCK_SUSPEND",
    [37] = "CAP_AUDIT_READ",
    [38] = "CAP_PERFMON",
    [39] = "CAP_BPF",
    [40] = "CAP_CHECKPOINT_RESTORE",
};

static const struct {
    const char *name;
    int resource;
} rlimit_table[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

static const struct {
    const char *name;      /* in linux.namespaces[].type */
    const char *proc_name; /* in /proc/PID/ns/ */
    int clone_flag;
} ns_table[OCI_NS_COUNT] = {
    [OCI_NS_PID] = {"pid", "pid", CLONE_NEWPID},
    [OCI_NS_NET] = {"network", "net", CLONE_NEWNET},
    [OCI_NS_MOUNT] = {"mount", "mnt", CLONE_NEWNS},
    [OCI_NS_IPC] = {"ipc", "ipc", CLONE_NEWIPC},
    [OCI_NS_UTS] = {"uts", "uts", CLONE_NEWUTS},
    [OCI_NS_USER] = {"user", "user", CLONE_NEWUSER},
    [OCI_NS_CGROUP] = {"cgroup", "cgroup", CLONE_NEWCGROUP},
};

int oci_cap_from_name(const char *name)
{
    if (!name) return -1;
    for (size_t i = 0; i < SP_ARRAY_LEN(cap_names); i++)
        if (strcmp(cap_names[i], name) == 0) return (int)i;
    return -1;
}

const char *oci_cap_name(int cap)
{
    if (cap < 0 || (size_t)cap >= SP_ARRAY_LEN(cap_names)) return NULL;
    return cap_names[cap];
}

int oci_rlimit_from_name(const char *name)
{
    if (!name) return -1;
    for (size_t i = 0; i < SP_ARRAY_LEN(rlimit_table); i++)
        if (strcmp(rlimit_table[i].name, name) == 0) return rlimit_table[i].resource;
    return -1;
}

int oci_ns_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < OCI_NS_COUNT; i++)
        if (strcmp(ns_table[i].name, name) == 0) return i;
    return -1;
}

int oci_ns_clone_flag(enum oci_ns_type t)
{
    if ((int)t < 0 || t >= OCI_NS_COUNT) return 0;
    return ns_table[t].clone_flag;
}

const char *oci_ns_proc_name(enum oci_ns_type t)
{
    if ((int)t < 0 || t >= OCI_NS_COUNT) return NULL;
    return ns_table[t].proc_name;
}

/* --- freeing --------------------------------------------------------------------------------- */

void oci_process_clear(struct oci_process *p)
{
    if (!p) return;
    free(p->additional_gids);
    sp_strv_free(p->args);
    sp_strv_free(p->env);
    free(p->cwd);
    free(p->rlimits);
    memset(p, 0, sizeof(*p));
}

static void hook_list_clear(struct oci_hook_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        sp_strv_free(l->v[i].args);
        sp_strv_free(l->v[i].env);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void oci_spec_free(struct oci_spec *s)
{
    if (!s) return;
    free(s->oci_version);
    free(s->root_path);
    oci_process_clear(&s->process);
    free(s->hostname);
    for (size_t i = 0; i < s->n_mounts; i++) {
        free(s->mounts[i].destination);
        free(s->mounts[i].type);
        free(s->mounts[i].source);
        sp_strv_free(s->mounts[i].options);
        free(s->mounts[i].uid_mappings);
        free(s->mounts[i].gid_mappings);
    }
    free(s->mounts);
    for (int i = 0; i < OCI_NS_COUNT; i++)
        free(s->ns[i].path);
    free(s->uid_mappings);
    free(s->gid_mappings);
    sp_strv_free(s->masked_paths);
    sp_strv_free(s->readonly_paths);
    for (size_t i = 0; i < s->n_sysctls; i++) {
        free(s->sysctls[i].key);
        free(s->sysctls[i].value);
    }
    free(s->sysctls);
    for (size_t i = 0; i < s->n_devices; i++)
        free(s->devices[i].path);
    free(s->devices);
    free(s->cgroups_path);
    json_decref(s->resources);
    free(s->rootfs_propagation);
    hook_list_clear(&s->prestart);
    hook_list_clear(&s->create_runtime);
    hook_list_clear(&s->create_container);
    hook_list_clear(&s->start_container);
    hook_list_clear(&s->poststart);
    hook_list_clear(&s->poststop);
    json_decref(s->seccomp);
    json_decref(s->annotations);
    free(s);
}

/* --- typed getters -----------------------------------------------------------------------------
 */

static int fail(struct sp_err *err, const char *path, const char *fmt, ...) SP_PRINTF(3, 4);

/* Fills err as "<path>: <message>" and returns -EINVAL. */
static int fail(struct sp_err *err, const char *path, const char *fmt, ...)
{
    char msg[SP_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sp_err_set(err, -EINVAL, "%s: %s", path, msg);
}

static int oom(struct sp_err *err)
{
    return sp_err_set(err, -ENOMEM, "out of memory");
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

/* Marks a path that did not fit (n: what snprintf returned). */
static const char *jtrunc(char *buf, int n)
{
    if (n < 0 || n >= JPATH_MAX) memcpy(buf + JPATH_MAX - 4, "...", 4);
    return buf;
}

/* "base.key" (or "key" at the top). */
static const char *jkey(char *buf, const char *base, const char *key)
{
    if (base[0]) return jtrunc(buf, snprintf(buf, JPATH_MAX, "%s.%s", base, key));
    return jtrunc(buf, snprintf(buf, JPATH_MAX, "%s", key));
}

/* "base[i]". */
static const char *jidx(char *buf, const char *base, size_t i)
{
    return jtrunc(buf, snprintf(buf, JPATH_MAX, "%s[%zu]", base, i));
}

/* obj[key], with a JSON null read as absent. */
static json_t *member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int want_object(struct sp_err *err, const char *path, json_t *v)
{
    return json_is_object(v) ? 0 : fail(err, path, "must be an object, got %s", json_kind(v));
}

static int want_array(struct sp_err *err, const char *path, json_t *v)
{
    return json_is_array(v) ? 0 : fail(err, path, "must be an array, got %s", json_kind(v));
}

/* A string without NUL bytes; *out points into v. */
static int get_string(struct sp_err *err, const char *path, json_t *v, const char **out)
{
    if (!json_is_string(v)) return fail(err, path, "must be a string, got %s", json_kind(v));
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(err, path, "must not contain NUL bytes");
    *out = json_string_value(v);
    return 0;
}

static int dup_string(struct sp_err *err, const char *path, json_t *v, char **out)
{
    const char *s;
    int r = get_string(err, path, v, &s);
    if (r < 0) return r;
    if (!(*out = strdup(s))) return oom(err);
    return 0;
}

/* A string that is an absolute path. */
static int dup_abs_path(struct sp_err *err, const char *path, json_t *v, char **out)
{
    const char *s;
    int r = get_string(err, path, v, &s);
    if (r < 0) return r;
    if (s[0] != '/') return fail(err, path, "must be absolute, got \"%.64s\"", s);
    if (strlen(s) >= PATH_MAX) return fail(err, path, "longer than %d bytes", PATH_MAX - 1);
    if (!(*out = strdup(s))) return oom(err);
    return 0;
}

static int get_bool(struct sp_err *err, const char *path, json_t *v, bool *out)
{
    if (!json_is_boolean(v)) return fail(err, path, "must be a boolean, got %s", json_kind(v));
    *out = json_is_true(v);
    return 0;
}

/* A JSON integer in [min, max]. */
static int get_int(struct sp_err *err, const char *path, json_t *v, int64_t min, int64_t max,
                   int64_t *out)
{
    if (!json_is_integer(v)) return fail(err, path, "must be an integer, got %s", json_kind(v));
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return fail(err, path, "must be between %lld and %lld, got %lld", (long long)min,
                    (long long)max, (long long)i);
    *out = (int64_t)i;
    return 0;
}

/* A uid or gid: 0 .. 2^32-2 ((uid_t)-1 means "unchanged" to the kernel). */
static int get_id(struct sp_err *err, const char *path, json_t *v, uint32_t *out)
{
    int64_t i;
    int r = get_int(err, path, v, 0, (int64_t)UINT32_MAX - 1, &i);
    if (r == 0) *out = (uint32_t)i;
    return r;
}

/* An array of strings (or nothing: v NULL) into a new, possibly empty vector. */
static int get_strv(struct sp_err *err, const char *path, json_t *v, char ***out)
{
    char p[JPATH_MAX];
    size_t n = v ? json_array_size(v) : 0;
    if (v) {
        int r = want_array(err, path, v);
        if (r < 0) return r;
    }
    char **sv = sp_strv_new(n);
    if (!sv) return oom(err);
    for (size_t i = 0; i < n; i++) {
        int r = dup_string(err, jidx(p, path, i), json_array_get(v, i), &sv[i]);
        if (r < 0) {
            sp_strv_free(sv);
            return r;
        }
    }
    *out = sv;
    return 0;
}

/* A string-valued member into *out (left NULL when absent). */
static int opt_string(struct sp_err *err, const char *base, json_t *obj, const char *key,
                      char **out)
{
    char p[JPATH_MAX];
    json_t *v = member(obj, key);
    return v ? dup_string(err, jkey(p, base, key), v, out) : 0;
}

/* An array into a zeroed allocation of its size elements of sz bytes each (*mem NULL when the
 * array is empty); the caller sets the count to json_array_size(v). */
static int alloc_array(struct sp_err *err, const char *path, json_t *v, size_t sz, void **mem)
{
    int r = want_array(err, path, v);
    if (r < 0) return r;
    *mem = NULL;
    if (json_array_size(v) == 0) return 0;
    if (!(*mem = calloc(json_array_size(v), sz))) return oom(err);
    return 0;
}

/* --- process --------------------------------------------------------------------------------- */

/* "CAP_" then an upper-case letter, then upper-case letters, digits and '_'. */
static bool cap_name_ok(const char *s)
{
    if (strncmp(s, "CAP_", 4) != 0) return false;
    s += 4;
    if (*s < 'A' || *s > 'Z') return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_')) return false;
    return true;
}

static int parse_cap_set(struct sp_err *err, const char *path, json_t *v, uint64_t *mask)
{
    char p[JPATH_MAX];
    int r = want_array(err, path, v);
    if (r < 0) return r;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        const char *name;
        if ((r = get_string(err, jidx(p, path, i), e, &name)) < 0) return r;
        if (!cap_name_ok(name))
            return fail(err, p, "\"%.64s\" is not a capability name (such as \"CAP_CHOWN\")", name);
        int cap = oci_cap_from_name(name);
        /* a newer capability than we know: callers may send the full list of a newer kernel */
        if (cap < 0) continue;
        *mask |= UINT64_C(1) << cap;
    }
    return 0;
}

static int parse_caps(struct sp_err *err, const char *path, json_t *v, struct oci_caps *caps)
{
    static const char *const sets[] = {"bounding", "effective", "permitted", "inheritable",
                                       "ambient"};
    uint64_t *masks[] = {&caps->bounding, &caps->effective, &caps->permitted, &caps->inheritable,
                         &caps->ambient};
    char p[JPATH_MAX];
    int r = want_object(err, path, v);
    if (r < 0) return r;
    caps->has_caps = true;
    for (size_t i = 0; i < SP_ARRAY_LEN(sets); i++) {
        json_t *set = member(v, sets[i]);
        if (set && (r = parse_cap_set(err, jkey(p, path, sets[i]), set, masks[i])) < 0) return r;
    }
    return 0;
}

/* An rlimit value: a non-negative integer, or -1 for RLIM_INFINITY (see fix_big_integers). */
static int get_rlim(struct sp_err *err, const char *path, json_t *v, uint64_t *out)
{
    int64_t i;
    int r = get_int(err, path, v, -1, INT64_MAX, &i);
    if (r < 0) return r;
    *out = i < 0 ? (uint64_t)RLIM_INFINITY : (uint64_t)i;
    return 0;
}

static int parse_rlimits(struct sp_err *err, const char *path, json_t *v, struct oci_process *p)
{
    char ep[JPATH_MAX], fp[JPATH_MAX];
    void *mem;
    int r = alloc_array(err, path, v, sizeof(*p->rlimits), &mem);
    if (r < 0) return r;
    p->rlimits = mem;
    p->n_rlimits = json_array_size(v);
    for (size_t i = 0; i < p->n_rlimits; i++) {
        struct oci_rlimit *rl = &p->rlimits[i];
        json_t *e = json_array_get(v, i);
        const char *type;
        jidx(ep, path, i);
        if ((r = want_object(err, ep, e)) < 0) return r;
        json_t *t = member(e, "type");
        if (!t) return fail(err, jkey(fp, ep, "type"), "is required");
        if ((r = get_string(err, jkey(fp, ep, "type"), t, &type)) < 0) return r;
        rl->resource = oci_rlimit_from_name(type);
        if (rl->resource < 0) return fail(err, fp, "unknown rlimit type \"%.64s\"", type);
        for (size_t j = 0; j < i; j++)
            if (p->rlimits[j].resource == rl->resource)
                return fail(err, fp, "rlimit type \"%s\" is listed twice", type);
        json_t *hard = member(e, "hard"), *soft = member(e, "soft");
        if (!hard) return fail(err, jkey(fp, ep, "hard"), "is required");
        if (!soft) return fail(err, jkey(fp, ep, "soft"), "is required");
        if ((r = get_rlim(err, jkey(fp, ep, "hard"), hard, &rl->hard)) < 0) return r;
        if ((r = get_rlim(err, jkey(fp, ep, "soft"), soft, &rl->soft)) < 0) return r;
        if (rl->soft > rl->hard)
            return fail(err, ep, "%s: the soft limit is above the hard limit", type);
    }
    return 0;
}

static int parse_user(struct sp_err *err, const char *path, json_t *v, struct oci_process *p)
{
    char fp[JPATH_MAX], ep[JPATH_MAX];
    json_t *f;
    int64_t i;
    int r = want_object(err, path, v);
    if (r < 0) return r;
    if ((f = member(v, "uid")) && (r = get_id(err, jkey(fp, path, "uid"), f, &p->uid)) < 0)
        return r;
    if ((f = member(v, "gid")) && (r = get_id(err, jkey(fp, path, "gid"), f, &p->gid)) < 0)
        return r;
    if ((f = member(v, "additionalGids"))) {
        jkey(fp, path, "additionalGids");
        void *mem;
        if ((r = alloc_array(err, fp, f, sizeof(gid_t), &mem)) < 0) return r;
        p->additional_gids = mem;
        p->n_additional_gids = json_array_size(f);
        for (size_t k = 0; k < p->n_additional_gids; k++) {
            uint32_t g = 0;
            if ((r = get_id(err, jidx(ep, fp, k), json_array_get(f, k), &g)) < 0) return r;
            p->additional_gids[k] = g;
        }
    }
    if ((f = member(v, "umask"))) {
        if ((r = get_int(err, jkey(fp, path, "umask"), f, 0, 0777, &i)) < 0) return r;
        p->has_umask = true;
        p->umask = (mode_t)i;
    }
    return 0;
}

/* The "process" object at path into *p (zeroed first; partly filled on failure). */
static int parse_process(struct sp_err *err, const char *path, json_t *v, struct oci_process *p)
{
    char fp[JPATH_MAX], ep[JPATH_MAX];
    json_t *f;
    int64_t i;
    int r;

    memset(p, 0, sizeof(*p));
    if ((r = want_object(err, path, v)) < 0) return r;

    if ((f = member(v, "terminal")) &&
        (r = get_bool(err, jkey(fp, path, "terminal"), f, &p->terminal)) < 0)
        return r;
    if ((f = member(v, "consoleSize"))) {
        json_t *d;
        jkey(ep, path, "consoleSize");
        if ((r = want_object(err, ep, f)) < 0) return r;
        if ((d = member(f, "height"))) {
            if ((r = get_int(err, jkey(fp, ep, "height"), d, 0, 65535, &i)) < 0) return r;
            p->console_height = (unsigned)i;
        }
        if ((d = member(f, "width"))) {
            if ((r = get_int(err, jkey(fp, ep, "width"), d, 0, 65535, &i)) < 0) return r;
            p->console_width = (unsigned)i;
        }
    }
    if ((f = member(v, "user")) && (r = parse_user(err, jkey(fp, path, "user"), f, p)) < 0)
        return r;

    if (!(f = member(v, "args"))) return fail(err, jkey(fp, path, "args"), "is required");
    if ((r = get_strv(err, jkey(fp, path, "args"), f, &p->args)) < 0) return r;
    if (!p->args[0]) return fail(err, fp, "must not be empty");
    if (!p->args[0][0]) return fail(err, jidx(ep, fp, 0), "must not be empty");

    if ((r = get_strv(err, jkey(fp, path, "env"), member(v, "env"), &p->env)) < 0) return r;
    for (size_t k = 0; p->env[k]; k++) {
        const char *eq = strchr(p->env[k], '=');
        if (!eq || eq == p->env[k])
            return fail(err, jidx(ep, fp, k), "\"%.64s\" is not of the form \"KEY=VALUE\"",
                        p->env[k]);
    }

    if ((f = member(v, "cwd"))) {
        if ((r = dup_abs_path(err, jkey(fp, path, "cwd"), f, &p->cwd)) < 0) return r;
    } else if (!(p->cwd = strdup("/"))) {
        return oom(err);
    }

    if ((f = member(v, "capabilities")) &&
        (r = parse_caps(err, jkey(fp, path, "capabilities"), f, &p->caps)) < 0)
        return r;
    if ((f = member(v, "rlimits")) && (r = parse_rlimits(err, jkey(fp, path, "rlimits"), f, p)) < 0)
        return r;
    if ((f = member(v, "noNewPrivileges")) &&
        (r = get_bool(err, jkey(fp, path, "noNewPrivileges"), f, &p->no_new_privileges)) < 0)
        return r;
    if ((f = member(v, "oomScoreAdj"))) {
        if ((r = get_int(err, jkey(fp, path, "oomScoreAdj"), f, -1000, 1000, &i)) < 0) return r;
        p->has_oom_score_adj = true;
        p->oom_score_adj = (int)i;
    }
    /* apparmorProfile, selinuxLabel, ioPriority, scheduler, execCPUAffinity: not honoured */
    return 0;
}

int oci_process_from_json(json_t *obj, struct oci_process *p, struct sp_err *err)
{
    int r = parse_process(err, "process", obj, p);
    if (r < 0) oci_process_clear(p);
    return r;
}

/* --- id mappings ----------------------------------------------------------------------------- */

/* A uidMappings/gidMappings array at path into *out (*n entries); max: at most that many entries
 * (0: no limit). */
static int parse_idmaps(struct sp_err *err, const char *path, json_t *v, size_t max,
                        struct oci_idmap **out, size_t *n)
{
    static const char *const keys[] = {"containerID", "hostID", "size"};
    char ep[JPATH_MAX], fp[JPATH_MAX];
    void *mem;
    int r = alloc_array(err, path, v, sizeof(**out), &mem);
    if (r < 0) return r;
    *out = mem;
    *n = json_array_size(v);
    if (max && *n > max) return fail(err, path, "more than %zu entries", max);
    for (size_t i = 0; i < *n; i++) {
        json_t *e = json_array_get(v, i);
        int64_t vals[3];
        jidx(ep, path, i);
        if ((r = want_object(err, ep, e)) < 0) return r;
        for (size_t k = 0; k < 3; k++) {
            json_t *f = member(e, keys[k]);
            if (!f) return fail(err, jkey(fp, ep, keys[k]), "is required");
            if ((r = get_int(err, jkey(fp, ep, keys[k]), f, 0, UINT32_MAX, &vals[k])) < 0) return r;
        }
        if (vals[2] == 0) return fail(err, jkey(fp, ep, "size"), "must be more than 0");
        if (vals[0] + vals[2] > (int64_t)UINT32_MAX + 1 ||
            vals[1] + vals[2] > (int64_t)UINT32_MAX + 1)
            return fail(err, ep, "the range goes beyond 4294967295");
        (*out)[i] = (struct oci_idmap){(uint32_t)vals[0], (uint32_t)vals[1], (uint32_t)vals[2]};
    }
    return 0;
}

static bool ranges_overlap(uint32_t a, uint32_t b, uint32_t size_a, uint32_t size_b)
{
    return (uint64_t)a < (uint64_t)b + size_b && (uint64_t)b < (uint64_t)a + size_a;
}

/* The kernel refuses a uid_map/gid_map whose entries overlap, on either side. */
static int check_idmap_overlaps(struct sp_err *err, const char *path, const struct oci_idmap *m,
                                size_t n)
{
    char ep[JPATH_MAX];
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++) {
            bool c = ranges_overlap(m[i].container_id, m[j].container_id, m[i].size, m[j].size);
            if (c || ranges_overlap(m[i].host_id, m[j].host_id, m[i].size, m[j].size))
                return fail(err, jidx(ep, path, i), "its %s range overlaps entry %zu's",
                            c ? "containerID" : "hostID", j);
        }
    return 0;
}

/* --- mounts ---------------------------------------------------------------------------------- */

/* What rootfs.c mounts as a bind: type absent or "bind", or a bind/rbind option. */
static bool mount_is_bind(const struct oci_mount *m)
{
    if (!m->type || !strcmp(m->type, "bind")) return true;
    for (size_t i = 0; m->options[i]; i++)
        if (!strcmp(m->options[i], "bind") || !strcmp(m->options[i], "rbind")) return true;
    return false;
}

/* uidMappings and gidMappings of the mount object e at path ep (see struct oci_mount). */
static int parse_mount_idmaps(struct sp_err *err, const char *ep, json_t *e, struct oci_mount *m)
{
    char up[JPATH_MAX], gp[JPATH_MAX];
    json_t *uv = member(e, "uidMappings"), *gv = member(e, "gidMappings");
    int r;
    jkey(up, ep, "uidMappings");
    jkey(gp, ep, "gidMappings");
    if (uv && (r = parse_idmaps(err, up, uv, OCI_MOUNT_MAX_IDMAPS, &m->uid_mappings,
                                &m->n_uid_mappings)) < 0)
        return r;
    if (gv && (r = parse_idmaps(err, gp, gv, OCI_MOUNT_MAX_IDMAPS, &m->gid_mappings,
                                &m->n_gid_mappings)) < 0)
        return r;
    if (!m->n_uid_mappings && !m->n_gid_mappings) return 0;
    if (!mount_is_bind(m))
        return fail(err, m->n_uid_mappings ? up : gp, "only bind mounts can be id-mapped");
    if (!m->n_uid_mappings)
        return fail(err, up, "is required with gidMappings (an id-mapped mount needs both)");
    if (!m->n_gid_mappings)
        return fail(err, gp, "is required with uidMappings (an id-mapped mount needs both)");
    if ((r = check_idmap_overlaps(err, up, m->uid_mappings, m->n_uid_mappings)) < 0) return r;
    return check_idmap_overlaps(err, gp, m->gid_mappings, m->n_gid_mappings);
}

static int parse_mounts(struct sp_err *err, json_t *v, struct oci_spec *s)
{
    char ep[JPATH_MAX], fp[JPATH_MAX];
    void *mem;
    int r = alloc_array(err, "mounts", v, sizeof(*s->mounts), &mem);
    if (r < 0) return r;
    s->mounts = mem;
    s->n_mounts = json_array_size(v);
    for (size_t i = 0; i < s->n_mounts; i++) {
        struct oci_mount *m = &s->mounts[i];
        json_t *e = json_array_get(v, i), *f;
        jidx(ep, "mounts", i);
        if ((r = want_object(err, ep, e)) < 0) return r;
        if (!(f = member(e, "destination")))
            return fail(err, jkey(fp, ep, "destination"), "is required");
        if ((r = dup_abs_path(err, jkey(fp, ep, "destination"), f, &m->destination)) < 0) return r;
        if ((r = opt_string(err, ep, e, "type", &m->type)) < 0) return r;
        if ((r = opt_string(err, ep, e, "source", &m->source)) < 0) return r;
        if ((r = get_strv(err, jkey(fp, ep, "options"), member(e, "options"), &m->options)) < 0)
            return r;
        if ((r = parse_mount_idmaps(err, ep, e, m)) < 0) return r;
    }
    return 0;
}

/* --- linux ----------------------------------------------------------------------------------- */

static int parse_namespaces(struct sp_err *err, const char *path, json_t *v, struct oci_spec *s)
{
    char ep[JPATH_MAX], fp[JPATH_MAX];
    int r = want_array(err, path, v);
    if (r < 0) return r;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        const char *type, *nspath;
        jidx(ep, path, i);
        if ((r = want_object(err, ep, e)) < 0) return r;
        json_t *t = member(e, "type");
        if (!t) return fail(err, jkey(fp, ep, "type"), "is required");
        if ((r = get_string(err, jkey(fp, ep, "type"), t, &type)) < 0) return r;
        int ns = oci_ns_from_name(type);
        if (ns < 0) return fail(err, fp, "unknown namespace type \"%.64s\"", type);
        if (s->ns[ns].wanted) return fail(err, fp, "namespace type \"%s\" is listed twice", type);
        s->ns[ns].wanted = true;
        json_t *pv = member(e, "path");
        if (!pv) continue;
        if ((r = get_string(err, jkey(fp, ep, "path"), pv, &nspath)) < 0) return r;
        if (!nspath[0]) continue; /* "": a new namespace, as runc reads it */
        if ((r = dup_abs_path(err, fp, pv, &s->ns[ns].path)) < 0) return r;
    }
    return 0;
}

/* maskedPaths, readonlyPaths: absolute paths. */
static int parse_abs_paths(struct sp_err *err, const char *path, json_t *v, char ***out)
{
    char ep[JPATH_MAX];
    int r = get_strv(err, path, v, out);
    if (r < 0) return r;
    for (size_t i = 0; (*out)[i]; i++)
        if ((*out)[i][0] != '/')
            return fail(err, jidx(ep, path, i), "must be absolute, got \"%.64s\"", (*out)[i]);
    return 0;
}

static int parse_sysctl(struct sp_err *err, const char *path, json_t *v, struct oci_spec *s)
{
    char fp[JPATH_MAX];
    int r = want_object(err, path, v);
    if (r < 0) return r;
    size_t n = json_object_size(v);
    if (n == 0) return 0;
    if (!(s->sysctls = calloc(n, sizeof(*s->sysctls)))) return oom(err);
    const char *k;
    size_t klen;
    json_t *e;
    json_object_keylen_foreach(v, k, klen, e)
    {
        snprintf(fp, sizeof(fp), "%s.%.64s", path, k);
        /* the key becomes a path under /proc/sys: no escaping it */
        if (klen == 0 || strlen(k) != klen || k[0] == '/' || k[0] == '.' || strstr(k, ".."))
            return fail(err, fp, "not a valid sysctl name");
        struct oci_sysctl *sc = &s->sysctls[s->n_sysctls];
        if (!(sc->key = strdup(k))) return oom(err);
        s->n_sysctls++;
        if ((r = dup_string(err, fp, e, &sc->value)) < 0) return r;
    }
    return 0;
}

static int parse_devices(struct sp_err *err, const char *path, json_t *v, struct oci_spec *s)
{
    char ep[JPATH_MAX], fp[JPATH_MAX];
    void *mem;
    int r = alloc_array(err, path, v, sizeof(*s->devices), &mem);
    if (r < 0) return r;
    s->devices = mem;
    s->n_devices = json_array_size(v);
    for (size_t i = 0; i < s->n_devices; i++) {
        struct oci_device *d = &s->devices[i];
        json_t *e = json_array_get(v, i), *f;
        const char *type;
        int64_t n;
        jidx(ep, path, i);
        if ((r = want_object(err, ep, e)) < 0) return r;
        if (!(f = member(e, "type"))) return fail(err, jkey(fp, ep, "type"), "is required");
        if ((r = get_string(err, jkey(fp, ep, "type"), f, &type)) < 0) return r;
        if (strlen(type) != 1 || !strchr("cbup", type[0]))
            return fail(err, fp, "must be \"c\", \"b\", \"u\" or \"p\", got \"%.16s\"", type);
        d->type = type[0];
        if (!(f = member(e, "path"))) return fail(err, jkey(fp, ep, "path"), "is required");
        if ((r = dup_abs_path(err, jkey(fp, ep, "path"), f, &d->path)) < 0) return r;
        const char *nums[] = {"major", "minor"};
        int64_t *dst[] = {&d->major, &d->minor};
        for (size_t k = 0; k < 2; k++) {
            if (!(f = member(e, nums[k]))) {
                if (d->type == 'p') continue;
                return fail(err, jkey(fp, ep, nums[k]), "is required for type \"%c\"", d->type);
            }
            if ((r = get_int(err, jkey(fp, ep, nums[k]), f, 0, INT64_MAX, dst[k])) < 0) return r;
        }
        if ((f = member(e, "fileMode"))) {
            if ((r = get_int(err, jkey(fp, ep, "fileMode"), f, 0, UINT32_MAX, &n)) < 0) return r;
            d->has_mode = true;
            d->file_mode = (mode_t)(n & 07777); /* the type bits come from "type" */
        }
        if ((f = member(e, "uid"))) {
            uint32_t id = 0;
            if ((r = get_id(err, jkey(fp, ep, "uid"), f, &id)) < 0) return r;
            d->has_uid = true;
            d->uid = id;
        }
        if ((f = member(e, "gid"))) {
            uint32_t id = 0;
            if ((r = get_id(err, jkey(fp, ep, "gid"), f, &id)) < 0) return r;
            d->has_gid = true;
            d->gid = id;
        }
    }
    return 0;
}

static int parse_linux(struct sp_err *err, json_t *v, struct oci_spec *s)
{
    static const char *const propagations[] = {"private", "rprivate", "shared",     "rshared",
                                               "slave",   "rslave",   "unbindable", "runbindable"};
    char fp[JPATH_MAX];
    json_t *f;
    int r = want_object(err, "linux", v);
    if (r < 0) return r;

    if ((f = member(v, "namespaces")) && (r = parse_namespaces(err, "linux.namespaces", f, s)) < 0)
        return r;
    if ((f = member(v, "uidMappings")) &&
        (r = parse_idmaps(err, "linux.uidMappings", f, 0, &s->uid_mappings, &s->n_uid_mappings)) <
            0)
        return r;
    if ((f = member(v, "gidMappings")) &&
        (r = parse_idmaps(err, "linux.gidMappings", f, 0, &s->gid_mappings, &s->n_gid_mappings)) <
            0)
        return r;
    if ((r = parse_abs_paths(err, "linux.maskedPaths", member(v, "maskedPaths"),
                             &s->masked_paths)) < 0)
        return r;
    if ((r = parse_abs_paths(err, "linux.readonlyPaths", member(v, "readonlyPaths"),
                             &s->readonly_paths)) < 0)
        return r;
    if ((f = member(v, "sysctl")) && (r = parse_sysctl(err, "linux.sysctl", f, s)) < 0) return r;
    if ((f = member(v, "devices")) && (r = parse_devices(err, "linux.devices", f, s)) < 0) return r;
    if ((r = opt_string(err, "linux", v, "cgroupsPath", &s->cgroups_path)) < 0) return r;
    if ((f = member(v, "resources"))) {
        if ((r = want_object(err, "linux.resources", f)) < 0) return r;
        s->resources = json_incref(f);
    }
    if ((f = member(v, "rootfsPropagation"))) {
        const char *prop;
        if ((r = get_string(err, jkey(fp, "linux", "rootfsPropagation"), f, &prop)) < 0) return r;
        size_t k;
        for (k = 0; k < SP_ARRAY_LEN(propagations); k++)
            if (strcmp(prop, propagations[k]) == 0) break;
        if (k == SP_ARRAY_LEN(propagations))
            return fail(err, fp, "unknown propagation \"%.64s\"", prop);
        if (!(s->rootfs_propagation = strdup(prop))) return oom(err);
    }
    if ((f = member(v, "seccomp"))) {
        if ((r = want_object(err, "linux.seccomp", f)) < 0) return r;
        s->seccomp = json_incref(f);
    }
    /* mountLabel, intelRdt, personality, timeOffsets, memoryPolicy, …: not honoured */
    return 0;
}

/* --- hooks, annotations ---------------------------------------------------------------------- */

static int parse_hook_list(struct sp_err *err, const char *path, json_t *v, struct oci_hook_list *l)
{
    char ep[JPATH_MAX], fp[JPATH_MAX];
    void *mem;
    int r = alloc_array(err, path, v, sizeof(*l->v), &mem);
    if (r < 0) return r;
    l->v = mem;
    l->n = json_array_size(v);
    for (size_t i = 0; i < l->n; i++) {
        struct oci_hook *h = &l->v[i];
        json_t *e = json_array_get(v, i), *f;
        jidx(ep, path, i);
        if ((r = want_object(err, ep, e)) < 0) return r;
        if (!(f = member(e, "path"))) return fail(err, jkey(fp, ep, "path"), "is required");
        if ((r = dup_abs_path(err, jkey(fp, ep, "path"), f, &h->path)) < 0) return r;
        if ((r = get_strv(err, jkey(fp, ep, "args"), member(e, "args"), &h->args)) < 0) return r;
        if (!h->args[0] && sp_strv_push(&h->args, h->path) < 0) return oom(err);
        if ((r = get_strv(err, jkey(fp, ep, "env"), member(e, "env"), &h->env)) < 0) return r;
        if ((f = member(e, "timeout"))) {
            jkey(fp, ep, "timeout");
            if (!json_is_integer(f))
                return fail(err, fp, "must be an integer, got %s", json_kind(f));
            if (json_integer_value(f) <= 0) return fail(err, fp, "must be more than 0");
            if (json_integer_value(f) > INT_MAX) return fail(err, fp, "too large");
            h->timeout_s = (int)json_integer_value(f);
        }
    }
    return 0;
}

static int parse_hooks(struct sp_err *err, json_t *v, struct oci_spec *s)
{
    const struct {
        const char *key;
        struct oci_hook_list *list;
    } lists[] = {
        {"prestart", &s->prestart},
        {"createRuntime", &s->create_runtime},
        {"createContainer", &s->create_container},
        {"startContainer", &s->start_container},
        {"poststart", &s->poststart},
        {"poststop", &s->poststop},
    };
    char fp[JPATH_MAX];
    int r = want_object(err, "hooks", v);
    if (r < 0) return r;
    for (size_t i = 0; i < SP_ARRAY_LEN(lists); i++) {
        json_t *f = member(v, lists[i].key);
        if (f && (r = parse_hook_list(err, jkey(fp, "hooks", lists[i].key), f, lists[i].list)) < 0)
            return r;
    }
    return 0;
}

static int parse_annotations(struct sp_err *err, json_t *v, struct oci_spec *s)
{
    char fp[JPATH_MAX];
    const char *k, *val;
    json_t *e;
    int r = want_object(err, "annotations", v);
    if (r < 0) return r;
    json_object_foreach(v, k, e)
    {
        snprintf(fp, sizeof(fp), "annotations.%.64s", k);
        if ((r = get_string(err, fp, e, &val)) < 0) return r;
    }
    s->annotations = json_incref(v);
    return 0;
}

/* --- cross-checks ---------------------------------------------------------------------------- */

/*
 * What runc's config validator refuses because it would reach outside the container: a
 * hostname or a sysctl that no namespace of the container's own holds (they would change the
 * host's), and user namespace settings that cannot be applied.
 */
static int check_namespaces(struct sp_err *err, const struct oci_spec *s)
{
    static const char *const ipc_sysctls[] = {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
        "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
    char fp[JPATH_MAX];

    if (s->hostname && !s->ns[OCI_NS_UTS].wanted)
        return fail(err, "hostname", "needs a \"uts\" namespace in linux.namespaces");

    for (size_t i = 0; i < s->n_sysctls; i++) {
        char name[256];
        bool ipc = false;
        snprintf(fp, sizeof(fp), "linux.sysctl.%.64s", s->sysctls[i].key);
        /* "net/ipv4/ip_forward" is the same as "net.ipv4.ip_forward" */
        snprintf(name, sizeof(name), "%s", s->sysctls[i].key);
        for (char *c = name; *c; c++)
            if (*c == '/') *c = '.';
        for (size_t k = 0; k < SP_ARRAY_LEN(ipc_sysctls); k++)
            if (strcmp(name, ipc_sysctls[k]) == 0) ipc = true;
        if (ipc || strncmp(name, "fs.mqueue.", 10) == 0) {
            if (s->ns[OCI_NS_IPC].wanted) continue;
            return fail(err, fp, "not allowed in the host's ipc namespace");
        }
        if (strncmp(name, "net.", 4) == 0) {
            if (s->ns[OCI_NS_NET].wanted) continue;
            return fail(err, fp, "not allowed in the host's network namespace");
        }
        if (strcmp(name, "kernel.hostname") == 0)
            return fail(err, fp, "not allowed (set the \"hostname\" field instead)");
        if (strcmp(name, "kernel.domainname") == 0 && s->ns[OCI_NS_UTS].wanted) continue;
        return fail(err, fp, "not in a separate kernel namespace");
    }

    bool maps = s->n_uid_mappings > 0 || s->n_gid_mappings > 0;
    if (s->ns[OCI_NS_USER].wanted) {
        if (!s->ns[OCI_NS_USER].path && !maps)
            return fail(err, "linux.namespaces",
                        "a new \"user\" namespace needs linux.uidMappings and linux.gidMappings");
    } else if (maps) {
        return fail(err, s->n_uid_mappings ? "linux.uidMappings" : "linux.gidMappings",
                    "given, but linux.namespaces has no \"user\" namespace");
    }
    return 0;
}

/* --- the document ---------------------------------------------------------------------------- */

static int parse_spec(struct sp_err *err, json_t *root, struct oci_spec *s)
{
    json_t *f, *rp;
    const char *ver;
    int r;

    if (!(f = member(root, "ociVersion"))) return fail(err, "ociVersion", "is required");
    if ((r = get_string(err, "ociVersion", f, &ver)) < 0) return r;
    if (strncmp(ver, "1.", 2) != 0)
        return fail(err, "ociVersion", "\"%.32s\" is not supported (want 1.x)", ver);
    if (!(s->oci_version = strdup(ver))) return oom(err);

    if (!(f = member(root, "root"))) return fail(err, "root", "is required");
    if ((r = want_object(err, "root", f)) < 0) return r;
    if (!(rp = member(f, "path"))) return fail(err, "root.path", "is required");
    if ((r = dup_string(err, "root.path", rp, &s->root_path)) < 0) return r;
    if (!s->root_path[0]) return fail(err, "root.path", "must not be empty");
    if ((rp = member(f, "readonly")) &&
        (r = get_bool(err, "root.readonly", rp, &s->root_readonly)) < 0)
        return r;

    if ((f = member(root, "process"))) {
        if ((r = parse_process(err, "process", f, &s->process)) < 0) return r;
        s->has_process = true;
    }
    if ((r = opt_string(err, "", root, "hostname", &s->hostname)) < 0) return r;
    if ((f = member(root, "mounts")) && (r = parse_mounts(err, f, s)) < 0) return r;
    if ((f = member(root, "linux"))) {
        if ((r = parse_linux(err, f, s)) < 0) return r;
    }
    /* the documented "possibly empty" vectors exist even without a linux section */
    if (!s->masked_paths && !(s->masked_paths = sp_strv_new(0))) return oom(err);
    if (!s->readonly_paths && !(s->readonly_paths = sp_strv_new(0))) return oom(err);
    if ((f = member(root, "hooks")) && (r = parse_hooks(err, f, s)) < 0) return r;
    if ((f = member(root, "annotations")) && (r = parse_annotations(err, f, s)) < 0) return r;
    /* domainname, windows, solaris, vm, zos, …: not honoured */
    return check_namespaces(err, s);
}

int oci_spec_from_json(json_t *root, struct oci_spec **out, struct sp_err *err)
{
    *out = NULL;
    if (!json_is_object(root))
        return sp_err_set(err, -EINVAL, "the configuration must be a JSON object, got %s",
                          root ? json_kind(root) : "nothing");
    struct oci_spec *s = calloc(1, sizeof(*s));
    if (!s) return oom(err);
    int r = parse_spec(err, root, s);
    if (r < 0) {
        oci_spec_free(s);
        return r;
    }
    *out = s;
    return 0;
}

/* --- files ----------------------------------------------------------------------------------- */

/*
 * Go writes uint64 values above INT64_MAX as they are (RLIM_INFINITY for an "unlimited" rlimit
 * is 18446744073709551615), and jansson refuses such integers ("too big integer"). Outside
 * strings, every integer in INT64_MAX+1 .. UINT64_MAX is rewritten in place as -1 padded with
 * spaces (so line numbers in errors still match), which the fields that take them read as
 * "unlimited".
 */
static void fix_big_integers(char *buf, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (in_string) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_string = false;
            continue;
        }
        if (ch == '"') {
            in_string = true;
            continue;
        }
        if (ch != '-' && (ch < '0' || ch > '9')) continue;
        /* a whole number token: sign, digits, fraction, exponent */
        size_t j = i;
        bool digits_only = true;
        while (j < len && buf[j] && strchr("0123456789+-.eE", buf[j])) {
            if (buf[j] < '0' || buf[j] > '9') digits_only = false;
            j++;
        }
        size_t n = j - i;
        if (digits_only && buf[i] != '0' &&
            ((n == 19 && memcmp(buf + i, "9223372036854775807", 19) > 0) ||
             (n == 20 && memcmp(buf + i, "18446744073709551615", 20) <= 0))) {
            buf[i] = '-';
            buf[i + 1] = '1';
            memset(buf + i + 2, ' ', n - 2);
        }
        i = j - 1;
    }
}

/* Reads a JSON document of at most OCI_MAX_CONFIG_BYTES from path; name is how errors call it. */
static int read_json_file(const char *path, const char *name, json_t **out, struct sp_err *err)
{
    struct stat st;
    /* O_NONBLOCK: a FIFO in its place must not block open() */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return sp_err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        int e = errno;
        sp_close(fd);
        return sp_err_set(err, -e, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        sp_close(fd);
        return sp_err_set(err, -EINVAL, "%s: not a regular file", path);
    }
    if (st.st_size > OCI_MAX_CONFIG_BYTES) {
        sp_close(fd);
        return sp_err_set(err, -EFBIG, "%s: larger than %d bytes", name, OCI_MAX_CONFIG_BYTES);
    }
    /* the size is a hint: the file may change while it is read */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        sp_close(fd);
        return oom(err);
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap * 2 > OCI_MAX_CONFIG_BYTES + 1 ? OCI_MAX_CONFIG_BYTES + 1 : cap * 2;
            char *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                free(buf);
                sp_close(fd);
                return oom(err);
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t r = sp_read(fd, buf + len, cap - len);
        if (r < 0) {
            free(buf);
            sp_close(fd);
            return sp_err_set(err, (int)r, "reading %s: %s", path, strerror((int)-r));
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len > OCI_MAX_CONFIG_BYTES) {
            free(buf);
            sp_close(fd);
            return sp_err_set(err, -EFBIG, "%s: larger than %d bytes", name, OCI_MAX_CONFIG_BYTES);
        }
    }
    sp_close(fd);
    fix_big_integers(buf, len);
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, 0, &jerr);
    free(buf);
    if (!root) return sp_err_set(err, -EINVAL, "%s: line %d: %s", name, jerr.line, jerr.text);
    *out = root;
    return 0;
}

int oci_spec_load(const char *bundle, struct oci_spec **out, struct sp_err *err)
{
    char path[PATH_MAX];
    json_t *root;
    *out = NULL;
    if ((size_t)snprintf(path, sizeof(path), "%s/config.json", bundle) >= sizeof(path))
        return sp_err_set(err, -ENAMETOOLONG, "bundle path too long");
    int r = read_json_file(path, "config.json", &root, err);
    if (r < 0) return r;
    r = oci_spec_from_json(root, out, err);
    json_decref(root);
    if (r < 0) sp_err_prefix(err, "config.json: ");
    return r;
}

int oci_process_load(const char *path, struct oci_process *p, struct sp_err *err)
{
    json_t *root;
    memset(p, 0, sizeof(*p));
    int r = read_json_file(path, path, &root, err);
    if (r < 0) return r;
    r = oci_process_from_json(root, p, err);
    json_decref(root);
    if (r < 0) sp_err_prefix(err, "%s: ", path);
    return r;
}
