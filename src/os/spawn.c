/* SPDX-License-Identifier: MIT */
/* Process spawning: see spawn.h. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../base/fd.h"
#include "sig.h"

extern char **environ;

static struct rlimit g_child_nofile;
static int g_have_child_nofile;
static char g_child_oom[16]; /* "" : inherited */

void spawn_set_child_oom_score_adj(int adj)
{
    snprintf(g_child_oom, sizeof(g_child_oom), "%d", adj);
}

void spawn_set_child_nofile(const struct rlimit *rl)
{
    g_have_child_nofile = rl != NULL;
    if (rl) g_child_nofile = *rl;
}

static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

static const char *env_path(char *const *envp)
{
    for (; envp && *envp; envp++)
        if (strncmp(*envp, "PATH=", 5) == 0) return *envp + 5;
    return default_path;
}

/* execvpe() with PATH taken from envp rather than from our own environment. */
/* execve, and for a file the kernel cannot run (no "#!"), run it with /bin/sh as execvp and
 * shells do. No allocation: this runs in the vfork-style child. */
#define SH_ARGS_MAX 256

static int exec_one(const char *path, char *const *argv, char *const *envp)
{
    execve(path, argv, envp);
    if (errno != ENOEXEC) return errno;
    char *sh_argv[SH_ARGS_MAX + 2];
    size_t n = 0;
    while (argv[n])
        n++;
    if (n + 1 > SH_ARGS_MAX) return ENOEXEC;
    sh_argv[0] = (char *)"sh";
    sh_argv[1] = (char *)path;
    for (size_t i = 1; i < n; i++)
        sh_argv[i + 1] = argv[i];
    sh_argv[n + 1] = NULL;
    execve("/bin/sh", sh_argv, envp);
    return ENOEXEC;
}

static int exec_search(const char *file, char *const *argv, char *const *envp)
{
    char buf[PATH_MAX];
    int saw_eacces = 0;

    if (strchr(file, '/')) return exec_one(file, argv, envp);
    const char *p = env_path(envp);
    size_t flen = strlen(file);
    for (;;) {
        const char *end = strchrnul(p, ':');
        size_t dlen = (size_t)(end - p);
        if (dlen + 1 + flen + 1 <= sizeof(buf)) {
            if (dlen) {
                memcpy(buf, p, dlen);
                buf[dlen] = '/';
                memcpy(buf + dlen + 1, file, flen + 1);
            } else {
                memcpy(buf, file, flen + 1); /* empty entry = current directory */
            }
            int e = exec_one(buf, argv, envp);
            if (e == EACCES)
                saw_eacces = 1;
            else if (e != ENOENT && e != ENOTDIR)
                return e;
        }
        if (!*end) break;
        p = end + 1;
    }
    return saw_eacces ? EACCES : ENOENT;
}

static void move_fd(int from, int to)
{
    if (from < 0) return;
    if (from == to) {
        int fl = fcntl(from, F_GETFD);
        if (fl >= 0) fcntl(from, F_SETFD, fl & ~FD_CLOEXEC);
    } else {
        dup2(from, to);
    }
}

enum { STAGE_SETUP, STAGE_CHDIR, STAGE_EXEC };

struct child_report {
    int stage;
    int err;
};

#if defined(__SANITIZE_ADDRESS__)
#define SPAWN_USE_FORK 1 /* ASan cannot follow a child running on our memory with its own stack */
#else
#define SPAWN_USE_FORK 0
#endif

struct clone_arg {
    const struct spawn_opts *o;
    struct child_report rep;
};

/* errfd >= 0: report through the pipe (fork); otherwise into *shared (vfork-style clone, where
 * the parent sleeps until we exec or exit and then reads it from its own memory). */
