// source.h - reading table source files the way Postfix does.
//
// LineReader yields logical lines with Postfix's readllines() rules: empty
// and whitespace-only lines and lines whose first non-blank character is `#`
// are skipped (even inside a multi-line entry); a line that starts with
// white space continues the previous line (the newline is dropped, the
// leading white space kept); a logical line may not start with white space
// (warned and skipped). Text after a NUL byte is ignored, as with Postfix's
// C strings. Lines longer than kMaxLineLength are skipped with a warning.
//
// parse_key_value() splits one logical line of a postmap(1) source file:
// the key ends at the first unquoted white space (double quotes and
// backslash escapes are honoured and kept), the value is the rest with surrounding
// white space trimmed.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace postern::maps {

// A file opened for reading as an istream, remembering read(2) errors (which
// an ifstream would report as end of file).
class SourceFile {
 public:
  static Result<std::unique_ptr<SourceFile>> open(const std::string& path);
  // Standard input (postmap -i); `name` is used in messages ("stdin").
  static std::unique_ptr<SourceFile> from_fd(int fd, std::string name);
  ~SourceFile();
  SourceFile(const SourceFile&) = delete;
  SourceFile& operator=(const SourceFile&) = delete;

  std::istream& stream() { return *stream_; }
  const std::string& path() const { return path_; }
  const struct stat& st() const { return st_; }
  // errno of the first failed read, 0 if none.
  int read_errno() const;

 private:
  class Buf;
  SourceFile() = default;
  std::string path_;
  struct stat st_ {};
  UniqueFd owned_;
  std::unique_ptr<Buf> buf_;
  std::unique_ptr<std::istream> stream_;
};

using WarningSink = std::function<void(std::string)>;

struct LogicalLine {
  std::string text;
  int first_line = 0;  // physical line number where the entry starts (1-based)
  int last_line = 0;
};

class LineReader {
 public:
  // `name` is used in warnings ("name: logical line must not start ...").
  LineReader(std::istream& in, std::string name, WarningSink warn, std::size_t max_line = 1 << 20);
  // The next logical line, or nullopt at end of input.
  std::optional<LogicalLine> next();
  // True when the stream failed for a reason other than end of file.
  bool io_error() const { return io_error_; }
  const std::string& name() const { return name_; }

 private:
  // One physical line without its newline; false at EOF with nothing read.
  bool read_physical(std::string& line, bool& too_long);
  int peek();

  std::istream& in_;
  std::string name_;
  WarningSink warn_;
  std::size_t max_line_;
  int lineno_ = 0;
  bool io_error_ = false;
};

struct KeyValue {
  std::string key;
  std::string value;
};

struct SkipLine {
  std::string why;  // warning text without the "file, line N: " prefix
};

// One postmap(1) source entry. `extra_warning` is set for lines that are
// stored but look wrong ("key:" in an aliases(5)-style file).
struct ParsedEntry {
  std::variant<KeyValue, SkipLine> result;
  std::optional<std::string> extra_warning;
};
ParsedEntry parse_key_value(std::string_view line);

// A whole postmap(1) source text parsed into entries in file order, with the
// warnings ("name, line N: text") for skipped lines (tests, fuzzing,
// texthash).
struct SourceEntry {
  std::string key;
  std::string value;
  int line = 0;
};
std::vector<SourceEntry> parse_table_source(std::istream& in, std::string_view name,
                                            std::vector<std::string>& warnings);

// Splits a comma/white-space separated list, keeping "{...}" groups whole
// (Postfix's mystrtokq() with CHARS_COMMA_SP and braces): the map list
// "hash:/a, inline:{ k=v, x=y }" has two elements.
std::vector<std::string> split_braced(std::string_view s);

// Postfix's ISSPACE set (space, \t, \n, \v, \f, \r).
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
// Trims Postfix's white space from both ends.
std::string_view trim_space(std::string_view s);

}  // namespace postern::maps
