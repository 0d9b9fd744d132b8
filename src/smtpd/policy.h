// policy.h - smtpd's access policy: client networks, domain classes, RCPT restrictions.
//
// Client networks (mynetworks, smtpd_client_event_limit_exceptions) are
// maps::NetworkList (maps/network_list.h), shared with cleanup.
//
// Domain lists (mydestination, relay_domains, virtual_*_domains) are
// maps::MatchList, as in trivial-rewrite; relay_domains matches subdomains
// when it is in parent_domain_matches_subdomains (the default).
//
// The recipient's address class (local, virtual alias, virtual mailbox,
// relay, or default) comes from trivial-rewrite's resolve answer, which the
// session asks for before the restrictions run (RcptContext::recipient_class,
// class_from_resolve_flags()), so that smtpd and the queue manager always
// agree on where a recipient goes. Policy::classify() is the same decision
// made from main.cf alone; it is used only for a context without a resolved
// class (unit tests) and for the "is this domain local" question of
// local_recipient_maps searches about other domains. Policy evaluates the
// restriction lists that smtpd applies
// at RCPT TO (with smtpd_delay_reject = yes): smtpd_client_restrictions,
// smtpd_helo_restrictions, smtpd_sender_restrictions, smtpd_relay_restrictions,
// smtpd_recipient_restrictions, then the implicit reject_unlisted_recipient
// (smtpd_reject_unlisted_recipient) with local_recipient_maps. With
// smtpd_delay_reject = no the first three run at connect, HELO and MAIL FROM
// instead (check_client(), check_helo(), check_sender()).
//
// Restrictions understood: permit, reject, defer, permit_mynetworks,
// permit_sasl_authenticated, permit_inet_interfaces (the client is at an
// address of inet_interfaces), reject_plaintext_session (no TLS:
// $plaintext_reject_code 4.7.1 Session encryption is required),
// permit_tls_clientcerts (the client
// certificate's fingerprint or public key fingerprint is in
// relay_clientcerts; the certificate need not verify, as in Postfix),
// permit_tls_all_clientcerts (any certificate that verified),
// check_ccert_access with a table (access.h), reject_unauth_destination,
// defer_unauth_destination, permit_auth_destination, permit_mx_backup
// (mx_backup.h; the caller looks the MX hosts up), reject_unlisted_recipient,
// reject_unauth_pipelining, reject_invalid_helo_hostname,
// reject_non_fqdn_{helo_hostname,sender,recipient} (and the old names
// reject_invalid_hostname, reject_non_fqdn_hostname),
// reject_unknown_{sender,recipient}_domain and
// reject_unknown_{client,reverse_client,helo}_hostname (the caller looks the
// names up and passes the answers in the context: Policy itself never
// blocks on DNS),
// check_{client,helo,sender,recipient}_access with a table (access.h), and
// reject_rbl_client and reject_rhsbl_{client,reverse_client,helo,sender,recipient},
// permit_dnswl_client and permit_rhswl_client with a DNS list (dnsbl.h: the
// caller looks up what Verdict::need names), reject_multi_recipient_bounce,
// and check_policy_service (policy_client.h: the caller asks the server what
// Verdict::policy_need names).
// config::smtpd_restrictions() lists them; any other name is refused when
// main.cf is read. Should one get here anyway: "451 4.3.5 Server
// configuration error" and a warning, as Postfix does for an unknown
// restriction.
//
// Parameters: mynetworks, smtpd_client_event_limit_exceptions, mydestination,
// myhostname, myorigin, inet_interfaces (via mydestination only), relay_domains,
// virtual_alias_domains, virtual_mailbox_domains, local_recipient_maps,
// recipient_delimiter, double_bounce_sender, relay_domains_reject_code,
// unknown_local_recipient_reject_code, smtpd_*_restrictions,
// smtpd_reject_unlisted_recipient, invalid_hostname_reject_code,
// non_fqdn_reject_code, unknown_address_reject_code,
// unknown_address_tempfail_action, unknown_client_reject_code,
// unknown_hostname_reject_code, unknown_helo_hostname_tempfail_action, parent_domain_matches_subdomains,
// smtpd_null_access_lookup_key, access_map_reject_code, maps_rbl_reject_code,
// default_rbl_reply, rbl_reply_maps, multi_recipient_bounce_reject_code,
// access_map_defer_code, allow_untrusted_routing, smtpd_delay_reject, reject_code,
// defer_code, smtpd_expansion_filter, relay_clientcerts.
// Logs: warnings for unknown restrictions, unreadable files, table errors,
// unsupported access table actions; access table WARN/INFO results.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "dns/types.h"
#include "mail/address.h"
#include "mail/notify.h"
#include "maps/map_list.h"
#include "maps/match_list.h"
#include "maps/network_list.h"
#include "smtp/reply.h"
#include "smtpd/access.h"
#include "smtpd/dnsbl.h"
#include "smtpd/mx_backup.h"
#include "smtpd/policy_client.h"

