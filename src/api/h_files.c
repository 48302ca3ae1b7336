/* SPDX-License-Identifier: MIT */
/*
 * Files of the environment (wrenn's /v1/files routes): read, write, list, stat, mkdir, move and
 * remove. Every path is a client path resolved inside the environment's root by fsroot (the
 * kernel's RESOLVE_IN_ROOT): "..", absolute symlinks and symlinks pointing out never leave it.
 *
 * A "user" field (a name, uid or uid:gid of the root's passwd) makes the operation run with that
 * user's file-system identity: what they cannot read is a 403, what they create is theirs.
 *
 * Reads send the file with sendfile (Content-Length, no copy); writes stream the request body into
 * a temp file next to the target and rename it over the target at the end (fsync first), so a
 * failed or cut upload leaves the old file as it was. File work runs on the loop thread for now
 * (page-cache speed; DESIGN wants a worker pool for slow disks).
 */
#include <errno.h>
#include <stdarg.h>
#include <strings.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../os/fsroot.h"
#include "../os/users.h"
#include "api_internal.h"
#include "multipart.h"

#define LIST_MAX_ENTRIES 100000
#define LIST_MAX_DEPTH   64

struct files {
    struct fsroot root;
    char *root_dir;
    struct loop *loop;
};

/* ---- helpers ---- */

/* Answers an errno from a file operation on path. */
void files_respond_error(struct http_request *req, int r, const char *path)
{
    switch (-r) {
    case ENOENT:
        http_respond_error(req, 404, "not_found", "path '%s' does not exist", path);
        return;
    case EACCES:
    case EPERM: http_respond_error(req, 403, "forbidden", "%s: permission denied", path); return;
    case ELOOP:
    case EXDEV:
        http_respond_error(req, 403, "forbidden", "%s: the path leaves the environment", path);
        return;
    case EISDIR:
        http_respond_error(req, 400, "is_a_directory", "path '%s' is a directory", path);
        return;
    case ENOTDIR:
        http_respond_error(req, 400, "not_a_directory", "%s: a component is not a directory", path);
        return;
    case EEXIST:
        http_respond_error(req, 409, "already_exists", "path '%s' already exists", path);
        return;
    case ENOTEMPTY:
        http_respond_error(req, 409, "not_empty", "directory '%s' is not empty", path);
        return;
    case EBUSY:
        http_respond_error(req, 400, "bad_request", "%s: the root cannot be changed", path);
        return;
    case EINVAL:
        http_respond_error(req, 400, "bad_request", "%s: not a valid path for this", path);
        return;
    case ENAMETOOLONG: http_respond_error(req, 400, "bad_request", "path is too long"); return;
    case ENOSPC:
    case EDQUOT:
        http_respond_error(req, 507, "no_space", "not enough disk space available");
        return;
    case E2BIG:
        http_respond_error(req, 413, "too_many_entries", "more than %d entries", LIST_MAX_ENTRIES);
        return;
    case ENOMEM: http_respond_error(req, 503, "out_of_memory", "out of memory"); return;
    default: http_respond_error(req, 500, "io_error", "%s: %s", path, strerror(-r)); return;
    }
}

static void iso_ns(const struct timespec *ts, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec);
}

/* Go's FileMode.String(), as envd shows it: "drwxr-xr-x", "-rw-r--r--", "Lrwxrwxrwx". */
static void mode_string(mode_t m, char out[12])
{
    char t = S_ISDIR(m)    ? 'd'
             : S_ISLNK(m)  ? 'L'
             : S_ISFIFO(m) ? 'p'
             : S_ISSOCK(m) ? 'S'
             : S_ISCHR(m)  ? 'c'
             : S_ISBLK(m)  ? 'D'
                           : '-';
    static const char rwx[] = "rwxrwxrwx";
    out[0] = t;
    for (int i = 0; i < 9; i++)
        out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
    out[10] = 0;
}

static const char *type_name(mode_t m)
{
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : "other";
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Owner and group names of the last entry: a listing asks passwd and group once per owner, not
 * twice per entry. */
struct names {
    bool have;
    uid_t uid;
    gid_t gid;
    char owner[64], group[64];
};

static json_t *entry_json(struct files *f, struct names *nc, const char *path, const char *name,
                          const struct stat *st, const char *target)
{
    char mtime[48], perms[12];
    iso_ns(&st->st_mtim, mtime, sizeof(mtime));
    mode_string(st->st_mode, perms);
    if (!nc->have || nc->uid != st->st_uid)
        users_uid_name(f->root_dir, st->st_uid, nc->owner, sizeof(nc->owner));
    if (!nc->have || nc->gid != st->st_gid)
        users_gid_name(f->root_dir, st->st_gid, nc->group, sizeof(nc->group));
    nc->have = true;
    nc->uid = st->st_uid;
    nc->gid = st->st_gid;
    json_t *e = json_pack("{s:s,s:s,s:s,s:I,s:i,s:s,s:s,s:s,s:s}", "name", name, "path", path,
                          "type", type_name(st->st_mode), "size", (json_int_t)st->st_size, "mode",
                          (int)(st->st_mode & 07777), "permissions", perms, "owner", nc->owner,
                          "group", nc->group, "modified_time", mtime);
    if (e && target) json_object_set_new(e, "symlink_target", json_string(target));
    return e;
}

/* The entry for path as it is now (lstat), for answers of mkdir/move/write/stat. */
static json_t *stat_entry(struct files *f, const char *path, int *err)
{
    struct stat st;
    char target[PATH_MAX];
    target[0] = 0;
    int r = fsroot_stat(&f->root, path, false, &st, target, sizeof(target));
    if (r < 0) {
        *err = r;
        return NULL;
    }
    const char *name = base_name(path);
    struct names nc = {0};
    return entry_json(f, &nc, path, *name ? name : "/", &st, S_ISLNK(st.st_mode) ? target : NULL);
}

/* A request's acting user: none (the daemon's rights) or a user of the root's passwd. */
struct acting {
    bool set;
    struct fsroot_cred cred;
    struct fsroot_saved saved;
};

/* Reads "user" (JSON field or query parameter); -1 after answering. */
static int parse_user(struct files *f, struct http_request *req, const char *user,
                      struct acting *as)
{
    as->set = false;
    if (!user || !*user) return 0;
    struct user_ids ids;
    struct sp_err err = {0};
    if (users_lookup(f->root_dir, user, &ids, &err) < 0) {
        http_respond_error(req, 400, "bad_request", "%s", err.msg);
        return -1;
    }
    as->set = true;
    as->cred.uid = ids.uid;
    as->cred.gid = ids.gid;
    as->cred.n_groups = ids.n_groups < 64 ? ids.n_groups : 64;
    memcpy(as->cred.groups, ids.groups, as->cred.n_groups * sizeof(gid_t));
    return 0;
}

static int act_enter(struct acting *as)
{
    return as->set ? fsroot_cred_enter(&as->cred, &as->saved) : 0;
}

static void act_leave(struct acting *as)
{
    if (as->set) fsroot_cred_leave(&as->saved);
}

/* The JSON body and its "path"-like string field; -1 after answering. */
static int body_path(struct http_request *req, json_t **o, const char *key, const char **path)
{
    if (api_json_body(req, o) < 0) return -1;
    json_t *v = json_object_get(*o, key);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        http_respond_error(req, 400, "bad_request", "%s: a non-empty string is required", key);
        json_decref(*o);
        return -1;
    }
    if (json_string_length(v) >= PATH_MAX) {
        http_respond_error(req, 400, "bad_request", "%s: longer than %d bytes", key, PATH_MAX - 1);
        json_decref(*o);
        return -1;
    }
    *path = json_string_value(v);
    return 0;
}

