// SPDX-License-Identifier: Apache-2.0

// Package deadline runs reads that may block in the kernel as tasks that
// their caller stops waiting for at a deadline, and remembers the ones left
// behind so that later reads of the same source are not started on top of
// them.
package deadline
