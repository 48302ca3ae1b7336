/* SPDX-License-Identifier: MIT */
/*
 * sigrecorder: a main process for the end-to-end tests that records the signals it receives.
 *
 *   sigrecorder [-r READY] [-e SIG] [-c CODE] [-s STOPFILE] [-i] [-g] LOGFILE
 *
 * Handlers are installed for HUP INT QUIT USR1 USR2 WINCH TERM. Each received signal is appended
 * to LOGFILE as one line "ROLE NAME\n" (ROLE is "main", or "child" for the process made by -g),
 * with a single write(2) on an O_APPEND descriptor, so lines never interleave and nothing is
 * buffered.
 *
 *   -r READY     once the handlers are installed (and the -g child is ready), write
 *                "main PID\n" (and "child PID\n") to READY.tmp and rename it to READY.
 *   -e SIG       exit after receiving SIG (a name such as TERM or a number; default TERM).
 *   -c CODE      exit status used when exiting on SIG or STOPFILE (default 0).
 *   -s STOPFILE  exit as soon as STOPFILE exists (polled every 10 ms).
 *   -i           set SIGTERM to SIG_IGN (it is then never recorded and never causes an exit).
 *   -g           fork one child that stays in our process group and behaves the same way; the
 *                main process waits for it before exiting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const struct {
    int sig;
    const char *name;
} signals[] = {
    {SIGHUP, "HUP"},   {SIGINT, "INT"},     {SIGQUIT, "QUIT"}, {SIGUSR1, "USR1"},
    {SIGUSR2, "USR2"}, {SIGWINCH, "WINCH"}, {SIGTERM, "TERM"},
};

static int log_fd = -1;
static const char *role = "main";
static int exit_sig = SIGTERM;
static volatile sig_atomic_t exit_requested;

static const char *signal_name(int sig)
{
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (signals[i].sig == sig) return signals[i].name;
    return "UNKNOWN";
}

static int parse_signal(const char *s)
{
    if (strncmp(s, "SIG", 3) == 0) s += 3;
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (strcmp(signals[i].name, s) == 0) return signals[i].sig;
    char *end;
    long n = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || n <= 0 || n >= NSIG) return -1;
    return (int)n;
}

static void on_signal(int sig)
{
    int saved = errno;
    char line[64];
    size_t n = 0;
    for (const char *p = role; *p && n < sizeof(line) - 16; p++)
        line[n++] = *p;
    line[n++] = ' ';
    for (const char *p = signal_name(sig); *p; p++)
        line[n++] = *p;
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, n);
    (void)w;
    if (sig == exit_sig) exit_requested = 1;
    errno = saved;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* EINTR is fine: the loop re-checks its conditions */
}

static int write_ready(const char *path, pid_t child)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f, "main %ld\n", (long)getpid());
    if (child > 0) fprintf(f, "child %ld\n", (long)child);
    if (fclose(f) != 0) return -1;
    return rename(tmp, path);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sigrecorder [-r READY] [-e SIG] [-c CODE] [-s STOPFILE] [-i] [-g] LOGFILE\n");
    exit(64);
}

int main(int argc, char **argv)
{
    const char *ready = NULL, *stopfile = NULL;
    int code = 0, ignore_term = 0, fork_child = 0, opt;

    while ((opt = getopt(argc, argv, "r:e:c:s:ig")) != -1) {
        switch (opt) {
        case 'r': ready = optarg; break;
        case 'e':
            exit_sig = parse_signal(optarg);
            if (exit_sig < 0) usage();
            break;
        case 'c': code = atoi(optarg); break;
        case 's': stopfile = optarg; break;
        case 'i': ignore_term = 1; break;
        case 'g': fork_child = 1; break;
        default: usage();
        }
    }
    if (optind + 1 != argc) usage();

    log_fd = open(argv[optind], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        perror(argv[optind]);
        return 66;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        if (signals[i].sig == SIGTERM && ignore_term) continue;
        sigaction(signals[i].sig, &sa, NULL);
    }
    if (ignore_term) signal(SIGTERM, SIG_IGN);

    /* Handlers are in place before the fork, so the child can never miss a signal either. */
    pid_t child = -1;
    int child_ready[2] = {-1, -1};
    if (fork_child) {
        if (pipe(child_ready) != 0) return 71;
        child = fork();
        if (child < 0) return 71;
        if (child == 0) {
            role = "child";
            close(child_ready[0]);
            close(child_ready[1]); /* EOF on the pipe tells the parent we are running */
            ready = NULL;
        } else {
            close(child_ready[1]);
            char c;
            while (read(child_ready[0], &c, 1) < 0 && errno == EINTR) {
            }
            close(child_ready[0]);
        }
    }

    if (ready && write_ready(ready, child) != 0) {
        perror(ready);
        return 73;
    }

    for (;;) {
        if (exit_requested) break;
        if (stopfile && access(stopfile, F_OK) == 0) break;
        sleep_ms(10);
    }

    if (child > 0) {
        int st;
        while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
        }
    }
    return code;
}
