/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A start signal for a helper thread.  The stall tests make their threads
 * before the first fault blocks (a blocked fault holds the process's mmap
 * lock for reading, and making a thread needs it for writing) and let them
 * go later: gate_wait() in the thread, gate_open() to let it go.
 */
#ifndef GATE_H
#define GATE_H
#include <pthread.h>

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int open;
};

#define GATE_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 }

static inline void gate_wait(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static inline void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}
#endif
