package reputation

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/store"
)

const sampleMessage = `Received: from mx.example.net by us; Mon, 1 Jan 2024 00:00:00 +0000
Delivered-To: alice@example.org
From: Offers <offers@shop.example>
To: alice@example.org
Subject: Your   exclusive
 offer
Date: Mon, 1 Jan 2024 00:00:00 +0000
Message-ID: <abc@shop.example>

Hello,
buy now at http://shop.example/deal
`

func TestLearn(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	m := parseRaw([]byte(sampleMessage))
	m.Facts.Content.Domains = []string{"shop.example"}
	steps := []struct {
		class store.Class
		want  store.Outcome
		spam  float64
		ham   float64
	}{
		{store.Spam, store.Learned, 1, 0},
		{store.Spam, store.Duplicate, 1, 0},
		{store.Ham, store.Moved, 0, 1},
	}
	for _, step := range steps {
		res, err := Learn(ctx, st, m, step.class)
		if err != nil || res.Outcome != step.want || res.Keys == 0 || len(res.Digest) != 64 {
			t.Fatalf("Learn(%s) = %+v, %v; want outcome %s", step.class, res, err, step.want)
		}
		c, err := st.Counts(ctx, []string{"domain:shop.example"})
		if err != nil || c[0].Spam != step.spam || c[0].Ham != step.ham {
			t.Fatalf("after %s: counts %+v %v, want spam %v ham %v", step.class, c, err, step.spam, step.ham)
		}
	}
	// Another copy of the same message (other recipient) is a duplicate.
	copy2 := parseRaw([]byte(strings.Replace(sampleMessage, "To: alice@", "To: bob@", 1)))
	copy2.Facts = m.Facts
	if res, err := Learn(ctx, st, copy2, store.Ham); err != nil || res.Outcome != store.Duplicate {
		t.Fatalf("copy: %+v %v", res, err)
	}
	if _, err := Learn(ctx, st, m, store.Class("maybe")); err == nil {
		t.Fatal("unknown class accepted")
	}
}

// parseRaw parses like the daemon and `vigil check` do; malformed input
// yields an empty message.
func parseRaw(raw []byte) *filters.Message {
	m, err := filters.ParseMessage(bytes.NewReader(raw), feedback.MaxInputMessage)
	if err != nil {
		return &filters.Message{}
	}
	return m
}

func FuzzTraceDigestKeys(f *testing.F) {
	f.Add([]byte(sampleMessage))
	f.Add([]byte("\n\n"))
	f.Add([]byte(" folded first\nA: b\n"))
	f.Add([]byte("Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=a@b.example; dkim=pass header.d=b.example\nReceived: from x ([192.0.2.1]) by mx.example.org\n\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := parseRaw(raw)
		feedback.FromTrace(m, "mx.example.org", []string{"mx.example.org"})
		if _, err := feedback.Digest(m); err != nil {
			t.Fatal(err)
		}
		Keys(m)
	})
}

func TestFromTrace(t *testing.T) {
	raw := "Return-Path: <bounce@mail.shop.example>\n" +
		"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=bounce@mail.shop.example;\n" +
		" dkim=pass header.d=shop.example header.s=s1; dkim=fail header.d=evil.example;\n" +
		" dmarc=pass header.from=shop.example\n" +
		"Authentication-Results: mx.example.org; spf=fail smtp.mailfrom=x@forged.example\n" +
		"Received: from relay.internal (relay.internal [10.0.0.5])\n by mailbox.example.org (Postfix) with ESMTP id 1; Mon, 1 Jan 2024 00:00:01 +0000\n" +
		"Received: from mail.shop.example (mail.shop.example [IPv6:2001:db8::25])\n by mx.example.org (Postfix) with ESMTPS id 2; Mon, 1 Jan 2024 00:00:00 +0000\n" +
		"Authentication-Results: other.example; spf=pass smtp.mailfrom=x@liar.example\n" +
		"From: Shop <news@shop.example>\n\nhi\n"
	m := parseRaw([]byte(raw))
	feedback.FromTrace(m, "mx.example.org", []string{"MX.example.org."})
	if got := m.Envelope.ClientIP.String(); got != "2001:db8::25" {
		t.Errorf("ClientIP = %s, want the one our MX received from", got)
	}
	if m.Envelope.MailFrom != "bounce@mail.shop.example" {
		t.Errorf("MailFrom = %q", m.Envelope.MailFrom)
	}
	a := m.Facts.Auth
	if a.SPF.Result != "pass" || a.SPF.Domain != "mail.shop.example" || a.DMARC.Result != "pass" || a.DMARC.Domain != "shop.example" {
		t.Errorf("SPF %+v DMARC %+v", a.SPF, a.DMARC)
	}
	if len(a.DKIM) != 2 || a.DKIM[0].Domain != "shop.example" || a.DKIM[0].Result != "pass" || a.DKIM[1].Result != "fail" {
		t.Errorf("DKIM %+v", a.DKIM)
	}
	ids := keyIDs(Keys(m))
	for _, want := range []string{"ip:2001:db8::25", "sender:shop.example", "sender:mail.shop.example"} {
		if _, ok := ids[want]; !ok {
			t.Errorf("missing key %s in %v", want, ids)
		}
	}
	if _, ok := ids["sender:liar.example"]; ok {
		t.Error("trusted a foreign Authentication-Results")
	}

	// Without our host names, the topmost Received counts (here: private,
	// so no IP key), and without our authserv-id nothing is trusted.
	m2 := parseRaw([]byte(raw))
	feedback.FromTrace(m2, "", nil)
	if m2.Envelope.ClientIP.String() != "10.0.0.5" || m2.Facts.Auth.SPF.Result != "" {
		t.Errorf("ClientIP %s, SPF %+v", m2.Envelope.ClientIP, m2.Facts.Auth.SPF)
	}
}
