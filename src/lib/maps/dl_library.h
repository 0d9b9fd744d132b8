// dl_library.h - a shared library loaded with dlopen() when the first
// table that needs it is opened (Berkeley DB, SQLite, the MySQL client).
//
// Linking such a library into every daemon cost each process start its
// mapping and relocation, although most daemons never open such a table;
// busy daemons restart every max_use clients. The library is loaded once
// per process and never closed (table handles may live until exit).
//
//   static const Api& api() {
//     static Api a = [] {
//       Api a;
//       DlLibrary lib("libsqlite3.so.0", "SQLite");
//       lib.bind(a.open_v2, "sqlite3_open_v2");
//       ...
//       a.error = lib.error();
//       return a;
//     }();
//     return a;
//   }
#pragma once

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include <fmt/format.h>

namespace postern::maps::detail {

class DlLibrary {
 public:
  // `what` names the library in errors ("cannot load SQLite (soname): why").
  DlLibrary(const std::string& soname, const std::string& what) : soname_(soname), what_(what) {
    handle_ = ::dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
      const char* e = ::dlerror();
      error_ = fmt::format("cannot load {} ({}): {}", what, soname, e ? e : "unknown error");
    }
  }
  // Resolves `name` into the function pointer `fn`; a missing symbol is
  // an error of the whole library.
  template <class Fn>
  void bind(Fn& fn, const char* name) {
    static_assert(std::is_pointer_v<Fn>);
    if (!handle_) return;
    fn = reinterpret_cast<Fn>(::dlsym(handle_, name));
    if (!fn && error_.empty()) error_ = fmt::format("cannot load {} ({}): no symbol {}", what_, soname_, name);
  }
  // Empty when the library and every bound symbol were found.
  const std::string& error() const { return error_; }

 private:
  std::string soname_, what_, error_;
  void* handle_ = nullptr;
};

}  // namespace postern::maps::detail
