/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/container/cseccomp.c: every error class with the JSON path it must name
 * (also in rules that are then skipped); what must build (every action, operator, flag and
 * little-endian architecture, nulls, unknown syscall names, a podman 4.3 profile); and filters
 * loaded for real in a forked child, which reports over a pipe: an errno rule, argument
 * conditions (EQ, MASKED_EQ with value as the mask, several on one argument, several on
 * different arguments), an ERRNO default with an allow-list, the podman profile, KILL_PROCESS,
 * KILL, TRAP, and the no_new_privs handling. Runs as root (the load-error test drops to nobody).
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
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../src/base/compiler.h"
#include "../../src/container/cseccomp.h"

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        const char *n_ = (needle);                                                                 \
        if (!h_ || !strstr(h_, n_))                                                                \
            fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                    \
    } while (0)

/* A copy of s with every ' turned into " (a static buffer per call, four in rotation). */
static const char *q(const char *s)
{
    static char bufs[4][32768];
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
    json_t *j = json_loads(q(text), JSON_DECODE_ANY, &jerr);
    if (!j) fail_msg("bad test JSON %s: line %d: %s", text, jerr.line, jerr.text);
    return j;
}

/* cseccomp_build on (single-quoted) JSON text; *out is checked to be NULL on failure. */
static int build_as(const char *text, struct cseccomp **out, struct sp_err *err)
{
    json_t *j = load_json(text);
    *out = (struct cseccomp *)(uintptr_t)1; /* must be reset */
    sp_err_clear(err);
    int r = cseccomp_build(j, out, err);
    json_decref(j);
    if (r < 0 && *out) fail_msg("%s: failed (%d) but *out is not NULL", text, r);
    return r;
}

static void build_ok(const char *text)
{
    struct cseccomp *f;
    struct sp_err err;
    int r = build_as(text, &f, &err);
    if (r != 0) fail_msg("%s: got %d (%s), want success", text, r, err.msg);
    assert_non_null(f);
    cseccomp_free(f);
}

/* --- a podman 4.3 profile -------------------------------------------------------------------- */

/*
 * What podman 4.3 (containers/common 0.50) writes for `podman run` with its 11 default
 * capabilities on x86_64: ERRNO(ENOSYS) by default, 19 rules, 5 of them (personality) with args.
 * The allow-list is the profile's, cut down to about half of its names (still including names
 * of other architectures and of newer kernels).
 */
