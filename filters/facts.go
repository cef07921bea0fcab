package filters

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilmail/vigil/filters/images"
)

// Facts are what checks learned about a message that later stages and the
// JSON output need. Each field is written by exactly one check (named on the
// field) during its stage and read only by later stages.
type Facts struct {
	// Auth is written by the authentication checks: SPF by "spf", DKIM by
	// "dkim", ARC by "arc", DMARC by "dmarc" (which reads SPF and DKIM).
	Auth AuthResults
	// Content is written by the "content" check.
	Content Content
	// RemoteImages are the remote images of the message that the "follow"
	// check fetched and hashed (only when follow.images is on; remote
	// images are never fetched by default).
	RemoteImages []Image
	// Links is written by the "follow" check: where each followed URL
	// led. Later stages treat every hop's domain as linked.
	Links []LinkChain
	// Infra is written by the "nameservers" check: the NS hosts and their
	// addresses behind every linked and sender domain.
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
	// Fingerprint is the landing page's text fingerprint, zero when not a
	// page.
	Fingerprint PageFingerprint `json:"fingerprint,omitzero"`
	LoginForm   bool            `json:"login_form,omitempty"`
	Cached      bool            `json:"cached,omitempty"`
}

// PageFingerprint identifies a landing page by its visible text
// (urlcheck/follow.Fingerprint): Hash matches the same text exactly, Sim
// (a 64-bit SimHash) text that differs in a few words. The report writes it
// as "hash/simhash".
type PageFingerprint struct {
	Hash string
	Sim  uint64
}

// IsZero reports a page without a fingerprint (too little text, or not a
// page).
func (f PageFingerprint) IsZero() bool { return f.Hash == "" }

func (f PageFingerprint) String() string { return fmt.Sprintf("%s/%016x", f.Hash, f.Sim) }

