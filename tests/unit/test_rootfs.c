/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/container/rootfs.c: mount_opts_parse (pure, tables of cases), and, as root,
 * whole root filesystems built in a child process that has its own mount namespace: mounts of
 * every kind, a bind whose destination goes through hostile symlinks (absolute to the host's
 * /etc, relative climbing above the root, a dangling last component), default and listed
 * devices, pivot_root and MS_MOVE + chroot, the console bind, read-only root, masked and
 * read-only paths, and the error messages.
 *
 * Layout: <base>/rootfs (busybox, bin/sh -> busybox, files to mask, the hostile symlinks) and
 * host files next to it (<base>/host-ro, <base>/host-marker, <base>/hostdir/marker). The child
 * checks from inside and writes one line per failed check to a pipe; its exit code is 0 (all
 * good), 1 (failures), 77 (cannot run here: skip). After it exits the parent checks that its own
 * mount namespace never saw a mount (no mountinfo line names <base>) and that the host's /etc is
 * untouched.
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
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/base/compiler.h"
#include "../../src/container/rootfs.h"

#define SKIP_CODE 77

/* An oci_mount initializer (the fields after options zeroed). */
#define MNT(dest_, type_, src_, opts_)                                                             \
    {                                                                                              \
        .destination = (dest_), .type = (type_), .source = (src_), .options = (opts_)              \
    }

/* ---- mount_opts_parse -------------------------------------------------------------------- */

struct word_case {
    const char *word;
    unsigned long flags, clear, prop;
};

static void test_opts_words(void **state)
{
    (void)state;
    static const struct word_case cases[] = {
        {"defaults", 0, 0, 0},
        {"ro", MS_RDONLY, 0, 0},
        {"rw", 0, MS_RDONLY, 0},
        {"nosuid", MS_NOSUID, 0, 0},
        {"suid", 0, MS_NOSUID, 0},
        {"nodev", MS_NODEV, 0, 0},
        {"dev", 0, MS_NODEV, 0},
        {"noexec", MS_NOEXEC, 0, 0},
        {"exec", 0, MS_NOEXEC, 0},
        {"sync", MS_SYNCHRONOUS, 0, 0},
        {"async", 0, MS_SYNCHRONOUS, 0},
        {"dirsync", MS_DIRSYNC, 0, 0},
        {"remount", MS_REMOUNT, 0, 0},
        {"mand", MS_MANDLOCK, 0, 0},
        {"nomand", 0, MS_MANDLOCK, 0},
        {"noatime", MS_NOATIME, 0, 0},
        {"atime", 0, MS_NOATIME, 0},
        {"nodiratime", MS_NODIRATIME, 0, 0},
        {"diratime", 0, MS_NODIRATIME, 0},
        {"relatime", MS_RELATIME, 0, 0},
        {"norelatime", 0, MS_RELATIME, 0},
        {"strictatime", MS_STRICTATIME, 0, 0},
        {"nostrictatime", 0, MS_STRICTATIME, 0},
        {"bind", MS_BIND, 0, 0},
        {"rbind", MS_BIND | MS_REC, 0, 0},
        {"private", 0, 0, MS_PRIVATE},
        {"rprivate", 0, 0, MS_PRIVATE | MS_REC},
        {"shared", 0, 0, MS_SHARED},
        {"rshared", 0, 0, MS_SHARED | MS_REC},
        {"slave", 0, 0, MS_SLAVE},
        {"rslave", 0, 0, MS_SLAVE | MS_REC},
        {"unbindable", 0, 0, MS_UNBINDABLE},
        {"runbindable", 0, 0, MS_UNBINDABLE | MS_REC},
        {"silent", MS_SILENT, 0, 0},
        {"loud", 0, MS_SILENT, 0},
        {"iversion", MS_I_VERSION, 0, 0},
        {"noiversion", 0, MS_I_VERSION, 0},
        {"lazytime", MS_LAZYTIME, 0, 0},
        {"nolazytime", 0, MS_LAZYTIME, 0},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        const struct word_case *c = &cases[i];
        char *opts[] = {(char *)c->word, NULL};
        struct mount_opts o;
        struct sp_err err = {0, ""};
        int r = mount_opts_parse(opts, &o, &err);
        if (r != 0) fail_msg("%s: %d (%s)", c->word, r, err.msg);
        if (o.flags != c->flags || o.clear != c->clear || o.propagation != c->prop)
            fail_msg("%s: flags %#lx clear %#lx prop %#lx, want %#lx %#lx %#lx", c->word, o.flags,
                     o.clear, o.propagation, c->flags, c->clear, c->prop);
        if (o.data[0] || o.recursive)
            fail_msg("%s: data \"%s\" recursive %d", c->word, o.data, o.recursive);
        if (err.code != 0) fail_msg("%s: err touched on success", c->word);
    }
}

/* Words that are not flags: the data string, in order; ignored words vanish. */
static void test_opts_data(void **state)
{
    (void)state;
    static const struct {
        const char *words[8];
        const char *data;
        unsigned long flags;
    } cases[] = {
        {{"mode=755", "size=65536k"}, "mode=755,size=65536k", 0},
        {{"nosuid", "mode=1777", "strictatime", "size=1m"},
         "mode=1777,size=1m",
         MS_NOSUID | MS_STRICTATIME},
        {{"newinstance", "ptmxmode=0666", "mode=0620", "gid=5", "noexec"},
         "newinstance,ptmxmode=0666,mode=0620,gid=5",
         MS_NOEXEC},
        {{"tmpcopyup", "idmap", "ridmap", "notmpcopyup", "copy-symlink", "src-nofollow",
          "dest-nofollow"},
         "",
         0},
        {{"", "ro", "", "x"}, "x", MS_RDONLY},
        {{"RO"}, "RO", 0}, /* words are case sensitive */
        {{"size=1m", "tmpcopyup", "uid=0"}, "size=1m,uid=0", 0},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char *opts[9] = {0};
        for (size_t k = 0; k < 8 && cases[i].words[k]; k++)
            opts[k] = (char *)cases[i].words[k];
        struct mount_opts o;
        struct sp_err err = {0, ""};
        assert_int_equal(mount_opts_parse(opts, &o, &err), 0);
        if (strcmp(o.data, cases[i].data) != 0)
            fail_msg("case %zu: data \"%s\", want \"%s\"", i, o.data, cases[i].data);
        if (o.flags != cases[i].flags)
            fail_msg("case %zu: flags %#lx, want %#lx", i, o.flags, cases[i].flags);
        assert_int_equal(o.propagation, 0);
    }
}

