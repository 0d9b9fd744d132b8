// dl_library.h - a shared library loaded with dlopen() when it is first
// needed: Berkeley DB, SQLite, the MySQL and PostgreSQL clients when a table
// of that type is opened, OpenSSL when TLS is (tls/lazy_openssl.cpp).
//
// Linking such a library into every daemon cost each process start its
// mapping and relocation, although most daemons never use it; busy daemons
// restart every max_use clients. The library is loaded once per process and
// never closed (handles into it may live until exit).
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

namespace postern {

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
    fn = reinterpret_cast<Fn>(symbol(name));
  }
  // The address of `name`, or nullptr (and the library's error) when absent.
  void* symbol(const char* name) {
    if (!handle_) return nullptr;
    void* p = ::dlsym(handle_, name);
    if (!p && error_.empty()) error_ = fmt::format("cannot load {} ({}): no symbol {}", what_, soname_, name);
    return p;
  }
  // Empty when the library and every bound symbol were found.
  const std::string& error() const { return error_; }

 private:
  std::string soname_, what_, error_;
  void* handle_ = nullptr;
};

}  // namespace postern
