// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
)

// Scope is where one scrape reads: the procfs files and netlink socket of
// one network namespace. A Scope lives for one scrape, so values it
// memoises (the sockstat the dump decision shares) are never stale.
type Scope struct {
	Ctx context.Context
	// LabelValues are the values of the scope labels of its samples: its
	// netns label with --netns.discover, none without.
	LabelValues []string

	procPath string
	// tid is 0 for the exporter's own namespace; otherwise the thread that
	// entered a foreign namespace, whose /proc/<pid>/task/<tid>/net shows it.
	tid int

	sockstat sockstatOnce // see Sockstat
}

// OwnScope is the exporter's own network namespace.
func OwnScope(ctx context.Context, procPath string) *Scope {
	return &Scope{Ctx: ctx, procPath: procPath}
}

// ThreadScope is the namespace the calling OS thread (tid) has entered with
// setns. Netlink sockets are bound to the opening thread's namespace and
// /proc/sys/net resolves against it too; the net/ files must be read
// through the thread's own task directory.
func ThreadScope(ctx context.Context, procPath string, tid int, labelValues ...string) *Scope {
	return &Scope{Ctx: ctx, procPath: procPath, tid: tid, LabelValues: labelValues}
}

// Own reports whether s is the exporter's own namespace, which host-wide
// values are exported under.
func (s *Scope) Own() bool { return s.tid == 0 }

// netRoot is the directory whose net/ subdirectory holds this namespace's
// sockstat, netstat and snmp files.
func (s *Scope) netRoot() string {
	if s.tid == 0 {
		return s.procPath
	}
	return filepath.Join(s.procPath, strconv.Itoa(os.Getpid()), "task", strconv.Itoa(s.tid))
}

// NetFile is the path of one file under this namespace's net/ directory.
func (s *Scope) NetFile(name string) string {
	return filepath.Join(s.netRoot(), "net", name)
}

// ReadSysctls reads this namespace's sysctls (see ReadSysctls), on the
// calling thread: in a foreign namespace, the thread that entered it.
func (s *Scope) ReadSysctls() (*Sysctls, error) { return ReadSysctls(s.procPath) }
