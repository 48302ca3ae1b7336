/* SPDX-License-Identifier: MIT */
/* Containers from OCI bundles: see container.h. */
#include "container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../base/fd.h"
#include "../base/str.h"
#include "cgroup.h"
#include "cproc.h"
#include "cseccomp.h"
#include "hooks.h"
#include "rootfs.h"

#define OCI_VERSION    "1.0.2"
#define START_WAIT_MS  10000 /* start: how long to wait for the init to take the fifo */
#define DELETE_WAIT_MS 10000 /* delete --force: how long to wait for the processes to die */

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ---- small helpers ---- */

bool container_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > CONTAINER_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '+' || ch == '-' || ch == '.';
        if (!ok) return false;
    }
    return true;
}

const char *container_status_name(enum container_status s)
{
    switch (s) {
    case CONTAINER_CREATED: return "created";
    case CONTAINER_RUNNING: return "running";
    case CONTAINER_PAUSED: return "paused";
    case CONTAINER_STOPPED: return "stopped";
    }
    return "unknown";
}

static int state_dir(const char *root, const char *id, char *buf, size_t len, struct sp_err *err)
{
    if (!container_id_ok(id))
        return sp_err_set(err, -EINVAL, "invalid container id format: %s", id);
    int n = snprintf(buf, len, "%s/%s", root, id);
    if (n < 0 || (size_t)n >= len) return sp_err_set(err, -ENAMETOOLONG, "state path too long");
    return 0;
}

/* Field 22 of /proc/PID/stat (start time in clock ticks): tells a pid from a reused one. 0 when
 * the process is gone or a zombie. */
static unsigned long long proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
    if (!p || !p[1]) return 0;
    char state = p[2];
    if (state == 'Z' || state == 'X') return 0;
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p) p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

static void now_rfc3339_ns(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

/* Runtime state lives on a tmpfs (/run) and means nothing after a reboot: replaced atomically
 * (a reader never sees half a file), not fsync'd. */
static int write_json_atomic(const char *path, json_t *j, unsigned mode)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text) return -ENOMEM;
    int r = sp_write_file_replace(path, text, strlen(text), mode);
    free(text);
    return r;
}

/* ---- the saved state ---- */

struct saved {
    json_t *j; /* state.json */
    char dir[PATH_MAX];
    pid_t pid;
    unsigned long long start_time;
    const char *cgroup; /* NULL: none */
    bool cgroup_owned;
};

static int load_saved(const char *root, const char *id, struct saved *s, struct sp_err *err)
{
    memset(s, 0, sizeof(*s));
    int r = state_dir(root, id, s->dir, sizeof(s->dir), err);
    if (r < 0) return r;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/state.json", s->dir);
    json_error_t je;
    s->j = json_load_file(path, 0, &je);
    if (!s->j) {
        struct stat st;
        if (stat(s->dir, &st) < 0 || stat(path, &st) < 0)
            return sp_err_set(err, -ENOENT, "container does not exist");
        return sp_err_set(err, -EIO, "reading %s: %s", path, je.text);
    }
    s->pid = (pid_t)json_integer_value(json_object_get(s->j, "pid"));
    s->start_time = (unsigned long long)json_integer_value(json_object_get(s->j, "start_time"));
    s->cgroup = json_string_value(json_object_get(s->j, "cgroup"));
    s->cgroup_owned = json_is_true(json_object_get(s->j, "cgroup_owned"));
    return 0;
}

static void saved_clear(struct saved *s)
{
    json_decref(s->j);
    s->j = NULL;
}

static bool init_alive(const struct saved *s)
{
    return s->pid > 0 && proc_start_time(s->pid) == s->start_time && s->start_time != 0;
}

static enum container_status saved_status(const struct saved *s)
{
    if (!init_alive(s)) return CONTAINER_STOPPED;
    char fifo[PATH_MAX + 16];
    snprintf(fifo, sizeof(fifo), "%s/exec.fifo", s->dir);
    if (access(fifo, F_OK) == 0) return CONTAINER_CREATED;
    if (s->cgroup) {
        struct cgroup *cg;
        struct sp_err e = {0};
        if (cgroup_open(s->cgroup, &cg, &e) == 0) {
            bool frozen = cgroup_is_frozen(cg);
            cgroup_free(cg);
            if (frozen) return CONTAINER_PAUSED;
        }
    }
    return CONTAINER_RUNNING;
}

int container_state(const char *root, const char *id, struct container_info *out,
                    struct sp_err *err)
{
    struct saved s;
    memset(out, 0, sizeof(*out));
    int r = load_saved(root, id, &s, err);
    if (r < 0) {
        saved_clear(&s);
        return r;
    }
    snprintf(out->id, sizeof(out->id), "%s", id);
    out->status = saved_status(&s);
    out->pid = out->status == CONTAINER_STOPPED ? 0 : s.pid;
    snprintf(out->bundle, sizeof(out->bundle), "%s",
             json_string_value(json_object_get(s.j, "bundle")) ?: "");
    snprintf(out->rootfs, sizeof(out->rootfs), "%s",
             json_string_value(json_object_get(s.j, "rootfs")) ?: "");
    snprintf(out->created, sizeof(out->created), "%s",
             json_string_value(json_object_get(s.j, "created")) ?: "");
    json_t *ann = json_object_get(s.j, "annotations");
    if (json_is_object(ann) && json_object_size(ann)) out->annotations = json_incref(ann);
    saved_clear(&s);
    return 0;
}

void container_info_clear(struct container_info *info)
{
    json_decref(info->annotations);
    info->annotations = NULL;
}

json_t *container_info_json(const struct container_info *info)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "ociVersion", OCI_VERSION,
                          "id", info->id, "pid", (int)info->pid, "status",
                          container_status_name(info->status), "bundle", info->bundle, "rootfs",
                          info->rootfs, "created", info->created, "owner", "");
    if (o && info->annotations) json_object_set(o, "annotations", info->annotations);
    return o;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int container_list(const char *root, char ***ids, struct sp_err *err)
{
    char **v = sp_strv_new(0);
    if (!v) return sp_err_set(err, -ENOMEM, "out of memory");
    DIR *d = opendir(root);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.' || !container_id_ok(de->d_name)) continue;
            char p[PATH_MAX];
            snprintf(p, sizeof(p), "%s/%s/state.json", root, de->d_name);
            if (access(p, F_OK) != 0) continue;
            if (sp_strv_push(&v, de->d_name) < 0) {
                closedir(d);
                sp_strv_free(v);
                return sp_err_set(err, -ENOMEM, "out of memory");
            }
        }
        closedir(d);
    }
    qsort(v, sp_strv_len(v), sizeof(*v), cmp_str);
    *ids = v;
    return 0;
}

/* ---- the init ---- */

