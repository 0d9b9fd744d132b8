#include "submit/notice.h"

#include <algorithm>
#include <ctime>
#include <functional>

#include "log/log.h"
#include "submit/cleanup_proto.h"
#include "submit/post.h"

namespace postern::submit {

Result<NoticeSettings> NoticeSettings::from_config(const config::Config& cfg) {
  NoticeSettings s;
  auto notify = mail::Problems::parse(cfg.list("notify_classes"));
  if (!notify) return notify.take_error();
  s.notify = *notify;
  s.error_recipients = cfg.list("error_notice_recipient");
  s.bounce_recipients = cfg.list("bounce_notice_recipient");
  s.double_bounce_sender = mail::qualify_with_origin(cfg.str("double_bounce_sender"), cfg.str("myorigin"));
  s.mail_name = cfg.str("mail_name");
  s.myhostname = cfg.str("myhostname");
  auto autodetect = smtputf8_autodetect(cfg, "notify");
  if (!autodetect) return autodetect.take_error();
  s.autodetect = *autodetect;
  return s;
}

asio::awaitable<void> post_transcript(asio::io_context& io, const std::filesystem::path& cleanup_socket,
                                      const std::chrono::seconds& ipc_timeout, const NoticeSettings& settings,
                                      const mail::Transcript& t, const std::string& peer, const std::string& reason,
                                      const std::string& origin) {
  Post post;
  post.sender = settings.double_bounce_sender;
  post.recipients = t.bounce_class() ? settings.bounce_recipients : settings.error_recipients;
  if (post.recipients.empty()) co_return;  // nobody to tell
  post.flags = cleanup_flag::kBounce | settings.autodetect;
  post.origin = origin;
  mail::NoticeFields f;
  f.mail_name = settings.mail_name;
  f.peer = peer;
  f.myhostname = settings.myhostname;
  f.to = post.recipients.front();
  f.now = std::time(nullptr);
  f.reason = reason;
  const std::function<std::string(const std::string&)> compose = [&](const std::string& queue_id) {
    f.queue_id = queue_id;
    return mail::compose_notice(t, f);
  };
  const std::chrono::seconds timeout = std::min(ipc_timeout, mail::kNoticeTimeout);
  auto id = co_await post_message(io, cleanup_socket, timeout, post, compose);
  if (!id) log::warning("postmaster notify: {}", id.error().message);
}

}  // namespace postern::submit
