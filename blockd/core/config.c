/* config.c - see config.h.
 *
 * One table lists every key, its section and its setter, so the file and
 * the flags accept exactly the same keys with the same validation.
 */
#include "blockd/core/config.h"

#include "blockd/core/metafmt.h"
#include "blockd/core/uuid.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum key_scope { SCOPE_RESOURCE, SCOPE_NODE };

struct key_ctx {
	struct config *cfg;
	struct config_node *node;	/* for SCOPE_NODE keys */
	char err[256];
};

typedef int (*key_set_fn)(struct key_ctx *k, const char *v);

struct key_def {
	const char *key;
	enum key_scope scope;
	key_set_fn set;
	size_t off;		/* string keys: offset in config/config_node */
};

static int set_str(struct key_ctx *k, const struct key_def *d, const char *v)
{
	char *base = d->scope == SCOPE_NODE ? (char *)k->node : (char *)k->cfg;
	size_t cap = CONFIG_STR;

	if (d->off == offsetof(struct config, name))
		cap = sizeof(k->cfg->name);
	if (strlen(v) >= cap) {
		snprintf(k->err, sizeof(k->err), "value too long for '%s'", d->key);
		return -EINVAL;
	}
	strcpy(base + d->off, v);
	return 0;
}

static int parse_bool(struct key_ctx *k, const char *key, const char *v,
		      bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	snprintf(k->err, sizeof(k->err), "%s must be yes or no, not '%s'", key, v);
	return -EINVAL;
}

static int set_protocol(struct key_ctx *k, const char *v)
{
	if (strlen(v) != 1 || !strchr("ABCabc", v[0])) {
		snprintf(k->err, sizeof(k->err),
			 "protocol must be A, B or C, not '%s'", v);
		return -EINVAL;
	}
	k->cfg->protocol = (char)(v[0] & ~0x20);
	return 0;
}

static int set_fencing(struct key_ctx *k, const char *v)
{
	for (int f = FENCING_DONT_CARE; f <= FENCING_RESOURCE_AND_STONITH; f++) {
		if (!strcmp(v, config_fencing_name(f))) {
			k->cfg->fencing = f;
			return 0;
		}
	}
	snprintf(k->err, sizeof(k->err), "fencing must be dont-care, "
		 "resource-only or resource-and-stonith, not '%s'", v);
	return -EINVAL;
}

static int set_io_mode(struct key_ctx *k, const char *v)
{
	if (!strcmp(v, "direct"))
		k->cfg->io_mode = CONFIG_IO_DIRECT;
	else if (!strcmp(v, "buffered"))
		k->cfg->io_mode = CONFIG_IO_BUFFERED;
	else {
		snprintf(k->err, sizeof(k->err),
			 "io-mode must be direct or buffered, not '%s'", v);
		return -EINVAL;
	}
	return 0;
}

static int set_read_only(struct key_ctx *k, const char *v)
{
	return parse_bool(k, "read-only", v, &k->cfg->read_only);
}

static int set_mlock(struct key_ctx *k, const char *v)
{
	return parse_bool(k, "mlock", v, &k->cfg->mlock);
}

static int set_poll_us(struct key_ctx *k, const char *v)
{
	char *end;
	unsigned long us = strtoul(v, &end, 10);

	if (*v == 0 || *end || us > 1000) {
		snprintf(k->err, sizeof(k->err),
			 "poll-us must be 0..1000 (microseconds), not '%s'", v);
		return -EINVAL;
	}
	k->cfg->poll_us = (uint32_t)us;
	return 0;
}

static int set_buffer_mib(struct key_ctx *k, const char *v)
{
	char *end;
	unsigned long mib = strtoul(v, &end, 10);

	if (*v == 0 || *end || mib < 4 || mib > 4096) {
		snprintf(k->err, sizeof(k->err),
			 "buffer-mib must be 4..4096, not '%s'", v);
		return -EINVAL;
	}
	k->cfg->buffer_bytes = (uint64_t)mib << 20;
	return 0;
}

