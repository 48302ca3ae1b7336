/* SPDX-License-Identifier: MIT */
/*
 * The container's root filesystem: see rootfs.h. Every mount target is found with
 * openat2(RESOLVE_IN_ROOT) from an fd of the rootfs (fsroot_openat), missing components are
 * created with mkdirat/openat on the fd of the directory that holds them, and mount(2) is given
 * the /proc/self/fd/N path of an O_PATH fd of the target, so nothing in the image (an absolute or
 * relative symlink, a symlink swapped in later) can send a mount outside the rootfs.
 */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../base/fd.h"
#include "../base/log.h"
#include "../os/fsroot.h"

/* Symlinks a target path may go through before -ELOOP (the kernel's own limit). */
#define MAX_SYMLINK_HOPS 40
/* Components created (plus symlinks followed) for one target, at most. */
#define MAX_CREATE_PASSES 4096
/* umount2(MNT_DETACH) calls on the old root after pivot_root (stacked mounts on "/"). */
#define MAX_OLDROOT_UMOUNTS 100

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
/* mount_setattr(2) (Linux 5.12), for a libc whose headers lack it. */
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY      0x00000001
#define MOUNT_ATTR_NOSUID      0x00000002
#define MOUNT_ATTR_NODEV       0x00000004
#define MOUNT_ATTR_NOEXEC      0x00000008
#define MOUNT_ATTR__ATIME      0x00000070
#define MOUNT_ATTR_RELATIME    0x00000000
#define MOUNT_ATTR_NOATIME     0x00000010
#define MOUNT_ATTR_STRICTATIME 0x00000020
#define MOUNT_ATTR_NODIRATIME  0x00000080
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
/* open_tree(2), move_mount(2) (Linux 5.2) and id-mapped mounts (5.12). */
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

/* The flags a bind remount can change (per mount, not per superblock). */
#define BIND_FLAGS  (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define ATIME_FLAGS (MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME)

/* ---- option parsing ---------------------------------------------------------------------- */

enum opt_kind {
    OPT_SET,   /* flags |= v */
    OPT_CLEAR, /* flags &= ~v, clear |= v */
    OPT_PROP,  /* propagation = v */
    OPT_RSET,  /* OPT_SET, and the flag goes to every submount of a bind */
    OPT_RCLEAR,
    OPT_IGNORE, /* handled by others (podman, crun extensions) or meaningless here */
};

struct opt_word {
    const char *name;
    enum opt_kind kind;
    unsigned long value;
};

static const struct opt_word opt_words[] = {
    {"defaults", OPT_SET, 0},
    {"ro", OPT_SET, MS_RDONLY},
    {"rw", OPT_CLEAR, MS_RDONLY},
    {"nosuid", OPT_SET, MS_NOSUID},
    {"suid", OPT_CLEAR, MS_NOSUID},
    {"nodev", OPT_SET, MS_NODEV},
    {"dev", OPT_CLEAR, MS_NODEV},
    {"noexec", OPT_SET, MS_NOEXEC},
    {"exec", OPT_CLEAR, MS_NOEXEC},
    {"sync", OPT_SET, MS_SYNCHRONOUS},
    {"async", OPT_CLEAR, MS_SYNCHRONOUS},
    {"dirsync", OPT_SET, MS_DIRSYNC},
    {"remount", OPT_SET, MS_REMOUNT},
    {"mand", OPT_SET, MS_MANDLOCK},
    {"nomand", OPT_CLEAR, MS_MANDLOCK},
    {"noatime", OPT_SET, MS_NOATIME},
    {"atime", OPT_CLEAR, MS_NOATIME},
    {"nodiratime", OPT_SET, MS_NODIRATIME},
    {"diratime", OPT_CLEAR, MS_NODIRATIME},
    {"relatime", OPT_SET, MS_RELATIME},
    {"norelatime", OPT_CLEAR, MS_RELATIME},
    {"strictatime", OPT_SET, MS_STRICTATIME},
    {"nostrictatime", OPT_CLEAR, MS_STRICTATIME},
    {"bind", OPT_SET, MS_BIND},
    {"rbind", OPT_SET, MS_BIND | MS_REC},
    {"private", OPT_PROP, MS_PRIVATE},
    {"rprivate", OPT_PROP, MS_PRIVATE | MS_REC},
    {"shared", OPT_PROP, MS_SHARED},
    {"rshared", OPT_PROP, MS_SHARED | MS_REC},
    {"slave", OPT_PROP, MS_SLAVE},
    {"rslave", OPT_PROP, MS_SLAVE | MS_REC},
    {"unbindable", OPT_PROP, MS_UNBINDABLE},
    {"runbindable", OPT_PROP, MS_UNBINDABLE | MS_REC},
    {"silent", OPT_SET, MS_SILENT},
    {"loud", OPT_CLEAR, MS_SILENT},
    {"iversion", OPT_SET, MS_I_VERSION},
    {"noiversion", OPT_CLEAR, MS_I_VERSION},
    {"lazytime", OPT_SET, MS_LAZYTIME},
    {"nolazytime", OPT_CLEAR, MS_LAZYTIME},
    /* crun's recursive attributes (mount_setattr AT_RECURSIVE). */
    {"rro", OPT_RSET, MS_RDONLY},
    {"rrw", OPT_RCLEAR, MS_RDONLY},
    {"rnosuid", OPT_RSET, MS_NOSUID},
    {"rsuid", OPT_RCLEAR, MS_NOSUID},
    {"rnodev", OPT_RSET, MS_NODEV},
    {"rdev", OPT_RCLEAR, MS_NODEV},
    {"rnoexec", OPT_RSET, MS_NOEXEC},
    {"rexec", OPT_RCLEAR, MS_NOEXEC},
    /* Not supported, and harmless to skip: copying the image's content into a tmpfs, crun's
     * symlink/nofollow switches; idmap/ridmap (a mount is id-mapped by its uidMappings and
     * gidMappings, the whole tree for an rbind). */
    {"tmpcopyup", OPT_IGNORE, 0},
    {"notmpcopyup", OPT_IGNORE, 0},
    {"idmap", OPT_IGNORE, 0},
    {"ridmap", OPT_IGNORE, 0},
    {"copy-symlink", OPT_IGNORE, 0},
    {"src-nofollow", OPT_IGNORE, 0},
    {"dest-nofollow", OPT_IGNORE, 0},
};

