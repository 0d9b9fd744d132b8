// data_test.cpp - DATA decoding (incl. the SMTP smuggling matrix at every chunk
// split), BDAT chunks, line splitting and DATA encoding.
#include "smtp/data.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace postern::smtp {
namespace {

using namespace std::string_literals;
using Pieces = std::vector<std::pair<std::string, bool>>;

struct Collector {
  Pieces pieces;
  LineSink sink() {
    return [this](std::string_view p, bool continued) { pieces.emplace_back(std::string(p), continued); };
  }
  // Whole lines, continued pieces joined.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::string cur;
    for (const auto& [p, c] : pieces) {
      cur += p;
      if (!c) {
        out.push_back(cur);
        cur.clear();
      }
    }
    return out;
  }
};

struct Decoded {
  Pieces pieces;
  std::size_t consumed = 0;
  bool done = false;
  std::uint64_t message_bytes = 0;
  std::uint64_t bare_lf = 0;
  std::uint64_t bare_cr = 0;
};

// Feed `input` cut at the given offsets (ascending).
Decoded decode_split(std::string_view input, const std::vector<std::size_t>& cuts,
                     std::size_t max_line = 2048) {
  DataDecoder d(max_line);
  Collector c;
  Decoded out;
  std::size_t start = 0;
  auto feed = [&](std::string_view chunk) {
    std::size_t n = d.feed(chunk, c.sink());
    EXPECT_LE(n, chunk.size());
    out.consumed += n;
    if (!d.done()) {
      EXPECT_EQ(n, chunk.size()) << "bytes left over before end of data";
    }
  };
  for (std::size_t cut : cuts) {
    if (d.done()) break;
    feed(input.substr(start, cut - start));
    start = cut;
  }
  if (!d.done()) feed(input.substr(start));
  out.pieces = std::move(c.pieces);
  out.done = d.done();
  out.message_bytes = d.message_bytes();
  out.bare_lf = d.bare_lf_count();
  out.bare_cr = d.bare_cr_count();
  if (d.done()) {
    EXPECT_EQ(d.wire_bytes(), out.consumed);
  }
  return out;
}

Decoded decode(std::string_view input, std::size_t max_line = 2048) {
  return decode_split(input, {}, max_line);
}

// The only end of data: the first CR LF "." CR LF, where the start of the
// content counts as following CR LF. Returns the offset just past it, or npos.
std::size_t reference_end(std::string_view input) {
  std::string v = "\r\n" + std::string(input);
  std::size_t p = v.find("\r\n.\r\n");
  return p == std::string::npos ? p : p + 5 - 2;
}

std::vector<std::string> lines_of(const Pieces& pieces) {
  Collector c;
  c.pieces = pieces;
  return c.lines();
}

TEST(DataDecoder, SimpleMessage) {
  Decoded d = decode("Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.consumed, 24u);  // up to and including the final ".\r\n"
  EXPECT_EQ(lines_of(d.pieces), (std::vector<std::string>{"Subject: hi", "", "body"}));
  EXPECT_EQ(d.message_bytes, 13u + 2u + 6u);
}

TEST(DataDecoder, EndOfDataAtTheVeryStart) {
  Decoded d = decode(".\r\nMAIL FROM:<a@b>\r\n");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.consumed, 3u);
  EXPECT_TRUE(d.pieces.empty());
  EXPECT_EQ(d.message_bytes, 0u);

  Decoded e = decode("\r\n.\r\n");
  EXPECT_TRUE(e.done);
  EXPECT_EQ(lines_of(e.pieces), (std::vector<std::string>{""}));
}

TEST(DataDecoder, DotUnstuffing) {
  Decoded d = decode("..\r\n...\r\n.x\r\n x.\r\n..\r\n.\r\n");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(lines_of(d.pieces), (std::vector<std::string>{".", "..", "x", " x.", "."}));
}

