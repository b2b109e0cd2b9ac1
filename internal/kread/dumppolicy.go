// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"errors"
	"sync"

	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// DecideDump decides from sockstat and the port sysctls whether a dump
// could find any flow at or above warning (see model.DecideDump).
func DecideDump(st *Sockstat, sys *Sysctls, warning float64) (model.DumpDecision, error) {
	if st == nil || sys == nil {
		return model.DumpDecision{}, errors.New("no sockstat or sysctls")
	}
	if !st.InUse.OK || !st.TimeWait.OK {
		return model.DumpDecision{}, errors.New("sockstat lacks TCP inuse or tw")
	}
	n := st.InUse.Value + st.TimeWait.Value + st.InUse6.Value // InUse6 is 0 when absent
	return model.DecideDump(n, sys.UsablePorts(), sys.PortRange.OddSize(), warning), nil
}

// sockstatOnce is a scope's sockstat, read once: the dump decision and the
// sockstat collector of a foreign namespace share the read.
type sockstatOnce struct {
	once sync.Once
	st   *Sockstat
	err  error
}

// Sockstat is ReadSockstat, read once per scope.
func (s *Scope) Sockstat() (*Sockstat, error) {
	s.sockstat.once.Do(func() { s.sockstat.st, s.sockstat.err = ReadSockstat(s) })
	return s.sockstat.st, s.sockstat.err
}
