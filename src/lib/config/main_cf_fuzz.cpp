// main_cf_fuzz.cpp - libFuzzer target: arbitrary bytes as main.cf.
//
// Checks the promises of config.h: no crash or unbounded work on any input,
// and a Config that loaded answers every typed getter without failing.
// Also edits the text and reloads it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"
#include "config/edit.h"
#include "config/registry.h"

using namespace postern::config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = Config::from_text(text);
  if (cfg) {
    for (const auto& name : cfg->explicit_names()) {
      auto v = cfg->get(name);
      const ParamDef* def = find_param(name);
      if (!def) continue;
      if (!v) __builtin_trap();  // validated at load: must expand
      switch (def->type) {
        case Type::Bool: (void)cfg->boolean(name); break;
        case Type::Int: (void)cfg->integer(name); break;
        case Type::Size: (void)cfg->size(name); break;
        case Type::Time: (void)cfg->time(name); break;
        case Type::List: (void)cfg->list(name); break;
        case Type::String: (void)cfg->str(name); break;
      }
    }
    (void)cfg->integer("smtp_destination_concurrency_limit");
    (void)cfg->set_override("myhostname", text.substr(0, 64));
    (void)expand(*cfg, text.substr(0, 256));
  }
  MainCfEdit e;
  e.set = {{"myhostname", "fuzz.example"}};
  e.remove = {"mydestination"};
  if (auto edited = edit_main_cf(text, e); edited) {
    auto again = Config::from_text(*edited);
    // Editing a valid file to a valid value keeps it valid.
    if (cfg && !again) __builtin_trap();
  }
  return 0;
}
