/* process.c - subprocesses (asyncio.create_subprocess_exec): posix_spawn with pipes or /dev/null for the standard
 * streams, and a pidfd to wait for the exit on the loop like any other descriptor.
 *
 * posix_spawn rather than fork: glibc's vfork-style clone does not copy the page tables of a process that may
 * hold a million task stacks, and it reports exec failures (ENOENT, EACCES) through its return value. The pidfd
 * becomes readable when the child exits, so waiting costs no SIGCHLD handler and no thread; it also pins the
 * child, so kill and waitid can never hit a later process that reused the pid. Without pidfd_open (kernels
 * before 5.3, and valgrind, which does not know the call) waiting falls back to polling waitpid on a short timer. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

extern char **environ; // NOLINT(readability-redundant-declaration): POSIX has the program declare it

struct corio_process {
    pid_t pid;
    int pidfd;  /* -1 once reaped, or when the kernel has no pidfd_open */
    int fds[3]; /* the parent's pipe ends, -1 where there is none */
    struct {
        dev_t dev;
        ino_t ino;
    } pipe_id[3]; /* which pipe each is (fstat): corio_process_fd lends it out, and the borrower may close it */
    int status;   /* the wait status, once reaped */
    bool reaped;
};

#define POLL_MIN_MS 1 /* the fallback without pidfd: back off from 1 ms to 50 ms between waitpid polls */
#define POLL_MAX_MS 50

static int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0); /* always close-on-exec */
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* A child's end must not sit on 0, 1 or 2 (possible when the parent runs with a standard stream closed): the
 * dup2 onto one of those numbers would overwrite it before it is itself duplicated. */
static int above_stdio(int fd) {
    if (fd > 2) return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int err = errno;
    close(fd);
    errno = err;
    return moved;
}

/* The pipe for standard stream i: the parent's end (non-blocking, for corio_read / corio_write) in *parent, the
 * child's (blocking, as programs expect) in *child. Both close-on-exec; dup2 clears that on the child's copy. */
static int make_pipe(int i, int *parent, int *child) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -errno;
    int pe = i == 0 ? p[1] : p[0], ce = i == 0 ? p[0] : p[1];
    if ((ce = above_stdio(ce)) < 0 || fcntl(pe, F_SETFL, O_NONBLOCK) < 0) {
        int rc = -errno;
        close(pe);
        if (ce >= 0) close(ce);
        return rc;
    }
    *parent = pe;
    *child = ce;
    return 0;
}