static int body_user(struct files *f, struct http_request *req, json_t *o, struct acting *as)
{
    json_t *u = json_object_get(o, "user");
    if (!u) u = json_object_get(o, "username");
    if (u && !json_is_string(u) && !json_is_null(u)) {
        http_respond_error(req, 400, "bad_request", "user: expected a string");
        return -1;
    }
    return parse_user(f, req, json_is_string(u) ? json_string_value(u) : NULL, as);
}

static int body_bool(struct http_request *req, json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    *out = json_is_true(v);
    if (v && !json_is_boolean(v) && !json_is_null(v)) {
        http_respond_error(req, 400, "bad_request", "%s: expected true or false", key);
        return -1;
    }
    return 0;
}

/* ---- read ---- */

/* Opens a regular file for reading. O_NONBLOCK for the open itself: a FIFO without a writer or
 * a device must never block the loop (they are refused right after). -EISDIR for a directory,
 * -EINVAL for anything else that is not a regular file. */
static int open_regular(const struct fsroot *root, const char *path)
{
    int fd = fsroot_openat(root, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
    if (fd < 0) return fd;
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) < 0)
        e = -errno;
    else if (S_ISDIR(st.st_mode))
        e = -EISDIR;
    else if (!S_ISREG(st.st_mode))
        e = -EINVAL;
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
        e = -errno;
    if (e < 0) {
        sp_close(fd);
        return e;
    }
    return fd;
}

