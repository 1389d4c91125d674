// SPDX-License-Identifier: GPL-2.0
/*
 * Invalidation storm: RDMA traffic on ODP memory while other threads keep
 * changing the mappings under it, every byte checked.
 *
 * The ODP region is cut into stripes.  A stripe is an atomic counter (the
 * first 8 bytes) and a data area whose expected contents are known at all
 * times: the pattern of a generation number, or zeros after its pages were
 * thrown away.  Traffic threads (each with its own pair of RC QPs) take a
 * stripe's lock and
 *   - read a random part of it by RDMA READ (a read of a stale page shows
 *     an old generation where zeros are expected, or the reverse),
 *   - then change it by RDMA WRITE, by SEND into a receive buffer in the
 *     stripe, by RDMA READ into it (the stripe is the local buffer), by the
 *     CPU, or read it by RDMA WRITE from it (the stripe is the local
 *     source), or do a fetch-and-add and a compare-and-swap on the counter,
 *   - and check what the CPU sees against the new generation (a write into
 *     a stale page is lost for the process).
 * The MR is an explicit ODP MR over the region or, at random, an implicit
 * ODP MR.  Mutator threads meanwhile, on stripes they lock (contents lost
 * or kept, the model follows): MADV_DONTNEED, munmap + mmap MAP_FIXED,
 * mremap away and back; mprotect read-only for a few milliseconds, during
 * which traffic meets the stripe read-only: an RDMA READ through a
 * read-only ODP MR must return its data, an RDMA WRITE through the
 * writable MRs must complete with IBV_WC_REM_ACCESS_ERR and change
 * nothing; and on any stripe, unlocked, racing with the traffic (contents
 * kept): fork (copy-on-write), move_pages() and mbind() to the other NUMA
 * node, memory compaction, and MADV_COLLAPSE of the region's first 2 MiB
 * into a transparent huge page (which the locked mutators split again).
 *
 * Bounded (--seconds), reproducible (--seed: every random choice of every
 * thread comes from it; the interleaving does not).  Prints TAP and a
 * "# storm-figures {json}" line with what it did.
 *
 * Usage: odp_storm [-d DEV] [-g GID] [--seconds S] [--seed N] [--threads T]
 *                  [--mutators LIST|all|none] [--stripes N] [--stripe-pages N]
 *                  [--no-implicit] [--prefill]
 * --prefill: the CPU writes every stripe before the traffic starts (under a
 * memory limit smaller than the region, that pushes most of it to swap).
 */
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define PAGE		4096ul
#define CTR		64		/* counter area at the start of a stripe */
#define MAXT		8
#define OP_SECS		30.0		/* deadline of one operation */
#define ACC		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define NTESTS		9

#define HPAGE		(2ul << 20)
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#ifndef MPOL_BIND
#define MPOL_DEFAULT	0
#define MPOL_BIND	2
#define MPOL_MF_MOVE	(1 << 1)
#endif

enum { M_DONTNEED, M_REMAP, M_MREMAP, M_MPROTECT, M_FORK, M_MIGRATE, M_MBIND,
       M_COMPACT, M_THP, M_NR };
static const char *const mname[M_NR] = {
	"dontneed", "remap", "mremap", "mprotect", "fork", "migrate", "mbind", "compact",
	"thp"
};

enum { O_READ, O_WRITE, O_SEND, O_READ_INTO, O_WRITE_FROM, O_CPU, O_ATOMIC, O_NR };
static const char *const oname[O_NR] = {
	"rdma_read", "rdma_write", "send", "read_into_odp", "write_from_odp", "cpu_write",
	"atomic"
};

struct stripe {
	pthread_mutex_t lock;
	uint64_t gen;		/* generation of the data area, 0: zeros */
	uint64_t counter;	/* expected value of the counter */
	/*
	 * Set before the mprotect mutator makes the stripe read-only, cleared
	 * after it made it writable again: with the lock held, 0 means
	 * writable, 1 read-only.
	 */
	int ro;
};

struct worker {
	pthread_t tid;
	int id;
	uint64_t rng;
	struct vu_qp a, b;	/* a: requester, b: responder over the region */
	char *src, *dst;	/* pinned, one stripe each */
	struct ibv_mr *src_mr, *dst_mr;
	uint64_t *atom;		/* pinned, atomic results */
	struct ibv_mr *atom_mr;
	unsigned long ops[O_NR];
	unsigned long long bytes;
};

static struct vu_ctx c;
static char *region, *spare;
static size_t stripe_sz, nstripes = 256, stripe_pages = 4;
static size_t region_sz;	/* nstripes * stripe_sz: the region and its MRs */
static struct stripe *st;
static struct ibv_mr *odp_mr, *imp_mr, *ro_mr;
static double seconds = 10;
static unsigned long long seed = 1;
static int nthreads = 2, use_implicit = 1, nnodes, has_atomic, prefill;
static unsigned int mutators = (1u << M_NR) - 1;
static atomic_int stop;
static atomic_ulong mismatches, read_mismatches, cpu_mismatches, atomic_bad, errors;
static atomic_ulong ro_reads, ro_refused, ro_bad;	/* traffic on read-only stripes */
static atomic_ulong ro_errors;	/* RDMA READs of a read-only stripe that failed */
static atomic_ulong ro_hint;	/* 1 + a stripe the mprotect mutator holds read-only */
static atomic_ulong mut_done[M_NR], mut_failed[M_NR];
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/*
 * Byte I of the data area of stripe S at generation GEN (GEN 0: zeros).
 * Each 8-byte word of each generation is a different hash, so a stale
 * generation never matches a later one by chance.
 */