struct init_ctx {
    char *state; /* the state JSON for the hooks run inside (sent with 'G'; the init's copy) */
    const struct container_create_opts *o;
    const struct oci_spec *spec;
    char rootfs[PATH_MAX];
    int sync_fd;              /* the child's end */
    int fifo_fd;              /* O_PATH to exec.fifo */
    int console_fd;           /* connected console socket, or -1 */
    struct cseccomp *seccomp; /* built by create, loaded by the init; NULL: none */
    /* overlay modes: <state dir>/overlay (upper, work, merged); "" otherwise */
    char overlay[PATH_MAX + 16];
    char lower[PATH_MAX]; /* the overlay's read-only lower layer: "/" (host root) or a rootfs */
};

/* Messages on the sync socket: 'G'+state JSON parent → child (go on), 'C' parent → child (you
 * are in your cgroup), 'R' child → parent (ready, waiting on the fifo), 'E'+text child → parent
 * (failed). */
static void child_fail(struct init_ctx *c, const struct sp_err *e)
{
    char msg[SP_ERR_MSG_MAX + 2];
    int n = snprintf(msg, sizeof(msg), "E%s", e->msg);
    if (send(c->sync_fd, msg, (size_t)n, MSG_NOSIGNAL) < 0) {
    }
    _exit(1);
}

/* Marks every fd from lowest up close-on-exec (close_range, or a walk of /proc/self/fd where it
 * is missing): nothing of ours may reach the container's program. */
static int cloexec_from(int lowest, struct sp_err *err)
{
    if (syscall(SYS_close_range, (unsigned)lowest, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return sp_err_set(err, -errno, "listing /proc/self/fd: %s", strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        int fd = atoi(de->d_name);
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd < lowest || fd == dirfd(d)) continue;
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    }
    closedir(d);
    return 0;
}

static void on_term(int sig)
{
    _exit(128 + sig);
}

static int send_fd(int sock, int fd, const char *payload, struct sp_err *err)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    struct iovec iov = {.iov_base = (void *)payload, .iov_len = strlen(payload)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
        return sp_err_set(err, -errno, "sending the console to the console socket: %s",
                          strerror(errno));
    return 0;
}

/* A pty made inside the container (its devpts): the master goes to the console socket, the slave
 * becomes /dev/console (create only) and the process's stdio. */
static int setup_console(int console_fd, const struct oci_process *p, bool bind_console,
                         struct sp_err *err)
{
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return sp_err_set(err, -errno, "open /dev/ptmx: %s", strerror(errno));
    char slave[128];
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ptsname_r(master, slave, sizeof(slave)) != 0) {
        int e = errno;
        close(master);
        return sp_err_set(err, -e, "setting up the pty: %s", strerror(e));
    }
    if (p->console_height && p->console_width) {
        struct winsize ws = {.ws_row = (unsigned short)p->console_height,
                             .ws_col = (unsigned short)p->console_width};
        ioctl(master, TIOCSWINSZ, &ws);
    }
    if (bind_console && rootfs_bind_console(slave, err) < 0) {
        close(master);
        return err->code;
    }
    int r = send_fd(console_fd, master, "/dev/ptmx", err);
    close(master);
    close(console_fd);
    if (r < 0) return r;
    if (setsid() < 0) return sp_err_set(err, -errno, "setsid: %s", strerror(errno));
    int s = open(slave, O_RDWR | O_CLOEXEC);
    if (s < 0) return sp_err_set(err, -errno, "open %s: %s", slave, strerror(errno));
    if (ioctl(s, TIOCSCTTY, 0) < 0) {
        int e = errno;
        close(s);
        return sp_err_set(err, -e, "TIOCSCTTY: %s", strerror(e));
    }
    for (int fd = 0; fd < 3; fd++)
        dup2(s, fd);
    close(s);
    return 0;
}

static int join_namespaces(const struct oci_spec *spec, bool skip_pid, struct sp_err *err)
{
    /* user first: the others may belong to it */
    static const enum oci_ns_type order[] = {OCI_NS_USER, OCI_NS_IPC,    OCI_NS_UTS,  OCI_NS_NET,
                                             OCI_NS_PID,  OCI_NS_CGROUP, OCI_NS_MOUNT};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        enum oci_ns_type t = order[i];
        if (!spec->ns[t].wanted || !spec->ns[t].path || (t == OCI_NS_PID && skip_pid)) continue;
        int fd = open(spec->ns[t].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return sp_err_set(err, -errno, "opening namespace %s: %s", spec->ns[t].path,
                              strerror(errno));
        int r = setns(fd, oci_ns_clone_flag(t));
        int e = errno;
        close(fd);
        if (r < 0)
            return sp_err_set(err, -e, "joining namespace %s: %s", spec->ns[t].path, strerror(e));
    }
    return 0;
}

static int write_sysctls(const struct oci_spec *spec, struct sp_err *err)
{
    for (size_t i = 0; i < spec->n_sysctls; i++) {
        char path[512];
        snprintf(path, sizeof(path), "/proc/sys/%s", spec->sysctls[i].key);
        for (char *q = path + 10; *q; q++)
            if (*q == '.') *q = '/';
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 ||
            sp_write_all(fd, spec->sysctls[i].value, strlen(spec->sysctls[i].value)) < 0) {
            int e = errno;
            if (fd >= 0) close(fd);
            return sp_err_set(err, -e, "sysctl %s: %s", spec->sysctls[i].key, strerror(e));
        }
        close(fd);
    }
    return 0;
}

/* Overlay modes. Host-root (the seed Reaper's "overlay protects the host"): the root is the host's
 * own file system seen through an overlay whose upper layer lives in the state directory, so the
 * container reads everything the host has and its writes never reach the host. Rootfs overlay
 * (sandboxes: annotation run.sprite.overlay=true): the same over root.path, which stays
 * untouched and can be shared by many containers. Mounted in the container's mount namespace,
 * which is made private first so nothing propagates back. */
static int mount_overlay(struct init_ctx *c, struct sp_err *err)
{
    char upper[PATH_MAX + 32], work[PATH_MAX + 32], data[4 * PATH_MAX];
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return sp_err_set(err, -errno, "making / private: %s", strerror(errno));
    snprintf(upper, sizeof(upper), "%s/upper", c->overlay);
    snprintf(work, sizeof(work), "%s/work", c->overlay);
    snprintf(data, sizeof(data), "lowerdir=%s,upperdir=%s,workdir=%s", c->lower, upper, work);
    if (mount("overlay", c->rootfs, "overlay", 0, data) < 0)
        return sp_err_set(err, -errno, "mounting the overlay of %s on %s: %s", c->lower, c->rootfs,
                          strerror(errno));
    return 0;
}