static const char podman_profile[] =
    "{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':38,"
    " 'architectures':['SCMP_ARCH_X86_64','SCMP_ARCH_X86','SCMP_ARCH_X32'],"
    " 'syscalls':["
    "  {'names':['bdflush','io_pgetevents','kexec_file_load','kexec_load','membarrier',"
    "   'migrate_pages','move_pages','nfsservctl','nice','oldfstat','oldlstat','oldolduname',"
    "   'oldstat','olduname','pciconfig_iobase','pciconfig_read','pciconfig_write','sgetmask',"
    "   'ssetmask','swapcontext','swapoff','swapon','sysfs','uselib','userfaultfd','ustat','vm86',"
    "   'vm86old','vmsplice'],'action':'SCMP_ACT_ERRNO','args':[],'comment':'',"
    "   'includes':{},'excludes':{},'errnoRet':1},"
    "  {'names':['_llseek','_newselect','accept','accept4','access','adjtimex','alarm','bind',"
    "   'brk','capget','capset','chdir','chmod','chown','chown32','clock_adjtime',"
    "   'clock_adjtime64','clock_getres','clock_getres_time64','clock_gettime',"
    "   'clock_gettime64','clock_nanosleep','clock_nanosleep_time64','clone','clone3','close',"
    "   'close_range','connect','copy_file_range','creat','dup','dup2','dup3','epoll_create',"
    "   'epoll_create1','epoll_ctl','epoll_ctl_old','epoll_pwait','epoll_pwait2','epoll_wait',"
    "   'epoll_wait_old','eventfd','eventfd2','execve','execveat','exit','exit_group',"
    "   'faccessat','faccessat2','fadvise64','fadvise64_64','fallocate','fanotify_mark',"
    "   'fchdir','fchmod','fchmodat','fchown','fchown32','fchownat','fcntl','fcntl64',"
    "   'fdatasync','fgetxattr','flistxattr','flock','fork','fremovexattr','fsconfig',"
    "   'fsetxattr','fsmount','fsopen','fspick','fstat','fstat64','fstatat64','fstatfs',"
    "   'fstatfs64','fsync','ftruncate','ftruncate64','futex','futex_time64','futimesat',"
    "   'get_robust_list','get_thread_area','getcpu','getcwd','getdents','getdents64',"
    "   'getegid','getegid32','geteuid','geteuid32','getgid','getgid32','getgroups',"
    "   'getgroups32','getitimer','getpeername','getpgid','getpgrp','getpid','getppid',"
    "   'getpriority','getrandom','getresgid','getresgid32','getresuid','getresuid32',"
    "   'getrlimit','getrusage','getsid','getsockname','getsockopt','gettid','gettimeofday',"
    "   'getuid','getuid32','getxattr','ioctl','kill','lseek','lstat','lstat64','madvise',"
    "   'memfd_create','mkdir','mkdirat','mmap','mmap2','mprotect','mremap','munmap',"
    "   'nanosleep','newfstatat','open','openat','openat2','pipe','pipe2','poll','ppoll',"
    "   'prctl','pread64','prlimit64','pwrite64','read','readlink','readlinkat','readv',"
    "   'recvfrom','recvmsg','rename','renameat','renameat2','restart_syscall','rmdir','rseq',"
    "   'rt_sigaction','rt_sigprocmask','rt_sigreturn','rt_sigsuspend','sched_yield','seccomp',"
    "   'select','sendmsg','sendto','set_robust_list','set_thread_area','set_tid_address',"
    "   'setgid','setgroups','setsid','setuid','sigaltstack','sigreturn','socket','socketcall',"
    "   'socketpair','stat','stat64','statfs','statx','sysinfo','tgkill','time','umask',"
    "   'uname','unlink','unlinkat','wait4','waitid','waitpid','write','writev'],"
    "   'action':'SCMP_ACT_ALLOW','args':[],'comment':'','includes':{},'excludes':{}},"
    "  {'names':['personality'],'action':'SCMP_ACT_ALLOW',"
    "   'args':[{'index':0,'value':0,'valueTwo':0,'op':'SCMP_CMP_EQ'}]},"
    "  {'names':['personality'],'action':'SCMP_ACT_ALLOW',"
    "   'args':[{'index':0,'value':8,'valueTwo':0,'op':'SCMP_CMP_EQ'}]},"
    "  {'names':['personality'],'action':'SCMP_ACT_ALLOW',"
    "   'args':[{'index':0,'value':131072,'valueTwo':0,'op':'SCMP_CMP_EQ'}]},"
    "  {'names':['personality'],'action':'SCMP_ACT_ALLOW',"
    "   'args':[{'index':0,'value':131080,'valueTwo':0,'op':'SCMP_CMP_EQ'}]},"
    "  {'names':['personality'],'action':'SCMP_ACT_ALLOW',"
    "   'args':[{'index':0,'value':4294967295,'valueTwo':0,'op':'SCMP_CMP_EQ'}]},"
    "  {'names':['arch_prctl'],'action':'SCMP_ACT_ALLOW','args':[]},"
    "  {'names':['modify_ldt'],'action':'SCMP_ACT_ALLOW','args':[]},"
    "  {'names':['open_by_handle_at'],'action':'SCMP_ACT_ERRNO','args':[],'errnoRet':1},"
    "  {'names':['bpf','fanotify_init','lookup_dcookie','perf_event_open','quotactl',"
    "   'setdomainname','sethostname','setns'],'action':'SCMP_ACT_ERRNO','args':[],"
    "   'errnoRet':1},"
    "  {'names':['chroot'],'action':'SCMP_ACT_ALLOW','args':[]},"
    "  {'names':['delete_module','init_module','finit_module','query_module'],"
    "   'action':'SCMP_ACT_ERRNO','args':[],'errnoRet':1},"
    "  {'names':['get_mempolicy','mbind','set_mempolicy'],'action':'SCMP_ACT_ERRNO','args':[],"
    "   'errnoRet':1},"
    "  {'names':['acct'],'action':'SCMP_ACT_ERRNO','args':[],'errnoRet':1},"
    "  {'names':['kcmp','process_madvise','process_vm_readv','process_vm_writev','ptrace'],"
    "   'action':'SCMP_ACT_ERRNO','args':[],'errnoRet':1},"
    "  {'names':['iopl','ioperm'],'action':'SCMP_ACT_ERRNO','args':[],'errnoRet':1},"
    "  {'names':['settimeofday','stime','clock_settime','clock_settime64'],"
    "   'action':'SCMP_ACT_ERRNO','args':[],'errnoRet':1},"
    "  {'names':['vhangup'],'action':'SCMP_ACT_ERRNO','args':[],'errnoRet':1}]}";

/* --- errors ---------------------------------------------------------------------------------- */

struct err_case {
    const char *json;
    const char *msg; /* a substring of the message (which starts with the JSON path) */
};

static void check_errors(const struct err_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cseccomp *f;
        struct sp_err err;
        int r = build_as(cases[i].json, &f, &err);
        if (r != -EINVAL)
            fail_msg("%s: got %d (%s), want -EINVAL", cases[i].json, r, r ? err.msg : "");
        if (err.code != -EINVAL) fail_msg("%s: err.code %d", cases[i].json, err.code);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("%s: message \"%s\" does not contain \"%s\"", cases[i].json, err.msg,
                     cases[i].msg);
    }
}

#define ALLOW "'defaultAction':'SCMP_ACT_ALLOW'"

static void test_errors_top(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        {"[]", "linux.seccomp: must be an object, got an array"},
        {"'SCMP_ACT_ALLOW'", "linux.seccomp: must be an object, got a string"},
        {"{}", "linux.seccomp.defaultAction: required"},
        {"{'defaultAction':null}", "linux.seccomp.defaultAction: required"},
        {"{'defaultAction':1}", "linux.seccomp.defaultAction: must be a string, got a number"},
        {"{'defaultAction':'SCMP_ACT_FOO'}",
         "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\""},
        {"{'defaultAction':'scmp_act_allow'}", "unknown action \"scmp_act_allow\""},
        {"{'defaultAction':'SCMP_ACT_NOTIFY'}",
         "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported"},
        /* an errno only where the action takes one (the spec's "MUST print an error and fail") */
        {"{" ALLOW ",'defaultErrnoRet':1}",
         "linux.seccomp.defaultErrnoRet: not allowed with SCMP_ACT_ALLOW"},
        {"{'defaultAction':'SCMP_ACT_KILL','defaultErrnoRet':1}",
         "linux.seccomp.defaultErrnoRet: not allowed with SCMP_ACT_KILL"},
        {"{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':-1}",
         "linux.seccomp.defaultErrnoRet: must be between 0 and 4094, got -1"},
        {"{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':4095}",
         "linux.seccomp.defaultErrnoRet: must be between 0 and 4094, got 4095"},
        {"{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':'38'}",
         "linux.seccomp.defaultErrnoRet: must be an integer, got a string"},
        {"{'defaultAction':'SCMP_ACT_TRACE','defaultErrnoRet':1.5}",
         "linux.seccomp.defaultErrnoRet: must be an integer, got a number"},
    };
    check_errors(cases, SP_ARRAY_LEN(cases));
}

