/* listen.c - see listen.h. */
#include "common/listen.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"

#define LISTEN_BACKLOG 128

/* Is something accepting on this unix path right now? */
static bool unix_path_live(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return live;
}

static int listen_unix(const char *path, unsigned mode)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("unix socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	if (unix_path_live(&sun)) {
		log_err("%s: another process is listening there", path);
		return -EADDRINUSE;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, mode) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		ret = -errno;
		log_err("listen on unix:%s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses). */
static int listen_tcp(const char *hostport)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon = strrchr(hostport, ':');
	const char *port;
	size_t hl;
	int fd = -1, ret, one = 1;

	if (!colon || !colon[1]) {
		log_err("tcp listen address needs HOST:PORT: %s", hostport);
		return -EINVAL;
	}
	port = colon + 1;
	hl = (size_t)(colon - hostport);
	if (hostport[0] == '[' && hl >= 2 && hostport[hl - 1] == ']') {
		hostport++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -ENAMETOOLONG;
	memcpy(host, hostport, hl);
	host[hl] = 0;
	ret = getaddrinfo(hl ? host : NULL, port, &hints, &res);
	if (ret != 0) {
		log_err("tcp:%s: %s", hostport, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		ret = -errno;
		log_err("listen on tcp:%s: %s", hostport, strerror(errno));
		close(fd);
		goto out;
	}
	ret = fd;
out:
	freeaddrinfo(res);
	return ret;
}

int listen_open(const char *spec, bool *is_unix, unsigned mode)
{
	if (strncmp(spec, "unix:", 5) == 0) {
		*is_unix = true;
		return listen_unix(spec + 5, mode);
	}
	if (strncmp(spec, "tcp:", 4) == 0) {
		*is_unix = false;
		return listen_tcp(spec + 4);
	}
	log_err("listen address must start with unix: or tcp: (got '%s')",
		spec);
	return -EINVAL;
}
