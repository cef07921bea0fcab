package bayes

import (
	"context"
	"testing"
)

// BenchmarkScore is the message path on corpus messages: tokenize, one
// batched read of an in-memory store, classify.
func BenchmarkScore(b *testing.B) {
	msgs := loadCorpus(b)
	ctx := context.Background()
	store := newMemStore()
	cfg := DefaultConfig()
	for i, cm := range msgs {
		if i%2 == 0 {
			if _, err := Learn(ctx, store, cm.Msg, cm.Spam, cfg); err != nil {
				b.Fatal(err)
			}
		}
	}
	check, err := New(cfg, Deps{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := check.Run(ctx, msgs[(2*i+1)%len(msgs)].Msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenize is the tokenizer alone on corpus messages.
func BenchmarkTokenize(b *testing.B) {
	msgs := loadCorpus(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Tokenize(msgs[i%len(msgs)].Msg, 2000)
	}
}
