#!/bin/sh
# postconf_cli_test.sh POSTCONF - black-box checks of the postconf command on
# a scratch configuration directory: output formats, exit codes, messages,
# and in-place edits of main.cf and master.cf.
set -u
P="$1"
D=$(mktemp -d /tmp/postconf-cli-test.XXXXXX)
trap 'rm -rf "$D"' EXIT
fails=0

check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" != "$3" ]; then
    printf 'FAIL: %s\n--- expected\n%s\n--- actual\n%s\n' "$1" "$2" "$3"
    fails=$((fails + 1))
  fi
}

cat > "$D/main.cf" <<'CF'
# Test configuration
myhostname = mail.example.com
mydestination = $myhostname,
    localhost
user_thing = from-main
smtpd_banner = $myhostname ${user_thing?{with}:{without}}
typo_parameter = 1
CF
cat > "$D/master.cf" <<'CF'
smtp      inet  n       -       y       -       -       smtpd
  -o smtpd_client_restrictions=$mua_restrictions
relay     unix  -       -       n       -       -       smtp
CF
echo 'mua_restrictions = permit' >> "$D/main.cf"

check "-n" "config_directory = $D
mua_restrictions = permit
mydestination = \$myhostname, localhost
myhostname = mail.example.com
smtpd_banner = \$myhostname \${user_thing?{with}:{without}}
user_thing = from-main" "$("$P" -c "$D" -n 2>/dev/null)"

check "-n with MAIL_CONFIG: config_directory is set" "config_directory = $D" \
  "$(MAIL_CONFIG="$D" "$P" -n 2>/dev/null | sed -n 1p)"

check "-n warns about unused parameters" \
  "postconf: warning: $D/main.cf: unused parameter: typo_parameter=1" "$("$P" -c "$D" -n 2>&1 >/dev/null)"

check "-x names" "mydestination = mail.example.com, localhost
smtpd_banner = mail.example.com with" "$("$P" -c "$D" -x mydestination smtpd_banner 2>/dev/null)"