TEST(DataDecoder, IncompleteInputIsNotDone) {
  for (std::string in : {"abc"s, "abc\r\n"s, "abc\r\n."s, "abc\r\n.\r"s, "\r\n.\r"s, "."s, ".\r"s}) {
    Decoded d = decode(in);
    EXPECT_FALSE(d.done) << in;
    EXPECT_EQ(d.consumed, in.size());
  }
}

TEST(DataDecoder, BareLfEndsAContentLineButNeverTheData) {
  Decoded d = decode("a\nb\r\nc\n.\nd\r\n.\r\n");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.bare_lf, 3u);
  EXPECT_EQ(lines_of(d.pieces), (std::vector<std::string>{"a", "b", "c", "", "d"}));
}

TEST(DataDecoder, BareCrIsContent) {
  Decoded d = decode("a\rb\r\r\n\r.\r\n.\r\n");
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.bare_cr, 3u);
  EXPECT_EQ(lines_of(d.pieces), (std::vector<std::string>{"a\rb\r", "\r."}));
}

TEST(DataDecoder, NulIsContent) {
  Decoded d = decode("a\0b\r\n\0.\r\n.\r\n"s);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(lines_of(d.pieces), (std::vector<std::string>{"a\0b"s, "\0."s}));
}

TEST(DataDecoder, LongLinesAreCutIntoContinuedPieces) {
  Decoded d = decode("abcdefghij\r\nabcd\r\n..bcdefgh\r\nabcde\r\n.\r\n", 4);
  EXPECT_TRUE(d.done);
  Pieces want = {{"abcd", true}, {"efgh", true}, {"ij", false}, {"abcd", false},
                 {".bcd", true}, {"efgh", false}, {"abcd", true}, {"e", false}};
  EXPECT_EQ(d.pieces, want);
  for (const auto& [p, c] : d.pieces) EXPECT_LE(p.size(), 4u);
  EXPECT_EQ(d.message_bytes, 10u + 2 + 4 + 2 + 8 + 2 + 5 + 2);
}

TEST(DataDecoder, CrAtTheLineLimitStaysWithItsLf) {
  // "abcd" fills the line; the CR LF after it ends the line, no empty piece.
  Decoded d = decode("abcd\r\n.\r\n", 4);
  EXPECT_EQ(d.pieces, (Pieces{{"abcd", false}}));
  // A bare CR after a full line is content of the next piece.
  Decoded e = decode("abcd\rx\r\n.\r\n", 4);
  EXPECT_EQ(e.pieces, (Pieces{{"abcd", true}, {"\rx", false}}));
}

TEST(DataDecoder, DotLineAtTheLimitIsStillTheEnd) {
  Decoded d = decode("x\r\n.\r\n", 1);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.pieces, (Pieces{{"x", false}}));
}

TEST(DataDecoder, FeedAfterDoneAndReset) {
  DataDecoder d;
  Collector c;
  EXPECT_EQ(d.feed(".\r\nxyz", c.sink()), 3u);
  EXPECT_TRUE(d.done());
  EXPECT_EQ(d.feed("more\r\n.\r\n", c.sink()), 0u);
  EXPECT_TRUE(c.pieces.empty());
  d.reset();
  EXPECT_FALSE(d.done());
  EXPECT_EQ(d.feed("more\r\n.\r\n", c.sink()), 9u);
  EXPECT_TRUE(d.done());
  EXPECT_EQ(c.lines(), (std::vector<std::string>{"more"}));
  EXPECT_EQ(d.lines(), 1u);
}

TEST(DataDecoder, RejectPolicy) {
  DataDecoder d;
  Collector c;
  (void)d.feed("a\r\nb\r\n.\r\n", c.sink());
  EXPECT_FALSE(d.rejects(BareNewline::Reject));
  d.reset();
  (void)d.feed("a\nb\r\n.\r\n", c.sink());
  EXPECT_TRUE(d.done());
  EXPECT_TRUE(d.rejects(BareNewline::Reject));
  EXPECT_FALSE(d.rejects(BareNewline::Normalize));
  EXPECT_FALSE(d.rejects(BareNewline::No));
}

