/* blockctl.c - the command-line client of a blockd daemon.
 *
 *   blockctl -c FILE [-n NODE] CMD [ARGS]
 *   blockctl --control SOCKET CMD [ARGS]
 *
 * Sends one request line to the daemon's control socket and prints the
 * answer: JSON with --json, a summary for people otherwise. Exit status:
 * 0 done, 1 refused by the daemon (reason on stderr), 2 bad usage,
 * 3 no daemon to talk to.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "blockd/core/config.h"
#include "blockd/store/metafile.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_NO_DAEMON 3
#define EXIT_NO_ANSWER 4

/* How long to wait for the daemon to take a request and answer it
 * (--timeout; 0: for ever). A stream (events) waits only for its first
 * line. By default a little longer than the longest a command waits in
 * the daemon (a promotion runs the fence-peer hook, hook-timeout-ms). */
static unsigned timeout_s;
#define TIMEOUT_MARGIN_S 30
#define TIMEOUT_DEFAULT_S 90	/* without a config to read it from */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: blockctl -c FILE [-n NODE] [--timeout S] COMMAND [ARGS]\n"
		"       blockctl --control SOCKET [--timeout S] COMMAND [ARGS]\n"
		"--timeout S: give up (exit 4) if the daemon has not answered in\n"
		"  S seconds (default: hook-timeout-ms + 30 s, or 90 s; 0: wait)\n"
		"commands:\n"
		"  create-md [--force] write fresh metadata (the daemon must be stopped)\n"
		"  status [--json]     state of this node and its peer\n"
		"  events              one JSON line per state change\n"
		"  primary [--force] | secondary\n"
		"  connect [--discard-my-data] | disconnect\n"
		"  protocol A|B|C | pause-sync | resume-sync\n"
		"  new-current-uuid --clear-bitmap\n"
		"  verify | resync | invalidate [--bitmap] | invalidate-remote [--bitmap]\n"
		"  outdate | resume-io | status --watch\n"
		"  detach | attach     stop using the disk / take a (new) disk\n");
}

static void set_timeout(int fd, unsigned s)
{
	struct timeval tv = { .tv_sec = s };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void no_answer(const char *what)
{
	fprintf(stderr, "blockctl: no answer from blockd (%s) within %u s: it "
		"is stopped, hung or overloaded; a command may still take "
		"effect (--timeout S waits longer)\n", what, timeout_s);
}

/* A connected socket; -1: nothing there (or unreachable); -2: something
 * listens but did not take the connection within timeout_s. Each says
 * why on stderr. */
static int ctl_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "blockctl: control socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "blockctl: socket: %s\n", strerror(errno));
		return -1;
	}
	/* Bounds the connect (a full queue), the send and each receive. */
	if (timeout_s)
		set_timeout(fd, timeout_s);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	e = errno;
	close(fd);
	if (e == EAGAIN || e == EWOULDBLOCK) {
		no_answer(path);
		return -2;
	}
	if (e == ENOENT || e == ECONNREFUSED)
		fprintf(stderr, "blockctl: no blockd is running for this node "
			"(nothing listening on %s)\n", path);
	else
		fprintf(stderr, "blockctl: cannot reach blockd at %s: %s\n",
			path, strerror(e));
	return -1;
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one line (the reply); NULL on EOF before a newline. */
static char *recv_line(int fd, char **buf, size_t *cap, size_t *len)
{
	for (;;) {
		char *nl = *len ? memchr(*buf, '\n', *len) : NULL;
		ssize_t r;

		if (nl) {
			*nl = 0;
			return *buf;
		}
		if (*len + 4096 > *cap) {
			*cap = *cap ? *cap * 2 : 65536;
			*buf = realloc(*buf, *cap);
			if (!*buf)
				return NULL;
		}
		r = recv(fd, *buf + *len, *cap - *len - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			errno = 0;	/* closed, not timed out */
		if (r <= 0)
			return NULL;
		*len += (size_t)r;
	}
}

static const char *jstr(struct json_object *o, const char *k);

/* Does the daemon on fd say it holds no disk? Closes fd. */
static bool daemon_is_diskless(int fd)
{
	static const char req[] = "{\"cmd\": \"status\"}\n";
	char *buf = NULL, *line = NULL;
	size_t cap = 0, len = 0;
	struct json_object *reply = NULL, *res = NULL;
	bool diskless = false;

	if (send_all(fd, req, sizeof(req) - 1) == 0)
		line = recv_line(fd, &buf, &cap, &len);
	if (line)
		reply = json_tokener_parse(line);
	if (reply && json_object_object_get_ex(reply, "result", &res))
		diskless = !strcmp(jstr(res, "disk"), "Diskless");
	json_object_put(reply);
	free(buf);
	close(fd);
	return diskless;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !v)
		return "-";
	return json_object_get_string(v);
}

