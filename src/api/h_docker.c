/* SPDX-License-Identifier: MIT */
/*
 * The Docker Engine API subset that `docker exec`, docker-py and dockerode use (spec:
 * exec-apis.md Part A): /_ping, /version, /info, the container list and inspect, and the exec
 * life cycle — create, start (detached, hijacked with 101, or a close-delimited 200), resize and
 * inspect.
 *
 * Each environment is a "container". Today that is the root environment, named by
 * docker.container_name, whose 64-hex id is made once and kept in the write directory.
 *
 * An exec record lives from create until retention after its end (or until it was created and
 * never started for as long); at most max_execs exist, the oldest ended ones making room. A
 * started exec is a process of the process table (tag "docker-" + 12 hex digits of its id, after
 * the container id prefix). An attached start is lossless: the stream follows the process's logs
 * and pauses the process while the client is behind. The exit code is recorded before the stream's
 * write side is shut, so an inspect right after EOF sees it. A client that goes away kills the
 * process group (moby leaves it running; in a sandbox an orphaned exec is a leak).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/log.h"
#include "../base/str.h"
#include "../base/time.h"
#include "../os/spawn.h"
#include "../os/users.h"
#include "api_internal.h"
#include "attach.h"
#include "rawconn.h"

#define ID_LEN            64
#define FRAME_MAX         (32 * 1024)   /* stdcopy payload per frame (moby clients expect small) */
#define STREAM_HIGH_MARK  (1024 * 1024) /* pause the process above this much unsent output */
#define STDIN_HIGH_MARK   (1024 * 1024) /* stop reading the client above this much queued stdin */
#define STDIN_POLL_MS     20
#define DOCKER_PY_HOLD_MS 50 /* see exec_start */

enum dx_state { DX_CREATED, DX_STARTING, DX_RUNNING, DX_ENDED };

struct dexec {
    struct dexec *prev, *next; /* creation order */
    struct docker *d;
    char id[ID_LEN + 1];
    char **argv, **env;
    char *workdir, *user, *detach_keys;
    bool tty, open_stdin, open_stdout, open_stderr, privileged;
    unsigned short rows, cols;
    enum dx_state state;
    uint64_t created_ms, ended_ms;
    pid_t pid;
    int exit_code;
    struct proc_follower f; /* while running */
    /* the attached stream, while there is one */
    struct rawconn *rc;
    bool mux;            /* stdcopy frames (else raw bytes) */
    bool stdin_attached; /* the client's bytes go to stdin */
    struct attach at;
    bool reading_paused; /* stdin is behind: the client is not read */
    bool stream_done;    /* rawconn_finish was called */
    struct loop_timer stdin_timer;
    struct loop_timer start_timer; /* DX_STARTING: the start is held back (docker-py) */
};

static void start_timer_cb(struct loop_timer *t);

struct docker {
    struct api *a;
    uint64_t started_wall_ms; /* the daemon's start, wall clock */
    char container_id[ID_LEN + 1];
    struct dexec *first, *last;
    unsigned n_execs;
};

/* ---- helpers ---- */

