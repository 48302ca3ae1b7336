/* SPDX-License-Identifier: MIT */
/*
 * The sandbox helper (`sprite-env _sandbox create|destroy DIR`): the blocking half of the sandbox
 * manager, run as a short-lived process so the daemon's loop never waits. It reads the record
 * DIR/sandbox.json the manager wrote and leaves its result in DIR/create.out or DIR/destroy.out
 * ({"error", "errno"} on failure), exiting 0 or 1.
 *
 * create: unpacks the image (when there is one), writes the OCI bundle (DIR/bundle/config.json:
 * an overlay over the lower layer, namespaces, cgroup, resources, mounts) and the agent's config,
 * creates and starts the container through the container library, brings up loopback in a new
 * network namespace, and waits until the agent answers on DIR/run/api.sock. The agent is this
 * binary, run through the host's dynamic loader with its shared libraries bind-mounted read-only
 * under /.sprite: nothing is copied into the image and any rootfs works.
 *
 * destroy: deletes the container (kills everything in its cgroup, removes the cgroup and the
 * container state with the upper layer), then the sandbox directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <link.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../base/fd.h"
#include "../base/time.h"
#include "../container/container.h"
#include "../os/users.h"
#include "image.h"
#include "sandbox.h"

struct helper {
    char dir[PATH_MAX];
    char id[SANDBOX_ID_LEN + 1];
    char write_dir[PATH_MAX];
    char ct_root[PATH_MAX + 32];
    json_t *rec;
};

/* The helper's files describe a sandbox that a host crash ends anyway: replaced, not fsync'd. */
static int result(const struct helper *h, const char *file, json_t *j)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", h->dir, file);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) return -ENOMEM;
    int r = sp_write_file_replace(path, text, strlen(text), 0600);
    free(text);
    return r;
}

static int fail(const struct helper *h, const char *file, const struct sp_err *e)
{
    fprintf(stderr, "sprite-env: sandbox %s: %s\n", h->id, e->msg);
    result(h, file,
           json_pack("{s:s, s:i}", "error", e->msg, "errno", e->code < 0 ? -e->code : EIO));
    return 1;
}

/* ---- the agent's files: the binary, the loader and the libraries it was loaded with ---- */

struct libs {
    json_t *mounts; /* bind mounts into /.sprite/lib */
    char interp[PATH_MAX];
    int err;
};

static int add_bind(json_t *mounts, const char *src, const char *dst, bool ro)
{
    json_t *opts = json_pack("[s, s, s, s]", "bind", ro ? "ro" : "rw", "nosuid", "nodev");
    json_t *m = opts ? json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type", "bind",
                                 "source", src, "options", opts)
                     : NULL;
    return m && json_array_append_new(mounts, m) == 0 ? 0 : -ENOMEM;
}

static int on_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct libs *l = data;
    if (!info->dlpi_name || !info->dlpi_name[0]) {
        /* the program itself: its PT_INTERP names the loader */
        for (int i = 0; i < info->dlpi_phnum; i++)
            if (info->dlpi_phdr[i].p_type == PT_INTERP)
                snprintf(l->interp, sizeof(l->interp), "%s",
                         (const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr));
        return 0;
    }
    char real[PATH_MAX], dst[PATH_MAX + 32];
    if (!realpath(info->dlpi_name, real)) return 0; /* the vdso */
    const char *base = strrchr(info->dlpi_name, '/');
    base = base ? base + 1 : info->dlpi_name;
    snprintf(dst, sizeof(dst), "/.sprite/lib/%s", base);
    if (add_bind(l->mounts, real, dst, true) < 0) l->err = -ENOMEM;
    return 0;
}

/* ---- the bundle ---- */

static const char *const caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

static json_t *strs(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return sp_write_file_replace(path, text, strlen(text), 0644);
}

