/* SPDX-License-Identifier: MIT */
/*
 * GET /v1/files/watch?path=P[&recursive=true][&user=U]: file-system events under a directory of
 * the environment's root, from inotify. With WebSocket upgrade headers the events are text
 * messages; without, a chunked application/x-ndjson body (one object per line). Same objects:
 *
 *   {"type":"start","path":"/p"}                                       first
 *   {"type":"create|write|remove|rename|chmod","path":"/p/d/x","name":"d/x","is_dir":false}
 *   {"type":"overflow"}            events were lost (the kernel's queue or our send backlog)
 *   {"type":"error","message":"…"} some directories are not watched (limits); events go on
 *   {"type":"end","reason":"deleted|moved|unmounted"}   the watched directory is gone; then the
 *                                  WebSocket closes with 1000 / the chunked body ends
 *
 * "path" is the entry's client path (P cleaned lexically as the list route does, plus the names
 * below it) and "name" the part below P. IN_CREATE and IN_MOVED_TO are "create", IN_MOVED_FROM
 * is "rename" (the old path), IN_DELETE "remove", IN_ATTRIB "chmod", IN_MODIFY "write" (one per
 * write(2) as the kernel reports them; identical writes next to each other in one read of the
 * queue are sent once, and the kernel merges those a slow reader leaves queued).
 *
 * Safety: P is resolved inside the root (fsroot_openat, RESOLVE_IN_ROOT) and the inotify watch
 * is added on /proc/self/fd/<that fd>, never on a client string; subdirectories are opened from
 * their parent's fd with O_NOFOLLOW (symlinks are never followed) or, for new ones, inside the
 * root again. With user=U every open and inotify_add_watch runs with U's file-system identity, so
 * a directory U cannot read is a 403 (or, below P, simply not watched).
 *
 * recursive=true watches every directory below P, and every directory created or moved in later
 * (its entries are listed right after its watch is added and reported as "create", so nothing
 * made before the watch existed is missed; an entry may then be reported twice). A directory
 * moved away stops being watched. After an overflow the tree is walked again to watch what was
 * missed. Limits: WATCH_MAX_DIRS directories per client (then one "error" event), WATCH_MAX
 * clients (429 too_many_watchers), and a send backlog of WATCH_BACKLOG bytes per client: past it
 * events are dropped and one "overflow" is sent when the client has read the backlog.
 *
 * Lifetime: one struct watcher per client, in a file-static list (one api per process). It owns
 * an inotify fd (a loop_io) and the wd → directory map; the client going away (on_abort,
 * on_close) frees it; the end (the directory removed) frees it from a deferred call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../base/buf.h"
#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../os/fsroot.h"
#include "../os/users.h"
#include "api_internal.h"
#include "ws.h"

#define WATCH_MAX      64
#define WATCH_MAX_DIRS 8192
#define WATCH_BACKLOG  (1024 * 1024)
#define WATCH_READS    4 /* inotify reads per loop wake-up, so one busy tree cannot hog the loop */
#define STR_(x)        #x
#define STR(x)         STR_(x)
#define WATCH_MASK                                                                                 \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | IN_ATTRIB |                 \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

struct wdir {
    int wd;
    unsigned gen; /* the walk that last saw it (a walk visits each directory once) */
    char *rel;    /* below P: "" for P itself, "a/b" */
};

struct watcher {
    struct api *api;
    struct watcher *prev, *next;
    bool listed;
    struct loop_io io;        /* the inotify fd; -1 once stopped */
    struct http_request *req; /* NDJSON: the streamed response */
    struct ws_conn *ws;       /* WebSocket */
    bool recursive;
    bool started;        /* "start" was sent */
    bool dropping;       /* the backlog is over WATCH_BACKLOG: events are dropped */
    bool limit_reported; /* the one "error" about limits was sent (or is pending) */
    const char *pending_error;
    bool act;
    struct fsroot_cred cred;
    char *path_raw; /* P as given: where new directories are resolved from */
    char *path;     /* P cleaned: the prefix of every event's path */
    int top_wd;
    unsigned gen;
    struct wdir *dirs; /* sorted by wd */
    size_t n_dirs, cap_dirs;
    struct sp_buf line; /* scratch for one event */
};

static struct watcher *watchers;
static unsigned n_watchers;

/* ---- the wd map ---- */

