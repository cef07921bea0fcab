package lru

import (
	"strconv"
	"testing"
	"time"
)

func TestBoundedAndExpiring(t *testing.T) {
	c := New[string, int](3)
	now := time.Now()
	for i := 0; i < 10; i++ {
		c.Put(strconv.Itoa(i), i, now.Add(time.Hour))
	}
	if c.Len() != 3 {
		t.Errorf("len %d, want 3", c.Len())
	}
	if v, exp, ok := c.Get("9", now); !ok || v != 9 || !exp.Equal(now.Add(time.Hour)) {
		t.Errorf("newest entry: %v %v %v", v, exp, ok)
	}
	if _, _, ok := c.Get("0", now); ok {
		t.Error("oldest entry kept")
	}
	// A read makes an entry recent: "7" survives the next two puts.
	c.Get("7", now)
	c.Put("a", -1, now.Add(time.Hour))
	c.Put("b", -2, now.Add(time.Hour))
	if _, _, ok := c.Get("7", now); !ok {
		t.Error("recently read entry evicted before older ones")
	}
	if _, _, ok := c.Get("9", now.Add(2*time.Hour)); ok {
		t.Error("expired entry returned")
	}
	if n := c.Flush(); n != 3 || c.Len() != 0 {
		t.Errorf("Flush = %d, Len after = %d", n, c.Len())
	}
}

func TestNilCacheHoldsNothing(t *testing.T) {
	var c *Cache[string, int]
	c.Put("a", 1, time.Now().Add(time.Hour))
	if _, _, ok := c.Get("a", time.Now()); ok || c.Len() != 0 || c.Flush() != 0 {
		t.Error("a nil cache held something")
	}
}
