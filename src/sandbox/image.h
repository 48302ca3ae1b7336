/* SPDX-License-Identifier: MIT */
/*
 * OCI images unpacked into a cache of root filesystems, for sandboxes (issue 8): an image is
 * unpacked once into a lower layer that later sandboxes share.
 *
 * Input: an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), or a
 * tar archive of one (uncompressed, gzip or zstd; `index.json` at the top of the archive, a
 * leading "./" is fine), such as `skopeo copy ... oci-archive:` or Docker 25+ `docker save`.
 *
 * The image: index.json's `manifests` lists manifests and nested indexes (OCI and Docker media
 * types). The one for this machine is the first whose platform is linux/<arch> (the architecture
 * this daemon was built for, in Go's names: amd64, arm64, ...); when none matches, the only
 * one; several and none matching is an error. A nested index is followed the same way (at most
 * IMAGE_MAX_INDEX_DEPTH levels). The manifest gives the config (read, checked against its digest,
 * must be a JSON object, not used further) and the layers, applied in order. Layer media types:
 * application/vnd.oci.image.layer.v1.tar, +gzip, +zstd (and the nondistributable variants),
 * application/vnd.docker.image.rootfs.diff.tar.gzip and ...foreign.diff.tar.gzip. The compression
 * is detected from the data (gzip, zstd or none); a zstd layer needs a libarchive built with
 * libzstd, else a clear -ENOTSUP.
 *
 * Integrity: every blob is checked against its descriptor: the file size first, then the SHA-256
 * of every byte, hashed while it is read (layers as libarchive streams them; the rest of a
 * stream after the end of the tar is read and hashed too). A mismatch is -EBADMSG naming the
 * blob. Only sha256 digests are supported (-ENOTSUP otherwise). A layer is verified at its end,
 * after its entries were written: the content of a corrupt layer may have reached the temporary
 * directory, never the cache (and always confined as below). index.json and oci-layout are not
 * content-addressed: they are read as they are.
 *
 * Layers are applied as OCI's image-spec says, with libarchive reading the tar and our code
 * writing every file:
 *  - regular files (sparse ones too), directories, symlinks (targets kept as written, absolute
 *    ones too), hardlinks, char and block devices and FIFOs (mknod: needs root); sockets are
 *    skipped. Mode (with setuid/setgid/sticky), owner (lchown; when not running as root, an EPERM
 *    is ignored and files keep our ids), mtime and atime (directories' times are set at the end
 *    of their layer, after their entries) and extended attributes (of files and directories;
 *    ENOTSUP from the file system is ignored).
 *  - An entry replaces what lower layers have at its path, except that a directory entry on an
 *    existing directory keeps the directory's content (its metadata is updated). Replacing a
 *    directory by a non-directory removes the directory's tree. Missing parent directories are
 *    created (0755 less the umask, owned by us).
 *  - `.wh.<name>` removes <name> (the whole tree for a directory) from the lower layers; what the
 *    same layer adds at that path (before or after the whiteout in the tar) is kept.
 *    `.wh..wh..opq` in a directory removes everything lower layers put there (recursively), and
 *    keeps what this layer adds there (before or after the marker). Other `.wh..wh.` names (aufs
 *    metadata) are ignored; whiteout files are never written. A whiteout of "", "." or ".." is an
 *    error.
 *
 * Confinement: nothing is ever written outside the root filesystem being built.
 *  - Entry names (and hardlink targets) are NORMALISED, not refused: a leading "/" is dropped and
 *    the name is cleaned lexically as if it were joined to "/" (empty and "." components
 *    dropped, ".." removes the component before it and stays at the root), as containerd does.
 *    So "../../escape" and "/escape" are both written as <rootfs>/escape. An entry whose name
 *    cleans to the root itself must be a directory (it sets the root's metadata).
 *  - The parent directory of every entry is then resolved by the kernel inside the root
 *    filesystem (openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, src/os/fsroot.h): symlinks
 *    met on the way, absolute or relative, are followed as if the root filesystem were "/", so
 *    with a layer's symlink "hostetc" -> "/etc", the entry "hostetc/passwd" is written to
 *    <rootfs>/etc/passwd. The entry itself is never followed: it is created in that directory,
 *    replacing a symlink in its place. A path that does not resolve (a loop such as
 *    "etc" -> "/etc" then "etc/passwd" is -ELOOP, a dangling symlink parent -EEXIST) fails the
 *    image.
 *  - A hardlink's target is resolved the same way, so it is always a file inside the root
 *    filesystem (the link is to the target entry itself, never followed if it is a symlink).
 *
 * The layout directory is read through the same confinement (its own directory as the root). A
 * tarball is first extracted into <cache>/tmp-XXXXXX (regular files and directories only, names
 * normalised as above; other entry types are skipped) and removed afterwards. For a tarball whose
 * index.json names a manifest directly, the cache is checked before extracting (index.json is
 * read from the archive first); with a nested index the tarball is extracted to find the
 * manifest.
 *
 * Cache: <cache>/<hex of the manifest digest>/rootfs. cache_dir is created (0700) when missing.
 * Unpacking goes into <cache>/tmp-XXXXXX/rootfs (mode 0700 for tmp-XXXXXX); when every layer
 * applied, the file system is synced (syncfs) and tmp-XXXXXX renamed to <hex>, so an entry is
 * complete or absent. On any error the temporary directories are removed. Two processes
 * unpacking the same image concurrently both succeed (the second rename loses, its copy is
 * removed, and both return the same path). A crash leaves a tmp-* directory behind: a caller may
 * remove tmp-* at start-up, when no unpack runs. An entry <hex> without a rootfs directory (not
 * something this code leaves) is removed and unpacked again. Never removed otherwise: garbage
 * collection is the caller's.
 *
 * Runs as root in the daemon (devices, ownership, xattrs in trusted.*); as another user, images
 * with device nodes fail (-EPERM) and read-only directories may stop an unpack. Blocking file
 * system work: call it from a worker, not the event loop. Calls may run in parallel threads
 * and processes, on the same cache too (it switches only the calling thread to the C.UTF-8
 * locale for libarchive's name conversions, and back; names are kept byte for byte, UTF-8 or
 * not).
 *
 * Errors (the record names the file, blob, JSON field or tar entry):
 *  -EINVAL invalid arguments or JSON (wrong type, missing field, bad digest), a whiteout of "."
 *  -ENOENT no oci-layout / index.json, a missing blob, no manifest in the index, a missing
 *          hardlink target
 *  -EBADMSG a blob whose size or digest does not match, a layer that is not a valid tar stream
 *  -ENOTSUP an unsupported media type, digest algorithm, layout version or schemaVersion; zstd
 *          without libzstd
 *  -E2BIG  one of the limits below
 *  -ENAMETOOLONG rootfs_out too small, a path of PATH_MAX bytes or more
 *  other -errno from the file system (with the entry's name)
 */
