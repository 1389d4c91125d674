/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the tests/c programs: open an RDMA device, make a pair of
 * RC QPs on it connected to each other (loopback through the device's
 * RoCE GID), poll a CQ with a deadline, query ODP capabilities.
 */
#ifndef RXE_ODP_VERBS_UTIL_H
#define RXE_ODP_VERBS_UTIL_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>

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
 * Value of the hw counter NAME of port 1 of the device of CTX, read from
 * /sys/class/infiniband/DEV/ports/1/hw_counters/NAME.  -1 if unreadable.
 * The core caches the counters for 10 ms: wait that long first, so that
 * the value includes everything done before the call.
 */
static inline long long vu_counter(struct ibv_context *ctx, const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	usleep(30000);
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

static inline int vu_qp_create(struct vu_ctx *c, struct vu_qp *q, int depth)
{
	struct ibv_qp_init_attr ia;

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
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	q->qp = ibv_create_qp(c->pd, &ia);
	return q->qp ? 0 : -1;
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

/* Take QP through INIT, RTR, RTS towards REMOTE_QPN on the same device. */
static inline int vu_qp_connect(struct vu_ctx *c, struct ibv_qp *qp, uint32_t remote_qpn)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -1;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = remote_qpn;
	a.rq_psn = 0x1000;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 12;
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
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = 0x1000;
	a.max_rd_atomic = 4;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
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

#endif
