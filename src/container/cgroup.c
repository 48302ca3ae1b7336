/* SPDX-License-Identifier: MIT */
/*
 * Cgroups for containers: see cgroup.h. Everything is plain file I/O on the cgroup file
 * systems: v1 hierarchies are found in /proc/self/mountinfo (type "cgroup", one directory per
 * hierarchy, co-mounted controllers such as "cpu,cpuacct" sharing it), v2 is the cgroup2 mount
 * on /sys/fs/cgroup. Resource values follow runc and crun (oci-runtime.md §3.5).
 */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "../base/fd.h"
#include "../base/log.h"
#include "../base/time.h"

#define CGROUP_ROOT     "/sys/fs/cgroup"
#define DEFAULT_PARENT  "/sprite"
#define FREEZE_WAIT_MS  5000
#define DESTROY_WAIT_MS 1000
/* Sub-cgroups deeper than this below a container's cgroup are not walked. */
#define MAX_DEPTH 32

/* v1 controllers a hierarchy carries (CG_OTHER: one we do not configure but still join). */
enum {
    CG_CPU = 1u << 0,
    CG_CPUACCT = 1u << 1,
    CG_CPUSET = 1u << 2,
    CG_MEMORY = 1u << 3,
    CG_DEVICES = 1u << 4,
    CG_FREEZER = 1u << 5,
    CG_BLKIO = 1u << 6,
    CG_PIDS = 1u << 7,
    CG_OTHER = 1u << 8,
    CG_ALL = (1u << 9) - 1,
};

static const struct {
    const char *name;
    unsigned bit;
} v1_controllers[] = {
    {"cpu", CG_CPU},        {"cpuacct", CG_CPUACCT},  {"cpuset", CG_CPUSET},
    {"memory", CG_MEMORY},  {"devices", CG_DEVICES},  {"freezer", CG_FREEZER},
    {"blkio", CG_BLKIO},    {"pids", CG_PIDS},        {"net_cls", CG_OTHER},
    {"net_prio", CG_OTHER}, {"perf_event", CG_OTHER}, {"hugetlb", CG_OTHER},
    {"rdma", CG_OTHER},     {"misc", CG_OTHER},
};

/* v2 controllers enabled in the parents' cgroup.subtree_control when available. */
static const char *const v2_controllers[] = {"cpu", "cpuset", "memory", "pids"};

struct cg_hier {
    char *dir;      /* the cgroup's directory in this hierarchy (mount point + path) */
    size_t mnt_len; /* length of the mount point prefix of dir */
    unsigned ctrl;  /* CG_* bits (v2: CG_ALL) */
};

struct cgroup {
    enum cgroup_mode mode;
    char *path; /* "/sprite/c1" */
    size_t n;
    struct cg_hier *h;
};

/* Test override (cgroup_set_root_for_tests); unset: detection. */
static bool g_override;
static enum cgroup_mode g_override_mode;
static char g_override_root[PATH_MAX];

/* ---- small file helpers ---- */

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* dir + "/" + name into buf (PATH_MAX). */
static int join(char *buf, const char *dir, const char *name)
{
    int r = snprintf(buf, PATH_MAX, "%s/%s", dir, name);
    return r < 0 || r >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Writes value to dir/name in one write(2) (cgroup files take one value per write). */
static int write_file(const char *dir, const char *name, const char *value, struct sp_err *err)
{
    char path[PATH_MAX];
    if (join(path, dir, name) < 0)
        return sp_err_set(err, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int e = fd < 0 ? -errno : sp_write_all(fd, value, strlen(value));
    if (fd >= 0 && close(fd) < 0 && e == 0) e = -errno;
    if (e < 0) return sp_err_set(err, e, "writing %s to %s: %s", value, path, strerror(-e));
    return 0;
}

/* Reads dir/name (at most cap-1 bytes) with trailing white space removed; length or -errno. */
static ssize_t read_file(const char *dir, const char *name, char *buf, size_t cap)
{
    char path[PATH_MAX];
    if (join(path, dir, name) < 0) return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t r = sp_read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            sp_close(fd);
            return r;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    sp_close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    buf[len] = '\0';
    return (ssize_t)len;
}

static bool file_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    return join(path, dir, name) == 0 && access(path, F_OK) == 0;
}

static int dir_exists(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) < 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Whether the space-separated list has word. */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\n')
            p++;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\n')
            p++;
        if ((size_t)(p - s) == n && !memcmp(s, word, n)) return true;
    }
    return false;
}

/* ---- detection and hierarchies ---- */

enum cgroup_mode cgroup_detect(void)
{
    if (g_override) return g_override_mode;
    struct statfs sf;
    if (statfs(CGROUP_ROOT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) return CGROUP_V2;
    return CGROUP_V1;
}

void cgroup_set_root_for_tests(enum cgroup_mode mode, const char *root)
{
    if (!root) {
        g_override = false;
        g_override_root[0] = '\0';
        return;
    }
    g_override = true;
    g_override_mode = mode;
    snprintf(g_override_root, sizeof(g_override_root), "%s", root);
}

static const char *v2_root(void)
{
    return g_override && g_override_root[0] ? g_override_root : CGROUP_ROOT;
}

/* Undoes mountinfo's octal escapes ("\040" for a space) in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Controller bits named in a super-options string ("rw,cpu,cpuacct"); 0 for a named-only
 * hierarchy such as "rw,name=systemd". */
static unsigned controller_bits(const char *opts)
{
    unsigned bits = 0;
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", opts);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        for (size_t i = 0; i < SP_ARRAY_LEN(v1_controllers); i++)
            if (!strcmp(t, v1_controllers[i].name)) bits |= v1_controllers[i].bit;
    return bits;
}

/* One mounted v1 hierarchy. */
struct v1_mount {
    char *dir;
    unsigned ctrl;
    char dev[32];
};

static void free_mounts(struct v1_mount *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].dir);
    free(m);
}

