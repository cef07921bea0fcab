// Package phishing is the "phishing" check: signals of the message itself
// that give a phishing campaign away in its first hour, before any DNS
// list or learned reputation knows its domains. Brands claimed by
// unrelated senders, look-alike domains, credential forms, dangerous
// attachments told by their bytes, QR codes, links to free hosting and
// shorteners, Reply-To diversions, and local phishing feeds. It needs no
// network; it reads what the content check extracted (links, files,
// forms, QR codes) and the authentication results.
package phishing

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/urlcheck"
)

// Name is the check's name.
const Name = "phishing"

// Symbols reported by the check (scores in Spec).
const (
	SymBrandName         = "PHISH_BRAND_NAME"
	SymBrandText         = "PHISH_BRAND_TEXT"
	SymBrandUnverified   = "PHISH_BRAND_UNVERIFIED"
	SymLookalikeSender   = "PHISH_LOOKALIKE_SENDER"
	SymLookalikeLink     = "PHISH_LOOKALIKE_LINK"
	SymBrandDomainSender = "PHISH_BRAND_DOMAIN_SENDER"
	SymBrandDomainLink   = "PHISH_BRAND_DOMAIN_LINK"
	SymLookalikeText     = "PHISH_LOOKALIKE_TEXT"
	SymFormPassword      = "PHISH_FORM_PASSWORD"
	SymFormInFile        = "PHISH_FORM_IN_FILE"
	SymActiveLink        = "PHISH_ACTIVE_LINK"
	SymHTMLFile          = "PHISH_HTML_FILE"
	SymScriptedFile      = "PHISH_SCRIPTED_FILE"
	SymExecutable        = "PHISH_EXECUTABLE"
	SymDiskImage         = "PHISH_DISK_IMAGE"
	SymMacroDocument     = "PHISH_MACRO_DOCUMENT"
	SymArchivePassword   = "PHISH_ARCHIVE_PASSWORD"
	SymArchiveEncrypted  = "PHISH_ARCHIVE_ENCRYPTED"
	SymDoubleExtension   = "PHISH_DOUBLE_EXTENSION"
	SymBidiName          = "PHISH_BIDI_NAME"
	SymPDFLink           = "PHISH_PDF_LINK"
	SymPDFActive         = "PHISH_PDF_ACTIVE"
	SymQRLink            = "PHISH_QR_LINK"
	SymReplyToBEC        = "PHISH_REPLYTO_BEC"
	SymReplyToFreemail   = "PHISH_REPLYTO_FREEMAIL"
	SymNameAddress       = "PHISH_NAME_ADDRESS"
	SymFreeHosting       = "PHISH_FREE_HOSTING"
	SymShortener         = "PHISH_SHORTENER"
	SymFeed              = "PHISH_FEED"
)

