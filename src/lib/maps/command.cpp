// command.cpp - see command.h: option parsing and the query/delete/dump/build modes.
//
// Parameters (through the caller's SettingsLoader): default_database_type,
// myhostname, berkeley_db_create_buffer_size, berkeley_db_read_buffer_size.
// Logs: fatal errors, warnings about empty results and source problems.
#include "maps/command.h"

#include <cstdlib>
#include <istream>
#include <memory>
#include <ostream>

#include "log/log.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "maps/build.h"
#include "maps/table.h"

namespace postern::maps {
namespace {

struct Parsed {
  std::optional<std::string> config_dir;
  std::optional<std::string> query;
  std::optional<std::string> del;
  bool sequence = false;
  bool incremental = false;
  bool header_keys = false, body_keys = false, mime = false;  // postmap -h, -b, -m
  BuildOptions build;
  std::vector<std::string> maps;
};

const char* name_of(Program p) { return p == Program::Postmap ? "postmap" : "postalias"; }

int fatal(std::string text) {
  log::write(log::Level::Fatal, text);
  log::flush();
  return 1;
}

int usage(Program p) {
  return fatal(fmt::format("usage: {} [-N{}finoprsuvw] [-c config_dir] [-d key] [-q key] [map_type:]file...",
                           name_of(p), p == Program::Postmap ? "bhm" : ""));
}

// POSIX-style option parsing (clustered flags, "-q key" or "-qkey", "--"
// ends options). Returns an exit status on error.
std::optional<int> parse_args(Program p, const std::vector<std::string>& args, Parsed& out) {
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;
    for (std::size_t j = 1; j < a.size(); ++j) {
      char c = a[j];
      auto value = [&]() -> std::optional<std::string> {
        if (j + 1 < a.size()) {
          std::string v = a.substr(j + 1);
          j = a.size();
          return v;
        }
        if (i + 1 < args.size()) return args[++i];
        return std::nullopt;
      };
      switch (c) {
        case 'N': out.build.nulls = NullMode::With; break;
        case 'n': out.build.nulls = NullMode::Without; break;
        case 'f': out.build.fold = false; break;
        case 'i': out.incremental = true; break;
        case 'o': out.build.as_source_owner = false; break;
        case 'p': out.build.inherit_permissions = false; break;
        case 'r': out.build.duplicates = Duplicates::Replace; break;
        case 'w': out.build.duplicates = Duplicates::Ignore; break;
        case 'u': break;  // UTF-8 handling is not a separate mode in Postern
        case 'v': log::set_verbose(log::verbose() + 1); break;
        case 's':
          if (out.query || out.del) return fatal("specify only one of -s or -q or -d");
          out.sequence = true;
          break;
        case 'c': {
          auto v = value();
          if (!v) return usage(p);
          out.config_dir = *v;
          break;
        }
        case 'q':
        case 'd': {
          auto v = value();
          if (!v) return usage(p);
          if (out.sequence || out.query || out.del) return fatal("specify only one of -s -q or -d");
          (c == 'q' ? out.query : out.del) = *v;
          break;
        }
        case 'b':
        case 'h':
        case 'm':
          if (p != Program::Postmap) return usage(p);
          (c == 'b' ? out.body_keys : c == 'h' ? out.header_keys : out.mime) = true;
          break;
        case 'F':
        case 'U':
          if (p == Program::Postmap)
            return fatal(fmt::format("option -{} is not supported by Postern's postmap", c));
          return usage(p);
        default: return usage(p);
      }
    }
  }
  for (; i < args.size(); ++i) out.maps.push_back(args[i]);
  if (out.maps.empty()) return usage(p);
  if ((out.header_keys || out.body_keys || out.mime) && out.query != "-")
    return fatal("options -b, -h and -m read a message: use them with -q -");
  return std::nullopt;
}

OpenOptions read_options(const Parsed& a, const CommandSettings& s, Access access) {
  OpenOptions o;
  o.access = access;
  o.fold_fix = a.build.fold;
  o.nulls = a.build.nulls;
  o.duplicates = a.build.duplicates;
  o.lock = true;
  o.db_cache_size = access == Access::ReadOnly ? s.db_read_buffer_size : s.db_create_buffer_size;
  o.lmdb_map_size = s.lmdb_map_size;
  return o;
}

Result<std::unique_ptr<Table>> open_named(const std::string& spec, const CommandSettings& s,
                                          const OpenOptions& o) {
  auto [type, name] = split_with_default(spec, s.default_database_type);
  return open_table(type, name, o);
}

void warn_empty(const Table& t, const std::string& key) {
  log::warning("table {}: key {}: empty string result is not allowed", t.spec(), key);
  log::warning("table {} should return NO RESULT in case of NOT FOUND", t.spec());
}

bool read_key(std::istream& in, std::string& key) {
  if (!std::getline(in, key)) return false;
  return true;
}

// One line of a message, without its "\n", at most `limit` bytes kept (the
// rest of a longer line is read and dropped, so memory stays bounded).
bool read_message_line(std::istream& in, std::string& line, std::size_t limit) {
  line.clear();
  std::streambuf* sb = in.rdbuf();
  bool any = false;
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return any;
    }
    any = true;
    if (c == '\n') return true;
    if (line.size() < limit) line += static_cast<char>(c);
  }
}

