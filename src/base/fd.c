/* SPDX-License-Identifier: MIT */
/* fd helpers: see fd.h. */
#include "fd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

int sp_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t sp_read(int fd, void *buf, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, buf, n);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

int sp_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

void sp_close(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
}

void sp_closep(int *fd)
{
    sp_close(*fd);
    *fd = -1;
}

static int write_replace(const char *path, const void *data, size_t n, unsigned mode, bool sync)
{
    char tmp[4096];
    int r = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (r < 0 || (size_t)r >= sizeof(tmp)) return -ENAMETOOLONG;

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return -errno;
    r = sp_write_all(fd, data, n);
    if (r == 0 && fchmod(fd, mode) < 0) r = -errno;
    if (r == 0 && sync && fsync(fd) < 0) r = -errno;
    if (close(fd) < 0 && r == 0) r = -errno;
    if (r == 0 && rename(tmp, path) < 0) r = -errno;
    if (r < 0) unlink(tmp);
    return r;
}

int sp_write_file_atomic(const char *path, const void *data, size_t n, unsigned mode)
{
    return write_replace(path, data, n, mode, true);
}

int sp_write_file_replace(const char *path, const void *data, size_t n, unsigned mode)
{
    return write_replace(path, data, n, mode, false);
}

int sp_mkdir_p(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST) return -errno;
        buf[i] = c;
    }
    return 0;
}

static void rm_rf_at(int dfd, unsigned depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno != EISDIR) continue;
        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0 && depth < 256)
            rm_rf_at(sub, depth + 1);
        else if (sub >= 0)
            close(sub);
        unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

void sp_rm_rf(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        unlink(path); /* a symlink (or a file) where the directory should be: only it goes */
        return;
    }
    rm_rf_at(fd, 0);
    rmdir(path);
}
