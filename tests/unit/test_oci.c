/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/container/oci.c: the configs containerd's ctr and podman send, parsed in
 * full; defaults and tolerance (unknown keys, nulls); every error class with the JSON path it
 * must name; the namespace cross-checks; loading from a bundle directory (a fresh temporary
 * directory per test) with its size limit and Go's uint64 integers; the name tables.
 *
 * JSON in this file is written with single quotes for readability; q() turns them into double
 * quotes (no test string needs a literal single quote).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../../src/base/compiler.h"
#include "../../src/base/str.h"
#include "../../src/container/oci.h"

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        const char *n_ = (needle);                                                                 \
        if (!h_ || !strstr(h_, n_))                                                                \
            fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                    \
    } while (0)

#define CAP(n) (UINT64_C(1) << (n))

/* A copy of s with every ' turned into " (a static buffer per call, four in rotation). */
static const char *q(const char *s)
{
    static char bufs[4][16384];
    static unsigned next;
    char *b = bufs[next++ % 4];
    size_t n = strlen(s);
    if (n >= sizeof(bufs[0])) fail_msg("test JSON too long");
    for (size_t i = 0; i <= n; i++)
        b[i] = s[i] == '\'' ? '"' : s[i];
    return b;
}

static json_t *load_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(q(text), 0, &jerr);
    if (!j) fail_msg("bad test JSON %s: line %d: %s", text, jerr.line, jerr.text);
    return j;
}

/* oci_spec_from_json on (single-quoted) JSON text. */
static int parse_as(const char *text, struct oci_spec **out, struct sp_err *err)
{
    json_t *j = load_json(text);
    *out = (struct oci_spec *)(uintptr_t)1; /* must be reset */
    sp_err_clear(err);
    int r = oci_spec_from_json(j, out, err);
    json_decref(j);
    return r;
}

static struct oci_spec *parse_ok(const char *text)
{
    struct oci_spec *s;
    struct sp_err err;
    int r = parse_as(text, &s, &err);
    if (r != 0) fail_msg("%s: got %d (%s), want success", text, r, err.msg);
    assert_non_null(s);
    return s;
}

/* Compares a NULL-terminated vector with the given strings (terminated by NULL). */
static void check_strv(char **v, ...)
{
    va_list ap;
    size_t i = 0;
    const char *want;
    assert_non_null(v);
    va_start(ap, v);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (!v[i]) fail_msg("vector has %zu elements, want more (next \"%s\")", i, want);
        if (strcmp(v[i], want) != 0) fail_msg("element %zu is \"%s\", want \"%s\"", i, v[i], want);
        i++;
    }
    va_end(ap);
    if (v[i]) fail_msg("vector has an extra element %zu \"%s\"", i, v[i]);
}

static void check_mount(const struct oci_mount *m, const char *dest, const char *type,
                        const char *source)
{
    assert_string_equal(m->destination, dest);
    if (type)
        assert_string_equal(m->type, type);
    else
        assert_null(m->type);
    if (source)
        assert_string_equal(m->source, source);
    else
        assert_null(m->source);
    assert_non_null(m->options);
}

/* --- realistic configs ----------------------------------------------------------------------- */

#define CTR_CAPS                                                                                   \
    "['CAP_CHOWN','CAP_DAC_OVERRIDE','CAP_FSETID','CAP_FOWNER','CAP_MKNOD','CAP_NET_RAW',"         \
    "'CAP_SETGID','CAP_SETUID','CAP_SETFCAP','CAP_SETPCAP','CAP_NET_BIND_SERVICE',"                \
    "'CAP_SYS_CHROOT','CAP_KILL','CAP_AUDIT_WRITE']"

/* What containerd 1.6's `ctr run --rootfs DIR c1 /bin/sh -c '…'` writes (populateDefaultUnixSpec).
 */
static const char ctr_spec[] =
    "{'ociVersion':'1.0.2-dev',"
    " 'process':{'user':{'uid':0,'gid':0},"
    "  'args':['/bin/sh','-c','echo hello; id'],"
    "  'env':['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],"
    "  'cwd':'/',"
    "  'capabilities':{'bounding':" CTR_CAPS ",'effective':" CTR_CAPS ",'permitted':" CTR_CAPS "},"
    "  'rlimits':[{'type':'RLIMIT_NOFILE','hard':1024,'soft':1024}],"
    "  'noNewPrivileges':true},"
    " 'root':{'path':'/var/lib/bb/rootfs'},"
    " 'mounts':["
    "  {'destination':'/proc','type':'proc','source':'proc','options':['nosuid','noexec','nodev']},"
    "  {'destination':'/dev','type':'tmpfs','source':'tmpfs',"
    "   'options':['nosuid','strictatime','mode=755','size=65536k']},"
    "  {'destination':'/dev/pts','type':'devpts','source':'devpts',"
    "   'options':['nosuid','noexec','newinstance','ptmxmode=0666','mode=0620','gid=5']},"
    "  {'destination':'/dev/shm','type':'tmpfs','source':'shm',"
    "   'options':['nosuid','noexec','nodev','mode=1777','size=65536k']},"
    "  {'destination':'/dev/mqueue','type':'mqueue','source':'mqueue',"
    "   'options':['nosuid','noexec','nodev']},"
    "  {'destination':'/sys','type':'sysfs','source':'sysfs',"
    "   'options':['nosuid','noexec','nodev','ro']},"
    "  {'destination':'/run','type':'tmpfs','source':'tmpfs',"
    "   'options':['nosuid','strictatime','mode=755','size=65536k']}],"
    " 'linux':{"
    "  'resources':{'devices':[{'allow':false,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':1,'minor':3,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':1,'minor':8,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':1,'minor':7,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':5,'minor':0,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':1,'minor':5,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':1,'minor':9,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':5,'minor':1,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':136,'access':'rwm'},"
    "    {'allow':true,'type':'c','major':5,'minor':2,'access':'rwm'}],"
    "   'cpu':{'shares':1024}},"
    "  'cgroupsPath':'/default/c1',"
    "  'namespaces':[{'type':'pid'},{'type':'ipc'},{'type':'uts'},{'type':'mount'},"
    "   {'type':'network'}],"
    "  'maskedPaths':['/proc/acpi','/proc/asound','/proc/kcore','/proc/keys',"
    "   '/proc/latency_stats','/proc/timer_list','/proc/timer_stats','/proc/sched_debug',"
    "   '/sys/firmware','/proc/scsi'],"
    "  'readonlyPaths':['/proc/bus','/proc/fs','/proc/irq','/proc/sys','/proc/sysrq-trigger']}}";

#define PODMAN_CAPS                                                                                \
    "['CAP_CHOWN','CAP_DAC_OVERRIDE','CAP_FOWNER','CAP_FSETID','CAP_KILL',"                        \
    "'CAP_NET_BIND_SERVICE','CAP_SETFCAP','CAP_SETGID','CAP_SETPCAP','CAP_SETUID',"                \
    "'CAP_SYS_CHROOT']"

/* What podman 4.3 writes for `run --network none --ulimit … --rootfs DIR /bin/sh -c …`. */
static const char podman_spec[] =
    "{'ociVersion':'1.0.2-dev',"
    " 'process':{'terminal':false,"
    "  'user':{'uid':0,'gid':0,'umask':18,'additionalGids':[0,1,2,3,4,6,10,11,20,26,27]},"
    "  'args':['/bin/sh','-c','echo hi; id; hostname'],"
    "  'env':['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',"
    "   'TERM=xterm','container=podman','HOSTNAME=5d8c3a6e4f0b','HOME=/root'],"
    "  'cwd':'/',"
    "  'capabilities':{'bounding':" PODMAN_CAPS ",'effective':" PODMAN_CAPS
    ",'permitted':" PODMAN_CAPS "},"
    "  'rlimits':[{'type':'RLIMIT_NOFILE','hard':20000,'soft':20000},"
    "   {'type':'RLIMIT_NPROC','hard':32768,'soft':32768}],"
    "  'oomScoreAdj':0},"
    " 'root':{'path':'/home/u/bb/rootfs'},"
    " 'hostname':'5d8c3a6e4f0b',"
    " 'mounts':["
    "  {'destination':'/proc','type':'proc','source':'proc','options':['nosuid','noexec','nodev']},"
    "  {'destination':'/dev','type':'tmpfs','source':'tmpfs',"
    "   'options':['nosuid','strictatime','mode=755','size=65536k']},"
    "  {'destination':'/sys','type':'sysfs','source':'sysfs',"
    "   'options':['nosuid','noexec','nodev','ro']},"
    "  {'destination':'/dev/pts','type':'devpts','source':'devpts',"
    "   'options':['nosuid','noexec','newinstance','ptmxmode=0666','mode=0620','gid=5']},"
    "  {'destination':'/dev/mqueue','type':'mqueue','source':'mqueue',"
    "   'options':['nosuid','noexec','nodev']},"
    "  {'destination':'/etc/hosts','type':'bind',"
    "   'source':'/run/containers/storage/overlay-containers/5d8c/userdata/hosts',"
    "   'options':['bind','rprivate']},"
    "  {'destination':'/etc/hostname','type':'bind',"
    "   'source':'/run/containers/storage/overlay-containers/5d8c/userdata/hostname',"
    "   'options':['bind','rprivate']},"
    "  {'destination':'/run/.containerenv','type':'bind',"
    "   'source':'/run/containers/storage/overlay-containers/5d8c/userdata/.containerenv',"
    "   'options':['bind','rprivate']},"
    "  {'destination':'/dev/shm','type':'bind',"
    "   'source':'/var/lib/containers/storage/overlay-containers/5d8c/userdata/shm',"
    "   'options':['bind','rprivate','nosuid','noexec','nodev']},"
    "  {'destination':'/sys/fs/cgroup','type':'cgroup','source':'cgroup',"
    "   'options':['rprivate','nosuid','noexec','nodev','relatime','ro']}],"
    " 'annotations':{'io.container.manager':'libpod','io.kubernetes.cri-o.Created':"
    "  '2023-04-01T10:00:00.000000000Z','io.podman.annotations.autoremove':'TRUE',"
    "  'org.opencontainers.image.stopSignal':'15'},"
    " 'linux':{"
    "  'sysctl':{'net.ipv4.ping_group_range':'0 0'},"
    "  'resources':{'devices':[{'allow':false,'access':'rwm'}],'pids':{'limit':2048}},"
    "  'cgroupsPath':'/libpod_parent/libpod-5d8c3a6e4f0b',"
    "  'namespaces':[{'type':'pid'},{'type':'network'},{'type':'ipc'},{'type':'uts'},"
    "   {'type':'mount'}],"
    "  'seccomp':{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':38,"
    "   'architectures':['SCMP_ARCH_X86_64','SCMP_ARCH_X86','SCMP_ARCH_X32'],"
    "   'syscalls':[{'names':['read','write','exit_group'],'action':'SCMP_ACT_ALLOW'},"
    "    {'names':['personality'],'action':'SCMP_ACT_ALLOW',"
    "     'args':[{'index':0,'value':0,'valueTwo':0,'op':'SCMP_CMP_EQ'}]}]},"
    "  'maskedPaths':['/proc/acpi','/proc/kcore','/proc/keys','/proc/latency_stats',"
    "   '/proc/timer_list','/proc/timer_stats','/proc/sched_debug','/proc/scsi',"
    "   '/sys/firmware','/sys/fs/selinux','/sys/dev/block'],"
    "  'readonlyPaths':['/proc/asound','/proc/bus','/proc/fs','/proc/irq','/proc/sys',"
    "   '/proc/sysrq-trigger']}}";

