/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the tests/c programs: open an RDMA device, make a pair of
 * RC QPs on it connected to each other (loopback through the device's
 * RoCE GID), poll a CQ with a deadline, query ODP capabilities.
 */
#ifndef RXE_ODP_VERBS_UTIL_H
#define RXE_ODP_VERBS_UTIL_H

#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_user_ioctl_cmds.h>
#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include "tap.h"

struct vu_ctx {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	int gid_index;
	union ibv_gid gid;
};

struct vu_qp {
	struct ibv_cq *cq;
	struct ibv_qp *qp;
};

/* The device DEV (or $RXE_DEV, or the first device). NULL on error. */
static inline struct ibv_context *vu_open(const char *dev)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	int i, n;

	if (!dev)
		dev = getenv("RXE_DEV");
	list = ibv_get_device_list(&n);
	if (!list)
		return NULL;
	for (i = 0; i < n; i++)
		if (!dev || !strcmp(ibv_get_device_name(list[i]), dev)) {
			ctx = ibv_open_device(list[i]);
			break;
		}
	ibv_free_device_list(list);
	return ctx;
}

/*
 * The GID index: GID (if >= 0), $RXE_GID_INDEX, or the first RoCE v2 GID
 * that is an IPv4-mapped address.  -1 if none.
 */
static inline int vu_gid_index(struct ibv_context *ctx, int gid)
{
	const char *env = getenv("RXE_GID_INDEX");
	struct ibv_port_attr pa;
	union ibv_gid g;
	int i;

	if (gid >= 0)
		return gid;
	if (env && *env)
		return atoi(env);
	if (ibv_query_port(ctx, 1, &pa))
		return -1;
	for (i = 0; i < pa.gid_tbl_len; i++) {
		struct ibv_gid_entry e;

		if (ibv_query_gid_ex(ctx, 1, i, &e, 0))
			continue;
		g = e.gid;
		if (e.gid_type == IBV_GID_TYPE_ROCE_V2 &&
		    !g.global.subnet_prefix && g.raw[10] == 0xff && g.raw[11] == 0xff)
			return i;
	}
	return -1;
}

/* ODP caps: general caps in *gen, RC transport caps in *rc. 0 or errno. */
static inline int vu_odp_caps(struct ibv_context *ctx, uint64_t *gen, uint32_t *rc)
{
	struct ibv_device_attr_ex attr;
	int ret;

	memset(&attr, 0, sizeof(attr));
	ret = ibv_query_device_ex(ctx, NULL, &attr);
	if (ret)
		return ret;
	*gen = attr.odp_caps.general_caps;
	*rc = attr.odp_caps.per_transport_caps.rc_odp_caps;
	return 0;
}

/*
 * Open the device DEV (or $RXE_DEV), find the GID, allocate a PD: the
 * start of every test.  Bails out (TAP) on any failure.
 */
static inline void vu_setup(struct vu_ctx *c, const char *dev)
{
	c->ctx = vu_open(dev);
	if (!c->ctx)
		tap_bail("no RDMA device %s", dev ? dev : "($RXE_DEV or first)");
	c->gid_index = vu_gid_index(c->ctx, -1);
	if (c->gid_index < 0 || ibv_query_gid(c->ctx, 1, c->gid_index, &c->gid))
		tap_bail("no RoCE v2 IPv4 GID on %s", ibv_get_device_name(c->ctx->device));
	c->pd = ibv_alloc_pd(c->ctx);
	if (!c->pd)
		tap_bail("ibv_alloc_pd: %s", strerror(errno));
}

/* Test data: byte I of a buffer filled with SEED (pages differ too). */
static inline char vu_pattern(size_t i, unsigned int seed)
{
	return (char)((i * 131 + seed * 7 + (i >> 12)) & 0xff);
}

static inline void vu_fill(char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = vu_pattern(i, seed);
}

/* The first byte of P that is not the pattern of SEED, or -1. */
static inline long vu_mismatch(const char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != vu_pattern(i, seed))
			return (long)i;
	return -1;
}

/* Does the device report ODP with all of the RC transport caps RC_CAPS? */
static inline int vu_has_odp(struct ibv_context *ctx, uint32_t rc_caps)
{
	uint64_t gen = 0;
	uint32_t rc = 0;

	return !vu_odp_caps(ctx, &gen, &rc) && (gen & IBV_ODP_SUPPORT) &&
	       (rc & rc_caps) == rc_caps;
}