/* A later word wins; flags accumulate; the last propagation wins. */
static void test_opts_order(void **state)
{
    (void)state;
    static const struct {
        const char *words[8];
        unsigned long flags, clear, prop;
    } cases[] = {
        {{"ro", "rw"}, 0, MS_RDONLY, 0},
        {{"rw", "ro"}, MS_RDONLY, 0, 0},
        {{"nosuid", "suid", "nosuid"}, MS_NOSUID, 0, 0},
        {{"nosuid", "nodev", "noexec", "ro"}, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, 0, 0},
        {{"bind", "rbind"}, MS_BIND | MS_REC, 0, 0},
        {{"rbind", "ro", "rprivate"}, MS_BIND | MS_REC | MS_RDONLY, 0, MS_PRIVATE | MS_REC},
        {{"shared", "rslave"}, 0, 0, MS_SLAVE | MS_REC},
        {{"rslave", "private"}, 0, 0, MS_PRIVATE},
        {{"exec", "dev", "suid", "rw"}, 0, MS_NOEXEC | MS_NODEV | MS_NOSUID | MS_RDONLY, 0},
        {{"noatime", "atime"}, 0, MS_NOATIME, 0},
        {{"defaults", "ro"}, MS_RDONLY, 0, 0},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char *opts[9] = {0};
        for (size_t k = 0; k < 8 && cases[i].words[k]; k++)
            opts[k] = (char *)cases[i].words[k];
        struct mount_opts o;
        assert_int_equal(mount_opts_parse(opts, &o, NULL), 0);
        if (o.flags != cases[i].flags || o.clear != cases[i].clear ||
            o.propagation != cases[i].prop)
            fail_msg("case %zu: flags %#lx clear %#lx prop %#lx, want %#lx %#lx %#lx", i, o.flags,
                     o.clear, o.propagation, cases[i].flags, cases[i].clear, cases[i].prop);
        assert_string_equal(o.data, "");
    }
}

static void test_opts_recursive(void **state)
{
    (void)state;
    static const struct {
        const char *word;
        unsigned long flags, clear;
    } cases[] = {
        {"rro", MS_RDONLY, 0},     {"rrw", 0, MS_RDONLY},   {"rnosuid", MS_NOSUID, 0},
        {"rsuid", 0, MS_NOSUID},   {"rnodev", MS_NODEV, 0}, {"rdev", 0, MS_NODEV},
        {"rnoexec", MS_NOEXEC, 0}, {"rexec", 0, MS_NOEXEC},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        char *opts[] = {"rbind", (char *)cases[i].word, NULL};
        struct mount_opts o;
        assert_int_equal(mount_opts_parse(opts, &o, NULL), 0);
        if (!o.recursive || o.flags != (MS_BIND | MS_REC | cases[i].flags) ||
            o.clear != cases[i].clear)
            fail_msg("%s: flags %#lx clear %#lx recursive %d", cases[i].word, o.flags, o.clear,
                     o.recursive);
    }
}

static void test_opts_empty(void **state)
{
    (void)state;
    struct mount_opts o;
    memset(&o, 0xff, sizeof(o));
    assert_int_equal(mount_opts_parse(NULL, &o, NULL), 0);
    assert_int_equal(o.flags, 0);
    assert_int_equal(o.clear, 0);
    assert_int_equal(o.propagation, 0);
    assert_false(o.recursive);
    assert_string_equal(o.data, "");

    char *none[] = {NULL};
    memset(&o, 0xff, sizeof(o));
    assert_int_equal(mount_opts_parse(none, &o, NULL), 0);
    assert_int_equal(o.flags, 0);
    assert_string_equal(o.data, "");
}

/* The data string holds 1023 bytes: exactly that fits, one more is -EINVAL (out untouched). */
static void test_opts_overflow(void **state)
{
    (void)state;
    static char big[2000];
    struct mount_opts o;
    struct sp_err err = {0, ""};

    memset(big, 'a', 1023);
    big[1023] = '\0';
    char *one[] = {big, NULL};
    assert_int_equal(mount_opts_parse(one, &o, &err), 0);
    assert_int_equal(strlen(o.data), 1023);

    big[1024] = '\0';
    big[1023] = 'a';
    memset(&o, 0x5a, sizeof(o));
    assert_int_equal(mount_opts_parse(one, &o, &err), -EINVAL);
    assert_int_equal(err.code, -EINVAL);
    assert_non_null(strstr(err.msg, "data"));
    assert_int_equal(o.flags, 0x5a5a5a5a5a5a5a5aUL);

    /* 511 + "," + 511 = 1023 fits; with a third word it does not. */
    static char w1[512], w2[512], w3[2];
    memset(w1, 'b', 511);
    memset(w2, 'c', 511);
    w3[0] = 'd';
    char *two[] = {w1, "ro", w2, NULL};
    assert_int_equal(mount_opts_parse(two, &o, NULL), 0);
    assert_int_equal(strlen(o.data), 1023);
    assert_int_equal(o.data[511], ',');
    assert_int_equal(o.flags, MS_RDONLY);
    char *three[] = {w1, w2, w3, NULL};
    assert_int_equal(mount_opts_parse(three, &o, NULL), -EINVAL);
}

/* ---- functional: the fixture ------------------------------------------------------------- */

static char g_base[64];
static char g_rootfs[128];
static char g_host_ro[128];
static char g_host_marker[128];
static char g_hostdir[128];
static struct stat g_passwd_st;

static const char *in_base(const char *rel)
{
    static char bufs[4][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", g_base, rel);
    return b;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int r = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            r = -1;
            break;
        }
    if (n < 0) r = -1;
    close(in);
    close(out);
    return r;
}

static int rm_rf(const char *dir)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A mountinfo line of this process that names path, or NULL. */
static const char *mountinfo_mentions(const char *path)
{
    static char line[4096];
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return "cannot read /proc/self/mountinfo";
    const char *hit = NULL;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, path)) {
            hit = line;
            break;
        }
    fclose(f);
    return hit;
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0) return 0; /* the test skips */
    umask(022);
    snprintf(g_base, sizeof(g_base), "/tmp/sprite-env-test-rootfs-XXXXXX");
    if (!mkdtemp(g_base)) return -1;
    snprintf(g_rootfs, sizeof(g_rootfs), "%s/rootfs", g_base);
    snprintf(g_host_ro, sizeof(g_host_ro), "%s/host-ro", g_base);
    snprintf(g_host_marker, sizeof(g_host_marker), "%s/host-marker", g_base);
    snprintf(g_hostdir, sizeof(g_hostdir), "%s/hostdir", g_base);
    if (mkdir(g_rootfs, 0755) < 0 || mkdir(in_base("rootfs/bin"), 0755) < 0 ||
        mkdir(in_base("rootfs/masked-dir"), 0755) < 0 || mkdir(g_hostdir, 0755) < 0)
        return -1;
    if (copy_file("/bin/busybox", in_base("rootfs/bin/busybox"), 0755) < 0) {
        print_error("cannot copy /bin/busybox (apt-get install busybox-static)\n");
        return -1;
    }
    if (symlink("busybox", in_base("rootfs/bin/sh")) < 0) return -1;
    /* Hostile links: absolute to the host's /etc (nothing at /etc in the rootfs), relative
     * climbing far above the root, and a dangling last component. */
    if (symlink("/etc", in_base("rootfs/hostile")) < 0 ||
        symlink("../../../../../../../..", in_base("rootfs/up")) < 0 ||
        symlink("/etc/lastfile", in_base("rootfs/lastlink")) < 0)
        return -1;
    if (write_file(in_base("rootfs/masked-file"), "secret", 0644) < 0 ||
        write_file(in_base("rootfs/masked-dir/inner"), "inner", 0644) < 0 ||
        write_file(g_host_ro, "ro-content", 0644) < 0 ||
        write_file(g_host_marker, "hostile-marker", 0644) < 0 ||
        write_file(in_base("hostdir/marker"), "dir-marker", 0644) < 0)
        return -1;
    if (stat("/etc/passwd", &g_passwd_st) < 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!g_base[0]) return 0;
    int r = 0;
    const char *hit = mountinfo_mentions(g_base);
    if (hit) {
        print_error("the parent's mount namespace has: %s", hit);
        r = -1;
    }
    if (rm_rf(g_base) < 0) r = -1;
    g_base[0] = '\0';
    return r;
}

