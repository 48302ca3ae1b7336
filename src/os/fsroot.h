/* SPDX-License-Identifier: MIT */
/*
 * File operations confined to an environment's root directory, for the files API (wrenn's
 * /v1/files routes and envd's /files). The root is "/" for the host environment and a sandbox's
 * directory later, so nothing here assumes "/".
 *
 * The rule: no client path, "..", absolute symlink or relative symlink can reach outside the
 * root. The kernel enforces it: every client path is resolved with openat2(2) and
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS from the root's fd (the root acts as "/" for "..",
 * absolute paths and absolute symlink targets; procfs magic links such as /proc/self/root are
 * refused with -ELOOP, or -EXDEV for a scoped lookup). Operations that act on an entry rather than
 * open it (mkdir, rename, unlink) use the entry's parent directory, resolved the same way, and a
 * single component name that is never followed when it is a symlink. There is no string check on
 * paths besides splitting off the last component.
 *
 * Every `path` below is a client path: "/a/b", "a/b", "" and "/" (the root itself); it is always
 * interpreted inside the root (a leading "/" means the root). Empty components and "." are fine;
 * ".." never climbs above the root (RESOLVE_IN_ROOT semantics: it is resolved by the kernel after
 * the symlinks before it, not lexically). Paths of PATH_MAX bytes or more → -ENAMETOOLONG, a last
 * component longer than NAME_MAX → -ENAMETOOLONG.
 *
 * Every function returns 0 (or an fd) / -errno and writes its out-parameters only on success
 * (except where said). Calls block (plain file-system syscalls); they are meant for the loop
 * thread, one at a time. Every fd returned is O_CLOEXEC and owned by the caller. A concurrent
 * rename elsewhere in the system can make a lookup with ".." fail with -EAGAIN; it is retried a
 * few times first.
 */
#ifndef SP_FSROOT_H
#define SP_FSROOT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Directory levels a walk holds open at once (an fd and a DIR buffer each): list depths are
 * clamped to it and a recursive remove of a deeper tree fails with -ENAMETOOLONG (after removing
 * what it could). */
#define FSROOT_MAX_DEPTH  256
#define FSROOT_MAX_GROUPS 64

struct fsroot {
    int fd; /* O_PATH|O_DIRECTORY|O_CLOEXEC fd of the root; -1 when closed */
};

/* Opens dir (a trusted daemon path, resolved normally) as the root. 0 / -errno (-ENOTDIR; r->fd
 * is -1 then). The fd sees the mounts of the mount namespace it was opened in: after a
 * setns/unshare, open the root again. */
int fsroot_open(struct fsroot *r, const char *dir);
/* Closes the root's fd; a second call (or one after a failed open) is a no-op. */
void fsroot_close(struct fsroot *r);

/* openat2 inside the root; flags as open(2) (O_CLOEXEC always added; mode is used only with
 * O_CREAT or O_TMPFILE). A symlink as last component is followed inside the root unless
 * O_NOFOLLOW is given (then -ELOOP, or the link itself with O_PATH). Returns an fd or -errno. */
int fsroot_openat(const struct fsroot *r, const char *path, int flags, mode_t mode);

/* The parent directory of path's last component, opened O_PATH|O_DIRECTORY inside the root
 * (*dirfd, owned by the caller), and that last component (copied to name, NAME_MAX+1 bytes;
 * trailing slashes are dropped). The root itself, or a last component of "." or "..", → -EINVAL
 * (an operation needs a real entry). With parents=true, missing parent directories are created
 * (mode 0755 before umask, each created with mkdirat on a parent fd resolved inside the root); a
 * parent that exists as a dangling symlink is not created through: -EEXIST, as `mkdir -p`. */
int fsroot_parent(const struct fsroot *r, const char *path, bool parents, int *dirfd, char name[]);

/* stat of path; follow=false: of a symlink itself (lstat). target (may be NULL) gets the
 * symlink's target text when the last component is a symlink (with either follow; not resolved;
 * truncated to len-1 bytes), "" otherwise. */
int fsroot_stat(const struct fsroot *r, const char *path, bool follow, struct stat *st,
                char *target, size_t len);

/* mkdirat of the last component (mode before umask). -EEXIST if it exists, unless parents and
 * it is a directory (or a symlink to one): 0. */
int fsroot_mkdir(const struct fsroot *r, const char *path, mode_t mode, bool parents);

