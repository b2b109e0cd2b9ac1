// SPDX-License-Identifier: Apache-2.0

// Package kread reads what Linux tells about TCP sockets and ephemeral
// ports in one network namespace (a Scope): the sock_diag dump (through
// package sockdiag, aggregated by package model), the sysctls,
// /proc/net/sockstat and the netstat/snmp counters. Its parsers keep what
// a broken file still holds and say what it lacks.
package kread
