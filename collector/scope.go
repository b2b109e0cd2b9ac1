package collector

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Scope is where one scrape reads: the procfs files and netlink socket of
// one network namespace. A Scope lives for one scrape, so values it
// memoises (the sysctls several collectors need) are never stale.
type Scope struct {
	Ctx context.Context
	// LabelValues are the values of Options.ScopeLabels for this scope.
	LabelValues []string

	procPath string
	// tid is 0 for the exporter's own namespace; otherwise the thread that
	// entered a foreign namespace, whose /proc/<pid>/task/<tid>/net shows it.
	tid int

	sysOnce sync.Once
	sys     *Sysctls
	sysErr  error
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

// netRoot is the directory whose net/ subdirectory holds this namespace's
// sockstat, netstat and snmp files.
func (s *Scope) netRoot() string {
	if s.tid == 0 {
		return s.procPath
	}
	return filepath.Join(s.procPath, strconv.Itoa(os.Getpid()), "task", strconv.Itoa(s.tid))
}

// netFile is the path of one file under this namespace's net/ directory.
func (s *Scope) netFile(name string) string {
	return filepath.Join(s.netRoot(), "net", name)
}

// Sysctls returns this namespace's sysctls, read once per scope.
func (s *Scope) Sysctls() (*Sysctls, error) {
	s.sysOnce.Do(func() {
		s.sys, s.sysErr = readSysctls(s.procPath)
	})
	return s.sys, s.sysErr
}
