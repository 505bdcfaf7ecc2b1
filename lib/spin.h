/*
 * spin.h - a short bounded spin before sleeping on a condition variable.
 *
 * A stepwise round trip is two hand-offs between threads; a futex wake-up
 * of a thread whose core went idle costs tens of microseconds (25 us on
 * this project's CI VM, measured in bench/pamkit-bench).  When the answer
 * comes within a few tens of microseconds (the other side is a thread
 * running a module step), waiting for it on the CPU is cheaper than
 * sleeping.  Only on machines with more than one CPU, and never longer
 * than the pool's spin budget (pk_pool_config.spin_us, 50 us by default):
 * a slow answer still sleeps after that.  Where the answer comes from the
 * network (a transaction whose pk_fd is in use) the conversation does not
 * spin at all, and an idle worker never spins (a running thread makes the
 * caller's pam_start/pam_end slower than the wake-up it would save).
 * glibc's adaptive mutexes spin the same way.
 */
#ifndef PAMKIT_SPIN_H
#define PAMKIT_SPIN_H

#include <stdbool.h>
#include <sched.h>
#include <time.h>


/* The spin budget in ns (pk_pool_config.spin_us); 0 on one CPU. */
long pk__spin_ns(void);

static inline long long pk__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void pk__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Spin until done(arg) or the budget passed; true when done.  Call it
   without holding the lock done() reads through atomics. */
static inline bool pk__spin_until(bool (*done)(const void *), const void *arg)
{
	long budget = pk__spin_ns();

	if (budget <= 0)
		return done(arg);
	long long end = pk__now_ns() + budget;
	for (unsigned int i = 0;; i++) {
		if (done(arg))
			return true;
		pk__cpu_relax();
		if ((i & 63) == 63) {
			if (pk__now_ns() >= end)
				return done(arg);
			/* The thread we wait for may share this CPU. */
			sched_yield();
		}
	}
}

#endif
