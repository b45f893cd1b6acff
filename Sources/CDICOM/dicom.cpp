// The C side of DICOM reading: GDCM behind plain C functions (see include/smia_dicom.h).
// Nothing here decides how values become a tensor; that is Tensor/Formats/DICOM.swift.

#include "smia_dicom.h"
#include "allocation_cap.h"
#include "assertion_trap.h"
#include "codestream_checks.h"

#include <gdcm-3.0/gdcmAttribute.h>
#include <gdcm-3.0/gdcmImage.h>
#include <gdcm-3.0/gdcmImageHelper.h>
#include <gdcm-3.0/gdcmImageReader.h>
#include <gdcm-3.0/gdcmSequenceOfFragments.h>
#include <gdcm-3.0/gdcmTrace.h>
#include <gdcm-3.0/gdcmUIDs.h>

#include <unistd.h>

#include <csetjmp>
#include <cstdio>
#include <iostream>
#include <streambuf>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace {

// The caller's bytes as a seekable input stream, noting reads that found fewer bytes than
// asked for but more than none: a file that ends inside a data element. GDCM would accept it,
// with the missing pixel data as zeros.
class MemoryBuffer : public std::streambuf {
public:
    MemoryBuffer(const void *bytes, size_t size) {
        char *begin = const_cast<char *>(static_cast<const char *>(bytes));
        setg(begin, begin, begin + size);
    }
    bool endedInsideRead = false;

protected:
    std::streamsize xsgetn(char *out, std::streamsize count) override {
        std::streamsize got = std::streambuf::xsgetn(out, count);
        if (got > 0 && got < count) endedInsideRead = true;
        return got;
    }

    pos_type seekoff(off_type offset, std::ios_base::seekdir dir, std::ios_base::openmode which) override {
        if (!(which & std::ios_base::in)) return pos_type(off_type(-1));
        off_type size = egptr() - eback();
        off_type base = dir == std::ios_base::beg ? 0 : dir == std::ios_base::cur ? gptr() - eback() : size;
        if (offset < -base || offset > size - base) return pos_type(off_type(-1));
        setg(eback(), eback() + base + offset, egptr());
        return pos_type(base + offset);
    }

    pos_type seekpos(pos_type position, std::ios_base::openmode which) override {
        return seekoff(off_type(position), std::ios_base::beg, which);
    }
};

std::string stringValue(const gdcm::DataSet &ds, const gdcm::Tag &tag);

// Why GDCM must not decode the file's compressed pixel data (codestream_checks.cpp), or "".
std::string compressedDataRefusal(const gdcm::File &file) {
    const gdcm::DataSet &ds = file.GetDataSet();
    const gdcm::Tag pixelData(0x7fe0, 0x0010);
    if (!ds.FindDataElement(pixelData)) return "";
    const gdcm::SequenceOfFragments *fragments = ds.GetDataElement(pixelData).GetSequenceOfFragments();
    if (fragments == nullptr) return "";
    gdcm::TransferSyntax::TSType ts = file.GetHeader().GetDataSetTransferSyntax();
    bool rle = ts == gdcm::TransferSyntax::RLELossless;
    bool jpeg2000 = ts == gdcm::TransferSyntax::JPEG2000Lossless || ts == gdcm::TransferSyntax::JPEG2000 ||
                    ts == gdcm::TransferSyntax::JPEG2000Part2Lossless || ts == gdcm::TransferSyntax::JPEG2000Part2;
    if (!rle && !jpeg2000) return "";
    // GDCM decodes a fragment per frame, or all fragments joined for a single frame, and reads
    // the first fragment alone to tell lossy data.
    long frames = std::strtol(stringValue(ds, gdcm::Tag(0x0028, 0x0008)).c_str(), nullptr, 10);
    std::vector<uint8_t> joined;
    for (size_t k = 0; k < fragments->GetNumberOfFragments(); k++) {
        const gdcm::ByteValue *value = fragments->GetFragment(k).GetByteValue();
        const uint8_t *bytes = value ? reinterpret_cast<const uint8_t *>(value->GetPointer()) : nullptr;
        size_t size = value && bytes ? size_t(value->GetLength()) : size_t(0);
        if (rle && !smia_rle_header_is_sound(bytes, size)) {
            return "the RLE data is corrupt (fragment " + std::to_string(k + 1) +
                   ": expected a 64-byte header of 1 to 15 segments, the first at byte 64)";
        }
        if (jpeg2000 && (k == 0 || frames > 1) && !smia_jpeg2000_scan_is_safe(bytes, size)) {
            return "the JPEG 2000 code stream is corrupt (fragment " + std::to_string(k + 1) +
                   ": a marker runs past the end of the data)";
        }
        if (bytes != nullptr) joined.insert(joined.end(), bytes, bytes + size);
    }
    if (jpeg2000 && !smia_jpeg2000_scan_is_safe(joined.data(), joined.size())) {
        return "the JPEG 2000 code stream is corrupt (a marker runs past the end of the data)";
    }
    return "";
}

