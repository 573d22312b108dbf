/* fuzz_nbd.c - libFuzzer target for the NBD handshake and request codec.
 *
 * The input is what a client sends after the greeting, preceded by one
 * byte that picks the export:
 *
 *   [config:1] [client flags:4] { [option header:16] [payload] }...
 *              { [request:28] [WRITE payload] }...
 *
 * Options go through nbd_hs_option until it says TRANSMIT or CLOSE, the
 * way server.c drives it: a bad magic, an option longer than
 * NBD_OPT_LEN_MAX or input that ends mid-record closes. After TRANSMIT the
 * rest is requests, judged with the session the handshake negotiated.
 * Every reply is parsed back and checked against the protocol's rules;
 * a violated invariant aborts with a message.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_nbd.c
 *        nbd/codec.c nbd/handshake.c -o fuzz_nbd
 * Seeds: tests/fuzz/corpus, made by tests/fuzz/make-corpus.py.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd/handshake.h"
#include "tests/fuzz/fuzz_check.h"

#define EXPORT_NAME "r0"
#define EXPORT_DESC "fuzzed export"

struct input {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *take(struct input *in, size_t n)
{
	const uint8_t *p = in->p;

	if (in->left < n)
		return NULL;
	in->p += n;
	in->left -= n;
	return p;
}

/* Config byte: bit 0 read-only, bit 1 refused, bit 2 no description,
 * bits 3-4 size, bits 5-6 block_max. */
static void pick_export(uint8_t c, struct nbd_export_info *ex,
			const char **desc, const char **refuse)
{
	static const uint64_t sizes[] = {
		1ULL << 20, 0, UINT64_MAX, (1ULL << 40) + 512,
	};
	static const uint32_t block_maxes[] = { 4096, 65536, 32U << 20, 1 };

	memset(ex, 0, sizeof(*ex));
	ex->read_only = c & 1;
	ex->size_bytes = sizes[(c >> 3) & 3];
	ex->block_min = 1;
	ex->block_pref = 4096;
	ex->block_max = block_maxes[(c >> 5) & 3];
	*refuse = (c & 2) ? "not served: resource is Secondary" : NULL;
	*desc = (c & 4) ? NULL : EXPORT_DESC;
}

static bool opt_known(uint32_t opt)
{
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
	case NBD_OPT_ABORT:
	case NBD_OPT_LIST:
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
	case NBD_OPT_STRUCTURED_REPLY:
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return true;
	default:
		return false;
	}
}

static void check_export_name(const struct nbd_hs *hs,
			      enum nbd_hs_result res, const struct nbd_out *out)
{
	if (res == NBD_HS_CLOSE) {
		CHECK(out->len == 0);
		return;
	}
	CHECK(res == NBD_HS_TRANSMIT);
	CHECK(out->len == (hs->no_zeroes ? NBD_EXPORT_NAME_REPLY_BYTES
					 : NBD_EXPORT_NAME_REPLY_BYTES + 124));
	CHECK(be_get64(out->buf) == hs->ex->size_bytes);
	CHECK(be_get16(out->buf + 8) ==
	      nbd_transmission_flags(hs->ex, &hs->session));
	for (size_t i = NBD_EXPORT_NAME_REPLY_BYTES; i < out->len; i++)
		CHECK(out->buf[i] == 0);
}

static void check_info(const struct nbd_hs *hs, const uint8_t *d,
		       uint32_t len)
{
	CHECK(len >= 2);
	switch (be_get16(d)) {
	case NBD_INFO_EXPORT:
		CHECK(len == 12);
		CHECK(be_get64(d + 2) == hs->ex->size_bytes);
		CHECK(be_get16(d + 10) ==
		      nbd_transmission_flags(hs->ex, &hs->session));
		break;
	case NBD_INFO_BLOCK_SIZE:
		CHECK(len == 14);
		CHECK(be_get32(d + 2) == hs->ex->block_min);
		CHECK(be_get32(d + 6) == hs->ex->block_pref);
		CHECK(be_get32(d + 10) == hs->ex->block_max);
		break;
	case NBD_INFO_NAME:
		CHECK(len == 2 + strlen(hs->export_name));
		CHECK(memcmp(d + 2, hs->export_name, len - 2) == 0);
		break;
	case NBD_INFO_DESCRIPTION:
		CHECK(hs->description != NULL);
		CHECK(len == 2 + strlen(hs->description));
		CHECK(memcmp(d + 2, hs->description, len - 2) == 0);
		break;
	default:
		CHECK(!"unknown info type in reply");
	}
}

/* The replies to one option: well-formed, all for this option, an error
 * only ever alone, and a result that fits what was answered. */
static void check_replies(const struct nbd_hs *hs, uint32_t opt,
			  enum nbd_hs_result res, const struct nbd_out *out)
{
	size_t pos = 0, n = 0;
	uint32_t last_type = 0;
	bool error = false;