check "-h" "mail.example.com" "$("$P" -c "$D" -h myhostname 2>/dev/null)"
# Values are shown as their words joined by one space, as Postfix 3.7's
# postconf shows them (checked side by side on December 7).
# Undefined and unused parameters, as Postfix 3.7's postconf reports them
# for the same files (checked side by side on December 7): a master.cf -o
# name belongs to its entry; main.cf may refer to it.
mkdir "$D/uu"
printf 'myhostname = x.example\nsmtpd_banner = $from_main_ref $nowhere\nmain_def = 1\nmain_unused = 2\n' > "$D/uu/main.cf"
printf 'smtp inet n - y - - smtpd\n  -o user_a=1\n  -o from_main_ref=2\n  -o smtpd_foo=bar\n  -o smtpd_helo_restrictions=$main_def\nsubmission inet n - y - - smtpd\n  -o smtpd_client_restrictions=$user_a\n  -o user_b=3\n  -o smtpd_recipient_restrictions=$user_b\nrelay unix - - n - - smtp\n  -o relay_bogus_limit=2\n' > "$D/uu/master.cf"
check "undefined and unused parameters" "postconf: warning: $D/uu/master.cf: undefined parameter: user_a
postconf: warning: $D/uu/main.cf: undefined parameter: nowhere
postconf: warning: $D/uu/main.cf: unused parameter: main_unused=2
postconf: warning: $D/uu/master.cf: unused parameter: smtpd_foo=bar
postconf: warning: $D/uu/master.cf: unused parameter: user_a=1
postconf: warning: $D/uu/master.cf: unused parameter: relay_bogus_limit=2" "$("$P" -c "$D/uu" -n 2>&1 >/dev/null)"
check "user-defined parameters shown" "config_directory = $D/uu
main_def = 1
myhostname = x.example
smtpd_banner = \$from_main_ref \$nowhere" "$("$P" -c "$D/uu" -n 2>/dev/null)"
# Per-transport names are parameters only for master.cf's delivery
# services; a main.cf name that a master.cf -o sets too is not used by that
# (Postfix 3.7 reports the same lines, in its hash order).
mkdir "$D/pt"
printf 'myhostname = x.example\nnosuch_destination_concurrency_limit = 3\nrelay_destination_concurrency_limit = 2\nsmtpd_banner = $ghost_destination_rate_delay\nshared = 1\n' > "$D/pt/main.cf"
printf 'smtp inet n - y - - smtpd\n  -o shared=2\nrelay unix - - n - - smtp\n  -o nosuch2_destination_rate_delay=1s\n  -o relay_destination_rate_delay=1s\n' > "$D/pt/master.cf"
check "per-transport and shared names" "postconf: warning: $D/pt/main.cf: undefined parameter: ghost_destination_rate_delay
postconf: warning: $D/pt/main.cf: unused parameter: nosuch_destination_concurrency_limit=3
postconf: warning: $D/pt/main.cf: unused parameter: shared=1
postconf: warning: $D/pt/master.cf: unused parameter: nosuch2_destination_rate_delay=1s
postconf: warning: $D/pt/master.cf: unused parameter: shared=2" "$("$P" -c "$D/pt" -n 2>&1 >/dev/null | sort)"
check "per-transport names shown" "config_directory = $D/pt
myhostname = x.example
relay_destination_concurrency_limit = 2
smtpd_banner = \$ghost_destination_rate_delay" "$("$P" -c "$D/pt" -n 2>/dev/null)"
mkdir "$D/ws"
printf 'mydestination = a,    b\tc\n  d\nsmtpd_banner = $myhostname   ESMTP  \nmyhostname = x.example\n' > "$D/ws/main.cf"
check "white space collapsed" "mydestination = a, b c d
smtpd_banner = x.example ESMTP" "$("$P" -c "$D/ws" -x mydestination smtpd_banner 2>/dev/null)"
check "white space collapsed with -h" "\$myhostname ESMTP" "$("$P" -c "$D/ws" -h smtpd_banner 2>/dev/null)"
check "empty value" "relayhost =" "$("$P" -c "$D" relayhost 2>/dev/null)"
check "-d" "message_size_limit = 10240000" "$("$P" -c "$D" -d message_size_limit 2>/dev/null)"
check "-d ignores main.cf" "myorigin = \$myhostname" "$("$P" -c "$D" -d myorigin 2>/dev/null)"
check "config_directory is -c" "config_directory = $D" "$("$P" -c "$D" config_directory 2>/dev/null)"
check "MAIL_CONFIG" "mail.example.com" "$(MAIL_CONFIG="$D" "$P" -h myhostname 2>/dev/null)"
check "unknown name" "postconf: warning: no_such_thing: unknown parameter" \
  "$("$P" -c "$D" no_such_thing 2>&1 >/dev/null | grep no_such_thing)"
check "per-transport parameter from master.cf" "relay_destination_concurrency_limit = \$default_destination_concurrency_limit" \
  "$("$P" -c "$D" 2>/dev/null | grep '^relay_destination_concurrency_limit')"
check "-o override" "smtpd_banner = x.example with" \
  "$("$P" -c "$D" -o myhostname=x.example -x smtpd_banner 2>/dev/null)"

# Edits keep comments and order.
"$P" -c "$D" -e 'mydestination = a, b' 'relayhost=[smtp.example.com]:587' || fails=$((fails + 1))
"$P" -c "$D" -X typo_parameter || fails=$((fails + 1))
check "-e/-X result" "# Test configuration
myhostname = mail.example.com
mydestination = a, b
user_thing = from-main
smtpd_banner = \$myhostname \${user_thing?{with}:{without}}
mua_restrictions = permit
relayhost = [smtp.example.com]:587" "$(cat "$D/main.cf")"

# A bad value is refused with a fatal error and exit status 1, file unchanged.
before=$(cat "$D/main.cf")
out=$("$P" -c "$D" -e message_size_limit=huge 2>&1); rc=$?
check "-e bad value exit" "1" "$rc"
case "$out" in
  "postconf: fatal: "*"bad numerical value for parameter message_size_limit: huge"*) ;;
  *) check "-e bad value message" "postconf: fatal: ... bad numerical value ..." "$out" ;;
