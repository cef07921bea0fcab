package dnsrep

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
)

// Failure names why a server or a list gave no usable answer, in the words
// `vigil doctor` prints. Each is a different fix for the operator, so they
// are never folded into one another: a refused connection is not a
// timeout, and a network without a route is not a port we could not bind.
type Failure string

const (
	// FailRefused: the server's host answered that nothing listens on that
	// port (TCP RST; for UDP the ICMP port unreachable, RFC 1122 §4.1.3.1).
	FailRefused Failure = "refused"
	// FailUnreachable: no route to the server's network or host.
	FailUnreachable Failure = "unreachable"
	// FailTimeout: the question went out and no answer came in time.
	FailTimeout Failure = "timeout"
	// FailCannotBind: the local source address or port could not be used.
	FailCannotBind Failure = "cannot bind"
	// FailNeedsRoot: a source port below 1024 needs root or
	// CAP_NET_BIND_SERVICE; not a fault of the server.
	FailNeedsRoot Failure = "needs root"
	// FailServFail: the resolver answered SERVFAIL (RFC 1035 §4.1.1).
	FailServFail Failure = "servfail"
	// FailQueryRefused: the resolver answered REFUSED (RFC 1035 §4.1.1),
	// e.g. it does not recurse for this client.
	FailQueryRefused Failure = "query refused"
	// FailListRefused: the list answered with a refusal code
	// (127.255.255.0/24, an answer outside 127/8, or a list-specific code):
	// it refuses queries from this resolver (public resolvers, volume).
	FailListRefused Failure = "list refused"
	// FailWrongAnswer: the list answered, wrongly: its listed test point is
	// not listed, or its clean one is (RFC 5782 §5).
	FailWrongAnswer Failure = "wrong answer"
	// FailOther: anything else; the detail says what.
	FailOther Failure = "failed"
)

// TransportFailure classifies an error of sending a question or reading
// the answer (any network client's, not only DNS). Errors it does not
// recognise, a firewall's EPERM on send among them, are FailOther: the
// error's own text is the detail.
func TransportFailure(err error) Failure {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailRefused
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return FailUnreachable
	case errors.Is(err, syscall.EADDRINUSE), errors.Is(err, syscall.EADDRNOTAVAIL):
		return FailCannotBind
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return FailTimeout
	}
	return FailOther
}

// LookupFailure classifies the error of a lookup (a *LookupError, a list
// refusal, or a transport error).
func LookupFailure(err error) Failure {
	if err == nil {
		return ""
	}
	if errors.Is(err, ErrListRefused) {
		return FailListRefused
	}
	var le *LookupError
	if errors.As(err, &le) {
		if le.Err != nil {
			if f := TransportFailure(le.Err); f != FailOther {
				return f
			}
		}
		switch le.Status {
		case ServFail:
			return FailServFail
		case Refused:
			return FailQueryRefused
		case Timeout:
			return FailTimeout
		case Unreachable:
			return FailUnreachable
		}
	}
	if f := TransportFailure(err); f != FailOther {
		return f
	}
	return FailOther
}
