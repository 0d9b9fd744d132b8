// texthash_table.cpp - texthash:/file, a postmap(1) source file read into memory.
//
// Gives the answers hash:/file would give after "postmap /file", without the
// postmap step; like Postfix it does not notice later edits itself (changed()
// reports them so that daemons restart). Keys are folded with fold_fix.
// Duplicate keys keep the first value and warn (Duplicates::Warn).
//
// Logs: "file, line N: ..." warnings for skipped lines and duplicates.
#include <unordered_map>

#include "maps/internal.h"
#include "maps/source.h"
#include "maps/text_tables.h"

namespace postern::maps {
namespace {

class TexthashTable final : public Table {
 public:
  TexthashTable(std::string name, OpenOptions o) : Table("texthash", std::move(name), std::move(o)) {}

  void load(std::istream& in) {
    LineReader reader(in, name(), [this](std::string w) { warn(std::move(w)); });
    while (auto line = reader.next()) {
      ParsedEntry e = parse_key_value(line->text);
      std::string where = name() + ", line " + std::to_string(line->first_line) + ": ";
      if (auto* skip = std::get_if<SkipLine>(&e.result)) {
        warn(where + skip->why);
        continue;
      }
      if (e.extra_warning) warn(where + *e.extra_warning);
      auto& kv = std::get<KeyValue>(e.result);
      std::string key = fixed_key(kv.key);
      auto it = entries_.find(key);
      if (it == entries_.end()) {
        order_.push_back(key);
        entries_.emplace(std::move(key), std::move(kv.value));
        continue;
      }
      switch (options().duplicates) {
        case Duplicates::Replace: it->second = std::move(kv.value); break;
        case Duplicates::Ignore: break;
        case Duplicates::Warn:
        case Duplicates::Error: warn(where + "duplicate entry: \"" + key + "\""); break;
      }
    }
  }

  void set_stamp(const struct stat& st) {
    stamp_ = detail::FileStamp::of(st);
    has_stamp_ = true;
  }

  bool fixed() const override { return true; }

  Result<std::optional<std::string>> lookup(std::string_view key) override {
    auto it = entries_.find(fixed_key(key));
    if (it == entries_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  Status for_each(const std::function<bool(std::string_view, std::string_view)>& fn) override {
    for (const auto& k : order_)
      if (!fn(k, entries_.at(k))) break;
    return {};
  }

  bool changed() const override { return has_stamp_ && stamp_.differs_from_path(name()); }

 private:
  std::unordered_map<std::string, std::string> entries_;
  std::vector<std::string> order_;  // file order, for for_each()
  detail::FileStamp stamp_;
  bool has_stamp_ = false;
};

}  // namespace

std::unique_ptr<Table> parse_texthash_table(std::string name, std::istream& in, const OpenOptions& o) {
  auto t = std::make_unique<TexthashTable>(std::move(name), o);
  t->load(in);
  return t;
}

namespace detail {

Result<std::unique_ptr<Table>> open_texthash(std::string_view name, const OpenOptions& o) {
  if (auto s = require_read_only("texthash", name, o); !s) return s.take_error();
  auto file = SourceFile::open(std::string(name));
  if (!file) return file.take_error();
  auto t = std::make_unique<TexthashTable>(std::string(name), o);
  t->load((*file)->stream());
  if (int e = (*file)->read_errno()) {
    errno = e;
    return sys_error("texthash map {}: read error", name);
  }
  t->set_stamp((*file)->st());
  return std::unique_ptr<Table>(std::move(t));
}

}  // namespace detail
}  // namespace postern::maps