static size_t dir_pos(const struct watcher *w, int wd)
{
    size_t lo = 0, hi = w->n_dirs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->dirs[mid].wd < wd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct wdir *dir_find(struct watcher *w, int wd)
{
    size_t i = dir_pos(w, wd);
    return i < w->n_dirs && w->dirs[i].wd == wd ? &w->dirs[i] : NULL;
}

static int dir_insert(struct watcher *w, int wd, const char *rel)
{
    if (w->n_dirs == w->cap_dirs) {
        size_t cap = w->cap_dirs ? w->cap_dirs * 2 : 16;
        struct wdir *d = realloc(w->dirs, cap * sizeof(*d));
        if (!d) return -ENOMEM;
        w->dirs = d;
        w->cap_dirs = cap;
    }
    char *r = strdup(rel);
    if (!r) return -ENOMEM;
    size_t i = dir_pos(w, wd);
    memmove(&w->dirs[i + 1], &w->dirs[i], (w->n_dirs - i) * sizeof(*w->dirs));
    w->dirs[i] = (struct wdir){.wd = wd, .gen = w->gen, .rel = r};
    w->n_dirs++;
    return 0;
}

static void dir_remove(struct watcher *w, int wd)
{
    size_t i = dir_pos(w, wd);
    if (i >= w->n_dirs || w->dirs[i].wd != wd) return;
    free(w->dirs[i].rel);
    memmove(&w->dirs[i], &w->dirs[i + 1], (w->n_dirs - i - 1) * sizeof(*w->dirs));
    w->n_dirs--;
}

/* Stops watching rel and every directory below it (it moved away: its wds would report events
 * under the old path, maybe from outside the watched tree). */
static void dir_forget_tree(struct watcher *w, const char *rel)
{
    size_t rl = strlen(rel), j = 0;
    for (size_t i = 0; i < w->n_dirs; i++) {
        struct wdir *d = &w->dirs[i];
        if (d->wd != w->top_wd && strncmp(d->rel, rel, rl) == 0 &&
            (d->rel[rl] == 0 || d->rel[rl] == '/')) {
            inotify_rm_watch(w->io.fd, d->wd); /* its IN_IGNORED finds no entry: dropped */
            free(d->rel);
            continue;
        }
        w->dirs[j++] = *d;
    }
    w->n_dirs = j;
}

/* ---- paths and JSON ---- */

/* in cleaned lexically ("" and "." dropped, ".." pops), as "/" or "/a/b"; false if too long. */
static bool clean_path(const char *in, char *out, size_t len)
{
    size_t n = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchrnul(p, '/');
        size_t cl = (size_t)(e - p);
        if (cl == 0 || (cl == 1 && p[0] == '.')) {
        } else if (cl == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0) n--; /* the slash */
        } else {
            if (n + 1 + cl + 1 > len) return false;
            out[n++] = '/';
            memcpy(out + n, p, cl);
            n += cl;
        }
        p = e;
    }
    if (n == 0) out[n++] = '/';
    out[n] = 0;
    return true;
}

/* a + "/" + b, or just b when a is ""; false if too long. */
static bool join(char *out, size_t len, const char *a, const char *b)
{
    int n = *a ? snprintf(out, len, "%s/%s", a, b) : snprintf(out, len, "%s", b);
    return n >= 0 && (size_t)n < len;
}

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (n < need + 1 || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i <= need; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return need + 1;
}

/* s as a JSON string; bytes that are not UTF-8 (file names are bytes) become U+FFFD. */
static int json_str(struct sp_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    int r = sp_buf_append(b, "\"", 1);
    while (r == 0 && n) {
        size_t k = utf8_len(p, n);
        if (k == 0) {
            r = sp_buf_append_str(b, "\\ufffd");
            k = 1;
        } else if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            r = sp_buf_append(b, esc, 2);
        } else if (*p < 0x20) {
            r = sp_buf_printf(b, "\\u%04x", *p);
        } else {
            r = sp_buf_append(b, p, k);
        }
        p += k;
        n -= k;
    }
    return r == 0 ? sp_buf_append(b, "\"", 1) : r;
}

/* ---- sending ---- */

static void watcher_stop(struct watcher *w);

/* Sends the object in w->line (without newline). The client gone: stop (on_abort / on_close
 * will free). Over the backlog cap: drop what follows until it drains. */