static void test_errors_arch_flags(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        {"{" ALLOW ",'architectures':'SCMP_ARCH_X86'}",
         "linux.seccomp.architectures: must be an array, got a string"},
        {"{" ALLOW ",'architectures':['SCMP_ARCH_X86',7]}",
         "linux.seccomp.architectures[1]: must be a string, got a number"},
        {"{" ALLOW ",'architectures':['SCMP_ARCH_FOO']}",
         "linux.seccomp.architectures[0]: unknown architecture \"SCMP_ARCH_FOO\""},
        {"{" ALLOW ",'architectures':['x86_64']}", "unknown architecture \"x86_64\""},
        {"{" ALLOW ",'architectures':['SCMP_ARCH_']}", "unknown architecture \"SCMP_ARCH_\""},
        {"{" ALLOW ",'architectures':['SCMP_ARCH_NATIVE']}", "unknown architecture"},
        {"{" ALLOW ",'architectures':['']}", "linux.seccomp.architectures[0]: unknown"},
        {"{" ALLOW ",'architectures':['SCMP_ARCH_X86_64_AND_A_VERY_LONG_SUFFIX_OF_NOTHING']}",
         "unknown architecture"},
        {"{" ALLOW ",'flags':{}}", "linux.seccomp.flags: must be an array, got an object"},
        {"{" ALLOW ",'flags':[true]}", "linux.seccomp.flags[0]: must be a string, got a boolean"},
        {"{" ALLOW ",'flags':['SECCOMP_FILTER_FLAG_TSYNC','SECCOMP_FILTER_FLAG_FOO']}",
         "linux.seccomp.flags[1]: unknown flag \"SECCOMP_FILTER_FLAG_FOO\""},
        {"{" ALLOW ",'flags':['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']}",
         "linux.seccomp.flags[0]: unknown flag"},
    };
    check_errors(cases, SP_ARRAY_LEN(cases));
}

static void test_errors_syscalls(void **state)
{
    (void)state;
#define SC(rule) "{" ALLOW ",'syscalls':[" rule "]}"
#define R3(rule)                                                                                   \
    "{" ALLOW ",'syscalls':[{'names':['getpid'],'action':'SCMP_ACT_LOG'},"                         \
    "{'names':['getppid'],'action':'SCMP_ACT_LOG'},{'names':['getuid'],'action':'SCMP_ACT_LOG'},"  \
    "" rule "]}"
    static const struct err_case cases[] = {
        {"{" ALLOW ",'syscalls':{}}", "linux.seccomp.syscalls: must be an array, got an object"},
        {SC("'mkdir'"), "linux.seccomp.syscalls[0]: must be an object, got a string"},
        {SC("{'action':'SCMP_ACT_ERRNO'}"), "linux.seccomp.syscalls[0].names: required"},
        {SC("{'names':null,'action':'SCMP_ACT_ERRNO'}"),
         "linux.seccomp.syscalls[0].names: required"},
        {SC("{'names':'mkdir','action':'SCMP_ACT_ERRNO'}"),
         "linux.seccomp.syscalls[0].names: must be an array, got a string"},
        {SC("{'names':[],'action':'SCMP_ACT_ERRNO'}"),
         "linux.seccomp.syscalls[0].names: must not be empty"},
        {SC("{'names':['mkdir',3],'action':'SCMP_ACT_ERRNO'}"),
         "linux.seccomp.syscalls[0].names[1]: must be a string, got a number"},
        {SC("{'names':['mkdir',''],'action':'SCMP_ACT_ERRNO'}"),
         "linux.seccomp.syscalls[0].names[1]: must not be empty"},
        {SC("{'names':['mkdir']}"), "linux.seccomp.syscalls[0].action: required"},
        {R3("{'names':['mkdir'],'action':'SCMP_ACT_FOO'}"),
         "linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\""},
        {R3("{'names':['mkdir'],'action':['SCMP_ACT_ERRNO']}"),
         "linux.seccomp.syscalls[3].action: must be a string, got an array"},
        {SC("{'names':['mkdir'],'action':'SCMP_ACT_NOTIFY'}"),
         "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY is not supported"},
        {SC("{'names':['mkdir'],'action':'SCMP_ACT_LOG','errnoRet':1}"),
         "linux.seccomp.syscalls[0].errnoRet: not allowed with SCMP_ACT_LOG"},
        {SC("{'names':['mkdir'],'action':'SCMP_ACT_ERRNO','errnoRet':70000}"),
         "linux.seccomp.syscalls[0].errnoRet: must be between 0 and 4094, got 70000"},
        {SC("{'names':['mkdir'],'action':'SCMP_ACT_TRACE','errnoRet':false}"),
         "linux.seccomp.syscalls[0].errnoRet: must be an integer, got a boolean"},
    };
    check_errors(cases, SP_ARRAY_LEN(cases));
}

