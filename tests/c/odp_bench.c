// SPDX-License-Identifier: GPL-2.0
/*
 * odp_bench: what ODP costs and what it saves on rxe, pinned against ODP
 * memory, measured in one boot (issue 7).  A benchmark, not a test: it
 * prints figures; it fails only when a verb fails (exit 2) or the data
 * moved by RDMA is wrong (exit 1).
 *
 * Subcommands (the first argument):
 *
 *   reg        ibv_reg_mr and ibv_dereg_mr time by size: "pinned" (the
 *              pages are faulted in and pinned), "odp" (nothing is
 *              touched, but the umem's page arrays are allocated) and
 *              "implicit" (the whole address space, param 0).
 *   touch      first touch of memory, ns per 4 KiB page: the CPU
 *              (memset of fresh anonymous memory), RDMA writes into a
 *              fresh ODP MR (page faults in the responder), the same after
 *              a synchronous PREFETCH_WRITE, the same once more (pages
 *              mapped) and into a pinned MR (the copy alone).  The fault
 *              counters show how many pages one fault resolves.
 *   munmap     munmap of touched memory: plain, and with every page mapped
 *              in an ODP MR (the MMU notifier invalidation runs inside
 *              munmap); the deregistration after it.
 *   overcommit an ODP MR several times the size of RAM written window by
 *              window, each window read back in part, checked and thrown
 *              away (MADV_DONTNEED): throughput, with nothing pinned,
 *              against a pinned MR of one window written as many bytes.
 *
 * Every measurement is repeated --reps times, the variants interleaved
 * within each repetition (their order reversed every other one) so that
 * drift hits them alike.  Each figure is one line on stdout:
 *
 *   # bench {"figure":F,"variant":V,"param":P,"unit":U,"samples":[...],
 *            "median":x,"min":x,"max":x, extra keys}
 *
 * Other output lines start with "# ".  Times are CLOCK_MONOTONIC.  Data
 * regions get MADV_NOHUGEPAGE unless --thp is given (per 4 KiB page
 * figures; the "thp" key says which).  Counters (rxe hw counters of
 * port 1) that cannot be read are reported as -1.
 */
#include <getopt.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include "tap.h"
#include "verbs_util.h"

#define PAGE		4096ull
#define KIB		1024ull
#define MIB		(1024 * KIB)
#define GIB		(1024 * MIB)
#define WINDOW		16		/* work requests in flight */
#define QP_DEPTH	32
#define STALL_SECS	60.0		/* no completion for so long: give up */
#define ADVISE_CHUNK	GIB		/* an SGE length is 32 bits */
#define MAX_LIST	32
#define OC_MSG		(64 * KIB)	/* message size of the overcommit run */
#define ACC		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | \
			 IBV_ACCESS_REMOTE_WRITE)
#define ODP		(ACC | IBV_ACCESS_ON_DEMAND)

static struct vu_ctx c;
static struct vu_qp qa, qb;
static int reps = 5, thp, have_implicit;

/* ---- errors ---- */

static void __attribute__((noreturn, format(printf, 2, 3))) die_err(int err, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "odp_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s (errno %d)", strerror(err), err);
	fputc('\n', stderr);
	exit(2);
}

#define die(...)	die_err(errno, __VA_ARGS__)