namespace postern::smtpd {

using maps::NetworkList;
using maps::parse_ip;


enum class DomainClass { Local, VirtualAlias, VirtualMailbox, Relay, Default };

// The address class in a trivial-rewrite resolve reply
// (ipc::proto::resolve_flag::kLocal ... kDefault).
DomainClass class_from_resolve_flags(std::int64_t flags);

// "451 4.3.0 <rcpt>: Recipient address rejected: Temporary lookup failure".
smtp::Reply temporary_lookup_failure(std::string_view rcpt);

// What the RCPT restrictions decided.
// Nesting of restriction lists: table results that name restrictions and
// restriction classes that name classes (a class may name itself, which
// only this bound stops).
inline constexpr int kMaxRestrictionDepth = 20;
// check_*_{mx,ns,a}_access: at most this many server addresses per restriction
// (Postfix's DNS record list limit).
inline constexpr std::size_t kMaxServerAddresses = 100;

// Bounds what PREPEND actions may add: per verdict, and per transaction in
// the session (a table could name one for every recipient).
inline constexpr std::size_t kMaxPrependHeaders = 16;
inline constexpr std::size_t kMaxPrependBytes = 64 * 1024;

struct Verdict {
  enum Kind { Accept, Reject } kind = Accept;
  smtp::Reply reply;   // for Reject
  // A deferral that stands only if the restrictions end up permitting
  // (Postfix's defer_if_permit: a DNS failure must not turn a later reject
  // into a retry, nor let the mail through).
  std::optional<smtp::Reply> defer_if_permit;
  // The opposite (Postfix's defer_if_reject): a DNS allow list could not be
  // asked, so a later 5xx rejection becomes this 4xx deferral.
  std::optional<smtp::Reply> defer_if_reject;
  // Access table WARN/INFO results, for the caller to log with the
  // session's details ("NOQUEUE: warn: RCPT from ...").
  struct Note {
    std::string action;  // "warn", "info", "hold", "discard" or "reject_warning"
    std::string text;
    // reject_warning: the reply that was not sent (logged as soft_bounce
    // would have sent it).
    std::optional<smtp::Reply> reply = std::nullopt;
  };
  std::vector<Note> notes;
  // Access table HOLD / DISCARD results: the whole message goes to the hold
  // queue / is thrown away after its 250 (the session keeps these for the
  // transaction, whatever this recipient's verdict).
  bool hold = false;
  bool discard = false;
  // Access table PREPEND results: header lines for the session to put
  // before its Received: header (at most kMaxPrependHeaders per verdict).
  std::vector<std::string> prepend;
  // Access table BCC results: extra recipients for the message (at most
  // kMaxPrependHeaders per verdict), as the table wrote them.
  std::vector<std::string> bcc;
  // Access table FILTER result: the content filter (transport:destination)
  // for the whole message; a later one replaces it.
  std::optional<std::string> filter;
  // Access table REDIRECT result: the one address the message goes to.
  std::optional<std::string> redirect;
  // Not a decision yet: a DNS list restriction needs this looked up
  // (dnsbl.h); the caller adds the answer to RcptContext::dnsbl and asks again.
  std::optional<dnsbl::Need> need;
  // Not a decision yet either: check_policy_service needs this server's
  // answer to this request; the caller adds the action to
  // RcptContext::policy_answers (by PolicyServiceSpec::text) and asks again.
  struct PolicyNeed {
    std::shared_ptr<const PolicyServiceSpec> server;
    std::string request;
  };
  std::optional<PolicyNeed> policy_need;