static void hex_id(char out[ID_LEN + 1])
{
    unsigned char raw[ID_LEN / 2];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (errno != EINTR)
            break;
    }
    if (got < sizeof(raw)) { /* no entropy source: still unique within this daemon */
        static uint64_t seq;
        uint64_t x = sp_now_ms() ^ ((uint64_t)getpid() << 40) ^ ++seq;
        for (size_t i = got; i < sizeof(raw); i++, x = x * 6364136223846793005ull + 1)
            raw[i] = (unsigned char)(x >> 56);
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static bool is_hex_id(const char *s, size_t n)
{
    if (n != ID_LEN) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static void iso_time(uint64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

/* Go's units.HumanDuration, which `docker ps` shows as "Up …". */
static void human_duration(uint64_t secs, char *buf, size_t len)
{
    uint64_t m = secs / 60, h = secs / 3600, d = secs / 86400;
    if (secs < 1)
        snprintf(buf, len, "Less than a second");
    else if (secs == 1)
        snprintf(buf, len, "1 second");
    else if (secs < 60)
        snprintf(buf, len, "%llu seconds", (unsigned long long)secs);
    else if (m == 1)
        snprintf(buf, len, "About a minute");
    else if (m < 60)
        snprintf(buf, len, "%llu minutes", (unsigned long long)m);
    else if (h < 2)
        snprintf(buf, len, "About an hour");
    else if (h < 48)
        snprintf(buf, len, "%llu hours", (unsigned long long)h);
    else if (d < 14)
        snprintf(buf, len, "%llu days", (unsigned long long)d);
    else if (d < 60)
        snprintf(buf, len, "%llu weeks", (unsigned long long)(d / 7));
    else if (d < 730)
        snprintf(buf, len, "%llu months", (unsigned long long)(d / 30));
    else
        snprintf(buf, len, "%llu years", (unsigned long long)(d / 365));
}

static const char *go_arch(void)
{
    static struct utsname u;
    if (!u.machine[0]) uname(&u);
    if (strcmp(u.machine, "x86_64") == 0) return "amd64";
    if (strcmp(u.machine, "aarch64") == 0) return "arm64";
    return u.machine;
}

static const char *kernel_release(void)
{
    static struct utsname u;
    if (!u.release[0]) uname(&u);
    return u.release;
}

static void docker_error(struct http_request *req, int status, const char *code, const char *msg)
{
    http_respond_error(req, status, code, "%s", msg);
}

/* ---- the container identity ---- */

/* The root container's id: made once, kept in the write directory. */
static int load_container_id(struct docker *d, struct sp_err *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/docker-container-id", d->a->ctx.state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[ID_LEN + 2];
        ssize_t n = read(fd, buf, sizeof(buf));
        sp_close(fd);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            n--;
        if (n > 0 && is_hex_id(buf, (size_t)n)) {
            memcpy(d->container_id, buf, ID_LEN);
            d->container_id[ID_LEN] = 0;
            return 0;
        }
        sp_warn("docker: %s is malformed; making a new container id", path);
    } else if (errno != ENOENT) {
        return sp_err_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    hex_id(d->container_id);
    char line[ID_LEN + 1];
    memcpy(line, d->container_id, ID_LEN);
    line[ID_LEN] = '\n';
    int r = sp_write_file_atomic(path, line, sizeof(line), 0644);
    if (r < 0) return sp_err_set(err, r, "%s: %s", path, strerror(-r));
    return 0;
}

/* name, "/name", the full id or a unique prefix of it (as docker accepts) */
static bool container_matches(struct docker *d, const char *ref)
{
    const char *name = d->a->ctx.docker_name;
    if (ref[0] == '/') ref++;
    if (strcmp(ref, name) == 0) return true;
    size_t n = strlen(ref);
    return n > 0 && n <= ID_LEN && strncmp(ref, d->container_id, n) == 0;
}

/* ---- exec records ---- */

static void dexec_release_proc(struct dexec *x)
{
    if (!x->f.proc) return;
    attach_release(&x->at);
    proc_unfollow(&x->f);
}

static void dexec_free(struct dexec *x)
{
    struct docker *d = x->d;
    if (x->rc) { /* only at teardown: the owner forgets the stream */
        rawconn_finish(x->rc);
        x->rc = NULL;
    }
    loop_timer_stop(d->a->ctx.loop, &x->stdin_timer);
    loop_timer_stop(d->a->ctx.loop, &x->start_timer);
    dexec_release_proc(x);
    if (x->prev)
        x->prev->next = x->next;
    else
        d->first = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        d->last = x->prev;
    d->n_execs--;
    sp_strv_free(x->argv);
    sp_strv_free(x->env);
    free(x->workdir);
    free(x->user);
    free(x->detach_keys);
    free(x);
}

/* Forgets ended records past retention and never-started ones as old. */
static void sweep(struct docker *d)
{
    uint64_t now = sp_now_ms(), keep = d->a->ctx.docker_retention_ms;
    for (struct dexec *x = d->first, *next; x; x = next) {
        next = x->next;
        if (x->state == DX_ENDED && !x->rc && now - x->ended_ms >= keep)
            dexec_free(x);
        else if (x->state == DX_CREATED && now - x->created_ms >= keep)
            dexec_free(x);
    }
}

/* Room for one more record: the oldest ended (or never started) one goes if need be. */
static bool make_room(struct docker *d)
{
    sweep(d);
    if (d->n_execs < d->a->ctx.docker_max_execs) return true;
    for (struct dexec *x = d->first; x; x = x->next)
        if ((x->state == DX_ENDED && !x->rc) || x->state == DX_CREATED) {
            dexec_free(x);
            return true;
        }
    return false;
}

static struct dexec *find_exec(struct docker *d, const char *id, size_t n)
{
    for (struct dexec *x = d->first; x; x = x->next)
        if (strlen(x->id) == n && memcmp(x->id, id, n) == 0) return x;
    return NULL;
}

/* ---- the attached stream ---- */

static void stream_end(struct dexec *x)
{
    if (x->rc && !x->stream_done) {
        x->stream_done = true;
        rawconn_finish(x->rc);
    }
    x->rc = NULL;
    loop_timer_stop(x->d->a->ctx.loop, &x->stdin_timer);
}

static void record_end(struct dexec *x, int code)
{
    if (x->state == DX_ENDED) return;
    x->state = DX_ENDED;
    x->exit_code = code;
    x->ended_ms = sp_now_ms();
}

static long dx_send(void *ctx, int s, const struct iovec *piece, int n)
{
    struct dexec *x = ctx;
    size_t len = piece[0].iov_len + (n > 1 ? piece[1].iov_len : 0);
    unsigned char hdr[8] = {(unsigned char)(s + 1),
                            0,
                            0,
                            0,
                            (unsigned char)(len >> 24),
                            (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8),
                            (unsigned char)len};
    struct iovec iov[3] = {{hdr, sizeof(hdr)}, piece[0], n > 1 ? piece[1] : (struct iovec){0}};
    return x->mux ? rawconn_send(x->rc, iov, n + 1) : rawconn_send(x->rc, iov + 1, n);
}

/* Moves what the logs hold to the client; at the end (process finished, all sent) records the
 * exit and shuts the stream. */
static void stream_pump(struct dexec *x)
{
    struct proc *p = x->f.proc;
    if (!p || !x->rc) return;
    if (attach_pump(&x->at) != ATTACH_DONE) return; /* on_drain or on_close follows */
    record_end(x, proc_exit_code(p));               /* before the client can see EOF */
    stream_end(x);
    dexec_release_proc(x);
}

static void stdin_check(struct loop_timer *t)
{
    struct dexec *x = SP_CONTAINER_OF(t, struct dexec, stdin_timer);
    struct proc *p = x->f.proc;
    if (!x->rc || !x->reading_paused) return;
    if (!p || proc_stdin_pending(p) < STDIN_HIGH_MARK / 4) {
        x->reading_paused = false;
        rawconn_pause_reading(x->rc, false);
        return;
    }
    loop_timer_start(x->d->a->ctx.loop, t, STDIN_POLL_MS);
}

static void rc_on_data(struct rawconn *rc, const char *data, size_t len)
{
    struct dexec *x = rawconn_data(rc);
    struct proc *p = x->f.proc;
    if (!x->stdin_attached || !p || !proc_stdin_open(p)) return; /* nobody reads it: dropped */
    if (proc_stdin_write(p, data, len) < 0) return;
    if (!x->reading_paused && proc_stdin_pending(p) >= STDIN_HIGH_MARK) {
        x->reading_paused = true;
        rawconn_pause_reading(rc, true);
        loop_timer_start(x->d->a->ctx.loop, &x->stdin_timer, STDIN_POLL_MS);
    }
}

static void rc_on_eof(struct rawconn *rc)
{
    /* a half-close: the client's stdin ended; it still reads the output */
    struct dexec *x = rawconn_data(rc);
    if (x->stdin_attached && x->f.proc) proc_stdin_close(x->f.proc);
}

static void rc_on_drain(struct rawconn *rc)
{
    stream_pump(rawconn_data(rc));
}

static void rc_on_close(struct rawconn *rc)
{
    struct dexec *x = rawconn_data(rc);
    x->rc = NULL;
    if (x->state == DX_STARTING) { /* gone before its process started: it never will */
        loop_timer_stop(x->d->a->ctx.loop, &x->start_timer);
        record_end(x, 128 + SIGKILL);
        return;
    }
    loop_timer_stop(x->d->a->ctx.loop, &x->stdin_timer);
    struct proc *p = x->f.proc;
    if (p && proc_active(p)) {
        sp_info("docker exec %.12s: client went away, killing its process group", x->id);
        proc_signal(p, SIGKILL);
    }
    attach_release(&x->at);      /* let it drain into the log: nobody waits for it */
    if (p && proc_finished(p)) { /* its end came while the stream was dying */
        record_end(x, proc_exit_code(p));
        dexec_release_proc(x);
    }
}

static const struct rawconn_handlers rc_handlers = {
    .on_data = rc_on_data,
    .on_eof = rc_on_eof,
    .on_drain = rc_on_drain,
    .on_close = rc_on_close,
};

static void dx_on_output(struct proc_follower *f)
{
    struct dexec *x = f->data;
    if (x->rc) stream_pump(x);
}

static void dx_on_exit(struct proc_follower *f)
{
    struct dexec *x = f->data;
    if (x->rc) {
        stream_pump(x); /* records the end once everything is sent */
        return;
    }
    record_end(x, proc_exit_code(f->proc));
    dexec_release_proc(x);
}

/* ---- JSON ---- */

static json_t *container_json(struct docker *d, bool summary)
{
    struct api_ctx *c = &d->a->ctx;
    char created[64], name[80], status[64], host[256] = "";
    iso_time(d->started_wall_ms, created, sizeof(created));
    snprintf(name, sizeof(name), "/%s", c->docker_name);
    gethostname(host, sizeof(host) - 1);
    json_t *names = json_pack("[s]", name);
    json_t *cmd = json_pack("[s]", "sprite-env");
    if (summary) {
        char up[48];
        human_duration((sp_now_ms() - c->started_ms) / 1000, up, sizeof(up));
        snprintf(status, sizeof(status), "Up %s", up);
        json_decref(cmd);
        return json_pack("{s:s,s:o,s:s,s:s,s:s,s:I,s:[],s:{},s:s,s:s,s:{s:s},s:{s:{}},s:[]}", "Id",
                         d->container_id, "Names", names, "Image", "sprite-env", "ImageID", "",
                         "Command", "sprite-env", "Created",
                         (json_int_t)(d->started_wall_ms / 1000), "Ports", "Labels", "State",
                         "running", "Status", status, "HostConfig", "NetworkMode", "host",
                         "NetworkSettings", "Networks", "Mounts");
    }
    json_decref(names);
    json_t *execs = json_array();
    for (struct dexec *x = d->first; x; x = x->next)
        if (x->state == DX_RUNNING || x->state == DX_STARTING)
            json_array_append_new(execs, json_string(x->id));
    json_t *state = json_pack("{s:s,s:b,s:b,s:b,s:b,s:b,s:i,s:i,s:s,s:s,s:s}", "Status", "running",
                              "Running", 1, "Paused", 0, "Restarting", 0, "OOMKilled", 0, "Dead", 0,
                              "Pid", (int)getpid(), "ExitCode", 0, "Error", "", "StartedAt",
                              created, "FinishedAt", "0001-01-01T00:00:00Z");
    json_t *config =
        json_pack("{s:s,s:s,s:s,s:b,s:b,s:b,s:b,s:b,s:b,s:[],s:o,s:s,s:s,s:{}}", "Hostname", host,
                  "Domainname", "", "User", "", "AttachStdin", 0, "AttachStdout", 0, "AttachStderr",
                  0, "Tty", 0, "OpenStdin", 0, "StdinOnce", 0, "Env", "Cmd", cmd, "Image",
                  "sprite-env", "WorkingDir", "/", "Labels");
    return json_pack("{s:s,s:s,s:s,s:[],s:o,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:o,s:{s:s},s:[],s:o,"
                     "s:{s:{}}}",
                     "Id", d->container_id, "Created", created, "Path", "sprite-env", "Args",
                     "State", state, "Image", "sprite-env", "Name", name, "Driver", "none",
                     "Platform", "linux", "RestartCount", 0, "MountLabel", "", "ProcessLabel", "",
                     "ExecIDs", execs, "HostConfig", "NetworkMode", "host", "Mounts", "Config",
                     config, "NetworkSettings", "Networks");
}

/* A sandbox in `docker ps`: its agent's container id, its name, its state. */
static json_t *sandbox_summary(struct sandbox *sb)
{
    enum sandbox_state st = sandbox_state(sb);
    char status[96], up[48], name[80];
    human_duration((sp_wall_ms() - sandbox_created_ms(sb)) / 1000, up, sizeof(up));
    const char *state = st == SB_RUNNING    ? "running"
                        : st == SB_PAUSED   ? "paused"
                        : st == SB_CREATING ? "created"
                        : st == SB_ERROR    ? "dead"
                                            : "removing";
    if (st == SB_RUNNING)
        snprintf(status, sizeof(status), "Up %s", up);
    else if (st == SB_PAUSED)
        snprintf(status, sizeof(status), "Up %s (Paused)", up);
    else
        snprintf(status, sizeof(status), "%s", st == SB_CREATING ? "Created" : state);
    snprintf(name, sizeof(name), "/%s", sandbox_name(sb));
    return json_pack("{s:s,s:[s],s:s,s:s,s:s,s:I,s:[],s:{},s:s,s:s,s:{s:s},s:{s:{}},s:[]}", "Id",
                     sandbox_docker_id(sb), "Names", name, "Image", "sprite-sandbox", "ImageID", "",
                     "Command", "sprite-env", "Created",
                     (json_int_t)(sandbox_created_ms(sb) / 1000), "Ports", "Labels", "State", state,
                     "Status", status, "HostConfig", "NetworkMode", "none", "NetworkSettings",
                     "Networks", "Mounts");
}

static json_t *exec_json(struct docker *d, struct dexec *x)
{
    json_t *args = json_array();
    for (size_t i = 1; x->argv[i]; i++)
        json_array_append_new(args, json_string(x->argv[i]));
    json_t *pc = json_pack("{s:b,s:s,s:o,s:b}", "tty", x->tty, "entrypoint", x->argv[0],
                           "arguments", args, "privileged", x->privileged);
    if (x->user) json_object_set_new(pc, "user", json_string(x->user));
    bool running = x->state == DX_STARTING ||
                   (x->state == DX_RUNNING && !(x->f.proc && proc_exit_code(x->f.proc) >= 0));
    json_t *code = json_null();
    if (x->state == DX_ENDED)
        code = json_integer(x->exit_code);
    else if (x->state == DX_RUNNING && !running)
        code = json_integer(proc_exit_code(x->f.proc));
    char keys[64] = "";
    if (x->detach_keys) sp_base64_encode(x->detach_keys, strlen(x->detach_keys), keys);
    return json_pack("{s:s,s:s,s:b,s:o,s:o,s:b,s:b,s:b,s:b,s:s,s:s,s:i}", "ID", x->id, "Id", x->id,
                     "Running", running, "ExitCode", code, "ProcessConfig", pc, "OpenStdin",
                     x->open_stdin, "OpenStderr", x->open_stderr, "OpenStdout", x->open_stdout,
                     "CanRemove", 0, "ContainerID", d->container_id, "DetachKeys", keys, "Pid",
                     (int)x->pid);
}

/* ---- routes ---- */

void h_docker_ping(struct api *a, struct http_request *req)
{
    (void)a;
    static const char hdrs[] = "Cache-Control: no-cache, no-store, must-revalidate\r\n"
                               "Pragma: no-cache\r\nSwarm: inactive\r\nBuilder-Version: \r\n";
    http_respond(req, 200, "text/plain; charset=utf-8", hdrs, "OK", 2);
}

void h_docker_version(struct api *a, struct http_request *req)
{
    const char *v = a->ctx.version;
    json_t *details = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "ApiVersion", DOCKER_API_VERSION, "MinAPIVersion",
        "1.24", "Os", "linux", "Arch", go_arch(), "KernelVersion", kernel_release(), "GoVersion",
        "none (C)", "GitCommit", "", "BuildTime", "", "Experimental", "false");
    api_respond_json(req, 200,
                     json_pack("{s:{s:s},s:[{s:s,s:s,s:o}],s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
                               "Platform", "Name", "sprite-env", "Components", "Name", "Engine",
                               "Version", v, "Details", details, "Version", v, "ApiVersion",
                               DOCKER_API_VERSION, "MinAPIVersion", "1.24", "GitCommit", "",
                               "GoVersion", "none (C)", "Os", "linux", "Arch", go_arch(),
                               "KernelVersion", kernel_release(), "BuildTime", ""));
}

static void os_pretty_name(char *buf, size_t len)
{
    snprintf(buf, len, "Linux");
    FILE *f = fopen("/etc/os-release", "re");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0) continue;
        char *v = line + 12;
        v[strcspn(v, "\n")] = 0;
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
            v[n - 1] = 0;
            v++;
        }
        snprintf(buf, len, "%s", v);
        break;
    }
    fclose(f);
}

