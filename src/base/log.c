/* SPDX-License-Identifier: MIT */
/* Logging: see log.h. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "time.h"

static enum sp_log_level g_level = SP_LOG_INFO;
static int g_json;
static int g_fd = STDERR_FILENO; /* our own non-blocking description of stderr, when possible */
static unsigned long g_dropped;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sp_log_setup(enum sp_log_level level, int json)
{
    g_level = level;
    g_json = json;
    /* A new open file description of what fd 2 is (pipe, tty, file), so it can be non-blocking
     * without changing the one the main process shares: a stalled reader of our logs must never
     * stall PID 1. Sockets cannot be reopened this way; then writes stay blocking. */
    if (g_fd == STDERR_FILENO) {
        int fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) g_fd = fd;
    }
}

enum sp_log_level sp_log_get_level(void)
{
    return g_level;
}

int sp_log_level_parse(const char *s, enum sp_log_level *out)
{
    static const struct {
        const char *name;
        enum sp_log_level level;
    } names[] = {
        {"error", SP_LOG_ERROR}, {"warn", SP_LOG_WARN},   {"warning", SP_LOG_WARN},
        {"info", SP_LOG_INFO},   {"debug", SP_LOG_DEBUG},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(names); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

/* Appends `s` JSON-escaped to buf at *pos, never past cap-1. */
static void json_escape_into(char *buf, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t p = *pos;
    for (; *s && p + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[p++] = '\\';
            buf[p++] = (char)c;
        } else if (c == '\n') {
            buf[p++] = '\\';
            buf[p++] = 'n';
        } else if (c < 0x20) {
            memcpy(buf + p, "\\u00", 4);
            buf[p + 4] = hex[c >> 4];
            buf[p + 5] = hex[c & 15];
            p += 6;
        } else {
            buf[p++] = (char)c;
        }
    }
    *pos = p;
}

void sp_log(enum sp_log_level level, const char *fmt, ...)
{
    char msg[2048];
    char line[4608];
    char ts[40];
    size_t n;
    va_list ap;
    int saved = errno;

    if (level > g_level) return;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sp_time_rfc3339(ts, sizeof(ts));

    if (g_json) {
        int k = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
                         level_names[level]);
        n = (size_t)k;
        json_escape_into(line, sizeof(line) - 3, &n, msg);
        memcpy(line + n, "\"}\n", 3);
        n += 3;
    } else {
        int k =
            snprintf(line, sizeof(line), "%s %-5s sprite-env: %s\n", ts, level_names[level], msg);
        n = k < 0 ? 0 : (size_t)k;
        if (n >= sizeof(line)) {
            n = sizeof(line) - 1;
            line[n - 1] = '\n';
        }
    }
    if (g_dropped && g_fd != STDERR_FILENO) {
        char note[96];
        int k = snprintf(note, sizeof(note),
                         "%s warn  sprite-env: %lu log lines were dropped (stderr was full)\n", ts,
                         g_dropped);
        if (k > 0 && write(g_fd, note, (size_t)k) == k) g_dropped = 0;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(g_fd, line + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            g_dropped++;
            break;
        }
        if (w <= 0) break;
        off += (size_t)w;
    }
    errno = saved;
}
