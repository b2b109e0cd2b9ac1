// SPDX-License-Identifier: Apache-2.0

package collector

import "github.com/timewait-exporter/timewait_exporter/internal/kernel/kerneltest"

// Short names for the shared fixtures of package kerneltest.
const (
	seedNetstat   = kerneltest.SeedNetstat
	seedSnmp      = kerneltest.SeedSnmp
	seedSockstat  = kerneltest.SeedSockstat
	seedSockstat6 = kerneltest.SeedSockstat6
)

var (
	fixtureProc       = kerneltest.Proc
	fixtureSysctlTree = kerneltest.SysctlTree
	fixtureWrite      = kerneltest.Write
	copyTree          = kerneltest.CopyTree
	writeFile         = kerneltest.WriteFile
)