void h_docker_info(struct api *a, struct http_request *req)
{
    struct docker *d = a->docker;
    char host[256] = "", now[64], os[256];
    gethostname(host, sizeof(host) - 1);
    iso_time(sp_now_ms(), now, sizeof(now));
    os_pretty_name(os, sizeof(os));
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    struct utsname u;
    uname(&u);
    json_t *o = json_pack(
        "{s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:[],s:{s:[],s:[],s:n,s:[]},s:b,s:b,s:b,s:b,s:b,s:b,s:b,"
        "s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:s,s:s,s:[],s:b,s:s,s:{},s:s,s:{s:s,s:s,s:s,"
        "s:b,s:s},s:[],s:[]}",
        "ID", d->container_id, "Containers", 1, "ContainersRunning", 1, "ContainersPaused", 0,
        "ContainersStopped", 0, "Images", 0, "Driver", "none", "DriverStatus", "Plugins", "Volume",
        "Network", "Authorization", "Log", "MemoryLimit", 0, "SwapLimit", 0, "CpuCfsPeriod", 0,
        "CpuCfsQuota", 0, "CPUShares", 0, "CPUSet", 0, "PidsLimit", 0, "Debug", 0, "SystemTime",
        now, "LoggingDriver", "none", "CgroupDriver", "none", "KernelVersion", u.release,
        "OperatingSystem", os, "OSType", "linux", "Architecture", u.machine, "NCPU",
        (int)sysconf(_SC_NPROCESSORS_ONLN), "MemTotal", (json_int_t)pages * psize, "Name", host,
        "ServerVersion", a->ctx.version, "Labels", "ExperimentalBuild", 0, "DefaultRuntime",
        "sprite-env", "Runtimes", "DockerRootDir", a->ctx.state_dir, "Swarm", "NodeID", "",
        "NodeAddr", "", "LocalNodeState", "inactive", "ControlAvailable", 0, "Error", "",
        "SecurityOptions", "Warnings");
    api_respond_json(req, 200, o);
}