static inline double vu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Poll CQ for one completion for at most SECS seconds.  1 with *wc filled,
 * 0 on timeout, -1 when ibv_poll_cq fails.
 */
static inline int vu_poll(struct ibv_cq *cq, struct ibv_wc *wc, double secs)
{
	double end = vu_now() + secs;
	int n;

	do {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n < 0 ? -1 : 1;
		sched_yield();	/* let rxe's kernel work run on a 1-CPU guest */
	} while (vu_now() < end);
	return 0;
}

static inline void vu_qp_destroy(struct vu_qp *q)
{
	if (q->qp)
		ibv_destroy_qp(q->qp);
	if (q->cq)
		ibv_destroy_cq(q->cq);
	q->qp = NULL;
	q->cq = NULL;
}

/*
 * An RC QP with its own CQ: DEPTH work requests of up to VU_MAX_SGE SGEs
 * each way, every send signalled.  With SEND_OPS (IBV_QP_EX_WITH_*) it is
 * an extended QP for the ibv_wr_* API.  0, or -1 with errno set.
 */
#define VU_MAX_SGE	4
static inline int vu_qpx_create(struct vu_ctx *c, struct vu_qp *q, int depth,
				uint64_t send_ops)
{
	struct ibv_qp_init_attr_ex ia;

	q->cq = ibv_create_cq(c->ctx, 2 * depth, NULL, NULL, 0);
	if (!q->cq)
		return -1;
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = q->cq;
	ia.recv_cq = q->cq;
	ia.qp_type = IBV_QPT_RC;
	ia.sq_sig_all = 1;
	ia.cap.max_send_wr = depth;
	ia.cap.max_recv_wr = depth;
	ia.cap.max_send_sge = VU_MAX_SGE;
	ia.cap.max_recv_sge = VU_MAX_SGE;
	ia.comp_mask = IBV_QP_INIT_ATTR_PD;
	ia.pd = c->pd;
	if (send_ops) {
		ia.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		ia.send_ops_flags = send_ops;
	}
	q->qp = ibv_create_qp_ex(c->ctx, &ia);
	return q->qp ? 0 : -1;
}

static inline int vu_qp_create(struct vu_ctx *c, struct vu_qp *q, int depth)
{
	return vu_qpx_create(c, q, depth, 0);
}

/*
 * Value of the hw counter NAME (e.g. "odp_page_faults") of port 1 of the
 * device of CTX, from sysfs, as the IB core has it cached: it may lag by
 * up to RDMA_HW_STATS_DEFAULT_LIFESPAN (10 ms).  For watching a counter
 * move while traffic runs.  -1 if it cannot be read.
 */