/* ---- functional: the child's side -------------------------------------------------------- */

static int g_report = -1;
static int g_fails;

static void SP_PRINTF(2, 3) report(int line, const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2) n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    if (write(g_report, buf, (size_t)n) < 0) _exit(3);
    g_fails++;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) report(__LINE__, __VA_ARGS__);                                                \
    } while (0)

/* Reads a whole (small) file; the count, or -errno. */
static ssize_t read_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = read(fd, buf, cap - 1);
    int e = errno;
    close(fd);
    if (n < 0) return -e;
    buf[n] = '\0';
    return n;
}

static void check_content(int line, const char *path, const char *want)
{
    char buf[256];
    ssize_t n = read_text(path, buf, sizeof(buf));
    if (n < 0)
        report(line, "%s: %s, want \"%s\"", path, strerror((int)-n), want);
    else if (strcmp(buf, want) != 0)
        report(line, "%s: \"%s\", want \"%s\"", path, buf, want);
}

/* Creating (or opening for writing) path fails with want. */
static void check_write_fails(int line, const char *path, int want)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        close(fd);
        report(line, "%s: writable, want %s", path, strerror(want));
    } else if (errno != want) {
        report(line, "%s: %s, want %s", path, strerror(errno), strerror(want));
    }
}

static void check_chr(int line, const char *path, unsigned maj, unsigned min, mode_t perm)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        report(line, "%s: %s", path, strerror(errno));
        return;
    }
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != maj || minor(st.st_rdev) != min ||
        (st.st_mode & 07777) != perm)
        report(line, "%s: mode %o rdev %u:%u, want char %u:%u %o", path, st.st_mode,
               major(st.st_rdev), minor(st.st_rdev), maj, min, perm);
}

static void check_link(int line, const char *path, const char *want)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(path, buf, sizeof(buf) - 1);
    if (n < 0) {
        report(line, "%s: %s", path, strerror(errno));
        return;
    }
    buf[n] = '\0';
    if (strcmp(buf, want) != 0) report(line, "%s -> %s, want %s", path, buf, want);
}

static void check_absent(int line, const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        report(line, "%s exists", path);
    else if (errno != ENOENT)
        report(line, "%s: %s", path, strerror(errno));
}

/* Runs a shell command inside; 0 when it exited 0. */
static int run_sh(const char *script)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void enter_ns(void)
{
    if (unshare(CLONE_NEWNS) < 0) {
        report(__LINE__, "unshare(CLONE_NEWNS): %s", strerror(errno));
        _exit(errno == EPERM ? SKIP_CODE : 1);
    }
}

/* ---- functional: the parent's side ------------------------------------------------------- */

/* Writes text to a /proc file of pid. */
static int write_proc(pid_t pid, const char *name, const char *text)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    return write_file(path, text, 0644);
}

/*
 * Forks fn(arg) with a report pipe; fails the test with the child's lines unless it exits 0.
 * userns: the child first unshares a user and a mount namespace and waits until the parent has
 * mapped every id to itself (uid 0 stays 0, but only as root of the new user namespace: mknod and
 * sysfs are refused there).
 */
static void run_child_ns(void (*fn)(const void *), const void *arg, bool userns)
{
    if (geteuid() != 0) skip();
    int p[2], ready[2], go[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        close(ready[0]);
        close(go[1]);
        g_report = p[1];
        alarm(60);
        if (userns) {
            if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
                report(__LINE__, "unshare(CLONE_NEWUSER|CLONE_NEWNS): %s", strerror(errno));
                _exit(SKIP_CODE);
            }
            char c = 0;
            if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(3);
        }
        fn(arg);
        _exit(g_fails ? 1 : 0);
    }
    close(p[1]);
    close(ready[1]);
    close(go[0]);
    if (userns) {
        char c;
        if (read(ready[0], &c, 1) == 1) {
            int e = write_proc(pid, "uid_map", "0 0 4294967295\n");
            if (e == 0) e = write_proc(pid, "gid_map", "0 0 4294967295\n");
            if (e < 0) print_error("writing the id maps: %s\n", strerror(errno));
            if (e < 0 || write(go[1], &c, 1) != 1) kill(pid, SIGKILL);
        }
    }
    close(ready[0]);
    close(go[1]);
    static char out[16384];
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_CODE) {
        print_message("skipped: %s", out);
        skip();
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child %s %d:\n%s", WIFEXITED(st) ? "exited" : "killed by signal",
                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), out);

    /* Nothing reached this namespace nor the host's /etc. */
    const char *hit = mountinfo_mentions(g_base);
    if (hit) fail_msg("the parent's mount namespace has: %s", hit);
    struct stat now;
    assert_int_equal(stat("/etc/passwd", &now), 0);
    assert_true(now.st_dev == g_passwd_st.st_dev && now.st_ino == g_passwd_st.st_ino);
    struct stat none;
    assert_int_equal(lstat("/etc/lastfile", &none), -1);
}

static void run_child(void (*fn)(const void *), const void *arg)
{
    run_child_ns(fn, arg, false);
}

/* ---- functional: a full root filesystem -------------------------------------------------- */

static char *o_proc[] = {"nosuid", "noexec", "nodev", NULL};
static char *o_dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
static char *o_pts[] = {"nosuid",    "noexec", "newinstance", "ptmxmode=0666",
                        "mode=0620", "gid=5",  NULL};
