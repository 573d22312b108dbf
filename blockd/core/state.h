/* state.h - the names users know from DRBD: roles, disk states,
 * connection states, replication states.
 *
 * Pure: enums and their names only. Each enum has a *_COUNT, so whoever
 * lists every value (the metrics' one-hot series) iterates the enum and
 * asks for the names here instead of copying them. The names appear verbatim in
 * `blockctl status`, `status --json` and `events`, which tests and scripts
 * outside the project parse: never rename one, only add.
 */
#ifndef BLOCKD_STATE_H
#define BLOCKD_STATE_H

enum role { ROLE_UNKNOWN, ROLE_PRIMARY, ROLE_SECONDARY };
#define ROLE_COUNT (ROLE_SECONDARY + 1)

enum disk_state {
	DS_DISKLESS,
	DS_ATTACHING,
	DS_INCONSISTENT,
	DS_OUTDATED,
	DS_DUNKNOWN,	/* the peer's disk while disconnected */
	DS_CONSISTENT,
	DS_UPTODATE,
	DS_FAILED,	/* the disk failed: detaching, then Diskless */
};
#define DISK_STATE_COUNT (DS_FAILED + 1)

enum conn_state {
	CS_STANDALONE,
	CS_CONNECTING,
	CS_CONNECTED,
};
#define CONN_STATE_COUNT (CS_CONNECTED + 1)

enum repl_state {
	RS_OFF,
	RS_ESTABLISHED,
	RS_SYNC_SOURCE,
	RS_SYNC_TARGET,
	RS_PAUSED_SYNC_S,
	RS_PAUSED_SYNC_T,
	RS_VERIFY_S,
	RS_VERIFY_T,
	RS_AHEAD,
	RS_BEHIND,
};
#define REPL_STATE_COUNT (RS_BEHIND + 1)

const char *role_name(enum role r);
const char *disk_state_name(enum disk_state d);
const char *conn_state_name(enum conn_state c);
const char *repl_state_name(enum repl_state r);

#endif