// Spec declares the check and its symbols.
var Spec = filters.Declare(filters.CheckSpec{
	Name:   Name,
	Config: "phishing",
	Symbols: []filters.SymbolSpec{
		{Name: SymFeed, Score: 8.0, Doc: "a link (after unwrapping, or a redirect hop) is on a phishing feed of phishing.feeds"},
		{Name: SymExecutable, Score: 6.0, Doc: "an attached file, or a file in an attached archive, runs code when opened: an executable, a script, a shortcut, compiled help, a OneNote file (told by its bytes, or by its name where bytes cannot tell)"},
		{Name: SymBidiName, Score: 5.0, Doc: "a file name with a right-to-left override or another bidirectional control, which makes \"cod.exe\" read as \"exe.doc\""},
		{Name: SymLookalikeSender, Score: 4.5, Doc: "the From, Reply-To or Sender domain imitates a brand's or an own domain: the same skeleton (UTS #39, IDNA included), one unnoticed typo, or hyphens and digits added"},
		{Name: SymFormPassword, Score: 4.0, Doc: "a form asks for a password, in the body or in an HTML, SVG or PDF attachment"},
		{Name: SymBrandName, Score: 4.5, Doc: "the sender's display name claims a brand while the From domain and the authenticated domains are not the brand's, and not every link goes to it"},
		{Name: SymDiskImage, Score: 4.0, Doc: "an attached disk image (ISO, IMG, VHD), directly or in an archive: a container that mail filters do not open"},
		{Name: SymMacroDocument, Score: 4.0, Doc: "an attached Office document with a VBA project, directly or in an archive"},
		{Name: SymArchivePassword, Score: 4.0, Doc: "an attached archive with encrypted entries, and a password given in the message text"},
		{Name: SymScriptedFile, Score: 3.0, Doc: "an HTML or SVG attachment that redirects the browser (meta refresh, script setting location), builds its page from an encoded payload, or an SVG with script"},
		{Name: SymLookalikeLink, Score: 3.0, Doc: "a link's domain imitates a brand's or an own domain (as for PHISH_LOOKALIKE_SENDER)"},
		{Name: SymLookalikeText, Score: 4.0, Doc: "the display name or the Subject is written with letters that pass for Latin ones (Cyrillic or Greek mixed into a word, small capitals, styled letters) or with invisible characters between letters"},
		{Name: SymActiveLink, Score: 2.0, Doc: "a link of the body opens a page the message carries (data:) or runs script (javascript:)"},
		{Name: SymDoubleExtension, Score: 3.0, Doc: "a file name hiding a dangerous extension behind a document's (\"invoice.pdf.exe\", \"scan.pdf     .js\")"},
		{Name: SymBrandDomainSender, Score: 3.5, Doc: "the From, Reply-To or Sender host carries a brand's name while its registrable domain is not the brand's (\"microsoft-uk.example\")"},
		{Name: SymFormInFile, Score: 3.0, Doc: "an HTML, SVG or PDF attachment asks for an e-mail address or a login"},
		{Name: SymReplyToBEC, Score: 4.0, Doc: "the From claims a brand or an own domain while Reply-To takes the answer to a free-mail or unrelated domain"},
		{Name: SymHTMLFile, Score: 2.5, Doc: "an attached HTML or SVG file (a page that opens in the browser, outside the mail client's protections)"},
		{Name: SymNameAddress, Score: 2.0, Doc: "the display name holds an e-mail address of another domain than the From address"},
		{Name: SymPDFActive, Score: 2.5, Doc: "an attached PDF with JavaScript, a launch action or embedded files"},
		{Name: SymQRLink, Score: 2.5, Doc: "a link read from a QR code in a picture or a PDF of the message (where the reader's phone, not the mail filter, follows it)"},
		{Name: SymBrandDomainLink, Score: 2.0, Doc: "a link's host carries a brand's name while its registrable domain is not the brand's"},
		{Name: SymFreeHosting, Score: 2.0, Doc: "a link to free hosting, storage or forms where anybody can publish a page (not the sender's own)"},
		{Name: SymReplyToFreemail, Score: 2.0, Doc: "Reply-To takes the answer to a free-mail domain other than the From domain"},
		{Name: SymBrandUnverified, Score: 3.0, Doc: "the From domain is a brand's, nothing authenticated it (no DKIM or SPF pass of the brand's domains) and no link goes to the brand: a spoof that DMARC catches only where the brand publishes a policy and DNS answers"},
		{Name: SymBrandText, Score: 1.0, Doc: "the Subject, a link's text or the top of the body claims a brand while the From domain, the authenticated domains and every link are not the brand's"},
		{Name: SymArchiveEncrypted, Score: 1.5, Doc: "an attached archive with encrypted entries (a filter cannot look inside)"},
		{Name: SymPDFLink, Score: 2.0, Doc: "an attached PDF with links (a page the reader opens outside the mail client)"},
		{Name: SymShortener, Score: 1.5, Doc: "a link through a URL shortener (not the sender's own)"},
	},
})

// Check is the "phishing" check.
type Check struct {
	cfg     Config
	log     *slog.Logger
	aliases []*alias
	// byFirst indexes aliases by the first byte of their folded name, in
	// the order of aliases (longer names first); inHost lists the
	// aliases a host name can carry, byJoined them by folded name.
	byLead map[string][]*alias
	inHost []*alias
	// shortAliases claim in brackets too ("[BB]").
	shortAliases []*alias
	byJoined     map[string][]*alias
	prot         []protected
	// protBySkel and protByLen index prot for look-alike comparisons.
	protBySkel map[string][]*protected
	protByLen  map[int][]*protected
	own        *brandSet
	freemail   map[string]bool
	short      map[string]bool
	hosting    hostingSet
	feeds      []*feed
}

// Deps are the check's collaborators.
type Deps struct {
	Log *slog.Logger
}

var _ filters.Check = (*Check)(nil)

// brandSet is a brand as the check holds it.
type brandSet struct {
	name    string
	domains map[string]bool
	// labels are the first labels of its domains ("tesco" of tesco.com).
	labels map[string]bool
	own    bool
}

// owns reports a registrable domain of the brand: one of its domains, or
// its name under another country's suffix (tesco.ie for tesco.com):
// brands register their names in the countries they serve, and listing
// every one is beyond a configuration. A generic suffix (tesco.xyz) is
// not the brand's.
func (b *brandSet) owns(reg string) bool {
	if reg == "" {
		return false
	}
	if b.domains[reg] {
		return true
	}
	// The first label first: most domains are no brand's, and that
	// needs no suffix lookup.
	if i := strings.IndexByte(reg, '.'); i < 0 || !b.labels[reg[:i]] {
		return false
	}
	suffix, listed := urlcheck.PublicSuffix(reg, urlcheck.Registry)
	if !listed || !countrySuffix(suffix) {
		return false
	}
	return b.labels[strings.TrimSuffix(reg, "."+suffix)]
}