TEST(DataDecoder, EveryChunkSplitGivesTheSameResult) {
  std::string in = "From: a\r\n..dot\r\nbare\nlf\r\ncr\rx\r\n\r\n.\r\nNEXT";
  Decoded whole = decode(in, 5);
  ASSERT_TRUE(whole.done);
  for (std::size_t i = 0; i <= in.size(); ++i) {
    for (std::size_t j = i; j <= in.size(); ++j) {
      Decoded d = decode_split(in, {i, j}, 5);
      ASSERT_TRUE(d.done) << i << "," << j;
      EXPECT_EQ(d.consumed, whole.consumed) << i << "," << j;
      EXPECT_EQ(d.pieces, whole.pieces) << i << "," << j;
      EXPECT_EQ(d.message_bytes, whole.message_bytes);
    }
  }
  // One byte at a time.
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < in.size(); ++i) every.push_back(i);
  Decoded bytewise = decode_split(in, every, 5);
  EXPECT_EQ(bytewise.pieces, whole.pieces);
  EXPECT_EQ(bytewise.consumed, whole.consumed);
}

// The SMTP smuggling matrix: a body containing a non-standard "end of data"
// followed by a complete second transaction, then the real end. Whatever the
// split, the data ends only at the real CRLF.CRLF and the smuggled commands
// are message content.
TEST(DataDecoder, SmugglingVariantsNeverEndTheData) {
  const std::vector<std::string> variants = {
      "\n.\n",     "\n.\r\n",       "\r\n.\n",   "\r.\r",     "\r\n\0.\r\n"s, "\r.\r\n",
      "\r\n.\r",   "\n.\r",         "\r.\n",     "\r\n.\r\r\n", "\r\n .\r\n",   "\r\n..\r\n",
      "\n\n.\n\n", "\r\n\r\n.\n\r\n", "\r\n.\0\r\n"s,
  };
  const std::string smuggled = "MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.com>\r\n"
                               "DATA\r\nFrom: ceo@example.com\r\n\r\nsmuggled\r\n";
  for (const auto& v : variants) {
    const std::string in = "Subject: test\r\n\r\nbody" + v + smuggled + ".\r\nQUIT\r\n";
    const std::size_t real_end = in.size() - 6;  // just past the final ".\r\n"
    ASSERT_EQ(reference_end(in), real_end) << "bad test vector";
    Decoded whole = decode(in);
    ASSERT_TRUE(whole.done);
    EXPECT_EQ(whole.consumed, real_end);
    auto lines = lines_of(whole.pieces);
    bool found = false;
    for (const auto& l : lines) found |= l.find("MAIL FROM:<evil@attacker.example>") != std::string::npos;
    EXPECT_TRUE(found) << "smuggled command missing from the content";
    EXPECT_EQ(lines.back(), "smuggled");

    for (std::size_t i = 0; i <= in.size(); ++i) {
      for (std::size_t j = i; j <= in.size(); j += 1) {
        Decoded d = decode_split(in, {i, j});
        ASSERT_TRUE(d.done);
        ASSERT_EQ(d.consumed, real_end) << "variant split at " << i << "," << j;
        ASSERT_EQ(d.pieces, whole.pieces) << "variant split at " << i << "," << j;
      }
    }
  }
}

