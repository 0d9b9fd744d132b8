// io_scope.h - tie objects to the lifetime of an io_context.
//
// The server skeleton owns the io_context and destroys it when run() ends,
// before main() can destroy anything of its own. Objects holding I/O
// objects of that context (the trivial-rewrite client's sockets) or posting
// to it from other threads (the committer's pool) must be told first:
// at_io_shutdown() runs a callback at the very start of the io_context's
// destruction, while its services still exist. Reads no parameters, logs
// nothing.
#pragma once

#include <functional>

#include "aio/asio.h"

namespace postern::aio {

// Callbacks run once, in registration order, on the destroying thread.
void at_io_shutdown(asio::io_context& io, std::function<void()> f);

}  // namespace postern::aio