static void send_line(struct watcher *w)
{
    long backlog;
    if (!w->ws && !w->req) return;
    if (w->ws) {
        backlog = ws_send(w->ws, WS_TEXT, w->line.data, w->line.len);
    } else {
        /* writev sends at once even from inside the handler (stream_write would wait there) */
        if (sp_buf_append(&w->line, "\n", 1) < 0) return;
        struct iovec iov = {w->line.data, w->line.len};
        backlog = http_stream_writev(w->req, &iov, 1);
    }
    if (backlog < 0) {
        watcher_stop(w);
        return;
    }
    if (backlog > WATCH_BACKLOG && !w->dropping) {
        sp_debug("files watch %s: the client is behind (%ld bytes queued): dropping events",
                 w->path, backlog);
        w->dropping = true;
    }
}

static void send_simple(struct watcher *w, const char *type, const char *key, const char *value)
{
    sp_buf_clear(&w->line);
    int r = sp_buf_printf(&w->line, "{\"type\":\"%s\"", type);
    if (r == 0 && key) r = sp_buf_printf(&w->line, ",\"%s\":", key);
    if (r == 0 && key) r = json_str(&w->line, value);
    if (r == 0) r = sp_buf_append(&w->line, "}", 1);
    if (r == 0) send_line(w);
}

/* One entry event; rel is the name below P. */
static void send_event(struct watcher *w, const char *type, const char *rel, bool is_dir)
{
    if (!w->started || w->dropping) return;
    char path[PATH_MAX + NAME_MAX + 2];
    if (!*rel)
        snprintf(path, sizeof(path), "%s", w->path);
    else if (snprintf(path, sizeof(path), "%s/%s", strcmp(w->path, "/") == 0 ? "" : w->path, rel) >=
             (int)sizeof(path))
        return;
    sp_buf_clear(&w->line);
    int r = sp_buf_printf(&w->line, "{\"type\":\"%s\",\"path\":", type);
    if (r == 0) r = json_str(&w->line, path);
    if (r == 0) r = sp_buf_append_str(&w->line, ",\"name\":");
    if (r == 0) r = json_str(&w->line, rel);
    if (r == 0) r = sp_buf_printf(&w->line, ",\"is_dir\":%s}", is_dir ? "true" : "false");
    if (r == 0) send_line(w);
}

static void send_overflow(struct watcher *w)
{
    if (w->started && !w->dropping) send_simple(w, "overflow", NULL, NULL);
}

/* The one report that some directories are not watched. */
static void limit_error(struct watcher *w, const char *msg)
{
    if (w->limit_reported) return;
    w->limit_reported = true;
    sp_warn("files watch %s: %s", w->path, msg);
    if (w->started)
        send_simple(w, "error", "message", msg);
    else
        w->pending_error = msg;
}

/* The backlog was written out: say that events were dropped, then go on. */
static void watcher_drained(struct watcher *w)
{
    if (!w->dropping) return;
    w->dropping = false;
    send_overflow(w);
}

/* ---- adding watches ---- */

static int act_enter(struct watcher *w, struct fsroot_saved *saved)
{
    return w->act ? fsroot_cred_enter(&w->cred, saved) : 0;
}

static void act_leave(struct watcher *w, struct fsroot_saved *saved)
{
    if (w->act) fsroot_cred_leave(saved);
}

/* The watch of the directory open at fd (through procfs: the fd, not a path, is resolved). */
static int add_watch(struct watcher *w, int fd)
{
    char proc[64];
    if (w->io.fd < 0) return -EBADF;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    int wd = inotify_add_watch(w->io.fd, proc, WATCH_MASK);
    return wd < 0 ? -errno : wd;
}

/*
 * Watches the directory open at fd (rel below P; fd is consumed, O_PATH or readable) and, when
 * recursive, every directory below it, never following symlinks. emit: report each entry found
 * as "create" (a directory that appeared after the watch started: what was made in it before its
 * watch existed). Runs acting as the user. Returns the wd, or the error of this directory's
 * watch (the ones below are best effort: one that cannot be read is skipped).
 */
