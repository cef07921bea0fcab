package phishing

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/urlcheck"
)

// testMessage is a message as the check sees it: header fields and the
// facts of the checks before it.
type testMessage struct {
	from, replyTo, subject, text string
	links                        []string // "url" or "url|anchor text"
	dkim                         []string // domains whose signature passed
	rcpts                        []string // envelope recipients
	files                        []filters.Attachment
	forms                        []filters.Form
	qr, active                   []string
}

func (tm testMessage) build() *filters.Message {
	m := &filters.Message{}
	add := func(name, value string) {
		if value != "" {
			m.Headers = append(m.Headers, filters.Header{Name: name, Value: " " + value})
		}
	}
	add("From", tm.from)
	add("Reply-To", tm.replyTo)
	add("Subject", tm.subject)
	m.Envelope.Rcpts = tm.rcpts
	for _, l := range tm.links {
		raw, text, _ := strings.Cut(l, "|")
		u, err := urlcheck.Normalize(raw)
		if err != nil {
			panic(err)
		}
		m.Facts.Content.URLs = append(m.Facts.Content.URLs, filters.URL{URL: u.String, Host: u.Host, Domain: u.Domain, Source: "html", Text: text})
	}
	for _, d := range tm.dkim {
		m.Facts.Auth.DKIM = append(m.Facts.Auth.DKIM, filters.DKIMResult{Domain: d, Result: filters.DKIMPass})
	}
	m.Facts.Content.Text = tm.text
	m.Facts.Content.Attachments = tm.files
	m.Facts.Content.Forms = tm.forms
	m.Facts.Content.QRCodes = tm.qr
	m.Facts.Content.ActiveLinks = tm.active
	return m
}

func run(t *testing.T, c *Check, tm testMessage) map[string]string {
	t.Helper()
	syms, err := c.Run(context.Background(), tm.build())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range syms {
		if _, dup := out[s.Name]; dup {
			t.Errorf("%s reported twice", s.Name)
		}
		out[s.Name] = s.Detail
		if s.Score != Spec.Score(s.Name) || s.Score <= 0 {
			t.Errorf("%s: score %v, declared %v", s.Name, s.Score, Spec.Score(s.Name))
		}
	}
	return out
}

// sameSymbols fails t unless got has exactly the symbols want.
func sameSymbols(t *testing.T, got map[string]string, want []string) {
	t.Helper()
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("symbols %v, want %v (details %v)", names, want, got)
	}
}

