/* fuzz_frame.c - libFuzzer target for the peer frame codec.
 *
 * The input is a byte stream as a peer would send it on the link:
 *
 *   { [header:40] [payload:payload_len] }...
 *
 * Each header goes through frame_parse. A rejected header ends the stream,
 * as the link closes the connection; so does a payload longer than what
 * is left of the input. A CRC mismatch is noted but does not stop the
 * walk, so the payload codecs are reached without the fuzzer having to
 * forge CRCs. Every verdict is compared with a model of the rules in
 * frame.h written here (V_REQ's included: a CRC32C per whole 4 KiB block,
 * 1 to FRAME_VERIFY_BLOCKS blocks), and whatever parses must re-encode to
 * the same bytes. A violated invariant aborts with a message.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_frame.c
 *        transport/frame.c common/crc32c.c -lisal -o fuzz_frame
 * Seeds: tests/fuzz/corpus_frame, made by tests/fuzz/make-frame-corpus.py.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/frame.h"
#include "tests/fuzz/fuzz_check.h"

/* The model below is written for this version of the format: if frame.h
 * moves on, this file has to be read again, not silently rebuilt. */
_Static_assert(FRAME_VERSION == 3, "frame version");
_Static_assert(FRAME_HDR_BYTES == 40, "header size");
_Static_assert(FRAME_HELLO_BYTES == 112, "HELLO size");
_Static_assert(FRAME_STATE_BYTES == 128, "STATE size");
_Static_assert(FRAME_MAC_BYTES == 32, "AUTH size");
_Static_assert(FRAME_CTRL_PAYLOAD_MAX == 4096, "control payload bound");
_Static_assert(FRAME_TYPE_MAX == 28 && FRAME_RS_PRIO == 23 &&
	       FRAME_READ_REQ == 24 && FRAME_READ_REPLY == 25 &&
	       FRAME_ROLE_REQ == 26 && FRAME_ROLE_REPLY == 27 &&
	       FRAME_FLUSHED == 28 &&
	       FRAME_RS_CSUM == 17 &&
	       FRAME_RS_NEED == 18 && FRAME_BITMAP == 19 &&
	       FRAME_BITMAP_DONE == 20 && FRAME_V_REQ == 21 &&
	       FRAME_V_REPLY == 22, "frame types");
_Static_assert(FRAME_F_ALL == 0x3f && FRAME_F_SAME == 0x10 &&
	       FRAME_F_FAILED == 0x20, "frame flags");
_Static_assert(FRAME_VERIFY_BLOCKS == 64, "verify request bound");

/* Bytes of disk one V_REQ CRC covers. */
#define VBLOCK 4096U

static uint64_t be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

/* CRC32C written here, so a frame_crc_ok that skips part of what frame.h
 * says it covers is caught. */
