// status.h - the master <-> child channel: fixed descriptors and the
// status message a child writes to tell the master whether it can take
// another client.
//
// Descriptors handed to every child by the master (Postfix does the same
// with its own numbers):
//   3  status pipe, write end (shared by all children of one service)
//   4  "master alive" pipe, read end: EOF means the master is gone
//   5.. the service's listeners, `-s N` of them
//
// A status message is 8 bytes, so that every write is atomic on a pipe
// (below PIPE_BUF) even with many children writing at once:
//   byte 0   'S' (version marker)
//   byte 1   state: 'A' available, 'B' busy, 'R' busy with its last client
//            (max_use reached: it exits when that client is done)
//   bytes 2-3 zero
//   bytes 4-7 the child's pid, big-endian
// The master rejects anything else and logs it; it never trusts a pid that
// is not one of its own children.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>

namespace postern::server {

inline constexpr int kStatusFd = 3;
inline constexpr int kMasterAliveFd = 4;
// The mail flow pipe (server/flow.h): its read end for cleanup and qmgr,
// its write end for qmgr; closed in every other daemon.
inline constexpr int kFlowReadFd = 5;
inline constexpr int kFlowWriteFd = 6;
inline constexpr int kListenFdBase = 7;

// Retiring tells the master, while the child still serves its last client,
// that a replacement will be needed: the master starts it then instead of
// when the next client is already waiting (see Master::handle_status).
enum class ChildState : std::uint8_t { Available = 'A', Busy = 'B', Retiring = 'R' };

struct StatusMessage {
  pid_t pid = 0;
  ChildState state = ChildState::Available;
};

inline constexpr std::size_t kStatusMessageSize = 8;

std::array<std::uint8_t, kStatusMessageSize> encode_status(const StatusMessage& m);
std::optional<StatusMessage> decode_status(const std::uint8_t* p, std::size_t n);

}  // namespace postern::server
