/* SPDX-License-Identifier: MIT */
/*
 * OCI image layouts unpacked into a cache of root filesystems: see image.h.
 *
 * The steps: index.json (or the archive's) -> the manifest for this machine (following nested
 * indexes) -> a cache hit, or the manifest, its config and each layer, streamed through
 * libarchive (blob bytes hashed as libarchive pulls them) and written by apply_entry with every
 * parent resolved inside the new root filesystem by src/os/fsroot. Removals (whiteouts, replaced
 * directories, failed unpacks) use remove_at, which never follows a symlink and handles trees
 * of any depth with a bounded number of open directories.
 */
#include "image.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>

#include "../base/err.h"

/*
 * libarchive is loaded when the first image is unpacked, not linked: it pulls in libxml2, ICU
 * and libstdc++, which would cost every start of the binary (sprite-runc runs once per
 * container operation) milliseconds for nothing. The prototypes still come from its headers,
 * so every call is type-checked.
 */
#define LA_FUNCS(X)                                                                                \
    X(archive_entry_atime)                                                                         \
    X(archive_entry_atime_is_set)                                                                  \
    X(archive_entry_atime_nsec)                                                                    \
    X(archive_entry_filetype)                                                                      \
    X(archive_entry_gid)                                                                           \
    X(archive_entry_hardlink)                                                                      \
    X(archive_entry_mtime)                                                                         \
    X(archive_entry_mtime_is_set)                                                                  \
    X(archive_entry_mtime_nsec)                                                                    \
    X(archive_entry_pathname)                                                                      \
    X(archive_entry_perm)                                                                          \
    X(archive_entry_rdevmajor)                                                                     \
    X(archive_entry_rdevminor)                                                                     \
    X(archive_entry_size)                                                                          \
    X(archive_entry_size_is_set)                                                                   \
    X(archive_entry_symlink)                                                                       \
    X(archive_entry_uid)                                                                           \
    X(archive_entry_xattr_next)                                                                    \
    X(archive_entry_xattr_reset)                                                                   \
    X(archive_errno)                                                                               \
    X(archive_error_string)                                                                        \
    X(archive_read_data)                                                                           \
    X(archive_read_data_block)                                                                     \
    X(archive_read_free)                                                                           \
    X(archive_read_new)                                                                            \
    X(archive_read_next_header)                                                                    \
    X(archive_read_open)                                                                           \
    X(archive_read_open_fd)                                                                        \
    X(archive_read_support_filter_gzip)                                                            \
    X(archive_read_support_filter_zstd)                                                            \
    X(archive_read_support_format_empty)                                                           \
    X(archive_read_support_format_tar)                                                             \
    X(archive_set_error)

static struct {
#define X(f) __typeof__(&f) f;
    LA_FUNCS(X)
#undef X
} la;

static int la_load(struct sp_err *err)
{
    static bool loaded;
    if (loaded) return 0;
    void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return sp_err_set(err, -ENOTSUP, "unpacking images needs libarchive (libarchive13): %s",
                          dlerror());
#define X(f)                                                                                       \
    if (!(la.f = (__typeof__(&f))dlsym(h, #f)))                                                    \
        return sp_err_set(err, -ENOTSUP, "libarchive has no %s", #f);
    LA_FUNCS(X)
#undef X
    loaded = true;
    return 0;
}

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../base/compiler.h"
#include "../base/fd.h"
#include "../base/sha256.h"
#include "../os/fsroot.h"

/* Bytes read from a blob or archive at a time. */
#define READ_CHUNK (128 * 1024)
/* Directory levels remove_at holds open; deeper directories are moved up and removed later. */
#define REMOVE_DEPTH 64
/* Directory levels an opaque directory's walk descends into (to keep this layer's entries). */
#define OPAQUE_DEPTH FSROOT_MAX_DEPTH
/* Room for "index sha256:<64 hex> manifests[1023]" and the like. */
#define WHERE_MAX 112
#define MEDIA_MAX 256
#define LABEL_MAX 192

#define MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

static const char *const layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

/* A content descriptor (image-spec descriptor.md), copied out of its JSON. */
struct desc {
    char where[WHERE_MAX]; /* where it was found, for messages: "layers[2]" */
    char media[MEDIA_MAX];
    char hex[SP_SHA256_HEX_LEN]; /* the sha256 digest's hex */
    uint64_t size;
};

struct manifest {
    struct desc config;
    struct desc layers[IMAGE_MAX_LAYERS];
    size_t n_layers;
};

/* One image_unpack call. */
struct job {
    struct sp_err *err;
    char cache[PATH_MAX];          /* the cache directory, without trailing slashes */
    int cachefd;                   /* O_RDONLY|O_DIRECTORY */
    struct fsroot layout;          /* the image layout (src, or the directory a tarball went to) */
    struct fsroot rootfs;          /* the root filesystem being built */
    char layout_tmp[NAME_MAX + 1]; /* tmp-XXXXXX in the cache holding an extracted tarball */
    char rootfs_tmp[NAME_MAX + 1]; /* tmp-XXXXXX in the cache being unpacked into */
    char hex[SP_SHA256_HEX_LEN];   /* the manifest digest, once known */
    bool hit;                      /* the cache had it */
    bool is_root;                  /* running as uid 0: ownership must apply */
    uint64_t unpacked;             /* file bytes so far, against IMAGE_MAX_UNPACKED */
};

/* A blob as libarchive's input: every byte read is hashed and counted. */
struct blob_in {
    int fd;
    struct sp_sha256 sha;
    uint64_t got;  /* bytes read and hashed */
    uint64_t want; /* the descriptor's size */
    int rerr;      /* -errno of a failed read, 0 */
    unsigned char buf[READ_CHUNK];
};

struct dirtime {
    char *path;
    struct timespec ts[2];
};

/* One tar stream being applied: a layer, or a layout tarball (layout = true). */
struct layer {
    struct job *j;
    struct fsroot *root;
    char label[LABEL_MAX]; /* "layer sha256:<hex> (layers[1])" */
    bool layout;
    struct blob_in *in; /* NULL for a tarball read from its fd */
    json_t *seen;       /* paths this layer wrote (and their parents): an object used as a set */
    struct dirtime *dirs;
    size_t n_dirs, cap_dirs;
    size_t entries;
};

/* --- small helpers --------------------------------------------------------------------------- */

/* Go's name for the architecture we were built for (image-spec platform.architecture). */
static const char *host_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#elif defined(__arm__)
    return "arm";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
    return "ppc64le";
#elif defined(__riscv) && defined(__LP64__)
    return "riscv64";
#else
    return "amd64";
#endif
}

static const char *json_kind(const json_t *v)
{
    if (!v) return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

static bool is_manifest_type(const char *mt)
{
    return !strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST);
}

static bool is_index_type(const char *mt)
{
    return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
}

static bool is_layer_type(const char *mt)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(layer_types); i++)
        if (!strcmp(mt, layer_types[i])) return true;
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Whether this libarchive decodes the filter itself (ARCHIVE_WARN means it would run an external
 * program, which a daemon must not do: such a filter is never enabled). */
static bool filter_builtin(int (*support)(struct archive *))
{
    struct archive *a = la.archive_read_new();
    if (!a) return false;
    bool ok = support(a) == ARCHIVE_OK;
    la.archive_read_free(a);
    return ok;
}

/* A tar reader with the built-in decompressors (gzip, zstd; none is always there). */
static struct archive *tar_reader(void)
{
    struct archive *a = la.archive_read_new();
    if (!a) return NULL;
    if (la.archive_read_support_format_tar(a) != ARCHIVE_OK ||
        la.archive_read_support_format_empty(a) != ARCHIVE_OK) {
        la.archive_read_free(a);
        return NULL;
    }
    if (filter_builtin(la.archive_read_support_filter_gzip)) la.archive_read_support_filter_gzip(a);
    if (filter_builtin(la.archive_read_support_filter_zstd)) la.archive_read_support_filter_zstd(a);
    return a;
}

/*
 * A tar entry name cleaned into a path relative to the root (see image.h): leading "/", empty
 * and "." components dropped, ".." pops the component before it and never climbs above the
 * root. out (PATH_MAX bytes) is "" for the root itself. -ENAMETOOLONG for a component longer
 * than NAME_MAX or a result of PATH_MAX bytes or more.
 */
static int clean_name(const char *name, char *out)
{
    int r = fsroot_clean_path(name, out);
    if (r < 0) return r;
    for (const char *c = out + 1; *c;) {
        size_t len = strcspn(c, "/");
        if (len > NAME_MAX) return -ENAMETOOLONG;
        c += len + (c[len] == '/');
    }
    memmove(out, out + 1, strlen(out)); /* relative: "a/b", and "" for the root */
    return 0;
}

/* Reads fd to its end into a new NUL-terminated buffer; -E2BIG past max bytes. */
static int read_all(int fd, size_t max, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return -ENOMEM;
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max + 1) {
                free(buf);
                return -E2BIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t k = sp_read(fd, buf + n, cap - 1 - n);
        if (k < 0) {
            free(buf);
            return (int)k;
        }
        if (k == 0) break;
        n += (size_t)k;
        if (n > max) {
            free(buf);
            return -E2BIG;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* --- removal --------------------------------------------------------------------------------- */

static int remove_at(int dirfd, const char *name);

/*
 * Removes everything in the directory dfd (a directory `level` levels below top, both O_RDONLY
 * directory fds). Directories at REMOVE_DEPTH are not entered but moved into top under a new name
 * (*moved set), to be removed by a later pass: the open fds stay bounded whatever the depth.
 */
static int clear_level(int top, int dfd, int level, bool *moved)
{
    static _Thread_local unsigned long counter;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        sp_close(fd);
        return e;
    }
    int r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0) r = -errno;
            break;
        }
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) continue;
            r = -errno;
            break;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (unlinkat(dirfd(d), name, 0) < 0 && errno != ENOENT) {
                r = -errno;
                break;
            }
            continue;
        }
        if (level + 1 < REMOVE_DEPTH) {
            r = remove_at(dirfd(d), name);
            if (r < 0) break;
            continue;
        }
        /* Too deep: move it up into top, under a name nothing else uses. */
        char up[64];
        struct stat tmp;
        do
            snprintf(up, sizeof(up), ".sprite-deep-%lu", ++counter);
        while (fstatat(top, up, &tmp, AT_SYMLINK_NOFOLLOW) == 0);
        if (renameat(dirfd(d), name, top, up) < 0) {
            r = -errno;
            break;
        }
        *moved = true;
    }
    closedir(d);
    return r;
}