static const struct opt_word *opt_find(const char *w)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(opt_words); i++)
        if (!strcmp(opt_words[i].name, w)) return &opt_words[i];
    return NULL;
}

int mount_opts_parse(char *const *options, struct mount_opts *out, struct sp_err *err)
{
    struct mount_opts o;
    memset(&o, 0, sizeof(o));
    size_t len = 0;
    for (size_t i = 0; options && options[i]; i++) {
        const char *w = options[i];
        if (!*w) continue;
        const struct opt_word *ow = opt_find(w);
        if (!ow) {
            /* The file system's own options, given to mount(2) as its data string. */
            size_t n = strlen(w);
            if (len + (len ? 1 : 0) + n >= sizeof(o.data))
                return sp_err_set(err, -EINVAL, "mount options: data longer than %zu bytes",
                                  sizeof(o.data) - 1);
            if (len) o.data[len++] = ',';
            memcpy(o.data + len, w, n + 1);
            len += n;
            continue;
        }
        switch (ow->kind) {
        case OPT_SET:
        case OPT_RSET:
            o.flags |= ow->value;
            o.clear &= ~ow->value;
            if (ow->kind == OPT_RSET) o.recursive = true;
            break;
        case OPT_CLEAR:
        case OPT_RCLEAR:
            o.flags &= ~ow->value;
            o.clear |= ow->value;
            if (ow->kind == OPT_RCLEAR) o.recursive = true;
            break;
        case OPT_PROP: o.propagation = ow->value; break;
        case OPT_IGNORE: sp_debug("mount option \"%s\" not supported: ignored", w); break;
        }
    }
    *out = o;
    return 0;
}

/* ---- small helpers ----------------------------------------------------------------------- */

static void fd_path(char buf[static 32], int fd)
{
    snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* The per-mount flags of the mount that holds fd, as MS_* (those a bind remount must keep, or
 * it fails in a user namespace where they are locked). 0 when they cannot be read. */
static unsigned long mount_flags_of(int fd, const char *path)
{
    struct statvfs sv;
    int r = fd >= 0 ? fstatvfs(fd, &sv) : statvfs(path, &sv);
    if (r < 0) return 0;
    unsigned long f = 0;
    if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    return f;
}

/* True when path is "/<name>" give or take slashes ("/dev", "//dev/"). */
static bool path_is(const char *path, const char *name)
{
    while (*path == '/')
        path++;
    size_t n = strlen(name);
    if (strncmp(path, name, n)) return false;
    for (path += n; *path == '/'; path++)
        ;
    return !*path;
}

/* ---- targets inside the rootfs ----------------------------------------------------------- */

/*
 * One pass over path (inside the root) creating its first missing component: a directory, or
 * an empty file when it is the last component and `file`. A missing component that is a
 * dangling symlink is not created through; path is rewritten instead (the link's target, read as
 * if the rootfs were "/", followed by the rest) so that the next pass creates the target inside
 * the root, as securejoin does for runc. Returns 0 (created: open again), 1 (rewritten), -errno.
 */
static int create_first_missing(const struct fsroot *r, char path[static PATH_MAX], bool file)
{
    int cur = fsroot_openat(r, ".", O_PATH | O_DIRECTORY, 0);
    if (cur < 0) return cur;
    char *p = path;
    while (*p == '/')
        p++;
    while (*p) {
        char *comp = p;
        while (*p && *p != '/')
            p++;
        char saved = *p;
        *p = '\0';
        const char *rest = saved ? p + 1 : p;
        while (*rest == '/')
            rest++;
        bool last = !*rest;

        int fd = fsroot_openat(r, path, O_PATH, 0);
        if (fd != -ENOENT) {
            *p = saved;
            sp_close(cur);
            if (fd < 0) return fd;
            cur = fd;
            while (*p == '/')
                p++;
            continue;
        }

        struct stat st;
        if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(cur, comp, target, sizeof(target) - 1);
            int e = n < 0 ? -errno : 0;
            sp_close(cur);
            if (e < 0) return e;
            target[n] = '\0';
            /* An absolute target starts again from the root; a relative one from the directory
             * that holds the link (comp's prefix, still in path). */
            char joined[PATH_MAX];
            size_t plen = target[0] == '/' ? 0 : (size_t)(comp - path);
            int k = snprintf(joined, sizeof(joined), "%.*s%s%s%s", (int)plen, path, target,
                             *rest ? "/" : "", rest);
            if (k < 0 || (size_t)k >= sizeof(joined)) return -ENAMETOOLONG;
            memcpy(path, joined, (size_t)k + 1);
            return 1;
        }

        int e = 0;
        if (last && file) {
            int nf = openat(cur, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (nf < 0)
                e = errno == EEXIST ? 0 : -errno;
            else
                sp_close(nf);
        } else if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
            e = -errno;
        }
        *p = saved;
        sp_close(cur);
        return e;
    }
    sp_close(cur);
    return 0;
}

