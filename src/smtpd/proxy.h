// proxy.h - smtpd_proxy_filter: the before-queue content filter, client
// side (Postfix's SMTPD_PROXY_README).
//
// With smtpd_proxy_filter set, smtpd queues nothing itself: for each mail
// transaction it connects to the filter (an SMTP server) when the client's
// MAIL FROM has passed smtpd's own checks, says EHLO smtpd_proxy_ehlo,
// tells the filter about the client with XFORWARD when the filter offers
// it, and then forwards unchanged copies of the MAIL FROM and RCPT TO
// commands it does not reject itself, DATA, the content (after smtpd's
// Received: header) and the final dot; every reply of the filter goes to
// the client as it is. After the message, QUIT; one connection per
// message. The filter passes the mail on to another smtpd (the
// after-filter one), which queues it.
//
// Each step - connect, greeting, every command, every content write - has
// smtpd_proxy_timeout. Replies are parsed with fixed bounds. Any failure
// is the caller's to log; the client gets only "451 4.3.0 Error: queue
// file write error", as in Postfix.
//
// Parameters: smtpd_proxy_filter ("host:port", "inet:host:port",
// "unix:path"; a port alone, or ":port", is localhost), smtpd_proxy_ehlo,
// smtpd_proxy_timeout, smtpd_proxy_options (only empty: speed_adjust is
// refused), queue_directory.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"
#include "smtp/data.h"
#include "smtp/reply.h"
#include "smtp/reply_parser.h"

namespace postern::smtpd {

struct ProxySettings {
  std::string endpoint;  // parse_endpoint() form; empty: no proxy filter
  std::chrono::seconds timeout{100};
  std::string ehlo;

  static Result<ProxySettings> from_config(const config::Config& cfg);
};

class ProxyFilter {
 public:
  ~ProxyFilter();
  ProxyFilter(const ProxyFilter&) = delete;
  ProxyFilter& operator=(const ProxyFilter&) = delete;

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
  // Connect, the 220 greeting, EHLO (HELO when EHLO is refused). The
  // error says what went wrong, for the log.
  static asio::awaitable<Result<std::unique_ptr<ProxyFilter>>> open(asio::io_context& io,
                                                                    const ProxySettings& settings);
  // One command (without its CRLF) and its reply.
  asio::awaitable<Result<smtp::Reply>> command(const std::string& line);
  // The content, as the client's lines come (DataDecoder's pieces): dot
  // stuffed and sent in bounded writes; flush(true) sends what is held.
  void put(std::string_view piece, bool continued) { enc_.put(piece, continued, out_); }
  asio::awaitable<Status> flush(bool force);
  // The final dot and the reply to it.
  asio::awaitable<Result<smtp::Reply>> end();
  // QUIT, its reply, and the connection closed.
  asio::awaitable<void> quit();
#endif
  // The connection closed at once (in the middle of the content: the
  // filter drops the message).
  void abandon();
  // The XFORWARD attributes the filter offers (upper case); empty: none.
  const std::vector<std::string>& xforward() const { return xforward_; }

 private:
  struct Impl;
  explicit ProxyFilter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::vector<std::string> xforward_;
  smtp::DataEncoder enc_;
  std::string out_;
};

// XFORWARD commands for the filter: the client's attributes it offers,
// "[UNAVAILABLE]" for the ones unknown, xtext encoded, within 512 bytes each.
struct XforwardClient {
  std::string name, addr, port, proto, helo;  // empty: unknown
};
std::vector<std::string> proxy_xforward_commands(const XforwardClient& c, const std::vector<std::string>& offered);

}  // namespace postern::smtpd
