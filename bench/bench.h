/* bench.h - what every benchmark shares: a fresh monotonic clock, argument parsing, /proc/self/status reads, the
 * `RESULT <name> <value> <unit>` line that bench/run.sh collects, and failing loudly. Plain C that also compiles
 * as C++, so the Boost.Context baselines measure with the very same clock and print the same lines. */
#ifndef CORIO_BENCH_H
#define CORIO_BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A fresh reading, not corio_now(): corio caches its clock once per loop iteration, and a benchmark that timed
 * itself with the cached value would measure the scheduler's idea of time instead of the time spent. */
static inline int64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A benchmark whose check fails has measured nothing worth printing: say why and exit non-zero, so run.sh fails. */
static inline void bench_fail(const char *prog, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: FAILED: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* argv[i] as a positive count, def when absent; anything else is a usage error rather than a silent default. */
static inline uint64_t bench_arg_count(const char *prog, int argc, char **argv, int i, uint64_t def) {
    if (i >= argc) return def;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (errno != 0 || end == argv[i] || *end != '\0' || v == 0 || argv[i][0] == '-')
        bench_fail(prog, "argument %d must be a positive integer, got \"%s\"", i, argv[i]);
    return (uint64_t)v;
}

/* Whether flag (e.g. "--compact") is among the arguments; it may come anywhere, and is taken out of argv so that
 * the positional arguments keep their numbers for bench_arg_count. */
static inline int bench_take_flag(int *argc, char **argv, const char *flag) {
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], flag) != 0) continue;
        for (int j = i; j + 1 < *argc; j++) argv[j] = argv[j + 1];
        (*argc)--;
        return 1;
    }
    return 0;
}

/* A field of /proc/self/status in bytes (the kernel prints "VmHWM:   1234 kB"), or -1 if it cannot be read. */
static inline int64_t bench_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return -1;
    char line[256];
    size_t len = strlen(field);
    int64_t bytes = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            bytes = (int64_t)strtoll(line + len + 1, NULL, 10) * 1024;
            break;
        }
    }
    fclose(f);
    return bytes;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0), so a later VmHWM is the peak of what follows only. 0 on
 * success, -1 where the kernel refuses; the caller then still has a valid, if looser, upper bound. */
static inline int bench_reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL) return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Flushed at once, so a later crash cannot swallow figures already measured. */
static inline void bench_result(const char *name, double value, const char *unit) {
    printf("RESULT %s %.3f %s\n", name, value, unit);
    fflush(stdout);
}

#endif