SP_NORETURN static void init_main(struct init_ctx *c)
{
    const struct oci_spec *spec = c->spec;
    const struct oci_process *p = &spec->process;
    struct sp_err e = {0};
    char go;

    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* until create is done with us */
    /* the message's size first (a SOCK_SEQPACKET message comes whole) */
    ssize_t size = recv(c->sync_fd, &go, 1, MSG_PEEK | MSG_TRUNC);
    if (size < 1 || !(c->state = malloc((size_t)size + 1))) _exit(1);
    ssize_t got = recv(c->sync_fd, c->state, (size_t)size, 0);
    if (got != size || c->state[0] != 'G') _exit(1);
    memmove(c->state, c->state + 1, (size_t)got - 1);
    c->state[got - 1] = '\0';
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    for (int sig = 1; sig < 32; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD || sig == SIGWINCH) continue;
        signal(sig, on_term);
    }
    if (join_namespaces(spec, true, &e) < 0) child_fail(c, &e);
    /* a session keyring of its own, not the caller's (unless --no-new-keyring) */
    if (!c->o->no_new_keyring &&
        syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL) < 0 && errno != ENOSYS) {
        sp_err_set(&e, -errno, "could not create session key: %s", strerror(errno));
        child_fail(c, &e);
    }
    if (spec->ns[OCI_NS_USER].wanted && !spec->ns[OCI_NS_USER].path &&
        (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
        /* a new user namespace: become its root (the parent has written the maps) */
        sp_err_set(&e, -errno, "becoming root in the user namespace: %s", strerror(errno));
        child_fail(c, &e);
    }
    if (c->overlay[0] && mount_overlay(c, &e) < 0) child_fail(c, &e);
    if (rootfs_prepare(spec, c->rootfs, &e) < 0) child_fail(c, &e);
    char joined;
    if (recv(c->sync_fd, &joined, 1, 0) != 1 || joined != 'C') _exit(1);
    if (hooks_run(&spec->create_container, "createContainer", c->state, &e) < 0) child_fail(c, &e);
    if (rootfs_pivot(c->rootfs, c->o->no_pivot, &e) < 0) child_fail(c, &e);
    if (p->terminal && setup_console(c->console_fd, p, true, &e) < 0) child_fail(c, &e);
    if (rootfs_finalize(spec, &e) < 0) child_fail(c, &e);
    if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
        sp_err_set(&e, -errno, "sethostname: %s", strerror(errno));
        child_fail(c, &e);
    }
    if (write_sysctls(spec, &e) < 0) child_fail(c, &e);
    if (!p->terminal) setsid();
    if (p->has_oom_score_adj) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        char v[16];
        int n = snprintf(v, sizeof(v), "%d", p->oom_score_adj);
        if (fd < 0 || write(fd, v, (size_t)n) != n) {
            sp_err_set(&e, -errno, "writing oom_score_adj: %s", strerror(errno));
            child_fail(c, &e);
        }
        close(fd);
    }
    if (cproc_rlimits(p, &e) < 0) child_fail(c, &e);
    /* only stdio and the preserved fds go on (before seccomp, which may forbid close_range) */
    if (cloexec_from(3 + (int)c->o->preserve_fds, &e) < 0) child_fail(c, &e);
    /* seccomp: without no_new_privs it must be loaded while we still hold CAP_SYS_ADMIN;
     * with it, as late as possible (runc's order) */
    if (c->seccomp && !p->no_new_privileges && cseccomp_load(c->seccomp, &e) < 0) child_fail(c, &e);
    if (cproc_identity(p, &e) < 0) child_fail(c, &e);
    if (cproc_cwd_umask(p, &e) < 0) child_fail(c, &e);
    char path[PATH_MAX];
    if (cproc_lookup(p, path, sizeof(path), &e) < 0) child_fail(c, &e);
    if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        sp_err_set(&e, -errno, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        child_fail(c, &e);
    }
    if (c->seccomp && p->no_new_privileges && cseccomp_load(c->seccomp, &e) < 0) child_fail(c, &e);
    fcntl(c->fifo_fd, F_SETFD, FD_CLOEXEC);
    if (send(c->sync_fd, "R", 1, MSG_NOSIGNAL) != 1) _exit(1);
    close(c->sync_fd);

    /* wait for start: opening the fifo for writing blocks until start opens it for reading */
    char fifo[64];
    snprintf(fifo, sizeof(fifo), "/proc/self/fd/%d", c->fifo_fd);
    int w = open(fifo, O_WRONLY | O_CLOEXEC);
    if (w < 0) _exit(1);
    if (write(w, "0", 1) != 1) _exit(1);
    close(w);
    close(c->fifo_fd);
    if (spec->start_container.n) {
        /* the state now says running (the hooks see what start made of us) */
        char *st = strstr(c->state, "\"status\":\"creating\"");
        if (st) memcpy(st + 9, "\"running\" ", 10);
        if (hooks_run(&spec->start_container, "startContainer", c->state, &e) < 0) {
            dprintf(2, "%s\n", e.msg);
            _exit(1);
        }
    }
    for (int sig = 1; sig < 32; sig++)
        signal(sig, SIG_DFL);
    execve(path, p->args, p->env);
    dprintf(2, "exec %s: %s\n", path, strerror(errno));
    _exit(cproc_exec_error_code(-errno));
}

/* linux.resources, with the devices every container gets after the config's own rules (as runc
 * does): mknod of anything, and the default devices, the console, the ptys and tun. */
static int apply_resources(struct cgroup *cg, json_t *resources, struct sp_err *err)
{
    static const char *const allow[][4] = {
        {"c", NULL, NULL, "m"}, {"b", NULL, NULL, "m"},    {"c", "1", "3", "rwm"},
        {"c", "1", "5", "rwm"}, {"c", "1", "7", "rwm"},    {"c", "1", "8", "rwm"},
        {"c", "1", "9", "rwm"}, {"c", "5", "0", "rwm"},    {"c", "5", "1", "rwm"},
        {"c", "5", "2", "rwm"}, {"c", "136", NULL, "rwm"}, {"c", "10", "200", "rwm"},
    };
    json_t *res = resources ? json_deep_copy(resources) : json_object();
    json_t *devs = res ? json_object_get(res, "devices") : NULL;
    if (res && !json_is_array(devs)) {
        devs = json_array();
        json_object_set_new(res, "devices", devs);
    }
    for (size_t i = 0; devs && i < sizeof(allow) / sizeof(allow[0]); i++) {
        json_t *d =
            json_pack("{s:b, s:s, s:s}", "allow", 1, "type", allow[i][0], "access", allow[i][3]);
        if (d && allow[i][1]) json_object_set_new(d, "major", json_integer(atoi(allow[i][1])));
        if (d && allow[i][2]) json_object_set_new(d, "minor", json_integer(atoi(allow[i][2])));
        json_array_append_new(devs, d);
    }
    int r = res ? cgroup_apply(cg, res, err) : sp_err_set(err, -ENOMEM, "out of memory");
    json_decref(res);
    return r;
}

