// SPDX-License-Identifier: Apache-2.0

package owners

import (
	"sync"
	"sync/atomic"
)

// The order of a scan: the processes of the wanted sockets' cgroups
// first, every one of them, so that the other holders of a service's
// sockets (its workers, forked with them) are named too; then the others,
// only while a wanted socket has no holder.

// likelyFirst moves the pids in likely to the front of pids, in place,
// and returns how many there are.
func likelyFirst(pids []int, likely map[int]bool) int {
	n := 0
	for i, pid := range pids {
		if likely[pid] {
			pids[n], pids[i] = pids[i], pids[n]
			n++
		}
	}
	return n
}

// pending are the wanted sockets without a holder yet.
type pending struct {
	left atomic.Int64
	mu   sync.Mutex
	seen map[uint64]map[uint32]bool // by namespace, as Want
}

func newPending(want Want) *pending {
	p := &pending{seen: map[uint64]map[uint32]bool{}}
	for _, socks := range want {
		p.left.Add(int64(len(socks)))
	}
	return p
}

// found records that the sockets held, of namespace ns, have a holder.
func (p *pending) found(ns uint64, held []uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := p.seen[ns]
	if seen == nil {
		seen = map[uint32]bool{}
		p.seen[ns] = seen
	}
	for _, ino := range held {
		if !seen[ino] {
			seen[ino] = true
			p.left.Add(-1)
		}
	}
}
