#!/bin/sh
# postfix_compat_test.sh - Postern's postmap/postalias against Postfix's own.
#
# Usage: postfix_compat_test.sh OUR_POSTMAP OUR_POSTALIAS
#
# Builds hash: and btree: tables and alias databases with each tool and reads
# them with the other one (-s dumps, -q and "-q -" lookups, -i additions, -d
# deletions, -n/-N null conventions), and compares the warnings both print
# for the same broken source lines. Also compares regexp: and cidr: lookups
# (and pcre: when Postfix has it), and the message query modes -h, -b, -m. Exits 77 (ctest SKIP) when Postfix's
# postmap/postalias are not installed (Debian package "postfix"); Postern
# never needs Postfix at run time.
set -u

OURS_POSTMAP=$1
OURS_POSTALIAS=$2
PF_POSTMAP=${POSTFIX_POSTMAP:-/usr/sbin/postmap}
PF_POSTALIAS=${POSTFIX_POSTALIAS:-/usr/sbin/postalias}
if [ ! -x "$PF_POSTMAP" ] || [ ! -x "$PF_POSTALIAS" ]; then
  echo "SKIP: Postfix's postmap/postalias not installed (apt-get install postfix)"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/postern-compat.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/pfconf" "$work/ptconf" "$work/pf" "$work/pt"
# Postfix needs a main.cf; an empty one gives Postfix's built-in defaults.
printf 'myhostname = compat.example\n' > "$work/pfconf/main.cf"
printf 'myhostname = compat.example\n' > "$work/ptconf/main.cf"

pf_map() { "$PF_POSTMAP" -c "$work/pfconf" "$@"; }
pt_map() { "$OURS_POSTMAP" -c "$work/ptconf" "$@"; }
pf_alias() { "$PF_POSTALIAS" -c "$work/pfconf" "$@"; }
pt_alias() { "$OURS_POSTALIAS" -c "$work/ptconf" "$@"; }

status=0
checks=0
fail() { echo "FAIL: $*"; status=1; }
same() {  # same LABEL FILE1 FILE2
  checks=$((checks + 1))
  if ! diff -u "$2" "$3" > "$work/diff.out" 2>&1; then
    fail "$1"
    cat "$work/diff.out"
  fi
}
expect() {  # expect LABEL WANTED GOT
  checks=$((checks + 1))
  [ "$2" = "$3" ] || fail "$1: wanted [$2], got [$3]"
}

# A source file with the awkward cases: case folding, quoted keys, continued
# lines, comments inside a continued entry, duplicates, bad lines, CR LF.
cat > "$work/source" <<'EOF'
# comment
Foo        bar baz
MixedCase  Value With Caps
"a b"@example.com   quoted key
multi first
  second
# comment inside a continued entry
	third
user@example.com  user@elsewhere
@example.com      catchall@example.com
Foo        duplicate (kept out)
lonely
"unbalanced value
8bit-Ünï   vålue
key:       looks like an alias
EOF
printf 'crlf\tvalue\r\n' >> "$work/source"
cat > "$work/keys" <<'EOF'
foo
FOO
MixedCase
mixedcase
"a b"@example.com
multi
user@example.com
@example.com
lonely
8bit-ünï
8bit-Ünï
key:
crlf
missing
EOF