/* The host id of the container's id 0 (0 without a mapping). */
static unsigned root_host_id(const struct oci_idmap *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].container_id == 0) return m[i].host_id;
    return 0;
}

/* The state JSON hooks get on their stdin. */
static char *hook_state(const char *id, const char *status, pid_t pid, const char *bundle,
                        json_t *annotations)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", OCI_VERSION, "id", id,
                          "status", status, "pid", (int)pid, "bundle", bundle);
    if (o && annotations) json_object_set(o, "annotations", annotations);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* ---- create ---- */

static int connect_console(const char *path, struct sp_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return sp_err_set(err, -ENAMETOOLONG, "console socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return sp_err_set(err, -e, "connecting to the console socket %s: %s", path, strerror(e));
    }
    return fd;
}

static int write_idmap(pid_t pid, const char *file, const struct oci_idmap *m, size_t n,
                       struct sp_err *err)
{
    char buf[4096], path[64];
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(buf + off, sizeof(buf) - off, "%u %u %u\n", m[i].container_id,
                         m[i].host_id, m[i].size);
        if (k < 0 || (size_t)k >= sizeof(buf) - off)
            return sp_err_set(err, -E2BIG, "%s: too many mappings", file);
        off += (size_t)k;
    }
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || sp_write_all(fd, buf, off) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return sp_err_set(err, -e, "writing %s: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

static int write_pid_file(const char *path, pid_t pid, struct sp_err *err)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
    int r = sp_write_file_replace(path, buf, (size_t)n, 0644);
    if (r < 0) return sp_err_set(err, r, "writing the pid file %s: %s", path, strerror(-r));
    return 0;
}