static void test_ctr_spec(void **state)
{
    (void)state;
    struct oci_spec *s = parse_ok(ctr_spec);

    assert_string_equal(s->oci_version, "1.0.2-dev");
    assert_string_equal(s->root_path, "/var/lib/bb/rootfs");
    assert_false(s->root_readonly);
    assert_true(s->has_process);
    const struct oci_process *p = &s->process;
    assert_false(p->terminal);
    assert_int_equal(p->console_height, 0);
    assert_int_equal(p->uid, 0);
    assert_int_equal(p->gid, 0);
    assert_int_equal(p->n_additional_gids, 0);
    assert_false(p->has_umask);
    check_strv(p->args, "/bin/sh", "-c", "echo hello; id", NULL);
    check_strv(p->env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL);
    assert_string_equal(p->cwd, "/");

    uint64_t want = CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_FSETID) | CAP(CAP_FOWNER) |
                    CAP(CAP_MKNOD) | CAP(CAP_NET_RAW) | CAP(CAP_SETGID) | CAP(CAP_SETUID) |
                    CAP(CAP_SETFCAP) | CAP(CAP_SETPCAP) | CAP(CAP_NET_BIND_SERVICE) |
                    CAP(CAP_SYS_CHROOT) | CAP(CAP_KILL) | CAP(CAP_AUDIT_WRITE);
    int ncaps = 0;
    for (int c = 0; c < 64; c++)
        ncaps += (want >> c) & 1;
    assert_int_equal(ncaps, 14);
    assert_true(p->caps.has_caps);
    assert_int_equal(p->caps.bounding, want);
    assert_int_equal(p->caps.effective, want);
    assert_int_equal(p->caps.permitted, want);
    assert_int_equal(p->caps.inheritable, 0);
    assert_int_equal(p->caps.ambient, 0);

    assert_int_equal(p->n_rlimits, 1);
    assert_int_equal(p->rlimits[0].resource, RLIMIT_NOFILE);
    assert_int_equal(p->rlimits[0].soft, 1024);
    assert_int_equal(p->rlimits[0].hard, 1024);
    assert_true(p->no_new_privileges);
    assert_false(p->has_oom_score_adj);

    assert_null(s->hostname);
    assert_int_equal(s->n_mounts, 7);
    check_mount(&s->mounts[0], "/proc", "proc", "proc");
    check_strv(s->mounts[0].options, "nosuid", "noexec", "nodev", NULL);
    check_mount(&s->mounts[1], "/dev", "tmpfs", "tmpfs");
    check_strv(s->mounts[1].options, "nosuid", "strictatime", "mode=755", "size=65536k", NULL);
    check_mount(&s->mounts[2], "/dev/pts", "devpts", "devpts");
    check_strv(s->mounts[2].options, "nosuid", "noexec", "newinstance", "ptmxmode=0666",
               "mode=0620", "gid=5", NULL);
    check_mount(&s->mounts[3], "/dev/shm", "tmpfs", "shm");
    check_mount(&s->mounts[4], "/dev/mqueue", "mqueue", "mqueue");
    check_mount(&s->mounts[5], "/sys", "sysfs", "sysfs");
    check_strv(s->mounts[5].options, "nosuid", "noexec", "nodev", "ro", NULL);
    check_mount(&s->mounts[6], "/run", "tmpfs", "tmpfs");

    for (int t = 0; t < OCI_NS_COUNT; t++) {
        bool want_ns = t != OCI_NS_USER && t != OCI_NS_CGROUP;
        if (s->ns[t].wanted != want_ns) fail_msg("namespace %d: wanted %d", t, s->ns[t].wanted);
        assert_null(s->ns[t].path);
    }
    assert_int_equal(s->n_uid_mappings, 0);
    assert_int_equal(s->n_gid_mappings, 0);
    assert_int_equal(sp_strv_len(s->masked_paths), 10);
    assert_string_equal(s->masked_paths[0], "/proc/acpi");
    assert_string_equal(s->masked_paths[9], "/proc/scsi");
    check_strv(s->readonly_paths, "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
               "/proc/sysrq-trigger", NULL);
    assert_int_equal(s->n_sysctls, 0);
    assert_int_equal(s->n_devices, 0);
    assert_string_equal(s->cgroups_path, "/default/c1");
    assert_non_null(s->resources);
    assert_int_equal(json_array_size(json_object_get(s->resources, "devices")), 10);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(s->resources, "cpu"), "shares")), 1024);
    assert_null(s->rootfs_propagation);
    assert_null(s->seccomp);
    assert_null(s->annotations);
    assert_int_equal(s->prestart.n + s->create_runtime.n + s->create_container.n +
                         s->start_container.n + s->poststart.n + s->poststop.n,
                     0);
    oci_spec_free(s);
}

static void test_podman_spec(void **state)
{
    (void)state;
    struct oci_spec *s = parse_ok(podman_spec);
    const struct oci_process *p = &s->process;

    assert_true(s->has_process);
    assert_true(p->has_umask);
    assert_int_equal(p->umask, 022);
    assert_int_equal(p->n_additional_gids, 11);
    assert_int_equal(p->additional_gids[0], 0);
    assert_int_equal(p->additional_gids[10], 27);
    assert_int_equal(sp_strv_len(p->env), 5);
    assert_string_equal(p->env[2], "container=podman");
    uint64_t want = CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_FOWNER) | CAP(CAP_FSETID) |
                    CAP(CAP_KILL) | CAP(CAP_NET_BIND_SERVICE) | CAP(CAP_SETFCAP) | CAP(CAP_SETGID) |
                    CAP(CAP_SETPCAP) | CAP(CAP_SETUID) | CAP(CAP_SYS_CHROOT);
    assert_int_equal(p->caps.bounding, want);
    assert_int_equal(p->caps.permitted, want);
    assert_int_equal(p->n_rlimits, 2);
    assert_int_equal(p->rlimits[0].resource, RLIMIT_NOFILE);
    assert_int_equal(p->rlimits[0].hard, 20000);
    assert_int_equal(p->rlimits[1].resource, RLIMIT_NPROC);
    assert_int_equal(p->rlimits[1].soft, 32768);
    assert_false(p->no_new_privileges);
    assert_true(p->has_oom_score_adj);
    assert_int_equal(p->oom_score_adj, 0);

    assert_string_equal(s->hostname, "5d8c3a6e4f0b");
    assert_int_equal(s->n_mounts, 10);
    check_mount(&s->mounts[5], "/etc/hosts", "bind",
                "/run/containers/storage/overlay-containers/5d8c/userdata/hosts");
    check_strv(s->mounts[5].options, "bind", "rprivate", NULL);
    check_mount(&s->mounts[9], "/sys/fs/cgroup", "cgroup", "cgroup");
    assert_int_equal(s->n_sysctls, 1);
    assert_string_equal(s->sysctls[0].key, "net.ipv4.ping_group_range");
    assert_string_equal(s->sysctls[0].value, "0 0");
    assert_string_equal(s->cgroups_path, "/libpod_parent/libpod-5d8c3a6e4f0b");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(s->resources, "pids"), "limit")), 2048);
    assert_non_null(s->seccomp);
    assert_string_equal(json_string_value(json_object_get(s->seccomp, "defaultAction")),
                        "SCMP_ACT_ERRNO");
    assert_non_null(s->annotations);
    assert_string_equal(json_string_value(json_object_get(s->annotations, "io.container.manager")),
                        "libpod");
    assert_int_equal(sp_strv_len(s->masked_paths), 11);
    assert_int_equal(sp_strv_len(s->readonly_paths), 6);
    assert_true(s->ns[OCI_NS_NET].wanted);
    assert_false(s->ns[OCI_NS_USER].wanted);
    oci_spec_free(s);
}

/* What CRI sends an app container: joined namespaces, user namespace with mappings, devices,
 * hooks, oomScoreAdj, a console, a read-only root. The references outlive the document. */