static int watch_tree(struct watcher *w, int fd, const char *rel, int depth, bool emit)
{
    if (w->n_dirs >= WATCH_MAX_DIRS) {
        limit_error(w, "more than " STR(WATCH_MAX_DIRS) " directories: the ones beyond are not "
                                                        "watched");
        sp_close(fd);
        return -E2BIG;
    }
    int wd = add_watch(w, fd);
    if (wd == -ENOSPC)
        limit_error(w, "the kernel's limit of inotify watches (fs.inotify.max_user_watches) was "
                       "reached: some directories are not watched");
    if (wd < 0) {
        sp_close(fd);
        return wd;
    }
    struct wdir *d = dir_find(w, wd);
    if (d) {
        if (d->gen == w->gen) { /* seen in this walk: a loop through a bind mount */
            sp_close(fd);
            return wd;
        }
        d->gen = w->gen;
    } else if (dir_insert(w, wd, rel) < 0) {
        inotify_rm_watch(w->io.fd, wd);
        sp_close(fd);
        return -ENOMEM;
    }
    if (!w->recursive || depth >= FSROOT_MAX_DEPTH) {
        sp_close(fd);
        return wd;
    }
    int lfd = fd, fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_PATH)) {
        lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        sp_close(fd);
        if (lfd < 0) return wd; /* not readable: watched, but nothing below it */
    }
    DIR *dir = fdopendir(lfd);
    if (!dir) {
        sp_close(lfd);
        return wd;
    }
    struct dirent *de;
    char crel[PATH_MAX];
    while (w->io.fd >= 0 && (de = readdir(dir))) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        bool is_dir = de->d_type == DT_DIR;
        struct stat st;
        if (de->d_type == DT_UNKNOWN && fstatat(lfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            is_dir = S_ISDIR(st.st_mode);
        if (!join(crel, sizeof(crel), rel, name)) continue;
        if (emit) send_event(w, "create", crel, is_dir);
        if (!is_dir) continue;
        int cfd = openat(lfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd >= 0) watch_tree(w, cfd, crel, depth + 1, emit);
    }
    closedir(dir);
    return wd;
}

static int depth_of(const char *rel)
{
    int n = *rel ? 1 : 0;
    for (; *rel; rel++)
        n += *rel == '/';
    return n;
}

/* A directory created or moved in at rel: watch it and what it already holds. */
static void watch_new_dir(struct watcher *w, const char *rel)
{
    char path[PATH_MAX];
    if (!join(path, sizeof(path), w->path_raw, rel)) return;
    struct fsroot_saved saved;
    if (act_enter(w, &saved) < 0) return;
    int fd = fsroot_openat(files_fsroot(w->api), path, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
    if (fd >= 0) watch_tree(w, fd, rel, depth_of(rel), true);
    act_leave(w, &saved);
}

/* After an overflow: walk the tree again for directories whose creation was lost. */
static void rewalk(struct watcher *w)
{
    struct fsroot_saved saved;
    if (act_enter(w, &saved) < 0) return;
    int fd = fsroot_openat(files_fsroot(w->api), w->path_raw, O_PATH | O_DIRECTORY, 0);
    if (fd >= 0) {
        w->gen++;
        watch_tree(w, fd, "", 0, false);
    }
    act_leave(w, &saved);
}

/* ---- lifetime ---- */

static void watcher_unlist(struct watcher *w)
{
    if (!w->listed) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        watchers = w->next;
    if (w->next) w->next->prev = w->prev;
    w->listed = false;
    n_watchers--;
}

/* Stops inotify and forgets the directories (the client is gone or the end was sent). */
static void watcher_stop(struct watcher *w)
{
    if (w->io.fd >= 0) {
        loop_io_stop(w->api->ctx.loop, &w->io);
        sp_close(w->io.fd);
        w->io.fd = -1;
    }
    for (size_t i = 0; i < w->n_dirs; i++)
        free(w->dirs[i].rel);
    free(w->dirs);
    w->dirs = NULL;
    w->n_dirs = w->cap_dirs = 0;
}

static void watcher_free(struct watcher *w)
{
    watcher_stop(w);
    watcher_unlist(w);
    sp_buf_free(&w->line);
    free(w->path_raw);
    free(w->path);
    free(w);
}

static void watcher_free_deferred(void *arg)
{
    watcher_free(arg);
}

/* The watched directory is gone: the last event, then the end of the stream. */
static void watcher_end(struct watcher *w, const char *reason)
{
    watcher_stop(w);
    if (w->dropping) {
        w->dropping = false;
        send_overflow(w);
    }
    send_simple(w, "end", "reason", reason);
    if (w->ws) {
        ws_close(w->ws, 1000, reason); /* on_close frees */
        return;
    }
    if (!w->req) return; /* gone: on_abort frees */
    struct http_request *req = w->req;
    req->on_abort = NULL;
    req->on_drain = NULL;
    req->data = NULL;
    w->req = NULL;
    http_stream_end(req);
    watcher_unlist(w);
    /* from the io callback: free after the batch */
    if (loop_defer(w->api->ctx.loop, watcher_free_deferred, w) < 0)
        sp_error("files watch: leaking a watcher (out of memory)");
}

/* ---- inotify events ---- */

/* Handles one event; prev is the previous event of the same read (NULL for the first). */
static void handle_event(struct watcher *w, const struct inotify_event *ev,
                         const struct inotify_event *prev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        send_overflow(w);
        if (w->recursive) rewalk(w);
        return;
    }
    struct wdir *d = dir_find(w, ev->wd);
    if (!d) return; /* a watch we removed */
    bool top = ev->wd == w->top_wd;
    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) {
        if (top) {
            watcher_end(w, ev->mask & IN_DELETE_SELF ? "deleted"
                           : ev->mask & IN_MOVE_SELF ? "moved"
                           : ev->mask & IN_UNMOUNT   ? "unmounted"
                                                     : "unwatched");
        } else if (ev->mask & IN_IGNORED) {
            dir_remove(w, ev->wd);
        } else if (ev->mask & IN_MOVE_SELF) {
            char rel[PATH_MAX];
            snprintf(rel, sizeof(rel), "%s", d->rel);
            dir_forget_tree(w, rel);
        }
        return;
    }
    char rel[PATH_MAX];
    bool is_dir = ev->mask & IN_ISDIR;
    if (ev->len == 0) { /* on the directory itself: its parent reports it, but P has none */
        if (top && (ev->mask & IN_ATTRIB)) send_event(w, "chmod", "", true);
        return;
    }
    if (!join(rel, sizeof(rel), d->rel, ev->name)) return;
    d = NULL; /* the map may change below */
    if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
        send_event(w, "create", rel, is_dir);
        if (is_dir && w->recursive) watch_new_dir(w, rel);
    } else if (ev->mask & IN_MOVED_FROM) {
        send_event(w, "rename", rel, is_dir);
        if (is_dir && w->recursive) dir_forget_tree(w, rel);
    } else if (ev->mask & IN_DELETE) {
        send_event(w, "remove", rel, is_dir);
    } else if (ev->mask & IN_MODIFY) {
        if (prev && prev->wd == ev->wd && prev->mask == ev->mask && prev->len &&
            strcmp(prev->name, ev->name) == 0)
            return; /* the same write again */
        send_event(w, "write", rel, is_dir);
    } else if (ev->mask & IN_ATTRIB) {
        send_event(w, "chmod", rel, is_dir);
    }
}

