// SPDX-License-Identifier: Apache-2.0

package model

import "time"

// TimeWaitLen is TCP_TIMEWAIT_LEN (include/net/tcp.h): every TIME_WAIT
// socket lives 60 s unless reused.
const TimeWaitLen = 60 * time.Second

// Age is how long a TIME_WAIT socket has been in TIME_WAIT, from its
// idiag_expires (milliseconds left).
func Age(expiresMs uint32) time.Duration {
	left := time.Duration(expiresMs) * time.Millisecond
	return max(TimeWaitLen-left, 0)
}
