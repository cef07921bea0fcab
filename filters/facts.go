package filters

import (
	"net/netip"
	"sort"
)

// Facts are what checks learned about a message that later stages and the
// JSON output need. Each field is written by exactly one check (named on the
// field) during its stage and read only by later stages.
type Facts struct {
	// Auth is written by the authentication checks: SPF by "spf", DKIM by
	// "dkim", ARC by "arc" (stage auth), DMARC by "dmarc" (stage policy).
	Auth AuthResults
	// Content is written by the "content" check (stage auth, which runs it in
	// parallel with SPF/DKIM/ARC because it needs no DNS).
	Content Content
	// Links is written by the "follow" check (stage links): where each
	// followed URL led. Later stages treat every hop's domain as linked.
	Links []LinkChain
	// Infra is written by the "nameservers" check (stage policy): the NS
	// hosts and their addresses behind every linked and sender domain.
	Infra Infra
}

// LinkChain is where one URL of the message led when followed.
type LinkChain struct {
	URL     string    `json:"url"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
	Hops    []LinkHop `json:"hops"`
	// Kind, ContentType and Sniffed describe the landing response.
	Kind        string `json:"kind,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Sniffed     string `json:"sniffed,omitempty"`
	// Fingerprint is the landing page's text fingerprint, "" when not a page.
	Fingerprint string `json:"fingerprint,omitempty"`
	LoginForm   bool   `json:"login_form,omitempty"`
	Cached      bool   `json:"cached,omitempty"`
}

// LinkHop is one step of a LinkChain.
type LinkHop struct {
	URL    string `json:"url"`
	Host   string `json:"host"`
	Domain string `json:"domain,omitempty"` // registrable domain of Host
	// Addr is the vetted address connected to; invalid when not fetched.
	Addr   netip.Addr `json:"addr,omitzero"`
	Status int        `json:"status,omitempty"`
	Via    string     `json:"via,omitempty"` // how this hop was reached
}

// HopDomains returns the registrable domains reached by following links
// that the message does not link to directly, sorted and unique.
func (f *Facts) HopDomains() []string {
	direct := map[string]bool{}
	for _, d := range f.Content.Domains {
		direct[d] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, ch := range f.Links {
		for _, h := range ch.Hops {
			if h.Domain != "" && !direct[h.Domain] && !seen[h.Domain] {
				seen[h.Domain] = true
				out = append(out, h.Domain)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Infra maps registrable domains to the nameservers that serve them.
type Infra struct {
	Domains []DomainInfra `json:"domains,omitempty"`
}

// DomainInfra is the NS set of one registrable domain.
type DomainInfra struct {
	Domain string `json:"domain"`
	// Zone is where the NS set was found (the domain itself, or a parent
	// when the domain has none).
	Zone string   `json:"zone,omitempty"`
	NS   []NSHost `json:"ns,omitempty"`
	// Status is "ok", or the DNS status that prevented resolution
	// (NXDOMAIN, SERVFAIL, TIMEOUT, skipped: budget).
	Status string `json:"status"`
}

// NSHost is one nameserver host name and its addresses.
type NSHost struct {
	Name  string       `json:"name"`
	Addrs []netip.Addr `json:"addrs,omitempty"`
}

// AuthResults is the "auth" object of `vigil check --json`.
type AuthResults struct {
	SPF   SPFResult    `json:"spf"`
	DKIM  []DKIMResult `json:"dkim"`
	DMARC DMARCResult  `json:"dmarc"`
	ARC   ARCResult    `json:"arc"`
}

// SPFResult is the RFC 7208 result for the identity that was checked.
type SPFResult struct {
	Result string `json:"result"` // pass, fail, softfail, neutral, none, temperror, permerror
	Domain string `json:"domain,omitempty"`
	// Identity is "mailfrom" or "helo" (RFC 7208 §2.3, §2.4).
	Identity string `json:"identity,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// DKIMResult is the outcome for one DKIM-Signature.
type DKIMResult struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	Result   string `json:"result"` // pass, fail, neutral, temperror, permerror
	// BodyLength is the l= tag when present (RFC 6376 §3.5), -1 otherwise.
	BodyLength int64  `json:"body_length,omitempty"`
	Algorithm  string `json:"algorithm,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// DMARCResult is the RFC 7489 evaluation for the From domain.
type DMARCResult struct {
	Result string `json:"result"` // pass, fail, none, temperror, permerror
	Policy string `json:"policy,omitempty"`
	Domain string `json:"domain,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// ARCResult is the RFC 8617 chain validation result.
type ARCResult struct {
	Result string `json:"result"` // pass, fail, none
	Detail string `json:"detail,omitempty"`
}

// Content is what the content stage extracted from the message.
type Content struct {
	URLs   []URL   `json:"urls"`
	Images []Image `json:"images"`
	// Text is the visible text of the message (plain parts and HTML reduced
	// to text), capped in size.
	Text string `json:"-"`
	// HiddenText is the text of HTML a reader cannot see (display:none,
	// zero font size, text in the background colour, ...), capped at a
	// quarter of the visible text's cap; the classifier learns it apart.
	HiddenText string `json:"-"`
	// Domains are the registrable domains linked from the message (URL
	// hosts, image hosts, e-mail addresses in the body), sorted, unique.
	Domains []string `json:"-"`
	// MIME is the entity tree as the content check walked it, so later
	// checks (the classifier's structure tokens) need not parse the body
	// again. Nil when there was no body.
	MIME *MIMEPart `json:"-"`
}

// MIMEPart is one MIME entity (RFC 2045): its media type and the header
// facts later checks use, and its children: the parts of a multipart, or
// the one inner message of a message/rfc822.
type MIMEPart struct {
	Type        string // lower-case media type; "" for a part not walked (caps)
	Charset     string // lower-case charset parameter
	CTE         string // lower-case Content-Transfer-Encoding
	Disposition string // lower-case disposition type (inline, attachment)
	// Split reports a multipart that had a boundary and was walked.
	Split bool
	Parts []*MIMEPart
}

// URL is one URL found in the message.
type URL struct {
	URL    string `json:"url"`
	Host   string `json:"host"`
	Domain string `json:"domain"` // registrable domain (Public Suffix List, ICANN section)
	// Source says where it was found: text, html, css, redirect-param, ...
	Source string `json:"source,omitempty"`
	// Text is what the reader sees of the link, whitespace collapsed and
	// capped at 200 bytes: the visible text of the HTML anchor (<a>, or
	// <area> alt) that links to URL, or for a link written out in text
	// (a text part, the Subject) the link as written; "" for CSS, forms
	// and the like. The targets of a redirect wrapper take its text.
	Text string `json:"text,omitempty"`
}

// Image is one image a reader could see.
type Image struct {
	Kind string `json:"kind"` // inline, remote, css, data
	Src  string `json:"src"`
	// Size is the declared (attribute) or decoded (inline) size in bytes,
	// 0 when unknown.
	Size int64 `json:"size,omitempty"`
	// SHA256 is the hex digest of the decoded bytes of inline and data images.
	SHA256 string `json:"sha256,omitempty"`
}
