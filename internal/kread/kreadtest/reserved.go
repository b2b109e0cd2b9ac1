// SPDX-License-Identifier: Apache-2.0

package kreadtest

import (
	"strconv"
	"strings"
)

// ReservedList is a reserved-port list in the kernel's own form (runs in
// ascending order, "a" or "a-b", none adjacent), with its ports.
type ReservedList struct {
	Text  string
	Ports map[int]bool
}

// runsList builds a ReservedList from inclusive runs.
func runsList(runs [][2]int) ReservedList {
	l := ReservedList{Ports: map[int]bool{}}
	items := make([]string, 0, len(runs))
	for _, r := range runs {
		item := strconv.Itoa(r[0])
		if r[1] != r[0] {
			item += "-" + strconv.Itoa(r[1])
		}
		items = append(items, item)
		for p := r[0]; p <= r[1]; p++ {
			l.Ports[p] = true
		}
	}
	l.Text = strings.Join(items, ",")
	return l
}

// ScatteredList is `seq -s, 40001 2 40081`: 41 ports, 246 bytes as the
// kernel prints them, each its own entry.
func ScatteredList() ReservedList {
	var runs [][2]int
	for p := 40001; p <= 40081; p += 2 {
		runs = append(runs, [2]int{p, p})
	}
	return runsList(runs)
}

// LongestList is the longest list the kernel can print: every port but
// those ≡ 1 (mod 3), i.e. "0,2-3,5-6,…,65534-65535", two-port runs with
// one-port gaps (kread.maxSysctlBytes explains why no list is longer).
func LongestList() ReservedList {
	runs := [][2]int{{0, 0}}
	for p := 2; p < 65536; p += 3 {
		runs = append(runs, [2]int{p, p + 1})
	}
	return runsList(runs)
}
