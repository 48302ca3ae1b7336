/* SPDX-License-Identifier: MIT */
/* SHA-1 (FIPS 180-4), for the WebSocket handshake only: not for anything security-relevant. */
#ifndef SP_SHA1_H
#define SP_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SP_SHA1_LEN 20

void sp_sha1(const void *data, size_t n, unsigned char out[SP_SHA1_LEN]);

#endif
