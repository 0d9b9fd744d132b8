// edit.h - change main.cf and master.cf in place (postconf -e, -X, -#, -Me,
// -MX, -M#) keeping comments, blank lines and the order of everything else.
//
// main.cf: a changed parameter is written as "name = value" where it was
// defined (its continuation lines and comment lines inside it go away), later
// duplicate definitions are removed, and new parameters are appended at the
// end. master.cf: a changed entry is replaced where it was (in the form
// Postfix's postconf writes: `postconf -M` columns, each "-o" on a
// continuation line of its own) or appended. The *_file variants check that
// the result still loads, then replace the file atomically.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace postern::config {

struct MainCfEdit {
  std::vector<std::pair<std::string, std::string>> set;  // name = value (postconf -e)
  std::vector<std::string> remove;                        // postconf -X
  std::vector<std::string> comment_out;                   // postconf -#
};

// The edited text. Errors for bad names or values with line breaks. `notes`
// (optional) receives remarks such as removed duplicate definitions.
Result<std::string> edit_main_cf(std::string_view text, const MainCfEdit& edit,
                                 std::vector<std::string>* notes = nullptr);

struct MasterCfEdit {
  // "service/type" -> the whole entry ("smtp inet n - n - - smtpd ..."),
  // whose service and type must match the key (postconf -Me).
  std::vector<std::pair<std::string, std::string>> set;
  // new "service/type" -> the key of the entry in the file that it takes
  // the place of (postconf -Fe of the service or type field).
  std::map<std::string, std::string> replaces;
  std::vector<std::string> remove;       // "service/type" (postconf -MX)
  std::vector<std::string> comment_out;  // "service/type" (postconf -M#)
};

// The edited text; an error if an entry is malformed or the result does not
// parse (for example a duplicate). `filename` is used in messages.
Result<std::string> edit_master_cf(std::string_view text, const MasterCfEdit& edit,
                                   std::string_view filename = "master.cf");

// Read config_dir/main.cf (a missing file counts as empty), edit, refuse a
// result that does not load when the original did, write atomically.
Status edit_main_cf_file(const std::filesystem::path& config_dir, const MainCfEdit& edit,
                         std::vector<std::string>* notes = nullptr);
// Read config_dir/master.cf (missing counts as empty), edit, write atomically.
Status edit_master_cf_file(const std::filesystem::path& config_dir, const MasterCfEdit& edit);

}  // namespace postern::config