static void test_errors_args(void **state)
{
    (void)state;
#define ARGS(args) SC("{'names':['socket'],'action':'SCMP_ACT_ERRNO','args':" args "}")
    static const struct err_case cases[] = {
        {ARGS("{}"), "linux.seccomp.syscalls[0].args: must be an array, got an object"},
        {ARGS("[7]"), "linux.seccomp.syscalls[0].args[0]: must be an object, got a number"},
        {ARGS("[{'value':1,'op':'SCMP_CMP_EQ'}]"),
         "linux.seccomp.syscalls[0].args[0].index: required"},
        {ARGS(
             "[{'index':0,'value':1,'op':'SCMP_CMP_EQ'},{'index':6,'value':1,'op':'SCMP_CMP_EQ'}]"),
         "linux.seccomp.syscalls[0].args[1].index: must be between 0 and 5, got 6"},
        {ARGS("[{'index':-1,'value':1,'op':'SCMP_CMP_EQ'}]"),
         "linux.seccomp.syscalls[0].args[0].index: must be between 0 and 5, got -1"},
        {ARGS("[{'index':'0','value':1,'op':'SCMP_CMP_EQ'}]"),
         "linux.seccomp.syscalls[0].args[0].index: must be an integer, got a string"},
        {ARGS("[{'index':0,'op':'SCMP_CMP_EQ'}]"),
         "linux.seccomp.syscalls[0].args[0].value: required"},
        {ARGS("[{'index':0,'value':'10','op':'SCMP_CMP_EQ'}]"),
         "linux.seccomp.syscalls[0].args[0].value: must be an integer, got a string"},
        {ARGS("[{'index':0,'value':-2,'op':'SCMP_CMP_EQ'}]"),
         "linux.seccomp.syscalls[0].args[0].value: must be between 0 and 18446744073709551615, "
         "got -2"},
        {ARGS("[{'index':0,'value':1,'valueTwo':1.5,'op':'SCMP_CMP_EQ'}]"),
         "linux.seccomp.syscalls[0].args[0].valueTwo: must be an integer, got a number"},
        {ARGS("[{'index':0,'value':1}]"), "linux.seccomp.syscalls[0].args[0].op: required"},
        {ARGS("[{'index':0,'value':1,'op':3}]"),
         "linux.seccomp.syscalls[0].args[0].op: must be a string, got a number"},
        {ARGS("[{'index':0,'value':1,'op':'SCMP_CMP_FOO'}]"),
         "linux.seccomp.syscalls[0].args[0].op: unknown operator \"SCMP_CMP_FOO\""},
    };
    check_errors(cases, SP_ARRAY_LEN(cases));
}

/* A rule is checked in full even when it is then skipped: its action is the default one, or
 * none of its syscalls is known here. */
static void test_errors_in_skipped_rules(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        {SC("{'names':['mkdir'],'action':'SCMP_ACT_ALLOW','args':[{'index':9,'value':0,"
            "'op':'SCMP_CMP_EQ'}]}"),
         "linux.seccomp.syscalls[0].args[0].index: must be between 0 and 5"},
        {SC("{'names':['no_such_syscall'],'action':'SCMP_ACT_ERRNO','args':[{'index':0,"
            "'value':0,'op':'SCMP_CMP_XX'}]}"),
         "linux.seccomp.syscalls[0].args[0].op: unknown operator"},
        {SC("{'names':['no_such_syscall',5],'action':'SCMP_ACT_ALLOW'}"),
         "linux.seccomp.syscalls[0].names[1]: must be a string"},
        {"{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['mkdir'],"
         "'action':'SCMP_ACT_ERRNO','errnoRet':5000}]}",
         "linux.seccomp.syscalls[0].errnoRet: must be between 0 and 4094"},
    };
    check_errors(cases, SP_ARRAY_LEN(cases));
}

/* Errors that libseccomp reports keep its code. */
static void test_errors_from_libseccomp(void **state)
{
    (void)state;
    struct cseccomp *f;
    struct sp_err err;
    /* a big-endian architecture next to the little-endian native one */
    int r =
        build_as("{" ALLOW ",'architectures':['SCMP_ARCH_X86_64','SCMP_ARCH_S390X']}", &f, &err);
    assert_int_equal(r, -EDOM);
    assert_int_equal(err.code, -EDOM);
    assert_contains(err.msg, "linux.seccomp.architectures[1]: adding architecture "
                             "SCMP_ARCH_S390X");
    assert_null(f);

    r = build_as("{" ALLOW ",'architectures':['SCMP_ARCH_PPC64']}", &f, &err);
    assert_int_equal(r, -EDOM);

    struct sp_err err2;
    sp_err_clear(&err2);
    assert_int_equal(cseccomp_build(NULL, &f, &err2), -EINVAL);
    assert_null(f);
    assert_contains(err2.msg, "linux.seccomp: required");
}

/* --- what builds ----------------------------------------------------------------------------- */

