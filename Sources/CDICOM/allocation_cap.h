/* Internal to CDICOM: see allocation_cap.cpp. */
#ifndef SMIA_ALLOCATION_CAP_H
#define SMIA_ALLOCATION_CAP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* While nonzero, a C++ allocation larger than `bytes` on this thread throws std::bad_alloc. */
void smia_dicom_cap_allocations(size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