/* wrong data: the one failure that is the kernel's, not the set-up's */
static void __attribute__((noreturn, format(printf, 1, 2))) bad_data(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "odp_bench: data mismatch: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- samples and output ---- */

struct series {
	double *v;
	int n, cap;
};

static void series_add(struct series *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			die("realloc");
	}
	s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* median, min and max of S (0 for an empty series) */
static void series_stats(const struct series *s, double *med, double *min, double *max)
{
	double *t;

	*med = *min = *max = 0;
	if (!s->n)
		return;
	t = malloc(s->n * sizeof(*t));
	if (!t)
		die("malloc");
	memcpy(t, s->v, s->n * sizeof(*t));
	qsort(t, s->n, sizeof(*t), cmp_double);
	*min = t[0];
	*max = t[s->n - 1];
	*med = s->n & 1 ? t[s->n / 2] : (t[s->n / 2 - 1] + t[s->n / 2]) / 2;
	free(t);
}

static double series_median(const struct series *s)
{
	double med, min, max;

	series_stats(s, &med, &min, &max);
	return med;
}

static void series_free(struct series *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* extra keys of a figure line, each formatted with its leading comma */
struct extra {
	char b[1024];
	size_t n;
};

static void __attribute__((format(printf, 2, 3))) xadd(struct extra *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(x->b + x->n, sizeof(x->b) - x->n, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(x->b) - x->n)
		die_err(0, "internal: extra keys too long");
	x->n += n;
}

/* ",\"KEY\":[v,...]" for a series */
static void xseries(struct extra *x, const char *key, const struct series *s)
{
	int i;

	xadd(x, ",\"%s\":[", key);
	for (i = 0; i < s->n; i++)
		xadd(x, "%s%.6g", i ? "," : "", s->v[i]);
	xadd(x, "]");
}

static void emit(const char *figure, const char *variant, unsigned long long param,
		 const char *unit, const struct series *s, const struct extra *x)
{
	double med, min, max;
	int i;

	series_stats(s, &med, &min, &max);
	printf("# bench {\"figure\":\"%s\",\"variant\":\"%s\",\"param\":%llu,\"unit\":\"%s\","
	       "\"samples\":[", figure, variant, param, unit);
	for (i = 0; i < s->n; i++)
		printf("%s%.6g", i ? "," : "", s->v[i]);
	printf("],\"median\":%.6g,\"min\":%.6g,\"max\":%.6g,\"thp\":%d%s}\n",
	       med, min, max, thp, x ? x->b : "");
	fflush(stdout);
}

/* ---- counters, /proc ---- */

enum { C_FAULTS, C_PAGES, C_INVAL, C_PINVAL, C_RNR, C_PREFETCH, C_NR };
static const char *const cname[C_NR] = {
	"odp_page_faults", "odp_pages_faulted", "odp_invalidations",
	"odp_pages_invalidated", "odp_rnr_naks", "odp_prefetches"
};

struct ctrs {
	long long v[C_NR];
};

static void ctrs_read(struct ctrs *k)
{
	int i;

	/* the IB core caches the counters for 10 ms after a read */
	usleep(30000);
	for (i = 0; i < C_NR; i++)
		k->v[i] = vu_hw_counter_cached(c.ctx, cname[i]);
}

/* change of counter I from A to B, -1 if it cannot be read */
static long long ctr_delta(const struct ctrs *a, const struct ctrs *b, int i)
{
	return a->v[i] < 0 || b->v[i] < 0 ? -1 : b->v[i] - a->v[i];
}

/* "KEY: N kB" of a /proc file, -1 if the file has no such line */
static long long proc_kb(const char *file, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long long v = -1;
	FILE *f;

	f = fopen(file, "r");
	if (!f)
		die("fopen %s", file);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			if (sscanf(line + kl + 1, "%lld", &v) != 1)
				v = -1;
			break;
		}
	fclose(f);
	return v;
}

static long long mem_total_kb(void)
{
	long long v = proc_kb("/proc/meminfo", "MemTotal");

	if (v <= 0)
		die_err(0, "no MemTotal in /proc/meminfo");
	return v;
}

static long long vmpin_kb(void)
{
	long long v = proc_kb("/proc/self/status", "VmPin");

	if (v < 0)
		die_err(0, "no VmPin in /proc/self/status");
	return v;
}

/* ---- memory ---- */

static char *amap(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap of %zu bytes", len);
	if (!thp && madvise(p, len, MADV_NOHUGEPAGE))
		die("madvise MADV_NOHUGEPAGE");
	return p;
}

static void aunmap(char *p, size_t len)
{
	if (munmap(p, len))
		die("munmap");
}

static struct ibv_mr *reg(void *p, size_t len, int access, const char *what)
{
	struct ibv_mr *mr = ibv_reg_mr(c.pd, p, len, access);

	if (!mr)
		die("ibv_reg_mr (%s, %zu bytes)", what, len);
	return mr;
}

static void dereg(struct ibv_mr *mr)
{
	int ret = ibv_dereg_mr(mr);

	if (ret)
		die_err(ret, "ibv_dereg_mr");
}

/* source data: no byte is zero, so a lost write shows at every byte */
static void fill(char *p, size_t len, uint64_t seed)
{
	uint64_t *w = (uint64_t *)p, x;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 32;
		w[i] = x | 0x0101010101010101ull;
	}
}

/* DST must equal SRC byte for byte; WHAT names the measurement */
static void verify(const char *dst, const char *src, size_t len, const char *what)
{
	size_t i;

	if (!memcmp(dst, src, len))
		return;
	for (i = 0; i < len && dst[i] == src[i]; i++)
		;
	bad_data("%s: byte %zu of %zu is 0x%02x, expected 0x%02x",
		 what, i, len, (unsigned char)dst[i], (unsigned char)src[i]);
}

/* synchronous PREFETCH_WRITE of [p, p + len) of MR, in 1 GiB requests */
static void prefetch(struct ibv_mr *mr, char *p, size_t len)
{
	struct ibv_sge sge;
	size_t off, n;
	int ret;

	for (off = 0; off < len; off += n) {
		n = len - off < ADVISE_CHUNK ? len - off : ADVISE_CHUNK;
		sge.addr = (uintptr_t)(p + off);
		sge.length = n;
		sge.lkey = mr->lkey;
		ret = vu_advise_mr(c.pd, IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				   IB_UVERBS_ADVISE_MR_FLAG_FLUSH, &sge, 1);
		if (ret)
			die_err(-ret, "advise_mr PREFETCH_WRITE (uverbs ioctl)");
	}
}

/* ---- RDMA ---- */

/*
 * RDMA OP (write or read) of LEN bytes between the local LOC (LKEY) and the
 * remote REM (RKEY) on QP qa, in messages of MSG bytes, WINDOW of them in
 * flight; returns when the last one completed.
 */