// GDCM's image reader, with the checks of codestream_checks.cpp between parsing the data set
// and the first decoding (which ImageReader::ReadImage already does, to tell lossy data).
class CheckedImageReader : public gdcm::ImageReader {
public:
    std::string refusal;

protected:
    bool ReadImage(gdcm::MediaStorage const &ms) override {
        refusal = compressedDataRefusal(GetFile());
        return refusal.empty() && gdcm::ImageReader::ReadImage(ms);
    }

    bool ReadACRNEMAImage() override {
        refusal = compressedDataRefusal(GetFile());
        return refusal.empty() && gdcm::ImageReader::ReadACRNEMAImage();
    }
};

}  // namespace

struct smia_dicom_file {
    smia_dicom_file(const void *bytes, size_t size) : size(size), buffer(bytes, size), stream(&buffer) {}
    size_t size;
    MemoryBuffer buffer;
    std::istream stream;
    CheckedImageReader reader;
    smia_dicom_info info;
    /* An assertion was trapped inside GDCM while decoding: its objects may be half-updated, so
       they are leaked rather than destroyed. */
    bool abandoned = false;
};

namespace {

void setError(char *error, size_t size, const std::string &message) {
    if (error == nullptr || size == 0) return;
    std::snprintf(error, size, "%s", message.c_str());
}

// What GDCM's codecs print on stderr while a call runs (openjpeg's and libjpeg's messages go
// straight to stderr, whatever GDCM's own trace settings): kept for the error message when the
// call fails, dropped when it succeeds. Reading runs on the Lua thread only, so for that short
// time nothing else writes to stderr.
class StderrCapture {
public:
    void start() {
        std::fflush(stderr);
        std::cerr.flush();
        sink_ = std::tmpfile();
        if (sink_ == nullptr) return;
        saved_ = dup(2);
        if (saved_ < 0 || dup2(fileno(sink_), 2) < 0) {
            if (saved_ >= 0) close(saved_);
            saved_ = -1;
            std::fclose(sink_);
            sink_ = nullptr;
        }
    }

    // The captured text, its lines joined by "; " and cut to a few hundred characters.
    std::string finish() {
        if (sink_ == nullptr) return "";
        std::fflush(stderr);
        std::cerr.flush();
        dup2(saved_, 2);
        close(saved_);
        saved_ = -1;
        std::string text;
        char chunk[512];
        std::rewind(sink_);
        size_t got;
        while (text.size() < 4096 && (got = std::fread(chunk, 1, sizeof chunk, sink_)) > 0) text.append(chunk, got);
        std::fclose(sink_);
        sink_ = nullptr;
        std::string joined;
        size_t start = 0;
        while (start < text.size()) {
            size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            std::string line = text.substr(start, end - start);
            size_t first = line.find_first_not_of(" \t\r"), last = line.find_last_not_of(" \t\r");
            if (first != std::string::npos) {
                line = line.substr(first, last - first + 1);
                if (joined.find(line) == std::string::npos) joined += (joined.empty() ? "" : "; ") + line;
            }
            start = end + 1;
        }
        if (joined.size() > 300) joined = joined.substr(0, 300) + "...";
        return joined;
    }