for type in hash btree; do
  cp "$work/source" "$work/pt/src"
  cp "$work/source" "$work/pf/src"
  # Same relative name in each directory, so warnings must match exactly.
  (cd "$work/pt" && pt_map "$type:src") > /dev/null 2> "$work/pt.err" || fail "$type: our postmap failed"
  (cd "$work/pf" && pf_map "$type:src") > /dev/null 2> "$work/pf.err" ||
    fail "$type: Postfix's postmap failed"
  same "$type: build warnings" "$work/pf.err" "$work/pt.err"

  # Postfix reads ours exactly as it reads its own, and vice versa.
  pf_map -s "$type:$work/pf/src" | sort > "$work/pf_pf.dump"
  pf_map -s "$type:$work/pt/src" | sort > "$work/pf_pt.dump"
  pt_map -s "$type:$work/pf/src" | sort > "$work/pt_pf.dump"
  pt_map -s "$type:$work/pt/src" | sort > "$work/pt_pt.dump"
  same "$type: Postfix dumps our table" "$work/pf_pf.dump" "$work/pf_pt.dump"
  same "$type: we dump Postfix's table" "$work/pf_pf.dump" "$work/pt_pf.dump"
  same "$type: we dump our table" "$work/pf_pf.dump" "$work/pt_pt.dump"
  expect "$type: dump size" 9 "$(wc -l < "$work/pf_pt.dump" | tr -d ' ')"

  expect "$type: Postfix -q Foo on ours" "bar baz" "$(pf_map -q Foo "$type:$work/pt/src")"
  expect "$type: Postfix -q quoted key on ours" "quoted key" \
    "$(pf_map -q '"a b"@example.com' "$type:$work/pt/src")"
  expect "$type: Postfix -q multi on ours" "first  second	third" "$(pf_map -q multi "$type:$work/pt/src")"
  expect "$type: we -q MIXEDCASE on Postfix's" "Value With Caps" "$(pt_map -q MIXEDCASE "$type:$work/pf/src")"
  pf_map -q missing "$type:$work/pt/src"; expect "$type: Postfix -q missing exit" 1 $?
  pt_map -q missing "$type:$work/pf/src"; expect "$type: our -q missing exit" 1 $?
  pt_map -f -q FOO "$type:$work/pf/src"; expect "$type: our -f -q FOO exit" 1 $?

  pf_map -q - "$type:$work/pt/src" < "$work/keys" > "$work/q_pf" 2> "$work/q_pf.err"
  pt_map -q - "$type:$work/pf/src" < "$work/keys" > "$work/q_pt" 2> "$work/q_pt.err"
  same "$type: -q - answers" "$work/q_pf" "$work/q_pt"
  expect "$type: -q - hits" 11 "$(wc -l < "$work/q_pt" | tr -d ' ')"
  same "$type: -q - warnings" "$work/q_pf.err" "$work/q_pt.err"

  # Incremental additions and deletions, each tool on the other's file.
  printf 'Added1 one\nfoo not-replaced\n' | pt_map -i "$type:$work/pf/src" 2> "$work/pt_i.err"
  printf 'Added2 two\n' | pf_map -i "$type:$work/pt/src"
  expect "$type: Postfix sees our -i" one "$(pf_map -q added1 "$type:$work/pf/src")"
  expect "$type: -i keeps duplicates out" "bar baz" "$(pf_map -q foo "$type:$work/pf/src")"
  expect "$type: we see Postfix's -i" two "$(pt_map -q added2 "$type:$work/pt/src")"
  printf 'foo replaced\n' | pt_map -r -i "$type:$work/pf/src"
  expect "$type: -r -i replaces" replaced "$(pf_map -q foo "$type:$work/pf/src")"
  pt_map -d MixedCase "$type:$work/pf/src"; expect "$type: our -d exit" 0 $?
  pt_map -d MixedCase "$type:$work/pf/src"; expect "$type: our second -d exit" 1 $?
  pf_map -q mixedcase "$type:$work/pf/src"; expect "$type: Postfix no longer finds deleted key" 1 $?
  pf_map -d user@example.com "$type:$work/pt/src"
  pt_map -q user@example.com "$type:$work/pt/src"; expect "$type: we no longer find Postfix-deleted key" 1 $?

  # Without and with trailing nulls (-n / -N), each read by the other tool.
  printf 'Key0 value0\n' > "$work/pt/n0"; printf 'Key0 value0\n' > "$work/pf/n0"
  pt_map -n "$type:$work/pt/n0"; pf_map -n "$type:$work/pf/n0"
  expect "$type: Postfix reads our -n table" value0 "$(pf_map -q key0 "$type:$work/pt/n0")"
  expect "$type: we read Postfix's -n table" value0 "$(pt_map -q key0 "$type:$work/pf/n0")"
  expect "$type: -N lookup misses a -n table" "" "$(pf_map -N -q key0 "$type:$work/pt/n0")"
  pt_map -N "$type:$work/pt/n0"
  expect "$type: Postfix reads our -N table" value0 "$(pf_map -N -q key0 "$type:$work/pt/n0")"
