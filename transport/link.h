/* link.h - the authenticated, framed peer connection.
 *
 * Owns: the peer sockets (listen, dial, reconnect with capped back-off),
 * the HELLO/AUTH handshake, CRC checking, keepalive, and moving frames.
 * One connection per pair by construction: the node whose name sorts
 * first dials and never accepts, the other only accepts; a newly
 * authenticated connection from the peer replaces an older one (the
 * dialer only redials when it saw the old one die). Each side's AUTH is
 * bound to both challenges, both names and its direction, so a third
 * party cannot relay one node's proof to the other.
 *
 *   down --dial/accept--> HELLO --AUTH ok--> up --error/timeout--> down
 *                           \--bad secret, bad frame-------------> down
 *
 * Until AUTH succeeds in both directions no other frame is accepted.
 * Corrupt, oversized or unexpected frames drop the connection with a
 * logged reason; their payload is never handed to the owner.
 * Callbacks run from loop callbacks, never re-entrantly from link_*().
 *
 * Connections follow each other strictly: down() of the old one always
 * runs before up() of its successor (a new connection that replaces a
 * live one waits for the old one's teardown), and each up connection has
 * its own generation number, so work begun for one connection can tell
 * that its connection is gone.
 *
 * Back-pressure: before a frame is handed to the owner, ready() may say
 * "not now"; the link then keeps the frame, stops reading the socket (so
 * TCP holds the peer back) and asks again after link_kick(). A socket
 * held that way is not taken for a silent peer while the peer's TCP
 * still acknowledges what this side sends.
 */
#ifndef BLOCKD_LINK_H
#define BLOCKD_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/bufpool.h"
#include "common/loop.h"
#include "transport/frame.h"

struct link;

/* A frame to send. The owner embeds it; hdr is encoded by link_send(). */
struct link_tx {
	struct link_tx *next;
	struct loop_op op;	/* defers sent(-ENOTCONN) */
	struct frame_hdr h;
	const void *payload;	/* h.payload_len bytes, valid until sent() */
	uint8_t raw[FRAME_HDR_BYTES];
	uint8_t inline_payload[4 * FRAME_VERIFY_BLOCKS]; /* small control payloads */
	/* Called once: 0 when handed to the socket, -errno when the
	 * connection went down first. May be NULL. Until then the link owns
	 * the frame: handing it over again would corrupt the queue. */
	void (*sent)(struct link_tx *tx, int err);
	/* Set by the link from link_send until just before sent() runs:
	 * while set, the link owns the frame (its owner may read it, not
	 * write it). A frame handed over while it is set is an engine bug:
	 * the TCP link logs it and aborts (its queue would loop on itself,
	 * and the daemon spin for good), the simulator's link fails the
	 * run. */
	bool queued;
};

struct link_ops {
	void (*up)(void *owner);
	void (*down)(void *owner, const char *why);
	/* A checked frame. For DATA, RS_DATA and a READ_REPLY with data,
	 * buf is a bufpool buffer of h->length bytes now owned by the owner;
	 * otherwise payload points into the link's buffer, valid during the
	 * call only. */
	void (*frame)(void *owner, const struct frame_hdr *h,
		      const uint8_t *payload, uint8_t *buf);
	/* May a frame with this header be handed over now? false: keep it
	 * and stop reading until link_kick(). Asked before a data frame's
	 * buffer is taken, and again before delivery. NULL: always. */
	bool (*ready)(void *owner, const struct frame_hdr *h);
};

struct link_config {
	const char *resource;
	const char *self_name, *peer_name;
	const char *listen_addr;	/* HOST:PORT */
	const char *peer_addr;		/* HOST:PORT */
	const char *secret;
	uint32_t ping_interval_ms;
	uint32_t ping_timeout_ms;
	uint32_t connect_retry_max_ms;
};

/* The link's implementations: the daemon's authenticated TCP link
 * (link_tcp_new, transport/) and the simulator's (tests/sim/simlink.c).
 * Each one's link starts with a struct link naming its table; the
 * link_*() calls below dispatch through it, so the engine, given a
 * constructor (link_new_fn), runs the same code over either. */
struct link_impl;
struct link {
	const struct link_impl *impl;
	/* Kept by the implementation, read by the calls below. */
	bool up;		/* a connection is up */
	uint64_t generation;	/* of the up (or last) connection */
	uint32_t features;	/* negotiated on it (read only while up) */
};

struct link_impl {
	void (*free)(struct link *k);
	void (*connect)(struct link *k);
	void (*disconnect)(struct link *k, const char *why);
	void (*disconnect_after_send)(struct link *k, const char *why);
	void (*shutdown)(struct link *k);
	void (*send)(struct link *k, struct link_tx *tx);
	void (*kick)(struct link *k);
	void (*drop)(struct link *k, const char *why);
};

/* A constructor: *out is the new link, or -errno. */
typedef int link_new_fn(struct link **out, struct loop *l, struct bufpool *pool,
			const struct link_config *cfg, const struct link_ops *ops,
			void *owner);
/* TCP: listens, dials, authenticates (transport/connect.c, link.c). */
link_new_fn link_tcp_new;

/* NULL is no link. */
static inline void link_free(struct link *k)
{
	if (k)
		k->impl->free(k);
}

/* Start or stop trying to be connected (blockctl connect / disconnect). */
static inline void link_connect(struct link *k)
{
	k->impl->connect(k);
}

static inline void link_disconnect(struct link *k, const char *why)
{
	k->impl->disconnect(k, why);
}

/* The same, once the frames already queued have been sent. */
static inline void link_disconnect_after_send(struct link *k, const char *why)
{
	k->impl->disconnect_after_send(k, why);
}

/* Close everything for shutdown; the loop then runs dry. NULL: none. */
static inline void link_shutdown(struct link *k)
{
	if (k)
		k->impl->shutdown(k);
}

/* NULL: not up. */
static inline bool link_is_up(const struct link *k)
{
	return k && k->up;
}

/* The generation of the up connection (or of the last one): it changes
 * whenever a new connection comes up. An ack, or data read for a request,
 * that belongs to an older generation must not be sent: the peer of the
 * new connection knows none of the old ids. */
static inline uint64_t link_generation(const struct link *k)
{
	return k ? k->generation : 0;
}

/* FRAME_FEAT_* both sides offered on the up connection (0 when down). */
static inline uint32_t link_features(const struct link *k)
{
	return k && k->up ? k->features : 0;
}

/* Queue a frame on the up connection; sent(-ENOTCONN) if there is none. */
static inline void link_send(struct link *k, struct link_tx *tx)
{
	k->impl->send(k, tx);
}

/* Buffers or the owner's request slots were released: retry a receive
 * that waited for them. */
static inline void link_kick(struct link *k)
{
	k->impl->kick(k);
}

/* Drop the up connection with a reason (a protocol violation seen by the
 * owner); down() follows. */
static inline void link_drop(struct link *k, const char *why)
{
	k->impl->drop(k, why);
}

#endif