static void files_read(struct files *f, struct http_request *req)
{
    json_t *o;
    const char *path;
    struct acting as;
    if (body_path(req, &o, "path", &path) < 0) return;
    if (body_user(f, req, o, &as) < 0) goto out;
    int r = act_enter(&as);
    int fd = r < 0 ? r : open_regular(&f->root, path);
    act_leave(&as);
    if (fd < 0) {
        files_respond_error(req, fd, path);
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        sp_close(fd);
        files_respond_error(req, e, path);
        goto out;
    }
    char hdr[512], name[256];
    snprintf(name, sizeof(name), "%s", base_name(path));
    for (char *c = name; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '_';
    snprintf(hdr, sizeof(hdr), "Content-Disposition: attachment; filename=\"%s\"\r\n", name);
    /* Content-Length, and the bytes go from the page cache to the socket (sendfile) */
    http_respond_fd(req, 200, "application/octet-stream", hdr, fd, 0, (uint64_t)st.st_size);
out:
    json_decref(o);
}

/* ---- write (a streamed body) ---- */

#define WRITEBACK_STEP (8 << 20)

/* A temp file being uploaded grew from `before` to `after` bytes. Each time it passes a multiple
 * of WRITEBACK_STEP, the disk write of the step before is started (sync_file_range,
 * asynchronous), so the disk works while the network does and the fsync at commit finds little
 * left. */
static void writeback_hint(int fd, uint64_t before, uint64_t after)
{
    if (after / WRITEBACK_STEP == before / WRITEBACK_STEP) return;
    uint64_t from = before / WRITEBACK_STEP * WRITEBACK_STEP;
    uint64_t end = after / WRITEBACK_STEP * WRITEBACK_STEP;
    (void)sync_file_range(fd, (off_t)from, (off_t)(end - from), SYNC_FILE_RANGE_WRITE);
}

/* n bytes were just written at fd's offset. */
static void writeback_grew(int fd, uint64_t n)
{
    off_t end = lseek(fd, 0, SEEK_CUR);
    if (end >= 0 && (uint64_t)end >= n) writeback_hint(fd, (uint64_t)end - n, (uint64_t)end);
}

/* Writes all of d to fd (a temp file being uploaded, written in order). 0 / -errno. */
static int file_write(int fd, const char *d, size_t n)
{
    int e = sp_write_all(fd, d, n);
    if (e == 0) writeback_grew(fd, n);
    return e;
}

struct file_writer {
    struct files *f;
    struct fsroot_tmp tmp;
    char path[PATH_MAX];
    struct acting as;
};

static void writer_abort(struct http_request *req)
{
    struct file_writer *w = req->data;
    fsroot_tmp_abort(&w->tmp);
    free(w);
}

static int writer_fail(struct http_request *req, int e)
{
    struct file_writer *w = req->data;
    req->on_abort = NULL;
    req->data = NULL;
    fsroot_tmp_abort(&w->tmp);
    files_respond_error(req, e, w->path);
    free(w);
    return -1;
}

static int writer_data(struct http_request *req, const char *data, size_t len)
{
    struct file_writer *w = req->data;
    int e = file_write(w->tmp.fd, data, len);
    if (e < 0) return writer_fail(req, e);
    return 0;
}

/* The body's bytes went from the socket into the temp file (http_body_to_fd). */
static int writer_sunk(struct http_request *req, long n)
{
    struct file_writer *w = req->data;
    if (n < 0) return writer_fail(req, (int)n);
    writeback_grew(w->tmp.fd, (uint64_t)n);
    return 0;
}

static void writer_end(struct http_request *req)
{
    struct file_writer *w = req->data;
    req->on_abort = NULL;
    req->data = NULL;
    int r = act_enter(&w->as);
    if (r == 0)
        r = fsroot_tmp_commit(&w->tmp);
    else
        fsroot_tmp_abort(&w->tmp);
    act_leave(&w->as);
    if (r < 0) {
        files_respond_error(req, r, w->path);
    } else {
        int e = 0;
        json_t *entry = stat_entry(w->f, w->path, &e);
        if (entry)
            api_respond_json(req, 200, entry);
        else
            files_respond_error(req, e, w->path);
    }
    free(w);
}

/* PUT /v1/files/write?path=&user= : the raw body is the file. */
static void files_write_raw(struct files *f, struct http_request *req)
{
    char path[PATH_MAX], user[256];
    const char *p = http_query_get(req, "path", path, sizeof(path));
    if (!p || !*p) {
        http_respond_error(req, 400, "bad_request", "path: a query parameter is required");
        return;
    }
    struct file_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    w->f = f;
    snprintf(w->path, sizeof(w->path), "%s", p);
    if (parse_user(f, req, http_query_get(req, "user", user, sizeof(user)), &w->as) < 0) {
        free(w);
        return;
    }
    int r = act_enter(&w->as);
    if (r == 0) r = fsroot_tmp_create(&f->root, w->path, 0644, true, &w->tmp);
    act_leave(&w->as);
    if (r < 0) {
        files_respond_error(req, r, w->path);
        free(w);
        return;
    }
    req->data = w;
    req->on_abort = writer_abort;
    req->on_body = writer_data;
    req->on_body_end = writer_end;
    /* a body that was empty (Content-Length: 0) never streams: it ends now */
    const char *cl = http_header_get(req, "Content-Length");
    if (!http_header_get(req, "Transfer-Encoding") && (!cl || strtoull(cl, NULL, 10) == 0)) {
        writer_end(req);
        return;
    }
    /* a body of known length goes from the socket to the file without a copy through here
     * (a chunked one, -ENOTSUP, keeps coming through writer_data) */
    (void)http_body_to_fd(req, w->tmp.fd, writer_sunk);
}

/* POST /v1/files/write and /v1/files/stream/write: multipart/form-data with a "path" field
 * (or ?path=) and a "file" part, streamed into the file as it arrives. The path must come
 * before the file (the bytes have nowhere to go otherwise). */
struct mp_writer {
    struct files *f;
    struct http_request *req;
    struct mp_parser mp;
    struct acting as;
    char path[PATH_MAX];
    size_t path_len;
    enum { MW_NONE, MW_PATH, MW_FILE, MW_OTHER } part;
    bool have_tmp, file_done;
    struct fsroot_tmp tmp;
    int err;             /* a failure to answer with (-errno) */
    const char *err_msg; /* or a 400 with this text */
};

static void mw_free(struct mp_writer *w)
{
    if (w->have_tmp) fsroot_tmp_abort(&w->tmp);
    mp_free(&w->mp);
    free(w);
}

static int mw_part(void *ud, const char *name, const char *filename)
{
    struct mp_writer *w = ud;
    (void)filename;
    if (strcmp(name, "path") == 0 && !w->have_tmp) {
        w->part = MW_PATH;
        w->path_len = 0;
        return 0;
    }
    if (strcmp(name, "file") != 0) {
        w->part = MW_OTHER;
        return 0;
    }
    if (w->have_tmp || w->file_done) {
        w->err_msg = "only one \"file\" part is taken";
        return -1;
    }
    if (!w->path[0]) {
        w->err_msg = "a \"path\" field (or ?path=) must come before the \"file\" part";
        return -1;
    }
    int r = act_enter(&w->as);
    if (r == 0) r = fsroot_tmp_create(&w->f->root, w->path, 0644, true, &w->tmp);
    act_leave(&w->as);
    if (r < 0) {
        w->err = r;
        return -1;
    }
    w->have_tmp = true;
    w->part = MW_FILE;
    return 0;
}

static int mw_data(void *ud, const char *d, size_t n)
{
    struct mp_writer *w = ud;
    if (w->part == MW_PATH) {
        if (w->path_len + n >= sizeof(w->path)) {
            w->err_msg = "path: too long";
            return -1;
        }
        memcpy(w->path + w->path_len, d, n);
        w->path_len += n;
        w->path[w->path_len] = 0;
        return 0;
    }
    if (w->part != MW_FILE) return 0;
    int e = file_write(w->tmp.fd, d, n);
    if (e < 0) {
        w->err = e;
        return -1;
    }
    return 0;
}

static int mw_part_end(void *ud)
{
    struct mp_writer *w = ud;
    if (w->part == MW_FILE) w->file_done = true;
    w->part = MW_NONE;
    return 0;
}

static const struct mp_callbacks mw_callbacks = {mw_part, mw_data, mw_part_end};

/* Answers the failure the parser or a callback left, and forgets the request. */
static void mw_fail(struct http_request *req, struct mp_writer *w, int r)
{
    req->on_abort = NULL;
    req->data = NULL;
    if (w->have_tmp) { /* gone before the client hears the answer */
        fsroot_tmp_abort(&w->tmp);
        w->have_tmp = false;
    }
    if (w->err)
        files_respond_error(req, w->err, w->path[0] ? w->path : "(no path)");
    else if (w->err_msg)
        http_respond_error(req, 400, "bad_request", "%s", w->err_msg);
    else if (r == -ENOMEM)
        http_respond_error(req, 503, "out_of_memory", "out of memory");
    else
        http_respond_error(req, 400, "bad_request", "%s", w->mp.error);
    mw_free(w);
}

static int mw_body(struct http_request *req, const char *data, size_t len)
{
    struct mp_writer *w = req->data;
    int r = mp_feed(&w->mp, data, len);
    if (r < 0) {
        mw_fail(req, w, r);
        return -1;
    }
    return 0;
}

static void mw_end(struct http_request *req)
{
    struct mp_writer *w = req->data;
    int r = mp_finish(&w->mp);
    if (r == 0 && !w->file_done) {
        w->err_msg = "no \"file\" part";
        r = -EINVAL;
    }
    if (r < 0) {
        mw_fail(req, w, r);
        return;
    }
    req->on_abort = NULL;
    req->data = NULL;
    r = act_enter(&w->as);
    if (r == 0)
        r = fsroot_tmp_commit(&w->tmp);
    else
        fsroot_tmp_abort(&w->tmp);
    act_leave(&w->as);
    w->have_tmp = false;
    if (r < 0) {
        files_respond_error(req, r, w->path);
    } else {
        int e = 0;
        json_t *entry = stat_entry(w->f, w->path, &e);
        if (entry)
            api_respond_json(req, 200, entry);
        else
            files_respond_error(req, e, w->path);
    }
    mw_free(w);
}

static void mw_abort(struct http_request *req)
{
    mw_free(req->data);
}

void h_files_write_multipart(struct api *a, struct http_request *req)
{
    struct files *f = a->files;
    struct mp_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    w->f = f;
    w->req = req;
    if (mp_init(&w->mp, http_header_get(req, "Content-Type"), &mw_callbacks, w) < 0) {
        mw_free(w);
        http_respond_error(req, 400, "bad_request",
                           "expected a multipart/form-data body with a boundary");
        return;
    }
    char user[256];
    if (parse_user(f, req, http_query_get(req, "user", user, sizeof(user)), &w->as) < 0) {
        mw_free(w);
        return;
    }
    http_query_get(req, "path", w->path, sizeof(w->path));
    req->data = w;
    req->on_abort = mw_abort;
    req->on_body = mw_body;
    req->on_body_end = mw_end;
    const char *cl = http_header_get(req, "Content-Length");
    if (!http_header_get(req, "Transfer-Encoding") && (!cl || strtoull(cl, NULL, 10) == 0))
        mw_end(req); /* no body at all */
}

/* ---- list, stat, mkdir, move, remove ---- */

struct lister {
    struct files *f;
    json_t *entries;
    struct names names;
};

static int list_cb(void *ud, const char *path, const char *name, const struct stat *st, int depth)
{
    struct lister *l = ud;
    (void)depth;
    char target[PATH_MAX];
    const char *t = NULL;
    if (S_ISLNK(st->st_mode) &&
        fsroot_stat(&l->f->root, path, false, &(struct stat){0}, target, sizeof(target)) == 0)
        t = target;
    json_t *e = entry_json(l->f, &l->names, path, name, st, t);
    if (!e || json_array_append_new(l->entries, e) < 0) return -ENOMEM;
    return 0;
}

static void files_list(struct files *f, struct http_request *req)
{
    json_t *o;
    const char *path;
    struct acting as;
    if (body_path(req, &o, "path", &path) < 0) return;
    if (body_user(f, req, o, &as) < 0) goto out;
    json_t *d = json_object_get(o, "depth");
    json_int_t depth = 1;
    if (d && !json_is_null(d)) {
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            json_integer_value(d) > LIST_MAX_DEPTH) {
            http_respond_error(req, 400, "bad_request", "depth: an integer from 0 to %d",
                               LIST_MAX_DEPTH);
            goto out;
        }
        depth = json_integer_value(d) ? json_integer_value(d) : 1;
    }
    struct lister l = {.f = f, .entries = json_array()};
    int r = act_enter(&as);
    if (r == 0) r = fsroot_list(&f->root, path, (int)depth, LIST_MAX_ENTRIES, list_cb, &l);
    act_leave(&as);
    if (r < 0) {
        json_decref(l.entries);
        files_respond_error(req, r, path);
        goto out;
    }
    api_respond_json(req, 200, json_pack("{s:o}", "entries", l.entries));
out:
    json_decref(o);
}

