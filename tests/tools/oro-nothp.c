/*
 * oro-nothp: run a command with transparent huge pages disabled for it and
 * everything it starts.
 *
 *   oro-nothp COMMAND [ARG...]
 *
 * The memory tests compare a daemon's resident size at two moments. Where
 * the kernel's THP setting is "always", khugepaged may fill a sparsely used
 * 2 MiB range of the heap (AddressSanitizer's allocator reserves large ones)
 * at any moment, and the resident size jumps by megabytes that the daemon
 * never asked for. PR_SET_THP_DISABLE is inherited across fork and execve,
 * so the daemons started under this tool keep ordinary pages. Exit 2 on a
 * usage error, 127 when COMMAND cannot be run.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: oro-nothp COMMAND [ARG...]\n", stderr);
		return 2;
	}
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0)
		fprintf(stderr, "oro-nothp: PR_SET_THP_DISABLE: %s (going on)\n", strerror(errno));
	execvp(argv[1], argv + 1);
	fprintf(stderr, "oro-nothp: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