static inline uint64_t pat_word(size_t s, uint64_t gen, size_t i);

static inline uint8_t pat(size_t s, uint64_t gen, size_t i)
{
	return (uint8_t)(pat_word(s, gen, i) >> ((i & 7) * 8));
}

static size_t data_len(void)
{
	return stripe_sz - CTR;
}

static char *data_of(size_t s)
{
	return region + s * stripe_sz + CTR;
}

/* The 8-byte word of the pattern that holds byte I (one hash per word). */
static inline uint64_t pat_word(size_t s, uint64_t gen, size_t i)
{
	if (!gen)
		return 0;
	return mix((gen << 40) ^ ((uint64_t)s << 24) ^ (i >> 3) ^ seed);
}

static void fill(char *p, size_t s, uint64_t gen, size_t off, size_t len)
{
	uint64_t w = pat_word(s, gen, off);
	size_t i;

	for (i = 0; i < len; i++) {
		if (!((off + i) & 7))
			w = pat_word(s, gen, off + i);
		p[i] = (char)(w >> (((off + i) & 7) * 8));
	}
}

/* Which generation the bytes look like, for the report: >= 0 or -1. */
static long long guess_gen(const char *p, size_t s, uint64_t expect, size_t off, size_t len)
{
	uint64_t g;
	size_t i, n = len < 64 ? len : 64;

	/* a few generations around the expected one, and zeros */
	for (g = expect + 4; ; g--) {
		for (i = 0; i < n; i++)
			if ((uint8_t)p[i] != pat(s, g, off + i))
				break;
		if (i == n)
			return (long long)g;
		if (!g || g + 64 <= expect)
			return -1;
		if (g + 16 == expect)
			g = 1;	/* next: 0 */
	}
}

/* Compare P (bytes OFF.. of stripe S's data area) with generation GEN. */
static int check(const char *what, int thread, const char *p, size_t s, uint64_t gen,
		 size_t off, size_t len, atomic_ulong *counter)
{
	uint64_t w = pat_word(s, gen, off);
	size_t i;

	for (i = 0; i < len; i++) {
		if (!((off + i) & 7))
			w = pat_word(s, gen, off + i);
		if ((uint8_t)p[i] != (uint8_t)(w >> (((off + i) & 7) * 8)))
			break;
	}
	if (i == len)
		return 0;
	atomic_fetch_add(&mismatches, 1);
	atomic_fetch_add(counter, 1);
	pthread_mutex_lock(&report_lock);
	if (atomic_load(&mismatches) <= 20)
		tap_diag("MISMATCH %s (thread %d): stripe %zu byte %zu: 0x%02x, want 0x%02x "
			 "(generation %llu); the data looks like generation %lld",
			 what, thread, s, off + i, (uint8_t)p[i], pat(s, gen, off + i),
			 (unsigned long long)gen, guess_gen(p + i, s, gen, off + i, len - i));
	pthread_mutex_unlock(&report_lock);
	return -1;
}

/* What run_wr() returned, in words: a completion status, or -1, -2. */
static const char *run_status(int ret)
{
	return ret == -1 ? "timeout" : ret == -2 ? "post failed" :
	       ibv_wc_status_str((enum ibv_wc_status)ret);
}

static void report_error(int w, const char *what, int ret)
{
	atomic_fetch_add(&errors, 1);
	pthread_mutex_lock(&report_lock);
	if (atomic_load(&errors) <= 20)
		tap_diag("ERROR thread %d %s: %s", w, what, run_status(ret));
	pthread_mutex_unlock(&report_lock);
}

static int mkpair(struct worker *k)
{
	vu_qp_destroy(&k->a);
	vu_qp_destroy(&k->b);
	return vu_pair(&c, &k->a, &k->b, 8);
}

/* Post WR on A and wait for its completion: 0 or a status, -1, -2. */
static int run_wr(struct worker *k, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;
	struct ibv_wc wc;

	wr->send_flags = IBV_SEND_SIGNALED;
	if (ibv_post_send(k->a.qp, wr, &bad))
		return -2;
	if (vu_poll(k->a.cq, &wc, OP_SECS) != 1)
		return -1;
	return (int)wc.status;
}

/* An RDMA READ or WRITE of LEN bytes at LADDR (LKEY) from or to RADDR (RKEY). */
static int run_rdma(struct worker *k, enum ibv_wr_opcode op, void *laddr, size_t len,
		    uint32_t lkey, uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = { (uintptr_t)laddr, (uint32_t)len, lkey };
	struct ibv_send_wr wr;

	memset(&wr, 0, sizeof(wr));
	wr.opcode = op;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	return run_wr(k, &wr);
}