static void files_stat(struct files *f, struct http_request *req)
{
    json_t *o;
    const char *path;
    struct acting as;
    if (body_path(req, &o, "path", &path) < 0) return;
    if (body_user(f, req, o, &as) < 0) goto out;
    int r = act_enter(&as), e = 0;
    json_t *entry = r < 0 ? NULL : stat_entry(f, path, &e);
    act_leave(&as);
    if (!entry)
        files_respond_error(req, r < 0 ? r : e, path);
    else
        api_respond_json(req, 200, entry);
out:
    json_decref(o);
}

static void files_mkdir(struct files *f, struct http_request *req)
{
    json_t *o;
    const char *path;
    struct acting as;
    bool parents;
    if (body_path(req, &o, "path", &path) < 0) return;
    if (body_user(f, req, o, &as) < 0 || body_bool(req, o, "parents", &parents) < 0) goto out;
    int r = act_enter(&as), e = 0;
    if (r == 0) r = fsroot_mkdir(&f->root, path, 0755, parents);
    json_t *entry = r < 0 ? NULL : stat_entry(f, path, &e);
    act_leave(&as);
    if (r < 0 || !entry)
        files_respond_error(req, r < 0 ? r : e, path);
    else
        api_respond_json(req, 200, entry);
out:
    json_decref(o);
}

static void files_move(struct files *f, struct http_request *req)
{
    json_t *o;
    const char *src;
    struct acting as;
    if (body_path(req, &o, "source", &src) < 0) return;
    json_t *dv = json_object_get(o, "destination");
    if (!json_is_string(dv) || json_string_length(dv) == 0 || json_string_length(dv) >= PATH_MAX) {
        http_respond_error(req, 400, "bad_request", "destination: a non-empty path is required");
        goto out;
    }
    const char *dst = json_string_value(dv);
    if (body_user(f, req, o, &as) < 0) goto out;
    int r = act_enter(&as), e = 0;
    if (r == 0) r = fsroot_rename(&f->root, src, dst, true);
    json_t *entry = r < 0 ? NULL : stat_entry(f, dst, &e);
    act_leave(&as);
    if (r < 0 || !entry)
        files_respond_error(req, r < 0 ? r : e, r < 0 ? src : dst);
    else
        api_respond_json(req, 200, entry);
out:
    json_decref(o);
}

