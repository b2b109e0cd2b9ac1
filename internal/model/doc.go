// SPDX-License-Identifier: Apache-2.0

// Package model is the port-pressure model: from the sockets of one
// network namespace and its ephemeral port policy (ip_local_port_range,
// ip_local_reserved_ports, tcp_tw_reuse), how close each destination is to
// the EADDRNOTAVAIL of connect(), following the kernel's rules
// (__inet_hash_connect, tcp_twsk_unique). It does no I/O: package kread
// feeds it, the collectors and the doctor read it.
package model