esac
check "-e bad value leaves file" "$before" "$(cat "$D/main.cf")"

# A value asking for a feature Postern lacks is refused the same way; the
# "off" value is accepted, and -X removes a setting from a file that has one.
out=$("$P" -c "$D" -e 'smtpd_milters=inet:127.0.0.1:8891' 2>&1); rc=$?
check "-e unsupported feature exit" "1" "$rc"
case "$out" in
  "postconf: fatal: not changing "*"parameter smtpd_milters = inet:127.0.0.1:8891: Postern does not have milters"*) ;;
  *) check "-e unsupported feature message" "postconf: fatal: ... Postern does not have milters ..." "$out" ;;
esac
check "-e unsupported feature leaves file" "$before" "$(cat "$D/main.cf")"
"$P" -c "$D" -e 'smtpd_milters=' || fails=$((fails + 1))
echo 'frozen_delivered_to = no' >> "$D/main.cf"
# A bad value is reported, and everything is still shown (as Postfix does:
# that is when the administrator needs postconf most).
out=$("$P" -c "$D" -n 2>&1 >/dev/null); rc=$?
check "unsupported feature in main.cf exit" "0" "$rc"
check "unsupported feature in main.cf message" "postconf: warning: $D/main.cf, line 9: parameter frozen_delivered_to = no: Postern does not update Delivered-To: while expanding aliases (frozen_delivered_to = no); remove the setting or set it to yes" "$out"
check "unsupported feature in main.cf shown" "frozen_delivered_to = no" "$("$P" -c "$D" -n 2>/dev/null | grep '^frozen')"
check "-q: no warnings" "" "$("$P" -q -c "$D" -n 2>&1 >/dev/null)"
"$P" -c "$D" -X frozen_delivered_to smtpd_milters || fails=$((fails + 1))
check "-X repairs" "$before" "$(cat "$D/main.cf")"

# master.cf
check "-M smtp" "smtp       inet  n       -       y       -       -       smtpd -o smtpd_client_restrictions=\$mua_restrictions" \
  "$("$P" -c "$D" -M smtp/inet 2>/dev/null)"
"$P" -c "$D" -Me 'submission/inet=submission inet n - y - - smtpd -o smtpd_tls_security_level=encrypt' \
  || fails=$((fails + 1))
"$P" -c "$D" -MX relay/unix || fails=$((fails + 1))
check "-M after -Me/-MX" "smtp       inet  n       -       y       -       -       smtpd -o smtpd_client_restrictions=\$mua_restrictions
submission inet  n       -       y       -       -       smtpd -o smtpd_tls_security_level=encrypt" "$("$P" -c "$D" -M)"
out=$("$P" -c "$D" -Me 'x/unix=x unix - - n - - ' 2>&1); rc=$?
check "-Me malformed exit" "1" "$rc"
# Removing what is not there succeeds (so scripts may run twice), and changes nothing.
cp "$D/master.cf" "$D/master.before"
"$P" -c "$D" -MX relay/unix; check "-MX of a missing entry exit" "0" "$?"
check "-MX of a missing entry changes nothing" "$(cat "$D/master.before")" "$(cat "$D/master.cf")"
out=$("$P" -c "$D" -MX relay/unix=x 2>&1); rc=$?
check "-MX with a value exit" "1" "$rc"
check "-MX with a value message" "postconf: fatal: -MX or -M# requires service names without value" "$out"

# Assignments without -e edit (Postfix 2.8 and later).
"$P" -c "$D" 'biff=no' 'delay_warning_time = 4h' || fails=$((fails + 1))
check "name=value without -e" "biff = no
delay_warning_time = 4h" "$("$P" -c "$D" -n biff delay_warning_time 2>/dev/null)"
out=$("$P" -c "$D" -X 'biff=no' 2>&1); rc=$?
check "-X with a value exit" "1" "$rc"
check "-X with a value message" "postconf: fatal: -X or -# requires parameter names without value" "$out"
"$P" -f -c "$D" -n >/dev/null 2>&1; check "-f accepted" "0" "$?"

