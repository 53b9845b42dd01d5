/* hello.c - the README's example: three tasks sleep 1 s each, gathered in about 1 s, and one failure caught. */
#include <corio.h>
#include <errno.h>
#include <stdio.h>

static int fetch(void *arg) {
    int *answer = arg;
    int rc = corio_sleep(1000); /* suspends this task only */
    if (rc < 0) return rc;
    if (*answer < 0) return -ECONNREFUSED; /* a failing "request" */
    *answer = 42;
    return 0;
}

static int main_task(void *arg) {
    (void)arg;
    int answers[3] = {0, 0, -1}, statuses[3];
    corio_task *t[3];
    int64_t start = corio_now();
    for (int i = 0; i < 3; i++) t[i] = corio_spawn(fetch, &answers[i]);
    corio_gather(t, 3, statuses); /* waits for all three at once */
    printf("gathered in %lld ms\n", (long long)(corio_now() - start));
    for (int i = 0; i < 3; i++)
        printf("task %d: %s, answer %d\n", i, statuses[i] < 0 ? corio_strerror(statuses[i]) : "ok", answers[i]);
    return 0;
}

int main(void) { return corio_run(main_task, NULL) < 0; }