static void xfer(enum ibv_wr_opcode op, char *loc, uint32_t lkey, char *rem, uint32_t rkey,
		 size_t len, size_t msg)
{
	struct ibv_send_wr wr[WINDOW], *bad;
	struct ibv_sge sge[WINDOW];
	struct ibv_wc wc[WINDOW];
	size_t posted = 0, done = 0, l;
	double last = vu_now();
	int out = 0, n, i, ret;

	while (done < len) {
		for (n = 0; out + n < WINDOW && posted < len; n++) {
			l = len - posted < msg ? len - posted : msg;
			sge[n].addr = (uintptr_t)(loc + posted);
			sge[n].length = l;
			sge[n].lkey = lkey;
			memset(&wr[n], 0, sizeof(wr[n]));
			wr[n].wr_id = l;
			wr[n].sg_list = &sge[n];
			wr[n].num_sge = 1;
			wr[n].opcode = op;
			wr[n].send_flags = IBV_SEND_SIGNALED;
			wr[n].wr.rdma.remote_addr = (uintptr_t)(rem + posted);
			wr[n].wr.rdma.rkey = rkey;
			if (n)
				wr[n - 1].next = &wr[n];
			posted += l;
		}
		if (n) {
			ret = ibv_post_send(qa.qp, wr, &bad);
			if (ret)
				die_err(ret, "ibv_post_send");
			out += n;
		}
		n = ibv_poll_cq(qa.cq, WINDOW, wc);
		if (n < 0)
			die_err(0, "ibv_poll_cq failed (%d)", n);
		if (!n) {
			if (vu_now() - last > STALL_SECS)
				die_err(0, "no completion in %.0f s (%zu of %zu bytes done)",
					STALL_SECS, done, len);
			sched_yield();	/* rxe's work runs in the kernel, 1 CPU */
			continue;
		}
		last = vu_now();
		for (i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS)
				die_err(0, "RDMA %s completion: %s (status %d, vendor_err 0x%x)",
					op == IBV_WR_RDMA_READ ? "read" : "write",
					ibv_wc_status_str(wc[i].status), wc[i].status,
					wc[i].vendor_err);
			done += wc[i].wr_id;
			out--;
		}
	}
}

static void setup(const char *dev)
{
	uint64_t gen = 0;
	uint32_t rc = 0, need = IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ;
	struct utsname u;
	int ret;

	if (!dev)
		dev = getenv("RXE_DEV");
	errno = 0;
	c.ctx = vu_open(dev);
	if (!c.ctx)
		die_err(errno ? errno : ENODEV, "ibv_open_device %s", dev ? dev : "(first device)");
	c.gid_index = vu_gid_index(c.ctx, -1);
	if (c.gid_index < 0)
		die_err(ENOENT, "no RoCE v2 IPv4 GID on %s", ibv_get_device_name(c.ctx->device));
	if (ibv_query_gid(c.ctx, 1, c.gid_index, &c.gid))
		die("ibv_query_gid %d", c.gid_index);
	c.pd = ibv_alloc_pd(c.ctx);
	if (!c.pd)
		die("ibv_alloc_pd");
	ret = vu_odp_caps(c.ctx, &gen, &rc);
	if (ret)
		die_err(ret, "ibv_query_device_ex");
	if (!(gen & IBV_ODP_SUPPORT) || (rc & need) != need)
		die_err(EOPNOTSUPP, "%s: no RC ODP with RDMA write and read (general caps 0x%llx, rc 0x%x)",
			ibv_get_device_name(c.ctx->device), (unsigned long long)gen, rc);
	have_implicit = !!(gen & IBV_ODP_SUPPORT_IMPLICIT);
	if (vu_qp_create(&c, &qa, QP_DEPTH) || vu_qp_create(&c, &qb, QP_DEPTH))
		die("ibv_create_cq/ibv_create_qp_ex");
	ret = vu_qp_connect(&c, qa.qp, qb.qp->qp_num);
	if (!ret)
		ret = vu_qp_connect(&c, qb.qp, qa.qp->qp_num);
	if (ret)
		die_err(ret > 0 ? ret : errno, "ibv_modify_qp (INIT/RTR/RTS)");
	if (uname(&u))
		die("uname");
	printf("# device %s, GID index %d, kernel %s, %d reps, THP %s, MemTotal %lld kB\n",
	       ibv_get_device_name(c.ctx->device), c.gid_index, u.release, reps,
	       thp ? "as the system has it" : "off (MADV_NOHUGEPAGE)", mem_total_kb());
	fflush(stdout);
}

static void teardown(void)
{
	vu_qp_destroy(&qa);
	vu_qp_destroy(&qb);
	if (ibv_dealloc_pd(c.pd))
		die("ibv_dealloc_pd");
	if (ibv_close_device(c.ctx))
		die("ibv_close_device");
}

/* ---- reg ---- */

struct regstat {
	struct series reg, dereg;
};

/* time ibv_reg_mr and ibv_dereg_mr of [p, p + size) with ACCESS once */
static void reg_time(void *p, size_t size, int access, const char *what, struct regstat *r)
{
	struct ibv_mr *mr;
	double t0, t1, t2;
	int ret;

	t0 = vu_now();
	mr = ibv_reg_mr(c.pd, p, size, access);
	t1 = vu_now();
	if (!mr)
		die("ibv_reg_mr (%s)", what);
	ret = ibv_dereg_mr(mr);
	t2 = vu_now();
	if (ret)
		die_err(ret, "ibv_dereg_mr (%s)", what);
	series_add(&r->reg, t1 - t0);
	series_add(&r->dereg, t2 - t1);
}