static int set_ms(struct key_ctx *k, const char *key, const char *v,
		  uint32_t *out)
{
	char *end;
	unsigned long ms = strtoul(v, &end, 10);

	if (*v == 0 || *end || ms < 10 || ms > 3600000) {
		snprintf(k->err, sizeof(k->err),
			 "%s must be 10..3600000 milliseconds, not '%s'", key, v);
		return -EINVAL;
	}
	*out = (uint32_t)ms;
	return 0;
}

static int set_ping_interval(struct key_ctx *k, const char *v)
{
	return set_ms(k, "ping-interval-ms", v, &k->cfg->ping_interval_ms);
}

static int set_ping_timeout(struct key_ctx *k, const char *v)
{
	return set_ms(k, "ping-timeout-ms", v, &k->cfg->ping_timeout_ms);
}

static int set_hook_timeout(struct key_ctx *k, const char *v)
{
	return set_ms(k, "hook-timeout-ms", v, &k->cfg->hook_timeout_ms);
}

static int set_retry_max(struct key_ctx *k, const char *v)
{
	return set_ms(k, "connect-retry-max-ms", v, &k->cfg->connect_retry_max_ms);
}

/* 0 (no limit) or a time like the other timeouts. */
static int set_handshake_timeout(struct key_ctx *k, const char *v)
{
	if (!strcmp(v, "0")) {
		k->cfg->nbd_handshake_timeout_ms = 0;
		return 0;
	}
	return set_ms(k, "nbd-handshake-timeout-ms", v,
		      &k->cfg->nbd_handshake_timeout_ms);
}

static int set_al_extents(struct key_ctx *k, const char *v)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (*v == 0 || *end || n < 7 || n > META_AL_EXTENTS_MAX) {
		snprintf(k->err, sizeof(k->err), "al-extents must be 7..%u, not '%s'",
			 META_AL_EXTENTS_MAX, v);
		return -EINVAL;
	}
	k->cfg->al_extents = (uint32_t)n;
	return 0;
}

static int set_sb(struct key_ctx *k, int pri, const char *v)
{
	int p = sb_policy_parse(v, pri);

	if (p < 0) {
		snprintf(k->err, sizeof(k->err), "'%s' is not a policy for "
			 "after-sb-%dpri (%s)", v, pri,
			 pri == 0 ? "disconnect, discard-zero-changes, "
				    "discard-younger-primary, discard-least-changes" :
			 pri == 1 ? "disconnect, consensus, discard-secondary" :
				    "disconnect");
		return -EINVAL;
	}
	k->cfg->after_sb[pri] = p;
	return 0;
}

static int set_sb0(struct key_ctx *k, const char *v) { return set_sb(k, 0, v); }
static int set_sb1(struct key_ctx *k, const char *v) { return set_sb(k, 1, v); }
static int set_sb2(struct key_ctx *k, const char *v) { return set_sb(k, 2, v); }

static int set_verify_auto_resync(struct key_ctx *k, const char *v)
{
	return parse_bool(k, "verify-auto-resync", v, &k->cfg->verify_auto_resync);
}

static int set_resync_checksum(struct key_ctx *k, const char *v)
{
	return parse_bool(k, "resync-checksum", v, &k->cfg->resync_checksum);
}