static int create_impl(const struct container_create_opts *o, pid_t *init_pid, struct sp_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    struct oci_spec *spec = NULL;
    struct cgroup *cg = NULL;
    bool cg_created = false, dir_made = false;
    int sv[2] = {-1, -1}, fifo_fd = -1, console_fd = -1, pidns_fd = -1, saved_pidns = -1;
    pid_t pid = -1;
    int r;

    if ((r = state_dir(o->root, o->id, dir, sizeof(dir), err)) < 0) return r;
    if ((r = sp_mkdir_p(o->root, 0700)) < 0)
        return sp_err_set(err, r, "creating the state root %s: %s", o->root, strerror(-r));
    if (mkdir(dir, 0700) < 0) {
        if (errno == EEXIST)
            return sp_err_set(err, -EEXIST, "container with given ID already exists");
        return sp_err_set(err, -errno, "creating %s: %s", dir, strerror(errno));
    }
    dir_made = true;

    struct init_ctx c = {.o = o, .sync_fd = -1, .fifo_fd = -1, .console_fd = -1};
    char bundle[PATH_MAX];
    if (!realpath(o->bundle, bundle)) {
        r = sp_err_set(err, -errno, "bundle %s: %s", o->bundle, strerror(errno));
        goto fail;
    }
    if ((r = oci_spec_load(bundle, &spec, err)) < 0) goto fail;
    c.spec = spec;
    if (!spec->has_process) {
        r = sp_err_set(err, -EINVAL, "config.json: process is required");
        goto fail;
    }
    const char *hr = json_string_value(json_object_get(spec->annotations, "run.sprite.host-root"));
    bool host_root = strcmp(spec->root_path, "/") == 0 || (hr && strcmp(hr, "true") == 0);
    const char *ov = json_string_value(json_object_get(spec->annotations, "run.sprite.overlay"));
    bool rootfs_overlay = !host_root && ov && strcmp(ov, "true") == 0;
    char rootfs_in[PATH_MAX * 2];
    if (rootfs_overlay) {
        if (spec->root_path[0] == '/')
            snprintf(rootfs_in, sizeof(rootfs_in), "%s", spec->root_path);
        else
            snprintf(rootfs_in, sizeof(rootfs_in), "%s/%s", bundle, spec->root_path);
        if (!realpath(rootfs_in, c.lower)) {
            r = sp_err_set(err, -errno, "rootfs %s: %s", rootfs_in, strerror(errno));
            goto fail;
        }
        if (strchr(c.lower, ',') || strchr(c.lower, ':')) {
            r = sp_err_set(err, -EINVAL,
                           "rootfs %s: an overlay lower layer cannot contain ',' or ':'", c.lower);
            goto fail;
        }
    } else if (host_root)
        snprintf(c.lower, sizeof(c.lower), "/");
    if (host_root || rootfs_overlay) {
        snprintf(c.overlay, sizeof(c.overlay), "%s/overlay", dir);
        snprintf(rootfs_in, sizeof(rootfs_in), "%s/merged", c.overlay);
        static const char *const sub[] = {"", "/upper", "/work", "/merged"};
        for (size_t k = 0; k < 4; k++) {
            char d[PATH_MAX + 48];
            snprintf(d, sizeof(d), "%s%s", c.overlay, sub[k]);
            if (mkdir(d, 0700) < 0) {
                r = sp_err_set(err, -errno, "creating %s: %s", d, strerror(errno));
                goto fail;
            }
        }
        /* the overlay's root takes the upper layer's mode and owner: give it the lower's */
        struct stat lst;
        snprintf(path, sizeof(path), "%s/upper", c.overlay);
        if (stat(c.lower, &lst) < 0 || chmod(path, lst.st_mode & 07777) < 0 ||
            chown(path, lst.st_uid, lst.st_gid) < 0) {
            r = sp_err_set(err, -errno, "setting up %s: %s", path, strerror(errno));
            goto fail;
        }
    } else if (spec->root_path[0] == '/')
        snprintf(rootfs_in, sizeof(rootfs_in), "%s", spec->root_path);
    else
        snprintf(rootfs_in, sizeof(rootfs_in), "%s/%s", bundle, spec->root_path);
    if (!realpath(rootfs_in, c.rootfs)) {
        r = sp_err_set(err, -errno, "rootfs %s: %s", rootfs_in, strerror(errno));
        goto fail;
    }
    if (!spec->ns[OCI_NS_MOUNT].wanted || spec->ns[OCI_NS_MOUNT].path) {
        r = sp_err_set(err, -EINVAL, "config.json: a new mount namespace is required");
        goto fail;
    }
    if (spec->process.terminal && !o->console_socket) {
        r = sp_err_set(err, -EINVAL,
                       "cannot allocate tty if runc will detach without setting console socket");
        goto fail;
    }
    if (spec->seccomp && (r = cseccomp_build(spec->seccomp, &c.seccomp, err)) < 0) goto fail;
    if (!spec->process.terminal && o->console_socket) {
        r = sp_err_set(err, -EINVAL,
                       "cannot use console socket if runc will not detach or "
                       "allocate tty");
        goto fail;
    }

    /* the config as it was at create: later edits of the bundle do not change the container */
    char src[PATH_MAX + 16];
    snprintf(src, sizeof(src), "%s/config.json", bundle);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    {
        json_error_t je;
        json_t *cfg = json_load_file(src, 0, &je);
        r = cfg ? write_json_atomic(path, cfg, 0600) : -EIO;
        json_decref(cfg);
        if (r < 0) {
            r = sp_err_set(err, r, "copying config.json into %s", dir);
            goto fail;
        }
    }

    snprintf(path, sizeof(path), "%s/exec.fifo", dir);
    /* the init opens it for writing after it has become the container's user: 0622 (as runc),
     * owned by the container's root */
    if (mkfifo(path, 0622) < 0 || chmod(path, 0622) < 0 ||
        chown(path, root_host_id(spec->uid_mappings, spec->n_uid_mappings),
              root_host_id(spec->gid_mappings, spec->n_gid_mappings)) < 0) {
        r = sp_err_set(err, -errno, "mkfifo %s: %s", path, strerror(errno));
        goto fail;
    }
    fifo_fd = open(path, O_PATH | O_CLOEXEC);
    if (fifo_fd < 0) {
        r = sp_err_set(err, -errno, "open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (o->console_socket && (console_fd = connect_console(o->console_socket, err)) < 0) {
        r = console_fd;
        console_fd = -1;
        goto fail;
    }
    if ((r = cgroup_create(spec->cgroups_path, o->id, &cg, &cg_created, err)) < 0) goto fail;
    if ((r = apply_resources(cg, spec->resources, err)) < 0) goto fail;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        r = sp_err_set(err, -errno, "socketpair: %s", strerror(errno));
        goto fail;
    }

    /* a pid namespace to join is entered here: the init is then born in it */
    if (spec->ns[OCI_NS_PID].wanted && spec->ns[OCI_NS_PID].path) {
        saved_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        pidns_fd = open(spec->ns[OCI_NS_PID].path, O_RDONLY | O_CLOEXEC);
        if (saved_pidns < 0 || pidns_fd < 0 || setns(pidns_fd, CLONE_NEWPID) < 0) {
            r = sp_err_set(err, -errno, "joining namespace %s: %s", spec->ns[OCI_NS_PID].path,
                           strerror(errno));
            goto fail;
        }
    }
    unsigned long flags = SIGCHLD;
    for (int t = 0; t < OCI_NS_COUNT; t++)
        if (spec->ns[t].wanted && !spec->ns[t].path) flags |= (unsigned long)oci_ns_clone_flag(t);
    c.sync_fd = sv[1];
    c.fifo_fd = fifo_fd;
    c.console_fd = console_fd;
    fflush(NULL);
    pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        close(sv[0]);
        init_main(&c);
    }
    int clone_errno = errno;
    if (saved_pidns >= 0) setns(saved_pidns, CLONE_NEWPID);
    if (pid < 0) {
        r = sp_err_set(err, -clone_errno, "clone: %s", strerror(clone_errno));
        goto fail;
    }
    sp_closep(&sv[1]);
    sp_closep(&console_fd);

    if (spec->ns[OCI_NS_USER].wanted && !spec->ns[OCI_NS_USER].path) {
        if ((r = write_idmap(pid, "uid_map", spec->uid_mappings, spec->n_uid_mappings, err)) < 0 ||
            (r = write_idmap(pid, "gid_map", spec->gid_mappings, spec->n_gid_mappings, err)) < 0)
            goto fail;
    }
    /* the namespaces exist, nothing is mounted yet: the hooks of the runtime's side */
    char *state = hook_state(o->id, "creating", pid, bundle, spec->annotations);
    if (!state) {
        r = sp_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if ((r = hooks_run(&spec->prestart, "prestart", state, err)) < 0 ||
        (r = hooks_run(&spec->create_runtime, "createRuntime", state, err)) < 0) {
        free(state);
        goto fail;
    }
    size_t gl = strlen(state) + 1;
    char *gomsg = malloc(gl + 1);
    if (!gomsg) {
        free(state);
        r = sp_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    gomsg[0] = 'G';
    memcpy(gomsg + 1, state, gl);
    free(state);
    ssize_t sent = send(sv[0], gomsg, gl, MSG_NOSIGNAL);
    free(gomsg);
    if (sent < 0 && errno == EMSGSIZE) {
        r = sp_err_set(err, -E2BIG, "the container's state (annotations) is too large");
        goto fail;
    }
    if (sent != (ssize_t)gl) {
        r = sp_err_set(err, -EPIPE, "the container init died before it started");
        goto fail;
    }
    /* Moving a task between v1 cgroups can cost an RCU grace period (20 ms and more): it is
     * done while the init builds its root file system, which needs no cgroup, and the init
     * waits for 'C' before anything that must be accounted or limited. */
    if ((r = cgroup_enter(cg, pid, err)) < 0) goto fail;
    /* an init that failed meanwhile has its reason waiting below: read it rather than EPIPE */
    if (send(sv[0], "C", 1, MSG_NOSIGNAL) != 1 && errno != EPIPE) {
        r = sp_err_set(err, -errno, "the container init died before it started");
        goto fail;
    }
    char msg[SP_ERR_MSG_MAX + 2];
    ssize_t n = recv(sv[0], msg, sizeof(msg) - 1, 0);
    /* an init that failed with our 'C' unread resets its end: the kernel reports that before
     * the reason it queued, which the next recv returns */
    if (n < 0 && errno == ECONNRESET) n = recv(sv[0], msg, sizeof(msg) - 1, MSG_DONTWAIT);
    if (n <= 0 || msg[0] != 'R') {
        if (n > 1 && msg[0] == 'E') {
            msg[n] = '\0';
            r = sp_err_set(err, -EINVAL,
                           "runc create failed: unable to start container process: %s", msg + 1);
        } else {
            r = sp_err_set(err, -ECHILD,
                           "runc create failed: the container init died while it was set up");
        }
        goto fail;
    }

    char created[64];
    now_rfc3339_ns(created, sizeof(created));
    json_t *st = json_pack(
        "{s:s, s:i, s:I, s:s, s:s, s:s, s:b, s:b, s:b}", "id", o->id, "pid", (int)pid, "start_time",
        (json_int_t)proc_start_time(pid), "bundle", bundle, "rootfs", c.rootfs, "created", created,
        "cgroup_owned", cg_created, "own_pidns",
        spec->ns[OCI_NS_PID].wanted && !spec->ns[OCI_NS_PID].path, "no_pivot", o->no_pivot);
    if (st) json_object_set_new(st, "cgroup", json_string(cgroup_path(cg)));
    if (st && spec->annotations) json_object_set(st, "annotations", spec->annotations);
    snprintf(path, sizeof(path), "%s/state.json", dir);
    r = st ? write_json_atomic(path, st, 0600) : -ENOMEM;
    json_decref(st);
    if (r < 0) {
        r = sp_err_set(err, r, "writing %s: %s", path, strerror(-r));
        goto fail;
    }
    if (o->pid_file && (r = write_pid_file(o->pid_file, pid, err)) < 0) goto fail;
    *init_pid = pid;
    sp_close(sv[0]);
    sp_close(fifo_fd);
    sp_close(pidns_fd);
    sp_close(saved_pidns);
    cgroup_free(cg);
    cseccomp_free(c.seccomp);
    oci_spec_free(spec);
    return 0;

fail:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (cg) {
        struct sp_err e2 = {0};
        if (cg_created) cgroup_destroy(cg, &e2);
        cgroup_free(cg);
    }
    sp_close(sv[0]);
    sp_close(sv[1]);
    sp_close(fifo_fd);
    sp_close(console_fd);
    sp_close(pidns_fd);
    sp_close(saved_pidns);
    if (dir_made) sp_rm_rf(dir);
    cseccomp_free(c.seccomp);
    oci_spec_free(spec);
    return r;
}

int container_create(const struct container_create_opts *o, struct sp_err *err)
{
    pid_t pid;
    return create_impl(o, &pid, err);
}

/* poststart and poststop: from the config saved at create; a failure is only a warning. */
static void run_saved_hooks(const struct saved *s, const char *kind, const char *status)
{
    struct oci_spec *spec = NULL;
    struct sp_err e = {0};
    if (oci_spec_load(s->dir, &spec, &e) < 0) return;
    const struct oci_hook_list *l =
        strcmp(kind, "poststart") == 0 ? &spec->poststart : &spec->poststop;
    if (l->n) {
        char *state =
            hook_state(json_string_value(json_object_get(s->j, "id")) ?: "", status,
                       strcmp(status, "stopped") == 0 ? 0 : s->pid,
                       json_string_value(json_object_get(s->j, "bundle")) ?: "", spec->annotations);
        if (state && hooks_run(l, kind, state, &e) < 0) fprintf(stderr, "warning: %s\n", e.msg);
        free(state);
    }
    oci_spec_free(spec);
}

/* ---- start ---- */

int container_start(const char *root, const char *id, struct sp_err *err)
{
    struct saved s;
    int r = load_saved(root, id, &s, err);
    if (r < 0) goto out;
    enum container_status st = saved_status(&s);
    if (st == CONTAINER_STOPPED) {
        r = sp_err_set(err, -EINVAL, "cannot start a container that has stopped");
        goto out;
    }
    if (st != CONTAINER_CREATED) {
        r = sp_err_set(err, -EINVAL, "cannot start an already running container");
        goto out;
    }
    char fifo[PATH_MAX + 16];
    snprintf(fifo, sizeof(fifo), "%s/exec.fifo", s.dir);
    int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        r = sp_err_set(err, -errno, "open %s: %s", fifo, strerror(errno));
        goto out;
    }
    /* the init, blocked opening the fifo for writing, goes on now and writes one byte */
    char b;
    r = -ETIMEDOUT;
    for (int waited = 0; waited < START_WAIT_MS; waited += 100) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0 && read(fd, &b, 1) == 1) {
            r = 0;
            break;
        }
        if (!init_alive(&s)) {
            r = -ESRCH;
            break;
        }
    }
    close(fd);
    if (r < 0) {
        sp_err_set(err, r,
                   r == -ESRCH ? "cannot start a container that has stopped"
                               : "the container init did not take the start in time");
        goto out;
    }
    unlink(fifo);
    run_saved_hooks(&s, "poststart", "running");