static void reg_once(size_t size, int access, struct regstat *r)
{
	char *p = amap(size), what[64];

	snprintf(what, sizeof(what), "%s, %zu bytes",
		 access & IBV_ACCESS_ON_DEMAND ? "odp" : "pinned", size);
	reg_time(p, size, access, what, r);
	aunmap(p, size);
}

static void reg_implicit(struct regstat *r)
{
	reg_time(NULL, SIZE_MAX, ODP, "implicit ODP", r);
}

static void emit_reg(const char *variant, unsigned long long size, struct regstat *r)
{
	struct extra x = { .n = 0 };

	x.b[0] = 0;
	xadd(&x, ",\"pages\":%llu", size / PAGE);
	emit("reg", variant, size, "s", &r->reg, &x);
	emit("dereg", variant, size, "s", &r->dereg, &x);
	series_free(&r->reg);
	series_free(&r->dereg);
}

static int cmd_reg(unsigned long long *sizes, int nsizes, unsigned long long pinned_max)
{
	static struct regstat odp[MAX_LIST], pin[MAX_LIST], imp;
	int rep, i, v;

	for (i = 0; i < nsizes; i++)
		if (sizes[i] > pinned_max)
			printf("# reg: no pinned registration of %llu bytes (> --pinned-max %llu)\n",
			       sizes[i], pinned_max);
	if (!have_implicit)
		printf("# reg: the device has no implicit ODP: no implicit registration\n");
	for (rep = 0; rep < reps; rep++) {
		for (i = 0; i < nsizes; i++)
			for (v = 0; v < 2; v++) {
				if ((v ^ (rep & 1)) == 0) {
					if (sizes[i] <= pinned_max)
						reg_once(sizes[i], ACC, &pin[i]);
				} else {
					reg_once(sizes[i], ODP, &odp[i]);
				}
			}
		if (have_implicit)
			reg_implicit(&imp);
		printf("# reg: rep %d of %d done\n", rep + 1, reps);
		fflush(stdout);
	}
	for (i = 0; i < nsizes; i++) {
		if (sizes[i] <= pinned_max)
			emit_reg("pinned", sizes[i], &pin[i]);
		emit_reg("odp", sizes[i], &odp[i]);
	}
	if (have_implicit)
		emit_reg("implicit", 0, &imp);
	return 0;
}

/* ---- touch ---- */

enum { T_PINNED, T_ODP, T_WARM, T_PREFETCH, T_NR };
static const char *const tname[T_NR] = {
	"pinned-write", "odp-write", "odp-warm-write", "odp-prefetch"
};

struct tstat {
	struct series t, faults, pages, rnr, inval, advise;
};

/* time of one write pass of SRC into DST (DMR) and the counters it moved */
static void timed_write(struct tstat *s, char *src, struct ibv_mr *smr, char *dst,
			  struct ibv_mr *dmr, size_t size, size_t msg, int do_prefetch)
{
	struct ctrs k0, k1;
	double t0, t1, t2;

	ctrs_read(&k0);
	t0 = vu_now();
	if (do_prefetch)
		prefetch(dmr, dst, size);
	t1 = vu_now();
	xfer(IBV_WR_RDMA_WRITE, src, smr->lkey, dst, dmr->rkey, size, msg);
	t2 = vu_now();
	ctrs_read(&k1);
	series_add(&s->t, (t2 - t0) * 1e9 / (size / PAGE));
	series_add(&s->advise, (t1 - t0) * 1e9 / (size / PAGE));
	series_add(&s->faults, ctr_delta(&k0, &k1, C_FAULTS));
	series_add(&s->pages, ctr_delta(&k0, &k1, C_PAGES));
	series_add(&s->rnr, ctr_delta(&k0, &k1, C_RNR));
	series_add(&s->inval, ctr_delta(&k0, &k1, C_INVAL));
}

static void touch_variant(int v, struct tstat *s, int rep, size_t size, size_t msg,
			  char *src, struct ibv_mr *smr, char *pdst, struct ibv_mr *pmr)
{
	char what[96];
	struct ibv_mr *mr;
	char *d;

	snprintf(what, sizeof(what), "touch %s-%zu, rep %d", tname[v], msg, rep + 1);
	if (v == T_PINNED) {
		memset(pdst, 0, size);
		timed_write(&s[T_PINNED], src, smr, pdst, pmr, size, msg, 0);
		verify(pdst, src, size, what);
		return;
	}
	/* a fresh region the CPU never touched, registered ODP */
	d = amap(size);
	mr = reg(d, size, ODP, "odp");
	timed_write(&s[v], src, smr, d, mr, size, msg, v == T_PREFETCH);
	verify(d, src, size, what);
	if (v == T_ODP) {
		/* again, the pages now mapped in the MR (zeroed by the CPU first) */
		snprintf(what, sizeof(what), "touch %s-%zu, rep %d", tname[T_WARM], msg, rep + 1);
		memset(d, 0, size);
		timed_write(&s[T_WARM], src, smr, d, mr, size, msg, 0);
		verify(d, src, size, what);
	}
	dereg(mr);
	aunmap(d, size);
}

