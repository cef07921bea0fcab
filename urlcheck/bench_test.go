package urlcheck

import (
	"strings"
	"testing"
)

func BenchmarkExtractText(b *testing.B) {
	text := strings.Repeat("Dear customer, visit https://www.example.com/account?id=42 or write to help@example.org. "+
		"Our partner example.co.uk/offers has deals; version 1.2.3.4 of node.js is out (dot) com.\n", 2000)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		ExtractText(text)
	}
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Normalize("https://Nam02.SafeLinks.Protection.Outlook.com/?url=https%3A%2F%2Fp\u0430ypal.example%2Fx&data=1")
	}
}
