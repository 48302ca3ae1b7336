/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/os/fsroot.c: every operation confined to the root, against hostile paths,
 * symlinks (absolute, relative, chains, to the host's absolute paths) and procfs magic links;
 * atomic writes, listing, stat, removal and acting as a user. Runs as root.
 *
 * Layout: <base>/root is the root, <base>/outside/secret the file nothing may reach. Every test
 * gets a fresh root and checks at its end that <base> and <base>/outside are exactly as built.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/base/compiler.h"
#include "../../src/os/fsroot.h"

#define NOBODY 65534

static char g_base[64];
static char g_root[128];
static char g_out[128];
static struct fsroot g_r = {-1};

/* A host path below the root; rotating buffers so several can be used in one call. */
static const char *in_root(const char *rel)
{
    static char bufs[8][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 8];
    snprintf(b, PATH_MAX, "%s/%s", g_root, rel);
    return b;
}

static void write_host(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) fail_msg("create %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void mkfile(const char *rel, const char *text)
{
    write_host(in_root(rel), text, 0644);
}

static void mkdir_r(const char *rel)
{
    if (mkdir(in_root(rel), 0755) < 0) fail_msg("mkdir %s: %s", rel, strerror(errno));
}

static void mklink(const char *target, const char *rel)
{
    if (symlink(target, in_root(rel)) < 0) fail_msg("symlink %s: %s", rel, strerror(errno));
}

static bool exists_host(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Reads fd from offset 0 to EOF (at most cap-1 bytes) and closes it. */
static const char *read_fd(int fd)
{
    static char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0) fail_msg("pread: %s", strerror(errno));
    buf[n] = '\0';
    close(fd);
    return buf;
}

/* The content of a client path read through fsroot, or NULL with *err set. */
static const char *read_in(const char *path, int *err)
{
    int fd = fsroot_openat(&g_r, path, O_RDONLY, 0);
    *err = fd < 0 ? fd : 0;
    return fd < 0 ? NULL : read_fd(fd);
}

static void assert_content(const char *path, const char *want)
{
    int e;
    const char *got = read_in(path, &e);
    if (!got) fail_msg("%s: %s, want \"%s\"", path, strerror(-e), want);
    if (strcmp(got, want) != 0) fail_msg("%s: \"%s\", want \"%s\"", path, got, want);
}

static void assert_open_fails(const char *path, int want)
{
    int e;
    const char *got = read_in(path, &e);
    if (got) fail_msg("%s: opened (\"%s\"), want %s", path, got, strerror(-want));
    if (e != want) fail_msg("%s: %s, want %s", path, strerror(-e), strerror(-want));
}

/* Names in a host directory, sorted, joined with ","; "." and ".." left out. */
static const char *dir_names(const char *dir)
{
    static char out[4096];
    char names[64][NAME_MAX + 1];
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d) fail_msg("opendir %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        assert_true(n < SP_ARRAY_LEN(names));
        snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(out, ",");
        strcat(out, names[i]);
    }
    return out;
}

/* Nothing outside the root was created, changed or removed. */
static int outside_intact(void)
{
    char secret[PATH_MAX];
    snprintf(secret, sizeof(secret), "%s/secret", g_out);
    int fd = open(secret, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 07777) != 0600) {
        close(fd);
        return -1;
    }
    if (strcmp(read_fd(fd), "SECRET") != 0) return -1;
    if (strcmp(dir_names(g_out), "secret") != 0) return -1;
    if (strcmp(dir_names(g_base), "outside,root") != 0) return -1;
    return 0;
}

static void assert_outside_intact(void)
{
    if (outside_intact() != 0)
        fail_msg("outside changed: base [%s], outside [%s]", dir_names(g_base), dir_names(g_out));
}

static int group_setup(void **state)
{
    (void)state;
    umask(022);
    snprintf(g_base, sizeof(g_base), "/tmp/sprite-env-test-fsroot-XXXXXX");
    if (!mkdtemp(g_base)) return -1;
    snprintf(g_root, sizeof(g_root), "%s/root", g_base);
    snprintf(g_out, sizeof(g_out), "%s/outside", g_base);
    if (mkdir(g_out, 0755) < 0) return -1;
    char secret[PATH_MAX];
    snprintf(secret, sizeof(secret), "%s/secret", g_out);
    int fd = open(secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    int ok = write(fd, "SECRET", 6) == 6;
    close(fd);
    return ok ? 0 : -1;
}

static int rm_rf(const char *dir)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return rm_rf(g_base);
}

static int setup(void **state)
{
    (void)state;
    if (mkdir(g_root, 0755) < 0) return -1;
    return fsroot_open(&g_r, g_root);
}

static int teardown(void **state)
{
    (void)state;
    fsroot_close(&g_r);
    umount2(in_root("proc"), MNT_DETACH); /* test_magic_links' mount, if it failed midway */
    int ok = outside_intact();
    return rm_rf(g_root) == 0 && ok == 0 ? 0 : -1;
}

