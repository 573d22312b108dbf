/* listen.h - listening sockets from "unix:PATH" and "tcp:HOST:PORT".
 *
 * Owns: parsing a listen address and binding it. Synchronous; used at
 * start-up only (the NBD server, the control socket and the metrics
 * endpoint). Returns listening descriptors, O_CLOEXEC and non-blocking off
 * (io_uring does the waiting).
 */
#ifndef BLOCKD_COMMON_LISTEN_H
#define BLOCKD_COMMON_LISTEN_H

#include <stdbool.h>

/* fd, or -errno with the reason logged. *is_unix tells the family. A unix
 * socket left over at PATH by a dead process is replaced; a live one is
 * refused with -EADDRINUSE. mode: permission bits for a unix socket. */
int listen_open(const char *spec, bool *is_unix, unsigned mode);

#endif