static void files_remove(struct files *f, struct http_request *req)
{
    json_t *o;
    const char *path;
    struct acting as;
    bool recursive;
    if (body_path(req, &o, "path", &path) < 0) return;
    if (body_user(f, req, o, &as) < 0 || body_bool(req, o, "recursive", &recursive) < 0) goto out;
    int r = act_enter(&as);
    if (r == 0) r = fsroot_remove(&f->root, path, recursive);
    act_leave(&as);
    if (r < 0)
        files_respond_error(req, r, path);
    else
        api_respond_json(req, 200, json_pack("{s:s,s:b}", "path", path, "removed", 1));
out:
    json_decref(o);
}

/* ---- envd's /files ---- */

#define ENVD_MAX_FILES 64 /* file parts in one upload */

/* envd's error shape: {"code":<status>,"message":…}. */
static void envd_error(struct http_request *req, int status, const char *fmt, ...) SP_PRINTF(3, 4);
static void envd_error(struct http_request *req, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *text = json_dumps(json_pack("{s:i,s:s}", "code", status, "message", msg), JSON_COMPACT);
    if (!text) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    http_respond(req, status, "application/json; charset=utf-8",
                 "X-Content-Type-Options: nosniff\r\n", text, strlen(text));
    free(text);
}

static void envd_fs_error(struct http_request *req, int r, const char *path)
{
    switch (-r) {
    case ENOENT: envd_error(req, 404, "path '%s' does not exist", path); return;
    case EISDIR: envd_error(req, 400, "path '%s' is a directory", path); return;
    case ENOTDIR: envd_error(req, 400, "path '%s' is not a valid path", path); return;
    case EACCES:
    case EPERM:
    case ELOOP:
    case EXDEV: envd_error(req, 403, "permission denied for path '%s'", path); return;
    case ENOSPC:
    case EDQUOT: envd_error(req, 507, "not enough disk space available"); return;
    case ENAMETOOLONG:
    case EINVAL: envd_error(req, 400, "path '%s' is not a valid path", path); return;
    default: envd_error(req, 500, "error handling '%s': %s", path, strerror(-r)); return;
    }
}

/* ?username= (envd) or ?user=: the acting user and their home (relative paths live there). */
static int envd_user(struct files *f, struct http_request *req, struct acting *as, char *home,
                     size_t home_len)
{
    char user[256];
    const char *u = http_query_get(req, "username", user, sizeof(user));
    if (!u || !*u) u = http_query_get(req, "user", user, sizeof(user));
    as->set = false;
    snprintf(home, home_len, "/");
    if (!u || !*u) { /* the daemon's own identity */
        struct user_ids ids;
        struct sp_err err = {0};
        char uid[16];
        snprintf(uid, sizeof(uid), "%u", (unsigned)geteuid());
        if (users_lookup(f->root_dir, uid, &ids, &err) == 0 && ids.home[0])
            snprintf(home, home_len, "%s", ids.home);
        return 0;
    }
    struct user_ids ids;
    struct sp_err err = {0};
    if (users_lookup(f->root_dir, u, &ids, &err) < 0) {
        envd_error(req, 401, "error looking up user '%s': %s", u, err.msg);
        return -1;
    }
    as->set = true;
    as->cred.uid = ids.uid;
    as->cred.gid = ids.gid;
    as->cred.n_groups = ids.n_groups < 64 ? ids.n_groups : 64;
    memcpy(as->cred.groups, ids.groups, as->cred.n_groups * sizeof(gid_t));
    if (ids.home[0]) snprintf(home, home_len, "%s", ids.home);
    return 0;
}

/* A client path made absolute: relative ones are under home. */
static int envd_path(const char *p, const char *home, char *out, size_t len)
{
    int n = p[0] == '/' ? snprintf(out, len, "%s", p)
                        : snprintf(out, len, "%s/%s", strcmp(home, "/") ? home : "", p);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void http_date(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* A single "bytes=" range of a file of size n: 1 and [*off, *off + *len) when satisfiable, 0
 * when it should be ignored (absent, malformed, several ranges), -1 when unsatisfiable. */
static int parse_range(const char *h, uint64_t n, uint64_t *off, uint64_t *len)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',')) return 0;
    const char *s = h + 6;
    char *end;
    if (*s == '-') { /* the last N bytes */
        unsigned long long k = strtoull(s + 1, &end, 10);
        if (end == s + 1 || *end) return 0;
        if (k == 0 || n == 0) return -1;
        *len = k > n ? n : k;
        *off = n - *len;
        return 1;
    }
    if (*s < '0' || *s > '9') return 0;
    unsigned long long a = strtoull(s, &end, 10), b;
    if (*end != '-') return 0;
    const char *t = end + 1;
    if (!*t) {
        b = n ? n - 1 : 0;
    } else {
        if (*t < '0' || *t > '9') return 0;
        b = strtoull(t, &end, 10);
        if (*end || b < a) return 0;
        if (b >= n) b = n - 1;
    }
    if (a >= n) return -1;
    *off = a;
    *len = b - a + 1;
    return 1;
}

/* Accept-Encoding: 1 gzip, 0 identity, -1 neither is acceptable. gzip wins a tie: a client that
 * names it wants it. */
static int choose_encoding(const char *ae)
{
    if (!ae) return 0;
    double q_gzip = 0, q_id = 1, q_star = -1;
    bool id_named = false;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", ae);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        double q = 1;
        char *semi = strchr(tok, ';');
        if (semi) {
            *semi = 0;
            char *qp = strstr(semi + 1, "q=");
            if (qp) q = strtod(qp + 2, NULL);
        }
        size_t n = strcspn(tok, " \t");
        tok[n] = 0;
        if (strcasecmp(tok, "gzip") == 0 || strcasecmp(tok, "x-gzip") == 0)
            q_gzip = q;
        else if (strcasecmp(tok, "identity") == 0) {
            q_id = q;
            id_named = true;
        } else if (strcmp(tok, "*") == 0) {
            q_star = q;
        }
    }
    if (q_star >= 0) {
        if (q_gzip == 0 && !strcasestr(ae, "gzip")) q_gzip = q_star;
        if (!id_named) q_id = q_star > 0 ? q_id : 0;
    }
    if (q_gzip > 0 && q_gzip >= q_id) return 1;
    return q_id > 0 ? 0 : -1;
}