TEST(DataDecoder, MatchesTheReferenceOnGeneratedInputs) {
  // Every string over a small alphabet up to length 7, cut in two everywhere:
  // the decoder ends exactly where the reference says, or not at all.
  const std::string alphabet = "\r\n.a";
  std::vector<std::string> inputs = {""};
  for (int len = 1; len <= 7; ++len) {
    std::vector<std::string> next;
    for (const auto& s : inputs)
      if (s.size() == std::size_t(len - 1))
        for (char c : alphabet) next.push_back(s + c);
    inputs.insert(inputs.end(), next.begin(), next.end());
  }
  for (const auto& in : inputs) {
    std::size_t want = reference_end(in);
    for (std::size_t i = 0; i <= in.size(); ++i) {
      Decoded d = decode_split(in, {i}, 2);
      if (want == std::string::npos) {
        ASSERT_FALSE(d.done) << "ended early on a string without CRLF.CRLF";
        ASSERT_EQ(d.consumed, in.size());
      } else {
        ASSERT_TRUE(d.done);
        ASSERT_EQ(d.consumed, want);
      }
      std::size_t out = 0;
      for (const auto& [p, c] : d.pieces) {
        ASSERT_LE(p.size(), 2u);
        out += p.size();
      }
      ASSERT_LE(out, d.consumed);
    }
  }
}

TEST(BareNewlinePolicy, Parse) {
  EXPECT_EQ(parse_bare_newline("normalize"), BareNewline::Normalize);
  EXPECT_EQ(parse_bare_newline("yes"), BareNewline::Normalize);  // Postfix >= 3.9: alias
  EXPECT_EQ(parse_bare_newline(" Reject "), BareNewline::Reject);
  EXPECT_EQ(parse_bare_newline("no"), BareNewline::No);
  EXPECT_FALSE(parse_bare_newline("maybe"));
  EXPECT_FALSE(parse_bare_newline(""));
}

TEST(BareNewlinePolicy, Reply) {
  EXPECT_EQ(format_reply(bare_newline_reply()), "550 5.5.2 Error: bare <LF> received\r\n");
  EXPECT_EQ(format_reply(bare_newline_reply(521, "mx.example.com")),
            "521 5.5.2 mx.example.com Error: bare <LF> received\r\n");
}

TEST(LineSplitter, SplitsOnCrLfAndBareLf) {
  LineSplitter s(4);
  Collector c;
  s.feed("ab\r", c.sink());
  s.feed("\ncd\nefghij\rk", c.sink());
  EXPECT_TRUE(s.mid_line());
  s.finish(c.sink());
  EXPECT_FALSE(s.mid_line());
  Pieces want = {{"ab", false}, {"cd", false}, {"efgh", true}, {"ij\rk", false}};
  EXPECT_EQ(c.pieces, want);
  EXPECT_EQ(s.bare_lf_count(), 1u);
  EXPECT_EQ(s.bare_cr_count(), 1u);
  EXPECT_EQ(s.lines(), 3u);  // whole lines, not pieces
}

TEST(LineSplitter, FinishWithPendingCr) {
  LineSplitter s;
  Collector c;
  s.feed("abc\r", c.sink());
  s.finish(c.sink());
  EXPECT_EQ(c.pieces, (Pieces{{"abc\r", false}}));
  LineSplitter empty;
  empty.finish(c.sink());
  EXPECT_EQ(c.pieces.size(), 1u);
}

TEST(LineSplitter, BinaryKeepsBareLf) {
  LineSplitter s(2048, /*bare_lf_ends_line=*/false);
  Collector c;
  s.feed("a\nb\r\n\n\r\n", c.sink());
  s.finish(c.sink());
  EXPECT_EQ(c.pieces, (Pieces{{"a\nb", false}, {"\n", false}}));
  EXPECT_EQ(s.bare_lf_count(), 2u);
}

