/* SPDX-License-Identifier: MIT */
/* File operations confined to a root directory with openat2(RESOLVE_IN_ROOT): see fsroot.h. */
#include "fsroot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/log.h"

/* How often a lookup that failed with -EAGAIN (a concurrent rename or mount while resolving
 * "..") is retried before giving up. */
#define RESOLVE_RETRIES 16

#define TMP_NAME_KEEP 32

/* openat2 from dirfd with the root's rules; dirfd is the root. Returns an fd or -errno. */
static int resolve_in(int dirfd, const char *rel, int flags, mode_t mode)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) how.mode = mode & 07777;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (int tries = 0;; tries++) {
        long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
        if (fd >= 0) return (int)fd;
        if (errno == EINTR) continue;
        if (errno == EAGAIN && tries < RESOLVE_RETRIES) continue;
        return -errno;
    }
}

/* The client path as a path relative to the root ("." for the root itself). */
static int rel_path(const char *path, const char **rel)
{
    if (!path) return -EINVAL;
    if (strnlen(path, PATH_MAX) >= PATH_MAX) return -ENAMETOOLONG;
    while (*path == '/')
        path++;
    *rel = *path ? path : ".";
    return 0;
}

int fsroot_open(struct fsroot *r, const char *dir)
{
    r->fd = -1;
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    r->fd = fd;
    return 0;
}

void fsroot_close(struct fsroot *r)
{
    sp_closep(&r->fd);
}

int fsroot_openat(const struct fsroot *r, const char *path, int flags, mode_t mode)
{
    const char *rel;
    int e = rel_path(path, &rel);
    if (e < 0) return e;
    return resolve_in(r->fd, rel, flags, mode);
}

static int open_dir(const struct fsroot *r, const char *rel)
{
    return resolve_in(r->fd, rel, O_PATH | O_DIRECTORY, 0);
}

/*
 * Opens the directory `parent` (relative, modifiable) creating what is missing: each prefix is
 * resolved from the root again, and a missing component is created with mkdirat on the fd of the
 * prefix before it, so a symlink met on the way is followed inside the root only.
 */
static int make_parents(const struct fsroot *r, char *parent)
{
    int fd = open_dir(r, parent);
    if (fd != -ENOENT) return fd;

    int cur = open_dir(r, ".");
    if (cur < 0) return cur;
    char *p = parent;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p) break;
        char *comp = p;
        while (*p && *p != '/')
            p++;
        char saved = *p;
        *p = '\0';
        fd = open_dir(r, parent);
        if (fd == -ENOENT) {
            if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
                fd = -errno;
            } else {
                fd = open_dir(r, parent);
                /* It exists but does not resolve: a dangling symlink, not created through. */
                if (fd == -ENOENT) fd = -EEXIST;
            }
        }
        *p = saved;
        sp_close(cur);
        if (fd < 0) return fd;
        cur = fd;
    }
    return cur;
}

int fsroot_parent(const struct fsroot *r, const char *path, bool parents, int *dirfd, char name[])
{
    const char *rel;
    int e = rel_path(path, &rel);
    if (e < 0) return e;

    char buf[PATH_MAX];
    size_t n = strlen(rel);
    memcpy(buf, rel, n + 1);
    while (n > 0 && buf[n - 1] == '/')
        buf[--n] = '\0';
    char *slash = strrchr(buf, '/');
    char *last = slash ? slash + 1 : buf;
    if (!strcmp(last, ".") || !strcmp(last, "..") || !*last) return -EINVAL;
    if (strlen(last) > NAME_MAX) return -ENAMETOOLONG;

    char dot[] = ".";
    char *parent = dot;
    if (slash) {
        /* Leading slashes were stripped, so there is a component before this one. */
        *slash = '\0';
        parent = buf;
    }
    int fd = parents ? make_parents(r, parent) : open_dir(r, parent);
    if (fd < 0) return fd;
    strcpy(name, last);
    *dirfd = fd;
    return 0;
}

