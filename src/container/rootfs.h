/* SPDX-License-Identifier: MIT */
/*
 * The container's root filesystem, built inside the container's new mount namespace by its init
 * process (every function here runs in that child, before the user program): the rootfs bind
 * mounted onto itself, the config's mounts made under it, /dev populated, then pivot_root (or
 * MS_MOVE + chroot with no_pivot), then read-only root, masked and read-only paths.
 *
 * Every mount destination is resolved inside the rootfs with openat2(RESOLVE_IN_ROOT), so a
 * symlink in the image cannot send a mount outside it; missing directories (or, for a file
 * source, an empty file) are created, also at the in-rootfs target of a dangling symlink. The
 * mount is then made on /proc/self/fd/N of an O_PATH fd of the target. Errors name the mount:
 * "mounting proc on /proc: Operation not permitted".
 */
#ifndef SP_ROOTFS_H
#define SP_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/err.h"
#include "oci.h"

/* Parsed mount options: flags for mount(2), the propagation (a second call), and the data
 * string (everything that is not a flag: "mode=755,size=65536k"). */
struct mount_opts {
    unsigned long flags;       /* MS_RDONLY, MS_NOSUID, …, MS_BIND, MS_REC */
    unsigned long clear;       /* flags an option turned off ("rw", "suid", "dev", "exec", …) */
    unsigned long propagation; /* MS_PRIVATE, MS_SHARED, MS_SLAVE, MS_UNBINDABLE (| MS_REC) or 0 */
    bool recursive;            /* crun's rro/rrw/rnosuid/rsuid/rnodev/rdev/rnoexec/rexec given:
                                * a bind's flags go to every mount below it too */
    char data[1024];
};

/*
 * Parses OCI mount options (options NULL-terminated; NULL is no options). The fstab words
 * (defaults ro rw [no]suid [no]dev [no]exec sync async dirsync remount [no]mand [no]atime
 * [no]diratime [no]relatime [no]strictatime silent loud [no]iversion [no]lazytime) set or clear
 * flags, a later word winning over an earlier one ("ro,rw" is rw); bind is MS_BIND, rbind
 * MS_BIND|MS_REC; [r]private [r]shared [r]slave [r]unbindable set the propagation (the last one
 * wins). tmpcopyup, notmpcopyup, idmap, ridmap, copy-symlink, src-nofollow and dest-nofollow are
 * ignored (logged at debug level). Empty words are skipped; any other word goes to data, comma
 * joined in order. -EINVAL when data would not fit (out untouched then).
 */
int mount_opts_parse(char *const *options, struct mount_opts *out, struct sp_err *err);

/*
 * In the child, in its new mount namespace, before pivot: makes "/" rprivate (rslave when
 * linux.rootfsPropagation is [r]slave or [r]shared: a shared root would leak our mounts to the
 * host and make pivot_root fail; rootfs_finalize sets the asked propagation on the new root),
 * binds rootfs onto itself, performs spec->mounts in order, and, unless /dev is a bind mount,
 * creates spec->devices (mode 0666 when not given; missing parents created; an existing entry of
 * another kind replaced), then the default devices that are not there yet (null zero full random
 * urandom tty as char devices 0666, bind-mounted from the host when mknod is not allowed),
 * /dev/ptmx -> pts/ptmx (replacing a node), /dev/fd, /dev/stdin|stdout|stderr (kept if present).
 *
 * A bind with the option "sprite.subpath=REL" mounts REL resolved inside its source by the kernel
 * (openat2 RESOLVE_IN_ROOT, in the init, at mount time): symlinks in the source, even ones put
 * there after the caller checked the path, cannot lead out of it (sandboxes' volume subpaths).
 *
 * Mount types: bind (type "bind", absent, or any type with the bind/rbind option; the flags are
 * applied by a second call, to the whole tree with mount_setattr for rbind), sysfs (a recursive
 * bind of /sys when mounting it is refused with EPERM), cgroup (cgroup2 on a v2 host; on a v1
 * host a recursive bind of /sys/fs/cgroup with the mount's flags), anything else as given to
 * mount(2) (the source defaults to the type). A propagation option is a separate call.
 * rootfs is absolute. On error, what was mounted stays (the namespace is thrown away).
 *
 * An id-mapped bind (a mount with uidMappings and gidMappings, see oci.h): a child is cloned
 * into a new user namespace, its uid_map and gid_map are written with the mount's lists and the
 * namespace is kept as an fd (the child is then reaped by pid: no other child of the caller is
 * waited for); the source is copied with open_tree(OPEN_TREE_CLONE, AT_RECURSIVE for rbind),
 * mount_setattr(MOUNT_ATTR_IDMAP) sets the mapping on the copy (on all its mounts for rbind),
 * move_mount puts it on the target, and the flags follow as for any bind. This needs Linux 5.12,
 * a file system that supports id-mapped mounts (ext4, xfs, btrfs, tmpfs from 6.3, …) and
 * CAP_SYS_ADMIN over the source's file system: in a container with its own user namespace the
 * kernel refuses it. Then the error is "mounting SRC on DEST: id-mapped mounts are not supported
 * here: <strerror>" (EINVAL, EOPNOTSUPP, EPERM or ENOSYS).
 */
int rootfs_prepare(const struct oci_spec *spec, const char *rootfs, struct sp_err *err);

/* Makes rootfs the root: pivot_root(".", ".") then a lazy unmount of the old root, or, with
 * no_pivot, MS_MOVE onto "/" and chroot. Ends with chdir("/"). */
int rootfs_pivot(const char *rootfs, bool no_pivot, struct sp_err *err);

/* After the pivot: linux.rootfsPropagation on "/" (when given), readonlyPaths (bind + read-only
 * remount keeping nosuid/nodev/noexec), maskedPaths (/dev/null over files, a read-only tmpfs over
 * directories), then root.readonly. Missing paths are skipped. */
int rootfs_finalize(const struct oci_spec *spec, struct sp_err *err);

/* After the pivot, for a terminal: /dev/console becomes a bind mount of the pty slave path (an
 * empty file is created first when missing; a symlink there is replaced). */
int rootfs_bind_console(const char *slave_path, struct sp_err *err);

#endif
