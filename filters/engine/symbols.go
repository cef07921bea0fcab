package engine

import (
	"strings"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/bayes"
	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/lists"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/filters/weights"
)

// Symbols is the catalogue of every symbol Vigil can report with these
// blocklists and operator lists configured: each check's declared symbols
// (this package links every check, so the catalogue is complete here),
// each check's error symbol, the symbols of how a message arrived, and the
// list families expanded with the lists' names. It is what `scores:` and
// the documentation can name.
func Symbols(blocklists []dnsbl.List, operator ...lists.List) []filters.SymbolSpec {
	var names, own []string
	for _, l := range blocklists {
		if l.IsEnabled() {
			names = append(names, l.Name)
		}
	}
	for _, l := range operator {
		own = append(own, l.Name)
	}
	return filters.Catalogue(map[string][]string{dnsbl.Placeholder: names, lists.Placeholder: own})
}

// weightDeps describes the symbols to the weight model: which are learned
// (every symbol of the catalogue that reports the message, not Vigil's
// state), their hand-set weights, and the client-IP group, whose learned
// scores together never exceed what the IP inputs can score by hand: the
// IP blocklists' highest scores plus the address and network caps.
func weightDeps(o Options, ws store.WeightStore) weights.Deps {
	learnable := map[string]bool{}
	defaults := map[string]float64{}
	// The operator's lists score what the operator chose: never learned.
	operator := map[string]bool{}
	for _, l := range o.Lists {
		operator[l.Name] = true
	}
	for _, s := range Symbols(o.Blocklists, o.Lists...) {
		if !s.State && !operator[s.Name] && !strings.ContainsAny(s.Name, "<>") {
			learnable[s.Name] = true
			defaults[s.Name] = s.Score
		}
	}
	ip := weights.Group{Name: "client-ip"}
	for _, l := range o.Blocklists {
		if !l.IsEnabled() {
			continue
		}
		defaults[l.Name] = l.Score
		if l.Check != dnsbl.KindIP {
			continue
		}
		top := l.Score
		for _, v := range l.Returns {
			top = max(top, v)
		}
		ip.Symbols = append(ip.Symbols, l.Name)
		ip.Cap += top
	}
	caps := o.Reputation.Caps
	for _, f := range []struct {
		prefix string
		cap    float64
	}{{"IP", caps.IP}, {"NET", caps.Net}} {
		ip.Symbols = append(ip.Symbols, "REP_"+f.prefix+"_SPAM", "REP_"+f.prefix+"_HAM")
		ip.Cap += f.cap
	}
	for name, v := range reputation.FullWeights(o.Reputation) {
		defaults[name] = v
	}
	defaults[bayes.SymSpam] = o.Bayes.MaxScore
	defaults[bayes.SymHam] = o.Bayes.MinScore
	return weights.Deps{
		Store:     ws,
		Learnable: func(name string) bool { return learnable[name] },
		Defaults:  defaults,
		Threshold: o.Policy.Tag,
		Fixed:     o.Policy.Scores,
		Groups:    []weights.Group{ip},
		Log:       o.Log,
	}
}
