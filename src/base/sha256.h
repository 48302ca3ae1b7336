/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4 §6.2), one-shot and incremental, for content-addressed data (OCI image
 * blobs are named by their SHA-256 digest and checked against it while they are read).
 *
 * Incremental use: sp_sha256_init, any number of sp_sha256_update calls (any lengths, including
 * 0), then sp_sha256_final, which writes the digest and leaves the context to be initialised
 * again. Messages up to 2^61-1 bytes (the 64-bit bit count of the padding). No allocation, no
 * failure.
 */
#ifndef SP_SHA256_H
#define SP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SP_SHA256_LEN 32
/* 64 lower-case hex digits and a NUL */
#define SP_SHA256_HEX_LEN (2 * SP_SHA256_LEN + 1)

struct sp_sha256 {
    uint32_t h[8];           /* the intermediate hash value H(i) */
    uint64_t total;          /* bytes hashed so far */
    unsigned char block[64]; /* the partial block not yet hashed */
    size_t used;             /* bytes in block, 0..63 */
};

void sp_sha256_init(struct sp_sha256 *c);
void sp_sha256_update(struct sp_sha256 *c, const void *data, size_t n);
void sp_sha256_final(struct sp_sha256 *c, unsigned char out[SP_SHA256_LEN]);

/* The digest of data[0..n) in one call (data may be NULL when n is 0, here and in update). */
void sp_sha256(const void *data, size_t n, unsigned char out[SP_SHA256_LEN]);

/* The digest as 64 lower-case hex digits (hex: SP_SHA256_HEX_LEN bytes). */
void sp_sha256_hex(const unsigned char digest[SP_SHA256_LEN], char hex[SP_SHA256_HEX_LEN]);

#endif