#define GZ_READS_PER_TURN 4 /* 256 KiB of input per loop turn: other clients get their turn */

struct gz_sender {
    int fd;
    z_stream z;
    bool eof;
    struct http_request *req;
    struct loop *loop;
    struct loop_timer yield; /* continues after the other clients' events */
    char in[64 * 1024];      /* deflate's input between two pumps */
};

static void gz_free(struct gz_sender *g)
{
    loop_timer_stop(g->loop, &g->yield);
    sp_close(g->fd);
    deflateEnd(&g->z);
    free(g);
}

static void gz_abort(struct http_request *req)
{
    gz_free(req->data);
}

static void gz_pump(struct http_request *req);

static void gz_continue(struct loop_timer *t)
{
    struct gz_sender *g = SP_CONTAINER_OF(t, struct gz_sender, yield);
    gz_pump(g->req);
}

static void gz_pump(struct http_request *req)
{
    struct gz_sender *g = req->data;
    char out[64 * 1024];
    int reads = 0;
    for (;;) {
        if (!g->z.avail_in && !g->eof) {
            if (reads++ == GZ_READS_PER_TURN) { /* yield: go on after the other events */
                loop_timer_start(g->loop, &g->yield, 0);
                return;
            }
            ssize_t n = read(g->fd, g->in, sizeof(g->in));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) sp_warn("files: read failed mid-stream: %s", strerror(errno));
            if (n <= 0) g->eof = true;
            g->z.next_in = (Bytef *)g->in;
            g->z.avail_in = n > 0 ? (uInt)n : 0;
        }
        g->z.next_out = (Bytef *)out;
        g->z.avail_out = sizeof(out);
        int zr = deflate(&g->z, g->eof ? Z_FINISH : Z_NO_FLUSH);
        size_t n = sizeof(out) - g->z.avail_out;
        long backlog = n ? http_stream_write(req, out, n) : 0;
        if (backlog < 0) return; /* gone: on_abort releases */
        if (zr == Z_STREAM_END) {
            req->on_abort = NULL;
            req->on_drain = NULL;
            req->data = NULL;
            gz_free(g);
            http_stream_end(req);
            return;
        }
        if (backlog > 1024 * 1024) return; /* on_drain continues */
    }
}

static void envd_download(struct files *f, struct http_request *req)
{
    char qpath[PATH_MAX], path[PATH_MAX], home[256];
    struct acting as;
    const char *q = http_query_get(req, "path", qpath, sizeof(qpath));
    if (envd_user(f, req, &as, home, sizeof(home)) < 0) return;
    if (!q || !*q) {
        envd_error(req, 400, "path is required");
        return;
    }
    if (envd_path(q, home, path, sizeof(path)) < 0) {
        envd_error(req, 400, "path '%s' is not a valid path", q);
        return;
    }
    int r = act_enter(&as);
    int fd = r < 0 ? r : open_regular(&f->root, path);
    act_leave(&as);
    if (fd < 0) {
        envd_fs_error(req, fd, path);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        sp_close(fd);
        envd_fs_error(req, e, path);
        return;
    }
    char lm[64], name[256], hdr[1024];
    http_date(st.st_mtim.tv_sec, lm, sizeof(lm));
    snprintf(name, sizeof(name), "%.200s", base_name(path));
    for (char *c = name; *c; c++)
        if (*c == '"' || *c == '\\' || *c == ';' || (unsigned char)*c < 0x20) *c = '_';
    int n = snprintf(hdr, sizeof(hdr),
                     "Content-Disposition: inline; filename=%s\r\nVary: Accept-Encoding\r\n"
                     "Accept-Ranges: bytes\r\nLast-Modified: %s\r\n",
                     name, lm);
    const char *ims = http_header_get(req, "If-Modified-Since");
    struct tm tm = {0};
    if (ims && !http_header_get(req, "Range") && strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm) &&
        st.st_mtim.tv_sec <= timegm(&tm)) {
        sp_close(fd);
        http_respond(req, 304, NULL, hdr, NULL, 0);
        return;
    }
    /* a conditional or partial request is answered in identity, like Go's ServeContent */
    int coding = 0;
    if (!http_header_get(req, "Range") && !http_header_get(req, "If-Range") &&
        !http_header_get(req, "If-None-Match"))
        coding = choose_encoding(http_header_get(req, "Accept-Encoding"));
    if (coding < 0) {
        sp_close(fd);
        envd_error(req, 406, "no acceptable encoding found, supported: [gzip]");
        return;
    }
    bool head = strcmp(req->method, "HEAD") == 0;
    if (coding == 1) {
        struct gz_sender *g = calloc(1, sizeof(*g));
        if (!g || deflateInit2(&g->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(g);
            sp_close(fd);
            envd_error(req, 503, "out of memory");
            return;
        }
        g->fd = fd;
        g->req = req;
        g->loop = f->loop;
        loop_timer_init(&g->yield, gz_continue);
        snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Content-Encoding: gzip\r\n");
        req->data = g;
        req->on_abort = gz_abort;
        req->on_drain = gz_pump;
        http_stream_begin(req, 200, "application/octet-stream", hdr);
        if (head) { /* headers only */
            req->on_abort = NULL;
            req->on_drain = NULL;
            req->data = NULL;
            gz_free(g);
            http_stream_end(req);
            return;
        }
        gz_pump(req);
        return;
    }
    uint64_t size = (uint64_t)st.st_size, off = 0, len = size;
    int rr = parse_range(http_header_get(req, "Range"), size, &off, &len);
    if (rr < 0) {
        sp_close(fd);
        snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Content-Range: bytes */%llu\r\n",
                 (unsigned long long)size);
        http_respond(req, 416, "text/plain; charset=utf-8", hdr, "range not satisfiable\n", 22);
        return;
    }
    if (rr > 0)
        snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Content-Range: bytes %llu-%llu/%llu\r\n",
                 (unsigned long long)off, (unsigned long long)(off + len - 1),
                 (unsigned long long)size);
    http_respond_fd(req, rr > 0 ? 206 : 200, "application/octet-stream", hdr, fd, (off_t)off, len);
}