// countrySuffix: a two-letter country code, alone or under a generic
// second level (co.uk, com.br).
func countrySuffix(s string) bool {
	parts := strings.Split(s, ".")
	cc := parts[len(parts)-1]
	if len(cc) != 2 || len(parts) > 2 {
		return false
	}
	if len(parts) == 2 {
		switch parts[0] {
		case "co", "com", "net", "org", "gov", "ac", "edu":
		default:
			return false
		}
	}
	return true
}

// strictWords are brand names that are also ordinary words or names of
// people; they claim only as described on alias.strict.
var strictWords = map[string]bool{
	"apple": true, "amazon": true, "meta": true, "outlook": true, "chase": true, "visa": true, "zoom": true,
	"steam": true, "phantom": true, "exodus": true, "proton": true, "kraken": true, "hermes": true, "caixa": true,
	"ledger": true, "norton": true, "correios": true, "correos": true, "telegram": true, "discord": true,
	"target": true, "citi": true, "lido": true, "ripple": true, "evri": true, "messenger": true, "live": true, "express": true, "prime": true,
}

// New returns the phishing check.
func New(cfg Config, deps Deps) (*Check, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	c := &Check{cfg: cfg, log: deps.Log, freemail: map[string]bool{}, short: map[string]bool{}}
	var brands []Brand
	if cfg.BuiltinBrands {
		brands = BuiltinBrands()
	}
	for _, b := range cfg.Brands {
		merged := false
		for i := range brands {
			if strings.EqualFold(brands[i].Name, b.Name) {
				brands[i].Domains = append(brands[i].Domains, b.Domains...)
				brands[i].Aliases = append(brands[i].Aliases, b.Aliases...)
				merged = true
			}
		}
		if !merged {
			brands = append(brands, b)
		}
	}
	for _, b := range brands {
		c.addBrand(b.Name, b.Domains, b.Aliases, false)
	}
	ownAliases := []string{}
	if cfg.OwnName != "" {
		ownAliases = append(ownAliases, cfg.OwnName)
	}
	c.own = c.addBrand("own domain", cfg.OwnDomains, ownAliases, true)
	// Longer names first: "Microsoft 365" is reported rather than "Microsoft".
	sort.SliceStable(c.aliases, func(i, j int) bool { return len(c.aliases[i].joined) > len(c.aliases[j].joined) })
	c.byJoined = map[string][]*alias{}
	c.byLead = map[string][]*alias{}
	for i, a := range c.aliases {
		a.rank = i
		c.byLead[lead(a.joined)] = append(c.byLead[lead(a.joined)], a)
		if a.strict && len(a.joined) < 4 {
			c.shortAliases = append(c.shortAliases, a)
		}
		if !a.strict && len(a.joined) >= 5 {
			c.byJoined[a.joined] = append(c.byJoined[a.joined], a)
			if a.plainLen >= 8 {
				c.inHost = append(c.inHost, a)
			}
		}
	}
	c.indexProtected()
	for _, d := range append(append([]string(nil), freemailDomains...), cfg.Freemail...) {
		c.freemail[strings.ToLower(d)] = true
	}
	for _, d := range append(append([]string(nil), shortenerDomains...), cfg.Shorteners...) {
		c.short[strings.ToLower(d)] = true
	}
	c.hosting = newHostingSet(append(append([]string(nil), freeHosting...), cfg.FreeHosting...))
	for _, f := range cfg.Feeds {
		c.feeds = append(c.feeds, &feed{cfg: f, log: deps.Log})
	}
	return c, nil
}

// addBrand adds a brand (or the operator's own domains) to the check.
func (c *Check) addBrand(name string, domains, aliases []string, own bool) *brandSet {
	b := &brandSet{name: name, domains: map[string]bool{}, labels: map[string]bool{}, own: own}
	for _, d := range domains {
		reg := urlcheck.RegistrableDomain(d, urlcheck.Registry)
		if reg == "" {
			continue
		}
		b.domains[reg] = true
		if l := domainLabel(reg); len(l) >= 4 && !own {
			b.labels[l] = true
		}
		c.addProtected(reg, b)
	}
	names := aliases
	if !own {
		names = append([]string{name}, aliases...)
	}
	for _, n := range names {
		ws := words(fold(n))
		if len(ws) == 0 {
			continue
		}
		joined := strings.Join(ws, "")
		plain := strings.Join(strings.FieldsFunc(strings.ToLower(n), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }), "")
		c.aliases = append(c.aliases, &alias{brand: b, words: ws, joined: joined, plain: plain, plainLen: utf8.RuneCountInString(plain),
			strict: utf8.RuneCountInString(plain) < 4 || len(ws) == 1 && strictWords[plain]})
	}
	return b
}