/* Empties the directory fd (O_RDONLY), whatever the depth of its tree. */
static int empty_dir(int fd)
{
    for (;;) {
        bool moved = false;
        int r = clear_level(fd, fd, 0, &moved);
        if (r < 0 || !moved) return r;
    }
}

/*
 * Removes name in dirfd: a non-directory is unlinked, a directory removed with its tree (never
 * following a symlink: a symlink is removed, not its target). A missing name is fine.
 */
static int remove_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode)) return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0700, 0) == 0)
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -errno;
    int r = empty_dir(fd);
    sp_close(fd);
    if (r < 0) return r;
    return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

/* --- descriptors and JSON -------------------------------------------------------------------- */

/* "sha256:<64 lower-case hex>" into hex; -EINVAL malformed, -ENOTSUP another algorithm. */
static int parse_digest(const char *s, char hex[SP_SHA256_HEX_LEN])
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s) return -EINVAL;
    for (const char *p = s; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("+._-", *p)))
            return -EINVAL;
    if ((size_t)(colon - s) != 6 || strncmp(s, "sha256", 6) != 0) return -ENOTSUP;
    const char *h = colon + 1;
    if (strlen(h) != 2 * SP_SHA256_LEN) return -EINVAL;
    for (const char *p = h; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return -EINVAL;
    memcpy(hex, h, SP_SHA256_HEX_LEN);
    return 0;
}

/* A string member without NUL bytes; NULL when absent. */
static int get_str(struct job *j, json_t *obj, const char *file, const char *path, const char *key,
                   bool required, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v && !required) return 0;
    if (!json_is_string(v))
        return sp_err_set(j->err, -EINVAL, "%s: %s%s%s: must be a string, got %s", file, path,
                          path[0] ? "." : "", key, json_kind(v));
    if (strlen(json_string_value(v)) != json_string_length(v))
        return sp_err_set(j->err, -EINVAL, "%s: %s%s%s: contains a NUL byte", file, path,
                          path[0] ? "." : "", key);
    *out = json_string_value(v);
    return 0;
}

/* schemaVersion must be 2. */
static int check_schema(struct job *j, json_t *obj, const char *file)
{
    json_t *v = json_object_get(obj, "schemaVersion");
    if (!json_is_integer(v))
        return sp_err_set(j->err, -EINVAL, "%s: schemaVersion: must be an integer, got %s", file,
                          json_kind(v));
    if (json_integer_value(v) != 2)
        return sp_err_set(j->err, -ENOTSUP, "%s: schemaVersion: %lld is not supported (only 2)",
                          file, (long long)json_integer_value(v));
    return 0;
}

/* The descriptor at file's JSON path (e.g. "layers[2]"). */
static int parse_desc(struct job *j, json_t *v, const char *file, const char *path, struct desc *d)
{
    if (!json_is_object(v))
        return sp_err_set(j->err, -EINVAL, "%s: %s: must be an object, got %s", file, path,
                          json_kind(v));
    const char *mt, *digest;
    int r = get_str(j, v, file, path, "mediaType", true, &mt);
    if (r == 0) r = get_str(j, v, file, path, "digest", true, &digest);
    if (r < 0) return r;
    if (strlen(mt) >= MEDIA_MAX)
        return sp_err_set(j->err, -EINVAL, "%s: %s.mediaType: longer than %d bytes", file, path,
                          MEDIA_MAX - 1);
    r = parse_digest(digest, d->hex);
    if (r == -ENOTSUP)
        return sp_err_set(j->err, r, "%s: %s.digest: \"%.80s\": only sha256 digests are supported",
                          file, path, digest);
    if (r < 0)
        return sp_err_set(j->err, r,
                          "%s: %s.digest: \"%.80s\" is not \"sha256:\" and 64 lower-case hex "
                          "digits",
                          file, path, digest);
    json_t *size = json_object_get(v, "size");
    if (!json_is_integer(size))
        return sp_err_set(j->err, -EINVAL, "%s: %s.size: must be an integer, got %s", file, path,
                          json_kind(size));
    json_int_t n = json_integer_value(size);
    if (n < 0 || (uint64_t)n > IMAGE_MAX_BLOB)
        return sp_err_set(j->err, n < 0 ? -EINVAL : -E2BIG,
                          "%s: %s.size: %lld is out of range (0 to %llu)", file, path, (long long)n,
                          (unsigned long long)IMAGE_MAX_BLOB);
    d->size = (uint64_t)n;
    snprintf(d->media, sizeof(d->media), "%s", mt);
    snprintf(d->where, sizeof(d->where), "%s", path);
    return 0;
}

