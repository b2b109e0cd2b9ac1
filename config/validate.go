// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// nameRE keeps destination names usable as label values and in PromQL
// regex matchers without quoting surprises.
var nameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.-]*$`)

// validator converts a rawConfig into a Config, collecting every problem
// with its field path and line instead of stopping at the first.
type validator struct {
	root *yaml.Node
	errs []lineError
}

func (v *validator) errorf(p path, format string, args ...any) {
	v.errs = append(v.errs, lineError{
		line: lineOf(v.root, p),
		msg:  p.String() + ": " + fmt.Sprintf(format, args...),
	})
}

// validate checks raw and returns the Config built from it; the Config is
// only meaningful when no errors are returned. Sections for which skip
// returns true are not checked (decoding already failed there).
func validate(raw *rawConfig, root *yaml.Node, skip func(section string) bool) (*Config, []lineError) {
	v := &validator{root: root}
	cfg := &Config{}
	if !skip("destinations") {
		cfg.Destinations = v.destinations(raw.Destinations)
	}
	if !skip("ports") {
		cfg.Ports = v.ports(raw.Ports)
	}
	if !skip("top_n") {
		cfg.TopN = v.topN(raw.TopN)
	}
	if !skip("netns") {
		cfg.Netns = v.netns(raw.Netns)
	}
	if !skip("doctor") {
		cfg.Doctor = v.doctor(raw.Doctor)
	}
	return cfg, v.errs
}

func (v *validator) destinations(raws []rawDestination) []Destination {
	var (
		dests     []Destination
		nameAt    = map[string]int{}
		addressAt = map[netip.AddrPort]int{}
	)
	for i, r := range raws {
		p := path{"destinations", i}
		if first, dup := nameAt[r.Name]; dup && r.Name != "" {
			v.errorf(p.with("name"), "duplicate name %q (also destinations[%d])", r.Name, first)
		} else {
			v.name(p.with("name"), r.Name)
			nameAt[r.Name] = i
		}

		ap, err := parseAddress(r.Address)
		if err != nil {
			v.errorf(p.with("address"), "%v", err)
		} else if first, dup := addressAt[ap]; dup {
			v.errorf(p.with("address"), "duplicate address %q (same as destinations[%d])", r.Address, first)
		} else {
			addressAt[ap] = i
		}
		dests = append(dests, Destination{Name: r.Name, Address: r.Address, AddrPort: ap})
	}
	return dests
}

func (v *validator) name(p path, name string) {
	switch {
	case name == "":
		v.errorf(p, "must not be empty")
	case !nameRE.MatchString(name):
		v.errorf(p, "%q is not a valid name (must match %s)", name, nameRE)
	}
}

// parseAddress parses "IP:port" strictly: the exporter matches destinations
// against socket addresses, so hostnames (which would need resolving) and
// port 0 (never a real peer) are rejected.
func parseAddress(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, errors.New("must not be empty")
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		if ip, perr := netip.ParseAddr(s); perr == nil && ip.Is6() {
			// A bare IPv6 address: its last group may well be a port the
			// user meant, so say how to write one unambiguously.
			return netip.AddrPort{}, fmt.Errorf("%q is missing a port (write IPv6 addresses as \"[%s]:port\")", s, s)
		}
		var ae *net.AddrError
		if errors.As(err, &ae) && strings.Contains(ae.Err, "missing port") {
			return netip.AddrPort{}, fmt.Errorf("%q is missing a port", s)
		}
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP:port address", s)
	}
	ip, err := parseIP(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %w", s, err)
	}
	port, err := parsePort(portStr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %w", s, err)
	}
	return netip.AddrPortFrom(ip, port), nil
}

func parseIP(host string) (netip.Addr, error) {
	if host == "" {
		return netip.Addr{}, errors.New("missing IP address")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address (hostnames are not resolved)", host)
	}
	if ip.Zone() != "" {
		// Socket dumps carry no zone, so a zoned address could never match.
		return netip.Addr{}, fmt.Errorf("%q: IPv6 zones are not supported", host)
	}
	return ip.Unmap(), nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s is out of range 1-65535", s)
	}
	return uint16(n), nil
}

func (v *validator) ports(raws []int) []uint16 {
	var (
		ports []uint16
		seen  = map[int]int{}
	)
	for i, port := range raws {
		p := path{"ports", i}
		if !v.integer(p) {
			continue
		}
		if port < 1 || port > 65535 {
			v.errorf(p, "port %d is out of range 1-65535", port)
			continue
		}
		if first, dup := seen[port]; dup {
			v.errorf(p, "duplicate port %d (also ports[%d])", port, first)
			continue
		}
		seen[port] = i
		ports = append(ports, uint16(port))
	}
	return ports
}

func (v *validator) topN(n int) int {
	if !v.integer(path{"top_n"}) {
		return n
	}
	if n < 0 || n > MaxTopN {
		v.errorf(path{"top_n"}, "%d is out of range 0-%d", n, MaxTopN)
	}
	return n
}

func (v *validator) netns(raw rawNetns) Netns {
	n := Netns{
		Include:       raw.Include,
		Exclude:       raw.Exclude,
		IncludeRE:     v.regexp(path{"netns", "include"}, raw.Include),
		ExcludeRE:     v.regexp(path{"netns", "exclude"}, raw.Exclude),
		Detail:        raw.Detail,
		DetailRE:      v.regexp(path{"netns", "detail"}, raw.Detail),
		MaxNamespaces: raw.MaxNamespaces,
		Dump:          raw.Dump,
	}
	if n.Dump != DumpAll && n.Dump != DumpBusy {
		v.errorf(path{"netns", "dump"}, "%q must be %q or %q", n.Dump, DumpAll, DumpBusy)
	}
	if v.integer(path{"netns", "max_namespaces"}) && n.MaxNamespaces < 1 {
		v.errorf(path{"netns", "max_namespaces"}, "%d must be at least 1", n.MaxNamespaces)
	}
	return n
}

// integer reports whether the value at p, if the file sets it, is written
// as an integer. yaml.v3 decodes 1.5 into an int field as 1 without a word;
// a silently truncated setting is worse than an error.
func (v *validator) integer(p path) bool {
	n := lookup(v.root, p)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() == "!!int" {
		return true
	}
	v.errorf(p, "%s is not an integer", n.Value)
	return false
}

// regexp compiles expr; an empty expr means "no filter" and yields nil.
func (v *validator) regexp(p path, expr string) *regexp.Regexp {
	if expr == "" {
		return nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
		v.errorf(p, "%q is not a valid regular expression: %s", expr, msg)
		return nil
	}
	return re
}

func (v *validator) doctor(raw rawDoctor) Doctor {
	d := Doctor(raw)
	warnPath := path{"doctor", "utilization_warning"}
	critPath := path{"doctor", "utilization_critical"}
	warnOK := v.ratio(warnPath, d.UtilizationWarning)
	critOK := v.ratio(critPath, d.UtilizationCritical)
	if !warnOK || !critOK || d.UtilizationWarning < d.UtilizationCritical {
		return d
	}
	// Blame the threshold the file actually sets: if only one is set, the
	// other is a default the user never wrote.
	if lookup(v.root, warnPath) != nil {
		v.errorf(warnPath, "%v must be less than utilization_critical (%v)", d.UtilizationWarning, d.UtilizationCritical)
	} else {
		v.errorf(critPath, "%v must be greater than utilization_warning (%v)", d.UtilizationCritical, d.UtilizationWarning)
	}
	return d
}

// ratio checks 0 < r <= 1; written so that NaN fails too.
func (v *validator) ratio(p path, r float64) bool {
	if r > 0 && r <= 1 {
		return true
	}
	v.errorf(p, "%v is out of range (must be > 0 and <= 1)", r)
	return false
}