static char *o_mqueue[] = {"nosuid", "noexec", "nodev", NULL};
static char *o_sys[] = {"nosuid", "noexec", "nodev", "ro", NULL};
static char *o_cgroup[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
static char *o_tmp[] = {"nosuid", "nodev", "mode=1777", "size=1m", "private", NULL};
static char *o_bind_ro[] = {"bind", "ro", NULL};
static char *o_none_bind[] = {"bind", "rw", NULL};
static char *o_rbind_ro[] = {"rbind", "ro", "nosuid", "rprivate", NULL};
static char *o_none[] = {NULL};

static char *masked[] = {"/masked-file", "/masked-dir", "/no-such-masked", "/proc/kcore", NULL};
static char *readonly[] = {"/tmp/rodir", "/proc/sys", "/no-such-ro", NULL};

static void build_full_spec(struct oci_spec *s, struct oci_mount *m, struct oci_device *d,
                            bool no_pivot)
{
    size_t n = 0;
    m[n++] = (struct oci_mount)MNT("/proc", "proc", "proc", o_proc);
    m[n++] = (struct oci_mount)MNT("/dev", "tmpfs", "tmpfs", o_dev);
    m[n++] = (struct oci_mount)MNT("/dev/pts", "devpts", "devpts", o_pts);
    m[n++] = (struct oci_mount)MNT("/dev/mqueue", "mqueue", "mqueue", o_mqueue);
    m[n++] = (struct oci_mount)MNT("/sys", "sysfs", "sysfs", o_sys);
    m[n++] = (struct oci_mount)MNT("/sys/fs/cgroup", "cgroup", "cgroup", o_cgroup);
    m[n++] = (struct oci_mount)MNT("/tmp", "tmpfs", "tmpfs", o_tmp);
    m[n++] = (struct oci_mount)MNT("/data/ro-file", "bind", g_host_ro, o_bind_ro);
    /* Through the absolute symlink: must land on <rootfs>/etc/passwd. */
    m[n++] = (struct oci_mount)MNT("/hostile/passwd", "none", g_host_marker, o_none_bind);
    /* Through the relative symlink climbing above the root: <rootfs>/mnt-rel. */
    m[n++] = (struct oci_mount)MNT("/up/mnt-rel", "bind", g_hostdir, o_rbind_ro);
    /* The last component a dangling symlink: <rootfs>/etc/lastfile. Type absent. */
    m[n++] = (struct oci_mount)MNT("/lastlink", NULL, g_host_ro, o_none);
    s->mounts = m;
    s->n_mounts = n;

    d[0] = (struct oci_device){.type = 'c',
                               .path = "/dev/sprite/null2",
                               .major = 1,
                               .minor = 3,
                               .has_mode = true,
                               .file_mode = 0600,
                               .has_uid = true,
                               .uid = 1000,
                               .has_gid = true,
                               .gid = 1001};
    d[1] =
        (struct oci_device){.type = 'p', .path = "/dev/fifo1", .has_mode = true, .file_mode = 0640};
    /* Listed with other permissions: the default device is not created over it. */
    d[2] = (struct oci_device){.type = 'c',
                               .path = "/dev/zero",
                               .major = 1,
                               .minor = 5,
                               .has_mode = true,
                               .file_mode = 0644};
    s->devices = d;
    s->n_devices = 3;

    s->masked_paths = masked;
    s->readonly_paths = readonly;
    s->root_readonly = true;
    s->rootfs_propagation = no_pivot ? "rslave" : NULL;
}

static void full_child(const void *arg)
{
    bool no_pivot = *(const bool *)arg;
    enter_ns();

    struct oci_spec spec;
    memset(&spec, 0, sizeof(spec));
    struct oci_mount mounts[16];
    struct oci_device devs[4];
    build_full_spec(&spec, mounts, devs, no_pivot);

    struct sp_err err = {0, ""};
    if (rootfs_prepare(&spec, g_rootfs, &err) < 0) {
        report(__LINE__, "rootfs_prepare: %d %s", err.code, err.msg);
        return;
    }
    /* Before the pivot: the host's /etc was not mounted over, the rootfs' was made. */
    struct stat st;
    CHECK(stat("/etc/passwd", &st) == 0 && st.st_dev == g_passwd_st.st_dev &&
              st.st_ino == g_passwd_st.st_ino,
          "the host's /etc/passwd was mounted over");
    CHECK(lstat("/etc/lastfile", &st) < 0, "/etc/lastfile created on the host");
    CHECK(lstat("/mnt-rel", &st) < 0, "/mnt-rel created on the host");

    if (rootfs_pivot(g_rootfs, no_pivot, &err) < 0) {
        report(__LINE__, "rootfs_pivot: %d %s", err.code, err.msg);
        return;
    }

    /* The console: a pty of the container's devpts, bound over /dev/console. */
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char slave[64];
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
        ptsname_r(master, slave, sizeof(slave)) != 0) {
        report(__LINE__, "pty: %s", strerror(errno));
    } else {
        if (rootfs_bind_console(slave, &err) < 0)
            report(__LINE__, "rootfs_bind_console: %s", err.msg);
        struct stat a, b;
        CHECK(stat("/dev/console", &a) == 0 && stat(slave, &b) == 0 && S_ISCHR(a.st_mode) &&
                  a.st_rdev == b.st_rdev,
              "/dev/console is not %s", slave);
    }
    if (master >= 0) close(master);

    CHECK(mkdir("/tmp/rodir", 0755) == 0, "mkdir /tmp/rodir: %s", strerror(errno));
    if (rootfs_finalize(&spec, &err) < 0) {
        report(__LINE__, "rootfs_finalize: %d %s", err.code, err.msg);
        return;
    }

    /* The image. */
    CHECK(stat("/bin/busybox", &st) == 0 && S_ISREG(st.st_mode), "/bin/busybox");
    check_link(__LINE__, "/bin/sh", "busybox");
    /* The old root is gone. */
    check_absent(__LINE__, "/usr");
    check_absent(__LINE__, "/etc/hostname");
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, "/"), "cwd is not /");

    /* Read-only root. */
    struct statvfs sv;
    CHECK(statvfs("/", &sv) == 0 && (sv.f_flag & ST_RDONLY), "/ is not read-only");
    check_write_fails(__LINE__, "/newfile", EROFS);
    CHECK(mkdir("/newdir", 0755) < 0 && errno == EROFS, "mkdir /newdir: %s", strerror(errno));

    /* Devices. */
    check_chr(__LINE__, "/dev/null", 1, 3, 0666);
    check_chr(__LINE__, "/dev/zero", 1, 5, 0644);
    check_chr(__LINE__, "/dev/full", 1, 7, 0666);
    check_chr(__LINE__, "/dev/random", 1, 8, 0666);
    check_chr(__LINE__, "/dev/urandom", 1, 9, 0666);
    check_chr(__LINE__, "/dev/tty", 5, 0, 0666);
    check_chr(__LINE__, "/dev/sprite/null2", 1, 3, 0600);
    CHECK(lstat("/dev/sprite/null2", &st) == 0 && st.st_uid == 1000 && st.st_gid == 1001,
          "/dev/sprite/null2 owner %u:%u", st.st_uid, st.st_gid);
    CHECK(lstat("/dev/fifo1", &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0640,
          "/dev/fifo1 mode %o", st.st_mode);
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0 && write(fd, "x", 1) == 1, "writing /dev/null: %s", strerror(errno));
    if (fd >= 0) close(fd);
    fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    char z[4] = {1, 1, 1, 1};
    CHECK(fd >= 0 && read(fd, z, 4) == 4 && !z[0] && !z[1] && !z[2] && !z[3], "reading /dev/zero");
    if (fd >= 0) close(fd);
    fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0 && write(fd, "x", 1) < 0 && errno == ENOSPC, "/dev/full: %s", strerror(errno));
    if (fd >= 0) close(fd);
    check_link(__LINE__, "/dev/ptmx", "pts/ptmx");
    check_link(__LINE__, "/dev/fd", "/proc/self/fd");
    check_link(__LINE__, "/dev/stdin", "/proc/self/fd/0");
    check_link(__LINE__, "/dev/stdout", "/proc/self/fd/1");
    check_link(__LINE__, "/dev/stderr", "/proc/self/fd/2");
    CHECK(stat("/dev/pts/ptmx", &st) == 0 && S_ISCHR(st.st_mode), "/dev/pts/ptmx");
    CHECK(stat("/dev/mqueue", &st) == 0 && S_ISDIR(st.st_mode), "/dev/mqueue");

    /* proc, sys, cgroup. */
    CHECK(stat("/proc/self/status", &st) == 0, "/proc/self/status: %s", strerror(errno));
    CHECK(stat("/proc/self/fd/0", &st) == 0 || errno == ENOENT, "/proc/self/fd");
    check_write_fails(__LINE__, "/proc/sys/kernel/hostname", EROFS);
    CHECK(stat("/sys/kernel", &st) == 0 && S_ISDIR(st.st_mode), "/sys/kernel: %s", strerror(errno));
    CHECK(statvfs("/sys", &sv) == 0 && (sv.f_flag & ST_RDONLY), "/sys is not read-only");
    CHECK(stat("/sys/fs/cgroup", &st) == 0, "/sys/fs/cgroup: %s", strerror(errno));
    CHECK(mkdir("/sys/fs/cgroup/sprite-env-test", 0755) < 0 && errno == EROFS,
          "mkdir in /sys/fs/cgroup: %s", strerror(errno));

    /* Masked and read-only paths. */
    check_content(__LINE__, "/masked-file", "");
    check_absent(__LINE__, "/masked-dir/inner");
    check_write_fails(__LINE__, "/masked-dir/new", EROFS);
    /* /dev/null over the file: writes vanish. */
    check_chr(__LINE__, "/masked-file", 1, 3, 0666);
    fd = open("/masked-file", O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0 && write(fd, "leak", 4) == 4, "/masked-file: %s", strerror(errno));
    if (fd >= 0) close(fd);
    check_content(__LINE__, "/masked-file", "");
    fd = open("/tmp/ok", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    CHECK(fd >= 0, "/tmp is not writable: %s", strerror(errno));
    if (fd >= 0) close(fd);
    CHECK(statvfs("/tmp", &sv) == 0 && (sv.f_flag & ST_NOSUID) && !(sv.f_flag & ST_RDONLY),
          "/tmp flags %#lx", sv.f_flag);
    check_write_fails(__LINE__, "/tmp/rodir/x", EROFS);
    CHECK(statvfs("/tmp/rodir", &sv) == 0 && (sv.f_flag & ST_NOSUID) && (sv.f_flag & ST_NODEV),
          "/tmp/rodir lost nosuid/nodev: %#lx", sv.f_flag);

    /* The binds. */
    check_content(__LINE__, "/data/ro-file", "ro-content");
    check_write_fails(__LINE__, "/data/ro-file", EROFS);
    check_content(__LINE__, "/etc/passwd", "hostile-marker");
    fd = open("/etc/passwd", O_WRONLY | O_APPEND | O_CLOEXEC);
    CHECK(fd >= 0, "/etc/passwd (a rw bind) is not writable: %s", strerror(errno));
    if (fd >= 0) close(fd);
    check_content(__LINE__, "/etc/lastfile", "ro-content");
    check_link(__LINE__, "/lastlink", "/etc/lastfile");
    check_content(__LINE__, "/mnt-rel/marker", "dir-marker");
    check_write_fails(__LINE__, "/mnt-rel/new", EROFS);
    CHECK(statvfs("/mnt-rel", &sv) == 0 && (sv.f_flag & ST_NOSUID), "/mnt-rel not nosuid");

    /* And the image runs. */
    int rc = run_sh("[ -c /dev/null ] && [ \"$(cat /data/ro-file)\" = ro-content ] && "
                    "! touch /x 2>/dev/null && echo ok >/tmp/sh-ok && [ -d /proc/self ]");
    CHECK(rc == 0, "/bin/sh inside: exit %d", rc);
}

