// cidr_table.cpp - cidr:/file, cidr_table(5): network blocks to results.
//
// Rules, tried in file order, first match wins:
//   192.168.1.0/24   result     IPv4 or IPv6 prefix ([] around the address allowed)
//   192.168.1.1      result     a single address
//   !10.0.0.0/8      result     matches addresses outside the block
//   if 10.0.0.0/8 ... endif     nested blocks, also "if !prefix"
// The lookup key is an IP address (IPv6 when it contains ':'); anything
// else is "not found". A rule only matches keys of its own address family,
// and an "if" for the other family skips its block, as in Postfix. Bad rules
// (host bits set, mask too long, bad address) are skipped with Postfix's
// warnings, e.g. "cidr map /etc/x, line 4: non-null host address bits in
// "1.2.3.5/24", perhaps you should use "1.2.3.0/24" instead: skipping this rule".
#include <arpa/inet.h>
#include <sys/socket.h>

#include <array>
#include <cctype>
#include <cstring>

#include "base/strings.h"
#include "maps/internal.h"
#include "maps/source.h"
#include "maps/text_tables.h"

namespace postern::maps {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

int family_of(std::string_view addr) { return addr.find(':') != std::string_view::npos ? AF_INET6 : AF_INET; }

struct Block {
  int family = AF_INET;
  std::array<unsigned char, 16> net{};
  std::array<unsigned char, 16> mask{};
  bool match = true;  // false: negated
  std::size_t bytes() const { return family == AF_INET6 ? 16 : 4; }
  bool contains(const unsigned char* addr) const {
    for (std::size_t i = 0; i < bytes(); ++i)
      if ((addr[i] & mask[i]) != net[i]) return false;
    return true;
  }
};

void apply_mask(std::array<unsigned char, 16>& bytes, std::size_t count, int bits) {
  for (std::size_t i = 0; i < count; ++i) {
    int keep = std::clamp(bits - static_cast<int>(i) * 8, 0, 8);
    bytes[i] &= static_cast<unsigned char>(0xff00 >> keep);
  }
}

bool inet_parse(int family, const std::string& text, unsigned char* out) {
  return ::inet_pton(family, text.c_str(), out) == 1;
}

// Parses "[!...]addr[/len]" (Postfix's cidr_match_parse()). Returns the
// problem text on failure.
Result<Block> parse_block(std::string_view pattern) {
  Block b;
  std::size_t i = 0;
  for (; i < pattern.size(); ++i) {
    if (pattern[i] == '!')
      b.match = !b.match;
    else if (!is_space(pattern[i]))
      break;
  }
  pattern = pattern.substr(i);
  if (pattern.empty()) return make_error("no address pattern");
  std::string addr(pattern);
  std::optional<std::string> mask;
  if (addr[0] == '[') {
    auto close = addr.find(']');
    if (close == std::string::npos) return make_error("missing ']' character after \"{}\"", addr);
    std::string inner = addr.substr(1, close - 1);
    std::string after = addr.substr(close + 1);
    if (!after.empty() && after[0] != '/') return make_error("garbage after \"[{}]\"", inner);
    addr = inner;
    if (!after.empty()) {
      mask = after.substr(1);
    } else if (auto slash = addr.find('/'); slash != std::string::npos) {  // [addr/len]
      mask = addr.substr(slash + 1);
      addr.resize(slash);
    }
  } else if (auto slash = addr.find('/'); slash != std::string::npos) {
    mask = addr.substr(slash + 1);
    addr.resize(slash);
  }
  b.family = family_of(addr);
  int bits = b.family == AF_INET6 ? 128 : 32;
  if (!mask) {
    if (!inet_parse(b.family, addr, b.net.data())) return make_error("bad address pattern: \"{}\"", addr);
    b.mask.fill(0xff);
    return b;
  }
  bool digits =
      !mask->empty() && std::all_of(mask->begin(), mask->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return make_error("bad mask value in \"{}/{}\"", addr, *mask);
  long len = 0;
  for (char c : *mask) len = std::min<long>(len * 10 + (c - '0'), 1000);
  if (len > bits) return make_error("bad mask length in \"{}/{}\"", addr, *mask);
  if (!inet_parse(b.family, addr, b.net.data()))
    return make_error("bad network value in \"{}/{}\"", addr, *mask);
  b.mask.fill(0xff);
  apply_mask(b.mask, b.bytes(), static_cast<int>(len));
  for (std::size_t k = 0; k < b.bytes(); ++k) {
    if (b.net[k] & ~b.mask[k]) {
      auto fixed = b.net;
      apply_mask(fixed, b.bytes(), static_cast<int>(len));
      char buf[INET6_ADDRSTRLEN] = {0};
      ::inet_ntop(b.family, fixed.data(), buf, sizeof buf);
      return make_error("non-null host address bits in \"{}/{}\", perhaps you should use \"{}/{}\" instead",
                        addr, *mask, buf, len);
    }
  }
  return b;
}

struct CidrRule {
  enum Op { Match, If, Endif } op = Match;
  Block block;
  std::string value;
  std::size_t endif = 0;
  bool has_endif = false;
  int line = 0;
};

class CidrTable final : public Table {
 public:
  CidrTable(std::string name, OpenOptions o) : Table("cidr", std::move(name), std::move(o)) {}

  void load(std::istream& in) {
    LineReader reader(in, name(), [this](std::string w) { warn(std::move(w)); });
    std::vector<std::size_t> stack;
    while (auto line = reader.next()) {
      std::string_view p = trim_space(line->text);
      if (p.empty()) continue;
      auto rule = parse_rule(p, stack.size());
      if (!rule) {
        warn(fmt::format("cidr map {}, line {}: {}: skipping this rule", name(), line->first_line,
                         rule.error().message));
        continue;
      }
      rule->line = line->first_line;
      if (rule->op == CidrRule::If) {
        stack.push_back(rules_.size());
      } else if (rule->op == CidrRule::Endif) {
        rules_[stack.back()].endif = rules_.size();
        rules_[stack.back()].has_endif = true;
        stack.pop_back();
      }
      rules_.push_back(std::move(*rule));
    }
    while (!stack.empty()) {
      warn(fmt::format("cidr map {}, line {}: IF has no matching ENDIF", name(), rules_[stack.back()].line));
      stack.pop_back();
    }
  }

  void set_stamp(const struct stat& st) {
    stamp_ = detail::FileStamp::of(st);
    has_stamp_ = true;
  }

  bool fixed() const override { return false; }

  Result<std::optional<std::string>> lookup(std::string_view raw) override {
    std::string key = pattern_key(raw);
    int family = family_of(key);
    unsigned char addr[16] = {0};
    if (!inet_parse(family, key, addr)) return std::optional<std::string>();
    for (std::size_t i = 0; i < rules_.size(); ++i) {
      const CidrRule& r = rules_[i];
      switch (r.op) {
        case CidrRule::Match:
          if (r.block.family == family && r.block.contains(addr) == r.block.match)
            return std::optional<std::string>(r.value);
          break;
        case CidrRule::If:
          if (r.block.family == family && r.block.contains(addr) == r.block.match) break;
          if (!r.has_endif) return std::optional<std::string>();
          i = r.endif;
          break;
        case CidrRule::Endif: break;
      }
    }
    return std::optional<std::string>();
  }

  bool changed() const override { return has_stamp_ && stamp_.differs_from_path(name()); }

 private:
  static Result<CidrRule> parse_rule(std::string_view p, std::size_t nesting) {
    CidrRule rule;
    if (str::istarts_with(p, "if") && (p.size() == 2 || !is_alnum(p[2]))) {
      auto b = parse_block(trim_space(p.substr(2)));
      if (!b) return b.take_error();
      rule.op = CidrRule::If;
      rule.block = *b;
      return rule;
    }
    if (str::istarts_with(p, "endif") && (p.size() == 5 || !is_alnum(p[5]))) {
      if (!trim_space(p.substr(5)).empty()) return make_error("garbage after ENDIF");
      if (nesting == 0) return make_error("ENDIF without IF");
      rule.op = CidrRule::Endif;
      return rule;
    }
    // "[!...]pattern value": negation may be separated by white space.
    std::size_t i = 0;
    bool negate = false;
    for (; i < p.size(); ++i) {
      if (p[i] == '!')
        negate = !negate;
      else if (!is_space(p[i]))
        break;
    }
    std::size_t start = i;
    while (i < p.size() && !is_space(p[i])) ++i;
    std::string_view pattern = p.substr(start, i - start);
    std::string_view value = trim_space(p.substr(i));
    if (pattern.empty()) return make_error("no address pattern");
    auto b = parse_block(pattern);
    if (!b) return b.take_error();
    if (negate) b->match = !b->match;
    if (value.empty()) return make_error("no lookup result");
    rule.block = *b;
    rule.value = std::string(value);
    return rule;
  }

  std::vector<CidrRule> rules_;
  detail::FileStamp stamp_;
  bool has_stamp_ = false;
};

}  // namespace

std::unique_ptr<Table> parse_cidr_table(std::string name, std::istream& in, const OpenOptions& o) {
  auto t = std::make_unique<CidrTable>(std::move(name), o);
  t->load(in);
  return t;
}

namespace detail {

Result<std::unique_ptr<Table>> open_cidr(std::string_view name, const OpenOptions& o) {
  if (auto s = require_read_only("cidr", name, o); !s) return s.take_error();
  auto file = SourceFile::open(std::string(name));
  if (!file) return file.take_error();
  auto t = std::make_unique<CidrTable>(std::string(name), o);
  t->load((*file)->stream());
  if (int e = (*file)->read_errno()) {
    errno = e;
    return sys_error("cidr map {}: read error", name);
  }
  t->set_stamp((*file)->st());
  return std::unique_ptr<Table>(std::move(t));
}

}  // namespace detail
}  // namespace postern::maps