func (c *Check) addProtected(reg string, b *brandSet) {
	label := domainLabel(reg)
	if label == "" {
		return
	}
	c.prot = append(c.prot, protected{domain: reg, label: label, skel: strings.ReplaceAll(fold(label), "-", ""), brand: b})
}

// Name implements filters.Check.
func (c *Check) Name() string { return Name }

// The cost of a message is bounded by what a reader meets first: the
// anchor texts read for brand claims and the distinct link hosts compared
// with the protected domains.
const (
	maxAnchors = 20
	maxHosts   = 50
)

// message is what Run reads of one message, derived once.
type message struct {
	m        *filters.Message
	fromReg  string
	authRegs map[string]bool
	// links are the message's links (not images), with their registrable
	// domains; hops adds where the followed ones led.
	links []filters.URL
	hops  []string
	own   *brandSet
	// ix finds the protected domains: the configured ones and the
	// recipients'.
	ix protIndex
}

// Run implements filters.Check.
func (c *Check) Run(ctx context.Context, m *filters.Message) ([]filters.Symbol, error) {
	if !c.cfg.Enabled {
		return nil, nil
	}
	msg := c.prepare(m)
	var out []filters.Symbol
	add := func(sym, detail string) { out = append(out, Spec.Symbol(sym, detail)) }
	claimed := c.brands(msg, add)
	c.domains(msg, claimed, add)
	c.files(msg, add)
	c.links(msg, add)
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("phishing: %w", err)
	}
	return out, nil
}

// prepare derives the facts every signal reads.
func (c *Check) prepare(m *filters.Message) *message {
	id := m.Identities()
	msg := &message{m: m, fromReg: reg(id.Author().Domain), authRegs: map[string]bool{}}
	for _, d := range m.Facts.Auth.DKIM {
		if d.Result == filters.DKIMPass {
			msg.authRegs[reg(d.Domain)] = true
		}
	}
	if m.Facts.Auth.SPF.Result == filters.SPFPass {
		msg.authRegs[reg(m.Facts.Auth.SPF.Domain)] = true
	}
	delete(msg.authRegs, "")
	msg.links = m.Facts.Content.URLs
	for _, ch := range m.Facts.Links {
		for _, h := range ch.Hops {
			msg.hops = append(msg.hops, h.URL)
		}
	}
	msg.own = c.own
	msg.ix = protIndex{bySkel: c.protBySkel, byLen: c.protByLen}
	if c.cfg.RecipientDomains && len(m.Envelope.Rcpts) > 0 {
		// The recipients' domains join the own ones for this message.
		var own *brandSet
		for _, r := range m.Envelope.Rcpts {
			i := strings.LastIndexByte(r, '@')
			if i < 0 {
				continue
			}
			rr := reg(r[i+1:])
			if rr == "" || c.isFreemail(rr) || c.own.domains[rr] || own != nil && own.domains[rr] {
				continue
			}
			if own == nil {
				own = &brandSet{name: "own domain", domains: map[string]bool{}, labels: map[string]bool{}, own: true}
				for d := range c.own.domains {
					own.domains[d] = true
				}
			}
			own.domains[rr] = true
			label := domainLabel(rr)
			msg.ix.list = append(msg.ix.list, protected{domain: rr, label: label, skel: strings.ReplaceAll(fold(label), "-", ""), brand: own})
		}
		if own != nil {
			msg.own = own
		}
	}
	return msg
}

func reg(d string) string { return urlcheck.RegistrableDomain(d, urlcheck.Registry) }

// isFreemail reports a consumer mailbox domain.
func (c *Check) isFreemail(r string) bool {
	if c.freemail[r] {
		return true
	}
	label := r
	if i := strings.IndexByte(r, '.'); i >= 0 {
		label = r[:i]
	}
	for _, l := range freemailLabels {
		if label == l {
			return true
		}
	}
	return false
}

// related reports whether the message may legitimately speak for b: its
// From domain (not a free-mail one) or an authenticated domain is b's,
// or it has links and every one goes to b (any one, with anyLink: a text
// that names a brand and links to it is about the brand, as news and
// discussions are).
func (c *Check) related(msg *message, b *brandSet, anyLink bool) bool {
	if b.owns(msg.fromReg) && !c.isFreemail(msg.fromReg) {
		return true
	}
	for r := range msg.authRegs {
		if b.owns(r) && !c.isFreemail(r) {
			return true
		}
	}
	n := 0
	for _, u := range msg.links {
		if u.Domain == "" {
			continue
		}
		if !b.owns(u.Domain) || c.hosted(u) {
			if anyLink {
				continue
			}
			return false
		}
		if anyLink {
			return true
		}
		n++
	}
	return n > 0
}

// leadLen is how many bytes of a name index it.
const leadLen = 3