/*
 * An O_PATH fd of dest (absolute, as seen inside the rootfs), created when missing: directories,
 * and an empty file for the last component when `file`. A symlink anywhere on the way, the last
 * component included, is followed inside the rootfs. Returns the fd or -errno.
 */
static int open_target(const struct fsroot *r, const char *dest, bool file)
{
    char path[PATH_MAX];
    if (strlen(dest) >= sizeof(path)) return -ENAMETOOLONG;
    strcpy(path, dest);
    /* Each pass creates one component or follows one symlink; the bound only stops a loop
     * against something deleting what was just created. */
    int hops = 0;
    for (int pass = 0; pass < MAX_CREATE_PASSES; pass++) {
        int fd = fsroot_openat(r, path, O_PATH, 0);
        if (fd != -ENOENT) return fd;
        int e = create_first_missing(r, path, file);
        if (e < 0) return e;
        if (e == 1 && ++hops > MAX_SYMLINK_HOPS) return -ELOOP;
    }
    return -ELOOP;
}

/* The parent directory of dest (created when missing) and its last component. */
static int open_parent(const struct fsroot *r, const char *dest, int *dirfd,
                       char name[NAME_MAX + 1])
{
    char parent[PATH_MAX];
    size_t n = strlen(dest);
    if (n >= sizeof(parent)) return -ENAMETOOLONG;
    memcpy(parent, dest, n + 1);
    while (n > 0 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    const char *last = slash ? slash + 1 : parent;
    if (!*last || !strcmp(last, ".") || !strcmp(last, "..")) return -EINVAL;
    if (strlen(last) > NAME_MAX) return -ENAMETOOLONG;
    strcpy(name, last);
    if (slash)
        slash[1] = '\0';
    else
        strcpy(parent, "/");
    int fd = open_target(r, parent, false);
    if (fd < 0) return fd;
    *dirfd = fd;
    return 0;
}

/* ---- mounts ------------------------------------------------------------------------------ */

/* mount_setattr(2) without depending on the libc having it. */
struct sp_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int setattr_recursive(int fd, unsigned long set, unsigned long clr)
{
#ifdef SYS_mount_setattr
    struct sp_mount_attr a;
    memset(&a, 0, sizeof(a));
    static const struct {
        unsigned long ms;
        uint64_t attr;
    } map[] = {
        {MS_RDONLY, MOUNT_ATTR_RDONLY},         {MS_NOSUID, MOUNT_ATTR_NOSUID},
        {MS_NODEV, MOUNT_ATTR_NODEV},           {MS_NOEXEC, MOUNT_ATTR_NOEXEC},
        {MS_NODIRATIME, MOUNT_ATTR_NODIRATIME},
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(map); i++) {
        if (set & map[i].ms) a.attr_set |= map[i].attr;
        if (clr & map[i].ms) a.attr_clr |= map[i].attr;
    }
    /* The atime mode is a field, not a bit: it is cleared and one value set. */
    uint64_t atime = 0;
    if (set & MS_NOATIME)
        atime = MOUNT_ATTR_NOATIME;
    else if (set & MS_STRICTATIME)
        atime = MOUNT_ATTR_STRICTATIME;
    else if (set & MS_RELATIME)
        atime = MOUNT_ATTR_RELATIME;
    if (set & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME)) {
        a.attr_clr |= MOUNT_ATTR__ATIME;
        a.attr_set |= atime;
    }
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
        return -errno;
    return 0;
#else
    (void)fd, (void)set, (void)clr;
    return -ENOSYS;
#endif
}

/*
 * The flags of a bind mount: bind ignores everything but MS_REC, so they are applied by a second
 * call on the new mount (fd, opened after the bind), to its whole tree when `recursive` (rbind,
 * or rro-style options) and mount_setattr is available, else to the top mount with a bind
 * remount that keeps the flags the mount already has (they may be locked).
 */
