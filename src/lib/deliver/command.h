// command.h - deliver a message to an external command (Postfix's pipe_command()).
//
// run_argv() starts a program with an argument vector - no shell, so no
// address or other message data can ever be interpreted as shell syntax -
// and feeds it the message on standard input. run_shell_command() exists
// for the one place where Postfix does use a shell: "|command" entries in
// aliases and .forward files and mailbox_command, which the administrator or
// the user wrote as shell text. It execs `/bin/sh -c TEXT` (or the
// local_command_shell given in `shell`) with TEXT as ONE argument. The text
// must come from the configuration or the user's own files; callers must
// never paste an envelope address into it. Message data reaches the command
// only through standard input and the environment (below), both of which
// are inert to the shell unless the command itself evaluates them.
//
// The child process, before exec:
//   - starts a new session (setsid), so the whole process group can be
//     killed on timeout;
//   - drops privileges irrevocably when `run_as` is set: setgroups (the
//     given supplementary groups, or just the primary group), setgid,
//     setuid, in that order, then checks that setuid(0) fails. Commands
//     never run as root, as in Postfix: run_as with uid 0, and no run_as
//     while we are root, are refused (4.3.5 configuration error). Without
//     run_as a non-root caller runs the command with its own privileges (a
//     personal instance); run_as naming another user needs root;
//   - gets stdout and stderr on one pipe (captured, see below) and the
//     message on stdin;
//   - changes to `working_directory` (command_execution_directory) after the
//     privilege drop, so the user's permissions apply;
//   - gets a clean environment: the variables named in `export_environment`
//     copied from ours, and its NAME=value entries as given (Postfix's
//     export_environment; default TZ MAIL_CONFIG LANG), then PATH (`path`,
//     default /usr/bin:/bin: an exported PATH does not win), then
//     `environment`.
//     local_command_environment() builds local(8)'s set: HOME, LOGNAME,
//     USER, SHELL, SENDER, RECIPIENT, LOCAL, DOMAIN, EXTENSION,
//     ORIGINAL_RECIPIENT, CLIENT_HOSTNAME, CLIENT_ADDRESS, CLIENT_HELO,
//     CLIENT_PROTOCOL, SASL_METHOD, SASL_SENDER, SASL_USERNAME, each only
//     when known (HOME/SHELL/DOMAIN/EXTENSION when set; the others when not
//     empty; LOGNAME, USER, SENDER, RECIPIENT and LOCAL always), with every
//     character outside command_expansion_filter replaced by '_';
//   - has all signal dispositions reset and no descriptors but 0, 1, 2.
// Problems before exec (setuid, chdir, exec itself) are reported back over a
// close-on-exec pipe and become a deferral: "4.3.0 ...", as Postfix's child
// exits with EX_TEMPFAIL.
//
// The parent streams the message from `input` (a callback that returns one
// chunk at a time, so memory stays bounded) while reading the command's
// output, keeping at most `output_limit` bytes (the rest is read and
// dropped so the command never blocks on a full pipe). If the command exits
// without reading all input, that is not an error (EPIPE is ignored, as in
// Postfix). The whole run is bounded by `time_limit` (command_time_limit):
// when it expires the process group is killed with SIGKILL.
//
// Result mapping (Postfix 3.x pipe_command() + local(8), where the class of
// the status code decides between bounce and defer):
//   exit 0                       -> sent 2.0.0 "delivered to command: CMD"
//   time limit exceeded          -> 5.3.0 "Command time limit exceeded: "CMD""
//   killed by a signal           -> 4.3.0 "Command died with signal N: "CMD""
//                                   (Postfix defers these: a program killed
//                                   at shutdown or by the OOM killer is not
//                                   the message's fault)
//   output starts with "D.S.N "  -> that code (4.x.x defer, 5.x.x bounce) and
//                                   the rest of the output as text
//   sysexits.h code (64-78)      -> the sys_exit_detail() table, e.g. 75
//                                   EX_TEMPFAIL -> 4.3.0 "temporary failure",
//                                   67 EX_NOUSER -> 5.1.1 "user unknown"
//   other non-zero status        -> 5.3.0 "Command died with status N: "CMD""
//   our input callback failed    -> read_error_outcome() (normally a deferral;
//                                   the command is killed first)
//   writing to the command failed (not EPIPE) and it exited 0
//                                -> "Command failed: error writing message: ..."
// plus ". Command output: OUTPUT" when there was output. In the output,
// tabs and newlines become spaces and other non-printable bytes '_'.
// Postfix bounces on timeout because its status is 5.3.0; set
// abnormal_exit_defers to defer it instead.
//
// Blocking call: runs the command to completion. SIGPIPE is blocked in the
// calling thread while writing and a SIGPIPE it caused is discarded. The
// child is reaped with waitpid() on its pid; a SIGCHLD handler that reaps
// all children, or SIGCHLD set to SIG_IGN, would steal the status (the
// delivery is then deferred: "cannot wait for command").
//
// Reads no parameters itself: command_time_limit, export_environment,
// command_expansion_filter, command_execution_directory, default_privs and
// local_command_shell come in through CommandOptions and the arguments.
// Logs a warning when the time limit kills a command.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "deliver/copy.h"
#include "deliver/outcome.h"