static void test_pivot(void **state)
{
    (void)state;
    bool no_pivot = false;
    run_child(full_child, &no_pivot);
    /* The files made inside the rootfs stayed in it. */
    assert_int_equal(access(in_base("rootfs/etc/passwd"), F_OK), 0);
    assert_int_equal(access(in_base("rootfs/etc/lastfile"), F_OK), 0);
    assert_int_equal(access(in_base("rootfs/mnt-rel"), F_OK), 0);
    assert_int_equal(access(in_base("rootfs/data/ro-file"), F_OK), 0);
}

static void test_no_pivot(void **state)
{
    (void)state;
    bool no_pivot = true;
    run_child(full_child, &no_pivot);
    assert_int_equal(access(in_base("rootfs/etc/passwd"), F_OK), 0);
}

/* ---- functional: /dev as a bind ---------------------------------------------------------- */

static char *o_rbind[] = {"rbind", NULL};

static void dev_bind_child(const void *arg)
{
    (void)arg;
    enter_ns();
    struct oci_spec spec;
    memset(&spec, 0, sizeof(spec));
    struct oci_mount m[2] = {
        MNT("/proc", "proc", "proc", o_proc),
        MNT("/dev/", "bind", g_hostdir, o_rbind),
    };
    struct oci_device d = {.type = 'c', .path = "/dev/listed", .major = 1, .minor = 3};
    spec.mounts = m;
    spec.n_mounts = 2;
    spec.devices = &d;
    spec.n_devices = 1;
    spec.rootfs_propagation = "rshared";

    struct sp_err err = {0, ""};
    if (rootfs_prepare(&spec, g_rootfs, &err) < 0 || rootfs_pivot(g_rootfs, false, &err) < 0 ||
        rootfs_finalize(&spec, &err) < 0) {
        report(__LINE__, "%d %s", err.code, err.msg);
        return;
    }
    check_content(__LINE__, "/dev/marker", "dir-marker");
    check_absent(__LINE__, "/dev/null");
    check_absent(__LINE__, "/dev/ptmx");
    check_absent(__LINE__, "/dev/fd");
    check_absent(__LINE__, "/dev/listed");
    /* The root is writable here, and shared as asked. */
    int fd = open("/written", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    CHECK(fd >= 0, "/written: %s", strerror(errno));
    if (fd >= 0) close(fd);
    char line[4096];
    FILE *f = fopen("/proc/self/mountinfo", "re");
    bool shared = false;
    while (f && fgets(line, sizeof(line), f)) {
        char mp[PATH_MAX];
        if (sscanf(line, "%*d %*d %*s %*s %4095s", mp) == 1 && !strcmp(mp, "/") &&
            strstr(line, " shared:"))
            shared = true;
    }
    if (f) fclose(f);
    CHECK(shared, "/ is not shared");
}

static void test_dev_bind(void **state)
{
    (void)state;
    run_child(dev_bind_child, NULL);
    /* Nothing was created in the bound host directory. */
    DIR *d = opendir(g_hostdir);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            assert_string_equal(de->d_name, "marker");
            n++;
        }
    closedir(d);
    assert_int_equal(n, 1);
    assert_int_equal(access(in_base("rootfs/written"), F_OK), 0);
}

