// test_dns.h - test helpers: DNS messages built by hand, a scriptable DNS
// server on 127.0.0.1 (UDP and TCP on one port) running in the test's own
// io_context, and a way to run one coroutine to completion.
//
// Used only by the *_test.cpp files of this folder and by tests/; not part of
// the library.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "aio/asio.h"

namespace postern::dns::testing {

using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes& b, std::uint16_t v) {
  b.push_back(std::uint8_t(v >> 8));
  b.push_back(std::uint8_t(v & 0xff));
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, std::uint16_t(v >> 16));
  put16(b, std::uint16_t(v & 0xffff));
}

// Uncompressed wire form; "" and "." are the root. Labels are taken as they
// are (so tests can put odd bytes into them).
inline Bytes encode_name(std::string_view name) {
  Bytes out;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    out.push_back(std::uint8_t(dot - start));
    out.insert(out.end(), name.begin() + long(start), name.begin() + long(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

struct Rr {
  std::string name;
  std::uint16_t type;
  Bytes rdata;
};

inline Rr mx(std::string owner, std::uint16_t pref, std::string_view host) {
  Bytes d;
  put16(d, pref);
  auto n = encode_name(host);
  d.insert(d.end(), n.begin(), n.end());
  return Rr{std::move(owner), 15, std::move(d)};
}
inline Rr a(std::string owner, const char* ip) {
  Bytes d(4);
  if (inet_pton(AF_INET, ip, d.data()) != 1) throw std::invalid_argument(ip);
  return Rr{std::move(owner), 1, std::move(d)};
}
inline Rr aaaa(std::string owner, const char* ip) {
  Bytes d(16);
  if (inet_pton(AF_INET6, ip, d.data()) != 1) throw std::invalid_argument(ip);
  return Rr{std::move(owner), 28, std::move(d)};
}
// A TXT record of one or more character-strings (each at most 255 bytes).
inline Rr txt(std::string owner, const std::vector<std::string>& strings) {
  Bytes d;
  for (auto& x : strings) {
    d.push_back(std::uint8_t(x.size()));
    d.insert(d.end(), x.begin(), x.end());
  }
  return Rr{std::move(owner), 16, std::move(d)};
}
inline Rr ptr(std::string owner, std::string_view target) { return Rr{std::move(owner), 12, encode_name(target)}; }
inline Rr ns(std::string owner, std::string_view target) { return Rr{std::move(owner), 2, encode_name(target)}; }
inline Rr cname(std::string owner, std::string_view target) { return Rr{std::move(owner), 5, encode_name(target)}; }
// A TLSA record: usage, selector, matching type, association data.
inline Rr tlsa(std::string owner, int usage, int selector, int mtype, const Bytes& data) {
  Bytes d{std::uint8_t(usage), std::uint8_t(selector), std::uint8_t(mtype)};
  d.insert(d.end(), data.begin(), data.end());
  return Rr{std::move(owner), 52, std::move(d)};
}

// A response to (qname, qtype) with the given rcode and answer records.
// `ad`: the AD bit (a validating resolver vouches for the answer).
inline Bytes response(std::uint16_t id, std::string_view qname, std::uint16_t qtype, int rcode,
                      const std::vector<Rr>& answers, bool truncated = false, bool ad = false) {
  Bytes m;
  put16(m, id);
  std::uint16_t flags = 0x8000 | 0x0400 | 0x0100 | 0x0080 | std::uint16_t(rcode & 0xf);  // QR AA RD RA
  if (truncated) flags |= 0x0200;
  if (ad) flags |= 0x0020;
  put16(m, flags);
  put16(m, 1);
  put16(m, truncated ? 0 : std::uint16_t(answers.size()));
  put16(m, 0);
  put16(m, 0);
  auto q = encode_name(qname);
  m.insert(m.end(), q.begin(), q.end());
  put16(m, qtype);
  put16(m, 1);
  if (truncated) return m;
  for (const auto& rr : answers) {
    auto n = encode_name(rr.name);
    m.insert(m.end(), n.begin(), n.end());
    put16(m, rr.type);
    put16(m, 1);
    put32(m, 60);
    put16(m, std::uint16_t(rr.rdata.size()));
    m.insert(m.end(), rr.rdata.begin(), rr.rdata.end());
  }
  return m;
}

struct Query {
  std::uint16_t id = 0;
  std::string name;  // lower case, no trailing dot
  std::uint16_t type = 0;
  bool tcp = false;
  bool ad = false;  // the query asked for the AD bit
};

// Parses the question of a query; nullopt for garbage.
inline std::optional<Query> parse_query(const std::uint8_t* p, std::size_t n) {
  if (n < 12) return std::nullopt;
  Query q;
  q.id = std::uint16_t(p[0] << 8 | p[1]);
  q.ad = (p[3] & 0x20) != 0;
  std::size_t i = 12;
  while (i < n && p[i] != 0) {
    std::size_t len = p[i];
    if (len > 63 || i + 1 + len > n) return std::nullopt;
    if (!q.name.empty()) q.name.push_back('.');
    for (std::size_t k = 0; k < len; ++k) {
      char c = char(p[i + 1 + k]);
      q.name.push_back(c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c);
    }
    i += 1 + len;
  }
  if (i + 5 > n) return std::nullopt;
  q.type = std::uint16_t(p[i + 1] << 8 | p[i + 2]);
  return q;
}

// A DNS server whose answers come from a function. Returning nullopt means
// "do not answer" (for timeout tests).
class FakeDns {
 public:
  using Handler = std::function<std::optional<Bytes>(const Query&)>;

  FakeDns(asio::io_context& io, Handler h) : io_(io), udp_(io), tcp_(io), handler_(std::move(h)) {
    using namespace asio::ip;
    for (int attempt = 0; attempt < 20; ++attempt) {
      udp_ = udp::socket(io_);
      udp_.open(udp::v4());
      udp_.bind(udp::endpoint(make_address_v4("127.0.0.1"), 0));
      port_ = udp_.local_endpoint().port();
      error_code ec;
      tcp_ = tcp::acceptor(io_);
      tcp_.open(tcp::v4());
      tcp_.set_option(tcp::acceptor::reuse_address(true));
      tcp_.bind(tcp::endpoint(make_address_v4("127.0.0.1"), port_), ec);
      if (!ec) {
        tcp_.listen();
        break;
      }
    }
    asio::co_spawn(io_, serve_udp(), asio::detached);
    asio::co_spawn(io_, serve_tcp(), asio::detached);
  }
  ~FakeDns() { stop(); }

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_; }
  int tcp_queries() const { return tcp_queries_; }
  void stop() {
    error_code ec;
    udp_.close(ec);
    tcp_.close(ec);
  }

 private:
  asio::awaitable<void> serve_udp() {
    std::vector<std::uint8_t> buf(4096);
    for (;;) {
      asio::ip::udp::endpoint from;
      error_code ec;
      auto n = co_await udp_.async_receive_from(asio::buffer(buf), from,
                                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !udp_.is_open()) co_return;
      if (ec) continue;
      auto q = parse_query(buf.data(), n);
      if (!q) continue;
      ++queries_;
      auto r = handler_(*q);
      if (!r) continue;
      co_await udp_.async_send_to(asio::buffer(*r), from, asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  asio::awaitable<void> serve_tcp() {
    for (;;) {
      error_code ec;
      auto s = co_await tcp_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !tcp_.is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(io_, serve_conn(std::move(s)), asio::detached);
    }
  }

  asio::awaitable<void> serve_conn(asio::ip::tcp::socket s) {
    for (;;) {
      std::uint8_t len[2];
      error_code ec;
      co_await asio::async_read(s, asio::buffer(len), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      std::vector<std::uint8_t> buf(std::size_t(len[0] << 8 | len[1]));
      co_await asio::async_read(s, asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      auto q = parse_query(buf.data(), buf.size());
      if (!q) co_return;
      q->tcp = true;
      ++queries_;
      ++tcp_queries_;
      auto r = handler_(*q);
      if (!r) continue;
      Bytes out;
      put16(out, std::uint16_t(r->size()));
      out.insert(out.end(), r->begin(), r->end());
      co_await asio::async_write(s, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }

  asio::io_context& io_;
  asio::ip::udp::socket udp_;
  asio::ip::tcp::acceptor tcp_;
  Handler handler_;
  std::uint16_t port_ = 0;
  int queries_ = 0;
  int tcp_queries_ = 0;
};

// Runs `aw` on `io` until it finishes (other work on `io`, such as a server,
// is left pending) and returns its value; rethrows its exception.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> aw) {
  std::optional<T> out;
  std::exception_ptr err;
  io.restart();
  asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
    err = e;
    if (!e) out = std::move(v);
    io.stop();
  });
  io.run();
  if (err) std::rethrow_exception(err);
  if (!out) throw std::runtime_error("coroutine did not finish");
  return std::move(*out);
}

}  // namespace postern::dns::testing
