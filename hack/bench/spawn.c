// spawn — runs one command and reports its cost, for hack/bench/bench.py.
//
//   spawn MNTNS TIMEOUT_S REPORT_FD CMD [ARG...]
//
// MNTNS is a mount-namespace file (/proc/PID/ns/mnt) to enter first, or "-". The command
// inherits stdio and the cwd. On REPORT_FD it writes one line:
//   <wall ns> <user µs> <sys µs> <maxrss KiB> <exit code or 128+signal>
// wall is measured here, right around fork+exec+wait4; the rusage is the child's (with its
// waited-for descendants). A small C parent matters: ru_maxrss survives exec, so forking a
// big interpreter would report the interpreter's RSS instead of the runtime's.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;

static void on_alarm(int sig) {
	(void)sig;
	if (child > 0)
		kill(-child, SIGKILL);
}

int main(int argc, char **argv) {
	if (argc < 5) {
		fprintf(stderr, "usage: spawn MNTNS TIMEOUT_S REPORT_FD CMD [ARG...]\n");
		return 2;
	}
	if (argv[1][0] != '-') {
		// setns into a mount namespace moves the cwd to its root: come back to ours
		char cwd[4096];
		int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
		if (!getcwd(cwd, sizeof cwd) || fd < 0 || setns(fd, CLONE_NEWNS) != 0 || chdir(cwd) != 0) {
			perror("spawn: setns");
			return 2;
		}
		close(fd);
	}
	int repfd = atoi(argv[3]);
	FILE *rep = fdopen(repfd, "w");
	if (!rep) {
		perror("spawn: report fd");
		return 2;
	}
	fcntl(repfd, F_SETFD, FD_CLOEXEC);
	signal(SIGALRM, on_alarm);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	child = fork();
	if (child < 0) {
		perror("spawn: fork");
		return 2;
	}
	if (child == 0) {
		setpgid(0, 0);
		execvp(argv[4], argv + 4);
		perror("spawn: exec");
		_exit(127);
	}
	alarm((unsigned)atoi(argv[2]));
	int st = 0;
	struct rusage ru;
	while (wait4(child, &st, 0, &ru) < 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long wall = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	fprintf(rep, "%lld %ld %ld %ld %d\n", wall, ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
	        ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec, ru.ru_maxrss, code);
	fclose(rep);
	return 0;
}
