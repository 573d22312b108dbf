/* handshake.h - the fixed newstyle negotiation as a pure state machine.
 *
 * Owns: what a server says to each option, and when negotiation ends.
 * Pure: the caller reads the client's bytes and hands them in; every reply
 * is appended to a caller buffer (struct nbd_out) for the caller to send.
 * No I/O, no allocation, no clock, so unit tests and the fuzzer drive it
 * directly. Called from server.c.
 *
 *   GREETING sent -> CLIENT_FLAGS -> OPTIONS --GO/EXPORT_NAME--> TRANSMIT
 *                         |              \--ABORT/error-----> CLOSE
 *                         \--bad flags------------------------> CLOSE
 */
#ifndef BLOCKD_NBD_HANDSHAKE_H
#define BLOCKD_NBD_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nbd/codec.h"

/* Longest option payload accepted; longer drops the connection. Export
 * names are at most 4096 bytes, meta context queries a few more. */
#define NBD_OPT_LEN_MAX (16U * 1024)
/* Options one connection may send before it is dropped. */
#define NBD_OPT_COUNT_MAX 128U
/* Queries accepted in one meta context option. */
#define NBD_META_QUERIES_MAX 64U
/* Replies to one option never exceed this (LIST, INFO with a long name). */
#define NBD_OUT_BYTES_MAX (16U * 1024)

enum nbd_hs_result {
	NBD_HS_CONTINUE,	/* send out, read the next option */
	NBD_HS_TRANSMIT,	/* send out, then enter transmission */
	NBD_HS_CLOSE,		/* send out, then close */
};

struct nbd_out {
	uint8_t buf[NBD_OUT_BYTES_MAX];
	size_t len;
};

struct nbd_hs {
	/* Set by the caller before use. */
	const struct nbd_export_info *ex;
	const char *export_name;	/* the resource name */
	const char *description;
	const char *refuse_msg;		/* non-NULL: export not served now */
	/* Negotiated state. */
	bool no_zeroes;
	unsigned options_seen;
	struct nbd_session session;
};

void nbd_hs_init(struct nbd_hs *hs, const struct nbd_export_info *ex,
		 const char *export_name, const char *description);

/* The client's 4 flag bytes. 0 to go on, -EPROTO to close. */
int nbd_hs_client_flags(struct nbd_hs *hs, const uint8_t in[4]);

/* One option whose payload (len bytes) has been read in full. The caller
 * has already checked len <= NBD_OPT_LEN_MAX. out->len is reset first. */
enum nbd_hs_result nbd_hs_option(struct nbd_hs *hs, uint32_t opt,
				 const uint8_t *data, uint32_t len,
				 struct nbd_out *out);

#endif
