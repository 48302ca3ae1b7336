/* SPDX-License-Identifier: MIT */
/*
 * sprite-runc's command line: global flags, then a command with its own flags, as runc
 * (urfave/cli) takes them: "--flag value", "--flag=value", "-flag", short aliases. Errors go to
 * stderr and, with --log, to the log file (one JSON line with --log-format json, which is what
 * containerd and podman read back), and the exit status is 1.
 */
#include "runc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../base/err.h"
#include "../base/fd.h"
#include "../base/str.h"
#include "../container/container.h"
#include "../container/oci.h"
#include "../os/sig.h"

#define RUNC_NAME "sprite-runc"

struct globals {
    const char *version;
    const char *root;
    const char *log;
    bool log_json;
    char root_buf[PATH_MAX];
};

static struct globals g;

static void log_line(const char *level, const char *msg)
{
    if (!g.log) return;
    int fd = open(g.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    char ts[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (g.log_json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "level", level, "msg", msg, "time", ts);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (text) {
            dprintf(fd, "%s\n", text);
            free(text);
        }
    } else {
        dprintf(fd, "time=\"%s\" level=%s msg=\"%s\"\n", ts, level, msg);
    }
    close(fd);
}

static int fail(const char *fmt, ...) SP_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
    char msg[SP_ERR_MSG_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", msg);
    log_line("error", msg);
    return 1;
}

/* ---- flags ---- */

struct opt {
    const char *name; /* long name */
    char short_name;  /* 0: none */
    bool takes_value;
    const char *value; /* the last value (or "1" for a set boolean) */
    char **values;     /* every value, for repeatable flags */
};

static struct opt *find_opt(struct opt *opts, const char *name, size_t len)
{
    for (struct opt *o = opts; o->name; o++) {
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
        if (len == 1 && o->short_name == name[0]) return o;
    }
    return NULL;
}

/* Parses flags from argv[*i]; stops at the first argument that is not a flag (or after "--").
 * Returns 0 or 1 after printing the error. */
static int parse_opts(int argc, char **argv, int *i, struct opt *opts, const char *cmd)
{
    for (; *i < argc; (*i)++) {
        const char *a = argv[*i];
        if (strcmp(a, "--") == 0) {
            (*i)++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') break;
        a += a[1] == '-' ? 2 : 1;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        struct opt *o = find_opt(opts, a, len);
        if (!o) return fail("%s: flag provided but not defined: -%.*s", cmd, (int)len, a);
        const char *v = "1";
        if (o->takes_value) {
            if (eq) {
                v = eq + 1;
            } else if (*i + 1 < argc) {
                v = argv[++(*i)];
            } else {
                return fail("%s: flag needs an argument: -%s", cmd, o->name);
            }
        } else if (eq) {
            /* Go's strconv.ParseBool */
            static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
            static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
            v = NULL;
            for (size_t k = 0; k < 6; k++) {
                if (strcmp(eq + 1, yes[k]) == 0) v = "1";
                if (strcmp(eq + 1, no[k]) == 0) v = "";
            }
            if (!v)
                return fail("%s: invalid boolean value \"%s\" for -%.*s", cmd, eq + 1, (int)len, a);
            if (!*v) v = NULL;
        }
        o->value = v;
        if (o->takes_value && v && sp_strv_push(&o->values, v) < 0) return fail("out of memory");
    }
    return 0;
}

static void free_opts(struct opt *opts)
{
    for (struct opt *o = opts; o->name; o++)
        sp_strv_free(o->values);
}

static const char *opt(struct opt *opts, const char *name)
{
    struct opt *o = find_opt(opts, name, strlen(name));
    return o ? o->value : NULL;
}

static int need_args(int argc, int i, int n, const char *cmd, bool exact)
{
    int have = argc - i;
    if (exact ? have != n : have < n)
        return fail("\"%s\" requires %s %d argument(s)", cmd, exact ? "exactly" : "a minimum of",
                    n);
    return 0;
}

static int parse_uint(const char *s, unsigned *out)
{
    uint64_t v;
    if (!s) {
        *out = 0;
        return 0;
    }
    if (sp_parse_u64(s, 1u << 20, &v) < 0) return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

/* "9", "KILL", "SIGKILL", "kill" */
static int parse_signal(const char *s)
{
    uint64_t n;
    if (sp_parse_u64(s, 64, &n) == 0) return n > 0 ? (int)n : -1;
    int sig = sig_parse(s);
    return sig > 0 ? sig : -1;
}

/* ---- commands ---- */

static int cmd_create_run(int argc, char **argv, int i, bool run)
{
    struct opt opts[] = {
        {"bundle", 'b', true, NULL, NULL},        {"pid-file", 0, true, NULL, NULL},
        {"console-socket", 0, true, NULL, NULL},  {"no-pivot", 0, false, NULL, NULL},
        {"no-new-keyring", 0, false, NULL, NULL}, {"preserve-fds", 0, true, NULL, NULL},
        {"detach", 'd', false, NULL, NULL},       {"keep", 0, false, NULL, NULL},
        {"no-subreaper", 0, false, NULL, NULL},   {NULL, 0, false, NULL, NULL},
    };
    const char *cmd = run ? "run" : "create";
    int rc = parse_opts(argc, argv, &i, opts, cmd);
    if (rc == 0) rc = need_args(argc, i, 1, cmd, true);
    unsigned preserve = 0;
    if (rc == 0 && parse_uint(opt(opts, "preserve-fds"), &preserve) < 0)
        rc = fail("invalid --preserve-fds value");
    if (rc) {
        free_opts(opts);
        return rc;
    }
    struct container_create_opts o = {
        .root = g.root,
        .id = argv[i],
        .bundle = opt(opts, "bundle") ? opt(opts, "bundle") : ".",
        .pid_file = opt(opts, "pid-file"),
        .console_socket = opt(opts, "console-socket"),
        .no_pivot = opt(opts, "no-pivot") != NULL,
        .no_new_keyring = opt(opts, "no-new-keyring") != NULL,
        .preserve_fds = preserve,
    };
    struct sp_err err = {0};
    int status = 0;
    int r = run ? container_run(&o, opt(opts, "detach") != NULL, &status, &err)
                : container_create(&o, &err);
    free_opts(opts);
    if (r < 0) return fail("%s", err.msg);
    return status;
}

static int cmd_simple(int argc, char **argv, int i, const char *cmd)
{
    struct opt opts[] = {{NULL, 0, false, NULL, NULL}};
    int rc = parse_opts(argc, argv, &i, opts, cmd);
    if (rc == 0) rc = need_args(argc, i, 1, cmd, true);
    if (rc) return rc;
    struct sp_err err = {0};
    int r;
    if (strcmp(cmd, "start") == 0) {
        r = container_start(g.root, argv[i], &err);
    } else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
        r = container_pause(g.root, argv[i], strcmp(cmd, "pause") == 0, &err);
    } else { /* state */
        struct container_info info;
        r = container_state(g.root, argv[i], &info, &err);
        if (r == 0) {
            json_t *j = container_info_json(&info);
            char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
            json_decref(j);
            container_info_clear(&info);
            if (!text) return fail("out of memory");
            fputs(text, stdout);
            free(text);
        }
    }
    return r < 0 ? fail("%s", err.msg) : 0;
}

static int cmd_kill(int argc, char **argv, int i)
{
    struct opt opts[] = {{"all", 'a', false, NULL, NULL}, {NULL, 0, false, NULL, NULL}};
    int rc = parse_opts(argc, argv, &i, opts, "kill");
    if (rc == 0 && (argc - i < 1 || argc - i > 2))
        rc = fail("\"kill\" requires a minimum of 1 and a maximum of 2 argument(s)");
    if (rc) return rc;
    int sig = SIGTERM;
    if (argc - i == 2 && (sig = parse_signal(argv[i + 1])) < 0)
        return fail("unknown signal \"%s\"", argv[i + 1]);
    struct sp_err err = {0};
    if (container_kill(g.root, argv[i], sig, opt(opts, "all") != NULL, &err) < 0)
        return fail("%s", err.msg);
    return 0;
}

static int cmd_delete(int argc, char **argv, int i)
{
    struct opt opts[] = {{"force", 'f', false, NULL, NULL}, {NULL, 0, false, NULL, NULL}};
    int rc = parse_opts(argc, argv, &i, opts, "delete");
    if (rc == 0) rc = need_args(argc, i, 1, "delete", true);
    if (rc) return rc;
    struct sp_err err = {0};
    if (container_delete(g.root, argv[i], opt(opts, "force") != NULL, &err) < 0)
        return fail("%s", err.msg);
    return 0;
}

static int cmd_ps(int argc, char **argv, int i)
{
    struct opt opts[] = {{"format", 'f', true, NULL, NULL}, {NULL, 0, false, NULL, NULL}};
    int rc = parse_opts(argc, argv, &i, opts, "ps");
    if (rc == 0) rc = need_args(argc, i, 1, "ps", false);
    if (rc) {
        free_opts(opts);
        return rc;
    }
    char fmt[16];
    snprintf(fmt, sizeof(fmt), "%s", opt(opts, "format") ? opt(opts, "format") : "table");
    free_opts(opts);
    pid_t *pids;
    size_t n;
    struct sp_err err = {0};
    if (container_pids(g.root, argv[i], &pids, &n, &err) < 0) return fail("%s", err.msg);
    if (strcmp(fmt, "json") == 0) {
        putchar('[');
        for (size_t k = 0; k < n; k++)
            printf("%s%d", k ? "," : "", (int)pids[k]);
        puts("]");
    } else if (strcmp(fmt, "table") == 0) {
        printf("%-8s %s\n", "PID", "CMD");
        for (size_t k = 0; k < n; k++) {
            char path[64], cmdline[256] = "";
            snprintf(path, sizeof(path), "/proc/%d/comm", (int)pids[k]);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                ssize_t m = read(fd, cmdline, sizeof(cmdline) - 1);
                close(fd);
                if (m > 0) cmdline[m - (cmdline[m - 1] == '\n')] = '\0';
            }
            printf("%-8d %s\n", (int)pids[k], cmdline);
        }
    } else {
        free(pids);
        return fail("invalid format option");
    }
    free(pids);
    return 0;
}

static int cmd_list(int argc, char **argv, int i)
{
    struct opt opts[] = {{"format", 'f', true, NULL, NULL},
                         {"quiet", 'q', false, NULL, NULL},
                         {NULL, 0, false, NULL, NULL}};
    int rc = parse_opts(argc, argv, &i, opts, "list");
    bool json = opt(opts, "format") && strcmp(opt(opts, "format"), "json") == 0;
    bool quiet = opt(opts, "quiet") != NULL;
    free_opts(opts);
    if (rc) return rc;
    char **ids;
    struct sp_err err = {0};
    if (container_list(g.root, &ids, &err) < 0) return fail("%s", err.msg);
    json_t *arr = json ? json_array() : NULL;
    if (!json && !quiet)
        printf("%-12s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
    for (size_t k = 0; ids[k]; k++) {
        struct container_info info;
        if (container_state(g.root, ids[k], &info, &err) < 0) continue;
        if (json)
            json_array_append_new(arr, container_info_json(&info));
        else if (quiet)
            printf("%s\n", info.id);
        else
            printf("%-12s %-8d %-10s %-40s %s\n", info.id, (int)info.pid,
                   container_status_name(info.status), info.bundle, info.created);
        container_info_clear(&info);
    }
    sp_strv_free(ids);
    if (json) {
        char *text = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (!text) return fail("out of memory");
        puts(text);
        free(text);
    }
    return 0;
}

static json_t *read_json_file(const char *path, struct sp_err *err)
{
    json_error_t je;
    json_t *j = strcmp(path, "-") == 0 ? json_loadf(stdin, 0, &je) : json_load_file(path, 0, &je);
    if (!j) sp_err_set(err, -EINVAL, "%s: %s", path, je.text);
    return j;
}

static int cmd_update(int argc, char **argv, int i)
{
    struct opt opts[] = {{"resources", 'r', true, NULL, NULL}, {NULL, 0, false, NULL, NULL}};
    int rc = parse_opts(argc, argv, &i, opts, "update");
    if (rc == 0) rc = need_args(argc, i, 1, "update", true);
    if (rc == 0 && !opt(opts, "resources"))
        rc = fail("update: only --resources FILE|- is supported");
    if (rc) {
        free_opts(opts);
        return rc;
    }
    struct sp_err err = {0};
    json_t *res = read_json_file(opt(opts, "resources"), &err);
    free_opts(opts);
    if (!res) return fail("%s", err.msg);
    int r = container_update(g.root, argv[i], res, &err);
    json_decref(res);
    return r < 0 ? fail("%s", err.msg) : 0;
}

static int cmd_exec(int argc, char **argv, int i)
{
    struct opt opts[] = {
        {"process", 'p', true, NULL, NULL},
        {"detach", 'd', false, NULL, NULL},
        {"pid-file", 0, true, NULL, NULL},
        {"console-socket", 0, true, NULL, NULL},
        {"tty", 't', false, NULL, NULL},
        {"cwd", 0, true, NULL, NULL},
        {"env", 'e', true, NULL, NULL},
        {"user", 'u', true, NULL, NULL},
        {"preserve-fds", 0, true, NULL, NULL},
        {"no-new-privs", 0, false, NULL, NULL},
        {"additional-gids", 'g', true, NULL, NULL},
        {"cap", 'c', true, NULL, NULL},
        {"process-label", 0, true, NULL, NULL},
        {"apparmor", 0, true, NULL, NULL},
        {"cgroup", 0, true, NULL, NULL},
        {"ignore-paused", 0, false, NULL, NULL},
        {NULL, 0, false, NULL, NULL},
    };
    int rc = parse_opts(argc, argv, &i, opts, "exec");
    if (rc == 0) rc = need_args(argc, i, 1, "exec", false);
    unsigned preserve = 0;
    if (rc == 0 && parse_uint(opt(opts, "preserve-fds"), &preserve) < 0)
        rc = fail("invalid --preserve-fds value");
    if (rc) {
        free_opts(opts);
        return rc;
    }
    const char *id = argv[i++];
    struct sp_err err = {0};
    struct oci_process p;
    memset(&p, 0, sizeof(p));
    json_t *pj = NULL;
    if (opt(opts, "process")) {
        pj = read_json_file(opt(opts, "process"), &err);
        /* without capabilities of its own the process gets the container's, as with runc (not
         * every capability root has) */
        if (pj && !json_object_get(pj, "capabilities")) {
            json_t *base = container_config_process_json(g.root, id, &err);
            json_t *caps = base ? json_object_get(base, "capabilities") : NULL;
            if (caps) json_object_set(pj, "capabilities", caps);
            json_decref(base);
            if (!base) {
                json_decref(pj);
                pj = NULL;
            }
        }
    } else {
        /* the container's own process, with the command line's args and overrides */
        if (argc - i < 1) {
            free_opts(opts);
            return fail("exec: no command given (args or --process)");
        }
        pj = container_config_process_json(g.root, id, &err);
        if (pj) {
            json_t *args = json_array();
            for (int k = i; k < argc; k++)
                json_array_append_new(args, json_string(argv[k]));
            json_object_set_new(pj, "args", args);
            if (opt(opts, "cwd")) json_object_set_new(pj, "cwd", json_string(opt(opts, "cwd")));
            json_t *env = json_object_get(pj, "env");
            if (!json_is_array(env)) {
                env = json_array();
                json_object_set_new(pj, "env", env);
            }
            struct opt *eo = find_opt(opts, "env", 3);
            for (size_t k = 0; eo->values && eo->values[k]; k++)
                json_array_append_new(env, json_string(eo->values[k]));
            if (opt(opts, "user")) {
                unsigned uid = 0, gid = 0;
                if (sscanf(opt(opts, "user"), "%u:%u", &uid, &gid) < 1) {
                    json_decref(pj);
                    free_opts(opts);
                    return fail("exec: --user must be UID[:GID]");
                }
                json_object_set_new(
                    pj, "user",
                    json_pack("{s:I, s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid));
            }
            if (opt(opts, "no-new-privs")) json_object_set_new(pj, "noNewPrivileges", json_true());
        }
    }
    if (pj && opt(opts, "tty")) json_object_set_new(pj, "terminal", json_true());
    if (!pj || oci_process_from_json(pj, &p, &err) < 0) {
        json_decref(pj);
        free_opts(opts);
        return fail("%s", err.msg);
    }
    json_decref(pj);
    struct container_exec_opts eo = {
        .pid_file = opt(opts, "pid-file"),
        .console_socket = opt(opts, "console-socket"),
        .detach = opt(opts, "detach") != NULL,
        .preserve_fds = preserve,
    };
    int status = 0;
    int r = container_exec(g.root, id, &p, &eo, &status, &err);
    oci_process_clear(&p);
    free_opts(opts);
    if (r < 0) return fail("%s", err.msg);
    return status;
}

static int cmd_features(void)
{
    json_t *o =
        json_pack("{s:s, s:s, s:[sssssss], s:[ssssssssssssssssssss], s:{s:{s:b}, s:[sssssss]}}",
                  "ociVersionMin", "1.0.0", "ociVersionMax", "1.1.0", "hooks", "prestart",
                  "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
                  "unknown", "mountOptions", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec",
                  "noexec", "sync", "async", "bind", "rbind", "private", "rprivate", "shared",
                  "rshared", "slave", "rslave", "relatime", "noatime", "linux", "cgroup", "v1",
                  true, "namespaces", "pid", "network", "mount", "ipc", "uts", "user", "cgroup");
    char *text = o ? json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text) return fail("out of memory");
    puts(text);
    free(text);
    return 0;
}

static int cmd_spec(int argc, char **argv, int i)
{
    struct opt opts[] = {{"bundle", 'b', true, NULL, NULL},
                         {"rootless", 0, false, NULL, NULL},
                         {NULL, 0, false, NULL, NULL}};
    int rc = parse_opts(argc, argv, &i, opts, "spec");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/config.json", opt(opts, "bundle") ? opt(opts, "bundle") : ".");
    free_opts(opts);
    if (rc) return rc;
    if (access(path, F_OK) == 0) return fail("File %s exists. Remove it first", path);
    static const char spec[] =
        "{\n"
        "  \"ociVersion\": \"1.0.2\",\n"
        "  \"process\": {\n"
        "    \"terminal\": true,\n"
        "    \"user\": {\"uid\": 0, \"gid\": 0},\n"
        "    \"args\": [\"sh\"],\n"
        "    \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
        "\"TERM=xterm\"],\n"
        "    \"cwd\": \"/\",\n"
        "    \"capabilities\": {\n"
        "      \"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
        "      \"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
        "      \"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
        "      \"ambient\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]\n"
        "    },\n"
        "    \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],\n"
        "    \"noNewPrivileges\": true\n"
        "  },\n"
        "  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
        "  \"hostname\": \"sprite\",\n"
        "  \"mounts\": [\n"
        "    {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
        "    {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": "
        "[\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},\n"
        "    {\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\", "
        "\"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\", "
        "\"gid=5\"]},\n"
        "    {\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\", "
        "\"options\": "
        "[\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},\n"
        "    {\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\", "
        "\"options\": [\"nosuid\", \"noexec\", \"nodev\"]},\n"
        "    {\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\", \"options\": "
        "[\"nosuid\", \"noexec\", \"nodev\", \"ro\"]}\n"
        "  ],\n"
        "  \"linux\": {\n"
        "    \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},\n"
        "    \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"}, "
        "{\"type\": \"uts\"}, {\"type\": \"mount\"}],\n"
        "    \"maskedPaths\": [\"/proc/acpi\", \"/proc/asound\", \"/proc/kcore\", \"/proc/keys\", "
        "\"/proc/latency_stats\", \"/proc/timer_list\", \"/proc/timer_stats\", "
        "\"/proc/sched_debug\", \"/sys/firmware\", \"/proc/scsi\"],\n"
        "    \"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\", "
        "\"/proc/sysrq-trigger\"]\n"
        "  }\n"
        "}\n";
    int r = sp_write_file_atomic(path, spec, sizeof(spec) - 1, 0644);
    return r < 0 ? fail("writing %s: %s", path, strerror(-r)) : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: " RUNC_NAME " [global options] command [command options] [arguments...]\n"
               "\n"
               "An OCI runtime with runc's command line (see docs/runtime.md).\n"
               "\n"
               "commands: create, start, run, state, kill, delete, exec, ps, list, pause, resume,\n"
               "          update, features, spec\n"
               "global options: --root DIR (default /run/" RUNC_NAME "), --log FILE,\n"
               "                --log-format text|json, --systemd-cgroup, --debug, --version\n");
}

int runc_main(int argc, char **argv, const char *version)
{
    struct opt gopts[] = {
        {"root", 0, true, NULL, NULL},       {"log", 0, true, NULL, NULL},
        {"log-format", 0, true, NULL, NULL}, {"systemd-cgroup", 0, false, NULL, NULL},
        {"debug", 0, false, NULL, NULL},     {"criu", 0, true, NULL, NULL},
        {"rootless", 0, true, NULL, NULL},   {"version", 'v', false, NULL, NULL},
        {"help", 'h', false, NULL, NULL},    {NULL, 0, false, NULL, NULL},
    };
    int i = 1;
    memset(&g, 0, sizeof(g));
    g.version = version;
    int rc = parse_opts(argc, argv, &i, gopts, RUNC_NAME);
    if (rc) {
        free_opts(gopts);
        return rc;
    }
    g.log = opt(gopts, "log");
    const char *fmt = opt(gopts, "log-format");
    if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "text") != 0) {
        free_opts(gopts);
        return fail("invalid log-format: %s", fmt);
    }
    g.log_json = fmt && strcmp(fmt, "json") == 0;
    if (opt(gopts, "root")) {
        snprintf(g.root_buf, sizeof(g.root_buf), "%s", opt(gopts, "root"));
    } else {
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (geteuid() != 0 && xdg && *xdg)
            snprintf(g.root_buf, sizeof(g.root_buf), "%s/" RUNC_NAME, xdg);
        else
            snprintf(g.root_buf, sizeof(g.root_buf), "/run/" RUNC_NAME);
    }
    g.root = g.root_buf;
    if (opt(gopts, "version")) {
        printf(RUNC_NAME " version %s\nspec: 1.0.2\n", g.version);
        free_opts(gopts);
        return 0;
    }
    if (opt(gopts, "help") || i >= argc) {
        usage(i >= argc && !opt(gopts, "help") ? stderr : stdout);
        free_opts(gopts);
        return i >= argc && !opt(gopts, "help") ? 1 : 0;
    }
    if (opt(gopts, "systemd-cgroup"))
        log_line("warning", "--systemd-cgroup: systemd cgroups are not supported; using cgroupfs");
    const char *cmd = argv[i++];
    if (strcmp(cmd, "create") == 0)
        rc = cmd_create_run(argc, argv, i, false);
    else if (strcmp(cmd, "run") == 0)
        rc = cmd_create_run(argc, argv, i, true);
    else if (strcmp(cmd, "start") == 0 || strcmp(cmd, "state") == 0 || strcmp(cmd, "pause") == 0 ||
             strcmp(cmd, "resume") == 0)
        rc = cmd_simple(argc, argv, i, cmd);
    else if (strcmp(cmd, "kill") == 0)
        rc = cmd_kill(argc, argv, i);
    else if (strcmp(cmd, "delete") == 0)
        rc = cmd_delete(argc, argv, i);
    else if (strcmp(cmd, "exec") == 0)
        rc = cmd_exec(argc, argv, i);
    else if (strcmp(cmd, "ps") == 0)
        rc = cmd_ps(argc, argv, i);
    else if (strcmp(cmd, "list") == 0)
        rc = cmd_list(argc, argv, i);
    else if (strcmp(cmd, "update") == 0)
        rc = cmd_update(argc, argv, i);
    else if (strcmp(cmd, "features") == 0)
        rc = cmd_features();
    else if (strcmp(cmd, "spec") == 0)
        rc = cmd_spec(argc, argv, i);
    else if (strcmp(cmd, "checkpoint") == 0 || strcmp(cmd, "restore") == 0 ||
             strcmp(cmd, "events") == 0)
        rc = fail("%s is not supported by " RUNC_NAME, cmd);
    else if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        rc = 0;
    } else
        rc = fail("No help topic for '%s'", cmd);
    free_opts(gopts);
    fflush(stdout);
    return rc;
}