out:
    saved_clear(&s);
    return r;
}

/* ---- kill, delete, pause ---- */

static int open_cgroup(const struct saved *s, struct cgroup **cg, struct sp_err *err)
{
    if (!s->cgroup) return sp_err_set(err, -ENOENT, "the container has no cgroup");
    return cgroup_open(s->cgroup, cg, err);
}

int container_kill(const char *root, const char *id, int sig, bool all, struct sp_err *err)
{
    struct saved s;
    int r = load_saved(root, id, &s, err);
    if (r < 0) goto out;
    if (all) {
        struct cgroup *cg = NULL;
        struct sp_err e = {0};
        if (open_cgroup(&s, &cg, &e) == 0) {
            r = cgroup_kill_all(cg, sig, err);
            cgroup_free(cg);
        } else if (init_alive(&s) && kill(s.pid, sig) < 0) {
            r = sp_err_set(err, -errno, "kill: %s", strerror(errno));
        }
        goto out;
    }
    if (saved_status(&s) == CONTAINER_STOPPED) {
        r = sp_err_set(err, -ESRCH, "container not running");
        goto out;
    }
    if (kill(s.pid, sig) < 0) {
        r = sp_err_set(err, -errno, "kill: %s", strerror(errno));
        goto out;
    }
    /* a paused container cannot act on the signal: SIGKILL thaws it */
    if (sig == SIGKILL && saved_status(&s) == CONTAINER_PAUSED) {
        struct cgroup *cg = NULL;
        if (open_cgroup(&s, &cg, err) == 0) {
            cgroup_freeze(cg, false, err);
            cgroup_free(cg);
        }
    }
out:
    saved_clear(&s);
    return r;
}

static int destroy(struct saved *s, struct sp_err *err)
{
    struct cgroup *cg = NULL;
    struct sp_err e = {0};
    if (s->cgroup && cgroup_open(s->cgroup, &cg, &e) == 0) {
        /* an empty cgroup (the usual case: the init is gone) needs no freeze-kill-thaw */
        pid_t *pids = NULL;
        size_t n = 0;
        bool whole = s->cgroup_owned || !json_is_true(json_object_get(s->j, "own_pidns"));
        if (whole && (cgroup_pids(cg, &pids, &n, &e) < 0 || n > 0))
            cgroup_kill_all(cg, SIGKILL, &e);
        free(pids);
        if (cgroup_is_frozen(cg)) cgroup_freeze(cg, false, &e);
    }
    if (init_alive(s)) kill(s->pid, SIGKILL);
    /* wait for the processes to be gone before the cgroup can go */
    for (int waited = 0; waited < DELETE_WAIT_MS; waited += 10) {
        pid_t *pids = NULL;
        size_t n = 0;
        bool left = init_alive(s);
        if (cg && cgroup_pids(cg, &pids, &n, &e) == 0 && n) left = true;
        free(pids);
        if (!left) break;
        usleep(10000);
    }
    int r = 0;
    if (cg) {
        if (s->cgroup_owned && cgroup_destroy(cg, err) < 0) r = err->code;
        cgroup_free(cg);
    }
    run_saved_hooks(s, "poststop", "stopped");
    sp_rm_rf(s->dir);
    return r;
}