/* POST /files: application/octet-stream to ?path=, or multipart/form-data whose "file" parts go
 * to ?path= or to their own filename (directories included). All files are committed at the end,
 * in order; any failure leaves none of them. */
struct envd_upload {
    struct files *f;
    struct acting as;
    char home[256];
    char qpath[PATH_MAX];
    bool multipart;
    struct mp_parser mp;
    bool in_file; /* a "file" part is being written */
    struct fsroot_tmp tmp[ENVD_MAX_FILES];
    char *paths[ENVD_MAX_FILES];
    int n;
    int err;
    char msg[300];
    bool gzip; /* Content-Encoding: gzip: inflated before anything else */
    bool gz_end;
    z_stream z;
};

static void eu_free(struct envd_upload *u)
{
    if (u->gzip) inflateEnd(&u->z);
    for (int i = 0; i < u->n; i++) {
        fsroot_tmp_abort(&u->tmp[i]);
        free(u->paths[i]);
    }
    if (u->multipart) mp_free(&u->mp);
    free(u);
}

/* Opens the temp of a new file at client path p (relative: under home). */
static int eu_open(struct envd_upload *u, const char *p)
{
    char path[PATH_MAX];
    if (u->n == ENVD_MAX_FILES) {
        snprintf(u->msg, sizeof(u->msg), "more than %d files in one upload", ENVD_MAX_FILES);
        return -1;
    }
    if (!p[0] || envd_path(p, u->home, path, sizeof(path)) < 0) {
        snprintf(u->msg, sizeof(u->msg), "path '%s' is not a valid path", p);
        return -1;
    }
    for (int i = 0; i < u->n; i++)
        if (strcmp(u->paths[i], path) == 0) {
            snprintf(
                u->msg, sizeof(u->msg),
                "you cannot upload multiple files to the same path '%.200s' in one upload request",
                path);
            return -1;
        }
    if (!(u->paths[u->n] = strdup(path))) return u->err = -ENOMEM, -1;
    int r = act_enter(&u->as);
    if (r == 0) r = fsroot_tmp_create(&u->f->root, path, 0644, true, &u->tmp[u->n]);
    act_leave(&u->as);
    if (r < 0) {
        free(u->paths[u->n]);
        u->err = r;
        snprintf(u->msg, sizeof(u->msg), "%.250s", path);
        return -1;
    }
    u->n++;
    return 0;
}

static int eu_write(struct envd_upload *u, const char *d, size_t n)
{
    int e = file_write(u->tmp[u->n - 1].fd, d, n);
    if (e < 0) {
        u->err = e;
        snprintf(u->msg, sizeof(u->msg), "%.250s", u->paths[u->n - 1]);
        return -1;
    }
    return 0;
}

static int eu_part(void *ud, const char *name, const char *filename)
{
    struct envd_upload *u = ud;
    u->in_file = strcmp(name, "file") == 0;
    if (!u->in_file) return 0;
    return eu_open(u, u->qpath[0] ? u->qpath : filename);
}

static int eu_data(void *ud, const char *d, size_t n)
{
    struct envd_upload *u = ud;
    return u->in_file ? eu_write(u, d, n) : 0;
}

static int eu_part_end(void *ud)
{
    ((struct envd_upload *)ud)->in_file = false;
    return 0;
}

static const struct mp_callbacks eu_callbacks = {eu_part, eu_data, eu_part_end};

static void eu_fail(struct http_request *req, struct envd_upload *u)
{
    req->on_abort = NULL;
    req->data = NULL;
    int err = u->err;
    char msg[sizeof(u->msg)];
    snprintf(msg, sizeof(msg), "%s", u->msg[0] ? u->msg : u->mp.error);
    eu_free(u); /* the temps are gone before the client hears the answer */
    if (err)
        envd_fs_error(req, err, msg);
    else
        envd_error(req, 400, "%s", msg);
}

static int eu_consume(struct envd_upload *u, const char *data, size_t len)
{
    return u->multipart ? mp_feed(&u->mp, data, len) : eu_write(u, data, len);
}

/* Inflates a gzip body piece and hands the bytes on. */
static int eu_inflate(struct envd_upload *u, const char *data, size_t len)
{
    char out[64 * 1024];
    u->z.next_in = (Bytef *)data;
    u->z.avail_in = (uInt)len;
    while (u->z.avail_in && !u->gz_end) {
        u->z.next_out = (Bytef *)out;
        u->z.avail_out = sizeof(out);
        int zr = inflate(&u->z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR && u->z.avail_out)) {
            snprintf(u->msg, sizeof(u->msg), "the gzip body is corrupt");
            return -1;
        }
        if (zr == Z_STREAM_END) u->gz_end = true;
        size_t n = sizeof(out) - u->z.avail_out;
        if (n && eu_consume(u, out, n) < 0) return -1;
    }
    return 0;
}

static int eu_body(struct http_request *req, const char *data, size_t len)
{
    struct envd_upload *u = req->data;
    int r = len > UINT32_MAX ? -1 : u->gzip ? eu_inflate(u, data, len) : eu_consume(u, data, len);
    if (r < 0) {
        eu_fail(req, u);
        return -1;
    }
    return 0;
}

static void eu_end(struct http_request *req)
{
    struct envd_upload *u = req->data;
    if (u->gzip && !u->gz_end) {
        snprintf(u->msg, sizeof(u->msg), "the gzip body is truncated");
        eu_fail(req, u);
        return;
    }
    if (u->multipart && mp_finish(&u->mp) < 0) {
        eu_fail(req, u);
        return;
    }
    req->on_abort = NULL;
    req->data = NULL;
    json_t *out = json_array();
    int r = act_enter(&u->as);
    for (int i = 0; i < u->n && r == 0; i++) {
        r = fsroot_tmp_commit(&u->tmp[i]);
        if (r == 0)
            json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "path", u->paths[i], "name",
                                                 base_name(u->paths[i]), "type", "file"));
        else
            snprintf(u->msg, sizeof(u->msg), "%.250s", u->paths[i]);
    }
    act_leave(&u->as);
    if (r < 0) {
        json_decref(out);
        envd_fs_error(req, r, u->msg);
    } else {
        api_respond_json(req, 200, out);
    }
    eu_free(u); /* what was not committed is removed */
}

