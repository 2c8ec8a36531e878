/*
 * report: how larder-load prints what it measured — a line per second, a
 * CSV row per second, a summary per phase, and one final machine-readable
 * "RESULT key=value ..." line that scripts parse instead of the prose.
 * Latencies are printed in microseconds.
 */
#ifndef LARDER_BENCH_REPORT_H
#define LARDER_BENCH_REPORT_H

#include <stdio.h>

#include "tally.h"

void report_second_header(FILE *f);
void report_second(FILE *f, unsigned sec, double secs, const struct tally *t);

void report_csv_header(FILE *f);
void report_csv_row(FILE *f, unsigned sec, double secs, const struct tally *t);

/* A few lines on one phase ("prefill", "run", "scan"). */
void report_phase(FILE *f, const char *name, double secs, const struct tally *t);

/* The totals scripts need.  `all` is every phase added up: what the
 * server's own counters should show; all_lost is 1 when the run stopped
 * early because every connection was gone. */
void report_kv(FILE *f, const struct tally *run, double run_secs, const struct tally *prefill,
               const struct tally *scan, const struct tally *all, int all_lost);

#endif