/* Parses text (file's content) as a JSON object. */
static int parse_json(struct job *j, const char *text, size_t n, const char *file, json_t **out)
{
    json_error_t je;
    json_t *v = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        return sp_err_set(j->err, -EINVAL, "%s: invalid JSON: %s (line %d, column %d)", file,
                          je.text, je.line, je.column);
    if (!json_is_object(v)) {
        int r =
            sp_err_set(j->err, -EINVAL, "%s: must be a JSON object, got %s", file, json_kind(v));
        json_decref(v);
        return r;
    }
    *out = v;
    return 0;
}

/* A file of the layout itself (oci-layout, index.json): not content-addressed. */
static int read_layout_file(struct job *j, const char *name, size_t max, char **out, size_t *len)
{
    int fd = fsroot_openat(&j->layout, name, O_RDONLY | O_NOFOLLOW, 0);
    if (fd < 0)
        return sp_err_set(j->err, fd, "%s: %s%s", name, strerror(-fd),
                          fd == -ENOENT ? " (not an OCI image layout)" : "");
    struct stat st;
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (r == 0 && !S_ISREG(st.st_mode)) r = -EINVAL;
    if (r == 0) r = read_all(fd, max, out, len);
    sp_close(fd);
    if (r == -E2BIG)
        return sp_err_set(j->err, r, "%s: larger than the limit of %zu bytes", name, max);
    if (r == -EINVAL) return sp_err_set(j->err, r, "%s: not a regular file", name);
    if (r < 0) return sp_err_set(j->err, r, "%s: %s", name, strerror(-r));
    return 0;
}

/* Opens the blob of d, checking that it is a regular file of the descriptor's size. */
static int open_blob(struct job *j, const struct desc *d, int *fd_out)
{
    char path[32 + SP_SHA256_HEX_LEN];
    snprintf(path, sizeof(path), "blobs/sha256/%s", d->hex);
    int fd = fsroot_openat(&j->layout, path, O_RDONLY | O_NOFOLLOW, 0);
    if (fd == -ENOENT)
        return sp_err_set(j->err, fd, "blob sha256:%s (%s) is missing from the image layout",
                          d->hex, d->where);
    if (fd < 0)
        return sp_err_set(j->err, fd, "blob sha256:%s (%s): %s", d->hex, d->where, strerror(-fd));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        sp_close(fd);
        return sp_err_set(j->err, e, "blob sha256:%s (%s): %s", d->hex, d->where, strerror(-e));
    }
    if (!S_ISREG(st.st_mode)) {
        sp_close(fd);
        return sp_err_set(j->err, -EINVAL, "blob sha256:%s (%s): not a regular file", d->hex,
                          d->where);
    }
    if ((uint64_t)st.st_size != d->size) {
        sp_close(fd);
        return sp_err_set(j->err, -EBADMSG,
                          "blob sha256:%s (%s): %lld bytes, its descriptor says %llu", d->hex,
                          d->where, (long long)st.st_size, (unsigned long long)d->size);
    }
    *fd_out = fd;
    return 0;
}

/* Finishes the hash c of got bytes and compares it with d. Writes err only on a mismatch. */
static int check_hash(struct sp_err *err, const struct desc *d, struct sp_sha256 *c, uint64_t got)
{
    unsigned char digest[SP_SHA256_LEN];
    char hex[SP_SHA256_HEX_LEN];
    sp_sha256_final(c, digest);
    sp_sha256_hex(digest, hex);
    if (got != d->size)
        return sp_err_set(err, -EBADMSG,
                          "blob sha256:%s (%s): read %llu bytes, its descriptor says %llu", d->hex,
                          d->where, (unsigned long long)got, (unsigned long long)d->size);
    if (strcmp(hex, d->hex) != 0)
        return sp_err_set(err, -EBADMSG,
                          "blob sha256:%s (%s): digest mismatch: the content hashes to sha256:%s",
                          d->hex, d->where, hex);
    return 0;
}

/* A JSON blob (index, manifest, config), verified, as an object. */
static int read_blob_json(struct job *j, const struct desc *d, const char *file, json_t **out)
{
    if (d->size > IMAGE_MAX_JSON)
        return sp_err_set(j->err, -E2BIG, "blob sha256:%s (%s): %llu bytes, over the limit of %u",
                          d->hex, d->where, (unsigned long long)d->size, IMAGE_MAX_JSON);
    int fd;
    int r = open_blob(j, d, &fd);
    if (r < 0) return r;
    char *buf;
    size_t n;
    r = read_all(fd, IMAGE_MAX_JSON, &buf, &n);
    sp_close(fd);
    if (r < 0)
        return sp_err_set(j->err, r, "blob sha256:%s (%s): %s", d->hex, d->where, strerror(-r));
    struct sp_sha256 c;
    sp_sha256_init(&c);
    sp_sha256_update(&c, buf, n);
    r = check_hash(j->err, d, &c, n);
    if (r == 0) r = parse_json(j, buf, n, file, out);
    free(buf);
    return r;
}

/* --- choosing the manifest ------------------------------------------------------------------- */

/* Whether a descriptor's platform (absent: no) is linux on our architecture. */
static int platform_matches(struct job *j, json_t *m, const char *file, const char *path, bool *yes)
{
    *yes = false;
    json_t *p = json_object_get(m, "platform");
    if (!p || json_is_null(p)) return 0;
    char pp[WHERE_MAX];
    snprintf(pp, sizeof(pp), "%s.platform", path);
    if (!json_is_object(p))
        return sp_err_set(j->err, -EINVAL, "%s: %s: must be an object, got %s", file, pp,
                          json_kind(p));
    const char *os, *arch;
    int r = get_str(j, p, file, pp, "os", true, &os);
    if (r == 0) r = get_str(j, p, file, pp, "architecture", true, &arch);
    if (r < 0) return r;
    *yes = !strcmp(os, "linux") && !strcmp(arch, host_arch());
    return 0;
}

/* The manifest (or nested index) for this machine in the index idx (file names it). */
static int pick_manifest(struct job *j, json_t *idx, const char *file, struct desc *out)
{
    int r = check_schema(j, idx, file);
    if (r < 0) return r;
    const char *mt;
    if ((r = get_str(j, idx, file, "", "mediaType", false, &mt)) < 0) return r;
    if (mt && !is_index_type(mt))
        return sp_err_set(j->err, -EINVAL, "%s: mediaType: \"%.80s\" is not an image index", file,
                          mt);
    json_t *ms = json_object_get(idx, "manifests");
    if (!json_is_array(ms))
        return sp_err_set(j->err, -EINVAL, "%s: manifests: must be an array, got %s", file,
                          json_kind(ms));
    if (json_array_size(ms) > IMAGE_MAX_MANIFESTS)
        return sp_err_set(j->err, -E2BIG, "%s: manifests: %zu entries, over the limit of %d", file,
                          json_array_size(ms), IMAGE_MAX_MANIFESTS);
    struct desc d, only;
    bool chosen = false;
    size_t n_images = 0;
    for (size_t i = 0; i < json_array_size(ms); i++) {
        char path[32];
        snprintf(path, sizeof(path), "manifests[%zu]", i);
        json_t *m = json_array_get(ms, i);
        if ((r = parse_desc(j, m, file, path, &d)) < 0) return r;
        /* where: "index.json manifests[0]" */
        snprintf(d.where, sizeof(d.where), "%.*s %s", (int)(WHERE_MAX - 33), file, path);
        if (!is_manifest_type(d.media) && !is_index_type(d.media)) continue;
        n_images++;
        only = d;
        bool match;
        if ((r = platform_matches(j, m, file, path, &match)) < 0) return r;
        if (match && !chosen) {
            *out = d;
            chosen = true;
        }
    }
    if (chosen) return 0;
    if (n_images == 1) {
        *out = only;
        return 0;
    }
    if (n_images == 0)
        return sp_err_set(j->err, -ENOENT, "%s: manifests: no image manifest or index", file);
    return sp_err_set(j->err, -ENOENT, "%s: manifests: %zu images and none for linux/%s", file,
                      n_images, host_arch());
}

