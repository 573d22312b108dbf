/* simhook.h - the simulator's hook runner (fence/hook.h's hook_ops).
 *
 * Its start() records the call and completes it later, from the
 * scheduler, with the exit code the scenario picks (sim_hook_outcome in
 * the simulator): a fence-peer answer of 0/1/3/4/5/6/7 after a random
 * delay, or none before the hook timeout (-ETIMEDOUT). done() runs once,
 * from a loop callback, as with the real runner.
 */
#ifndef SIM_SIMHOOK_H
#define SIM_SIMHOOK_H

#include <stdint.h>

#include "fence/hook.h"

#define SIMHOOK_NEVER (-1000)	/* outcome: still running at the timeout */

/* Provided by the simulator: the exit code of this run and its delay. */
int sim_hook_outcome(int node, const char *name, uint64_t *delay_us);
/* Provided by the simulator: a run ends with result; what it returns is
 * what done() hears (the simulator makes a fence answer true first). */
int sim_hook_finished(int node, const char *name, int result);

extern const struct hook_ops simhook_ops;

struct simloop;
/* The node is gone: its runs never finish. */
void simhook_abandon(struct simloop *sl);

#endif