static int set_mib(struct key_ctx *k, const char *key, const char *v,
		   uint32_t *out)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (*v == 0 || *end || n > 1000000) {
		snprintf(k->err, sizeof(k->err), "%s must be 0..1000000, not '%s'",
			 key, v);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

static int set_rate_min(struct key_ctx *k, const char *v)
{
	return set_mib(k, "resync-rate-min-mib", v, &k->cfg->resync_rate_min_mib);
}

static int set_rate_max(struct key_ctx *k, const char *v)
{
	return set_mib(k, "resync-rate-max-mib", v, &k->cfg->resync_rate_max_mib);
}

#define STR_RES(key, field) { key, SCOPE_RESOURCE, NULL, offsetof(struct config, field) }
#define STR_NODE(key, field) { key, SCOPE_NODE, NULL, offsetof(struct config_node, field) }
#define FN_RES(key, fn) { key, SCOPE_RESOURCE, fn, 0 }

static const struct key_def keys[] = {
	STR_RES("name", name),
	FN_RES("protocol", set_protocol),
	FN_RES("fencing", set_fencing),
	STR_RES("fence-peer", fence_peer),
	STR_RES("unfence-peer", unfence_peer),
	STR_RES("split-brain", split_brain),
	STR_RES("local-io-error", local_io_error),
	STR_RES("before-resync-target", before_resync_target),
	STR_RES("after-resync-target", after_resync_target),
	STR_RES("out-of-sync", out_of_sync),
	FN_RES("verify-auto-resync", set_verify_auto_resync),
	FN_RES("hook-timeout-ms", set_hook_timeout),
	STR_RES("secret", secret),
	FN_RES("io-mode", set_io_mode),
	FN_RES("read-only", set_read_only),
	FN_RES("mlock", set_mlock),
	FN_RES("buffer-mib", set_buffer_mib),
	FN_RES("poll-us", set_poll_us),
	FN_RES("ping-interval-ms", set_ping_interval),
	FN_RES("ping-timeout-ms", set_ping_timeout),
	FN_RES("connect-retry-max-ms", set_retry_max),
	FN_RES("nbd-handshake-timeout-ms", set_handshake_timeout),
	FN_RES("al-extents", set_al_extents),
	FN_RES("after-sb-0pri", set_sb0),
	FN_RES("after-sb-1pri", set_sb1),
	FN_RES("after-sb-2pri", set_sb2),
	FN_RES("resync-checksum", set_resync_checksum),
	FN_RES("resync-rate-min-mib", set_rate_min),
	FN_RES("resync-rate-max-mib", set_rate_max),
	STR_NODE("address", address),
	STR_NODE("disk", disk),
	STR_NODE("meta", meta),
	STR_NODE("nbd", nbd),
	STR_NODE("control", control),
	STR_NODE("metrics", metrics),
};

static const struct key_def *key_find(const char *key)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(keys[i].key, key))
			return &keys[i];
	return NULL;
}

static int key_apply(struct key_ctx *k, const struct key_def *d, const char *v)
{
	return d->set ? d->set(k, v) : set_str(k, d, v);
}

const char *config_fencing_name(enum config_fencing f)
{
	switch (f) {
	case FENCING_RESOURCE_ONLY:
		return "resource-only";
	case FENCING_RESOURCE_AND_STONITH:
		return "resource-and-stonith";
	default:
		return "dont-care";
	}
}

static struct config_node *node_get(struct config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->n_nodes; i++)
		if (!strcmp(cfg->nodes[i].name, name))
			return &cfg->nodes[i];
	if (cfg->n_nodes == CONFIG_NODES_MAX || strlen(name) >= 64)
		return NULL;
	snprintf(cfg->nodes[cfg->n_nodes].name, 64, "%s", name);
	return &cfg->nodes[cfg->n_nodes++];
}

/* inih callback: returning 0 makes ini_parse return this line number. */
static int config_ini_line(void *user, const char *section, const char *name,
		       const char *value)
{
	struct key_ctx *k = user;
	const struct key_def *d = key_find(name);

	if (!d) {
		snprintf(k->err, sizeof(k->err), "unknown key '%s'", name);
		return 0;
	}
	if (!strcmp(section, "resource")) {
		if (d->scope != SCOPE_RESOURCE) {
			snprintf(k->err, sizeof(k->err),
				 "'%s' belongs in a [node NAME] section", name);
			return 0;
		}
	} else if (!strncmp(section, "node ", 5) && section[5]) {
		if (d->scope != SCOPE_NODE) {
			snprintf(k->err, sizeof(k->err),
				 "'%s' belongs in the [resource] section", name);
			return 0;
		}
		k->node = node_get(k->cfg, section + 5);
		if (!k->node) {
			snprintf(k->err, sizeof(k->err),
				 "at most %d nodes per resource", CONFIG_NODES_MAX);
			return 0;
		}
	} else {
		snprintf(k->err, sizeof(k->err),
			 "unknown section [%s]: use [resource] or [node NAME]",
			 section);
		return 0;
	}
	return key_apply(k, d, value) == 0;
}

