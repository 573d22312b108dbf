/* writepath_priv.h - what writepath.c (the write path) and wploss.c (the
 * peer's loss: held writes, the lone generation, the unflushed set
 * marked) share, and nobody else.
 */
#ifndef BLOCKD_ENGINE_WRITEPATH_PRIV_H
#define BLOCKD_ENGINE_WRITEPATH_PRIV_H

#include <stdbool.h>

#include "blockd/engine/resource.h"

/* The connection is up and the handshake done: writes go to the peer. */
bool wp_peer_live(const struct resource *res);
/* This Primary's good data is on its peer (Inconsistent or no disk). */
bool wp_data_on_peer(const struct resource *res);
bool wp_is_write(const struct blk_req *r);
/* Must r wait (a conflict, a full transfer log, no data, a handshake)? */
bool wp_must_wait(struct resource *res, struct blk_req *r);
/* Is the superblock of the current generation durable? */
bool wp_gen_durable(const struct resource *res);
/* r's legs are done: reply, release its transfer log entry. */
void wp_req_check_done(struct resource *res, struct blk_req *r);
void wp_tl_free(struct resource *res, struct tl_entry *e);
/* Everything the peer acknowledged and has not flushed is out of sync. */
void wp_unflushed_mark(struct resource *res);

#endif
