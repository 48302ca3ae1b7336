/* SPDX-License-Identifier: MIT */
/*
 * OCI hooks: each hook of a list runs in turn with the container's state JSON on its stdin, its
 * own args and env, and its timeout (SIGKILL when it runs over). The first that fails (exit
 * status not 0, killed, timed out, not executable) stops the list.
 */
#ifndef SP_HOOKS_H
#define SP_HOOKS_H

#include "../base/err.h"
#include "oci.h"

/* kind names the list in errors ("error running createRuntime hook #1: exit status 3"). */
int hooks_run(const struct oci_hook_list *l, const char *kind, const char *state_json,
              struct sp_err *err);

#endif
