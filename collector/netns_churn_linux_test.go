// SPDX-License-Identifier: Apache-2.0

// Tests of network namespaces that come and go while scrapes run.

package collector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
)

// Namespaces come and go while scrapes run: one named namespace is
// deleted mid-loop, others are created and deleted and processes holding
// their own namespaces start and exit all the time. No scrape may fail:
// every collector of every namespace visited succeeds, and the one that
// stays is always there.
func TestNetnsChurnDuringScrapes(t *testing.T) {
	f := newNetnsFixture(t)
	keep := f.add("keep")
	gone := f.add("gone")
	holder := f.holder("300")
	holderLabel := fmt.Sprintf("inode:%d", nsInode(t, fmt.Sprintf("/proc/%d/ns/net", holder)))
	own, _ := kreadtest.NetnsInode("/proc/self/ns/net")
	e, logs := f.exporter(config.DefaultMaxNamespaces)

	ctx, cancel := context.WithCancel(context.Background())
	var churn sync.WaitGroup
	churn.Add(2)
	go func() { // named namespaces appear and disappear
		defer churn.Done()
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("%schurn%d", f.prefix, i%4)
			_ = exec.Command("ip", "netns", "add", name).Run()
			time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}()
	go func() { // short-lived processes in namespaces of their own
		defer churn.Done()
		for ctx.Err() == nil {
			_ = exec.Command("unshare", "-n", f.sleep, fmt.Sprintf("0.0%d", 1+rand.IntN(5))).Run()
		}
	}()
	t.Cleanup(func() {
		cancel()
		churn.Wait()
		for i := range 4 {
			f.del(fmt.Sprintf("%schurn%d", f.prefix, i))
		}
	})

	const scrapes, deleteAt = 40, 10
	var seenChurn, sawGone int
	for i := range scrapes {
		if i == deleteAt {
			f.del(gone)
		}
		samples := nsGather(t, e)
		for _, s := range nsFind(samples, "timewait_scrape_collector_success", nil) {
			if s.value != 1 {
				t.Errorf("scrape %d: collector %s of netns %s failed", i, s.labels["collector"], s.labels[NetnsLabel])
			}
		}
		labels := map[string]int{}
		for _, s := range nsFind(samples, "timewait_netns_info", nil) {
			labels[s.labels[NetnsLabel]]++
		}
		for l, n := range labels {
			if n != 1 {
				t.Errorf("scrape %d: netns %s visited %d times", i, l, n)
			}
			if strings.Contains(l, "churn") {
				seenChurn++
			}
		}
		for _, l := range []string{keep, holderLabel} {
			if labels[l] != 1 {
				t.Errorf("scrape %d: netns %s missing", i, l)
			}
			if n := len(nsFind(samples, "timewait_scrape_collector_success", map[string]string{NetnsLabel: l})); n != len(e.collectors) {
				t.Errorf("scrape %d: netns %s has %d collector_success series, want %d", i, l, n, len(e.collectors))
			}
		}
		if labels[gone] > 0 {
			sawGone++
			if i > deleteAt {
				t.Errorf("scrape %d: netns %s still visited after its deletion", i, gone)
			}
		}
	}
	if sawGone != deleteAt {
		t.Errorf("netns %s visited in %d scrapes, want the %d before its deletion", gone, sawGone, deleteAt)
	}
	t.Logf("churning namespaces visited %d times in %d scrapes; %d skipped as vanished before entry",
		seenChurn, scrapes, strings.Count(logs.String(), "vanished before it could be entered"))
	cancel()
	churn.Wait()
	nsThreadsAllIn(t, own)
	if t.Failed() {
		t.Logf("exporter log:\n%s", logs.String())
	}
}
