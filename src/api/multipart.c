/* SPDX-License-Identifier: MIT */
/* Streaming multipart/form-data: see multipart.h. */
#include "multipart.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int fail(struct mp_parser *p, const char *why)
{
    p->state = MP_ERROR;
    snprintf(p->error, sizeof(p->error), "malformed multipart body: %s", why);
    return -EINVAL;
}

/* A parameter of a header value (boundary=…, name="…"), unquoted into out. */
static bool header_param(const char *v, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    for (const char *s = v; (s = strchr(s, ';'));) {
        s++;
        while (*s == ' ' || *s == '\t')
            s++;
        if (strncasecmp(s, key, klen) != 0 || s[klen] != '=') continue;
        s += klen + 1;
        size_t n = 0;
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1]) s++;
                if (n + 1 < len) out[n++] = *s;
            }
        } else {
            for (; *s && *s != ';' && *s != ' ' && *s != '\t'; s++)
                if (n + 1 < len) out[n++] = *s;
        }
        out[n] = 0;
        return true;
    }
    return false;
}

int mp_init(struct mp_parser *p, const char *content_type, const struct mp_callbacks *cb, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->cb = cb;
    p->ud = ud;
    char b[MP_MAX_BOUNDARY + 2];
    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0 ||
        !header_param(content_type, "boundary", b, sizeof(b)) || !b[0] ||
        strlen(b) > MP_MAX_BOUNDARY)
        return -EINVAL;
    p->delim_len = (size_t)snprintf(p->delim, sizeof(p->delim), "\r\n--%s", b);
    p->state = MP_PREAMBLE;
    /* the first delimiter has no CRLF before it: pretend it had */
    return sp_buf_append(&p->buf, "\r\n", 2);
}

/* One part's header block (without its final CRLF CRLF): finds Content-Disposition. */
static int part_headers(struct mp_parser *p, char *h)
{
    char name[256] = "", filename[1024] = "";
    for (char *line = h; line && *line;) {
        char *end = strstr(line, "\r\n");
        if (end) *end = 0;
        if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
            header_param(line, "name", name, sizeof(name));
            header_param(line, "filename", filename, sizeof(filename));
        }
        line = end ? end + 2 : NULL;
    }
    p->state = MP_BODY;
    return p->cb->on_part ? p->cb->on_part(p->ud, name, filename) : 0;
}

static int step(struct mp_parser *p)
{
    const char *d = sp_buf_head(&p->buf);
    size_t n = sp_buf_pending(&p->buf);
    switch (p->state) {
    case MP_PREAMBLE: {
        const char *at = memmem(d, n, p->delim, p->delim_len);
        if (!at) {
            if (n >= p->delim_len) sp_buf_consume(&p->buf, n - (p->delim_len - 1));
            return 0;
        }
        sp_buf_consume(&p->buf, (size_t)(at - d) + p->delim_len);
        p->state = MP_AFTER_DELIM;
        return 1;
    }
    case MP_AFTER_DELIM: {
        size_t i = 0;
        while (i < n && (d[i] == ' ' || d[i] == '\t')) /* transport padding */
            i++;
        if (n - i < 2) return 0;
        if (d[i] == '-' && d[i + 1] == '-') {
            p->state = MP_DONE;
            sp_buf_consume(&p->buf, n); /* the epilogue is ignored */
            return 0;
        }
        if (d[i] != '\r' || d[i + 1] != '\n') return fail(p, "bad delimiter line");
        sp_buf_consume(&p->buf, i + 2);
        p->state = MP_HEADERS;
        return 1;
    }
    case MP_HEADERS: {
        if (n >= 2 && d[0] == '\r' && d[1] == '\n') { /* a part with no headers */
            sp_buf_consume(&p->buf, 2);
            char none[1] = "";
            int r = part_headers(p, none);
            return r < 0 ? r : 1;
        }
        const char *end = memmem(d, n, "\r\n\r\n", 4);
        if (!end) return n > MP_MAX_HEADER ? fail(p, "part headers too large") : 0;
        size_t hl = (size_t)(end - d);
        if (hl > MP_MAX_HEADER) return fail(p, "part headers too large");
        char h[MP_MAX_HEADER + 1];
        memcpy(h, d, hl);
        h[hl] = 0;
        sp_buf_consume(&p->buf, hl + 4);
        int r = part_headers(p, h);
        return r < 0 ? r : 1;
    }
    case MP_BODY: {
        const char *at = memmem(d, n, p->delim, p->delim_len);
        size_t emit = at ? (size_t)(at - d) : (n >= p->delim_len ? n - (p->delim_len - 1) : 0);
        if (emit && p->cb->on_data) {
            int r = p->cb->on_data(p->ud, d, emit);
            if (r < 0) return r;
        }
        sp_buf_consume(&p->buf, emit);
        if (!at) return 0;
        sp_buf_consume(&p->buf, p->delim_len);
        p->state = MP_AFTER_DELIM;
        if (p->cb->on_part_end) {
            int r = p->cb->on_part_end(p->ud);
            if (r < 0) return r;
        }
        return 1;
    }
    case MP_DONE: sp_buf_consume(&p->buf, n); return 0;
    case MP_ERROR: return -EINVAL;
    }
    return -EINVAL;
}

int mp_feed(struct mp_parser *p, const char *data, size_t len)
{
    if (p->state == MP_ERROR) return -EINVAL;
    if (p->state == MP_DONE) return 0;
    if (sp_buf_append(&p->buf, data, len) < 0) return -ENOMEM;
    int r;
    while ((r = step(p)) > 0)
        ;
    return r;
}

int mp_finish(struct mp_parser *p)
{
    if (p->state == MP_DONE) return 0;
    if (p->state != MP_ERROR) fail(p, "the closing delimiter is missing");
    return -EINVAL;
}

void mp_free(struct mp_parser *p)
{
    sp_buf_free(&p->buf);
}