# Broken main.cf: shown all the same, with a warning naming file and line.
printf 'biff = perhaps\n' > "$D/main.cf"
out=$("$P" -c "$D" -n 2>&1); rc=$?
check "broken main.cf exit" "0" "$rc"
check "broken main.cf message" "postconf: warning: $D/main.cf, line 1: bad boolean value for parameter biff: perhaps (specify yes or no)
postconf: warning: $D/master.cf: undefined parameter: mua_restrictions
biff = perhaps
config_directory = $D" "$out"
out=$("$P" -c "$D/nonexistent" -n 2>&1); rc=$?
check "missing main.cf exit" "1" "$rc"

# What this build supports.
check "-m" "btree
cdb
cidr
hash
inline
lmdb
mysql
pcre
pgsql
pipemap
proxy
regexp
socketmap
sqlite
static
tcp
texthash
unionmap
unix" "$("$P" -m)"
check "-l" "flock
fcntl
dotlock" "$("$P" -l)"
check "-a" "dovecot" "$("$P" -a)"
"$P" -m -l >/dev/null 2>&1; check "-m -l usage exit" "1" "$?"

# master.cf fields (-F) and -o parameters (-P), as Postfix's postconf 3.7
# prints and edits them.
cat > "$D/master.cf" <<'CF'
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }
pickup    unix  n       -       y       60      1       pickup
CF
check "-F submission" "submission/inet/service = submission
submission/inet/type = inet
submission/inet/private = n
submission/inet/unprivileged = -
submission/inet/chroot = y
submission/inet/wakeup = -
submission/inet/process_limit = -
submission/inet/command = smtpd -o syslog_name=postfix/submission -o smtpd_tls_security_level=encrypt -o {smtpd_client_restrictions=permit_sasl_authenticated, reject}" \
  "$("$P" -c "$D" -F submission)"
check "-F service/type/field" "pickup/unix/wakeup = 60" "$("$P" -c "$D" -F pickup/unix/wakeup)"
check "-Fh wildcards" "60
1" "$("$P" -c "$D" -Fh '*/unix/wakeup' 'pickup/*/process_limit')"
check "-P" "submission/inet/smtpd_client_restrictions = permit_sasl_authenticated, reject
submission/inet/smtpd_tls_security_level = encrypt
submission/inet/syslog_name = postfix/submission" "$("$P" -c "$D" -P)"
check "-PH" "submission/inet/syslog_name" "$("$P" -c "$D" -PH '*/*/syslog_name')"
"$P" -c "$D" -Pe submission/inet/syslog_name=foo submission/inet/new_param=xy smtp/inet/smtpd_tls_security_level=may \
  || fails=$((fails + 1))
"$P" -c "$D" -PX submission/inet/smtpd_tls_security_level || fails=$((fails + 1))
"$P" -c "$D" -F pickup/unix/wakeup=30 || fails=$((fails + 1))  # -e implied, as in Postfix
check "-M after -Pe, -PX, -Fe" "smtp       inet  n       -       y       -       -       smtpd -o smtpd_tls_security_level=may
submission inet  n       -       y       -       -       smtpd -o syslog_name=foo -o {smtpd_client_restrictions=permit_sasl_authenticated, reject} -o new_param=xy
pickup     unix  n       -       y       30      1       pickup" "$("$P" -c "$D" -M)"
"$P" -c "$D" -Fe 'pickup/unix/command=pickup -v' || fails=$((fails + 1))
check "-Fe command" "pickup -v" "$("$P" -c "$D" -Fh pickup/unix/command)"
cp "$D/master.cf" "$D/master.before"
out=$("$P" -c "$D" -Pe 'submission/inet/x=a b' 2>&1); rc=$?
check "-Pe white space exit" "1" "$rc"
check "-Pe white space message" "postconf: fatal: -Pe does not accept whitespace in parameter value" "$out"
out=$("$P" -c "$D" -Fe 'pickup/unix/wakeup=3 0' 2>&1); rc=$?
check "-Fe white space exit" "1" "$rc"
check "-Fe white space message" "postconf: fatal: -Fe does not accept whitespace in non-command field" "$out"
out=$("$P" -c "$D" -Fe pickup/unix/bogus=1 2>&1); rc=$?
check "-Fe bad field exit" "1" "$rc"
check "-Fe bad field message" 'postconf: fatal: invalid service attribute name: "bogus"' "$out"
out=$("$P" -c "$D" -Fe nonexist/unix/wakeup=1 2>&1); rc=$?
check "-Fe missing entry exit" "0" "$rc"
check "-Fe missing entry message" 'postconf: warning: unmatched service_name/type: "nonexist/unix/wakeup=1"' "$out"
"$P" -c "$D" -FX pickup/unix/wakeup >/dev/null 2>&1; check "-FX exit" "1" "$?"
"$P" -c "$D" -P# submission/inet/syslog_name >/dev/null 2>&1; check "-P# exit" "1" "$?"
"$P" -c "$D" -Fe 'pickup/unix/wakeup=x' >/dev/null 2>&1; check "-Fe bad wakeup exit" "1" "$?"
check "failed edits change nothing" "$(cat "$D/master.before")" "$(cat "$D/master.cf")"