// lead is the first leadLen bytes of s.
func lead(s string) string { return s[:min(len(s), leadLen)] }

// claims returns the aliases that words ws claim (as alias.claimIn
// decides), in the order of c.aliases: only the aliases whose name
// starts as the text does at some word are tried there.
func (c *Check) claims(ws []string, name bool) []*alias {
	var out []*alias
	seen := map[*alias]bool{}
	for i := range ws {
		var b strings.Builder
		for j := i; j < len(ws) && b.Len() < leadLen; j++ {
			b.WriteString(ws[j])
		}
		for _, a := range c.byLead[lead(b.String())] {
			if !seen[a] && a.claimAt(ws, i, name) {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rank < out[j].rank })
	return out
}

// indexProtected indexes the protected domains by skeleton (homographs,
// added digits) and by length (typos).
func (c *Check) indexProtected() {
	c.protBySkel = map[string][]*protected{}
	c.protByLen = map[int][]*protected{}
	for i := range c.prot {
		p := &c.prot[i]
		c.protBySkel[p.skel] = append(c.protBySkel[p.skel], p)
		c.protByLen[len(p.skel)] = append(c.protByLen[len(p.skel)], p)
	}
}

// linksTo reports a link of the message to one of b's domains.
func (c *Check) linksTo(msg *message, b *brandSet) bool {
	for _, u := range msg.links {
		if b.owns(u.Domain) && !c.hosted(u) {
			return true
		}
	}
	return false
}

// brands reports the brands the message claims without being related to
// them, and returns the brands its sender claims.
func (c *Check) brands(msg *message, add func(sym, detail string)) map[*brandSet]bool {
	m := msg.m
	author := m.Identities().Author()
	claimed := map[*brandSet]bool{}
	nameWords := foldWords(author.Name)
	nameClaims := c.claims(nameWords, true)
	for _, a := range c.shortAliases {
		if a.bracketed(author.Name) {
			nameClaims = append(nameClaims, a)
		}
	}
	for _, a := range nameClaims {
		if claimed[a.brand] {
			continue
		}
		{
			if len(claimed) == 0 && !c.related(msg, a.brand, true) {
				add(SymBrandName, fmt.Sprintf("%q claims %s; From %s", author.Name, a.brand.name, orNone(msg.fromReg)))
			}
			claimed[a.brand] = true
		}
	}
	if msg.fromReg != "" && !c.isFreemail(msg.fromReg) && len(msg.authRegs) == 0 && len(claimed) == 0 {
		for _, b := range c.brandsOwning(msg.fromReg) {
			if b.own || c.linksTo(msg, b) {
				continue
			}
			add(SymBrandUnverified, fmt.Sprintf("From %s (%s), not authenticated, links elsewhere", msg.fromReg, b.name))
			claimed[b] = true
			break
		}
	}
	subject := decodedSubject(m)
	texts := []string{subject, topOfBody(m.Facts.Content.Text)}
	// The anchors a reader meets first; a newsletter's five-hundredth
	// link claims nothing the first ones do not.
	anchors := map[string]bool{}
	for _, u := range msg.links {
		if u.Source == "html" && u.Text != "" && !anchors[u.Text] && len(anchors) < maxAnchors {
			anchors[u.Text] = true
			texts = append(texts, u.Text)
		}
	}
	// A text that names several brands is a digest, a catalogue or a
	// discussion, not an impersonation: one brand claimed is.
	texted := map[*brandSet]string{}
	var order []*brandSet
	for _, t := range texts {
		ws := foldWords(t)
		if len(ws) == 0 {
			continue
		}
		for _, a := range c.claims(ws, false) {
			if _, ok := texted[a.brand]; ok || claimed[a.brand] {
				continue
			}
			texted[a.brand] = t
			order = append(order, a.brand)
		}
	}
	if len(order) > 0 && len(order) < 3 && len(claimed) == 0 {
		if b := order[0]; !c.related(msg, b, true) {
			add(SymBrandText, fmt.Sprintf("%q claims %s; From %s", capText(texted[b], 80), b.name, orNone(msg.fromReg)))
		}
	}
	switch {
	case lookalikeText(author.Name) != "":
		add(SymLookalikeText, fmt.Sprintf("display name word %q", lookalikeText(author.Name)))
	case lookalikeText(subject) != "":
		add(SymLookalikeText, fmt.Sprintf("Subject word %q", lookalikeText(subject)))
	case hiddenJoiners(author.Name):
		add(SymLookalikeText, fmt.Sprintf("display name %q has invisible characters between its letters", author.Name))
	case hiddenJoiners(subject):
		add(SymLookalikeText, "the Subject has invisible characters between its letters")
	}
	if a := addressIn(author.Name); a != "" && reg(a) != "" && reg(a) != msg.fromReg {
		add(SymNameAddress, fmt.Sprintf("%q, From %s", author.Name, orNone(msg.fromReg)))
	}
	return claimed
}

// domains reports look-alike and brand-carrying sender and link domains,
// and Reply-To diversions.
func (c *Check) domains(msg *message, claimed map[*brandSet]bool, add func(sym, detail string)) {
	id := msg.m.Identities()
	type named struct{ host, role string }
	var senders []named
	for _, a := range id.From {
		senders = append(senders, named{a.Domain, "From"})
	}
	for _, a := range id.ReplyTo {
		senders = append(senders, named{a.Domain, "Reply-To"})
	}
	for _, a := range id.Sender {
		senders = append(senders, named{a.Domain, "Sender"})
	}
	lookSender, brandSender := false, false
	for _, s := range senders {
		r := reg(s.host)
		if r == "" {
			continue
		}
		p, how := msg.ix.lookalike(r)
		if p != nil && !lookSender {
			lookSender = true
			add(SymLookalikeSender, fmt.Sprintf("%s %s imitates %s (%s)", s.role, r, p.domain, how))
		}
		// A look-alike carries the name it imitates: reported once.
		if b, label := c.brandInHost(s.host, r); b != nil && p == nil && !brandSender && !c.isFreemail(r) {
			brandSender = true
			add(SymBrandDomainSender, fmt.Sprintf("%s %s carries %s (%q)", s.role, s.host, b.name, label))
		}
	}
	seen := map[string]bool{}
	lookLink, brandLink := false, false
	for _, u := range msg.links {
		if u.Domain == "" || seen[u.Host] || len(seen) >= maxHosts {
			continue
		}
		seen[u.Host] = true
		var p *protected
		if u.Domain != msg.fromReg {
			var how string
			if p, how = msg.ix.lookalike(u.Domain); p != nil && !lookLink {
				lookLink = true
				add(SymLookalikeLink, fmt.Sprintf("%s imitates %s (%s)", u.Domain, p.domain, how))
			}
		}
		if !brandLink && p == nil {
			if b, label := c.brandInHost(u.Host, u.Domain); b != nil {
				brandLink = true
				add(SymBrandDomainLink, fmt.Sprintf("%s carries %s (%q)", u.Host, b.name, label))
			}
		}
	}
	// Reply-To: where the answer goes.
	fromClaims := len(claimed) > 0 || msg.own.owns(msg.fromReg)
	for b := range claimed {
		if b.owns(msg.fromReg) {
			fromClaims = true
		}
	}
	for _, b := range c.brandsOwning(msg.fromReg) {
		if !c.isFreemail(msg.fromReg) {
			fromClaims = fromClaims || b != nil
		}
	}
	for _, a := range id.ReplyTo {
		r := reg(a.Domain)
		if r == "" || r == msg.fromReg {
			continue
		}
		switch {
		case fromClaims && (c.isFreemail(r) || !c.sameOwner(msg, r)):
			add(SymReplyToBEC, fmt.Sprintf("From %s, Reply-To %s", orNone(msg.fromReg), r))
			return
		case c.isFreemail(r):
			add(SymReplyToFreemail, fmt.Sprintf("From %s, Reply-To %s", orNone(msg.fromReg), r))
			return
		}
	}
}

// brandsOwning returns the brands (own domains included) owning r.
func (c *Check) brandsOwning(r string) []*brandSet {
	var out []*brandSet
	seen := map[*brandSet]bool{}
	for _, p := range c.prot {
		if p.domain == r && !seen[p.brand] {
			seen[p.brand] = true
			out = append(out, p.brand)
		}
	}
	return out
}

// sameOwner reports r owned by a brand that owns the From domain too, or
// authenticated.
func (c *Check) sameOwner(msg *message, r string) bool {
	if msg.authRegs[r] {
		return true
	}
	for _, b := range c.brandsOwning(msg.fromReg) {
		if b.owns(r) {
			return true
		}
	}
	return msg.own.owns(msg.fromReg) && msg.own.owns(r)
}

// hosted reports a link to free hosting.
func (c *Check) hosted(u filters.URL) bool { return c.hosting.match(strings.ToLower(u.Host), u.URL) }

// hostingSet is the free hosting list indexed: hosts that match with
// the hosts under them, tenant suffixes, and entries with a path.
type hostingSet struct {
	hosts, tenants map[string]bool
	paths          []string
}

func newHostingSet(entries []string) hostingSet {
	hs := hostingSet{hosts: map[string]bool{}, tenants: map[string]bool{}}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case strings.Contains(e, "/"):
			hs.paths = append(hs.paths, e)
		case strings.HasPrefix(e, "."):
			hs.tenants[e[1:]] = true
		case e != "":
			hs.hosts[e] = true
		}
	}
	return hs
}

