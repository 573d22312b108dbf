/* report.c - see report.h. */
#include "report.h"

#include <inttypes.h>

#include "node.h"
#include "sim.h"
#include "simnet.h"

static unsigned count(const struct peer_req *p)
{
	unsigned n = 0;

	for (; p; p = p->next)
		n++;
	return n;
}

void sim_report_nodes(void)
{
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i];
		const struct resource *res;
		char link[256];

		if (!n) {
			sim_trace("state n%d: down", i);
			continue;
		}
		res = &n->res;
		sim_trace("state n%d: %s %s, peer %s %s %s, replication %s, "
			  "protocol %c", i, role_name(res->st.role),
			  disk_state_name(res->st.disk_state),
			  conn_state_name(res->st.peer_conn),
			  role_name(res->st.peer_role),
			  disk_state_name(res->st.peer_disk),
			  repl_state_name(res->st.repl), res->protocol);
		sim_trace("state n%d: pool %" PRIu32 " of %" PRIu32 " chunks "
			  "free, %s waiters; writes pending %" PRIu64
			  "; receiver fifo %u, in flight %u, %s slot free; "
			  "resync chunks in flight %u, tokens %" PRId64, i,
			  res->pool.free_chunks, res->pool.nchunks,
			  res->pool.wait_head ? "with" : "no",
			  (uint64_t)res->wp.pending_writes, count(res->rx.fifo),
			  res->rx.inflight_count,
			  res->rx.preq_free ? "a" : "no",
			  res->rs.inflight, res->rs.tokens);
		if (res->rx.fifo)
			sim_trace("state n%d: receiver fifo head: %s %" PRIu64
				  "+%" PRIu64 ", flags %#x, %s buffer; metadata %s",
				  i, frame_type_name(res->rx.fifo->type),
				  (uint64_t)res->rx.fifo->off,
				  (uint64_t)res->rx.fifo->len,
				  (unsigned)res->rx.fifo->flags,
				  res->rx.fifo->buf ? "with" : "no",
				  meta_busy(&res->meta) ? "busy" : "idle");
		for (unsigned k = 0; k < RS_REQS_MAX; k++) {
			const struct rs_req *rs = &res->rs.reqs[k];

			if (rs->in_use)
				sim_trace("state n%d: chunk slot %u: %" PRIu64
					  "+%" PRIu32 "%s%s%s, id %" PRIu64
					  ", connection %" PRIu64, i, k,
					  (uint64_t)rs->off, (uint32_t)rs->len,
					  rs->busy ? ", busy" : "",
					  rs->need ? ", need" : "",
					  rs->buf ? ", with buffer" : "",
					  (uint64_t)rs->id, (uint64_t)rs->link_gen);
		}
		simnet_describe(sim_run->net, i, link, sizeof(link));
		sim_trace("state n%d: %s", i, link);
	}
}