static uint64_t ju64(struct json_object *o, const char *k)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, k, &v) ? json_object_get_uint64(v) : 0;
}

static void human_bytes(uint64_t b, char *out, size_t n)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	int i = 0;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void print_status(struct json_object *s)
{
	struct json_object *p = NULL, *rs = NULL, *v;
	char size[32], oos[32];

	json_object_object_get_ex(s, "peer", &p);
	if (p)
		json_object_object_get_ex(p, "resync", &rs);
	human_bytes(ju64(s, "size_bytes"), size, sizeof(size));
	printf("%s on %s: %s %s, protocol %s, %s%s\n", jstr(s, "resource"),
	       jstr(s, "node"), jstr(s, "role"), jstr(s, "disk"),
	       jstr(s, "protocol"), size,
	       json_object_object_get_ex(s, "io_frozen", &v) &&
			       json_object_get_boolean(v) ? ", I/O FROZEN" : "");
	printf("  nbd clients: %llu\n",
	       (unsigned long long)ju64(s, "nbd_connections"));
	if (!p)
		return;
	human_bytes(ju64(p, "out_of_sync_bytes"), oos, sizeof(oos));
	printf("  peer %s: %s, %s %s, replication %s\n", jstr(p, "node"),
	       jstr(p, "connection"), jstr(p, "role"), jstr(p, "disk"),
	       jstr(p, "replication"));
	printf("    out of sync %s, pending writes %llu\n", oos,
	       (unsigned long long)ju64(p, "pending_writes"));
	if (json_object_object_get_ex(p, "lag", &v) && ju64(v, "sent_bytes")) {
		char wl[32], fl[32];

		human_bytes(ju64(v, "write_lag_bytes"), wl, sizeof(wl));
		human_bytes(ju64(v, "flush_lag_bytes"), fl, sizeof(fl));
		printf("    lag: written %s behind (%.3f s), flushed %s behind (%.3f s)\n",
		       wl, json_object_get_double(json_object_object_get(v, "write_lag_s")),
		       fl, json_object_get_double(json_object_object_get(v, "flush_lag_s")));
	}
	if (strstr(jstr(p, "replication"), "Verify") &&
	    json_object_object_get_ex(p, "verify", &v)) {
		double pct = json_object_get_double(json_object_object_get(v, "done_pct"));
		int bar = (int)(pct / 5);

		printf("    verify [%.*s%.*s] %.1f%%, %llu blocks differ so far\n",
		       bar, "####################", 20 - bar,
		       "....................", pct,
		       (unsigned long long)ju64(v, "out_of_sync_blocks"));
	}
	if (rs && strstr(jstr(p, "replication"), "Sync")) {
		double pct = json_object_get_double(json_object_object_get(rs, "done_pct"));
		int bar = (int)(pct / 5);
		char rate[32];

		human_bytes(ju64(rs, "rate_bytes_s"), rate, sizeof(rate));
		printf("    resync [%.*s%.*s] %.1f%% %s/s eta %llus\n", bar,
		       "####################", 20 - bar, "....................",
		       pct, rate, (unsigned long long)ju64(rs, "eta_s"));
	}
}