static void test_cri_like_spec(void **state)
{
    (void)state;
    struct oci_spec *s = parse_ok(
        "{'ociVersion':'1.1.0','root':{'path':'rootfs','readonly':true},"
        " 'process':{'terminal':true,'consoleSize':{'height':24,'width':80},"
        "  'user':{'uid':1000,'gid':1000,'additionalGids':[5,4294967294]},"
        "  'args':['nginx'],'cwd':'/srv/www','oomScoreAdj':-998,"
        "  'capabilities':{'bounding':['CAP_NET_BIND_SERVICE','CAP_SYS_ADMIN','CAP_BPF'],"
        "   'ambient':['CAP_NET_BIND_SERVICE'],'inheritable':['CAP_CHECKPOINT_RESTORE']},"
        "  'rlimits':[{'type':'RLIMIT_CORE','hard':0,'soft':0}],"
        "  'apparmorProfile':'cri-containerd.apparmor.d','selinuxLabel':'system_u:r:c'},"
        " 'hostname':'pod-a',"
        " 'mounts':[{'destination':'/etc/hosts','source':'/var/lib/k/hosts',"
        "   'options':['rbind','rprivate','ro']}],"
        " 'linux':{'namespaces':[{'type':'pid'},{'type':'network','path':'/proc/42/ns/net'},"
        "   {'type':'ipc','path':'/proc/42/ns/ipc'},{'type':'uts','path':'/proc/42/ns/uts'},"
        "   {'type':'mount'},{'type':'user'},{'type':'cgroup','path':''}],"
        "  'uidMappings':[{'containerID':0,'hostID':100000,'size':65536}],"
        "  'gidMappings':[{'containerID':0,'hostID':100000,'size':65536},"
        "   {'containerID':65536,'hostID':4294901760,'size':65536}],"
        "  'sysctl':{'net.ipv4.ip_unprivileged_port_start':'0','kernel/shmmax':'68719476736',"
        "   'fs.mqueue.msg_max':'64','kernel.domainname':'example.org'},"
        "  'devices':[{'type':'c','path':'/dev/fuse','major':10,'minor':229,'fileMode':8630,"
        "    'uid':0,'gid':0},{'type':'p','path':'/dev/myfifo'},"
        "   {'type':'b','path':'/dev/loop9','major':7,'minor':9},"
        "   {'type':'u','path':'/dev/u','major':1,'minor':2}],"
        "  'cgroupsPath':'kubepods-besteffort-pod12.slice:cri-containerd:abc',"
        "  'rootfsPropagation':'rslave',"
        "  'resources':{'memory':{'limit':268435456}}},"
        " 'hooks':{'createRuntime':[{'path':'/usr/bin/nri-hook','args':['nri-hook','create'],"
        "   'env':['A=1'],'timeout':5}],"
        "  'poststop':[{'path':'/usr/libexec/cleanup'}],"
        "  'prestart':[],'createContainer':null}}");
    const struct oci_process *p = &s->process;

    assert_string_equal(s->oci_version, "1.1.0");
    assert_string_equal(s->root_path, "rootfs");
    assert_true(s->root_readonly);
    assert_true(p->terminal);
    assert_int_equal(p->console_height, 24);
    assert_int_equal(p->console_width, 80);
    assert_int_equal(p->uid, 1000);
    assert_int_equal(p->gid, 1000);
    assert_int_equal(p->n_additional_gids, 2);
    assert_int_equal(p->additional_gids[1], 4294967294u);
    check_strv(p->args, "nginx", NULL);
    check_strv(p->env, NULL);
    assert_string_equal(p->cwd, "/srv/www");
    assert_true(p->has_oom_score_adj);
    assert_int_equal(p->oom_score_adj, -998);
    assert_int_equal(p->caps.bounding, CAP(10) | CAP(21) | CAP(39));
    assert_int_equal(p->caps.ambient, CAP(10));
    assert_int_equal(p->caps.inheritable, CAP(40));
    assert_int_equal(p->caps.effective, 0);
    assert_int_equal(p->rlimits[0].resource, RLIMIT_CORE);
    assert_int_equal(p->rlimits[0].hard, 0);

    assert_string_equal(s->hostname, "pod-a");
    check_mount(&s->mounts[0], "/etc/hosts", NULL, "/var/lib/k/hosts");
    check_strv(s->mounts[0].options, "rbind", "rprivate", "ro", NULL);

    assert_true(s->ns[OCI_NS_NET].wanted);
    assert_string_equal(s->ns[OCI_NS_NET].path, "/proc/42/ns/net");
    assert_string_equal(s->ns[OCI_NS_IPC].path, "/proc/42/ns/ipc");
    assert_string_equal(s->ns[OCI_NS_UTS].path, "/proc/42/ns/uts");
    assert_null(s->ns[OCI_NS_PID].path);
    assert_true(s->ns[OCI_NS_USER].wanted);
    assert_true(s->ns[OCI_NS_CGROUP].wanted);
    assert_null(s->ns[OCI_NS_CGROUP].path); /* "": a new one */

    assert_int_equal(s->n_uid_mappings, 1);
    assert_int_equal(s->uid_mappings[0].container_id, 0);
    assert_int_equal(s->uid_mappings[0].host_id, 100000);
    assert_int_equal(s->uid_mappings[0].size, 65536);
    assert_int_equal(s->n_gid_mappings, 2);
    assert_int_equal(s->gid_mappings[1].container_id, 65536);
    assert_int_equal(s->gid_mappings[1].host_id, 4294901760u);

    assert_int_equal(s->n_sysctls, 4);
    assert_string_equal(s->sysctls[0].key, "net.ipv4.ip_unprivileged_port_start");
    assert_string_equal(s->sysctls[1].key, "kernel/shmmax");
    assert_string_equal(s->sysctls[1].value, "68719476736");
    assert_string_equal(s->sysctls[3].key, "kernel.domainname");

    assert_int_equal(s->n_devices, 4);
    assert_int_equal(s->devices[0].type, 'c');
    assert_string_equal(s->devices[0].path, "/dev/fuse");
    assert_int_equal(s->devices[0].major, 10);
    assert_int_equal(s->devices[0].minor, 229);
    assert_true(s->devices[0].has_mode);
    assert_int_equal(s->devices[0].file_mode, 0666); /* 8630 = S_IFCHR | 0666 */
    assert_true(s->devices[0].has_uid);
    assert_true(s->devices[0].has_gid);
    assert_int_equal(s->devices[1].type, 'p');
    assert_false(s->devices[1].has_mode);
    assert_false(s->devices[1].has_uid);
    assert_false(s->devices[1].has_gid);
    assert_int_equal(s->devices[2].type, 'b');
    assert_int_equal(s->devices[2].minor, 9);
    assert_int_equal(s->devices[3].type, 'u');

    assert_string_equal(s->cgroups_path, "kubepods-besteffort-pod12.slice:cri-containerd:abc");
    assert_string_equal(s->rootfs_propagation, "rslave");

    assert_int_equal(s->create_runtime.n, 1);
    assert_string_equal(s->create_runtime.v[0].path, "/usr/bin/nri-hook");
    check_strv(s->create_runtime.v[0].args, "nri-hook", "create", NULL);
    check_strv(s->create_runtime.v[0].env, "A=1", NULL);
    assert_int_equal(s->create_runtime.v[0].timeout_s, 5);
    assert_int_equal(s->poststop.n, 1);
    check_strv(s->poststop.v[0].args, "/usr/libexec/cleanup", NULL); /* argv[0] = path */
    check_strv(s->poststop.v[0].env, NULL);
    assert_int_equal(s->poststop.v[0].timeout_s, 0);
    assert_int_equal(s->prestart.n, 0);
    assert_int_equal(s->create_container.n, 0);
    oci_spec_free(s);
}

/* --- defaults and tolerance ------------------------------------------------------------------ */

static void test_minimal_and_defaults(void **state)
{
    (void)state;
    struct oci_spec *s = parse_ok("{'ociVersion':'1.0.0','root':{'path':'rootfs'}}");
    assert_false(s->has_process);
    assert_null(s->process.args);
    assert_null(s->hostname);
    assert_int_equal(s->n_mounts, 0);
    assert_null(s->mounts);
    for (int t = 0; t < OCI_NS_COUNT; t++)
        assert_false(s->ns[t].wanted);
    check_strv(s->masked_paths, NULL);
    check_strv(s->readonly_paths, NULL);
    assert_null(s->cgroups_path);
    assert_null(s->resources);
    assert_null(s->seccomp);
    assert_null(s->annotations);
    oci_spec_free(s);

    s = parse_ok("{'ociVersion':'1.0.2','root':{'path':'r'},'process':{'args':['sh']},"
                 "'mounts':[{'destination':'/data'}],'linux':{}}");
    const struct oci_process *p = &s->process;
    assert_true(s->has_process);
    assert_false(p->terminal);
    assert_int_equal(p->uid, 0);
    assert_int_equal(p->gid, 0);
    assert_null(p->additional_gids);
    assert_false(p->has_umask);
    check_strv(p->env, NULL);
    assert_string_equal(p->cwd, "/");
    assert_false(p->caps.has_caps);
    assert_int_equal(p->n_rlimits, 0);
    assert_false(p->no_new_privileges);
    assert_false(p->has_oom_score_adj);
    check_mount(&s->mounts[0], "/data", NULL, NULL);
    check_strv(s->mounts[0].options, NULL);
    check_strv(s->masked_paths, NULL);
    oci_spec_free(s);
}

/* Unknown keys everywhere, nulls for absent values, sections of other platforms. */
static void test_tolerance(void **state)
{
    (void)state;
    struct oci_spec *s = parse_ok(
        "{'ociVersion':'1.2.0','root':{'path':'r','extra':1},'future':{'x':[1,2]},"
        " 'hostname':null,'domainname':'d','windows':{'layerFolders':['c:']},'solaris':{},"
        " 'vm':{'hypervisor':{'path':'/x'}},"
        " 'process':{'args':['sh'],'env':null,'cwd':null,'user':{'uid':null,'username':'x'},"
        "  'capabilities':{'bounding':['CAP_CHOWN','CAP_FUTURE_THING'],'effective':null},"
        "  'ioPriority':{'class':'IOPRIO_CLASS_IDLE'},'scheduler':{'policy':'SCHED_OTHER'},"
        "  'apparmorProfile':5,'selinuxLabel':[],'noNewPrivileges':null,'newField':true},"
        " 'mounts':[{'destination':'/x','type':null,'uidMappings':[],'extra':1}],"
        " 'linux':{'namespaces':[{'type':'pid','path':null,'extra':1}],'mountLabel':'m',"
        "  'intelRdt':{},'personality':{'domain':'LINUX'},'timeOffsets':{},"
        "  'resources':null,'seccomp':null,'maskedPaths':null},"
        " 'hooks':{'prestart':[{'path':'/h','extra':1}],'unknownHook':[{'bad':1}]},"
        " 'annotations':null}");
    assert_null(s->hostname);
    check_strv(s->process.env, NULL);
    assert_string_equal(s->process.cwd, "/");
    assert_true(s->process.caps.has_caps);
    assert_int_equal(s->process.caps.bounding, CAP(CAP_CHOWN)); /* the unknown one is skipped */
    assert_int_equal(s->process.caps.effective, 0);
    assert_null(s->mounts[0].type);
    assert_true(s->ns[OCI_NS_PID].wanted);
    assert_null(s->resources);
    assert_int_equal(s->prestart.n, 1);
    check_strv(s->prestart.v[0].args, "/h", NULL);
    oci_spec_free(s);

    /* an empty capabilities object: the process gets no capabilities at all */
    s = parse_ok("{'ociVersion':'1.0.0','root':{'path':'r'},"
                 "'process':{'args':['sh'],'capabilities':{}}}");
    assert_true(s->process.caps.has_caps);
    assert_int_equal(s->process.caps.bounding, 0);
    oci_spec_free(s);

    /* every capability, every rlimit, -1 (unlimited) and every propagation */
    char text[8192];
    size_t len = (size_t)snprintf(text, sizeof(text),
                                  "{'ociVersion':'1.0.0','root':{'path':'r'},'process':{'args':"
                                  "['sh'],'capabilities':{'permitted':[");
    for (int c = 0; c <= 40; c++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s'%s'", c ? "," : "",
                                oci_cap_name(c));
    len += (size_t)snprintf(text + len, sizeof(text) - len, "]},'rlimits':[");
    static const char *const rl[] = {
        "CPU",     "FSIZE", "DATA",       "STACK",    "CORE", "RSS",    "NPROC",  "NOFILE",
        "MEMLOCK", "AS",    "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME", "LOCKS"};
    for (size_t i = 0; i < SP_ARRAY_LEN(rl); i++)
        len +=
            (size_t)snprintf(text + len, sizeof(text) - len,
                             "%s{'type':'RLIMIT_%s','soft':%zu,'hard':-1}", i ? "," : "", rl[i], i);
    snprintf(text + len, sizeof(text) - len, "]}}");
    s = parse_ok(text);
    assert_int_equal(s->process.caps.permitted, (UINT64_C(1) << 41) - 1);
    assert_int_equal(s->process.n_rlimits, 16);
    for (size_t i = 0; i < 16; i++) {
        assert_int_equal(s->process.rlimits[i].soft, i);
        assert_true(s->process.rlimits[i].hard == RLIM_INFINITY);
    }
    assert_int_equal(s->process.rlimits[15].resource, RLIMIT_LOCKS);
    oci_spec_free(s);

    static const char *const props[] = {"private", "rprivate", "shared",     "rshared",
                                        "slave",   "rslave",   "unbindable", "runbindable"};
    for (size_t i = 0; i < SP_ARRAY_LEN(props); i++) {
        snprintf(text, sizeof(text),
                 "{'ociVersion':'1.0.0','root':{'path':'r'},'linux':{'rootfsPropagation':'%s'}}",
                 props[i]);
        s = parse_ok(text);
        assert_string_equal(s->rootfs_propagation, props[i]);
        oci_spec_free(s);
    }
}