/* The v1 hierarchies with at least one controller, each once (a hierarchy mounted twice keeps
 * its first mount point). */
static int v1_mounts(struct v1_mount **out, size_t *nout, struct sp_err *err)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) {
        int e = -errno;
        return sp_err_set(err, e, "opening /proc/self/mountinfo: %s", strerror(-e));
    }
    struct v1_mount *m = NULL;
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    int e = 0;
    while (getline(&line, &cap, f) > 0) {
        /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
        char *sep = strstr(line, " - ");
        if (!sep) continue;
        *sep = '\0';
        char *fields[5] = {0};
        char *save = NULL;
        for (int i = 0; i < 5; i++)
            fields[i] = strtok_r(i ? NULL : line, " ", &save);
        save = NULL;
        char *fstype = strtok_r(sep + 3, " \n", &save);
        char *source = strtok_r(NULL, " \n", &save);
        char *super = strtok_r(NULL, " \n", &save);
        if (!fields[4] || !fstype || !source || !super || strcmp(fstype, "cgroup")) continue;
        unsigned bits = controller_bits(super);
        if (!bits) continue;
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(m[i].dev, fields[2])) dup = true;
        if (dup) continue;
        struct v1_mount *nm = realloc(m, (n + 1) * sizeof(*m));
        if (!nm) {
            e = -ENOMEM;
            break;
        }
        m = nm;
        unescape(fields[4]);
        m[n].dir = strdup(fields[4]);
        if (!m[n].dir) {
            e = -ENOMEM;
            break;
        }
        m[n].ctrl = bits;
        snprintf(m[n].dev, sizeof(m[n].dev), "%s", fields[2]);
        n++;
    }
    free(line);
    fclose(f);
    if (e < 0) {
        free_mounts(m, n);
        return sp_err_set(err, e, "reading /proc/self/mountinfo: %s", strerror(-e));
    }
    if (n == 0) {
        free(m);
        return sp_err_set(err, -ENOENT, "no cgroup v1 hierarchy is mounted");
    }
    *out = m;
    *nout = n;
    return 0;
}

/* ---- paths ---- */

int cgroup_resolve_path(const char *path, const char *id, char *out, size_t cap, struct sp_err *err)
{
    char buf[PATH_MAX];
    if (!path || path[0] != '/') {
        if (!id || !*id || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, ".."))
            return sp_err_set(err, -EINVAL, "cgroup: invalid container id \"%s\"",
                              id ? id : "(none)");
        int r = snprintf(buf, sizeof(buf), DEFAULT_PARENT "/%s", id);
        if (r < 0 || (size_t)r >= sizeof(buf))
            return sp_err_set(err, -ENAMETOOLONG, "cgroup: container id too long");
        path = buf;
    }
    /* Normalise: collapse "//", drop ".", refuse "..", refuse the root itself. */
    size_t len = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 1 && s[0] == '.') continue;
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return sp_err_set(err, -EINVAL, "cgroup path %s: \"..\" is not allowed", path);
        if (n > NAME_MAX)
            return sp_err_set(err, -ENAMETOOLONG, "cgroup path %s: component too long", path);
        if (len + 1 + n + 1 > cap || len + 1 + n + 1 > PATH_MAX / 2)
            return sp_err_set(err, -ENAMETOOLONG, "cgroup path %s: too long", path);
        out[len++] = '/';
        memcpy(out + len, s, n);
        len += n;
    }
    if (len == 0) return sp_err_set(err, -EINVAL, "cgroup path \"%s\": empty", path);
    out[len] = '\0';
    return 0;
}

void cgroup_free(struct cgroup *cg)
{
    if (!cg) return;
    for (size_t i = 0; i < cg->n; i++)
        free(cg->h[i].dir);
    free(cg->h);
    free(cg->path);
    free(cg);
}

