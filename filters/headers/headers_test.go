package headers

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
)

func TestHeaders(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want []string
	}{
		{"complete", "From: a@b.example\nDate: Sat, 28 Nov 2026 06:00:00 +0000\nMessage-ID: <1@b>\nSubject: x\n\nbody\n", nil},
		{"bare", "X-Foo: 1\n\nbody\n", []string{"MISSING_DATE", "MISSING_FROM", "MISSING_MESSAGE_ID", "MISSING_SUBJECT"}},
		{"two froms bad date", "From: a@b\nFrom: c@d\nDate: yesterday\nMessage-ID: <1@b>\nSubject: x\n\n", []string{"INVALID_DATE", "MULTIPLE_FROM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := filters.ParseMessage(strings.NewReader(tt.msg), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := New(Config{}, Deps{})
			syms, err := c.Run(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range syms {
				got = append(got, s.Name)
				if s.Score < 0 || s.Score > 1 {
					t.Errorf("%s scores %v: header sanity alone must stay weak", s.Name, s.Score)
				}
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("symbols %v, want %v", got, tt.want)
			}
		})
	}
}
