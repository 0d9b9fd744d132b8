// lazy_openssl.h - loading OpenSSL on demand (see lazy_openssl.cpp).
#pragma once

#include <span>

#include "base/result.h"

namespace postern::tls {

// Loads OpenSSL now, in a build that loads it at the first call into it;
// nothing to do in a build linked against it. Errors: the library, or one
// of the functions Postern calls, cannot be found. Idempotent.
Status load_openssl();

// The lazily loading build's table of OpenSSL function pointers, for tests:
// once load_openssl() has returned, its pages are read-only (as the GOT is
// under full RELRO). Empty in a build linked against OpenSSL.
std::span<void* const> openssl_function_slots();

}  // namespace postern::tls