/*
 * The sandbox's seccomp filter: everything is allowed but what reaches past the sandbox or into
 * kernel surface a sandbox has no use for (Docker's default profile refuses the same, as an
 * allow-list). Most of these need a capability the sandbox lacks anyway; the filter is the second
 * wall, and the only one for what needs none: user namespaces (unshare, clone with CLONE_NEW*),
 * the kernel keyring, bpf, userfaultfd, perf events, io_uring. They fail with EPERM; clone3 fails
 * with ENOSYS, as under Docker, so libc falls back to clone, whose flags the filter can see.
 * Syscalls of the other ABIs of the machine (x86 and x32 beside x86_64, arm beside aarch64) are
 * filtered the same; any other ABI is killed.
 */
static const char *const seccomp_denied[] = {
    "acct",
    "add_key",
    "bpf",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "_sysctl",
    "sysfs",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
};

static json_t *seccomp_json(void)
{
#if defined(__x86_64__)
    json_t *arches = json_pack("[s, s, s]", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32");
#elif defined(__aarch64__)
    json_t *arches = json_pack("[s, s]", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM");
#else
    json_t *arches = json_array(); /* the native one only */
#endif
#if defined(__s390x__) || defined(__s390__)
    const int flags_arg = 1; /* clone(stack, flags, ...) there */
#else
    const int flags_arg = 0;
#endif
    /* clone with any namespace flag: one condition per flag, any of them matching */
    static const unsigned long ns_flags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS,
                                             CLONE_NEWIPC, CLONE_NEWUSER,   CLONE_NEWPID,
                                             CLONE_NEWNET}; /* (CLONE_NEWTIME is for clone3) */
    json_t *args = json_array();
    for (size_t i = 0; args && i < SP_ARRAY_LEN(ns_flags); i++)
        json_array_append_new(args, json_pack("{s:i, s:I, s:I, s:s}", "index", flags_arg, "value",
                                              (json_int_t)ns_flags[i], "valueTwo",
                                              (json_int_t)ns_flags[i], "op", "SCMP_CMP_MASKED_EQ"));
    /* sockets that cross the sandbox's network namespace (vsock reaches the hypervisor) or open
     * kernel crypto to it; socketcall (x86's way to every socket call) would get round that */
    json_t *families =
        json_pack("[{s:i, s:i, s:s}, {s:i, s:i, s:s}]", "index", 0, "value", AF_VSOCK, "op",
                  "SCMP_CMP_EQ", "index", 0, "value", AF_ALG, "op", "SCMP_CMP_EQ");
    return json_pack("{s:s, s:o, s:[{s:o, s:s, s:i}, {s:[s], s:s, s:i}, {s:[s], s:s, s:i, s:o},"
                     " {s:[s], s:s, s:i, s:o}, {s:[s], s:s, s:i}]}",
                     "defaultAction", "SCMP_ACT_ALLOW", "architectures", arches, "syscalls",
                     "names", strs(seccomp_denied, SP_ARRAY_LEN(seccomp_denied)), "action",
                     "SCMP_ACT_ERRNO", "errnoRet", EPERM,                               /* */
                     "names", "clone3", "action", "SCMP_ACT_ERRNO", "errnoRet", ENOSYS, /* */
                     "names", "clone", "action", "SCMP_ACT_ERRNO", "errnoRet", EPERM, "args", args,
                     "names", "socket", "action", "SCMP_ACT_ERRNO", "errnoRet", EAFNOSUPPORT,
                     "args", families, /* */
                     "names", "socketcall", "action", "SCMP_ACT_ERRNO", "errnoRet", EPERM);
}

static json_t *resources_json(json_t *res)
{
    json_t *out = json_object();
    json_t *v;
    if ((v = json_object_get(res, "memory_mb")) && json_is_integer(v)) {
        json_int_t b = json_integer_value(v) * 1024 * 1024;
        json_object_set_new(out, "memory", json_pack("{s:I, s:I}", "limit", b, "swap", b));
    }
    if ((v = json_object_get(res, "cpus")) && json_is_number(v)) {
        json_int_t quota = (json_int_t)(json_number_value(v) * 100000.0 + 0.5);
        if (quota < 1000) quota = 1000;
        json_object_set_new(out, "cpu", json_pack("{s:I, s:I}", "quota", quota, "period", 100000));
    }
    if ((v = json_object_get(res, "pids")) && json_is_integer(v))
        json_object_set_new(out, "pids", json_pack("{s:I}", "limit", json_integer_value(v)));
    json_object_set_new(out, "devices", json_pack("[{s:b, s:s}]", "allow", 0, "access", "rwm"));
    return out;
}

static int build_bundle(struct helper *h, const char *lower, struct sp_err *err)
{
    json_t *spec = json_object_get(h->rec, "spec");
    const char *name = json_string_value(json_object_get(h->rec, "name"));
    const char *hostname = json_string_value(json_object_get(spec, "hostname")) ?: name;
    bool host_net = strcmp(json_string_value(json_object_get(spec, "network")) ?: "", "host") == 0;
    char path[PATH_MAX + 64], etc[PATH_MAX + 16], run[PATH_MAX + 16], exe[PATH_MAX];
    int r;

    /* /etc files the sandbox gets */
    snprintf(etc, sizeof(etc), "%s/etc", h->dir);
    snprintf(run, sizeof(run), "%s/run", h->dir);
    if (mkdir(etc, 0755) < 0 && errno != EEXIST)
        return sp_err_set(err, -errno, "creating %s: %s", etc, strerror(errno));
    char text[1024];
    snprintf(text, sizeof(text), "%s\n", hostname);
    if ((r = write_text(etc, "hostname", text)) < 0) goto io;
    snprintf(text, sizeof(text),
             "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n",
             hostname);
    if ((r = write_text(etc, "hosts", text)) < 0) goto io;
    if (host_net) {
        char buf[8192];
        int fd = open("/etc/resolv.conf", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? sp_read(fd, buf, sizeof(buf) - 1) : -1;
        if (fd >= 0) close(fd);
        buf[n > 0 ? n : 0] = 0;
        r = write_text(etc, "resolv.conf", buf);
    } else {
        r = write_text(etc, "resolv.conf", "nameserver 127.0.0.1\n");
    }
    if (r < 0) goto io;

    /* the agent's Docker container id, which its exec ids start with */
    char line[66];
    snprintf(line, sizeof(line), "%s\n",
             json_string_value(json_object_get(h->rec, "docker_id")) ?: "");
    snprintf(path, sizeof(path), "%s/state/docker-container-id", run);
    if ((r = sp_write_file_replace(path, line, strlen(line), 0644)) < 0) goto io;

    /* the agent's configuration (/.sprite/run/agent.json) */
    json_t *agent =
        json_pack("{s:s, s:s, s:{s:s}, s:{s:b}, s:{s:s}, s:s}", "write_dir", "/.sprite/run/state",
                  "api_listen_addr", "unix:/.sprite/run/api.sock", "services", "socket", "",
                  "sandboxes", "enabled", 0, "docker", "container_name", name, "log_level", "info");
    /* the agent's processes, not the agent, are what the OOM killer takes in a full sandbox */
    json_t *exec = json_pack("{s:i}", "oom_score_adj", 500);
    const char *user = json_string_value(json_object_get(spec, "user"));
    if (exec && user && strcmp(user, "root") != 0 && strcmp(user, "0") != 0)
        json_object_set_new(exec, "default_user", json_string(user));
    if (agent) json_object_set_new(agent, "exec", exec);
    char *atext = agent ? json_dumps(agent, JSON_INDENT(2)) : NULL;
    json_decref(agent);
    snprintf(path, sizeof(path), "%s/agent.json", run);
    r = atext ? sp_write_file_replace(path, atext, strlen(atext), 0600) : -ENOMEM;
    free(atext);
    if (r < 0) goto io;

    /* the agent is this binary; after a newer one replaced it on disk, the newer one (a mount
     * source must be a path: /proc/self/exe names a file of the host's mount namespace) */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return sp_err_set(err, -errno, "/proc/self/exe: %s", strerror(errno));
    exe[n] = 0;
    size_t el = strlen(exe);
    if (el > 10 && strcmp(exe + el - 10, " (deleted)") == 0) exe[el - 10] = 0;
    if (access(exe, X_OK) < 0)
        return sp_err_set(err, -EIO, "the agent's binary %s: %s", exe, strerror(errno));

    json_t *mounts = json_pack(
        "[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:[s, s, s, s]}, {s:s, s:s, s:s, s:[s, s, s, s, s, s]},"
        " {s:s, s:s, s:s, s:[s, s, s, s, s]}, {s:s, s:s, s:s, s:[s, s, s]},"
        " {s:s, s:s, s:s, s:[s, s, s, s]}, {s:s, s:s, s:s, s:[s, s, s, s, s]},"
        " {s:s, s:s, s:s, s:[s, s, s, s]}]",
        "destination", "/proc", "type", "proc", "source", "proc",                         /* */
        "destination", "/dev", "type", "tmpfs", "source", "tmpfs", "options", "nosuid",   /* */
        "strictatime", "mode=755", "size=65536k",                                         /* */
        "destination", "/dev/pts", "type", "devpts", "source", "devpts", "options",       /* */
        "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",         /* */
        "destination", "/dev/shm", "type", "tmpfs", "source", "shm", "options", "nosuid", /* */
        "noexec", "nodev", "mode=1777", "size=65536k",                                    /* */
        "destination", "/dev/mqueue", "type", "mqueue", "source", "mqueue", "options",    /* */
        "nosuid", "noexec", "nodev",                                                      /* */
        "destination", "/sys", "type", "sysfs", "source", "sysfs", "options", "nosuid",   /* */
        "noexec", "nodev", "ro",                                                          /* */
        "destination", "/sys/fs/cgroup", "type", "cgroup", "source", "cgroup", "options", /* */
        "nosuid", "noexec", "nodev", "relatime", "ro",                                    /* */
        "destination", "/.sprite", "type", "tmpfs", "source", "sprite", "options", "nosuid",
        "nodev", "mode=755", "size=1m");
    struct libs libs = {.mounts = mounts};
    if (!mounts) return sp_err_set(err, -ENOMEM, "out of memory");
    dl_iterate_phdr(on_object, &libs);
    if (libs.err || !libs.interp[0]) {
        json_decref(mounts);
        return sp_err_set(err, libs.err ? libs.err : -ENOEXEC,
                          "finding the agent's dynamic loader and libraries");
    }
    char ld_in[PATH_MAX + 32];
    const char *ldbase = strrchr(libs.interp, '/');
    snprintf(ld_in, sizeof(ld_in), "/.sprite/lib/%s", ldbase ? ldbase + 1 : libs.interp);
    /* the loader itself is one of the objects listed (by its own name): bind it under the
     * PT_INTERP name too, in case they differ */
    char real_ld[PATH_MAX];
    bool listed = false;
    size_t i;
    json_t *mt;
    json_array_foreach(mounts, i,
                       mt) if (strcmp(json_string_value(json_object_get(mt, "destination")),
                                      ld_in) == 0) listed = true;
    if (!listed &&
        (!realpath(libs.interp, real_ld) || add_bind(mounts, real_ld, ld_in, true) < 0)) {
        json_decref(mounts);
        return sp_err_set(err, -ENOENT, "the dynamic loader %s: %s", libs.interp, strerror(errno));
    }
    r = add_bind(mounts, exe, "/.sprite/bin/sprite-env", true);
    if (!r) r = add_bind(mounts, run, "/.sprite/run", false);
    static const char *const etcs[] = {"hostname", "hosts", "resolv.conf"};
    for (size_t k = 0; !r && k < 3; k++) {
        char src[PATH_MAX + 64], dst[64];
        snprintf(src, sizeof(src), "%s/%s", etc, etcs[k]);
        snprintf(dst, sizeof(dst), "/etc/%s", etcs[k]);
        r = add_bind(mounts, src, dst, false);
    }
    json_array_foreach(json_object_get(h->rec, "binds"), i, mt)
    {
        if (r) break;
        r = add_bind(mounts, json_string_value(json_object_get(mt, "host")),
                     json_string_value(json_object_get(mt, "target")),
                     json_is_true(json_object_get(mt, "readonly")));
        if (r) break;
        json_t *last = json_array_get(mounts, json_array_size(mounts) - 1);
        /* a volume or bind is recursive: what is mounted below the source comes along */
        json_array_set_new(json_object_get(last, "options"), 0, json_string("rbind"));
        const char *subpath = json_string_value(json_object_get(mt, "subpath"));
        char *opt = NULL;
        if (subpath && asprintf(&opt, "sprite.subpath=%s", subpath) > 0) {
            json_array_append_new(json_object_get(last, "options"), json_string(opt));
            free(opt);
        }
        /* idmap: the owner "from" in the source is seen as "to" inside: OCI's containerID is the
         * id on disk, hostID the id the mount shows */
        json_t *idmap = json_object_get(mt, "idmap"), *e;
        size_t k;
        if (json_array_size(idmap)) {
            json_t *maps = json_array();
            json_array_foreach(idmap, k, e)
            {
                json_array_append_new(maps, json_pack("{s:O, s:O, s:O}", "containerID",
                                                      json_object_get(e, "from"), "hostID",
                                                      json_object_get(e, "to"), "size",
                                                      json_object_get(e, "range")));
            }
            json_object_set(last, "uidMappings", maps);
            json_object_set_new(last, "gidMappings", maps);
        }
    }
    if (r) {
        json_decref(mounts);
        return sp_err_set(err, -ENOMEM, "out of memory");
    }

    /* the agent's environment: a PATH, HOME, HOSTNAME, the sandbox's env, sanitizer options */
    json_t *env =
        json_pack("[s, s]", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                  "HOME=/root");
    /* the agent's token, made by the host (the agent takes it out of its environment at once) */
    snprintf(text, sizeof(text), "SPRITE_HTTP_API_TOKEN=%s",
             json_string_value(json_object_get(h->rec, "token")) ?: "");
    json_array_append_new(env, json_string(text));
    snprintf(text, sizeof(text), "HOSTNAME=%s", hostname);
    json_array_append_new(env, json_string(text));
    static const char *const pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    for (size_t k = 0; k < 3; k++) {
        const char *v = getenv(pass[k]);
        if (!v) continue;
        char *kv;
        if (asprintf(&kv, "%s=%s", pass[k], v) < 0) continue;
        json_array_append_new(env, json_string(kv));
        free(kv);
    }
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(spec, "env"), key, val)
    {
        char *kv;
        if (asprintf(&kv, "%s=%s", key, json_string_value(val)) < 0) continue;
        json_array_append_new(env, json_string(kv));
        free(kv);
    }

    json_t *ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type", "ipc",
                           "type", "uts", "type", "mount", "type", "cgroup");
    if (!host_net) json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
    static const char *const masked[] = {
        "/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi",          "/sys/firmware",
    };
    static const char *const ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                     "/proc/sysrq-trigger"};
    char cgpath[64];
    snprintf(cgpath, sizeof(cgpath), "/sprite-sandboxes/%s", h->id);
    json_t *capset = strs(caps, SP_ARRAY_LEN(caps));
    json_t *cfg = json_pack(
        "{s:s, s:{s:b, s:{s:i, s:i}, s:[s, s, s, s, s, s], s:o, s:s, s:{s:O, s:O, s:O}, s:b},"
        " s:{s:s, s:b}, s:s, s:o, s:{s:s},"
        " s:{s:o, s:s, s:o, s:o, s:o, s:o}}",
        "ociVersion", "1.0.2",                                /* */
        "process", "terminal", 0, "user", "uid", 0, "gid", 0, /* */
        "args", ld_in, "--library-path", "/.sprite/lib", "/.sprite/bin/sprite-env", "-config",
        "/.sprite/run/agent.json",                                                     /* */
        "env", env, "cwd", json_string_value(json_object_get(spec, "workdir")) ?: "/", /* */
        "capabilities", "bounding", capset, "effective", capset, "permitted", capset,  /* */
        "noNewPrivileges", 0,                                                          /* */
        "root", "path", lower, "readonly", 0,                                          /* */
        "hostname", hostname, "mounts", mounts,                                        /* */
        "annotations", "run.sprite.overlay", "true",                                   /* */
        "linux", "namespaces", ns, "cgroupsPath", cgpath, "resources",
        resources_json(json_object_get(spec, "resources")), "maskedPaths",
        strs(masked, SP_ARRAY_LEN(masked)), "readonlyPaths", strs(ro, SP_ARRAY_LEN(ro)), "seccomp",
        seccomp_json());
    json_decref(capset);
    if (!cfg) return sp_err_set(err, -ENOMEM, "building config.json");
    snprintf(path, sizeof(path), "%s/bundle", h->dir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        json_decref(cfg);
        return sp_err_set(err, -errno, "creating %s: %s", path, strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/bundle/config.json", h->dir);
    char *ctext = json_dumps(cfg, JSON_INDENT(2));
    json_decref(cfg);
    r = ctext ? sp_write_file_replace(path, ctext, strlen(ctext), 0600) : -ENOMEM;
    free(ctext);
    if (r < 0) goto io;
    return 0;
io:
    return sp_err_set(err, r, "writing the sandbox's files in %s: %s", h->dir, strerror(-r));
}

/* Loopback up in the container's new network namespace ("none" is loopback only, and up). */
static int loopback_up(pid_t pid, struct sp_err *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return sp_err_set(err, -errno, "%s: %s", path, strerror(errno));
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int r = 0;
    if (setns(nsfd, CLONE_NEWNET) < 0) {
        r = sp_err_set(err, -errno, "joining the sandbox's network namespace: %s", strerror(errno));
    } else {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = {0};
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ||
            (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) < 0))
            r = sp_err_set(err, -errno, "bringing loopback up: %s", strerror(errno));
        if (s >= 0) close(s);
        if (self >= 0 && setns(self, CLONE_NEWNET) < 0 && !r)
            r = sp_err_set(err, -errno, "leaving the network namespace: %s", strerror(errno));
    }
    close(nsfd);
    if (self >= 0) close(self);
    return r;
}

