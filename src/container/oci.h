/* SPDX-License-Identifier: MIT */
/*
 * The OCI runtime spec's config.json (runtime-spec 1.0/1.1), parsed into C and checked: what the
 * container library needs to build a container. Parsing is strict about types and about what we
 * cannot honour (a duplicate namespace or rlimit type, an unknown namespace type, a relative
 * mount destination), and tolerant of what we do not use (unknown keys, apparmor/selinux labels,
 * Windows/Solaris sections). Errors name the JSON path: "mounts[3].destination: must be absolute".
 *
 * A JSON null counts as absent (as Go, and so runc, reads it). Beyond the types, the parser
 * refuses what runc's validator refuses because it would reach the host: a hostname without a
 * "uts" namespace, a sysctl that no namespace of the container holds (net.* without "network",
 * kernel.msg*|sem|shm* and fs.mqueue.* without "ipc", kernel.domainname without "uts", anything
 * else), uid/gid mappings without a "user" namespace, and a new "user" namespace without them.
 * Capability names must look like "CAP_[A-Z][A-Z0-9_]*"; well-formed names we do not know (a
 * newer kernel's) are skipped.
 *
 * The files are read with integers above INT64_MAX (Go writes RLIM_INFINITY as
 * 18446744073709551615, which jansson cannot hold) turned into -1, so "unlimited" rlimits load;
 * linux.resources is kept as given, with the same -1 for such values.
 */
#ifndef SP_OCI_H
#define SP_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../base/err.h"

#define OCI_MAX_CONFIG_BYTES (4 * 1024 * 1024) /* config.json / a --process file */

enum oci_ns_type {
    OCI_NS_PID,
    OCI_NS_NET,
    OCI_NS_MOUNT,
    OCI_NS_IPC,
    OCI_NS_UTS,
    OCI_NS_USER,
    OCI_NS_CGROUP,
    OCI_NS_COUNT
};

struct oci_ns {
    bool wanted; /* listed in linux.namespaces */
    char *path;  /* join this one (NULL: a new one) */
};

struct oci_idmap {
    uint32_t container_id, host_id, size;
};

struct oci_rlimit {
    int resource;        /* RLIMIT_* */
    uint64_t soft, hard; /* RLIM_INFINITY for -1 (or any value above INT64_MAX); soft <= hard */
};

/* Capability sets as bit masks (bit N = capability N, N <= 40: the caller checks the kernel's
 * cap_last_cap); has_caps false when "capabilities" is absent (then the process keeps what it
 * has). */
struct oci_caps {
    bool has_caps;
    uint64_t bounding, effective, permitted, inheritable, ambient;
};

struct oci_process {
    bool terminal;
    unsigned console_height, console_width; /* 0: not given */
    uid_t uid;
    gid_t gid;
    gid_t *additional_gids;
    size_t n_additional_gids;
    bool has_umask;
    mode_t umask;
    char **args; /* never empty */
    char **env;  /* "K=V" (K not empty), possibly empty, never NULL */
    char *cwd;   /* absolute; "/" when absent */
    struct oci_caps caps;
    struct oci_rlimit *rlimits;
    size_t n_rlimits;
    bool no_new_privileges;
    bool has_oom_score_adj;
    int oom_score_adj;
};

/* Entries of a mount's uidMappings or gidMappings, at most. */
#define OCI_MOUNT_MAX_IDMAPS 64

/*
 * A mount with uidMappings and gidMappings (runtime-spec 1.1) is id-mapped: a file owned on disk
 * by containerID (+k) is seen on it as owned by hostID (+k), as if the lists were the uid_map
 * and gid_map of a user namespace. Checked here: only a bind mount (type "bind" or absent, or a
 * bind/rbind option) can be id-mapped, both lists are given together (an empty list counts as
 * absent), each has at most OCI_MOUNT_MAX_IDMAPS entries, sizes above 0, no range beyond
 * 2^32-1, and no two entries of a list overlapping (in containerID or in hostID).
 */
struct oci_mount {
    char *destination; /* absolute */
    char *type;        /* NULL when absent (a bind mount then) */
    char *source;      /* NULL when absent */
    char **options;    /* possibly empty, never NULL */

