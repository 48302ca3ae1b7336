/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/sandbox/image.c: OCI image layouts built here with libarchive's writer (tar
 * layers, gzip'ed or not) and jansson (index, manifests, config; digests from src/base/sha256),
 * unpacked into a cache; the result tree is compared exactly. Covers whiteouts and opaque
 * directories, replacements, hardlinks, devices, metadata, the cache (hits, nothing left on
 * failure), digest and size mismatches, hostile layers (names with "..", absolute names,
 * symlinks to "/" and "/etc", hardlinks out), missing blobs, platform selection and nested
 * indexes, JSON errors, limits, tarballs of a layout and zstd layers. Runs as root (devices and
 * ownership); tests that need it are skipped otherwise.
 *
 * Layout of each test: <base>/layout (the image), <base>/cache, <base>/tmp (layer files before
 * they become blobs). Every test gets a fresh <base>, removed at its end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../../src/base/compiler.h"
#include "../../src/base/sha256.h"
#include "../../src/sandbox/image.h"

#define MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MT_TAR      "application/vnd.oci.image.layer.v1.tar"
#define MT_TGZ      "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_TZST     "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER   "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define T1 1600000000
#define T2 1700000000

static char g_base[64];
static char g_layout[128];
static char g_cache[128];
static char g_tmp[128];

/* --- building images ------------------------------------------------------------------------- */

/* A tar entry: f file, d dir, l symlink, h hardlink, c char device (data "major,minor"),
 * p fifo. data: file content or link target. */
struct tent {
    char type;
    const char *path;
    const char *data;
    unsigned mode;
    unsigned uid, gid;
    const char *xattr; /* "name=value" or NULL */
    size_t len;        /* a file's size when data is binary; 0: strlen(data) */
};

enum comp { C_NONE, C_GZIP, C_ZSTD };

struct lspec {
    const struct tent *e;
    size_t n;
    enum comp comp;
    time_t mtime;
};

struct blob {
    char hex[SP_SHA256_HEX_LEN];
    size_t size;
};

static const char *at(const char *dir, const char *rel)
{
    static char bufs[8][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 8];
    if (snprintf(b, PATH_MAX, "%s/%s", dir, rel) >= PATH_MAX) fail_msg("path too long");
    return b;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail_msg("create %s: %s", path, strerror(errno));
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

/* Reads a whole (small) file; NULL when it cannot be opened. Caller frees. */
static char *read_text(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    assert_non_null(b);
    ssize_t k;
    while ((k = read(fd, b + n, cap - n)) > 0) {
        n += (size_t)k;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap + 1);
            assert_non_null(b);
        }
    }
    close(fd);
    b[n] = '\0';
    if (len) *len = n;
    return b;
}

static void write_tar(const char *file, const struct tent *e, size_t n, enum comp comp,
                      time_t mtime)
{
    /* Names are UTF-8 in pax headers: the writer converts from the locale's charset. */
    locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    assert_non_null(loc);
    locale_t old = uselocale(loc);
    struct archive *a = archive_write_new();
    assert_non_null(a);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (comp == C_GZIP) assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    if (comp == C_ZSTD) assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, file), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].path);
        archive_entry_set_perm(ae, e[i].mode ? e[i].mode : (e[i].type == 'd' ? 0755 : 0644));
        archive_entry_set_uid(ae, e[i].uid);
        archive_entry_set_gid(ae, e[i].gid);
        archive_entry_set_mtime(ae, mtime, 0);
        size_t size = 0;
        switch (e[i].type) {
        case 'f':
            archive_entry_set_filetype(ae, AE_IFREG);
            size = e[i].len ? e[i].len : e[i].data ? strlen(e[i].data) : 0;
            break;
        case 'd': archive_entry_set_filetype(ae, AE_IFDIR); break;
        case 'l':
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e[i].data);
            break;
        case 'h':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_hardlink(ae, e[i].data);
            break;
        case 'c': {
            unsigned ma, mi;
            assert_int_equal(sscanf(e[i].data, "%u,%u", &ma, &mi), 2);
            archive_entry_set_filetype(ae, AE_IFCHR);
            archive_entry_set_rdevmajor(ae, ma);
            archive_entry_set_rdevminor(ae, mi);
            break;
        }
        case 'p': archive_entry_set_filetype(ae, AE_IFIFO); break;
        default: fail_msg("bad type %c", e[i].type);
        }
        archive_entry_set_size(ae, (la_int64_t)size);
        if (e[i].xattr) {
            const char *eq = strchr(e[i].xattr, '=');
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(eq - e[i].xattr), e[i].xattr);
            archive_entry_xattr_add_entry(ae, name, eq + 1, strlen(eq + 1));
        }
        /* WARN: a name that is not UTF-8, written raw (pax hdrcharset=BINARY) */
        int wr = archive_write_header(a, ae);
        if (wr != ARCHIVE_OK && wr != ARCHIVE_WARN)
            fail_msg("%s: %s", e[i].path, archive_error_string(a));
        if (size > 0) assert_int_equal(archive_write_data(a, e[i].data, size), (la_ssize_t)size);
        archive_entry_free(ae);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    uselocale(old);
    freelocale(loc);
}

static void hash_file(const char *file, struct blob *b)
{
    size_t n;
    char *data = read_text(file, &n);
    assert_non_null(data);
    unsigned char d[SP_SHA256_LEN];
    sp_sha256(data, n, d);
    sp_sha256_hex(d, b->hex);
    b->size = n;
    free(data);
}

static const char *blob_path(const char *layout, const struct blob *b)
{
    static char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", layout, b->hex);
    return p;
}

/* Moves file into the layout's blobs under its digest. */
static void blob_from_file(const char *layout, const char *file, struct blob *b)
{
    hash_file(file, b);
    if (rename(file, blob_path(layout, b)) < 0) fail_msg("rename %s: %s", file, strerror(errno));
}

/* A JSON blob (j is consumed). */
static void blob_from_json(const char *layout, json_t *j, struct blob *b)
{
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_non_null(text);
    unsigned char d[SP_SHA256_LEN];
    sp_sha256(text, strlen(text), d);
    sp_sha256_hex(d, b->hex);
    b->size = strlen(text);
    write_file(blob_path(layout, b), text, b->size);
    free(text);
    json_decref(j);
}

static json_t *desc(const char *mt, const struct blob *b)
{
    return json_pack("{s:s, s:s+, s:I}", "mediaType", mt, "digest", "sha256:", b->hex, "size",
                     (json_int_t)b->size);
}