// MarshalJSON writes "hash/simhash".
func (f PageFingerprint) MarshalJSON() ([]byte, error) { return json.Marshal(f.String()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (f *PageFingerprint) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	hash, sim, ok := strings.Cut(s, "/")
	if !ok {
		return fmt.Errorf("filters: page fingerprint %q is not hash/simhash", s)
	}
	v, err := strconv.ParseUint(sim, 16, 64)
	if err != nil {
		return fmt.Errorf("filters: page fingerprint %q: %w", s, err)
	}
	f.Hash, f.Sim = hash, v
	return nil
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

// SPFStatus is an RFC 7208 §2.6 result; "" until the spf check ran.
type SPFStatus string

const (
	SPFPass      SPFStatus = "pass"      // §2.6.3: the client is authorized
	SPFFail      SPFStatus = "fail"      // §2.6.4: the client is not authorized
	SPFSoftFail  SPFStatus = "softfail"  // §2.6.5: probably not authorized
	SPFNeutral   SPFStatus = "neutral"   // §2.6.2: no assertion
	SPFNone      SPFStatus = "none"      // §2.6.1: no record, or no valid domain
	SPFTempError SPFStatus = "temperror" // §2.6.6: transient DNS error
	SPFPermError SPFStatus = "permerror" // §2.6.7: the record could not be interpreted
)

// SPFIdentity is the identity SPF checked (RFC 7208 §2.3, §2.4).
type SPFIdentity string

const (
	SPFMailFrom SPFIdentity = "mailfrom" // the MAIL FROM domain
	SPFHelo     SPFIdentity = "helo"     // the HELO domain (null reverse-path)
)

// SPFResult is the RFC 7208 result for the identity that was checked.
type SPFResult struct {
	Result   SPFStatus   `json:"result"`
	Domain   string      `json:"domain,omitempty"`
	Identity SPFIdentity `json:"identity,omitempty"`
	Detail   string      `json:"detail,omitempty"`
}

// DKIMStatus is the RFC 8601 §2.7.1 result of one DKIM signature.
type DKIMStatus string

const (
	DKIMPass      DKIMStatus = "pass"      // the signature verified
	DKIMFail      DKIMStatus = "fail"      // it did not verify (bad hash, RFC 8301 weak crypto)
	DKIMNeutral   DKIMStatus = "neutral"   // not evaluated (no body, over the cap)
	DKIMTempError DKIMStatus = "temperror" // the key could not be fetched for now
	DKIMPermError DKIMStatus = "permerror" // the signature or its key is unusable
	DKIMNone      DKIMStatus = "none"      // no signature at all (overall result only)
)

// DKIMResult is the outcome for one DKIM-Signature.
type DKIMResult struct {
	Domain   string     `json:"domain"`
	Selector string     `json:"selector"`
	Result   DKIMStatus `json:"result"`
	// BodyLength is the l= tag when present (RFC 6376 §3.5), -1 otherwise.
	BodyLength int64  `json:"body_length,omitempty"`
	Algorithm  string `json:"algorithm,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// DMARCStatus is the DMARC result (RFC 7489 §11.2, RFC 8601 §2.7.5).
type DMARCStatus string

const (
	DMARCPass      DMARCStatus = "pass"      // an aligned SPF or DKIM identifier passed
	DMARCFail      DMARCStatus = "fail"      // a policy exists and nothing aligned passed
	DMARCNone      DMARCStatus = "none"      // no policy record was found
	DMARCTempError DMARCStatus = "temperror" // DNS failure during policy discovery or of an aligned check
	DMARCPermError DMARCStatus = "permerror" // unusable record, or no usable From domain
)

// DMARCPolicy is a requested disposition (RFC 7489 §6.3 p=).
type DMARCPolicy string

const (
	DMARCPolicyNone       DMARCPolicy = "none"
	DMARCPolicyQuarantine DMARCPolicy = "quarantine"
	DMARCPolicyReject     DMARCPolicy = "reject"
)

// DMARCResult is the RFC 7489 evaluation for the From domain.
type DMARCResult struct {
	Result DMARCStatus `json:"result"`
	Policy DMARCPolicy `json:"policy,omitempty"`
	// Domain is the RFC5322.From domain the result is for.
	Domain string `json:"domain,omitempty"`
	// OrgDomain is its organizational domain (RFC 7489 §3.2), which the
	// aligned identifiers share.
	OrgDomain string `json:"-"`
	Detail    string `json:"detail,omitempty"`
}

// ARCStatus is the chain validation status cv= (RFC 8617 §4.4).
type ARCStatus string

const (
	ARCPass ARCStatus = "pass" // every seal and the latest message signature verify
	ARCFail ARCStatus = "fail" // the chain is broken, malformed or did not verify
	ARCNone ARCStatus = "none" // no ARC sets
)

// ARCResult is the RFC 8617 chain validation result.
type ARCResult struct {
	Result ARCStatus `json:"result"`
	Detail string    `json:"detail,omitempty"`
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
	// ImageHeavy: the message is mostly pictures: little visible text
	// while images are shown, or decoded images are large
	// (CONTENT_IMAGE_HEAVY). The reputation check then scores the
	// pictures as it scores the text of other mail.
	ImageHeavy bool `json:"-"`
	// Attachments are the files the message carries, each told by its
	// bytes (at most content.max_attachments).
	Attachments []Attachment `json:"attachments,omitempty"`
	// Forms are the HTML and PDF forms of the body and of attachments
	// that ask for a password or an e-mail address.
	Forms []Form `json:"forms,omitempty"`
	// ActiveLinks are anchors of the body whose href is a data: or
	// javascript: URL (scheme and media type, then the anchor's text):
	// the click opens a page the message carries, or runs script.
	ActiveLinks []string `json:"active_links,omitempty"`
	// QRCodes describe the QR codes read from pictures that hold links
	// ("<picture>: <text>"); their links are in URLs with source "qr".
	QRCodes []string `json:"qr_codes,omitempty"`
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
	// Width and Height are the size in pixels of an inline, attached or
	// data image that was decoded; 0 when it was not (content caps).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Perceptual is the perceptual hash of a decoded image, the zero Hash
	// when there is none (not decoded, too small, flat). The report
	// writes it as "phash" and "dhash" (16 and 32 hex digits).
	Perceptual images.Hash `json:"-"`
	// Host is the host of a remote or css image's URL, "" for the others.
	Host string `json:"-"`
}

// imageJSON is Image as JSON: the fields with tags, and the perceptual
// hash as hex.
type imageJSON struct {
	imageFields
	PHash string `json:"phash,omitempty"`
	DHash string `json:"dhash,omitempty"`
}

// imageFields has Image's fields without its methods, so that encoding
// it does not recurse.
type imageFields Image

// MarshalJSON writes the image with "phash" and "dhash" when it has a
// perceptual hash.
func (i Image) MarshalJSON() ([]byte, error) {
	out := imageJSON{imageFields: imageFields(i)}
	if !i.Perceptual.IsZero() {
		out.PHash, out.DHash = i.Perceptual.PHex(), i.Perceptual.DHex()
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (i *Image) UnmarshalJSON(b []byte) error {
	var in imageJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*i = Image(in.imageFields)
	if in.PHash == "" && in.DHash == "" {
		return nil
	}
	h, err := images.ParseHex(in.PHash, in.DHash)
	if err != nil {
		return fmt.Errorf("filters: image %q: %w", i.Src, err)
	}
	i.Perceptual = h
	return nil
}