static int cmd_touch(size_t size, unsigned long long *msgs, int nmsgs)
{
	static const int order[3] = { T_PINNED, T_ODP, T_PREFETCH };
	struct tstat (*s)[T_NR];
	struct series cpu = { 0 };
	struct ibv_mr *smr, *pmr;
	char *src, *pdst, *p, name[64];
	struct extra x;
	int rep, i, j, v;
	double t0, t1;

	s = calloc(nmsgs, sizeof(*s));
	if (!s)
		die("calloc");
	src = amap(size);
	pdst = amap(size);
	fill(src, size, 0x0db);
	memset(pdst, 0, size);	/* the control: a region already touched */
	smr = reg(src, size, ACC, "pinned source");
	pmr = reg(pdst, size, ACC, "pinned target");

	for (rep = 0; rep < reps; rep++) {
		/* the CPU's first touch */
		p = amap(size);
		t0 = vu_now();
		memset(p, 0x5a, size);
		t1 = vu_now();
		aunmap(p, size);
		series_add(&cpu, (t1 - t0) * 1e9 / (size / PAGE));

		for (i = 0; i < nmsgs; i++)
			for (j = 0; j < 3; j++) {
				v = order[rep & 1 ? 2 - j : j];
				touch_variant(v, s[i], rep, size, msgs[i], src, smr, pdst, pmr);
			}
		printf("# touch: rep %d of %d done\n", rep + 1, reps);
		fflush(stdout);
	}

	x.n = 0;
	x.b[0] = 0;
	xadd(&x, ",\"size\":%zu,\"pages\":%llu", size, size / PAGE);
	emit("first_touch", "cpu", 0, "ns/page", &cpu, &x);
	series_free(&cpu);
	for (i = 0; i < nmsgs; i++)
		for (v = 0; v < T_NR; v++) {
			struct tstat *t = &s[i][v];

			x.n = 0;
			x.b[0] = 0;
			xadd(&x, ",\"size\":%zu,\"msg\":%llu,\"pages\":%llu,\"window\":%d",
			     size, msgs[i], size / PAGE, WINDOW);
			xadd(&x, ",\"faults\":%.0f,\"pages_faulted\":%.0f,\"rnr_naks\":%.0f,"
			     "\"invalidations\":%.0f", series_median(&t->faults),
			     series_median(&t->pages), series_median(&t->rnr),
			     series_median(&t->inval));
			if (v == T_PREFETCH)
				xadd(&x, ",\"prefetch_ns_per_page\":%.6g", series_median(&t->advise));
			snprintf(name, sizeof(name), "%s-%llu", tname[v], msgs[i]);
			emit("first_touch", name, msgs[i], "ns/page", &t->t, &x);
			series_free(&t->t);
			series_free(&t->faults);
			series_free(&t->pages);
			series_free(&t->rnr);
			series_free(&t->inval);
			series_free(&t->advise);
		}
	free(s);
	dereg(smr);
	dereg(pmr);
	aunmap(src, size);
	aunmap(pdst, size);
	return 0;
}

/* ---- munmap ---- */

static int cmd_munmap(size_t size)
{
	struct series plain = { 0 }, odp = { 0 }, dr = { 0 };
	struct series pf = { 0 }, inv = { 0 }, pinv = { 0 };
	unsigned long long pages = size / PAGE;
	struct ctrs k0, k1, k2;
	struct ibv_mr *mr;
	struct extra x;
	double t0, t1, t2;
	int rep, v, ret;
	long long d;
	char *p;

	for (rep = 0; rep < reps; rep++) {
		for (v = 0; v < 2; v++) {
			p = amap(size);
			memset(p, 0x3c, size);
			if ((v ^ (rep & 1)) == 0) {
				t0 = vu_now();
				if (munmap(p, size))
					die("munmap");
				t1 = vu_now();
				series_add(&plain, t1 - t0);
				continue;
			}
			mr = reg(p, size, ODP, "odp");
			ctrs_read(&k0);
			prefetch(mr, p, size);
			ctrs_read(&k1);
			t0 = vu_now();
			if (munmap(p, size))
				die("munmap of the range of a registered ODP MR");
			t1 = vu_now();
			ret = ibv_dereg_mr(mr);
			t2 = vu_now();
			if (ret)
				die_err(ret, "ibv_dereg_mr after munmap");
			ctrs_read(&k2);
			series_add(&odp, t1 - t0);
			series_add(&dr, t2 - t1);
			series_add(&pf, ctr_delta(&k0, &k1, C_PAGES));
			series_add(&inv, ctr_delta(&k1, &k2, C_INVAL));
			d = ctr_delta(&k1, &k2, C_PINVAL);
			series_add(&pinv, d);
			/* every page must have been mapped in the MR for the figure to mean it */
			if (d >= 0 && (unsigned long long)d != pages)
				printf("# munmap: warning: rep %d: odp_pages_invalidated moved by %lld, "
				       "not %llu: not every page was mapped in the MR\n",
				       rep + 1, d, pages);
		}
		printf("# munmap: rep %d of %d done\n", rep + 1, reps);
		fflush(stdout);
	}
	x.n = 0;
	x.b[0] = 0;
	xadd(&x, ",\"pages\":%llu", pages);
	emit("munmap", "plain", size, "s", &plain, &x);
	xadd(&x, ",\"dereg_s\":%.6g", series_median(&dr));
	xseries(&x, "dereg_samples", &dr);
	xadd(&x, ",\"pages_faulted\":%.0f,\"invalidations\":%.0f,\"pages_invalidated\":%.0f",
	     series_median(&pf), series_median(&inv), series_median(&pinv));
	emit("munmap", "odp", size, "s", &odp, &x);
	series_free(&plain);
	series_free(&odp);
	series_free(&dr);
	series_free(&pf);
	series_free(&inv);
	series_free(&pinv);
	return 0;
}