static void test_builds(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{" ALLOW "}",
        /* null counts as absent everywhere */
        "{" ALLOW ",'defaultErrnoRet':null,'architectures':null,'flags':null,'syscalls':null,"
        "'listenerPath':null}",
        "{" ALLOW ",'syscalls':[{'names':['mkdir'],'action':'SCMP_ACT_ERRNO','errnoRet':null,"
        "'args':null}]}",
        "{" ALLOW ",'architectures':[],'flags':[],'syscalls':[]}",
        /* every action as the default, with an errno where it takes one */
        "{'defaultAction':'SCMP_ACT_KILL'}",
        "{'defaultAction':'SCMP_ACT_KILL_THREAD'}",
        "{'defaultAction':'SCMP_ACT_KILL_PROCESS'}",
        "{'defaultAction':'SCMP_ACT_TRAP'}",
        "{'defaultAction':'SCMP_ACT_ERRNO'}",
        "{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':0}",
        "{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':4094}",
        "{'defaultAction':'SCMP_ACT_TRACE','defaultErrnoRet':1}",
        "{'defaultAction':'SCMP_ACT_LOG'}",
        /* every action in a rule */
        "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':["
        "{'names':['getpid'],'action':'SCMP_ACT_ALLOW'},"
        "{'names':['getppid'],'action':'SCMP_ACT_KILL'},"
        "{'names':['getuid'],'action':'SCMP_ACT_KILL_THREAD'},"
        "{'names':['getgid'],'action':'SCMP_ACT_KILL_PROCESS'},"
        "{'names':['geteuid'],'action':'SCMP_ACT_TRAP'},"
        "{'names':['getegid'],'action':'SCMP_ACT_ERRNO','errnoRet':2},"
        "{'names':['gettid'],'action':'SCMP_ACT_TRACE','errnoRet':3},"
        "{'names':['getpgrp'],'action':'SCMP_ACT_TRACE'},"
        "{'names':['getsid'],'action':'SCMP_ACT_LOG'}]}",
        /* a rule with the default action (errno included) is skipped, not refused */
        "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['mkdir'],"
        "'action':'SCMP_ACT_ERRNO'}]}",
        "{'defaultAction':'SCMP_ACT_KILL','syscalls':[{'names':['mkdir'],"
        "'action':'SCMP_ACT_KILL_THREAD'}]}",
        /* ERRNO(1) by default and an ERRNO rule without errnoRet (EPERM = 1 too) */
        "{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':1,'syscalls':[{'names':['mkdir'],"
        "'action':'SCMP_ACT_ERRNO'}]}",
        /* every operator; value -1 is oci_spec_load's UINT64_MAX */
        "{" ALLOW ",'syscalls':[{'names':['socket'],'action':'SCMP_ACT_ERRNO','args':["
        "{'index':0,'value':1,'op':'SCMP_CMP_NE'},{'index':1,'value':2,'op':'SCMP_CMP_LT'},"
        "{'index':2,'value':3,'op':'SCMP_CMP_LE'}]},"
        "{'names':['mmap'],'action':'SCMP_ACT_ERRNO','args':["
        "{'index':0,'value':1,'op':'SCMP_CMP_EQ'},{'index':1,'value':2,'op':'SCMP_CMP_GE'},"
        "{'index':2,'value':3,'op':'SCMP_CMP_GT'},"
        "{'index':3,'value':-1,'valueTwo':16,'op':'SCMP_CMP_MASKED_EQ'},"
        "{'index':4,'value':9223372036854775807,'op':'SCMP_CMP_LT'},"
        "{'index':5,'value':0,'op':'SCMP_CMP_GE'}]}]}",
        /* several conditions on one argument: one rule each */
        "{" ALLOW ",'syscalls':[{'names':['socket'],'action':'SCMP_ACT_ERRNO','args':["
        "{'index':0,'value':1,'op':'SCMP_CMP_EQ'},{'index':0,'value':2,'op':'SCMP_CMP_EQ'},"
        "{'index':1,'value':3,'op':'SCMP_CMP_EQ'},{'index':0,'value':10,'op':'SCMP_CMP_EQ'}]}]}",
        /* unknown syscall names are skipped; a rule may have no known name at all */
        "{" ALLOW ",'syscalls':[{'names':['no_such_syscall','mkdir','another_one'],"
        "'action':'SCMP_ACT_ERRNO'},{'names':['not_a_syscall_either'],'action':'SCMP_ACT_KILL',"
        "'args':[{'index':0,'value':1,'op':'SCMP_CMP_EQ'}]}]}",
        /* names of other architectures only */
        "{" ALLOW ",'syscalls':[{'names':['_llseek','vm86','s390_pci_mmio_read','set_tls'],"
        "'action':'SCMP_ACT_ERRNO'}]}",
        /* architectures, the native one repeated, and the suffix in any case */
        "{" ALLOW ",'architectures':['SCMP_ARCH_X86_64','SCMP_ARCH_X86','SCMP_ARCH_X32',"
        "'SCMP_ARCH_AARCH64','SCMP_ARCH_ARM','SCMP_ARCH_x86_64']}",
        "{" ALLOW ",'architectures':['SCMP_ARCH_MIPSEL','SCMP_ARCH_MIPSEL64',"
        "'SCMP_ARCH_MIPSEL64N32','SCMP_ARCH_PPC64LE','SCMP_ARCH_RISCV64']}",
        /* flags */
        "{" ALLOW ",'flags':['SECCOMP_FILTER_FLAG_TSYNC']}",
        "{" ALLOW ",'flags':['SECCOMP_FILTER_FLAG_LOG','SECCOMP_FILTER_FLAG_SPEC_ALLOW']}",
        /* what we do not use */
        "{" ALLOW ",'listenerPath':'/run/agent.sock','listenerMetadata':'x','unknown':1,"
        "'syscalls':[{'names':['mkdir'],'action':'SCMP_ACT_ERRNO','comment':'c',"
        "'includes':{},'excludes':{}}]}",
    };
    for (size_t i = 0; i < SP_ARRAY_LEN(ok); i++)
        build_ok(ok[i]);
    cseccomp_free(NULL);
}