	CHECK(out->len <= NBD_OUT_BYTES_MAX);
	if (out->len == 0) {
		/* Only the option cap closes without a word. */
		CHECK(res == NBD_HS_CLOSE);
		CHECK(hs->options_seen > NBD_OPT_COUNT_MAX);
		return;
	}
	while (pos < out->len) {
		const uint8_t *r = out->buf + pos;
		uint32_t len;

		CHECK(out->len - pos >= NBD_OPT_REPLY_BYTES);
		CHECK(be_get64(r) == NBD_MAGIC_OPT_REPLY);
		CHECK(be_get32(r + 8) == opt);
		last_type = be_get32(r + 12);
		len = be_get32(r + 16);
		CHECK(len <= out->len - pos - NBD_OPT_REPLY_BYTES);
		if (last_type & NBD_REP_FLAG_ERROR)
			error = true;
		if (last_type == NBD_REP_ERR_UNSUP)
			CHECK(!opt_known(opt));
		if (last_type == NBD_REP_ACK)
			CHECK(len == 0);
		if (last_type == NBD_REP_INFO) {
			CHECK(opt == NBD_OPT_INFO || opt == NBD_OPT_GO);
			check_info(hs, r + NBD_OPT_REPLY_BYTES, len);
		}
		if (last_type == NBD_REP_META_CONTEXT) {
			CHECK(opt == NBD_OPT_LIST_META_CONTEXT ||
			      opt == NBD_OPT_SET_META_CONTEXT);
			CHECK(hs->session.structured);
			CHECK(len == 4 + strlen(NBD_META_BASE_ALLOCATION));
			CHECK(be_get32(r + NBD_OPT_REPLY_BYTES) ==
			      NBD_META_ID_BASE_ALLOCATION);
		}
		if (last_type == NBD_REP_SERVER)
			CHECK(opt == NBD_OPT_LIST);
		pos += NBD_OPT_REPLY_BYTES + len;
		n++;
	}
	if (error)
		CHECK(n == 1 && res == NBD_HS_CONTINUE);
	else
		CHECK(last_type == NBD_REP_ACK);
	if (res == NBD_HS_TRANSMIT)
		CHECK(opt == NBD_OPT_GO && !error);
	if (res == NBD_HS_CLOSE)
		CHECK(opt == NBD_OPT_ABORT && n == 1);
}

/* Options until TRANSMIT; false when the connection closes. */
static bool run_handshake(struct nbd_hs *hs, struct input *in)
{
	static struct nbd_out out;
	const uint8_t *p;

	p = take(in, 4);
	if (!p)
		return false;
	if (nbd_hs_client_flags(hs, p) != 0) {
		uint32_t f = be_get32(p);

		CHECK(!(f & NBD_FLAG_C_FIXED_NEWSTYLE) ||
		      (f & ~(NBD_FLAG_C_FIXED_NEWSTYLE |
			     NBD_FLAG_C_NO_ZEROES)));
		return false;
	}
	for (;;) {
		struct nbd_option o;
		enum nbd_hs_result res;
		const uint8_t *data;

		p = take(in, NBD_OPT_HDR_BYTES);
		if (!p || nbd_parse_option_header(p, &o) != 0)
			return false;
		if (o.len > NBD_OPT_LEN_MAX)
			return false;
		data = take(in, o.len);
		if (!data)
			return false;
		res = nbd_hs_option(hs, o.opt, data, o.len, &out);
		CHECK(res == NBD_HS_CONTINUE || res == NBD_HS_TRANSMIT ||
		      res == NBD_HS_CLOSE);
		CHECK(!hs->session.meta_base_alloc || hs->session.structured);
		if (o.opt == NBD_OPT_EXPORT_NAME &&
		    hs->options_seen <= NBD_OPT_COUNT_MAX)
			check_export_name(hs, res, &out);
		else
			check_replies(hs, o.opt, res, &out);
		if (res == NBD_HS_TRANSMIT) {
			CHECK(hs->refuse_msg == NULL);
			return true;
		}
		if (res == NBD_HS_CLOSE)
			return false;
		CHECK(hs->options_seen <= NBD_OPT_COUNT_MAX);
	}
}