/* ---- functional: errors name the mount --------------------------------------------------- */

static void errors_child(const void *arg)
{
    (void)arg;
    enter_ns();
    static const struct {
        struct oci_mount m;
        const char *prop;
        int code;
        const char *msg;
    } cases[] = {
        {MNT("/bad", "sprite-nofs", NULL, o_none), NULL, -ENODEV,
         "mounting sprite-nofs on /bad: No such device"},
        {MNT("/x", "bind", "/nonexistent-sprite", o_bind_ro), NULL, -ENOENT,
         "mounting /nonexistent-sprite on /x: No such file or directory"},
        {MNT("/proc/../masked-file/sub", "tmpfs", "tmpfs", o_none), NULL, -ENOTDIR,
         "mounting tmpfs on /proc/../masked-file/sub: Not a directory"},
        {MNT("/ok", "tmpfs", "tmpfs", o_none), "bogus", -EINVAL,
         "linux.rootfsPropagation: unknown value \"bogus\""},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct oci_spec spec;
        memset(&spec, 0, sizeof(spec));
        struct oci_mount m = cases[i].m;
        spec.mounts = &m;
        spec.n_mounts = 1;
        spec.rootfs_propagation = (char *)cases[i].prop;
        struct sp_err err = {0, ""};
        int r = rootfs_prepare(&spec, g_rootfs, &err);
        CHECK(r == cases[i].code && err.code == r && !strcmp(err.msg, cases[i].msg),
              "case %zu: %d \"%s\", want %d \"%s\"", i, r, err.msg, cases[i].code, cases[i].msg);
    }
    struct sp_err err = {0, ""};
    int r = rootfs_pivot("/nonexistent-sprite-root", true, &err);
    CHECK(r == -ENOENT && strstr(err.msg, "/nonexistent-sprite-root"), "no_pivot: %d %s", r,
          err.msg);
    r = rootfs_pivot("/nonexistent-sprite-root", false, &err);
    CHECK(r == -ENOENT && strstr(err.msg, "/nonexistent-sprite-root"), "pivot: %d %s", r, err.msg);
}

static void test_errors(void **state)
{
    (void)state;
    run_child(errors_child, NULL);
    /* A failed target creation left nothing beside the rootfs. */
    assert_int_equal(access("/nonexistent-sprite", F_OK), -1);
}

/* ---- functional: in a user namespace ---------------------------------------------------- */

static char *masked_userns[] = {"/masked-file", "/masked-dir", NULL};
static char *readonly_userns[] = {"/tmp/rodir", NULL};

static void userns_child(const void *arg)
{
    (void)arg;
    struct oci_spec spec;
    memset(&spec, 0, sizeof(spec));
    struct oci_mount m[] = {
        MNT("/dev", "tmpfs", "tmpfs", o_dev),
        MNT("/dev/pts", "devpts", "devpts", o_pts),
        MNT("/sys", "sysfs", "sysfs", o_sys),
        MNT("/tmp", "tmpfs", "tmpfs", o_tmp),
        MNT("/data/ro-file", "bind", g_host_ro, o_bind_ro),
    };
    spec.mounts = m;
    spec.n_mounts = SP_ARRAY_LEN(m);
    spec.masked_paths = masked_userns;
    spec.readonly_paths = readonly_userns;
    spec.root_readonly = true;

    struct sp_err err = {0, ""};
    if (rootfs_prepare(&spec, g_rootfs, &err) < 0) {
        report(__LINE__, "rootfs_prepare: %d %s", err.code, err.msg);
        return;
    }
    if (rootfs_pivot(g_rootfs, false, &err) < 0) {
        report(__LINE__, "rootfs_pivot: %d %s", err.code, err.msg);
        return;
    }
    CHECK(mkdir("/tmp/rodir", 0755) == 0, "mkdir /tmp/rodir: %s", strerror(errno));
    if (rootfs_finalize(&spec, &err) < 0) {
        report(__LINE__, "rootfs_finalize: %d %s", err.code, err.msg);
        return;
    }

    /* mknod is refused here: the devices are the host's, bound onto files of the tmpfs. */
    struct stat dev, st;
    CHECK(stat("/dev", &dev) == 0, "/dev: %s", strerror(errno));
    check_chr(__LINE__, "/dev/null", 1, 3, 0666);
    check_chr(__LINE__, "/dev/zero", 1, 5, 0666);
    check_chr(__LINE__, "/dev/tty", 5, 0, 0666);
    CHECK(stat("/dev/null", &st) == 0 && st.st_dev != dev.st_dev, "/dev/null is not a bind");
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0 && write(fd, "x", 1) == 1, "writing /dev/null: %s", strerror(errno));
    if (fd >= 0) close(fd);
    check_link(__LINE__, "/dev/ptmx", "pts/ptmx");

    /* sysfs is refused too: /sys is the host's, bound recursively and read-only throughout. */
    CHECK(stat("/sys/kernel", &st) == 0 && S_ISDIR(st.st_mode), "/sys/kernel: %s", strerror(errno));
    struct statvfs sv;
    CHECK(statvfs("/sys", &sv) == 0 && (sv.f_flag & ST_RDONLY), "/sys is not read-only");
    if (statvfs("/sys/fs/cgroup", &sv) == 0)
        CHECK(sv.f_flag & ST_RDONLY, "/sys/fs/cgroup (a submount) is not read-only");

    check_write_fails(__LINE__, "/newfile", EROFS);
    check_content(__LINE__, "/masked-file", "");
    check_absent(__LINE__, "/masked-dir/inner");
    check_content(__LINE__, "/data/ro-file", "ro-content");
    check_write_fails(__LINE__, "/data/ro-file", EROFS);
    check_write_fails(__LINE__, "/tmp/rodir/x", EROFS);
    fd = open("/tmp/ok", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    CHECK(fd >= 0, "/tmp is not writable: %s", strerror(errno));
    if (fd >= 0) close(fd);
    int rc = run_sh("[ -c /dev/null ] && ! touch /x 2>/dev/null && echo ok >/tmp/sh-ok");
    CHECK(rc == 0, "/bin/sh inside: exit %d", rc);
}

static void test_userns(void **state)
{
    (void)state;
    run_child_ns(userns_child, NULL, true);
    /* The host's devices were only bound, never changed. */
    struct stat st;
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_mode & 07777, 0666);
}

