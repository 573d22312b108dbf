/* frame.h - the peer wire protocol between two blockd nodes.
 *
 * WARNING: this is a wire format. Any change to a struct layout, a type
 * number, a flag or the CRC coverage needs FRAME_VERSION bumped, and a
 * node must refuse a peer whose version it does not speak.
 *
 * Every frame is a 40-byte header, big-endian, then payload_len bytes:
 *
 *   0  magic        u32  FRAME_MAGIC
 *   4  version      u16  FRAME_VERSION
 *   6  type         u16  enum frame_type
 *   8  flags        u32  FRAME_F_*
 *  12  payload_len  u32  bytes following the header
 *  16  id           u64  request id (acks echo it), epoch for barriers
 *  24  offset       u64  byte offset on the disk, or a type's own value
 *  32  length       u32  byte length of the I/O (TRIM/ZERO have no payload)
 *  36  crc          u32  CRC32C of the header with crc = 0, then payload
 *
 * Pure: no I/O, no allocation. Called from transport/link.c and tests.
 */
#ifndef BLOCKD_FRAME_H
#define BLOCKD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC 0x424c4b44U	/* "BLKD" */
#define FRAME_VERSION 3
#define FRAME_HDR_BYTES 40
/* Largest payload: a 32 MiB NBD write, or a control frame. */
#define FRAME_PAYLOAD_MAX (32U * 1024 * 1024)
/* Largest payload of a frame that is not block data. */
#define FRAME_CTRL_PAYLOAD_MAX 4096U

enum frame_type {
	FRAME_HELLO = 1,	/* payload: struct frame_hello */
	FRAME_AUTH = 2,		/* payload: HMAC-SHA256 of the peer's challenge */
	FRAME_STATE = 3,	/* payload: struct frame_state */
	FRAME_DATA = 4,		/* a replicated WRITE: id, offset, length, data */
	FRAME_TRIM = 5,		/* id, offset, length */
	FRAME_ZERO = 6,		/* id, offset, length; F_NO_HOLE */
	FRAME_BARRIER = 7,	/* id = epoch closed; F_FLUSH: flushing */
	FRAME_RECV_ACK = 8,	/* id: DATA/TRIM/ZERO received (protocol B) */
	FRAME_WRITE_ACK = 9,	/* id: written; offset = -errno or 0 */
	FRAME_BARRIER_ACK = 10,	/* id = epoch; every write of it is done */
	FRAME_PING = 11,
	FRAME_PING_ACK = 12,
	FRAME_RS_DATA = 13,	/* resync block data: offset, length, data */
	FRAME_RS_ZERO = 14,	/* resync: range reads as zeroes */
	FRAME_RS_ACK = 15,	/* resync range written: offset, length */
	FRAME_RS_DONE = 16,	/* the source has nothing more to send */
	FRAME_RS_CSUM = 17,	/* checksum resync: offset, length, CRC32C */
	FRAME_RS_NEED = 18,	/* the checksum differed: send the data */
	FRAME_BITMAP = 19,	/* offset = first block, id = blocks, RLE */
	FRAME_BITMAP_DONE = 20,	/* the whole bitmap was sent */
	FRAME_V_REQ = 21,	/* verify: offset, length, a CRC32C per 4 KiB */
	FRAME_V_REPLY = 22,	/* id echoed; offset = mask of blocks that differ */
	FRAME_RS_PRIO = 23,	/* a Primary SyncTarget needs offset, length now */
	FRAME_READ_REQ = 24,	/* a node without a usable disk reads through
				 * its peer: id, offset, length */
	FRAME_READ_REPLY = 25,	/* id echoed; the data (payload = length), or
				 * length 0 and offset = -errno */
	FRAME_ROLE_REQ = 26,	/* may I become Primary? id: the request */
	FRAME_ROLE_REPLY = 27,	/* id echoed; offset = 0 (yes) or -errno */
	FRAME_FLUSHED = 28,	/* a Secondary stopping cleanly: everything it
				 * acknowledged is on its disk, flushed */
	FRAME_TYPE_MAX = 28,
};

#define FRAME_F_FUA		(1U << 0)	/* DATA/TRIM/ZERO: durable first */
#define FRAME_F_WANT_RECV_ACK	(1U << 1)	/* DATA/TRIM/ZERO: protocol B */
#define FRAME_F_NO_HOLE		(1U << 2)	/* ZERO */
#define FRAME_F_FLUSH		(1U << 3)	/* BARRIER: flush before ack */
#define FRAME_F_SAME		(1U << 4)	/* RS_ACK: checksums matched */
#define FRAME_F_FAILED		(1U << 5)	/* RS_ACK: the target did not
						 * write it (its disk failed):
						 * the bits stay */
#define FRAME_F_ALL		0x3fU

struct frame_hdr {
	uint16_t version;
	uint16_t type;
	uint32_t flags;
	uint32_t payload_len;
	uint64_t id;
	uint64_t offset;
	uint32_t length;
	uint32_t crc;
};

/* The answers (WRITE_ACK, READ_REPLY without data, ROLE_REPLY) carry a
 * status in offset: 0, or -errno. These name that use. */
static inline void frame_set_status(struct frame_hdr *h, int err)
{
	h->offset = (uint64_t)(int64_t)err;
}

static inline int64_t frame_status(const struct frame_hdr *h)
{
	return (int64_t)h->offset;
}

/* Features a node offers in HELLO; a connection uses what both offer.
 * New behaviour gets a new bit, so an older peer is still understood. */
