/* SPDX-License-Identifier: MIT */
/*
 * OCI linux.seccomp into a libseccomp filter: see cseccomp.h. The whole object is checked (types,
 * names, ranges) before anything reaches libseccomp, rule by rule, so a bad field is reported by
 * its JSON path whatever the rest holds; a rule is checked in full even when it is then skipped
 * (its action is the default one, or none of its syscalls is known here).
 */
#include "cseccomp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <seccomp.h>

#include "../base/compiler.h"
#include "../base/log.h"

/* Room for a JSON path such as "linux.seccomp.syscalls[123].args[4].valueTwo". */
#define JPATH_MAX 192
#define BASE      "linux.seccomp"
/* Syscall arguments a condition can name (index 0..5). */
#define MAX_ARGS 6
/* The largest errno libseccomp takes for SCMP_ACT_ERRNO (the kernel clamps at 4095). */
#define MAX_ERRNO_RET 4094
/* From this many rules on, libseccomp is asked for a binary-tree filter (runc: more than 32). */
#define OPTIMIZE_MIN_RULES 33

struct cseccomp {
    scmp_filter_ctx ctx;
};

/* --- tables ---------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t action; /* the errno (16 bits) is or-ed in when takes_errno */
    bool takes_errno;
} action_table[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL, false},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
};