/* What nbd_check_request must have verified when it returns 0. */
static void check_accepted(const struct nbd_request *rq,
			   const struct nbd_export_info *ex,
			   const struct nbd_session *s)
{
	uint16_t tflags = nbd_transmission_flags(ex, s);
	bool ranged = rq->type != NBD_CMD_FLUSH && rq->type != NBD_CMD_DISC;
	bool writes = rq->type == NBD_CMD_WRITE || rq->type == NBD_CMD_TRIM ||
		      rq->type == NBD_CMD_WRITE_ZEROES;

	CHECK(rq->type <= NBD_CMD_BLOCK_STATUS);
	/* DISC is never answered, so whatever it carries it is accepted. */
	if (rq->type == NBD_CMD_DISC)
		return;
	/* FLUSH's offset and length are reserved. */
	if (rq->type == NBD_CMD_FLUSH)
		CHECK(rq->offset == 0 && rq->length == 0);
	CHECK(!(rq->flags & ~(NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
			      NBD_CMD_FLAG_DF | NBD_CMD_FLAG_REQ_ONE |
			      NBD_CMD_FLAG_FAST_ZERO)));
	if (rq->flags & NBD_CMD_FLAG_DF)
		CHECK(rq->type == NBD_CMD_READ && s->structured &&
		      (tflags & NBD_FLAG_SEND_DF));
	if (rq->flags & NBD_CMD_FLAG_FAST_ZERO)
		CHECK(rq->type == NBD_CMD_WRITE_ZEROES &&
		      (tflags & NBD_FLAG_SEND_FAST_ZERO));
	if (rq->flags & NBD_CMD_FLAG_NO_HOLE)
		CHECK(rq->type == NBD_CMD_WRITE_ZEROES);
	if (rq->flags & NBD_CMD_FLAG_REQ_ONE)
		CHECK(rq->type == NBD_CMD_BLOCK_STATUS);
	if (rq->type == NBD_CMD_BLOCK_STATUS)
		CHECK(s->meta_base_alloc);
	if (writes)
		CHECK(!ex->read_only);
	if (rq->type == NBD_CMD_READ || rq->type == NBD_CMD_WRITE)
		CHECK(rq->length <= ex->block_max);
	if (ranged) {
		CHECK(rq->length > 0);
		/* Exact: no wrap in 128 bits. */
		CHECK((unsigned __int128)rq->offset + rq->length <=
		      ex->size_bytes);
	}
}

static void check_reply_encoding(const struct nbd_request *rq, int err,
				 const struct nbd_session *s)
{
	uint8_t b[NBD_STRUCT_REPLY_BYTES];

	nbd_encode_simple_reply(b, (uint32_t)err, rq->cookie);
	CHECK(be_get32(b) == NBD_MAGIC_SIMPLE_REPLY);
	CHECK(be_get32(b + 4) == (uint32_t)err);
	CHECK(be_get64(b + 8) == rq->cookie);
	if (!s->structured)
		return;
	nbd_encode_struct_reply(b, NBD_REPLY_FLAG_DONE,
				err ? NBD_REPLY_TYPE_ERROR
				    : NBD_REPLY_TYPE_NONE,
				rq->cookie, err ? 6 : 0);
	CHECK(be_get32(b) == NBD_MAGIC_STRUCT_REPLY);
	CHECK(be_get16(b + 4) == NBD_REPLY_FLAG_DONE);
	CHECK(be_get64(b + 8) == rq->cookie);
}

static void run_requests(const struct nbd_hs *hs, struct input *in)
{
	const struct nbd_export_info *ex = hs->ex;
	const struct nbd_session *s = &hs->session;
	const uint8_t *p;

	while ((p = take(in, NBD_REQUEST_BYTES)) != NULL) {
		struct nbd_request rq;
		int err;

		if (nbd_parse_request(p, &rq) != 0) {
			CHECK(be_get32(p) != NBD_MAGIC_REQUEST);
			return;
		}
		CHECK(be_get32(p) == NBD_MAGIC_REQUEST);
		err = nbd_check_request(&rq, ex, s);
		CHECK(err == 0 || err == NBD_EPERM || err == NBD_EINVAL ||
		      err == NBD_ENOSPC || err == -EPROTO);
		CHECK((err == -EPROTO) ==
		      (rq.type == NBD_CMD_WRITE && rq.length > ex->block_max));
		if (err == -EPROTO)
			return;
		if (err == 0)
			check_accepted(&rq, ex, s);
		/* ENOSPC only where data would be stored past the end. */
		if (err == NBD_ENOSPC)
			CHECK(rq.type == NBD_CMD_WRITE ||
			      rq.type == NBD_CMD_WRITE_ZEROES);
		if (rq.type == NBD_CMD_DISC)
			CHECK(err == 0);
		if (err == NBD_EPERM)
			CHECK(ex->read_only);
		check_reply_encoding(&rq, err, s);
		if (rq.type == NBD_CMD_DISC && err == 0)
			return;
		/* The payload is read (and dropped on error) either way. */
		if (!take(in, nbd_request_payload(&rq)))
			return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct nbd_export_info ex;
	const char *desc, *refuse;
	struct nbd_hs hs;
	const uint8_t *c;

	c = take(&in, 1);
	if (!c)
		return 0;
	pick_export(*c, &ex, &desc, &refuse);
	nbd_hs_init(&hs, &ex, EXPORT_NAME, desc);
	hs.refuse_msg = refuse;
	if (run_handshake(&hs, &in))
		run_requests(&hs, &in);
	return 0;
}