/* The MR through which stripe data is addressed this time, and its iova. */
static struct ibv_mr *pick_mr(struct worker *k, size_t s, size_t off, uint64_t *iova)
{
	struct ibv_mr *mr = odp_mr;

	if (imp_mr && (rnd(&k->rng) & 1))
		mr = imp_mr;
	/* both MRs are addressed by user address (reg_mr's iova is addr) */
	*iova = (uintptr_t)data_of(s) + off;
	return mr;
}

/*
 * Traffic on a read-only stripe S (its lock held): an RDMA READ through the
 * read-only ODP MR returns the data; an RDMA WRITE through a writable ODP
 * MR, whose faults ask for write access, completes with
 * IBV_WC_REM_ACCESS_ERR (and takes the QPs to the error state), and the
 * data stays as it was.
 */
static void readonly_op(struct worker *k, size_t s)
{
	size_t dl = data_len(), off = rnd(&k->rng) % dl, len = 1 + rnd(&k->rng) % (dl - off);
	struct stripe *x = &st[s];
	struct ibv_mr *mr;
	uint64_t iova;
	int ret;

	memset(k->dst, 0x5a, len);
	ret = run_rdma(k, IBV_WR_RDMA_READ, k->dst, len, k->dst_mr->lkey,
		       (uintptr_t)data_of(s) + off, ro_mr->rkey);
	k->ops[O_READ]++;
	if (ret) {
		atomic_fetch_add(&ro_errors, 1);
		report_error(k->id, "rdma read of a read-only stripe", ret);
		if (mkpair(k))
			tap_bail("cannot make new QPs: %s", strerror(errno));
		return;
	}
	atomic_fetch_add(&ro_reads, 1);
	check("rdma read of a read-only stripe", k->id, k->dst, s, x->gen, off, len,
	      &read_mismatches);

	fill(k->src, s, x->gen + 1, 0, dl);
	mr = pick_mr(k, s, 0, &iova);
	ret = run_rdma(k, IBV_WR_RDMA_WRITE, k->src, dl, k->src_mr->lkey, iova, mr->rkey);
	k->ops[O_WRITE]++;
	if (ret == IBV_WC_REM_ACCESS_ERR) {
		atomic_fetch_add(&ro_refused, 1);
	} else {
		atomic_fetch_add(&ro_bad, 1);
		pthread_mutex_lock(&report_lock);
		if (atomic_load(&ro_bad) <= 20)
			tap_diag("RDMA WRITE to read-only stripe %zu (%s MR): status %d %s, want IBV_WC_REM_ACCESS_ERR",
				 s, mr == imp_mr ? "implicit" : "explicit", ret, run_status(ret));
		pthread_mutex_unlock(&report_lock);
	}
	if (ret && mkpair(k))
		tap_bail("cannot make new QPs: %s", strerror(errno));
	check("read-only stripe after a refused write", k->id, data_of(s), s, x->gen, 0, dl,
	      &cpu_mismatches);
}

