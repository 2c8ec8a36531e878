/*
 * report: text, CSV and key=value output; see report.h.
 */
#include "report.h"

#include <inttypes.h>

static double report_us(uint64_t ns) {
    return (double)ns / 1000.0;
}

static double report_rate(uint64_t n, double secs) {
    return secs > 0 ? (double)n / secs : 0.0;
}

static double report_hit_pct(const struct tally *t) {
    return t->gets ? 100.0 * (double)t->hits / (double)t->gets : 0.0;
}

void report_second_header(FILE *f) {
    fprintf(f, "%5s %10s %10s %10s %6s %9s %9s %9s %9s %7s\n", "sec", "ops/s", "gets/s", "sets/s",
            "hit%", "p50us", "p99us", "p99.9us", "maxus", "errors");
}

void report_second(FILE *f, unsigned sec, double secs, const struct tally *t) {
    const struct hist *h = &t->latency;
    fprintf(f, "%5u %10.0f %10.0f %10.0f %6.1f %9.1f %9.1f %9.1f %9.1f %7" PRIu64 "\n", sec,
            report_rate(t->gets + t->sets, secs), report_rate(t->gets, secs),
            report_rate(t->sets, secs), report_hit_pct(t), report_us(hist_percentile(h, 50)),
            report_us(hist_percentile(h, 99)), report_us(hist_percentile(h, 99.9)),
            report_us(h->count ? h->max : 0), tally_errors(t));
    fflush(f);
}

void report_csv_header(FILE *f) {
    fprintf(f, "sec,ops_per_sec,reqs_per_sec,gets_per_sec,sets_per_sec,hit_ratio,"
               "p50_us,p99_us,p999_us,max_us,errors\n");
}

void report_csv_row(FILE *f, unsigned sec, double secs, const struct tally *t) {
    const struct hist *h = &t->latency;
    fprintf(f, "%u,%.1f,%.1f,%.1f,%.1f,%.4f,%.1f,%.1f,%.1f,%.1f,%" PRIu64 "\n", sec,
            report_rate(t->gets + t->sets, secs), report_rate(t->reqs, secs),
            report_rate(t->gets, secs), report_rate(t->sets, secs), report_hit_pct(t) / 100.0,
            report_us(hist_percentile(h, 50)), report_us(hist_percentile(h, 99)),
            report_us(hist_percentile(h, 99.9)), report_us(h->count ? h->max : 0),
            tally_errors(t));
    fflush(f);
}

void report_phase(FILE *f, const char *name, double secs, const struct tally *t) {
    const struct hist *h = &t->latency;
    fprintf(f, "%s: %" PRIu64 " ops (%" PRIu64 " gets, %" PRIu64 " sets, %" PRIu64
               " requests) in %.2f s = %.0f ops/s, hits %" PRIu64 " (%.2f%%)\n",
            name, t->gets + t->sets, t->gets, t->sets, t->reqs, secs,
            report_rate(t->gets + t->sets, secs), t->hits, report_hit_pct(t));
    fprintf(f, "%s: latency us: mean %.1f p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n", name,
            hist_mean(h) / 1000.0, report_us(hist_percentile(h, 50)),
            report_us(hist_percentile(h, 90)), report_us(hist_percentile(h, 99)),
            report_us(hist_percentile(h, 99.9)), report_us(h->count ? h->max : 0));
    fprintf(f, "%s: errors %" PRIu64 " (bad values %" PRIu64 ", protocol %" PRIu64
               ", error replies %" PRIu64 ", connection %" PRIu64 ", timeouts %" PRIu64
               "); sets refused for lack of memory %" PRIu64 ", stale values %" PRIu64 "\n",
            name, tally_errors(t), t->bad_values, t->proto_errors, t->server_errors,
            t->conn_errors, t->timeouts, t->sets_refused, t->stale_values);
}

void report_kv(FILE *f, const struct tally *run, double run_secs, const struct tally *prefill,
               const struct tally *scan, const struct tally *all, int all_lost) {
    const struct hist *h = &run->latency;
    fprintf(f,
            "RESULT ops_per_sec=%.1f reqs_per_sec=%.1f duration_s=%.3f gets=%" PRIu64
            " sets=%" PRIu64 " hits=%" PRIu64 " hit_ratio=%.4f",
            report_rate(run->gets + run->sets, run_secs), report_rate(run->reqs, run_secs),
            run_secs, run->gets, run->sets, run->hits, report_hit_pct(run) / 100.0);
    fprintf(f, " mean_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f",
            hist_mean(h) / 1000.0, report_us(hist_percentile(h, 50)),
            report_us(hist_percentile(h, 90)), report_us(hist_percentile(h, 99)),
            report_us(hist_percentile(h, 99.9)), report_us(h->count ? h->max : 0));
    fprintf(f, " prefill_sets=%" PRIu64 " scan_gets=%" PRIu64 " scan_hits=%" PRIu64, prefill->sets,
            scan->gets, scan->hits);
    fprintf(f, " all_gets=%" PRIu64 " all_sets=%" PRIu64 " all_hits=%" PRIu64, all->gets, all->sets,
            all->hits);
    fprintf(f, " errors=%" PRIu64 " bad_values=%" PRIu64 " proto_errors=%" PRIu64
               " server_errors=%" PRIu64 " conn_errors=%" PRIu64 " timeouts=%" PRIu64
               " sets_refused=%" PRIu64 " stale_values=%" PRIu64 " all_lost=%d\n",
            tally_errors(all), all->bad_values, all->proto_errors, all->server_errors,
            all->conn_errors, all->timeouts, all->sets_refused, all->stale_values, all_lost);
    fflush(f);
}