/* --- id-mapped mounts ------------------------------------------------------------------------ */

static void check_idmap(const struct oci_idmap *m, uint32_t c, uint32_t h, uint32_t size)
{
    if (m->container_id != c || m->host_id != h || m->size != size)
        fail_msg("mapping %u %u %u, want %u %u %u", m->container_id, m->host_id, m->size, c, h,
                 size);
}

static void test_mount_idmaps(void **state)
{
    (void)state;
    struct oci_spec *s =
        parse_ok("{'ociVersion':'1.1.0','root':{'path':'r'},'mounts':["
                 " {'destination':'/a','type':'bind','source':'/s','options':['ro'],"
                 "  'uidMappings':[{'containerID':0,'hostID':100000,'size':65536}],"
                 "  'gidMappings':[{'containerID':0,'hostID':200000,'size':1},"
                 "                 {'containerID':1,'hostID':300000,'size':100}]},"
                 " {'destination':'/b','source':'/s','options':['rbind'],"
                 "  'uidMappings':[{'containerID':4294967295,'hostID':0,'size':1},"
                 "                 {'containerID':0,'hostID':1,'size':4294967295}],"
                 "  'gidMappings':[{'containerID':5,'hostID':7,'size':3}]},"
                 " {'destination':'/c','type':'none','source':'/s','options':['bind','nosuid'],"
                 "  'uidMappings':[{'containerID':0,'hostID':1000,'size':1}],"
                 "  'gidMappings':[{'containerID':0,'hostID':1000,'size':1}]},"
                 " {'destination':'/d','type':'tmpfs','uidMappings':[],'gidMappings':null},"
                 " {'destination':'/e','type':'proc','source':'proc'}]}");
    assert_int_equal(s->n_mounts, 5);
    const struct oci_mount *m = s->mounts;
    assert_int_equal(m[0].n_uid_mappings, 1);
    check_idmap(&m[0].uid_mappings[0], 0, 100000, 65536);
    assert_int_equal(m[0].n_gid_mappings, 2);
    check_idmap(&m[0].gid_mappings[0], 0, 200000, 1);
    check_idmap(&m[0].gid_mappings[1], 1, 300000, 100);
    /* type absent is a bind, as rootfs mounts it */
    assert_int_equal(m[1].n_uid_mappings, 2);
    check_idmap(&m[1].uid_mappings[0], 4294967295u, 0, 1);
    check_idmap(&m[1].uid_mappings[1], 0, 1, 4294967295u);
    assert_int_equal(m[1].n_gid_mappings, 1);
    check_idmap(&m[1].gid_mappings[0], 5, 7, 3);
    /* any type with the bind option */
    assert_int_equal(m[2].n_uid_mappings, 1);
    assert_int_equal(m[2].n_gid_mappings, 1);
    /* empty or null lists: not id-mapped, on any mount */
    for (size_t i = 3; i < 5; i++) {
        assert_int_equal(m[i].n_uid_mappings, 0);
        assert_int_equal(m[i].n_gid_mappings, 0);
        assert_null(m[i].uid_mappings);
        assert_null(m[i].gid_mappings);
    }
    /* no user namespace is needed for id-mapped mounts */
    assert_false(s->ns[OCI_NS_USER].wanted);
    assert_int_equal(s->n_uid_mappings, 0);
    oci_spec_free(s);
}

/* OCI_MOUNT_MAX_IDMAPS entries in each list pass, one more does not. */
static void test_mount_idmaps_limit(void **state)
{
    (void)state;
    static char text[16384];
    for (int extra = 0; extra < 2; extra++) {
        for (int which = 0; which < 2; which++) {
            size_t len = (size_t)snprintf(text, sizeof(text),
                                          "{'ociVersion':'1.1.0','root':{'path':'r'},'mounts':["
                                          "{'destination':'/m','source':'/s',");
            for (int list = 0; list < 2; list++) {
                int n = OCI_MOUNT_MAX_IDMAPS + (list == which ? extra : 0);
                len += (size_t)snprintf(text + len, sizeof(text) - len, "%s'%s':[", list ? "," : "",
                                        list ? "gidMappings" : "uidMappings");
                for (int i = 0; i < n; i++)
                    len += (size_t)snprintf(text + len, sizeof(text) - len,
                                            "%s{'containerID':%d,'hostID':%d,'size':10}",
                                            i ? "," : "", i * 10, 100000 + i * 10);
                len += (size_t)snprintf(text + len, sizeof(text) - len, "]");
            }
            snprintf(text + len, sizeof(text) - len, "}]}");
            if (len + 4 >= sizeof(text)) fail_msg("test JSON too long");
            if (!extra) {
                struct oci_spec *s = parse_ok(text);
                assert_int_equal(s->mounts[0].n_uid_mappings, OCI_MOUNT_MAX_IDMAPS);
                assert_int_equal(s->mounts[0].n_gid_mappings, OCI_MOUNT_MAX_IDMAPS);
                check_idmap(&s->mounts[0].gid_mappings[63], 630, 100630, 10);
                oci_spec_free(s);
                continue;
            }
            struct oci_spec *s;
            struct sp_err err;
            assert_int_equal(parse_as(text, &s, &err), -EINVAL);
            assert_null(s);
            assert_string_equal(err.msg, which ? "mounts[0].gidMappings: more than 64 entries"
                                               : "mounts[0].uidMappings: more than 64 entries");
        }
    }
}

/* The document holds references to resources, seccomp and annotations only. */
static void test_references_outlive_document(void **state)
{
    (void)state;
    json_t *j = load_json("{'ociVersion':'1.0.0','root':{'path':'r'},"
                          "'linux':{'resources':{'pids':{'limit':5}},'seccomp':{'x':1}},"
                          "'annotations':{'a':'b'}}");
    struct oci_spec *s;
    struct sp_err err;
    assert_int_equal(oci_spec_from_json(j, &s, &err), 0);
    json_t *res = json_object_get(json_object_get(j, "linux"), "resources");
    assert_ptr_equal(s->resources, res);
    json_decref(j);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(s->resources, "pids"), "limit")), 5);
    assert_int_equal(json_integer_value(json_object_get(s->seccomp, "x")), 1);
    assert_string_equal(json_string_value(json_object_get(s->annotations, "a")), "b");
    oci_spec_free(s);
    oci_spec_free(NULL);
}

/* --- errors ---------------------------------------------------------------------------------- */

#define HEAD "{'ociVersion':'1.0.2','root':{'path':'rootfs'}"
#define PROC HEAD ",'process':{'args':['sh'],"
#define LNX  HEAD ",'linux':{"