/* ---- overcommit ---- */

struct oc {
	char *src, *rb;			/* pinned: window source, read-back pages */
	struct ibv_mr *smr, *rbmr;
	size_t window;
	unsigned long long stamp;
};

/*
 * Write the window at DST (MR) from the source, read its first and last
 * page back and check them: the source's first and last page carry a
 * stamp new for every window, so a lost or stale page shows.
 */
static void oc_window(struct oc *o, char *dst, struct ibv_mr *mr, const char *variant)
{
	size_t last = o->window - PAGE;
	char what[96];

	o->stamp++;
	memcpy(o->src, &o->stamp, sizeof(o->stamp));
	memcpy(o->src + last, &o->stamp, sizeof(o->stamp));
	xfer(IBV_WR_RDMA_WRITE, o->src, o->smr->lkey, dst, mr->rkey, o->window, OC_MSG);
	memset(o->rb, 0, 2 * PAGE);
	xfer(IBV_WR_RDMA_READ, o->rb, o->rbmr->lkey, dst, mr->rkey, PAGE, PAGE);
	xfer(IBV_WR_RDMA_READ, o->rb + PAGE, o->rbmr->lkey, dst + last, mr->rkey, PAGE, PAGE);
	snprintf(what, sizeof(what), "overcommit %s, window %llu at %p, first page",
		 variant, o->stamp, (void *)dst);
	verify(o->rb, o->src, PAGE, what);
	snprintf(what, sizeof(what), "overcommit %s, window %llu at %p, last page",
		 variant, o->stamp, (void *)dst);
	verify(o->rb + PAGE, o->src + last, PAGE, what);
}