  // The kind of error a rejection is, for the session transcript that
  // notify_classes mails to the postmaster (transcript.h): a restriction
  // (policy), a request against the protocol (reject_non_fqdn_*,
  // reject_invalid_helo_hostname, reject_unauth_pipelining), a table that
  // could not be read (data), a configuration error (software).
  mail::Problem problem = mail::Problem::kPolicy;
  // A configuration error (451 4.3.5 Server configuration error): no
  // defer_if_reject turns it into anything else.
  bool config_error() const { return kind == Reject && problem == mail::Problem::kSoftware; }

  static Verdict rejection(smtp::Reply r, bool config_error = false) {
    Verdict v;
    v.reject(std::move(r), config_error);
    return v;
  }
  static Verdict rejection(smtp::Reply r, mail::Problem p) {
    Verdict v;
    v.reject(std::move(r), p);
    return v;
  }
  // Turns this verdict into a rejection; its notes stay.
  void reject(smtp::Reply r, bool is_config_error = false) {
    reject(std::move(r), is_config_error ? mail::Problem::kSoftware : mail::Problem::kPolicy);
  }
  void reject(smtp::Reply r, mail::Problem p) {
    kind = Reject;
    reply = std::move(r);
    problem = p;
  }
};

// What a restriction may look at.
struct RcptContext {
  std::string_view client_addr;
  std::string_view client_name = "unknown";  // "unknown" when not known
  std::string_view helo;                     // HELO/EHLO argument; empty: none given
  const mail::Address* sender = nullptr;     // MAIL FROM; null: none (VRFY)
  std::string_view sender_text;              // as the client wrote it
  bool smtputf8 = false;                     // the transaction said SMTPUTF8
  bool client_in_mynetworks = false;
  bool unauth_pipelining = false;
  const mail::Address* recipient = nullptr;
  std::string_view recipient_text;  // as the client wrote it, for "<...>" in replies
  // trivial-rewrite's answer for the recipient; unset: classify() locally.
  std::optional<DomainClass> recipient_class;
  // Set when trivial-rewrite sends the recipient to the error transport
  // (relocated_maps, "error:" in transport_maps, an unknown virtual alias):
  // its text, "5.1.6 User has moved to ...". check_unlisted() rejects it.
  std::string undeliverable;
  // The same two for the sender, when Policy::wants_sender_class().
  std::optional<DomainClass> sender_class;
  std::string sender_undeliverable;
  // Resolver::lookup_mailhost() of the domains that mailhost_domain() named,
  // for reject_unknown_{sender,recipient}_domain; unset counts as TempFail.
  std::optional<dns::Outcome> sender_mailhost, recipient_mailhost;
  // permit_mx_backup's answer for the recipient domain that
  // mx_backup_domain() named (mx_backup.h); unset: no DNS verdict.
  std::optional<MxBackupAnswer> recipient_mx_backup;
  // The client name lookups (dns::ClientName's statuses: Ok, TempFail or
  // NotFound) and Resolver::lookup_mailhost() of the HELO name, for
  // reject_unknown_{client,reverse_client,helo}_hostname; unset: TempFail.
  std::optional<dns::Outcome> client_name_status, reverse_name_status, helo_mailhost;
  // The first PTR name, not forward-confirmed ("unknown" when none).
  std::string_view reverse_client_name = "unknown";
  // DNS list answers the session has (null: none yet; see Verdict::need).
  const dnsbl::Answers* dnsbl = nullptr;
  // Recipients the transaction has already accepted
  // (reject_multi_recipient_bounce).
  std::size_t rcpt_count = 0;
  // The transaction is already on hold (an earlier HOLD): another one is
  // not logged again, as in Postfix.
  bool hold = false;
  // For policy servers (check_policy_service): the session's details, and
  // the actions the servers gave for this recipient.
  std::string_view protocol_name = "SMTP";  // or "ESMTP"
  std::string_view protocol_state = "RCPT";  // "DATA", "END-OF-MESSAGE" (policy servers)
  std::string_view client_port, queue_id, instance;
  std::uint64_t size = 0;  // MAIL FROM SIZE=, 0 when not given
  // SMTP AUTH (empty: not authenticated): permit_sasl_authenticated and
  // policy servers.
  std::string_view sasl_username, sasl_method;
  // The session's TLS (empty, 0: none), for policy servers.
  std::string_view encryption_protocol, encryption_cipher;
  int encryption_keysize = 0;
  // The TLS client certificate (smtpd_tls_ask_ccert): its fingerprints
  // (empty: none presented), whether its chain verified, its subject and
  // issuer CNs. For permit_tls_clientcerts, permit_tls_all_clientcerts,
  // check_ccert_access and policy servers.
  std::string_view ccert_fingerprint, ccert_pkey_fingerprint, ccert_subject, ccert_issuer;
  bool ccert_trusted = false;
  const std::map<std::string, std::string, std::less<>>* policy_answers = nullptr;
  // smtpd_delay_reject = no: a defer_if_permit an earlier stage (connect,
  // HELO, MAIL FROM) left pending; it stands at RCPT TO unless something
  // rejects there.
  const smtp::Reply* earlier_defer_if_permit = nullptr;
};

// One element of a restriction list: a name, and for check_*_access its
// table (opened when the configuration is read).
struct Restriction {
  std::string name;  // lower case, or a restriction class's name as written
  std::string table_spec;
  std::shared_ptr<maps::MapList> table;
  // reject_rbl_client and reject_rhsbl_*: the list (from the next element).
  std::shared_ptr<const dnsbl::List> dnsbl;
  // check_policy_service: the server (from the next element).
  std::shared_ptr<const PolicyServiceSpec> server;
};

class Policy {
 public:
  static Result<std::unique_ptr<Policy>> from_config(const config::Config& cfg);

