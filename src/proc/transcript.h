/* SPDX-License-Identifier: MIT */
/*
 * Transcripts (the seed's feature): while enabled, every process started through the API gets a
 * file <dir>/<tag>.jsonl with one JSON object per line: a "start" record, then "stdin",
 * "stdout" and "stderr" records with a timestamp and the bytes (UTF-8, or base64 with
 * "encoding":"base64"), then an "exit" record. A transcript stops growing at max_bytes (a
 * "truncated" record says so). Internal to src/proc; the API reaches it through proc.h.
 */
#ifndef SP_TRANSCRIPT_H
#define SP_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

struct proc;
struct transcript;

/* Opens the file and writes the start record; NULL (logged) when it cannot. */
struct transcript *transcript_open(const char *dir, struct proc *p, uint64_t max_bytes);
void transcript_data(struct transcript *t, const char *stream, const void *data, size_t n);
/* Writes the exit record and closes the file. */
void transcript_close(struct transcript *t, struct proc *p);

#endif