/* ---- functional: id-mapped binds ------------------------------------------------------- */

/*
 * <base>/idsrc: root-file (0:0), user-file (5:7), far-file (70000:70000, outside the mappings),
 * sub/ (where the child binds <base>/idsub, holding inner-file 3:3, as a submount).
 */
static int make_idmap_fixture(void)
{
    if (mkdir(in_base("idsrc"), 0755) < 0 || mkdir(in_base("idsrc/sub"), 0755) < 0 ||
        mkdir(in_base("idsub"), 0755) < 0)
        return -1;
    if (write_file(in_base("idsrc/root-file"), "idmapped", 0644) < 0 ||
        write_file(in_base("idsrc/user-file"), "user", 0644) < 0 ||
        write_file(in_base("idsrc/far-file"), "far", 0644) < 0 ||
        write_file(in_base("idsub/inner-file"), "inner", 0644) < 0)
        return -1;
    if (chown(in_base("idsrc/user-file"), 5, 7) < 0 ||
        chown(in_base("idsrc/far-file"), 70000, 70000) < 0 ||
        chown(in_base("idsub/inner-file"), 3, 3) < 0)
        return -1;
    return 0;
}

static char *o_bind_ro_nosuid[] = {"bind", "ro", "nosuid", NULL};
static char *o_bind[] = {"bind", NULL};
static struct oci_idmap map_100000[] = {{0, 100000, 65536}};
static struct oci_idmap map_200000[] = {{0, 200000, 65536}};
static struct oci_idmap map_300000[] = {{0, 300000, 10}, {10, 300010, 65526}};
static struct oci_idmap map_1000[] = {{0, 1000, 1}};
static struct oci_idmap map_1001[] = {{0, 1001, 1}};

static struct oci_mount idmapped_mount(const char *dest, const char *type, const char *src,
                                       char **opts, struct oci_idmap *uids, size_t n_uids,
                                       struct oci_idmap *gids, size_t n_gids)
{
    struct oci_mount m = MNT((char *)dest, (char *)type, (char *)src, opts);
    m.uid_mappings = uids;
    m.n_uid_mappings = n_uids;
    m.gid_mappings = gids;
    m.n_gid_mappings = n_gids;
    return m;
}

/* A new mount and pid namespace: the rest runs as pid 1 there, as a container's init does (the
 * host's /proc then names it by another pid). */
static void enter_ns_pid(void)
{
    if (unshare(CLONE_NEWNS | CLONE_NEWPID) < 0) {
        report(__LINE__, "unshare(CLONE_NEWNS|CLONE_NEWPID): %s", strerror(errno));
        _exit(errno == EPERM ? SKIP_CODE : 1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        report(__LINE__, "fork: %s", strerror(errno));
        _exit(1);
    }
    if (pid > 0) {
        int st;
        if (waitpid(pid, &st, 0) != pid) _exit(1);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
    }
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void check_owner(int line, const char *path, uid_t uid, gid_t gid)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        report(line, "%s: %s", path, strerror(errno));
    else if (st.st_uid != uid || st.st_gid != gid)
        report(line, "%s: owner %u:%u, want %u:%u", path, st.st_uid, st.st_gid, uid, gid);
}

static unsigned overflow_id(const char *name)
{
    char path[64], buf[32];
    snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
    return read_text(path, buf, sizeof(buf)) > 0 ? (unsigned)strtoul(buf, NULL, 10) : 65534;
}

/* The mountinfo line of the mount at path (the last one: the top of a stack) has word in its
 * per-mount options. */
static bool mount_has_option(const char *path, const char *word)
{
    char line[4096], mp[PATH_MAX], opts[1024];
    bool found = false;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%*d %*d %*s %*s %4095s %1023s", mp, opts) == 2 && !strcmp(mp, path)) {
            found = false;
            for (char *w = strtok(opts, ","); w; w = strtok(NULL, ","))
                if (!strcmp(w, word)) found = true;
        }
    if (f) fclose(f);
    return found;
}

static void idmap_child(const void *arg)
{
    (void)arg;
    enter_ns_pid();
    if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(in_base("idsub"), in_base("idsrc/sub"), NULL, MS_BIND, NULL) < 0) {
        report(__LINE__, "binding idsub: %s", strerror(errno));
        return;
    }
    struct oci_spec spec;
    memset(&spec, 0, sizeof(spec));
    struct oci_mount m[] = {
        idmapped_mount("/idmapped", "bind", in_base("idsrc"), o_bind_ro_nosuid, map_100000, 1,
                       map_200000, 1),
        idmapped_mount("/idrec", NULL, in_base("idsrc"), o_rbind, map_300000, 2, map_300000, 2),
        idmapped_mount("/idfile", "bind", in_base("idsrc/root-file"), o_bind, map_1000, 1, map_1001,
                       1),
        MNT("/plain", "bind", (char *)in_base("idsrc"), o_rbind),
    };
    spec.mounts = m;
    spec.n_mounts = SP_ARRAY_LEN(m);
    int fds = count_fds();

    struct sp_err err = {0, ""};
    int r = rootfs_prepare(&spec, g_rootfs, &err);
    if (r < 0 && (r == -ENOSYS || r == -EINVAL) && strstr(err.msg, "not supported here")) {
        report(__LINE__, "%s", err.msg);
        _exit(SKIP_CODE);
    }
    if (r < 0) {
        report(__LINE__, "rootfs_prepare: %d %s", r, err.msg);
        return;
    }
    /* Nothing left behind: no fd, no child (the namespace helper was reaped). */
    CHECK(count_fds() == fds, "%d fds open, %d before", count_fds(), fds);
    CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "a child is left");

    unsigned ou = overflow_id("overflowuid"), og = overflow_id("overflowgid");
    /* A plain bind, then the mapping: containerID (+k) on disk is seen as hostID (+k). */
    check_owner(__LINE__, in_base("rootfs/plain/root-file"), 0, 0);
    check_owner(__LINE__, in_base("rootfs/plain/sub/inner-file"), 3, 3);
    check_owner(__LINE__, in_base("rootfs/idmapped"), 100000, 200000);
    check_owner(__LINE__, in_base("rootfs/idmapped/root-file"), 100000, 200000);
    check_owner(__LINE__, in_base("rootfs/idmapped/user-file"), 100005, 200007);
    check_owner(__LINE__, in_base("rootfs/idmapped/far-file"), ou, og);
    check_content(__LINE__, in_base("rootfs/idmapped/root-file"), "idmapped");
    CHECK(mount_has_option(in_base("rootfs/idmapped"), "idmapped"), "no idmapped in mountinfo");
    /* The flags are there too; bind (not rbind) leaves the submount out. */
    struct statvfs sv;
    CHECK(statvfs(in_base("rootfs/idmapped"), &sv) == 0 && (sv.f_flag & ST_RDONLY) &&
              (sv.f_flag & ST_NOSUID),
          "/idmapped flags %#lx", sv.f_flag);
    check_write_fails(__LINE__, in_base("rootfs/idmapped/new"), EROFS);
    check_absent(__LINE__, in_base("rootfs/idmapped/sub/inner-file"));
    /* rbind: the submount is mapped too; two entries. */
    check_owner(__LINE__, in_base("rootfs/idrec/root-file"), 300000, 300000);
    check_owner(__LINE__, in_base("rootfs/idrec/user-file"), 300005, 300007);
    check_owner(__LINE__, in_base("rootfs/idrec/sub/inner-file"), 300003, 300003);
    CHECK(mount_has_option(in_base("rootfs/idrec/sub"), "idmapped"), "submount not idmapped");
    /* A file. */
    check_owner(__LINE__, in_base("rootfs/idfile"), 1000, 1001);
    check_content(__LINE__, in_base("rootfs/idfile"), "idmapped");

    /* Errors name the mount. */
    char *proc_src = "/proc/sys";
    static const struct {
        const char *dest, *type;
        char **opts;
        size_t n_uids, n_gids;
        int code;
        const char *msg;
    } cases[] = {
        {"/idproc", "bind", o_bind, 1, 1, -EINVAL,
         "mounting /proc/sys on /idproc: id-mapped mounts are not supported here: Invalid "
         "argument"},
        {"/idtmpfs", "tmpfs", o_none, 1, 1, -EINVAL,
         "mounting /proc/sys on /idtmpfs: only bind mounts can be id-mapped"},
        {"/idhalf", "bind", o_bind, 1, 0, -EINVAL,
         "mounting /proc/sys on /idhalf: an id-mapped mount needs uid and gid mappings, 1 to 64 "
         "of each"},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
        struct oci_mount bad = idmapped_mount(cases[i].dest, cases[i].type, proc_src, cases[i].opts,
                                              map_1000, cases[i].n_uids, map_1001, cases[i].n_gids);
        spec.mounts = &bad;
        spec.n_mounts = 1;
        sp_err_clear(&err);
        fds = count_fds();
        r = rootfs_prepare(&spec, g_rootfs, &err);
        CHECK(r == cases[i].code && err.code == r && !strcmp(err.msg, cases[i].msg),
              "case %zu: %d \"%s\", want %d \"%s\"", i, r, err.msg, cases[i].code, cases[i].msg);
        CHECK(count_fds() == fds, "case %zu: %d fds open, %d before", i, count_fds(), fds);
        CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "case %zu: a child is left", i);
    }
}