static const struct {
    const char *json;
    const char *msg;
} bad_specs[] = {
    /* top level */
    {"{}", "ociVersion: is required"},
    {"{'ociVersion':null,'root':{'path':'r'}}", "ociVersion: is required"},
    {"{'ociVersion':1,'root':{'path':'r'}}", "ociVersion: must be a string, got a number"},
    {"{'ociVersion':'2.0.0','root':{'path':'r'}}", "ociVersion: \"2.0.0\" is not supported"},
    {"{'ociVersion':'0.9','root':{'path':'r'}}", "ociVersion: \"0.9\" is not supported"},
    {"{'ociVersion':'1.0.2'}", "root: is required"},
    {"{'ociVersion':'1.0.2','root':'rootfs'}", "root: must be an object, got a string"},
    {"{'ociVersion':'1.0.2','root':{}}", "root.path: is required"},
    {"{'ociVersion':'1.0.2','root':{'path':1}}", "root.path: must be a string, got a number"},
    {"{'ociVersion':'1.0.2','root':{'path':''}}", "root.path: must not be empty"},
    {HEAD ",'root':{'path':'r','readonly':'yes'}}",
     "root.readonly: must be a boolean, got a string"},
    {HEAD ",'hostname':5}", "hostname: must be a string, got a number"},
    {HEAD ",'hostname':'h'}", "hostname: needs a \"uts\" namespace"},
    /* process */
    {HEAD ",'process':[]}", "process: must be an object, got an array"},
    {HEAD ",'process':{}}", "process.args: is required"},
    {HEAD ",'process':{'args':[]}}", "process.args: must not be empty"},
    {HEAD ",'process':{'args':'sh'}}", "process.args: must be an array, got a string"},
    {HEAD ",'process':{'args':['a','b',3]}}", "process.args[2]: must be a string, got a number"},
    {HEAD ",'process':{'args':['']}}", "process.args[0]: must not be empty"},
    {PROC "'env':{'A':'1'}}}", "process.env: must be an array, got an object"},
    {PROC "'env':['A=1','FOO']}}", "process.env[1]: \"FOO\" is not of the form \"KEY=VALUE\""},
    {PROC "'env':['=x']}}", "process.env[0]: \"=x\" is not of the form"},
    {PROC "'env':[true]}}", "process.env[0]: must be a string, got a boolean"},
    {PROC "'cwd':'srv'}}", "process.cwd: must be absolute, got \"srv\""},
    {PROC "'cwd':7}}", "process.cwd: must be a string, got a number"},
    {PROC "'terminal':'true'}}", "process.terminal: must be a boolean, got a string"},
    {PROC "'consoleSize':[24,80]}}", "process.consoleSize: must be an object, got an array"},
    {PROC "'consoleSize':{'height':-1}}}",
     "process.consoleSize.height: must be between 0 and 65535, got -1"},
    {PROC "'consoleSize':{'width':1.5}}}", "process.consoleSize.width: must be an integer"},
    {PROC "'user':1}}", "process.user: must be an object, got a number"},
    {PROC "'user':{'uid':-1}}}", "process.user.uid: must be between 0 and 4294967294"},
    {PROC "'user':{'uid':'0'}}}", "process.user.uid: must be an integer, got a string"},
    {PROC "'user':{'gid':4294967295}}}", "process.user.gid: must be between 0 and 4294967294"},
    {PROC "'user':{'additionalGids':5}}}",
     "process.user.additionalGids: must be an array, got a number"},
    {PROC "'user':{'additionalGids':[1,'x']}}}",
     "process.user.additionalGids[1]: must be an integer, got a string"},
    {PROC "'user':{'umask':512}}}", "process.user.umask: must be between 0 and 511, got 512"},
    {PROC "'capabilities':[]}}", "process.capabilities: must be an object, got an array"},
    {PROC "'capabilities':{'bounding':'CAP_CHOWN'}}}",
     "process.capabilities.bounding: must be an array, got a string"},
    {PROC "'capabilities':{'effective':['CAP_KILL','chown']}}}",
     "process.capabilities.effective[1]: \"chown\" is not a capability name"},
    {PROC "'capabilities':{'permitted':['CAP_']}}}",
     "process.capabilities.permitted[0]: \"CAP_\" is not a capability name"},
    {PROC "'capabilities':{'inheritable':['CAP_1X']}}}",
     "process.capabilities.inheritable[0]: \"CAP_1X\" is not a capability name"},
    {PROC "'capabilities':{'ambient':['CAP_sys_admin']}}}",
     "process.capabilities.ambient[0]: \"CAP_sys_admin\" is not a capability name"},
    {PROC "'capabilities':{'ambient':['CAP_SYS ADMIN']}}}", "is not a capability name"},
    {PROC "'capabilities':{'ambient':[21]}}}",
     "process.capabilities.ambient[0]: must be a string, got a number"},
    {PROC "'rlimits':{}}}", "process.rlimits: must be an array, got an object"},
    {PROC "'rlimits':['RLIMIT_NOFILE']}}", "process.rlimits[0]: must be an object, got a string"},
    {PROC "'rlimits':[{'hard':1,'soft':1}]}}", "process.rlimits[0].type: is required"},
    {PROC "'rlimits':[{'type':'RLIMIT_FOO','hard':1,'soft':1}]}}",
     "process.rlimits[0].type: unknown rlimit type \"RLIMIT_FOO\""},
    {PROC "'rlimits':[{'type':'RLIMIT_NOFILE','hard':1,'soft':1},"
          "{'type':'RLIMIT_NPROC','hard':1,'soft':1},"
          "{'type':'RLIMIT_NOFILE','hard':2,'soft':2}]}}",
     "process.rlimits[2].type: rlimit type \"RLIMIT_NOFILE\" is listed twice"},
    {PROC "'rlimits':[{'type':'RLIMIT_NOFILE','soft':1}]}}",
     "process.rlimits[0].hard: is required"},
    {PROC "'rlimits':[{'type':'RLIMIT_NOFILE','hard':1}]}}",
     "process.rlimits[0].soft: is required"},
    {PROC "'rlimits':[{'type':'RLIMIT_NOFILE','hard':'1','soft':1}]}}",
     "process.rlimits[0].hard: must be an integer, got a string"},
    {PROC "'rlimits':[{'type':'RLIMIT_NOFILE','hard':1,'soft':-2}]}}",
     "process.rlimits[0].soft: must be between -1 and"},
    {PROC "'rlimits':[{'type':'RLIMIT_NOFILE','hard':1024,'soft':4096}]}}",
     "process.rlimits[0]: RLIMIT_NOFILE: the soft limit is above the hard limit"},
    {PROC "'rlimits':[{'type':'RLIMIT_NOFILE','hard':1024,'soft':-1}]}}",
     "the soft limit is above the hard limit"},
    {PROC "'noNewPrivileges':1}}", "process.noNewPrivileges: must be a boolean, got a number"},
    {PROC "'oomScoreAdj':1001}}", "process.oomScoreAdj: must be between -1000 and 1000"},
    {PROC "'oomScoreAdj':'-1000'}}", "process.oomScoreAdj: must be an integer, got a string"},
    /* mounts */
    {HEAD ",'mounts':{}}", "mounts: must be an array, got an object"},
    {HEAD ",'mounts':[{'destination':'/a'},'/b']}", "mounts[1]: must be an object, got a string"},
    {HEAD ",'mounts':[{'type':'proc'}]}", "mounts[0].destination: is required"},
    {HEAD ",'mounts':[{'destination':'/a'},{'destination':'/b'},{'destination':'/c'},"
          "{'destination':'d'}]}",
     "mounts[3].destination: must be absolute"},
    {HEAD ",'mounts':[{'destination':''}]}", "mounts[0].destination: must be absolute"},
    {HEAD ",'mounts':[{'destination':'/a','type':1}]}", "mounts[0].type: must be a string"},
    {HEAD ",'mounts':[{'destination':'/a','source':[]}]}",
     "mounts[0].source: must be a string, got an array"},
    {HEAD ",'mounts':[{'destination':'/a','options':'ro'}]}",
     "mounts[0].options: must be an array, got a string"},
    {HEAD ",'mounts':[{'destination':'/a','options':['ro',false]}]}",
     "mounts[0].options[1]: must be a string, got a boolean"},
    /* id-mapped mounts */
    {HEAD ",'mounts':[{'destination':'/a'},{'destination':'/b'},{'destination':'/c','type':'tmpfs',"
          "'uidMappings':[{'containerID':0,'hostID':1000,'size':1}],"
          "'gidMappings':[{'containerID':0,'hostID':1000,'size':1}]}]}",
     "mounts[2].uidMappings: only bind mounts can be id-mapped"},
    {HEAD ",'mounts':[{'destination':'/a','type':'proc','options':['ro','idmap'],"
          "'gidMappings':[{'containerID':0,'hostID':1000,'size':1}]}]}",
     "mounts[0].gidMappings: only bind mounts can be id-mapped"},
    {HEAD ",'mounts':[{'destination':'/a','type':'bind','source':'/s',"
          "'uidMappings':[{'containerID':0,'hostID':1000,'size':1}]}]}",
     "mounts[0].gidMappings: is required with uidMappings (an id-mapped mount needs both)"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','uidMappings':[],"
          "'gidMappings':[{'containerID':0,'hostID':1000,'size':1}]}]}",
     "mounts[0].uidMappings: is required with gidMappings (an id-mapped mount needs both)"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','uidMappings':{},'gidMappings':[]}]}",
     "mounts[0].uidMappings: must be an array, got an object"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','uidMappings':[5]}]}",
     "mounts[0].uidMappings[0]: must be an object, got a number"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','gidMappings':[{'hostID':1,'size':1}]}]}",
     "mounts[0].gidMappings[0].containerID: is required"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','gidMappings':[{'containerID':0,"
          "'size':1}]}]}",
     "mounts[0].gidMappings[0].hostID: is required"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','uidMappings':[{'containerID':0,"
          "'hostID':1}]}]}",
     "mounts[0].uidMappings[0].size: is required"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','uidMappings':[{'containerID':0,"
          "'hostID':1,'size':0}]}]}",
     "mounts[0].uidMappings[0].size: must be more than 0"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','uidMappings':[{'containerID':0,"
          "'hostID':-1,'size':1}]}]}",
     "mounts[0].uidMappings[0].hostID: must be between 0 and 4294967295, got -1"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','uidMappings':[{'containerID':'0',"
          "'hostID':1,'size':1}]}]}",
     "mounts[0].uidMappings[0].containerID: must be an integer, got a string"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','uidMappings':[{'containerID':0,"
          "'hostID':1,'size':4294967296}]}]}",
     "mounts[0].uidMappings[0].size: must be between 0 and 4294967295"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','gidMappings':[{'containerID':0,"
          "'hostID':1,'size':1},{'containerID':10,'hostID':4294967290,'size':7}]}]}",
     "mounts[0].gidMappings[1]: the range goes beyond 4294967295"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s','uidMappings':[{'containerID':4294967295,"
          "'hostID':0,'size':2}]}]}",
     "mounts[0].uidMappings[0]: the range goes beyond 4294967295"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s',"
          "'uidMappings':[{'containerID':0,'hostID':1000,'size':10},"
          "{'containerID':9,'hostID':5000,'size':1}],"
          "'gidMappings':[{'containerID':0,'hostID':1000,'size':1}]}]}",
     "mounts[0].uidMappings[1]: its containerID range overlaps entry 0's"},
    {HEAD ",'mounts':[{'destination':'/a','source':'/s',"
          "'uidMappings':[{'containerID':0,'hostID':1000,'size':1}],"
          "'gidMappings':[{'containerID':0,'hostID':1000,'size':1},"
          "{'containerID':100,'hostID':2000,'size':5},"
          "{'containerID':200,'hostID':1995,'size':6}]}]}",
     "mounts[0].gidMappings[2]: its hostID range overlaps entry 1's"},
    /* linux */
    {HEAD ",'linux':[]}", "linux: must be an object, got an array"},
    {LNX "'namespaces':{'pid':{}}}}", "linux.namespaces: must be an array, got an object"},
    {LNX "'namespaces':['pid']}}", "linux.namespaces[0]: must be an object, got a string"},
    {LNX "'namespaces':[{'path':'/proc/1/ns/pid'}]}}", "linux.namespaces[0].type: is required"},
    {LNX "'namespaces':[{'type':'pid'},{'type':'time'}]}}",
     "linux.namespaces[1].type: unknown namespace type \"time\""},
    {LNX "'namespaces':[{'type':'net'}]}}",
     "linux.namespaces[0].type: unknown namespace type \"net\""},
    {LNX "'namespaces':[{'type':'pid'},{'type':'ipc'},{'type':'pid'}]}}",
     "linux.namespaces[2].type: namespace type \"pid\" is listed twice"},
    {LNX "'namespaces':[{'type':'network','path':'proc/1/ns/net'}]}}",
     "linux.namespaces[0].path: must be absolute"},
    {LNX "'namespaces':[{'type':'network','path':1}]}}",
     "linux.namespaces[0].path: must be a string, got a number"},
    {LNX "'uidMappings':[{'containerID':0,'hostID':1000,'size':1}]}}",
     "linux.uidMappings: given, but linux.namespaces has no \"user\" namespace"},
    {LNX "'gidMappings':[{'containerID':0,'hostID':1000,'size':1}]}}",
     "linux.gidMappings: given, but linux.namespaces has no \"user\" namespace"},
    {LNX "'namespaces':[{'type':'user'}]}}",
     "linux.namespaces: a new \"user\" namespace needs linux.uidMappings and linux.gidMappings"},
    {LNX "'namespaces':[{'type':'user'}],'uidMappings':{}}}",
     "linux.uidMappings: must be an array, got an object"},
    {LNX "'namespaces':[{'type':'user'}],'uidMappings':[{'containerID':0,'size':1}]}}",
     "linux.uidMappings[0].hostID: is required"},
    {LNX "'namespaces':[{'type':'user'}],"
         "'uidMappings':[{'containerID':0,'hostID':1000,'size':0}]}}",
     "linux.uidMappings[0].size: must be more than 0"},
    {LNX "'namespaces':[{'type':'user'}],"
         "'gidMappings':[{'containerID':-1,'hostID':1000,'size':1}]}}",
     "linux.gidMappings[0].containerID: must be between 0 and 4294967295"},
    {LNX "'namespaces':[{'type':'user'}],"
         "'gidMappings':[{'containerID':4294967295,'hostID':0,'size':2}]}}",
     "linux.gidMappings[0]: the range goes beyond 4294967295"},
    {LNX "'maskedPaths':'/proc/kcore'}}", "linux.maskedPaths: must be an array, got a string"},
    {LNX "'maskedPaths':['/proc/kcore','proc/keys']}}",
     "linux.maskedPaths[1]: must be absolute, got \"proc/keys\""},
    {LNX "'readonlyPaths':[1]}}", "linux.readonlyPaths[0]: must be a string, got a number"},
    {LNX "'sysctl':[]}}", "linux.sysctl: must be an object, got an array"},
    {LNX "'namespaces':[{'type':'network'}],'sysctl':{'net.ipv4.ip_forward':1}}}",
     "linux.sysctl.net.ipv4.ip_forward: must be a string, got a number"},
    {LNX "'sysctl':{'':'1'}}}", "linux.sysctl.: not a valid sysctl name"},
    {LNX "'sysctl':{'../../etc/x':'1'}}}", "not a valid sysctl name"},
    {LNX "'sysctl':{'/proc/sys/x':'1'}}}", "not a valid sysctl name"},
    {LNX "'sysctl':{'net.ipv4.ip_forward':'1'}}}",
     "linux.sysctl.net.ipv4.ip_forward: not allowed in the host's network namespace"},
    {LNX "'sysctl':{'net/ipv4/ip_forward':'1'}}}", "not allowed in the host's network namespace"},
    {LNX "'sysctl':{'kernel.shmmax':'1'}}}",
     "linux.sysctl.kernel.shmmax: not allowed in the host's ipc namespace"},
    {LNX "'sysctl':{'fs.mqueue.msg_max':'1'}}}", "not allowed in the host's ipc namespace"},
    {LNX "'sysctl':{'vm.swappiness':'1'}}}",
     "linux.sysctl.vm.swappiness: not in a separate kernel namespace"},
    {LNX "'sysctl':{'kernel.domainname':'x'}}}", "not in a separate kernel namespace"},
    {LNX "'namespaces':[{'type':'uts'}],'sysctl':{'kernel.hostname':'x'}}}",
     "linux.sysctl.kernel.hostname: not allowed (set the \"hostname\" field instead)"},
    {LNX "'devices':{}}}", "linux.devices: must be an array, got an object"},
    {LNX "'devices':[{'path':'/dev/x','major':1,'minor':1}]}}",
     "linux.devices[0].type: is required"},
    {LNX "'devices':[{'type':'x','path':'/dev/x','major':1,'minor':1}]}}",
     "linux.devices[0].type: must be \"c\", \"b\", \"u\" or \"p\", got \"x\""},
    {LNX "'devices':[{'type':'cb','path':'/dev/x','major':1,'minor':1}]}}",
     "linux.devices[0].type: must be"},
    {LNX "'devices':[{'type':'c','major':1,'minor':1}]}}", "linux.devices[0].path: is required"},
    {LNX "'devices':[{'type':'c','path':'dev/x','major':1,'minor':1}]}}",
     "linux.devices[0].path: must be absolute"},
    {LNX "'devices':[{'type':'p','path':'/dev/p'},{'type':'c','path':'/dev/x','minor':1}]}}",
     "linux.devices[1].major: is required for type \"c\""},
    {LNX "'devices':[{'type':'b','path':'/dev/x','major':7}]}}",
     "linux.devices[0].minor: is required for type \"b\""},
    {LNX "'devices':[{'type':'c','path':'/dev/x','major':-1,'minor':1}]}}",
     "linux.devices[0].major: must be between 0 and"},
    {LNX "'devices':[{'type':'c','path':'/dev/x','major':1,'minor':1,'fileMode':'0666'}]}}",
     "linux.devices[0].fileMode: must be an integer, got a string"},
    {LNX "'devices':[{'type':'c','path':'/dev/x','major':1,'minor':1,'uid':-5}]}}",
     "linux.devices[0].uid: must be between 0 and 4294967294"},
    {LNX "'devices':[{'type':'c','path':'/dev/x','major':1,'minor':1,'gid':true}]}}",
     "linux.devices[0].gid: must be an integer, got a boolean"},
    {LNX "'cgroupsPath':1}}", "linux.cgroupsPath: must be a string, got a number"},
    {LNX "'resources':[]}}", "linux.resources: must be an object, got an array"},
    {LNX "'seccomp':'unconfined'}}", "linux.seccomp: must be an object, got a string"},
    {LNX "'rootfsPropagation':'bogus'}}", "linux.rootfsPropagation: unknown propagation \"bogus\""},
    {LNX "'rootfsPropagation':true}}", "linux.rootfsPropagation: must be a string"},
    /* hooks */
    {HEAD ",'hooks':[]}", "hooks: must be an object, got an array"},
    {HEAD ",'hooks':{'prestart':{}}}", "hooks.prestart: must be an array, got an object"},
    {HEAD ",'hooks':{'poststop':['/bin/true']}}", "hooks.poststop[0]: must be an object"},
    {HEAD ",'hooks':{'poststop':[{'args':['x']}]}}", "hooks.poststop[0].path: is required"},
    {HEAD ",'hooks':{'createRuntime':[{'path':'/a'},{'path':'b'}]}}",
     "hooks.createRuntime[1].path: must be absolute"},
    {HEAD ",'hooks':{'createContainer':[{'path':'/a','args':'a'}]}}",
     "hooks.createContainer[0].args: must be an array, got a string"},
    {HEAD ",'hooks':{'poststart':[{'path':'/a','args':['a',1]}]}}",
     "hooks.poststart[0].args[1]: must be a string, got a number"},
    {HEAD ",'hooks':{'poststart':[{'path':'/a','env':[null]}]}}",
     "hooks.poststart[0].env[0]: must be a string, got null"},
    {HEAD ",'hooks':{'startContainer':[{'path':'/a','timeout':0}]}}",
     "hooks.startContainer[0].timeout: must be more than 0"},
    {HEAD ",'hooks':{'startContainer':[{'path':'/a','timeout':-3}]}}",
     "hooks.startContainer[0].timeout: must be more than 0"},
    {HEAD ",'hooks':{'startContainer':[{'path':'/a','timeout':'5'}]}}",
     "hooks.startContainer[0].timeout: must be an integer, got a string"},
    {HEAD ",'hooks':{'startContainer':[{'path':'/a','timeout':3000000000}]}}",
     "hooks.startContainer[0].timeout: too large"},
    /* annotations */
    {HEAD ",'annotations':['a']}", "annotations: must be an object, got an array"},
    {HEAD ",'annotations':{'ok':'1','foo':2}}", "annotations.foo: must be a string, got a number"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < SP_ARRAY_LEN(bad_specs); i++) {
        struct oci_spec *s;
        struct sp_err err;
        int r = parse_as(bad_specs[i].json, &s, &err);
        if (r != -EINVAL)
            fail_msg("%s: got %d (%s), want -EINVAL", q(bad_specs[i].json), r,
                     r ? err.msg : "success");
        if (s) fail_msg("%s: *out is not NULL after an error", bad_specs[i].json);
        assert_int_equal(err.code, -EINVAL);
        const char *want = bad_specs[i].msg; /* messages are not quoted with q() */
        if (!strstr(err.msg, want))
            fail_msg("%s: message \"%s\" does not contain \"%s\"", q(bad_specs[i].json), err.msg,
                     want);
    }
}

