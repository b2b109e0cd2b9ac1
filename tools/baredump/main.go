// SPDX-License-Identifier: Apache-2.0

// Command baredump is the floor the benchmark compares the exporter with: a
// bare NETLINK_SOCK_DIAG dump of both address families (the same states the
// exporter asks for, no extensions) that only counts sockets per state. It
// shares no code with internal/sockdiag, so a slow reader cannot hide in
// its own baseline.
//
// By default it asks the way that costs the kernel least: one
// TCPDIAG_GETSOCK request, answered with one walk of the socket tables for
// both families. -per-family asks with one SOCK_DIAG_BY_FAMILY request per
// family instead, as ss does, which walks the tables twice.
//
//	baredump [-n K] [-per-family]   dump K times, print the counts of the last dump
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

const (
	sockDiagByFamily = 20
	tcpDiagGetSock   = 18
	hdrLen           = 16
	reqLen           = 56 // struct inet_diag_req_v2
	compatReqLen     = 60 // struct inet_diag_req
	// Every state but bound_inactive, like the exporter's default.
	allStates uint32 = (1<<13 - 1) &^ 1
)

func main() {
	k := flag.Int("n", 1, "dumps to run")
	perFamily := flag.Bool("per-family", false, "one SOCK_DIAG_BY_FAMILY request per family (two walks) instead of one TCPDIAG_GETSOCK walk")
	flag.Parse()
	requests := [][]byte{compatRequest()}
	if *perFamily {
		requests = [][]byte{familyRequest(unix.AF_INET), familyRequest(unix.AF_INET6)}
	}
	buf := make([]byte, 64<<10)
	var counts [16]uint64
	for i := 0; i < *k; i++ {
		counts = [16]uint64{}
		for _, req := range requests {
			if err := dump(req, buf, &counts); err != nil {
				fmt.Fprintln(os.Stderr, "baredump:", err)
				os.Exit(1)
			}
		}
	}
	var total uint64
	for _, c := range counts {
		total += c
	}
	fmt.Printf("sockets %d time_wait %d\n", total, counts[6])
}

func familyRequest(family uint8) []byte {
	req := make([]byte, hdrLen+reqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	req[16] = family
	req[17] = unix.IPPROTO_TCP
	ne.PutUint32(req[20:], allStates)
	ne.PutUint32(req[64:], ^uint32(0))
	ne.PutUint32(req[68:], ^uint32(0))
	return req
}

func compatRequest() []byte {
	req := make([]byte, hdrLen+compatReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], tcpDiagGetSock)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[16+44:], ^uint32(0))
	ne.PutUint32(req[16+48:], ^uint32(0))
	ne.PutUint32(req[16+52:], allStates)
	return req
}

func dump(req []byte, buf []byte, counts *[16]uint64) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ne := binary.NativeEndian
	if err := unix.Sendto(fd, req[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b := buf[:n]
		for len(b) >= hdrLen {
			l := int(ne.Uint32(b[0:]))
			if l < hdrLen || l > len(b) {
				return fmt.Errorf("malformed netlink message")
			}
			switch ne.Uint16(b[4:]) {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				return fmt.Errorf("netlink error %d", int32(ne.Uint32(b[16:])))
			case sockDiagByFamily, tcpDiagGetSock:
				counts[b[hdrLen+1]&15]++
			}
			b = b[min((l+3)&^3, len(b)):]
		}
	}
}
