// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
)

// A bad value in one sysctl file costs the snapshot that sysctl only: the
// others stay for the doctor, and the error names the bad one.
func TestSnapshotKeepsTheSysctlsRead(t *testing.T) {
	for _, tc := range []struct {
		file, value string
		bad         string // the key Has must refuse
		good        []string
		noPressure  bool // the sockets source loses its pressure model
	}{
		{file: "tcp_fin_timeout", value: "60abc\n", bad: kread.KeyFinTimeout,
			good: []string{kread.KeyPortRange, kread.KeyTwReuse, kread.KeyTimestamps, kread.KeyMaxTwBuckets}},
		{file: "ip_local_port_range", value: "40000\n", bad: kread.KeyPortRange,
			good: []string{kread.KeyFinTimeout, kread.KeyTwReuse, kread.KeyTimestamps, kread.KeyMaxTwBuckets}, noPressure: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			proc := kreadtest.CopyTree(t, kreadtest.Proc)
			kreadtest.WriteFile(t, proc, filepath.Join("sys", "net", "ipv4", tc.file), []byte(tc.value))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			snap := TakeSnapshot(kread.OwnScope(ctx, proc))
			if snap.Sysctls == nil {
				t.Fatalf("Sysctls dropped for one bad file; errors %v", snap.Errors)
			}
			if snap.Sysctls.Has(tc.bad) {
				t.Errorf("Has(%s) with %q in its file", tc.bad, tc.value)
			}
			if !snap.Sysctls.Has(tc.good...) {
				t.Errorf("lost the good sysctls %v: %v", tc.good, snap.Errors["sysctl"])
			}
			if err := snap.Errors["sysctl"]; err == nil || !strings.Contains(err.Error(), tc.file) {
				t.Errorf(`Errors["sysctl"] = %v, want one naming %s`, err, tc.file)
			}
			if snap.Sockets == nil || snap.Sockets.HasPressure() == tc.noPressure {
				t.Errorf("sockets %v (pressure lost: want %v); errors %v", snap.Sockets != nil, tc.noPressure, snap.Errors)
			}
		})
	}
}
