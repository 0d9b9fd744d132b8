// source_test.cpp - logical lines and "key value" parsing (Postfix readllines/postmap rules).
#include "maps/source.h"

#include <gtest/gtest.h>

#include <sstream>

namespace postern::maps {
namespace {

struct Lines {
  std::vector<LogicalLine> lines;
  std::vector<std::string> warnings;
};

Lines read_all(const std::string& text, std::size_t max = 1 << 20) {
  std::istringstream in(text);
  Lines out;
  LineReader r(
      in, "src", [&](std::string w) { out.warnings.push_back(std::move(w)); }, max);
  while (auto l = r.next()) out.lines.push_back(*l);
  return out;
}

TEST(LineReader, SkipsCommentsAndBlankLines) {
  auto r = read_all("# comment\n\n   \na b\n  # indented comment\n\t\nc d");
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].text, "a b");
  EXPECT_EQ(r.lines[0].first_line, 4);
  EXPECT_EQ(r.lines[1].text, "c d");
  EXPECT_EQ(r.lines[1].first_line, 7);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(LineReader, ContinuationKeepsLeadingWhitespaceDropsNewline) {
  auto r = read_all("multi first\n  second\n# comment inside\n\tthird\n\n more\nnext x\n");
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].text, "multi first  second\tthird more");
  EXPECT_EQ(r.lines[0].first_line, 1);
  EXPECT_EQ(r.lines[0].last_line, 6);
  EXPECT_EQ(r.lines[1].text, "next x");
  EXPECT_EQ(r.lines[1].first_line, 7);
}

TEST(LineReader, LeadingWhitespaceWithoutPrecedingLineIsWarnedAndSkipped) {
  auto r = read_all(" lead x\n  cont\nok y\n");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].text, "ok y");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "src: logical line must not start with whitespace: \" lead x  cont\"");
}

TEST(LineReader, LongWhitespaceLineIsAbbreviated) {
  auto r = read_all(" " + std::string(40, 'x') + "\n");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0],
            "src: logical line must not start with whitespace: \" " + std::string(29, 'x') + "...\"");
}

TEST(LineReader, NulByteEndsTheEntry) {
  std::string text("key val\0ue\nnext x\n", 18);
  auto r = read_all(text);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].text, "key val");
}

TEST(LineReader, OverlongLinesAreSkippedWithAWarning) {
  auto r =
      read_all("short a\n" + std::string(100, 'k') + " v\n  " + std::string(50, 'c') + "\nafter b\n", 64);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].text, "short a");
  EXPECT_EQ(r.lines[1].text, "after b");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0], "src, line 2: line longer than 64 bytes -- ignoring this line");
}

TEST(LineReader, EmptyInput) {
  EXPECT_TRUE(read_all("").lines.empty());
  EXPECT_TRUE(read_all("\n\n# x\n").lines.empty());
}

KeyValue kv(const std::string& line) {
  auto e = parse_key_value(line);
  EXPECT_TRUE(std::holds_alternative<KeyValue>(e.result)) << line;
  if (auto* p = std::get_if<KeyValue>(&e.result)) return *p;
  return {};
}

std::string skip(const std::string& line) {
  auto e = parse_key_value(line);
  if (auto* p = std::get_if<SkipLine>(&e.result)) return p->why;
  return "<accepted>";
}

TEST(ParseKeyValue, SplitsAtFirstWhitespaceAndTrimsValue) {
  auto a = kv("Foo   bar baz  \r");
  EXPECT_EQ(a.key, "Foo");
  EXPECT_EQ(a.value, "bar baz");
  auto b = kv("k\tv");
  EXPECT_EQ(b.key, "k");
  EXPECT_EQ(b.value, "v");
}

TEST(ParseKeyValue, QuotesAndBackslashesKeepWhitespaceInTheKey) {
  auto a = kv("\"a b\"@example.com   quoted key");
  EXPECT_EQ(a.key, "\"a b\"@example.com");
  EXPECT_EQ(a.value, "quoted key");
  auto b = kv("k\\ ey v");
  EXPECT_EQ(b.key, "k\\ ey");
  EXPECT_EQ(b.value, "v");
}

TEST(ParseKeyValue, RejectsBadLines) {
  EXPECT_EQ(skip("lonely"), "expected format: key whitespace value");
  EXPECT_EQ(skip("key   "), "expected format: key whitespace value");
  EXPECT_EQ(skip("\"unbal val"), "unbalanced '\"' in '\"unbal val' -- ignoring this line");
  EXPECT_EQ(skip("trailing\\"), "expected format: key whitespace value");
  EXPECT_EQ(skip(""), "expected format: key whitespace value");
}

TEST(ParseKeyValue, WarnsAboutAliasStyleLines) {
  auto e = parse_key_value("key: value");
  ASSERT_TRUE(std::holds_alternative<KeyValue>(e.result));
  ASSERT_TRUE(e.extra_warning.has_value());
  EXPECT_EQ(*e.extra_warning, "record is in \"key: value\" format; is this an alias file?");
}

TEST(ParseTableSource, EntriesAndWarningsWithLineNumbers) {
  std::istringstream in("a 1\nbad\n\"x\n  y\nb: 2\nc 3\n");
  std::vector<std::string> w;
  auto e = parse_table_source(in, "file", w);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].key, "a");
  EXPECT_EQ(e[1].key, "b:");
  EXPECT_EQ(e[1].line, 5);
  EXPECT_EQ(e[2].line, 6);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], "file, line 2: expected format: key whitespace value");
  EXPECT_EQ(w[1], "file, line 3: unbalanced '\"' in '\"x  y' -- ignoring this line");
  EXPECT_EQ(w[2], "file, line 5: record is in \"key: value\" format; is this an alias file?");
}

TEST(SplitBraced, KeepsBraceGroups) {
  auto v = split_braced("hash:/a, inline:{ k=v, x=y }  ,static:{ a b },, regexp:/r");
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0], "hash:/a");
  EXPECT_EQ(v[1], "inline:{ k=v, x=y }");
  EXPECT_EQ(v[2], "static:{ a b }");
  EXPECT_EQ(v[3], "regexp:/r");
  EXPECT_TRUE(split_braced(" , ").empty());
  // An unbalanced group runs to the end instead of being split.
  EXPECT_EQ(split_braced("inline:{a=b, c").size(), 1u);
}

}  // namespace
}  // namespace postern::maps
