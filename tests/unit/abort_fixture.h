/* abort_fixture.h - assert that a piece of code aborts (an assertion or an
 * explicit abort() on a caller's bug), in a child process so the test
 * goes on. Include after cmocka.h.
 */
#ifndef BLOCKD_TEST_ABORT_FIXTURE_H
#define BLOCKD_TEST_ABORT_FIXTURE_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* fn(arg) in a child must end in SIGABRT; returning is a failure. The
 * child writes no core file; quiet: its stderr is closed first. */
static inline void assert_aborts(void (*fn)(void *arg), void *arg, bool quiet)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		if (quiet)
			close(STDERR_FILENO);
		fn(arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

#endif
