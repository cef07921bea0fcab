package filters

import (
	"reflect"
	"testing"
)

func TestDecide(t *testing.T) {
	base := Policy{Tag: 5, Quarantine: 10, Reject: 15}
	tests := []struct {
		name       string
		syms       []Symbol
		policy     Policy
		wantAction Action
		wantWould  Action
		wantScore  float64
	}{
		{"nothing", nil, base, Accept, Accept, 0},
		{"below tag", []Symbol{{Name: "A", Score: 4.99}}, base, Accept, Accept, 4.99},
		{"tag inclusive", []Symbol{{Name: "A", Score: 5}}, base, Tag, Tag, 5},
		{"quarantine", []Symbol{{Name: "A", Score: 6}, {Name: "B", Score: 4}}, base, Quarantine, Quarantine, 10},
		{"reject inclusive", []Symbol{{Name: "A", Score: 15}}, base, Reject, Reject, 15},
		{"negative scores", []Symbol{{Name: "A", Score: 16}, {Name: "B", Score: -2}}, base, Quarantine, Quarantine, 14},
		{"no quarantine threshold", []Symbol{{Name: "A", Score: 12}}, Policy{Tag: 5, Reject: 15}, Tag, Tag, 12},
		{"override raises", []Symbol{{Name: "A", Score: 1}}, Policy{Tag: 5, Reject: 15, Scores: map[string]float64{"A": 20}}, Reject, Reject, 20},
		{"override silences", []Symbol{{Name: "A", Score: 20}}, Policy{Tag: 5, Reject: 15, Scores: map[string]float64{"A": 0}}, Accept, Accept, 0},
		{"force beats score", []Symbol{{Name: "DMARC_POLICY_REJECT", Force: Reject}}, base, Reject, Reject, 0},
		{"force tempfail", []Symbol{{Name: "DNSBL_ERROR", Force: TempFail}, {Name: "A", Score: 6}}, base, TempFail, TempFail, 6},
		{"reject outranks forced tempfail", []Symbol{{Name: "X_ERROR", Force: TempFail}, {Name: "A", Score: 20}}, base, Reject, Reject, 20},
		{"force weaker than score ignored", []Symbol{{Name: "Q", Force: Quarantine}, {Name: "A", Score: 20}}, base, Reject, Reject, 20},
		{"dry run softens reject to tag", []Symbol{{Name: "A", Score: 20}}, Policy{Tag: 5, Reject: 15, DryRun: true}, Tag, Reject, 20},
		{"dry run forced reject below tag accepts", []Symbol{{Name: "P", Force: Reject}}, Policy{Tag: 5, Reject: 15, DryRun: true}, Accept, Reject, 0},
		{"dry run keeps tag", []Symbol{{Name: "A", Score: 6}}, Policy{Tag: 5, Reject: 15, DryRun: true}, Tag, Tag, 6},
		{"float noise rounded", []Symbol{{Name: "A", Score: 0.1}, {Name: "B", Score: 0.2}}, base, Accept, Accept, 0.3},
		{"allow list beats the score", []Symbol{{Name: "A", Score: 40}, {Name: "PARTNERS", List: ListAllow}}, base, Accept, Accept, 40},
		{"allow list beats a check's force", []Symbol{{Name: "DMARC_POLICY_REJECT", Force: Reject}, {Name: "PARTNERS", List: ListAllow}}, base, Accept, Accept, 0},
		{"allow list never reads what was not read", []Symbol{{Name: "HEADERS_TOO_MANY", Force: Reject, Hard: true}, {Name: "PARTNERS", List: ListAllow}}, base, Reject, Reject, 0},
		{"deny list rejects a clean message", []Symbol{{Name: "SPF_PASS", Score: -1}, {Name: "BANNED", List: ListDeny, Force: Reject}}, base, Reject, Reject, -1},
		{"deny list beats allow list", []Symbol{{Name: "PARTNERS", List: ListAllow}, {Name: "BANNED", List: ListDeny, Force: Reject}}, base, Reject, Reject, 0},
		{"deny list softened by dry run", []Symbol{{Name: "BANNED", List: ListDeny, Force: Reject}}, Policy{Tag: 5, Reject: 15, DryRun: true}, Accept, Reject, 0},
		{"score list adds its score", []Symbol{{Name: "WATCH", List: ListScore, Score: 6}}, base, Tag, Tag, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Decide(tt.syms, tt.policy)
			if v.Action != tt.wantAction || v.WouldBe != tt.wantWould || v.Score != tt.wantScore {
				t.Fatalf("Decide = action %s would %s score %v, want %s %s %v (reason %q)",
					v.Action, v.WouldBe, v.Score, tt.wantAction, tt.wantWould, tt.wantScore, v.Reason)
			}
		})
	}
}

// TestDecideListReasons: a deny list's reply names the list; an allow
// list's reason says who allowed it.
func TestDecideListReasons(t *testing.T) {
	base := Policy{Tag: 5, Reject: 15}
	v := Decide([]Symbol{{Name: "A", Score: 30}, {Name: "BANNED", Detail: "from_domain spam.example", List: ListDeny, Force: Reject}}, base)
	if v.Reason != "BANNED: from_domain spam.example" {
		t.Errorf("deny reason %q, want the list's name and what matched", v.Reason)
	}
	v = Decide([]Symbol{{Name: "A", Score: 30}, {Name: "PARTNERS", List: ListAllow}}, base)
	if v.Reason != "allowed by PARTNERS" {
		t.Errorf("allow reason %q", v.Reason)
	}
	if got := v.ListNames(); len(got) != 1 || got[0] != "PARTNERS" {
		t.Errorf("ListNames %v", got)
	}
	if got := Decide([]Symbol{{Name: "A", Score: 1}}, base).ListNames(); got == nil || len(got) != 0 {
		t.Errorf("ListNames without lists: %#v, want []", got)
	}
}

func TestDecideDeterministic(t *testing.T) {
	a := []Symbol{{Name: "Z", Score: 1}, {Name: "A", Score: 2, Detail: "2"}, {Name: "A", Score: 1, Detail: "1"}, {Name: "M", Score: 3}}
	b := []Symbol{a[3], a[1], a[0], a[2]}
	va, vb := Decide(a, Policy{Tag: 5, Reject: 15}), Decide(b, Policy{Tag: 5, Reject: 15})
	if !reflect.DeepEqual(va, vb) {
		t.Fatalf("order of arrival changed the verdict:\n%+v\n%+v", va, vb)
	}
	want := []string{"A", "A", "M", "Z"}
	if got := va.SymbolNames(); !reflect.DeepEqual(got, want) {
		t.Fatalf("symbols %v, want %v", got, want)
	}
	if va.Symbols[0].Detail != "1" {
		t.Fatalf("same-name symbols not ordered by detail: %+v", va.Symbols)
	}
	if a[0].Name != "Z" {
		t.Fatal("Decide reordered its input slice")
	}
}

func TestParseAction(t *testing.T) {
	for _, s := range []string{"accept", "Tag", "QUARANTINE", "tempfail", "reject"} {
		if _, err := ParseAction(s); err != nil {
			t.Errorf("ParseAction(%q): %v", s, err)
		}
	}
	if _, err := ParseAction("discard"); err == nil {
		t.Error("ParseAction accepted discard")
	}
}