/* The cross-checks pass when the namespace is there (joined counts, as in runc). */
static void test_namespace_checks_pass(void **state)
{
    (void)state;
    struct oci_spec *s = parse_ok(
        LNX "'namespaces':[{'type':'uts','path':'/proc/9/ns/uts'},{'type':'ipc'},"
            "{'type':'network'},{'type':'user','path':'/proc/9/ns/user'}],"
            "'sysctl':{'kernel.shm_rmid_forced':'1','kernel.msgmax':'8192','kernel.sem':'1 2 3 4',"
            "'net.core.somaxconn':'1024','kernel.domainname':'d'}},'hostname':'h'}");
    assert_int_equal(s->n_sysctls, 5);
    assert_string_equal(s->hostname, "h");
    assert_string_equal(s->ns[OCI_NS_USER].path, "/proc/9/ns/user"); /* joined: no mappings */
    oci_spec_free(s);

    /* mappings of one kind only are enough for a new user namespace (as runc) */
    s = parse_ok(LNX "'namespaces':[{'type':'user'}],"
                     "'uidMappings':[{'containerID':0,'hostID':4294967295,'size':1}]}}");
    assert_int_equal(s->uid_mappings[0].host_id, 4294967295u);
    oci_spec_free(s);
}

static void test_error_not_object_and_nul(void **state)
{
    (void)state;
    struct oci_spec *s;
    struct sp_err err;
    json_t *j = json_array();
    assert_int_equal(oci_spec_from_json(j, &s, &err), -EINVAL);
    assert_null(s);
    assert_contains(err.msg, "must be a JSON object, got an array");
    json_decref(j);
    assert_int_equal(oci_spec_from_json(NULL, &s, &err), -EINVAL);

    /* strings with a NUL inside (only possible through the API or JSON_ALLOW_NUL) */
    j = load_json(PROC "'cwd':'/'}}");
    json_object_set_new(json_object_get(j, "process"), "cwd", json_stringn("/a\0b", 4));
    assert_int_equal(oci_spec_from_json(j, &s, &err), -EINVAL);
    assert_contains(err.msg, "process.cwd: must not contain NUL bytes");
    json_decref(j);

    /* a key with a NUL inside */
    j = load_json(HEAD "}");
    json_t *sc = json_object();
    json_object_setn_new(sc, "net\0x", 5, json_string("1"));
    json_object_set_new(j, "linux", json_pack("{s:o}", "sysctl", sc));
    assert_int_equal(oci_spec_from_json(j, &s, &err), -EINVAL);
    assert_contains(err.msg, "not a valid sysctl name");
    json_decref(j);
}