static void test_podman_profile_builds(void **state)
{
    (void)state;
    build_ok(podman_profile);
}

/* --- in a child ------------------------------------------------------------------------------ */

#define CHILD_WAIT_MS 5000

/* A child's message to the parent (one write; no allocation). */
static void child_say(int fd, const char *fmt, ...) SP_PRINTF(2, 3);
static void child_say(int fd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1) n = (int)sizeof(buf) - 1;
    if (n > 0 && write(fd, buf, (size_t)n) < 0) _exit(99);
}

/* In a child: fails (exit 1) with a message unless cond holds. */
#define CHECK(fd, cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            child_say(fd, "line %d: ", __LINE__);                                                  \
            child_say(fd, __VA_ARGS__);                                                            \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* In a child: a call that must fail with errno e. */
#define CHECK_ERRNO(fd, call, e)                                                                   \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long)(call);                                                                    \
        int e_ = errno;                                                                            \
        CHECK(fd, r_ == -1 && e_ == (e), "%s: got %ld errno %d, want -1 errno %d", #call, r_, e_,  \
              (int)(e));                                                                           \
    } while (0)

/* In a child: builds the filter of text and loads it (after PR_SET_NO_NEW_PRIVS when nnp). */
static int child_load(int fd, const char *text, bool nnp)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    CHECK(fd, j, "bad JSON: %s", jerr.text);
    struct cseccomp *f;
    struct sp_err err;
    int r = cseccomp_build(j, &f, &err);
    json_decref(j);
    CHECK(fd, r == 0, "build: %d %s", r, err.msg);
    if (nnp) CHECK(fd, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
    r = cseccomp_load(f, &err);
    CHECK(fd, r == 0, "load: %d %s", r, err.msg);
    /* f is left to _exit: freeing could need syscalls the filter denies */
    return 0;
}

static const char *g_text; /* the filter of the current child */

typedef int (*child_fn)(int fd);

/* Runs fn in a child (its exit code is fn's result); returns the wait status and what it said. */
static int run_child(child_fn fn, const char *filter_json, char *msg, size_t msg_size)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    g_text = q(filter_json);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* the SIGSYS deaths */
        _exit(fn(p[1]));
    }
    close(p[1]);

    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t len = 0;
    int status = 0;
    bool eof = false;
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > CHILD_WAIT_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(p[0]);
            fail_msg("child did not exit within %d ms", CHILD_WAIT_MS);
        }
        struct pollfd pfd = {p[0], POLLIN, 0};
        if (!eof && poll(&pfd, 1, 10) > 0) {
            ssize_t n = read(p[0], msg + len, msg_size - 1 - len);
            if (n > 0)
                len += (size_t)n;
            else
                eof = true;
        } else if (eof) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    ssize_t n;
    while (len < msg_size - 1 && (n = read(p[0], msg + len, msg_size - 1 - len)) > 0)
        len += (size_t)n;
    msg[len] = '\0';
    close(p[0]);
    return status;
}

/* The child must exit 0. */
static void expect_child_ok(child_fn fn, const char *filter_json)
{
    char msg[2048];
    int st = run_child(fn, filter_json, msg, sizeof(msg));
    if (WIFSIGNALED(st)) fail_msg("child killed by signal %d (%s)", WTERMSIG(st), msg);
    if (WEXITSTATUS(st) != 0) fail_msg("child exited %d: %s", WEXITSTATUS(st), msg);
}

/* The child must die of signal sig. */
static void expect_child_signal(child_fn fn, const char *filter_json, int sig)
{
    char msg[2048];
    int st = run_child(fn, filter_json, msg, sizeof(msg));
    if (!WIFSIGNALED(st))
        fail_msg("child exited %d, want signal %d: %s", WEXITSTATUS(st), sig, msg);
    assert_int_equal(WTERMSIG(st), sig);
}

/* mkdir and mkdirat fail with errno 42 (ENOMSG, which neither returns by itself); the rest works.
 */
static int child_mkdir(int fd)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/cseccomp-test-%d", (int)getpid());
    pid_t me = getpid();
    if (child_load(fd, g_text, true)) return 1;
    CHECK_ERRNO(fd, mkdir(dir, 0700), 42);
    CHECK_ERRNO(fd, syscall(SYS_mkdirat, AT_FDCWD, dir, 0700), 42);
    CHECK_ERRNO(fd, syscall(SYS_mkdir, dir, 0700), 42);
    CHECK(fd, getpid() == me, "getpid");
    CHECK_ERRNO(fd, rmdir(dir), ENOENT); /* the kernel's answer, not the filter's */
    int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd, nfd >= 0, "open /dev/null: %d", errno);
    CHECK(fd, close(nfd) == 0, "close");
    CHECK(fd, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs");
    return 0;
}

static void test_load_errno_rule(void **state)
{
    (void)state;
    expect_child_ok(child_mkdir, "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                                 "{'names':['mkdir','mkdirat','no_such_syscall'],"
                                 "'action':'SCMP_ACT_ERRNO','errnoRet':42}]}");
}

/* socket(AF_INET6, ...) fails with 42 (EQ on arg 0); AF_INET works. */
static int child_socket_eq(int fd)
{
    if (child_load(fd, g_text, true)) return 1;
    CHECK_ERRNO(fd, socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), 42);
    CHECK_ERRNO(fd, socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), 42);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(fd, s >= 0, "socket(AF_INET): errno %d", errno);
    close(s);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd, s >= 0, "socket(AF_UNIX): errno %d", errno);
    close(s);
    return 0;
}