static int bind_apply_flags(int fd, const struct mount_opts *o, bool recursive)
{
    unsigned long want = o->flags & (BIND_FLAGS | ATIME_FLAGS);
    unsigned long drop = o->clear & (BIND_FLAGS | ATIME_FLAGS);
    if (!want && !(o->recursive && drop)) return 0;
    if (recursive) {
        int e = setattr_recursive(fd, want, drop);
        if (e != -ENOSYS) return e;
    }
    char p[32];
    fd_path(p, fd);
    unsigned long keep = mount_flags_of(fd, NULL) & ~drop;
    if (mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | want | keep, NULL) < 0) return -errno;
    return 0;
}

/* ---- id-mapped binds --------------------------------------------------------------------- */

/* A uid_map of OCI_MOUNT_MAX_IDMAPS lines of "4294967295 4294967295 4294967295\n" at most. */
#define IDMAP_TEXT_MAX (OCI_MOUNT_MAX_IDMAPS * 33)

/* Writes n entries as /proc/<pid>/<name> (uid_map, gid_map): one write, as the kernel wants. */
static int write_map(pid_t pid, const char *name, const struct oci_idmap *m, size_t n)
{
    char text[IDMAP_TEXT_MAX + 1], path[64];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "%" PRIu32 " %" PRIu32 " %" PRIu32 "\n", m[i].container_id,
                                m[i].host_id, m[i].size);
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t w = write(fd, text, len);
    int e = w < 0 ? -errno : (size_t)w != len ? -EIO : 0;
    sp_close(fd);
    return e;
}

/*
 * A new user namespace whose uid_map and gid_map are m's lists: an O_CLOEXEC fd of it, or -errno
 * with *step naming what failed. A child is cloned into the namespace; it sends its pid as /proc
 * sees it (the init may be in a new pid namespace while /proc is still the host's) and waits for
 * its pipe to close. The maps are written from here (privileged over the parent namespace:
 * setgroups need not be denied), the namespace opened, then the child ends and is reaped (that
 * pid only). The child's pipe end closes if we die, so it never outlives us.
 */