    ~StderrCapture() { finish(); }

private:
    FILE *sink_ = nullptr;
    int saved_ = -1;
};

std::string withDiagnostics(const std::string &message, const std::string &printed) {
    return printed.empty() ? message : message + " (the decoder said: " + printed + ")";
}

// GDCM prints warnings and errors on stderr by default; the caller reports failures itself.
// The rescale slope and intercept are read for every kind of image, as pydicom does (GDCM
// otherwise reads them only for some SOP classes).
void configureOnce() {
    static const bool configured = [] {
        gdcm::Trace::SetDebug(false);
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetError(false);
        gdcm::ImageHelper::SetForceRescaleInterceptSlope(true);
        return true;
    }();
    (void)configured;
}

// The string value of a data element at the top level, trimmed of padding, or "".
std::string stringValue(const gdcm::DataSet &ds, const gdcm::Tag &tag) {
    if (!ds.FindDataElement(tag)) return "";
    const gdcm::DataElement &element = ds.GetDataElement(tag);
    const gdcm::ByteValue *value = element.GetByteValue();
    if (value == nullptr || value->GetPointer() == nullptr) return "";
    std::string text(value->GetPointer(), value->GetLength());
    size_t end = text.find_last_not_of(std::string(" \0", 2));
    return end == std::string::npos ? "" : text.substr(0, end + 1);
}

// The first number of a decimal string (DS) attribute such as Window Center "40\400".
bool firstNumber(const gdcm::DataSet &ds, const gdcm::Tag &tag, double &out) {
    std::string text = stringValue(ds, tag);
    size_t cut = text.find('\\');
    if (cut != std::string::npos) text = text.substr(0, cut);
    if (text.empty()) return false;
    char *end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    while (end != nullptr && *end == ' ') end++;
    if (end == text.c_str() || (end != nullptr && *end != '\0')) return false;
    out = v;
    return true;
}

std::string trimmed(const char *text) {
    std::string s = text == nullptr ? "" : text;
    size_t end = s.find_last_not_of(' ');
    return end == std::string::npos ? "" : s.substr(0, end + 1);
}

void copyText(char *out, size_t size, const std::string &text) {
    std::snprintf(out, size, "%s", text.c_str());
}

// Why ImageReader::Read failed, from what it managed to parse.
std::string readFailure(const CheckedImageReader &reader) {
    if (!reader.refusal.empty()) return reader.refusal;
    const gdcm::DataSet &ds = reader.GetFile().GetDataSet();
    if (ds.IsEmpty()) {
        return "not a readable DICOM file (no DICOM header could be parsed; truncated or not DICOM?)";
    }
    if (!ds.FindDataElement(gdcm::Tag(0x7fe0, 0x0010))) {
        std::string sop = stringValue(ds, gdcm::Tag(0x0008, 0x0016));
        std::string what;
        if (!sop.empty()) {
            gdcm::UIDs uid;
            if (uid.SetFromUID(sop.c_str()) && uid.GetName() != nullptr) what = std::string(" (a ") + uid.GetName() + ")";
        }
        return "the file has no pixel data (7FE0,0010)" + what + ", so it holds no image";
    }
    return "the file's image could not be read (its image attributes are missing or inconsistent, "
           "or the file is truncated or corrupt)";
}

void fillInfo(smia_dicom_file &file) {
    const gdcm::Image &image = file.reader.GetImage();
    const gdcm::PixelFormat &pf = image.GetPixelFormat();
    const gdcm::DataSet &ds = file.reader.GetFile().GetDataSet();
    smia_dicom_info &info = file.info;
    std::memset(&info, 0, sizeof info);
    const unsigned int *dims = image.GetDimensions();
    unsigned int rank = image.GetNumberOfDimensions();
    info.columns = rank >= 1 ? dims[0] : 0;
    info.rows = rank >= 2 ? dims[1] : 0;
    info.frames = rank >= 3 ? dims[2] : 1;
    info.samples_per_pixel = pf.GetSamplesPerPixel();
    info.bits_allocated = pf.GetBitsAllocated();
    info.bits_stored = pf.GetBitsStored();
    info.is_signed = pf.GetPixelRepresentation() == 1 ? 1 : 0;
    info.slope = image.GetSlope();
    info.intercept = image.GetIntercept();
    double center = 0, width = 0;
    if (firstNumber(ds, gdcm::Tag(0x0028, 0x1050), center) && firstNumber(ds, gdcm::Tag(0x0028, 0x1051), width)) {
        info.has_window = 1;
        info.window_center = center;
        info.window_width = width;
    }
    copyText(info.photometric, sizeof info.photometric,
             trimmed(gdcm::PhotometricInterpretation::GetPIString(image.GetPhotometricInterpretation())));
    const char *uidText = gdcm::TransferSyntax::GetTSString(image.GetTransferSyntax());
    std::string tsName = trimmed(uidText);
    gdcm::UIDs uid;
    if (uidText != nullptr && uid.SetFromUID(uidText) && uid.GetName() != nullptr) tsName = uid.GetName();
    copyText(info.transfer_syntax, sizeof info.transfer_syntax, tsName);
    info.decoded_bytes = image.GetBufferLength();
}


// Native (not encapsulated) pixel data shorter than the image: GDCM would decode it padded.
std::string truncation(const smia_dicom_file &file) {
    const gdcm::ByteValue *value = file.reader.GetImage().GetDataElement().GetByteValue();
    const smia_dicom_info &info = file.info;
    if (value == nullptr || info.bits_allocated < 8) return "";
    unsigned long long needed = (unsigned long long)info.rows * info.columns * info.frames *
                                info.samples_per_pixel * (info.bits_allocated / 8);
    if (std::strcmp(info.photometric, "YBR_FULL_422") == 0) needed = needed / 3 * 2;  // stored subsampled
    if (value->GetLength() >= needed) return "";
    return "the pixel data holds " + std::to_string(value->GetLength()) + " bytes, but " +
           std::to_string(info.rows) + "x" + std::to_string(info.columns) + " pixels x " + std::to_string(info.frames) +
           " frame(s) need " + std::to_string(needed) + " (truncated file?)";
}

// No value read from a file is larger than the file, deflated ones aside: they get headroom.
const size_t allocationHeadroom = size_t(64) << 20;

bool isDeflated(const smia_dicom_file &file) {
    return file.reader.GetImage().GetTransferSyntax() == gdcm::TransferSyntax::DeflatedExplicitVRLittleEndian;
}

std::string exceptionMessage(const std::bad_alloc &) {
    return "GDCM failed: the file asks for more memory than its size allows (a corrupt length?)";
}

// Compressed pixel data whose image attributes claim far more than any codec makes of it: a
// corrupt Rows, Columns or Number of Frames would otherwise have the caller allocate gigabytes
// for a file of kilobytes. Up to 64 MiB is always allowed; beyond, at most 2000 times the
// compressed size (a blank 512x512 16-bit image in lossless JPEG 2000 shrinks about 1700 times).
std::string implausibleExpansion(const smia_dicom_file &file) {
    const gdcm::SequenceOfFragments *fragments = file.reader.GetImage().GetDataElement().GetSequenceOfFragments();
    if (fragments == nullptr) return "";
    unsigned long long compressed = 0;
    for (size_t k = 0; k < fragments->GetNumberOfFragments(); k++) {
        const gdcm::ByteValue *value = fragments->GetFragment(k).GetByteValue();
        if (value != nullptr) compressed += value->GetLength();
    }
    const smia_dicom_info &info = file.info;
    unsigned long long bytes = (unsigned long long)info.rows * info.columns * info.frames * info.samples_per_pixel *
                               (info.bits_allocated < 8 ? 1 : info.bits_allocated / 8);
    if (bytes <= (64ull << 20) || bytes / 2000 <= compressed) return "";
    return std::to_string(compressed) + " bytes of compressed pixel data cannot hold " + std::to_string(info.rows) +
           "x" + std::to_string(info.columns) + " pixels x " + std::to_string(info.frames) + " frame(s) (" +
           std::to_string(bytes) + " bytes decoded; corrupt image attributes?)";
}

// What GDCM 3.0 is known to decode wrongly, checked against pydicom: RLE colour images of more
// than 8 bits per sample come out with their byte planes interleaved as if they were samples.
std::string knownMisreading(const smia_dicom_file &file) {
    const smia_dicom_info &info = file.info;
    if (file.reader.GetImage().GetTransferSyntax() == gdcm::TransferSyntax::RLELossless && info.samples_per_pixel > 1 &&
        info.bits_allocated > 8) {
        return "RLE colour images of more than 8 bits per sample (this one has " + std::to_string(info.bits_allocated) +
               ") are decoded wrongly by GDCM 3.0, so they are refused; convert the file to an uncompressed "
               "transfer syntax (e.g. gdcmconv --raw) first";
    }
    return "";
}

// A JPEG 2000 code stream whose sizes differ from the DICOM attributes (codestream_checks.h), or "".
std::string jpeg2000Mismatch(const smia_dicom_file &file) {
    const gdcm::Image &image = file.reader.GetImage();
    gdcm::TransferSyntax::TSType ts = image.GetTransferSyntax();
    if (ts != gdcm::TransferSyntax::JPEG2000Lossless && ts != gdcm::TransferSyntax::JPEG2000 &&
        ts != gdcm::TransferSyntax::JPEG2000Part2Lossless && ts != gdcm::TransferSyntax::JPEG2000Part2) {
        return "";
    }
    const gdcm::SequenceOfFragments *fragments = image.GetDataElement().GetSequenceOfFragments();
    if (fragments == nullptr || fragments->GetNumberOfFragments() == 0) return "";
    const smia_dicom_info &info = file.info;
    // One frame: its code stream starts in the first fragment; several: one fragment each.
    size_t count = info.frames > 1 ? fragments->GetNumberOfFragments() : 1;
    for (size_t k = 0; k < count; k++) {
        const gdcm::ByteValue *value = fragments->GetFragment(k).GetByteValue();
        const uint8_t *bytes = value ? reinterpret_cast<const uint8_t *>(value->GetPointer()) : nullptr;
        if (bytes == nullptr ||
            !smia_jpeg2000_matches(bytes, value->GetLength(), info.columns, info.rows, info.samples_per_pixel,
                                   info.bits_allocated / 8)) {
            return "the JPEG 2000 code stream (fragment " + std::to_string(k + 1) + ") does not match the image's " +
                   std::to_string(info.rows) + "x" + std::to_string(info.columns) + " pixels of " +
                   std::to_string(info.samples_per_pixel) + " sample(s) of " + std::to_string(info.bits_allocated) +
                   " bits (corrupt data?)";
        }
    }
    return "";
}

std::string exceptionMessage(const char *what) {
    return std::string("GDCM failed: ") + (what != nullptr && *what != '\0' ? what : "unknown error");
}

// Runs `body`, which returns why it failed or "", turning whatever GDCM throws into such a reason.
template <typename Body> std::string failureOf(Body body) {
    try {
        return body();
    } catch (const std::bad_alloc &e) {
        return exceptionMessage(e);
    } catch (const std::exception &e) {
        return exceptionMessage(e.what());
    } catch (const std::string &e) {
        return exceptionMessage(e.c_str());
    } catch (...) {
        return exceptionMessage(nullptr);
    }
}

}  // namespace

