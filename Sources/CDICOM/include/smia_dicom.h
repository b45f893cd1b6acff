/*
 * DICOM files through GDCM (Debian's libgdcm-dev), as plain C for Swift.
 *
 * GDCM is C++: every call here catches every C++ exception (and turns GDCM's internal
 * assertion failures into errors, see dicom.cpp) and reports it as a message in the caller's
 * buffer, so nothing unwinds into Swift. Functions that can fail return 0 on success and -1 on
 * failure, with a NUL-terminated message in `error` (at most `error_size` bytes).
 *
 * Use: smia_dicom_open on the file's bytes, then smia_dicom_get_info to learn the sizes, check them and allocate,
 * then smia_dicom_decode into that buffer, then smia_dicom_close.
 */
#ifndef SMIA_DICOM_H
#define SMIA_DICOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A parsed file: its header and its (still encoded) pixel data. */
typedef struct smia_dicom_file smia_dicom_file;

typedef struct smia_dicom_info {
    uint32_t rows;
    uint32_t columns;
    uint32_t frames;               /* Number of Frames, 1 when absent */
    uint32_t samples_per_pixel;    /* 1 (gray or palette) or 3 (colour) */
    uint32_t bits_allocated;       /* bits per sample in the decoded buffer: 1, 8, 16, 32 or 64 */
    uint32_t bits_stored;
    int32_t is_signed;             /* Pixel Representation 1 */
    double slope;                  /* Rescale Slope, 1 when absent */
    double intercept;              /* Rescale Intercept, 0 when absent */
    int32_t has_window;            /* the file gives a VOI window (its first one is below) */
    double window_center;
    double window_width;
    char photometric[32];          /* MONOCHROME1, MONOCHROME2, RGB, YBR_FULL, PALETTE COLOR, ... */
    char transfer_syntax[80];      /* name of the transfer syntax, e.g. "JPEG 2000 Image Compression" */
    uint64_t decoded_bytes;        /* what smia_dicom_decode writes, as GDCM computes it */
} smia_dicom_info;

/*
 * Parses a whole DICOM file held in memory (`bytes` must stay valid until smia_dicom_close).
 * NULL on failure, with the reason in `error`.
 */
smia_dicom_file *smia_dicom_open(const void *bytes, size_t size, char *error, size_t error_size);

/* The file's image attributes. */
void smia_dicom_get_info(const smia_dicom_file *file, smia_dicom_info *info);

/*
 * Decodes every frame into `buffer`: samples interleaved per pixel (R, G, B, R, ...), frames one
 * after another, each sample in `bits_allocated` bits in the machine's byte order (bit-packed,
 * least significant bit first, for 1-bit data). `buffer_size` must be `decoded_bytes`.
 * YBR_FULL and YBR_FULL_422 data come out as GDCM decodes it: full-resolution Y, Cb, Cr.
 */
int smia_dicom_decode(smia_dicom_file *file, void *buffer, size_t buffer_size, char *error, size_t error_size);

void smia_dicom_close(smia_dicom_file *file);

#ifdef __cplusplus
}
#endif

#endif