SP_NORETURN static void child(const struct spawn_opts *o, int errfd, struct child_report *shared)
{
    int e = 0;
    int stage = STAGE_SETUP;

    if (o->flags & SPAWN_SETSID) {
        if (setsid() < 0) e = errno;
    } else if (o->flags & SPAWN_SETPGID) {
        if (setpgid(0, 0) < 0) e = errno;
        if (!e && (o->flags & SPAWN_FOREGROUND)) {
            /* Done here, not in the parent, so nested inits cannot race for the terminal
             * (tini does the same). Not having a terminal is fine. SIGTTOU is still blocked. */
            if (isatty(STDIN_FILENO)) tcsetpgrp(STDIN_FILENO, getpgrp());
        }
    }
    if (!e) {
        move_fd(o->stdin_fd, STDIN_FILENO);
        move_fd(o->stdout_fd, STDOUT_FILENO);
        move_fd(o->stderr_fd, STDERR_FILENO);
        if (o->extra_fd_target > STDERR_FILENO) move_fd(o->extra_fd, o->extra_fd_target);
    }
    if (!e && (o->flags & SPAWN_CTTY) && ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0) e = errno;
    if (!e && o->set_user) {
        if (setgroups(o->n_groups, o->groups) < 0 || setgid(o->gid) < 0 || setuid(o->uid) < 0)
            e = errno;
    }
    if (!e && o->set_umask) umask(o->umask);
    if (!e && g_have_child_nofile) setrlimit(RLIMIT_NOFILE, &g_child_nofile);
    if (!e && g_child_oom[0]) { /* raising it needs no privilege; a failure is harmless */
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, g_child_oom, strlen(g_child_oom)) < 0) {
            }
            close(fd);
        }
    }
    if (!e && o->cwd && chdir(o->cwd) < 0) {
        e = errno;
        stage = STAGE_CHDIR;
    }
    if (!e) {
        sig_child_restore();
        stage = STAGE_EXEC;
        e = exec_search(o->argv[0], o->argv, o->envp ? o->envp : environ);
    }
    /* Report to the parent; the pipe is close-on-exec, so EOF there means exec succeeded. */
    struct child_report rep = {stage, e};
    if (errfd >= 0) {
        ssize_t unused = write(errfd, &rep, sizeof(rep));
        (void)unused;
    } else {
        *shared = rep;
    }
    _exit(spawn_exec_error_code(-e));
}

int spawn_exec_error_code(int neg_errno)
{
    return neg_errno == -ENOENT || neg_errno == -ENOTDIR ? 127 : 126;
}

static int report_error(const struct spawn_opts *o, pid_t pid, const struct child_report *rep,
                        struct sp_err *err)
{
    /* The child is ours and has exited (or is about to): wait for it here, so the reaper never
     * sees a pid nobody registered. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    int e = rep->err;
    if (rep->stage == STAGE_CHDIR) return sp_err_set(err, -e, "chdir %s: %s", o->cwd, strerror(e));
    if (rep->stage == STAGE_SETUP)
        return sp_err_set(err, -e, "setting up %s: %s", o->argv[0], strerror(e));
    return sp_err_set(err, -e, "exec %s: %s", o->argv[0], strerror(e));
}

#if !SPAWN_USE_FORK
static int clone_child(void *arg)
{
    struct clone_arg *ca = arg;
    child(ca->o, -1, &ca->rep);
}

/* The child's stack for the vfork-style clone: the parent sleeps until the child has exec'd or
 * exited, and there is one loop thread, so one stack serves every spawn. */
static char clone_stack[64 * 1024] __attribute__((aligned(16)));
#endif

int spawn(const struct spawn_opts *o, pid_t *pid_out, struct sp_err *err)
{
    if (!o->argv || !o->argv[0] || !o->argv[0][0])
        return sp_err_set(err, -EINVAL, "exec: empty command");
#if !SPAWN_USE_FORK
    /* CLONE_VM|CLONE_VFORK (what posix_spawn does): no copy of our page tables, and the exec
     * result is known when clone returns. */
    struct clone_arg ca = {.o = o, .rep = {0, 0}};
    pid_t pid = clone(clone_child, clone_stack + sizeof(clone_stack),
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &ca);
    if (pid < 0) return sp_err_set(err, -errno, "clone: %s", strerror(errno));
    if (ca.rep.err != 0) return report_error(o, pid, &ca.rep, err);
    *pid_out = pid;
    return 0;
#else
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return sp_err_set(err, -errno, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        sp_close(p[0]);
        sp_close(p[1]);
        return sp_err_set(err, -e, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        sp_close(p[0]);
        child(o, p[1], NULL);
    }
    sp_close(p[1]);
    struct child_report rep = {0, 0};
    ssize_t n = sp_read(p[0], &rep, sizeof(rep));
    sp_close(p[0]);
    if (n == (ssize_t)sizeof(rep) && rep.err != 0) return report_error(o, pid, &rep, err);
    *pid_out = pid;
    return 0;
#endif
}