static void test_load_arg_eq(void **state)
{
    (void)state;
    expect_child_ok(child_socket_eq,
                    "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['socket'],"
                    "'action':'SCMP_ACT_ERRNO','errnoRet':42,"
                    "'args':[{'index':0,'value':10,'valueTwo':0,'op':'SCMP_CMP_EQ'}]}]}");
}

/*
 * MASKED_EQ with "value" the mask and "valueTwo" the expected result: openat fails with 43 when
 * (flags & (O_CREAT|O_EXCL)) == O_CREAT. Swapped (mask O_CREAT; libseccomp masks the datum too),
 * the O_EXCL open would be denied as well.
 */
static int child_masked_eq(int fd)
{
    if (child_load(fd, g_text, true)) return 1;
    CHECK_ERRNO(fd, open("/dev/null", O_WRONLY | O_CREAT | O_CLOEXEC, 0600), 43);
    CHECK_ERRNO(fd, open("/dev/null", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), EEXIST);
    int nfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(fd, nfd >= 0, "open without O_CREAT: errno %d", errno);
    close(nfd);
    return 0;
}

static void test_load_arg_masked_eq(void **state)
{
    (void)state;
    char text[512];
    snprintf(text, sizeof(text),
             "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['open'],"
             "'action':'SCMP_ACT_ERRNO','errnoRet':43,"
             "'args':[{'index':1,'value':%d,'valueTwo':%d,'op':'SCMP_CMP_MASKED_EQ'}]},"
             "{'names':['openat'],'action':'SCMP_ACT_ERRNO','errnoRet':43,"
             "'args':[{'index':2,'value':%d,'valueTwo':%d,'op':'SCMP_CMP_MASKED_EQ'}]}]}",
             O_CREAT | O_EXCL, O_CREAT, O_CREAT | O_EXCL, O_CREAT);
    expect_child_ok(child_masked_eq, text);
}

/* Two conditions on arg 0 (either denies), and two on different args (both must hold). */
static int child_multi_args(int fd)
{
    if (child_load(fd, g_text, true)) return 1;
    /* rule 0: arg0 == AF_INET6 or arg0 == AF_PACKET */
    CHECK_ERRNO(fd, socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), 44);
    CHECK_ERRNO(fd, socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0), 44);
    /* rule 1: arg0 == AF_UNIX and arg1 == SOCK_DGRAM (flags masked off) */
    CHECK_ERRNO(fd, socket(AF_UNIX, SOCK_DGRAM, 0), 45);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd, s >= 0, "socket(AF_UNIX, SOCK_STREAM): errno %d", errno);
    close(s);
    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(fd, s >= 0, "socket(AF_INET, SOCK_DGRAM): errno %d", errno);
    close(s);
    return 0;
}

static void test_load_multiple_args(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof(text),
             "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
             "{'names':['socket'],'action':'SCMP_ACT_ERRNO','errnoRet':44,"
             "'args':[{'index':0,'value':%d,'op':'SCMP_CMP_EQ'},"
             "{'index':0,'value':%d,'op':'SCMP_CMP_EQ'}]},"
             "{'names':['socket'],'action':'SCMP_ACT_ERRNO','errnoRet':45,"
             "'args':[{'index':0,'value':%d,'op':'SCMP_CMP_EQ'},"
             "{'index':1,'value':%d,'valueTwo':%d,'op':'SCMP_CMP_MASKED_EQ'}]}]}",
             AF_INET6, AF_PACKET, AF_UNIX, 0xff, SOCK_DGRAM);
    expect_child_ok(child_multi_args, text);
}

/* ERRNO(77) by default, an allow-list (sigaltstack: ASan calls it before _exit), and an ERRNO
 * rule without errnoRet (EPERM). */
static int child_allowlist(int fd)
{
    pid_t me = getpid();
    if (child_load(fd, g_text, true)) return 1;
    CHECK(fd, getpid() == me, "getpid");
    CHECK_ERRNO(fd, syscall(SYS_getppid), 77);
    CHECK_ERRNO(fd, syscall(SYS_getuid), EPERM);
    CHECK_ERRNO(fd, syscall(SYS_getgid), 5);
    CHECK_ERRNO(fd, open("/dev/null", O_RDONLY | O_CLOEXEC), 77);
    return 0; /* exit_group */
}

static void test_load_default_errno(void **state)
{
    (void)state;
    expect_child_ok(child_allowlist,
                    "{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':77,"
                    "'syscalls':[{'names':['exit','exit_group','write','getpid','rt_sigreturn',"
                    "'sigaltstack'],"
                    "'action':'SCMP_ACT_ALLOW'},"
                    "{'names':['getuid'],'action':'SCMP_ACT_ERRNO'},"
                    "{'names':['getgid'],'action':'SCMP_ACT_ERRNO','errnoRet':5},"
                    "{'names':['getppid'],'action':'SCMP_ACT_ERRNO','errnoRet':77}]}");
}

