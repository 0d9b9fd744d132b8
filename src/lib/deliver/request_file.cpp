// request_file.cpp - see request_file.h.
#include "deliver/request_file.h"

#include "deliver/delivered_to.h"
#include "deliver/queue_content.h"
#include "log/log.h"
#include "queue/layout.h"
#include "queue/queue_id.h"

namespace postern::deliver {

Attempt<RequestFile> open_request_file(const std::filesystem::path& queue_dir, std::string_view queue_name,
                                       std::string_view queue_id) {
  auto qn = queue::parse_queue_name(queue_name);
  auto qid = queue::QueueId::parse(queue_id);
  if (!qn || !qid) return Outcome::deferred("4.3.0", "bad queue file name in delivery request");
  auto path = queue::find_in_queue(queue_dir, *qn, *qid);
  if (!path)
    return Outcome::deferred("4.3.0", "queue file " + std::string(queue_name) + "/" + std::string(queue_id) +
                                          " not found");
  // The request names the recipients: the file's own list is checked but
  // not kept (a large list would cost memory on every delivery).
  queue::ReadOptions ro;
  ro.max_recipients = 0;
  auto reader = queue::QueueFileReader::open(*path, ro);
  if (!reader) {
    log::warning("{}: {}", queue_id, reader.error().message);
    return Outcome::deferred("4.3.0", "cannot read queue file: " + reader.error().message);
  }
  auto content = queue_content(*reader);
  auto v = delivered_to_values(content);
  if (!v) return read_error_outcome(v.error());
  return RequestFile{std::move(*reader), std::move(*v)};
}

}  // namespace postern::deliver