  Result<bool> in_mynetworks(std::string_view addr) { return mynetworks_.contains(addr); }
  Result<bool> limit_exempt(std::string_view addr) { return limit_exceptions_.contains(addr); }
  Result<DomainClass> classify(const mail::Address& a);
  // The recipient's class: the resolved one when known, else classify().
  Result<DomainClass> recipient_class(const RcptContext& c);

  // All RCPT TO restrictions, in Postfix's order.
  Verdict check_recipient(const RcptContext& c);
  // smtpd_delay_reject = no: the client restrictions at connect, the HELO
  // ones at HELO/EHLO, the sender ones (and smtpd_reject_unlisted_sender) at
  // MAIL FROM. A rejection is final for that command; a defer_if_permit is
  // left in the verdict, for the caller to pass on to the later stages in
  // RcptContext::earlier_defer_if_permit (it stands only at RCPT TO, if
  // nothing rejects there). check_recipient() then runs only the relay and
  // recipient restrictions.
  bool delay_reject() const { return delay_reject_; }
  Verdict check_client(const RcptContext& c);
  Verdict check_helo(const RcptContext& c);
  Verdict check_sender(const RcptContext& c);
  bool has_client_restrictions() const { return !client_r_.empty(); }
  bool has_helo_restrictions() const { return !helo_r_.empty(); }
  // smtpd_data_restrictions, at DATA (or the first BDAT). The context has a
  // recipient only when the transaction has exactly one, as in Postfix;
  // restrictions about the recipient then decide nothing.
  Verdict check_data(const RcptContext& c);
  bool has_data_restrictions() const { return !data_r_.empty(); }
  // smtpd_end_of_data_restrictions, once the whole message is in (the
  // context's size is the message's), the same way.
  Verdict check_end_of_data(const RcptContext& c);
  bool has_end_of_data_restrictions() const { return !eod_r_.empty(); }

