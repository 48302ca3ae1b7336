/* SPDX-License-Identifier: MIT */
/*
 * A streaming multipart/form-data parser (RFC 7578): bytes in as they arrive, parts out through
 * callbacks, never holding more than one header block (MP_MAX_HEADER) and a delimiter's length
 * of body. Pure: no I/O, unit tested.
 */
#ifndef SP_MULTIPART_H
#define SP_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/buf.h"

#define MP_MAX_BOUNDARY 70   /* RFC 2046 */
#define MP_MAX_HEADER   8192 /* one part's header block */

struct mp_callbacks {
    /* A part starts: its form name and file name ("" when absent). Return < 0 to stop. */
    int (*on_part)(void *ud, const char *name, const char *filename);
    int (*on_data)(void *ud, const char *data, size_t len); /* the part's bytes, in order */
    int (*on_part_end)(void *ud);
};

enum mp_state { MP_PREAMBLE, MP_AFTER_DELIM, MP_HEADERS, MP_BODY, MP_DONE, MP_ERROR };

struct mp_parser {
    char delim[MP_MAX_BOUNDARY + 5]; /* "\r\n--" boundary */
    size_t delim_len;
    enum mp_state state;
    struct sp_buf buf; /* bytes not yet consumed */
    const struct mp_callbacks *cb;
    void *ud;
    char error[120];
};

/* Takes the boundary from a Content-Type value ("multipart/form-data; boundary=…", quoted or
 * not). -EINVAL when it is not multipart/form-data or has no valid boundary. */
int mp_init(struct mp_parser *p, const char *content_type, const struct mp_callbacks *cb, void *ud);
/* Feeds bytes; 0, -EINVAL on malformed input (p->error says why), a callback's error, or
 * -ENOMEM. */
int mp_feed(struct mp_parser *p, const char *data, size_t len);
/* At the end of the body: 0 when the closing delimiter was seen, else -EINVAL. */
int mp_finish(struct mp_parser *p);
void mp_free(struct mp_parser *p);

#endif