static void traffic_op(struct worker *k)
{
	size_t s = rnd(&k->rng) % nstripes, dl = data_len();
	unsigned long hint = atomic_load(&ro_hint);
	struct stripe *x;

	/* every other op goes to a read-only stripe while there is one */
	if (hint && (rnd(&k->rng) & 1))
		s = hint - 1;
	x = &st[s];
	size_t off = rnd(&k->rng) % dl, len = 1 + rnd(&k->rng) % (dl - off);
	int op = (int)(1 + rnd(&k->rng) % (O_NR - 1 - !has_atomic));
	struct ibv_sge sge, rsge;
	struct ibv_send_wr wr;
	struct ibv_mr *mr;
	uint64_t iova;
	int ret;

	pthread_mutex_lock(&x->lock);
	if (x->ro) {
		readonly_op(k, s);
		pthread_mutex_unlock(&x->lock);
		return;
	}

	/* 1: read a random part back by RDMA READ: stale pages show here */
	mr = pick_mr(k, s, off, &iova);
	memset(k->dst, 0x5a, len);
	ret = run_rdma(k, IBV_WR_RDMA_READ, k->dst, len, k->dst_mr->lkey, iova, mr->rkey);
	k->ops[O_READ]++;
	if (ret) {
		report_error(k->id, "rdma read", ret);
		goto recover;
	}
	check("rdma read", k->id, k->dst, s, x->gen, off, len, &read_mismatches);
	k->bytes += len;

	/* 2: change it (or read it through another path) */
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	switch (op) {
	case O_WRITE:
		fill(k->src, s, x->gen + 1, 0, dl);
		mr = pick_mr(k, s, 0, &iova);
		ret = run_rdma(k, IBV_WR_RDMA_WRITE, k->src, dl, k->src_mr->lkey, iova, mr->rkey);
		break;
	case O_SEND:
		fill(k->src, s, x->gen + 1, 0, dl);
		/* the receive buffer is the stripe */
		rsge = (struct ibv_sge){ (uintptr_t)data_of(s), (uint32_t)dl, odp_mr->lkey };
		sge = (struct ibv_sge){ (uintptr_t)k->src, (uint32_t)dl, k->src_mr->lkey };
		ret = vu_sendrecv(&k->a, &k->b, &sge, &rsge, OP_SECS);
		break;
	case O_READ_INTO:
		/* the stripe is the local buffer of a read from pinned memory */
		fill(k->src, s, x->gen + 1, 0, dl);
		sge = (struct ibv_sge){ (uintptr_t)data_of(s), (uint32_t)dl,
					(imp_mr && (rnd(&k->rng) & 1)) ? imp_mr->lkey : odp_mr->lkey };
		wr.opcode = IBV_WR_RDMA_READ;
		wr.wr.rdma.remote_addr = (uintptr_t)k->src;
		wr.wr.rdma.rkey = k->src_mr->rkey;
		ret = run_wr(k, &wr);
		break;
	case O_WRITE_FROM:
		/* the stripe is the local source of a write to pinned memory */
		memset(k->dst, 0x5a, dl);
		sge = (struct ibv_sge){ (uintptr_t)data_of(s), (uint32_t)dl,
					(imp_mr && (rnd(&k->rng) & 1)) ? imp_mr->lkey : odp_mr->lkey };
		wr.opcode = IBV_WR_RDMA_WRITE;
		wr.wr.rdma.remote_addr = (uintptr_t)k->dst;
		wr.wr.rdma.rkey = k->dst_mr->rkey;
		ret = run_wr(k, &wr);
		if (!ret) {
			check("write from odp", k->id, k->dst, s, x->gen, 0, dl, &read_mismatches);
			k->bytes += dl;
		}
		k->ops[op]++;
		goto out;
	case O_CPU:
		fill(data_of(s), s, x->gen + 1, 0, dl);
		ret = 0;
		break;
	case O_ATOMIC: {
		uint64_t add = 1 + rnd(&k->rng) % 1000;

		mr = pick_mr(k, s, 0, &iova);
		iova -= CTR;	/* the counter, at the start of the stripe */
		sge = (struct ibv_sge){ (uintptr_t)k->atom, 8, k->atom_mr->lkey };
		wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
		wr.wr.atomic.remote_addr = iova;
		wr.wr.atomic.compare_add = add;
		wr.wr.atomic.rkey = mr->rkey;
		*k->atom = ~0ull;
		ret = run_wr(k, &wr);
		if (!ret && *k->atom != x->counter) {
			atomic_fetch_add(&atomic_bad, 1);
			atomic_fetch_add(&mismatches, 1);
			tap_diag("MISMATCH fetch-and-add stripe %zu: old value %llu, want %llu",
				 s, (unsigned long long)*k->atom, (unsigned long long)x->counter);
		}
		if (!ret) {
			x->counter += add;
			wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
			wr.wr.atomic.compare_add = x->counter;
			wr.wr.atomic.swap = x->counter * 3 + 1;
			*k->atom = ~0ull;
			ret = run_wr(k, &wr);
			if (!ret && *k->atom != x->counter) {
				atomic_fetch_add(&atomic_bad, 1);
				atomic_fetch_add(&mismatches, 1);
				tap_diag("MISMATCH compare-and-swap stripe %zu: old value %llu, want %llu",
					 s, (unsigned long long)*k->atom,
					 (unsigned long long)x->counter);
			}
			if (!ret)
				x->counter = x->counter * 3 + 1;
		}
		if (!ret && *(volatile uint64_t *)(data_of(s) - CTR) != x->counter) {
			atomic_fetch_add(&atomic_bad, 1);
			atomic_fetch_add(&mismatches, 1);
			tap_diag("MISMATCH counter of stripe %zu as the CPU sees it: %llu, want %llu",
				 s, (unsigned long long)*(volatile uint64_t *)(data_of(s) - CTR),
				 (unsigned long long)x->counter);
			x->counter = *(volatile uint64_t *)(data_of(s) - CTR);
		}
		k->ops[op]++;
		if (ret) {
			report_error(k->id, "atomic", ret);
			goto recover;
		}
		goto out;
	}
	}
	k->ops[op]++;
	if (ret) {
		report_error(k->id, oname[op], ret);
		goto recover;
	}
	/* 3: what the process sees must be the new generation */
	x->gen++;
	check(oname[op], k->id, data_of(s), s, x->gen, 0, dl, &cpu_mismatches);
	k->bytes += dl;
out:
	pthread_mutex_unlock(&x->lock);
	return;

recover:
	/*
	 * The QPs are in the error state.  Resynchronize the model with what
	 * the CPU sees, so that one error does not count as many mismatches,
	 * and make new QPs.
	 */
	x->gen = 0;
	memset(data_of(s), 0, dl);
	x->counter = *(volatile uint64_t *)(data_of(s) - CTR);
	if (mkpair(k))
		tap_bail("cannot make new QPs: %s", strerror(errno));
	pthread_mutex_unlock(&x->lock);
}

