package feedback

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
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

func TestDigest(t *testing.T) {
	base := parseRaw([]byte(sampleMessage))
	d0, err := Digest(base)
	if err != nil {
		t.Fatal(err)
	}
	same := []struct{ name, raw string }{
		{"crlf line endings", strings.ReplaceAll(sampleMessage, "\n", "\r\n")},
		{"other copy: trace and recipient differ", strings.Replace(strings.Replace(sampleMessage,
			"Delivered-To: alice@example.org", "Delivered-To: bob@example.org\nReceived: from relay", 1),
			"To: alice@example.org", "To: bob@example.org", 1)},
		{"rewrapped body", strings.Replace(sampleMessage, "Hello,\nbuy now", "Hello, buy\nnow", 1)},
		{"subject refolded", strings.Replace(sampleMessage, "exclusive\n offer", "exclusive offer", 1)},
	}
	for _, tc := range same {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := Digest(parseRaw([]byte(tc.raw)))
			if d != d0 {
				t.Fatalf("digest changed: %s vs %s", d, d0)
			}
		})
	}
	differ := []struct{ name, raw string }{
		{"same Message-ID, other body", strings.Replace(sampleMessage, "buy now", "sell now", 1)},
		{"other subject", strings.Replace(sampleMessage, "exclusive", "special", 1)},
		{"other sender", strings.Replace(sampleMessage, "offers@shop.example", "x@shop.example", 1)},
	}
	for _, tc := range differ {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := Digest(parseRaw([]byte(tc.raw)))
			if d == d0 {
				t.Fatal("different messages have the same digest")
			}
		})
	}
}

// parseRaw parses like the daemon and `vigil check` do; malformed input
// yields an empty message.
func parseRaw(raw []byte) *filters.Message {
	m, err := filters.ParseMessage(bytes.NewReader(raw), MaxInputMessage)
	if err != nil {
		return &filters.Message{}
	}
	return m
}