/* Long JSON paths are cut, not overflowed. */
static void test_long_paths(void **state)
{
    (void)state;
    char key[300];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_t *j = load_json(HEAD "}");
    json_object_set_new(j, "annotations", json_pack("{s:i}", key, 1));
    struct oci_spec *s;
    struct sp_err err;
    assert_int_equal(oci_spec_from_json(j, &s, &err), -EINVAL);
    assert_contains(err.msg, "annotations.kkkk");
    assert_contains(err.msg, ": must be a string, got a number");
    assert_true(strlen(err.msg) < 150);
    json_decref(j);
}

/*
 * Every node of the realistic configs replaced in turn by a value of each other JSON type, and
 * deleted: each run either succeeds or fails with -EINVAL and a message, and (under ASan) frees
 * everything on every path.
 */
static size_t g_mutations;

static void check_mutant(json_t *root)
{
    struct oci_spec *s = NULL;
    struct sp_err err;
    sp_err_clear(&err);
    int r = oci_spec_from_json(root, &s, &err);
    g_mutations++;
    if (r == 0) {
        assert_non_null(s);
        oci_spec_free(s);
        return;
    }
    if (r != -EINVAL || s || !err.msg[0]) {
        char *text = json_dumps(root, JSON_COMPACT);
        fail_msg("%s: got %d (%s)", text, r, err.msg);
    }
}

static void mutate_walk(json_t *root, json_t *node)
{
    json_t *alts[] = {json_integer(-7), json_string("x"), json_array(),
                      json_object(),    json_true(),      json_null()};
    if (json_is_object(node)) {
        /* copies of the keys: deleting a member frees its key */
        size_t n = json_object_size(node), i = 0;
        char **keys = sp_strv_new(n);
        assert_non_null(keys);
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v)
        {
            keys[i] = strdup(k);
            assert_non_null(keys[i++]);
        }
        for (i = 0; i < n; i++) {
            json_t *orig = json_incref(json_object_get(node, keys[i]));
            for (size_t a = 0; a < SP_ARRAY_LEN(alts); a++) {
                json_object_set(node, keys[i], alts[a]);
                check_mutant(root);
            }
            json_object_del(node, keys[i]);
            check_mutant(root);
            json_object_set_new(node, keys[i], orig);
            mutate_walk(root, orig);
        }
        sp_strv_free(keys);
    } else if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            json_t *orig = json_incref(json_array_get(node, i));
            for (size_t a = 0; a < SP_ARRAY_LEN(alts); a++) {
                json_array_set(node, i, alts[a]);
                check_mutant(root);
            }
            json_array_set_new(node, i, orig);
            mutate_walk(root, orig);
        }
    }
    for (size_t a = 0; a < SP_ARRAY_LEN(alts); a++)
        json_decref(alts[a]);
}

static void test_mutations(void **state)
{
    (void)state;
    const char *docs[] = {ctr_spec, podman_spec};
    for (size_t d = 0; d < SP_ARRAY_LEN(docs); d++) {
        json_t *j = load_json(docs[d]);
        check_mutant(j);
        mutate_walk(j, j);
        json_decref(j);
    }
    if (g_mutations < 2900) fail_msg("only %zu mutations", g_mutations);
}

/* --- process alone (exec --process) ---------------------------------------------------------- */

static void test_process_from_json(void **state)
{
    (void)state;
    struct oci_process p;
    struct sp_err err;
    json_t *j = load_json("{'terminal':true,'args':['/bin/echo','exec-ok'],'env':['A=1'],"
                          "'cwd':'/tmp','user':{'uid':33,'gid':33,'umask':63},"
                          "'capabilities':{'bounding':['CAP_KILL']},"
                          "'rlimits':[{'type':'RLIMIT_NOFILE','hard':10,'soft':5}]}");
    memset(&p, 0xff, sizeof(p)); /* garbage: must be overwritten */
    assert_int_equal(oci_process_from_json(j, &p, &err), 0);
    json_decref(j);
    assert_true(p.terminal);
    check_strv(p.args, "/bin/echo", "exec-ok", NULL);
    check_strv(p.env, "A=1", NULL);
    assert_string_equal(p.cwd, "/tmp");
    assert_int_equal(p.uid, 33);
    assert_int_equal(p.umask, 077);
    assert_int_equal(p.caps.bounding, CAP(CAP_KILL));
    assert_int_equal(p.rlimits[0].soft, 5);
    assert_false(p.has_oom_score_adj);
    oci_process_clear(&p);
    assert_null(p.args);
    oci_process_clear(&p); /* twice is fine */

    /* errors name "process." and leave *p cleared */
    j = load_json("{'args':['a'],'env':['A=1'],'rlimits':[{'type':'RLIMIT_X','hard':1,'soft':1}]}");
    memset(&p, 0xff, sizeof(p));
    assert_int_equal(oci_process_from_json(j, &p, &err), -EINVAL);
    assert_contains(err.msg, "process.rlimits[0].type: unknown rlimit type \"RLIMIT_X\"");
    assert_null(p.args);
    assert_null(p.env);
    assert_null(p.rlimits);
    assert_int_equal(p.n_rlimits, 0);
    json_decref(j);

    j = load_json("['sh']");
    assert_int_equal(oci_process_from_json(j, &p, &err), -EINVAL);
    assert_contains(err.msg, "process: must be an object, got an array");
    json_decref(j);

    j = load_json("{'cwd':'/'}");
    assert_int_equal(oci_process_from_json(j, &p, &err), -EINVAL);
    assert_contains(err.msg, "process.args: is required");
    json_decref(j);
}

/* --- files ----------------------------------------------------------------------------------- */

static char g_dir[64];

static int unlink_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int dir_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/sprite-env-test-oci-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int dir_teardown(void **state)
{
    (void)state;
    return nftw(g_dir, unlink_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *at(const char *rel)
{
    static char bufs[4][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", g_dir, rel);
    return b;
}

static void write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail_msg("open %s: %s", path, strerror(errno));
    if (n && write(fd, data, n) != (ssize_t)n) fail_msg("write %s: %s", path, strerror(errno));
    close(fd);
}

static void write_config(const char *text)
{
    const char *t = q(text);
    write_file(at("config.json"), t, strlen(t));
}

static void test_load_ok(void **state)
{
    (void)state;
    struct oci_spec *s;
    struct sp_err err;
    write_config(ctr_spec);
    assert_int_equal(oci_spec_load(g_dir, &s, &err), 0);
    assert_string_equal(s->root_path, "/var/lib/bb/rootfs");
    assert_int_equal(s->n_mounts, 7);
    oci_spec_free(s);

    write_config(podman_spec);
    assert_int_equal(oci_spec_load(g_dir, &s, &err), 0);
    assert_string_equal(s->hostname, "5d8c3a6e4f0b");
    oci_spec_free(s);
}

static void test_load_errors(void **state)
{
    (void)state;
    struct oci_spec *s;
    struct sp_err err;

    /* no config.json */
    s = (struct oci_spec *)(uintptr_t)1;
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -ENOENT);
    assert_null(s);
    assert_contains(err.msg, at("config.json"));
    assert_contains(err.msg, "No such file or directory");
    assert_int_equal(oci_spec_load(at("missing"), &s, &err), -ENOENT);

    /* a syntax error on line 3 */
    write_config("{\n 'ociVersion': '1.0.2',\n 'root': {'path': 'r',}\n}");
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EINVAL);
    assert_null(s);
    assert_contains(err.msg, "config.json: line 3: ");

    /* not an object at the top */
    write_config("[1, 2]");
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EINVAL);
    assert_contains(err.msg, "config.json: the configuration must be a JSON object");
    write_config("");
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EINVAL);
    assert_contains(err.msg, "config.json: line ");

    /* field errors carry the file name */
    write_config(HEAD ",'process':{'args':['sh',1]}}");
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EINVAL);
    assert_string_equal(err.msg, "config.json: process.args[1]: must be a string, got a number");

    /* \u0000 in a string is a syntax error to jansson (no JSON_ALLOW_NUL) */
    write_config(HEAD ",'process':{'args':['sh\\u0000x']}}");
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EINVAL);
    assert_contains(err.msg, "config.json: line 1:");

    /* not a regular file: a directory, and a FIFO (which must not block) */
    unlink(at("config.json"));
    assert_int_equal(mkdir(at("config.json"), 0755), 0);
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EINVAL);
    assert_contains(err.msg, "not a regular file");
    rmdir(at("config.json"));
    assert_int_equal(mkfifo(at("config.json"), 0644), 0);
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EINVAL);
    assert_contains(err.msg, "not a regular file");
    unlink(at("config.json"));
}

static void test_load_size_limit(void **state)
{
    (void)state;
    struct oci_spec *s;
    struct sp_err err;
    const char *head = q(HEAD ",'annotations':{'pad':'");
    const char *tail = "\"}}";
    size_t hl = strlen(head), tl = strlen(tail);

    /* exactly OCI_MAX_CONFIG_BYTES: loads */
    char *buf = malloc(OCI_MAX_CONFIG_BYTES + 1);
    assert_non_null(buf);
    memcpy(buf, head, hl);
    memset(buf + hl, 'x', OCI_MAX_CONFIG_BYTES - hl - tl);
    memcpy(buf + OCI_MAX_CONFIG_BYTES - tl, tail, tl);
    write_file(at("config.json"), buf, OCI_MAX_CONFIG_BYTES);
    assert_int_equal(oci_spec_load(g_dir, &s, &err), 0);
    assert_int_equal(strlen(json_string_value(json_object_get(s->annotations, "pad"))),
                     OCI_MAX_CONFIG_BYTES - hl - tl);
    oci_spec_free(s);

    /* one byte more (a trailing newline): -EFBIG */
    buf[OCI_MAX_CONFIG_BYTES] = '\n';
    write_file(at("config.json"), buf, OCI_MAX_CONFIG_BYTES + 1);
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EFBIG);
    assert_null(s);
    assert_contains(err.msg, "config.json: larger than 4194304 bytes");
    free(buf);
}

