package runbook

import (
	"net"
	"strconv"
	"strings"
)

// checkHostPort checks a HOST[:PORT] address (HOST:PORT when needPort) and
// returns what is wrong with it, phrased to follow the address in a
// message, or "" when it is fine.
func checkHostPort(s string, needPort bool) string {
	if strings.Contains(s, "@") {
		return "must not hold a user: write the user in user: (or user@host:port for via)"
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if needPort {
			return "must be HOST:PORT with a numeric port, like db.example.com:3306"
		}
		host, port = s, ""
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			host = s[1 : len(s)-1]
		}
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return "must be HOST or HOST:PORT, like 10.1.0.5 or 10.1.0.5:2222"
		}
	}
	if host == "" || strings.ContainsAny(host, " \t/\\") {
		return "must be HOST or HOST:PORT, like 10.1.0.5 or 10.1.0.5:2222"
	}
	// What is dialled is host:port joined again: a host that does not
	// come back out of it whole (a stray bracket) could never be reached.
	if h, _, err := net.SplitHostPort(net.JoinHostPort(host, "22")); err != nil || h != host {
		return "must be HOST or HOST:PORT, like 10.1.0.5 or 10.1.0.5:2222"
	}
	if needPort && port == "" {
		return "must be HOST:PORT with a numeric port, like db.example.com:3306"
	}
	if port != "" {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return "has port " + strconv.Quote(port) + ": use a number from 1 to 65535"
		}
	}
	return ""
}
