/* SPDX-License-Identifier: MIT */
/*
 * Cgroups for containers, v1 and v2. The layout is detected (cgroup_detect, statfs): a cgroup2
 * file system on /sys/fs/cgroup is v2 ("unified"); otherwise the v1 controller hierarchies
 * mounted under /sys/fs/cgroup/<controller> are used (a hybrid host's cgroup2 at
 * /sys/fs/cgroup/unified is then left alone, as runc does).
 *
 * A container's cgroup is a path relative to the hierarchy root (OCI linux.cgroupsPath: an
 * absolute path is taken from the root; a relative one, an empty one, or none is replaced by
 * "/sprite/<id>"). Paths are normalised ("//" and "." dropped); ".." and the root itself are
 * refused (-EINVAL). Only directories this code created are ever removed.
 *
 * Errors fill the struct sp_err with a message naming the file, e.g. "writing 1073741824 to
 * /sys/fs/cgroup/memory/sprite/c1/memory.limit_in_bytes: Invalid argument". Not thread-safe.
 */
#ifndef SP_CGROUP_H
#define SP_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "../base/err.h"

struct cgroup;

/* V1: controller hierarchies (each its own mount under /sys/fs/cgroup, possibly co-mounted like
 * "cpu,cpuacct"; named ones such as name=systemd are left alone). V2: one cgroup2 mount. */
enum cgroup_mode { CGROUP_V1, CGROUP_V2 };

/* Which layout this host has. */
enum cgroup_mode cgroup_detect(void);

/*
 * Creates (mkdir -p) the container's cgroup at path ("/a/b"; NULL or relative: "/sprite/<id>")
 * in every hierarchy (v1: cpu, cpuacct, cpuset, memory, pids, freezer, devices, blkio, and any
 * other mounted one; v1 cpuset: an empty cpuset.cpus/mems, at every level, is copied from the
 * parent; v2: enables +cpu +cpuset +memory +pids, where offered, in the parents'
 * cgroup.subtree_control). An existing leaf is reused; *created says whether this call made it
 * in any hierarchy (only then may cgroup_destroy remove it later: the caller keeps that in its
 * state). On failure what this call made is removed again. *out is freed with cgroup_free.
 */
int cgroup_create(const char *path, const char *id, struct cgroup **out, bool *created,
                  struct sp_err *err);

/* The same cgroup from a path saved earlier (cgroup_path), for later commands. The path must be
 * absolute; -ENOENT when it exists in no hierarchy. */
int cgroup_open(const char *path, struct cgroup **out, struct sp_err *err);

/* Relative path from the hierarchy root ("/sprite/c1"). */
const char *cgroup_path(const struct cgroup *cg);

/* Puts pid into it (every hierarchy). */
int cgroup_enter(struct cgroup *cg, pid_t pid, struct sp_err *err);

/*
 * Applies OCI linux.resources (memory limit/reservation/swap/swappiness/disableOOMKiller,
 * cpu shares/quota/period/cpus/mems, pids.limit, devices rules on v1). Unknown or unsupported
 * fields are ignored (v2: devices, swappiness, disableOOMKiller; v1: swap without
 * memory.memsw.*); a field of the wrong JSON type is -EINVAL naming the field, and a value the
 * kernel refuses (or a controller that is not there) is an error naming the file. Device rules
 * are written in the order given (OCI configs start with a "deny all" rule). resources NULL or
 * JSON null: nothing to do.
 */
int cgroup_apply(struct cgroup *cg, json_t *resources, struct sp_err *err);

/* Freezes or thaws, waiting (up to 5 s) until the state is reached (-ETIMEDOUT otherwise; a
 * freeze that times out is undone). v1 without a freezer hierarchy: -ENOTSUP. */
int cgroup_freeze(struct cgroup *cg, bool frozen, struct sp_err *err);
/* Whether it is frozen now. */
bool cgroup_is_frozen(const struct cgroup *cg);

/* Every pid in it (recursively, sorted; v1: as listed by the freezer hierarchy, else pids, else
 * the first), in a heap array the caller frees (NULL when *n is 0). Gone: -ENOENT. */
int cgroup_pids(const struct cgroup *cg, pid_t **pids, size_t *n, struct sp_err *err);

/* Sends sig to every process in it (frozen first, so none can fork away; thawed after, except
 * that a cgroup frozen before stays frozen for a signal other than SIGKILL). v2 SIGKILL uses
 * cgroup.kill when the kernel has it. A cgroup that is gone already: 0. */
int cgroup_kill_all(struct cgroup *cg, int sig, struct sp_err *err);

/* Removes the leaf directory in every hierarchy, with any cgroups made below it (call it only for
 * a cgroup this code created), waiting briefly (up to 1 s) for the last processes to leave
 * (-EBUSY after that, naming the directory). Gone already: 0. Parents made by cgroup_create
 * ("/sprite") stay. */
int cgroup_destroy(struct cgroup *cg, struct sp_err *err);

/* Memory limit in bytes currently set (v1 memory.limit_in_bytes / v2 memory.max); -1 = none (or
 * unreadable). For tests and `state`. */
long long cgroup_memory_limit(const struct cgroup *cg);

/* NULL is a no-op. */
void cgroup_free(struct cgroup *cg);

/* The normalised cgroup path for path and id (rules at the top) into out; 0 or -errno. */
int cgroup_resolve_path(const char *path, const char *id, char *out, size_t cap,
                        struct sp_err *err);

/* FOR TESTS ONLY: makes cgroup_detect return mode and, for CGROUP_V2, use root as the cgroup2
 * mount (e.g. a hybrid host's /sys/fs/cgroup/unified). root NULL restores detection. Affects
 * cgroups created or opened afterwards. */
void cgroup_set_root_for_tests(enum cgroup_mode mode, const char *root);

#endif
