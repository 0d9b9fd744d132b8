#include "submit/post.h"

#include "submit/cleanup_client.h"

namespace postern::submit {

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
asio::awaitable<Result<std::string>> post_message(asio::io_context& io, const std::filesystem::path& socket,
                                                  const std::chrono::seconds& timeout, const Post& post,
                                                  const std::function<std::string(const std::string&)>& compose) {
  auto client = co_await CleanupClient::open(io, socket, post.flags, post.origin, timeout);
  if (!client) co_return make_error("cleanup service unavailable: {}", client.error().message);
  const std::string queue_id = client->queue_id();
  const std::string text = compose(queue_id);

  CleanupEnvelope env;
  env.sender = post.sender;
  env.protocol = "local";
  env.body = post.eight_bit ? "8BITMIME" : "7BIT";
  bool sent = static_cast<bool>(co_await client->envelope(env));
  for (std::size_t i = 0; sent && i < post.recipients.size(); ++i) {
    CleanupRecipient rcpt;
    rcpt.address = post.recipients[i];
    sent = static_cast<bool>(co_await client->recipient(rcpt));
  }
  std::string_view rest = text;
  while (sent && !rest.empty()) {
    std::string_view chunk = rest.substr(0, kMaxContentChunk);
    rest.remove_prefix(chunk.size());
    sent = static_cast<bool>(co_await client->content(chunk));
  }
  // finish() also reports a verdict that cut the sending short.
  auto result = co_await client->finish();
  if (!result) co_return make_error("no answer from cleanup: {}", result.error().message);
  if (!result->ok())
    co_return make_error("cleanup rejected the message: {} {} {}", result->status, result->dsn, result->reason);
  co_return result->queue_id.empty() ? queue_id : result->queue_id;
}
#endif

}  // namespace postern::submit