// postmap -h/-b/-m: calls `key` with each lookup key of the message on `in`.
void message_keys(std::istream& in, const Parsed& a, const CommandSettings& s,
                  const std::function<void(const std::string&)>& key) {
  const std::size_t limit = std::max<std::size_t>(1, s.header_size_limit);
  mail::HeaderParser primary(mail::HeaderParserOptions{limit});
  std::optional<mail::MimeScanner> mime;
  if (a.mime)
    mime.emplace(mail::MimeOptions{.header_size_limit = limit,
                                   .nesting_limit = std::max<std::size_t>(1, s.mime_nesting_limit),
                                   .boundary_length_limit = std::max<std::size_t>(1, s.mime_boundary_length_limit)});
  bool in_headers = true;
  std::string line;
  while (read_message_line(in, line, limit)) {
    if (in_headers) {
      auto step = primary.feed(line);
      if (step.header) {
        if (mime && step.header->kind == mail::HeaderKind::kContentType) mime->primary_content_type(step.header->value);
        if (a.header_keys) key(step.header->text());
      }
      if (step.end_of_headers) in_headers = false;
      // The empty line after the headers is a body key, as in Postfix,
      // which also makes up one when a body line ends the headers.
      if (step.end_of_headers && a.body_keys) key("");
      if (!step.body_line) continue;
    }
    if (mime) {
      auto step = mime->feed(line);
      if (step.header && a.header_keys) key(step.header->text());
      // Body lines, and (as in Postfix) the empty line that ends a part's
      // or an attached message's headers.
      if ((step.body_line || line.empty()) && a.body_keys) key(line);
    } else if (a.body_keys) {
      key(line);
    } else {
      return;  // -h alone: the message's own headers are all
    }
  }
  if (in_headers) {
    if (auto h = primary.finish(); h && a.header_keys) key(h->text());
  } else if (mime) {
    if (auto step = mime->finish(); step && step->header && a.header_keys) key(step->header->text());
  }
}

int run_queries(Program p, const Parsed& a, const CommandSettings& s, CommandIo io) {
  const char* sep = p == Program::Postmap ? "\t" : ":\t";
  OpenOptions o = read_options(a, s, Access::ReadOnly);
  if (*a.query != "-") {
    for (const auto& spec : a.maps) {
      auto t = open_named(spec, s, o);
      if (!t) return fatal(t.error().message);
      auto v = (*t)->lookup(*a.query);
      if (!v) return fatal(fmt::format("table {}: query error: {}", (*t)->spec(), v.error().message));
      if (*v) {
        if ((*v)->empty()) warn_empty(**t, *a.query);
        io.out << **v << '\n';
        io.out.flush();
        return 0;
      }
    }
    return 1;
  }
  // Keys from stdin; tables opened on first use, as Postfix does.
  std::vector<std::unique_ptr<Table>> tables(a.maps.size());
  bool found = false;
  std::optional<int> failed;
  auto query = [&](const std::string& key) {
    if (failed) return;
    for (std::size_t n = 0; n < a.maps.size(); ++n) {
      if (!tables[n]) {
        auto t = open_named(a.maps[n], s, o);
        if (!t) {
          failed = fatal(t.error().message);
          return;
        }
        tables[n] = std::move(*t);
      }
      auto v = tables[n]->lookup(key);
      if (!v) {
        failed = fatal(fmt::format("table {}: query error: {}", tables[n]->spec(), v.error().message));
        return;
      }
      if (*v) {
        if ((*v)->empty()) warn_empty(*tables[n], key);
        io.out << key << sep << **v << '\n';
        found = true;
        return;
      }
    }
  };
  if (a.header_keys || a.body_keys) {
    message_keys(io.in, a, s, query);
  } else {
    std::string key;
    while (!failed && read_key(io.in, key)) query(key);
  }
  io.out.flush();
  if (failed) return *failed;
  return found ? 0 : 1;
}