/* A struct cgroup for path (already normalised), one entry per hierarchy. */
static int cgroup_build(const char *path, struct cgroup **out, struct sp_err *err)
{
    struct cgroup *cg = calloc(1, sizeof(*cg));
    if (!cg || !(cg->path = strdup(path))) {
        free(cg);
        return sp_err_set(err, -ENOMEM, "cgroup: out of memory");
    }
    cg->mode = cgroup_detect();
    struct v1_mount *m = NULL;
    size_t n = 1;
    if (cg->mode == CGROUP_V1) {
        int e = v1_mounts(&m, &n, err);
        if (e < 0) {
            cgroup_free(cg);
            return e;
        }
    }
    cg->h = calloc(n, sizeof(*cg->h));
    if (!cg->h) {
        free_mounts(m, m ? n : 0);
        cgroup_free(cg);
        return sp_err_set(err, -ENOMEM, "cgroup: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const char *mnt = m ? m[i].dir : v2_root();
        size_t ml = strlen(mnt);
        while (ml > 1 && mnt[ml - 1] == '/')
            ml--;
        if (ml == 1 && mnt[0] == '/') ml = 0;
        char *dir = NULL;
        if (ml + strlen(path) >= PATH_MAX - NAME_MAX - 2 ||
            asprintf(&dir, "%.*s%s", (int)ml, mnt, path) < 0) {
            free_mounts(m, m ? n : 0);
            cgroup_free(cg);
            return sp_err_set(err, -ENAMETOOLONG, "cgroup %s: path too long", path);
        }
        cg->h[i].dir = dir;
        cg->h[i].mnt_len = ml;
        cg->h[i].ctrl = m ? m[i].ctrl : CG_ALL;
        cg->n++;
    }
    free_mounts(m, m ? n : 0);
    *out = cg;
    return 0;
}

const char *cgroup_path(const struct cgroup *cg)
{
    return cg->path;
}

/* The hierarchy carrying controller bit, or NULL. */
static const struct cg_hier *hier(const struct cgroup *cg, unsigned bit)
{
    for (size_t i = 0; i < cg->n; i++)
        if (cg->h[i].ctrl & bit) return &cg->h[i];
    return NULL;
}

/* The hierarchy whose cgroup.procs lists the container's processes. */
static const struct cg_hier *procs_hier(const struct cgroup *cg)
{
    const struct cg_hier *h = hier(cg, CG_FREEZER);
    if (!h) h = hier(cg, CG_PIDS);
    return h ? h : &cg->h[0];
}

/* ---- create / open ---- */

/* v1 cpuset: a new cgroup has empty cpus and mems, and no task can join it until they are set. */
static int cpuset_fill(const char *parent, const char *dir, struct sp_err *err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (size_t i = 0; i < SP_ARRAY_LEN(files); i++) {
        char cur[4096];
        ssize_t r = read_file(dir, files[i], cur, sizeof(cur));
        if (r < 0)
            return sp_err_set(err, (int)r, "reading %s/%s: %s", dir, files[i], strerror((int)-r));
        if (r > 0) continue;
        char val[4096];
        r = read_file(parent, files[i], val, sizeof(val));
        if (r < 0)
            return sp_err_set(err, (int)r, "reading %s/%s: %s", parent, files[i],
                              strerror((int)-r));
        if (r == 0) continue;
        int e = write_file(dir, files[i], val, err);
        if (e < 0) return e;
    }
    return 0;
}

/* v2: enables our controllers for the children of dir, as far as dir offers them. A controller
 * that cannot be enabled (processes in an inner cgroup, real-time tasks for "cpu") is skipped:
 * setting one of its values later fails naming the missing file. */
static void v2_enable(const char *dir)
{
    char avail[1024], on[1024], want[256] = "";
    if (read_file(dir, "cgroup.controllers", avail, sizeof(avail)) < 0) return;
    if (read_file(dir, "cgroup.subtree_control", on, sizeof(on)) < 0) on[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(v2_controllers); i++) {
        const char *c = v2_controllers[i];
        if (!has_word(avail, c) || has_word(on, c)) continue;
        len += (size_t)snprintf(want + len, sizeof(want) - len, "%s+%s", len ? " " : "", c);
    }
    if (!len) return;
    struct sp_err e;
    if (write_file(dir, "cgroup.subtree_control", want, &e) == 0) return;
    /* One at a time, so one refused controller does not cost the others. */
    for (size_t i = 0; i < SP_ARRAY_LEN(v2_controllers); i++) {
        const char *c = v2_controllers[i];
        if (!has_word(avail, c) || has_word(on, c)) continue;
        char one[32];
        snprintf(one, sizeof(one), "+%s", c);
        if (write_file(dir, "cgroup.subtree_control", one, &e) < 0) sp_debug("cgroup: %s", e.msg);
    }
}

/* Removes the directories of h->dir from depth `from` (component index) down to the leaf,
 * deepest first; used to undo a failed create. */
static void unmake(const struct cg_hier *h, int from)
{
    if (from < 0) return;
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", h->dir);
    for (;;) {
        /* count components below the mount point */
        int depth = -1;
        for (const char *p = buf + h->mnt_len; *p; p++)
            if (*p == '/') depth++;
        if (depth < from) break;
        /* Components at or below `from` are ours or absent (or the control file that made
         * the create fail); a failure here makes the parents' rmdir fail too, harmlessly. */
        (void)rmdir(buf);
        char *slash = strrchr(buf + h->mnt_len, '/');
        if (!slash) break;
        *slash = '\0';
    }
}

/* mkdir -p of one hierarchy's path; *first is the index of the first component this call made
 * (-1: none). */
static int make_dirs(const struct cgroup *cg, const struct cg_hier *h, int *first,
                     struct sp_err *err)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", h->dir);
    *first = -1;
    int idx = 0;
    char *p = buf + h->mnt_len + 1; /* past the path's leading slash */
    for (;; idx++) {
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        /* buf is now the component's directory; its parent is buf up to the last slash. */
        char *ps = strrchr(buf + h->mnt_len, '/');
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%.*s", (int)(ps - buf), buf);
        if (!parent[0]) snprintf(parent, sizeof(parent), "/");
        if (cg->mode == CGROUP_V2) v2_enable(parent);
        if (mkdir(buf, 0755) == 0) {
            if (*first < 0) *first = idx;
        } else {
            int e = -errno;
            if (e == -EEXIST) e = dir_exists(buf);
            if (e < 0) return sp_err_set(err, e, "creating %s: %s", buf, strerror(-e));
        }
        if (cg->mode == CGROUP_V1 && (h->ctrl & CG_CPUSET)) {
            int e = cpuset_fill(parent, buf, err);
            if (e < 0) return e;
        }
        if (!slash) break;
        *slash = '/';
        p = slash + 1;
    }
    return 0;
}

