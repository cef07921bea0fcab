#!/usr/bin/env python3
"""report.py TSV NAME [default_cutoffs,comma-separated] -> markdown table.
TSV: group<TAB>file<TAB>score ; ham group easy_ham_2, spam group spam_2.
A message counts as 'spam' at threshold t if score >= t."""
import sys
path, name = sys.argv[1], sys.argv[2]
defaults = [float(x) for x in sys.argv[3].split(',')] if len(sys.argv) > 3 and sys.argv[3] else []
ham, spam, missing = [], [], 0
for line in open(path):
    g, f, s = line.rstrip('\n').split('\t')
    if s in ('', 'NA', 'undef'):
        missing += 1; s = 'nan'
    v = float(s)
    (ham if g == 'easy_ham_2' else spam).append(v)
import math
H, S = len(ham), len(spam)
def row(t, label=None):
    fp = sum(1 for v in ham if not math.isnan(v) and v >= t)
    tp = sum(1 for v in spam if not math.isnan(v) and v >= t)
    return f"| {label or t} | {fp} | {100*fp/H:.2f}% | {tp}/{S} | {100*tp/S:.2f}% |"
print(f"### {name}\n")
print(f"ham n={H}, spam n={S}" + (f", messages with no score: {missing}" if missing else ""))
print()
print("| threshold (score >= t) | ham FP | FP % | spam caught | recall |")
print("|---|---|---|---|---|")
ths = [float(x) for x in sys.argv[4].split(',')] if len(sys.argv) > 4 else [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999]
for t in ths:
    print(row(t))
for t in defaults:
    print(row(t, f"{t} (tool default)"))
hs = sorted((v for v in ham if not math.isnan(v)), reverse=True)
if len(hs) >= 2:
    h2 = hs[1]
    fp = sum(1 for v in ham if v > h2); tp = sum(1 for v in spam if v > h2)
    print(f"| > {h2:.10g} (lowest cut with FP<=1) | {fp} | {100*fp/H:.2f}% | {tp}/{S} | {100*tp/S:.2f}% |")
    print(f"\nhighest ham scores: {', '.join('%.10g' % v for v in hs[:5])}")
if len(sys.argv) <= 4:
  low = sum(1 for v in spam if not math.isnan(v) and v <= 0.01)
  print(f"spam_2 with score <= 0.01 (confidently ham): {low}/{S} ({100*low/S:.2f}%)")
  mid_s = sum(1 for v in spam if 0.4 <= v < 0.6); mid_h = sum(1 for v in ham if 0.4 <= v < 0.6)
  print(f"messages in the 'unsure' band 0.4 <= score < 0.6: spam_2 {mid_s}/{S}, easy_ham_2 {mid_h}/{H}")
print()