/* index.json down to the manifest, through nested indexes (each one verified). */
static int find_manifest(struct job *j, json_t *index, struct desc *m)
{
    char file[WHERE_MAX] = "index.json";
    json_t *owned = NULL, *cur = index;
    int r;
    for (int depth = 0;; depth++) {
        r = pick_manifest(j, cur, file, m);
        if (r < 0 || is_manifest_type(m->media)) break;
        if (depth >= IMAGE_MAX_INDEX_DEPTH) {
            r = sp_err_set(j->err, -E2BIG, "%s: more than %d nested indexes", m->where,
                           IMAGE_MAX_INDEX_DEPTH);
            break;
        }
        char next_file[WHERE_MAX];
        snprintf(next_file, sizeof(next_file), "index sha256:%s", m->hex);
        json_t *next;
        if ((r = read_blob_json(j, m, next_file, &next)) < 0) break;
        json_decref(owned);
        owned = cur = next;
        memcpy(file, next_file, sizeof(file));
    }
    json_decref(owned);
    return r;
}

/* The manifest of d: config (read and verified) and layers. */
static int parse_manifest(struct job *j, const struct desc *md, struct manifest *m)
{
    char file[WHERE_MAX];
    snprintf(file, sizeof(file), "manifest sha256:%s", md->hex);
    json_t *root;
    int r = read_blob_json(j, md, file, &root);
    if (r < 0) return r;
    const char *mt;
    if ((r = check_schema(j, root, file)) < 0) goto out;
    if ((r = get_str(j, root, file, "", "mediaType", false, &mt)) < 0) goto out;
    if (mt && !is_manifest_type(mt)) {
        r = sp_err_set(j->err, -EINVAL, "%s: mediaType: \"%.80s\" is not an image manifest", file,
                       mt);
        goto out;
    }
    if ((r = parse_desc(j, json_object_get(root, "config"), file, "config", &m->config)) < 0)
        goto out;
    json_t *layers = json_object_get(root, "layers");
    if (!json_is_array(layers)) {
        r = sp_err_set(j->err, -EINVAL, "%s: layers: must be an array, got %s", file,
                       json_kind(layers));
        goto out;
    }
    if (json_array_size(layers) > IMAGE_MAX_LAYERS) {
        r = sp_err_set(j->err, -E2BIG, "%s: layers: %zu layers, over the limit of %d", file,
                       json_array_size(layers), IMAGE_MAX_LAYERS);
        goto out;
    }
    m->n_layers = json_array_size(layers);
    for (size_t i = 0; i < m->n_layers; i++) {
        char path[32];
        snprintf(path, sizeof(path), "layers[%zu]", i);
        struct desc *d = &m->layers[i];
        if ((r = parse_desc(j, json_array_get(layers, i), file, path, d)) < 0) goto out;
        if (!is_layer_type(d->media)) {
            r = sp_err_set(j->err, -ENOTSUP,
                           "%s: %s.mediaType: \"%.80s\" is not a supported layer type", file, path,
                           d->media);
            goto out;
        }
    }
    json_t *config;
    snprintf(file, sizeof(file), "config sha256:%s", m->config.hex);
    if ((r = read_blob_json(j, &m->config, file, &config)) < 0) goto out;
    json_decref(config);
out:
    json_decref(root);
    return r;
}

/* --- applying tar streams -------------------------------------------------------------------- */

/* Reads and hashes the next chunk of a blob: bytes, 0 at the end, -errno. */
static ssize_t blob_next(struct blob_in *b)
{
    ssize_t n = sp_read(b->fd, b->buf, sizeof(b->buf));
    if (n < 0) {
        b->rerr = (int)n;
        return n;
    }
    if ((uint64_t)n > b->want - b->got) {
        /* The file grew since it was checked. */
        b->rerr = -EBADMSG;
        return -EBADMSG;
    }
    sp_sha256_update(&b->sha, b->buf, (size_t)n);
    b->got += (uint64_t)n;
    return n;
}

static la_ssize_t blob_read_cb(struct archive *a, void *ud, const void **out)
{
    struct blob_in *b = ud;
    ssize_t n = blob_next(b);
    if (n < 0) {
        la.archive_set_error(a, (int)-n, "reading the blob: %s", strerror((int)-n));
        return -1;
    }
    *out = b->buf;
    return n;
}

/* An error of libarchive's while reading the stream. */
static int tar_fail(struct layer *L, struct archive *a)
{
    const char *s = la.archive_error_string(a);
    int code = -EBADMSG;
    if (L->in && L->in->rerr < 0) code = L->in->rerr;
    if (la.archive_errno(a) == ENOMEM) code = -ENOMEM;
    return sp_err_set(L->j->err, code, "%s: %s", L->label, s ? s : "invalid tar stream");
}

/* An error about one entry: "<label>: "<name>": <what>: <strerror>". */
static int entry_fail(struct layer *L, int code, const char *name, const char *what)
{
    return sp_err_set(L->j->err, code, "%s: \"%.200s\": %s: %s", L->label, name, what,
                      strerror(-code));
}

/* Records path and its parents as written by this layer. */
static int seen_add(struct layer *L, const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (;;) {
        if (json_object_get(L->seen, buf)) return 0; /* and so are its parents */
        if (json_object_set_new_nocheck(L->seen, buf, json_true()) < 0) return -ENOMEM;
        char *slash = strrchr(buf, '/');
        if (!slash) return 0;
        *slash = '\0';
    }
}

static bool seen_has(struct layer *L, const char *path)
{
    return json_object_get(L->seen, path) != NULL;
}

/* Metadata of an entry, checked. */
struct meta {
    uid_t uid;
    gid_t gid;
    mode_t perm;
    struct timespec ts[2]; /* atime, mtime for utimensat */
};

static int entry_meta(struct layer *L, struct archive_entry *ae, const char *name, struct meta *m)
{
    la_int64_t uid = la.archive_entry_uid(ae), gid = la.archive_entry_gid(ae);
    if (uid < 0 || uid >= (la_int64_t)UINT32_MAX || gid < 0 || gid >= (la_int64_t)UINT32_MAX)
        return entry_fail(L, -EINVAL, name, "owner out of range");
    m->uid = (uid_t)uid;
    m->gid = (gid_t)gid;
    m->perm = la.archive_entry_perm(ae) & 07777;
    m->ts[1].tv_sec = 0;
    m->ts[1].tv_nsec = UTIME_OMIT;
    if (la.archive_entry_mtime_is_set(ae)) {
        m->ts[1].tv_sec = la.archive_entry_mtime(ae);
        long ns = la.archive_entry_mtime_nsec(ae);
        m->ts[1].tv_nsec = ns >= 0 && ns < 1000000000L ? ns : 0;
    }
    m->ts[0] = m->ts[1];
    if (la.archive_entry_atime_is_set(ae)) {
        m->ts[0].tv_sec = la.archive_entry_atime(ae);
        long ns = la.archive_entry_atime_nsec(ae);
        m->ts[0].tv_nsec = ns >= 0 && ns < 1000000000L ? ns : 0;
    }
    return 0;
}

/* chown that, when we are not root, accepts keeping our own ids. */
static int own(struct layer *L, int r)
{
    if (r == 0 || (errno == EPERM && !L->j->is_root)) return 0;
    return -errno;
}