static void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->protocol = 'C';
	cfg->fencing = FENCING_DONT_CARE;
	cfg->io_mode = CONFIG_IO_DIRECT;
	cfg->mlock = true;
	cfg->buffer_bytes = 64ULL << 20;
	cfg->ping_interval_ms = 1000;
	cfg->ping_timeout_ms = 5000;
	cfg->connect_retry_max_ms = 5000;
	cfg->nbd_handshake_timeout_ms = 10000;
	cfg->al_extents = META_AL_EXTENTS_DEFAULT;
	cfg->hook_timeout_ms = 60000;
	cfg->resync_rate_min_mib = 10;
	cfg->self = -1;
	cfg->peer = -1;
}

/* inih only reports sections that hold keys: an empty unknown section
 * is still a mistake worth naming. */
static int config_check_sections(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0, ret = 0;

	if (!f)
		return 0;
	while (ret == 0 && fgets(line, sizeof(line), f)) {
		char *p = line, *e;

		n++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '[' || !(e = strchr(p, ']')))
			continue;
		*e = 0;
		p++;
		if (strcmp(p, "resource") != 0 &&
		    !(strncmp(p, "node ", 5) == 0 && p[5])) {
			fprintf(stderr, "%s:%d: unknown section [%s]: use [resource] "
				"or [node NAME]\n", path, n, p);
			ret = -EINVAL;
		}
	}
	fclose(f);
	return ret;
}

static int config_read_file(struct config *cfg, const char *path)
{
	struct key_ctx k = { .cfg = cfg };
	int line = ini_parse(path, config_ini_line, &k);

	if (line == -1) {
		fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
		return -EINVAL;
	}
	if (line != 0) {
		fprintf(stderr, "%s:%d: %s\n", path, line,
			k.err[0] ? k.err : "syntax error");
		return -EINVAL;
	}
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	return config_check_sections(path);
}

/* "FILE:LINE" of key in [section] (section "node NAME" or "resource"),
 * for messages about values that parsed but do not make sense; the file
 * alone when the key was given as a flag or is missing. */
static const char *config_where(const struct config *cfg, const char *section,
				const char *key, char *out, size_t outlen)
{
	FILE *f;
	char line[512], cur[128] = "";
	int n = 0;

	if (!cfg->path[0]) {
		snprintf(out, outlen, "--%s", key);
		return out;
	}
	snprintf(out, outlen, "%s", cfg->path);
	f = fopen(cfg->path, "r");
	if (!f)
		return out;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *e;

		n++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '[' && (e = strchr(p, ']'))) {
			*e = 0;
			snprintf(cur, sizeof(cur), "%s", p + 1);
			continue;
		}
		if (!strcmp(cur, section) && !strncmp(p, key, strlen(key)) &&
		    strchr(" \t=:", p[strlen(key)])) {
			snprintf(out, outlen, "%s:%d", cfg->path, n);
			break;
		}
	}
	fclose(f);
	return out;
}

static int node_err(const struct config *cfg, const struct config_node *nd,
		    const char *key, const char *fmt, const char *arg)
{
	char sec[96], where[300];

	snprintf(sec, sizeof(sec), "node %s", nd->name);
	fprintf(stderr, "%s: ", config_where(cfg, sec, key, where, sizeof(where)));
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return -EINVAL;
}

/* The port of a tcp:HOST:PORT or HOST:PORT spec, or "" */
static const char *spec_port(const char *spec)
{
	const char *c = strrchr(spec, ':');

	return c ? c + 1 : "";
}