int cgroup_create(const char *path, const char *id, struct cgroup **out, bool *created,
                  struct sp_err *err)
{
    char norm[PATH_MAX];
    int e = cgroup_resolve_path(path, id, norm, sizeof(norm), err);
    if (e < 0) return e;
    struct cgroup *cg;
    e = cgroup_build(norm, &cg, err);
    if (e < 0) return e;

    int *first = calloc(cg->n, sizeof(*first));
    if (!first) {
        cgroup_free(cg);
        return sp_err_set(err, -ENOMEM, "cgroup: out of memory");
    }
    bool made = false;
    size_t i;
    for (i = 0; i < cg->n; i++) {
        e = make_dirs(cg, &cg->h[i], &first[i], err);
        if (first[i] >= 0) made = true;
        if (e < 0) break;
    }
    if (e < 0) {
        for (size_t j = 0; j <= i && j < cg->n; j++)
            unmake(&cg->h[j], first[j]);
        free(first);
        cgroup_free(cg);
        return e;
    }
    free(first);
    /* Making any component makes the leaf too, so the leaf is ours when this call made a
     * directory in some hierarchy (a crashed earlier attempt may have left it in others). */
    if (created) *created = made;
    *out = cg;
    return 0;
}

int cgroup_open(const char *path, struct cgroup **out, struct sp_err *err)
{
    if (!path || path[0] != '/')
        return sp_err_set(err, -EINVAL, "cgroup path \"%s\": not absolute", path ? path : "");
    char norm[PATH_MAX];
    int e = cgroup_resolve_path(path, NULL, norm, sizeof(norm), err);
    if (e < 0) return e;
    struct cgroup *cg;
    e = cgroup_build(norm, &cg, err);
    if (e < 0) return e;
    for (size_t i = 0; i < cg->n; i++) {
        if (dir_exists(cg->h[i].dir) == 0) {
            *out = cg;
            return 0;
        }
    }
    e = sp_err_set(err, -ENOENT, "cgroup %s: not found (%s)", norm, cg->h[0].dir);
    cgroup_free(cg);
    return e;
}

int cgroup_enter(struct cgroup *cg, pid_t pid, struct sp_err *err)
{
    if (pid <= 0) return sp_err_set(err, -EINVAL, "cgroup %s: invalid pid %d", cg->path, pid);
    char val[32];
    snprintf(val, sizeof(val), "%d", (int)pid);
    for (size_t i = 0; i < cg->n; i++) {
        int e = write_file(cg->h[i].dir, "cgroup.procs", val, err);
        if (e < 0) return e;
    }
    return 0;
}

/* ---- resources ---- */

struct opt_ll {
    bool set;
    long long v;
};

struct resources {
    struct opt_ll mem_limit, mem_reservation, mem_swap, swappiness;
    bool oom_disable;
    struct opt_ll shares, quota, period;
    const char *cpus, *mems;
    struct opt_ll pids_limit;
    json_t *devices;
};

static int get_int(json_t *obj, const char *sect, const char *key, struct opt_ll *out,
                   struct sp_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v))
        return sp_err_set(err, -EINVAL, "linux.resources.%s.%s: not an integer", sect, key);
    out->set = true;
    out->v = (long long)json_integer_value(v);
    return 0;
}

static int get_str(json_t *obj, const char *sect, const char *key, const char **out,
                   struct sp_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return sp_err_set(err, -EINVAL, "linux.resources.%s.%s: not a string", sect, key);
    *out = json_string_value(v);
    return 0;
}

static int get_section(json_t *res, const char *key, json_t **out, struct sp_err *err)
{
    json_t *v = json_object_get(res, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v))
        return sp_err_set(err, -EINVAL, "linux.resources.%s: not an object", key);
    *out = v;
    return 0;
}

/* One OCI device rule as a v1 devices.allow/deny line ("c 1:3 rwm"); *allow says which. */
static int device_rule(json_t *d, size_t idx, char *line, size_t cap, bool *allow,
                       struct sp_err *err)
{
    if (!json_is_object(d))
        return sp_err_set(err, -EINVAL, "linux.resources.devices[%zu]: not an object", idx);
    json_t *a = json_object_get(d, "allow");
    if (!json_is_boolean(a))
        return sp_err_set(err, -EINVAL, "linux.resources.devices[%zu].allow: not a boolean", idx);
    *allow = json_is_true(a);
    const char *type = "a";
    json_t *t = json_object_get(d, "type");
    if (t && !json_is_null(t)) {
        if (!json_is_string(t) ||
            (strcmp(json_string_value(t), "a") && strcmp(json_string_value(t), "b") &&
             strcmp(json_string_value(t), "c")))
            return sp_err_set(err, -EINVAL,
                              "linux.resources.devices[%zu].type: not \"a\", \"b\" or \"c\"", idx);
        type = json_string_value(t);
    }
    char num[2][24];
    static const char *const keys[] = {"major", "minor"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(d, keys[i]);
        if (!v || json_is_null(v) || (json_is_integer(v) && json_integer_value(v) == -1)) {
            strcpy(num[i], "*");
        } else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
                   json_integer_value(v) <= UINT32_MAX) {
            snprintf(num[i], sizeof(num[i]), "%lld", (long long)json_integer_value(v));
        } else {
            return sp_err_set(err, -EINVAL, "linux.resources.devices[%zu].%s: invalid", idx,
                              keys[i]);
        }
    }
    const char *access = "rwm";
    json_t *ac = json_object_get(d, "access");
    if (ac && !json_is_null(ac)) {
        if (!json_is_string(ac))
            return sp_err_set(err, -EINVAL, "linux.resources.devices[%zu].access: not a string",
                              idx);
        access = json_string_value(ac);
        if (!*access || strlen(access) > 3 || strspn(access, "rwm") != strlen(access))
            return sp_err_set(err, -EINVAL,
                              "linux.resources.devices[%zu].access: \"%s\" is not a subset of rwm",
                              idx, access);
    }
    snprintf(line, cap, "%s %s:%s %s", type, num[0], num[1], access);
    return 0;
}