// match reports whether host (lower case) and the URL raw fall under an
// entry (hostMatches says how).
func (hs hostingSet) match(host, raw string) bool {
	for h := host; h != ""; {
		if hs.hosts[h] || hs.tenants[h] && h != host && host != "www."+h {
			return true
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			break
		}
		h = h[i+1:]
	}
	if len(hs.paths) == 0 {
		return false
	}
	path := urlPath(raw)
	for _, e := range hs.paths {
		if hostMatches(host, path, e) {
			return true
		}
	}
	return false
}

func urlPath(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[i:]
	}
	return "/"
}

// links reports free hosting, shorteners, QR links, active links and
// feed matches.
func (c *Check) links(msg *message, add func(sym, detail string)) {
	ct := &msg.m.Facts.Content
	var hosting, short []string
	for _, u := range msg.links {
		own := u.Domain != "" && (u.Domain == msg.fromReg || msg.authRegs[u.Domain])
		switch {
		case own:
		case c.hosted(u):
			hosting = appendOnce(hosting, u.Host)
		case c.short[strings.ToLower(u.Host)] || c.short[u.Domain]:
			short = appendOnce(short, u.Host)
		}
	}
	if len(hosting) > 0 {
		add(SymFreeHosting, strings.Join(capList(hosting, 3), " "))
	}
	if len(short) > 0 {
		add(SymShortener, strings.Join(capList(short, 3), " "))
	}
	if len(ct.QRCodes) > 0 {
		add(SymQRLink, strings.Join(capList(ct.QRCodes, 2), "; "))
	}
	if len(ct.ActiveLinks) > 0 {
		add(SymActiveLink, strings.Join(capList(ct.ActiveLinks, 2), "; "))
	}
	if len(c.feeds) == 0 {
		return
	}
	now := time.Now()
	for _, f := range c.feeds {
		f.refresh(now, time.Duration(c.cfg.FeedCheck))
	}
	check := func(raw string) bool {
		u, err := urlcheck.Normalize(raw)
		if err != nil || u.Host == "" {
			return false
		}
		for _, f := range c.feeds {
			if entry, ok := f.match(u); ok {
				add(SymFeed, fmt.Sprintf("%s: %s (listed %s)", f.cfg.Name, capText(raw, 120), entry))
				return true
			}
		}
		return false
	}
	for _, u := range msg.links {
		if check(u.URL) {
			return
		}
	}
	for _, h := range msg.hops {
		if check(h) {
			return
		}
	}
}