static int cmd_overcommit(size_t size, size_t window, double seconds)
{
	struct series odp = { 0 }, pin = { 0 };
	unsigned long long nwin, seg, w = 0, odp_windows = 0, pin_windows = 0;
	long long mem_kb = mem_total_kb(), base, after, vp, vmax = 0;
	double start, t0, t_odp, t_pin;
	struct ctrs k0, k1;
	struct ibv_mr *mr, *pmr;
	struct extra x;
	struct oc o;
	char *region, *pw, *dst;
	unsigned long long i;

	if (!size)
		size = (size_t)mem_kb * KIB * 4;
	if (size % window) {
		printf("# overcommit: size rounded down to a multiple of the window\n");
		size -= size % window;
	}
	if (!size)
		die_err(EINVAL, "--size smaller than --window");
	nwin = size / window;
	seg = nwin / reps ? nwin / reps : 1;	/* windows per sample */
	printf("# overcommit: ODP MR of %zu bytes (%.1fx MemTotal), window %zu, %llu windows a pass, "
	       "%llu windows a sample, at least %.0f s\n", size, (double)size / (mem_kb * KIB),
	       window, nwin, seg, seconds);
	fflush(stdout);

	memset(&o, 0, sizeof(o));
	o.window = window;
	o.src = amap(window);
	o.rb = amap(2 * PAGE);
	pw = amap(window);
	fill(o.src, window, 0x0c0);
	memset(pw, 0, window);
	o.smr = reg(o.src, window, ACC, "pinned source");
	o.rbmr = reg(o.rb, 2 * PAGE, ACC, "pinned read-back");
	pmr = reg(pw, window, ACC, "pinned window");
	region = amap(size);
	/* what is pinned from here on is not the ODP MR's */
	base = vmpin_kb();
	mr = reg(region, size, ODP, "odp overcommit");
	after = vmpin_kb();
	printf("# overcommit: VmPin %lld kB before the ODP registration (the pinned buffers), "
	       "%lld kB after\n", base, after);

	ctrs_read(&k0);
	start = vu_now();
	t_odp = t_pin = 0;
	do {
		/* SEG windows of the ODP region, each thrown away once checked */
		t0 = 0;
		for (i = 0; i < seg; i++, w++) {
			double a = vu_now();

			dst = region + (w % nwin) * window;
			oc_window(&o, dst, mr, "odp");
			if (madvise(dst, window, MADV_DONTNEED))
				die("madvise MADV_DONTNEED");
			t0 += vu_now() - a;
			/* VmPin sampled outside of the timed part */
			vp = vmpin_kb() - base;
			if (vp > vmax)
				vmax = vp;
		}
		t_odp += t0;
		odp_windows += seg;
		series_add(&odp, seg * window / t0 / 1e9);

		/* as many bytes into the one pinned window */
		t0 = vu_now();
		for (i = 0; i < seg; i++)
			oc_window(&o, pw, pmr, "pinned");
		t0 = vu_now() - t0;
		t_pin += t0;
		pin_windows += seg;
		series_add(&pin, seg * window / t0 / 1e9);
	} while (vu_now() - start < seconds || odp_windows < nwin);
	ctrs_read(&k1);
	if (vmax)
		printf("# overcommit: warning: VmPin rose by %lld kB while the ODP MR was written\n",
		       vmax);

	x.n = 0;
	x.b[0] = 0;
	xadd(&x, ",\"mem_total_kb\":%lld,\"mr_size\":%zu,\"window\":%zu,\"msg\":%llu,"
	     "\"windows\":%llu,\"bytes\":%llu,\"passes\":%.2f,\"seconds\":%.3f,"
	     "\"gbps_overall\":%.6g,\"vmpin_max_kb\":%lld,\"vmpin_base_kb\":%lld,"
	     "\"vmpin_reg_kb\":%lld",
	     mem_kb, size, window, OC_MSG, odp_windows, odp_windows * window,
	     (double)odp_windows / nwin, t_odp, odp_windows * window / t_odp / 1e9, vmax,
	     base, after - base);
	xadd(&x, ",\"faults\":%lld,\"pages_faulted\":%lld,\"invalidations\":%lld,"
	     "\"pages_invalidated\":%lld,\"rnr_naks\":%lld",
	     ctr_delta(&k0, &k1, C_FAULTS), ctr_delta(&k0, &k1, C_PAGES),
	     ctr_delta(&k0, &k1, C_INVAL), ctr_delta(&k0, &k1, C_PINVAL),
	     ctr_delta(&k0, &k1, C_RNR));
	emit("overcommit", "odp", size, "GB/s", &odp, &x);
	x.n = 0;
	x.b[0] = 0;
	xadd(&x, ",\"mem_total_kb\":%lld,\"mr_size\":%zu,\"window\":%zu,\"msg\":%llu,"
	     "\"windows\":%llu,\"bytes\":%llu,\"seconds\":%.3f,\"gbps_overall\":%.6g",
	     mem_kb, window, window, OC_MSG, pin_windows, pin_windows * window, t_pin,
	     pin_windows * window / t_pin / 1e9);
	emit("overcommit", "pinned", window, "GB/s", &pin, &x);

	dereg(mr);
	dereg(pmr);
	dereg(o.smr);
	dereg(o.rbmr);
	aunmap(region, size);
	aunmap(pw, window);
	aunmap(o.src, window);
	aunmap(o.rb, 2 * PAGE);
	series_free(&odp);
	series_free(&pin);
	return 0;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: odp_bench SUBCOMMAND [-d DEV] [-g GID_INDEX] [--reps N] [--thp] [options]\n"
		"  reg [--sizes LIST] [--pinned-max BYTES]\n"
		"      ibv_reg_mr/ibv_dereg_mr time, pinned, odp and implicit ODP; LIST default\n"
		"      1M,16M,256M,1G,4G,16G,64G; pinned only up to --pinned-max (default half\n"
		"      of MemTotal)\n"
		"  touch [--size BYTES] [--msg LIST]\n"
		"      first touch, ns per 4 KiB page: cpu, and RDMA writes of messages of\n"
		"      each size in LIST (default 4096,65536,1048576) into pinned, fresh ODP,\n"
		"      prefetched ODP and warm ODP memory; --size default 64M\n"
		"  munmap [--size BYTES]\n"
		"      munmap time of touched memory, plain and mapped in an ODP MR\n"
		"      (default 1G)\n"
		"  overcommit [--size BYTES] [--window BYTES] [--seconds S]\n"
		"      ODP MR of --size (default 4x MemTotal) written window by window\n"
		"      (default 64M), the window thrown away behind, for at least S seconds\n"
		"      (default 20) and one full pass; a pinned window for comparison\n"
		"Common: -d DEV (default $RXE_DEV or the first device), -g GID_INDEX,\n"
		"--reps N repetitions of every measurement (default 5), --thp: do not\n"
		"MADV_NOHUGEPAGE the data regions.  BYTES and LIST items take K, M, G, T.\n"
		"Output: one \"# bench {json}\" line per figure, other lines \"# ...\".\n"
		"Exit status: 0 done, 1 data mismatch, 2 usage or a failed call.\n");
}

static void __attribute__((noreturn, format(printf, 1, 2))) bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "odp_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fprintf(stderr, "usage: odp_bench reg|touch|munmap|overcommit [options]; -h for help\n");
	exit(2);
}

/* "64M", "1g", "4096", "2GiB": bytes; 0 on a malformed number */
static unsigned long long parse_size(const char *s)
{
	unsigned long long v, mul = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return 0;
	switch (*end) {
	case 'k': case 'K': mul = KIB; end++; break;
	case 'm': case 'M': mul = MIB; end++; break;
	case 'g': case 'G': mul = GIB; end++; break;
	case 't': case 'T': mul = GIB * 1024; end++; break;
	}
	if (mul > 1 && !strcmp(end, "iB"))
		end += 2;
	else if (mul > 1 && *end == 'B')
		end++;
	if (*end || (v && mul > ~0ull / v))
		return 0;
	return v * mul;
}

static unsigned long long size_arg(const char *s, const char *opt)
{
	unsigned long long v = parse_size(s);

	if (!v)
		bad_usage("%s: bad size '%s'", opt, s);
	return v;
}