/* Owner, mode and xattrs of an open file or directory (times are the caller's). */
static int set_meta_fd(struct layer *L, int fd, struct archive_entry *ae, const struct meta *m,
                       const char *name)
{
    /* chown first: it clears setuid bits and file capabilities set before it. */
    int r = own(L, fchown(fd, m->uid, m->gid));
    if (r < 0) return entry_fail(L, r, name, "chown");
    if (fchmod(fd, m->perm) < 0) return entry_fail(L, -errno, name, "chmod");
    const char *xname;
    const void *value;
    size_t size;
    la.archive_entry_xattr_reset(ae);
    while (la.archive_entry_xattr_next(ae, &xname, &value, &size) == ARCHIVE_OK) {
        if (!xname || !*xname) continue;
        if (fsetxattr(fd, xname, value, size, 0) < 0 && errno != ENOTSUP) {
            char what[96];
            snprintf(what, sizeof(what), "xattr %.64s", xname);
            return entry_fail(L, -errno, name, what);
        }
    }
    return 0;
}

/* Copies the entry's data into fd (sparse holes stay holes), then sets its size. */
static int write_data(struct layer *L, struct archive *a, int fd, const char *name, int64_t size)
{
    for (;;) {
        const void *buf;
        size_t n;
        la_int64_t off;
        int r = la.archive_read_data_block(a, &buf, &n, &off);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return tar_fail(L, a);
        if (off < 0) return entry_fail(L, -EBADMSG, name, "data offset");
        const char *p = buf;
        while (n > 0) {
            ssize_t w = pwrite(fd, p, n, (off_t)off);
            if (w < 0) {
                if (errno == EINTR) continue;
                return entry_fail(L, -errno, name, "write");
            }
            p += w;
            n -= (size_t)w;
            off += w;
        }
    }
    if (size >= 0 && ftruncate(fd, (off_t)size) < 0) return entry_fail(L, -errno, name, "truncate");
    return 0;
}

/* Counts an entry's declared data size against IMAGE_MAX_UNPACKED. */
static int count_bytes(struct layer *L, struct archive_entry *ae, const char *name, int64_t *size)
{
    *size = la.archive_entry_size_is_set(ae) ? la.archive_entry_size(ae) : -1;
    if (*size < 0) return 0;
    L->j->unpacked += (uint64_t)*size;
    if (L->j->unpacked > IMAGE_MAX_UNPACKED) return entry_fail(L, -E2BIG, name, "unpacked size");
    return 0;
}

/* A regular file name in dfd, replacing what is there. */
static int make_file(struct layer *L, struct archive *a, struct archive_entry *ae, int dfd,
                     const char *name, const char *path, const struct meta *m)
{
    int64_t size;
    int r = count_bytes(L, ae, path, &size);
    if (r < 0) return r;
    if ((r = remove_at(dfd, name)) < 0) return entry_fail(L, r, path, "replace");
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return entry_fail(L, -errno, path, "create");
    r = write_data(L, a, fd, path, size);
    if (r == 0 && m) {
        r = set_meta_fd(L, fd, ae, m, path);
        if (r == 0 && futimens(fd, m->ts) < 0) r = entry_fail(L, -errno, path, "utimens");
    }
    if (close(fd) < 0 && r == 0) r = entry_fail(L, -errno, path, "close");
    return r;
}

/* Directory times are set at the end of the layer, after the entries inside them. */
static int defer_times(struct layer *L, const char *path, const struct meta *m)
{
    if (L->n_dirs == L->cap_dirs) {
        size_t cap = L->cap_dirs ? 2 * L->cap_dirs : 64;
        struct dirtime *nd = realloc(L->dirs, cap * sizeof(*nd));
        if (!nd) return -ENOMEM;
        L->dirs = nd;
        L->cap_dirs = cap;
    }
    char *p = strdup(path);
    if (!p) return -ENOMEM;
    L->dirs[L->n_dirs].path = p;
    L->dirs[L->n_dirs].ts[0] = m->ts[0];
    L->dirs[L->n_dirs].ts[1] = m->ts[1];
    L->n_dirs++;
    return 0;
}

/* A directory whose entry came later (or was removed) is skipped quietly. */
static void finish_times(struct layer *L)
{
    for (size_t i = 0; i < L->n_dirs; i++) {
        int fd = fsroot_openat(L->root, L->dirs[i].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        if (fd < 0) continue;
        (void)futimens(fd, L->dirs[i].ts);
        sp_close(fd);
    }
}

/* Owner, mode and xattrs of the directory fd; its times deferred. */
static int dir_meta(struct layer *L, int fd, struct archive_entry *ae, const char *path,
                    const struct meta *m)
{
    int r = set_meta_fd(L, fd, ae, m, path);
    if (r == 0 && defer_times(L, path, m) < 0) r = entry_fail(L, -ENOMEM, path, "directory");
    return r;
}

static int make_dir(struct layer *L, struct archive_entry *ae, int dfd, const char *name,
                    const char *path, const struct meta *m)
{
    struct stat st;
    int r;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISDIR(st.st_mode) && (r = remove_at(dfd, name)) < 0)
            return entry_fail(L, r, path, "replace");
    } else if (errno != ENOENT) {
        return entry_fail(L, -errno, path, "stat");
    }
    if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
        return entry_fail(L, -errno, path, "mkdir");
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return entry_fail(L, -errno, path, "open");
    r = m ? dir_meta(L, fd, ae, path, m) : 0;
    sp_close(fd);
    return r;
}

static int make_symlink(struct layer *L, struct archive_entry *ae, int dfd, const char *name,
                        const char *path, const struct meta *m)
{
    const char *target = la.archive_entry_symlink(ae);
    if (!target || !*target) return entry_fail(L, -EBADMSG, path, "symlink without a target");
    int r = remove_at(dfd, name);
    if (r < 0) return entry_fail(L, r, path, "replace");
    if (symlinkat(target, dfd, name) < 0) return entry_fail(L, -errno, path, "symlink");
    r = own(L, fchownat(dfd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW));
    if (r < 0) return entry_fail(L, r, path, "chown");
    if (utimensat(dfd, name, m->ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_fail(L, -errno, path, "utimens");
    return 0;
}

/* A hardlink to an entry already in the root filesystem (resolved inside it, not followed). */
static int make_hardlink(struct layer *L, const char *target, int dfd, const char *name,
                         const char *path)
{
    char tpath[PATH_MAX];
    int r = clean_name(target, tpath);
    if (r < 0) return entry_fail(L, r, path, "hardlink target");
    if (!tpath[0]) return entry_fail(L, -EPERM, path, "hardlink to the root directory");
    if (!strcmp(tpath, path)) return 0; /* a link to itself: nothing to do */
    int tdfd;
    char tname[NAME_MAX + 1];
    r = fsroot_parent(L->root, tpath, false, &tdfd, tname);
    if (r < 0) return entry_fail(L, r, path, "hardlink target");
    r = remove_at(dfd, name);
    if (r < 0) {
        sp_close(tdfd);
        return entry_fail(L, r, path, "replace");
    }
    if (linkat(tdfd, tname, dfd, name, 0) < 0) {
        r = -errno;
        sp_close(tdfd);
        char what[PATH_MAX + 32];
        snprintf(what, sizeof(what), "hardlink to \"%.200s\"", tpath);
        return entry_fail(L, r, path, what);
    }
    sp_close(tdfd);
    return 0;
}

/* Char and block devices, FIFOs. */
static int make_node(struct layer *L, struct archive_entry *ae, mode_t type, int dfd,
                     const char *name, const char *path, const struct meta *m)
{
    int r = remove_at(dfd, name);
    if (r < 0) return entry_fail(L, r, path, "replace");
    dev_t dev = 0;
    if (type != S_IFIFO)
        dev = makedev((unsigned)la.archive_entry_rdevmajor(ae),
                      (unsigned)la.archive_entry_rdevminor(ae));
    if (mknodat(dfd, name, type | 0600, dev) < 0) return entry_fail(L, -errno, path, "mknod");
    r = own(L, fchownat(dfd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW));
    if (r < 0) return entry_fail(L, r, path, "chown");
    /* Just created as a node (not a symlink): chmod follows nothing. */
    if (fchmodat(dfd, name, m->perm, 0) < 0) return entry_fail(L, -errno, path, "chmod");
    if (utimensat(dfd, name, m->ts, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_fail(L, -errno, path, "utimens");
    return 0;
}

/*
 * Removes from the directory fd (consumed; client path path[0..plen)) everything this layer did
 * not write, recursively: the lower layers' content of an opaque directory.
 */
static int opaque_walk(struct layer *L, int fd, char *path, size_t plen, int level)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        sp_close(fd);
        return e;
    }
    int r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0) r = -errno;
            break;
        }
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
        size_t nlen = strlen(name), sep = plen > 0 ? 1 : 0;
        bool keep = false;
        if (plen + sep + nlen < PATH_MAX) {
            if (sep) path[plen] = '/';
            memcpy(path + plen + sep, name, nlen + 1);
            keep = seen_has(L, path);
        }
        if (!keep) {
            r = remove_at(dirfd(d), name);
        } else {
            struct stat st;
            if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                r = errno == ENOENT ? 0 : -errno;
            } else if (S_ISDIR(st.st_mode)) {
                if (level + 1 >= OPAQUE_DEPTH) {
                    r = -ENAMETOOLONG;
                } else {
                    int sub =
                        openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    r = sub < 0 ? -errno : opaque_walk(L, sub, path, plen + sep + nlen, level + 1);
                }
            }
        }
        path[plen] = '\0';
        if (r < 0) break;
    }
    closedir(d);
    return r;
}

