// net_tables.cpp - tcp: and socketmap: tables (net_tables.h).
#include "maps/net_tables.h"

#include <cctype>

#include "base/netstring.h"
#include "base/strings.h"
#include "maps/internal.h"
#include "maps/stream_client.h"

namespace postern::maps {
namespace net {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The server's text in an error, bounded and without control characters.
std::string quote(std::string_view text) { return str::printable(text, 200); }

}  // namespace

std::string tcp_encode(std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size());
  for (char ch : raw) {
    auto c = static_cast<unsigned char>(ch);
    // Printable and not white space: 0x21..0x7e, except '%'.
    if (c > 0x20 && c < 0x7f && c != '%') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<std::string> tcp_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) return make_error("malformed %XX encoding in \"{}\"", quote(text));
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Answer parse_tcp_reply(std::string_view line) {
  // Three digits, then a space or nothing.
  if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
      !std::isdigit(static_cast<unsigned char>(line[1])) || !std::isdigit(static_cast<unsigned char>(line[2])) ||
      (line.size() > 3 && line[3] != ' '))
    return make_error("unexpected reply \"{}\"", quote(line));
  std::string_view code = line.substr(0, 3);
  std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
  if (code == "200") {
    auto value = tcp_decode(text);
    if (!value) return value.take_error();
    return std::optional<std::string>(std::move(*value));
  }
  if (code == "500") return std::optional<std::string>();
  if (code == "400") return make_error("server says try again later: \"{}\"", quote(line));
  return make_error("unexpected reply \"{}\"", quote(line));
}

Answer parse_socketmap_reply(std::string_view payload) {
  auto space = payload.find(' ');
  std::string_view status = payload.substr(0, space);
  std::string_view data = space == std::string_view::npos ? std::string_view() : payload.substr(space + 1);
  if (status == "OK") return std::optional<std::string>(std::string(data));
  if (status == "NOTFOUND") return std::optional<std::string>();
  if (status == "TEMP" || status == "TIMEOUT" || status == "PERM")
    return make_error("server says {}: \"{}\"", status, quote(data));
  return make_error("unexpected reply \"{}\"", quote(payload));
}

}  // namespace net

namespace {

// What tcp: and socketmap: share: the connection, the deadline, one retry
// when a connection kept from an earlier lookup turns out closed.
class NetTable : public Table {
 public:
  NetTable(std::string type, std::string name, StreamEndpoint ep, OpenOptions o)
      : Table(std::move(type), std::move(name), std::move(o)), client_(std::move(ep)) {}
  bool fixed() const override { return false; }

  Result<std::optional<std::string>> lookup(std::string_view raw) override {
    std::string key = pattern_key(raw);
    if (key.empty()) return std::optional<std::string>();
    const std::string request = make_request(key);
    const Deadline deadline = std::chrono::steady_clock::now() + options().server_timeout;
    for (int attempt = 0;; ++attempt) {
      const bool reused = client_.connected();
      if (!reused) {
        if (auto c = client_.connect(deadline); !c) return c.take_error();
      }
      buf_.clear();
      auto answer = exchange(request, deadline);
      if (answer) return answer;
      // A kept connection the server has closed meanwhile (its idle
      // timeout, a restart) fails before any reply byte: ask again once,
      // on a new connection. Anything else is the answer.
      const bool stale = reused && attempt == 0 && buf_.empty() && client_.peer_closed();
      client_.close();
      if (!stale) return answer.take_error();
    }
  }

 protected:
  virtual std::string make_request(const std::string& key) const = 0;
  // Reads one reply into buf_ and interprets it.
  virtual net::Answer read_reply(Deadline deadline) = 0;

  StreamClient client_;
  std::string buf_;

 private:
  net::Answer exchange(const std::string& request, Deadline deadline) {
    if (auto s = client_.send(request, deadline); !s) return s.take_error();
    return read_reply(deadline);
  }
  // Errors say what went wrong with the server; the caller's message names
  // the table and the key (MapList: "tcp:h:p lookup error for \"key\": ...").
};

class TcpTable final : public NetTable {
 public:
  using NetTable::NetTable;

