// GDCM sizes a data element's buffer from the length written in the file before it reads
// the value, so a corrupt length of a few gigabytes makes it allocate and zero that much for
// a file of a few kilobytes. This replacement of the global operator new (used by GDCM, as by
// any C++ code in the process) refuses, while a GDCM call runs, any single allocation larger
// than what that call can need (dicom.cpp sets the cap from the file's size and the checked
// image size); GDCM then fails with std::bad_alloc, which the call reports. With no cap set it
// allocates as the standard one does.

#include "allocation_cap.h"

#include <cstdlib>
#include <new>

namespace {
thread_local size_t cap = 0;
}

extern "C" void smia_dicom_cap_allocations(size_t bytes) {
    cap = bytes;
}

void *operator new(std::size_t size) {
    if (cap != 0 && size > cap) throw std::bad_alloc();
    for (;;) {
        if (void *p = std::malloc(size == 0 ? 1 : size)) return p;
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr) throw std::bad_alloc();
        handler();
    }
}

void *operator new[](std::size_t size) {
    return ::operator new(size);
}

void operator delete(void *p) noexcept {
    std::free(p);
}

void operator delete[](void *p) noexcept {
    std::free(p);
}

void operator delete(void *p, std::size_t) noexcept {
    std::free(p);
}

void operator delete[](void *p, std::size_t) noexcept {
    std::free(p);
}
