// cleanup_test_util.h - scratch queues, settings and a fake trivial-rewrite
// for cleanup's unit tests (not part of the daemon).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "cleanup/address_map.h"
#include "cleanup/rewriter.h"
#include "cleanup/settings.h"
#include "config/config.h"
#include "queue/layout.h"
#include "queue/reader.h"

namespace postern::cleanup::testing {

namespace fs = std::filesystem;

// "user" -> "user@example.com"; "fail" (any domain) -> error. Counts calls.
class FakeRewriter : public Rewriter {
 public:
  asio::awaitable<Result<std::string>> rewrite(std::string_view rule, std::string_view address) override {
    ++calls;
    rules.emplace_back(rule);
    std::string a(address);
    if (a.rfind("fail", 0) == 0) co_return make_error("trivial-rewrite is down");
    co_return append_myorigin(a, "example.com");
  }
  int calls = 0;
  std::vector<std::string> rules;
};

// A queue_directory with its tree, plus room for table files.
class Scratch {
 public:
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "cleanup-test.XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    auto t = queue::create_queue_tree(queue(), queue::HashConfig::defaults());
    EXPECT_TRUE(t) << (t ? "" : t.error().message);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path queue() const { return dir_ / "queue"; }
  std::string table(const std::string& name, const std::string& text) const {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return "texthash:" + p.string();
  }
  // Files (not directories) in incoming/.
  std::vector<fs::path> incoming() const { return files_in("incoming"); }
  std::vector<fs::path> files_in(const std::string& queue_name) const {
    std::vector<fs::path> out;
    for (auto& e : fs::recursive_directory_iterator(queue() / queue_name))
      if (e.is_regular_file()) out.push_back(e.path());
    return out;
  }

 private:
  fs::path dir_;
};

inline CleanupSettings settings_for(const Scratch& s, const std::string& extra = "") {
  auto cfg = config::Config::from_text("queue_directory = " + s.queue().string() +
                                       "\nmyhostname = mx.example.com\nmydomain = example.com\n"
                                       "myorigin = example.com\n" +
                                       extra);
  EXPECT_TRUE(cfg) << (cfg ? "" : cfg.error().message);
  auto st = CleanupSettings::from_config(*cfg);
  EXPECT_TRUE(st) << (st ? "" : st.error().message);
  return *st;
}

// The content of a queue file as text, long lines joined.
inline std::string content_text(const queue::QueueFileReader& r) {
  std::string out;
  auto c = r.content();
  queue::ContentPiece p;
  for (;;) {
    auto more = c.next(p);
    EXPECT_TRUE(more) << (more ? "" : more.error().message);
    if (!more || !*more) break;
    out.append(p.data);
    if (p.complete) out += '\n';
  }
  return out;
}

// Number of content records (pieces) in a queue file.
inline std::size_t content_records(const queue::QueueFileReader& r) {
  std::size_t n = 0;
  auto c = r.content();
  queue::ContentPiece p;
  while (true) {
    auto more = c.next(p);
    if (!more || !*more) break;
    ++n;
  }
  return n;
}

}  // namespace postern::cleanup::testing