/* A whiteout entry (path's last component, base, starts with ".wh."). */
static int apply_whiteout(struct layer *L, const char *path, const char *base)
{
    char dir[PATH_MAX];
    size_t dlen = (size_t)(base - path);
    memcpy(dir, path, dlen);
    dir[dlen > 0 ? dlen - 1 : 0] = '\0'; /* without the slash before base */
    int r;

    if (!strcmp(base, ".wh..wh..opq")) {
        int fd = fsroot_openat(L->root, dir, O_RDONLY | O_DIRECTORY, 0);
        if (fd == -ENOENT || fd == -ENOTDIR) return 0;
        if (fd < 0) return entry_fail(L, fd, path, "opaque directory");
        r = opaque_walk(L, fd, dir, strlen(dir), 0);
        return r < 0 ? entry_fail(L, r, path, "opaque directory") : 0;
    }
    if (!strncmp(base, ".wh..wh.", 8)) return 0; /* aufs metadata */

    const char *victim = base + 4;
    if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
        return entry_fail(L, -EINVAL, path, "whiteout of nothing");
    char target[PATH_MAX];
    if (snprintf(target, sizeof(target), "%s%s%s", dir, dir[0] ? "/" : "", victim) >=
        (int)sizeof(target))
        return entry_fail(L, -ENAMETOOLONG, path, "whiteout");
    if (seen_has(L, target)) return 0; /* this layer's own: kept */
    int dfd;
    char name[NAME_MAX + 1];
    r = fsroot_parent(L->root, target, false, &dfd, name);
    if (r == -ENOENT || r == -ENOTDIR) return 0;
    if (r < 0) return entry_fail(L, r, path, "whiteout");
    r = remove_at(dfd, name);
    sp_close(dfd);
    return r < 0 ? entry_fail(L, r, path, "whiteout") : 0;
}

/* One entry of a layout tarball: directories and regular files only. */
static int extract_entry(struct layer *L, struct archive *a, struct archive_entry *ae,
                         const char *path)
{
    mode_t type = la.archive_entry_filetype(ae);
    if (!path[0] || la.archive_entry_hardlink(ae) || (type != AE_IFDIR && type != AE_IFREG))
        return 0;
    int dfd;
    char name[NAME_MAX + 1];
    int r = fsroot_parent(L->root, path, true, &dfd, name);
    if (r < 0) return entry_fail(L, r, path, "parent directory");
    if (type == AE_IFDIR)
        r = make_dir(L, ae, dfd, name, path, NULL);
    else
        r = make_file(L, a, ae, dfd, name, path, NULL);
    sp_close(dfd);
    return r;
}

static int apply_entry(struct layer *L, struct archive *a, struct archive_entry *ae)
{
    const char *raw = la.archive_entry_pathname(ae);
    if (!raw) return sp_err_set(L->j->err, -EBADMSG, "%s: an entry without a name", L->label);
    char path[PATH_MAX];
    int r = clean_name(raw, path);
    if (r < 0) return entry_fail(L, r, raw, "name");
    if (L->layout) return extract_entry(L, a, ae, path);

    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!strncmp(base, ".wh.", 4)) return apply_whiteout(L, path, base);

    struct meta m;
    if ((r = entry_meta(L, ae, path, &m)) < 0) return r;
    const char *hardlink = la.archive_entry_hardlink(ae);
    mode_t type = la.archive_entry_filetype(ae);
    if (!path[0]) {
        /* "./": the root's own metadata */
        if (hardlink || type != AE_IFDIR)
            return entry_fail(L, -EINVAL, raw, "only a directory can replace the root");
        int fd = fsroot_openat(L->root, ".", O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0) return entry_fail(L, fd, raw, "open");
        r = dir_meta(L, fd, ae, path, &m);
        sp_close(fd);
        return r;
    }
    if (type == AE_IFSOCK && !hardlink) return 0;
    if (seen_add(L, path) < 0) return entry_fail(L, -ENOMEM, path, "record");

    int dfd;
    char name[NAME_MAX + 1];
    r = fsroot_parent(L->root, path, true, &dfd, name);
    if (r < 0) return entry_fail(L, r, path, "parent directory");
    if (hardlink) {
        r = make_hardlink(L, hardlink, dfd, name, path);
    } else {
        switch (type) {
        case AE_IFREG: r = make_file(L, a, ae, dfd, name, path, &m); break;
        case AE_IFDIR: r = make_dir(L, ae, dfd, name, path, &m); break;
        case AE_IFLNK: r = make_symlink(L, ae, dfd, name, path, &m); break;
        case AE_IFCHR: r = make_node(L, ae, S_IFCHR, dfd, name, path, &m); break;
        case AE_IFBLK: r = make_node(L, ae, S_IFBLK, dfd, name, path, &m); break;
        case AE_IFIFO: r = make_node(L, ae, S_IFIFO, dfd, name, path, &m); break;
        default: r = entry_fail(L, -EBADMSG, path, "unsupported entry type"); break;
        }
    }
    sp_close(dfd);
    return r;
}

/* Every entry of the opened stream a. */
static int apply_stream(struct layer *L, struct archive *a)
{
    for (;;) {
        struct archive_entry *ae;
        int r = la.archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF) return 0;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return tar_fail(L, a);
        if (++L->entries > IMAGE_MAX_ENTRIES)
            return sp_err_set(L->j->err, -E2BIG, "%s: more than %u entries", L->label,
                              IMAGE_MAX_ENTRIES);
        if ((r = apply_entry(L, a, ae)) < 0) return r;
    }
}

static void layer_free(struct layer *L)
{
    json_decref(L->seen);
    for (size_t i = 0; i < L->n_dirs; i++)
        free(L->dirs[i].path);
    free(L->dirs);
}

/*
 * Applies the layer d to j->rootfs. The blob is hashed as libarchive reads it and the rest of it
 * after the end of the tar; a digest mismatch wins over any other error (a corrupt blob explains
 * it).
 */