#ifndef SP_IMAGE_H
#define SP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

/* index.json, nested indexes, manifests and configs: at most this many bytes each */
#define IMAGE_MAX_JSON (4u << 20)
/* oci-layout */
#define IMAGE_MAX_LAYOUT_FILE 4096
/* descriptors in one index's `manifests` */
#define IMAGE_MAX_MANIFESTS 1024
/* nested indexes below index.json */
#define IMAGE_MAX_INDEX_DEPTH 4
/* layers in a manifest (Docker's own limit is 127 + 1) */
#define IMAGE_MAX_LAYERS 128
/* the size a descriptor may announce for any blob */
#define IMAGE_MAX_BLOB (UINT64_C(64) << 30)
/* tar entries in one layer (and in a layout tarball) */
#define IMAGE_MAX_ENTRIES (1u << 20)
/* bytes of file data (sizes as the tar headers give them) over all layers of an image, and over
 * a layout tarball */
#define IMAGE_MAX_UNPACKED (UINT64_C(256) << 30)

/*
 * Unpacks an OCI image (an OCI image layout directory — oci-layout, index.json, blobs/sha256/...
 * — or a tar archive of one) into the cache and says where its root filesystem is. The cache key
 * is the manifest digest: a second call for the same image returns the same directory at once
 * without unpacking. The result is complete or absent: unpacking goes into <cache>/tmp-XXXX and
 * is renamed to <cache>/<hex digest>/rootfs only when every layer applied.
 *
 * src: the layout directory or tarball (a trusted daemon path); cache_dir: the cache directory.
 * rootfs_out (len bytes) gets "<cache_dir>/<hex>/rootfs" (cache_dir without trailing slashes).
 * 0 / -errno with err filled (see the list above); rootfs_out is written only on success.
 */
int image_unpack(const char *src, const char *cache_dir, char *rootfs_out, size_t len,
                 struct sp_err *err);

#endif