static inline long long vu_hw_counter_cached(struct ibv_context *ctx, const char *name)
{
	char path[512];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/1/hw_counters/%s",
		 ibv_get_device_name(ctx->device), name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Value of the hw counter NAME of port 1 of the device of CTX, reflecting
 * everything done before the call.  -1 if it cannot be read.
 */
static inline long long vu_hw_counter(struct ibv_context *ctx, const char *name)
{
	/*
	 * The IB core caches hw counters for RDMA_HW_STATS_DEFAULT_LIFESPAN
	 * (10 ms) after each read: wait that out.
	 */
	usleep(30000);
	return vu_hw_counter_cached(ctx, name);
}

#define VU_QP_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

/*
 * Take QP through INIT, RTR, RTS towards REMOTE_QPN on the same device,
 * allowing the remote operations in ACCESS (qp_access_flags), with
 * RETRY_CNT transport retries.  rxe retries forever with a retry_cnt of 7
 * (as IBA says of rnr_retry only): a QP whose peer goes away then never
 * completes its work requests, so use less where the peer may vanish.
 */
static inline int vu_qp_connect_timeout(struct vu_ctx *c, struct ibv_qp *qp,
					uint32_t remote_qpn, unsigned int access,
					int retry_cnt, int timeout);

static inline int vu_qp_connect_retry(struct vu_ctx *c, struct ibv_qp *qp,
				      uint32_t remote_qpn, unsigned int access,
				      int retry_cnt)
{
	return vu_qp_connect_timeout(c, qp, remote_qpn, access, retry_cnt, 14);
}

/*
 * vu_qp_connect_retry() with the local ACK TIMEOUT (4.096 us * 2^timeout;
 * 0: the requester never retransmits).
 */
static inline int vu_qp_connect_rnr(struct vu_ctx *c, struct ibv_qp *qp,
				    uint32_t remote_qpn, unsigned int access,
				    int retry_cnt, int timeout, int min_rnr_timer,
				    int rnr_retry);

static inline int vu_qp_connect_timeout(struct vu_ctx *c, struct ibv_qp *qp,
					uint32_t remote_qpn, unsigned int access,
					int retry_cnt, int timeout)
{
	return vu_qp_connect_rnr(c, qp, remote_qpn, access, retry_cnt, timeout, 12, 7);
}

/*
 * vu_qp_connect_timeout() with the RNR settings: MIN_RNR_TIMER, the
 * responder's (IBA encoding: 0 is 655.36 ms, 12 is 0.64 ms), which its
 * RNR NAKs carry, and RNR_RETRY, the requester's (7: for ever).
 */
static inline int vu_qp_connect_rnr(struct vu_ctx *c, struct ibv_qp *qp,
				    uint32_t remote_qpn, unsigned int access,
				    int retry_cnt, int timeout, int min_rnr_timer,
				    int rnr_retry)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = access;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -1;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = remote_qpn;
	a.rq_psn = 0x1000;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = min_rnr_timer;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = c->gid;
	a.ah_attr.grh.sgid_index = c->gid_index;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = timeout;
	a.retry_cnt = retry_cnt;
	a.rnr_retry = rnr_retry;
	a.sq_psn = 0x1000;
	a.max_rd_atomic = 4;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
}

/*
 * Take QP through INIT, RTR, RTS towards REMOTE_QPN on the same device,
 * allowing the remote operations in ACCESS (qp_access_flags).
 */
static inline int vu_qp_connect_access(struct vu_ctx *c, struct ibv_qp *qp,
				       uint32_t remote_qpn, unsigned int access)
{
	return vu_qp_connect_retry(c, qp, remote_qpn, access, 7);
}

/* Take QP through INIT, RTR, RTS towards REMOTE_QPN on the same device. */
static inline int vu_qp_connect(struct vu_ctx *c, struct ibv_qp *qp, uint32_t remote_qpn)
{
	return vu_qp_connect_access(c, qp, remote_qpn, VU_QP_ACCESS);
}

/*
 * Number of pages of [P, P + LEN) resident in the CPU page tables, P page
 * aligned (mincore()).  Bails out (TAP) on failure.
 */
static inline long vu_resident(void *p, size_t len)
{
	size_t i, n = (len + 4095) / 4096;
	unsigned char *v = malloc(n);
	long r = 0;

	if (!v || mincore(p, len, v))
		tap_bail("mincore: %s", strerror(errno));
	for (i = 0; i < n; i++)
		r += v[i] & 1;
	free(v);
	return r;
}

/*
 * Post one signaled work request OP from the local SGE on Q to RADDR of
 * RKEY: an RDMA write or read, or an atomic (CMP_ADD: the compare value
 * or the addend, SWAP: the swap value).  Wait SECS seconds for its
 * completion.  Its status, -1 on a timeout, -2 if posting failed.
 */