static int parse_resources(json_t *res, struct resources *r, struct sp_err *err)
{
    memset(r, 0, sizeof(*r));
    json_t *mem, *cpu, *pids;
    int e;
    if ((e = get_section(res, "memory", &mem, err)) < 0) return e;
    if ((e = get_section(res, "cpu", &cpu, err)) < 0) return e;
    if ((e = get_section(res, "pids", &pids, err)) < 0) return e;
    if (mem) {
        if ((e = get_int(mem, "memory", "limit", &r->mem_limit, err)) < 0) return e;
        if ((e = get_int(mem, "memory", "reservation", &r->mem_reservation, err)) < 0) return e;
        if ((e = get_int(mem, "memory", "swap", &r->mem_swap, err)) < 0) return e;
        if ((e = get_int(mem, "memory", "swappiness", &r->swappiness, err)) < 0) return e;
        /* -1 is Docker's "unset" */
        if (r->swappiness.set && r->swappiness.v == -1) r->swappiness.set = false;
        if (r->swappiness.set && (r->swappiness.v < 0 || r->swappiness.v > 100))
            return sp_err_set(err, -EINVAL,
                              "linux.resources.memory.swappiness: %lld is not in 0-100",
                              r->swappiness.v);
        json_t *oom = json_object_get(mem, "disableOOMKiller");
        if (oom && !json_is_null(oom) && !json_is_boolean(oom))
            return sp_err_set(err, -EINVAL,
                              "linux.resources.memory.disableOOMKiller: not a boolean");
        r->oom_disable = json_is_true(oom);
        /* A memory limit lifted without a swap value lifts the swap limit too (runc). */
        if (r->mem_limit.set && r->mem_limit.v == -1 && !r->mem_swap.set) {
            r->mem_swap.set = true;
            r->mem_swap.v = -1;
        }
    }
    if (cpu) {
        if ((e = get_int(cpu, "cpu", "shares", &r->shares, err)) < 0) return e;
        if ((e = get_int(cpu, "cpu", "quota", &r->quota, err)) < 0) return e;
        if ((e = get_int(cpu, "cpu", "period", &r->period, err)) < 0) return e;
        if ((e = get_str(cpu, "cpu", "cpus", &r->cpus, err)) < 0) return e;
        if ((e = get_str(cpu, "cpu", "mems", &r->mems, err)) < 0) return e;
        /* 0 means "not set" for these in runc */
        if (r->shares.set && r->shares.v == 0) r->shares.set = false;
        if (r->period.set && r->period.v == 0) r->period.set = false;
        if (r->quota.set && r->quota.v == 0) r->quota.set = false;
        if (r->cpus && !*r->cpus) r->cpus = NULL;
        if (r->mems && !*r->mems) r->mems = NULL;
    }
    if (pids && (e = get_int(pids, "pids", "limit", &r->pids_limit, err)) < 0) return e;
    json_t *dev = json_object_get(res, "devices");
    if (dev && !json_is_null(dev)) {
        if (!json_is_array(dev))
            return sp_err_set(err, -EINVAL, "linux.resources.devices: not an array");
        size_t i;
        json_t *d;
        json_array_foreach(dev, i, d)
        {
            char line[64];
            bool allow;
            if ((e = device_rule(d, i, line, sizeof(line), &allow, err)) < 0) return e;
        }
        r->devices = dev;
    }
    return 0;
}

/* The directory for controller bit, or an error naming the file that could not be written. */
static int need(const struct cgroup *cg, unsigned bit, const char *file, const char **dir,
                struct sp_err *err)
{
    const struct cg_hier *h = hier(cg, bit);
    if (!h)
        return sp_err_set(err, -ENOENT, "cgroup %s: no hierarchy for %s is mounted", cg->path,
                          file);
    *dir = h->dir;
    return 0;
}

static int write_ll(const char *dir, const char *file, long long v, struct sp_err *err)
{
    char val[32];
    snprintf(val, sizeof(val), "%lld", v);
    return write_file(dir, file, val, err);
}

