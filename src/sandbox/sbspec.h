/* SPDX-License-Identifier: MIT */
/*
 * Sandbox create requests (POST /v1/sandboxes, docs/sandboxes.md "Create"): sbspec_parse() checks
 * a request and returns it normalised, with every field present. It is pure: it never touches the
 * file system, so the caller still checks that rootfs, image, bind sources and subpaths exist and
 * that a mount's filetype matches its source.
 *
 * Rules beyond the doc:
 *  - Unknown keys are errors, at the top level and in a mount, an idmap entry and "resources".
 *    JSON null counts as absent. Strings must not contain NUL bytes.
 *  - Paths are cleaned lexically: "//" collapsed, "." components and a trailing "/" dropped.
 *    ".." is never resolved: in rootfs, image, a bind source, a target and a subpath it is an
 *    error; in workdir (resolved inside the sandbox, where symlinks decide what ".." means) it is
 *    kept as written. Paths are at most SBSPEC_MAX_PATH bytes as given.
 *  - rootfs, image, a bind source, a target and workdir are absolute; a target is not "/" and not
 *    "/.sprite" or under it; a subpath is relative and not empty once cleaned. Two mounts must
 *    not have the same (cleaned) target. A volume's source is a volume name.
 *  - idmap entries: "from", "to" (0..SBSPEC_MAX_IDMAP_ID) and "range" (1..SBSPEC_MAX_IDMAP_RANGE)
 *    are all required integers, with from + range and to + range at most 2^32.
 *  - env keys match [A-Za-z_][A-Za-z0-9_]*; user is 1..255 bytes without '/'; hostname is 1..64
 *    bytes of [A-Za-z0-9.-], not starting with '-' or '.'; label keys are not empty.
 *  - memory_mb, pids and ttl_sec are JSON integers (2.0 is refused); cpus is any JSON number
 *    and always comes out as a real.
 */
#ifndef SP_SBSPEC_H
#define SP_SBSPEC_H

#include <stdbool.h>

#include <jansson.h>

#include "../base/err.h"

#define SBSPEC_MAX_NAME        64 /* sandbox and volume names, in bytes */
#define SBSPEC_MAX_PATH        4095
#define SBSPEC_MAX_MOUNTS      64
#define SBSPEC_MAX_IDMAP       8            /* entries per mount */
#define SBSPEC_MAX_IDMAP_ID    4294967294LL /* from, to */
#define SBSPEC_MAX_IDMAP_RANGE 4294967295LL
#define SBSPEC_IDMAP_END       4294967296LL /* from + range and to + range at most this */
#define SBSPEC_MAX_ENV         256
#define SBSPEC_MAX_ENV_KEY     255
#define SBSPEC_MAX_ENV_VALUE   32768
#define SBSPEC_MAX_USER        255
#define SBSPEC_MAX_HOSTNAME    64
#define SBSPEC_MIN_MEMORY_MB   4
#define SBSPEC_MAX_MEMORY_MB   1048576
#define SBSPEC_MIN_CPUS        0.01
#define SBSPEC_MAX_CPUS        1024.0
#define SBSPEC_MIN_PIDS        8
#define SBSPEC_MAX_PIDS        4194304
#define SBSPEC_MAX_TTL_SEC     2592000
#define SBSPEC_MAX_LABELS      64
#define SBSPEC_MAX_LABEL_BYTES 256 /* a label's key, and its value */

/*
 * Checks a create request (a JSON object, borrowed and not modified) and fills *out with a new
 * object (the caller's reference) holding exactly these keys, absent ones given their defaults:
 *
 *   {"name": "box1" | null, "rootfs": "/abs" | null, "image": "/abs" | null,
 *    "mounts": [{"type": "volume" | "bind", "source": "data" | "/abs", "target": "/abs",
 *                "subpath": "rel" | null, "readonly": false,
 *                "filetype": "file" | "directory" | "infer",
 *                "idmap": [{"from": 0, "to": 100000, "range": 65536}]}],
 *    "env": {"K": "V"}, "user": "root", "workdir": "/", "hostname": "box1" | null,
 *    "network": "none" | "host",
 *    "resources": {"memory_mb": 256 | null, "cpus": 1.5 | null, "pids": 512 | null},
 *    "ttl_sec": 0, "on_ttl": "pause" | "destroy", "labels": {"k": "v"}}
 *
 * A null name or hostname stays null (the caller gives the id and the name). The result shares
 * nothing with req. Returns 0, -EINVAL with err->msg naming the field ("mounts[1].target: must be
 * an absolute path", "unknown field \"foo\"", "exactly one of rootfs and image is required"), or
 * -ENOMEM; *out is left alone on failure.
 */
int sbspec_parse(json_t *req, json_t **out, struct sp_err *err);

/* True for a valid sandbox name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, 1..SBSPEC_MAX_NAME bytes. */
bool sbspec_name_ok(const char *name);

/* True for a valid volume name (the same rule). */
bool sbspec_volume_name_ok(const char *name);

#endif
