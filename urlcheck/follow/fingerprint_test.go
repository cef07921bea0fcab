package follow

import (
	"strings"
	"testing"
)

func TestPageFingerprint(t *testing.T) {
	base := `<html><head><title>Account</title><script>track("abc")</script><style>p{}</style></head>
<body><p>Dear customer, your account at secure-bank.example has been limited.</p>
<p>Order 12345 placed on 2026-11-28 needs confirmation within 24 hours.</p>
<input placeholder="Card number"><button>Confirm</button></body></html>`
	tests := []struct {
		name  string
		page  string
		match bool
		exact bool
	}{
		{"same", base, true, true},
		{"other domain and numbers", strings.NewReplacer("secure-bank.example", "new-domain.test", "12345", "99881", "2026-11-28", "2027-01-03").Replace(base), true, true},
		{"script and markup changed", strings.NewReplacer(`track("abc")`, `track("zzz")`, "<p>", "<div>", "</p>", "</div>").Replace(base), true, true},
		// SimHash is only stable on pages of some length: on a page of 24
		// words one changed word moves about 7 of 64 bits.
		{"one word changed, short page", strings.Replace(base, "Dear customer", "Dear client", 1), false, false},
		{"different page", `<p>Minutes of the quarterly board meeting: attendance, budget review and the roadmap for next year.</p>`, false, false},
	}
	fp := PageFingerprint([]byte(base), true)
	if fp.IsZero() || fp.Words < minWords {
		t.Fatalf("base page not fingerprinted: %+v", fp)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := PageFingerprint([]byte(tt.page), true)
			if fp.Matches(g) != tt.match || (fp.Hash == g.Hash) != tt.exact {
				t.Errorf("match %v exact %v (%+v vs %+v), want match %v exact %v", fp.Matches(g), fp.Hash == g.Hash, fp, g, tt.match, tt.exact)
			}
		})
	}
	long := base + strings.Repeat("<p>We take the security of your account very seriously and monitor every sign in from a new device or location.</p>", 5)
	edited := strings.Replace(long, "Dear customer", "Dear client", 1)
	if a, b := PageFingerprint([]byte(long), true), PageFingerprint([]byte(edited), true); a.Hash == b.Hash || !a.Matches(b) {
		t.Errorf("one word changed on a longer page: %+v vs %+v, want a near match", a, b)
	}
	if short := PageFingerprint([]byte("<p>Loading...</p>"), true); !short.IsZero() || short.Matches(short) {
		t.Errorf("a near-empty page got a fingerprint: %+v", short)
	}
}

func TestFingerprintKeys(t *testing.T) {
	a := Fingerprint{Hash: "aa", Sim: 0x1111_2222_3333_4444}
	b := Fingerprint{Hash: "bb", Sim: 0x1111_2222_3333_4444 ^ 0x0001_0001_0001} // 3 bits apart
	ka, kb := a.Keys(), b.Keys()
	if len(ka) != 1+SimBands {
		t.Fatalf("keys %v", ka)
	}
	shared := 0
	for _, k := range ka[1:] {
		for _, l := range kb[1:] {
			if k == l {
				shared++
			}
		}
	}
	if !a.Matches(b) || shared == 0 {
		t.Errorf("near fingerprints: match %v, shared bands %d", a.Matches(b), shared)
	}
	if (Fingerprint{}).Keys() != nil {
		t.Error("empty fingerprint has keys")
	}
}

func TestBrandMismatch(t *testing.T) {
	tests := []struct {
		text, domain, brand string
		mismatch            bool
	}{
		{"Sign in to PayPal", "paypal.com", "paypal", false},
		{"Sign in to PayPal", "paypal-secure.xyz", "paypal", true},
		{"Open your Microsoft 365 mailbox", "microsoftonline.com", "microsoft", false},
		{"Open your OneDrive file", "evil.example", "onedrive", true},
		{"www.mybank.co.uk", "mybank.co.uk", "mybank.co.uk", false},
		{"https://www.mybank.co.uk/login", "mybank-login.com", "mybank.co.uk", true},
		{"Click here", "anything.example", "", false},
		{"", "anything.example", "", false},
		{"Webmail login", "anything.example", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.text+"@"+tt.domain, func(t *testing.T) {
			brand, m := BrandMismatch(tt.text, tt.domain)
			if brand != tt.brand || m != tt.mismatch {
				t.Errorf("BrandMismatch = %q, %v; want %q, %v", brand, m, tt.brand, tt.mismatch)
			}
		})
	}
}

func FuzzPageFingerprint(f *testing.F) {
	f.Add([]byte("<p>a b c d e f g h i j</p>"))
	f.Fuzz(func(t *testing.T, page []byte) {
		a := PageFingerprint(page, true)
		if a != PageFingerprint(page, true) {
			t.Fatal("fingerprint is not deterministic")
		}
		if !a.IsZero() && !a.Matches(a) {
			t.Fatal("fingerprint does not match itself")
		}
		_ = hasPasswordInput(page)
	})
}