int run_deletes(const Parsed& a, const CommandSettings& s, CommandIo io) {
  OpenOptions o = read_options(a, s, Access::Update);
  o.create = false;  // like Postfix, -d does not create a missing table
  std::vector<std::unique_ptr<Table>> tables;
  for (const auto& spec : a.maps) {
    auto t = open_named(spec, s, o);
    if (!t) return fatal(t.error().message);
    tables.push_back(std::move(*t));
  }
  bool found = false;
  auto remove_everywhere = [&](const std::string& key) -> std::optional<int> {
    for (auto& t : tables) {
      auto r = t->remove(key);
      if (!r) return fatal(fmt::format("table {}: delete error: {}", t->spec(), r.error().message));
      found |= *r;
    }
    return std::nullopt;
  };
  if (*a.del == "-") {
    std::string key;
    while (read_key(io.in, key))
      if (auto rc = remove_everywhere(key)) return *rc;
  } else if (auto rc = remove_everywhere(*a.del)) {
    return *rc;
  }
  for (auto& t : tables)
    if (auto c = t->commit(); !c) return fatal(c.error().message);
  return found ? 0 : 1;
}

int run_sequence(Program p, const Parsed& a, const CommandSettings& s, CommandIo io) {
  const char* sep = p == Program::Postmap ? "\t" : ":\t";
  auto t = open_named(a.maps.front(), s, read_options(a, s, Access::ReadOnly));
  if (!t) return fatal(t.error().message);
  Status st = (*t)->for_each([&](std::string_view k, std::string_view v) {
    if (k.empty())
      log::warning("table {}: empty lookup key value is not allowed", (*t)->spec());
    else if (v.empty())
      warn_empty(**t, std::string(k));
    io.out << k << sep << v << '\n';
    return true;
  });
  io.out.flush();
  if (!st) return fatal(st.error().message);
  return 0;
}

int run_builds(Program p, Parsed& a, const CommandSettings& s, CommandIo io) {
  a.build.default_type = s.default_database_type;
  a.build.cache_size = s.db_create_buffer_size;
  a.build.lmdb_map_size = s.lmdb_map_size;
  a.build.myhostname = s.myhostname;
  for (const auto& spec : a.maps) {
    Result<BuildReport> r = BuildReport{};
    if (a.incremental)
      r = p == Program::Postmap ? update_map(spec, io.in, "stdin", a.build)
                                : update_aliases(spec, io.in, "stdin", a.build);
    else
      r = p == Program::Postmap ? build_map(spec, a.build) : build_aliases(spec, a.build);
    if (!r) return fatal(r.error().message);
    log::debug("{}: {} entries stored, {} skipped", r->db_path, r->stored, r->skipped);
  }
  return 0;
}

}  // namespace

int run_table_command(Program program, const std::vector<std::string>& args, CommandIo io,
                      const SettingsLoader& load_settings) {
  if (std::getenv("MAIL_VERBOSE")) log::set_verbose(std::max(log::verbose(), 1));
  Parsed a;
  if (auto rc = parse_args(program, args, a)) return *rc;
  std::optional<std::string> dir = a.config_dir;
  if (!dir) {
    if (const char* env = std::getenv("MAIL_CONFIG"); env && *env) dir = env;
  }
  CommandSettings settings;
  if (load_settings) {
    auto s = load_settings(dir);
    if (!s) return fatal(s.error().message);
    settings = std::move(*s);
  }
  if (a.del) return run_deletes(a, settings, io);
  if (a.query) return run_queries(program, a, settings, io);
  if (a.sequence) return run_sequence(program, a, settings, io);
  return run_builds(program, a, settings, io);
}

}  // namespace postern::maps
