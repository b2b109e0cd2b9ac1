package collector

import (
	"context"
	"time"
)

// discover is discoverNetns under a deadline. The walk reads every
// /proc/<pid>/comm and ns/net under --path.procfs, which a hung mount can
// block: it runs as a task given half of the time left, so the collectors
// of the own namespace keep the other half. A walk still blocked then is
// left behind (and not started again while it blocks); the scrape visits
// only the own namespace, labelled as by the last discovery.
func (e *Exporter) discover(ctx context.Context) (*discovery, error) {
	b := newBatch[*discovery](&e.stuck, e.opts.Logger, []string{"netns discovery"}, []string{"netns"})
	go b.run(0, func() (*discovery, error) { return discoverNetns(e.opts.ProcPath, e.config().Netns) })
	wait, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		wait, cancel = context.WithTimeout(ctx, time.Until(dl)/2)
	}
	defer cancel()
	var d *discovery
	var err error
	b.wait(wait, func(o outcome[*discovery]) { d, err = o.val, o.err })
	if d == nil {
		label := HostNetnsLabel
		if l := e.ownLabel.Load(); l != nil {
			label = *l
		}
		return &discovery{visit: []*netnsEntry{{label: label, own: true}}, found: 1}, err
	}
	e.ownLabel.Store(&d.visit[0].label)
	return d, err
}
