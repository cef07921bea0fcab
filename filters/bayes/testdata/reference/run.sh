#!/bin/bash
# Reference classifiers on the SpamAssassin public corpus, fixed split.
# Learn: easy_ham + hard_ham (ham), spam (spam).  Score: easy_ham_2 (ham), spam_2 (spam).
# Usage: ./run.sh [stage ...]   stages: install strip bogo-default bogo-stripped sa-default sa-stripped sa-default-noexpire report
#        (no args = all stages, in that order).  Every stage starts from scratch (DBs are removed).
set -euo pipefail
# Output goes to $REFCLASS_DIR (default /tmp/vigil-refclass); the corpus is
# unpacked there from ../shared/testdata beside the repository. Needs root
# for the install stage (apt-get install bogofilter spamassassin); makes no
# network connection otherwise (SpamAssassin runs with -L, dns_available no).
# Measured figures: filters/bayes/README.md.
S=$(cd "$(dirname "$0")" && pwd)  # these scripts
R=${REFCLASS_DIR:-/tmp/vigil-refclass}
TARBALL=$S/../../../../../shared/testdata/corpus-spamassassin/spamassassin-public-corpus.tar.gz
C=$R/corpus/spamassassin          # unpacked corpus, read-only
CS=$R/corpus_stripped             # copy with Received/X-Spam-*/Delivered-To/Return-Path removed
mkdir -p "$R"
NICE="nice -n 10"
cd $R
stages=("$@"); [ ${#stages[@]} -eq 0 ] && stages=(install strip bogo-default bogo-stripped sa-default sa-stripped sa-default-noexpire report)
root_of() { [ "$1" = stripped ] && echo $CS || echo $C; }
files() { find "$1/$2" -maxdepth 1 -type f -name '[0-9]*' | sort; }   # message files only

do_unpack() {
  [ -d "$C/spam_2" ] && return
  [ -f "$TARBALL" ] || { echo "corpus not found: $TARBALL" >&2; exit 1; }
  mkdir -p "$R/corpus" && tar -xzf "$TARBALL" -C "$R/corpus"
}

do_install() {
  command -v bogofilter >/dev/null && command -v sa-learn >/dev/null || apt-get install -y bogofilter spamassassin
  { bogofilter -V 2>&1 | head -1; dpkg -l bogofilter spamassassin | awk '/^ii/{print $2, $3}'; spamassassin -V; } > versions.txt
  bogofilter -Q > bogofilter-config.txt 2>&1
}

do_strip() {
  for g in easy_ham hard_ham spam easy_ham_2 spam_2; do
    mkdir -p $CS/$g
    files $C $g | while read -r f; do perl $S/strip.pl "$f" "$CS/$g/$(basename "$f")"; done
  done
}

do_bogo() {  # $1 = default|stripped
  local v=$1 root; root=$(root_of $v); local db=$R/bogo-$v
  rm -rf $db; mkdir -p $db
  local t0=$(date +%s)
  { files $root easy_ham; files $root hard_ham; } | xargs $NICE bogofilter -d $db -B -n
  files $root spam | xargs $NICE bogofilter -d $db -B -s
  local t1=$(date +%s)
  # -T terse output per file: "<path> <S|H|U> <spamicity>"; no DB update while scoring
  { files $root easy_ham_2; files $root spam_2; } | xargs $NICE bogofilter -d $db -T -B \
    | awk '{n=split($1,p,"/"); print p[n-1] "\t" p[n] "\t" $3}' > bogo_$v.tsv || true  # bogofilter exits 0/1/2 = spam/ham/unsure
  [ "$(wc -l < bogo_$v.tsv)" -eq 2796 ] || { echo "bogofilter $v: wrong number of scores" >&2; exit 1; }
  local t2=$(date +%s)
  echo "bogofilter $v: train $((t1-t0)) s, score $((t2-t1)) s, $(wc -l < bogo_$v.tsv) scored" | tee time_bogo_$v.txt
  bogoutil -w $db .MSG_COUNT > $db/msg_count.txt 2>&1 || true
}

do_sa() {  # $1 = default|stripped  [$2 = name suffix, $3 = extra prefs line]
  local v=$1$2 root; root=$(root_of $1); local d=$R/sa-$v
  rm -rf $d $R/sa_$v.state; mkdir -p $d/state
  cat > $d/user_prefs <<PREFS
use_bayes 1
bayes_auto_learn 0
bayes_path $d/bayes
skip_rbl_checks 1
use_razor2 0
use_pyzor 0
dns_available no
${3:-}
PREFS
  local t0=$(date +%s)
  HOME=$d/state $NICE sa-learn -L --siteconfigpath /etc/spamassassin -p $d/user_prefs --dbpath $d/bayes \
      --ham $root/easy_ham $root/hard_ham > $d/learn_ham.log 2>&1
  HOME=$d/state $NICE sa-learn -L --siteconfigpath /etc/spamassassin -p $d/user_prefs --dbpath $d/bayes \
      --spam $root/spam > $d/learn_spam.log 2>&1
  HOME=$d/state sa-learn -L --siteconfigpath /etc/spamassassin -p $d/user_prefs --dbpath $d/bayes --dump magic > $d/magic.txt 2>&1
  local t1=$(date +%s)
  HOME=$d/state $NICE perl $S/sa_score.pl $d/user_prefs $R/sa_$v $root easy_ham_2 spam_2 2> $d/score.log
  local t2=$(date +%s)
  echo "spamassassin $v: learn $((t1-t0)) s, score $((t2-t1)) s, $(wc -l < sa_$v.bayes.tsv) scored" | tee time_sa_$v.txt
}

do_report() {
  {
    for v in default stripped; do
      if [ -s bogo_$v.tsv ]; then python3 $S/report.py bogo_$v.tsv "bogofilter spamicity ($v headers)" 0.45,0.99; fi
      if [ -s sa_$v.bayes.tsv ]; then python3 $S/report.py sa_$v.bayes.tsv "SpamAssassin Bayes probability ($v headers)" ""; fi
      if [ -s sa_$v.total.tsv ]; then python3 $S/report.py sa_$v.total.tsv "SpamAssassin total score, whole product, network off ($v headers)" 5 0,1,2,3,4,6,8,10,15,20; fi
    done
    if [ -s sa_default-noexpire.bayes.tsv ]; then python3 $S/report.py sa_default-noexpire.bayes.tsv "EXTRA: SpamAssassin Bayes probability (default headers, bayes_auto_expire 0)" ""; fi
  } > tables.md
  cat tables.md
}

do_unpack
for s in "${stages[@]}"; do
  case $s in
    install) do_install;; strip) do_strip;;
    bogo-default) do_bogo default;; bogo-stripped) do_bogo stripped;;
    sa-default) do_sa default;; sa-stripped) do_sa stripped;;
    sa-default-noexpire) do_sa default -noexpire "bayes_auto_expire 0";;   # extra check, not a shipped default
    report) do_report;;
    *) echo "unknown stage $s" >&2; exit 2;;
  esac
done