int fsroot_stat(const struct fsroot *r, const char *path, bool follow, struct stat *st,
                char *target, size_t len)
{
    int fd = fsroot_openat(r, path, O_PATH | O_NOFOLLOW, 0);
    if (fd < 0) return fd;
    struct stat s;
    if (fstat(fd, &s) < 0) {
        int e = -errno;
        sp_close(fd);
        return e;
    }
    if (target && len > 0) {
        target[0] = '\0';
        if (S_ISLNK(s.st_mode)) {
            ssize_t k = readlinkat(fd, "", target, len - 1);
            if (k < 0) {
                int e = -errno;
                sp_close(fd);
                return e;
            }
            target[k] = '\0';
        }
    }
    sp_close(fd);
    if (follow && S_ISLNK(s.st_mode)) {
        fd = fsroot_openat(r, path, O_PATH, 0);
        if (fd < 0) return fd;
        int e = fstat(fd, &s) < 0 ? -errno : 0;
        sp_close(fd);
        if (e < 0) return e;
    }
    *st = s;
    return 0;
}

int fsroot_mkdir(const struct fsroot *r, const char *path, mode_t mode, bool parents)
{
    int dirfd;
    char name[NAME_MAX + 1];
    int e = fsroot_parent(r, path, parents, &dirfd, name);
    if (e < 0) return e;
    e = mkdirat(dirfd, name, mode & 07777) < 0 ? -errno : 0;
    sp_close(dirfd);
    if (e == -EEXIST && parents) {
        int fd = fsroot_openat(r, path, O_PATH | O_DIRECTORY, 0);
        if (fd >= 0) {
            sp_close(fd);
            return 0;
        }
    }
    return e;
}

int fsroot_rename(const struct fsroot *r, const char *from, const char *to, bool parents)
{
    int fromfd, tofd;
    char fromname[NAME_MAX + 1], toname[NAME_MAX + 1];
    int e = fsroot_parent(r, from, false, &fromfd, fromname);
    if (e < 0) return e;
    /* The source must exist before the destination's parents are created for it. */
    struct stat st;
    if (fstatat(fromfd, fromname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        e = -errno;
        sp_close(fromfd);
        return e;
    }
    e = fsroot_parent(r, to, parents, &tofd, toname);
    if (e < 0) {
        sp_close(fromfd);
        return e;
    }
    e = renameat(fromfd, fromname, tofd, toname) < 0 ? -errno : 0;
    sp_close(fromfd);
    sp_close(tofd);
    return e;
}

/* Removes the directory `name` in dirfd and everything below it; see fsroot_remove. */
static int remove_tree(int dirfd, const char *name, int level)
{
    if (level > FSROOT_MAX_DEPTH) return -ENAMETOOLONG;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        /* Replaced by a non-directory since the caller looked: remove that instead. */
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        return errno == ENOENT ? 0 : -errno;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        sp_close(fd);
        return e;
    }
    int first = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0 && first == 0) first = -errno;
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT && first == 0) first = -errno;
                continue;
            }
            is_dir = S_ISDIR(st.st_mode);
        }
        int e = 0;
        if (is_dir)
            e = remove_tree(fd, de->d_name, level + 1);
        else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
            e = -errno;
        if (e < 0 && first == 0) first = e;
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && first == 0) first = -errno;
    return first;
}

/* Whether path resolves to the root directory itself. */
static bool is_root(const struct fsroot *r, const char *path)
{
    struct stat a, b;
    int fd = fsroot_openat(r, path, O_PATH | O_DIRECTORY, 0);
    if (fd < 0) return false;
    bool same =
        fstat(fd, &a) == 0 && fstat(r->fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    sp_close(fd);
    return same;
}

int fsroot_remove(const struct fsroot *r, const char *path, bool recursive)
{
    int dirfd;
    char name[NAME_MAX + 1];
    int e = fsroot_parent(r, path, false, &dirfd, name);
    if (e == -EINVAL && path && is_root(r, path)) return -EBUSY;
    if (e < 0) return e;
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        e = -errno;
    else if (!S_ISDIR(st.st_mode))
        e = unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
    else if (!recursive)
        e = unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
    else
        e = remove_tree(dirfd, name, 1);
    sp_close(dirfd);
    return e;
}

/* 16 hex digits for a temp name; uniqueness comes from O_EXCL, so no entropy is needed. */
static void random_hex(char out[17])
{
    static uint64_t counter;
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_INSECURE) != (ssize_t)sizeof(v) &&
        getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    }
    v ^= ++counter * 0x9e3779b97f4a7c15ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)v);
}