/* create-md works on the disk itself, with the daemon stopped. */
static int create_md(const struct config *cfg, bool have_cfg, int nrest,
		     char **rest)
{
	const struct config_node *self;
	char msg[512];
	bool force = false;
	int fd;

	if (!have_cfg) {
		fprintf(stderr, "blockctl: create-md needs -c FILE -n NODE\n");
		return EXIT_USAGE;
	}
	for (int i = 1; i < nrest; i++) {
		if (!strcmp(rest[i], "--force")) {
			force = true;
		} else {
			fprintf(stderr, "blockctl: create-md: unknown argument %s\n", rest[i]);
			return EXIT_USAGE;
		}
	}
	self = &cfg->nodes[cfg->self];
	if (!strcmp(self->meta, "none")) {
		fprintf(stderr, "blockctl: create-md: this node has meta = none\n");
		return EXIT_REFUSED;
	}
	if (!self->disk[0]) {
		fprintf(stderr, "blockctl: create-md: node %s has no disk\n", self->name);
		return EXIT_USAGE;
	}
	/* Refuse while blockd runs: it owns the metadata. */
	{
		char path[CONFIG_STR + 64];
		FILE *devnull = fopen("/dev/null", "w");
		FILE *saved = stderr;

		if (self->control[0])
			snprintf(path, sizeof(path), "%s", self->control);
		else
			snprintf(path, sizeof(path), "/run/blockd/%s-%s.ctl",
				 cfg->name, self->name);
		if (devnull)
			stderr = devnull;
		fd = ctl_connect(path);
		stderr = saved;
		if (devnull)
			fclose(devnull);
		/* A running daemon that holds no disk (Diskless: it failed
		 * or was detached) lets the replacement be prepared; one that
		 * does not answer may hold it. */
		if (fd == -2 || (fd >= 0 && !daemon_is_diskless(fd))) {
			fprintf(stderr, "blockctl: create-md: blockd is running for "
				"%s on %s: stop it first (or, to replace its disk, "
				"detach it)\n", cfg->name, self->name);
			return EXIT_REFUSED;
		}
	}
	if (metafile_create(self->meta, self->disk, self->name, cfg->al_extents,
			    force, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "blockctl: create-md: %s\n", msg);
		return EXIT_REFUSED;
	}
	printf("%s\n", msg);
	return 0;
}

/* Is arg one of blockctl's own flags for command cmd? */
static bool local_flag(const char *cmd, const char *arg)
{
	if (!strcmp(cmd, "status"))
		return !strcmp(arg, "--json") || !strcmp(arg, "--watch");
	if (!strcmp(cmd, "events"))
		return !strcmp(arg, "--json") || !strcmp(arg, "--now");
	return false;
}

