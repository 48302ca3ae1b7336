/* SPDX-License-Identifier: MIT */
/* Unit tests for src/os/spawn.c: exec, PATH lookup from envp, errors, fds, cwd, process groups. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/base/compiler.h"
#include "../../src/os/spawn.h"

static char *const std_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", NULL};

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        if (!h_ || !strstr(h_, (needle)))                                                          \
            fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", (needle));              \
    } while (0)

static struct spawn_opts opts(char *const *argv, char *const *envp)
{
    struct spawn_opts o;
    memset(&o, 0, sizeof(o));
    o.argv = argv;
    o.envp = envp;
    o.cwd = NULL;
    o.flags = 0;
    o.stdin_fd = o.stdout_fd = o.stderr_fd = -1;
    return o;
}

static int wait_exit(pid_t pid)
{
    int status;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    assert_int_equal(r, pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* No child may be left behind by a failed spawn. */
static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* Reads a pipe to EOF into buf (NUL-terminated). */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        assert_true(r >= 0);
        if (r == 0) break;
        n += (size_t)r;
        assert_true(n < cap - 1);
    }
    buf[n] = '\0';
    return n;
}

/* Spawns argv with stdout into a pipe; returns the exit code and the output. */
static int run_capture(struct spawn_opts *o, char *out, size_t cap)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    o->stdout_fd = p[1];
    pid_t pid = 0;
    struct sp_err err;
    sp_err_clear(&err);
    int r = spawn(o, &pid, &err);
    close(p[1]);
    if (r != 0) {
        close(p[0]);
        fail_msg("spawn %s: %d %s", o->argv[0], r, err.msg);
    }
    read_all(p[0], out, cap);
    close(p[0]);
    return wait_exit(pid);
}

static char g_dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/sprite-env-test-spawn-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_spawn_true(void **state)
{
    (void)state;
    char *argv[] = {"true", NULL};
    struct spawn_opts o = opts(argv, std_env);
    pid_t pid = 0;
    struct sp_err err;
    sp_err_clear(&err);
    assert_int_equal(spawn(&o, &pid, &err), 0);
    assert_true(pid > 0);
    assert_int_equal(err.code, 0); /* untouched on success */
    assert_int_equal(wait_exit(pid), 0);

    char *argv2[] = {"false", NULL};
    o = opts(argv2, std_env);
    assert_int_equal(spawn(&o, &pid, &err), 0);
    assert_int_equal(wait_exit(pid), 1);

    /* An absolute path needs no PATH. */
    char *argv3[] = {"/bin/sh", "-c", "exit 42", NULL};
    char *noenv[] = {NULL};
    o = opts(argv3, noenv);
    assert_int_equal(spawn(&o, &pid, &err), 0);
    assert_int_equal(wait_exit(pid), 42);
}

static void test_spawn_default_environ(void **state)
{
    (void)state;
    /* envp NULL: the child gets our environment. */
    setenv("SPT_SPAWN_MARK", "inherited-value", 1);
    char *argv[] = {"/bin/sh", "-c", "printf %s \"$SPT_SPAWN_MARK\"", NULL};
    struct spawn_opts o = opts(argv, NULL);
    char out[256];
    assert_int_equal(run_capture(&o, out, sizeof(out)), 0);
    assert_string_equal(out, "inherited-value");
    unsetenv("SPT_SPAWN_MARK");
}

static void test_spawn_missing_binary(void **state)
{
    (void)state;
    char *argv[] = {"sprite-env-no-such-binary-xyz", "arg", NULL};
    struct spawn_opts o = opts(argv, std_env);
    pid_t pid = -7;
    struct sp_err err;
    sp_err_clear(&err);
    int r = spawn(&o, &pid, &err);
    assert_int_equal(r, -ENOENT);
    assert_int_equal(err.code, -ENOENT);
    assert_int_equal(pid, -7); /* not written on failure */
    assert_contains(err.msg, "exec sprite-env-no-such-binary-xyz");
    assert_contains(err.msg, strerror(ENOENT));
    assert_int_equal(spawn_exec_error_code(r), 127);
    assert_no_children(); /* the failed child was waited for */

    char *argv2[] = {"/nonexistent/dir/prog", NULL};
    o = opts(argv2, std_env);
    assert_int_equal(spawn(&o, &pid, &err), -ENOENT);
    assert_contains(err.msg, "/nonexistent/dir/prog");
    assert_no_children();

    /* A path through a regular file: ENOTDIR, also "not found". */
    char *argv3[] = {"/etc/passwd/x", NULL};
    o = opts(argv3, std_env);
    r = spawn(&o, &pid, &err);
    assert_int_equal(r, -ENOTDIR);
    assert_int_equal(spawn_exec_error_code(r), 127);
    assert_no_children();
}

