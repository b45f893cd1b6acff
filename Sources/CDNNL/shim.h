#include <dnnl.h>

/* Debian's libdnnl runs its threads on OpenMP (libgomp); omp.h is not on Swift's include path,
   so the one call the engine needs is declared here. */
void omp_set_num_threads(int num_threads);
