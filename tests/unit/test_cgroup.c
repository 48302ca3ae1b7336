/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/container/cgroup.c against the real cgroup file systems. Runs as root.
 *
 * Every test works below a unique path "/sprite-test-<pid>-<n>" and its teardown (written
 * independently of the code under test) thaws, kills and removes whatever is left at that path in
 * every hierarchy under /sys/fs/cgroup, then fails the test if anything remains. The v1 tests
 * need a v1 (or hybrid) host; the v2 tests use the cgroup2 mount (a hybrid host's
 * /sys/fs/cgroup/unified through cgroup_set_root_for_tests) and are skipped without one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/container/cgroup.h"

#define CG  "/sys/fs/cgroup"
#define MiB (1024LL * 1024)

static const char *const v1_ctrls[] = {"cpu",     "cpuacct", "cpuset", "memory",
                                       "devices", "freezer", "blkio",  "pids"};

static char g_path[64];   /* this test's cgroup path */
static char g_path2[128]; /* a second path to clean up (default-path test) */
static pid_t g_child = -1;
static char g_sprite_new[32][256]; /* hierarchies where "/sprite" did not exist before */
static size_t g_nsprite_new;
static bool g_check_sprite;
static unsigned g_seq;

/* ---- host helpers (not using the code under test) ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* "/sys/fs/cgroup/<h><rel>[/<file>]" in rotating buffers. */
static const char *hp(const char *h, const char *rel, const char *file)
{
    static char bufs[8][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 8];
    snprintf(b, PATH_MAX, CG "/%.255s%.1024s%s%.255s", h, rel, file ? "/" : "", file ? file : "");
    return b;
}

/* File contents without the trailing newline; "" when unreadable. */
static const char *slurp(const char *path)
{
    static char bufs[4][8192];
    static unsigned next;
    char *b = bufs[next++ % 4];
    b[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return b;
    ssize_t n = read(fd, b, sizeof(bufs[0]) - 1);
    close(fd);
    if (n < 0) n = 0;
    b[n] = '\0';
    while (n > 0 && b[n - 1] == '\n')
        b[--n] = '\0';
    return b;
}

static int spit(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

static bool is_cgroup2(const char *dir)
{
    struct statfs sf;
    return statfs(dir, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* The cgroup2 mount to test v2 on, or NULL. */
static const char *v2_mount(void)
{
    if (is_cgroup2(CG)) return CG;
    if (is_cgroup2(CG "/unified")) return CG "/unified";
    return NULL;
}

static pid_t spawn_child(void)
{
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        for (;;)
            pause();
    }
    g_child = pid;
    return pid;
}

/* Waits up to 5 s for pid; its wait status, or -1 on timeout. */
static int wait_child(pid_t pid)
{
    for (int i = 0; i < 500; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (pid == g_child) g_child = -1;
            return st;
        }
        sleep_ms(10);
    }
    return -1;
}

/* Thaws, kills and removes dir and everything below it; true when it is gone. */
static bool scrub(const char *dir, int depth)
{
    if (!exists(dir)) return true;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/freezer.state", dir);
    if (exists(p)) spit(p, "THAWED");
    snprintf(p, sizeof(p), "%s/cgroup.freeze", dir);
    if (exists(p)) spit(p, "0");
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                depth < 16) {
                snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                scrub(p, depth + 1);
            }
        closedir(d);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
        const char *procs = slurp(p);
        for (const char *q = procs; *q;) {
            long pid = strtol(q, (char **)&q, 10);
            if (pid > 0) kill((pid_t)pid, SIGKILL);
            while (*q == '\n')
                q++;
        }
        if (rmdir(dir) == 0 || errno == ENOENT) return true;
        sleep_ms(10);
    }
    return false;
}

/* Scrubs rel in every hierarchy under /sys/fs/cgroup; false when something stayed. */
static bool scrub_all(const char *rel)
{
    bool ok = true;
    DIR *d = opendir(CG);
    if (!d) return false;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (!scrub(hp(de->d_name, rel, NULL), 0)) {
            fprintf(stderr, "left behind: %s\n", hp(de->d_name, rel, NULL));
            ok = false;
        }
    }
    closedir(d);
    return ok;
}

