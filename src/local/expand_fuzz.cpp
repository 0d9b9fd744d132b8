// expand_fuzz.cpp - fuzzes what local(8) parses from user-controlled text:
// .forward / :include: lists, forward_path-style templates, and message
// headers scanned for Delivered-To: loops.
#include <cstddef>
#include <cstdint>
#include <string>

#include "expand.h"

using namespace postern;
using namespace postern::local;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  for (const auto& item : split_destinations(strip_comment_lines(text))) (void)classify(item);
  LocalVars v;
  v.home = "/home/u";
  v.extension = "ext";
  (void)expand_local(text, v);
  auto content = deliver::string_content(text);
  (void)delivered_to_values(content);
  (void)split_address(text);
  return 0;
}
