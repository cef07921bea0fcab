package feedback

import (
	"net/netip"
	"regexp"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/urlcheck"
)

// receivedIP is the address in the "from" clause of a Received field as
// Postfix and Sendmail write it: "from name (rdns [192.0.2.1])" or
// "[IPv6:2001:db8::1]".
var receivedIP = regexp.MustCompile(`\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]`)

// FromTrace recovers from a delivered message (what `vigil learn` and the
// feedback endpoint receive) what the daemon knew when it delivered it, so
// that the keys learned are those that were scored:
//
//   - the client IP from the topmost Received field written by one of
//     ourHosts (the "by" host; any topmost field when ourHosts is empty);
//   - SPF, DKIM and DMARC results from the Authentication-Results field
//     with our authserv-id (RFC 8601 §5: fields with other ids, or that
//     claim ours but were not removed on entry, are not trusted; Vigil
//     strips incoming fields claiming its id);
//   - the MAIL FROM from Return-Path (RFC 5321 §4.4).
//
// It fills only what is still empty in m.
func FromTrace(m *filters.Message, authservID string, ourHosts []string) {
	TraceEnvelope(m, ourHosts)
	a := &m.Facts.Auth
	if a.SPF.Result != "" || len(a.DKIM) > 0 || a.DMARC.Result != "" {
		return
	}
	if ta, ok := TraceAuth(m, authservID); ok {
		*a = ta
	}
}

// TraceEnvelope fills what is still empty of m's envelope from its trace:
// the client IP from the topmost Received field written by one of
// ourHosts (any topmost field when ourHosts is empty), and the MAIL FROM
// from Return-Path (RFC 5321 §4.4).
func TraceEnvelope(m *filters.Message, ourHosts []string) {
	if !m.Envelope.ClientIP.IsValid() {
		m.Envelope.ClientIP = traceClientIP(m, ourHosts)
	}
	if m.Envelope.MailFrom == "" {
		if rp := m.Header("Return-Path"); rp != "" && rp != "<>" {
			if as, ok := filters.ParseAddressList(rp); ok && len(as) == 1 {
				m.Envelope.MailFrom = as[0].String()
			}
		}
	}
}

// TraceAuth returns the SPF, DKIM and DMARC results of the topmost
// Authentication-Results field with our authserv-id (RFC 8601 §5: fields
// with other ids are not trusted; Vigil strips incoming fields claiming
// its id), ok false when there is none.
func TraceAuth(m *filters.Message, authservID string) (filters.AuthResults, bool) {
	var a filters.AuthResults
	if authservID == "" {
		return a, false
	}
	for _, v := range m.HeaderValues("Authentication-Results") {
		id, results, err := authres.Parse(strings.ReplaceAll(v, "\r\n", ""))
		if err != nil || !strings.EqualFold(id, authservID) {
			continue
		}
		for _, r := range results {
			switch r := r.(type) {
			case *authres.SPFResult:
				a.SPF = filters.SPFResult{Result: filters.SPFStatus(r.Value), Domain: addrDomain(r.From), Identity: filters.SPFMailFrom}
				if r.From == "" {
					a.SPF.Domain, a.SPF.Identity = urlcheck.DomainName(r.Helo), filters.SPFHelo
				}
			case *authres.DKIMResult:
				a.DKIM = append(a.DKIM, filters.DKIMResult{Domain: urlcheck.DomainName(r.Domain), Result: filters.DKIMStatus(r.Value), BodyLength: -1})
			case *authres.DMARCResult:
				a.DMARC = filters.DMARCResult{Result: filters.DMARCStatus(r.Value), Domain: urlcheck.DomainName(r.From)}
			}
		}
		return a, true // the topmost field with our id is ours
	}
	return a, false
}

func addrDomain(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return urlcheck.DomainName(s)
}

func traceClientIP(m *filters.Message, ourHosts []string) netip.Addr {
	for i, v := range m.HeaderValues("Received") {
		v = strings.Join(strings.Fields(v), " ")
		from, by, ok := strings.Cut(v, " by ")
		if !ok {
			continue
		}
		if len(ourHosts) == 0 {
			if i > 0 {
				break
			}
		} else if f := strings.Fields(by); len(f) == 0 || !hostIn(f[0], ourHosts) {
			continue
		}
		if mm := receivedIP.FindStringSubmatch(from); mm != nil {
			if ip, err := netip.ParseAddr(mm[1]); err == nil {
				return ip.Unmap()
			}
		}
		return netip.Addr{}
	}
	return netip.Addr{}
}

func hostIn(h string, hosts []string) bool {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	for _, x := range hosts {
		if strings.TrimSuffix(strings.ToLower(x), ".") == h {
			return true
		}
	}
	return false
}