  // Whether a list has reject_unknown_sender_domain (sender) or
  // reject_unknown_recipient_domain: the caller then looks up the domain
  // that mailhost_domain() names and puts the outcome into the context.
  bool wants_mailhost_lookup(bool sender) const { return sender ? wants_sender_dns_ : wants_recipient_dns_; }
  // Whether a list has reject_unknown_helo_hostname: the caller looks up
  // the HELO name (helo_dns_name()) and fills RcptContext::helo_mailhost.
  bool wants_helo_lookup() const { return wants_helo_dns_; }
  // Whether a list has a DNS list restriction (reject_rbl_client, ...) or
  // a check_*_{mx,ns,a}_access: the session needs a resolver for Verdict::need.
  bool wants_dnsbl() const { return wants_dnsbl_; }
  // Whether a list has check_policy_service.
  bool wants_policy_service() const { return wants_policy_service_; }
  // Whether a list has permit_mx_backup: the caller then runs
  // check_mx_backup() for the domain mx_backup_domain() names (with
  // is_own_address() and, when restricts_mx_backup(),
  // in_mx_backup_networks()) and fills RcptContext::recipient_mx_backup.
  bool wants_mx_backup() const { return wants_mx_backup_; }
  std::optional<std::string> mx_backup_domain(const RcptContext& c);
  // An address of inet_interfaces, or (with_proxy) of proxy_interfaces.
  bool is_own_address(const asio::ip::address& a, bool with_proxy = true) const;
  bool restricts_mx_backup() const { return mx_backup_networks_set_; }
  Result<bool> in_mx_backup_networks(const asio::ip::address& a) { return mx_backup_networks_.contains(a.to_string()); }
  // The HELO name that restriction judges, or nullopt: none given, or an
  // address literal or bare IP address (no DNS name to look up).
  static std::optional<std::string> helo_dns_name(std::string_view helo);
  // The domain those restrictions judge, or nullopt when they let the
  // address pass without DNS (as Postfix's reject_unknown_address): the null
  // sender, no domain, an address literal, or a domain we deliver to
  // (mydestination, virtual domains). `cls`: the resolved class if known.
  std::optional<std::string> mailhost_domain(const mail::Address& a, std::optional<DomainClass> cls);
  // local_recipient_maps: nullopt when unknown in a local domain, an error
  // reply when a table failed, or "ok".
  Verdict check_unlisted(const RcptContext& c);
  // The same for the sender (reject_unlisted_sender): the null sender passes.
  Verdict check_unlisted_sender(const RcptContext& c);
  // Whether the caller must resolve the sender (RcptContext::sender_class):
  // smtpd_reject_unlisted_sender or reject_unlisted_sender in a list.
  bool wants_sender_class() const { return wants_sender_class_; }

 private:
  enum class Outcome { Permit, Dunno, Reject };
  Outcome eval_list(std::span<const Restriction> list, std::string_view title, const RcptContext& c,
                    Verdict& v, int depth = 0);
  // warn_if_reject: `next` (one restriction) runs, and a rejection of its
  // becomes a "reject_warning" note instead.
  Outcome eval_warned(std::span<const Restriction> next, std::string_view title, const RcptContext& c,
                      Verdict& v, int depth);
  Outcome eval_access(const Restriction& r, std::string_view title, const RcptContext& c, Verdict& v,
                      int depth);
  Outcome eval_dnsbl(const Restriction& r, std::string_view title, const RcptContext& c, Verdict& v);
  // check_{client,reverse_client_hostname,helo,sender,recipient}_{mx,ns,a}_access:
  // the table asked for the name's MX, NS or A hosts, their names and addresses.
  Outcome eval_server_access(const Restriction& r, access::Kind kind, const access::Subject& subject,
                             std::string_view name, std::string_view title, const RcptContext& c, Verdict& v,
                             int depth);
  // An OK from a restriction that may only deny (Postfix's forbid_allowlist).
  Outcome forbid_ok(std::string_view restriction, std::string_view name, Verdict& v);
  Outcome eval_policy_service(const Restriction& r, std::string_view title, const RcptContext& c, Verdict& v,
                              int depth);
  // An access(5) action from a table or a policy server; `source` names it in warnings.
  Outcome apply_action(const access::Action& a, std::string_view title, std::string_view source,
                       access::Kind kind, const access::Subject& subject, const RcptContext& c, Verdict& v,
                       int depth);
  // `items` of restriction list `name`; elements that name a class in
  // `classes` keep their spelling (a class is a parameter name).
  static Result<std::vector<Restriction>> parse_list(const config::Config& cfg, std::string_view name,
                                                     const std::vector<std::string>& items,
                                                     const std::vector<std::string>& classes);
  bool auth_destination(const RcptContext& c, Verdict& v, bool& failed);
  Verdict check_early_stage(const std::vector<Restriction>& list, std::string_view title, const RcptContext& c);
  struct ListSubject {
    std::string what;  // "Client host", "Helo command", "Sender address", ...
    std::string name;  // what the reply shows in <...>
  };
  static ListSubject list_subject(std::string_view title, const RcptContext& c);

