// notice.h - mailing a session transcript to the postmaster (Postfix's
// smtp_chat_notify): shared by smtpd and the smtp/lmtp client.
//
//   auto n = submit::NoticeSettings::from_config(cfg);      // once, at start
//   mail::Transcript t(n->notify, mail::TranscriptRole::kSmtpClient);
//   ... t.in(...), t.out(...), t.problem(...) ...
//   if (t.worth_sending()) co_await submit::post_transcript(io, cleanup, ipc_timeout, *n, t, peer, reason, "smtp");
//
// The notice goes from double_bounce_sender (with @myorigin when it has
// no domain: cleanup would add it) to error_notice_recipient, or to
// bounce_notice_recipient for the bounce class, flagged as a bounce so
// that nothing is done to it that would mail someone else. Junk mail: a
// busy cleanup gets mail::kNoticeTimeout per step at most (or ipc_timeout
// if shorter), and a failure is a warning ("postmaster notify: ..."),
// nothing more.
//
// Parameters (from_config): notify_classes, error_notice_recipient,
// bounce_notice_recipient, double_bounce_sender, myorigin, mail_name,
// myhostname.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "aio/asio.h"
#include "base/result.h"
#include "config/config.h"
#include "mail/notify.h"
#include "mail/transcript.h"

namespace postern::submit {

struct NoticeSettings {
  mail::Problems notify;
  std::vector<std::string> error_recipients, bounce_recipients;
  std::string double_bounce_sender;  // with @myorigin
  std::string mail_name, myhostname;
  std::int64_t autodetect = 0;  // cleanup_flag::kAutoUtf8 for the "notify" class

  static Result<NoticeSettings> from_config(const config::Config& cfg);
};

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
// Mails `t` (which the caller has checked is worth sending). `peer`: the
// other side as the subject names it; `reason`: why the session ended
// early, or empty; `origin`: the program, for cleanup's log line. Every
// argument is a reference to the caller's named objects (GCC 12 and
// temporaries in co_await expressions, docs/coding.md).
asio::awaitable<void> post_transcript(asio::io_context& io, const std::filesystem::path& cleanup_socket,
                                      const std::chrono::seconds& ipc_timeout, const NoticeSettings& settings,
                                      const mail::Transcript& t, const std::string& peer, const std::string& reason,
                                      const std::string& origin);
#endif

}  // namespace postern::submit
