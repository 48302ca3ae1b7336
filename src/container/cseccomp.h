/* SPDX-License-Identifier: MIT */
/*
 * OCI seccomp filters (runtime-spec config-linux.md "Seccomp", oci-runtime.md §3.8), built and
 * loaded with libseccomp, following runc and crun:
 *
 * - Actions: SCMP_ACT_KILL (= SCMP_ACT_KILL_THREAD), SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS,
 *   SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG. SCMP_ACT_NOTIFY
 *   is refused ("not supported"). SCMP_ACT_ERRNO and SCMP_ACT_TRACE return errnoRet (for the
 *   default action: defaultErrnoRet), EPERM when it is absent, as the spec, runc and crun say; an
 *   errnoRet (or defaultErrnoRet) on any other action is an error (the spec's "MUST fail"). The
 *   errno must be in 0..4094 (what libseccomp takes).
 * - Architectures: "SCMP_ARCH_<NAME>", resolved by libseccomp from the lower-cased <NAME>
 *   (x86_64, x86, x32, aarch64, arm, mips64n32, ppc64le, s390x, riscv64, ...); one libseccomp
 *   does not know is an error. The native architecture is always in the filter.
 * - flags: SECCOMP_FILTER_FLAG_TSYNC (ignored: the filter is loaded before any other thread
 *   exists), SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW; any other is an error, as
 *   is one this kernel or libseccomp cannot set.
 * - Rules: a syscall name this libseccomp does not know is skipped (runc and crun do the same:
 *   profiles list the syscalls of every architecture and kernel). A rule whose action is the
 *   default action is skipped (libseccomp refuses it). args[].index is 0..5; value and valueTwo
 *   are uint64 (-1, the stand-in oci_spec_load writes for integers above INT64_MAX, reads as
 *   UINT64_MAX); ops SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT, _MASKED_EQ. For SCMP_CMP_MASKED_EQ
 *   "value" is the mask and "valueTwo" the value compared with (arg & value) == valueTwo, as in
 *   runc and crun and the Docker/podman profiles. When every arg of a rule names a different
 *   index, one rule holds all the conditions (they must all match); otherwise each condition is
 *   a rule of its own (any may match), as runc does.
 * - listenerPath and listenerMetadata are ignored (they serve SCMP_ACT_NOTIFY only).
 *
 * The filter does not set no_new_privs itself (SCMP_FLTATR_CTL_NNP is off): the caller does it,
 * or holds CAP_SYS_ADMIN.
 */
#ifndef SP_CSECCOMP_H
#define SP_CSECCOMP_H

#include <jansson.h>

#include "../base/err.h"

struct cseccomp;

/*
 * Builds a filter from an OCI linux.seccomp object (only read; the caller keeps it): fields
 * defaultAction, defaultErrnoRet, architectures, flags, syscalls[{names, action, errnoRet,
 * args[{index, value, valueTwo, op}]}], with a JSON null read as absent. 0 and *out, or
 * -EINVAL with err naming the field ("linux.seccomp.syscalls[3].action: unknown action
 * \"SCMP_ACT_FOO\""), -ENOMEM, or libseccomp's -errno when it refuses a rule ("linux.seccomp.
 * syscalls[2]: adding a rule for \"mkdir\": File exists"); *out is NULL on failure. Syscall
 * names this kernel/libseccomp does not know are skipped (as runc does).
 */
int cseccomp_build(json_t *conf, struct cseccomp **out, struct sp_err *err);

/*
 * Loads the filter into the calling process (its calling thread; no TSYNC). Needs
 * no_new_privs or CAP_SYS_ADMIN (else -EACCES). Allocates (libseccomp generates the BPF here).
 * 0 or -errno with err filled ("loading the seccomp filter: Permission denied").
 */
int cseccomp_load(struct cseccomp *f, struct sp_err *err);

void cseccomp_free(struct cseccomp *f); /* NULL is fine */

#endif
