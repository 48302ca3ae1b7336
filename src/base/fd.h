/* SPDX-License-Identifier: MIT */
/* File-descriptor helpers: EINTR-safe wrappers and flags. Every helper returns 0/-errno. */
#ifndef SP_FD_H
#define SP_FD_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all of buf to a blocking fd, retrying on EINTR. 0 or -errno. */
int sp_write_all(int fd, const void *buf, size_t n);
/* read(2) retried on EINTR; returns bytes or -errno. */
ssize_t sp_read(int fd, void *buf, size_t n);
int sp_set_nonblock(int fd, int on);
/* close(2) that keeps errno and ignores -1. */
void sp_close(int fd);
/* Closes *fd and sets it to -1 (for SP_CLEANUP). */
void sp_closep(int *fd);
/* Writes a whole file atomically: temp file in the same dir, fsync, rename. 0 or -errno. */
int sp_write_file_atomic(const char *path, const void *data, size_t n, unsigned mode);
/* The same without the fsync: a reader never sees half a file, but after a crash the file may be
 * the old one (or empty). For state that means nothing after a reboot (containers, sandboxes). */
int sp_write_file_replace(const char *path, const void *data, size_t n, unsigned mode);
/* mkdir -p: every missing directory of path is created with mode (existing ones are kept as
 * they are). 0 or -errno (-ENAMETOOLONG beyond PATH_MAX). */
int sp_mkdir_p(const char *path, unsigned mode);
/* rm -rf of a directory tree that someone else may control (a container's upper layer): symlinks
 * are removed, never followed; a symlink or file at path itself is just unlinked. At most 256
 * levels deep. Errors are ignored (what could not be removed stays). */
void sp_rm_rf(const char *path);

#endif