namespace postern::deliver {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups; empty: just `gid`
};

struct CommandOptions {
  std::optional<Credentials> run_as;
  // Exported after export_environment and PATH; later entries win.
  std::vector<std::pair<std::string, std::string>> environment;
  std::vector<std::string> export_environment = {"TZ", "MAIL_CONFIG", "LANG"};
  std::string path = "/usr/bin:/bin";
  std::string working_directory;                      // empty: inherit ours
  std::chrono::milliseconds time_limit{1000 * 1000};  // command_time_limit (1000s)
  std::size_t output_limit = 4096;                    // bytes of output kept
  std::string description;                            // CMD in texts; default: argv[0] / the shell text
  bool abnormal_exit_defers = false;                  // defer (not bounce) on timeout
  // The command's file creation mask: 077, the one Postfix's commands
  // inherit from its master (pipe's umask= changes it).
  mode_t umask = 077;
  // RLIMIT_FSIZE of the command, bytes; 0: inherit ours. local(8) gives
  // its commands mailbox_size_limit, as Postfix's local process has it:
  // a guard against runaway programs, not a quota. Only ever lowered.
  std::uint64_t file_size_limit = 0;
};

struct CommandResult {
  Outcome outcome;
  bool started = false;  // exec succeeded
  int exit_status = -1;  // exit code when it exited
  int signal = 0;        // terminating signal, if any
  bool timed_out = false;
  std::string output;  // captured output, sanitized (see above)
  bool output_truncated = false;
};

// One chunk of standard input per call; false at the end. An Error aborts
// the delivery (the command is killed).
using InputSource = std::function<Result<bool>(std::string& chunk)>;

// Standard input from a formatter (which must outlive the command run).
InputSource formatted_input(MessageFormatter& formatter);

CommandResult run_argv(const std::vector<std::string>& argv, const CommandOptions& options,
                       const InputSource& input);

// A command that start_command() started; the caller owns the process: it
// reaps it (waitpid on `pid`, or waits for `pidfd` to become readable) and
// kills it with kill_command() when it has run too long.
struct StartedCommand {
  pid_t pid = -1;
  UniqueFd pidfd;   // invalid where the kernel has no pidfd_open()
  UniqueFd report;  // read by start_failure()
  std::string description;
};

// The start of run_argv() on its own, for a caller that connects the
// command to descriptors of its own (spawn(8): a client socket on all
// three): the same checks, privilege drop, environment, working directory
// and new session, standard input, output and error on in_fd, out_fd and
// err_fd (which may be the same), every other descriptor closed at exec.
// The Outcome when it could not start (nothing is running then).
Attempt<StartedCommand> start_command(const std::vector<std::string>& argv, const CommandOptions& options,
                                      int in_fd, int out_fd, int err_fd);

// After the command has been reaped: what failed before exec, as the
// deferral run_argv() reports ("4.3.0 cannot execute command "x": No such
// file or directory"), or nullopt when the command ran.
std::optional<Outcome> start_failure(StartedCommand& c, const CommandOptions& options);

// SIGKILL to the command's process group (it leads one: setsid). Only
// before the command has been reaped, so that the pid is still its own.
void kill_command(pid_t pid);

// exec shell... TEXT, shell defaults to {"/bin/sh", "-c"}; TEXT is one argument.
CommandResult run_shell_command(std::string_view text, const CommandOptions& options,
                                const InputSource& input,
                                const std::vector<std::string>& shell = {"/bin/sh", "-c"});

// sysexits.h codes as Postfix's sys_exits.c describes them.
struct SysExitDetail {
  int code;
  const char* dsn;   // "4.3.0"
  const char* text;  // "temporary failure"
};
// Detail for a code in 64..78, or nullptr.
const SysExitDetail* sys_exit_detail(int code);

// The mapping above, for a finished command (exposed for tests and for
// agents that run commands some other way). `wait_status` as from waitpid().
Outcome command_outcome(int wait_status, bool timed_out, std::string_view description,
                        std::string_view output, bool abnormal_exit_defers = false);

// Output as it appears in texts: tabs/newlines -> ' ', other non-printable
// bytes -> '_', trailing blanks removed.
std::string sanitize_command_output(std::string_view raw);

// local(8)'s environment for commands (see above).
struct LocalCommandEnv {
  std::string home, logname, shell;  // recipient's passwd data; empty = unknown
  std::string sender, recipient, local, domain, extension, original_recipient;
  std::string client_hostname, client_address, client_helo, client_protocol;
  std::string sasl_method, sasl_sender, sasl_username;
};

// command_expansion_filter's default.
inline constexpr std::string_view kDefaultCommandExpansionFilter =
    "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

std::vector<std::pair<std::string, std::string>> local_command_environment(
    const LocalCommandEnv& env, std::string_view allowed = kDefaultCommandExpansionFilter);

}  // namespace postern::deliver
