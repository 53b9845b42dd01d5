/* peak_rss.c - runs a command and reports the peak resident set size the kernel recorded for it, so every peer of
 * bench/compare.sh is measured the same way whatever its language: `peak_rss NAME CMD [ARGS...]` passes CMD's
 * output through, then prints `RESULT NAME <bytes> bytes` (getrusage(RUSAGE_CHILDREN).ru_maxrss, the largest RSS
 * of the child, threads included) and exits with CMD's status (128 + signal if it was killed). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: peak_rss NAME CMD [ARGS...]\n");
        return 2;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "peak_rss: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "peak_rss: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "peak_rss: waitpid: %s\n", strerror(errno));
            return 2;
        }
    struct rusage ru;
    if (getrusage(RUSAGE_CHILDREN, &ru) != 0) {
        fprintf(stderr, "peak_rss: getrusage: %s\n", strerror(errno));
        return 2;
    }
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    int rc = WEXITSTATUS(status);
    if (rc == 0) printf("RESULT %s %lld bytes\n", argv[1], (long long)ru.ru_maxrss * 1024); /* kernel: KiB */
    return rc;
}