done

# Alias databases.
cat > "$work/aliases" <<'EOF'
# aliases(5)
Root: admin,   Other
"quoted name": x
postmaster:root
list: :include:/etc/mail/list.txt
pipe: "|/usr/bin/prog arg", |/bin/cat
file: /var/mail/file, \bob
cont: one,
  two,
	three
comm: a (a comment) , b
semi: a; b
weird: a<b@c>
mail: Joe <joe@x.org>, "Q" <q@y>
noval:
at@dom: x
empty: ""
dup: 1
DUP: 2
EOF
cp "$work/aliases" "$work/pt/aliases"
cp "$work/aliases" "$work/pf/aliases"
(cd "$work/pt" && pt_alias hash:aliases) 2> "$work/pta.err" || fail "our postalias failed"
(cd "$work/pf" && pf_alias hash:aliases) 2> "$work/pfa.err" || fail "Postfix's postalias failed"
same "postalias warnings" "$work/pfa.err" "$work/pta.err"
pf_alias -s "hash:$work/pf/aliases" | grep -v '^YP_LAST_MODIFIED:' | sort > "$work/pfa.dump"
pf_alias -s "hash:$work/pt/aliases" | grep -v '^YP_LAST_MODIFIED:' | sort > "$work/pfa_pt.dump"
pt_alias -s "hash:$work/pf/aliases" | grep -v '^YP_LAST_MODIFIED:' | sort > "$work/pta_pf.dump"
same "Postfix dumps our alias db" "$work/pfa.dump" "$work/pfa_pt.dump"
same "we dump Postfix's alias db" "$work/pfa.dump" "$work/pta_pf.dump"
expect "alias -q root" "admin, Other" "$(pf_alias -q root "$work/pt/aliases")"
expect "alias -q quoted" x "$(pf_alias -q 'quoted name' "$work/pt/aliases")"
expect "alias -q @" @ "$(pf_alias -q @ "$work/pt/aliases")"
expect "alias YP_MASTER_NAME" compat.example "$(pf_alias -f -q YP_MASTER_NAME "$work/pt/aliases")"
pf_alias -f -q YP_LAST_MODIFIED "$work/pt/aliases" | grep -Eq '^[0-9]{10}$' ||
  fail "alias YP_LAST_MODIFIED is not 10 digits"
checks=$((checks + 1))
printf 'new: user1\nroot: replaced\n' | pt_alias -i "hash:$work/pf/aliases" 2> "$work/pta_i.err"
expect "postalias -i duplicate warning" \
  "postalias: warning: $work/pf/aliases.db: duplicate entry: \"root\"" "$(cat "$work/pta_i.err")"
expect "Postfix sees our postalias -i" user1 "$(pf_alias -q new "$work/pf/aliases")"
expect "postalias -i keeps duplicates out" "admin, Other" "$(pf_alias -q root "$work/pf/aliases")"
printf 'root\nnew\nmissing\n' | pf_alias -q - "$work/pt/aliases" > "$work/qa_pf"
printf 'root\nnew\nmissing\n' | pt_alias -q - "$work/pt/aliases" > "$work/qa_pt"
same "postalias -q - answers" "$work/qa_pf" "$work/qa_pt"

