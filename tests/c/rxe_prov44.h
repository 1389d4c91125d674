/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the FLUSH tests need to write a FLUSH WQE themselves (rdma-core 44
 * has no ibv_wr_flush()): the layout of the rxe provider's private QP, to
 * find the send queue it shares with the kernel, and wr.flush of the 6.12
 * struct rxe_send_wr, which overlays wr.rdma.  The callers check the
 * layout against what the kernel reported before they trust it.
 */
#ifndef RXE_ODP_PROV44_H
#define RXE_ODP_PROV44_H

#include <pthread.h>
#include <stdint.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_user_rxe.h>

/* wr.flush of the 6.12 struct rxe_send_wr, overlaying wr.rdma */
struct flush_wr {
	uint64_t remote_addr;
	uint32_t length;
	uint32_t rkey;
	uint8_t type;
	uint8_t level;
};

/* rdma-core 44 providers/rxe/rxe.h and util's struct verbs_qp */
struct prov_verbs_qp {
	union {
		struct ibv_qp qp;
		struct ibv_qp_ex qp_ex;
	};
	uint32_t comp_mask;
	void *xrcd;
};

struct prov_wq {
	struct rxe_queue_buf *queue;
	pthread_spinlock_t lock;
	unsigned int max_sge;
	unsigned int max_inline;
};

struct prov_qp {
	struct prov_verbs_qp vqp;
	struct mminfo rq_mmap_info;
	struct prov_wq rq;
	struct mminfo sq_mmap_info;
	struct prov_wq sq;
};

#endif