static int apply_v1(struct cgroup *cg, const struct resources *r, struct sp_err *err)
{
    const char *dir = NULL;
    int e;
    if (r->devices) {
        if ((e = need(cg, CG_DEVICES, "devices.allow", &dir, err)) < 0) return e;
        size_t i;
        json_t *d;
        json_array_foreach(r->devices, i, d)
        {
            char line[64];
            bool allow;
            if ((e = device_rule(d, i, line, sizeof(line), &allow, err)) < 0) return e;
            e = write_file(dir, allow ? "devices.allow" : "devices.deny", line, err);
            if (e < 0) return e;
        }
    }
    if (r->mem_limit.set || r->mem_swap.set || r->mem_reservation.set || r->swappiness.set ||
        r->oom_disable) {
        if ((e = need(cg, CG_MEMORY, "memory.limit_in_bytes", &dir, err)) < 0) return e;
        bool swap = r->mem_swap.set && file_exists(dir, "memory.memsw.limit_in_bytes");
        /* The kernel keeps memsw >= limit at every step: raise swap before the limit when the
         * new swap is above the current limit (or unlimited), else lower the limit first. */
        bool swap_first = false;
        if (swap && r->mem_limit.set) {
            char cur[64];
            unsigned long long curv = ULLONG_MAX;
            if (read_file(dir, "memory.limit_in_bytes", cur, sizeof(cur)) > 0)
                curv = strtoull(cur, NULL, 10);
            swap_first = r->mem_swap.v == -1 || curv < (unsigned long long)r->mem_swap.v;
        }
        if (swap && swap_first &&
            (e = write_ll(dir, "memory.memsw.limit_in_bytes", r->mem_swap.v, err)) < 0)
            return e;
        if (r->mem_limit.set &&
            (e = write_ll(dir, "memory.limit_in_bytes", r->mem_limit.v, err)) < 0)
            return e;
        if (swap && !swap_first &&
            (e = write_ll(dir, "memory.memsw.limit_in_bytes", r->mem_swap.v, err)) < 0)
            return e;
        if (r->mem_reservation.set &&
            (e = write_ll(dir, "memory.soft_limit_in_bytes", r->mem_reservation.v, err)) < 0)
            return e;
        if (r->swappiness.set && (e = write_ll(dir, "memory.swappiness", r->swappiness.v, err)) < 0)
            return e;
        if (r->oom_disable && (e = write_file(dir, "memory.oom_control", "1", err)) < 0) return e;
    }
    if (r->shares.set || r->quota.set || r->period.set) {
        if ((e = need(cg, CG_CPU, "cpu.shares", &dir, err)) < 0) return e;
        if (r->shares.set && (e = write_ll(dir, "cpu.shares", r->shares.v, err)) < 0) return e;
        /* A shorter period can be refused until the quota is lowered: retry it afterwards. */
        bool retry_period = false;
        if (r->period.set) {
            struct sp_err perr;
            e = write_ll(dir, "cpu.cfs_period_us", r->period.v, &perr);
            if (e == -EINVAL && r->quota.set) {
                retry_period = true;
            } else if (e < 0) {
                if (err) *err = perr;
                return e;
            }
        }
        if (r->quota.set && (e = write_ll(dir, "cpu.cfs_quota_us", r->quota.v, err)) < 0) return e;
        if (retry_period && (e = write_ll(dir, "cpu.cfs_period_us", r->period.v, err)) < 0)
            return e;
    }
    if (r->cpus || r->mems) {
        if ((e = need(cg, CG_CPUSET, "cpuset.cpus", &dir, err)) < 0) return e;
        if (r->cpus && (e = write_file(dir, "cpuset.cpus", r->cpus, err)) < 0) return e;
        if (r->mems && (e = write_file(dir, "cpuset.mems", r->mems, err)) < 0) return e;
    }
    if (r->pids_limit.set) {
        if ((e = need(cg, CG_PIDS, "pids.max", &dir, err)) < 0) return e;
        if (r->pids_limit.v <= 0)
            e = write_file(dir, "pids.max", "max", err);
        else
            e = write_ll(dir, "pids.max", r->pids_limit.v, err);
        if (e < 0) return e;
    }
    return 0;
}

static int write_max(const char *dir, const char *file, long long v, struct sp_err *err)
{
    return v < 0 ? write_file(dir, file, "max", err) : write_ll(dir, file, v, err);
}

static int apply_v2(struct cgroup *cg, const struct resources *r, struct sp_err *err)
{
    const char *dir = cg->h[0].dir;
    int e;
    /* Device rules need an eBPF program on v2: not supported, ignored. */
    if (r->mem_limit.set && (e = write_max(dir, "memory.max", r->mem_limit.v, err)) < 0) return e;
    if (r->mem_swap.set && file_exists(dir, "memory.swap.max")) {
        /* OCI swap is memory+swap; v2 limits swap alone (runc ConvertMemorySwapToCgroupV2Value) */
        long long swap = r->mem_swap.v, limit = r->mem_limit.set ? r->mem_limit.v : 0;
        if (swap != -1 && swap != 0) {
            if (limit <= 0)
                return sp_err_set(err, -EINVAL, "cgroup %s: a swap limit needs a memory limit",
                                  cg->path);
            if (swap < limit)
                return sp_err_set(err, -EINVAL,
                                  "cgroup %s: memory+swap limit %lld is below the memory "
                                  "limit %lld",
                                  cg->path, swap, limit);
            swap -= limit;
        }
        if (r->mem_swap.v != 0 && (e = write_max(dir, "memory.swap.max", swap, err)) < 0) return e;
    }
    if (r->mem_reservation.set && (e = write_max(dir, "memory.low", r->mem_reservation.v, err)) < 0)
        return e;
    if (r->shares.set) {
        /* runc ConvertCPUSharesToCgroupV2Value, with shares clamped to v1's range */
        unsigned long long s = (unsigned long long)r->shares.v;
        if (r->shares.v < 2) s = 2;
        if (s > 262144) s = 262144;
        if ((e = write_ll(dir, "cpu.weight", (long long)(1 + ((s - 2) * 9999) / 262142), err)) < 0)
            return e;
    }
    if (r->quota.set || r->period.set) {
        char val[64];
        int n = r->quota.set && r->quota.v > 0 ? snprintf(val, sizeof(val), "%lld", r->quota.v)
                                               : snprintf(val, sizeof(val), "max");
        if (r->period.set) snprintf(val + n, sizeof(val) - (size_t)n, " %lld", r->period.v);
        if ((e = write_file(dir, "cpu.max", val, err)) < 0) return e;
    }
    if (r->cpus && (e = write_file(dir, "cpuset.cpus", r->cpus, err)) < 0) return e;
    if (r->mems && (e = write_file(dir, "cpuset.mems", r->mems, err)) < 0) return e;
    if (r->pids_limit.set &&
        (e = write_max(dir, "pids.max", r->pids_limit.v <= 0 ? -1 : r->pids_limit.v, err)) < 0)
        return e;
    return 0;
}

