/* SPDX-License-Identifier: MIT */
/*
 * sprite-env: init, supervisor and API server. This file wires the modules together: it loads
 * the configuration, blocks signals and reads them from a signalfd, starts the API listeners and
 * the main process, and drives the shutdown sequence. Later roles (sprite-runc, the sprite
 * client) will be dispatched from here by the program name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "base/fd.h"
#include "base/log.h"
#include "base/str.h"
#include "base/time.h"
#include "config/config.h"
#include "os/loop.h"
#include "os/reap.h"
#include "os/sig.h"
#include "supervisor/mainproc.h"

#ifndef SPRITE_VERSION
#define SPRITE_VERSION "0.0.0-dev"
#endif

#define EXIT_USAGE 2

enum system_state { SYS_BOOTING, SYS_RUNNING, SYS_SHUTTING_DOWN, SYS_STOPPED };

struct daemon {
    struct config cfg;
    struct loop *loop;
    struct reaper *reaper;
    struct mainproc *mainproc;
    struct api *api;
    struct http_server *server;
    struct loop_io sigio;
    enum system_state state;
    char token[256];
    int main_exit_code; /* -1 until the main process has an exit status */
};

static const char *system_state_name(void *ud)
{
    const struct daemon *d = ud;
    switch (d->state) {
    case SYS_BOOTING: return "booting";
    case SYS_RUNNING: return "running";
    case SYS_SHUTTING_DOWN: return "shutting_down";
    case SYS_STOPPED: return "stopped";
    }
    return "error";
}

static void on_stopped(void *ud)
{
    struct daemon *d = ud;
    d->state = SYS_STOPPED;
    loop_stop(d->loop);
}

static void begin_shutdown(struct daemon *d, int sig, const char *why)
{
    if (d->state == SYS_SHUTTING_DOWN || d->state == SYS_STOPPED) {
        if (sig) mainproc_signal(d->mainproc, sig);
        return;
    }
    d->state = SYS_SHUTTING_DOWN;
    char grace[32];
    sp_duration_format(d->cfg.graceful_ms * 1000000ull, grace, sizeof(grace));
    sp_info("shutting down (%s); grace period %s", why, grace);
    mainproc_stop(d->mainproc, sig, d->cfg.graceful_ms, on_stopped);
}

static void on_main_exit(void *ud, int code)
{
    struct daemon *d = ud;
    d->main_exit_code = code;
    if (d->state == SYS_SHUTTING_DOWN || d->state == SYS_STOPPED) return;
    if (code != 0 && d->cfg.keep_alive_on_error) {
        sp_warn("main process ended with status %d; keep-alive-on-error is set, so the API stays "
                "up (send SIGTERM to stop)",
                code);
        return;
    }
    /* What the command left behind in its group gets SIGTERM, then SIGKILL after the grace. */
    begin_shutdown(d, SIGTERM, "the main process ended");
}

static void on_signal(struct loop_io *io, uint32_t events)
{
    struct daemon *d = SP_CONTAINER_OF(io, struct daemon, sigio);
    struct signalfd_siginfo si;
    int sig;
    (void)events;

    while ((sig = sig_read(io->fd, &si)) > 0) {
        switch (sig) {
        case SIGCHLD:
            reaper_collect(d->reaper);
            mainproc_poll(d->mainproc);
            break;
        case SIGTERM:
        case SIGINT:
            sp_info("received %s", sig_name(sig));
            begin_shutdown(d, sig, sig_name(sig));
            break;
        case SIGHUP:
        case SIGQUIT:
        case SIGUSR1:
        case SIGUSR2:
        case SIGWINCH: mainproc_signal(d->mainproc, sig); break;
        default: sp_debug("ignored %s", sig_name(sig)); break;
        }
    }
    if (sig < 0) sp_error("reading signals: %s", strerror(-sig));
}

/* mkdir -p with mode 0700 for the directories we create. */
static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST) return -errno;
        buf[i] = c;
    }
    return 0;
}

static const char *default_write_dir(char *buf, size_t len)
{
    if (geteuid() == 0) return "/var/lib/sprite-env";
    snprintf(buf, len, "/tmp/sprite-env-%u", (unsigned)geteuid());
    return buf;
}

/* The token comes from the configuration, else from <write dir>/api-token, else is made. */
static int setup_token(struct daemon *d, struct sp_err *err)
{
    char dirbuf[64], path[PATH_MAX];

    if (d->cfg.api_token) {
        if (strlen(d->cfg.api_token) >= sizeof(d->token))
            return sp_err_set(err, -EINVAL, "SPRITE_HTTP_API_TOKEN: longer than %zu bytes",
                              sizeof(d->token) - 1);
        snprintf(d->token, sizeof(d->token), "%s", d->cfg.api_token);
        return 0;
    }
    const char *dir =
        d->cfg.write_dir ? d->cfg.write_dir : default_write_dir(dirbuf, sizeof(dirbuf));
    int r = mkdir_p(dir);
    if (r < 0) return sp_err_set(err, r, "state directory %s: %s", dir, strerror(-r));
    snprintf(path, sizeof(path), "%s/api-token", dir);

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        ssize_t n = sp_read(fd, d->token, sizeof(d->token) - 1);
        sp_close(fd);
        if (n > 0) {
            d->token[n] = '\0';
            d->token[strcspn(d->token, "\r\n")] = '\0';
        }
        if (d->token[0]) {
            sp_info("API token read from %s", path);
            return 0;
        }
    }
    unsigned char raw[32];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return sp_err_set(err, -EIO, "getrandom: %s", strerror(errno));
    sp_hex_encode(raw, sizeof(raw), d->token);
    char line[sizeof(d->token) + 1];
    int n = snprintf(line, sizeof(line), "%s\n", d->token);
    r = sp_write_file_atomic(path, line, (size_t)n, 0600);
    if (r < 0) return sp_err_set(err, r, "writing %s: %s", path, strerror(-r));
    sp_info("no API token configured: generated one and stored it in %s (mode 0600)", path);
    return 0;
}

