/*
 * A small thread pool, and batches of lines to hand to it.  Tasks run in
 * submission order (FIFO), which the programs rely on: a task that waits
 * for an earlier one of the same stream never waits for one still queued.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refill.h"

#define MAX_THREADS 8

struct rf_pool {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	rf_task *head, *tail;
	bool closing;
	int n;
	pthread_t th[MAX_THREADS];
};

static void *
loop(void *arg)
{
	rf_pool *p = arg;

	for (;;) {
		rf_task *t;

		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->closing)
			pthread_cond_wait(&p->work, &p->mu);
		if ((t = p->head) == NULL) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		if ((p->head = t->next) == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);

		t->fn(t);

		pthread_mutex_lock(&p->mu);
		t->done = true;
		pthread_cond_broadcast(&p->done);
		pthread_mutex_unlock(&p->mu);
	}
	rf_json_thread_free();
	return NULL;
}

int
rf_pool_new(int n, rf_pool **out, rf_err *e)
{
	rf_pool *p = calloc(1, sizeof *p);

	if (p == NULL)
		return rf_seterr(e, RF_ENOMEM, "out of memory");
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c < 1 ? 1 : (int)c;
	}
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	for (int i = 0; i < n; i++) {
		if (pthread_create(&p->th[i], NULL, loop, p) != 0)
			break;
		p->n++;
	}
	if (p->n == 0) {
		rf_pool_free(p);
		return rf_seterr(e, RF_EIO, "cannot start a thread");
	}
	*out = p;
	return 0;
}

int
rf_pool_size(const rf_pool *p)
{
	return p->n;
}

void
rf_pool_submit(rf_pool *p, rf_task *t)
{
	t->done = false;
	t->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->tail != NULL)
		p->tail->next = t;
	else
		p->head = t;
	p->tail = t;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

void
rf_pool_wait(rf_pool *p, rf_task *t)
{
	pthread_mutex_lock(&p->mu);
	while (!t->done)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void
rf_pool_free(rf_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p);
}

int
rf_batch_line_add(rf_batch *b, size_t off, size_t len, uint64_t lineno)
{
	if (b->n == b->cap) {
		size_t nc = b->cap ? 2 * b->cap : 1024;
		rf_batch_line *nl = realloc(b->line, nc * sizeof *nl);
		if (nl == NULL)
			return RF_ENOMEM;
		b->line = nl;
		b->cap = nc;
	}
	b->line[b->n].off = off;
	b->line[b->n].len = len;
	b->line[b->n].lineno = lineno;
	b->n++;
	return 0;
}

void
rf_batch_clear(rf_batch *b)
{
	b->text.len = 0;
	b->n = 0;
}

void
rf_batch_free(rf_batch *b)
{
	rf_buf_free(&b->text);
	free(b->line);
	b->line = NULL;
	b->n = b->cap = 0;
}
