package runbook

import (
	"net/url"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	probeKeys     = []string{"tcp", "http"}
	httpProbeKeys = []string{"url", "expect", "keepalive", "timeout"}
)

// HTTP probe defaults (SPEC §3).
const (
	defaultExpect       = 200
	defaultKeepAlive    = 1
	defaultProbeTimeout = 10 * time.Second
)

func (l *loader) decodeProbe(n *yaml.Node) *Probe {
	fs := l.mapping(n, "probe")
	l.only(fs, "probe", probeKeys...)
	p := &Probe{Pos: pos(fs.node)}
	for _, item := range l.strItems(fs.get("tcp"), "tcp") {
		if msg := checkHostPort(item.Value, true); msg != "" {
			l.errorf(item, "tcp target %q %s", item.Value, msg)
			continue
		}
		p.TCP = append(p.TCP, item.Value)
	}
	for _, item := range l.list(fs.get("http"), "http") {
		if hp, ok := l.decodeHTTPProbe(item); ok {
			p.HTTP = append(p.HTTP, hp)
		}
	}
	if fs.get("tcp") == nil && fs.get("http") == nil && (fs.node == nil || fs.node.Kind == yaml.MappingNode || isNull(fs.node)) {
		l.errorf(n, "probe checks nothing: give tcp: [HOST:PORT] or http: [{url: URL}]")
	}
	return p
}

// decodeHTTPProbe reads one http target; a plain string is short for
// {url: STRING}.
func (l *loader) decodeHTTPProbe(n *yaml.Node) (HTTPProbe, bool) {
	hp := HTTPProbe{Expect: defaultExpect, KeepAlive: defaultKeepAlive, Timeout: defaultProbeTimeout, Pos: pos(n)}
	urlNode := n
	if n.Kind != yaml.ScalarNode {
		fs := l.mapping(n, "an http probe")
		if fs.node == nil || fs.node.Kind != yaml.MappingNode {
			return hp, false
		}
		l.only(fs, "an http probe", httpProbeKeys...)
		if urlNode = fs.get("url"); urlNode == nil {
			l.errorf(n, "http probe has no url: add url: http://HOST:PORT/PATH")
		}
		if v, ok := l.integer(fs.get("expect"), "expect", 100); ok {
			if v > 599 {
				l.errorf(fs.get("expect"), "expect must be an HTTP status from 100 to 599, not %d", v)
			}
			hp.Expect = v
		}
		if v, ok := l.integer(fs.get("keepalive"), "keepalive", 1); ok {
			hp.KeepAlive = v
		}
		if v, ok := l.duration(fs.get("timeout"), "timeout"); ok {
			hp.Timeout = v
		}
	}
	if urlNode == nil {
		return hp, false
	}
	hp.URL = l.nonEmpty(urlNode, "url")
	if hp.URL == "" {
		return hp, false
	}
	u, err := url.Parse(hp.URL)
	switch {
	case err != nil:
		l.errorf(urlNode, "url %q does not parse (%v): write it like http://localhost:8080/health", hp.URL, unwrapURLError(err))
		return hp, false
	case u.Scheme != "http" && u.Scheme != "https":
		l.errorf(urlNode, "url %q must start with http:// or https://", hp.URL)
		return hp, false
	case u.Host == "":
		l.errorf(urlNode, "url %q has no host: write it like http://localhost:8080/health", hp.URL)
		return hp, false
	}
	return hp, true
}

// unwrapURLError drops url.Error's repetition of the URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
