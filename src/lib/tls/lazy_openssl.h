// lazy_openssl.h - loading OpenSSL on demand (see lazy_openssl.cpp).
#pragma once

#include "base/result.h"

namespace postern::tls {

// Loads OpenSSL now, in a build that loads it at the first call into it;
// nothing to do in a build linked against it. Errors: the library, or one
// of the functions Postern calls, cannot be found. Idempotent.
Status load_openssl();

}  // namespace postern::tls