/* Reads the exec create body into a new record; -1 after answering. */
static int parse_create(struct http_request *req, json_t *o, struct dexec *x)
{
    static const char *const bools[] = {"Tty",          "AttachStdin", "AttachStdout",
                                        "AttachStderr", "Privileged",  "Detach"};
    for (size_t i = 0; i < SP_ARRAY_LEN(bools); i++) {
        json_t *v = json_object_get(o, bools[i]);
        if (v && !json_is_boolean(v) && !json_is_null(v)) {
            http_respond_error(req, 400, "bad_request", "%s: expected true or false", bools[i]);
            return -1;
        }
    }
    x->tty = json_is_true(json_object_get(o, "Tty"));
    x->open_stdin = json_is_true(json_object_get(o, "AttachStdin"));
    x->open_stdout = json_is_true(json_object_get(o, "AttachStdout"));
    x->open_stderr = json_is_true(json_object_get(o, "AttachStderr"));
    x->privileged = json_is_true(json_object_get(o, "Privileged"));
    if (api_json_strv(req, o, "Cmd", &x->argv) < 0) return -1;
    if (!x->argv || !x->argv[0] || !x->argv[0][0]) {
        docker_error(req, 400, "bad_request", "No exec command specified");
        return -1;
    }
    if (api_json_strv(req, o, "Env", &x->env) < 0) return -1;
    for (size_t i = 0; x->env && x->env[i]; i++)
        if (!strchr(x->env[i], '=') || x->env[i][0] == '=') {
            http_respond_error(req, 400, "bad_request", "Env: \"%s\" is not KEY=VALUE", x->env[i]);
            return -1;
        }
    static const char *const strs[] = {"WorkingDir", "User", "DetachKeys"};
    char **dst[] = {&x->workdir, &x->user, &x->detach_keys};
    for (size_t i = 0; i < SP_ARRAY_LEN(strs); i++) {
        json_t *v = json_object_get(o, strs[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_string(v)) {
            http_respond_error(req, 400, "bad_request", "%s: expected a string", strs[i]);
            return -1;
        }
        if (json_string_length(v) == 0) continue;
        size_t max = i == 2 ? 32 : 4096;
        if (json_string_length(v) > max) {
            http_respond_error(req, 400, "bad_request", "%s: longer than %zu bytes", strs[i], max);
            return -1;
        }
        if (!(*dst[i] = strdup(json_string_value(v)))) {
            http_respond_error(req, 503, "out_of_memory", "out of memory");
            return -1;
        }
    }
    if (x->user) { /* as moby: an unknown user is refused at create, where clients show it */
        struct user_ids ids;
        struct sp_err uerr = {0};
        if (users_lookup("/", x->user, &ids, &uerr) < 0) {
            http_respond_error(req, 400, "bad_request", "%s", uerr.msg);
            return -1;
        }
    }
    if (x->workdir && x->workdir[0] != '/') {
        http_respond_error(req, 400, "bad_request",
                           "the working directory '%s' is invalid, it needs to be an absolute path",
                           x->workdir);
        return -1;
    }
    json_t *cs = json_object_get(o, "ConsoleSize");
    if (cs && !json_is_null(cs)) {
        json_t *h = json_array_get(cs, 0), *w = json_array_get(cs, 1);
        if (!json_is_array(cs) || json_array_size(cs) != 2 || !json_is_integer(h) ||
            !json_is_integer(w) || json_integer_value(h) < 0 || json_integer_value(w) < 0 ||
            json_integer_value(h) > 65535 || json_integer_value(w) > 65535) {
            http_respond_error(req, 400, "bad_request", "ConsoleSize: expected [height, width]");
            return -1;
        }
        x->rows = (unsigned short)json_integer_value(h);
        x->cols = (unsigned short)json_integer_value(w);
    }
    size_t bytes = 0;
    for (size_t i = 0; x->argv[i]; i++)
        bytes += strlen(x->argv[i]) + 1;
    for (size_t i = 0; x->env && x->env[i]; i++)
        bytes += strlen(x->env[i]) + 1;
    if (bytes > 16u * 1024 * 1024) {
        http_respond_error(req, 413, "too_large", "Cmd and Env: more than 16 MiB");
        return -1;
    }
    return 0;
}

static void exec_create(struct api *a, struct http_request *req, json_t *body)
{
    struct docker *d = a->docker;
    if (!make_room(d)) {
        http_respond_error(req, 429, "too_many_execs",
                           "too many exec instances (%u, none ended); try again later",
                           a->ctx.docker_max_execs);
        return;
    }
    struct dexec *x = calloc(1, sizeof(*x));
    if (!x) {
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    x->d = d;
    if (parse_create(req, body, x) < 0) {
        sp_strv_free(x->argv);
        sp_strv_free(x->env);
        free(x->workdir);
        free(x->user);
        free(x->detach_keys);
        free(x);
        return;
    }
    /* an exec id starts with the container id's first SANDBOX_ID_LEN characters: a sandbox's
     * agent is given a container id that starts with the sandbox id, so the host daemon knows
     * where to send /exec/{id}/… */
    do {
        hex_id(x->id);
        memcpy(x->id, d->container_id, SANDBOX_ID_LEN);
    } while (find_exec(d, x->id, ID_LEN));
    x->state = DX_CREATED;
    x->created_ms = sp_now_ms();
    x->f.on_output = dx_on_output;
    x->f.on_exit = dx_on_exit;
    x->f.data = x;
    loop_timer_init(&x->stdin_timer, stdin_check);
    loop_timer_init(&x->start_timer, start_timer_cb);
    x->prev = d->last;
    if (d->last)
        d->last->next = x;
    else
        d->first = x;
    d->last = x;
    d->n_execs++;
    api_respond_json(req, 201, json_pack("{s:s}", "Id", x->id));
}

void docker_exec_create_root(struct api *a, struct http_request *req, json_t *body)
{
    exec_create(a, req, body);
}

void h_docker_containers(struct api *a, struct http_request *req)
{
    struct docker *d = a->docker;
    const char *rest = api_unversioned_path(req->path, NULL) + strlen("/containers/");
    bool is_json = false;
    if (strcmp(rest, "json") == 0) {
        if (strcmp(req->method, "GET") != 0) goto method;
        json_t *list = json_array();
        json_array_append_new(list, container_json(d, true));
        for (size_t i = 0; a->ctx.sandboxes && i < SIZE_MAX; i++) {
            struct sandbox *sb = sbmgr_at(a->ctx.sandboxes, i);
            if (!sb) break;
            json_t *j = sandbox_summary(sb);
            if (j) json_array_append_new(list, j);
        }
        api_respond_json(req, 200, list);
        return;
    }
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest) {
        http_respond_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
        return;
    }
    char ref[256];
    size_t n = (size_t)(slash - rest);
    if (n >= sizeof(ref)) n = sizeof(ref) - 1;
    memcpy(ref, rest, n);
    ref[n] = 0;
    const char *op = slash + 1;
    is_json = strcmp(op, "json") == 0;
    bool is_exec = strcmp(op, "exec") == 0;
    if (!is_json && !is_exec) {
        http_respond_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
        return;
    }
    if (strcmp(req->method, is_json ? "GET" : "POST") != 0) goto method;
    struct sandbox *sb = NULL;
    if (!container_matches(d, ref) && a->ctx.sandboxes &&
        (sb = sbmgr_find_docker(a->ctx.sandboxes, ref[0] == '/' ? ref + 1 : ref))) {
        /* the sandbox's agent answers for it, under its own name */
        char *target = NULL;
        const char *q = strchr(req->target, '?');
        size_t plen = (size_t)(api_unversioned_path(req->path, NULL) - req->path);
        if (asprintf(&target, "%.*s/containers/%s/%s%s", (int)plen, req->path, sandbox_name(sb), op,
                     q ? q : "") < 0) {
            http_respond_error(req, 503, "out_of_memory", "out of memory");
            return;
        }
        sandbox_proxy(a, req, sb, target);
        free(target);
        return;
    }
    if (!container_matches(d, ref)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "No such container: %s", ref);
        docker_error(req, 404, "no_such_container", msg);
        return;
    }
    if (is_json) {
        api_respond_json(req, 200, container_json(d, false));
        return;
    }
    json_t *body;
    if (api_json_body(req, &body) < 0) return;
    exec_create(a, req, body);
    json_decref(body);
    return;
method:
    http_respond_error_h(
        req, 405, is_json || strcmp(rest, "json") == 0 ? "Allow: GET\r\n" : "Allow: POST\r\n",
        "method_not_allowed", "method %s is not allowed on %s", req->method, req->path);
}

