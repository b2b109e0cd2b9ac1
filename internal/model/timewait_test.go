// SPDX-License-Identifier: Apache-2.0

package model

import (
	"testing"
	"time"
)

func TestAge(t *testing.T) {
	for _, tc := range []struct {
		expires uint32
		want    time.Duration
	}{
		{60000, 0},
		{59000, time.Second},
		{0, TimeWaitLen},
		{61000, 0}, // a timer re-armed later than 60 s: no negative age
	} {
		if got := Age(tc.expires); got != tc.want {
			t.Errorf("Age(%d) = %v, want %v", tc.expires, got, tc.want)
		}
	}
}