static int size_list(const char *s, const char *opt, unsigned long long *v)
{
	char *dup = strdup(s), *tok, *save = NULL;
	int n = 0;

	if (!dup)
		die("strdup");
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_LIST)
			bad_usage("%s: more than %d sizes", opt, MAX_LIST);
		v[n++] = size_arg(tok, opt);
	}
	free(dup);
	if (!n)
		bad_usage("%s: empty list", opt);
	return n;
}

enum { SC_REG = 1, SC_TOUCH = 2, SC_MUNMAP = 4, SC_OVERCOMMIT = 8 };

static const char *opt_name(const struct option *lo, int val)
{
	for (; lo->name; lo++)
		if (lo->val == val)
			return lo->name;
	return "?";
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "reps", 1, NULL, 'r' }, { "thp", 0, NULL, 'T' },
		{ "sizes", 1, NULL, 'S' }, { "pinned-max", 1, NULL, 'P' },
		{ "size", 1, NULL, 's' }, { "msg", 1, NULL, 'm' },
		{ "window", 1, NULL, 'w' }, { "seconds", 1, NULL, 't' },
		{ "help", 0, NULL, 'h' }, { 0 }
	};
	static const struct { int opt, mask; } allowed[] = {
		{ 'S', SC_REG }, { 'P', SC_REG }, { 's', SC_TOUCH | SC_MUNMAP | SC_OVERCOMMIT },
		{ 'm', SC_TOUCH }, { 'w', SC_OVERCOMMIT }, { 't', SC_OVERCOMMIT },
	};
	unsigned long long sizes[MAX_LIST] = { MIB, 16 * MIB, 256 * MIB, GIB, 4 * GIB,
					       16 * GIB, 64 * GIB };
	unsigned long long msgs[MAX_LIST] = { 4096, 65536, MIB };
	unsigned long long size = 0, window = 64 * MIB, pinned_max = 0;
	int nsizes = 7, nmsgs = 3, sc, o, i, ret;
	const char *dev = NULL, *cmd;
	double seconds = 20;
	char *end;

	if (argc < 2)
		bad_usage("no subcommand");
	cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "reg"))
		sc = SC_REG;
	else if (!strcmp(cmd, "touch"))
		sc = SC_TOUCH;
	else if (!strcmp(cmd, "munmap"))
		sc = SC_MUNMAP;
	else if (!strcmp(cmd, "overcommit"))
		sc = SC_OVERCOMMIT;
	else
		bad_usage("unknown subcommand '%s'", cmd);

	argv[1] = argv[0];	/* getopt sees "odp_bench OPTIONS" */
	while ((o = getopt_long(argc - 1, argv + 1, "d:g:h", lo, NULL)) != -1) {
		for (i = 0; i < (int)(sizeof(allowed) / sizeof(allowed[0])); i++)
			if (allowed[i].opt == o && !(allowed[i].mask & sc))
				bad_usage("%s takes no --%s", cmd, opt_name(lo, o));
		switch (o) {
		case 'd': dev = optarg; break;
		case 'g': setenv("RXE_GID_INDEX", optarg, 1); break;
		case 'T': thp = 1; break;
		case 'r':
			reps = strtol(optarg, &end, 10);
			if (*end || reps < 1 || reps > 1000)
				bad_usage("--reps: 1..1000");
			break;
		case 'S': nsizes = size_list(optarg, "--sizes", sizes); break;
		case 'P': pinned_max = size_arg(optarg, "--pinned-max"); break;
		case 's': size = size_arg(optarg, "--size"); break;
		case 'm': nmsgs = size_list(optarg, "--msg", msgs); break;
		case 'w': window = size_arg(optarg, "--window"); break;
		case 't':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds >= 0))
				bad_usage("--seconds: a number >= 0");
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc)
		bad_usage("unexpected argument '%s'", argv[optind + 1]);

	/* checks of the sizes before anything is set up */
	switch (sc) {
	case SC_REG:
		for (i = 0; i < nsizes; i++)
			if (sizes[i] % PAGE)
				bad_usage("--sizes: %llu is not a multiple of 4 KiB", sizes[i]);
		if (!pinned_max)
			pinned_max = mem_total_kb() * KIB / 2;
		break;
	case SC_TOUCH:
		if (!size)
			size = 64 * MIB;
		if (size % PAGE)
			bad_usage("--size: not a multiple of 4 KiB");
		for (i = 0; i < nmsgs; i++)
			if (msgs[i] > GIB || size % msgs[i])
				bad_usage("--msg: %llu must divide --size %llu and be at most 1G",
					  msgs[i], size);
		break;
	case SC_MUNMAP:
		if (!size)
			size = GIB;
		if (size % PAGE)
			bad_usage("--size: not a multiple of 4 KiB");
		break;
	case SC_OVERCOMMIT:
		if (window % OC_MSG || window < 2 * PAGE)
			bad_usage("--window: a multiple of 64 KiB");
		if (size && size % PAGE)
			bad_usage("--size: not a multiple of 4 KiB");
		break;
	}

	setup(dev);
	switch (sc) {
	case SC_REG:
		ret = cmd_reg(sizes, nsizes, pinned_max);
		break;
	case SC_TOUCH:
		ret = cmd_touch(size, msgs, nmsgs);
		break;
	case SC_MUNMAP:
		ret = cmd_munmap(size);
		break;
	default:
		ret = cmd_overcommit(size, window, seconds);
		break;
	}
	teardown();
	return ret;
}