static void *traffic(void *arg)
{
	struct worker *k = arg;

	while (!atomic_load(&stop))
		traffic_op(k);
	return NULL;
}

static long sys_move_pages(void **pages, const int *nodes, int *status, unsigned long n)
{
	return syscall(SYS_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE);
}

static long sys_mbind(void *p, size_t len, int mode, const unsigned long *mask,
		      unsigned long maxnode, unsigned int flags)
{
	return syscall(SYS_mbind, p, len, mode, mask, maxnode, flags);
}

static int mutate(uint64_t *rng, int m)
{
	size_t s = rnd(rng) % nstripes, dl = data_len();
	char *p = region + s * stripe_sz;
	struct stripe *x = &st[s];
	int ret = 0;

	switch (m) {
	case M_DONTNEED:
		pthread_mutex_lock(&x->lock);
		ret = madvise(p, stripe_sz, MADV_DONTNEED);
		if (!ret)
			x->gen = x->counter = 0;
		pthread_mutex_unlock(&x->lock);
		break;
	case M_REMAP:
		/* not in the thp mutator's 2 MiB: a new VMA there cannot be collapsed */
		if ((mutators & (1u << M_THP)) && region_sz >= 2 * HPAGE &&
		    s < HPAGE / stripe_sz) {
			s += HPAGE / stripe_sz;
			p = region + s * stripe_sz;
			x = &st[s];
		}
		pthread_mutex_lock(&x->lock);
		/* a read-only stripe stays read-only */
		if (munmap(p, stripe_sz) ||
		    mmap(p, stripe_sz, x->ro ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
			tap_bail("munmap + mmap MAP_FIXED of stripe %zu: %s", s, strerror(errno));
		madvise(p, stripe_sz, MADV_NOHUGEPAGE);
		x->gen = x->counter = 0;
		pthread_mutex_unlock(&x->lock);
		break;
	case M_MREMAP:
		pthread_mutex_lock(&x->lock);
		if (mremap(p, stripe_sz, stripe_sz, MREMAP_MAYMOVE | MREMAP_FIXED, spare) != spare ||
		    mremap(spare, stripe_sz, stripe_sz, MREMAP_MAYMOVE | MREMAP_FIXED, p) != p)
			tap_bail("mremap of stripe %zu away and back: %s", s, strerror(errno));
		/* mremap leaves the spare range unmapped: map it again */
		if (mmap(spare, stripe_sz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) != spare)
			tap_bail("mmap spare: %s", strerror(errno));
		pthread_mutex_unlock(&x->lock);
		break;
	case M_MPROTECT: {
		/*
		 * Read-only and unlocked until the traffic has been on it
		 * twice (it is pointed there), or for 200 ms at most.
		 */
		unsigned long met = atomic_load(&ro_reads) + atomic_load(&ro_errors);
		double until = vu_now() + 0.2;

		pthread_mutex_lock(&x->lock);
		x->ro = 1;
		if (mprotect(p, stripe_sz, PROT_READ))
			tap_bail("mprotect of stripe %zu read-only: %s", s, strerror(errno));
		check("read-only stripe", -1, data_of(s), s, x->gen, 0, dl, &cpu_mismatches);
		pthread_mutex_unlock(&x->lock);
		atomic_store(&ro_hint, s + 1);
		while (atomic_load(&ro_reads) + atomic_load(&ro_errors) < met + 2 &&
		       vu_now() < until && !atomic_load(&stop))
			usleep(1000);
		atomic_store(&ro_hint, 0);
		pthread_mutex_lock(&x->lock);
		if (mprotect(p, stripe_sz, PROT_READ | PROT_WRITE))
			tap_bail("mprotect of stripe %zu back: %s", s, strerror(errno));
		x->ro = 0;
		pthread_mutex_unlock(&x->lock);
		break;
	}
	case M_FORK: {
		pid_t pid = fork();
		int wst;

		if (pid < 0)
			return -1;
		if (!pid) {
			/*
			 * The child writes some pages: copy-on-write on its side.
			 * Not a read-only stripe: fork() copied the flag after
			 * the mprotect() it was set for.
			 */
			size_t i;

			for (i = 0; i < nstripes; i += 7)
				if (!st[i].ro)
					region[i * stripe_sz + CTR + 1] ^= 1;
			_exit(0);
		}
		if (waitpid(pid, &wst, 0) != pid || !WIFEXITED(wst) || WEXITSTATUS(wst))
			return -1;
		break;
	}
	case M_MIGRATE: {
		void *pages[64];
		int nodes[64], status[64];
		size_t i, n = stripe_pages < 64 ? stripe_pages : 64;

		size_t moved = 0;

		if (nnodes < 2)
			return -1;
		for (i = 0; i < n; i++)
			pages[i] = p + i * PAGE;
		/* where each page is now (nodes NULL: query only) */
		if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0))
			return -1;
		for (i = 0; i < n; i++)
			nodes[i] = status[i] >= 0 ? (status[i] + 1 + (int)(rnd(rng) %
				   (uint64_t)(nnodes - 1))) % nnodes : 0;
		ret = (int)sys_move_pages(pages, nodes, status, n);
		/*
		 * move_pages() returns 0 even if no page moved: count the pages
		 * now on their new node (a page not present is not moved)
		 */
		for (i = 0; !ret && i < n; i++)
			moved += status[i] == nodes[i];
		if (!ret && !moved)
			ret = -1;
		break;
	}
	case M_MBIND: {
		unsigned long mask = 1ul << (rnd(rng) % (uint64_t)(nnodes ? nnodes : 1));

		if (nnodes < 2)
			return -1;
		ret = (int)sys_mbind(p, stripe_sz, MPOL_BIND, &mask, 64, MPOL_MF_MOVE);
		if (!ret)
			ret = (int)sys_mbind(p, stripe_sz, MPOL_DEFAULT, NULL, 0, 0);
		break;
	}
	case M_THP:
		/*
		 * A huge page under the traffic: collapse the first 2 MiB (the
		 * region is aligned) into one, which copies every page of it;
		 * MADV_DONTNEED, remap and mprotect of a stripe split it again.
		 */
		if (region_sz < HPAGE)
			return -1;
		if (madvise(region, HPAGE, MADV_HUGEPAGE))
			return -1;
		ret = madvise(region, HPAGE, MADV_COLLAPSE);
		break;
	case M_COMPACT: {
		int fd = open("/proc/sys/vm/compact_memory", O_WRONLY);

		if (fd < 0)
			return -1;
		ret = write(fd, "1", 1) == 1 ? 0 : -1;
		close(fd);
		break;
	}
	}
	return ret;
}