static const struct {
    const char *name;
    enum scmp_compare op;
} op_table[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

/* --- JSON getters ---------------------------------------------------------------------------- */

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

static const char *jkey(char *buf, const char *base, const char *key)
{
    return jtrunc(buf, snprintf(buf, JPATH_MAX, "%s.%s", base, key));
}

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

/* A uint64: 0 .. INT64_MAX as written, and -1 (oci_spec_load's stand-in for an integer above
 * INT64_MAX, which jansson cannot hold) as UINT64_MAX. */
static int get_u64(struct sp_err *err, const char *path, json_t *v, uint64_t *out)
{
    if (!json_is_integer(v)) return fail(err, path, "must be an integer, got %s", json_kind(v));
    json_int_t i = json_integer_value(v);
    if (i < -1)
        return fail(err, path, "must be between 0 and %llu, got %lld",
                    (unsigned long long)UINT64_MAX, (long long)i);
    *out = i == -1 ? UINT64_MAX : (uint64_t)i;
    return 0;
}

/* --- actions, conditions, flags, architectures ----------------------------------------------- */

/*
 * The action named by v (at path) with the errno of ev (at epath; NULL: absent, which means
 * EPERM for the actions that take one).
 */
static int parse_action(struct sp_err *err, const char *path, json_t *v, const char *epath,
                        json_t *ev, uint32_t *out)
{
    const char *name;
    int r = get_string(err, path, v, &name);
    if (r < 0) return r;
    if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
        return fail(err, path, "SCMP_ACT_NOTIFY is not supported");
    size_t i = 0;
    while (i < SP_ARRAY_LEN(action_table) && strcmp(action_table[i].name, name) != 0)
        i++;
    if (i == SP_ARRAY_LEN(action_table)) return fail(err, path, "unknown action \"%.64s\"", name);

    int64_t e = EPERM;
    if (ev) {
        if (!action_table[i].takes_errno)
            return fail(err, epath,
                        "not allowed with %s (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE "
                        "take an errno)",
                        name);
        if ((r = get_int(err, epath, ev, 0, MAX_ERRNO_RET, &e)) < 0) return r;
    }
    *out = action_table[i].action;
    if (action_table[i].takes_errno) *out |= (uint32_t)e;
    return 0;
}

/* One args[] entry (at path) into *c. */
static int parse_arg(struct sp_err *err, const char *path, json_t *v, struct scmp_arg_cmp *c)
{
    char p[JPATH_MAX];
    json_t *f;
    int64_t index;
    const char *op;
    int r;

    if ((r = want_object(err, path, v)) < 0) return r;
    if (!(f = member(v, "index"))) return fail(err, jkey(p, path, "index"), "required");
    if ((r = get_int(err, jkey(p, path, "index"), f, 0, MAX_ARGS - 1, &index)) < 0) return r;
    c->arg = (unsigned)index;

    if (!(f = member(v, "value"))) return fail(err, jkey(p, path, "value"), "required");
    if ((r = get_u64(err, jkey(p, path, "value"), f, &c->datum_a)) < 0) return r;
    c->datum_b = 0;
    if ((f = member(v, "valueTwo")) &&
        (r = get_u64(err, jkey(p, path, "valueTwo"), f, &c->datum_b)) < 0)
        return r;

    if (!(f = member(v, "op"))) return fail(err, jkey(p, path, "op"), "required");
    if ((r = get_string(err, jkey(p, path, "op"), f, &op)) < 0) return r;
    size_t i = 0;
    while (i < SP_ARRAY_LEN(op_table) && strcmp(op_table[i].name, op) != 0)
        i++;
    if (i == SP_ARRAY_LEN(op_table))
        return fail(err, jkey(p, path, "op"), "unknown operator \"%.64s\"", op);
    /* MASKED_EQ: datum_a is the mask ("value"), datum_b what the masked argument must equal
     * ("valueTwo"), which is how runc and crun hand them to libseccomp. */
    c->op = op_table[i].op;
    return 0;
}

static int set_flag(struct cseccomp *f, struct sp_err *err, const char *path, json_t *v)
{
    const char *name;
    enum scmp_filter_attr attr;
    int r = get_string(err, path, v, &name);
    if (r < 0) return r;
    if (strcmp(name, "SECCOMP_FILTER_FLAG_TSYNC") == 0) return 0; /* single-threaded init */
    if (strcmp(name, "SECCOMP_FILTER_FLAG_LOG") == 0)
        attr = SCMP_FLTATR_CTL_LOG;
    else if (strcmp(name, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
        attr = SCMP_FLTATR_CTL_SSB;
    else
        return fail(err, path, "unknown flag \"%.64s\"", name);
    if ((r = seccomp_attr_set(f->ctx, attr, 1)) < 0)
        return sp_err_set(err, r, "%s: %s not supported by this kernel or libseccomp: %s", path,
                          name, strerror(-r));
    return 0;
}

static int add_arch(struct cseccomp *f, struct sp_err *err, const char *path, json_t *v)
{
    static const char prefix[] = "SCMP_ARCH_";
    const char *name;
    char lower[32];
    int r = get_string(err, path, v, &name);
    if (r < 0) return r;

    size_t n = strlen(name), plen = sizeof(prefix) - 1;
    if (n <= plen || n - plen >= sizeof(lower) || strncmp(name, prefix, plen) != 0)
        return fail(err, path, "unknown architecture \"%.64s\"", name);
    for (size_t i = plen; i <= n; i++) {
        char ch = name[i];
        lower[i - plen] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    uint32_t token = seccomp_arch_resolve_name(lower);
    if (token == 0) return fail(err, path, "unknown architecture \"%.64s\"", name);
    r = seccomp_arch_add(f->ctx, token);
    if (r < 0 && r != -EEXIST)
        return sp_err_set(err, r, "%s: adding architecture %s: %s", path, name, strerror(-r));
    return 0;
}

/* --- rules ----------------------------------------------------------------------------------- */

/* Adds syscalls[i] (at path); *n_added counts the libseccomp rules. */
static int add_rule(struct cseccomp *f, struct sp_err *err, const char *path, json_t *v,
                    uint32_t def_action, size_t *n_added)
{
    char p[JPATH_MAX], pp[JPATH_MAX];
    json_t *names, *args;
    uint32_t action;
    const char *name;
    int r;

    if ((r = want_object(err, path, v)) < 0) return r;

    names = member(v, "names");
    jkey(p, path, "names");
    if (!names) return fail(err, p, "required");
    if ((r = want_array(err, p, names)) < 0) return r;
    if (json_array_size(names) == 0) return fail(err, p, "must not be empty");
    for (size_t i = 0; i < json_array_size(names); i++) {
        if ((r = get_string(err, jidx(pp, p, i), json_array_get(names, i), &name)) < 0) return r;
        if (!name[0]) return fail(err, pp, "must not be empty");
    }

    json_t *act = member(v, "action");
    if (!act) return fail(err, jkey(p, path, "action"), "required");
    char ep[JPATH_MAX];
    if ((r = parse_action(err, jkey(p, path, "action"), act, jkey(ep, path, "errnoRet"),
                          member(v, "errnoRet"), &action)) < 0)
        return r;

    /* Conditions: one rule with all of them when each names a different argument, else one
     * rule per condition (libseccomp refuses two comparisons of one argument in a rule). */
    size_t n_args = 0;
    bool split = false;
    struct scmp_arg_cmp *cmp = NULL;
    if ((args = member(v, "args"))) {
        jkey(p, path, "args");
        if ((r = want_array(err, p, args)) < 0) return r;
        n_args = json_array_size(args);
        if (n_args > 0 && !(cmp = calloc(n_args, sizeof(*cmp)))) return oom(err);
        unsigned seen = 0;
        for (size_t i = 0; i < n_args; i++) {
            if ((r = parse_arg(err, jidx(pp, p, i), json_array_get(args, i), &cmp[i])) < 0) {
                free(cmp);
                return r;
            }
            if (seen & (1u << cmp[i].arg)) split = true;
            seen |= 1u << cmp[i].arg;
        }
    }

    r = 0;
    if (action == def_action) goto out; /* redundant, and libseccomp refuses it */
    for (size_t i = 0; i < json_array_size(names) && r == 0; i++) {
        name = json_string_value(json_array_get(names, i));
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) {
            sp_debug("seccomp: %s: unknown syscall \"%s\" skipped", path, name);
            continue;
        }
        if (!split) {
            r = seccomp_rule_add_array(f->ctx, action, nr, (unsigned)n_args, cmp);
            *n_added += 1;
        } else {
            for (size_t k = 0; k < n_args && r == 0; k++)
                r = seccomp_rule_add_array(f->ctx, action, nr, 1, &cmp[k]);
            *n_added += n_args;
        }
        if (r < 0) sp_err_set(err, r, "%s: adding a rule for \"%s\": %s", path, name, strerror(-r));
    }
out:
    free(cmp);
    return r;
}

/* --- API ------------------------------------------------------------------------------------- */

void cseccomp_free(struct cseccomp *f)
{
    if (!f) return;
    if (f->ctx) seccomp_release(f->ctx);
    free(f);
}

static int build(struct cseccomp **fp, json_t *conf, struct sp_err *err)
{
    char p[JPATH_MAX];
    json_t *v;
    uint32_t def_action;
    int r;

    if (!conf) return fail(err, BASE, "required");
    if ((r = want_object(err, BASE, conf)) < 0) return r;
    if (!(v = member(conf, "defaultAction"))) return fail(err, BASE ".defaultAction", "required");
    if ((r = parse_action(err, BASE ".defaultAction", v, BASE ".defaultErrnoRet",
                          member(conf, "defaultErrnoRet"), &def_action)) < 0)
        return r;

    struct cseccomp *f = calloc(1, sizeof(*f));
    if (!f) return oom(err);
    *fp = f;
    /* After the checks above, only a lack of memory or an action the kernel does not offer
     * (SCMP_ACT_LOG or _KILL_PROCESS before Linux 4.14) makes this fail. */
    if (!(f->ctx = seccomp_init(def_action)))
        return sp_err_set(err, -EINVAL,
                          BASE ".defaultAction: libseccomp cannot make a filter with it (out of "
                               "memory, or an action this kernel does not support)");
    /* The caller sets no_new_privs itself (or keeps CAP_SYS_ADMIN until the load). */
    if ((r = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0)
        return sp_err_set(err, r, BASE ": clearing SCMP_FLTATR_CTL_NNP: %s", strerror(-r));
    /* The kernel's errno from seccomp_load rather than libseccomp's -ECANCELED (2.5+). */
    (void)seccomp_attr_set(f->ctx, SCMP_FLTATR_API_SYSRAWRC, 1);

    if ((v = member(conf, "architectures"))) {
        if ((r = want_array(err, BASE ".architectures", v)) < 0) return r;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((r = add_arch(f, err, jidx(p, BASE ".architectures", i), json_array_get(v, i))) < 0)
                return r;
    }

    if ((v = member(conf, "flags"))) {
        if ((r = want_array(err, BASE ".flags", v)) < 0) return r;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((r = set_flag(f, err, jidx(p, BASE ".flags", i), json_array_get(v, i))) < 0)
                return r;
    }

    size_t n_added = 0;
    if ((v = member(conf, "syscalls"))) {
        if ((r = want_array(err, BASE ".syscalls", v)) < 0) return r;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((r = add_rule(f, err, jidx(p, BASE ".syscalls", i), json_array_get(v, i),
                              def_action, &n_added)) < 0)
                return r;
    }

    /* A binary tree instead of a linear list of syscall checks, for long profiles (libseccomp
     * <= 2.5.4 mishandles it with no rules at all, hence the threshold, as in runc). */
    if (n_added >= OPTIMIZE_MIN_RULES) (void)seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    return 0;
}

int cseccomp_build(json_t *conf, struct cseccomp **out, struct sp_err *err)
{
    struct cseccomp *f = NULL;
    *out = NULL;
    int r = build(&f, conf, err);
    if (r < 0) {
        cseccomp_free(f);
        return r;
    }
    *out = f;
    return 0;
}

int cseccomp_load(struct cseccomp *f, struct sp_err *err)
{
    if (!f || !f->ctx) return sp_err_set(err, -EINVAL, "loading the seccomp filter: no filter");
    int r = seccomp_load(f->ctx);
    if (r < 0) return sp_err_set(err, r, "loading the seccomp filter: %s", strerror(-r));
    return 0;
}