# -o among a pipe command's own arguments is not a parameter; option
# clusters are printed one by one; a new -o goes before the command's
# arguments (all as Postfix 3.7).
cat > "$D/master.cf" <<'CF'
md        unix  -       n       n       -       -       pipe
  flags=R argv=/bin/cmd -o { a = b } -s -o foo=bar
x         unix  -       n       n       -       -       smtp -vo y=1 -oz=2
pickup    unix  n       -       y       60      1       pickup
relay     unix  -       -       n       -       -       smtp
CF
check "-P skips a pipe's -o" "x/unix/y = 1
x/unix/z = 2" "$("$P" -c "$D" -P)"
check "-M clusters and pipe groups" "md         unix  -       n       n       -       -       pipe flags=R argv=/bin/cmd -o {a = b} -s -o foo=bar
x          unix  -       n       n       -       -       smtp -v -o y=1 -o z=2" "$("$P" -c "$D" -M md x)"
"$P" -c "$D" -PX md/unix/foo || fails=$((fails + 1))
"$P" -c "$D" -Pe md/unix/q=1 x/unix/z=3 || fails=$((fails + 1))
check "-Pe before a pipe's arguments" "md         unix  -       n       n       -       -       pipe
    -o q=1
    flags=R argv=/bin/cmd -o {a = b} -s -o foo=bar
x          unix  -       n       n       -       -       smtp -v
    -o y=1
    -o z=3" "$(sed -n 1,6p "$D/master.cf")"
out=$("$P" -c "$D" -Fe pickup/unix/service=relay 2>&1); rc=$?
check "-Fe onto an existing key exit" "1" "$rc"
check "-Fe onto an existing key message" "postconf: fatal: pickup/unix/service=relay: there is a relay/unix entry already" "$out"
out=$("$P" -c "$D" -Fe pickup/unix/wakeup= 2>&1); rc=$?
check "-Fe empty value exit" "1" "$rc"
out=$("$P" -c "$D" -F smtp/inet/bogus 2>&1); rc=$?
check "-F unknown field exit" "1" "$rc"
check "-F unknown field message" 'postconf: fatal: invalid service attribute name: "bogus"' "$out"
"$P" -c "$D" -F a/b/c/d >/dev/null 2>&1; check "-F malformed selection exit" "1" "$?"
out=$("$P" -c "$D" -P nothing 2>&1); rc=$?
check "-P unmatched exit" "0" "$rc"
check "-P unmatched message" 'postconf: warning: unmatched request: "nothing"' "$out"

# Usage errors.
"$P" -c "$D" -e -X biff >/dev/null 2>&1; check "usage exit" "1" "$?"
"$P" -c "$D" -e >/dev/null 2>&1; check "-e without args exit" "1" "$?"

[ "$fails" -eq 0 ] && echo "postconf CLI: all checks passed"
exit "$fails"