int container_delete(const char *root, const char *id, bool force, struct sp_err *err)
{
    struct saved s;
    int r = load_saved(root, id, &s, err);
    if (r < 0) {
        if (force && r == -ENOENT) {
            char dir[PATH_MAX];
            struct sp_err e = {0};
            if (state_dir(root, id, dir, sizeof(dir), &e) == 0) sp_rm_rf(dir);
            r = 0;
        }
        goto out;
    }
    enum container_status st = saved_status(&s);
    if ((st == CONTAINER_RUNNING || st == CONTAINER_PAUSED) && !force) {
        r = sp_err_set(err, -EBUSY, "cannot delete container %s that is not stopped: %s", id,
                       container_status_name(st));
        goto out;
    }
    r = destroy(&s, err);
out:
    saved_clear(&s);
    return r;
}

int container_pause(const char *root, const char *id, bool pause, struct sp_err *err)
{
    struct saved s;
    struct cgroup *cg = NULL;
    int r = load_saved(root, id, &s, err);
    if (r < 0) goto out;
    enum container_status st = saved_status(&s);
    if (pause && st != CONTAINER_RUNNING) {
        r = sp_err_set(err, -EINVAL, "container not running");
        goto out;
    }
    if (!pause && st != CONTAINER_PAUSED) {
        r = sp_err_set(err, -EINVAL, "container not paused");
        goto out;
    }
    if ((r = open_cgroup(&s, &cg, err)) == 0) r = cgroup_freeze(cg, pause, err);
out:
    cgroup_free(cg);
    saved_clear(&s);
    return r;
}

int container_thaw(const char *root, const char *id, struct sp_err *err)
{
    struct saved s;
    struct cgroup *cg = NULL;
    int r = load_saved(root, id, &s, err);
    if (r == 0 && (r = open_cgroup(&s, &cg, err)) == 0) r = cgroup_freeze(cg, false, err);
    cgroup_free(cg);
    saved_clear(&s);
    return r;
}

int container_pids(const char *root, const char *id, pid_t **pids, size_t *n, struct sp_err *err)
{
    struct saved s;
    struct cgroup *cg = NULL;
    *pids = NULL;
    *n = 0;
    int r = load_saved(root, id, &s, err);
    if (r == 0 && (r = open_cgroup(&s, &cg, err)) == 0) r = cgroup_pids(cg, pids, n, err);
    cgroup_free(cg);
    saved_clear(&s);
    return r;
}

int container_update(const char *root, const char *id, json_t *resources, struct sp_err *err)
{
    struct saved s;
    struct cgroup *cg = NULL;
    int r = load_saved(root, id, &s, err);
    if (r == 0 && saved_status(&s) == CONTAINER_STOPPED)
        r = sp_err_set(err, -ESRCH, "container not running");
    if (r == 0 && (r = open_cgroup(&s, &cg, err)) == 0) r = cgroup_apply(cg, resources, err);
    cgroup_free(cg);
    saved_clear(&s);
    return r;
}

/* ---- exec ---- */

struct exec_ctx {
    const struct oci_process *p;
    struct cseccomp *seccomp; /* the container's filter, NULL: none */
    pid_t init;
    int console_fd;
    unsigned preserve_fds;
    int report_fd; /* close-on-exec: EOF = exec'd; otherwise an error message */
};

static int join_init_namespaces(pid_t init, struct sp_err *err)
{
    static const char *const names[] = {"user", "ipc", "uts", "net", "pid", "cgroup", "mnt"};
    int fds[7];
    char self[64], theirs[64], link_a[128], link_b[128];
    for (size_t i = 0; i < 7; i++) {
        snprintf(theirs, sizeof(theirs), "/proc/%d/ns/%s", (int)init, names[i]);
        snprintf(self, sizeof(self), "/proc/self/ns/%s", names[i]);
        ssize_t a = readlink(theirs, link_a, sizeof(link_a) - 1);
        ssize_t b = readlink(self, link_b, sizeof(link_b) - 1);
        fds[i] = -1;
        /* the same namespace as ours: nothing to join (setns to one's own user ns fails) */
        if (a > 0 && b > 0 && a == b && memcmp(link_a, link_b, (size_t)a) == 0) continue;
        fds[i] = open(theirs, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0 && errno != ENOENT) {
            int e = errno;
            for (size_t j = 0; j < i; j++)
                sp_close(fds[j]);
            return sp_err_set(err, -e, "opening %s: %s", theirs, strerror(e));
        }
    }
    int r = 0;
    for (size_t i = 0; i < 7; i++) {
        if (fds[i] < 0) continue;
        if (r == 0 && setns(fds[i], 0) < 0)
            r = sp_err_set(err, -errno, "joining the container's %s namespace: %s", names[i],
                           strerror(errno));
        close(fds[i]);
    }
    return r;
}

static void exec_fail(struct exec_ctx *x, const struct sp_err *e)
{
    char msg[SP_ERR_MSG_MAX + 8];
    int n = snprintf(msg, sizeof(msg), "%d %s", e->code, e->msg);
    if (write(x->report_fd, msg, (size_t)n) < 0) {
    }
    _exit(1);
}

/* The process that runs the program: already in the container's namespaces and cgroup. */
SP_NORETURN static void exec_child(struct exec_ctx *x)
{
    struct sp_err e = {0};
    const struct oci_process *p = x->p;
    if (p->terminal) {
        if (setup_console(x->console_fd, p, false, &e) < 0) exec_fail(x, &e);
    } else {
        setsid();
    }
    if (p->has_oom_score_adj) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        char v[16];
        int n = snprintf(v, sizeof(v), "%d", p->oom_score_adj);
        if (fd >= 0) {
            if (write(fd, v, (size_t)n) < 0) {
            }
            close(fd);
        }
    }
    if (cproc_rlimits(p, &e) < 0) exec_fail(x, &e);
    if (cloexec_from(3 + (int)x->preserve_fds, &e) < 0) exec_fail(x, &e);
    if (x->seccomp && !p->no_new_privileges && cseccomp_load(x->seccomp, &e) < 0) exec_fail(x, &e);
    if (cproc_identity(p, &e) < 0 || cproc_cwd_umask(p, &e) < 0) exec_fail(x, &e);
    char path[PATH_MAX];
    if (cproc_lookup(p, path, sizeof(path), &e) < 0) exec_fail(x, &e);
    if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        sp_err_set(&e, -errno, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        exec_fail(x, &e);
    }
    if (x->seccomp && p->no_new_privileges && cseccomp_load(x->seccomp, &e) < 0) exec_fail(x, &e);
    fcntl(x->report_fd, F_SETFD, FD_CLOEXEC);
    execve(path, p->args, p->env);
    sp_err_set(&e, -errno, "exec %s: %s", path, strerror(errno));
    exec_fail(x, &e);
    _exit(1);
}

