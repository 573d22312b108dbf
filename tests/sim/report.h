/* report.h - what a liveness failure shows of each node: states, the
 * pool, the write path, the receiver, the resync and the link, one line
 * each, into the trace (so the report's tail shows who waits on whom).
 */
#ifndef SIM_REPORT_H
#define SIM_REPORT_H

void sim_report_nodes(void);

#endif