#define FRAME_FEAT_TRIM_ZERO	(1U << 0)	/* TRIM/ZERO frames */
#define FRAME_FEAT_CSUM_RESYNC	(1U << 1)	/* RS_CSUM / RS_NEED */
#define FRAME_FEAT_VERIFY	(1U << 2)	/* V_REQ / V_REPLY */
#define FRAME_FEAT_BITMAP_RLE	(1U << 3)	/* BITMAP exchange */
#define FRAME_FEAT_PRIMARY_TARGET (1U << 4)	/* RS_PRIO: a Primary SyncTarget */
#define FRAME_FEAT_DISKLESS	(1U << 5)	/* READ_REQ/REPLY: serve a peer's reads */
#define FRAME_FEAT_HOLDS_ACKED	(1U << 6)	/* STATE_F_HOLDS_ACKED and its rule */
/* A connected node becomes Primary only once its peer said yes
 * (ROLE_REQ / ROLE_REPLY): two promotions at once cannot both win. */
#define FRAME_FEAT_ROLE_REQ	(1U << 7)
/* A Secondary that stops cleanly says FLUSHED last: its Primary then
 * resyncs only what was in flight, not every extent written since the
 * last flush. */
#define FRAME_FEAT_FLUSHED	(1U << 8)
#define FRAME_FEAT_ALL		0x1ffU

#define FRAME_CHALLENGE_BYTES 32
#define FRAME_MAC_BYTES 32
#define FRAME_NAME_BYTES 64

/* HELLO payload (fixed 112 bytes): who is speaking, what it can do, and
 * the challenge the other side must answer with the shared secret. */
struct frame_hello {
	uint32_t features;
	uint32_t reserved;
	char node[FRAME_NAME_BYTES];	/* NUL-padded */
	uint8_t challenge[FRAME_CHALLENGE_BYTES];
	uint64_t resource_hash;		/* CRC32C of the resource name */
};
#define FRAME_HELLO_BYTES (4 + 4 + FRAME_NAME_BYTES + FRAME_CHALLENGE_BYTES + 8)

/* STATE payload (fixed 128 bytes): a node's view of itself.
 *   0 role u8, 1 disk u8, 2 protocol u8, 3 flags u8, 4 reserved u32,
 *   8 size_bytes, 16 instance, 24 last_peer_instance, 32 dirty_bytes,
 *  40 uuid[4], 72 md_flags u32, 76 reserved u32, 80 primary_since,
 *  88.. zero */
struct frame_state {
	uint8_t role;		/* enum role */
	uint8_t disk;		/* enum disk_state */
	uint8_t protocol;	/* 'A', 'B', 'C' */
	uint8_t flags;		/* FRAME_STATE_F_* */
	uint64_t size_bytes;
	uint64_t instance;	/* random per process start */
	uint64_t last_peer_instance; /* the peer instance we last synced with */
	uint64_t dirty_bytes;	/* what this node knows the peer lacks */
	uint64_t uuid[4];	/* generation UUIDs: current, bitmap, history */
	uint32_t md_flags;	/* metadata flags (MDF_*) */
	uint64_t primary_since;	/* seconds since the epoch */
};
#define FRAME_STATE_BYTES 128
/* The highest disk state value a STATE carries (the owner's enum, 0..7:
 * Diskless .. UpToDate, then Failed). */
#define FRAME_STATE_DISK_MAX 7
#define FRAME_STATE_F_SYNC_SOURCE (1U << 0)	/* resync toward you starts */
#define FRAME_STATE_F_NEW_UUID	(1U << 1)	/* adopt my current UUID: in sync */
#define FRAME_STATE_F_PAUSED	(1U << 2)	/* the resync is paused */
#define FRAME_STATE_F_DISCARD	(1U << 3)	/* connect --discard-my-data */
#define FRAME_STATE_F_VERIFY	(1U << 4)	/* an online verify toward you runs */
#define FRAME_STATE_F_INVALIDATE (1U << 5)	/* sync me from you, everything */
#define FRAME_STATE_F_INVALIDATE_BITMAP (1U << 6) /* ... the blocks in our bitmaps */
/* A Secondary that was in sync under its Primary in protocol C until the
 * connection ended, and has not restarted since: it holds every write
 * the Primary acknowledged (FRAME_FEAT_HOLDS_ACKED). */
#define FRAME_STATE_F_HOLDS_ACKED (1U << 7)
/* Blocks one verify request covers: its CRCs fill a small payload. */
#define FRAME_VERIFY_BLOCKS	64

/* Encode hdr (crc is computed here over the header and payload). */
void frame_encode(uint8_t out[FRAME_HDR_BYTES], const struct frame_hdr *h,
		  const void *payload);
/* Parse and check a header: magic, version, known type, flags, payload
 * size for the type. 0, or -EBADMSG / -EPROTO / -E2BIG. */
int frame_parse(const uint8_t in[FRAME_HDR_BYTES], struct frame_hdr *h);
/* Does the CRC in h match the raw header bytes and the payload? */
bool frame_crc_ok(const uint8_t raw[FRAME_HDR_BYTES], const struct frame_hdr *h,
		  const void *payload);

void frame_encode_hello(uint8_t out[FRAME_HELLO_BYTES],
			const struct frame_hello *h);
int frame_parse_hello(const uint8_t *in, uint32_t len, struct frame_hello *h);
void frame_encode_state(uint8_t out[FRAME_STATE_BYTES],
			const struct frame_state *s);
int frame_parse_state(const uint8_t *in, uint32_t len, struct frame_state *s);

const char *frame_type_name(uint16_t type);

#endif