 private:
  std::string make_request(const std::string& key) const override { return "get " + net::tcp_encode(key) + "\n"; }
  net::Answer read_reply(Deadline deadline) override {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        // One request, one reply: bytes after the newline would be taken
        // for the answer to the next lookup, so they are an error now.
        if (nl + 1 != buf_.size()) return make_error("more than one reply line");
        std::string_view line(buf_.data(), nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return net::parse_tcp_reply(line);
      }
      if (buf_.size() >= net::kTcpMaxReply) return make_error("reply longer than {} bytes", net::kTcpMaxReply);
      if (auto r = client_.receive(buf_, net::kTcpMaxReply - buf_.size(), deadline); !r) return r.take_error();
    }
  }
};

class SocketmapTable final : public NetTable {
 public:
  SocketmapTable(std::string name, StreamEndpoint ep, std::string map, OpenOptions o)
      : NetTable("socketmap", std::move(name), std::move(ep), std::move(o)), map_(std::move(map)) {}

 private:
  std::string make_request(const std::string& key) const override { return netstring(map_ + " " + key); }
  net::Answer read_reply(Deadline deadline) override {
    // The length digits, ':', the payload and ','.
    const std::size_t cap = net::kSocketmapMaxReply + 8;
    for (;;) {
      auto ns = parse_netstring(buf_, net::kSocketmapMaxReply);
      if (!ns) return ns.take_error();
      if (ns->used != 0) {
        if (ns->used != buf_.size()) return make_error("more than one reply");
        return net::parse_socketmap_reply(ns->payload);
      }
      if (auto r = client_.receive(buf_, cap - buf_.size(), deadline); !r) return r.take_error();
    }
  }

  std::string map_;
};

}  // namespace

namespace detail {

// Nothing authenticates a tcp: or socketmap: server's answers: no table
// for security-sensitive data (OpenOptions::paranoid) may be one.
static Status refuse_unauthenticated(std::string_view type, std::string_view name, const OpenOptions& o) {
  if (o.paranoid)
    return make_error("{}:{} map is not allowed for security-sensitive data", type, str::printable(name, 200));
  return {};
}

Result<std::unique_ptr<Table>> open_tcp(std::string_view name, const OpenOptions& o) {
  if (auto s = require_read_only("tcp", name, o); !s) return s.take_error();
  if (auto s = refuse_unauthenticated("tcp", name, o); !s) return s.take_error();
  auto ep = StreamEndpoint::parse_inet(name);
  if (!ep) return make_error("tcp:{}: {}", str::printable(name, 200), ep.error().message);
  return std::unique_ptr<Table>(new TcpTable("tcp", std::string(name), std::move(*ep), o));
}

Result<std::unique_ptr<Table>> open_socketmap(std::string_view name, const OpenOptions& o) {
  if (auto s = require_read_only("socketmap", name, o); !s) return s.take_error();
  if (auto s = refuse_unauthenticated("socketmap", name, o); !s) return s.take_error();
  auto bad = [&] {
    return make_error("socketmap:{}: expected socketmap:inet:host:port:name or socketmap:unix:pathname:name",
                      str::printable(name, 200));
  };
  auto colon = name.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == name.size()) return bad();
  std::string_view endpoint = name.substr(0, colon), map = name.substr(colon + 1);
  if (map.find_first_of(" \t\r\n") != std::string_view::npos) return bad();
  StreamEndpoint ep;
  if (endpoint.starts_with("inet:")) {
    auto parsed = StreamEndpoint::parse_inet(endpoint.substr(5));
    if (!parsed) return bad();
    ep = std::move(*parsed);
  } else if (endpoint.starts_with("unix:") && endpoint.size() > 5) {
    ep.path = std::string(endpoint.substr(5));
  } else {
    return bad();
  }
  return std::unique_ptr<Table>(new SocketmapTable(std::string(name), std::move(ep), std::string(map), o));
}

}  // namespace detail
}  // namespace postern::maps