static void layout_init(const char *layout)
{
    mkdir(layout, 0755);
    mkdir(at(layout, "blobs"), 0755);
    mkdir(at(layout, "blobs/sha256"), 0755);
    const char *v = "{\"imageLayoutVersion\": \"1.0.0\"}";
    write_file(at(layout, "oci-layout"), v, strlen(v));
}

static const char *layer_type(enum comp c)
{
    return c == C_GZIP ? MT_TGZ : c == C_ZSTD ? MT_TZST : MT_TAR;
}

/* The layers' blobs, a config and the manifest (blob mb); lb gets the layers' blobs. */
static void build_manifest(const char *layout, const struct lspec *ls, size_t n, struct blob *mb,
                           struct blob *lb)
{
    static unsigned seq;
    json_t *layers = json_array();
    for (size_t i = 0; i < n; i++) {
        char file[PATH_MAX];
        snprintf(file, sizeof(file), "%s/layer-%u.tar", g_tmp, seq++);
        write_tar(file, ls[i].e, ls[i].n, ls[i].comp, ls[i].mtime ? ls[i].mtime : T1);
        struct blob b;
        blob_from_file(layout, file, &b);
        if (lb) lb[i] = b;
        json_array_append_new(layers, desc(layer_type(ls[i].comp), &b));
    }
    struct blob cb;
    blob_from_json(layout,
                   json_pack("{s:s, s:s, s:{s:s, s:[]}}", "architecture", "amd64", "os", "linux",
                             "rootfs", "type", "layers", "diff_ids"),
                   &cb);
    blob_from_json(layout,
                   json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType", MT_MANIFEST,
                             "config", desc(MT_CONFIG, &cb), "layers", layers),
                   mb);
}

/* index.json with these descriptors (consumed). */
static void write_index(const char *layout, json_t *manifests)
{
    json_t *idx = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", MT_INDEX,
                            "manifests", manifests);
    assert_non_null(idx);
    assert_int_equal(json_dump_file(idx, at(layout, "index.json"), JSON_COMPACT), 0);
    json_decref(idx);
}

static void build_image(const char *layout, const struct lspec *ls, size_t n, struct blob *mb,
                        struct blob *lb)
{
    layout_init(layout);
    build_manifest(layout, ls, n, mb, lb);
    write_index(layout, json_pack("[o]", desc(MT_MANIFEST, mb)));
}

/* --- checking results ------------------------------------------------------------------------ */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends one line per entry below root/rel, sorted, depth first. */
static void dump_dir(const char *root, const char *rel, char *out, size_t cap)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) fail_msg("opendir %s: %s", dir, strerror(errno));
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        assert_true(n < 256);
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX], full[PATH_MAX + 8];
        snprintf(p, sizeof(p), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
        snprintf(full, sizeof(full), "%s/%s", root, p);
        struct stat st;
        assert_int_equal(lstat(full, &st), 0);
        size_t len = strlen(out);
        unsigned perm = st.st_mode & 07777;
        if (S_ISDIR(st.st_mode)) {
            snprintf(out + len, cap - len, "%s d %04o %u:%u\n", p, perm, st.st_uid, st.st_gid);
            dump_dir(root, p, out, cap);
        } else if (S_ISREG(st.st_mode)) {
            char *text = read_text(full, NULL);
            assert_non_null(text);
            snprintf(out + len, cap - len, "%s f %04o %u:%u n%u %s\n", p, perm, st.st_uid,
                     st.st_gid, (unsigned)st.st_nlink, text);
            free(text);
        } else if (S_ISLNK(st.st_mode)) {
            char t[PATH_MAX];
            ssize_t k = readlink(full, t, sizeof(t) - 1);
            assert_true(k >= 0);
            t[k] = '\0';
            snprintf(out + len, cap - len, "%s l %s\n", p, t);
        } else if (S_ISCHR(st.st_mode)) {
            snprintf(out + len, cap - len, "%s c %04o %u,%u\n", p, perm, major(st.st_rdev),
                     minor(st.st_rdev));
        } else if (S_ISFIFO(st.st_mode)) {
            snprintf(out + len, cap - len, "%s p %04o\n", p, perm);
        } else {
            snprintf(out + len, cap - len, "%s ?\n", p);
        }
        free(names[i]);
    }
}

static const char *dump(const char *root)
{
    static char out[1 << 16];
    out[0] = '\0';
    dump_dir(root, "", out, sizeof(out));
    return out;
}

/* The names in dir, sorted, space-separated ("" when empty). */
static const char *names_in(const char *dir)
{
    static char out[4096];
    out[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) return "(missing)";
    char *names[64];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 64)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_names);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, sizeof(out) - len, "%s%s", i ? " " : "", names[i]);
        free(names[i]);
    }
    return out;
}

static void expect_rootfs_path(const char *got, const struct blob *mb)
{
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s/%s/rootfs", g_cache, mb->hex);
    assert_string_equal(got, want);
}

/* image_unpack must fail with code, a message containing every needle, and an empty cache. */
static void expect_fail(const char *src, int code, const char *needle1, const char *needle2)
{
    char out[PATH_MAX] = "untouched";
    struct sp_err err = {0};
    int r = image_unpack(src, g_cache, out, sizeof(out), &err);
    if (r != code) fail_msg("got %d (%s), want %d", r, err.msg, code);
    assert_int_equal(err.code, code);
    if (needle1 && !strstr(err.msg, needle1))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle1);
    if (needle2 && !strstr(err.msg, needle2))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle2);
    assert_string_equal(out, "untouched");
    assert_string_equal(names_in(g_cache), "");
}

static void unpack_ok(const char *src, char *out)
{
    struct sp_err err = {0};
    int r = image_unpack(src, g_cache, out, PATH_MAX, &err);
    if (r != 0) fail_msg("image_unpack: %d %s", r, err.msg);
}

/* --- fixtures -------------------------------------------------------------------------------- */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

