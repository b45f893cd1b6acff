#include <dnnl.h>

/* Debian's libdnnl runs its threads on OpenMP (libgomp); omp.h is not on Swift's include path,
   so the one call the engine needs is declared here. */
void omp_set_num_threads(int num_threads);
/* libgomp's entry for a parallel region (what `#pragma omp parallel` compiles to): runs
   fn(data) on a team of num_threads threads, the caller's among them. */
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
