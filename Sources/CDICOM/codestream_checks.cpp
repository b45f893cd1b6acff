// Checks on compressed pixel data that GDCM 3.0.21 trusts and that fuzzing showed can make it
// read out of bounds (a crash): the segment count of an RLE header (it indexes a 15-entry
// table with it and divides by it), and the marker lengths its JPEG 2000 scan
// (parsej2k_imp / parsejp2_imp in gdcmJPEG2000Codec.cxx) steps over without checking them
// against what is left. The scans below walk the bytes exactly as GDCM does and say whether
// GDCM's walk would stay inside the buffer; dicom.cpp refuses the file when it would not.

#include "codestream_checks.h"

namespace {

uint32_t littleEndian32(const uint8_t *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// Markers without a length field (gdcmJPEG2000Codec.cxx, hasnolength).
bool hasNoLength(uint16_t marker) {
    return (marker >= 0xFF30 && marker <= 0xFF3F) || marker == 0xFF4F /* SOC */ || marker == 0xFF93 /* SOD */ ||
           marker == 0xFFD9 /* EOC */ || marker == 0xFF92 /* EPH */;
}

bool j2kScanIsSafe(const uint8_t *p, size_t size) {
    size_t pos = 0;
    while (size - pos >= 2) {
        uint16_t marker = uint16_t(p[pos] << 8 | p[pos + 1]);
        pos += 2;
        if (hasNoLength(marker)) {
            if (marker == 0xFF93) return true;  // SOD: the scan ends
            continue;
        }
        if (size - pos < 2) return true;
        uint16_t length = uint16_t(p[pos] << 8 | p[pos + 1]);
        pos += 2;
        if (length < 2) return true;
        size_t skip = size_t(length) - 2;
        if (marker == 0xFF52) {  // COD: GDCM reads its bytes 4 and 9 before anything else
            if (size - pos < 10) return false;
            uint8_t transform = p[pos + 4], wavelet = p[pos + 9];
            if (transform > 1 || wavelet != 1) return true;  // GDCM returns here
        }
        if (skip > size - pos) return false;  // GDCM's remaining size would wrap around
        pos += skip;
    }
    return true;
}

}  // namespace

bool smia_jpeg2000_matches(const uint8_t *p, size_t size, uint32_t columns, uint32_t rows, uint32_t samples,
                           uint32_t bytesPerSample) {
    auto be16 = [&](size_t at) { return uint32_t(p[at]) << 8 | p[at + 1]; };
    auto be32 = [&](size_t at) { return be16(at) << 16 | be16(at + 2); };
    size_t pos = 0;
    // A JP2 file: the code stream is the content of its 'jp2c' box.
    while (size - pos >= 8 && !(p[pos] == 0xFF && p[pos + 1] == 0x4F)) {
        uint64_t length = be32(pos);
        uint32_t box = be32(pos + 4);
        size_t header = 8;
        if (length == 1) {
            if (size - pos < 16) return false;
            length = uint64_t(be32(pos + 8)) << 32 | be32(pos + 12);
            header = 16;
        }
        if (box == 0x6A703263) {  // 'jp2c'
            pos += header;
            break;
        }
        if (length < header || length > size - pos) return false;
        pos += size_t(length);
    }
    // SOC, then SIZ: Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz {Ssiz XRsiz YRsiz}.
    if (size - pos < 4 + 38 || be16(pos) != 0xFF4F || be16(pos + 2) != 0xFF51) return false;
    size_t siz = pos + 4;
    uint32_t length = be16(siz), components = be16(siz + 36);
    if (length != 38 + 3 * components || size - siz < length) return false;
    uint32_t width = be32(siz + 4) - be32(siz + 12), height = be32(siz + 8) - be32(siz + 16);
    if (be32(siz + 4) < be32(siz + 12) || be32(siz + 8) < be32(siz + 16)) return false;
    if (width != columns || height != rows || components != samples) return false;
    for (uint32_t c = 0; c < components; c++) {
        size_t at = siz + 38 + 3 * c;
        uint32_t precision = (p[at] & 0x7F) + 1u;
        uint32_t bytes = precision <= 8 ? 1 : precision <= 16 ? 2 : 4;
        if (bytes != bytesPerSample || p[at + 1] != 1 || p[at + 2] != 1) return false;
    }
    return true;
}

bool smia_rle_header_is_sound(const uint8_t *bytes, size_t size) {
    if (size < 64) return false;
    uint32_t segments = littleEndian32(bytes);
    return segments >= 1 && segments <= 15 && littleEndian32(bytes + 4) == 64;
}

bool smia_jpeg2000_scan_is_safe(const uint8_t *p, size_t size) {
    static const uint8_t jp2Signature[12] = {0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A};
    if (size < sizeof jp2Signature) return false;  // GDCM compares 12 bytes, whatever the size
    bool jp2 = true;
    for (size_t k = 0; k < sizeof jp2Signature; k++) jp2 = jp2 && p[k] == jp2Signature[k];
    if (!jp2) return j2kScanIsSafe(p, size);
    // parsejp2_imp: its remaining size drops only by what it reads, not by the boxes it skips,
    // so it can read past the end; follow both its idea of the size and the real one.
    size_t pos = 0, gdcmLeft = size;
    auto read = [&](size_t n, uint64_t &value, bool &safe) -> bool {
        if (gdcmLeft < n) return false;                  // GDCM stops here
        if (pos > size || size - pos < n) { safe = false; return false; }
        value = 0;
        for (size_t k = 0; k < n; k++) value = value << 8 | p[pos + k];
        pos += n;
        gdcmLeft -= n;
        return true;
    };
    bool safe = true;
    uint64_t length = 0, box = 0;
    while (read(4, length, safe)) {
        if (!read(4, box, safe)) break;
        if (length == 1) {
            if (!read(8, length, safe)) return safe;  // GDCM asserts (trapped)
            length -= 8;
        }
        if (box == 0x6A703263) {  // 'jp2c': the code stream
            if (length == 0) length = uint64_t(size - pos) + 8;
            if (length < 8) return safe;  // GDCM asserts (trapped)
            if (length - 8 > uint64_t(size - pos)) return false;
            return j2kScanIsSafe(p + pos, size_t(length - 8));
        }
        uint64_t skip = length - 8;  // wraps around below 8, as in GDCM
        if (pos > size || skip > uint64_t(size - pos)) return gdcmLeft < 4;  // the next read is out of bounds
        pos += size_t(skip);
    }
    return safe;
}