extern "C" smia_dicom_file *smia_dicom_open(const void *bytes, size_t size, char *error, size_t error_size) {
    smia_dicom_file *volatile file = nullptr;
    StderrCapture capture;
    capture.start();
    sigjmp_buf trap;
    if (sigsetjmp(trap, 0) != 0) {
        // `file` is leaked on purpose: GDCM stopped half-way through it.
        smia_dicom_cap_allocations(0);
        std::string printed = capture.finish();
        setError(error, error_size, withDiagnostics(std::string("GDCM stopped on an internal check while parsing the file "
                                                                "(corrupt or unusual file?): ") +
                                                        smia_dicom_trapped_assertion(), printed));
        return nullptr;
    }
    smia_dicom_trap_assertions(&trap);
    smia_dicom_cap_allocations(size + allocationHeadroom);
    std::string failure = failureOf([&]() -> std::string {
        configureOnce();
        file = new smia_dicom_file(bytes, size);
        file->reader.SetStream(file->stream);
        if (!file->reader.Read()) return readFailure(file->reader);
        if (file->buffer.endedInsideRead && !isDeflated(*file)) {
            return "the file ends inside a data element (truncated file?)";
        }
        fillInfo(*file);
        std::string why = truncation(*file);
        if (why.empty()) why = knownMisreading(*file);
        if (why.empty()) why = implausibleExpansion(*file);
        return why;
    });
    smia_dicom_trap_assertions(nullptr);
    smia_dicom_cap_allocations(0);
    std::string printed = capture.finish();
    if (failure.empty()) return file;
    setError(error, error_size, withDiagnostics(failure, printed));
    delete file;
    return nullptr;
}

