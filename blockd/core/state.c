/* state.c - see state.h. */
#include "blockd/core/state.h"

const char *role_name(enum role r)
{
	switch (r) {
	case ROLE_PRIMARY:
		return "Primary";
	case ROLE_SECONDARY:
		return "Secondary";
	default:
		return "Unknown";
	}
}

const char *disk_state_name(enum disk_state d)
{
	static const char *const names[] = {
		[DS_DISKLESS] = "Diskless",	[DS_ATTACHING] = "Attaching",
		[DS_INCONSISTENT] = "Inconsistent", [DS_OUTDATED] = "Outdated",
		[DS_DUNKNOWN] = "DUnknown",	[DS_CONSISTENT] = "Consistent",
		[DS_UPTODATE] = "UpToDate",	[DS_FAILED] = "Failed",
	};
	return (unsigned)d < sizeof(names) / sizeof(names[0]) ? names[d] : "DUnknown";
}

const char *conn_state_name(enum conn_state c)
{
	switch (c) {
	case CS_CONNECTING:
		return "Connecting";
	case CS_CONNECTED:
		return "Connected";
	default:
		return "StandAlone";
	}
}

const char *repl_state_name(enum repl_state r)
{
	static const char *const names[] = {
		[RS_OFF] = "Off",		[RS_ESTABLISHED] = "Established",
		[RS_SYNC_SOURCE] = "SyncSource", [RS_SYNC_TARGET] = "SyncTarget",
		[RS_PAUSED_SYNC_S] = "PausedSyncS", [RS_PAUSED_SYNC_T] = "PausedSyncT",
		[RS_VERIFY_S] = "VerifyS",	[RS_VERIFY_T] = "VerifyT",
		[RS_AHEAD] = "Ahead",		[RS_BEHIND] = "Behind",
	};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "Off";
}