static int run(struct daemon *d, struct sp_err *err)
{
    int sigfd = -1;
    int r = sig_setup(&sigfd, err);
    if (r < 0) return r;
    loop_io_init(&d->sigio, sigfd, on_signal);
    if ((r = loop_new(&d->loop)) < 0) return sp_err_set(err, r, "event loop: %s", strerror(-r));
    if ((r = loop_io_start(d->loop, &d->sigio, EPOLLIN)) < 0)
        return sp_err_set(err, r, "signalfd: %s", strerror(-r));
    if ((r = reaper_new(&d->reaper, err)) < 0) return r;
    if ((r = setup_token(d, err)) < 0) return r;

    struct mainproc_opts mo = {
        .argv = d->cfg.process_command,
        .extra_env = d->cfg.process_environment,
        .cwd = d->cfg.process_working_dir,
    };
    if ((r = mainproc_new(&d->mainproc, d->loop, d->reaper, &mo, on_main_exit, d)) < 0)
        return sp_err_set(err, r, "out of memory");

    struct http_limits lim = {
        .max_header_bytes = d->cfg.http.max_header_bytes,
        .max_body_bytes = d->cfg.http.max_body_bytes,
        .max_connections = d->cfg.http.max_connections,
        .idle_timeout_ms = d->cfg.http.idle_timeout_ms,
        .request_timeout_ms = d->cfg.http.request_timeout_ms,
        .write_timeout_ms = d->cfg.http.write_timeout_ms,
    };
    struct api_ctx ctx = {
        .loop = d->loop,
        .reaper = d->reaper,
        .mainproc = d->mainproc,
        .token = d->token,
        .version = SPRITE_VERSION,
        .started_ms = sp_now_ms(),
        .debug_endpoints = d->cfg.debug_endpoints,
        .system_state = system_state_name,
        .system_ud = d,
    };
    if ((r = api_new(&d->api, &d->server, d->loop, &lim, &ctx)) < 0)
        return sp_err_set(err, r, "out of memory");
    for (size_t i = 0; d->cfg.listen[i]; i++) {
        char bound[300];
        if ((r = http_server_listen(d->server, d->cfg.listen[i], bound, sizeof(bound), err)) < 0)
            return r;
        sp_info("listening on %s", bound);
    }
    if (d->cfg.debug_endpoints) sp_warn("debug endpoints are enabled: do not use in production");

    struct reaper_stats rs;
    reaper_get_stats(d->reaper, &rs);
    sp_info("sprite-env %s started (pid %d%s)", SPRITE_VERSION, (int)getpid(),
            rs.pid1        ? ", PID 1"
            : rs.subreaper ? ", child subreaper"
                           : "");

    if ((r = mainproc_start(d->mainproc, err)) < 0) return r;
    d->state = SYS_RUNNING;
    if (!d->cfg.process_command) sp_info("no command given: serving the API only");

    if ((r = loop_run(d->loop)) < 0) return sp_err_set(err, r, "event loop: %s", strerror(-r));
    return 0;
}

static void teardown(struct daemon *d)
{
    api_free(d->api);
    mainproc_free(d->mainproc);
    reaper_free(d->reaper);
    if (d->loop) loop_io_stop(d->loop, &d->sigio);
    sp_close(d->sigio.fd);
    loop_free(d->loop);
    config_free(&d->cfg);
}

int main(int argc, char **argv)
{
    struct daemon d = {.main_exit_code = -1, .sigio = {.fd = -1}};
    struct sp_err err = {0};

    config_init(&d.cfg);
    if (config_load(&d.cfg, argc, argv, &err) < 0) {
        fprintf(stderr, "sprite-env: %s\n", err.msg);
        config_free(&d.cfg);
        return EXIT_USAGE;
    }
    if (d.cfg.show_help) {
        config_print_usage();
        config_free(&d.cfg);
        return 0;
    }
    if (d.cfg.show_version) {
        printf("sprite-env version %s\n", SPRITE_VERSION);
        config_free(&d.cfg);
        return 0;
    }
    sp_log_setup(d.cfg.log_level, d.cfg.log_json);

    int code;
    if (run(&d, &err) < 0) {
        sp_error("%s", err.msg);
        /* Do not leave a started main process behind. */
        if (d.mainproc && mainproc_state(d.mainproc) == MAINPROC_RUNNING)
            mainproc_signal(d.mainproc, SIGKILL);
        code = 1;
    } else if (d.cfg.process_command) {
        code = d.main_exit_code >= 0 ? d.main_exit_code : 1;
        sp_info("exiting with status %d", code);
    } else {
        code = 0;
        sp_info("stopped");
    }
    teardown(&d);
    return code;
}
