// SPDX-License-Identifier: Apache-2.0

package owners

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"golang.org/x/sys/unix"
)

// The order of a scan: the processes of the wanted sockets' cgroups
// first, every one of them, so that the other holders of a service's
// sockets (its workers, forked with them) are named too; then the others,
// only while a wanted socket has no holder: first those running as an
// owner of a wanted socket, then the rest.

// read reads pids on the workers, each adding the holders it finds to its
// entry of found, while more and the limits allow.
func (c *counts) read(ctx context.Context, procPath string, want Want, pids []int, found [][]holder, more func() bool) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range found {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := scanner{counts: c, want: want, buf: make([]byte, 64)}
			for i := next.Add(1) - 1; i < int64(len(pids)) && more() && c.proceed(ctx); i = next.Add(1) - 1 {
				c.tried.Add(1)
				if h, ok := s.process(procPath, pids[i]); ok {
					found[w] = append(found[w], h)
				}
			}
		}()
	}
	wg.Wait()
}

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

// uidPIDs returns those of pids whose /proc directory belongs to one of
// uids: the process's effective uid (task_dump_owner, fs/proc/base.c; root
// for a process that is not dumpable, which then just loses its turn).
func uidPIDs(procPath string, pids []int, uids map[uint32]bool) map[int]bool {
	out := map[int]bool{}
	for _, pid := range pids {
		var st unix.Stat_t
		_, err := kread.IgnoringEINTR(func() (int, error) { return 0, unix.Stat(procPath+"/"+strconv.Itoa(pid), &st) })
		if err == nil && uids[st.Uid] {
			out[pid] = true
		}
	}
	return out
}

// pending are the wanted sockets without a holder yet.
type pending struct {
	left atomic.Int64
	mu   sync.Mutex
	want Want
	seen map[uint64]map[uint32]bool // by namespace, as Want
}

func newPending(want Want) *pending {
	p := &pending{want: want, seen: map[uint64]map[uint32]bool{}}
	for _, socks := range want {
		p.left.Add(int64(len(socks)))
	}
	return p
}

// found records that the sockets held, of namespace ns, have a holder (or
// are closed); it returns how many of them were still pending.
func (p *pending) found(ns uint64, held []uint32) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := p.seen[ns]
	if seen == nil {
		seen = map[uint32]bool{}
		p.seen[ns] = seen
	}
	n := 0
	for _, ino := range held {
		if !seen[ino] {
			seen[ino] = true
			n++
		}
	}
	p.left.Add(-int64(n))
	return n
}

// dropClosed asks live which of the pending sockets are still open and
// counts the others as found: a socket closed since the caller's dump has
// no holder left to find. It returns how many it dropped. Called between
// the scan's two reads, with no worker running.
func (p *pending) dropClosed(live func(ns uint64, inodes []uint32) (map[uint32]bool, bool)) int {
	dropped := 0
	for ns, socks := range p.want {
		var missing []uint32
		for ino := range socks {
			if !p.seen[ns][ino] {
				missing = append(missing, ino)
			}
		}
		if len(missing) == 0 {
			continue
		}
		open, ok := live(ns, missing)
		if !ok {
			continue
		}
		missing = slices.DeleteFunc(missing, func(ino uint32) bool { return open[ino] })
		dropped += p.found(ns, missing)
	}
	return dropped
}