/* The spawn itself: 0 with *pid set, or a positive errno. */
static int spawn(const char *file, char *const argv[], const corio_process_opts *o, const int child[3], pid_t *pid) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) return rc;
    if ((rc = posix_spawnattr_init(&attr))) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    const int modes[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
    for (int i = 0; i < 3 && !rc; i++) {
        if (modes[i] == CORIO_STDIO_PIPE)
            rc = posix_spawn_file_actions_adddup2(&fa, child[i], i);
        else if (modes[i] == CORIO_STDIO_DEVNULL)
            rc = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    if (!rc && o->cwd) rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    /* The child starts clean: the loop ignores SIGPIPE and blocks the signals tasks wait for, and a program run
     * with SIGPIPE ignored or SIGINT blocked misbehaves (`yes | head` would never end). */
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (!rc) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (!rc) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (!rc) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (!rc) rc = posix_spawnp(pid, file, &fa, &attr, argv, o->envp ? o->envp : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

corio_process *corio_process_spawn(const char *file, char *const argv[], const corio_process_opts *opts) {
    corio_process_opts none = {0};
    const corio_process_opts *o = opts ? opts : &none;
    const int modes[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
    if (!file || !argv || !argv[0] || !CORIO__RESERVED_ZERO(o)) {
        errno = EINVAL;
        return NULL;
    }
    for (int i = 0; i < 3; i++)
        if (modes[i] < CORIO_STDIO_INHERIT || modes[i] > CORIO_STDIO_DEVNULL) {
            errno = EINVAL;
            return NULL;
        }
    corio_process *p = malloc(sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->pid = 0; /* spawn sets it; set here too, since clang's analyzer cannot follow rc = -spawn(...) */
    p->pidfd = -1;
    p->status = 0;
    p->reaped = false;
    int child[3] = {-1, -1, -1};
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        p->fds[i] = -1;
        if (modes[i] == CORIO_STDIO_PIPE && !rc) rc = make_pipe(i, &p->fds[i], &child[i]);
    }
    if (!rc) rc = -spawn(file, argv, o, child, &p->pid);
    /* the child has its copies (or never started): the parent's copies of the child's ends must go, or the
     * child would never see EOF on stdin, and we never on its stdout */
    for (int i = 0; i < 3; i++)
        if (child[i] >= 0) close(child[i]);
    if (rc < 0) {
        for (int i = 0; i < 3; i++)
            if (p->fds[i] >= 0) close(p->fds[i]);
        free(p);
        errno = -rc;
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        struct stat sb;
        bool known = p->fds[i] >= 0 && fstat(p->fds[i], &sb) == 0;
        p->pipe_id[i].dev = known ? sb.st_dev : 0;
        p->pipe_id[i].ino = known ? sb.st_ino : 0;
    }
    p->pidfd = pidfd_open(p->pid); /* -1 (ENOSYS): the waitpid fallback */
    return p;
}

/* Closes the parent's end of pipe i if it is still that pipe: 0, or -EBADF if it is gone. A caller lent it by
 * corio_process_fd may have closed it already (given it to a stream, which closed it), and the number may be
 * another descriptor by now, which is not ours to close. One fstat per pipe, next to a process's cost. */
static int close_pipe(corio_process *p, int i) {
    int fd = p->fds[i];
    p->fds[i] = -1;
    struct stat sb;
    if (fstat(fd, &sb) < 0 || sb.st_dev != p->pipe_id[i].dev || sb.st_ino != p->pipe_id[i].ino) return -EBADF;
    return corio_close(fd);
}

int corio_process_pid(const corio_process *p) { return p ? p->pid : -EINVAL; }

int corio_process_fd(const corio_process *p, int which) {
    if (!p || which < 0 || which > 2) return -EINVAL;
    return p->fds[which] >= 0 ? p->fds[which] : -EBADF;
}

int corio_process_take_fd(corio_process *p, int which) {
    if (!p || which < 0 || which > 2) return -EINVAL;
    int fd = p->fds[which];
    if (fd < 0) return -EBADF;
    p->fds[which] = -1; /* the caller's now: corio_process_free leaves it alone */
    return fd;
}

int corio_process_close_fd(corio_process *p, int which) {
    if (!p || which < 0 || which > 2) return -EINVAL;
    if (p->fds[which] < 0) return -EBADF;
    return close_pipe(p, which);
}

/* Records a reaped child. The pidfd goes at once: it is of no further use and the descriptor is better free. */
static void reaped(corio_process *p, int status) {
    p->status = status;
    p->reaped = true;
    if (p->pidfd >= 0) corio_close(p->pidfd);
    p->pidfd = -1;
}

/* The wait status waitpid would have given, from the siginfo waitid fills in. */
static int wait_status(const siginfo_t *si) {
    switch (si->si_code) {
    case CLD_EXITED:
        return (si->si_status & 0xff) << 8;
    case CLD_DUMPED:
        return (si->si_status & 0x7f) | WCOREFLAG;
    default:
        return si->si_status & 0x7f; /* CLD_KILLED */
    }
}

/* Reaps the child if it has exited: 1 if it has (now or before), 0 if it still runs, or -errno. With block set,
 * waits for the exit in this thread (corio_process_free after SIGKILL, which takes effect at once). */
static int try_reap(corio_process *p, bool block) {
    if (p->reaped) return 1;
    int flags = block ? 0 : WNOHANG;
    if (p->pidfd >= 0) {
        siginfo_t si;
        si.si_pid = 0; /* WNOHANG leaves it 0 when the child still runs */
        while (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | flags) < 0)
            if (errno != EINTR) return -errno;
        if (si.si_pid == 0) return 0;
        reaped(p, wait_status(&si));
        return 1;
    }
    int st;
    pid_t r;
    while ((r = waitpid(p->pid, &st, flags)) < 0)
        if (errno != EINTR) return -errno;
    if (r == 0) return 0;
    reaped(p, st);
    return 1;
}

int corio_process_wait(corio_process *p, int *status) {
    if (!p) return -EINVAL;
    int64_t backoff = POLL_MIN_MS;
    for (;;) {
        int rc = try_reap(p, false);
        if (rc < 0) return rc;
        if (rc > 0) break;
        corio__loop *l;
        if (!corio__self(&l)) return -EPERM;
        if (p->pidfd >= 0) {
            rc = corio__fd_wait(l, p->pidfd, 0);
        } else {
            rc = corio_sleep(backoff);
            if (backoff < POLL_MAX_MS) backoff *= 2;
        }
        /* another task may have reaped it while we waited (and closed the pidfd: -EBADF) */
        if (rc < 0 && !p->reaped) return rc;
    }
    if (status) *status = p->status;
    return 0;
}

int corio_process_kill(corio_process *p, int signo) {
    if (!p) return -EINVAL;
    if (p->reaped) return -ESRCH; /* its pid may belong to another process by now */
#ifdef SYS_pidfd_send_signal
    if (p->pidfd >= 0) return syscall(SYS_pidfd_send_signal, p->pidfd, signo, NULL, 0) < 0 ? -errno : 0;
#endif
    return kill(p->pid, signo) < 0 ? -errno : 0;
}

int corio_process_free(corio_process *p) {
    if (!p) return -EINVAL;
    if (!p->reaped) {
        /* SIGKILL takes effect at once, so blocking for the exit is short; a child we may not signal (it became
         * setuid) is only reaped if it has already exited, rather than blocking the loop on it */
        int rc = corio_process_kill(p, SIGKILL);
        try_reap(p, rc == 0 || rc == -ESRCH);
    }
    for (int i = 0; i < 3; i++)
        if (p->fds[i] >= 0) close_pipe(p, i);
    if (p->pidfd >= 0) corio_close(p->pidfd);
    free(p);
    return 0;
}