static int apply_layer(struct job *j, const struct desc *d)
{
    if (ends_with(d->media, "+zstd") && !filter_builtin(la.archive_read_support_filter_zstd))
        return sp_err_set(j->err, -ENOTSUP,
                          "layer sha256:%s (%s): zstd-compressed, and this libarchive was built "
                          "without libzstd",
                          d->hex, d->where);
    if (ends_with(d->media, "gzip") && !filter_builtin(la.archive_read_support_filter_gzip))
        return sp_err_set(j->err, -ENOTSUP,
                          "layer sha256:%s (%s): gzip-compressed, and this libarchive was built "
                          "without zlib",
                          d->hex, d->where);
    struct layer L = {.j = j, .root = &j->rootfs};
    snprintf(L.label, sizeof(L.label), "layer sha256:%s (%s)", d->hex, d->where);
    struct blob_in *in = malloc(sizeof(*in));
    if (!in) return sp_err_set(j->err, -ENOMEM, "%s: out of memory", L.label);
    int r = open_blob(j, d, &in->fd);
    if (r < 0) {
        free(in);
        return r;
    }
    sp_sha256_init(&in->sha);
    in->got = 0;
    in->want = d->size;
    in->rerr = 0;
    L.in = in;

    struct archive *a = tar_reader();
    L.seen = json_object();
    if (!a || !L.seen)
        r = sp_err_set(j->err, -ENOMEM, "%s: out of memory", L.label);
    else if (la.archive_read_open(a, in, NULL, blob_read_cb, NULL) != ARCHIVE_OK)
        r = tar_fail(&L, a);
    else
        r = apply_stream(&L, a);
    if (r == 0) finish_times(&L);

    /* The rest of the blob after the tar's end, then the digest. */
    ssize_t n;
    while ((n = blob_next(in)) > 0)
        ;
    struct sp_err verr = {0};
    int v = n < 0 ? sp_err_set(&verr, (int)n, "blob sha256:%s (%s): %s", d->hex, d->where,
                               strerror((int)-n))
                  : check_hash(&verr, d, &in->sha, in->got);
    if (v < 0 && (r == 0 || v == -EBADMSG)) {
        if (j->err) *j->err = verr;
        r = v;
    }
    if (a) la.archive_read_free(a);
    sp_close(in->fd);
    free(in);
    layer_free(&L);
    return r;
}

/* --- tarballs of a layout -------------------------------------------------------------------- */

static int open_archive(struct job *j, const char *src, int *fd_out, struct archive **a_out)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sp_err_set(j->err, -errno, "%s: %s", src, strerror(errno));
    struct archive *a = tar_reader();
    if (!a) {
        sp_close(fd);
        return sp_err_set(j->err, -ENOMEM, "%s: out of memory", src);
    }
    if (la.archive_read_open_fd(a, fd, READ_CHUNK) != ARCHIVE_OK) {
        const char *s = la.archive_error_string(a);
        int r = sp_err_set(j->err, -EBADMSG, "image archive %.200s: %s", src,
                           s ? s : "not a tar archive");
        la.archive_read_free(a);
        sp_close(fd);
        return r;
    }
    *fd_out = fd;
    *a_out = a;
    return 0;
}

/* index.json of the tarball (the last one, as extraction would leave it). */
static int archive_index(struct job *j, const char *src, char **out, size_t *len)
{
    int fd;
    struct archive *a;
    int r = open_archive(j, src, &fd, &a);
    if (r < 0) return r;
    char *found = NULL;
    size_t found_len = 0, entries = 0;
    for (;;) {
        struct archive_entry *ae;
        r = la.archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF) {
            r = 0;
            break;
        }
        if ((r != ARCHIVE_OK && r != ARCHIVE_WARN) || ++entries > IMAGE_MAX_ENTRIES) {
            const char *s = la.archive_error_string(a);
            r = entries > IMAGE_MAX_ENTRIES
                    ? sp_err_set(j->err, -E2BIG, "image archive %.200s: more than %u entries", src,
                                 IMAGE_MAX_ENTRIES)
                    : sp_err_set(j->err, -EBADMSG, "image archive %.200s: %s", src,
                                 s ? s : "invalid tar stream");
            break;
        }
        char path[PATH_MAX];
        const char *raw = la.archive_entry_pathname(ae);
        if (!raw || clean_name(raw, path) < 0 || strcmp(path, "index.json") != 0 ||
            la.archive_entry_filetype(ae) != AE_IFREG || la.archive_entry_hardlink(ae))
            continue;
        la_int64_t size = la.archive_entry_size(ae);
        if (size < 0 || size > (la_int64_t)IMAGE_MAX_JSON) {
            r = sp_err_set(j->err, -E2BIG,
                           "image archive %.200s: index.json: over the limit of "
                           "%u bytes",
                           src, IMAGE_MAX_JSON);
            break;
        }
        free(found);
        found = malloc((size_t)size + 1);
        if (!found) {
            r = sp_err_set(j->err, -ENOMEM, "out of memory");
            break;
        }
        found_len = 0;
        for (;;) {
            la_ssize_t k = la.archive_read_data(a, found + found_len, (size_t)size - found_len);
            if (k < 0) {
                const char *s = la.archive_error_string(a);
                r = sp_err_set(j->err, -EBADMSG, "image archive %.200s: %s", src,
                               s ? s : "invalid tar stream");
                break;
            }
            if (k == 0) break;
            found_len += (size_t)k;
        }
        if (r < 0) break;
        found[found_len] = '\0';
    }
    la.archive_read_free(a);
    sp_close(fd);
    if (r == 0 && !found)
        r = sp_err_set(j->err, -ENOENT,
                       "image archive %.200s: no index.json (not an OCI image "
                       "layout archive)",
                       src);
    if (r < 0) {
        free(found);
        return r;
    }
    *out = found;
    *len = found_len;
    return 0;
}

/* A new tmp-XXXXXX in the cache; its name into name (NAME_MAX + 1 bytes). */
static int make_tmp(struct job *j, char *name)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/tmp-XXXXXX", j->cache) >= (int)sizeof(path))
        return sp_err_set(j->err, -ENAMETOOLONG, "%s: path too long", j->cache);
    if (!mkdtemp(path)) return sp_err_set(j->err, -errno, "%s: %s", path, strerror(errno));
    snprintf(name, NAME_MAX + 1, "%s", strrchr(path, '/') + 1);
    return 0;
}

static int open_in_cache(struct job *j, struct fsroot *r, const char *rel)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", j->cache, rel) >= (int)sizeof(path))
        return sp_err_set(j->err, -ENAMETOOLONG, "%s: path too long", j->cache);
    int e = fsroot_open(r, path);
    return e < 0 ? sp_err_set(j->err, e, "%s: %s", path, strerror(-e)) : 0;
}

/*
 * A tarball of a layout: its index.json first, for a cache hit without extracting; else the
 * tarball extracted into a temporary directory that becomes j->layout.
 */