int fsroot_tmp_create(const struct fsroot *r, const char *path, mode_t mode, bool parents,
                      struct fsroot_tmp *t)
{
    int dirfd;
    char name[NAME_MAX + 1];
    int e = fsroot_parent(r, path, parents, &dirfd, name);
    if (e < 0) return e;
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        sp_close(dirfd);
        return -EISDIR;
    }
    char tmp[sizeof(t->tmp)];
    int fd = -EEXIST;
    for (int tries = 0; tries < 16 && fd == -EEXIST; tries++) {
        char hex[17];
        random_hex(hex);
        snprintf(tmp, sizeof(tmp), ".%.*s.sprite-tmp-%s", TMP_NAME_KEEP, name, hex);
        fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
        if (fd < 0) fd = -errno;
    }
    if (fd < 0) {
        sp_close(dirfd);
        return fd;
    }
    t->dirfd = dirfd;
    t->fd = fd;
    memcpy(t->tmp, tmp, sizeof(t->tmp));
    snprintf(t->name, sizeof(t->name), "%s", name);
    return 0;
}

int fsroot_tmp_commit(struct fsroot_tmp *t)
{
    if (t->dirfd < 0) return -EBADF;
    int e = fsync(t->fd) < 0 ? -errno : 0;
    if (close(t->fd) < 0 && e == 0) e = -errno;
    t->fd = -1;
    if (e == 0 && renameat(t->dirfd, t->tmp, t->dirfd, t->name) < 0) e = -errno;
    if (e < 0) {
        fsroot_tmp_abort(t);
        return e;
    }
    /* dirfd is O_PATH, which fsync refuses: open the directory itself. Without read permission
     * (acting as a user) the rename is kept without the directory fsync. */
    int dfd = openat(t->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0) e = -errno;
        sp_close(dfd);
    } else if (errno != EACCES) {
        e = -errno;
    }
    sp_closep(&t->dirfd);
    return e;
}

void fsroot_tmp_abort(struct fsroot_tmp *t)
{
    sp_closep(&t->fd);
    if (t->dirfd >= 0) unlinkat(t->dirfd, t->tmp, 0);
    sp_closep(&t->dirfd);
}

struct walk {
    fsroot_walk_fn fn;
    void *ud;
    int depth;
    size_t max_entries;
    size_t n;
    char path[PATH_MAX];
};

/* Lists the directory fd (consumed) whose client path is w->path[0..plen). */
static int walk_dir(struct walk *w, int fd, size_t plen, int level)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        sp_close(fd);
        return e;
    }
    int ret = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0) ret = -errno;
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) continue; /* removed since readdir */
            ret = -errno;
            break;
        }
        size_t nlen = strlen(de->d_name);
        size_t sep = plen > 0 && w->path[plen - 1] == '/' ? 0 : 1;
        if (plen + sep + nlen >= sizeof(w->path)) {
            ret = -ENAMETOOLONG;
            break;
        }
        if (sep) w->path[plen] = '/';
        memcpy(w->path + plen + sep, de->d_name, nlen + 1);
        if (w->n >= w->max_entries) {
            ret = -E2BIG;
            break;
        }
        w->n++;
        ret = w->fn(w->ud, w->path, de->d_name, &st, level);
        if (ret != 0) break;
        if (S_ISDIR(st.st_mode) && level < w->depth) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                ret = walk_dir(w, sub, plen + sep + nlen, level + 1);
                if (ret != 0) break;
            } else if (errno != EACCES && errno != EPERM && errno != ENOENT && errno != ENOTDIR &&
                       errno != ELOOP) {
                ret = -errno;
                break;
            }
        }
        w->path[plen] = '\0';
    }
    w->path[plen] = '\0';
    closedir(d);
    return ret;
}

