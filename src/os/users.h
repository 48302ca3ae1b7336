/* SPDX-License-Identifier: MIT */
/*
 * Users without NSS: "name", "uid", "uid:gid", "name:group" or "uid:group" resolved by reading
 * <root>/etc/passwd and <root>/etc/group ourselves, so the same code serves sandboxes whose
 * files are not ours and a static binary with no NSS modules. A numeric uid that has no passwd
 * entry is fine (gid = uid, home "/").
 */
#ifndef SP_USERS_H
#define SP_USERS_H

#include <stddef.h>
#include <sys/types.h>

#include "../base/err.h"

#define USERS_MAX_GROUPS 64

struct user_ids {
    uid_t uid;
    gid_t gid;
    gid_t groups[USERS_MAX_GROUPS]; /* supplementary groups from <root>/etc/group */
    size_t n_groups;
    char name[64]; /* "" when the uid has no passwd entry */
    char home[256];
};

/* root: "/" or a sandbox's root directory. -ENOENT (unknown user or group) or -EINVAL. */
int users_lookup(const char *root, const char *spec, struct user_ids *out, struct sp_err *err);

/* The name of a uid / gid in <root>/etc/passwd / group, or the number as text when it has none. */
void users_uid_name(const char *root, uid_t uid, char *buf, size_t len);
void users_gid_name(const char *root, gid_t gid, char *buf, size_t len);

#endif
