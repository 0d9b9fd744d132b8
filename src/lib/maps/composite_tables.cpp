// composite_tables.cpp - pipemap:{...} and unionmap:{...}, Postfix's tables
// made of other tables (DATABASE_README):
//
//   pipemap:{type:name, ...}   the key goes to the first table, each result is
//                              the key for the next, the last one's result is
//                              the answer; any "not found" ends it with "not
//                              found"
//   unionmap:{type:name, ...}  the key goes to every table; the answer is the
//                              found results joined with ',' in table order,
//                              "not found" when none has one
//
// A component's error is the composite's error (the caller defers). Both
// are read-only. Keys are folded by each component as its own type does.
#include "base/strings.h"
#include "maps/internal.h"
#include "maps/source.h"

namespace postern::maps {
namespace {

using Components = std::vector<std::unique_ptr<Table>>;

// Composites may nest; a configuration that nests them without end (or
// absurdly deep) is refused rather than allowed to exhaust the stack.
constexpr int kMaxNesting = 8;
thread_local int nesting = 0;

Result<Components> open_components(std::string_view type, std::string_view name, const OpenOptions& o) {
  if (auto s = detail::require_read_only(type, name, o); !s) return s.take_error();
  if (name.size() < 2 || name.front() != '{' || name.back() != '}')
    return make_error("{}:{}: bad syntax: expected {}:{{type:name, ...}}", type, str::printable(name, 200), type);
  if (nesting >= kMaxNesting) return make_error("{}:{}: tables nested more than {} deep", type, str::printable(name, 200), kMaxNesting);
  ++nesting;
  struct Unnest {
    ~Unnest() { --nesting; }
  } unnest;
  Components parts;
  for (const auto& spec : split_braced(name.substr(1, name.size() - 2))) {
    auto t = open_table(spec, o);
    if (!t) return make_error("{}:{}: {}", type, str::printable(name, 200), t.error().message);
    parts.push_back(std::move(*t));
  }
  if (parts.empty()) return make_error("{}:{}: no tables", type, str::printable(name, 200));
  return parts;
}

class CompositeTable : public Table {
 public:
  CompositeTable(std::string type, std::string name, Components parts, OpenOptions o)
      : Table(std::move(type), std::move(name), std::move(o)), parts_(std::move(parts)) {}
  bool changed() const override {
    for (const auto& t : parts_)
      if (t->changed()) return true;
    return false;
  }

 protected:
  Error component_error(const Table& t, const Error& e) const {
    return make_error("{}: {}", t.spec(), e.message);
  }
  Components parts_;
};

class PipeTable final : public CompositeTable {
 public:
  using CompositeTable::CompositeTable;
  // Partial keys (user@domain, @domain) are what the first table sees.
  bool fixed() const override { return parts_.front()->fixed(); }
  Result<std::optional<std::string>> lookup(std::string_view key) override {
    std::string query(key);
    for (auto& t : parts_) {
      auto r = t->lookup(query);
      if (!r) return component_error(*t, r.error());
      if (!r->has_value()) return std::optional<std::string>();
      query = std::move(**r);
    }
    return std::optional<std::string>(std::move(query));
  }
};

class UnionTable final : public CompositeTable {
 public:
  using CompositeTable::CompositeTable;
  // Partial keys only when every table takes them.
  bool fixed() const override {
    for (const auto& t : parts_)
      if (!t->fixed()) return false;
    return true;
  }
  Result<std::optional<std::string>> lookup(std::string_view key) override {
    std::optional<std::string> out;
    for (auto& t : parts_) {
      auto r = t->lookup(key);
      if (!r) return component_error(*t, r.error());
      if (!r->has_value()) continue;
      if (out) *out += ',';
      else out.emplace();
      *out += **r;
    }
    return out;
  }
};

}  // namespace

namespace detail {

Result<std::unique_ptr<Table>> open_pipemap(std::string_view name, const OpenOptions& o) {
  auto parts = open_components("pipemap", name, o);
  if (!parts) return parts.take_error();
  return std::unique_ptr<Table>(new PipeTable("pipemap", std::string(name), std::move(*parts), o));
}

Result<std::unique_ptr<Table>> open_unionmap(std::string_view name, const OpenOptions& o) {
  auto parts = open_components("unionmap", name, o);
  if (!parts) return parts.take_error();
  return std::unique_ptr<Table>(new UnionTable("unionmap", std::string(name), std::move(*parts), o));
}

}  // namespace detail
}  // namespace postern::maps
