// result.h - a value or an error, for everything that parses or does I/O.
//
// C++20 has no std::expected; this is the small subset Postern needs.
// Functions that can fail on untrusted input return Result<T> instead of
// throwing, so that a malformed peer message or file is an ordinary outcome.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace postern {

struct Error {
  std::string message;
  int sys_errno = 0;  // errno when the failure came from a system call

  const std::string& what() const { return message; }
};

// Error{"text"} built with fmt.
template <class... Args>
Error make_error(fmt::format_string<Args...> f, Args&&... args) {
  return Error{fmt::format(f, std::forward<Args>(args)...), 0};
}

// Error that appends ": strerror(errno)" and keeps errno.
template <class... Args>
Error sys_error(fmt::format_string<Args...> f, Args&&... args) {
  int e = errno;
  return Error{fmt::format(f, std::forward<Args>(args)...) + ": " + std::strerror(e), e};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }
  Error take_error() { return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace postern