int cgroup_apply(struct cgroup *cg, json_t *resources, struct sp_err *err)
{
    if (!resources || json_is_null(resources)) return 0;
    if (!json_is_object(resources))
        return sp_err_set(err, -EINVAL, "linux.resources: not an object");
    struct resources r;
    int e = parse_resources(resources, &r, err);
    if (e < 0) return e;
    return cg->mode == CGROUP_V1 ? apply_v1(cg, &r, err) : apply_v2(cg, &r, err);
}

long long cgroup_memory_limit(const struct cgroup *cg)
{
    const struct cg_hier *h = cg->mode == CGROUP_V1 ? hier(cg, CG_MEMORY) : &cg->h[0];
    if (!h) return -1;
    char buf[64];
    if (read_file(h->dir, cg->mode == CGROUP_V1 ? "memory.limit_in_bytes" : "memory.max", buf,
                  sizeof(buf)) <= 0)
        return -1;
    if (!strcmp(buf, "max")) return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || *end) return -1;
    /* v1 shows "unlimited" as the largest page multiple below LLONG_MAX */
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    if (v >= (unsigned long long)(LLONG_MAX / page) * (unsigned long long)page) return -1;
    return (long long)v;
}

/* ---- freezer ---- */

/* Where the state lives: v1 freezer.state in the freezer hierarchy, v2 cgroup.freeze. */
static const struct cg_hier *freezer(const struct cgroup *cg)
{
    return cg->mode == CGROUP_V1 ? hier(cg, CG_FREEZER) : &cg->h[0];
}

/* 1 frozen, 0 not, -errno when the state cannot be read. */
static int frozen_now(const struct cgroup *cg, const struct cg_hier *h)
{
    char buf[256];
    if (cg->mode == CGROUP_V1) {
        ssize_t r = read_file(h->dir, "freezer.state", buf, sizeof(buf));
        if (r < 0) return (int)r;
        return !strcmp(buf, "FROZEN");
    }
    ssize_t r = read_file(h->dir, "cgroup.events", buf, sizeof(buf));
    if (r < 0) return (int)r;
    /* "populated 1\nfrozen 0" */
    for (char *line = buf; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, "frozen ", 7)) return line[7] == '1';
    return -ENOTSUP;
}

bool cgroup_is_frozen(const struct cgroup *cg)
{
    const struct cg_hier *h = freezer(cg);
    return h && frozen_now(cg, h) == 1;
}

int cgroup_freeze(struct cgroup *cg, bool frozen, struct sp_err *err)
{
    const struct cg_hier *h = freezer(cg);
    if (!h) return sp_err_set(err, -ENOTSUP, "cgroup %s: no freezer hierarchy", cg->path);
    bool v1 = cg->mode == CGROUP_V1;
    const char *file = v1 ? "freezer.state" : "cgroup.freeze";
    const char *val = v1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0");
    uint64_t deadline = sp_now_ms() + FREEZE_WAIT_MS;
    long delay = 1000;
    for (int round = 0;; round++) {
        /* v1 may stay FREEZING while a task sleeps uninterruptibly: asking again helps. */
        if (round == 0 || (v1 && frozen)) {
            int e = write_file(h->dir, file, val, err);
            if (e < 0) return e;
        }
        int s = frozen_now(cg, h);
        if (s < 0) {
            char path[PATH_MAX];
            join(path, h->dir, v1 ? "freezer.state" : "cgroup.events");
            return sp_err_set(err, s, "reading %s: %s", path, strerror(-s));
        }
        if (s == (int)frozen) return 0;
        if (sp_now_ms() >= deadline) break;
        sleep_us(delay);
        if (delay < 50000) delay *= 2;
    }
    if (frozen) {
        struct sp_err ignored;
        write_file(h->dir, file, v1 ? "THAWED" : "0", &ignored);
    }
    return sp_err_set(err, -ETIMEDOUT, "%s %s: not %s after %d s", frozen ? "freezing" : "thawing",
                      h->dir, frozen ? "frozen" : "thawed", FREEZE_WAIT_MS / 1000);
}

/* ---- processes ---- */

struct pidvec {
    pid_t *v;
    size_t n, cap;
};

static int pidvec_add(struct pidvec *p, pid_t pid)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        pid_t *v = realloc(p->v, cap * sizeof(*v));
        if (!v) return -ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = pid;
    return 0;
}

/* Appends the pids in dirfd's cgroup.procs (one decimal pid a line). */
static int read_procs(int dirfd, struct pidvec *out)
{
    int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    char buf[4096];
    long cur = -1; /* the number being read, -1 between numbers */
    int e = 0;
    for (;;) {
        ssize_t r = sp_read(fd, buf, sizeof(buf));
        if (r <= 0) {
            e = (int)r;
            break;
        }
        for (ssize_t i = 0; i < r && e == 0; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                cur = (cur < 0 ? 0 : cur) * 10 + (buf[i] - '0');
                if (cur > INT_MAX) e = -ERANGE;
            } else if (cur >= 0) {
                if (cur > 0) e = pidvec_add(out, (pid_t)cur);
                cur = -1;
            }
        }
        if (e < 0) break;
    }
    if (e == 0 && cur > 0) e = pidvec_add(out, (pid_t)cur);
    sp_close(fd);
    return e;
}

