/* SPDX-License-Identifier: MIT */
/*
 * bench/zcopy: the file benchmark's zero-copy HTTP client (not part of sprite-env).
 *
 *   zcopy put HOST:PORT TOKEN REMOTE LOCAL   PUT /v1/files/write?path=REMOTE, body = LOCAL
 *   zcopy get HOST:PORT TOKEN REMOTE LOCAL   POST /v1/files/read {"path":REMOTE} into LOCAL
 *   zcopy serve PORT FILE sync|nosync        the least an upload server can do, for scale:
 *       on 127.0.0.1:PORT, answers every request with 200 after writing its body (Content-Length)
 *       to FILE.tmp by splice, 64 KiB writes, then (sync) fsync, and renaming it to FILE
 *
 * The body leaves with sendfile (page cache to socket) and arrives with splice (socket to a pipe
 * to the file), so the client copies no byte through user space: what is timed is the server
 * and the kernel, not the client's buffers. Exits 0 on a 200 with every byte, else 1 with a
 * message. REMOTE must need no escaping in a URL or JSON string (the benchmark's paths do not).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PIPE_BYTES (1 << 20)

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "zcopy: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

static int dial(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
        errno = EINVAL;
        die("HOST:PORT");
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) die("resolve");
    int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, ai->ai_addr, ai->ai_addrlen) < 0) die("connect");
    freeaddrinfo(ai);
    return s;
}

static void send_all(int s, const char *d, size_t n)
{
    while (n) {
        ssize_t w = send(s, d, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("send");
        d += w;
        n -= (size_t)w;
    }
}

/* Reads the response head into buf (NUL-ended); returns its length, *extra = the body bytes
 * that came with it. Fails unless the status is 200. */
static size_t read_head(int s, char *buf, size_t cap, size_t *extra)
{
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(s, buf + len, cap - 1 - len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("response");
        len += (size_t)r;
        buf[len] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            size_t head = (size_t)(end + 4 - buf);
            *extra = len - head;
            if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
                fprintf(stderr, "zcopy: %s\n", buf);
                exit(1);
            }
            return head;
        }
        if (len == cap - 1) {
            errno = E2BIG;
            die("response head");
        }
    }
}

/* A body of `len` bytes into fd: `extra` of them already read (at `first`), the rest spliced from
 * the socket through a pipe, written 64 KiB at a time as cp writes (and the daemon: see
 * SINK_WRITE_BYTES in src/api/http.c). */
static void body_to_file(int s, int fd, const char *first, size_t extra, long long len)
{
    if (extra && write(fd, first, extra) != (ssize_t)extra) die("write");
    long long left = len - (long long)extra;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe");
    (void)fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES);
    while (left > 0) {
        ssize_t r = splice(s, NULL, p[1], NULL, left < PIPE_BYTES ? (size_t)left : PIPE_BYTES,
                           SPLICE_F_MOVE);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("body cut short");
        left -= r;
        while (r) {
            ssize_t w = splice(p[0], NULL, fd, NULL, r < 65536 ? (size_t)r : 65536, SPLICE_F_MOVE);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) die("write");
            r -= w;
        }
    }
    close(p[0]);
    close(p[1]);
}

static int put(int s, const char *token, const char *remote, const char *local)
{
    int fd = open(local, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) die(local);
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "PUT /v1/files/write?path=%s HTTP/1.1\r\nHost: bench\r\n"
                     "Authorization: Bearer %s\r\nContent-Length: %lld\r\n"
                     "Connection: close\r\n\r\n",
                     remote, token, (long long)st.st_size);
    send_all(s, head, (size_t)n);
    for (off_t off = 0; off < st.st_size;) {
        ssize_t w = sendfile(s, fd, &off, (size_t)(st.st_size - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("sendfile");
    }
    char buf[8192];
    size_t extra;
    read_head(s, buf, sizeof(buf), &extra);
    close(fd);
    return 0;
}

static int get(int s, const char *token, const char *remote, const char *local)
{
    char head[1024], body[600];
    int bn = snprintf(body, sizeof(body), "{\"path\":\"%s\"}", remote);
    int n = snprintf(head, sizeof(head),
                     "POST /v1/files/read HTTP/1.1\r\nHost: bench\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                     token, bn, body);
    send_all(s, head, (size_t)n);
    char buf[8192];
    size_t extra, hl = read_head(s, buf, sizeof(buf), &extra);
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!cl || cl > buf + hl) {
        errno = EPROTO;
        die("no Content-Length");
    }
    long long left = strtoll(cl + 17, NULL, 10);
    int fd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die(local);
    body_to_file(s, fd, buf + hl, extra, left);
    if (close(fd) < 0) die("close");
    return 0;
}

/* One upload to the minimal server: the body into FILE.tmp, then FILE. */
static void serve_one(int s, const char *file, bool durable)
{
    char buf[8192], tmp[4096];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len == sizeof(buf) - 1) return; /* a head too big */
        ssize_t r = recv(s, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0) return;
        len += (size_t)r;
        buf[len] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!cl || cl > end) return;
    long long left = strtoll(cl + 17, NULL, 10);
    size_t head = (size_t)(end + 4 - buf), extra = len - head;
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die(tmp);
    body_to_file(s, fd, buf + head, extra, left);
    if (durable && fsync(fd) < 0) die("fsync");
    if (close(fd) < 0 || rename(tmp, file) < 0) die("rename");
    if (durable) { /* the rename too, as the daemon's commit makes it */
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", file);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0) die("fsync of the directory");
        close(dfd);
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    send_all(s, ok, sizeof(ok) - 1);
}

static _Noreturn void serve(const char *port, const char *file, bool durable)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(port)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 8) < 0)
        die("listen");
    for (;;) {
        int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0 && errno == EINTR) continue;
        if (s < 0) die("accept");
        serve_one(s, file, durable);
        close(s);
    }
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "serve") == 0)
        serve(argv[2], argv[3], strcmp(argv[4], "sync") == 0);
    if (argc != 6 || (strcmp(argv[1], "put") != 0 && strcmp(argv[1], "get") != 0)) {
        fprintf(stderr, "usage: zcopy put|get HOST:PORT TOKEN REMOTE LOCAL\n"
                        "       zcopy serve PORT FILE sync|nosync\n");
        return 2;
    }
    int s = dial(argv[2]);
    int r =
        argv[1][0] == 'p' ? put(s, argv[3], argv[4], argv[5]) : get(s, argv[3], argv[4], argv[5]);
    close(s);
    return r;
}
