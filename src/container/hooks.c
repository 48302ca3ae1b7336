/* SPDX-License-Identifier: MIT */
/* OCI hooks: see hooks.h. */
#include "hooks.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../base/fd.h"
#include "../base/time.h"

static int run_one(const struct oci_hook *h, size_t idx, const char *kind, const char *state,
                   struct sp_err *err)
{
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return sp_err_set(err, -errno, "%s hook #%zu: pipe: %s", kind, idx, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        sp_close(in[0]);
        sp_close(in[1]);
        return sp_err_set(err, -e, "%s hook #%zu: fork: %s", kind, idx, strerror(e));
    }
    if (pid == 0) {
        /* the state on stdin; output goes nowhere (at create our stdout is the container's) */
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        dup2(in[0], 0);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        signal(SIGPIPE, SIG_DFL);
        char *const none[] = {NULL};
        char *const *env = h->env ? h->env : none;
        execve(h->path, h->args, env);
        dprintf(2, "%s hook %s: %s\n", kind, h->path, strerror(errno));
        _exit(127);
    }
    sp_close(in[0]);
    /* a hook that does not read its stdin must not kill us */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    if (sp_write_all(in[1], state, strlen(state)) < 0 && errno != EPIPE) {
    }
    signal(SIGPIPE, old);
    sp_close(in[1]);
    uint64_t deadline = h->timeout_s > 0 ? sp_now_ms() + (uint64_t)h->timeout_s * 1000 : 0;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, deadline ? WNOHANG : 0);
        if (w == pid) break;
        if (w < 0 && errno != EINTR)
            return sp_err_set(err, -errno, "%s hook #%zu: wait: %s", kind, idx, strerror(errno));
        if (deadline && sp_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return sp_err_set(err, -ETIMEDOUT,
                              "error running %s hook #%zu: timeout after %d seconds", kind, idx,
                              h->timeout_s);
        }
        if (deadline) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFSIGNALED(status))
        return sp_err_set(err, -ECHILD, "error running %s hook #%zu: killed by signal %d", kind,
                          idx, WTERMSIG(status));
    return sp_err_set(err, -ECHILD, "error running %s hook #%zu: exit status %d", kind, idx,
                      WEXITSTATUS(status));
}

int hooks_run(const struct oci_hook_list *l, const char *kind, const char *state_json,
              struct sp_err *err)
{
    /* poststart and poststop failures are warnings: every hook of those lists runs */
    bool all = strcmp(kind, "poststart") == 0 || strcmp(kind, "poststop") == 0;
    int first = 0;
    for (size_t i = 0; l && i < l->n; i++) {
        struct sp_err e = {0};
        int r = run_one(&l->v[i], i, kind, state_json, &e);
        if (r < 0 && !first) {
            first = r;
            *err = e;
        }
        if (r < 0 && !all) break;
    }
    return first;
}
