/* SPDX-License-Identifier: MIT */
/*
 * orphans: makes orphan processes for the reaper tests and the benchmark.
 *
 *   orphans [-s MS] [-p PIDFILE] [-w] [-k] N
 *
 * Forks N children. Each child forks one grandchild, reports the grandchild's pid to us through a
 * pipe and exits at once, so the grandchild is reparented to the nearest subreaper (or PID 1 of
 * the PID namespace). We reap our direct children ourselves, never the grandchildren.
 *
 *   -s MS       grandchildren sleep MS milliseconds before exiting (default 0); -1 means they
 *               wait until they are killed.
 *   -p PIDFILE  once all grandchildren exist, write their pids (one per line) to PIDFILE.tmp and
 *               rename it to PIDFILE.
 *   -w          before exiting, wait until every grandchild is gone from /proc, that is until
 *               somebody else has reaped it (polls every millisecond).
 *   -k          stay alive after everything else is done, until killed.
 *
 * Exit status: 0 on success, 1 if a fork failed, 64 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: orphans [-s MS] [-p PIDFILE] [-w] [-k] N\n");
    exit(64);
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_pidfile(const char *path, const pid_t *pids, long n)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    for (long i = 0; i < n; i++)
        fprintf(f, "%ld\n", (long)pids[i]);
    if (fclose(f) != 0) return -1;
    return rename(tmp, path);
}

static int proc_exists(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld", (long)pid);
    return access(path, F_OK) == 0;
}

int main(int argc, char **argv)
{
    long sleep_for = 0;
    const char *pidfile = NULL;
    int wait_gone = 0, keep = 0, opt;

    while ((opt = getopt(argc, argv, "s:p:wk")) != -1) {
        switch (opt) {
        case 's': sleep_for = strtol(optarg, NULL, 10); break;
        case 'p': pidfile = optarg; break;
        case 'w': wait_gone = 1; break;
        case 'k': keep = 1; break;
        default: usage();
        }
    }
    if (optind + 1 != argc) usage();
    char *end;
    long n = strtol(argv[optind], &end, 10);
    if (*argv[optind] == '\0' || *end != '\0' || n < 0 || n > 1000000) usage();

    pid_t *grandchildren = calloc((size_t)(n > 0 ? n : 1), sizeof(pid_t));
    if (!grandchildren) return 1;

    int fds[2];
    if (pipe(fds) != 0) return 1;

    int failed = 0;
    long got = 0;
    for (long i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) {
            perror("orphans: fork");
            failed = 1;
            break;
        }
        if (c == 0) {
            close(fds[0]);
            pid_t g = fork();
            if (g == 0) {
                close(fds[1]);
                if (sleep_for < 0)
                    for (;;)
                        pause();
                if (sleep_for > 0) sleep_ms(sleep_for);
                _exit(0);
            }
            if (g < 0) _exit(1);
            /* A pid_t is far below PIPE_BUF, so this write is atomic. */
            if (write_all(fds[1], &g, sizeof(g)) != 0) _exit(1);
            _exit(0);
        }
        /* Reap each child at once so the number of live processes stays low. */
        int st;
        while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            failed = 1;
            continue;
        }
        ssize_t r;
        do
            r = read(fds[0], &grandchildren[got], sizeof(pid_t));
        while (r < 0 && errno == EINTR);
        if (r != (ssize_t)sizeof(pid_t)) {
            failed = 1;
            continue;
        }
        got++;
    }
    close(fds[0]);
    close(fds[1]);

    if (pidfile && write_pidfile(pidfile, grandchildren, got) != 0) {
        perror(pidfile);
        failed = 1;
    }

    if (wait_gone) {
        for (long i = 0; i < got; i++)
            while (proc_exists(grandchildren[i]))
                sleep_ms(1);
    }

    if (keep)
        for (;;)
            pause();

    free(grandchildren);
    return failed;
}