static void test_spawn_directory(void **state)
{
    (void)state;
    char *argv[] = {"/", NULL};
    struct spawn_opts o = opts(argv, std_env);
    pid_t pid;
    struct sp_err err;
    sp_err_clear(&err);
    int r = spawn(&o, &pid, &err);
    assert_true(r < 0);
    assert_int_equal(r, -EACCES);
    assert_int_equal(spawn_exec_error_code(r), 126);
    assert_contains(err.msg, "exec /");
    assert_no_children();
}

static void test_spawn_not_executable(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/plain", g_dir);
    write_file(path, "#!/bin/sh\nexit 0\n", 0644);
    char *argv[] = {path, NULL};
    struct spawn_opts o = opts(argv, std_env);
    pid_t pid;
    struct sp_err err;
    int r = spawn(&o, &pid, &err);
    assert_int_equal(r, -EACCES);
    assert_int_equal(spawn_exec_error_code(r), 126);
    assert_no_children();
}

static void test_exec_error_code(void **state)
{
    (void)state;
    assert_int_equal(spawn_exec_error_code(-ENOENT), 127);
    assert_int_equal(spawn_exec_error_code(-ENOTDIR), 127);
    assert_int_equal(spawn_exec_error_code(-EACCES), 126);
    assert_int_equal(spawn_exec_error_code(-ENOEXEC), 126);
    assert_int_equal(spawn_exec_error_code(-EPERM), 126);
    assert_int_equal(spawn_exec_error_code(-E2BIG), 126);
}

static void test_spawn_missing_cwd(void **state)
{
    (void)state;
    char *argv[] = {"true", NULL};
    struct spawn_opts o = opts(argv, std_env);
    o.cwd = "/nonexistent-sprite-env-dir";
    pid_t pid;
    struct sp_err err;
    sp_err_clear(&err);
    int r = spawn(&o, &pid, &err);
    assert_int_equal(r, -ENOENT);
    assert_contains(err.msg, "chdir");
    assert_contains(err.msg, "/nonexistent-sprite-env-dir");
    assert_no_children();

    /* A cwd that is a file. */
    o.cwd = "/etc/passwd";
    r = spawn(&o, &pid, &err);
    assert_int_equal(r, -ENOTDIR);
    assert_contains(err.msg, "chdir /etc/passwd");
    assert_no_children();
}

static void test_spawn_cwd(void **state)
{
    (void)state;
    char *argv[] = {"/bin/sh", "-c", "pwd", NULL};
    struct spawn_opts o = opts(argv, std_env);
    o.cwd = "/tmp";
    char out[256];
    assert_int_equal(run_capture(&o, out, sizeof(out)), 0);
    assert_string_equal(out, "/tmp\n");
}

static void test_path_from_envp(void **state)
{
    (void)state;
    char *argv[] = {"true", NULL};
    pid_t pid;
    struct sp_err err;

    /* PATH comes from envp, not from our environment. */
    char *bad_path[] = {"PATH=/nonexistent", NULL};
    struct spawn_opts o = opts(argv, bad_path);
    assert_int_equal(spawn(&o, &pid, &err), -ENOENT);
    assert_contains(err.msg, "exec true");
    assert_no_children();

    char *later[] = {"A=1", "PATH=/nonexistent:/also/missing:/usr/bin:/bin", NULL};
    o = opts(argv, later);
    assert_int_equal(spawn(&o, &pid, &err), 0);
    assert_int_equal(wait_exit(pid), 0);

    /* No PATH at all: a default system path. */
    char *no_path[] = {"A=1", NULL};
    o = opts(argv, no_path);
    assert_int_equal(spawn(&o, &pid, &err), 0);
    assert_int_equal(wait_exit(pid), 0);

    /* "PATHX=" is not PATH. */
    char *pathx[] = {"PATHX=/nonexistent", "PATH=/nonexistent", NULL};
    o = opts(argv, pathx);
    assert_int_equal(spawn(&o, &pid, &err), -ENOENT);
    assert_no_children();
}