/* dirfd's processes and those of every cgroup below it. A sub-cgroup removed meanwhile is
 * skipped. */
static int collect(int dirfd, int depth, struct pidvec *out)
{
    int e = read_procs(dirfd, out);
    if (e < 0) return e;
    if (depth >= MAX_DEPTH) return 0;
    int lfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0) return -errno;
    DIR *d = fdopendir(lfd);
    if (!d) {
        e = -errno;
        sp_close(lfd);
        return e;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub < 0) {
            if (errno == ENOENT) continue;
            e = -errno;
            break;
        }
        e = collect(sub, depth + 1, out);
        sp_close(sub);
        if (e == -ENOENT || e == -ENODEV) e = 0;
        if (e < 0) break;
    }
    closedir(d);
    return e;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

int cgroup_pids(const struct cgroup *cg, pid_t **pids, size_t *n, struct sp_err *err)
{
    const struct cg_hier *h = procs_hier(cg);
    int fd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = -errno;
        return sp_err_set(err, e, "opening %s: %s", h->dir, strerror(-e));
    }
    struct pidvec v = {0};
    int e = collect(fd, 0, &v);
    sp_close(fd);
    if (e < 0) {
        free(v.v);
        return sp_err_set(err, e, "listing the processes of %s: %s", h->dir, strerror(-e));
    }
    /* A process that moved between sub-cgroups while we read may be listed twice. */
    if (v.n > 1) qsort(v.v, v.n, sizeof(*v.v), cmp_pid);
    size_t k = 0;
    for (size_t i = 0; i < v.n; i++)
        if (k == 0 || v.v[k - 1] != v.v[i]) v.v[k++] = v.v[i];
    if (k == 0) {
        free(v.v);
        v.v = NULL;
    }
    *pids = v.v;
    *n = k;
    return 0;
}

int cgroup_kill_all(struct cgroup *cg, int sig, struct sp_err *err)
{
    const struct cg_hier *h = procs_hier(cg);
    if (dir_exists(h->dir) == -ENOENT) return 0;
    if (cg->mode == CGROUP_V2 && sig == SIGKILL && file_exists(h->dir, "cgroup.kill")) {
        /* 5.14+: the kernel kills the whole subtree, forks included. */
        struct sp_err kerr;
        int e = write_file(h->dir, "cgroup.kill", "1", &kerr);
        if (e == 0 || e == -ENOENT) return 0;
        sp_debug("cgroup: %s", kerr.msg);
    }
    /* Frozen, no process can fork a child we would miss. A container that was paused stays
     * paused (its signals wait for the thaw), unless it is being killed. */
    bool was_frozen = cgroup_is_frozen(cg);
    struct sp_err ferr;
    int fe = cgroup_freeze(cg, true, &ferr);
    if (fe == -ENOENT) return 0;
    if (fe < 0 && fe != -ENOTSUP) sp_warn("cgroup: killing without freezing: %s", ferr.msg);

    pid_t *pids = NULL;
    size_t n = 0;
    int e = cgroup_pids(cg, &pids, &n, err);
    if (e == -ENOENT) e = 0;
    for (size_t i = 0; e == 0 && i < n; i++) {
        if (kill(pids[i], sig) < 0 && errno != ESRCH) {
            e = -errno;
            sp_err_set(err, e, "sending signal %d to pid %d of cgroup %s: %s", sig, (int)pids[i],
                       cg->path, strerror(errno));
        }
    }
    free(pids);
    if (fe == 0 && (!was_frozen || sig == SIGKILL)) {
        struct sp_err terr;
        int te = cgroup_freeze(cg, false, &terr);
        if (te < 0 && te != -ENOENT && e == 0) {
            if (err) *err = terr;
            e = te;
        }
    }
    return e;
}

/* ---- destroy ---- */

/* Removes every cgroup below dirfd (deepest first). */
static int remove_children(int dirfd, int depth)
{
    if (depth >= MAX_DEPTH) return -ELOOP;
    int lfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0) return -errno;
    DIR *d = fdopendir(lfd);
    if (!d) {
        int e = -errno;
        sp_close(lfd);
        return e;
    }
    int e = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub < 0) {
            if (errno == ENOENT) continue;
            e = -errno;
            break;
        }
        int se = remove_children(sub, depth + 1);
        sp_close(sub);
        if (se == 0 && unlinkat(dirfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            se = -errno;
        if (se < 0 && e == 0) e = se;
    }
    closedir(d);
    return e;
}

static int remove_leaf(const char *dir)
{
    if (rmdir(dir) == 0 || errno == ENOENT) return 0;
    int e = -errno;
    if (e != -EBUSY && e != -ENOTEMPTY) return e;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -errno;
    e = remove_children(fd, 0);
    sp_close(fd);
    if (rmdir(dir) == 0 || errno == ENOENT) return 0;
    return e < 0 ? e : -errno;
}

int cgroup_destroy(struct cgroup *cg, struct sp_err *err)
{
    int first = 0;
    uint64_t deadline = sp_now_ms() + DESTROY_WAIT_MS;
    for (size_t i = 0; i < cg->n; i++) {
        const char *dir = cg->h[i].dir;
        int e;
        for (;;) {
            e = remove_leaf(dir);
            if ((e != -EBUSY && e != -ENOTEMPTY) || sp_now_ms() >= deadline) break;
            sleep_us(10000);
        }
        if (e < 0 && first == 0) first = sp_err_set(err, e, "removing %s: %s", dir, strerror(-e));
    }
    return first;
}
