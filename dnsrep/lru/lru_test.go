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

// TestAgainstModel runs random operations against a slow, obvious model
// of a bounded LRU with expiry.
func TestAgainstModel(t *testing.T) {
	type ent struct {
		v       int
		exp     time.Time
		touched int
	}
	const size = 8
	c := New[int, int](size)
	model := map[int]*ent{}
	clock := 0
	now := time.Unix(1e9, 0)
	rng := uint64(1)
	next := func(n int) int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int(rng>>33) % n
	}
	for step := 0; step < 20000; step++ {
		k := next(20)
		clock++
		switch next(3) {
		case 0: // get
			v, _, ok := c.Get(k, now)
			e, in := model[k]
			if in && !now.Before(e.exp) {
				delete(model, k)
				in = false
			}
			if ok != in || (ok && v != e.v) {
				t.Fatalf("step %d: Get(%d) = %d %v, model %v", step, k, v, ok, e)
			}
			if in {
				e.touched = clock
			}
		case 1: // put
			exp := now.Add(time.Duration(1+next(5)) * time.Second)
			if e, in := model[k]; in {
				e.v, e.exp, e.touched = step, exp, clock
			} else {
				if len(model) >= size {
					// evict the least recently used of the model
					oldK, oldT := -1, clock+1
					for mk, me := range model {
						if me.touched < oldT {
							oldK, oldT = mk, me.touched
						}
					}
					delete(model, oldK)
				}
				model[k] = &ent{step, exp, clock}
			}
			c.Put(k, step, exp)
		case 2: // time passes
			now = now.Add(time.Second)
		}
		if c.Len() != len(model) || c.Len() > size {
			t.Fatalf("step %d: Len %d, model %d, size %d", step, c.Len(), len(model), size)
		}
	}
}