static void test_open_close(void **state)
{
    (void)state;
    struct fsroot r;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/secret", g_out);
    assert_int_equal(fsroot_open(&r, p), -ENOTDIR);
    assert_int_equal(r.fd, -1);
    assert_int_equal(fsroot_open(&r, in_root("missing")), -ENOENT);
    fsroot_close(&r); /* a no-op after a failed open */
    assert_int_equal(fsroot_open(&r, g_root), 0);
    assert_true(r.fd >= 0);
    assert_int_equal(fcntl(r.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    fsroot_close(&r);
    assert_int_equal(r.fd, -1);
    fsroot_close(&r);

    /* fds returned are close-on-exec even when the caller did not ask. */
    mkfile("f", "x");
    int fd = fsroot_openat(&g_r, "f", O_RDONLY, 0);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(fd);
}

/* Client paths with ".." and absolute host paths: all resolve inside the root. */
static void test_escape_paths(void **state)
{
    (void)state;
    char host_secret[PATH_MAX];
    snprintf(host_secret, sizeof(host_secret), "%s/secret", g_out);
    mkfile("inner", "INNER");
    mkdir_r("a");
    const char *hostile[] = {
        "../outside/secret",      "/../../outside/secret",       "../../../../../../outside/secret",
        "a/../../outside/secret", "/a/../../outside/secret",     "./../outside/secret",
        "//..//outside//secret",  "a/../a/../../outside/secret",
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(hostile); i++)
        assert_open_fails(hostile[i], -ENOENT);
    /* The host's absolute path of the secret is a path inside the root too. */
    assert_open_fails(host_secret, -ENOENT);

    /* With a decoy at <root>/outside/secret, every one of them opens the decoy. */
    mkdir_r("outside");
    mkfile("outside/secret", "DECOY");
    for (size_t i = 0; i < SP_ARRAY_LEN(hostile); i++)
        assert_content(hostile[i], "DECOY");

    /* "", "/" and ".." name the root. */
    assert_content("/inner", "INNER");
    assert_content("inner", "INNER");
    assert_content("/../inner", "INNER");
    assert_content("..//./inner", "INNER");
    const char *roots[] = {"", "/", ".", "..", "/..", "/../..", "a/..", "a/../.."};
    struct stat want, got;
    assert_int_equal(stat(g_root, &want), 0);
    for (size_t i = 0; i < SP_ARRAY_LEN(roots); i++) {
        int fd = fsroot_openat(&g_r, roots[i], O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0) fail_msg("\"%s\": %s", roots[i], strerror(-fd));
        assert_int_equal(fstat(fd, &got), 0);
        close(fd);
        if (got.st_ino != want.st_ino) fail_msg("\"%s\" is not the root", roots[i]);
    }

    /* Too long. */
    char *lng = malloc(PATH_MAX + 1);
    assert_non_null(lng);
    memset(lng, 'a', PATH_MAX);
    for (size_t i = 1; i < PATH_MAX; i += 2)
        lng[i] = '/';
    lng[PATH_MAX] = '\0';
    assert_int_equal(fsroot_openat(&g_r, lng, O_RDONLY, 0), -ENAMETOOLONG);
    lng[PATH_MAX - 1] = '\0'; /* PATH_MAX-1 bytes: fine for us, the kernel says ENOENT */
    assert_int_equal(fsroot_openat(&g_r, lng, O_RDONLY, 0), -ENOENT);
    free(lng);
    assert_outside_intact();
}

/* Symlinks inside the root pointing "outside" in every way resolve inside it. */
static void test_escape_symlinks(void **state)
{
    (void)state;
    char host_out[PATH_MAX], host_secret[PATH_MAX], host_base_created[PATH_MAX];
    snprintf(host_out, sizeof(host_out), "%s", g_out);
    snprintf(host_secret, sizeof(host_secret), "%s/secret", g_out);
    snprintf(host_base_created, sizeof(host_base_created), "%s/created", g_base);
    mkfile("inner", "INNER");
    mkdir_r("d");
    mklink("/", "slash");
    mklink("../outside", "up");
    mklink("../../..", "upup");
    mklink(host_out, "hostabs");
    mklink(host_secret, "hostsecret");
    mklink("c2", "c1");
    mklink("d/c3", "c2");
    mklink("../upup", "d/c3");
    mklink("loop2", "loop1");
    mklink("loop1", "loop2");
    mklink("/../../created", "dangling");

    assert_content("slash/inner", "INNER");
    assert_content("slash/slash/slash/inner", "INNER");
    assert_content("upup/inner", "INNER");
    assert_content("c1/inner", "INNER");
    assert_content("d/c3/d/c3/inner", "INNER");
    const char *hostile[] = {
        "slash/outside/secret", "slash/../outside/secret", "up/secret",      "upup/outside/secret",
        "c1/outside/secret",    "c1/../outside/secret",    "hostabs/secret", "hostsecret",
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(hostile); i++)
        assert_open_fails(hostile[i], -ENOENT);
    assert_open_fails("loop1", -ELOOP);
    assert_open_fails("loop1/x", -ELOOP);

    /* O_CREAT through a dangling symlink creates inside the root, never next to it. */
    int fd = fsroot_openat(&g_r, "dangling", O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_int_equal(fd, -EEXIST); /* O_EXCL refuses the symlink itself */
    fd = fsroot_openat(&g_r, "dangling", O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_true(exists_host(in_root("created")));
    assert_false(exists_host(host_base_created));
    assert_int_equal(fsroot_openat(&g_r, "up/new", O_WRONLY | O_CREAT, 0600), -ENOENT);
    assert_int_equal(fsroot_openat(&g_r, "hostsecret", O_WRONLY | O_TRUNC, 0), -ENOENT);
    /* O_NOFOLLOW refuses the link; with O_PATH it is the link itself. */
    assert_int_equal(fsroot_openat(&g_r, "slash", O_RDONLY | O_NOFOLLOW, 0), -ELOOP);
    fd = fsroot_openat(&g_r, "hostsecret", O_PATH | O_NOFOLLOW, 0);
    assert_true(fd >= 0);
    close(fd);

    /* With a decoy inside, the same symlinks read the decoy. */
    mkdir_r("outside");
    mkfile("outside/secret", "DECOY");
    const char *decoyed[] = {"slash/outside/secret", "up/secret", "upup/outside/secret",
                             "c1/outside/secret", "c1/../outside/secret"};
    for (size_t i = 0; i < SP_ARRAY_LEN(decoyed); i++)
        assert_content(decoyed[i], "DECOY");
    assert_outside_intact();
}

static void assert_magic_refused(const char *path)
{
    int fd = fsroot_openat(&g_r, path, O_RDONLY, 0);
    if (fd >= 0) {
        close(fd);
        fail_msg("%s: opened through a magic link", path);
    }
    if (fd != -ELOOP && fd != -EXDEV) fail_msg("%s: %s, want ELOOP or EXDEV", path, strerror(-fd));
}

/* procfs magic links (/proc/self/root, /proc/self/fd/N) are refused, wherever they come from. */
static void test_magic_links(void **state)
{
    (void)state;
    char p[PATH_MAX];
    int secret = -1;
    snprintf(p, sizeof(p), "%s/secret", g_out);
    secret = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(secret >= 0);

    /* A root that holds magic links itself: /proc/self. */
    struct fsroot pr;
    assert_int_equal(fsroot_open(&pr, "/proc/self"), 0);
    int fd = fsroot_openat(&pr, "status", O_RDONLY, 0);
    assert_true(fd >= 0); /* ordinary files in it are fine */
    close(fd);
    struct fsroot saved = g_r;
    g_r = pr;
    snprintf(p, sizeof(p), "root%s/secret", g_out);
    assert_magic_refused(p);
    snprintf(p, sizeof(p), "cwd%s/secret", g_out);
    assert_magic_refused(p);
    snprintf(p, sizeof(p), "fd/%d", secret);
    assert_magic_refused(p);
    snprintf(p, sizeof(p), "task/%d/root%s/secret", (int)getpid(), g_out);
    assert_magic_refused(p);
    g_r = saved;
    fsroot_close(&pr);

    /* A root with procfs mounted inside and symlinks to it (a private mount namespace, so the
     * bind mount never shows outside this process). */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        close(secret);
        skip();
    }
    mkdir_r("proc");
    assert_int_equal(mount("/proc", in_root("proc"), NULL, MS_BIND | MS_REC, NULL), 0);
    mklink("/proc/self/root", "mlink");
    mklink("proc/self/root", "rlink");
    snprintf(p, sizeof(p), "/proc/self/fd/%d", secret);
    mklink(p, "fdlink");
    mklink("/proc/self", "self");
    /* The root's fd sees the mounts of the namespace it was opened in: open it again. */
    fsroot_close(&g_r);
    assert_int_equal(fsroot_open(&g_r, g_root), 0);

    fd = fsroot_openat(&g_r, "/proc/self/status", O_RDONLY, 0);
    assert_true(fd >= 0); /* the mount is there */
    close(fd);
    /* Each prefix followed by the host's path of the secret. */
    const char *prefixes[] = {"/proc/self/root",
                              "mlink",
                              "rlink",
                              "self/root",
                              "/proc/thread-self/root",
                              "self/cwd/../../../../../../.."};
    for (size_t i = 0; i < SP_ARRAY_LEN(prefixes); i++) {
        snprintf(p, sizeof(p), "%s%s/secret", prefixes[i], g_out);
        assert_magic_refused(p);
    }
    assert_magic_refused("fdlink");
    snprintf(p, sizeof(p), "/proc/self/fd/%d", secret);
    assert_magic_refused(p);
    snprintf(p, sizeof(p), "self/fd/%d", secret);
    assert_magic_refused(p);

    /* Through the other operations too. */
    int dirfd;
    char name[NAME_MAX + 1];
    snprintf(p, sizeof(p), "mlink%s/new", g_out);
    int e = fsroot_parent(&g_r, p, true, &dirfd, name);
    assert_true(e == -ELOOP || e == -EXDEV);
    struct stat st;
    e = fsroot_stat(&g_r, "fdlink", true, &st, NULL, 0);
    assert_true(e == -ELOOP || e == -EXDEV);
    snprintf(p, sizeof(p), "mlink%s", g_out);
    e = fsroot_mkdir(&g_r, p, 0755, true);
    assert_true(e == -ELOOP || e == -EXDEV);
    snprintf(p, sizeof(p), "mlink%s/secret", g_out);
    e = fsroot_remove(&g_r, p, false);
    assert_true(e == -ELOOP || e == -EXDEV);
    e = fsroot_list(&g_r, "mlink", 1, 100, NULL, NULL);
    assert_true(e == -ELOOP || e == -EXDEV);
    /* The link itself (O_PATH|O_NOFOLLOW) may be looked at: stat without follow. */
    char target[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", secret);
    assert_int_equal(fsroot_stat(&g_r, p, false, &st, target, sizeof(target)), 0);
    assert_true(S_ISLNK(st.st_mode));

    assert_int_equal(umount2(in_root("proc"), MNT_DETACH), 0);
    close(secret);
    assert_outside_intact();
}

static void assert_same_dir(int fd, const char *host)
{
    struct stat a, b;
    assert_int_equal(fstat(fd, &a), 0);
    if (stat(host, &b) < 0) fail_msg("stat %s: %s", host, strerror(errno));
    if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) fail_msg("dirfd is not %s", host);
}

static void test_parent(void **state)
{
    (void)state;
    int fd = -1;
    char name[NAME_MAX + 1];
    char host_out[PATH_MAX];
    snprintf(host_out, sizeof(host_out), "%s", g_out);
    mklink("/", "slash");
    mklink("../outside", "up");
    mklink(host_out, "hostabs");
    mkfile("file", "x");

    assert_int_equal(fsroot_parent(&g_r, "/f", false, &fd, name), 0);
    assert_string_equal(name, "f");
    assert_same_dir(fd, g_root);
    close(fd);
    assert_int_equal(fsroot_parent(&g_r, "//a///", false, &fd, name), 0); /* a need not exist */
    assert_string_equal(name, "a");
    assert_same_dir(fd, g_root);
    close(fd);
    assert_int_equal(fsroot_parent(&g_r, "/a/b", false, &fd, name), -ENOENT);
    assert_int_equal(fsroot_parent(&g_r, "/a/b/", true, &fd, name), 0);
    assert_string_equal(name, "b");
    assert_same_dir(fd, in_root("a"));
    assert_int_equal(fcntl(fd, F_GETFL) & O_PATH, O_PATH);
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(fd);
    assert_false(exists_host(in_root("a/b"))); /* only the parents */
    struct stat st;
    assert_int_equal(stat(in_root("a"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);

    const char *einval[] = {"", "/", "//", ".", "/./", "a/.", "a/..", "..", "/a/../.."};
    for (size_t i = 0; i < SP_ARRAY_LEN(einval); i++) {
        fd = -7;
        if (fsroot_parent(&g_r, einval[i], true, &fd, name) != -EINVAL)
            fail_msg("fsroot_parent(\"%s\") is not EINVAL", einval[i]);
        assert_int_equal(fd, -7);
    }
    assert_int_equal(fsroot_parent(&g_r, "file/x", false, &fd, name), -ENOTDIR);
    assert_int_equal(fsroot_parent(&g_r, "file/x/y", true, &fd, name), -ENOTDIR);
    char lname[NAME_MAX + 3] = "/";
    memset(lname + 1, 'n', NAME_MAX + 1);
    lname[NAME_MAX + 2] = '\0';
    assert_int_equal(fsroot_parent(&g_r, lname, false, &fd, name), -ENAMETOOLONG);
    lname[NAME_MAX + 1] = '\0';
    assert_int_equal(fsroot_parent(&g_r, lname, false, &fd, name), 0);
    assert_int_equal(strlen(name), NAME_MAX);
    close(fd);

    /* Hostile parents: resolved (and created) inside the root. */
    assert_int_equal(fsroot_parent(&g_r, "../outside/secret", false, &fd, name), -ENOENT);
    assert_int_equal(fsroot_parent(&g_r, "up/secret", false, &fd, name), -ENOENT);
    assert_int_equal(fsroot_parent(&g_r, "../../outside/secret", true, &fd, name), 0);
    assert_string_equal(name, "secret");
    assert_same_dir(fd, in_root("outside"));
    close(fd);
    assert_int_equal(fsroot_parent(&g_r, "/../x/../../y/z/f", true, &fd, name), 0);
    assert_same_dir(fd, in_root("y/z"));
    close(fd);
    assert_int_equal(fsroot_parent(&g_r, "slash/p/q/f", true, &fd, name), 0);
    assert_same_dir(fd, in_root("p/q"));
    close(fd);
    /* Now up -> ../outside resolves to <root>/outside. */
    assert_int_equal(fsroot_parent(&g_r, "up/sub/f", true, &fd, name), 0);
    assert_same_dir(fd, in_root("outside/sub"));
    close(fd);
    /* A symlink to the host's path of outside is dangling inside: not created through. */
    assert_int_equal(fsroot_parent(&g_r, "hostabs/sub/f", true, &fd, name), -EEXIST);
    assert_int_equal(fsroot_parent(&g_r, "hostabs/f", false, &fd, name), -ENOENT);
    assert_outside_intact();
}

static void test_stat(void **state)
{
    (void)state;
    char host_out[PATH_MAX];
    snprintf(host_out, sizeof(host_out), "%s", g_out);
    mkfile("f", "hello");
    mkdir_r("d");
    mklink("d", "ld");
    mklink("/f", "lf");
    mklink(host_out, "hostabs");

    struct stat st, want;
    char target[PATH_MAX];
    strcpy(target, "junk");
    assert_int_equal(fsroot_stat(&g_r, "/f", false, &st, target, sizeof(target)), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 5);
    assert_string_equal(target, "");
    assert_int_equal(fsroot_stat(&g_r, "d/", true, &st, target, sizeof(target)), 0);
    assert_true(S_ISDIR(st.st_mode));

    assert_int_equal(fsroot_stat(&g_r, "ld", false, &st, target, sizeof(target)), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_string_equal(target, "d");
    assert_int_equal(fsroot_stat(&g_r, "ld", true, &st, target, sizeof(target)), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_string_equal(target, "d");
    assert_int_equal(stat(in_root("d"), &want), 0);
    assert_int_equal(st.st_ino, want.st_ino);
    assert_int_equal(fsroot_stat(&g_r, "lf", true, &st, NULL, 0), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 5);

    /* A symlink to the host's path of outside: its text, but following it stays inside. */
    assert_int_equal(fsroot_stat(&g_r, "hostabs", false, &st, target, sizeof(target)), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_string_equal(target, host_out);
    assert_int_equal(fsroot_stat(&g_r, "hostabs", true, &st, target, sizeof(target)), -ENOENT);
    char small[5];
    assert_int_equal(fsroot_stat(&g_r, "hostabs", false, &st, small, sizeof(small)), 0);
    assert_int_equal(strncmp(small, host_out, 4), 0);
    assert_int_equal(strlen(small), 4);

    /* The root. */
    assert_int_equal(stat(g_root, &want), 0);
    const char *roots[] = {"/", "", "/..", "d/../.."};
    for (size_t i = 0; i < SP_ARRAY_LEN(roots); i++) {
        assert_int_equal(fsroot_stat(&g_r, roots[i], false, &st, target, sizeof(target)), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_ino, want.st_ino);
    }
    assert_int_equal(fsroot_stat(&g_r, "missing", false, &st, NULL, 0), -ENOENT);
    assert_int_equal(fsroot_stat(&g_r, "f/x", false, &st, NULL, 0), -ENOTDIR);
}

static void test_mkdir(void **state)
{
    (void)state;
    char host_out[PATH_MAX];
    snprintf(host_out, sizeof(host_out), "%s", g_out);
    mkfile("f", "x");
    mklink("/", "slash");
    mklink("../outside", "up");
    mklink(host_out, "hostabs");

    struct stat st;
    assert_int_equal(fsroot_mkdir(&g_r, "/d", 0750, false), 0);
    assert_int_equal(stat(in_root("d"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(fsroot_mkdir(&g_r, "/d", 0750, false), -EEXIST);
    assert_int_equal(fsroot_mkdir(&g_r, "/d/", 0750, true), 0);
    assert_int_equal(fsroot_mkdir(&g_r, "f", 0755, false), -EEXIST);
    assert_int_equal(fsroot_mkdir(&g_r, "f", 0755, true), -EEXIST);
    assert_int_equal(fsroot_mkdir(&g_r, "slash", 0755, true), 0); /* a symlink to a dir */
    assert_int_equal(fsroot_mkdir(&g_r, "slash", 0755, false), -EEXIST);
    assert_int_equal(fsroot_mkdir(&g_r, "x/y/z", 0700, false), -ENOENT);
    assert_int_equal(fsroot_mkdir(&g_r, "x/y/z", 0700, true), 0);
    assert_int_equal(stat(in_root("x/y/z"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(stat(in_root("x/y"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(fsroot_mkdir(&g_r, "/", 0755, true), -EINVAL);
    assert_int_equal(fsroot_mkdir(&g_r, "f/sub", 0755, true), -ENOTDIR);

    /* Through symlinks pointing outside: inside the root, or refused. */
    assert_int_equal(fsroot_mkdir(&g_r, "slash/viaslash", 0755, false), 0);
    assert_true(exists_host(in_root("viaslash")));
    assert_int_equal(fsroot_mkdir(&g_r, "up/evil", 0755, false), -ENOENT);
    assert_int_equal(fsroot_mkdir(&g_r, "up/evil/deeper", 0755, true), -EEXIST);
    assert_int_equal(fsroot_mkdir(&g_r, "hostabs/evil", 0755, true), -EEXIST);
    assert_int_equal(fsroot_mkdir(&g_r, "hostabs", 0755, true), -EEXIST);
    assert_int_equal(fsroot_mkdir(&g_r, "../../outside/evil", 0755, true), 0);
    assert_true(exists_host(in_root("outside/evil")));
    /* Now up resolves (to <root>/outside). */
    assert_int_equal(fsroot_mkdir(&g_r, "up/evil2/deeper", 0755, true), 0);
    assert_true(exists_host(in_root("outside/evil2/deeper")));
    assert_outside_intact();
}

static void test_rename(void **state)
{
    (void)state;
    char host_out[PATH_MAX], host_secret[PATH_MAX];
    snprintf(host_out, sizeof(host_out), "%s", g_out);
    snprintf(host_secret, sizeof(host_secret), "%s/secret", g_out);
    mkfile("f", "FILE");
    mkfile("g", "OTHER");
    mkdir_r("d");
    mklink("/", "slash");
    mklink("../outside", "up");
    mklink(host_out, "hostabs");
    mklink(host_secret, "hostsecret");

    assert_int_equal(fsroot_rename(&g_r, "f", "d2/f", false), -ENOENT);
    assert_int_equal(fsroot_rename(&g_r, "f", "d2/e/f", true), 0);
    assert_false(exists_host(in_root("f")));
    assert_content("d2/e/f", "FILE");
    assert_int_equal(fsroot_rename(&g_r, "/d2/e/f", "/d/f", false), 0);
    assert_content("d/f", "FILE");
    assert_int_equal(fsroot_rename(&g_r, "g", "d/f", false), 0); /* replaces */
    assert_content("d/f", "OTHER");
    assert_int_equal(fsroot_rename(&g_r, "d", "d3", false), 0); /* a directory */
    assert_content("d3/f", "OTHER");
    assert_int_equal(fsroot_rename(&g_r, "missing", "n/e/w", true), -ENOENT);
    assert_false(exists_host(in_root("n"))); /* nothing created for a missing source */
    assert_int_equal(fsroot_rename(&g_r, "/", "x", false), -EINVAL);
    assert_int_equal(fsroot_rename(&g_r, "d3/f", "/", false), -EINVAL);

    /* Destinations through symlinks pointing outside: inside, or refused. */
    assert_int_equal(fsroot_rename(&g_r, "d3/f", "hostabs/secret", false), -ENOENT);
    assert_int_equal(fsroot_rename(&g_r, "d3/f", "hostabs/secret", true), -EEXIST);
    assert_int_equal(fsroot_rename(&g_r, "d3/f", "up/secret", false), -ENOENT);
    assert_int_equal(fsroot_rename(&g_r, "d3/f", "../../outside/secret", false), -ENOENT);
    assert_int_equal(fsroot_rename(&g_r, "d3/f", "slash/../outside/secret", true), 0);
    assert_content("outside/secret", "OTHER"); /* <root>/outside */
    /* Over a symlink pointing outside: the link is replaced, its target untouched. */
    assert_int_equal(fsroot_rename(&g_r, "outside/secret", "hostsecret", false), 0);
    assert_int_equal(lstat(in_root("hostsecret"), &(struct stat){0}), 0);
    assert_content("hostsecret", "OTHER");
    /* Sources through symlinks pointing outside: the secret is not reachable. */
    assert_int_equal(fsroot_rename(&g_r, "hostabs/secret", "stolen", false), -ENOENT);
    assert_int_equal(fsroot_rename(&g_r, "../outside/secret", "stolen", false), -ENOENT);
    /* A symlink is moved as a link. */
    assert_int_equal(fsroot_rename(&g_r, "hostabs", "d3/moved", false), 0);
    char buf[PATH_MAX];
    ssize_t n = readlink(in_root("d3/moved"), buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, host_out);
    assert_outside_intact();
}

static void test_remove(void **state)
{
    (void)state;
    char host_out[PATH_MAX], host_secret[PATH_MAX];
    snprintf(host_out, sizeof(host_out), "%s", g_out);
    snprintf(host_secret, sizeof(host_secret), "%s/secret", g_out);
    mkfile("f", "x");
    mkdir_r("d");
    mkfile("d/g", "y");
    mkdir_r("e");
    mklink("/", "slash");
    mklink("../outside", "up");
    mklink(host_out, "hostabs");
    mklink(host_secret, "hostsecret");

    assert_int_equal(fsroot_remove(&g_r, "/f", false), 0);
    assert_false(exists_host(in_root("f")));
    assert_int_equal(fsroot_remove(&g_r, "/f", false), -ENOENT);
    assert_int_equal(fsroot_remove(&g_r, "d", false), -ENOTEMPTY);
    assert_int_equal(fsroot_remove(&g_r, "e/", false), 0);
    assert_false(exists_host(in_root("e")));

    /* Symlinks are removed, never followed. */
    const char *links[] = {"hostsecret", "hostabs", "up"};
    for (size_t i = 0; i < SP_ARRAY_LEN(links); i++) {
        assert_int_equal(fsroot_remove(&g_r, links[i], false), 0);
        assert_false(exists_host(in_root(links[i])));
    }
    assert_int_equal(fsroot_remove(&g_r, "slash", true), 0); /* not the root! */
    assert_false(exists_host(in_root("slash")));
    assert_content("d/g", "y");
    assert_int_equal(fsroot_remove(&g_r, "../outside/secret", false), -ENOENT);
    assert_int_equal(fsroot_remove(&g_r, "../outside", true), -ENOENT);

    /* The root. */
    const char *roots[] = {"/", "", ".", "//", "/..", "d/..", "d/../..", "../.."};
    for (size_t i = 0; i < SP_ARRAY_LEN(roots); i++)
        if (fsroot_remove(&g_r, roots[i], true) != -EBUSY)
            fail_msg("remove(\"%s\") is not EBUSY", roots[i]);
    assert_int_equal(fsroot_remove(&g_r, "d/.", true), -EINVAL);
    assert_content("d/g", "y");
    assert_outside_intact();
}

static void test_remove_recursive(void **state)
{
    (void)state;
    char host_out[PATH_MAX], host_secret[PATH_MAX];
    snprintf(host_out, sizeof(host_out), "%s", g_out);
    snprintf(host_secret, sizeof(host_secret), "%s/secret", g_out);
    mkfile("keep", "KEEP");
    mkdir_r("keepdir");
    mkfile("keepdir/k", "K");
    mkdir_r("t");
    mkfile("t/f", "x");
    mkdir_r("t/sub");
    mkfile("t/sub/g", "y");
    mkdir_r("t/sub/deeper");
    mkdir_r("t/sub/deeper/deepest");
    mkfile("t/sub/deeper/deepest/h", "z");
    mklink(host_out, "t/l_hostabs");
    mklink(host_secret, "t/l_hostsecret");
    mklink("../../outside", "t/l_up");
    mklink("/", "t/l_slash");
    mklink("../keepdir", "t/sub/l_keepdir");
    mklink("..", "t/sub/deeper/l_dotdot");
    mklink("/keep", "t/sub/deeper/l_keep");
    assert_int_equal(mkfifo(in_root("t/fifo"), 0600), 0);
    mklink("t", "lt"); /* a symlink to the tree */

    assert_int_equal(fsroot_remove(&g_r, "lt", true), 0); /* the link only */
    assert_true(exists_host(in_root("t/sub/g")));
    assert_int_equal(fsroot_remove(&g_r, "t", false), -ENOTEMPTY);
    assert_int_equal(fsroot_remove(&g_r, "/t/", true), 0);
    assert_false(exists_host(in_root("t")));
    assert_string_equal(dir_names(g_root), "keep,keepdir");
    assert_content("keep", "KEEP");
    assert_content("keepdir/k", "K");
    assert_int_equal(fsroot_remove(&g_r, "t", true), -ENOENT);
    assert_int_equal(fsroot_remove(&g_r, "keep", true), 0); /* a file, recursive or not */

    /* A tree that symlinks to outside inside a directory reached through a symlink to "/". */
    mkdir_r("u");
    mklink(host_out, "u/l");
    mklink("/", "slash");
    assert_int_equal(fsroot_remove(&g_r, "slash/u", true), 0);
    assert_false(exists_host(in_root("u")));
    assert_string_equal(dir_names(g_root), "keepdir,slash");
    assert_outside_intact();
}

/* Names in the root that look like temp files. */
static int count_temps(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".sprite-tmp-")) n++;
    closedir(d);
    return n;
}

static void write_str(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_tmp_write(void **state)
{
    (void)state;
    char host_secret[PATH_MAX];
    snprintf(host_secret, sizeof(host_secret), "%s/secret", g_out);
    mkfile("f", "old");
    mkdir_r("d");
    mklink(host_secret, "hostsecret");

    int old = open(in_root("f"), O_RDONLY | O_CLOEXEC);
    assert_true(old >= 0);
    struct fsroot_tmp t;
    assert_int_equal(fsroot_tmp_create(&g_r, "/f", 0644, false, &t), 0);
    /* The temp: ".f.sprite-tmp-" + 16 hex digits, in the target's directory. */
    assert_int_equal(strncmp(t.tmp, ".f.sprite-tmp-", 14), 0);
    assert_int_equal(strlen(t.tmp), 14 + 16);
    assert_int_equal(strspn(t.tmp + 14, "0123456789abcdef"), 16);
    assert_string_equal(t.name, "f");
    assert_true(exists_host(in_root(t.tmp)));
    write_str(t.fd, "new content");
    assert_content("f", "old"); /* not before commit */
    assert_int_equal(fsroot_tmp_commit(&t), 0);
    assert_int_equal(t.fd, -1);
    assert_int_equal(t.dirfd, -1);
    assert_content("f", "new content");
    assert_string_equal(read_fd(old), "old"); /* an fd on the old file still reads it */
    assert_int_equal(count_temps(g_root), 0);
    struct stat st;
    assert_int_equal(stat(in_root("f"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    fsroot_tmp_abort(&t); /* a no-op after commit */
    assert_content("f", "new content");

    /* Abort: the old file stays, no temp. */
    assert_int_equal(fsroot_tmp_create(&g_r, "f", 0644, false, &t), 0);
    write_str(t.fd, "junk");
    fsroot_tmp_abort(&t);
    assert_content("f", "new content");
    assert_int_equal(count_temps(g_root), 0);
    fsroot_tmp_abort(&t);

    /* Two at once get different temps; the last commit wins. */
    struct fsroot_tmp t2;
    assert_int_equal(fsroot_tmp_create(&g_r, "f", 0644, false, &t), 0);
    assert_int_equal(fsroot_tmp_create(&g_r, "f", 0644, false, &t2), 0);
    assert_string_not_equal(t.tmp, t2.tmp);
    write_str(t.fd, "one");
    write_str(t2.fd, "two");
    assert_int_equal(fsroot_tmp_commit(&t), 0);
    assert_int_equal(fsroot_tmp_commit(&t2), 0);
    assert_content("f", "two");
    assert_int_equal(count_temps(g_root), 0);

    /* New files, parents, mode, an empty file, a long name. */
    assert_int_equal(fsroot_tmp_create(&g_r, "n/e/w", 0600, false, &t), -ENOENT);
    assert_int_equal(fsroot_tmp_create(&g_r, "n/e/w", 0600, true, &t), 0);
    assert_int_equal(fsroot_tmp_commit(&t), 0);
    assert_int_equal(stat(in_root("n/e/w"), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 0);
    char lname[NAME_MAX + 1];
    memset(lname, 'L', NAME_MAX);
    lname[NAME_MAX] = '\0';
    assert_int_equal(fsroot_tmp_create(&g_r, lname, 0644, false, &t), 0);
    assert_true(strlen(t.tmp) < sizeof(t.tmp));
    write_str(t.fd, "long");
    assert_int_equal(fsroot_tmp_commit(&t), 0);
    assert_content(lname, "long");

    /* A directory is not replaced; the root is no file. */
    assert_int_equal(fsroot_tmp_create(&g_r, "d", 0644, false, &t), -EISDIR);
    assert_int_equal(fsroot_tmp_create(&g_r, "/", 0644, false, &t), -EINVAL);
    assert_int_equal(count_temps(in_root("d")), 0);

    /* A symlink pointing outside is replaced by the file, its target untouched. */
    assert_int_equal(fsroot_tmp_create(&g_r, "hostsecret", 0644, false, &t), 0);
    write_str(t.fd, "mine");
    assert_int_equal(fsroot_tmp_commit(&t), 0);
    assert_int_equal(lstat(in_root("hostsecret"), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_content("hostsecret", "mine");
    assert_int_equal(fsroot_tmp_create(&g_r, "../outside/secret", 0644, false, &t), -ENOENT);
    assert_outside_intact();
}

struct seen {
    char lines[32][PATH_MAX + 64];
    size_t n;
    int stop_at; /* return 7 on this call (1-based); 0: never */
};

static int collect(void *ud, const char *path, const char *name, const struct stat *st, int depth)
{
    struct seen *s = ud;
    assert_true(s->n < SP_ARRAY_LEN(s->lines));
    /* The name is the path's last component. */
    const char *slash = strrchr(path, '/');
    assert_non_null(slash);
    assert_string_equal(slash + 1, name);
    assert_true(path[0] == '/');
    char type = S_ISDIR(st->st_mode) ? 'd' : S_ISLNK(st->st_mode) ? 'l' : 'f';
    snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s %c%d", path, type, depth);
    if (s->stop_at > 0 && (size_t)s->stop_at == s->n) return 7;
    return 0;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The callbacks' lines, sorted, joined with ", ". */
static const char *list_str(const char *path, int depth, size_t max, int want_ret)
{
    static char out[8192];
    static struct seen s;
    memset(&s, 0, sizeof(s));
    int r = fsroot_list(&g_r, path, depth, max, collect, &s);
    if (r != want_ret) fail_msg("list(%s, %d): %d, want %d", path, depth, r, want_ret);
    qsort(s.lines, s.n, sizeof(s.lines[0]), cmp_line);
    out[0] = '\0';
    for (size_t i = 0; i < s.n; i++) {
        if (i) strcat(out, ", ");
        strcat(out, s.lines[i]);
    }
    return out;
}

static void test_list(void **state)
{
    (void)state;
    mkdir_r("d");
    mkfile("d/a", "abc");
    mkdir_r("d/b");
    mkfile("d/b/c", "");
    mkdir_r("d/b/e");
    mkfile("d/b/e/f", "");
    mklink("/", "d/sl");
    mklink("b", "d/sd");
    mkdir_r("empty");

    assert_string_equal(list_str("/d", 1, 100, 0), "/d/a f1, /d/b d1, /d/sd l1, /d/sl l1");
    assert_string_equal(list_str("d", 2, 100, 0),
                        "/d/a f1, /d/b d1, /d/b/c f2, /d/b/e d2, /d/sd l1, /d/sl l1");
    const char *all = "/d/a f1, /d/b d1, /d/b/c f2, /d/b/e d2, /d/b/e/f f3, /d/sd l1, /d/sl l1";
    assert_string_equal(list_str("d/", 3, 100, 0), all);
    assert_string_equal(list_str("d", 1000000, 100, 0), all);
    assert_string_equal(list_str("/", 1, 100, 0), "/d d1, /empty d1");
    assert_string_equal(list_str("", 2, 100, 0), "/d d1, /d/a f2, /d/b d2, /d/sd l2, /d/sl l2, "
                                                 "/empty d1");
    assert_string_equal(list_str("empty", 3, 100, 0), "");
    /* Paths are cleaned lexically; ".." stays in the root. */
    assert_string_equal(list_str("//d/./b/../b//", 1, 100, 0), "/d/b/c f1, /d/b/e d1");
    assert_string_equal(list_str("../../d/b", 1, 100, 0), "/d/b/c f1, /d/b/e d1");
    /* Through a symlink: the client path keeps the link. */
    assert_string_equal(list_str("d/sd", 1, 100, 0), "/d/sd/c f1, /d/sd/e d1");
    assert_string_equal(list_str("d/sl/d/b/e", 1, 100, 0), "/d/sl/d/b/e/f f1");

    /* max_entries: exactly that many is fine, one more is E2BIG after max callbacks. */
    assert_string_equal(list_str("/d", 1, 4, 0), "/d/a f1, /d/b d1, /d/sd l1, /d/sl l1");
    static struct seen s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(fsroot_list(&g_r, "/d", 3, 2, collect, &s), -E2BIG);
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(fsroot_list(&g_r, "/d", 3, 0, collect, &s), -E2BIG);
    assert_int_equal(s.n, 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(fsroot_list(&g_r, "/d", 3, 6, collect, &s), -E2BIG);
    assert_int_equal(s.n, 6);
    /* The callback stops the walk. */
    memset(&s, 0, sizeof(s));
    s.stop_at = 3;
    assert_int_equal(fsroot_list(&g_r, "/d", 3, 100, collect, &s), 7);
    assert_int_equal(s.n, 3);

    memset(&s, 0, sizeof(s));
    assert_int_equal(fsroot_list(&g_r, "d/a", 1, 100, collect, &s), -ENOTDIR);
    assert_int_equal(fsroot_list(&g_r, "missing", 1, 100, collect, &s), -ENOENT);
    assert_int_equal(fsroot_list(&g_r, "d", 0, 100, collect, &s), -EINVAL);
    assert_int_equal(fsroot_list(&g_r, "../outside", 1, 100, collect, &s), -ENOENT);
    assert_int_equal(s.n, 0);

    /* The entries' lstat. */
    struct stat st;
    assert_int_equal(lstat(in_root("d/a"), &st), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(fsroot_list(&g_r, "d/b/e", 1, 100, collect, &s), 0);
    assert_int_equal(s.n, 1);
}

/* A chain "deep/d/d/.../d" of n directories below the root, the last holding a file. */
static void make_chain(int n)
{
    int fd = open(g_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    for (int i = 0; i < n; i++) {
        const char *name = i == 0 ? "deep" : "d";
        assert_int_equal(mkdirat(fd, name, 0755), 0);
        int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(sub >= 0);
        close(fd);
        fd = sub;
    }
    int f = openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(f >= 0);
    close(f);
    close(fd);
}

static int count_cb(void *ud, const char *path, const char *name, const struct stat *st, int depth)
{
    (void)path, (void)name, (void)st;
    int *max = ud;
    if (depth > *max) *max = depth;
    return 0;
}

/* Walks are bounded by FSROOT_MAX_DEPTH. */
static void test_deep(void **state)
{
    (void)state;
    make_chain(FSROOT_MAX_DEPTH - 1); /* the file is at level FSROOT_MAX_DEPTH */
    int max = 0;
    assert_int_equal(fsroot_list(&g_r, "deep", 1000000, 100000, count_cb, &max), 0);
    assert_int_equal(max, FSROOT_MAX_DEPTH - 1);
    assert_int_equal(fsroot_remove(&g_r, "deep", true), 0);
    assert_false(exists_host(in_root("deep")));

    make_chain(FSROOT_MAX_DEPTH + 10);
    max = 0;
    assert_int_equal(fsroot_list(&g_r, "/", 1000000, 100000, count_cb, &max), 0);
    assert_int_equal(max, FSROOT_MAX_DEPTH);
    assert_int_equal(fsroot_remove(&g_r, "deep", true), -ENAMETOOLONG);
    assert_true(exists_host(in_root("deep")));
}

/* A file owned by root with mode, for the cred test. */
static void mkfile_owned(const char *rel, const char *text, mode_t mode, uid_t uid, gid_t gid)
{
    write_host(in_root(rel), text, mode);
    assert_int_equal(chown(in_root(rel), uid, gid), 0);
}

static void assert_owner(int fd, uid_t uid, gid_t gid)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    if (st.st_uid != uid || st.st_gid != gid)
        fail_msg("owned by %u:%u, want %u:%u", (unsigned)st.st_uid, (unsigned)st.st_gid,
                 (unsigned)uid, (unsigned)gid);
}

static void test_cred(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    mkfile_owned("rootonly", "ROOTONLY", 0600, 0, 0);
    mkfile_owned("grp", "GROUP", 0640, 0, 4242);
    mkdir_r("pub");
    assert_int_equal(chmod(in_root("pub"), 0777), 0);
    mkdir_r("closed");
    mkfile("closed/hidden", "");
    assert_int_equal(chmod(in_root("closed"), 0700), 0);
    gid_t before[64];
    int n_before = getgroups(64, before);
    assert_true(n_before >= 0);

    struct fsroot_cred c;
    memset(&c, 0, sizeof(c));
    c.uid = NOBODY;
    c.gid = NOBODY;
    struct fsroot_saved s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(fsroot_cred_enter(&c, &s), 0);
    assert_true(s.active);
    assert_int_equal(setfsuid((uid_t)-1), NOBODY);
    assert_int_equal(geteuid(), 0); /* only the file system ids change */
    assert_int_equal(fsroot_openat(&g_r, "rootonly", O_RDONLY, 0), -EACCES);
    assert_int_equal(fsroot_openat(&g_r, "grp", O_RDONLY, 0), -EACCES);
    assert_int_equal(fsroot_openat(&g_r, "new", O_WRONLY | O_CREAT, 0644), -EACCES);
    assert_int_equal(fsroot_mkdir(&g_r, "newdir", 0755, false), -EACCES);
    assert_int_equal(fsroot_remove(&g_r, "rootonly", false), -EACCES);
    struct fsroot_tmp t;
    assert_int_equal(fsroot_tmp_create(&g_r, "rootonly", 0644, false, &t), -EACCES);
    int fd = fsroot_openat(&g_r, "pub/mine", O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_owner(fd, NOBODY, NOBODY);
    close(fd);
    /* A directory the user cannot read is listed but not descended into. */
    static struct seen seen;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(fsroot_list(&g_r, "/", 2, 100, collect, &seen), 0);
    qsort(seen.lines, seen.n, sizeof(seen.lines[0]), cmp_line);
    assert_int_equal(seen.n, 5);
    assert_string_equal(seen.lines[0], "/closed d1");
    assert_string_equal(seen.lines[3], "/pub/mine f2");
    assert_int_equal(fsroot_list(&g_r, "closed", 1, 100, collect, &seen), -EACCES);
    assert_int_equal(fsroot_mkdir(&g_r, "pub/mydir/sub", 0755, true), 0);
    assert_int_equal(fsroot_tmp_create(&g_r, "pub/mydir/sub/w", 0644, false, &t), 0);
    write_str(t.fd, "written");
    assert_int_equal(fsroot_tmp_commit(&t), 0);
    /* Nesting is refused and changes nothing. */
    struct fsroot_saved s2;
    memset(&s2, 0, sizeof(s2));
    assert_int_equal(fsroot_cred_enter(&c, &s2), -EBUSY);
    assert_false(s2.active);
    fsroot_cred_leave(&s2); /* not active: a no-op */
    assert_int_equal(setfsuid((uid_t)-1), NOBODY);
    fsroot_cred_leave(&s);
    assert_false(s.active);
    fsroot_cred_leave(&s); /* a second leave is a no-op */

    /* Root rights are back. */
    assert_int_equal(setfsuid((uid_t)-1), 0);
    assert_int_equal(setfsgid((gid_t)-1), 0);
    assert_content("rootonly", "ROOTONLY");
    fd = fsroot_openat(&g_r, "rootnew", O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_owner(fd, 0, 0);
    close(fd);
    const char *owned[] = {"pub/mydir", "pub/mydir/sub", "pub/mydir/sub/w"};
    for (size_t i = 0; i < SP_ARRAY_LEN(owned); i++) {
        fd = fsroot_openat(&g_r, owned[i], O_PATH, 0);
        assert_true(fd >= 0);
        assert_owner(fd, NOBODY, NOBODY);
        close(fd);
    }
    assert_content("pub/mydir/sub/w", "written");

    /* Supplementary groups count, and are restored. */
    c.groups[0] = 4242;
    c.n_groups = 1;
    assert_int_equal(fsroot_cred_enter(&c, &s), 0);
    assert_content("grp", "GROUP");
    assert_int_equal(fsroot_openat(&g_r, "rootonly", O_RDONLY, 0), -EACCES);
    fsroot_cred_leave(&s);
    gid_t after[64];
    assert_int_equal(getgroups(64, after), n_before);
    assert_memory_equal(after, before, (size_t)n_before * sizeof(gid_t));

    c.n_groups = FSROOT_MAX_GROUPS + 1;
    assert_int_equal(fsroot_cred_enter(&c, &s), -EINVAL);
    assert_int_equal(setfsuid((uid_t)-1), 0);
    assert_outside_intact();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_magic_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_recursive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmp_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cred, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