static void test_path_search_order_and_eacces(void **state)
{
    (void)state;
    char a[128], b[128], p[300];
    snprintf(a, sizeof(a), "%s/a", g_dir);
    snprintf(b, sizeof(b), "%s/b", g_dir);
    assert_int_equal(mkdir(a, 0755), 0);
    assert_int_equal(mkdir(b, 0755), 0);
    snprintf(p, sizeof(p), "%s/prog", a);
    write_file(p, "#!/bin/sh\nexit 4\n", 0644); /* not executable */
    snprintf(p, sizeof(p), "%s/prog", b);
    write_file(p, "#!/bin/sh\nexit 5\n", 0755);

    char *argv[] = {"prog", NULL};
    char envpath[300];
    char *envp[] = {envpath, NULL};
    pid_t pid;
    struct sp_err err;

    /* A non-executable match is skipped; the search goes on. */
    snprintf(envpath, sizeof(envpath), "PATH=%s:%s", a, b);
    struct spawn_opts o = opts(argv, envp);
    assert_int_equal(spawn(&o, &pid, &err), 0);
    assert_int_equal(wait_exit(pid), 5);

    /* The first executable match wins. */
    snprintf(p, sizeof(p), "%s/prog", a);
    write_file(p, "#!/bin/sh\nexit 4\n", 0755);
    assert_int_equal(spawn(&o, &pid, &err), 0);
    assert_int_equal(wait_exit(pid), 4);

    /* Only a non-executable match: EACCES (126), not ENOENT. */
    write_file(p, "#!/bin/sh\nexit 4\n", 0644);
    snprintf(envpath, sizeof(envpath), "PATH=/nonexistent:%s", a);
    assert_int_equal(spawn(&o, &pid, &err), -EACCES);
    assert_no_children();

    /* An empty PATH entry is the current directory (here the child's cwd). */
    snprintf(envpath, sizeof(envpath), "PATH=/nonexistent:");
    o.cwd = b;
    assert_int_equal(spawn(&o, &pid, &err), 0);
    assert_int_equal(wait_exit(pid), 5);
}

static void test_stdout_redirect(void **state)
{
    (void)state;
    char *argv[] = {"echo", "hi", NULL};
    struct spawn_opts o = opts(argv, std_env);
    char out[64];
    assert_int_equal(run_capture(&o, out, sizeof(out)), 0);
    assert_string_equal(out, "hi\n");
}

static void test_argv_and_env_passed(void **state)
{
    (void)state;
    char *argv[] = {"sh",   "-c",      "printf '%s|%s|%s|%s' \"$0\" \"$1\" \"$FOO\" \"$#\"",
                    "zero", "one two", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "FOO=bar baz", NULL};
    struct spawn_opts o = opts(argv, envp);
    char out[256];
    assert_int_equal(run_capture(&o, out, sizeof(out)), 0);
    assert_string_equal(out, "zero|one two|bar baz|1");

    /* Exactly envp, nothing else. */
    char *argv2[] = {"env", NULL};
    char *envp2[] = {"PATH=/usr/bin:/bin", "ONLY=this", NULL};
    o = opts(argv2, envp2);
    assert_int_equal(run_capture(&o, out, sizeof(out)), 0);
    assert_string_equal(out, "PATH=/usr/bin:/bin\nONLY=this\n");
}

static void test_stdin_stderr_redirect(void **state)
{
    (void)state;
    int in[2], err_p[2], out_p[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err_p, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out_p, O_CLOEXEC), 0);
    char *argv[] = {"sh", "-c", "read line; echo \"out:$line\"; echo \"err:$line\" >&2", NULL};
    struct spawn_opts o = opts(argv, std_env);
    o.stdin_fd = in[0];
    o.stdout_fd = out_p[1];
    o.stderr_fd = err_p[1];
    pid_t pid;
    struct sp_err e;
    assert_int_equal(spawn(&o, &pid, &e), 0);
    close(in[0]);
    close(out_p[1]);
    close(err_p[1]);
    assert_int_equal(write(in[1], "ping\n", 5), 5);
    close(in[1]);
    char out[64], errb[64];
    read_all(out_p[0], out, sizeof(out));
    read_all(err_p[0], errb, sizeof(errb));
    close(out_p[0]);
    close(err_p[0]);
    assert_int_equal(wait_exit(pid), 0);
    assert_string_equal(out, "out:ping\n");
    assert_string_equal(errb, "err:ping\n");
}