/* A uint32 query parameter, as moby's Uint32Value: required, decimal digits only. */
static int parse_u16_query(struct http_request *req, const char *name, unsigned short *out)
{
    char buf[32];
    const char *v = http_query_get(req, name, buf, sizeof(buf));
    *out = 0;
    if (!v) v = "";
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || errno || v[0] < '0' || v[0] > '9' || n > 0xffffffffUL) {
        http_respond_error(req, 400, "bad_request", "invalid resize %s \"%s\"",
                           name[0] == 'h' ? "height" : "width", v);
        return -1;
    }
    *out = n > 65535 ? 65535 : (unsigned short)n;
    return 0;
}

static void exec_resize(struct http_request *req, struct dexec *x)
{
    unsigned short h, w;
    if (parse_u16_query(req, "h", &h) < 0 || parse_u16_query(req, "w", &w) < 0) return;
    if (h && w) {
        x->rows = h;
        x->cols = w;
        if (x->state == DX_RUNNING && x->f.proc && x->tty) proc_resize(x->f.proc, w, h);
    }
    http_respond(req, 200, NULL, NULL, NULL, 0);
}

/* The response head written by hand once the connection is ours. */
static int stream_head(struct http_request *req, bool upgrade, bool raw_ctype, char *buf,
                       size_t len)
{
    const char *ctype = raw_ctype ? "application/vnd.docker.raw-stream"
                                  : "application/vnd.docker.multiplexed-stream";
    if (upgrade)
        return snprintf(buf, len,
                        "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\n"
                        "Upgrade: tcp\r\n%s\r\n",
                        ctype, http_common_headers(req));
    return snprintf(buf, len, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nConnection: close\r\n%s\r\n",
                    ctype, http_common_headers(req));
}

