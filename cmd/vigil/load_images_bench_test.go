package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"github.com/vigilmail/vigil/filters/images/imagestest"
	"github.com/vigilmail/vigil/milter/loadgen"
)

// imageLoadMessage is the load message with a picture: an HTML part
// showing a 600 × 400 advertising banner (JPEG quality 80, an inline
// part), the shape of image-only spam and of a newsletter's header.
func imageLoadMessage() []byte {
	src := imagestest.Generate(imagestest.Banner, 11)
	banner := image.NewRGBA(image.Rect(0, 0, 600, 400))
	draw.CatmullRom.Scale(banner, banner.Rect, src, src.Bounds(), draw.Src, nil)
	enc := base64.StdEncoding.EncodeToString(imagestest.JPEG(banner, 80))
	var b strings.Builder
	b.WriteString("From: Sender <sender@example.test>\r\nTo: inbox@example.test\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n" +
		"Message-ID: <load-image@example.test>\r\nSubject: load test with a picture\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/related; boundary=rel\r\n\r\n--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>Hello, this week's offer: <a href=\"https://www.example.test/page\">see it</a></p><img src=\"cid:banner@example.test\">\r\n" +
		"--rel\r\nContent-Type: image/jpeg\r\nContent-ID: <banner@example.test>\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--rel--\r\n")
	return []byte(b.String())
}

// loadMessages are the messages of the image benchmarks.
func loadMessages() []struct {
	name string
	msg  []byte
} {
	return []struct {
		name string
		msg  []byte
	}{{"plain", []byte(defaultLoadMessage)}, {"image", imageLoadMessage()}}
}

// runLoad warms addr up with msg, then drives it for 5 s and reports
// messages/s and p99; with pid (a server in its own process, 0 for none)
// also the server's CPU time per message, which unlike messages/s hardly
// depends on what else the machine runs.
func runLoad(b *testing.B, name, addr string, pid int, msg []byte) {
	o := loadgen.Options{Addr: addr, Conns: 16, Message: msg, ClientIP: "203.0.113.9", From: "bounce@example.test", Messages: 300}
	if r, err := loadgen.Run(context.Background(), o); err != nil || r.Errors > 0 {
		b.Fatalf("%s warm-up: %v %v", name, err, r.FirstError)
	}
	o.Messages, o.Duration = 0, 5*time.Second
	cpu := processCPU(b, pid)
	r, err := loadgen.Run(context.Background(), o)
	if err != nil || r.Errors > 0 {
		b.Fatalf("%s: %v %v", name, err, r.FirstError)
	}
	b.ReportMetric(r.PerSecond, name+"-msg/s")
	b.ReportMetric(float64(r.P99.Microseconds())/1000, name+"-p99-ms")
	if pid > 0 {
		perMsg := float64((processCPU(b, pid) - cpu).Microseconds()) / float64(r.Messages)
		b.ReportMetric(perMsg, name+"-cpu-µs/msg")
		b.Logf("%s: %s; server CPU %.0f µs/message", name, r, perMsg)
		return
	}
	b.Logf("%s: %s", name, r)
}

// processCPU is the user and system time process pid has used, from
// /proc/<pid>/stat (in clock ticks of 10 ms); 0 for pid 0.
func processCPU(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkMilterLoadImages is BenchmarkMilterLoad's in-process Vigil on
// the plain load message and on the message with a picture, in one run:
// with the picture remembered by its SHA-256 after the first message (a
// campaign: one picture, many messages) and with the cache off
// (content.image_hash_cache: 0: every message decodes, as if each carried
// a new picture).
//
//	go test -run '^$' -bench MilterLoadImages -benchtime 1x ./cmd/vigil
func BenchmarkMilterLoadImages(b *testing.B) {
	msgs := loadMessages()
	cached := serveVigil(b)
	uncached := serveVigil(b, "content: {image_hash_cache: 0}")
	for i := 0; i < b.N; i++ {
		runLoad(b, "plain", cached, 0, msgs[0].msg)
		runLoad(b, "image-cached", cached, 0, msgs[1].msg)
		runLoad(b, "image-uncached", uncached, 0, msgs[1].msg)
	}
}

// BenchmarkLoadBeforeAfter compares two builds on one machine in one run:
// VIGIL_LOAD_BEFORE names a vigil binary built from another revision, run
// as `vigil serve` next to this tree's binary with the same configuration
// and DNS data, the two loaded in turn (order alternating each round) with
// the plain message and the message with a picture. Skipped without the
// variable. For example, with main checked out in /tmp/before:
//
//	(cd /tmp/before && go build -o /tmp/vigil-before ./cmd/vigil)
//	VIGIL_LOAD_BEFORE=/tmp/vigil-before go test -run '^$' -bench LoadBeforeAfter -benchtime 3x ./cmd/vigil
func BenchmarkLoadBeforeAfter(b *testing.B) {
	before := os.Getenv("VIGIL_LOAD_BEFORE")
	if before == "" {
		b.Skip("VIGIL_LOAD_BEFORE names no binary to compare with")
	}
	type server struct {
		addr string
		pid  int
	}
	// The daemons' warnings (the load generator hangs up at the end of a
	// run) would bury the figures.
	servers := map[string]server{}
	for which, bin := range map[string]string{"before": before, "after": vigilBinary(b)} {
		addr, pid := startVigilBinary(b, bin, false, io.Discard)
		servers[which] = server{addr, pid}
	}
	// This build with the picture cache off: every message decodes, as if
	// each carried a picture never seen.
	addr, pid := startVigilBinary(b, vigilBinary(b), false, io.Discard, "content: {image_hash_cache: 0}")
	servers["after-nocache"] = server{addr, pid}
	for i := 0; i < b.N; i++ {
		order := []string{"before", "after"}
		if i%2 == 1 {
			order = []string{"after", "before"}
		}
		for _, m := range loadMessages() {
			for _, which := range order {
				runLoad(b, fmt.Sprintf("%s-%s", which, m.name), servers[which].addr, servers[which].pid, m.msg)
			}
			if m.name == "image" {
				runLoad(b, "after-nocache-image", servers["after-nocache"].addr, servers["after-nocache"].pid, m.msg)
			}
		}
	}
}
