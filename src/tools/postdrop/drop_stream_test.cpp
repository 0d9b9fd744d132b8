// drop_stream_test.cpp - the sendmail -> postdrop stream: round trip and hostile input.
#include "drop_stream.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "queue/reader.h"

namespace fs = std::filesystem;
using namespace postern;

namespace {

queue::RecipientFields rcpt(std::string address, unsigned notify = queue::kNotifyNone) {
  queue::RecipientFields f;
  f.address = std::move(address);
  f.notify = notify;
  return f;
}

class DropStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/postdrop-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "maildrop");
  }
  void TearDown() override { fs::remove_all(root_); }

  queue::QueueFileWriter writer() {
    queue::WriterOptions o;
    o.queue_root = root_;
    o.queue = queue::QueueName::Maildrop;
    auto w = queue::QueueFileWriter::create(o);
    EXPECT_TRUE(w) << w.error().message;
    return std::move(*w);
  }

  static postdrop::ByteReader reader(const std::string& bytes, std::size_t step = 7) {
    auto pos = std::make_shared<std::size_t>(0);
    return [bytes, pos, step](char* buf, std::size_t len) -> Result<std::size_t> {
      std::size_t n = std::min({len, step, bytes.size() - *pos});
      std::memcpy(buf, bytes.data() + *pos, n);
      *pos += n;
      return n;
    };
  }

  static std::string encode(const std::function<void(postdrop::StreamEncoder&)>& body) {
    std::string out;
    postdrop::StreamEncoder e([&](std::string_view s) -> Status {
      out.append(s);
      return {};
    });
    body(e);
    return out;
  }

  static std::string good() {
    return encode([](postdrop::StreamEncoder& e) {
      ASSERT_TRUE(e.sender("alice"));
      ASSERT_TRUE(e.attribute("full_name", "Alice Example"));
      ASSERT_TRUE(e.recipient(rcpt("bob@example.com", queue::kNotifyFailure)));
      ASSERT_TRUE(e.begin_content());
      ASSERT_TRUE(e.line("Subject: hi"));
      ASSERT_TRUE(e.line(""));
      ASSERT_TRUE(e.partial("long "));
      ASSERT_TRUE(e.line("line"));
      ASSERT_TRUE(e.end());
    });
  }

  Result<postdrop::DropSummary> decode(const std::string& bytes) {
    auto w = writer();
    auto r = postdrop::decode_drop_stream(reader(bytes), w);
    if (r) {
      auto st = w.commit();
      EXPECT_TRUE(st) << st.error().message;
      path_ = w.path();
    }
    return r;
  }

  std::size_t files_left() {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(root_ / "maildrop")) ++n;
    return n;
  }

  fs::path root_, path_;
};

TEST_F(DropStreamTest, RoundTripWritesAValidQueueFile) {
  auto sum = decode(good());
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_EQ(sum->sender, "alice");
  EXPECT_EQ(sum->recipients, 1u);
  EXPECT_FALSE(sum->extract);
  auto rd = queue::QueueFileReader::open(path_);
  ASSERT_TRUE(rd) << rd.error().message;
  EXPECT_EQ(rd->message().sender, "alice");
  ASSERT_EQ(rd->message().recipients.size(), 1u);
  EXPECT_EQ(rd->message().recipients[0].fields.address, "bob@example.com");
  EXPECT_EQ(rd->message().recipients[0].fields.notify, queue::kNotifyFailure);
  EXPECT_EQ(rd->message().attribute("full_name").value_or(""), "Alice Example");
  std::string text;
  auto c = rd->content();
  queue::ContentPiece p;
  while (true) {
    auto more = c.next(p);
    ASSERT_TRUE(more);
    if (!*more) break;
    text.append(p.data);
    if (p.complete) text.push_back('\n');
  }
  EXPECT_EQ(text, "Subject: hi\n\nlong line\n");
}

TEST_F(DropStreamTest, EveryAttributeOnceAndNoMore) {
  auto all = [](bool twice) {
    return encode([twice](postdrop::StreamEncoder& e) {
      ASSERT_TRUE(e.sender("alice"));
      for (auto [n, v] : {std::pair{"full_name", "A"}, {"extract_recipients", "yes"}, {"submit_protocol", "sendmail"},
                          {"extract_notify", "6"}, {"dsn_envid", "id1"}, {"dsn_ret", "HDRS"}, {"encoding", "8bit"}})
        ASSERT_TRUE(e.attribute(n, v)) << n;
      if (twice) {
        ASSERT_TRUE(e.attribute("encoding", "7bit"));
      }
      ASSERT_TRUE(e.begin_content());
      ASSERT_TRUE(e.line("To: b@example.com"));
      ASSERT_TRUE(e.end());
    });
  };
  auto sum = decode(all(false));
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_TRUE(sum->extract);
  auto bad = decode(all(true));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("attribute encoding repeated"), std::string::npos) << bad.error().message;
}