static void test_cloexec_fds_not_inherited(void **state)
{
    (void)state;
    /* Our close-on-exec fds are not inherited, including the pipe end given as stdout (only
     * its copy on fd 1 is). */
    int extra[2];
    assert_int_equal(pipe2(extra, O_CLOEXEC), 0);
    char script[256];
    snprintf(
        script, sizeof(script),
        "for f in %d %d; do if [ -e /proc/self/fd/$f ]; then echo leak $f; fi; done; echo done",
        extra[0], extra[1]);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct spawn_opts o = opts(argv, std_env);
    char out[256];
    assert_int_equal(run_capture(&o, out, sizeof(out)), 0);
    close(extra[0]);
    close(extra[1]);
    assert_string_equal(out, "done\n");
}

/* Spawns `cat` reading a pipe we hold, so the child stays alive until we close it. */
static pid_t spawn_blocked(int flags, int *hold_fd)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    char *argv[] = {"cat", NULL};
    struct spawn_opts o = opts(argv, std_env);
    o.flags = flags;
    o.stdin_fd = p[0];
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(devnull >= 0);
    o.stdout_fd = devnull;
    pid_t pid;
    struct sp_err err;
    int r = spawn(&o, &pid, &err);
    close(p[0]);
    close(devnull);
    if (r != 0) fail_msg("spawn cat: %s", err.msg);
    *hold_fd = p[1];
    return pid;
}

static void test_setpgid(void **state)
{
    (void)state;
    int hold;
    pid_t pid = spawn_blocked(SPAWN_SETPGID, &hold);
    assert_int_equal(getpgid(pid), pid);
    assert_int_equal(getsid(pid), getsid(0)); /* same session */
    close(hold);
    assert_int_equal(wait_exit(pid), 0);
}

static void test_setsid(void **state)
{
    (void)state;
    int hold;
    pid_t pid = spawn_blocked(SPAWN_SETSID, &hold);
    assert_int_equal(getsid(pid), pid);
    assert_int_equal(getpgid(pid), pid);
    close(hold);
    assert_int_equal(wait_exit(pid), 0);
}

static void test_no_flags_shares_group(void **state)
{
    (void)state;
    int hold;
    pid_t pid = spawn_blocked(0, &hold);
    assert_int_equal(getpgid(pid), getpgrp());
    close(hold);
    assert_int_equal(wait_exit(pid), 0);
}

static void test_empty_command(void **state)
{
    (void)state;
    pid_t pid;
    struct sp_err err;
    char *empty[] = {NULL};
    struct spawn_opts o = opts(empty, std_env);
    assert_int_equal(spawn(&o, &pid, &err), -EINVAL);
    assert_contains(err.msg, "empty command");
    char *blank[] = {"", NULL};
    o = opts(blank, std_env);
    assert_int_equal(spawn(&o, &pid, &err), -EINVAL);
    o = opts(NULL, std_env);
    assert_int_equal(spawn(&o, &pid, &err), -EINVAL);
    assert_no_children();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_true),
        cmocka_unit_test(test_spawn_default_environ),
        cmocka_unit_test(test_spawn_missing_binary),
        cmocka_unit_test(test_spawn_directory),
        cmocka_unit_test(test_spawn_not_executable),
        cmocka_unit_test(test_exec_error_code),
        cmocka_unit_test(test_spawn_missing_cwd),
        cmocka_unit_test(test_spawn_cwd),
        cmocka_unit_test(test_path_from_envp),
        cmocka_unit_test(test_path_search_order_and_eacces),
        cmocka_unit_test(test_stdout_redirect),
        cmocka_unit_test(test_argv_and_env_passed),
        cmocka_unit_test(test_stdin_stderr_redirect),
        cmocka_unit_test(test_cloexec_fds_not_inherited),
        cmocka_unit_test(test_setpgid),
        cmocka_unit_test(test_setsid),
        cmocka_unit_test(test_no_flags_shares_group),
        cmocka_unit_test(test_empty_command),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
