// checks.cpp - see checks.h.
#include "cleanup/checks.h"

#include "cleanup/settings.h"

namespace postern::cleanup {

Result<std::unique_ptr<ContentChecks>> open_checks(const CleanupSettings& s) {
  return ContentChecks::open({{{"header_checks", s.header_checks},
                               {"mime_header_checks", s.mime_header_checks},
                               {"nested_header_checks", s.nested_header_checks},
                               {"body_checks", s.body_checks}}});
}

}  // namespace postern::cleanup
