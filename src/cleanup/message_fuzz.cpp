// message_fuzz.cpp - libFuzzer target: arbitrary content, cut into
// arbitrary frames, through cleanup's Message (header parsing, -t
// extraction, added headers, long-line splitting, limits). Every message
// that cleanup accepts must make a queue file that the reader validates.
//
// Input: byte 0 = submission flags (low 3 bits), byte 1 = chunk size
// (1..256), the rest = content.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cleanup/message.h"
#include "config/config.h"
#include "queue/layout.h"
#include "queue/reader.h"

using namespace postern;

namespace {

class QualifyRewriter : public cleanup::Rewriter {
 public:
  asio::awaitable<Result<std::string>> rewrite(std::string_view, std::string_view address) override {
    co_return cleanup::append_myorigin(address, "example.com");
  }
};

struct Env {
  Env() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cleanup-fuzz.XXXXXX").string();
    root = ::mkdtemp(tmpl.data());
    if (!queue::create_queue_tree(root / "queue", queue::HashConfig::defaults())) std::abort();
    auto cfg = config::Config::from_text("queue_directory = " + (root / "queue").string() +
                                         "\nmyhostname = mx.example.com\nmyorigin = example.com\n"
                                         "header_size_limit = 300\nline_length_limit = 64\n"
                                         "hopcount_limit = 5\nmessage_size_limit = 200000\n"
                                         "undisclosed_recipients_header = To: undisclosed-recipients:;\n");
    if (!cfg) std::abort();
    auto s = cleanup::CleanupSettings::from_config(*cfg);
    if (!s) std::abort();
    settings = std::move(*s);
    auto m = cleanup::open_mapper(settings);
    if (!m) std::abort();
    mapper.emplace(std::move(*m));
  }
  std::filesystem::path root;
  cleanup::CleanupSettings settings;
  std::optional<cleanup::AddressMapper> mapper;
  QualifyRewriter rewriter;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Env env;
  if (size < 2) return 0;
  std::int64_t flags = data[0] & 7;
  std::size_t chunk = 1 + data[1];
  std::string_view content(reinterpret_cast<const char*>(data + 2), size - 2);

  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        cleanup::Message::Deps deps{env.settings, *env.mapper, env.rewriter};
        auto m = cleanup::Message::create(deps, flags, "fuzz", {});
        if (!m) std::abort();
        auto& msg = **m;
        submit::CleanupEnvelope e;
        e.sender = "joe";
        e.full_name = "Joe \"Q\" (Public)";
        co_await msg.envelope(std::move(e));
        submit::CleanupRecipient r;
        r.address = "bob@example.org";
        co_await msg.recipient(std::move(r));
        for (std::size_t i = 0; i < content.size(); i += chunk)
          co_await msg.content(content.substr(i, chunk));
        auto verdict = co_await msg.finish();
        if (!verdict) {
          queue::ReadOptions ro;
          ro.require_ready = false;
          auto rd = queue::QueueFileReader::open(msg.writer()->path(), ro);
          if (!rd) std::abort();  // cleanup wrote a file the reader calls corrupt
        }
        // Not committed: the writer removes the file.
      },
      asio::detached);
  io.run();
  return 0;
}