TEST(BdatDecoder, ChunksAreCountedExactlyAndNotUnstuffed) {
  BdatDecoder b;
  Collector c;
  std::string c1 = "Subject: x\r\n\r\n..dot\r\n.\r";  // 23 bytes, ends mid-CRLF
  std::string c2 = "\nlast line";                     // no final CRLF
  ASSERT_TRUE(b.begin_chunk(c1.size(), false).ok());
  EXPECT_TRUE(b.in_chunk());
  EXPECT_EQ(b.feed(c1 + "BDAT 10 LAST\r\n", c.sink()), c1.size());  // stops at the chunk end
  EXPECT_FALSE(b.in_chunk());
  EXPECT_FALSE(b.done());
  ASSERT_TRUE(b.begin_chunk(c2.size(), true).ok());
  EXPECT_EQ(b.feed(c2.substr(0, 4), c.sink()), 4u);
  EXPECT_EQ(b.chunk_remaining(), c2.size() - 4);
  EXPECT_EQ(b.feed(c2.substr(4) + "QUIT\r\n", c.sink()), c2.size() - 4);
  EXPECT_TRUE(b.done());
  EXPECT_EQ(b.message_bytes(), c1.size() + c2.size());
  EXPECT_EQ(c.lines(), (std::vector<std::string>{"Subject: x", "", "..dot", ".", "last line"}));
  // Nothing more is accepted.
  EXPECT_FALSE(b.begin_chunk(1, true).ok());
  EXPECT_EQ(b.feed("x", c.sink()), 0u);
}

TEST(BdatDecoder, ZeroSizedLastChunkFlushesThePartialLine) {
  BdatDecoder b;
  Collector c;
  ASSERT_TRUE(b.begin_chunk(3, false).ok());
  EXPECT_EQ(b.feed("abc", c.sink()), 3u);
  EXPECT_TRUE(c.pieces.empty());
  ASSERT_TRUE(b.begin_chunk(0, true).ok());
  EXPECT_EQ(b.feed("", c.sink()), 0u);
  EXPECT_TRUE(b.done());
  EXPECT_EQ(c.pieces, (Pieces{{"abc", false}}));
}

TEST(BdatDecoder, ChunkOrderErrors) {
  BdatDecoder b;
  Collector c;
  ASSERT_TRUE(b.begin_chunk(5, false).ok());
  EXPECT_FALSE(b.begin_chunk(5, false).ok());  // previous chunk not read yet
  EXPECT_EQ(b.feed("12345", c.sink()), 5u);
  EXPECT_TRUE(b.begin_chunk(0, true).ok());
  EXPECT_EQ(b.feed({}, c.sink()), 0u);
  EXPECT_FALSE(b.begin_chunk(0, true).ok());
  b.reset();
  EXPECT_TRUE(b.begin_chunk(1, true).ok());
  EXPECT_EQ(b.message_bytes(), 0u);
}

TEST(BdatDecoder, FeedWithoutChunkTakesNothing) {
  BdatDecoder b;
  Collector c;
  EXPECT_EQ(b.feed("abc", c.sink()), 0u);
}

