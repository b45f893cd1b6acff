/* Internal to CDICOM: see codestream_checks.cpp. */
#ifndef SMIA_CODESTREAM_CHECKS_H
#define SMIA_CODESTREAM_CHECKS_H

#include <stddef.h>
#include <stdint.h>

/* An RLE fragment's 64-byte header has 1 to 15 segments, the first at byte 64. */
bool smia_rle_header_is_sound(const uint8_t *bytes, size_t size);

/* GDCM's scan of a JPEG 2000 code stream (or JP2 file) for its lossless flag stays inside it. */
bool smia_jpeg2000_scan_is_safe(const uint8_t *bytes, size_t size);

/*
 * GDCM copies a decoded JPEG 2000 image into a buffer sized from the DICOM attributes, with
 * the code stream's own sizes: they must agree. True when the code stream's SIZ segment gives
 * `columns` x `rows`, `samples` components at full resolution, each of a precision that needs
 * `bytes_per_sample` bytes.
 */
bool smia_jpeg2000_matches(const uint8_t *bytes, size_t size, uint32_t columns, uint32_t rows, uint32_t samples,
                           uint32_t bytes_per_sample);

#endif