static int start_proc(struct dexec *x, struct proc **p, struct sp_err *err)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "docker-%.12s",
             x->id + SANDBOX_ID_LEN); /* after the shared prefix */
    struct proc_spec spec = {
        .argv = x->argv,
        .env = x->env,
        .cwd = x->workdir ? x->workdir : "/",
        .user = x->user,
        .umask = -1,
        .tag = tag,
        .stdin_open = x->stdin_attached,
        .tty = x->tty,
        .cols = x->cols,
        .rows = x->rows,
        .wrap = true,
    };
    return proc_start(x->d->a->ctx.procs, &spec, p, err);
}

/* Runs an attached exec whose 101 (or 200) went out; the stream ends here on failure. */
static void attached_run(struct dexec *x)
{
    struct sp_err err = {0};
    struct proc *p = NULL;
    if (!x->rc) return; /* the client left before the start */
    rawconn_pause_reading(x->rc, false);
    int r = start_proc(x, &p, &err);
    if (r < 0) {
        /* The reason in the stream (the CLI cannot show an error body instead of a 101) and
         * the status a shell gives: 127 not found, 126 anything else that kept it from running
         * (not executable, unknown user, missing directory, limits). */
        bool exec_failure = strncmp(err.msg, "exec ", 5) == 0;
        char msg[SP_ERR_MSG_MAX + 8];
        int n = snprintf(msg, sizeof(msg), "%s\r\n", err.msg);
        struct iovec piece = {msg, (size_t)n};
        record_end(x, exec_failure ? spawn_exec_error_code(r) : 126);
        dx_send(x, 0, &piece, 1);
        stream_end(x);
        return;
    }
    x->state = DX_RUNNING;
    x->pid = proc_pid(p);
    proc_follow(p, &x->f);
    /* a pty merges both streams into stdout: attached if either is */
    bool want_out = x->tty ? x->open_stdout || x->open_stderr : x->open_stdout;
    x->at = (struct attach){.proc = p,
                            .skip = {!want_out, !x->open_stderr},
                            .frame_max = FRAME_MAX,
                            .high_mark = STREAM_HIGH_MARK,
                            .send = dx_send,
                            .ctx = x,
                            .what = "docker exec"};
    if (!x->stdin_attached && proc_stdin_open(p)) proc_stdin_close(p);
    stream_pump(x);
}

