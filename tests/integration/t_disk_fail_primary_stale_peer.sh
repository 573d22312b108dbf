#!/bin/bash
# A Primary without a disk connects only to the data its users saw. alice
# is Primary (protocol C, default fencing); bob dies and alice writes on
# alone (a new generation: bob lacks those writes). Then alice's disk
# fails (an nbdkit error device through nbdfuse and a loop device) and she
# goes Diskless, still Primary: her I/O fails, nothing else has her data.
# bob comes back with his older disk. Asserts:
#  1. alice refuses the connection (StandAlone, her log names the data
#     generation her users see and the peer's), bob stays Secondary and
#     Consistent (he was killed); before, she took bob's disk as hers and served its older
#     data (a block she had acknowledged read back as it was before: sim
#     seed 277, found by the simulator's order invariant);
#  2. a read of the block she wrote alone fails (EIO), never shows bob's
#     older copy;
#  3. the way out the log names: alice `secondary`, bob `primary --force`
#     (his disk is Consistent: the operator vouches for it): bob's data,
#     as it was when he died, reads back from him.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 120

fault_require
SIZE=$((16 * M))
fault_pair_up alice error C "$SIZE"


fault_block_put "$(pair_uri alice)" 0 65	# 'A' on both disks
bt_daemon_kill9 bob
pair_wait alice 10 "bob gone" 'p["connection"] != "Connected"'
fault_block_put "$(pair_uri alice)" 0 66	# 'B': alice's alone

fault_error_on alicedisk
fault_block_poke "$(pair_uri alice)"
pair_wait alice 20 "alice's disk detached" 's["disk"] == "Diskless" and s["role"] == "Primary"'

# 1. bob comes back with his older disk.
net_start bob
pair_wait alice 20 "alice refused bob's disk" 'p["connection"] == "StandAlone"'
net_log_has alice 'this Primary has no disk, and its users see data generation' ||
	bt_fail "alice's log does not say why she refused bob's disk"
bt_expect_eq "$(pair_get bob role)" Secondary "bob's role"
bt_expect_eq "$(pair_get bob disk)" Consistent "bob's disk (he was killed)"

# 2. What alice's users see of the block she wrote alone.
bt_expect_eq "$(fault_block_get "$(pair_uri alice)" 0)" EIO "a read of alice's block 0 (she wrote 'B' there alone)"

# 3. The operator takes bob's data.
pair_ok alice secondary
pair_ok bob primary --force
bt_expect_eq "$(fault_block_get "$(pair_uri bob)" 0)" A "bob's block 0 after the operator chose his data"
bt_pass "a Diskless Primary refused a peer disk of another generation; reads failed instead of going back in time"