static int g_fds; /* open fds at setup: the same at teardown (nothing leaked) */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    (void)state;
    g_fds = count_fds();
    snprintf(g_base, sizeof(g_base), "/tmp/sprite-image-XXXXXX");
    if (!mkdtemp(g_base)) return -1;
    snprintf(g_layout, sizeof(g_layout), "%s/layout", g_base);
    snprintf(g_cache, sizeof(g_cache), "%s/cache", g_base);
    snprintf(g_tmp, sizeof(g_tmp), "%s/tmp", g_base);
    mkdir(g_cache, 0700);
    mkdir(g_tmp, 0700);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int fds = count_fds();
    if (fds != g_fds) fprintf(stderr, "fd leak: %d open at setup, %d at teardown\n", g_fds, fds);
    int r = nftw(g_base, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
    return fds != g_fds ? -1 : r;
}

static bool user_xattrs(void)
{
    const char *p = at(g_tmp, "xattr-probe");
    write_file(p, "", 0);
    bool ok = setxattr(p, "user.probe", "1", 1, 0) == 0;
    unlink(p);
    return ok;
}

/* --- tests ----------------------------------------------------------------------------------- */

static const struct tent two_l1[] = {
    {'d', "./", NULL, 0755, 0, 0, NULL, 0},
    {'d', "etc", NULL, 0755, 0, 0, NULL, 0},
    {'f', "etc/hosts", "127.0.0.1 localhost", 0644, 0, 0, "user.sprite=yes", 0},
    {'f', "etc/removed", "gone", 0644, 0, 0, NULL, 0},
    {'d', "opq", NULL, 0755, 0, 0, NULL, 0},
    {'f', "opq/old1", "old1", 0644, 0, 0, NULL, 0},
    {'d', "opq/sub", NULL, 0700, 0, 0, NULL, 0},
    {'f', "opq/sub/old2", "old2", 0644, 0, 0, NULL, 0},
    {'d', "usr", NULL, 0755, 0, 0, NULL, 0},
    {'d', "usr/bin", NULL, 0755, 0, 0, NULL, 0},
    {'f', "usr/bin/tool", "#!/bin/sh", 04755, 0, 0, NULL, 0},
    {'f', "a", "A", 0644, 0, 0, NULL, 0},
    {'f', "b", "B", 0640, 1000, 1001, NULL, 0},
    {'c', "dev/null", "1,3", 0666, 0, 0, NULL, 0},
    {'p', "fifo", NULL, 0600, 0, 0, NULL, 0},
    {'d', "keep", NULL, 0755, 0, 0, NULL, 0},
    {'f', "keep/x", "x", 0644, 0, 0, NULL, 0},
    {'d', "swap1", NULL, 0755, 0, 0, NULL, 0},
    {'f', "swap1/inner", "i", 0644, 0, 0, NULL, 0},
    {'f', "swap2", "file", 0644, 0, 0, NULL, 0},
    {'f', "caf\xc3\xa9", "utf8", 0644, 0, 0, NULL, 0},
    {'f', "latin1-caf\xe9", "not utf8", 0644, 0, 0, NULL, 0},
};

static const struct tent two_l2[] = {
    {'f', "etc/new", "new", 0644, 0, 0, NULL, 0},
    {'f', "etc/.wh.removed", "", 0644, 0, 0, NULL, 0},
    {'d', "opq", NULL, 0750, 0, 0, NULL, 0},
    {'f', "opq/new", "n", 0644, 0, 0, NULL, 0},
    {'f', "opq/.wh..wh..opq", "", 0644, 0, 0, NULL, 0},
    {'f', "opq/after", "after", 0644, 0, 0, NULL, 0},
    {'l', "a", "b", 0777, 0, 0, NULL, 0},
    {'h', "c", "b", 0, 0, 0, NULL, 0},
    {'f', ".wh.usr", "", 0644, 0, 0, NULL, 0},
    {'f', "keep/.wh.x", "", 0644, 0, 0, NULL, 0},
    {'f', "keep/y", "y", 0644, 0, 0, NULL, 0},
    {'f', "keep/.wh.y", "", 0644, 0, 0, NULL, 0},
    {'f', "swap1", "now a file", 0644, 0, 0, NULL, 0},
    {'d', "swap2", NULL, 0711, 0, 0, NULL, 0},
    {'f', "swap2/in", "in", 0644, 0, 0, NULL, 0},
    {'f', ".wh..wh..plnk", "", 0644, 0, 0, NULL, 0},
};

static const char two_expected[] = "a l b\n"
                                   "b f 0640 1000:1001 n2 B\n"
                                   "c f 0640 1000:1001 n2 B\n"
                                   "caf\xc3\xa9 f 0644 0:0 n1 utf8\n"
                                   "dev d 0755 0:0\n"
                                   "dev/null c 0666 1,3\n"
                                   "etc d 0755 0:0\n"
                                   "etc/hosts f 0644 0:0 n1 127.0.0.1 localhost\n"
                                   "etc/new f 0644 0:0 n1 new\n"
                                   "fifo p 0600\n"
                                   "keep d 0755 0:0\n"
                                   "keep/y f 0644 0:0 n1 y\n"
                                   "latin1-caf\xe9 f 0644 0:0 n1 not utf8\n"
                                   "opq d 0750 0:0\n"
                                   "opq/after f 0644 0:0 n1 after\n"
                                   "opq/new f 0644 0:0 n1 n\n"
                                   "swap1 f 0644 0:0 n1 now a file\n"
                                   "swap2 d 0711 0:0\n"
                                   "swap2/in f 0644 0:0 n1 in\n";

/* Two layers: additions, whiteouts (files, a tree, this layer's own kept), an opaque directory
 * (entries before and after the marker kept), a file replaced by a symlink, a directory by a
 * file and back, a hardlink, a device, a FIFO, ownership, modes, times, an xattr. */