int fsroot_clean_path(const char *rel, char *out)
{
    size_t n = 0;
    const char *p = rel;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p) break;
        const char *c = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - c);
        if (len == 1 && c[0] == '.') continue;
        if (len == 2 && c[0] == '.' && c[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0) n--;
            continue;
        }
        if (n + 1 + len >= PATH_MAX) return -ENAMETOOLONG;
        out[n++] = '/';
        memcpy(out + n, c, len);
        n += len;
    }
    if (n == 0) out[n++] = '/';
    out[n] = '\0';
    return 0;
}

int fsroot_list(const struct fsroot *r, const char *path, int depth, size_t max_entries,
                fsroot_walk_fn fn, void *ud)
{
    if (depth < 1) return -EINVAL;
    const char *rel;
    int e = rel_path(path, &rel);
    if (e < 0) return e;
    struct walk w;
    e = fsroot_clean_path(rel, w.path);
    if (e < 0) return e;
    int fd = resolve_in(r->fd, rel, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    w.fn = fn;
    w.ud = ud;
    w.depth = depth > FSROOT_MAX_DEPTH ? FSROOT_MAX_DEPTH : depth;
    w.max_entries = max_entries;
    w.n = 0;
    return walk_dir(&w, fd, strlen(w.path), 1);
}

/* Whether this thread acts as a user (fsroot_cred_enter without leave). */
static _Thread_local bool g_cred_active;

static uid_t cur_fsuid(void)
{
    return (uid_t)setfsuid((uid_t)-1);
}

static gid_t cur_fsgid(void)
{
    return (gid_t)setfsgid((gid_t)-1);
}

/* setgroups(2) of this thread only (glibc's wrapper changes every thread of the process). */
static int thread_setgroups(size_t n, const gid_t *groups)
{
    return syscall(SYS_setgroups, n, groups) < 0 ? -errno : 0;
}

int fsroot_cred_enter(const struct fsroot_cred *c, struct fsroot_saved *s)
{
    if (g_cred_active) return -EBUSY; /* s may be the active one: left alone */
    s->active = false;
    if (c->n_groups > FSROOT_MAX_GROUPS) return -EINVAL;
    int n = getgroups(FSROOT_MAX_GROUPS, s->groups);
    if (n < 0) return -errno;
    s->n_groups = n;
    s->fsuid = cur_fsuid();
    s->fsgid = cur_fsgid();

    int e = thread_setgroups(c->n_groups, c->groups);
    if (e < 0) return e;
    setfsgid(c->gid);
    if (cur_fsgid() != c->gid) {
        thread_setgroups((size_t)s->n_groups, s->groups);
        return -EPERM;
    }
    /* The fs uid last: leaving 0 drops the file capabilities (not CAP_SETGID). */
    setfsuid(c->uid);
    if (cur_fsuid() != c->uid) {
        setfsgid(s->fsgid);
        thread_setgroups((size_t)s->n_groups, s->groups);
        return -EPERM;
    }
    s->active = true;
    g_cred_active = true;
    return 0;
}

void fsroot_cred_leave(struct fsroot_saved *s)
{
    if (!s->active) return;
    /* The fs uid first: back to 0 it brings the file capabilities back. */
    setfsuid(s->fsuid);
    setfsgid(s->fsgid);
    int e = thread_setgroups((size_t)s->n_groups, s->groups);
    if (cur_fsuid() != s->fsuid || cur_fsgid() != s->fsgid || e < 0)
        sp_error("fsroot: restoring the file system ids %u:%u failed", (unsigned)s->fsuid,
                 (unsigned)s->fsgid);
    s->active = false;
    g_cred_active = false;
}