/* renameat(2) of from's entry to to's, across directories (a symlink is moved, not followed; an
 * existing destination is replaced as rename(2) does). parents: create to's missing parents. */
int fsroot_rename(const struct fsroot *r, const char *from, const char *to, bool parents);

/* A file or symlink: unlinkat; a dir: rmdir (-ENOTEMPTY), or the whole tree when recursive
 * (walked with dirfds and unlinkat, never following symlinks and never leaving the tree: a
 * symlink inside is removed, not followed; the walk goes on after an error and returns the first
 * one). The root itself (also "a/..") → -EBUSY. */
int fsroot_remove(const struct fsroot *r, const char *path, bool recursive);

/* Atomic write: a temp file `.<name>.sprite-tmp-<16 hex>` (name cut to 32 bytes) created
 * O_CREAT|O_EXCL|O_WRONLY with mode (before umask) in the target's directory; the caller writes
 * to t->fd. commit = fsync, renameat over the target, fsync the directory; abort = unlink the
 * temp. The old file stays intact until commit. A symlink at path is replaced by the file, not
 * written through; a directory at path → -EISDIR at create. */
struct fsroot_tmp {
    int dirfd;      /* O_PATH fd of the target's directory */
    int fd;         /* the temp file, O_WRONLY */
    char tmp[64];   /* the temp's name in dirfd */
    char name[256]; /* the target's name in dirfd */
};
int fsroot_tmp_create(const struct fsroot *r, const char *path, mode_t mode, bool parents,
                      struct fsroot_tmp *t);
/* Closes everything; 0 / -errno (on error the temp is gone and the target untouched, unless the
 * error came from the final directory fsync, after the rename). */
int fsroot_tmp_commit(struct fsroot_tmp *t);
/* Closes everything, removes the temp. A no-op after commit or a previous abort. */
void fsroot_tmp_abort(struct fsroot_tmp *t);

/* Directory listing, depth-first (pre-order, readdir order within a directory: callers sort), up
 * to depth levels (1 = the directory's own entries; clamped to FSROOT_MAX_DEPTH; < 1 → -EINVAL).
 * The callback gets the entry's client path (inside the root, "/"-separated, starting with "/":
 * the given path cleaned lexically — empty components and "." dropped, ".." pops — plus the
 * names below it), its name, its lstat and depth (1 for the directory's own entries); returning
 * non-zero stops the walk and is returned. Symlinked directories are listed as entries, never
 * descended into; subdirectories that cannot be opened (-EACCES) are listed but not descended
 * into. At most max_entries entries (then -E2BIG after calling back max_entries times). path must
 * be a directory (or a symlink to one): -ENOTDIR otherwise. */
typedef int (*fsroot_walk_fn)(void *ud, const char *path, const char *name, const struct stat *st,
                              int depth);
int fsroot_list(const struct fsroot *r, const char *path, int depth, size_t max_entries,
                fsroot_walk_fn fn, void *ud);

/* Acting as a user: file system uid/gid and supplementary groups of the calling thread switched
 * (setfsuid/setfsgid and the raw setgroups syscall, so only this thread) so that permission
 * checks and ownership of created files are the user's; the real and effective ids do not change.
 * leave restores the previous ones. Needs CAP_SETUID/CAP_SETGID. Nesting is not supported: -EBUSY
 * while this thread acts as a user. enter: 0 / -errno (-EINVAL for more than FSROOT_MAX_GROUPS
 * groups, in c or in the thread's current list; -EPERM when the switch did not happen); on
 * failure nothing is changed (and, but for -EBUSY, s is not active). */
struct fsroot_cred {
    uid_t uid;
    gid_t gid;
    gid_t groups[FSROOT_MAX_GROUPS];
    size_t n_groups;
};
struct fsroot_saved {
    uid_t fsuid;
    gid_t fsgid;
    gid_t groups[FSROOT_MAX_GROUPS];
    int n_groups;
    bool active;
};
int fsroot_cred_enter(const struct fsroot_cred *c, struct fsroot_saved *s);
/* Restores what enter saved; a no-op when s is not active. */
void fsroot_cred_leave(struct fsroot_saved *s);

/* Cleans a path lexically into out (PATH_MAX bytes) as "/a/b" ("/" for the root): empty and
 * "." components dropped, ".." pops the one before and never climbs above the root. 0 or
 * -ENAMETOOLONG. */
int fsroot_clean_path(const char *rel, char *out);

#endif