/* Waits until the agent accepts connections on its socket (or dies, or the deadline). */
static int wait_agent_at(const struct helper *h, pid_t pid, int dfd, struct sp_err *err);
static int wait_agent(const struct helper *h, pid_t pid, struct sp_err *err)
{
    /* through an fd of the directory: a socket path is at most 107 bytes, the write dir's is not
     * limited */
    char run[PATH_MAX + 16];
    snprintf(run, sizeof(run), "%s/run", h->dir);
    int dfd = open(run, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return sp_err_set(err, -errno, "%s: %s", run, strerror(errno));
    int r = wait_agent_at(h, pid, dfd, err);
    close(dfd);
    return r;
}

static int wait_agent_at(const struct helper *h, pid_t pid, int dfd, struct sp_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/api.sock", dfd);
    uint64_t deadline = sp_now_ms() + 30000; /* the daemon's own deadline kills us sooner */
    for (unsigned i = 0;; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return sp_err_set(err, -errno, "socket: %s", strerror(errno));
        int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        if (ok == 0) return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            char log[PATH_MAX + 16], tail[400] = "";
            snprintf(log, sizeof(log), "%s/agent.log", h->dir);
            int lf = open(log, O_RDONLY | O_CLOEXEC);
            if (lf >= 0) {
                off_t end = lseek(lf, 0, SEEK_END);
                lseek(lf, end > (off_t)sizeof(tail) - 1 ? end - (off_t)sizeof(tail) + 1 : 0,
                      SEEK_SET);
                ssize_t n = sp_read(lf, tail, sizeof(tail) - 1);
                tail[n > 0 ? n : 0] = 0;
                close(lf);
                for (char *p = tail; *p; p++)
                    if (*p == '\n') *p = ' ';
            }
            return sp_err_set(err, -ECHILD, "the agent exited with status %d before answering: %s",
                              WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                              tail);
        }
        if (sp_now_ms() > deadline)
            return sp_err_set(err, -ETIMEDOUT, "the agent did not answer on %s", sa.sun_path);
        struct timespec ts = {0, i < 20 ? 200000 : 2000000};
        nanosleep(&ts, NULL);
    }
}