static void start_timer_cb(struct loop_timer *t)
{
    struct dexec *x = SP_CONTAINER_OF(t, struct dexec, start_timer);
    if (x->state == DX_STARTING) attached_run(x);
}

static void exec_start(struct api *a, struct http_request *req, struct dexec *x, unsigned minor)
{
    json_t *o = NULL;
    if (sp_buf_pending(&req->body)) {
        if (api_json_body(req, &o) < 0) return;
    }
    json_t *jd = o ? json_object_get(o, "Detach") : NULL,
           *jt = o ? json_object_get(o, "Tty") : NULL;
    bool detach = json_is_true(jd), tty_frames = json_is_true(jt);
    json_decref(o);
    if (x->state != DX_CREATED) {
        char msg[160];
        snprintf(msg, sizeof(msg), "exec command %s %s", x->id,
                 x->state == DX_ENDED ? "has already run" : "is already running");
        docker_error(req, 409, "conflict", msg);
        return;
    }
    /* Without an Upgrade header the stream is the body of a close-delimited 200: nothing to
     * read stdin from. */
    x->stdin_attached = !detach && req->upgrade && x->open_stdin;
    struct sp_err err = {0};
    struct proc *p = NULL;
    if (detach) {
        int r = start_proc(x, &p, &err);
        if (r < 0) { /* a JSON error the client prints */
            if (strncmp(err.msg, "exec ", 5) == 0) record_end(x, spawn_exec_error_code(r));
            respond_start_error(req, &err);
            return;
        }
        x->state = DX_RUNNING;
        x->pid = proc_pid(p);
        proc_follow(p, &x->f);
        http_respond(req, 200, NULL, NULL, NULL, 0);
        return;
    }

    /* Attached: the 101 (or 200) goes out before the process starts, as moby does. */
    char head[512];
    /* moby: multiplexed-stream only on a 101 for API >= 1.42 without Tty (the framing does not
     * change with the Content-Type: it follows the start's Tty) */
    bool raw_ctype = !req->upgrade || tty_frames || minor < 42;
    int hl = stream_head(req, req->upgrade, raw_ctype, head, sizeof(head));
    x->mux = !tty_frames;
    const char *ua = http_header_get(req, "User-Agent");
    bool docker_py = ua && strncmp(ua, "docker-sdk-python/", 18) == 0;
    if (rawconn_accept(req, a->ctx.loop, head, (size_t)hl, &rc_handlers, x, &x->rc) < 0) {
        x->rc = NULL;
        http_respond_error(req, 503, "out_of_memory", "out of memory");
        return;
    }
    if (docker_py) {
        /* docker-py drops whatever arrives together with the 101 (docker/docker-py#3332); moby
         * hides that behind runc's start-up time. Give it that time: the client's bytes wait. */
        x->state = DX_STARTING;
        rawconn_pause_reading(x->rc, true);
        loop_timer_start(a->ctx.loop, &x->start_timer, DOCKER_PY_HOLD_MS);
        return;
    }
    attached_run(x);
}

