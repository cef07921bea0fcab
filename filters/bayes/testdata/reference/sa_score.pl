#!/usr/bin/perl
# sa_score.pl PREFS OUT_PREFIX CORPUSROOT GROUP... : one SA process scores every message.
# Writes OUT_PREFIX.bayes.tsv (group,file,bayes probability) and
#        OUT_PREFIX.total.tsv (group,file,total SA score) and OUT_PREFIX.full.tsv (+hits)
use strict; use warnings;
use Mail::SpamAssassin;
my ($prefs,$out,$root,@groups)=@ARGV;
open my $pf,'<',$prefs or die; my $cfg=do{local $/;<$pf>}; close $pf;
my $sa = Mail::SpamAssassin->new({
  site_rules_filename => '/etc/spamassassin',
  rules_filename      => '/usr/share/spamassassin',
  userprefs_filename  => $prefs,
  userstate_dir       => "$out.state",
  local_tests_only    => 1,
  dont_copy_prefs     => 1,
  post_config_text    => $cfg,
});
$sa->init(1);
open my $ob,'>',"$out.bayes.tsv" or die; open my $ot,'>',"$out.total.tsv" or die;
open my $of,'>',"$out.full.tsv" or die;
my $n=0;
for my $g (@groups) {
  opendir my $d,"$root/$g" or die "$root/$g: $!";
  for my $f (sort grep { /^\d+\./ } readdir $d) {
    open my $fh,'<:raw',"$root/$g/$f" or die; my $t=do{local $/;<$fh>}; close $fh;
    my $m=$sa->parse($t); my $st=$sa->check($m);
    my $b=$st->{bayes_score}; $b = defined $b ? sprintf('%.10g',$b) : 'NA';
    my $s=$st->get_score();
    print $ob "$g\t$f\t$b\n"; print $ot "$g\t$f\t$s\n";
    print $of "$g\t$f\t$b\t$s\t".$st->get_names_of_tests_hit()."\n";
    $st->finish(); $m->finish();
    print STDERR "$n\n" if ++$n % 200 == 0;
  }
}
close $_ for ($ob,$ot,$of);
