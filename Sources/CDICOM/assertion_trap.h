/* Internal to CDICOM: see assertion_trap.c. */
#ifndef SMIA_ASSERTION_TRAP_H
#define SMIA_ASSERTION_TRAP_H

#include <setjmp.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Failed assertions on this thread jump to `target` (sigsetjmp'd by the caller); NULL ends it. */
void smia_dicom_trap_assertions(sigjmp_buf *target);
/* The last trapped assertion: its expression, file and line. */
const char *smia_dicom_trapped_assertion(void);

#ifdef __cplusplus
}
#endif

#endif