extern "C" void smia_dicom_get_info(const smia_dicom_file *file, smia_dicom_info *info) {
    *info = file->info;
}

extern "C" int smia_dicom_decode(smia_dicom_file *file, void *buffer, size_t buffer_size, char *error,
                                 size_t error_size) {
    if (file->abandoned) {
        setError(error, error_size, "GDCM already failed on this file");
        return -1;
    }
    if (buffer_size != file->info.decoded_bytes) {
        setError(error, error_size, "the buffer does not match the decoded size");
        return -1;
    }
    StderrCapture capture;
    capture.start();
    sigjmp_buf trap;
    if (sigsetjmp(trap, 0) != 0) {
        file->abandoned = true;
        smia_dicom_cap_allocations(0);
        std::string printed = capture.finish();
        setError(error, error_size, withDiagnostics(std::string("GDCM stopped on an internal check while decoding the "
                                                                "pixel data (corrupt data?): ") +
                                                        smia_dicom_trapped_assertion(), printed));
        return -1;
    }
    smia_dicom_trap_assertions(&trap);
    std::string failure = jpeg2000Mismatch(*file);
    // The codecs decode into buffers of the image's size (some a frame at a time, some whole).
    smia_dicom_cap_allocations(2 * buffer_size + file->size + allocationHeadroom);
    if (failure.empty()) {
        failure = failureOf([&]() -> std::string {
            if (file->reader.GetImage().GetBuffer(static_cast<char *>(buffer))) return "";
            return std::string("GDCM could not decode the pixel data (") + file->info.transfer_syntax +
                   "): corrupt or truncated data, or an encoding this build of GDCM does not decode";
        });
    }
    smia_dicom_trap_assertions(nullptr);
    smia_dicom_cap_allocations(0);
    std::string printed = capture.finish();
    if (failure.empty()) return 0;
    setError(error, error_size, withDiagnostics(failure, printed));
    return -1;
}

extern "C" void smia_dicom_close(smia_dicom_file *file) {
    if (file != nullptr && !file->abandoned) delete file;
}
