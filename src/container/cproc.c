/* SPDX-License-Identifier: MIT */
/* Becoming a container's process: see cproc.h. */
#include "cproc.h"

#include "../base/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int cproc_rlimits(const struct oci_process *p, struct sp_err *err)
{
    for (size_t i = 0; i < p->n_rlimits; i++) {
        struct rlimit rl = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};
        if (setrlimit(p->rlimits[i].resource, &rl) < 0)
            return sp_err_set(err, -errno, "error setting rlimit type %d: %s",
                              p->rlimits[i].resource, strerror(errno));
    }
    return 0;
}

static int last_cap(void)
{
    static int cached = -1;
    if (cached >= 0) return cached;
    char buf[16] = {0};
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, buf, sizeof(buf) - 1) > 0) cached = atoi(buf);
        close(fd);
    }
    if (cached <= 0) cached = CAP_LAST_CAP;
    return cached;
}

static int set_caps(const struct oci_caps *c, struct sp_err *err)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(c->effective >> (32 * i));
        data[i].permitted = (uint32_t)(c->permitted >> (32 * i));
        data[i].inheritable = (uint32_t)(c->inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        return sp_err_set(err, -errno, "unable to apply caps: capset: %s", strerror(errno));
    int last = last_cap();
    /* the kernel allows an ambient capability only when it is permitted and inheritable: the
     * others are skipped, as runc does (configs often list ambient caps without inheritable) */
    uint64_t ambient = c->ambient & c->permitted & c->inheritable;
    for (int cap = 0; cap <= last && cap < 64; cap++) {
        if (!(ambient & (1ull << cap))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            return sp_err_set(err, -errno, "unable to apply caps: raising ambient %d: %s", cap,
                              strerror(errno));
    }
    return 0;
}

int cproc_identity(const struct oci_process *p, struct sp_err *err)
{
    const struct oci_caps *c = &p->caps;
    if (c->has_caps) {
        int last = last_cap();
        for (int cap = 0; cap <= last && cap < 64; cap++) {
            if (c->bounding & (1ull << cap)) continue;
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                return sp_err_set(err, -errno, "unable to apply caps: dropping %d: %s", cap,
                                  strerror(errno));
        }
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
            return sp_err_set(err, -errno, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
    }
    if (setgroups(p->n_additional_gids, p->additional_gids) < 0 && errno != EPERM)
        return sp_err_set(err, -errno, "setgroups: %s", strerror(errno));
    if (setresgid(p->gid, p->gid, p->gid) < 0)
        return sp_err_set(err, -errno, "setresgid %u: %s", (unsigned)p->gid, strerror(errno));
    if (setresuid(p->uid, p->uid, p->uid) < 0)
        return sp_err_set(err, -errno, "setresuid %u: %s", (unsigned)p->uid, strerror(errno));
    if (c->has_caps) {
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
        return set_caps(c, err);
    }
    return 0;
}

int cproc_cwd_umask(const struct oci_process *p, struct sp_err *err)
{
    const char *cwd = p->cwd ? p->cwd : "/";
    if (chdir(cwd) < 0) {
        int r = errno == ENOENT ? sp_mkdir_p(cwd, 0755) : -errno;
        if (r < 0 || chdir(cwd) < 0)
            return sp_err_set(err, r < 0 ? r : -errno,
                              "chdir to cwd (\"%s\") set in config.json failed: %s", cwd,
                              strerror(r < 0 ? -r : errno));
    }
    umask(p->has_umask ? p->umask : 0022);
    return 0;
}

static const char *env_path(char *const *env)
{
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], "PATH=", 5) == 0) return env[i] + 5;
    return DEFAULT_PATH;
}

static int check_exec(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) return -errno;
    if (S_ISDIR(st.st_mode)) return -EACCES;
    if (access(path, X_OK) < 0) return -errno;
    return 0;
}

int cproc_lookup(const struct oci_process *p, char *path, size_t len, struct sp_err *err)
{
    const char *file = p->args[0];
    if (strchr(file, '/')) {
        int r = check_exec(file);
        if (r < 0)
            return sp_err_set(err, r, "exec: \"%s\": %s", file,
                              r == -ENOENT ? "no such file or directory" : strerror(-r));
        snprintf(path, len, "%s", file);
        return 0;
    }
    const char *dirs = env_path(p->env);
    int seen = -ENOENT;
    for (const char *d = dirs;;) {
        const char *end = strchrnul(d, ':');
        int n = snprintf(path, len, "%.*s/%s", (int)(end - d), end == d ? "." : d, file);
        if (n > 0 && (size_t)n < len) {
            int r = check_exec(path);
            if (r == 0) return 0;
            if (r == -EACCES) seen = r;
        }
        if (!*end) break;
        d = end + 1;
    }
    if (seen == -EACCES) return sp_err_set(err, seen, "exec: \"%s\": permission denied", file);
    return sp_err_set(err, -ENOENT, "exec: \"%s\": executable file not found in $PATH", file);
}

int cproc_exec_error_code(int neg_errno)
{
    return neg_errno == -ENOENT || neg_errno == -ENOTDIR ? 127 : 126;
}