/* Whether /proc/<pid>/cgroup puts pid in path for controller ctrl ("" for the v2 line). */
static bool proc_in(pid_t pid, const char *ctrl, const char *path)
{
    char f[64];
    snprintf(f, sizeof(f), "/proc/%d/cgroup", (int)pid);
    char text[8192];
    snprintf(text, sizeof(text), "%s", slurp(f));
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1;
        bool match = false;
        if (!*ctrl) {
            match = !*ctrls;
        } else {
            char list[256];
            snprintf(list, sizeof(list), "%s", ctrls);
            char *s2 = NULL;
            for (char *t = strtok_r(list, ",", &s2); t; t = strtok_r(NULL, ",", &s2))
                if (!strcmp(t, ctrl)) match = true;
        }
        if (match) return !strcmp(c2 + 1, path);
    }
    return false;
}

static json_t *js(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) fail_msg("bad test JSON %s: %s", text, je.text);
    return j;
}

/* Applies JSON text; the result code (err filled on failure). */
static int apply(struct cgroup *cg, const char *text, struct sp_err *err)
{
    json_t *j = js(text);
    sp_err_clear(err);
    int e = cgroup_apply(cg, j, err);
    json_decref(j);
    return e;
}

static void apply_ok(struct cgroup *cg, const char *text)
{
    struct sp_err err;
    int e = apply(cg, text, &err);
    if (e != 0) fail_msg("apply %s: %d %s", text, e, err.msg);
}

/* Expects apply to fail with code and a message containing needle. */
static void apply_fails(struct cgroup *cg, const char *text, int code, const char *needle)
{
    struct sp_err err;
    int e = apply(cg, text, &err);
    if (e != code || err.code != code || !strstr(err.msg, needle))
        fail_msg("apply %s: got %d \"%s\", want %d and \"%s\"", text, e, err.msg, code, needle);
}

static struct cgroup *create_ok(const char *path, bool want_created)
{
    struct cgroup *cg = NULL;
    bool created = !want_created;
    struct sp_err err;
    int e = cgroup_create(path, "unused", &cg, &created, &err);
    if (e != 0) fail_msg("create %s: %d %s", path, e, err.msg);
    assert_non_null(cg);
    assert_int_equal(created, want_created);
    return cg;
}

static void require_v1(void)
{
    if (cgroup_detect() != CGROUP_V1) skip();
}