int container_exec(const char *root, const char *id, const struct oci_process *process,
                   const struct container_exec_opts *o, int *exit_code, struct sp_err *err)
{
    struct saved s;
    struct cgroup *cg = NULL;
    struct cseccomp *filter = NULL;
    int rep[2] = {-1, -1}, console_fd = -1, pidpipe[2] = {-1, -1};
    int r = load_saved(root, id, &s, err);
    if (r < 0) goto out;
    if (saved_status(&s) != CONTAINER_RUNNING) {
        r = sp_err_set(err, -ESRCH, "cannot exec in a stopped container");
        goto out;
    }
    if (process->terminal && !o->console_socket) {
        r = sp_err_set(err, -EINVAL,
                       "cannot allocate tty if runc will detach without setting console socket");
        goto out;
    }
    if (o->console_socket && (console_fd = connect_console(o->console_socket, err)) < 0) {
        r = console_fd;
        console_fd = -1;
        goto out;
    }
    if (s.cgroup) {
        struct sp_err e = {0};
        cgroup_open(s.cgroup, &cg, &e);
    }
    {
        /* the container's seccomp filter applies to what is exec'd in it too */
        struct oci_spec *spec = NULL;
        if (oci_spec_load(s.dir, &spec, err) < 0) {
            r = err->code;
            goto out;
        }
        r = spec->seccomp ? cseccomp_build(spec->seccomp, &filter, err) : 0;
        oci_spec_free(spec);
        if (r < 0) goto out;
    }
    if (pipe2(rep, O_CLOEXEC) < 0 || pipe2(pidpipe, O_CLOEXEC) < 0) {
        r = sp_err_set(err, -errno, "pipe: %s", strerror(errno));
        goto out;
    }
    /* we wait for the program ourselves unless detached: it is our grandchild, and the middle
     * process exits, so it comes back to us as a subreaper */
    if (!o->detach) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    fflush(NULL);
    pid_t mid = fork();
    if (mid < 0) {
        r = sp_err_set(err, -errno, "fork: %s", strerror(errno));
        goto out;
    }
    if (mid == 0) {
        struct exec_ctx x = {.p = process,
                             .seccomp = filter,
                             .init = s.pid,
                             .console_fd = console_fd,
                             .preserve_fds = o->preserve_fds,
                             .report_fd = rep[1]};
        struct sp_err e = {0};
        close(rep[0]);
        close(pidpipe[0]);
        /* into the container's cgroup first (its files are ours to see only before we join its
         * mount namespace): the program is born in it, and so is all it forks */
        if (cg && cgroup_enter(cg, getpid(), &e) < 0) exec_fail(&x, &e);
        if (join_init_namespaces(s.pid, &e) < 0) exec_fail(&x, &e);
        /* a pid namespace takes effect for children: the program is the next fork */
        pid_t child = fork();
        if (child < 0) {
            sp_err_set(&e, -errno, "fork: %s", strerror(errno));
            exec_fail(&x, &e);
        }
        if (child == 0) {
            close(pidpipe[1]);
            exec_child(&x);
        }
        if (write(pidpipe[1], &child, sizeof(child)) < 0) {
        }
        _exit(0);
    }
    sp_closep(&rep[1]);
    sp_closep(&pidpipe[1]);
    sp_closep(&console_fd);
    pid_t child = -1;
    ssize_t got = read(pidpipe[0], &child, sizeof(child));
    waitpid(mid, NULL, 0);
    char msg[SP_ERR_MSG_MAX + 8];
    ssize_t n = read(rep[0], msg, sizeof(msg) - 1);
    if (n > 0) {
        msg[n] = '\0';
        int code = atoi(msg);
        const char *text = strchr(msg, ' ');
        r = sp_err_set(err, code < 0 ? code : -EINVAL, "exec failed: %s", text ? text + 1 : msg);
        if (!o->detach && got == (ssize_t)sizeof(child)) waitpid(child, NULL, 0);
        goto out;
    }
    if (got != (ssize_t)sizeof(child)) {
        r = sp_err_set(err, -ECHILD, "exec failed: the process could not be started");
        goto out;
    }
    if (o->pid_file && (r = write_pid_file(o->pid_file, child, err)) < 0) {
        /* nobody would know about it: it does not outlive the failed exec */
        kill(child, SIGKILL);
        if (!o->detach) waitpid(child, NULL, 0);
        goto out;
    }
    if (!o->detach) {
        int status = 0;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    r = 0;
out:
    sp_close(rep[0]);
    sp_close(rep[1]);
    sp_close(pidpipe[0]);
    sp_close(pidpipe[1]);
    sp_close(console_fd);
    cseccomp_free(filter);
    cgroup_free(cg);
    saved_clear(&s);
    return r;
}

/* ---- run ---- */

static volatile pid_t run_init_pid;

static void forward_signal(int sig)
{
    if (run_init_pid > 0) kill(run_init_pid, sig);
}

int container_run(const struct container_create_opts *o, bool detach, int *exit_code,
                  struct sp_err *err)
{
    pid_t pid;
    int r = create_impl(o, &pid, err);
    if (r < 0) return r;
    if ((r = container_start(o->root, o->id, err)) < 0) {
        struct sp_err e = {0};
        container_delete(o->root, o->id, true, &e);
        return r;
    }
    if (detach) return 0;
    /* the init is our child: the usual signals sent to us go to it while we wait */
    run_init_pid = pid;
    struct sigaction sa = {.sa_handler = forward_signal};
    sigemptyset(&sa.sa_mask);
    static const int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    struct sp_err e = {0};
    container_delete(o->root, o->id, true, &e);
    return 0;
}

json_t *container_config_process_json(const char *root, const char *id, struct sp_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    if (state_dir(root, id, dir, sizeof(dir), err) < 0) return NULL;
    snprintf(path, sizeof(path), "%s/config.json", dir);
    json_error_t je;
    json_t *cfg = json_load_file(path, 0, &je);
    if (!cfg) {
        sp_err_set(err, -ENOENT, "container does not exist");
        return NULL;
    }
    json_t *p = json_object_get(cfg, "process");
    json_t *copy = json_is_object(p) ? json_deep_copy(p) : json_object();
    json_decref(cfg);
    if (!copy) sp_err_set(err, -ENOMEM, "out of memory");
    return copy;
}
