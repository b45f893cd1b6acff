#define _GNU_SOURCE  /* program_invocation_short_name */
/*
 * GDCM as Debian builds it keeps its internal assert()s, and some valid or corrupt files
 * trip them: an abort() would end the host. This definition of glibc's __assert_fail takes
 * precedence over glibc's for the GDCM libraries (the executable's symbols come first); while
 * a GDCM call runs under smia_dicom_trap_assertions, a failed assertion jumps back to that
 * call (dicom.cpp), which reports it as an error. Anywhere else it behaves as glibc's: the
 * message on stderr, then abort().
 */
#include "assertion_trap.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local sigjmp_buf *trap;
static _Thread_local char message[512];

void smia_dicom_trap_assertions(sigjmp_buf *target) {
    trap = target;
}

const char *smia_dicom_trapped_assertion(void) {
    return message;
}

void __assert_fail(const char *assertion, const char *file, unsigned int line, const char *function) {
    if (trap != NULL) {
        sigjmp_buf *target = trap;
        trap = NULL;
        snprintf(message, sizeof message, "%s (%s:%u)", assertion, file, line);
        siglongjmp(*target, 1);
    }
    fprintf(stderr, "%s: %s:%u: %s%sAssertion `%s' failed.\n", program_invocation_short_name, file, line,
            function ? function : "", function ? ": " : "", assertion);
    fflush(stderr);
    abort();
}