    /* NULL and 0 when not id-mapped; else both lists, 1 to OCI_MOUNT_MAX_IDMAPS entries each */
    struct oci_idmap *uid_mappings, *gid_mappings;
    size_t n_uid_mappings, n_gid_mappings;
};

struct oci_device {
    char type; /* 'c', 'b', 'u' or 'p' */
    char *path;
    int64_t major, minor;
    bool has_mode;
    mode_t file_mode; /* permission bits */
    bool has_uid, has_gid;
    uid_t uid;
    gid_t gid;
};

struct oci_hook {
    char *path;    /* absolute */
    char **args;   /* argv; {path} when absent or empty */
    char **env;    /* possibly empty, never NULL */
    int timeout_s; /* 0: none */
};

struct oci_hook_list {
    struct oci_hook *v;
    size_t n;
};

struct oci_sysctl {
    char *key, *value;
};

struct oci_spec {
    char *oci_version;
    char *root_path; /* as written (relative to the bundle, or absolute) */
    bool root_readonly;
    bool has_process;
    struct oci_process process;
    char *hostname; /* NULL when absent */
    struct oci_mount *mounts;
    size_t n_mounts;
    struct oci_ns ns[OCI_NS_COUNT];
    struct oci_idmap *uid_mappings, *gid_mappings;
    size_t n_uid_mappings, n_gid_mappings;
    char **masked_paths;        /* absolute; possibly empty, never NULL */
    char **readonly_paths;      /* absolute; possibly empty, never NULL */
    struct oci_sysctl *sysctls; /* in the order of the object; keys as written ('.' or '/') */
    size_t n_sysctls;
    struct oci_device *devices;
    size_t n_devices;
    char *cgroups_path;       /* NULL when absent */
    json_t *resources;        /* linux.resources as given (NULL when absent); see cgroup.h */
    char *rootfs_propagation; /* [r]private, [r]shared, [r]slave, [r]unbindable; NULL: absent */
    struct oci_hook_list prestart, create_runtime, create_container, start_container, poststart,
        poststop;
    json_t *seccomp;     /* linux.seccomp as given, NULL when absent */
    json_t *annotations; /* object of strings, NULL when absent */
};

/* Parses a whole config.json document (root is only read; resources, seccomp and annotations
 * take a reference). 0, or -EINVAL/-ENOMEM with err naming the field; *out is NULL on failure. */
int oci_spec_from_json(json_t *root, struct oci_spec **out, struct sp_err *err);
/* Reads and parses <bundle>/config.json (at most OCI_MAX_CONFIG_BYTES, else -EFBIG). Errors
 * start with "config.json: " ("config.json: line 3: …", "config.json: process.args: …"),
 * except open/read errors, which name the full path with -errno. */
int oci_spec_load(const char *bundle, struct oci_spec **out, struct sp_err *err);
void oci_spec_free(struct oci_spec *s); /* NULL is fine */

/* A "process" object alone (runc exec --process FILE); errors name "process.<field>". Fills *p
 * (free with oci_process_clear); on failure *p is left cleared. */
int oci_process_from_json(json_t *obj, struct oci_process *p, struct sp_err *err);
/* Reads the file at path (at most OCI_MAX_CONFIG_BYTES) and parses it as above; errors start
 * with the path. */
int oci_process_load(const char *path, struct oci_process *p, struct sp_err *err);
/* Frees what *p holds and zeroes it (a zeroed or cleared *p is fine). */
void oci_process_clear(struct oci_process *p);

/* "CAP_SYS_ADMIN" → 21; -1 when unknown (0..40 are known). And the name of a number (NULL
 * when unknown). */
int oci_cap_from_name(const char *name);
const char *oci_cap_name(int cap);
/* "RLIMIT_NOFILE" → RLIMIT_NOFILE; -1 when unknown. */
int oci_rlimit_from_name(const char *name);
/* "pid", "network", "mount", "ipc", "uts", "user", "cgroup" → the type; -1 when unknown. And the
 * CLONE_NEW* flag of a type, and its /proc/PID/ns/ file name ("pid", "net", "mnt", …). */
int oci_ns_from_name(const char *name);
int oci_ns_clone_flag(enum oci_ns_type t);        /* 0 when t is out of range */
const char *oci_ns_proc_name(enum oci_ns_type t); /* NULL when t is out of range */

#endif
