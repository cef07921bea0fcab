package filters

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Report is the JSON object of `vigil check --json` (docs/json.md).
type Report struct {
	Action  Action      `json:"action"`
	Score   float64     `json:"score"`
	Symbols []Symbol    `json:"symbols"`
	Auth    AuthResults `json:"auth"`
	URLs    []URL       `json:"urls"`
	Images  []Image     `json:"images"`
	// Links are where followed URLs led (only when link following is on).
	Links []LinkChain `json:"links,omitempty"`
	// Attachments are the files the message carries, told by their
	// bytes; Forms the forms asking for a password or an address; QRCodes
	// the QR codes with links. Left out when there are none.
	Attachments []Attachment `json:"attachments,omitempty"`
	Forms       []Form       `json:"forms,omitempty"`
	QRCodes     []string     `json:"qr_codes,omitempty"`
	// DryRunAction is the action dry-run mode softened, when it did.
	DryRunAction Action `json:"dry_run_action,omitempty"`
	Reason       string `json:"reason,omitempty"`
	// Lists are the names of the operator's lists (lists:) that matched
	// and counted for the verdict, sorted.
	Lists []string `json:"lists"`
	// Settings is the settings entry whose policy gave the verdict, when
	// one did.
	Settings string `json:"settings,omitempty"`
	// Recipients are each envelope recipient's own verdict (settings,
	// action, would-be action, score); the verdict above is the most
	// lenient of them (see filters.DecideRecipients).
	Recipients []RcptVerdict `json:"recipients,omitempty"`
}

// NewReport builds the report for a judged message. Empty results are
// rendered as "none" and empty lists as [] so consumers need no null checks.
func NewReport(m *Message, v Verdict) Report {
	r := Report{
		Action:  v.Action,
		Score:   v.Score,
		Symbols: v.Symbols,
		Auth:    m.Facts.Auth,
		URLs:    m.Facts.Content.URLs,
		Images:  withRemote(m.Facts.Content.Images, m.Facts.RemoteImages),
		Links:   m.Facts.Links,
		Reason:  v.Reason,

		Attachments: m.Facts.Content.Attachments,
		Forms:       m.Facts.Content.Forms,
		QRCodes:     m.Facts.Content.QRCodes,
		Lists:       v.ListNames(),

		Settings:   v.Settings,
		Recipients: v.Rcpts,
	}
	if v.WouldBe != v.Action {
		r.DryRunAction = v.WouldBe
	}
	if r.Symbols == nil {
		r.Symbols = []Symbol{}
	}
	if r.URLs == nil {
		r.URLs = []URL{}
	}
	if r.Images == nil {
		r.Images = []Image{}
	}
	if r.Auth.DKIM == nil {
		r.Auth.DKIM = []DKIMResult{}
	}
	if r.Auth.SPF.Result == "" {
		r.Auth.SPF.Result = SPFNone
	}
	if r.Auth.DMARC.Result == "" {
		r.Auth.DMARC.Result = DMARCNone
	}
	if r.Auth.ARC.Result == "" {
		r.Auth.ARC.Result = ARCNone
	}
	return r
}

// withRemote returns imgs with what fetching remote images found (size,
// hashes) filled in, leaving the facts as they are.
func withRemote(imgs, remote []Image) []Image {
	if len(remote) == 0 {
		return imgs
	}
	fetched := make(map[string]Image, len(remote))
	for _, r := range remote {
		fetched[r.Src] = r
	}
	out := make([]Image, len(imgs))
	for i, img := range imgs {
		if r, ok := fetched[img.Src]; ok && (img.Kind == "remote" || img.Kind == "css") {
			img.Size, img.SHA256, img.Width, img.Height, img.Perceptual = r.Size, r.SHA256, r.Width, r.Height, r.Perceptual
		}
		out[i] = img
	}
	return out
}

// WriteTable prints the report for a person.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "action:\t%s\n", r.Action)
	if r.DryRunAction != "" {
		fmt.Fprintf(tw, "dry run:\twould have been %s\n", r.DryRunAction)
	}
	fmt.Fprintf(tw, "score:\t%.2f\n", r.Score)
	if r.Settings != "" {
		fmt.Fprintf(tw, "settings:\t%s\n", r.Settings)
	}
	if len(r.Lists) > 0 {
		fmt.Fprintf(tw, "lists:\t%s\n", strings.Join(r.Lists, " "))
	}
	if r.Reason != "" {
		fmt.Fprintf(tw, "reason:\t%s\n", r.Reason)
	}
	fmt.Fprintf(tw, "spf:\t%s %s\n", r.Auth.SPF.Result, r.Auth.SPF.Domain)
	for _, d := range r.Auth.DKIM {
		fmt.Fprintf(tw, "dkim:\t%s d=%s s=%s\n", d.Result, d.Domain, d.Selector)
	}
	fmt.Fprintf(tw, "dmarc:\t%s %s %s\n", r.Auth.DMARC.Result, r.Auth.DMARC.Domain, r.Auth.DMARC.Policy)
	fmt.Fprintf(tw, "arc:\t%s\n", r.Auth.ARC.Result)
	if len(r.Recipients) > 1 {
		for _, rv := range r.Recipients {
			fmt.Fprintf(tw, "recipient:\t%s\n", rv)
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "SYMBOL\tSCORE\tDETAIL\n")
	for _, s := range r.Symbols {
		fmt.Fprintf(tw, "%s\t%.2f\t%s\n", s.Name, s.Score, oneLine(s.Detail))
	}
	if len(r.URLs) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintf(tw, "URL\tDOMAIN\n")
		for _, u := range r.URLs {
			fmt.Fprintf(tw, "%s\t%s\n", oneLine(u.URL), u.Domain)
		}
	}
	if len(r.Images) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintf(tw, "IMAGE\tKIND\tSIZE\tPHASH\n")
		for _, i := range r.Images {
			size, phash := "", ""
			if i.Width > 0 {
				size = fmt.Sprintf("%dx%d", i.Width, i.Height)
			}
			if !i.Perceptual.IsZero() {
				phash = i.Perceptual.PHex()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", oneLine(i.Src), i.Kind, size, phash)
		}
	}
	return tw.Flush()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
