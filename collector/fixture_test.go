// SPDX-License-Identifier: Apache-2.0

package collector

import "github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"

// Short names for the shared fixtures of package kreadtest.
const (
	seedNetstat   = kreadtest.SeedNetstat
	seedSnmp      = kreadtest.SeedSnmp
	seedSockstat  = kreadtest.SeedSockstat
	seedSockstat6 = kreadtest.SeedSockstat6
)

var (
	fixtureProc       = kreadtest.Proc
	fixtureSysctlTree = kreadtest.SysctlTree
	fixtureWrite      = kreadtest.Write
	copyTree          = kreadtest.CopyTree
	writeFile         = kreadtest.WriteFile
)