static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	static uint32_t table[256];

	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = (c >> 1) ^ (0x82f63b78U & (0U - (c & 1)));
			table[i] = c;
		}
	}
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static bool ref_crc_ok(const uint8_t *raw, const uint8_t *payload,
		       uint32_t len)
{
	uint8_t tmp[FRAME_HDR_BYTES];
	uint32_t crc;

	memcpy(tmp, raw, FRAME_HDR_BYTES);
	memset(tmp + 36, 0, 4);
	crc = ref_crc32c(0, tmp, FRAME_HDR_BYTES);
	crc = ref_crc32c(crc, payload, len);
	return crc == be(raw + 36, 4);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* frame.h's rules, read straight off the raw bytes. Returns the one
 * verdict frame_parse may give, or 1 when -EPROTO and -E2BIG would both
 * be fair (a control frame with a payload past FRAME_PAYLOAD_MAX). */
static int model_verdict(const uint8_t *p)
{
	uint32_t type = (uint32_t)be(p + 6, 2);
	uint32_t plen = (uint32_t)be(p + 12, 4);
	uint32_t length = (uint32_t)be(p + 32, 4);

	if (be(p, 4) != FRAME_MAGIC)
		return -EBADMSG;
	if (be(p + 4, 2) != FRAME_VERSION)
		return -EPROTO;
	if (type == 0 || type > FRAME_TYPE_MAX)
		return -EPROTO;
	if (be(p + 8, 4) & ~(uint64_t)FRAME_F_ALL)
		return -EPROTO;
	switch (type) {
	case FRAME_HELLO:
		return plen == FRAME_HELLO_BYTES ? 0 : -EPROTO;
	case FRAME_AUTH:
		return plen == FRAME_MAC_BYTES ? 0 : -EPROTO;
	case FRAME_STATE:
		return plen == FRAME_STATE_BYTES ? 0 : -EPROTO;
	case FRAME_DATA:
	case FRAME_RS_DATA:
		if (plen > FRAME_PAYLOAD_MAX)
			return -E2BIG;
		return plen == length && length ? 0 : -EPROTO;
	case FRAME_READ_REPLY:
		/* The data, or an empty reply carrying an error. */
		if (plen > FRAME_PAYLOAD_MAX)
			return -E2BIG;
		return plen == length ? 0 : -EPROTO;
	case FRAME_RS_CSUM:
		/* A CRC32C of a range that is not empty. */
		if (plen > FRAME_PAYLOAD_MAX)
			return 1;
		return plen == 4 && length ? 0 : -EPROTO;
	case FRAME_BITMAP:
		/* Any RLE chunk that fits a control payload; length unused. */
		if (plen > FRAME_PAYLOAD_MAX)
			return 1;
		return plen <= FRAME_CTRL_PAYLOAD_MAX ? 0 : -EPROTO;
	case FRAME_V_REQ:
		/* A CRC32C per 4 KiB block: a nonzero whole number of
		 * blocks, at most FRAME_VERIFY_BLOCKS, 4 bytes each. */
		if (plen > FRAME_PAYLOAD_MAX)
			return 1;
		if (length == 0 || length % VBLOCK != 0 ||
		    length / VBLOCK > FRAME_VERIFY_BLOCKS)
			return -EPROTO;
		return plen == length / VBLOCK * 4 ? 0 : -EPROTO;
	default:
		/* V_REPLY included: its mask rides in the offset. */
		if (plen > FRAME_PAYLOAD_MAX)
			return 1;
		return plen == 0 ? 0 : -EPROTO;
	}
}

static void check_hello(const uint8_t *p, uint32_t len)
{
	struct frame_hello h, h2;
	uint8_t out[FRAME_HELLO_BYTES];
	size_t n;
	int ret;

	ret = frame_parse_hello(p, len, &h);
	CHECK(ret == 0 || ret == -EPROTO);
	if (len != FRAME_HELLO_BYTES) {
		CHECK(ret == -EPROTO);
		return;
	}
	CHECK((ret == 0) == (p[8] != 0 && p[8 + FRAME_NAME_BYTES - 1] == 0));
	if (ret != 0)
		return;
	n = strnlen(h.node, FRAME_NAME_BYTES);
	CHECK(n >= 1 && n < FRAME_NAME_BYTES);
	CHECK(memcmp(h.node, p + 8, n) == 0);
	CHECK(h.features == be(p, 4));
	CHECK(h.resource_hash == be(p + 104, 8));
	CHECK(memcmp(h.challenge, p + 72, FRAME_CHALLENGE_BYTES) == 0);

	/* Re-encoded: the same bytes, but reserved and everything after the
	 * name's NUL sent as zeroes. */
	frame_encode_hello(out, &h);
	CHECK(memcmp(out, p, 4) == 0);
	CHECK(all_zero(out + 4, 4));
	CHECK(memcmp(out + 8, p + 8, n) == 0);
	CHECK(all_zero(out + 8 + n, FRAME_NAME_BYTES - n));
	CHECK(memcmp(out + 72, p + 72, FRAME_HELLO_BYTES - 72) == 0);
	CHECK(frame_parse_hello(out, sizeof(out), &h2) == 0);
	CHECK(h2.features == h.features && h2.reserved == 0);
	CHECK(strcmp(h2.node, h.node) == 0);
	CHECK(memcmp(h2.challenge, h.challenge, FRAME_CHALLENGE_BYTES) == 0);
	CHECK(h2.resource_hash == h.resource_hash);
}

static void check_state(const uint8_t *p, uint32_t len)
{
	struct frame_state s, s2;
	uint8_t out[FRAME_STATE_BYTES];
	bool valid;
	int ret;

	ret = frame_parse_state(p, len, &s);
	CHECK(ret == 0 || ret == -EPROTO);
	if (len != FRAME_STATE_BYTES) {
		CHECK(ret == -EPROTO);
		return;
	}
	valid = p[0] <= 2 && p[1] <= FRAME_STATE_DISK_MAX &&
		(p[2] == 'A' || p[2] == 'B' || p[2] == 'C');
	CHECK((ret == 0) == valid);
	if (ret != 0)
		return;
	CHECK(s.role == p[0] && s.disk == p[1] && s.protocol == p[2]);
	CHECK(s.flags == p[3]);
	CHECK(s.size_bytes == be(p + 8, 8));
	CHECK(s.instance == be(p + 16, 8));
	CHECK(s.last_peer_instance == be(p + 24, 8));
	CHECK(s.dirty_bytes == be(p + 32, 8));
	for (int i = 0; i < 4; i++)
		CHECK(s.uuid[i] == be(p + 40 + 8 * i, 8));
	CHECK(s.md_flags == be(p + 72, 4));
	CHECK(s.primary_since == be(p + 80, 8));

	/* Re-encoded: the same bytes, reserved ones (4..7, 76..79, 88..127)
	 * zero. */
	frame_encode_state(out, &s);
	CHECK(memcmp(out, p, 4) == 0);
	CHECK(all_zero(out + 4, 4));
	CHECK(memcmp(out + 8, p + 8, 68) == 0);
	CHECK(all_zero(out + 76, 4));
	CHECK(memcmp(out + 80, p + 80, 8) == 0);
	CHECK(all_zero(out + 88, FRAME_STATE_BYTES - 88));
	CHECK(frame_parse_state(out, sizeof(out), &s2) == 0);
	CHECK(s2.role == s.role && s2.disk == s.disk &&
	      s2.protocol == s.protocol && s2.flags == s.flags);
	CHECK(s2.size_bytes == s.size_bytes && s2.instance == s.instance);
	CHECK(s2.last_peer_instance == s.last_peer_instance);
	CHECK(s2.dirty_bytes == s.dirty_bytes);
	CHECK(memcmp(s2.uuid, s.uuid, sizeof(s.uuid)) == 0);
	CHECK(s2.md_flags == s.md_flags);
	CHECK(s2.primary_since == s.primary_since);
}

/* What frame_parse must have verified when it returns 0. */
static void check_accepted(const uint8_t *raw, const struct frame_hdr *h)
{
	CHECK(h->version == FRAME_VERSION);
	CHECK(h->type >= 1 && h->type <= FRAME_TYPE_MAX);
	CHECK(strcmp(frame_type_name(h->type), "?") != 0);
	CHECK(!(h->flags & ~FRAME_F_ALL));
	CHECK(h->payload_len <= FRAME_PAYLOAD_MAX);
	switch (h->type) {
	case FRAME_HELLO:
		CHECK(h->payload_len == FRAME_HELLO_BYTES);
		break;
	case FRAME_AUTH:
		CHECK(h->payload_len == FRAME_MAC_BYTES);
		break;
	case FRAME_STATE:
		CHECK(h->payload_len == FRAME_STATE_BYTES);
		break;
	case FRAME_DATA:
	case FRAME_RS_DATA:
		CHECK(h->payload_len == h->length && h->length > 0);
		break;
	case FRAME_READ_REPLY:
		CHECK(h->payload_len == h->length);
		break;
	case FRAME_RS_CSUM:
		CHECK(h->payload_len == 4 && h->length > 0);
		break;
	case FRAME_BITMAP:
		CHECK(h->payload_len <= FRAME_CTRL_PAYLOAD_MAX);
		break;
	case FRAME_V_REQ:
		CHECK(h->length >= VBLOCK && h->length % VBLOCK == 0);
		CHECK(h->length / VBLOCK <= FRAME_VERIFY_BLOCKS);
		CHECK(h->payload_len == h->length / VBLOCK * 4);
		/* The whole request fits the sender's inline buffer. */
		CHECK(h->payload_len <= 4 * FRAME_VERIFY_BLOCKS);
		break;
	default:
		CHECK(h->payload_len == 0);
	}
	/* Control payloads fit the link's receive buffer. */
	if (h->type != FRAME_DATA && h->type != FRAME_RS_DATA &&
	    h->type != FRAME_READ_REPLY)
		CHECK(h->payload_len <= FRAME_CTRL_PAYLOAD_MAX);
	/* Every field was read from where frame.h puts it. */
	CHECK(h->type == be(raw + 6, 2));
	CHECK(h->flags == be(raw + 8, 4));
	CHECK(h->payload_len == be(raw + 12, 4));
	CHECK(h->id == be(raw + 16, 8));
	CHECK(h->offset == be(raw + 24, 8));
	CHECK(h->length == be(raw + 32, 4));
	CHECK(h->crc == be(raw + 36, 4));
}

/* Re-encoding a parsed header with its payload gives the same header
 * bytes, with the CRC the input should have had. */
static void check_reencode(const uint8_t *raw, const struct frame_hdr *h,
			   const uint8_t *payload, bool crc_ok)
{
	uint8_t out[FRAME_HDR_BYTES];
	struct frame_hdr h2;

	frame_encode(out, h, payload);
	CHECK(memcmp(out, raw, 36) == 0);
	CHECK(crc_ok == (memcmp(out + 36, raw + 36, 4) == 0));
	CHECK(frame_parse(out, &h2) == 0);
	CHECK(h2.version == h->version && h2.type == h->type);
	CHECK(h2.flags == h->flags && h2.payload_len == h->payload_len);
	CHECK(h2.id == h->id && h2.offset == h->offset);
	CHECK(h2.length == h->length);
	CHECK(frame_crc_ok(out, &h2, payload));
	if (crc_ok)
		CHECK(h2.crc == h->crc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t left = size;

	while (left >= FRAME_HDR_BYTES) {
		const uint8_t *raw = p, *payload;
		struct frame_hdr h;
		int ret, want;
		bool crc_ok;

		ret = frame_parse(raw, &h);
		want = model_verdict(raw);
		if (want == 1)
			CHECK(ret == -EPROTO || ret == -E2BIG);
		else
			CHECK(ret == want);
		if (ret != 0)
			return 0;
		check_accepted(raw, &h);
		p += FRAME_HDR_BYTES;
		left -= FRAME_HDR_BYTES;
		if (h.payload_len > left) {
			/* Truncated: the payload codecs must refuse what is
			 * there instead of reading past it. */
			check_hello(p, (uint32_t)left);
			check_state(p, (uint32_t)left);
			return 0;
		}
		payload = p;
		p += h.payload_len;
		left -= h.payload_len;

		crc_ok = frame_crc_ok(raw, &h, payload);
		CHECK(crc_ok == ref_crc_ok(raw, payload, h.payload_len));
		check_reencode(raw, &h, payload, crc_ok);
		/* Every payload through both codecs: only the right length
		 * may parse. */
		check_hello(payload, h.payload_len);
		check_state(payload, h.payload_len);
	}
	/* A partial header is never parsed; the payload codecs still see
	 * it, as a truncated payload. */
	check_hello(p, (uint32_t)left);
	check_state(p, (uint32_t)left);
	return 0;
}
