/*
 * --workers N: N relay processes accept from the same listening sockets,
 * each with its own event loop, under the process that started them.
 *
 * That process, the supervisor, keeps no socket and no file.  It waits for
 * SIGTERM or SIGINT, which it passes on to every worker (they drain), and
 * for its workers' ends.  A worker that ends before any stop is a failure:
 * the supervisor stops the others and exits 1, so that Docker, ECS or
 * Kubernetes restart the whole relay (crash-only, as with one process).
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "workers.h"

static struct {
	pid_t	pid;
	int	alive;
} workers[CONFIG_WORKERS_MAX];
static unsigned nworkers, nalive;
static int stopping;		/* a stop was passed on */
static int failed;		/* exit 1: a worker failed or ended early */

/* The supervisor takes these with sigwaitinfo; blocked from before fork. */
static void
supervisor_signals(sigset_t *set)
{

	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGCHLD);
}

/*
 * In a new worker: its own process group, so that a terminal's ^C reaches
 * the supervisor alone and is passed on once (and SIGTTOU ignored, so that
 * a terminal set to `tostop` cannot stop a worker that logs); and SIGTERM
 * (a drain) if the supervisor dies.  Returns 0, or -1 if the supervisor is
 * already gone.
 */
static int
child_setup(pid_t supervisor)
{
	struct sigaction sa;
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	(void)sigprocmask(SIG_UNBLOCK, &chld, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGTTOU, &sa, NULL);
	if (setpgid(0, 0) != 0) {
		log_errno("startup_failed", "setpgid");
		return (-1);
	}
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0) {
		log_errno("startup_failed", "prctl PR_SET_PDEATHSIG");
		return (-1);
	}
	if (getppid() != supervisor) {
		log_msg(LOG_ERROR, "startup_failed", "the supervisor ended "
		    "before this worker started");
		return (-1);
	}
	return (0);
}

static void
stop_workers(int signo)
{
	unsigned i;

	for (i = 0; i < nworkers; i++)
		if (workers[i].alive)
			(void)kill(workers[i].pid, signo);
}

int
workers_fork(unsigned n, unsigned *index, unsigned **shared_conns)
{
	pid_t pid, self = getpid();
	struct sigaction sa;
	sigset_t set;
	unsigned i;

	/* The one page the workers share: their count of sessions. */
	*shared_conns = mmap(NULL, sizeof(**shared_conns), PROT_READ |
	    PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (*shared_conns == MAP_FAILED) {
		log_errno("startup_failed", "mmap MAP_SHARED");
		return (-1);
	}
	/*
	 * SIGPIPE ignored in all: a log reader that went away must not kill
	 * the supervisor (loop_init does it again in each worker).  SIGCHLD
	 * back to its default: inherited as ignored, the kernel would reap
	 * the workers itself and the supervisor would never see one end.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	supervisor_signals(&set);
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		log_errno("startup_failed", "sigaction SIGPIPE");
		return (-1);
	}
	sa.sa_handler = SIG_DFL;
	if (sigaction(SIGCHLD, &sa, NULL) != 0 ||
	    sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
		log_errno("startup_failed", "sigaction SIGCHLD, sigprocmask");
		return (-1);
	}
	for (i = 0; i < n && i < CONFIG_WORKERS_MAX; i++) {
		if ((pid = fork()) < 0) {
			log_errno("startup_failed", "fork");
			stopping = failed = 1;
			stop_workers(SIGTERM);
			return (1);	/* supervise what was started */
		}
		if (pid == 0) {
			*index = i;
			log_set_worker((int)i);
			return (child_setup(self) == 0 ? 0 : -1);
		}
		workers[i].pid = pid;
		workers[i].alive = 1;
		nworkers++;
		nalive++;
	}
	return (1);
}

/* The signals that end a worker in practice, by name; others by number. */
static void
log_signal(struct log_line *l, int signo)
{
	static const struct {
		int	signo;
		const char *name;
	} names[] = {
		{ SIGKILL, "SIGKILL" }, { SIGSYS, "SIGSYS" },
		{ SIGSEGV, "SIGSEGV" }, { SIGABRT, "SIGABRT" },
		{ SIGBUS, "SIGBUS" }, { SIGTERM, "SIGTERM" },
		{ SIGINT, "SIGINT" }, { SIGILL, "SIGILL" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].signo == signo) {
			log_str(l, "signal", names[i].name);
			return;
		}
	log_u64(l, "signal", (uint64_t)signo);
}

static void
log_exit(unsigned i, int status)
{
	struct log_line l;
	int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;

	log_begin(&l, stopping && clean ? LOG_INFO : LOG_ERROR,
	    "worker_exited");
	log_u64(&l, "worker", i);
	log_u64(&l, "pid", (uint64_t)workers[i].pid);
	if (WIFEXITED(status))
		log_u64(&l, "code", (uint64_t)WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_signal(&l, WTERMSIG(status));
	log_str(&l, "expected", stopping ? "yes" : "no");
	log_end(&l);
}

static void
forward(int signo, const char *why)
{
	struct log_line l;

	/* A signal is an operator's stop; anything else, a failure. */
	log_begin(&l, strcmp(why, "signal") == 0 || strcmp(why,
	    "second_signal") == 0 ? LOG_INFO : LOG_ERROR, "stop_forwarded");
	log_str(&l, "signal", signo == SIGINT ? "SIGINT" : "SIGTERM");
	log_str(&l, "why", why);
	log_u64(&l, "workers", nalive);
	log_end(&l);
	stopping = 1;
	stop_workers(signo);
}

/* Collect every worker that ended; the first early end stops the rest. */
static void
reap(void)
{
	unsigned i;
	pid_t pid;
	int status;

	while ((pid = wait4(-1, &status, WNOHANG, NULL)) > 0) {
		for (i = 0; i < nworkers; i++)
			if (workers[i].alive && workers[i].pid == pid)
				break;
		if (i == nworkers)
			continue;	/* not ours: PID 1 adopts orphans */
		workers[i].alive = 0;
		nalive--;
		log_exit(i, status);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
		    !stopping)
			failed = 1;
		if (!stopping && nalive > 0)
			forward(SIGTERM, "worker_exited");
	}
}

int
workers_supervise(int abort)
{
	struct log_line l;
	siginfo_t si;
	sigset_t set;

	if (abort && !stopping) {
		failed = 1;
		forward(SIGTERM, "supervisor_failed");
	}
	supervisor_signals(&set);
	while (nalive > 0) {
		if (sigwaitinfo(&set, &si) < 0) {
			if (errno == EINTR)
				continue;
			log_errno("supervisor_failed", "sigwaitinfo");
			failed = 1;
			if (!stopping)
				forward(SIGTERM, "supervisor_failed");
			break;
		}
		if (si.si_signo == SIGCHLD)
			reap();
		else
			forward(si.si_signo, stopping ? "second_signal" :
			    "signal");
	}
	log_begin(&l, failed ? LOG_ERROR : LOG_INFO, "supervisor_exit");
	log_u64(&l, "code", failed ? 1 : 0);
	log_end(&l);
	return (failed ? 1 : 0);
}
