package filters

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// SymbolSpec declares one symbol a check can report. The catalogue of every
// symbol Vigil reports (Catalogue) is made of them, and the symbol tables of
// the documentation are generated from it.
type SymbolSpec struct {
	// Name is the symbol. A family whose names come from the configuration
	// writes its placeholder in angle brackets: "<LIST>", "<LIST>_UNKNOWN".
	Name string `json:"name"`
	// Score is the score the check proposes; `scores:` in the configuration
	// overrides it by name.
	Score float64 `json:"score"`
	// ScoreDoc replaces Score in the documentation when the score depends
	// on the evidence or the configuration ("up to caps.ip").
	ScoreDoc string `json:"score_doc,omitempty"`
	// Doc says in one line when it is reported.
	Doc string `json:"doc"`
	// Check is the check that reports it ("" for the symbols of how a
	// message arrived); the catalogue fills it in.
	Check string `json:"check,omitempty"`
	// State marks a symbol that reports Vigil's own state (an error, an
	// outage, a budget spent) rather than the message: its weight is never
	// learned from feedback, since it says nothing about spam.
	State bool `json:"state,omitempty"`
}

// ScoreText is the score as the documentation shows it.
func (s SymbolSpec) ScoreText() string {
	t := s.ScoreDoc
	if t == "" {
		t = fmt.Sprintf("%g", s.Score)
	}
	if s.State {
		t += ", never learned"
	}
	return t
}

// CheckSpec declares a check to the catalogue: each check package calls
// Declare once, next to the constants of its symbols.
type CheckSpec struct {
	// Name is the check's name (Check.Name): <NAME>_ERROR is its error
	// symbol and policy.fail_closed names it.
	Name string `json:"name"`
	// Config is where its keys are in the configuration file ("auth.dkim",
	// "blocklists, dnsbl"), "" when it has none.
	Config string `json:"config,omitempty"`
	// Symbols are the symbols it reports besides its error symbol.
	Symbols []SymbolSpec `json:"symbols"`
}

// Score is the declared score of the symbol name, 0 when c does not
// declare it (the shape test keeps every symbol a check writes declared).
func (c CheckSpec) Score(name string) float64 {
	for _, s := range c.Symbols {
		if s.Name == name {
			return s.Score
		}
	}
	return 0
}

// Symbol is the symbol name with its declared score and detail.
func (c CheckSpec) Symbol(name, detail string) Symbol {
	return Symbol{Name: name, Score: c.Score(name), Detail: detail}
}

var (
	catalogueMu sync.Mutex
	declared    = map[string]CheckSpec{}
)

// Declare adds the check c to the catalogue and returns it. It panics on a
// second check of the same name or a symbol declared twice: both are
// programming errors, seen at start-up.
func Declare(c CheckSpec) CheckSpec {
	catalogueMu.Lock()
	defer catalogueMu.Unlock()
	if c.Name == "" {
		panic("filters: Declare: a check without a name")
	}
	if _, dup := declared[c.Name]; dup {
		panic(fmt.Sprintf("filters: check %q declared twice", c.Name))
	}
	seen := map[string]string{}
	for _, d := range declared {
		for _, s := range d.Symbols {
			seen[s.Name] = d.Name
		}
	}
	for _, s := range arrivalSymbols {
		seen[s.Name] = "the message"
	}
	for i, s := range c.Symbols {
		if other, dup := seen[s.Name]; dup {
			panic(fmt.Sprintf("filters: symbol %s of check %q is already declared by %s", s.Name, c.Name, other))
		}
		seen[s.Name] = c.Name
		c.Symbols[i].Check = c.Name
	}
	declared[c.Name] = c
	return c
}

// Checks returns every declared check, sorted by name. The checks of a
// binary are those its packages link in; `vigil` links them all.
func Checks() []CheckSpec {
	catalogueMu.Lock()
	defer catalogueMu.Unlock()
	out := make([]CheckSpec, 0, len(declared))
	for _, c := range declared {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SymbolMessageTooBig is noted on a message whose body was not kept
// (Message.Note): a symbol of how it arrived, not of a check.
const SymbolMessageTooBig = "MESSAGE_TOO_BIG"

// arrivalSymbols are the symbols of how a message arrived.
var arrivalSymbols = []SymbolSpec{
	{Name: SymbolMessageTooBig, State: true, Doc: "the body is over limits.max_message_size: only the header and envelope were checked"},
	{Name: SymbolHeadersTooMany, ScoreDoc: "0, forces reject", State: true, Doc: "more header fields or bytes than limits.max_headers / max_header_bytes: refused unread, dry run or not (filler fields could hide a forged From)"},
}

// ArrivalSymbol is the symbol name (one of the Symbol* constants) with its
// declared score.
func ArrivalSymbol(name, detail string) Symbol {
	return CheckSpec{Symbols: arrivalSymbols}.Symbol(name, detail)
}

// Catalogue returns every symbol Vigil can report, sorted by name: what
// each declared check reports, the error symbol of each check
// (ErrorSymbol), and the symbols of how a message arrived. A family with a
// placeholder ("<LIST>") is expanded with the values fill gives it (the
// names of the configured blocklists, say) and listed as declared when fill
// has none, as the documentation shows it.
func Catalogue(fill map[string][]string) []SymbolSpec {
	var out []SymbolSpec
	out = append(out, arrivalSymbols...)
	for _, c := range Checks() {
		for _, s := range c.Symbols {
			out = append(out, expand(s, fill)...)
		}
		out = append(out, SymbolSpec{Name: ErrorSymbol(c.Name), Check: c.Name, State: true,
			Doc: "the check failed, panicked or timed out; forces tempfail when policy.fail_closed names it"})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// expand fills the placeholder of s with each of its values.
func expand(s SymbolSpec, fill map[string][]string) []SymbolSpec {
	i := strings.IndexByte(s.Name, '<')
	j := strings.IndexByte(s.Name, '>')
	if i < 0 || j < i {
		return []SymbolSpec{s}
	}
	values := fill[s.Name[i+1:j]]
	if len(values) == 0 {
		return []SymbolSpec{s}
	}
	out := make([]SymbolSpec, 0, len(values))
	for _, v := range values {
		e := s
		e.Name = s.Name[:i] + v + s.Name[j+1:]
		out = append(out, e)
	}
	return out
}

// LookupSymbol finds name in the catalogue expanded with fill.
func LookupSymbol(name string, fill map[string][]string) (SymbolSpec, bool) {
	for _, s := range Catalogue(fill) {
		if s.Name == name {
			return s, true
		}
	}
	return SymbolSpec{}, false
}