  NetworkList mynetworks_;
  NetworkList limit_exceptions_;
  // permit_mx_backup: this host's addresses (inet_interfaces,
  // proxy_interfaces) and permit_mx_backup_networks.
  bool wants_mx_backup_ = false;
  std::vector<std::string> own_addresses_;
  std::size_t interface_addresses_ = 0;  // the first ones are inet_interfaces', the rest proxy_interfaces'
  NetworkList mx_backup_networks_;
  bool mx_backup_networks_set_ = false;
  maps::MatchList mydestination_;
  maps::MatchList relay_domains_;
  maps::MatchList virtual_alias_domains_;
  maps::MatchList virtual_mailbox_domains_;
  std::string myhostname_, myorigin_;
  // A recipient table of check_unlisted(): null maps with no error means
  // the parameter is empty (every address of that class is valid); a table
  // that could not be opened keeps its error and defers, as in Postfix.
  struct RecipientTable {
    std::unique_ptr<maps::MapList> maps;
    std::string error;
    bool configured() const { return maps || !error.empty(); }
  };
  static RecipientTable open_recipient_table(const config::Config& cfg, const char* name);
  // Postfix's check_rcpt_maps() order: an address the canonical or virtual
  // alias tables know is valid in every class; then the class's own table.
  RecipientTable local_recipient_maps_, virtual_mailbox_maps_, relay_recipient_maps_;
  // relay_clientcerts, opened the same way (a table that cannot be opened
  // defers permit_tls_clientcerts).
  RecipientTable relay_clientcerts_;
  std::vector<RecipientTable> mapped_recipient_maps_;  // recipient_canonical, canonical, virtual_alias
  // smtpd_sender_login_maps (null: none; every authenticated sender is then
  // a mismatch, as in Postfix); an open failure is kept and defers.
  std::unique_ptr<maps::MapList> sender_login_maps_;
  std::string sender_login_error_;
  // permit_tls_clientcerts: Permit, Dunno, or Reject (lookup error).
  Outcome listed_client_certificate(const RcptContext& c, Verdict& v);
  // The login names that own `sender` (empty: none known), or an error.
  Result<std::vector<std::string>> sender_owners(const mail::Address& sender);
  std::string recipient_delimiter_;
  std::string double_bounce_sender_;
  int relay_code_ = 554;
  int plaintext_code_ = 450;  // plaintext_reject_code
  int reject_code_ = 554;  // reject_code: the plain "reject" restriction
  int defer_code_ = 450;   // defer_code: the plain "defer" restriction
  std::string expansion_filter_;  // smtpd_expansion_filter, unescaped (DNS list replies)
  int unknown_local_code_ = 550;
  int unknown_virtual_mailbox_code_ = 550;
  int unknown_virtual_alias_code_ = 550;
  int unknown_relay_code_ = 550;
  bool reject_unlisted_ = true;
  bool reject_unlisted_sender_ = false;  // smtpd_reject_unlisted_sender
  bool delay_reject_ = true;             // smtpd_delay_reject
  bool wants_sender_class_ = false;
  // What check_unlisted_address() judges: the recipient or the sender.
  struct Unlisted {
    const mail::Address* address;
    std::string_view text;                // as the client wrote it
    std::optional<DomainClass> cls;       // trivial-rewrite's; unset: classify()
    std::string_view undeliverable;       // see RcptContext::undeliverable
    bool sender = false;
  };
  Verdict check_unlisted_address(const Unlisted& a);
  bool no_unknown_recipient_checks_ = false;  // receive_override_options
  int invalid_hostname_code_ = 501;
  int unknown_address_code_ = 450;
  bool unknown_address_tempfail_defer_ = false;  // "defer" (else defer_if_permit)
  bool wants_sender_dns_ = false, wants_recipient_dns_ = false, wants_helo_dns_ = false, wants_dnsbl_ = false,
       wants_policy_service_ = false;
  int unknown_client_code_ = 450;
  int unknown_hostname_code_ = 450;
  bool unknown_helo_tempfail_defer_ = false;  // "defer" (else defer_if_permit)
  int non_fqdn_code_ = 504;
  access::Options access_;
  int rbl_code_ = 554;
  int multi_bounce_code_ = 550;
  std::string compatibility_level_, mail_version_;  // for policy servers
  std::string default_rbl_reply_;
  std::unique_ptr<maps::MapList> rbl_reply_maps_;  // null: none
  std::vector<Restriction> client_r_, helo_r_, sender_r_, relay_r_, rcpt_r_, data_r_, eod_r_;
  Verdict check_stage(const std::vector<Restriction>& list, std::string_view title, const RcptContext& c);
  // smtpd_restriction_classes: each class's list, by name; a list element
  // (or a table result) naming one evaluates it in place.
  std::map<std::string, std::vector<Restriction>, std::less<>> classes_;
  bool relay_control_ok_ = true;
};

}  // namespace postern::smtpd