/*
 * Rounds in which each selected mutator runs once, in a random order: a
 * slow guest that manages a few mutations a second still runs them all.
 */
static void *mutator(void *arg)
{
	uint64_t rng = mix(seed ^ 0xabcdefull ^ (uintptr_t)arg);
	double next_slow[M_NR] = { 0 }, t0;
	int order[M_NR], n = 0, next = 0, i, j, m;

	while (!atomic_load(&stop)) {
		if (next == n) {
			for (n = 0, m = 0; m < M_NR; m++)
				if (mutators & (1u << m))
					order[n++] = m;
			for (i = n - 1; i > 0; i--) {
				j = (int)(rnd(&rng) % (uint64_t)(i + 1));
				m = order[i];
				order[i] = order[j];
				order[j] = m;
			}
			next = 0;
		}
		m = order[next++];
		/*
		 * A full compaction pass or a collapse is slow, and slower on a
		 * fragmented guest: at most one a second, and at most a quarter
		 * of the time (the first of each always runs).
		 */
		if ((m == M_COMPACT || m == M_THP) && vu_now() < next_slow[m])
			continue;
		t0 = vu_now();
		if (mutate(&rng, m))
			atomic_fetch_add(&mut_failed[m], 1);
		else
			atomic_fetch_add(&mut_done[m], 1);
		if (m == M_COMPACT || m == M_THP) {
			double took = vu_now() - t0;

			next_slow[m] = vu_now() + (3 * took > 1 ? 3 * took : 1);
		}
		usleep(rnd(&rng) % 2000);
	}
	return NULL;
}

static int count_nodes(void)
{
	char path[64];
	int n = 0;

	for (;;) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK))
			return n;
		n++;
	}
}