/* Go's uint64 values above INT64_MAX (RLIM_INFINITY) load as -1, i.e. unlimited. */
static void test_load_big_integers(void **state)
{
    (void)state;
    struct oci_spec *s;
    struct sp_err err;
    write_config(HEAD
                 ",'process':{'args':['sh'],'rlimits':["
                 "{'type':'RLIMIT_CORE','hard':18446744073709551615,'soft':18446744073709551615},"
                 "{'type':'RLIMIT_NOFILE','hard':9223372036854775808,'soft':9223372036854775807},"
                 "{'type':'RLIMIT_MEMLOCK','hard':-1,'soft':65536}]},"
                 "'linux':{'resources':{'memory':{'limit':18446744073709551615,'swap':-1},"
                 "'cpu':{'shares':1.18446744073709551615e19,'quota':-18446744073709551615e0}}},"
                 "'annotations':{'n':'18446744073709551615','e':'\\\\\\' 18446744073709551615'}}");
    assert_int_equal(oci_spec_load(g_dir, &s, &err), 0);
    const struct oci_rlimit *rl = s->process.rlimits;
    assert_true(rl[0].hard == RLIM_INFINITY && rl[0].soft == RLIM_INFINITY);
    assert_true(rl[1].hard == RLIM_INFINITY);
    assert_true(rl[1].soft == (uint64_t)INT64_MAX);
    assert_true(rl[2].hard == RLIM_INFINITY);
    assert_int_equal(rl[2].soft, 65536);
    json_t *mem = json_object_get(s->resources, "memory");
    assert_int_equal(json_integer_value(json_object_get(mem, "limit")), -1);
    json_t *cpu = json_object_get(s->resources, "cpu");
    assert_true(json_is_real(json_object_get(cpu, "shares"))); /* a fraction: left alone */
    assert_true(json_real_value(json_object_get(cpu, "quota")) < 0);
    /* inside strings nothing changes, escaped quotes included */
    assert_string_equal(json_string_value(json_object_get(s->annotations, "n")),
                        "18446744073709551615");
    assert_string_equal(json_string_value(json_object_get(s->annotations, "e")),
                        "\\\" 18446744073709551615");
    oci_spec_free(s);

    /* above UINT64_MAX: still refused, and the line is right */
    write_config("{'ociVersion':'1.0.2',\n'root':{'path':'r'},\n'x':18446744073709551616}");
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EINVAL);
    assert_contains(err.msg, "config.json: line 3:");
    /* the rewrite keeps line numbers */
    write_config("{'ociVersion':'1.0.2','x':18446744073709551615,\n'root':{'path':'r'},\n'y':tru}");
    assert_int_equal(oci_spec_load(g_dir, &s, &err), -EINVAL);
    assert_contains(err.msg, "config.json: line 3:");
}

static void test_process_load(void **state)
{
    (void)state;
    struct oci_process p;
    struct sp_err err;
    const char *t = q("{'args':['/bin/echo','hi'],'cwd':'/',"
                      "'rlimits':[{'type':'RLIMIT_NOFILE','hard':18446744073709551615,'soft':1}]}");
    write_file(at("process.json"), t, strlen(t));
    assert_int_equal(oci_process_load(at("process.json"), &p, &err), 0);
    check_strv(p.args, "/bin/echo", "hi", NULL);
    assert_true(p.rlimits[0].hard == RLIM_INFINITY);
    oci_process_clear(&p);

    t = q("{'args':[]}");
    write_file(at("process.json"), t, strlen(t));
    assert_int_equal(oci_process_load(at("process.json"), &p, &err), -EINVAL);
    assert_contains(err.msg, at("process.json"));
    assert_contains(err.msg, ": process.args: must not be empty");
    assert_null(p.args);

    write_file(at("process.json"), "{", 1);
    assert_int_equal(oci_process_load(at("process.json"), &p, &err), -EINVAL);
    assert_contains(err.msg, "process.json: line 1:");

    assert_int_equal(oci_process_load(at("nope.json"), &p, &err), -ENOENT);
    assert_contains(err.msg, "nope.json");
}

/* --- tables ---------------------------------------------------------------------------------- */

static void test_cap_table(void **state)
{
    (void)state;
    static const struct {
        int cap;
        const char *name;
    } kernel[] = {
        {CAP_CHOWN, "CAP_CHOWN"},
        {CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"},
        {CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"},
        {CAP_FOWNER, "CAP_FOWNER"},
        {CAP_FSETID, "CAP_FSETID"},
        {CAP_KILL, "CAP_KILL"},
        {CAP_SETGID, "CAP_SETGID"},
        {CAP_SETUID, "CAP_SETUID"},
        {CAP_SETPCAP, "CAP_SETPCAP"},
        {CAP_LINUX_IMMUTABLE, "CAP_LINUX_IMMUTABLE"},
        {CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"},
        {CAP_NET_BROADCAST, "CAP_NET_BROADCAST"},
        {CAP_NET_ADMIN, "CAP_NET_ADMIN"},
        {CAP_NET_RAW, "CAP_NET_RAW"},
        {CAP_IPC_LOCK, "CAP_IPC_LOCK"},
        {CAP_IPC_OWNER, "CAP_IPC_OWNER"},
        {CAP_SYS_MODULE, "CAP_SYS_MODULE"},
        {CAP_SYS_RAWIO, "CAP_SYS_RAWIO"},
        {CAP_SYS_CHROOT, "CAP_SYS_CHROOT"},
        {CAP_SYS_PTRACE, "CAP_SYS_PTRACE"},
        {CAP_SYS_PACCT, "CAP_SYS_PACCT"},
        {CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
        {CAP_SYS_BOOT, "CAP_SYS_BOOT"},
        {CAP_SYS_NICE, "CAP_SYS_NICE"},
        {CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"},
        {CAP_SYS_TIME, "CAP_SYS_TIME"},
        {CAP_SYS_TTY_CONFIG, "CAP_SYS_TTY_CONFIG"},
        {CAP_MKNOD, "CAP_MKNOD"},
        {CAP_LEASE, "CAP_LEASE"},
        {CAP_AUDIT_WRITE, "CAP_AUDIT_WRITE"},
        {CAP_AUDIT_CONTROL, "CAP_AUDIT_CONTROL"},
        {CAP_SETFCAP, "CAP_SETFCAP"},
        {CAP_MAC_OVERRIDE, "CAP_MAC_OVERRIDE"},
        {CAP_MAC_ADMIN, "CAP_MAC_ADMIN"},
        {CAP_SYSLOG, "CAP_SYSLOG"},
        {CAP_WAKE_ALARM, "CAP_WAKE_ALARM"},
        {CAP_BLOCK_SUSPEND, "CAP_BLOCK_SUSPEND"},
        {CAP_AUDIT_READ, "CAP_AUDIT_READ"},
        {38, "CAP_PERFMON"},
        {39, "CAP_BPF"},
        {40, "CAP_CHECKPOINT_RESTORE"},
    };
#ifdef CAP_CHECKPOINT_RESTORE
    assert_int_equal(CAP_PERFMON, 38);
    assert_int_equal(CAP_BPF, 39);
    assert_int_equal(CAP_CHECKPOINT_RESTORE, 40);
#endif
    assert_int_equal(SP_ARRAY_LEN(kernel), 41);
    for (size_t i = 0; i < SP_ARRAY_LEN(kernel); i++) {
        assert_int_equal(kernel[i].cap, (int)i);
        if (oci_cap_from_name(kernel[i].name) != kernel[i].cap)
            fail_msg("%s: %d", kernel[i].name, oci_cap_from_name(kernel[i].name));
        assert_string_equal(oci_cap_name(kernel[i].cap), kernel[i].name);
    }
    assert_null(oci_cap_name(41));
    assert_null(oci_cap_name(-1));
    assert_null(oci_cap_name(INT_MAX));
    assert_int_equal(oci_cap_from_name("CAP_FUTURE"), -1);
    assert_int_equal(oci_cap_from_name("cap_chown"), -1);
    assert_int_equal(oci_cap_from_name("CHOWN"), -1);
    assert_int_equal(oci_cap_from_name(""), -1);
    assert_int_equal(oci_cap_from_name(NULL), -1);
}

static void test_rlimit_table(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int resource;
    } want[] = {
        {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
        {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
        {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
        {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
        {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
        {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    };
    assert_int_equal(SP_ARRAY_LEN(want), RLIMIT_NLIMITS);
    for (size_t i = 0; i < SP_ARRAY_LEN(want); i++)
        if (oci_rlimit_from_name(want[i].name) != want[i].resource)
            fail_msg("%s: %d, want %d", want[i].name, oci_rlimit_from_name(want[i].name),
                     want[i].resource);
    assert_int_equal(oci_rlimit_from_name("RLIMIT_NLIMITS"), -1);
    assert_int_equal(oci_rlimit_from_name("NOFILE"), -1);
    assert_int_equal(oci_rlimit_from_name("rlimit_nofile"), -1);
    assert_int_equal(oci_rlimit_from_name(NULL), -1);
}

static void test_ns_tables(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum oci_ns_type type;
        int flag;
        const char *proc;
    } want[] = {
        {"pid", OCI_NS_PID, CLONE_NEWPID, "pid"},
        {"network", OCI_NS_NET, CLONE_NEWNET, "net"},
        {"mount", OCI_NS_MOUNT, CLONE_NEWNS, "mnt"},
        {"ipc", OCI_NS_IPC, CLONE_NEWIPC, "ipc"},
        {"uts", OCI_NS_UTS, CLONE_NEWUTS, "uts"},
        {"user", OCI_NS_USER, CLONE_NEWUSER, "user"},
        {"cgroup", OCI_NS_CGROUP, CLONE_NEWCGROUP, "cgroup"},
    };
    assert_int_equal(SP_ARRAY_LEN(want), OCI_NS_COUNT);
    int all = 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(want); i++) {
        assert_int_equal(oci_ns_from_name(want[i].name), want[i].type);
        assert_int_equal(oci_ns_clone_flag(want[i].type), want[i].flag);
        assert_string_equal(oci_ns_proc_name(want[i].type), want[i].proc);
        assert_int_equal(all & want[i].flag, 0);
        all |= want[i].flag;
    }
    assert_int_equal(oci_ns_from_name("net"), -1);
    assert_int_equal(oci_ns_from_name("mnt"), -1);
    assert_int_equal(oci_ns_from_name("time"), -1);
    assert_int_equal(oci_ns_from_name("PID"), -1);
    assert_int_equal(oci_ns_from_name(""), -1);
    assert_int_equal(oci_ns_from_name(NULL), -1);
    assert_int_equal(oci_ns_clone_flag(OCI_NS_COUNT), 0);
    assert_int_equal(oci_ns_clone_flag((enum oci_ns_type) - 1), 0);
    assert_null(oci_ns_proc_name(OCI_NS_COUNT));
    assert_null(oci_ns_proc_name((enum oci_ns_type) - 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctr_spec),
        cmocka_unit_test(test_podman_spec),
        cmocka_unit_test(test_cri_like_spec),
        cmocka_unit_test(test_minimal_and_defaults),
        cmocka_unit_test(test_tolerance),
        cmocka_unit_test(test_mount_idmaps),
        cmocka_unit_test(test_mount_idmaps_limit),
        cmocka_unit_test(test_references_outlive_document),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_namespace_checks_pass),
        cmocka_unit_test(test_error_not_object_and_nul),
        cmocka_unit_test(test_long_paths),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_process_from_json),
        cmocka_unit_test_setup_teardown(test_load_ok, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_errors, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_size_limit, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_load_big_integers, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_process_load, dir_setup, dir_teardown),
        cmocka_unit_test(test_cap_table),
        cmocka_unit_test(test_rlimit_table),
        cmocka_unit_test(test_ns_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
