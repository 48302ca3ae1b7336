/* SPDX-License-Identifier: MIT */
/* Signals: see sig.h. */
#include "sig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../base/compiler.h"
#include "../base/str.h"

static sigset_t g_orig_mask;
static struct sigaction g_orig_chld;

/* Faults the kernel raises synchronously: blocking them would kill us instead of reporting. */
static const int sync_faults[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS};

int sig_setup(int *fd_out, struct sp_err *err)
{
    sigset_t all;

    /* An inherited SIG_IGN for SIGCHLD makes the kernel reap children itself, and the reaper
     * would never see an exit: take the default, and give children back what we got. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGCHLD, &dfl, &g_orig_chld);
    sigfillset(&all);
    for (size_t i = 0; i < SP_ARRAY_LEN(sync_faults); i++)
        sigdelset(&all, sync_faults[i]);
    if (sigprocmask(SIG_BLOCK, &all, &g_orig_mask) < 0)
        return sp_err_set(err, -errno, "sigprocmask: %s", strerror(errno));
    int fd = signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return sp_err_set(err, -errno, "signalfd: %s", strerror(errno));
    *fd_out = fd;
    return 0;
}

void sig_child_restore(void)
{
    if (g_orig_chld.sa_handler == SIG_IGN) sigaction(SIGCHLD, &g_orig_chld, NULL);
    sigprocmask(SIG_SETMASK, &g_orig_mask, NULL);
}

int sig_read(int fd, struct signalfd_siginfo *si)
{
    for (;;) {
        ssize_t r = read(fd, si, sizeof(*si));
        if (r == (ssize_t)sizeof(*si)) return (int)si->ssi_signo;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) return 0;
        return r < 0 ? -errno : -EIO;
    }
}

static const struct {
    int num;
    const char *name;
} names[] = {
    {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},   {SIGILL, "SIGILL"},
    {SIGTRAP, "SIGTRAP"},     {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},     {SIGFPE, "SIGFPE"},
    {SIGKILL, "SIGKILL"},     {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"},   {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},   {SIGCHLD, "SIGCHLD"},
    {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"},   {SIGTTIN, "SIGTTIN"},
    {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"},   {SIGXFSZ, "SIGXFSZ"},
    {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"}, {SIGIO, "SIGIO"},
    {SIGPWR, "SIGPWR"},       {SIGSYS, "SIGSYS"},
};

const char *sig_name(int sig)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++)
        if (names[i].num == sig) return names[i].name;
    return "SIG?";
}

int sig_parse(const char *s)
{
    uint64_t n;
    if (sp_parse_u64(s, 64, &n) == 0) return n >= 1 ? (int)n : -EINVAL;
    if (strncasecmp(s, "SIG", 3) == 0) s += 3;
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++)
        if (strcasecmp(names[i].name + 3, s) == 0) return names[i].num;
    return -EINVAL;
}