# Pattern tables: the same keys must give the same answers and warnings.
cat > "$work/regexp" <<'EOF'
/^(.*)@(.*)$/       user=$1 dom=${2}
/^a$/i              case-sensitive
/^b/x
/^c(/               bad
/^d/q               unknown flag
/^e(x)/             $2 out of range
!/^h/               $1
/^i/!/^ij/          i-not-ij
if /^k/
/^kk/               kk
endif
endif
if !/^l/
/^m/                m
endif
|^r|                pipe-delimited
/^s/                ${0}
foo
EOF
printf 'u@d\nA\na\nb\nkk\nk\ni\nij\nm\nr\ns\nzz\n' > "$work/rkeys"
(cd "$work" && pf_map -q - regexp:regexp < rkeys) > "$work/r_pf" 2> "$work/r_pf.err"
(cd "$work" && pt_map -q - regexp:regexp < rkeys) > "$work/r_pt" 2> "$work/r_pt.err"
same "regexp answers" "$work/r_pf" "$work/r_pt"
same "regexp warnings" "$work/r_pf.err" "$work/r_pt.err"

cat > "$work/cidr" <<'EOF'
if 10.0.0.0/8
10.1.0.0/16         in-10-1
!10.2.0.0/16        not-10-2
endif
1.2.3.5/24          host bits
[2001:db8::]/32     v6
[192.0.2.0/24]      bracketed
1.2.3.4
endif
300.1.1.1           bad
1.2.3.0/33          long mask
1.2.3/24            bad net
! 7.7.7.7           negated
::/0                anyv6
0.0.0.0/0           any
EOF
printf '10.1.2.3\n10.3.0.1\n11.0.0.1\n2001:db8::1\n192.0.2.9\n::1\n7.7.7.7\nbogus\n' > "$work/ckeys"
(cd "$work" && pf_map -q - cidr:cidr < ckeys) > "$work/c_pf" 2> "$work/c_pf.err"
(cd "$work" && pt_map -q - cidr:cidr < ckeys) > "$work/c_pt" 2> "$work/c_pt.err"
same "cidr answers" "$work/c_pf" "$work/c_pt"
same "cidr warnings" "$work/c_pf.err" "$work/c_pt.err"

if ! pf_map -q x "pcre:$work/regexp" 2>&1 | grep -q 'unsupported dictionary type'; then
  sed -e '/^\/\^i\//d' "$work/regexp" > "$work/pcre"
  printf '/^(y)?z/   [$1]\n/^s.t$/    dotall\n/^x/X     obsolete\n' >> "$work/pcre"
  printf 'u@d\nA\na\nz\nyz\nkk\nm\nzz\n' > "$work/pkeys"
  (cd "$work" && pf_map -q - pcre:pcre < pkeys) > "$work/p_pf" 2> "$work/p_pf.err"
  (cd "$work" && pt_map -q - pcre:pcre < pkeys) > "$work/p_pt" 2> "$work/p_pt.err"
  same "pcre answers" "$work/p_pf" "$work/p_pt"
  same "pcre warnings" "$work/p_pf.err" "$work/p_pt.err"
else
  echo "note: Postfix has no pcre support here (postfix-pcre); pcre comparison skipped"
fi

# Message query modes (-h, -b, -m): the keys header_checks and body_checks
# see, the empty line after each header section included.
cat > "$work/hbc" <<'EOF'
/^Subject: (.*)/ REJECT subject $1
/^Content-Type: text\/html/ WARN html
/^X-Fold:/ INFO fold
/^secret/ DISCARD body
/^--b1/ DUNNO boundary
/^$/ EMPTY
/^preamble/ PRE
EOF
printf 'Subject: hi\nX-Fold: a\n\tb\nContent-Type: multipart/mixed; boundary=b1\n\npreamble\n--b1\nContent-Type: text/html\n\nsecret line\n--b1--\n' > "$work/m1"
printf 'Subject: a\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: message/rfc822\n\nSubject: inner\n\nsecret inner\n--b1--\n' > "$work/m2"
printf 'Subject: x\nsecret without separator\n' > "$work/m3"
for m in m1 m2 m3; do
  for o in -h -hm -b -bm -hb -hbm; do
    (cd "$work" && pf_map $o -q - regexp:hbc < $m) > "$work/h_pf" 2>&1; pf_rc=$?
    (cd "$work" && pt_map $o -q - regexp:hbc < $m) > "$work/h_pt" 2>&1; pt_rc=$?
    same "postmap $o on $m" "$work/h_pf" "$work/h_pt"
    expect "postmap $o on $m exit status" "$pf_rc" "$pt_rc"
  done
done

if [ $status -eq 0 ]; then
  echo "PASS: $checks compatibility checks"
fi
exit $status
