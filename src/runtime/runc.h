/* SPDX-License-Identifier: MIT */
/*
 * sprite-runc: runc's command line (the part containerd's runc shim, conmon and people use) on
 * the container library. See docs/runtime.md.
 */
#ifndef SP_RUNC_H
#define SP_RUNC_H

/* argv[0] is the program name; returns the exit status. */
int runc_main(int argc, char **argv, const char *version);

#endif