static inline int vu_post1(struct vu_qp *q, enum ibv_wr_opcode op, struct ibv_sge *sge,
			   uint64_t raddr, uint32_t rkey, uint64_t cmp_add, uint64_t swap,
			   double secs)
{
	struct ibv_send_wr wr = { .sg_list = sge, .num_sge = 1, .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_wc wc;

	if (op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = cmp_add;
		wr.wr.atomic.swap = swap;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	if (ibv_post_send(q->qp, &wr, &bad))
		return -2;
	return vu_poll(q->cq, &wc, secs) == 1 ? (int)wc.status : -1;
}

/*
 * Post a receive of RS on B and a send of SS on A, wait SECS seconds for
 * each completion.  0 when both succeed and the receive got SS's length;
 * else the first bad completion status, -1 on a timeout, -2 if posting
 * failed, -3 on a wrong length.
 */
static inline int vu_sendrecv(struct vu_qp *a, struct vu_qp *b, struct ibv_sge *ss,
			      struct ibv_sge *rs, double secs)
{
	struct ibv_recv_wr rwr = { .sg_list = rs, .num_sge = 1 }, *rbad;
	struct ibv_send_wr swr = { .sg_list = ss, .num_sge = 1, .opcode = IBV_WR_SEND }, *sbad;
	struct ibv_wc wc;

	if (ibv_post_recv(b->qp, &rwr, &rbad) || ibv_post_send(a->qp, &swr, &sbad))
		return -2;
	if (vu_poll(a->cq, &wc, secs) != 1)
		return -1;
	if (wc.status)
		return (int)wc.status;
	if (vu_poll(b->cq, &wc, secs) != 1)
		return -1;
	if (wc.status)
		return (int)wc.status;
	return wc.byte_len == ss->length ? 0 : -3;
}

/* Two RC QPs A and B connected to each other. 0 or -1. */
static inline int vu_pair(struct vu_ctx *c, struct vu_qp *a, struct vu_qp *b, int depth)
{
	if (vu_qp_create(c, a, depth) || vu_qp_create(c, b, depth))
		return -1;
	if (vu_qp_connect(c, a->qp, b->qp->qp_num) || vu_qp_connect(c, b->qp, a->qp->qp_num))
		return -1;
	return 0;
}

/*
 * A UC QP on CQ (sends and receives), taking its receives from SRQ if not
 * NULL: DEPTH work requests of NSGE SGEs each way, every send signalled.
 * NULL, with errno set, on error.
 */
static inline struct ibv_qp *vu_uc_qp(struct vu_ctx *c, struct ibv_cq *cq, struct ibv_srq *srq,
				      int depth, int nsge)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = ia.recv_cq = cq;
	ia.srq = srq;
	ia.qp_type = IBV_QPT_UC;
	ia.sq_sig_all = 1;
	ia.cap.max_send_wr = ia.cap.max_recv_wr = depth;
	ia.cap.max_send_sge = ia.cap.max_recv_sge = nsge;
	return ibv_create_qp(c->pd, &ia);
}

/*
 * Take the UC QP through INIT, RTR, RTS towards REMOTE_QPN on the same
 * device, remote writes allowed, PSN both ways.  0 or -1.
 */
static inline int vu_uc_connect(struct vu_ctx *c, struct ibv_qp *qp, uint32_t remote_qpn,
				uint32_t psn)
{
	struct ibv_qp_attr at;

	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_INIT;
	at.port_num = 1;
	at.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	if (ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = IBV_MTU_1024;
	at.dest_qp_num = remote_qpn;
	at.rq_psn = psn;
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid = c->gid;
	at.ah_attr.grh.sgid_index = c->gid_index;
	at.ah_attr.grh.hop_limit = 1;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.sq_psn = psn;
	return ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

/*
 * UVERBS_METHOD_ADVISE_MR on the command fd of the context of PD: ADVICE
 * (IB_UVERBS_ADVISE_MR_ADVICE_*) with FLAGS (IB_UVERBS_ADVISE_MR_FLAG_*)
 * for the N ranges of SG.  rdma-core 44's rxe provider has no
 * ibv_advise_mr(), so the ioctl is issued by hand.  0 or -errno.
 */
static inline int vu_advise_mr(struct ibv_pd *pd, uint32_t advice, uint32_t flags,
			       struct ibv_sge *sg, unsigned int n)
{
	struct {
		struct ib_uverbs_ioctl_hdr hdr;
		struct ib_uverbs_attr attr[4];
	} req;

	memset(&req, 0, sizeof(req));
	req.hdr.length = sizeof(req);
	req.hdr.object_id = UVERBS_OBJECT_MR;
	req.hdr.method_id = UVERBS_METHOD_ADVISE_MR;
	req.hdr.num_attrs = 4;
	req.hdr.driver_id = RDMA_DRIVER_RXE;
	req.attr[0].attr_id = UVERBS_ATTR_ADVISE_MR_PD_HANDLE;
	req.attr[0].flags = UVERBS_ATTR_F_MANDATORY;
	req.attr[0].data = pd->handle;
	req.attr[1].attr_id = UVERBS_ATTR_ADVISE_MR_ADVICE;
	req.attr[1].flags = UVERBS_ATTR_F_MANDATORY;
	req.attr[1].len = sizeof(uint64_t);
	req.attr[1].data = advice;
	req.attr[2].attr_id = UVERBS_ATTR_ADVISE_MR_FLAGS;
	req.attr[2].flags = UVERBS_ATTR_F_MANDATORY;
	req.attr[2].len = sizeof(uint64_t);
	req.attr[2].data = flags;
	req.attr[3].attr_id = UVERBS_ATTR_ADVISE_MR_SGE_LIST;
	req.attr[3].flags = UVERBS_ATTR_F_MANDATORY;
	req.attr[3].len = n * sizeof(*sg);
	req.attr[3].data = (uintptr_t)sg;
	return ioctl(pd->context->cmd_fd, RDMA_VERBS_IOCTL, &req) ? -errno : 0;
}

/*
 * IB_USER_VERBS_CMD_REREG_MR by hand, as rdma-core 44 sends it but
 * without its checks, so that the kernel's answer is seen: FLAGS are
 * IBV_REREG_MR_CHANGE_*, the range is the MR's own, PD the new one (with
 * IBV_REREG_MR_CHANGE_PD; NULL otherwise).  Returns 0, the new keys in
 * *LKEY and *RKEY when they are not NULL, or an errno.
 */
static inline int vu_rereg_mr(struct ibv_mr *mr, int flags, int access,
			      struct ibv_pd *pd, uint32_t *lkey, uint32_t *rkey)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_rereg_mr cmd;
	} req;
	struct ib_uverbs_rereg_mr_resp resp;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.hdr.command = IB_USER_VERBS_CMD_REREG_MR;
	req.hdr.in_words = sizeof(req) / 4;
	req.hdr.out_words = sizeof(resp) / 4;
	req.cmd.response = (uintptr_t)&resp;
	req.cmd.mr_handle = mr->handle;
	req.cmd.flags = flags;
	req.cmd.start = (uintptr_t)mr->addr;
	req.cmd.length = mr->length;
	req.cmd.hca_va = (uintptr_t)mr->addr;
	req.cmd.pd_handle = pd ? pd->handle : 0;
	req.cmd.access_flags = access;
	if (write(mr->context->cmd_fd, &req, sizeof(req)) != sizeof(req))
		return errno;
	if (lkey)
		*lkey = resp.lkey;
	if (rkey)
		*rkey = resp.rkey;
	return 0;
}

/*
 * Fault injection through debugfs (Documentation/fault-injection), as
 * tests/c/tap.sh's fi_on does for the scripts.  VU_FI_FAULT is the series'
 * transient page fault, fail_rxe_odp_fault.
 */
#define VU_FI_FAULT	"/sys/kernel/debug/fail_rxe_odp_fault"

/* Write VAL to ATTR of VU_FI_FAULT.  0 or -1. */
static inline int vu_fi_set(const char *attr, const char *val)
{
	char path[256];
	int fd, ok;

	snprintf(path, sizeof(path), VU_FI_FAULT "/%s", attr);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/*
 * Make PROBABILITY percent of the faults fail, silently, at most TIMES
 * times ("0": off).  0 or -1.
 */
static inline int vu_fi_on(const char *probability, long times)
{
	char t[32];

	snprintf(t, sizeof(t), "%ld", times);
	return vu_fi_set("verbose", "0") || vu_fi_set("interval", "1") ||
	       vu_fi_set("times", t) || vu_fi_set("probability", probability);
}

/* The failures VU_FI_FAULT has left to inject ("times"), 0 if unknown. */
static inline long vu_fi_times(void)
{
	char buf[32] = "";
	long v = 0;
	FILE *f = fopen(VU_FI_FAULT "/times", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/*
 * The options of the tests: -d DEV, returned (NULL: $RXE_DEV or the first
 * device), and -g GID_INDEX, which goes to $RXE_GID_INDEX for
 * vu_gid_index().  Anything else bails out with USAGE.
 */
static inline const char *vu_args(int argc, char **argv, const char *usage)
{
	const char *dev = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "d:g:")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'g':
			setenv("RXE_GID_INDEX", optarg, 1);
			break;
		default:
			tap_bail("usage: %s", usage);
		}
	}
	return dev;
}

#endif
