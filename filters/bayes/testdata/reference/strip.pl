#!/usr/bin/perl
# strip.pl SRC DST : copy one message, dropping top-level header fields
# Received, X-Spam-*, Delivered-To, Return-Path (with their continuation lines).
use strict; use warnings;
my ($src,$dst)=@ARGV;
open my $in,'<:raw',$src or die "$src: $!"; local $/; my $t=<$in>; close $in;
my ($h,$sep,$b);
if ($t =~ /\A(.*?\r?\n)(\r?\n)(.*)\z/s) { ($h,$sep,$b)=($1,$2,$3) } else { ($h,$sep,$b)=($t,'','') }
my @out; my $drop=0;
for my $l (split /(?<=\n)/, $h) {
  if ($l =~ /^[ \t]/) { push @out,$l unless $drop; next }
  $drop = ($l =~ /^(Received|X-Spam-[^:]*|Delivered-To|Return-Path)\s*:/i) ? 1 : 0;
  push @out,$l unless $drop;
}
open my $o,'>:raw',$dst or die "$dst: $!"; print $o join('',@out),$sep,$b; close $o;
