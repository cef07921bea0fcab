package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/textproto"
	"strings"
)

// A small SMTP client (RFC 5321) for the e2e tests: net/smtp cannot send
// XCLIENT, and the tests need to see the reply of every step, including a
// refusal of MAIL or RCPT, and then carry on with RSET on the same
// connection.

type xclientArgs struct {
	Addr string // XCLIENT ADDR=
	Name string // XCLIENT NAME=
}

type smtpMessage struct {
	From  string
	Rcpts []string
	Data  []byte // LF or CRLF; dot-stuffed here
}

// smtpResult is where one transaction ended and with which reply.
type smtpResult struct {
	// Stage: "mail", "rcpt", "data" (the DATA command itself) or "eom"
	// (the reply after the final dot).
	Stage string
	// Reply is "CODE text" (multi-line replies joined with a space).
	Reply string
}

// sendSMTP sends msgs on one connection to addr (loopback only) and returns
// one result per message. An error means the session itself broke (no
// greeting, a dropped connection, a timeout), not a refused message.
func sendSMTP(ctx context.Context, addr, ehlo string, xclient *xclientArgs, helo string, msgs []smtpMessage) ([]smtpResult, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("smtp: %s is not a loopback address", addr)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := textproto.NewConn(conn)

	cmd := func(format string, args ...any) (int, string, error) {
		if err := c.PrintfLine(format, args...); err != nil {
			return 0, "", fmt.Errorf("smtp: %s: %w", strings.Fields(format)[0], err)
		}
		return readReply(c)
	}
	expect := func(want int, format string, args ...any) error {
		code, msg, err := cmd(format, args...)
		if err != nil {
			return err
		}
		if code != want {
			return fmt.Errorf("smtp: %s: got %d %s, want %d", strings.Fields(format)[0], code, msg, want)
		}
		return nil
	}

	if code, msg, err := readReply(c); err != nil || code != 220 {
		return nil, fmt.Errorf("smtp: greeting: %d %s %v", code, msg, err)
	}
	if err := expect(250, "EHLO %s", ehlo); err != nil {
		return nil, err
	}
	if xclient != nil {
		// XCLIENT (Postfix XCLIENT_README): the server answers with a new
		// 220 greeting, and the client must say EHLO again.
		if err := expect(220, "XCLIENT ADDR=%s NAME=%s", xclient.Addr, xclient.Name); err != nil {
			return nil, err
		}
		if err := expect(250, "EHLO %s", helo); err != nil {
			return nil, err
		}
	}

	var results []smtpResult
	for _, m := range msgs {
		r, err := transaction(c, cmd, m)
		if err != nil {
			return results, err
		}
		results = append(results, r)
		if r.Stage != "eom" || !strings.HasPrefix(r.Reply, "2") {
			// RFC 5321 §4.1.1.5: RSET aborts the transaction, the session goes on.
			if err := expect(250, "RSET"); err != nil {
				return results, err
			}
		}
	}
	_, _, _ = cmd("QUIT")
	return results, nil
}

func transaction(c *textproto.Conn, cmd func(string, ...any) (int, string, error), m smtpMessage) (smtpResult, error) {
	reply := func(code int, msg string) string { return fmt.Sprintf("%d %s", code, msg) }
	code, msg, err := cmd("MAIL FROM:<%s>", m.From)
	if err != nil {
		return smtpResult{}, err
	}
	if code != 250 {
		return smtpResult{Stage: "mail", Reply: reply(code, msg)}, nil
	}
	accepted := 0
	var last smtpResult
	for _, rcpt := range m.Rcpts {
		code, msg, err := cmd("RCPT TO:<%s>", rcpt)
		if err != nil {
			return smtpResult{}, err
		}
		if code == 250 || code == 251 {
			accepted++
		} else {
			last = smtpResult{Stage: "rcpt", Reply: reply(code, msg)}
		}
	}
	if accepted == 0 {
		return last, nil
	}
	code, msg, err = cmd("DATA")
	if err != nil {
		return smtpResult{}, err
	}
	if code != 354 {
		return smtpResult{Stage: "data", Reply: reply(code, msg)}, nil
	}
	w := c.DotWriter() // dot-stuffing and the final "." (RFC 5321 §4.5.2)
	if _, err := w.Write(bytes.ReplaceAll(m.Data, []byte("\r\n"), []byte("\n"))); err != nil {
		return smtpResult{}, fmt.Errorf("smtp: data: %w", err)
	}
	if err := w.Close(); err != nil {
		return smtpResult{}, fmt.Errorf("smtp: data: %w", err)
	}
	code, msg, err = readReply(c)
	if err != nil {
		return smtpResult{}, err
	}
	return smtpResult{Stage: "eom", Reply: reply(code, msg)}, nil
}

// readReply reads one (possibly multi-line) reply.
func readReply(c *textproto.Conn) (int, string, error) {
	code, msg, err := c.ReadResponse(0)
	if err != nil {
		if _, ok := err.(*textproto.Error); !ok {
			return 0, "", fmt.Errorf("smtp: reply: %w", err)
		}
	}
	return code, strings.ReplaceAll(msg, "\n", " "), nil
}