// passwordWord: the message text gives a password ("password: 1234",
// "senha 5678", "Passwort lautet").
var passwordWord = regexp.MustCompile(`(?i)\b(?:password|passcode|pass|pwd|senha|contraseña|clave|passwort|kennwort|mot de passe|wachtwoord|parola|hasło|heslo|пароль)\b\s*(?:is|:|=|-|lautet|est|é|es)?`)

// files reports attachments: dangerous kinds, HTML and SVG pages, forms
// in files, PDFs with links or active content, encrypted archives,
// deceptive names.
func (c *Check) files(msg *message, add func(sym, detail string)) {
	ct := &msg.m.Facts.Content
	seen := map[string]bool{}
	once := func(sym, detail string) {
		if !seen[sym] {
			seen[sym] = true
			add(sym, detail)
		}
	}
	kindSym := func(k filters.FileKind) string {
		switch k {
		case filters.FileExecutable, filters.FileScript, filters.FileShortcut, filters.FileHelp, filters.FileOneNote:
			return SymExecutable
		case filters.FileDiskImage:
			return SymDiskImage
		case filters.FileMacroDoc:
			return SymMacroDocument
		}
		return ""
	}
	pdfLinks := false
	for _, u := range ct.URLs {
		pdfLinks = pdfLinks || u.Source == "pdf"
	}
	for _, a := range ct.Attachments {
		name := a.Name
		if name == "" {
			name = a.Type
		}
		if s := kindSym(a.Kind); s != "" && !harmlessShortcut(a) {
			once(s, fmt.Sprintf("%s (%s%s)", name, a.Kind, withFormat(a.Format)))
		}
		for _, e := range a.Entries {
			if s := kindSym(e.Kind); s != "" {
				once(s, fmt.Sprintf("%s in %s (%s)", e.Name, name, e.Kind))
			}
			if deceptiveName(e.Name) != "" {
				once(SymDoubleExtension, fmt.Sprintf("%s in %s", e.Name, name))
			}
			if hasBidi(e.Name) {
				once(SymBidiName, fmt.Sprintf("%q in %s", e.Name, name))
			}
		}
		switch a.Kind {
		case filters.FileHTML, filters.FileSVG:
			once(SymHTMLFile, fmt.Sprintf("%s (%s)", name, a.Kind))
		case filters.FilePDF:
			if pdfLinks {
				once(SymPDFLink, name)
			}
		}
		for _, b := range a.Behaviours {
			switch b {
			case filters.BehaviourRedirect, filters.BehaviourEncodedPage:
				once(SymScriptedFile, fmt.Sprintf("%s: %s", name, b))
			case filters.BehaviourScript:
				if a.Kind == filters.FilePDF {
					once(SymPDFActive, fmt.Sprintf("%s: %s", name, b))
				} else {
					once(SymScriptedFile, fmt.Sprintf("%s: %s", name, b))
				}
			case filters.BehaviourLaunch, filters.BehaviourEmbedded:
				if a.Kind == filters.FilePDF {
					once(SymPDFActive, fmt.Sprintf("%s: %s", name, b))
				}
			}
		}
		if a.Encrypted {
			if passwordWord.MatchString(ct.Text) || passwordWord.MatchString(decodedSubject(msg.m)) {
				once(SymArchivePassword, fmt.Sprintf("%s, with a password in the text", name))
			} else {
				once(SymArchiveEncrypted, name)
			}
		}
		if deceptiveName(a.Name) != "" {
			once(SymDoubleExtension, a.Name)
		}
		if hasBidi(a.Name) {
			once(SymBidiName, fmt.Sprintf("%q", a.Name))
		}
	}
	for _, f := range ct.Forms {
		switch {
		case f.Password:
			once(SymFormPassword, fmt.Sprintf("in %s, posting to %s", f.In, orNone(f.Action)))
		case f.In != "body":
			once(SymFormInFile, fmt.Sprintf("in %s, posting to %s", f.In, orNone(f.Action)))
		}
	}
}