static int idmap_userns(const struct oci_mount *m, const char **step)
{
    int ready[2], hold[2];
    *step = "creating its user namespace";
    if (pipe2(ready, O_CLOEXEC) < 0) return -errno;
    if (pipe2(hold, O_CLOEXEC) < 0) {
        int e = -errno;
        sp_close(ready[0]);
        sp_close(ready[1]);
        return e;
    }
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        char self[32], c;
        int procpid = -ESRCH;
        close(ready[0]);
        close(hold[1]);
        ssize_t n = readlink("/proc/self", self, sizeof(self) - 1);
        if (n < 0) procpid = -errno;
        if (n > 0) {
            self[n] = '\0';
            char *end;
            long v = strtol(self, &end, 10);
            if (!*end && v > 0 && v <= INT_MAX) procpid = (int)v;
        }
        if (write(ready[1], &procpid, sizeof(procpid)) != (ssize_t)sizeof(procpid)) _exit(1);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    int e = pid < 0 ? -errno : 0;
    sp_close(ready[1]);
    sp_close(hold[0]);
    int procpid = 0, ns = -1;
    if (e == 0) {
        ssize_t n = sp_read(ready[0], &procpid, sizeof(procpid));
        if (n != (ssize_t)sizeof(procpid) || procpid <= 0) {
            *step = "finding its process in /proc";
            e = n < 0 ? (int)n : procpid < 0 ? procpid : -ESRCH;
        }
    }
    if (e == 0) {
        *step = "writing its uid_map";
        e = write_map(procpid, "uid_map", m->uid_mappings, m->n_uid_mappings);
    }
    if (e == 0) {
        *step = "writing its gid_map";
        e = write_map(procpid, "gid_map", m->gid_mappings, m->n_gid_mappings);
    }
    if (e == 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/user", procpid);
        *step = "opening it";
        ns = open(path, O_RDONLY | O_CLOEXEC);
        if (ns < 0) e = -errno;
    }
    sp_close(ready[0]);
    sp_close(hold[1]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    return e < 0 ? e : ns;
}

/* What mount_setattr(MOUNT_ATTR_IDMAP) fails with when the kernel or the file system (or our
 * privilege over it: a container's user namespace) does not allow an id-mapped mount. */
static bool idmap_unsupported(int e)
{
    return e == -EINVAL || e == -EOPNOTSUPP || e == -EPERM || e == -ENOSYS;
}

/*
 * The id-mapped bind of m->source onto target (an O_PATH fd): a detached copy of the source (its
 * whole tree when rec), the mapping set on it (on every mount of the copy when rec), then moved
 * onto the target. The mount's flags are applied afterwards, as for any bind.
 */
static int idmapped_bind(const struct oci_mount *m, bool rec, int target, const char *dest,
                         struct sp_err *err)
{
    const char *src = m->source;
    const char *step = NULL;
    bool unsupported = false;
    int e = 0, ns = -1, tree = -1;
#if defined(SYS_open_tree) && defined(SYS_mount_setattr) && defined(SYS_move_mount)
    tree = (int)syscall(SYS_open_tree, AT_FDCWD, src,
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec ? AT_RECURSIVE : 0));
    if (tree < 0) {
        e = -errno;
        unsupported = e == -ENOSYS;
    }
    if (e == 0 && (ns = idmap_userns(m, &step)) < 0) e = ns;
    if (e == 0) step = NULL;
    if (e == 0) {
        struct sp_mount_attr a;
        memset(&a, 0, sizeof(a));
        a.attr_set = MOUNT_ATTR_IDMAP;
        a.userns_fd = (uint64_t)ns;
        if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (rec ? AT_RECURSIVE : 0), &a,
                    sizeof(a)) < 0) {
            e = -errno;
            unsupported = idmap_unsupported(e);
        }
    }
    if (e == 0 && syscall(SYS_move_mount, tree, "", target, "",
                          MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        e = -errno;
#else
    (void)rec, (void)target;
    e = -ENOSYS;
    unsupported = true;
#endif
    sp_close(ns);
    sp_close(tree); /* a copy that was not moved goes away with it */
    if (e == 0) return 0;
    if (unsupported)
        return sp_err_set(err, e, "mounting %s on %s: id-mapped mounts are not supported here: %s",
                          src, dest, strerror(-e));
    if (step)
        return sp_err_set(err, e, "mounting %s on %s: id mapping: %s: %s", src, dest, step,
                          strerror(-e));
    return sp_err_set(err, e, "mounting %s on %s: %s", src, dest, strerror(-e));
}

static int cgroup_version(void)
{
    struct statfs sf;
    if (statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) return 2;
    return 1;
}

enum mount_kind { MK_BIND, MK_SYSFS, MK_CGROUP, MK_OTHER };

/* One entry of spec->mounts. */
static int do_mount(const struct fsroot *r, const struct oci_mount *m, struct sp_err *err)
{
    const char *dest = m->destination ? m->destination : "";
    const char *type = m->type;
    const char *what = m->source ? m->source : type ? type : "none";

    struct mount_opts o;
    int e = mount_opts_parse(m->options, &o, err);
    if (e < 0) return sp_err_prefix(err, "mounting %s on %s: ", what, dest);

    enum mount_kind kind = MK_OTHER;
    if (!type || !strcmp(type, "bind") || (o.flags & MS_BIND))
        kind = MK_BIND;
    else if (!strcmp(type, "sysfs"))
        kind = MK_SYSFS;
    else if (!strcmp(type, "cgroup"))
        kind = MK_CGROUP;

    const char *source = m->source ? m->source : type;
    /* "sprite.subpath=REL": the bind's source is REL resolved by the kernel inside m->source
     * (RESOLVE_IN_ROOT), here and now: a symlink put in the source meanwhile cannot lead out */
    SP_CLEANUP(sp_closep) int subfd = -1;
    char subsrc[32];
    struct oci_mount sub;
    for (char *const *w = m->options; w && *w; w++) {
        if (strncmp(*w, "sprite.subpath=", 15) != 0) continue;
        struct fsroot sr;
        int r2 = m->source && kind == MK_BIND ? fsroot_open(&sr, m->source) : -EINVAL;
        if (r2 == 0) {
            subfd = fsroot_openat(&sr, *w + 15, O_PATH, 0);
            fsroot_close(&sr);
            r2 = subfd < 0 ? subfd : 0;
        }
        if (r2 < 0)
            return sp_err_set(err, r2, "mounting %s/%s on %s: %s", what, *w + 15, dest,
                              strerror(-r2));
        fd_path(subsrc, subfd);
        sub = *m;
        sub.source = subsrc;
        m = &sub;
        what = subsrc;
    }
    bool idmapped = m->n_uid_mappings || m->n_gid_mappings;
    if (idmapped && kind != MK_BIND)
        return sp_err_set(err, -EINVAL, "mounting %s on %s: only bind mounts can be id-mapped",
                          what, dest);
    if (idmapped &&
        (!m->n_uid_mappings || !m->n_gid_mappings || m->n_uid_mappings > OCI_MOUNT_MAX_IDMAPS ||
         m->n_gid_mappings > OCI_MOUNT_MAX_IDMAPS))
        return sp_err_set(err, -EINVAL,
                          "mounting %s on %s: an id-mapped mount needs uid and gid mappings, "
                          "1 to %d of each",
                          what, dest, OCI_MOUNT_MAX_IDMAPS);
    bool file = false;
    if (kind == MK_BIND) {
        if (!m->source)
            return sp_err_set(err, -EINVAL, "mounting on %s: a bind needs a source", dest);
        struct stat st;
        if (stat(m->source, &st) < 0)
            return sp_err_set(err, -errno, "mounting %s on %s: %s", what, dest, strerror(errno));
        file = !S_ISDIR(st.st_mode);
    }

    int fd = open_target(r, dest, file);
    if (fd < 0) return sp_err_set(err, fd, "mounting %s on %s: %s", what, dest, strerror(-fd));
    char p[32];
    fd_path(p, fd);

    unsigned long fs_flags = o.flags & ~(MS_BIND | MS_REC);
    bool rec = false;
    const char *bind_src = NULL;
    e = 0;
    switch (kind) {
    case MK_BIND:
        bind_src = m->source;
        rec = (o.flags & MS_REC) != 0;
        break;
    case MK_SYSFS:
        if (mount(source, p, "sysfs", fs_flags, o.data[0] ? o.data : NULL) == 0) break;
        if (errno != EPERM) {
            e = -errno;
            break;
        }
        /* A user namespace without its own network namespace may not mount sysfs. */
        sp_debug("mounting sysfs on %s: EPERM, binding /sys instead", dest);
        bind_src = "/sys";
        rec = true;
        break;
    case MK_CGROUP:
        if (cgroup_version() == 2) {
            if (mount("cgroup2", p, "cgroup2", fs_flags, o.data[0] ? o.data : NULL) == 0) break;
            if (errno != EPERM && errno != EBUSY) {
                e = -errno;
                break;
            }
        }
        /* cgroup v1 (or a cgroup2 mount refused): the host's hierarchy, recursively. */
        bind_src = "/sys/fs/cgroup";
        rec = true;
        break;
    case MK_OTHER:
        if (mount(source, p, type, fs_flags, o.data[0] ? o.data : NULL) < 0) e = -errno;
        break;
    }
    if (e == 0 && idmapped) {
        e = idmapped_bind(m, rec, fd, dest, err);
        sp_close(fd);
        if (e < 0) return e;
    } else {
        if (e == 0 && bind_src && mount(bind_src, p, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
            e = -errno;
        sp_close(fd);
        if (e < 0) return sp_err_set(err, e, "mounting %s on %s: %s", what, dest, strerror(-e));
    }

    if (!bind_src && !o.propagation) return 0;

    /* The fd above is of the directory under the new mount: the second calls need the mount. */
    fd = fsroot_openat(r, dest, O_PATH, 0);
    if (fd < 0) return sp_err_set(err, fd, "mounting %s on %s: %s", what, dest, strerror(-fd));
    fd_path(p, fd);
    if (bind_src) {
        e = bind_apply_flags(fd, &o, rec || o.recursive);
        if (e < 0) {
            sp_close(fd);
            return sp_err_set(err, e, "mounting %s on %s: remounting with its flags: %s", what,
                              dest, strerror(-e));
        }
    }
    if (o.propagation && mount(NULL, p, NULL, o.propagation, NULL) < 0) {
        e = -errno;
        sp_close(fd);
        return sp_err_set(err, e, "mounting %s on %s: setting its propagation: %s", what, dest,
                          strerror(-e));
    }
    sp_close(fd);
    return 0;
}

/* ---- /dev -------------------------------------------------------------------------------- */

/*
 * mknod of name in dirfd (mode: type and permissions, applied as given); an existing entry of
 * the same type and number is kept, a different one replaced. When mknod is not allowed (a user
 * namespace), host_path is bind-mounted onto an empty file instead (*bound set).
 */
static int make_node(int dirfd, const char *name, mode_t mode, dev_t rdev, const char *host_path,
                     bool *bound)
{
    *bound = false;
    mode_t old = umask(0);
    int e = mknodat(dirfd, name, mode, rdev) < 0 ? -errno : 0;
    if (e == -EEXIST) {
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            (st.st_mode & S_IFMT) == (mode & S_IFMT) && (S_ISFIFO(mode) || st.st_rdev == rdev)) {
            e = fchmodat(dirfd, name, mode & 07777, 0) < 0 ? -errno : 0;
        } else if (unlinkat(dirfd, name, 0) == 0) {
            e = mknodat(dirfd, name, mode, rdev) < 0 ? -errno : 0;
        }
    }
    if (e == -EPERM && !S_ISFIFO(mode)) {
        int nf = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (nf < 0) {
            e = -errno;
        } else {
            sp_close(nf);
            int t = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            if (t < 0) {
                e = -errno;
            } else {
                char p[32];
                fd_path(p, t);
                e = mount(host_path, p, NULL, MS_BIND, NULL) < 0 ? -errno : 0;
                sp_close(t);
                if (e == 0) *bound = true;
            }
        }
    }
    umask(old);
    return e;
}

static const struct {
    const char *name;
    unsigned major, minor;
} default_devices[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static const struct {
    const char *name, *target;
} dev_links[] = {
    {"fd", "/proc/self/fd"},
    {"stdin", "/proc/self/fd/0"},
    {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"},
};

static int spec_device(const struct fsroot *r, const struct oci_device *d, struct sp_err *err)
{
    const char *path = d->path ? d->path : "";
    mode_t type;
    switch (d->type) {
    case 'c':
    case 'u': type = S_IFCHR; break;
    case 'b': type = S_IFBLK; break;
    case 'p': type = S_IFIFO; break;
    default:
        return sp_err_set(err, -EINVAL, "creating device %s: unknown type '%c'", path, d->type);
    }
    if (d->major < 0 || d->minor < 0 || d->major > UINT32_MAX || d->minor > UINT32_MAX)
        return sp_err_set(err, -EINVAL, "creating device %s: bad number %lld:%lld", path,
                          (long long)d->major, (long long)d->minor);
    int dirfd;
    char name[NAME_MAX + 1];
    int e = open_parent(r, path, &dirfd, name);
    if (e < 0) return sp_err_set(err, e, "creating device %s: %s", path, strerror(-e));
    mode_t perm = d->has_mode ? d->file_mode & 07777 : 0666;
    dev_t rdev = type == S_IFIFO ? 0 : makedev((unsigned)d->major, (unsigned)d->minor);
    bool bound;
    e = make_node(dirfd, name, type | perm, rdev, path, &bound);
    /* A bound node is the host's: never chown it. */
    if (e == 0 && !bound && (d->has_uid || d->has_gid) &&
        fchownat(dirfd, name, d->has_uid ? d->uid : (uid_t)-1, d->has_gid ? d->gid : (gid_t)-1,
                 AT_SYMLINK_NOFOLLOW) < 0)
        e = -errno;
    sp_close(dirfd);
    if (e < 0) return sp_err_set(err, e, "creating device %s: %s", path, strerror(-e));
    return 0;
}

static int setup_dev(const struct fsroot *r, const struct oci_spec *spec, struct sp_err *err)
{
    int e;
    for (size_t i = 0; i < spec->n_devices; i++) {
        e = spec_device(r, &spec->devices[i], err);
        if (e < 0) return e;
    }

    int dev = open_target(r, "/dev", false);
    if (dev < 0) return sp_err_set(err, dev, "creating /dev: %s", strerror(-dev));
    for (size_t i = 0; i < SP_ARRAY_LEN(default_devices); i++) {
        const char *n = default_devices[i].name;
        struct stat st;
        /* A node the spec listed (or the image has) stays as it is. */
        if (fstatat(dev, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            (S_ISCHR(st.st_mode) || S_ISREG(st.st_mode)))
            continue;
        char host[64];
        snprintf(host, sizeof(host), "/dev/%s", n);
        bool bound;
        e = make_node(dev, n, S_IFCHR | 0666,
                      makedev(default_devices[i].major, default_devices[i].minor), host, &bound);
        if (e < 0) {
            sp_close(dev);
            return sp_err_set(err, e, "creating /dev/%s: %s", n, strerror(-e));
        }
    }

    /* /dev/ptmx must be the container's devpts instance (the console is opened through it), so
     * a node left by the image is replaced, as runc does. */
    struct stat st;
    if (fstatat(dev, "ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode) &&
        !S_ISDIR(st.st_mode))
        unlinkat(dev, "ptmx", 0);
    e = symlinkat("pts/ptmx", dev, "ptmx") < 0 && errno != EEXIST ? -errno : 0;
    if (e < 0) {
        sp_close(dev);
        return sp_err_set(err, e, "creating /dev/ptmx: %s", strerror(-e));
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(dev_links); i++) {
        if (symlinkat(dev_links[i].target, dev, dev_links[i].name) < 0 && errno != EEXIST) {
            e = -errno;
            sp_close(dev);
            return sp_err_set(err, e, "creating /dev/%s: %s", dev_links[i].name, strerror(-e));
        }
    }
    sp_close(dev);
    return 0;
}

/* ---- rootfs_prepare ---------------------------------------------------------------------- */

/* linux.rootfsPropagation → MS_* (with MS_REC for the r- forms); NULL → 0. -EINVAL otherwise. */
static int root_propagation(const struct oci_spec *spec, unsigned long *out, struct sp_err *err)
{
    *out = 0;
    const char *s = spec->rootfs_propagation;
    if (!s || !*s) return 0;
    const struct opt_word *ow = opt_find(s);
    if (!ow || ow->kind != OPT_PROP)
        return sp_err_set(err, -EINVAL, "linux.rootfsPropagation: unknown value \"%s\"", s);
    *out = ow->value;
    return 0;
}

static bool dev_is_bind(const struct oci_spec *spec)
{
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct oci_mount *m = &spec->mounts[i];
        if (!m->destination || !path_is(m->destination, "dev")) continue;
        if (!m->type || !strcmp(m->type, "bind")) return true;
        for (size_t k = 0; m->options && m->options[k]; k++)
            if (!strcmp(m->options[k], "bind") || !strcmp(m->options[k], "rbind")) return true;
    }
    return false;
}

int rootfs_prepare(const struct oci_spec *spec, const char *rootfs, struct sp_err *err)
{
    unsigned long prop;
    int e = root_propagation(spec, &prop, err);
    if (e < 0) return e;

    /* Nothing done below may reach the host's mounts. A shared root would also make pivot_root
     * fail, so "shared" starts as a slave (the host's mounts still come in) and the asked
     * propagation is set on the new root by rootfs_finalize. */
    unsigned long first = (prop & (MS_SLAVE | MS_SHARED)) ? MS_SLAVE : MS_PRIVATE;
    if (mount("", "/", NULL, MS_REC | first, NULL) < 0)
        return sp_err_set(err, -errno, "making / %s: %s", first == MS_SLAVE ? "rslave" : "rprivate",
                          strerror(errno));
    /* pivot_root wants the new root to be a mount. */
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        return sp_err_set(err, -errno, "binding %s onto itself: %s", rootfs, strerror(errno));

    struct fsroot r;
    e = fsroot_open(&r, rootfs);
    if (e < 0) return sp_err_set(err, e, "opening %s: %s", rootfs, strerror(-e));

    for (size_t i = 0; i < spec->n_mounts; i++) {
        e = do_mount(&r, &spec->mounts[i], err);
        if (e < 0) goto out;
    }
    if (!dev_is_bind(spec)) e = setup_dev(&r, spec, err);
out:
    fsroot_close(&r);
    return e;
}

/* ---- rootfs_pivot ------------------------------------------------------------------------ */

static int pivot(const char *rootfs, struct sp_err *err)
{
    int oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
    if (oldroot < 0) return sp_err_set(err, -errno, "opening /: %s", strerror(errno));
    int newroot = open(rootfs, O_DIRECTORY | O_PATH | O_CLOEXEC);
    if (newroot < 0) {
        int e = sp_err_set(err, -errno, "opening %s: %s", rootfs, strerror(errno));
        sp_close(oldroot);
        return e;
    }
    int e = 0;
    const char *step = NULL;
    /* pivot_root(".", ".") stacks the old root on top of the new one, at "/"; no put_old
     * directory is needed. From the old root, it is then made a slave (so that unmounting it
     * does not propagate back to the host) and detached. */
    if (fchdir(newroot) < 0)
        step = "chdir to the new root";
    else if (syscall(SYS_pivot_root, ".", ".") < 0)
        step = "pivot_root";
    else if (fchdir(oldroot) < 0)
        step = "chdir to the old root";
    else if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        step = "making the old root rslave";
    else if (umount2(".", MNT_DETACH) < 0)
        step = "unmounting the old root";
    if (step) e = -errno;
    for (int i = 0; !step && i < MAX_OLDROOT_UMOUNTS; i++) {
        if (umount2(".", MNT_DETACH) == 0) continue;
        if (errno != EINVAL) {
            step = "unmounting the old root";
            e = -errno;
        }
        break;
    }
    if (!step && chdir("/") < 0) {
        step = "chdir /";
        e = -errno;
    }
    sp_close(oldroot);
    sp_close(newroot);
    if (step) return sp_err_set(err, e, "pivot to %s: %s: %s", rootfs, step, strerror(-e));
    return 0;
}

int rootfs_pivot(const char *rootfs, bool no_pivot, struct sp_err *err)
{
    if (!no_pivot) return pivot(rootfs, err);
    const char *step = NULL;
    if (chdir(rootfs) < 0)
        step = "chdir";
    else if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
        step = "moving it onto /";
    else if (chroot(".") < 0)
        step = "chroot";
    else if (chdir("/") < 0)
        step = "chdir /";
    if (step) return sp_err_set(err, -errno, "root %s: %s: %s", rootfs, step, strerror(errno));
    return 0;
}

/* ---- rootfs_finalize --------------------------------------------------------------------- */

static int mask_path(const char *path, struct sp_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT) return 0;
        return sp_err_set(err, -errno, "masking %s: %s", path, strerror(errno));
    }
    int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL)
                                : mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (r < 0) return sp_err_set(err, -errno, "masking %s: %s", path, strerror(errno));
    return 0;
}

static int readonly_path(const char *path, struct sp_err *err)
{
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
        if (errno == ENOENT) return 0;
        return sp_err_set(err, -errno, "making %s read-only: %s", path, strerror(errno));
    }
    unsigned long keep = mount_flags_of(-1, path) & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
    if (mount(path, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0)
        return sp_err_set(err, -errno, "making %s read-only: %s", path, strerror(errno));
    return 0;
}

int rootfs_finalize(const struct oci_spec *spec, struct sp_err *err)
{
    unsigned long prop;
    int e = root_propagation(spec, &prop, err);
    if (e < 0) return e;
    if (prop && mount(NULL, "/", NULL, prop, NULL) < 0)
        return sp_err_set(err, -errno, "setting the propagation of /: %s", strerror(errno));

    for (size_t i = 0; spec->readonly_paths && spec->readonly_paths[i]; i++) {
        e = readonly_path(spec->readonly_paths[i], err);
        if (e < 0) return e;
    }
    for (size_t i = 0; spec->masked_paths && spec->masked_paths[i]; i++) {
        e = mask_path(spec->masked_paths[i], err);
        if (e < 0) return e;
    }
    if (spec->root_readonly) {
        unsigned long keep = mount_flags_of(-1, "/") & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
        if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL) < 0)
            return sp_err_set(err, -errno, "making / read-only: %s", strerror(errno));
    }
    return 0;
}

/* ---- console ----------------------------------------------------------------------------- */

int rootfs_bind_console(const char *slave_path, struct sp_err *err)
{
    const char *console = "/dev/console";
    struct stat st;
    /* A symlink there (from the image) would send the bind elsewhere: replace it. An existing
     * node is only mounted over (never opened: it could be the host's console). */
    if (lstat(console, &st) == 0 && S_ISLNK(st.st_mode)) unlink(console);
    if (mknod(console, S_IFREG | 0600, 0) < 0 && errno != EEXIST)
        return sp_err_set(err, -errno, "creating %s: %s", console, strerror(errno));
    if (mount(slave_path, console, NULL, MS_BIND, NULL) < 0)
        return sp_err_set(err, -errno, "mounting %s on %s: %s", slave_path, console,
                          strerror(errno));
    return 0;
}
