// source.cpp - logical lines and "key value" entries of table source files.
//
// Mirrors Postfix's readllines() and postmap's line parser, so that a source
// file builds the same table with Postern as with Postfix, and produces the
// same warnings ("file, line N: expected format: key whitespace value").
// Reads no parameters; warnings go to the caller's sink.
#include "maps/source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

namespace postern::maps {

// A read-only streambuf over a file descriptor that keeps the errno of a
// failed read instead of turning it into a silent end of file.
class SourceFile::Buf : public std::streambuf {
 public:
  explicit Buf(int fd) : fd_(fd) {}
  int error() const { return error_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    for (;;) {
      ssize_t n = ::read(fd_, buf_, sizeof buf_);
      if (n > 0) {
        setg(buf_, buf_, buf_ + n);
        return traits_type::to_int_type(*gptr());
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && error_ == 0) error_ = errno;
      return traits_type::eof();
    }
  }

 private:
  int fd_;
  int error_ = 0;
  char buf_[64 * 1024];
};

Result<std::unique_ptr<SourceFile>> SourceFile::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return sys_error("open {}", path);
  std::unique_ptr<SourceFile> f(new SourceFile());
  if (::fstat(fd.get(), &f->st_) < 0) return sys_error("fstat {}", path);
  f->path_ = path;
  f->buf_ = std::make_unique<Buf>(fd.get());
  f->stream_ = std::make_unique<std::istream>(f->buf_.get());
  f->owned_ = std::move(fd);
  return f;
}

std::unique_ptr<SourceFile> SourceFile::from_fd(int fd, std::string name) {
  std::unique_ptr<SourceFile> f(new SourceFile());
  if (::fstat(fd, &f->st_) < 0) f->st_ = {};
  f->path_ = std::move(name);
  f->buf_ = std::make_unique<Buf>(fd);
  f->stream_ = std::make_unique<std::istream>(f->buf_.get());
  return f;
}

SourceFile::~SourceFile() = default;

int SourceFile::read_errno() const { return buf_ ? buf_->error() : 0; }

std::string_view trim_space(std::string_view s) {
  std::size_t b = 0;
  while (b < s.size() && is_space(s[b])) ++b;
  std::size_t e = s.size();
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> split_braced(std::string_view s) {
  auto is_sep = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_sep(s[i])) ++i;
    if (i == s.size()) break;
    std::size_t start = i;
    int level = 0;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c == '{')
        ++level;
      else if (level > 0 && c == '}')
        --level;
      else if (level == 0 && is_sep(c))
        break;
    }
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

LineReader::LineReader(std::istream& in, std::string name, WarningSink warn, std::size_t max_line)
    : in_(in), name_(std::move(name)), warn_(std::move(warn)), max_line_(max_line) {}

int LineReader::peek() {
  std::streambuf* sb = in_.rdbuf();
  return sb ? sb->sgetc() : std::char_traits<char>::eof();
}

bool LineReader::read_physical(std::string& line, bool& too_long) {
  using traits = std::char_traits<char>;
  line.clear();
  too_long = false;
  std::streambuf* sb = in_.rdbuf();
  if (!sb || traits::eq_int_type(sb->sgetc(), traits::eof())) return false;
  ++lineno_;
  for (;;) {
    int c = sb->sbumpc();
    if (traits::eq_int_type(c, traits::eof()) || c == '\n') break;
    if (line.size() < max_line_)
      line.push_back(traits::to_char_type(c));
    else
      too_long = true;
  }
  return true;
}

std::optional<LogicalLine> LineReader::next() {
  using traits = std::char_traits<char>;
  for (;;) {
    LogicalLine out;
    bool any = false;
    bool too_long = false;
    std::string line;
    for (;;) {
      bool tl = false;
      if (!read_physical(line, tl)) break;
      std::size_t i = 0;
      while (i < line.size() && is_space(line[i])) ++i;
      bool skip = (i == line.size() && !tl) || (i < line.size() && line[i] == '#');
      if (!skip) {
        if (!any) out.first_line = lineno_;
        out.last_line = lineno_;
        any = true;
        if (tl || out.text.size() + line.size() > max_line_) {
          too_long = true;
          out.text.clear();
        } else if (!too_long) {
          out.text += line;
        }
      }
      if (any) {
        int next = peek();
        if (traits::eq_int_type(next, traits::eof())) break;
        if (next != '#' && !is_space(traits::to_char_type(next))) break;
      }
    }
    if (!any) return std::nullopt;
    if (too_long) {
      if (warn_)
        warn_(name_ + ", line " + std::to_string(out.first_line) + ": line longer than " +
              std::to_string(max_line_) + " bytes -- ignoring this line");
      continue;
    }
    if (!out.text.empty() && is_space(out.text[0])) {
      // Same diagnostic as Postfix: continued text without a preceding line.
      if (warn_) {
        std::string head = out.text.substr(0, 30);
        for (char& c : head)
          if (c == '\0') c = '?';
        warn_(name_ + ": logical line must not start with whitespace: \"" + head +
              (out.text.size() > 30 ? "...\"" : "\""));
      }
      continue;
    }
    // Postfix works with C strings: a NUL byte ends the entry.
    if (auto nul = out.text.find('\0'); nul != std::string::npos) out.text.resize(nul);
    return out;
  }
}

ParsedEntry parse_key_value(std::string_view line) {
  ParsedEntry out;
  std::size_t i = 0;
  bool in_quotes = false;
  for (; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\') {
      if (++i >= line.size()) break;
    } else if (is_space(c)) {
      if (!in_quotes) break;
    } else if (c == '"') {
      in_quotes = !in_quotes;
    }
  }
  if (in_quotes) {
    out.result = SkipLine{"unbalanced '\"' in '" + std::string(line) + "' -- ignoring this line"};
    return out;
  }
  std::string_view key = line.substr(0, std::min(i, line.size()));
  std::string_view value = i < line.size() ? trim_space(line.substr(i + 1)) : std::string_view{};
  if (key.empty() || value.empty()) {
    out.result = SkipLine{"expected format: key whitespace value"};
    return out;
  }
  if (key.back() == ':') out.extra_warning = "record is in \"key: value\" format; is this an alias file?";
  out.result = KeyValue{std::string(key), std::string(value)};
  return out;
}

std::vector<SourceEntry> parse_table_source(std::istream& in, std::string_view name,
                                            std::vector<std::string>& warnings) {
  std::vector<SourceEntry> out;
  std::string nm(name);
  LineReader reader(in, nm, [&](std::string w) { warnings.push_back(std::move(w)); });
  while (auto line = reader.next()) {
    ParsedEntry e = parse_key_value(line->text);
    std::string where = nm + ", line " + std::to_string(line->first_line) + ": ";
    if (auto* skip = std::get_if<SkipLine>(&e.result)) {
      warnings.push_back(where + skip->why);
      continue;
    }
    if (e.extra_warning) warnings.push_back(where + *e.extra_warning);
    auto& kv = std::get<KeyValue>(e.result);
    out.push_back(SourceEntry{std::move(kv.key), std::move(kv.value), line->first_line});
  }
  return out;
}

}  // namespace postern::maps
