/* config.h - the resource configuration: an INI file, --key flags, or both.
 *
 * Owns: parsing and validating every key of the user-facing contract
 * (DESIGN.md section 6). Every key may be given as `--key value`; flags
 * override the file for the node being run. Errors name the file and line,
 * or the flag. Called once at start-up from blockd/daemon/main.c and blockctl.
 */
#ifndef BLOCKD_CONFIG_H
#define BLOCKD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_NODES_MAX 2
#define CONFIG_STR 256

/* io-mode: O_DIRECT where the filesystem takes it, or the page cache. */
enum config_io_mode { CONFIG_IO_DIRECT, CONFIG_IO_BUFFERED };

enum config_fencing {
	FENCING_DONT_CARE,
	FENCING_RESOURCE_ONLY,
	FENCING_RESOURCE_AND_STONITH,
};

struct config_node {
	char name[64];
	char address[CONFIG_STR];	/* peer link HOST:PORT */
	char disk[CONFIG_STR];
	char meta[CONFIG_STR];		/* "internal" or a file path */
	char nbd[CONFIG_STR];		/* comma-separated listen list */
	char control[CONFIG_STR];	/* control socket path */
	char metrics[CONFIG_STR];	/* Prometheus HOST:PORT, or "" */
};

struct config {
	char path[CONFIG_STR];		/* the file, or "" for flags only */
	char name[64];			/* resource name = NBD export name */
	char protocol;			/* 'A', 'B' or 'C' */
	enum config_fencing fencing;
	char fence_peer[CONFIG_STR];	/* hook programs, "" = none */
	char unfence_peer[CONFIG_STR];
	char split_brain[CONFIG_STR];
	char local_io_error[CONFIG_STR];
	char before_resync_target[CONFIG_STR];
	char after_resync_target[CONFIG_STR];
	char out_of_sync[CONFIG_STR];
	bool verify_auto_resync;
	uint32_t hook_timeout_ms;
	char secret[CONFIG_STR];
	enum config_io_mode io_mode;
	uint32_t poll_us;	/* poll-us: busy-poll before the loop sleeps */
	bool read_only;
	bool mlock;
	uint64_t buffer_bytes;		/* data-path buffer arena */
	uint32_t ping_interval_ms;	/* peer keepalive */
	uint32_t ping_timeout_ms;	/* peer silent this long: lost */
	uint32_t connect_retry_max_ms;	/* cap of the redial back-off */
	uint32_t nbd_handshake_timeout_ms;	/* 0: an NBD client may take forever */
	uint32_t al_extents;		/* activity log size, 4 MiB each */
	int after_sb[3];		/* split-brain policy by Primaries */
	bool resync_checksum;		/* identical blocks cross as a CRC */
	uint32_t resync_rate_min_mib;	/* per second, kept under load */
	uint32_t resync_rate_max_mib;	/* per second, 0 = as fast as it goes */
	struct config_node nodes[CONFIG_NODES_MAX];
	unsigned n_nodes;
	int self;			/* index of the node run here */
	int peer;			/* index of the other node, or -1 */
};

/* Parse argv (after the program name) into cfg. Handles -c FILE, -n NODE
 * and --key value; other arguments are returned in *rest_argc/rest_argv
 * order preserved (blockctl's command). 0, or -EINVAL with the reason
 * printed to stderr. */
int config_load(struct config *cfg, int argc, char **argv, int *rest_argc,
		char ***rest_argv);

const char *config_fencing_name(enum config_fencing f);

/* Deeper checks of a loaded config against this machine: the disk exists,
 * addresses are well formed and do not clash, hooks are executable. 0, or
 * -EINVAL with "FILE:LINE: reason" printed. blockd runs it at start-up and
 * for --check-config. */
int config_check(const struct config *cfg);

#endif