// harmlessShortcut is an Internet shortcut (.url) to a web page: a
// bookmark, whose link is one of the message's. One that opens a file
// share or a local file (file:, \\host, search-ms:) runs what it points
// to (the content check marks it BehaviourLaunch).
func harmlessShortcut(a filters.Attachment) bool {
	if a.Kind != filters.FileShortcut || a.Format != "url" {
		return false
	}
	for _, b := range a.Behaviours {
		if b == filters.BehaviourLaunch {
			return false
		}
	}
	return true
}

func withFormat(f string) string {
	if f == "" {
		return ""
	}
	return ", " + f
}

// dangerousExts run code when opened (Windows Script Host, mshta,
// PowerShell, cmd, the shell's shortcuts, installers, disk images).
var dangerousExts = map[string]bool{
	"exe": true, "scr": true, "com": true, "pif": true, "cpl": true, "msi": true, "bat": true, "cmd": true,
	"js": true, "jse": true, "vbs": true, "vbe": true, "wsf": true, "wsh": true, "hta": true, "ps1": true,
	"lnk": true, "url": true, "iso": true, "img": true, "vhd": true, "vhdx": true, "jar": true, "chm": true,
	"one": true, "apk": true, "reg": true, "docm": true, "xlsm": true, "xll": true, "appref-ms": true,
}

// decoyExts are what a deceptive name shows first.
var decoyExts = map[string]bool{
	"pdf": true, "doc": true, "docx": true, "xls": true, "xlsx": true, "ppt": true, "pptx": true, "txt": true,
	"jpg": true, "jpeg": true, "png": true, "gif": true, "rtf": true, "csv": true, "zip": true, "htm": true,
	"html": true, "mp3": true, "mp4": true, "wav": true, "odt": true, "ods": true, "eml": true, "msg": true,
}

// deceptiveName returns the dangerous extension a name hides behind a
// document's ("invoice.pdf.exe", "invoice.pdf     .js"), "" when none.
func deceptiveName(name string) string {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(name)), ".")
	if len(parts) < 3 {
		return ""
	}
	last := strings.TrimSpace(parts[len(parts)-1])
	decoy := strings.TrimSpace(parts[len(parts)-2])
	if dangerousExts[last] && decoyExts[decoy] {
		return last
	}
	return ""
}

// hasBidi reports a bidirectional control character (RLO U+202E and
// its kin), which reorders how a name reads.
func hasBidi(name string) bool {
	return strings.ContainsAny(name, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
}

var addressRe = regexp.MustCompile(`[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)`)

// addressIn returns the domain of an e-mail address written in s.
func addressIn(s string) string {
	if m := addressRe.FindStringSubmatch(s); m != nil {
		return strings.ToLower(m[1])
	}
	return ""
}

// decodedSubject is the Subject as the reader sees it.
func decodedSubject(m *filters.Message) string {
	s := m.Header("Subject")
	if d, err := filters.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// topOfBody is the start of the visible text: the heading and greeting a
// reader takes for the sender.
func topOfBody(s string) string { return capText(s, 300) }

func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xc0) == 0x80 {
		n--
	}
	return s[:n]
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func capList(l []string, n int) []string {
	if len(l) > n {
		return append(l[:n:n], fmt.Sprintf("(+%d)", len(l)-n))
	}
	return l
}