void h_docker_exec(struct api *a, struct http_request *req)
{
    struct docker *d = a->docker;
    unsigned minor;
    const char *rest = api_unversioned_path(req->path, &minor) + strlen("/exec/");
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest) {
        http_respond_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
        return;
    }
    const char *op = slash + 1;
    const char *want = strcmp(op, "json") == 0                                   ? "GET"
                       : (strcmp(op, "start") == 0 || strcmp(op, "resize") == 0) ? "POST"
                                                                                 : NULL;
    if (!want) {
        http_respond_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
        return;
    }
    if (strcmp(req->method, want) != 0) {
        http_respond_error_h(req, 405, want[0] == 'G' ? "Allow: GET\r\n" : "Allow: POST\r\n",
                             "method_not_allowed", "method %s is not allowed on %s", req->method,
                             req->path);
        return;
    }
    sweep(d);
    struct dexec *x = find_exec(d, rest, (size_t)(slash - rest));
    struct sandbox *sb = NULL;
    if (!x && a->ctx.sandboxes && slash - rest == ID_LEN) {
        char sid[SANDBOX_ID_LEN + 1];
        memcpy(sid, rest, SANDBOX_ID_LEN);
        sid[SANDBOX_ID_LEN] = 0;
        if ((sb = sbmgr_find(a->ctx.sandboxes, sid)) && strcmp(sandbox_id(sb), sid) == 0) {
            sandbox_proxy(a, req, sb, req->target); /* the agent's exec: the same route */
            return;
        }
    }
    if (!x) {
        char msg[300];
        snprintf(msg, sizeof(msg), "No such exec instance: %.*s",
                 (int)(slash - rest > 200 ? 200 : slash - rest), rest);
        docker_error(req, 404, "no_such_exec", msg);
        return;
    }
    if (op[0] == 'j')
        api_respond_json(req, 200, exec_json(d, x));
    else if (op[0] == 'r')
        exec_resize(req, x);
    else
        exec_start(a, req, x, minor);
}

/* ---- life cycle ---- */

int docker_new(struct api *a, struct sp_err *err)
{
    struct docker *d = calloc(1, sizeof(*d));
    if (!d) return sp_err_set(err, -ENOMEM, "out of memory");
    d->a = a;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t wall = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    d->started_wall_ms = wall - (sp_now_ms() - a->ctx.started_ms);
    int r = load_container_id(d, err);
    if (r < 0) {
        free(d);
        return r;
    }
    a->docker = d;
    return 0;
}

void docker_free(struct api *a)
{
    struct docker *d = a->docker;
    if (!d) return;
    while (d->first)
        dexec_free(d->first);
    free(d);
    a->docker = NULL;
}