static int from_archive(struct job *j, const char *src)
{
    char *text;
    size_t n;
    int r = archive_index(j, src, &text, &n);
    if (r < 0) return r;
    json_t *idx;
    r = parse_json(j, text, n, "index.json", &idx);
    free(text);
    if (r < 0) return r;
    struct desc d;
    r = pick_manifest(j, idx, "index.json", &d);
    json_decref(idx);
    if (r < 0) return r;
    if (is_manifest_type(d.media)) {
        char p[SP_SHA256_HEX_LEN + 8];
        struct stat st;
        snprintf(p, sizeof(p), "%s/rootfs", d.hex);
        if (fstatat(j->cachefd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
            memcpy(j->hex, d.hex, sizeof(j->hex));
            j->hit = true;
            return 0;
        }
    }

    if ((r = make_tmp(j, j->layout_tmp)) < 0) return r;
    if ((r = open_in_cache(j, &j->layout, j->layout_tmp)) < 0) return r;
    int fd;
    struct archive *a;
    if ((r = open_archive(j, src, &fd, &a)) < 0) return r;
    struct layer L = {.j = j, .root = &j->layout, .layout = true};
    snprintf(L.label, sizeof(L.label), "image archive %.160s", src);
    r = apply_stream(&L, a);
    la.archive_read_free(a);
    sp_close(fd);
    layer_free(&L);
    j->unpacked = 0;
    return r;
}

/* --- the cache ------------------------------------------------------------------------------- */

static bool cache_hit(struct job *j)
{
    char p[SP_SHA256_HEX_LEN + 8];
    struct stat st;
    snprintf(p, sizeof(p), "%s/rootfs", j->hex);
    return fstatat(j->cachefd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* oci-layout must say imageLayoutVersion 1.x. */
static int check_layout(struct job *j)
{
    char *text;
    size_t n;
    int r = read_layout_file(j, "oci-layout", IMAGE_MAX_LAYOUT_FILE, &text, &n);
    if (r < 0) return r;
    json_t *v;
    r = parse_json(j, text, n, "oci-layout", &v);
    free(text);
    if (r < 0) return r;
    const char *version;
    r = get_str(j, v, "oci-layout", "", "imageLayoutVersion", true, &version);
    if (r == 0 && strncmp(version, "1.", 2) != 0)
        r = sp_err_set(j->err, -ENOTSUP,
                       "oci-layout: imageLayoutVersion: \"%.32s\" is not supported (1.x only)",
                       version);
    json_decref(v);
    return r;
}

/* Every layer into a new tmp-XXXXXX/rootfs, renamed to <hex> at the end. */
static int build(struct job *j, const struct manifest *m)
{
    int r = make_tmp(j, j->rootfs_tmp);
    if (r < 0) return r;
    char rel[NAME_MAX + 16];
    snprintf(rel, sizeof(rel), "%s/rootfs", j->rootfs_tmp);
    if (mkdirat(j->cachefd, rel, 0755) < 0 || fchmodat(j->cachefd, rel, 0755, 0) < 0)
        return sp_err_set(j->err, -errno, "%s/%s: %s", j->cache, rel, strerror(errno));
    if ((r = open_in_cache(j, &j->rootfs, rel)) < 0) return r;
    for (size_t i = 0; i < m->n_layers; i++)
        if ((r = apply_layer(j, &m->layers[i])) < 0) return r;
    fsroot_close(&j->rootfs);

    /* Durable before it is visible. */
    if (syncfs(j->cachefd) < 0)
        return sp_err_set(j->err, -errno, "syncfs %s: %s", j->cache, strerror(errno));
    struct stat st;
    if (fstatat(j->cachefd, j->hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && !cache_hit(j)) {
        /* <hex> without a rootfs: not ours to keep */
        if ((r = remove_at(j->cachefd, j->hex)) < 0)
            return sp_err_set(j->err, r, "%s/%s: removing a damaged entry: %s", j->cache, j->hex,
                              strerror(-r));
    }
    if (renameat(j->cachefd, j->rootfs_tmp, j->cachefd, j->hex) < 0) {
        int e = -errno;
        /* Someone else finished the same image first: theirs is as good. */
        if ((e == -EEXIST || e == -ENOTEMPTY) && cache_hit(j)) return 0;
        return sp_err_set(j->err, e, "rename %s/%s to %s: %s", j->cache, j->rootfs_tmp, j->hex,
                          strerror(-e));
    }
    j->rootfs_tmp[0] = '\0';
    return 0;
}

static int run(struct job *j, const char *src)
{
    struct stat st;
    if (stat(src, &st) < 0) return sp_err_set(j->err, -errno, "%s: %s", src, strerror(errno));
    int r;
    if (S_ISREG(st.st_mode)) {
        if ((r = from_archive(j, src)) < 0 || j->hit) return r;
    } else if (S_ISDIR(st.st_mode)) {
        if ((r = fsroot_open(&j->layout, src)) < 0)
            return sp_err_set(j->err, r, "%s: %s", src, strerror(-r));
    } else {
        return sp_err_set(j->err, -EINVAL, "%s: neither an image layout directory nor a tarball",
                          src);
    }
    if ((r = check_layout(j)) < 0) return r;

    char *text;
    size_t n;
    if ((r = read_layout_file(j, "index.json", IMAGE_MAX_JSON, &text, &n)) < 0) return r;
    json_t *index;
    r = parse_json(j, text, n, "index.json", &index);
    free(text);
    if (r < 0) return r;
    struct desc md;
    r = find_manifest(j, index, &md);
    json_decref(index);
    if (r < 0) return r;
    memcpy(j->hex, md.hex, sizeof(j->hex));
    if (cache_hit(j)) return 0;

    struct manifest *m = calloc(1, sizeof(*m));
    if (!m) return sp_err_set(j->err, -ENOMEM, "out of memory");
    r = parse_manifest(j, &md, m);
    if (r == 0) r = build(j, m);
    free(m);
    return r;
}

int image_unpack(const char *src, const char *cache_dir, char *rootfs_out, size_t len,
                 struct sp_err *err)
{
    int lr = la_load(err);
    if (lr < 0) return lr;
    if (!src || !cache_dir || !rootfs_out || !*src || !*cache_dir)
        return sp_err_set(err, -EINVAL, "image_unpack: missing source, cache or output");
    size_t clen = strlen(cache_dir);
    while (clen > 1 && cache_dir[clen - 1] == '/')
        clen--;
    if (clen >= PATH_MAX - 64)
        return sp_err_set(err, -ENAMETOOLONG, "%.64s...: cache path too long", cache_dir);
    /* "<cache>/<64 hex>/rootfs" */
    if (clen + 1 + 2 * SP_SHA256_LEN + 7 + 1 > len)
        return sp_err_set(err, -ENAMETOOLONG,
                          "image_unpack: %zu bytes for the root filesystem's path, %zu needed", len,
                          clen + 2 * SP_SHA256_LEN + 9);

    struct job *j = calloc(1, sizeof(*j));
    if (!j) return sp_err_set(err, -ENOMEM, "out of memory");
    j->err = err;
    memcpy(j->cache, cache_dir, clen);
    j->cache[clen] = '\0';
    j->cachefd = -1;
    j->layout.fd = -1;
    j->rootfs.fd = -1;
    j->is_root = geteuid() == 0;

    /* libarchive converts names with the thread's locale: UTF-8 keeps them byte for byte. */
    locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = loc ? uselocale(loc) : (locale_t)0;

    int r = sp_mkdir_p(j->cache, 0700);
    if (r < 0) {
        r = sp_err_set(err, r, "%s: %s", j->cache, strerror(-r));
    } else if ((j->cachefd = open(j->cache, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        r = sp_err_set(err, -errno, "%s: %s", j->cache, strerror(errno));
    } else {
        r = run(j, src);
    }
    if (r == 0) snprintf(rootfs_out, len, "%s/%s/rootfs", j->cache, j->hex);

    fsroot_close(&j->rootfs);
    fsroot_close(&j->layout);
    if (j->rootfs_tmp[0]) (void)remove_at(j->cachefd, j->rootfs_tmp);
    if (j->layout_tmp[0]) (void)remove_at(j->cachefd, j->layout_tmp);
    sp_closep(&j->cachefd);
    if (loc) {
        uselocale(old);
        freelocale(loc);
    }
    free(j);
    return r;
}