static bool wildcard_host(const char *spec, const char *port)
{
	size_t n = (size_t)(port - spec) - 1;	/* without the ':' */

	return n == 0 || (n == 7 && !strncmp(spec, "0.0.0.0", 7)) ||
	       (n == 4 && !strncmp(spec, "[::]", 4)) ||
	       (n == 2 && !strncmp(spec, "::", 2));
}

static bool same_endpoint(const char *a, const char *b)
{
	const char *pa = spec_port(a), *pb = spec_port(b);

	if (!*pa || strcmp(pa, pb))
		return false;
	/* Same port: clashes if the hosts are equal or either is a wildcard. */
	if (wildcard_host(a, pa) || wildcard_host(b, pb))
		return true;
	return pa - a == pb - b && !strncmp(a, b, (size_t)(pa - a));
}

int config_check(const struct config *cfg)
{
	const struct config_node *self = &cfg->nodes[cfg->self];
	struct stat st;
	char copy[CONFIG_STR];
	char *save = NULL, *tok;

	if (!self->disk[0])
		return node_err(cfg, self, "disk", "node %s has no disk", self->name);
	if (stat(self->disk, &st) < 0)
		return node_err(cfg, self, "disk", "disk %s does not exist", self->disk);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return node_err(cfg, self, "disk",
				"disk %s is not a regular file or block device",
				self->disk);
	if (!self->nbd[0])
		return node_err(cfg, self, "nbd", "node %s has no nbd address",
				self->name);
	snprintf(copy, sizeof(copy), "%s", self->nbd);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (strncmp(tok, "unix:", 5) && strncmp(tok, "tcp:", 4))
			return node_err(cfg, self, "nbd",
					"nbd address '%s' must start with unix: or tcp:",
					tok);
		if (!strncmp(tok, "tcp:", 4) && cfg->peer >= 0) {
			for (unsigned i = 0; i < cfg->n_nodes; i++)
				if (same_endpoint(tok + 4, cfg->nodes[i].address))
					return node_err(cfg, self, "nbd",
							"nbd address %s clashes with a "
							"peer link address", tok);
		}
	}
	if (cfg->peer >= 0) {
		const struct config_node *p = &cfg->nodes[cfg->peer];

		if (!spec_port(self->address)[0] || !spec_port(p->address)[0])
			return node_err(cfg, spec_port(self->address)[0] ? p : self,
					"address", "peer link address must be HOST:PORT (%s)",
					spec_port(self->address)[0] ? p->address : self->address);
		if (!strcmp(self->address, p->address))
			return node_err(cfg, p, "address",
					"both nodes use the peer link address %s",
					p->address);
		if (self->metrics[0] && (same_endpoint(self->metrics, self->address) ||
					  same_endpoint(self->metrics, p->address)))
			return node_err(cfg, self, "metrics",
					"metrics address %s clashes with a peer link "
					"address", self->metrics);
		if (self->control[0] && !strcmp(self->control, p->control))
			return node_err(cfg, p, "control",
					"both nodes use the control socket %s",
					p->control);
	}
	{
		const char *hooks[][2] = {
			{ "fence-peer", cfg->fence_peer },
			{ "unfence-peer", cfg->unfence_peer },
			{ "split-brain", cfg->split_brain },
			{ "local-io-error", cfg->local_io_error },
			{ "before-resync-target", cfg->before_resync_target },
			{ "after-resync-target", cfg->after_resync_target },
			{ "out-of-sync", cfg->out_of_sync },
		};

		for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
			char where[300];

			struct stat hs;

			if (hooks[i][1][0] &&
			    (stat(hooks[i][1], &hs) < 0 || !S_ISREG(hs.st_mode) ||
			     access(hooks[i][1], X_OK) < 0)) {
				fprintf(stderr, "%s: hook %s is not an executable "
					"program\n",
					config_where(cfg, "resource", hooks[i][0],
						     where, sizeof(where)),
					hooks[i][1]);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* Choose the node this process runs as, then check it is complete. */
static int config_finish(struct config *cfg, const char *node)
{
	char host[64] = "";
	struct config_node *self = NULL;

	if (!cfg->name[0]) {
		fprintf(stderr, "no resource name: set 'name' in [resource] or --name\n");
		return -EINVAL;
	}
	gethostname(host, sizeof(host) - 1);
	for (unsigned i = 0; i < cfg->n_nodes; i++) {
		if ((node && !strcmp(cfg->nodes[i].name, node)) ||
		    (!node && !strcmp(cfg->nodes[i].name, host))) {
			self = &cfg->nodes[i];
			cfg->self = (int)i;
		}
	}
	if (!self && !node && cfg->n_nodes == 1) {
		self = &cfg->nodes[0];
		cfg->self = 0;
	}
	if (!self) {
		fprintf(stderr, "node '%s' is not in the configuration: pass -n NODE\n",
			node ? node : host);
		return -EINVAL;
	}
	if (cfg->n_nodes == 2) {
		const struct config_node *p;

		cfg->peer = 1 - cfg->self;
		p = &cfg->nodes[cfg->peer];
		if (!self->address[0] || !p->address[0]) {
			fprintf(stderr, "both nodes need an 'address' for the peer link\n");
			return -EINVAL;
		}
		if (!cfg->secret[0]) {
			fprintf(stderr, "a two-node resource needs a shared 'secret' "
				"so each node can prove itself to the other\n");
			return -EINVAL;
		}
		if (cfg->ping_timeout_ms <= cfg->ping_interval_ms) {
			fprintf(stderr, "ping-timeout-ms must exceed ping-interval-ms\n");
			return -EINVAL;
		}
	}
	if (cfg->fencing == FENCING_RESOURCE_AND_STONITH && cfg->protocol == 'A') {
		char where[300];

		fprintf(stderr, "%s: fencing resource-and-stonith needs protocol B "
			"or C: with protocol A acknowledged writes may be lost\n",
			config_where(cfg, "resource", "protocol", where, sizeof(where)));
		return -EINVAL;
	}
	/* Two nodes need metadata; one node runs without unless asked. */
	if (!self->meta[0])
		strcpy(self->meta, cfg->n_nodes == 2 ? "internal" : "none");
	if (cfg->n_nodes == 2 && !strcmp(self->meta, "none")) {
		fprintf(stderr, "meta = none is only for a one-node resource: "
			"replication needs metadata (internal or a file)\n");
		return -EINVAL;
	}
	return 0;
}

int config_load(struct config *cfg, int argc, char **argv, int *rest_argc,
		char ***rest_argv)
{
	const char *file = NULL, *node = NULL;
	struct key_ctx k = { .cfg = cfg };
	int i, rest = 0;

	config_defaults(cfg);
	/* First pass: find the file and node, so flags can override them. */
	for (i = 0; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) &&
		    i + 1 < argc)
			file = argv[++i];
		else if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "--node")) &&
			 i + 1 < argc)
			node = argv[++i];
	}
	if (file && config_read_file(cfg, file) < 0)
		return -EINVAL;
	if (!file) {
		char host[64] = "local";

		if (!node) {
			gethostname(host, sizeof(host) - 1);
			node = host;
		}
		node_get(cfg, node);
		node = cfg->nodes[0].name;
	}
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct key_def *d;

		if (!strcmp(a, "-c") || !strcmp(a, "--config") ||
		    !strcmp(a, "-n") || !strcmp(a, "--node")) {
			i++;
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || !(d = key_find(a + 2))) {
			argv[rest++] = argv[i];
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "%s needs a value\n", a);
			return -EINVAL;
		}
		k.node = node_get(cfg, node);
		if (!k.node) {
			fprintf(stderr, "node '%s' is not in %s\n", node, file);
			return -EINVAL;
		}
		if (key_apply(&k, d, argv[++i]) < 0) {
			fprintf(stderr, "%s: %s\n", a, k.err);
			return -EINVAL;
		}
	}
	*rest_argc = rest;
	*rest_argv = argv;
	return config_finish(cfg, node);
}
