// std_fds.h - make sure descriptors 0, 1 and 2 are open before anything
// else is.
//
// A program started with one of them closed would give that number to the
// next file it opens: a queue file could become "standard output", and a
// diagnostic or postdrop's "queue_id=" line would be written into it. The
// set-gid helpers (postdrop, postqueue) and the commands an administrator
// runs call this first, as Postfix's do.
#pragma once

namespace postern::security {

// Opens /dev/null on each of 0, 1 and 2 that is closed. False when that
// fails (the caller should give up: nothing can be reported safely).
bool open_standard_descriptors();

}  // namespace postern::security