/* The podman profile: allowed, denied with EPERM, unknown to it (ENOSYS), personality by arg. */
static int child_podman(int fd)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/cseccomp-test-%d", (int)getpid());
    if (child_load(fd, g_text, true)) return 1;
    CHECK(fd, mkdir(dir, 0700) == 0, "mkdir: errno %d", errno);
    CHECK(fd, rmdir(dir) == 0, "rmdir: errno %d", errno);
    CHECK_ERRNO(fd, syscall(SYS_acct, NULL), EPERM);
    CHECK_ERRNO(fd, syscall(SYS_ptrace, 0, 0, 0, 0), EPERM);
    CHECK_ERRNO(fd, syscall(SYS_add_key, "user", "x", "", 0, 0), ENOSYS);
    CHECK_ERRNO(fd, syscall(SYS_request_key, "user", "x", NULL, 0), ENOSYS);
    CHECK(fd, personality(0xffffffff) >= 0, "personality(query): errno %d", errno);
    CHECK(fd, personality(PER_LINUX) >= 0, "personality(PER_LINUX): errno %d", errno);
    CHECK_ERRNO(fd, personality(ADDR_NO_RANDOMIZE), ENOSYS);
    return 0;
}

static void test_load_podman_profile(void **state)
{
    (void)state;
    expect_child_ok(child_podman, podman_profile);
}

static int child_getppid(int fd)
{
    if (child_load(fd, g_text, true)) return 1;
    getppid();
    child_say(fd, "getppid returned");
    return 3;
}

static void test_load_kill_process(void **state)
{
    (void)state;
    expect_child_signal(child_getppid,
                        "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getppid'],"
                        "'action':'SCMP_ACT_KILL_PROCESS'}]}",
                        SIGSYS);
    /* SCMP_ACT_KILL kills the thread: the whole process, when it is the only one */
    expect_child_signal(child_getppid,
                        "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['getppid'],"
                        "'action':'SCMP_ACT_KILL'}]}",
                        SIGSYS);
}

static volatile sig_atomic_t g_trapped_nr = -1;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    g_trapped_nr = si->si_syscall;
}

/* SCMP_ACT_TRAP: SIGSYS names the syscall, which does not run. */
static int child_trap(int fd)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    CHECK(fd, sigaction(SIGSYS, &sa, NULL) == 0, "sigaction");
    if (child_load(fd, g_text, true)) return 1;
    syscall(SYS_getppid);
    CHECK(fd, g_trapped_nr == SYS_getppid, "trapped %d, want %d", (int)g_trapped_nr,
          (int)SYS_getppid);
    return 0;
}

static void test_load_trap(void **state)
{
    (void)state;
    expect_child_ok(child_trap, "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                                "{'names':['getppid'],'action':'SCMP_ACT_TRAP'}]}");
}

/* As root (CAP_SYS_ADMIN) the filter loads without no_new_privs, and does not set it. */
static int child_no_nnp(int fd)
{
    if (child_load(fd, g_text, false)) return 1;
    CHECK(fd, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0, "no_new_privs was set");
    CHECK_ERRNO(fd, syscall(SYS_getppid), 46);
    return 0;
}

static void test_load_leaves_nnp(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();
    expect_child_ok(child_no_nnp, "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                                  "{'names':['getppid'],'action':'SCMP_ACT_ERRNO',"
                                  "'errnoRet':46}]}");
}

/* Without no_new_privs or CAP_SYS_ADMIN, loading fails with the kernel's EACCES. */
static int child_no_privs(int fd)
{
    json_t *j = json_loads(g_text, 0, NULL);
    CHECK(fd, j, "bad JSON");
    struct cseccomp *f;
    struct sp_err err;
    int r = cseccomp_build(j, &f, &err);
    json_decref(j);
    CHECK(fd, r == 0, "build: %s", err.msg);
    if (geteuid() == 0) {
        CHECK(fd, setgroups(0, NULL) == 0, "setgroups");
        CHECK(fd, setgid(65534) == 0 && setuid(65534) == 0, "setuid: errno %d", errno);
    }
    sp_err_clear(&err);
    r = cseccomp_load(f, &err);
    CHECK(fd, r == -EACCES, "load: got %d (%s), want -EACCES", r, err.msg);
    CHECK(fd, err.code == -EACCES, "err.code %d", err.code);
    CHECK(fd, strstr(err.msg, "loading the seccomp filter: Permission denied") != NULL,
          "message: %s", err.msg);
    cseccomp_free(f);
    CHECK(fd, getppid() > 0, "getppid filtered after a failed load");
    return 0;
}

static void test_load_without_privileges(void **state)
{
    (void)state;
    expect_child_ok(child_no_privs, "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                                    "{'names':['getppid'],'action':'SCMP_ACT_ERRNO'}]}");
    struct sp_err err;
    assert_int_equal(cseccomp_load(NULL, &err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_top),
        cmocka_unit_test(test_errors_arch_flags),
        cmocka_unit_test(test_errors_syscalls),
        cmocka_unit_test(test_errors_args),
        cmocka_unit_test(test_errors_in_skipped_rules),
        cmocka_unit_test(test_errors_from_libseccomp),
        cmocka_unit_test(test_builds),
        cmocka_unit_test(test_podman_profile_builds),
        cmocka_unit_test(test_load_errno_rule),
        cmocka_unit_test(test_load_arg_eq),
        cmocka_unit_test(test_load_arg_masked_eq),
        cmocka_unit_test(test_load_multiple_args),
        cmocka_unit_test(test_load_default_errno),
        cmocka_unit_test(test_load_podman_profile),
        cmocka_unit_test(test_load_kill_process),
        cmocka_unit_test(test_load_trap),
        cmocka_unit_test(test_load_leaves_nnp),
        cmocka_unit_test(test_load_without_privileges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