/* Switches the code to the v2 mount; skips without one. */
static const char *use_v2(void)
{
    const char *root = v2_mount();
    if (!root) skip();
    cgroup_set_root_for_tests(CGROUP_V2, root);
    assert_int_equal(cgroup_detect(), CGROUP_V2);
    return root;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    (void)state;
    snprintf(g_path, sizeof(g_path), "/sprite-test-%d-%u", (int)getpid(), ++g_seq);
    g_path2[0] = '\0';
    g_child = -1;
    g_check_sprite = false;
    cgroup_set_root_for_tests(CGROUP_V1, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cgroup_set_root_for_tests(CGROUP_V1, NULL);
    if (g_child > 0) {
        kill(g_child, SIGKILL);
        /* a frozen child dies once thawed, which scrubbing does */
    }
    bool ok = scrub_all(g_path);
    if (g_path2[0]) ok = scrub_all(g_path2) && ok;
    if (g_check_sprite) {
        /* "/sprite" made by the default-path test goes where it was not there before */
        for (size_t i = 0; i < g_nsprite_new; i++)
            rmdir(hp(g_sprite_new[i], "/sprite", NULL));
    }
    if (g_child > 0 && wait_child(g_child) == -1) {
        fprintf(stderr, "child %d did not exit\n", (int)g_child);
        ok = false;
    }
    return ok ? 0 : -1;
}

/* ---- tests ---- */

static void test_detect(void **state)
{
    (void)state;
    /* cgroup.controllers exists only at the root of a cgroup2 mount */
    enum cgroup_mode want = exists(CG "/cgroup.controllers") ? CGROUP_V2 : CGROUP_V1;
    assert_int_equal(cgroup_detect(), want);
    cgroup_set_root_for_tests(CGROUP_V2, "/nowhere");
    assert_int_equal(cgroup_detect(), CGROUP_V2);
    cgroup_set_root_for_tests(CGROUP_V2, NULL);
    assert_int_equal(cgroup_detect(), want);
}

static void test_resolve_path(void **state)
{
    (void)state;
    static const struct {
        const char *path, *id;
        int code;
        const char *want;
    } cases[] = {
        {NULL, "c1", 0, "/sprite/c1"},
        {"", "c1", 0, "/sprite/c1"},
        {"relative/x", "c1", 0, "/sprite/c1"},
        {"/a/b", "c1", 0, "/a/b"},
        {"/a/b", NULL, 0, "/a/b"},
        {"//a//./b/", NULL, 0, "/a/b"},
        {"/a/./b/.", NULL, 0, "/a/b"},
        {"/a/../b", NULL, -EINVAL, NULL},
        {"/..", NULL, -EINVAL, NULL},
        {"/a/..", NULL, -EINVAL, NULL},
        {"/", NULL, -EINVAL, NULL},
        {"//./", NULL, -EINVAL, NULL},
        {NULL, NULL, -EINVAL, NULL},
        {NULL, "", -EINVAL, NULL},
        {NULL, "a/b", -EINVAL, NULL},
        {NULL, "..", -EINVAL, NULL},
        {"rel", ".", -EINVAL, NULL},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char out[PATH_MAX];
        struct sp_err err;
        sp_err_clear(&err);
        int e = cgroup_resolve_path(cases[i].path, cases[i].id, out, sizeof(out), &err);
        if (e != cases[i].code)
            fail_msg("case %zu (%s, %s): got %d (%s), want %d", i,
                     cases[i].path ? cases[i].path : "NULL", cases[i].id ? cases[i].id : "NULL", e,
                     err.msg, cases[i].code);
        if (e == 0 && strcmp(out, cases[i].want))
            fail_msg("case %zu: got %s, want %s", i, out, cases[i].want);
        if (e < 0 && (err.code != e || !err.msg[0])) fail_msg("case %zu: no error message", i);
    }
    /* a component longer than NAME_MAX */
    char longp[NAME_MAX + 8];
    longp[0] = '/';
    memset(longp + 1, 'x', NAME_MAX + 1);
    longp[NAME_MAX + 2] = '\0';
    char out[PATH_MAX];
    assert_int_equal(cgroup_resolve_path(longp, NULL, out, sizeof(out), NULL), -ENAMETOOLONG);
    /* too small an output buffer */
    char tiny[4];
    assert_int_equal(cgroup_resolve_path("/abcdef", NULL, tiny, sizeof(tiny), NULL), -ENAMETOOLONG);
}

static void test_bad_paths_create_nothing(void **state)
{
    (void)state;
    char bad[128];
    snprintf(bad, sizeof(bad), "%s/../../etc", g_path);
    struct cgroup *cg = NULL;
    bool created = false;
    struct sp_err err;
    assert_int_equal(cgroup_create(bad, "c1", &cg, &created, &err), -EINVAL);
    assert_null(cg);
    assert_non_null(strstr(err.msg, ".."));
    assert_int_equal(cgroup_create("/", "c1", &cg, &created, &err), -EINVAL);
    assert_int_equal(cgroup_create(NULL, "x/y", &cg, &created, &err), -EINVAL);
    assert_int_equal(cgroup_create(NULL, NULL, &cg, &created, &err), -EINVAL);
    for (size_t i = 0; i < SP_ARRAY_LEN(v1_ctrls); i++)
        assert_false(exists(hp(v1_ctrls[i], g_path, NULL)));

    assert_int_equal(cgroup_open("relative", &cg, &err), -EINVAL);
    assert_int_equal(cgroup_open(NULL, &cg, &err), -EINVAL);
    assert_int_equal(cgroup_open(bad, &cg, &err), -EINVAL);
    assert_int_equal(cgroup_open(g_path, &cg, &err), -ENOENT);
    assert_non_null(strstr(err.msg, g_path));
    assert_null(cg);
    cgroup_free(NULL);
}

static void test_v1_create_enter_pids(void **state)
{
    (void)state;
    require_v1();
    char leaf[128];
    snprintf(leaf, sizeof(leaf), "%s/inner/leaf", g_path);
    struct cgroup *cg = create_ok(leaf, true);
    assert_string_equal(cgroup_path(cg), leaf);

    for (size_t i = 0; i < SP_ARRAY_LEN(v1_ctrls); i++)
        if (!exists(hp(v1_ctrls[i], leaf, NULL)))
            fail_msg("%s missing", hp(v1_ctrls[i], leaf, NULL));
    /* named and v2 hierarchies are left alone */
    assert_false(exists(hp("systemd", g_path, NULL)));
    assert_false(exists(hp("unified", g_path, NULL)));
    /* cpuset values copied down every new level */
    const char *cpus = slurp(CG "/cpuset/cpuset.cpus");
    assert_true(cpus[0] != '\0');
    char want_cpus[256];
    snprintf(want_cpus, sizeof(want_cpus), "%s", cpus);
    assert_string_equal(slurp(hp("cpuset", g_path, "cpuset.cpus")), want_cpus);
    assert_string_equal(slurp(hp("cpuset", leaf, "cpuset.cpus")), want_cpus);
    assert_string_equal(slurp(hp("cpuset", leaf, "cpuset.mems")), slurp(CG "/cpuset/cpuset.mems"));

    struct sp_err err;
    pid_t *pids = (pid_t *)1;
    size_t n = 9;
    assert_int_equal(cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(pids);

    pid_t child = spawn_child();
    if (cgroup_enter(cg, child, &err) != 0) fail_msg("enter: %s", err.msg);
    for (size_t i = 0; i < SP_ARRAY_LEN(v1_ctrls); i++)
        if (!proc_in(child, v1_ctrls[i], leaf)) fail_msg("child not in %s:%s", v1_ctrls[i], leaf);
    assert_false(proc_in(child, "name=systemd", leaf));
    assert_int_equal(cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], child);
    free(pids);

    /* bad pids */
    assert_int_equal(cgroup_enter(cg, 0, &err), -EINVAL);
    assert_int_equal(cgroup_enter(cg, -3, &err), -EINVAL);

    /* again: reused, not created; and open finds it */
    struct cgroup *again = create_ok(leaf, false);
    cgroup_free(again);
    struct cgroup *opened = NULL;
    assert_int_equal(cgroup_open(leaf, &opened, &err), 0);
    assert_string_equal(cgroup_path(opened), leaf);
    assert_int_equal(cgroup_pids(opened, &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    free(pids);
    cgroup_free(opened);
    /* a parent exists, so "created" is only about this call's leaf */
    char sib[128];
    snprintf(sib, sizeof(sib), "%s/inner/sibling", g_path);
    struct cgroup *s = create_ok(sib, true);
    cgroup_free(s);
    cgroup_free(cg);
}

static void test_v1_pids_recursive_kill_destroy(void **state)
{
    (void)state;
    require_v1();
    struct cgroup *cg = create_ok(g_path, true);
    struct sp_err err;
    pid_t a = spawn_child();
    pid_t b = fork();
    if (b == 0) {
        for (;;)
            pause();
    }
    assert_true(b > 0);
    if (cgroup_enter(cg, a, &err) != 0) fail_msg("enter: %s", err.msg);
    /* b in a sub-cgroup the container made itself, in every hierarchy */
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/nested", g_path);
    char pidtxt[32];
    snprintf(pidtxt, sizeof(pidtxt), "%d", (int)b);
    for (size_t i = 0; i < SP_ARRAY_LEN(v1_ctrls); i++) {
        assert_int_equal(mkdir(hp(v1_ctrls[i], sub, NULL), 0755), 0);
        if (!strcmp(v1_ctrls[i], "cpuset")) {
            assert_int_equal(
                spit(hp("cpuset", sub, "cpuset.cpus"), slurp(hp("cpuset", g_path, "cpuset.cpus"))),
                0);
            assert_int_equal(
                spit(hp("cpuset", sub, "cpuset.mems"), slurp(hp("cpuset", g_path, "cpuset.mems"))),
                0);
        }
        assert_int_equal(spit(hp(v1_ctrls[i], sub, "cgroup.procs"), pidtxt), 0);
    }
    pid_t *pids;
    size_t n;
    assert_int_equal(cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pids[0], a < b ? a : b);
    assert_int_equal(pids[1], a < b ? b : a);
    free(pids);

    if (cgroup_kill_all(cg, SIGKILL, &err) != 0) fail_msg("kill_all: %s", err.msg);
    int st = wait_child(a);
    assert_true(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int st2 = -1;
    for (int i = 0; i < 500 && waitpid(b, &st2, WNOHANG) != b; i++)
        sleep_ms(10);
    assert_true(WIFSIGNALED(st2) && WTERMSIG(st2) == SIGKILL);
    assert_false(cgroup_is_frozen(cg)); /* thawed again */

    if (cgroup_destroy(cg, &err) != 0) fail_msg("destroy: %s", err.msg);
    for (size_t i = 0; i < SP_ARRAY_LEN(v1_ctrls); i++)
        assert_false(exists(hp(v1_ctrls[i], g_path, NULL)));
    /* gone already: fine */
    assert_int_equal(cgroup_destroy(cg, &err), 0);
    assert_int_equal(cgroup_kill_all(cg, SIGKILL, &err), 0);
    cgroup_free(cg);
}

static void test_v1_memory(void **state)
{
    (void)state;
    require_v1();
    struct cgroup *cg = create_ok(g_path, true);
    pid_t child = spawn_child();
    struct sp_err err;
    if (cgroup_enter(cg, child, &err) != 0) fail_msg("enter: %s", err.msg);

    assert_int_equal(cgroup_memory_limit(cg), -1);
    apply_ok(cg, "{\"memory\": {\"limit\": 67108864}}");
    assert_int_equal(cgroup_memory_limit(cg), 64 * MiB);
    assert_string_equal(slurp(hp("memory", g_path, "memory.limit_in_bytes")), "67108864");

    const char *memsw = hp("memory", g_path, "memory.memsw.limit_in_bytes");
    char memsw_path[PATH_MAX];
    snprintf(memsw_path, sizeof(memsw_path), "%s", memsw);
    bool have_swap = exists(memsw_path);
    /* both ways round: raising needs swap first, lowering needs the limit first */
    apply_ok(cg, "{\"memory\": {\"limit\": 268435456, \"swap\": 536870912}}");
    assert_int_equal(cgroup_memory_limit(cg), 256 * MiB);
    if (have_swap) assert_string_equal(slurp(memsw_path), "536870912");
    apply_ok(cg, "{\"memory\": {\"limit\": 33554432, \"swap\": 33554432}}");
    assert_int_equal(cgroup_memory_limit(cg), 32 * MiB);
    if (have_swap) assert_string_equal(slurp(memsw_path), "33554432");
    apply_ok(cg, "{\"memory\": {\"limit\": 134217728, \"swap\": 268435456}}");
    assert_int_equal(cgroup_memory_limit(cg), 128 * MiB);
    if (have_swap) assert_string_equal(slurp(memsw_path), "268435456");
    /* unlimited again, swap following */
    apply_ok(cg, "{\"memory\": {\"limit\": -1}}");
    assert_int_equal(cgroup_memory_limit(cg), -1);
    if (have_swap)
        assert_string_equal(slurp(memsw_path), slurp(CG "/memory/memory.limit_in_bytes"));

    apply_ok(cg, "{\"memory\": {\"reservation\": 16777216, \"swappiness\": 10, "
                 "\"disableOOMKiller\": true, \"kernel\": 5, \"someFutureField\": 1}}");
    assert_string_equal(slurp(hp("memory", g_path, "memory.soft_limit_in_bytes")), "16777216");
    assert_string_equal(slurp(hp("memory", g_path, "memory.swappiness")), "10");
    assert_non_null(
        strstr(slurp(hp("memory", g_path, "memory.oom_control")), "oom_kill_disable 1"));
    /* -1 swappiness means unset */
    apply_ok(cg, "{\"memory\": {\"swappiness\": -1}}");
    assert_string_equal(slurp(hp("memory", g_path, "memory.swappiness")), "10");
    cgroup_free(cg);
}

static void test_v1_cpu_pids_devices(void **state)
{
    (void)state;
    require_v1();
    struct cgroup *cg = create_ok(g_path, true);
    apply_ok(cg, "{\"cpu\": {\"shares\": 512, \"quota\": 50000, \"period\": 200000, "
                 "\"cpus\": \"0\", \"mems\": \"0\"}, \"pids\": {\"limit\": 10}}");
    assert_string_equal(slurp(hp("cpu", g_path, "cpu.shares")), "512");
    assert_string_equal(slurp(hp("cpu", g_path, "cpu.cfs_quota_us")), "50000");
    assert_string_equal(slurp(hp("cpu", g_path, "cpu.cfs_period_us")), "200000");
    assert_string_equal(slurp(hp("cpuset", g_path, "cpuset.cpus")), "0");
    assert_string_equal(slurp(hp("cpuset", g_path, "cpuset.mems")), "0");
    assert_string_equal(slurp(hp("pids", g_path, "pids.max")), "10");
    /* shorter period with a quota that does not fit the old period, and unlimited again */
    apply_ok(cg, "{\"cpu\": {\"quota\": 10000, \"period\": 20000}, \"pids\": {\"limit\": 0}}");
    assert_string_equal(slurp(hp("cpu", g_path, "cpu.cfs_quota_us")), "10000");
    assert_string_equal(slurp(hp("cpu", g_path, "cpu.cfs_period_us")), "20000");
    assert_string_equal(slurp(hp("pids", g_path, "pids.max")), "max");
    apply_ok(cg, "{\"cpu\": {\"quota\": -1}, \"pids\": {\"limit\": -1}}");
    assert_string_equal(slurp(hp("cpu", g_path, "cpu.cfs_quota_us")), "-1");

    apply_ok(cg, "{\"devices\": [{\"allow\": false, \"access\": \"rwm\"},"
                 " {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": "
                 "\"rwm\"},"
                 " {\"allow\": true, \"type\": \"c\", \"major\": 136, \"access\": \"rw\"},"
                 " {\"allow\": true, \"type\": \"b\", \"major\": -1, \"minor\": -1, \"access\": "
                 "\"m\"}]}");
    assert_string_equal(slurp(hp("devices", g_path, "devices.list")),
                        "c 1:3 rwm\nc 136:* rw\nb *:* m");
    /* nothing to do */
    struct sp_err err;
    assert_int_equal(cgroup_apply(cg, NULL, &err), 0);
    assert_int_equal(cgroup_apply(cg, json_null(), &err), 0);
    apply_ok(cg, "{}");
    apply_ok(cg, "{\"blockIO\": {\"weight\": 10}, \"hugepageLimits\": [], \"memory\": null}");
    cgroup_free(cg);
}

static void test_v1_bad_values(void **state)
{
    (void)state;
    require_v1();
    struct cgroup *cg = create_ok(g_path, true);
    char want[256];
    snprintf(want, sizeof(want), "writing abc to " CG "/cpuset%s/cpuset.cpus: Invalid argument",
             g_path);
    struct sp_err err;
    assert_int_equal(apply(cg, "{\"cpu\": {\"cpus\": \"abc\"}}", &err), -EINVAL);
    assert_string_equal(err.msg, want);
    apply_fails(cg, "{\"cpu\": {\"shares\": -5}}", -EINVAL, "/cpu.shares: Invalid argument");
    apply_fails(cg, "{\"memory\": {\"limit\": \"64m\"}}", -EINVAL, "memory.limit: not an integer");
    apply_fails(cg, "{\"memory\": {\"swappiness\": 200}}", -EINVAL, "swappiness");
    apply_fails(cg, "{\"memory\": {\"disableOOMKiller\": 1}}", -EINVAL, "disableOOMKiller");
    apply_fails(cg, "{\"cpu\": {\"cpus\": 3}}", -EINVAL, "cpu.cpus: not a string");
    apply_fails(cg, "{\"cpu\": []}", -EINVAL, "linux.resources.cpu: not an object");
    apply_fails(cg, "{\"devices\": {}}", -EINVAL, "devices: not an array");
    apply_fails(cg, "{\"devices\": [{\"allow\": true, \"type\": \"x\"}]}", -EINVAL,
                "devices[0].type");
    apply_fails(cg, "{\"devices\": [{\"allow\": true}, {\"type\": \"c\"}]}", -EINVAL,
                "devices[1].allow");
    apply_fails(cg, "{\"devices\": [{\"allow\": true, \"access\": \"rwx\"}]}", -EINVAL,
                "devices[0].access");
    apply_fails(cg, "{\"devices\": [{\"allow\": true, \"major\": -7}]}", -EINVAL,
                "devices[0].major");
    apply_fails(cg, "[1]", -EINVAL, "linux.resources: not an object");
    /* a type error is found before anything is written */
    apply_fails(cg, "{\"pids\": {\"limit\": 7}, \"cpu\": {\"quota\": 1.5}}", -EINVAL, "cpu.quota");
    assert_string_equal(slurp(hp("pids", g_path, "pids.max")), "max");
    cgroup_free(cg);
}

static void test_v1_freeze_thaw(void **state)
{
    (void)state;
    require_v1();
    struct cgroup *cg = create_ok(g_path, true);
    pid_t child = spawn_child();
    struct sp_err err;
    if (cgroup_enter(cg, child, &err) != 0) fail_msg("enter: %s", err.msg);
    assert_false(cgroup_is_frozen(cg));
    if (cgroup_freeze(cg, true, &err) != 0) fail_msg("freeze: %s", err.msg);
    assert_true(cgroup_is_frozen(cg));
    assert_string_equal(slurp(hp("freezer", g_path, "freezer.state")), "FROZEN");
    /* freezing again is fine */
    assert_int_equal(cgroup_freeze(cg, true, &err), 0);
    if (cgroup_freeze(cg, false, &err) != 0) fail_msg("thaw: %s", err.msg);
    assert_false(cgroup_is_frozen(cg));
    assert_string_equal(slurp(hp("freezer", g_path, "freezer.state")), "THAWED");
    /* the child runs again: a signal it does not catch ends it */
    kill(child, SIGTERM);
    int st = wait_child(child);
    assert_true(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    cgroup_free(cg);
}

static void test_v1_kill_all_frozen(void **state)
{
    (void)state;
    require_v1();
    struct cgroup *cg = create_ok(g_path, true);
    pid_t child = spawn_child();
    struct sp_err err;
    if (cgroup_enter(cg, child, &err) != 0) fail_msg("enter: %s", err.msg);
    /* a paused container: SIGKILL through kill_all ends it (and thaws it) */
    if (cgroup_freeze(cg, true, &err) != 0) fail_msg("freeze: %s", err.msg);
    if (cgroup_kill_all(cg, SIGKILL, &err) != 0) fail_msg("kill_all: %s", err.msg);
    int st = wait_child(child);
    if (st == -1) {
        /* frozen tasks die on thaw (v1) */
        assert_int_equal(cgroup_freeze(cg, false, &err), 0);
        st = wait_child(child);
    }
    assert_true(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    pid_t *pids;
    size_t n;
    assert_int_equal(cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cgroup_freeze(cg, false, &err), 0);
    if (cgroup_destroy(cg, &err) != 0) fail_msg("destroy: %s", err.msg);
    for (size_t i = 0; i < SP_ARRAY_LEN(v1_ctrls); i++)
        assert_false(exists(hp(v1_ctrls[i], g_path, NULL)));
    /* pids of a cgroup that is gone: an error naming it */
    assert_int_equal(cgroup_pids(cg, &pids, &n, &err), -ENOENT);
    assert_non_null(strstr(err.msg, g_path));
    cgroup_free(cg);
}

static void test_v1_destroy_busy(void **state)
{
    (void)state;
    require_v1();
    struct cgroup *cg = create_ok(g_path, true);
    pid_t child = spawn_child();
    struct sp_err err;
    if (cgroup_enter(cg, child, &err) != 0) fail_msg("enter: %s", err.msg);
    assert_int_equal(cgroup_destroy(cg, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "removing " CG "/"));
    assert_non_null(strstr(err.msg, g_path));
    assert_true(exists(hp("memory", g_path, NULL)));
    cgroup_free(cg);
}

static void test_v1_create_rollback(void **state)
{
    (void)state;
    require_v1();
    /* the second component is a control file in every hierarchy: the first mkdir succeeds,
     * the second fails, and what was made is removed again */
    char bad[128];
    snprintf(bad, sizeof(bad), "%s/cgroup.procs", g_path);
    struct cgroup *cg = NULL;
    bool created = false;
    struct sp_err err;
    assert_int_equal(cgroup_create(bad, NULL, &cg, &created, &err), -ENOTDIR);
    assert_null(cg);
    assert_non_null(strstr(err.msg, "cgroup.procs"));
    for (size_t i = 0; i < SP_ARRAY_LEN(v1_ctrls); i++)
        assert_false(exists(hp(v1_ctrls[i], g_path, NULL)));
}

static void test_v1_default_path(void **state)
{
    (void)state;
    require_v1();
    DIR *d = opendir(CG);
    assert_non_null(d);
    struct dirent *de;
    g_nsprite_new = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || exists(hp(de->d_name, "/sprite", NULL))) continue;
        if (g_nsprite_new < SP_ARRAY_LEN(g_sprite_new))
            snprintf(g_sprite_new[g_nsprite_new++], sizeof(g_sprite_new[0]), "%s", de->d_name);
    }
    closedir(d);
    g_check_sprite = true;
    char id[64];
    snprintf(id, sizeof(id), "%s", g_path + 1);
    snprintf(g_path2, sizeof(g_path2), "/sprite/%s", id);

    struct cgroup *cg = NULL;
    bool created = false;
    struct sp_err err;
    if (cgroup_create("not/absolute", id, &cg, &created, &err) != 0)
        fail_msg("create: %s", err.msg);
    assert_true(created);
    assert_string_equal(cgroup_path(cg), g_path2);
    assert_true(exists(hp("memory", g_path2, NULL)));
    if (cgroup_destroy(cg, &err) != 0) fail_msg("destroy: %s", err.msg);
    assert_false(exists(hp("memory", g_path2, NULL)));
    /* the parent stays */
    assert_true(exists(hp("memory", "/sprite", NULL)));
    cgroup_free(cg);
}

static void test_v2_lifecycle(void **state)
{
    (void)state;
    const char *root = use_v2();
    char leaf[128];
    snprintf(leaf, sizeof(leaf), "%s/leaf", g_path);
    struct cgroup *cg = create_ok(leaf, true);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s%s", root, leaf);
    assert_true(exists(dir));
    /* nothing was made in the v1 hierarchies */
    assert_false(exists(hp("memory", g_path, NULL)));

    pid_t child = spawn_child();
    struct sp_err err;
    if (cgroup_enter(cg, child, &err) != 0) fail_msg("enter: %s", err.msg);
    assert_true(proc_in(child, "", leaf));
    pid_t *pids;
    size_t n;
    assert_int_equal(cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], child);
    free(pids);

    assert_false(cgroup_is_frozen(cg));
    if (cgroup_freeze(cg, true, &err) != 0) fail_msg("freeze: %s", err.msg);
    assert_true(cgroup_is_frozen(cg));
    char f[PATH_MAX];
    snprintf(f, sizeof(f), "%s/cgroup.events", dir);
    assert_non_null(strstr(slurp(f), "frozen 1"));
    if (cgroup_freeze(cg, false, &err) != 0) fail_msg("thaw: %s", err.msg);
    assert_false(cgroup_is_frozen(cg));
    assert_non_null(strstr(slurp(f), "frozen 0"));

    /* device rules are ignored on v2; a controller the hierarchy lacks is an error naming the
     * file, one it has takes the value */
    apply_ok(cg, "{\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]}");
    char ctrls[1024];
    snprintf(f, sizeof(f), "%s/cgroup.controllers", dir);
    snprintf(ctrls, sizeof(ctrls), " %s ", slurp(f));
    if (strstr(ctrls, " pids ")) {
        apply_ok(cg, "{\"pids\": {\"limit\": 5}}");
        snprintf(f, sizeof(f), "%s/pids.max", dir);
        assert_string_equal(slurp(f), "5");
    } else {
        char want[PATH_MAX + 64];
        snprintf(want, sizeof(want), "writing 5 to %s/pids.max: No such file or directory", dir);
        struct sp_err e2;
        assert_int_equal(apply(cg, "{\"pids\": {\"limit\": 5}}", &e2), -ENOENT);
        assert_string_equal(e2.msg, want);
    }
    if (!strstr(ctrls, " memory ")) assert_int_equal(cgroup_memory_limit(cg), -1);

    /* kill_all with a catchable signal goes through the freezer */
    if (cgroup_kill_all(cg, SIGTERM, &err) != 0) fail_msg("kill_all: %s", err.msg);
    int st = wait_child(child);
    assert_true(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    assert_false(cgroup_is_frozen(cg));

    if (cgroup_destroy(cg, &err) != 0) fail_msg("destroy: %s", err.msg);
    assert_false(exists(dir));
    /* the parent made on the way stays */
    snprintf(f, sizeof(f), "%s%s", root, g_path);
    assert_true(exists(f));
    cgroup_free(cg);

    /* open: gone now */
    struct cgroup *o = NULL;
    assert_int_equal(cgroup_open(leaf, &o, &err), -ENOENT);
    assert_int_equal(cgroup_open(g_path, &o, &err), 0);
    cgroup_free(o);
}

static void test_v2_sigkill_nested_destroy(void **state)
{
    (void)state;
    const char *root = use_v2();
    struct cgroup *cg = create_ok(g_path, true);
    pid_t child = spawn_child();
    char sub[PATH_MAX], f[PATH_MAX + 32];
    snprintf(sub, sizeof(sub), "%s%s/nested", root, g_path);
    assert_int_equal(mkdir(sub, 0755), 0);
    char pidtxt[32];
    snprintf(pidtxt, sizeof(pidtxt), "%d", (int)child);
    snprintf(f, sizeof(f), "%s/cgroup.procs", sub);
    assert_int_equal(spit(f, pidtxt), 0);

    struct sp_err err;
    pid_t *pids;
    size_t n;
    assert_int_equal(cgroup_pids(cg, &pids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], child);
    free(pids);

    if (cgroup_kill_all(cg, SIGKILL, &err) != 0) fail_msg("kill_all: %s", err.msg);
    int st = wait_child(child);
    assert_true(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    if (cgroup_destroy(cg, &err) != 0) fail_msg("destroy: %s", err.msg);
    assert_false(exists(sub));
    snprintf(f, sizeof(f), "%s%s", root, g_path);
    assert_false(exists(f));
    assert_int_equal(cgroup_destroy(cg, &err), 0);
    assert_int_equal(cgroup_kill_all(cg, SIGKILL, &err), 0);
    cgroup_free(cg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_cgroup needs root\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        T(test_detect),
        T(test_resolve_path),
        T(test_bad_paths_create_nothing),
        T(test_v1_create_enter_pids),
        T(test_v1_pids_recursive_kill_destroy),
        T(test_v1_memory),
        T(test_v1_cpu_pids_devices),
        T(test_v1_bad_values),
        T(test_v1_freeze_thaw),
        T(test_v1_kill_all_frozen),
        T(test_v1_destroy_busy),
        T(test_v1_create_rollback),
        T(test_v1_default_path),
        T(test_v2_lifecycle),
        T(test_v2_sigkill_nested_destroy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
