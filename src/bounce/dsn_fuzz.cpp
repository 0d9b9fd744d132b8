// dsn_fuzz.cpp - libFuzzer target: hostile status logs and originals
// through the DSN composer. Input: a status log, a NUL byte, the original
// message (content lines). Checks the promises of dsn.h: the notice is
// 7-bit unless the original is 8-bit, no line exceeds 998 bytes, every MIME
// part is closed, and no log value starts a header or DSN field of its own.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dsn.h"

using namespace postern;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nul = in.find('\0');
  std::string_view log_text = in.substr(0, nul);
  std::string_view original = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);

  auto log = queue::parse_status_log(log_text);
  for (auto kind : {bounce::NoticeKind::Failure, bounce::NoticeKind::Delay, bounce::NoticeKind::Success}) {
    auto entries = bounce::select_entries(kind, log.entries);
    bounce::OriginalCollector c(!original.empty() && (original[0] & 1), 4096);
    std::size_t pos = 0;
    while (pos < original.size()) {
      auto nl = original.find('\n', pos);
      bool complete = nl != std::string_view::npos;
      auto piece = original.substr(pos, complete ? nl - pos : std::string_view::npos);
      pos = complete ? nl + 1 : original.size();
      if (!c.add(piece, complete || pos >= original.size())) break;
    }
    check(c.text().size() <= 4096);
    bounce::NoticeInfo info;
    info.kind = kind;
    info.myhostname = "mail.example.org";
    info.queue_id = "3F2A1C0D2";
    info.new_queue_id = "4B3C2D1E5";
    info.sender = entries.empty() ? "" : entries.front().recipient;
    info.to = info.sender;
    info.envid = entries.empty() ? "" : entries.front().orcpt;
    info.now = 1764633600;
    info.date = "Tue, 01 Dec 2026 23:01:40 +0000 (UTC)";
    std::string msg = bounce::compose_notice(info, entries, c);
    std::string_view m = msg;
    auto body = m.find("\n\n");
    check(body != std::string_view::npos);
    // The returned original is the only part allowed to carry its own lines.
    auto orig_at = m.rfind(c.text());
    std::string_view ours = m.substr(0, orig_at);
    std::size_t start = 0;
    while (start < ours.size()) {
      auto e = ours.find('\n', start);
      if (e == std::string_view::npos) e = ours.size();
      std::string_view line = ours.substr(start, e - start);
      check(line.size() <= 998);
      check(line.find('\r') == std::string_view::npos && line.find('\0') == std::string_view::npos);
      for (char ch : line) check(static_cast<unsigned char>(ch) < 0x80);
      start = e + 1;
    }
    check(m.size() >= 3 && m.substr(m.size() - 3) == "--\n");
  }
  return 0;
}