/* One request and its answer, printed. Returns the exit status. */
static int run_command(const char *control, int nrest, char **rest,
		       bool watching)
{
	struct json_object *req, *reply = NULL, *ok, *res;
	char *buf = NULL, *line;
	size_t cap = 0, len = 0;
	int fd = -1, i, json = 0, rc;

	rc = 0;
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string(rest[0]));
	for (i = 1; i < nrest; i++) {
		/* blockctl's own flags: status --json|--watch, events --json|--now
		 * (events always starts with the current state). Any other --flag
		 * and the argument go to the daemon, which knows what each
		 * command takes. */
		if (local_flag(rest[0], rest[i])) {
			json |= !strcmp(rest[i], "--json");
		} else if (!strncmp(rest[i], "--", 2)) {
			json_object_object_add(req, rest[i] + 2, json_object_new_boolean(1));
		} else if (json_object_object_get_ex(req, "arg", NULL)) {
			fprintf(stderr, "blockctl: %s: one argument only (got %s after %s)\n",
				rest[0], rest[i], jstr(req, "arg"));
			rc = EXIT_USAGE;
			goto out;
		} else {
			json_object_object_add(req, "arg", json_object_new_string(rest[i]));
		}
	}
	fd = ctl_connect(control);
	if (fd < 0) {
		rc = fd == -2 ? EXIT_NO_ANSWER : EXIT_NO_DAEMON;
		goto out;
	}
	line = (char *)json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (send_all(fd, line, strlen(line)) < 0 || send_all(fd, "\n", 1) < 0) {
		rc = errno == EAGAIN || errno == EWOULDBLOCK ? EXIT_NO_ANSWER
							     : EXIT_NO_DAEMON;
		if (rc == EXIT_NO_ANSWER)
			no_answer(control);
		else
			fprintf(stderr, "blockctl: lost the daemon while sending\n");
		goto out;
	}
	line = recv_line(fd, &buf, &cap, &len);
	if (!line && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		no_answer(control);
		rc = EXIT_NO_ANSWER;
		goto out;
	}
	if (!line) {
		fprintf(stderr, "blockctl: the daemon closed the connection without answering\n");
		rc = EXIT_NO_DAEMON;
		goto out;
	}
	reply = json_tokener_parse(line);
	if (!reply || !json_object_object_get_ex(reply, "ok", &ok)) {
		fprintf(stderr, "blockctl: unreadable answer from the daemon\n");
		rc = EXIT_NO_DAEMON;
		goto out;
	}
	if (!json_object_get_boolean(ok)) {
		fprintf(stderr, "blockctl: %s: %s\n", rest[0], jstr(reply, "error"));
		/* "usage": the daemon refused the request itself (an unknown
		 * command or option), not what it asked for. */
		rc = json_object_object_get_ex(reply, "usage", &res) &&
		     json_object_get_boolean(res) ? EXIT_USAGE : EXIT_REFUSED;
		goto out;
	}
	res = json_object_object_get(reply, "result");
	if (!strcmp(rest[0], "events")) {
		/* The first line is the current state; then one per change,
		 * for as long as the daemon runs: no deadline from here on. */
		puts(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
		fflush(stdout);
		set_timeout(fd, 0);
		for (;;) {
			size_t used = strlen(line) + 1;

			memmove(buf, buf + used, len - used);
			len -= used;
			line = recv_line(fd, &buf, &cap, &len);
			if (!line)
				break;
			puts(line);
			fflush(stdout);
		}
	} else if (!strcmp(rest[0], "status") && !json) {
		if (watching)
			fputs("\033[H\033[2J", stdout);	/* redraw in place */
		print_status(res);
		fflush(stdout);
	} else if (res) {
		puts(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PRETTY |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	}
out:
	json_object_put(reply);
	json_object_put(req);
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct config cfg;
	const char *control = NULL;
	char path[CONFIG_STR + 64];
	char **rest;
	int nrest, i;
	bool watch = false, have_timeout = false;

	/* --control needs no config; otherwise the config names the socket.
	 * --timeout is blockctl's own. Either may stand anywhere. */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--control") && i + 1 < argc && !control) {
			control = argv[i + 1];
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc &&
			   !have_timeout) {
			char *end;
			unsigned long s = strtoul(argv[i + 1], &end, 10);

			if (!argv[i + 1][0] || *end || s > 86400) {
				fprintf(stderr, "blockctl: --timeout takes whole "
					"seconds, 0..86400, not '%s'\n", argv[i + 1]);
				return EXIT_USAGE;
			}
			timeout_s = (unsigned)s;
			have_timeout = true;
		} else {
			continue;
		}
		memmove(&argv[i], &argv[i + 2], sizeof(char *) * (size_t)(argc - i - 1));
		argc -= 2;
		i--;
	}
	if (control) {
		rest = argv + 1;
		nrest = argc - 1;
		if (!have_timeout)
			timeout_s = TIMEOUT_DEFAULT_S;
	} else {
		if (config_load(&cfg, argc - 1, argv + 1, &nrest, &rest) < 0)
			return EXIT_USAGE;
		if (!have_timeout)
			timeout_s = cfg.hook_timeout_ms / 1000 + TIMEOUT_MARGIN_S;
		if (cfg.nodes[cfg.self].control[0])
			snprintf(path, sizeof(path), "%s", cfg.nodes[cfg.self].control);
		else
			snprintf(path, sizeof(path), "/run/blockd/%s-%s.ctl", cfg.name,
				 cfg.nodes[cfg.self].name);
		control = path;
	}
	if (nrest < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(rest[0], "create-md"))
		return create_md(&cfg, control == path, nrest, rest);

	for (i = 1; i < nrest; i++)
		if (!strcmp(rest[0], "status") && !strcmp(rest[i], "--watch"))
			watch = true;
	if (!watch)
		return run_command(control, nrest, rest, false);
	/* status --watch: redraw once a second until interrupted. */
	for (;;) {
		int rc = run_command(control, nrest, rest, true);

		if (rc != 0)
			return rc;
		sleep(1);
	}
}
