/* SPDX-License-Identifier: MIT */
/*
 * Becoming a container's process: what the container init and `exec` do, in the child, once
 * they are inside the container (its namespaces and root) and just before execve: rlimits,
 * the user and its groups with the capability sets of the config, the working directory and
 * umask, and the lookup of the program in the container's PATH. Errors are worded as runc's
 * are where callers parse them ("exec: \"x\": executable file not found in $PATH").
 */
#ifndef SP_CPROC_H
#define SP_CPROC_H

#include <stddef.h>

#include "../base/err.h"
#include "oci.h"

/* setrlimit for every process.rlimits entry ("error setting rlimit type 7: …"). */
int cproc_rlimits(const struct oci_process *p, struct sp_err *err);

/* Groups, gid, uid; capabilities (bounding dropped first, kept across the uid change, then
 * effective/permitted/inheritable set and ambient raised) when the config has them. */
int cproc_identity(const struct oci_process *p, struct sp_err *err);

/* chdir to cwd (created if missing, as runc does) and the umask (0022 when not given). */
int cproc_cwd_umask(const struct oci_process *p, struct sp_err *err);

/* The path to exec for args[0], searched in the PATH of the process's env (a default PATH when
 * it has none). -ENOENT / -EACCES with err set. */
int cproc_lookup(const struct oci_process *p, char *path, size_t len, struct sp_err *err);

/* 127 for a not-found error, 126 otherwise (what podman maps the messages to). */
int cproc_exec_error_code(int neg_errno);

#endif