static void watch_io_cb(struct loop_io *io, uint32_t events)
{
    struct watcher *w = SP_CONTAINER_OF(io, struct watcher, io);
    static alignas(struct inotify_event) char buf[64 * 1024];
    (void)events;
    for (int round = 0; round < WATCH_READS && w->io.fd >= 0; round++) {
        ssize_t n = read(w->io.fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            sp_warn("files watch %s: inotify read: %s", w->path, n < 0 ? strerror(errno) : "EOF");
            watcher_end(w, "error");
            return;
        }
        const struct inotify_event *prev = NULL;
        for (char *p = buf; p < buf + n && w->io.fd >= 0;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            handle_event(w, ev, prev);
            prev = ev;
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* ---- transports ---- */

static void http_abort(struct http_request *req)
{
    struct watcher *w = req->data;
    w->req = NULL;
    watcher_free(w);
}

static void http_drain(struct http_request *req)
{
    watcher_drained(req->data);
}

static void ws_on_drain(struct ws_conn *ws)
{
    watcher_drained(ws_data(ws));
}

static void ws_on_close(struct ws_conn *ws, int code)
{
    struct watcher *w = ws_data(ws);
    (void)code;
    w->ws = NULL;
    watcher_free(w);
}

static void ws_on_message(struct ws_conn *ws, enum ws_opcode op, const char *data, size_t len)
{
    (void)ws, (void)op, (void)data, (void)len; /* nothing to say to us */
}

static const struct ws_handlers watch_ws_handlers = {
    .on_message = ws_on_message,
    .on_drain = ws_on_drain,
    .on_close = ws_on_close,
};

/* ---- the route ---- */

static void respond_watch_error(struct http_request *req, int r, const char *path)
{
    switch (-r) {
    case ENOTDIR:
        http_respond_error(req, 400, "not_a_directory", "path '%s' is not a directory", path);
        return;
    case ENOSPC:
        http_respond_error(req, 503, "unavailable",
                           "the kernel's limit of inotify watches was reached");
        return;
    case EMFILE:
    case ENFILE: http_respond_error(req, 503, "unavailable", "inotify: %s", strerror(-r)); return;
    default: files_respond_error(req, r, path); return; /* as every file route */
    }
}

/* Query parameters into w; -1 after answering. */
static int parse_query(struct api *a, struct http_request *req, struct watcher *w)
{
    char path[PATH_MAX + 2], clean[PATH_MAX], rec[16], user[256];
    const char *p = http_query_get(req, "path", path, sizeof(path));
    if (!p || !*p) {
        http_respond_error(req, 400, "bad_request", "path: a query parameter is required");
        return -1;
    }
    if (strlen(p) >= PATH_MAX || !clean_path(p, clean, sizeof(clean))) {
        http_respond_error(req, 400, "bad_request", "path is too long");
        return -1;
    }
    const char *r = http_query_get(req, "recursive", rec, sizeof(rec));
    if (r && *r && strcmp(r, "true") != 0 && strcmp(r, "1") != 0 && strcmp(r, "false") != 0 &&
        strcmp(r, "0") != 0) {
        http_respond_error(req, 400, "bad_request", "recursive: expected true or false");
        return -1;
    }
    w->recursive = r && (strcmp(r, "true") == 0 || strcmp(r, "1") == 0);
    const char *u = http_query_get(req, "user", user, sizeof(user));
    if (!u || !*u) u = http_query_get(req, "username", user, sizeof(user));
    if (u && *u) {
        struct user_ids ids;
        struct sp_err err = {0};
        if (users_lookup(files_root_dir(a), u, &ids, &err) < 0) {
            http_respond_error(req, 400, "bad_request", "%s", err.msg);
            return -1;
        }
        w->act = true;
        w->cred.uid = ids.uid;
        w->cred.gid = ids.gid;
        w->cred.n_groups = ids.n_groups < FSROOT_MAX_GROUPS ? ids.n_groups : FSROOT_MAX_GROUPS;
        memcpy(w->cred.groups, ids.groups, w->cred.n_groups * sizeof(gid_t));
    }
    w->path_raw = strdup(p);
    w->path = strdup(clean);
    if (!w->path_raw || !w->path) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return -1;
    }
    return 0;
}

/* Opens P, watches it (and the tree when recursive); 0 or -errno. */
static int watch_start(struct watcher *w)
{
    struct fsroot_saved saved;
    int r = act_enter(w, &saved);
    if (r < 0) return r;
    int fd = fsroot_openat(files_fsroot(w->api), w->path_raw, O_PATH | O_DIRECTORY, 0);
    if (fd < 0) {
        act_leave(w, &saved);
        return fd;
    }
    r = watch_tree(w, fd, "", 0, false);
    act_leave(w, &saved);
    if (r < 0) return r;
    w->top_wd = r;
    return 0;
}

void h_files_watch(struct api *a, struct http_request *req)
{
    if (n_watchers >= WATCH_MAX) {
        http_respond_error(req, 429, "too_many_watchers", "at most %d watchers at once", WATCH_MAX);
        return;
    }
    struct watcher *w = calloc(1, sizeof(*w));
    if (!w) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    w->api = a;
    loop_io_init(&w->io, -1, watch_io_cb);
    if (parse_query(a, req, w) < 0) {
        watcher_free(w);
        return;
    }
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        respond_watch_error(req, -errno, w->path);
        watcher_free(w);
        return;
    }
    w->io.fd = fd;
    int r = watch_start(w);
    if (r == 0) r = loop_io_start(a->ctx.loop, &w->io, EPOLLIN);
    if (r < 0) {
        respond_watch_error(req, r, w->path);
        watcher_free(w);
        return;
    }
    w->next = watchers;
    if (watchers) watchers->prev = w;
    watchers = w;
    w->listed = true;
    n_watchers++;

    if (http_header_get(req, "Upgrade")) {
        if (ws_accept(req, a->ctx.loop, &watch_ws_handlers, w, &w->ws) < 0) {
            watcher_free(w);
            return;
        }
    } else {
        w->req = req;
        req->data = w;
        req->on_abort = http_abort;
        req->on_drain = http_drain;
        http_stream_begin(req, 200, "application/x-ndjson", "Cache-Control: no-store\r\n");
    }
    w->started = true;
    send_simple(w, "start", "path", w->path);
    if (w->pending_error) send_simple(w, "error", "message", w->pending_error);
}

void watch_free_all(struct api *a)
{
    /* The server is gone: every client's on_abort / on_close has run. Free what is left. */
    struct watcher *w = watchers;
    while (w) {
        struct watcher *next = w->next;
        if (w->api == a) watcher_free(w);
        w = next;
    }
}