TEST(BdatDecoder, BareLfPolicyAndBinary) {
  BdatDecoder text;
  Collector c;
  ASSERT_TRUE(text.begin_chunk(4, true).ok());
  (void)text.feed("a\nb\n", c.sink());
  EXPECT_EQ(c.lines(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(text.rejects(BareNewline::Reject));

  BdatDecoder bin(2048, /*binary=*/true);
  Collector cb;
  ASSERT_TRUE(bin.begin_chunk(6, true).ok());
  (void)bin.feed("a\nb\r\n\r", cb.sink());
  EXPECT_EQ(cb.lines(), (std::vector<std::string>{"a\nb", "\r"}));
  EXPECT_FALSE(bin.rejects(BareNewline::Reject));  // binary content has no line rules
  EXPECT_EQ(bin.bare_cr_count(), 1u);
}

TEST(BdatDecoder, ChunkBoundaryInsideCrLf) {
  BdatDecoder b(3);
  Collector c;
  ASSERT_TRUE(b.begin_chunk(4, false).ok());
  (void)b.feed("abc\r", c.sink());
  ASSERT_TRUE(b.begin_chunk(3, true).ok());
  (void)b.feed("\nde", c.sink());
  EXPECT_EQ(c.pieces, (Pieces{{"abc", false}, {"de", false}}));
}

TEST(DataEncoder, DotStuffingAndTermination) {
  DataEncoder e;
  std::string out;
  e.put("Subject: x", false, out);
  e.put("", false, out);
  e.put(".", false, out);
  e.put("..two", false, out);
  e.put("a.b", false, out);
  e.finish(out);
  EXPECT_EQ(out, "Subject: x\r\n\r\n..\r\n...two\r\na.b\r\n.\r\n");
}

TEST(DataEncoder, ContinuedPiecesFormOneLine) {
  DataEncoder e;
  std::string out;
  e.put(".abc", true, out);
  e.put(".def", true, out);  // not at line start: no stuffing
  e.put("g", false, out);
  e.put("", true, out);      // empty continued piece at line start
  e.put(".x", true, out);    // still the line start
  e.finish(out);             // terminates the unfinished line
  EXPECT_EQ(out, "..abc.defg\r\n..x\r\n.\r\n");
}

TEST(DataEncoder, StrayCrLfBecomeSpaces) {
  DataEncoder e;
  std::string out;
  e.put("a\r\n.\r\nMAIL FROM:<x@y>", false, out);
  e.put("b\nc\rd", false, out);
  e.finish(out);
  EXPECT_EQ(out, "a  .  MAIL FROM:<x@y>\r\nb c d\r\n.\r\n");
}

TEST(DataEncoder, RoundTripsThroughTheDecoder) {
  std::vector<std::string> lines = {"", ".", "..", "...", ". ", "x", ".leading", "trailing.", "",
                                    std::string(5000, 'y'), "." + std::string(3000, 'z'), "end"};
  DataEncoder e;
  std::string wire;
  for (const auto& l : lines) e.put(l, false, wire);
  e.finish(wire);
  Decoded d = decode(wire + "NEXT COMMAND\r\n");
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.consumed, wire.size());
  EXPECT_EQ(lines_of(d.pieces), lines);

  // Continued pieces from the decoder re-encode to the same wire text.
  DataEncoder again;
  std::string rewire;
  for (const auto& [p, c] : d.pieces) again.put(p, c, rewire);
  again.finish(rewire);
  EXPECT_EQ(rewire, wire);
}

// smtp_line_length_limit: a long line is broken after the limit and goes
// on behind one space; a line of exactly the limit is left alone.
TEST(DataEncoder, LongLinesAreBrokenAtTheLimit) {
  DataEncoder e(5);
  std::string out;
  e.put("abcde", false, out);
  e.put("abcdefghijkl", false, out);
  e.put(".dot", false, out);
  e.finish(out);
  EXPECT_EQ(out, "abcde\r\nabcde\r\n fghi\r\n jkl\r\n..dot\r\n.\r\n");
  // Pieces of one line count together, and a break at a piece's end goes
  // on behind the space in the next piece.
  DataEncoder c(4);
  out.clear();
  c.put("ab", true, out);
  c.put("cd", true, out);
  c.put("ef", false, out);
  c.finish(out);
  EXPECT_EQ(out, "abcd\r\n ef\r\n.\r\n");
  // 0: no limit; 1 behaves as 2.
  DataEncoder none(0);
  out.clear();
  none.put(std::string(5000, 'x'), false, out);
  EXPECT_EQ(out, std::string(5000, 'x') + "\r\n");
  DataEncoder one(1);
  out.clear();
  one.put("abcd", false, out);
  EXPECT_EQ(out, "ab\r\n c\r\n d\r\n");
  // Every wire line stays within the limit plus the CRLF.
  DataEncoder d(998);
  out.clear();
  d.put(std::string(10000, 'y'), false, out);
  std::size_t start = 0, lines = 0;
  for (std::size_t nl; (nl = out.find("\r\n", start)) != std::string::npos; start = nl + 2, ++lines)
    EXPECT_LE(nl - start, 998u);
  EXPECT_EQ(lines, 11u);
}

}  // namespace
}  // namespace postern::smtp