static void test_idmapped(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    assert_int_equal(make_idmap_fixture(), 0);
    run_child(idmap_child, NULL);
    /* The mapping is the mount's only: the files on disk are as they were. */
    struct stat st;
    assert_int_equal(stat(in_base("idsrc/root-file"), &st), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(stat(in_base("idsrc/user-file"), &st), 0);
    assert_int_equal(st.st_uid, 5);
    assert_int_equal(st.st_gid, 7);
}

/* In a user namespace of its own, the kernel refuses to id-map a host file system. */
static void idmap_userns_child(const void *arg)
{
    (void)arg;
    struct oci_spec spec;
    memset(&spec, 0, sizeof(spec));
    struct oci_mount m = idmapped_mount("/idmapped", "bind", in_base("idsrc"), o_bind_ro_nosuid,
                                        map_100000, 1, map_200000, 1);
    spec.mounts = &m;
    spec.n_mounts = 1;
    struct sp_err err = {0, ""};
    int r = rootfs_prepare(&spec, g_rootfs, &err);
    if (r == -ENOSYS || r == -EINVAL) {
        report(__LINE__, "%s", err.msg);
        _exit(SKIP_CODE);
    }
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want),
             "mounting %s on /idmapped: id-mapped mounts are not supported here: Operation not "
             "permitted",
             in_base("idsrc"));
    CHECK(r == -EPERM && !strcmp(err.msg, want), "%d \"%s\", want -EPERM \"%s\"", r, err.msg, want);
    CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "a child is left");
}

static void test_idmapped_userns(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    assert_int_equal(make_idmap_fixture(), 0);
    run_child_ns(idmap_userns_child, NULL, true);
}

/* "sprite.subpath=REL" resolves REL inside the source when mounting: a symlink there that
 * points out of the source (to "/") is followed as if the source were the root. */
static void subpath_child(const void *arg)
{
    (void)arg;
    enter_ns_pid();
    if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        report(__LINE__, "making / private: %s", strerror(errno));
        return;
    }
    static char *opts[] = {"bind", "sprite.subpath=escape/sub", NULL};
    static char *opts_file[] = {"bind", "sprite.subpath=dir/f", NULL};
    static char *opts_missing[] = {"bind", "sprite.subpath=no/such", NULL};
    struct oci_mount mounts[] = {
        MNT("/sub", "bind", (char *)in_base("subsrc"), opts),
        MNT("/file", "bind", (char *)in_base("subsrc"), opts_file),
    };
    struct oci_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.mounts = mounts;
    spec.n_mounts = 2;
    struct sp_err err = {0, ""};
    int r = rootfs_prepare(&spec, g_rootfs, &err);
    CHECK(r == 0, "rootfs_prepare: %d %s", r, err.msg);
    char p[PATH_MAX];
    /* escape -> "/" resolves to the source itself: escape/sub is subsrc/sub, not /sub */
    snprintf(p, sizeof(p), "%s/sub/inside", g_rootfs);
    check_content(__LINE__, p, "in the source");
    snprintf(p, sizeof(p), "%s/file", g_rootfs);
    check_content(__LINE__, p, "a file");
    struct oci_mount bad = MNT("/missing", "bind", (char *)in_base("subsrc"), opts_missing);
    spec.mounts = &bad;
    spec.n_mounts = 1;
    r = rootfs_prepare(&spec, g_rootfs, &err);
    CHECK(r == -ENOENT && strstr(err.msg, "no/such"), "%d %s", r, err.msg);
}

static void test_subpath_confined(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    assert_int_equal(mkdir(in_base("subsrc"), 0755), 0);
    assert_int_equal(mkdir(in_base("subsrc/sub"), 0755), 0);
    assert_int_equal(mkdir(in_base("subsrc/dir"), 0755), 0);
    assert_int_equal(write_file(in_base("subsrc/sub/inside"), "in the source", 0644), 0);
    assert_int_equal(write_file(in_base("subsrc/dir/f"), "a file", 0644), 0);
    assert_int_equal(symlink("/", in_base("subsrc/escape")), 0);
    run_child(subpath_child, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_words),
        cmocka_unit_test(test_opts_data),
        cmocka_unit_test(test_opts_order),
        cmocka_unit_test(test_opts_recursive),
        cmocka_unit_test(test_opts_empty),
        cmocka_unit_test(test_opts_overflow),
        cmocka_unit_test_setup_teardown(test_pivot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_pivot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dev_bind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subpath_confined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_userns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idmapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idmapped_userns, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
