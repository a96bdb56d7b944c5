/* What exec sessions leave behind, kept after their connection is gone.
 *
 * Hang-ups: a client that leaves while its command runs is a terminal
 * hang-up. The command's process group gets SIGHUP (and SIGCONT, so a
 * stopped member sees it), then SIGKILL AGENT_HANGUP_GRACE_MS later for
 * whatever ignored the SIGHUP. A pgid is not reused while a member of the
 * group lives; only after the whole group is gone could the late SIGKILL
 * meet a new group of that number, which would take pid_max forks within
 * the grace.
 *
 * Leftover streams: once EXIT is sent, a background job the command left
 * may still hold its stdout/stderr. Their read ends are kept here and read
 * into the void until EOF, so that job's writes neither block on a full
 * pipe nor kill it with SIGPIPE (a server logging each request would
 * otherwise die at its first log line). */
#include "agentd.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

void leftover_init(struct agent *a)
{
	for (unsigned i = 0; i < AGENT_MAX_LEFTOVER; i++)
		a->leftover[i] = -1;
}

void leftover_hangup(struct agent *a, pid_t pgid)
{
	if (pgid <= 0)
		return;
	kill(-pgid, SIGHUP);
	kill(-pgid, SIGCONT);
	for (unsigned i = 0; i < AGENT_MAX_HANGUPS; i++)
		if (!a->hangups[i].pgid) {
			a->hangups[i].pgid = pgid;
			a->hangups[i].kill_ms = agent_now_ms() + AGENT_HANGUP_GRACE_MS;
			agent_log("client gone: SIGHUP to process group %d, SIGKILL "
				  "in %d ms", (int)pgid, AGENT_HANGUP_GRACE_MS);
			return;
		}
	/* no room to remember it: the grace is what gives way */
	agent_log("client gone: SIGKILL to process group %d (%d hang-ups "
		  "pending)", (int)pgid, AGENT_MAX_HANGUPS);
	kill(-pgid, SIGKILL);
}

void leftover_tick(struct agent *a)
{
	int64_t now = agent_now_ms();

	for (unsigned i = 0; i < AGENT_MAX_HANGUPS; i++) {
		struct hangup *h = &a->hangups[i];

		if (!h->pgid || now < h->kill_ms)
			continue;
		/* ESRCH: the SIGHUP was enough */
		if (kill(-h->pgid, SIGKILL) == 0)
			agent_log("process group %d outlived its hang-up: SIGKILL",
				  (int)h->pgid);
		h->pgid = 0;
	}
}

void leftover_keep(struct agent *a, int fd)
{
	if (fd < 0)
		return;
	for (unsigned i = 0; i < AGENT_MAX_LEFTOVER; i++)
		if (a->leftover[i] < 0) {
			a->leftover[i] = fd;
			return;
		}
	close(fd); /* full: its writers get EPIPE */
}

void leftover_drain(struct agent *a, unsigned i)
{
	static char sink[16384];
	ssize_t n;

	if (i >= AGENT_MAX_LEFTOVER || a->leftover[i] < 0)
		return;
	/* one read per wake-up: a chatty job cannot starve the sessions */
	n = read(a->leftover[i], sink, sizeof(sink));
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	/* EOF, or EIO from a pty master whose last slave closed */
	close(a->leftover[i]);
	a->leftover[i] = -1;
}