static void test_two_layers(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    struct lspec ls[] = {{two_l1, SP_ARRAY_LEN(two_l1), C_GZIP, T1},
                         {two_l2, SP_ARRAY_LEN(two_l2), C_GZIP, T2}};
    struct blob mb;
    build_image(g_layout, ls, 2, &mb, NULL);
    char out[PATH_MAX];
    unpack_ok(g_layout, out);
    expect_rootfs_path(out, &mb);
    assert_string_equal(dump(out), two_expected);

    struct stat st;
    assert_int_equal(stat(out, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(stat(at(out, "etc/hosts"), &st), 0);
    assert_int_equal(st.st_mtime, T1);
    /* opq's own entry is in layer 2: its time is set after its entries changed it */
    assert_int_equal(stat(at(out, "opq"), &st), 0);
    assert_int_equal(st.st_mtime, T2);
    assert_int_equal(lstat(at(out, "a"), &st), 0);
    assert_int_equal(st.st_mtime, T2);
    if (user_xattrs()) {
        char v[16] = "";
        assert_int_equal(getxattr(at(out, "etc/hosts"), "user.sprite", v, sizeof(v)), 3);
        assert_memory_equal(v, "yes", 3);
    }
    /* the cache holds exactly the entry; no temporary directory is left */
    assert_string_equal(names_in(g_cache), mb.hex);
}

/* The second call for the same image is a cache hit: same path, nothing unpacked (the layer
 * blob is gone by then and a marker in the result stays). */
static void test_cache_hit(void **state)
{
    (void)state;
    static const struct tent l1[] = {{'f', "hello", "world", 0644, 0, 0, NULL, 0}};
    struct lspec ls[] = {{l1, 1, C_GZIP, T1}};
    struct blob mb, lb[1];
    build_image(g_layout, ls, 1, &mb, lb);
    char out[PATH_MAX], again[PATH_MAX];
    unpack_ok(g_layout, out);
    write_file(at(out, "marker"), "m", 1);
    assert_int_equal(unlink(blob_path(g_layout, &lb[0])), 0);

    unpack_ok(g_layout, again);
    assert_string_equal(again, out);
    assert_string_equal(names_in(out), "hello marker");
    assert_string_equal(names_in(g_cache), mb.hex);

    /* a trailing slash on the cache path gives the same path */
    char cache2[PATH_MAX];
    snprintf(cache2, sizeof(cache2), "%s//", g_cache);
    struct sp_err err = {0};
    assert_int_equal(image_unpack(g_layout, cache2, again, sizeof(again), &err), 0);
    assert_string_equal(again, out);
}

/* One byte changed in a layer (gzip'ed, and plain where the tar still reads): -EBADMSG naming
 * the blob, nothing in the cache. */
static void test_digest_mismatch(void **state)
{
    (void)state;
    static const struct tent l1[] = {
        {'f', "big", "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
         0644, 0, 0, NULL, 0},
    };
    for (int plain = 0; plain < 2; plain++) {
        struct lspec ls[] = {{l1, 1, plain ? C_NONE : C_GZIP, T1}};
        struct blob mb, lb[1];
        build_image(g_layout, ls, 1, &mb, lb);
        const char *p = blob_path(g_layout, &lb[0]);
        size_t n;
        char *data = read_text(p, &n);
        assert_non_null(data);
        /* plain: a byte of the file's content (block 2); gzip: one in the middle */
        size_t off = plain ? 512 + 512 + 10 : n / 2;
        data[off] ^= 0x20;
        write_file(p, data, n);
        free(data);
        char hex[80];
        snprintf(hex, sizeof(hex), "sha256:%s", lb[0].hex);
        expect_fail(g_layout, -EBADMSG, hex, "digest mismatch");
    }
}

/* The descriptor's size differs from the blob's: refused before reading. */
static void test_size_mismatch(void **state)
{
    (void)state;
    static const struct tent l1[] = {{'f', "a", "a", 0644, 0, 0, NULL, 0}};
    struct lspec ls[] = {{l1, 1, C_GZIP, T1}};
    struct blob mb, lb[1];
    layout_init(g_layout);
    build_manifest(g_layout, ls, 1, &mb, lb);
    mb.size += 1;
    write_index(g_layout, json_pack("[o]", desc(MT_MANIFEST, &mb)));
    expect_fail(g_layout, -EBADMSG, "its descriptor says", mb.hex);
}

static const struct tent hostile_l1[] = {
    {'d', "etc", NULL, 0755, 0, 0, NULL, 0},
    {'f', "etc/passwd", "image", 0644, 0, 0, NULL, 0},
};

static const struct tent hostile_l2[] = {
    {'f', "../../escape", "e1", 0644, 0, 0, NULL, 0},
    {'f', "/abs-escape", "e2", 0644, 0, 0, NULL, 0},
    {'l', "hostetc", "/etc", 0777, 0, 0, NULL, 0},
    {'f', "hostetc/passwd", "pwned", 0644, 0, 0, NULL, 0},
    {'l', "up", "../../../../../../..", 0777, 0, 0, NULL, 0},
    {'f', "up/escape3", "e3", 0644, 0, 0, NULL, 0},
    {'l', "slash", "/", 0777, 0, 0, NULL, 0},
    {'f', "slash/tmp/escape4", "e4", 0644, 0, 0, NULL, 0},
    {'h', "hl", "../../../../etc/passwd", 0, 0, 0, NULL, 0},
    {'h', "hl2", "up/escape3", 0, 0, 0, NULL, 0},
    {'f', "sub/../../.wh.nothing-here", "", 0644, 0, 0, NULL, 0},
};

static const char hostile_expected[] = "abs-escape f 0644 0:0 n1 e2\n"
                                       "escape f 0644 0:0 n1 e1\n"
                                       "escape3 f 0644 0:0 n2 e3\n"
                                       "etc d 0755 0:0\n"
                                       "etc/passwd f 0644 0:0 n2 pwned\n"
                                       "hl f 0644 0:0 n2 pwned\n"
                                       "hl2 f 0644 0:0 n2 e3\n"
                                       "hostetc l /etc\n"
                                       "slash l /\n"
                                       "tmp d 0755 0:0\n"
                                       "tmp/escape4 f 0644 0:0 n1 e4\n"
                                       "up l ../../../../../../..\n";

struct host_state {
    struct stat passwd;
    char base[512];
};

static void host_snapshot(struct host_state *h)
{
    assert_int_equal(stat("/etc/passwd", &h->passwd), 0);
    snprintf(h->base, sizeof(h->base), "%s", names_in(g_base));
}

static void host_unchanged(const struct host_state *h)
{
    struct stat st;
    assert_int_equal(stat("/etc/passwd", &st), 0);
    assert_int_equal(st.st_ino, h->passwd.st_ino);
    assert_int_equal(st.st_size, h->passwd.st_size);
    assert_int_equal(st.st_mtim.tv_sec, h->passwd.st_mtim.tv_sec);
    assert_int_equal(st.st_mtim.tv_nsec, h->passwd.st_mtim.tv_nsec);
    assert_int_equal(st.st_nlink, h->passwd.st_nlink);
    assert_string_equal(names_in(g_base), h->base);
    static const char *const never[] = {"/escape",      "/abs-escape", "/escape3",
                                        "/tmp/escape4", "/hl",         "/hl2"};
    for (size_t i = 0; i < SP_ARRAY_LEN(never); i++)
        if (access(never[i], F_OK) == 0) fail_msg("%s exists on the host", never[i]);
}

/* "..", absolute names, symlinks to "/", "/etc" and far up, hardlinks out: all confined. */
static void test_hostile_layer(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    struct lspec ls[] = {{hostile_l1, SP_ARRAY_LEN(hostile_l1), C_GZIP, T1},
                         {hostile_l2, SP_ARRAY_LEN(hostile_l2), C_GZIP, T1}};
    struct blob mb;
    build_image(g_layout, ls, 2, &mb, NULL);
    struct host_state h;
    host_snapshot(&h);
    char out[PATH_MAX];
    unpack_ok(g_layout, out);
    assert_string_equal(dump(out), hostile_expected);
    host_unchanged(&h);
}

/* A symlink "etc" -> "/etc" is etc itself inside the root: "etc/passwd" then loops (-ELOOP); the
 * image fails, nothing is written on the host and nothing stays in the cache. */
static void test_hostile_loop(void **state)
{
    (void)state;
    static const struct tent l1[] = {
        {'l', "etc", "/etc", 0777, 0, 0, NULL, 0},
        {'f', "etc/passwd", "pwned", 0644, 0, 0, NULL, 0},
    };
    struct lspec ls[] = {{l1, 2, C_GZIP, T1}};
    struct blob mb;
    build_image(g_layout, ls, 1, &mb, NULL);
    struct host_state h;
    host_snapshot(&h);
    expect_fail(g_layout, -ELOOP, "\"etc/passwd\"", "parent directory");
    host_unchanged(&h);
}

/* A missing layer blob, manifest, config, index.json or oci-layout: -ENOENT naming it. */
static void test_missing(void **state)
{
    (void)state;
    static const struct tent l1[] = {{'f', "a", "a", 0644, 0, 0, NULL, 0}};
    struct lspec ls[] = {{l1, 1, C_GZIP, T1}};
    struct blob mb, lb[1];
    build_image(g_layout, ls, 1, &mb, lb);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", blob_path(g_layout, &lb[0]));
    char *saved = read_text(path, NULL);
    assert_non_null(saved);
    assert_int_equal(unlink(path), 0);
    expect_fail(g_layout, -ENOENT, lb[0].hex, "missing from the image layout");
    free(saved);

    assert_int_equal(unlink(blob_path(g_layout, &mb)), 0);
    expect_fail(g_layout, -ENOENT, mb.hex, "index.json manifests[0]");

    assert_int_equal(unlink(at(g_layout, "index.json")), 0);
    expect_fail(g_layout, -ENOENT, "index.json", "not an OCI image layout");
    assert_int_equal(unlink(at(g_layout, "oci-layout")), 0);
    expect_fail(g_layout, -ENOENT, "oci-layout", NULL);
    expect_fail(at(g_base, "nope"), -ENOENT, "nope", NULL);
}

/* Wrong JSON: each error names the file and the field. */
static void test_json_errors(void **state)
{
    (void)state;
    static const struct tent l1[] = {{'f', "a", "a", 0644, 0, 0, NULL, 0}};
    struct lspec ls[] = {{l1, 1, C_GZIP, T1}};
    struct blob mb, lb[1];
    build_image(g_layout, ls, 1, &mb, lb);
    const char *idx = at(g_layout, "index.json");
    char buf[1024];

    write_file(idx, "{\"schemaVersion\": 2,", 20);
    expect_fail(g_layout, -EINVAL, "index.json: invalid JSON", NULL);
    write_file(idx, "[]", 2);
    expect_fail(g_layout, -EINVAL, "index.json: must be a JSON object", NULL);
    write_file(idx, "{\"schemaVersion\": 1}", 20);
    expect_fail(g_layout, -ENOTSUP, "index.json: schemaVersion", NULL);
    snprintf(buf, sizeof(buf), "{\"schemaVersion\": 2, \"manifests\": {}}");
    write_file(idx, buf, strlen(buf));
    expect_fail(g_layout, -EINVAL, "index.json: manifests: must be an array", NULL);
    snprintf(buf, sizeof(buf),
             "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"%s\", \"digest\": "
             "\"sha512:%s\", \"size\": 1}]}",
             MT_MANIFEST, mb.hex);
    write_file(idx, buf, strlen(buf));
    expect_fail(g_layout, -ENOTSUP, "manifests[0].digest", "only sha256");
    snprintf(buf, sizeof(buf),
             "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"%s\", \"digest\": "
             "\"sha256:%.63sZ\", \"size\": 1}]}",
             MT_MANIFEST, mb.hex);
    write_file(idx, buf, strlen(buf));
    expect_fail(g_layout, -EINVAL, "manifests[0].digest", "lower-case hex");
    snprintf(buf, sizeof(buf),
             "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"%s\", \"digest\": "
             "\"sha256:%s\", \"size\": \"1\"}]}",
             MT_MANIFEST, mb.hex);
    write_file(idx, buf, strlen(buf));
    expect_fail(g_layout, -EINVAL, "index.json: manifests[0].size: must be an integer", NULL);
    snprintf(buf, sizeof(buf),
             "{\"schemaVersion\": 2, \"manifests\": [{\"digest\": \"sha256:%s\", \"size\": 1}]}",
             mb.hex);
    write_file(idx, buf, strlen(buf));
    expect_fail(g_layout, -EINVAL, "manifests[0].mediaType: must be a string, got nothing", NULL);
    snprintf(buf, sizeof(buf),
             "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"%s\", \"digest\": "
             "\"sha256:%s\", \"size\": %zu, \"platform\": {\"os\": 1}}]}",
             MT_MANIFEST, mb.hex, mb.size);
    write_file(idx, buf, strlen(buf));
    expect_fail(g_layout, -EINVAL, "manifests[0].platform.os: must be a string", NULL);
    write_file(idx, "{\"schemaVersion\": 2, \"manifests\": []}", 37);
    expect_fail(g_layout, -ENOENT, "no image manifest", NULL);

    /* a manifest with an unsupported layer type */
    struct blob cfg;
    blob_from_json(g_layout, json_pack("{}"), &cfg);
    struct blob bad;
    blob_from_json(g_layout,
                   json_pack("{s:i, s:o, s:[o]}", "schemaVersion", 2, "config",
                             desc(MT_CONFIG, &cfg), "layers",
                             desc("application/x-not-a-layer", &lb[0])),
                   &bad);
    write_index(g_layout, json_pack("[o]", desc(MT_MANIFEST, &bad)));
    expect_fail(g_layout, -ENOTSUP, "layers[0].mediaType", "not a supported layer type");

    /* a manifest whose config is not an object */
    blob_from_json(g_layout,
                   json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "config", "x", "layers",
                             desc(MT_TGZ, &lb[0])),
                   &bad);
    write_index(g_layout, json_pack("[o]", desc(MT_MANIFEST, &bad)));
    expect_fail(g_layout, -EINVAL, "config: must be an object, got a string", bad.hex);

    /* a config that is not JSON */
    struct blob notjson;
    const char *junk = "not json";
    unsigned char d[SP_SHA256_LEN];
    sp_sha256(junk, strlen(junk), d);
    sp_sha256_hex(d, notjson.hex);
    notjson.size = strlen(junk);
    write_file(blob_path(g_layout, &notjson), junk, notjson.size);
    blob_from_json(g_layout,
                   json_pack("{s:i, s:o, s:[o]}", "schemaVersion", 2, "config",
                             desc(MT_CONFIG, &notjson), "layers", desc(MT_TGZ, &lb[0])),
                   &bad);
    write_index(g_layout, json_pack("[o]", desc(MT_MANIFEST, &bad)));
    expect_fail(g_layout, -EINVAL, "config sha256:", "invalid JSON");

    /* oci-layout of another version */
    write_file(at(g_layout, "oci-layout"), "{\"imageLayoutVersion\": \"2.0.0\"}", 31);
    expect_fail(g_layout, -ENOTSUP, "imageLayoutVersion", NULL);
}

/* Limits: more than IMAGE_MAX_LAYERS layers, an index.json over IMAGE_MAX_JSON. */
static void test_limits(void **state)
{
    (void)state;
    static const struct tent l1[] = {{'f', "a", "a", 0644, 0, 0, NULL, 0}};
    struct lspec ls[] = {{l1, 1, C_NONE, T1}};
    struct blob mb, lb[1];
    build_image(g_layout, ls, 1, &mb, lb);
    struct blob cfg;
    blob_from_json(g_layout, json_pack("{}"), &cfg);
    json_t *layers = json_array();
    for (int i = 0; i < IMAGE_MAX_LAYERS + 1; i++)
        json_array_append_new(layers, desc(MT_TAR, &lb[0]));
    struct blob big;
    blob_from_json(g_layout,
                   json_pack("{s:i, s:o, s:o}", "schemaVersion", 2, "config", desc(MT_CONFIG, &cfg),
                             "layers", layers),
                   &big);
    write_index(g_layout, json_pack("[o]", desc(MT_MANIFEST, &big)));
    expect_fail(g_layout, -E2BIG, "layers: 129 layers", NULL);

    /* exactly IMAGE_MAX_LAYERS is fine: the same layer 128 times */
    layers = json_array();
    for (int i = 0; i < IMAGE_MAX_LAYERS; i++)
        json_array_append_new(layers, desc(MT_TAR, &lb[0]));
    blob_from_json(g_layout,
                   json_pack("{s:i, s:o, s:o}", "schemaVersion", 2, "config", desc(MT_CONFIG, &cfg),
                             "layers", layers),
                   &big);
    write_index(g_layout, json_pack("[o]", desc(MT_MANIFEST, &big)));
    char out[PATH_MAX];
    unpack_ok(g_layout, out);
    assert_string_equal(dump(out), "a f 0644 0:0 n1 a\n");
    assert_int_equal(nftw(g_cache, rm_cb, 32, FTW_DEPTH | FTW_PHYS), 0);
    mkdir(g_cache, 0700);

    /* index.json one byte over the limit */
    size_t n = IMAGE_MAX_JSON + 1;
    char *text = malloc(n);
    assert_non_null(text);
    memset(text, ' ', n);
    text[0] = '{';
    text[n - 1] = '}';
    write_file(at(g_layout, "index.json"), text, n);
    free(text);
    expect_fail(g_layout, -E2BIG, "index.json: larger than the limit", NULL);
}

/* Several manifests: the one for linux/<our arch>, through a nested index; none matching among
 * several is an error. */
static void test_platforms(void **state)
{
    (void)state;
#if defined(__x86_64__)
    const char *ours = "amd64", *other = "arm64";
#elif defined(__aarch64__)
    const char *ours = "arm64", *other = "amd64";
#else
    skip();
    const char *ours = "", *other = "";
#endif
    static const struct tent la[] = {{'f', "arch", "ours", 0644, 0, 0, NULL, 0}};
    static const struct tent lb_[] = {{'f', "arch", "other", 0644, 0, 0, NULL, 0}};
    struct lspec sa[] = {{la, 1, C_GZIP, T1}}, sb[] = {{lb_, 1, C_GZIP, T1}};
    struct blob ma, mo;
    layout_init(g_layout);
    build_manifest(g_layout, sa, 1, &ma, NULL);
    build_manifest(g_layout, sb, 1, &mo, NULL);

    json_t *d_other = desc(MT_MANIFEST, &mo), *d_ours = desc(MT_MANIFEST, &ma);
    json_object_set_new(d_other, "platform",
                        json_pack("{s:s, s:s}", "os", "linux", "architecture", other));
    json_object_set_new(d_ours, "platform",
                        json_pack("{s:s, s:s}", "os", "linux", "architecture", ours));
    /* an attestation-like entry for an unknown platform first */
    json_t *d_unknown = desc(MT_MANIFEST, &mo);
    json_object_set_new(d_unknown, "platform",
                        json_pack("{s:s, s:s}", "os", "unknown", "architecture", "unknown"));
    struct blob nested;
    blob_from_json(g_layout,
                   json_pack("{s:i, s:s, s:[o, o, o]}", "schemaVersion", 2, "mediaType", MT_INDEX,
                             "manifests", d_unknown, d_other, d_ours),
                   &nested);
    write_index(g_layout, json_pack("[o]", desc(MT_INDEX, &nested)));
    char out[PATH_MAX];
    unpack_ok(g_layout, out);
    expect_rootfs_path(out, &ma);
    assert_string_equal(dump(out), "arch f 0644 0:0 n1 ours\n");

    /* two images, neither ours */
    assert_int_equal(nftw(g_cache, rm_cb, 32, FTW_DEPTH | FTW_PHYS), 0);
    mkdir(g_cache, 0700);
    d_other = desc(MT_MANIFEST, &mo);
    json_object_set_new(d_other, "platform",
                        json_pack("{s:s, s:s}", "os", "linux", "architecture", other));
    d_unknown = desc(MT_MANIFEST, &ma);
    json_object_set_new(d_unknown, "platform",
                        json_pack("{s:s, s:s}", "os", "windows", "architecture", ours));
    write_index(g_layout, json_pack("[o, o]", d_other, d_unknown));
    expect_fail(g_layout, -ENOENT, "2 images and none for linux/", NULL);

    /* one image for another platform: the only one is taken */
    d_other = desc(MT_MANIFEST, &mo);
    json_object_set_new(d_other, "platform",
                        json_pack("{s:s, s:s}", "os", "linux", "architecture", other));
    write_index(g_layout, json_pack("[o]", d_other));
    unpack_ok(g_layout, out);
    assert_string_equal(dump(out), "arch f 0644 0:0 n1 other\n");
}

/* The layout as a tarball (plain and gzip'ed, with "./" names, a symlink and ".." names that are
 * ignored or kept inside): same tree; the second call is a hit found from index.json alone. */
static void test_layout_tarball(void **state)
{
    (void)state;
    static const struct tent l1[] = {
        {'d', "bin", NULL, 0755, 0, 0, NULL, 0},
        {'f', "bin/sh", "shell", 0755, 0, 0, NULL, 0},
    };
    struct lspec ls[] = {{l1, 2, C_GZIP, T1}};
    struct blob mb, lb[1];
    build_image(g_layout, ls, 1, &mb, lb);

    char mpath[80], lpath[80];
    snprintf(mpath, sizeof(mpath), "./blobs/sha256/%s", mb.hex);
    snprintf(lpath, sizeof(lpath), "blobs/sha256/%s", lb[0].hex);
    char *files[4];
    const char *rel[4] = {"oci-layout", "index.json", NULL, NULL};
    char mrel[80], lrel[80];
    snprintf(mrel, sizeof(mrel), "blobs/sha256/%s", mb.hex);
    snprintf(lrel, sizeof(lrel), "blobs/sha256/%s", lb[0].hex);
    rel[2] = mrel;
    rel[3] = lrel;
    for (int i = 0; i < 4; i++) {
        files[i] = read_text(at(g_layout, rel[i]), NULL);
        assert_non_null(files[i]);
    }
    /* the config blob: find it in the manifest */
    json_t *m = json_load_file(at(g_layout, mrel), 0, NULL);
    assert_non_null(m);
    const char *cdig = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
    char crel[80];
    snprintf(crel, sizeof(crel), "blobs/sha256/%s", cdig + 7);
    json_decref(m);
    char *cfg = read_text(at(g_layout, crel), NULL);
    assert_non_null(cfg);
    char cpath[96];
    snprintf(cpath, sizeof(cpath), "./%s", crel);

    /* the layer blob is binary (gzip): an entry of its own length */
    size_t lsize;
    char *layer = read_text(at(g_layout, lrel), &lsize);
    assert_non_null(layer);
    assert_int_equal(lsize, lb[0].size);
    struct tent t[] = {
        {'d', "./", NULL, 0755, 0, 0, NULL, 0},
        {'f', "./oci-layout", files[0], 0644, 0, 0, NULL, 0},
        {'f', "./index.json", files[1], 0644, 0, 0, NULL, 0},
        {'d', "./blobs/", NULL, 0755, 0, 0, NULL, 0},
        {'d', "./blobs/sha256/", NULL, 0755, 0, 0, NULL, 0},
        {'f', mpath, files[2], 0644, 0, 0, NULL, 0},
        {'f', cpath, cfg, 0644, 0, 0, NULL, 0},
        {'l', "evil", "/etc", 0777, 0, 0, NULL, 0},
        {'f', "evil/passwd", "x", 0644, 0, 0, NULL, 0},
        {'f', "../../outside", "x", 0644, 0, 0, NULL, 0},
        {'f', lpath, layer, 0644, 0, 0, NULL, lsize},
    };

    for (int gz = 0; gz < 2; gz++) {
        const char *tarball = at(g_base, gz ? "image.tar.gz" : "image.tar");
        write_tar(tarball, t, SP_ARRAY_LEN(t), gz ? C_GZIP : C_NONE, T1);

        char out[PATH_MAX], again[PATH_MAX];
        unpack_ok(tarball, out);
        expect_rootfs_path(out, &mb);
        assert_string_equal(dump(out), "bin d 0755 0:0\n"
                                       "bin/sh f 0755 0:0 n1 shell\n");
        assert_string_equal(names_in(g_cache), mb.hex);
        /* nothing escaped the temporary layout directory */
        assert_int_equal(access(at(g_base, "outside"), F_OK), -1);

        write_file(at(out, "marker"), "m", 1);
        unpack_ok(tarball, again);
        assert_string_equal(again, out);
        assert_string_equal(names_in(out), "bin marker");
        assert_string_equal(names_in(g_cache), mb.hex);
        assert_int_equal(nftw(g_cache, rm_cb, 32, FTW_DEPTH | FTW_PHYS), 0);
        mkdir(g_cache, 0700);
    }
    free(layer);
    free(cfg);
    for (int i = 0; i < 4; i++)
        free(files[i]);

    /* a tarball without index.json */
    static const struct tent none[] = {{'f', "oci-layout", "{}", 0644, 0, 0, NULL, 0}};
    write_tar(at(g_base, "empty.tar"), none, 1, C_NONE, T1);
    expect_fail(at(g_base, "empty.tar"), -ENOENT, "no index.json", NULL);
    /* a file that is not an archive */
    write_file(at(g_base, "junk.tar"), "this is not a tar file at all, not even close", 45);
    expect_fail(at(g_base, "junk.tar"), -EBADMSG, "junk.tar", NULL);
}

/* zstd layers and the Docker media type. */
static void test_zstd_and_docker(void **state)
{
    (void)state;
    struct archive *probe = archive_write_new();
    bool zstd = archive_write_add_filter_zstd(probe) == ARCHIVE_OK;
    archive_write_free(probe);
    if (!zstd) skip();
    static const struct tent l1[] = {{'f', "z", "zstd data", 0644, 0, 0, NULL, 0}};
    static const struct tent l2[] = {{'f', "d", "docker", 0600, 0, 0, NULL, 0}};
    struct lspec ls[] = {{l1, 1, C_ZSTD, T1}, {l2, 1, C_GZIP, T1}};
    struct blob mb, lb[2];
    layout_init(g_layout);
    build_manifest(g_layout, ls, 2, &mb, lb);
    /* the same layers under a Docker manifest */
    struct blob cfg, dm;
    blob_from_json(g_layout, json_pack("{}"), &cfg);
    blob_from_json(g_layout,
                   json_pack("{s:i, s:s, s:o, s:[o, o]}", "schemaVersion", 2, "mediaType",
                             "application/vnd.docker.distribution.manifest.v2+json", "config",
                             desc("application/vnd.docker.container.image.v1+json", &cfg), "layers",
                             desc(MT_TZST, &lb[0]), desc(MT_DOCKER, &lb[1])),
                   &dm);
    write_index(
        g_layout,
        json_pack("[o]", desc("application/vnd.docker.distribution.manifest.v2+json", &dm)));
    char out[PATH_MAX];
    unpack_ok(g_layout, out);
    expect_rootfs_path(out, &dm);
    assert_string_equal(dump(out), "d f 0600 0:0 n1 docker\n"
                                   "z f 0644 0:0 n1 zstd data\n");
}

/* A lower tree deeper than the removal's open-directory bound, removed by a whiteout. */
static void test_deep_whiteout(void **state)
{
    (void)state;
    enum { DEPTH = 150 };
    static struct tent l1[DEPTH + 1];
    static char paths[DEPTH + 1][2 * DEPTH + 16];
    for (int i = 0; i < DEPTH; i++) {
        snprintf(paths[i], sizeof(paths[i]), "%s%sd", i ? paths[i - 1] : "", i ? "/" : "");
        l1[i] = (struct tent){'d', paths[i], NULL, 0755, 0, 0, NULL, 0};
    }
    if (snprintf(paths[DEPTH], sizeof(paths[DEPTH]), "%s/leaf", paths[DEPTH - 1]) >=
        (int)sizeof(paths[DEPTH]))
        fail_msg("path too long");
    l1[DEPTH] = (struct tent){'f', paths[DEPTH], "leaf", 0644, 0, 0, NULL, 0};
    static const struct tent l2[] = {{'f', ".wh.d", "", 0644, 0, 0, NULL, 0},
                                     {'f', "kept", "k", 0644, 0, 0, NULL, 0}};
    struct lspec ls[] = {{l1, DEPTH + 1, C_GZIP, T1}, {l2, 2, C_GZIP, T1}};
    struct blob mb;
    build_image(g_layout, ls, 2, &mb, NULL);
    char out[PATH_MAX];
    unpack_ok(g_layout, out);
    assert_string_equal(dump(out), "kept f 0644 0:0 n1 k\n");
}

/* Four processes unpack the same image at once: all succeed with the same path; one entry
 * stays in the cache and no temporary directory. */
static void test_concurrent(void **state)
{
    (void)state;
    static struct tent l1[64];
    static char names[64][16];
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof(names[i]), "f%02d", i);
        l1[i] = (struct tent){'f', names[i], "data", 0644, 0, 0, NULL, 0};
    }
    struct lspec ls[] = {{l1, 64, C_GZIP, T1}};
    struct blob mb;
    build_image(g_layout, ls, 1, &mb, NULL);
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s/%s/rootfs", g_cache, mb.hex);
    pid_t pids[4];
    for (int i = 0; i < 4; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char out[PATH_MAX];
            struct sp_err err = {0};
            int r = image_unpack(g_layout, g_cache, out, sizeof(out), &err);
            if (r != 0) fprintf(stderr, "child %d: %s\n", i, err.msg);
            _exit(r == 0 && strcmp(out, want) == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 4; i++) {
        int status;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_string_equal(names_in(g_cache), mb.hex);
    assert_int_equal(strlen(names_in(want)), 64 * 4 - 1);
}

/* A hardlink to an entry that does not exist: -ENOENT naming both. */
static void test_hardlink_missing(void **state)
{
    (void)state;
    static const struct tent l1[] = {{'h', "link", "no/such/file", 0, 0, 0, NULL, 0}};
    struct lspec ls[] = {{l1, 1, C_GZIP, T1}};
    struct blob mb;
    build_image(g_layout, ls, 1, &mb, NULL);
    expect_fail(g_layout, -ENOENT, "\"link\"", "hardlink target");
}

/* Bad arguments. */
static void test_arguments(void **state)
{
    (void)state;
    char out[PATH_MAX];
    struct sp_err err = {0};
    assert_int_equal(image_unpack(NULL, g_cache, out, sizeof(out), &err), -EINVAL);
    assert_int_equal(image_unpack(g_layout, NULL, out, sizeof(out), &err), -EINVAL);
    assert_int_equal(image_unpack(g_layout, g_cache, NULL, sizeof(out), &err), -EINVAL);
    assert_int_equal(image_unpack("", g_cache, out, sizeof(out), NULL), -EINVAL);
    /* too small for "<cache>/<64 hex>/rootfs": refused before any work */
    size_t need = strlen(g_cache) + 1 + 64 + 7 + 1;
    assert_int_equal(image_unpack(g_layout, g_cache, out, need - 1, &err), -ENAMETOOLONG);
    assert_non_null(strstr(err.msg, "needed"));
    /* a source that is neither a directory nor a file */
    expect_fail("/dev/null", -EINVAL, "neither", NULL);
    /* the cache is created when missing */
    static const struct tent l1[] = {{'f', "a", "a", 0644, 0, 0, NULL, 0}};
    struct lspec ls[] = {{l1, 1, C_GZIP, T1}};
    struct blob mb;
    build_image(g_layout, ls, 1, &mb, NULL);
    char cache2[PATH_MAX];
    snprintf(cache2, sizeof(cache2), "%s/new/cache", g_base);
    assert_int_equal(image_unpack(g_layout, cache2, out, need + 4, &err), 0);
    struct stat st;
    assert_int_equal(stat(cache2, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
}

int main(void)
{
    umask(022);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_two_layers),    T(test_cache_hit),      T(test_digest_mismatch),
        T(test_size_mismatch), T(test_hostile_layer),  T(test_hostile_loop),
        T(test_missing),       T(test_json_errors),    T(test_limits),
        T(test_platforms),     T(test_layout_tarball), T(test_zstd_and_docker),
        T(test_deep_whiteout), T(test_concurrent),     T(test_hardlink_missing),
        T(test_arguments),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
