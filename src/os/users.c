/* SPDX-License-Identifier: MIT */
/* User lookup: see users.h. */
#include "users.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/str.h"

#define FIELDS_MAX 8

/* Splits a line at ':' into at most FIELDS_MAX fields (in place); returns the count. */
static int split_fields(char *line, char **f)
{
    int n = 0;
    line[strcspn(line, "\n")] = '\0';
    f[n++] = line;
    for (char *p = line; *p && n < FIELDS_MAX; p++) {
        if (*p == ':') {
            *p = '\0';
            f[n++] = p + 1;
        }
    }
    return n;
}

static FILE *open_db(const char *root, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s%s/etc/%s", root, root[strlen(root) - 1] == '/' ? "." : "",
             name);
    return fopen(path, "re");
}

static int parse_id(const char *s, unsigned *out)
{
    uint64_t v;
    if (sp_parse_u64(s, 0xfffffffeu, &v) < 0) return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

/* Finds a passwd entry by name (name != NULL) or uid. 1 found, 0 not, -errno. */
static int find_passwd(const char *root, const char *name, uid_t uid, struct user_ids *out)
{
    FILE *f = open_db(root, "passwd");
    if (!f) return errno == ENOENT ? 0 : -errno;
    char line[1024];
    char *fld[FIELDS_MAX];
    int found = 0;
    while (fgets(line, sizeof(line), f)) {
        if (split_fields(line, fld) < 7) continue;
        unsigned u, g;
        if (parse_id(fld[2], &u) < 0 || parse_id(fld[3], &g) < 0) continue;
        if (name ? strcmp(fld[0], name) != 0 : u != uid) continue;
        out->uid = u;
        out->gid = g;
        snprintf(out->name, sizeof(out->name), "%s", fld[0]);
        snprintf(out->home, sizeof(out->home), "%s", fld[5]);
        found = 1;
        break;
    }
    fclose(f);
    return found;
}

/* Resolves a group name or number; 1 found, 0 not, -errno. */
static int find_group(const char *root, const char *name, gid_t *gid)
{
    unsigned g;
    if (parse_id(name, &g) == 0) {
        *gid = g;
        return 1;
    }
    FILE *f = open_db(root, "group");
    if (!f) return errno == ENOENT ? 0 : -errno;
    char line[4096];
    char *fld[FIELDS_MAX];
    int found = 0;
    while (fgets(line, sizeof(line), f)) {
        if (split_fields(line, fld) < 3 || strcmp(fld[0], name) != 0) continue;
        if (parse_id(fld[2], &g) < 0) continue;
        *gid = g;
        found = 1;
        break;
    }
    fclose(f);
    return found;
}

/* Supplementary groups: every group listing the user's name as a member. */
static void find_supplementary(const char *root, struct user_ids *u)
{
    u->n_groups = 0;
    u->groups[u->n_groups++] = u->gid;
    if (!u->name[0]) return;
    FILE *f = open_db(root, "group");
    if (!f) return;
    char line[4096];
    char *fld[FIELDS_MAX];
    while (fgets(line, sizeof(line), f) && u->n_groups < USERS_MAX_GROUPS) {
        if (split_fields(line, fld) < 4) continue;
        unsigned g;
        if (parse_id(fld[2], &g) < 0 || g == u->gid) continue;
        for (char *m = strtok(fld[3], ","); m; m = strtok(NULL, ",")) {
            if (strcmp(m, u->name) == 0) {
                u->groups[u->n_groups++] = g;
                break;
            }
        }
    }
    fclose(f);
}

int users_lookup(const char *root, const char *spec, struct user_ids *out, struct sp_err *err)
{
    char user[256];
    const char *group = NULL;
    const char *colon = strchr(spec, ':');

    memset(out, 0, sizeof(*out));
    if (!*spec) return sp_err_set(err, -EINVAL, "user: empty");
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (ulen == 0 || ulen >= sizeof(user))
        return sp_err_set(err, -EINVAL, "user \"%s\": malformed", spec);
    memcpy(user, spec, ulen);
    user[ulen] = '\0';
    if (colon) group = colon + 1;

    unsigned uid;
    int r;
    if (parse_id(user, &uid) == 0) {
        r = find_passwd(root, NULL, uid, out);
        if (r < 0) return sp_err_set(err, r, "user \"%s\": reading passwd: %s", spec, strerror(-r));
        if (r == 0) {
            out->uid = uid;
            out->gid = uid;
            snprintf(out->home, sizeof(out->home), "/");
        }
    } else {
        r = find_passwd(root, user, 0, out);
        if (r < 0) return sp_err_set(err, r, "user \"%s\": reading passwd: %s", spec, strerror(-r));
        if (r == 0) return sp_err_set(err, -ENOENT, "unknown user \"%s\"", user);
    }
    if (group) {
        if (!*group) return sp_err_set(err, -EINVAL, "user \"%s\": empty group", spec);
        r = find_group(root, group, &out->gid);
        if (r < 0) return sp_err_set(err, r, "group \"%s\": %s", group, strerror(-r));
        if (r == 0) return sp_err_set(err, -ENOENT, "unknown group \"%s\"", group);
    }
    find_supplementary(root, out);
    return 0;
}

void users_uid_name(const char *root, uid_t uid, char *buf, size_t len)
{
    struct user_ids u;
    if (find_passwd(root, NULL, uid, &u) == 1)
        snprintf(buf, len, "%s", u.name);
    else
        snprintf(buf, len, "%u", (unsigned)uid);
}

void users_gid_name(const char *root, gid_t gid, char *buf, size_t len)
{
    snprintf(buf, len, "%u", (unsigned)gid);
    FILE *f = open_db(root, "group");
    if (!f) return;
    char line[4096];
    char *fld[FIELDS_MAX];
    while (fgets(line, sizeof(line), f)) {
        unsigned g;
        if (split_fields(line, fld) < 3 || parse_id(fld[2], &g) < 0 || g != gid) continue;
        snprintf(buf, len, "%s", fld[0]);
        break;
    }
    fclose(f);
}
