/* SPDX-License-Identifier: MIT */
/*
 * bench/relay: the least a server can do to relay a command's output to a client, for scale in
 * bench/exec.sh (not part of sprite-env).
 *
 *   relay BYTES
 *
 * Runs `head -c BYTES /dev/zero` with its stdout on a 1 MiB pipe, reads the pipe 64 KiB at a
 * time into a 1 MiB ring (as the daemon's output log does) and sends each piece behind an 8-byte
 * stdcopy header on a unix socket, to a reader process that receives 100 KiB at a time and drops
 * the bytes (as curl into /dev/null does). No HTTP, no event loop, no other client. Prints the
 * wall time in nanoseconds; exits 1 unless the reader got every byte and every header.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RING  (1 << 20)
#define PIECE (64 * 1024)

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int send_all(int s, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(s, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: relay BYTES\n");
        return 2;
    }
    long long want = atoll(argv[1]);
    int out[2], sv[2], report[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("relay");
        return 1;
    }
    (void)fcntl(out[0], F_SETPIPE_SZ, RING);
    uint64_t t0 = now_ns();
    pid_t head = fork();
    if (head == 0) {
        dup2(out[1], 1);
        execlp("head", "head", "-c", argv[1], "/dev/zero", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    pid_t reader = fork();
    if (reader == 0) {
        static char buf[100 * 1024];
        long long total = 0;
        ssize_t n;
        close(sv[0]);
        while ((n = recv(sv[1], buf, sizeof(buf), 0)) > 0)
            total += n;
        _exit(write(report[1], &total, sizeof(total)) == (ssize_t)sizeof(total) ? 0 : 1);
    }
    close(sv[1]);
    close(report[1]);
    long long frames = 0;
    static char ring[RING];
    size_t at = 0;
    for (;;) {
        if (at + PIECE > RING) at = 0;
        ssize_t n = read(out[0], ring + at, PIECE);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        unsigned char hdr[8] = {1,
                                0,
                                0,
                                0,
                                (unsigned char)(n >> 24),
                                (unsigned char)(n >> 16),
                                (unsigned char)(n >> 8),
                                (unsigned char)n};
        struct iovec iov[2] = {{hdr, 8}, {ring + at, (size_t)n}};
        if (send_all(sv[0], iov, 2) < 0) {
            perror("relay: send");
            return 1;
        }
        at += (size_t)n;
        frames++;
    }
    close(sv[0]);
    int st, ok = 1;
    if (waitpid(head, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) ok = 0;
    if (waitpid(reader, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) ok = 0;
    long long got = -1;
    if (read(report[0], &got, sizeof(got)) != (ssize_t)sizeof(got) || got != want + frames * 8)
        ok = 0;
    if (!ok) {
        fprintf(stderr, "relay: head failed, or the reader did not get every byte\n");
        return 1;
    }
    printf("%llu\n", (unsigned long long)(now_ns() - t0));
    return 0;
}