static unsigned int parse_mutators(const char *s)
{
	unsigned int m = 0;
	char *dup = strdup(s), *tok, *save = NULL;
	int i;

	if (!strcmp(s, "all"))
		return (1u << M_NR) - 1;
	if (!strcmp(s, "none"))
		return 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < M_NR; i++)
			if (!strcmp(tok, mname[i]))
				break;
		if (i == M_NR) {
			fprintf(stderr, "odp_storm: unknown mutator '%s'\n", tok);
			exit(2);
		}
		m |= 1u << i;
	}
	free(dup);
	return m;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: odp_storm [-d DEV] [-g GID] [--seconds S] [--seed N] [--threads T]\n"
		"                 [--mutators all|none|LIST] [--stripes N] [--stripe-pages N]\n"
		"                 [--no-implicit] [--prefill]\n"
		"LIST: comma-separated of dontneed,remap,mremap,mprotect,fork,migrate,mbind,compact,thp\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", 1, NULL, 's' }, { "seed", 1, NULL, 'S' },
		{ "threads", 1, NULL, 't' }, { "mutators", 1, NULL, 'm' },
		{ "stripes", 1, NULL, 'n' }, { "stripe-pages", 1, NULL, 'p' },
		{ "no-implicit", 0, NULL, 'I' }, { "prefill", 0, NULL, 'P' },
		{ "help", 0, NULL, 'h' }, { 0 }
	};
	long long f0, f1, i0, i1, p0, p1, r0, r1;
	unsigned long tot_ops[O_NR] = { 0 }, all_ops = 0, mut_all = 0;
	unsigned long long bytes = 0;
	struct worker w[MAXT];
	const char *dev = NULL;
	pthread_t mt;
	uint64_t gen_caps;
	uint32_t rc_caps;
	size_t i;
	int o, j, missing = 0;
	double t0;

	while ((o = getopt_long(argc, argv, "d:g:h", lo, NULL)) != -1) {
		switch (o) {
		case 'd': dev = optarg; break;
		case 'g': setenv("RXE_GID_INDEX", optarg, 1); break;
		case 's': seconds = atof(optarg); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 't': nthreads = atoi(optarg); break;
		case 'm': mutators = parse_mutators(optarg); break;
		case 'n': nstripes = strtoul(optarg, NULL, 0); break;
		case 'p': stripe_pages = strtoul(optarg, NULL, 0); break;
		case 'I': use_implicit = 0; break;
		case 'P': prefill = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (nthreads < 1 || nthreads > MAXT || !nstripes || !stripe_pages || seconds <= 0) {
		usage(stderr);
		return 2;
	}
	stripe_sz = stripe_pages * PAGE;
	region_sz = nstripes * stripe_sz;

	tap_plan(NTESTS);
	tap_diag("seed %llu, %.0f s, %d traffic thread(s), %zu stripes of %zu pages",
		 seed, seconds, nthreads, nstripes, stripe_pages);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV)) {
		tap_skip_rest(NTESTS, "no RC ODP with write, read, send, receive", "odp storm");
		return tap_exit_status();
	}
	vu_odp_caps(c.ctx, &gen_caps, &rc_caps);
	has_atomic = !!(rc_caps & IBV_ODP_SUPPORT_ATOMIC);
	if (!has_atomic)
		tap_diag("no ODP atomics: no atomic operations");
	nnodes = count_nodes();

	/* aligned to a huge page, for the thp mutator */
	region = mmap(NULL, region_sz + HPAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region != MAP_FAILED)
		region = (char *)(((uintptr_t)region + HPAGE - 1) & ~(HPAGE - 1));
	spare = mmap(NULL, stripe_sz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	st = calloc(nstripes, sizeof(*st));
	if (region == MAP_FAILED || spare == MAP_FAILED || !st)
		tap_bail("memory: %s", strerror(errno));
	/* small pages only: the stripes are split and remapped one by one */
	madvise(region, region_sz, MADV_NOHUGEPAGE);
	for (i = 0; i < nstripes; i++)
		pthread_mutex_init(&st[i].lock, NULL);

	odp_mr = ibv_reg_mr(c.pd, region, region_sz, ACC | IBV_ACCESS_ON_DEMAND);
	ro_mr = ibv_reg_mr(c.pd, region, region_sz,
			   IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	if (use_implicit && (gen_caps & IBV_ODP_SUPPORT_IMPLICIT))
		imp_mr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, ACC | IBV_ACCESS_ON_DEMAND);
	tap_ok(odp_mr && (!use_implicit || !(gen_caps & IBV_ODP_SUPPORT_IMPLICIT) || imp_mr),
	       "ODP MR over %zu KiB%s registered", region_sz >> 10,
	       imp_mr ? " and an implicit ODP MR" : "");
	if (!odp_mr || !ro_mr)
		tap_bail("ibv_reg_mr ODP: %s", strerror(errno));

	memset(w, 0, sizeof(w));
	for (j = 0; j < nthreads; j++) {
		struct worker *k = &w[j];

		k->id = j;
		k->rng = mix(seed + 1000003ull * (j + 1));
		k->src = aligned_alloc(PAGE, stripe_sz);
		k->dst = aligned_alloc(PAGE, stripe_sz);
		k->atom = aligned_alloc(PAGE, PAGE);
		if (!k->src || !k->dst || !k->atom)
			tap_bail("malloc");
		k->src_mr = ibv_reg_mr(c.pd, k->src, stripe_sz, ACC);
		k->dst_mr = ibv_reg_mr(c.pd, k->dst, stripe_sz, ACC);
		k->atom_mr = ibv_reg_mr(c.pd, k->atom, PAGE, ACC);
		if (!k->src_mr || !k->dst_mr || !k->atom_mr || mkpair(k))
			tap_bail("thread %d: MRs or QPs: %s", j, strerror(errno));
	}

	if (prefill)
		for (i = 0; i < nstripes; i++) {
			st[i].gen = 1;
			fill(data_of(i), i, 1, 0, data_len());
		}

	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	i0 = vu_hw_counter(c.ctx, "odp_invalidations");
	p0 = vu_hw_counter(c.ctx, "odp_pages_invalidated");
	r0 = vu_hw_counter(c.ctx, "odp_rnr_naks");
	t0 = vu_now();
	for (j = 0; j < nthreads; j++)
		if (pthread_create(&w[j].tid, NULL, traffic, &w[j]))
			tap_bail("pthread_create");
	if (mutators && pthread_create(&mt, NULL, mutator, (void *)1))
		tap_bail("pthread_create");
	while (vu_now() < t0 + seconds)
		usleep(100000);
	atomic_store(&stop, 1);
	for (j = 0; j < nthreads; j++)
		pthread_join(w[j].tid, NULL);
	if (mutators)
		pthread_join(mt, NULL);
	t0 = vu_now() - t0;
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	i1 = vu_hw_counter(c.ctx, "odp_invalidations");
	p1 = vu_hw_counter(c.ctx, "odp_pages_invalidated");
	r1 = vu_hw_counter(c.ctx, "odp_rnr_naks");

	for (j = 0; j < nthreads; j++) {
		for (o = 0; o < O_NR; o++) {
			tot_ops[o] += w[j].ops[o];
			all_ops += w[j].ops[o];
		}
		bytes += w[j].bytes;
	}
	for (o = 0; o < M_NR; o++)
		mut_all += atomic_load(&mut_done[o]);

	tap_ok(!atomic_load(&read_mismatches),
	       "RDMA reads of ODP memory return what the process wrote (%lu mismatches)",
	       atomic_load(&read_mismatches));
	tap_ok(!atomic_load(&cpu_mismatches),
	       "the process sees every RDMA write, send and read into ODP memory (%lu mismatches)",
	       atomic_load(&cpu_mismatches));
	if (has_atomic)
		tap_ok(!atomic_load(&atomic_bad) && tot_ops[O_ATOMIC],
		       "atomics on ODP memory are exact (%lu operations, %lu mismatches)",
		       tot_ops[O_ATOMIC], atomic_load(&atomic_bad));
	else
		tap_skip("no ODP atomics", "atomics on ODP memory are exact");
	tap_ok(!atomic_load(&errors), "no error completion or timeout (%lu)", atomic_load(&errors));
	tap_ok(all_ops > 0 && tot_ops[O_READ] > 0, "traffic ran: %lu operations", all_ops);
	if (!mutators)
		tap_skip("--mutators none", "invalidations seen");
	else
		tap_ok(i1 > i0 && f1 > f0,
		       "the mutators made invalidations under the traffic (%lld invalidations, %lld faults)",
		       i1 - i0, f1 - f0);
	for (o = 0; o < M_NR; o++) {
		if (!(mutators & (1u << o)))
			continue;
		if ((o == M_MIGRATE || o == M_MBIND) && nnodes < 2)
			continue;	/* reported below */
		if (o == M_THP && region_sz < HPAGE)
			continue;	/* reported below */
		if (!atomic_load(&mut_done[o])) {
			missing++;
			tap_diag("mutator %s never succeeded (%lu failures)", mname[o],
				 atomic_load(&mut_failed[o]));
		}
	}
	if (!(mutators & (1u << M_MPROTECT)))
		tap_skip("no mprotect mutator", "traffic on read-only stripes");
	else
		tap_ok(!atomic_load(&ro_bad) && atomic_load(&ro_reads) && atomic_load(&ro_refused),
		       "traffic met read-only stripes: %lu RDMA reads through a read-only ODP MR, "
		       "%lu RDMA writes refused with IBV_WC_REM_ACCESS_ERR, %lu other outcomes",
		       atomic_load(&ro_reads), atomic_load(&ro_refused), atomic_load(&ro_bad));
	if (!mutators)
		tap_skip("--mutators none", "every mutator ran");
	else
		tap_ok(!missing, "every mutator ran at least once (%lu mutations%s%s)", mut_all,
		       nnodes < 2 ? "; one NUMA node: no migration" : "",
		       region_sz < HPAGE ? "; region under 2 MiB: no thp" : "");

	printf("# storm-figures {\"seconds\":%.1f,\"seed\":%llu,\"operations\":%lu,"
	       "\"bytes_verified\":%llu,\"mismatches\":%lu,\"errors\":%lu,\"mutations\":%lu,"
	       "\"page_faults\":%lld,\"invalidations\":%lld,\"pages_invalidated\":%lld,"
	       "\"rnr_naks\":%lld,\"numa_nodes\":%d,\"ops\":{",
	       t0, seed, all_ops, bytes, atomic_load(&mismatches), atomic_load(&errors), mut_all,
	       f1 - f0, i1 - i0, p1 - p0, r1 - r0, nnodes);
	for (o = 0; o < O_NR; o++)
		printf("%s\"%s\":%lu", o ? "," : "", oname[o], tot_ops[o]);
	printf("},\"readonly\":{\"reads\":%lu,\"writes_refused\":%lu,\"other\":%lu}",
	       atomic_load(&ro_reads), atomic_load(&ro_refused), atomic_load(&ro_bad));
	printf(",\"mutators\":{");
	for (o = 0; o < M_NR; o++)
		printf("%s\"%s\":[%lu,%lu]", o ? "," : "", mname[o], atomic_load(&mut_done[o]),
		       atomic_load(&mut_failed[o]));
	printf("}}\n");
	fflush(stdout);

	for (j = 0; j < nthreads; j++) {
		vu_qp_destroy(&w[j].a);
		vu_qp_destroy(&w[j].b);
		ibv_dereg_mr(w[j].src_mr);
		ibv_dereg_mr(w[j].dst_mr);
		ibv_dereg_mr(w[j].atom_mr);
	}
	if (imp_mr)
		ibv_dereg_mr(imp_mr);
	ibv_dereg_mr(ro_mr);
	ibv_dereg_mr(odp_mr);
	return tap_exit_status();
}