func newCheck(t *testing.T, cfg Config) *Check {
	t.Helper()
	c, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignals(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OwnDomains = []string{"acme-corp.com"}
	cfg.OwnName = "Acme Corp"
	c := newCheck(t, cfg)
	tests := []struct {
		name string
		msg  testMessage
		want []string // symbols reported, exactly
	}{
		{"brand in name, unrelated sender", testMessage{from: `"Microsoft account team" <no-reply@access-accsecurity.com>`, links: []string{"https://evil.example.net/x|Review activity"}},
			[]string{SymBrandName}},
		{"brand in name from a free-mail box", testMessage{from: `"PayPal Service" <paypal.service.2024@gmail.com>`}, []string{SymBrandName}},
		{"brand in name, its own domain", testMessage{from: `"PayPal" <service@paypal.com>`, links: []string{"https://www.paypal.com/x"}}, nil},
		{"brand in name, authenticated by the brand", testMessage{from: `"Netflix" <info@mailer.example>`, dkim: []string{"netflix.com"}, links: []string{"https://t.mailer.example/x"}}, nil},
		{"brand in name, a country domain of it", testMessage{from: `"Tesco" <offers@tesco.ie>`}, nil},
		{"brand in name, linking to the brand", testMessage{from: `"Tesco .ie" <news@esp.example>`, links: []string{"https://www.tesco.ie/", "https://click.esp.example/1"}}, nil},
		{"homograph name and subject", testMessage{from: `"Μetamаsk" <a@e.example>`, subject: "Your wаllet hаs failed"}, []string{SymBrandName, SymLookalikeText}},
		{"word brand claims only as a sender name", testMessage{from: `"Chase Miller" <chase@example.org>`, subject: "Apple pie for the party"}, nil},
		{"word brand with service words", testMessage{from: `"Ledger Support Team" <help@ledger-help.example>`}, []string{SymBrandName}},
		{"short brand in brackets", testMessage{from: `"[BB] - Comunicado ao cliente" <x@gmail.com>`}, []string{SymBrandName}},
		{"brand in subject, links elsewhere", testMessage{from: `<a@news.example>`, subject: "Your DocuSign envelope is waiting", links: []string{"https://evil.example.org/"}},
			[]string{SymBrandText}},
		{"brand in subject, linking to it", testMessage{from: `<a@news.example>`, subject: "DocuSign raises prices", links: []string{"https://www.docusign.com/blog"}}, nil},
		{"digest naming many brands", testMessage{from: `<a@news.example>`, subject: "Microsoft, Google and Adobe earnings"}, nil},
		{"spoofed brand From linking elsewhere", testMessage{from: `"Cliente" <aviso@bradesco.com.br>`, links: []string{"https://x.secureserver.net/"}}, []string{SymBrandUnverified}},
		{"look-alike sender, IDN", testMessage{from: `<security@xn--pypal-4ve.com>`}, []string{SymLookalikeSender}},
		{"look-alike sender, digit for letter", testMessage{from: `<security@paypa1.com>`}, []string{SymLookalikeSender}},
		{"look-alike sender, typo", testMessage{from: `<security@micosoft.com>`}, []string{SymLookalikeSender}},
		{"an unlike letter is another word", testMessage{from: `<news@cooking.com>`}, nil},
		{"look-alike of an own domain in Reply-To", testMessage{from: `"CEO" <ceo@acme-corp.com>`, replyTo: "ceo@acrne-corp.com"}, []string{SymLookalikeSender, SymReplyToBEC}},
		{"look-alike of the recipient's domain", testMessage{from: `<billing@examp1e-shop.com>`, rcpts: []string{"bob@example-shop.com"}}, []string{SymLookalikeSender}},
		{"look-alike link", testMessage{from: `<a@b.example>`, links: []string{"https://login.netfl1x.com/"}}, []string{SymLookalikeLink}},
		{"brand in a sender host", testMessage{from: `<no-reply@microsoft-uk.litesoft.live>`}, []string{SymBrandDomainSender}},
		{"brand in a link host", testMessage{from: `<a@b.example>`, links: []string{"https://support-trustwallet.com/restore"}}, []string{SymBrandDomainLink}},
		{"ordinary word in a host", testMessage{from: `<a@b.example>`, links: []string{"https://outlook.4team.biz/", "https://www.revolution-os.com/"}}, nil},
		{"reply-to free-mail", testMessage{from: `"Mr Smith" <smith@example.org>`, replyTo: "smith.private@gmail.com"}, []string{SymReplyToFreemail}},
		{"display name with another address", testMessage{from: `"support@paypal.com" <x@evil.example>`}, []string{SymBrandName, SymNameAddress}},
		{"free hosting and shortener", testMessage{from: `<a@b.example>`, links: []string{"https://storage.googleapis.com/x/index.html", "https://bit.ly/abc"}}, []string{SymFreeHosting, SymShortener}},
		{"the sender's own hosting", testMessage{from: `<a@mysite.github.io>`, links: []string{"https://mysite.github.io/post"}}, nil},
		{"a platform's own site", testMessage{from: `<a@b.example>`, links: []string{"https://www.wordpress.com/"}}, nil},
		{"qr and active links", testMessage{from: `<a@b.example>`, qr: []string{"part:scan.png: https://q.example/"}, active: []string{"data:text/html;base64 Open"}}, []string{SymQRLink, SymActiveLink}},
		{"password form", testMessage{from: `<a@b.example>`, forms: []filters.Form{{In: "body", Password: true}}}, []string{SymFormPassword}},
		{"form in a file", testMessage{from: `<a@b.example>`, forms: []filters.Form{{In: "login.html", Email: true, Action: "https://c.example/"}}}, []string{SymFormInFile}},
		{"e-mail form in the body", testMessage{from: `<a@b.example>`, forms: []filters.Form{{In: "body", Email: true}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, c, tt.msg)
			sameSymbols(t, got, tt.want)
		})
	}
}

func TestFiles(t *testing.T) {
	c := newCheck(t, DefaultConfig())
	tests := []struct {
		name  string
		text  string
		files []filters.Attachment
		want  []string
	}{
		{"executable", "", []filters.Attachment{{Name: "invoice.pdf", Kind: filters.FileExecutable, Format: "pe"}}, []string{SymExecutable}},
		{"double extension", "", []filters.Attachment{{Name: "invoice.pdf.exe", Kind: filters.FileExecutable}}, []string{SymExecutable, SymDoubleExtension}},
		{"right-to-left override", "", []filters.Attachment{{Name: "invoice\u202efdp.exe", Kind: filters.FileExecutable}}, []string{SymExecutable, SymBidiName}},
		{"disk image", "", []filters.Attachment{{Name: "a.iso", Kind: filters.FileDiskImage}}, []string{SymDiskImage}},
		{"macro document", "", []filters.Attachment{{Name: "a.doc", Kind: filters.FileMacroDoc}}, []string{SymMacroDocument}},
		{"script in an archive", "", []filters.Attachment{{Name: "a.zip", Kind: filters.FileArchive, Entries: []filters.ArchiveEntry{{Name: "scan.pdf .js", Kind: filters.FileScript}}}}, []string{SymExecutable, SymDoubleExtension}},
		{"encrypted with the password in the text", "Open it with the password: 4471", []filters.Attachment{{Name: "a.zip", Kind: filters.FileArchive, Encrypted: true}}, []string{SymArchivePassword}},
		{"encrypted, no password", "see attached", []filters.Attachment{{Name: "a.zip", Kind: filters.FileArchive, Encrypted: true}}, []string{SymArchiveEncrypted}},
		{"html that redirects", "", []filters.Attachment{{Name: "a.html", Kind: filters.FileHTML, Behaviours: []filters.Behaviour{filters.BehaviourRedirect}}}, []string{SymHTMLFile, SymScriptedFile}},
		{"pdf with script", "", []filters.Attachment{{Name: "a.pdf", Kind: filters.FilePDF, Behaviours: []filters.Behaviour{filters.BehaviourScript}}}, []string{SymPDFActive}},
		{"bookmark shortcut", "", []filters.Attachment{{Name: "a.url", Kind: filters.FileShortcut, Format: "url"}}, nil},
		{"shortcut to a share", "", []filters.Attachment{{Name: "a.url", Kind: filters.FileShortcut, Format: "url", Behaviours: []filters.Behaviour{filters.BehaviourLaunch}}}, []string{SymExecutable}},
		{"a document", "", []filters.Attachment{{Name: "report.docx", Kind: filters.FileOffice, Format: "ooxml"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, c, testMessage{from: "<a@b.example>", text: tt.text, files: tt.files})
			sameSymbols(t, got, tt.want)
		})
	}
}

func TestFeeds(t *testing.T) {
	dir := t.TempDir()
	urls := filepath.Join(dir, "urls.txt")
	domains := filepath.Join(dir, "domains.txt")
	os.WriteFile(urls, []byte("# openphish\nhttps://host.example.com/phish/login\n"), 0o644)
	os.WriteFile(domains, []byte("bad.example.net\n"), 0o644)
	cfg := DefaultConfig()
	cfg.Feeds = []Feed{{Name: "urls", File: urls, Kind: "url"}, {Name: "domains", File: domains, Kind: "domain"}}
	cfg.FeedCheck = filters.Duration(time.Millisecond)
	c := newCheck(t, cfg)
	for _, tt := range []struct {
		link string
		want bool
	}{
		{"http://host.example.com/phish/login/step2?x=1", true},
		{"https://user@host.example.com:8443/phish/login", true},
		{"https://host.example.com/phish/loginpage", false},
		{"https://host.example.com/", false},
		{"https://a.b.bad.example.net/", true},
		{"https://notbad.example.net/", false},
		{"https://t.example.org/r?u=https://host.example.com/phish/login", false}, // the wrapper; its target is a link of its own in the facts
	} {
		got := run(t, c, testMessage{from: "<a@b.example>", links: []string{tt.link}})
		if _, ok := got[SymFeed]; ok != tt.want {
			t.Errorf("%s: PHISH_FEED %v, want %v (%v)", tt.link, ok, tt.want, got)
		}
	}
	// A changed file is read again; a file that goes away keeps the list.
	time.Sleep(5 * time.Millisecond)
	os.WriteFile(domains, []byte("other.example.net\n"), 0o644)
	os.Chtimes(domains, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	time.Sleep(5 * time.Millisecond)
	if _, ok := run(t, c, testMessage{from: "<a@b.example>", links: []string{"https://other.example.net/"}})[SymFeed]; !ok {
		t.Error("the changed feed was not read again")
	}
	os.Remove(domains)
	time.Sleep(5 * time.Millisecond)
	if _, ok := run(t, c, testMessage{from: "<a@b.example>", links: []string{"https://other.example.net/"}})[SymFeed]; !ok {
		t.Error("a feed that cannot be read lost its entries")
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"Μetamаsk", "Μetamаsk"}, {"ʟᴏᴡᴇ's", "ʟᴏᴡᴇ"}, {"𝐏𝐚𝐲𝐏𝐚𝐥 alert", "𝐏𝐚𝐲𝐏𝐚𝐥"}, {"VlAGRA and ClALlS", "VlAGRA"}, {"PayPaI", "PayPaI"},
		{"Привет, как дела", ""}, {"Café crème", ""}, {"WordInfo MyIncErrors", ""}, {"McIntosh", ""}, {"Ελληνικά", ""},
	} {
		if got := lookalikeText(tt.in); got != tt.want {
			t.Errorf("lookalikeText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if !hiddenJoiners("V\u200de\u200dnmo") || hiddenJoiners("a \u200d b") {
		t.Error("hiddenJoiners")
	}
	if got := strings.Join(foldWords(`\|BANCO*DO*BRASIL|/`), " "); got != "banco do brasil" {
		t.Errorf("foldWords = %q", got)
	}
	for a, b := range map[string]string{"paypall": "paypal", "micosoft": "microsoft", "rnicrosoft": "rnicrosoft", "amazno": "amazon"} {
		if a != b && !typo(a, b) {
			t.Errorf("typo(%q, %q) = false", a, b)
		}
	}
	for a, b := range map[string]string{"cooking": "booking", "paypal": "paypal", "pal": "paypal"} {
		if typo(a, b) {
			t.Errorf("typo(%q, %q) = true", a, b)
		}
	}
	for name, want := range map[string]string{"invoice.pdf.exe": "exe", "scan.pdf     .js": "js", "report.final.pdf": "", "a.exe": "", "photo.jpg.lnk": "lnk"} {
		if got := deceptiveName(name); got != want {
			t.Errorf("deceptiveName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Brands = []Brand{{Domains: []string{"x.example"}}} }, "phishing.brands[0].name"},
		{func(c *Config) { c.Brands = []Brand{{Name: "X", Domains: []string{"com"}}} }, `phishing.brands[0].domains: "com"`},
		{func(c *Config) { c.OwnDomains = []string{"co.uk"} }, `phishing.own_domains: "co.uk"`},
		{func(c *Config) { c.Feeds = []Feed{{Name: "f", File: "/x", Kind: "ip"}} }, `phishing.feeds[0].kind: "ip"`},
		{func(c *Config) { c.Feeds = []Feed{{Name: "f", Kind: "url"}} }, "phishing.feeds[0].file"},
		{func(c *Config) { c.FeedCheck = 0 }, "phishing.feed_check"},
	} {
		cfg := DefaultConfig()
		tt.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate() = %v, want an error naming %q", err, tt.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	// A configured brand extends the built-in one of the same name.
	cfg := DefaultConfig()
	cfg.Brands = []Brand{{Name: "PayPal", Domains: []string{"paypal-partner.example"}}, {Name: "Example Bank", Domains: []string{"examplebank.com"}, Aliases: []string{"EB Online"}}}
	c := newCheck(t, cfg)
	if got := run(t, c, testMessage{from: `"PayPal" <x@paypal-partner.example>`}); len(got) != 0 {
		t.Errorf("an added domain of a built-in brand: %v", got)
	}
	if _, ok := run(t, c, testMessage{from: `"EB Online Security" <x@evil.example>`})[SymBrandName]; !ok {
		t.Error("an added brand's alias is not claimed")
	}
	off := DefaultConfig()
	off.Enabled = false
	if got := run(t, newCheck(t, off), testMessage{from: `"PayPal" <x@evil.example>`}); len(got) != 0 {
		t.Errorf("disabled: %v", got)
	}
}

// FuzzNames feeds arbitrary names to the comparisons that read display
// names, subjects and domains.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"Μetamаsk", "\\|BANCO*DO*BRASIL|/", "xn--pypal-4ve.com", "V\u200de", "𝐏𝐚𝐲", "a.b.c"} {
		f.Add(s)
	}
	c, err := New(DefaultConfig(), Deps{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lookalikeText(s)
		hiddenJoiners(s)
		ws := foldWords(s)
		for _, a := range c.aliases[:10] {
			a.claimIn(ws, true)
			a.bracketed(s)
		}
		if r := reg(s); r != "" {
			lookalikeOf(r, c.prot)
			c.brandInHost(s, r)
		}
		deceptiveName(s)
		c.Run(context.Background(), testMessage{from: s, subject: s, replyTo: s}.build())
	})
}