TEST_F(DropStreamTest, ExtractWithoutRecipients) {
  auto bytes = encode([](postdrop::StreamEncoder& e) {
    ASSERT_TRUE(e.sender(""));
    ASSERT_TRUE(e.attribute("extract_recipients", "yes"));
    ASSERT_TRUE(e.begin_content());
    ASSERT_TRUE(e.line("To: x@y"));
    ASSERT_TRUE(e.end());
  });
  auto sum = decode(bytes);
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_TRUE(sum->extract);
  EXPECT_EQ(sum->sender, "");
}

TEST_F(DropStreamTest, RefusesHostileInput) {
  std::string g = good();
  auto refuse = [&](const std::string& bytes, const char* why) {
    auto r = decode(bytes);
    EXPECT_FALSE(r) << why;
    if (!r) {
      EXPECT_NE(r.error().message.find("malformed input"), std::string::npos) << r.error().message;
    }
  };
  refuse("", "empty");
  refuse(g.substr(0, g.size() - 1), "truncated end record");
  refuse(g.substr(0, 3), "truncated header");
  refuse(g + "x", "trailing garbage");
  refuse(std::string("Z\0\0\0\0", 5) + g, "unknown type first");
  refuse(std::string("S\x7f\xff\xff\xff", 5), "huge sender length");
  refuse(std::string("S\0\0\0\0", 5) + std::string("N\0\0\0\0", 5), "content line in envelope");
  refuse(encode([](postdrop::StreamEncoder& e) {
           ASSERT_TRUE(e.sender("a"));
           ASSERT_TRUE(e.attribute("client_name", "forged.example"));
         }),
         "attribute not allowed");
  refuse(encode([](postdrop::StreamEncoder& e) {
           ASSERT_TRUE(e.sender("a"));
           ASSERT_TRUE(e.attribute("full_name", "x"));
           ASSERT_TRUE(e.attribute("full_name", "y"));
         }),
         "repeated attribute");
  refuse(encode([](postdrop::StreamEncoder& e) {
           ASSERT_TRUE(e.sender("a"));
           ASSERT_TRUE(e.begin_content());
           ASSERT_TRUE(e.end());
         }),
         "no recipients, no -t");
  refuse(encode([](postdrop::StreamEncoder& e) {
           ASSERT_TRUE(e.sender("a"));
           ASSERT_TRUE(e.attribute("extract_recipients", "no"));
         }),
         "bad flag value");
  refuse(std::string("S\0\0\0\x03" "a\nb", 8), "sender with newline");
  refuse(std::string("S\0\0\0\x01" "a", 6) + std::string("R\0\0\0\x03" "zzz", 8), "bad recipient payload");
  refuse(encode([](postdrop::StreamEncoder& e) {
           ASSERT_TRUE(e.sender("a"));
           ASSERT_TRUE(e.recipient(rcpt("b")));
           ASSERT_TRUE(e.begin_content());
           ASSERT_TRUE(e.begin_content());
         }),
         "second M");
  refuse(std::string("S\0\0\0\x01" "a", 6) + std::string("L\x00\x20\x00\x00", 5), "content piece over the limit");
  EXPECT_EQ(files_left(), 0u) << "a refused stream must leave no file";
}

TEST_F(DropStreamTest, EncoderSplitsLongLines) {
  std::string longline(queue::kMaxContentRecord * 2 + 10, 'x');
  auto bytes = encode([&](postdrop::StreamEncoder& e) {
    ASSERT_TRUE(e.sender("a"));
    ASSERT_TRUE(e.recipient(rcpt("b")));
    ASSERT_TRUE(e.begin_content());
    ASSERT_TRUE(e.line(longline));
    ASSERT_TRUE(e.end());
  });
  auto sum = decode(bytes);
  ASSERT_TRUE(sum) << sum.error().message;
  auto rd = queue::QueueFileReader::open(path_);
  ASSERT_TRUE(rd) << rd.error().message;
  EXPECT_EQ(rd->message().size.content_size, longline.size() + 1);
}

}  // namespace

namespace postern::postdrop {
namespace {

TEST(DropAttributes, ExtractNotifyBits) {
  EXPECT_EQ(parse_extract_notify("1"), 1u);   // NEVER
  EXPECT_EQ(parse_extract_notify("6"), 6u);   // SUCCESS,FAILURE
  EXPECT_EQ(parse_extract_notify("14"), 14u);
  EXPECT_FALSE(parse_extract_notify("0"));
  EXPECT_FALSE(parse_extract_notify("3"));    // NEVER with SUCCESS
  EXPECT_FALSE(parse_extract_notify("16"));
  EXPECT_FALSE(parse_extract_notify("x"));
  EXPECT_FALSE(parse_extract_notify("006"));
  EXPECT_TRUE(is_drop_attribute(kAttrExtractNotify));
}

}  // namespace
}  // namespace postern::postdrop
