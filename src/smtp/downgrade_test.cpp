// downgrade_test.cpp - 8-bit MIME entities converted for a server without
// 8BITMIME (OutputChecks with downgrade), as Postfix's MIME_OPT_DOWNGRADE.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "content_test_support.h"

namespace postern::smtp_client {
namespace {

using testing::lines;
using testing::Piece;

// The message as DATA text after the conversion; `problem` gets the reason
// when it stops.
std::string run(std::vector<Piece> pieces, std::string* problem = nullptr, std::size_t nesting = 100) {
  mail::MimeOptions mo;
  mo.nesting_limit = nesting;
  OutputChecks oc(nullptr, nullptr, "TESTID", mo, true);
  bool failed = false;
  std::string out = testing::encode(oc, pieces, &failed, 998);
  if (failed && problem && oc.mime_problem()) *problem = std::string(mail::mime_error_text(oc.mime_problem()->error));
  return out;
}

}  // namespace

TEST(Downgrade, EightBitLeafBecomesQuotedPrintable) {
  auto out = run(lines({"Subject: x", "Content-Transfer-Encoding: 8bit", "Content-Type: text/plain; charset=utf-8",
                        "", "Gr\xc3\xbc\xc3\x9f" "e = ok ", ".dot\xe9", "plain"}));
  EXPECT_EQ(out,
            "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
            "\r\nGr=C3=BC=C3=9Fe =3D ok=20\r\n..dot=E9\r\nplain\r\n.\r\n");
}

TEST(Downgrade, BinaryToo) {
  auto out = run(lines({"Content-Transfer-Encoding: binary", "", "\xff"}));
  EXPECT_EQ(out, "Content-Transfer-Encoding: quoted-printable\r\n\r\n=FF\r\n.\r\n");
}

TEST(Downgrade, ContentThatClaimsSevenBitIsLeftAlone) {
  // No header at all (7bit by default), 7bit, or an encoding: as stored,
  // 8-bit bytes and all (Postfix converts what claims to be 8-bit only).
  for (const char* cte : {"", "Content-Transfer-Encoding: 7bit", "Content-Transfer-Encoding: base64",
                          "Content-Transfer-Encoding: quoted-printable"}) {
    std::vector<Piece> msg = lines({"Subject: x"});
    if (*cte) msg.push_back({cte});
    msg.push_back({""});
    msg.push_back({"caf\xc3\xa9 = x"});
    std::string want = std::string("Subject: x\r\n") + (*cte ? std::string(cte) + "\r\n" : "") + "\r\ncaf\xc3\xa9 = x\r\n.\r\n";
    EXPECT_EQ(run(msg), want) << cte;
  }
  // The last Content-Transfer-Encoding decides: 8bit then 7bit is 7bit.
  EXPECT_EQ(run(lines({"Content-Transfer-Encoding: 8bit", "Content-Transfer-Encoding: 7bit", "", "\xe9"})),
            "Content-Transfer-Encoding: 7bit\r\n\r\n\xe9\r\n.\r\n");
}

TEST(Downgrade, MultipartPartsOneByOne) {
  auto out = run(lines({"MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"b1\"",
                        "Content-Transfer-Encoding: 8bit", "", "pre\xe9mble", "--b1",
                        "Content-Type: text/plain", "Content-Transfer-Encoding: 8bit", "", "part \xe9", "--b1",
                        "Content-Type: text/plain", "", "seven \xe9", "--b1",
                        "Content-Type: message/rfc822", "Content-Transfer-Encoding: 8bit", "",
                        "Subject: inner \xe9", "Content-Transfer-Encoding: 8bit", "", "inner \xe9", "--b1--",
                        "epilogue \xe9"}));
  EXPECT_EQ(out,
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n"
            "pre\xe9mble\r\n--b1\r\n"  // the preamble is not an entity's body: as is
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\npart =E9\r\n--b1\r\n"
            "Content-Type: text/plain\r\n\r\nseven \xe9\r\n--b1\r\n"
            "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
            // An attached message's headers are not converted (Postfix does not either).
            "Subject: inner \xe9\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ninner =E9\r\n"
            "--b1--\r\nepilogue \xe9\r\n.\r\n");
}

TEST(Downgrade, LongLinesInPiecesAreEncodedWhole) {
  std::string big(300, '\xe9');
  std::vector<Piece> msg = {{"Content-Transfer-Encoding: 8bit"}, {""}, {big.substr(0, 100), false},
                            {big.substr(100, 150), false}, {big.substr(250)}, {"end"}};
  std::string out = run(msg);
  std::string want = "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
  // 25 encoded bytes (75 characters) and a soft break per line.
  std::string row;
  for (int k = 0; k < 25; ++k) row += "=E9";
  for (int k = 0; k < 11; ++k) want += row + "=\r\n";
  // A soft break comes only before more text: none after the last byte.
  want += row + "\r\nend\r\n.\r\n";
  EXPECT_EQ(out, want);
}

TEST(Downgrade, HeadersWithoutBody) {
  EXPECT_EQ(run(lines({"Subject: x", "Content-Transfer-Encoding: 8bit"})),
            "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n.\r\n");
}

TEST(Downgrade, TooDeepToConvertStops) {
  std::vector<Piece> msg = lines({"Content-Type: multipart/mixed; boundary=a", ""});
  for (char b = 'b'; b <= 'e'; ++b) {
    msg.push_back({std::string("--") + static_cast<char>(b - 1)});
    msg.push_back({std::string("Content-Type: multipart/mixed; boundary=") + b});
    msg.push_back({""});
  }
  std::string problem;
  run(msg, &problem, 3);
  EXPECT_EQ(problem, "MIME nesting exceeds safety limit");
  problem.clear();
  run(msg, &problem, 100);
  EXPECT_EQ(problem, "");
}

}  // namespace postern::smtp_client
