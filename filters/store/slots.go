package store

import (
	"strings"
	"sync"
)

// Redis Cluster places every key in one of 16384 hash slots (Redis Cluster
// specification, "Key distribution model"): CRC16 (XMODEM: polynomial
// 0x1021, initial value 0) of the key, modulo 16384. When the key holds a
// "{...}" with at least one byte between the first "{" and the first "}"
// after it, only those bytes are hashed (a hash tag): keys with the same tag
// share a slot, and only keys of one slot may meet in one command, script
// or transaction.
const clusterSlots = 16384

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(s string) uint16 {
	var c uint16
	for i := 0; i < len(s); i++ {
		c = c<<8 ^ crc16Table[byte(c>>8)^s[i]]
	}
	return c
}

// keySlot is the hash slot of key, as the cluster computes it.
func keySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			key = key[open+1 : open+1+n]
		}
	}
	return int(crc16(key) % clusterSlots)
}

var (
	slotTagsOnce sync.Once
	slotTags     [clusterSlots]string
)

// slotTag returns a short hash tag (without braces) whose slot is slot: a
// key written "...{tag}..." lands in the same slot as any other key of that
// slot, whatever its name. Learning in a cluster uses it to keep a marker
// next to the counts it guards, so one script can update both. The tags
// are the first strings of the alphabet below, by length then order, that
// hash to each slot: the same on every node and in every version.
func slotTag(slot int) string {
	slotTagsOnce.Do(func() {
		const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		left := clusterSlots
		buf := make([]byte, 0, 4)
		var walk func(depth int) bool
		walk = func(depth int) bool {
			if depth == 0 {
				s := string(buf)
				if sl := crc16(s) % clusterSlots; slotTags[sl] == "" {
					slotTags[sl] = s
					left--
				}
				return left == 0
			}
			for i := 0; i < len(alphabet); i++ {
				buf = append(buf, alphabet[i])
				done := walk(depth - 1)
				buf = buf[:len(buf)-1]
				if done {
					return true
				}
			}
			return false
		}
		// Three characters cover every slot (62^3 strings for 16384
		// slots); four are there should they not.
		for n := 1; n <= 4 && !walk(n); n++ {
		}
	})
	return slotTags[slot]
}