/* The body's bytes went from the socket into the one file (http_body_to_fd). */
static int eu_sunk(struct http_request *req, long n)
{
    struct envd_upload *u = req->data;
    if (n < 0) {
        u->err = (int)n;
        snprintf(u->msg, sizeof(u->msg), "%.250s", u->paths[0]);
        eu_fail(req, u);
        return -1;
    }
    writeback_grew(u->tmp[0].fd, (uint64_t)n);
    return 0;
}

static void eu_abort(struct http_request *req)
{
    eu_free(req->data);
}

void h_envd_files_upload(struct api *a, struct http_request *req)
{
    struct files *f = a->files;
    const char *enc = http_header_get(req, "Content-Encoding");
    bool gzip = enc && strcasecmp(enc, "gzip") == 0;
    if (enc && *enc && !gzip && strcasecmp(enc, "identity") != 0) {
        envd_error(req, 400, "unsupported Content-Encoding '%s': only gzip", enc);
        return;
    }
    struct envd_upload *u = calloc(1, sizeof(*u));
    if (!u) {
        envd_error(req, 503, "out of memory");
        return;
    }
    if (gzip && inflateInit2(&u->z, 15 + 16) != Z_OK) {
        free(u);
        envd_error(req, 503, "out of memory");
        return;
    }
    u->gzip = gzip;
    u->f = f;
    if (envd_user(f, req, &u->as, u->home, sizeof(u->home)) < 0) {
        free(u);
        return;
    }
    http_query_get(req, "path", u->qpath, sizeof(u->qpath));
    const char *ct = http_header_get(req, "Content-Type");
    if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
        if (mp_init(&u->mp, ct, &eu_callbacks, u) < 0) {
            free(u);
            envd_error(req, 400, "multipart/form-data without a valid boundary");
            return;
        }
        u->multipart = true;
    } else if (ct && strncasecmp(ct, "application/octet-stream", 24) == 0) {
        if (!u->qpath[0]) {
            free(u);
            envd_error(req, 400, "path is required for application/octet-stream uploads");
            return;
        }
        if (eu_open(u, u->qpath) < 0) {
            eu_fail(req, u);
            return;
        }
    } else {
        free(u);
        envd_error(req, 400,
                   "unsupported content type '%s': use multipart/form-data or "
                   "application/octet-stream",
                   ct ? ct : "");
        return;
    }
    req->data = u;
    req->on_abort = eu_abort;
    req->on_body = eu_body;
    req->on_body_end = eu_end;
    const char *cl = http_header_get(req, "Content-Length");
    if (!http_header_get(req, "Transfer-Encoding") && (!cl || strtoull(cl, NULL, 10) == 0)) {
        eu_end(req); /* no body at all */
        return;
    }
    /* one raw file of known length: from the socket to the file without a copy through here */
    if (!u->multipart && !u->gzip) (void)http_body_to_fd(req, u->tmp[0].fd, eu_sunk);
}

void h_envd_files_download(struct api *a, struct http_request *req)
{
    envd_download(a->files, req);
}

/* ---- routing ---- */

void h_files(struct api *a, struct http_request *req)
{
    struct files *f = a->files;
    const char *op = req->path + strlen("/v1/files/");
    static const struct {
        const char *name, *method;
        void (*fn)(struct files *f, struct http_request *req);
    } ops[] = {
        {"read", "POST", files_read},     {"stream/read", "POST", files_read},
        {"list", "POST", files_list},     {"stat", "POST", files_stat},
        {"mkdir", "POST", files_mkdir},   {"move", "POST", files_move},
        {"remove", "POST", files_remove},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(ops); i++) {
        if (strcmp(op, ops[i].name) != 0) continue;
        if (strcmp(req->method, ops[i].method) != 0) {
            char allow[64];
            snprintf(allow, sizeof(allow), "Allow: %s\r\n", ops[i].method);
            http_respond_error_h(req, 405, allow, "method_not_allowed",
                                 "method %s is not allowed on %s", req->method, req->path);
            return;
        }
        ops[i].fn(f, req);
        return;
    }
    if (strcmp(op, "write") == 0 || strcmp(op, "stream/write") == 0) { /* their own routes */
        http_respond_error_h(req, 405, op[0] == 'w' ? "Allow: PUT, POST\r\n" : "Allow: POST\r\n",
                             "method_not_allowed", "method %s is not allowed on %s", req->method,
                             req->path);
        return;
    }
    http_respond_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
}

const struct fsroot *files_fsroot(struct api *a)
{
    return &a->files->root;
}

const char *files_root_dir(struct api *a)
{
    return a->files->root_dir;
}

void h_files_write(struct api *a, struct http_request *req)
{
    files_write_raw(a->files, req);
}

int files_new(struct api *a, struct sp_err *err)
{
    struct files *f = calloc(1, sizeof(*f));
    if (!f) return sp_err_set(err, -ENOMEM, "out of memory");
    const char *dir = a->ctx.files_root ? a->ctx.files_root : "/";
    f->root.fd = -1;
    int r = fsroot_open(&f->root, dir);
    if (r < 0 || !(f->root_dir = strdup(dir))) {
        fsroot_close(&f->root);
        free(f);
        return sp_err_set(err, r < 0 ? r : -ENOMEM, "files root %s: %s", dir,
                          strerror(r < 0 ? -r : ENOMEM));
    }
    f->loop = a->ctx.loop;
    a->files = f;
    return 0;
}

void files_free(struct api *a)
{
    struct files *f = a->files;
    if (!f) return;
    fsroot_close(&f->root);
    free(f->root_dir);
    free(f);
    a->files = NULL;
}
