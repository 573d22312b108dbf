/* handshake.c - see handshake.h.
 *
 * Validation order for each option follows the spec's precedence: a
 * malformed payload is ERR_INVALID before an unknown export is
 * ERR_UNKNOWN, and a refused export is ERR_POLICY last.
 */
#include "nbd/handshake.h"

#include <errno.h>
#include <string.h>

void nbd_hs_init(struct nbd_hs *hs, const struct nbd_export_info *ex,
		 const char *export_name, const char *description)
{
	memset(hs, 0, sizeof(*hs));
	hs->ex = ex;
	hs->export_name = export_name;
	hs->description = description;
}

int nbd_hs_client_flags(struct nbd_hs *hs, const uint8_t in[4])
{
	uint32_t flags = be_get32(in);

	if (!(flags & NBD_FLAG_C_FIXED_NEWSTYLE))
		return -EPROTO;
	if (flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return -EPROTO;
	hs->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
	return 0;
}

/* Append raw bytes; replies are bounded so this never overflows, but the
 * check keeps a logic error from writing past the buffer. */
static void out_put(struct nbd_out *out, const void *p, size_t n)
{
	if (n > sizeof(out->buf) - out->len)
		n = sizeof(out->buf) - out->len;
	memcpy(out->buf + out->len, p, n);
	out->len += n;
}

static void reply(struct nbd_out *out, uint32_t opt, uint32_t type,
		  const void *data, uint32_t len)
{
	uint8_t hdr[NBD_OPT_REPLY_BYTES];

	nbd_encode_opt_reply(hdr, opt, type, len);
	out_put(out, hdr, sizeof(hdr));
	if (len)
		out_put(out, data, len);
}

static void reply_err(struct nbd_out *out, uint32_t opt, uint32_t type,
		      const char *msg)
{
	reply(out, opt, type, msg, (uint32_t)strlen(msg));
}

static bool name_matches(const struct nbd_hs *hs, const uint8_t *name,
			 uint32_t len)
{
	return len == 0 || (len == strlen(hs->export_name) &&
			    memcmp(name, hs->export_name, len) == 0);
}

static void reply_info_export(struct nbd_hs *hs, struct nbd_out *out,
			      uint32_t opt)
{
	uint8_t b[12];

	be_put16(b, NBD_INFO_EXPORT);
	be_put64(b + 2, hs->ex->size_bytes);
	be_put16(b + 10, nbd_transmission_flags(hs->ex, &hs->session));
	reply(out, opt, NBD_REP_INFO, b, sizeof(b));
}

static void reply_info_block_size(struct nbd_hs *hs, struct nbd_out *out,
				  uint32_t opt)
{
	uint8_t b[14];

	be_put16(b, NBD_INFO_BLOCK_SIZE);
	be_put32(b + 2, hs->ex->block_min);
	be_put32(b + 6, hs->ex->block_pref);
	be_put32(b + 10, hs->ex->block_max);
	reply(out, opt, NBD_REP_INFO, b, sizeof(b));
}

static void reply_info_string(struct nbd_out *out, uint32_t opt,
			      uint16_t type, const char *s)
{
	uint8_t b[2 + 512];
	size_t n = strnlen(s, sizeof(b) - 2);

	be_put16(b, type);
	memcpy(b + 2, s, n);
	reply(out, opt, NBD_REP_INFO, b, (uint32_t)(2 + n));
}

/* NBD_OPT_INFO and NBD_OPT_GO: name length, name, info count, infos. */
static enum nbd_hs_result opt_info_go(struct nbd_hs *hs, uint32_t opt,
				      const uint8_t *d, uint32_t len,
				      struct nbd_out *out)
{
	uint32_t name_len;
	uint16_t n_info;
	const uint8_t *infos;
	bool want_name = false, want_desc = false;

	if (len < 6)
		goto invalid;
	name_len = be_get32(d);
	if (name_len > len - 6)
		goto invalid;
	n_info = be_get16(d + 4 + name_len);
	if ((uint32_t)n_info * 2 != len - 6 - name_len)
		goto invalid;
	infos = d + 6 + name_len;

	if (!name_matches(hs, d + 4, name_len)) {
		reply_err(out, opt, NBD_REP_ERR_UNKNOWN,
			  "no export of that name: try the resource name");
		return NBD_HS_CONTINUE;
	}
	if (hs->refuse_msg) {
		reply_err(out, opt, NBD_REP_ERR_POLICY, hs->refuse_msg);
		return NBD_HS_CONTINUE;
	}

	/* Each info is answered at most once however often it is asked
	 * for, which bounds the reply below NBD_OUT_BYTES_MAX. */
	for (uint16_t i = 0; i < n_info; i++) {
		uint16_t type = be_get16(infos + 2 * i);

		if (type == NBD_INFO_NAME)
			want_name = true;
		else if (type == NBD_INFO_DESCRIPTION && hs->description)
			want_desc = true;
	}
	if (want_name)
		reply_info_string(out, opt, NBD_INFO_NAME, hs->export_name);
	if (want_desc)
		reply_info_string(out, opt, NBD_INFO_DESCRIPTION, hs->description);
	/* Block sizes are always sent: min 1 means any client is served. */
	reply_info_block_size(hs, out, opt);
	reply_info_export(hs, out, opt);
	reply(out, opt, NBD_REP_ACK, NULL, 0);
	return opt == NBD_OPT_GO ? NBD_HS_TRANSMIT : NBD_HS_CONTINUE;

invalid:
	reply_err(out, opt, NBD_REP_ERR_INVALID, "malformed option payload");
	return NBD_HS_CONTINUE;
}

static enum nbd_hs_result opt_export_name(struct nbd_hs *hs,
					  const uint8_t *d, uint32_t len,
					  struct nbd_out *out)
{
	uint8_t b[NBD_EXPORT_NAME_REPLY_BYTES + 124] = { 0 };

	/* This option has no error reply: closing is the only refusal. */
	if (!name_matches(hs, d, len) || hs->refuse_msg)
		return NBD_HS_CLOSE;
	be_put64(b, hs->ex->size_bytes);
	be_put16(b + 8, nbd_transmission_flags(hs->ex, &hs->session));
	out_put(out, b, hs->no_zeroes ? NBD_EXPORT_NAME_REPLY_BYTES : sizeof(b));
	return NBD_HS_TRANSMIT;
}

static void opt_list(struct nbd_hs *hs, const uint8_t *d, uint32_t len,
		     struct nbd_out *out)
{
	uint8_t b[4 + 512];
	size_t n = strnlen(hs->export_name, sizeof(b) - 4);

	(void)d;
	if (len != 0) {
		reply_err(out, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
			  "LIST takes no payload");
		return;
	}
	be_put32(b, (uint32_t)n);
	memcpy(b + 4, hs->export_name, n);
	reply(out, NBD_OPT_LIST, NBD_REP_SERVER, b, (uint32_t)(4 + n));
	reply(out, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

static void reply_meta_context(struct nbd_out *out, uint32_t opt)
{
	static const char name[] = NBD_META_BASE_ALLOCATION;
	uint8_t b[4 + sizeof(name)];

	be_put32(b, NBD_META_ID_BASE_ALLOCATION);
	memcpy(b + 4, name, sizeof(name) - 1);
	reply(out, opt, NBD_REP_META_CONTEXT, b, 4 + sizeof(name) - 1);
}

/* A query selects base:allocation when it names it exactly; for LIST the
 * namespace alone ("base:") also matches. */
static bool query_matches(const uint8_t *q, uint32_t qlen, bool listing)
{
	static const char full[] = NBD_META_BASE_ALLOCATION;

	if (qlen == sizeof(full) - 1 && memcmp(q, full, qlen) == 0)
		return true;
	return listing && qlen == 5 && memcmp(q, "base:", 5) == 0;
}

/* LIST/SET_META_CONTEXT: name length, name, query count, queries. */
static void opt_meta(struct nbd_hs *hs, uint32_t opt, const uint8_t *d,
		     uint32_t len, struct nbd_out *out)
{
	bool listing = opt == NBD_OPT_LIST_META_CONTEXT;
	uint32_t name_len, n_q, pos;
	bool selected = false;

	if (!hs->session.structured) {
		reply_err(out, opt, NBD_REP_ERR_INVALID,
			  "negotiate structured replies first");
		return;
	}
	if (len < 8)
		goto invalid;
	name_len = be_get32(d);
	if (name_len > len - 8)
		goto invalid;
	n_q = be_get32(d + 4 + name_len);
	if (n_q > NBD_META_QUERIES_MAX) {
		reply_err(out, opt, NBD_REP_ERR_TOO_BIG, "too many queries");
		return;
	}
	/* Validate every query length before answering any of them. */
	pos = 8 + name_len;
	for (uint32_t i = 0; i < n_q; i++) {
		uint32_t qlen;

		if (len - pos < 4)
			goto invalid;
		qlen = be_get32(d + pos);
		if (qlen > len - pos - 4)
			goto invalid;
		pos += 4 + qlen;
	}
	if (pos != len)
		goto invalid;
	if (!name_matches(hs, d + 4, name_len)) {
		reply_err(out, opt, NBD_REP_ERR_UNKNOWN, "no export of that name");
		return;
	}

	pos = 8 + name_len;
	for (uint32_t i = 0; i < n_q; i++) {
		uint32_t qlen = be_get32(d + pos);

		if (query_matches(d + pos + 4, qlen, listing))
			selected = true;
		pos += 4 + qlen;
	}
	if (listing && n_q == 0)
		selected = true;
	if (selected)
		reply_meta_context(out, opt);
	if (!listing)
		hs->session.meta_base_alloc = selected;
	reply(out, opt, NBD_REP_ACK, NULL, 0);
	return;

invalid:
	reply_err(out, opt, NBD_REP_ERR_INVALID, "malformed meta context option");
}

enum nbd_hs_result nbd_hs_option(struct nbd_hs *hs, uint32_t opt,
				 const uint8_t *data, uint32_t len,
				 struct nbd_out *out)
{
	out->len = 0;
	if (++hs->options_seen > NBD_OPT_COUNT_MAX)
		return NBD_HS_CLOSE;

	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		return opt_export_name(hs, data, len, out);
	case NBD_OPT_ABORT:
		reply(out, opt, NBD_REP_ACK, NULL, 0);
		return NBD_HS_CLOSE;
	case NBD_OPT_LIST:
		opt_list(hs, data, len, out);
		return NBD_HS_CONTINUE;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return opt_info_go(hs, opt, data, len, out);
	case NBD_OPT_STRUCTURED_REPLY:
		if (len != 0) {
			reply_err(out, opt, NBD_REP_ERR_INVALID,
				  "STRUCTURED_REPLY takes no payload");
			return NBD_HS_CONTINUE;
		}
		hs->session.structured = true;
		reply(out, opt, NBD_REP_ACK, NULL, 0);
		return NBD_HS_CONTINUE;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		opt_meta(hs, opt, data, len, out);
		return NBD_HS_CONTINUE;
	default:
		reply_err(out, opt, NBD_REP_ERR_UNSUP, "option not supported");
		return NBD_HS_CONTINUE;
	}
}