/* Whose fault a failed container is: the request's (a mount target or working directory that is
 * not a directory in the image: -EINVAL; an id-mapped mount the host cannot make: -ENOTSUP) or
 * ours (-EIO: the bundle is ours, so anything else is not the client's to fix). */
static int classify(const struct sp_err *e)
{
    if (strstr(e->msg, "id-mapped mounts are not supported here")) return -ENOTSUP;
    if (strstr(e->msg, "chdir to cwd") ||
        (strstr(e->msg, "mounting ") &&
         (strstr(e->msg, strerror(ENOTDIR)) || strstr(e->msg, strerror(EEXIST)) ||
          strstr(e->msg, strerror(ELOOP)))))
        return -EINVAL;
    return -EIO;
}

static int do_create(struct helper *h)
{
    struct sp_err e = {0};
    json_t *spec = json_object_get(h->rec, "spec");
    const char *rootfs = json_string_value(json_object_get(spec, "rootfs"));
    const char *image = json_string_value(json_object_get(spec, "image"));
    char lower[PATH_MAX + 64], digest[80] = "";
    int r;
    if (image) {
        char cache[PATH_MAX + 16];
        snprintf(cache, sizeof(cache), "%s/images", h->write_dir);
        char mark[PATH_MAX + 16];
        snprintf(mark, sizeof(mark), "%s/.unpacking", h->dir); /* the daemon's deadline waits */
        int mfd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (mfd >= 0) close(mfd);
        r = image_unpack(image, cache, lower, sizeof(lower), &e);
        unlink(mark);
        if (r < 0) {
            sp_err_prefix(&e, "image %s: ", image);
            if (r != -ENOMEM && r != -EIO) e.code = -EINVAL; /* the image's fault: a 400 */
            return fail(h, "create.out", &e);
        }
        char tmp[PATH_MAX + 64];
        snprintf(tmp, sizeof(tmp), "%s", lower);
        snprintf(digest, sizeof(digest), "sha256:%.64s", basename(dirname(tmp)));
    } else {
        snprintf(lower, sizeof(lower), "%s", rootfs);
    }
    const char *user = json_string_value(json_object_get(spec, "user"));
    struct user_ids ids;
    if (user && strcmp(user, "root") != 0 && (r = users_lookup(lower, user, &ids, &e)) < 0) {
        sp_err_prefix(&e, "user: ");
        e.code = -EINVAL;
        return fail(h, "create.out", &e);
    }
    if (build_bundle(h, lower, &e) < 0) return fail(h, "create.out", &e);

    /* the agent's stdio: DIR/agent.log (the init inherits ours at create) */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/agent.log", h->dir);
    int logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int saved_err = fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (logfd < 0 || nullfd < 0 || saved_err < 0) {
        sp_err_set(&e, -errno, "opening %s: %s", path, strerror(errno));
        sp_close(logfd);
        sp_close(nullfd);
        sp_close(saved_err);
        return fail(h, "create.out", &e);
    }
    dup2(nullfd, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    char bundle[PATH_MAX + 16];
    snprintf(bundle, sizeof(bundle), "%s/bundle", h->dir);
    struct container_create_opts co = {.root = h->ct_root, .id = h->id, .bundle = bundle};
    r = container_create(&co, &e);
    dup2(saved_err, 1);
    dup2(saved_err, 2);
    close(saved_err);
    close(logfd);
    close(nullfd);
    if (r < 0) {
        sp_err_prefix(&e, "creating the container: ");
        e.code = classify(&e);
        container_delete(h->ct_root, h->id, true, &(struct sp_err){0});
        return fail(h, "create.out", &e);
    }
    struct container_info info = {0};
    bool host_net = strcmp(json_string_value(json_object_get(spec, "network")) ?: "", "host") == 0;
    if ((r = container_state(h->ct_root, h->id, &info, &e)) < 0 ||
        (!host_net && (r = loopback_up(info.pid, &e)) < 0) ||
        (r = container_start(h->ct_root, h->id, &e)) < 0 || (r = wait_agent(h, info.pid, &e)) < 0) {
        container_info_clear(&info);
        if (r != -ECHILD && r != -ETIMEDOUT) e.code = classify(&e);
        container_delete(h->ct_root, h->id, true, &(struct sp_err){0});
        return fail(h, "create.out", &e);
    }
    pid_t pid = info.pid;
    container_info_clear(&info);
    r = result(h, "create.out",
               json_pack("{s:i, s:s, s:s?}", "pid", (int)pid, "lower", lower, "image_digest",
                         digest[0] ? digest : NULL));
    if (r < 0) {
        sp_err_set(&e, r, "writing create.out: %s", strerror(-r));
        container_delete(h->ct_root, h->id, true, &(struct sp_err){0});
        return fail(h, "create.out", &e);
    }
    return 0;
}

static int do_destroy(struct helper *h)
{
    struct sp_err e = {0};
    int r = container_delete(h->ct_root, h->id, true, &e);
    if (r < 0 && r != -ENOENT) return fail(h, "destroy.out", &e);
    sp_rm_rf(h->dir);
    return 0;
}

static int do_pause(struct helper *h)
{
    struct sp_err e = {0};
    if (container_pause(h->ct_root, h->id, true, &e) < 0) return fail(h, "pause.out", &e);
    return 0;
}

int sandbox_helper_main(int argc, char **argv)
{
    const char *cmd = argc >= 3 ? argv[1] : "";
    bool known = strcmp(cmd, "create") == 0 || strcmp(cmd, "destroy") == 0 ||
                 strcmp(cmd, "pause") == 0 || strcmp(cmd, "rm") == 0;
    if (!known || argc > 4) {
        fprintf(stderr, "usage: sprite-env _sandbox create|destroy|pause DIR [PPID] | rm PATH "
                        "(run by the daemon)\n");
        return 2;
    }
    /* a helper does not outlive the daemon that started it (whose successor redoes the work):
     * two helpers never work on one sandbox */
    if (argc == 4) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != (pid_t)atoi(argv[3])) return 1;
    }
    if (strcmp(cmd, "rm") == 0) {
        /* only what the manager puts aside: a deleted volume, a killed unpack's directory */
        const char *base = strrchr(argv[2], '/');
        base = base ? base + 1 : argv[2];
        if (strncmp(base, ".trash-", 7) != 0 && strncmp(base, "tmp-", 4) != 0) {
            fprintf(stderr, "sprite-env _sandbox rm: %s is not a .trash-* or tmp-* path\n",
                    argv[2]);
            return 2;
        }
        sp_rm_rf(argv[2]);
        return access(argv[2], F_OK) == 0 ? 1 : 0;
    }
    struct helper h = {0};
    if (!realpath(argv[2], h.dir)) {
        if (errno == ENOENT && strcmp(cmd, "destroy") == 0) return 0; /* nothing left to do */
        fprintf(stderr, "sprite-env _sandbox: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", h.dir);
    snprintf(h.id, sizeof(h.id), "%s", basename(tmp));
    snprintf(tmp, sizeof(tmp), "%s", h.dir);
    char *sbdir = dirname(tmp); /* <write dir>/sandboxes */
    snprintf(h.ct_root, sizeof(h.ct_root), "%s/.containers", sbdir);
    snprintf(h.write_dir, sizeof(h.write_dir), "%s", dirname(sbdir));
    if (strcmp(cmd, "destroy") == 0) return do_destroy(&h);
    if (strcmp(cmd, "pause") == 0) return do_pause(&h);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/sandbox.json", h.dir);
    json_error_t je;
    if (!(h.rec = json_load_file(path, 0, &je))) {
        struct sp_err e = {0};
        sp_err_set(&e, -EIO, "%s: %s", path, je.text);
        return fail(&h, "create.out", &e);
    }
    int rc = do_create(&h);
    json_decref(h.rec);
    return rc;
}
