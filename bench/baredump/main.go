// Command baredump is the floor the benchmark compares the exporter with: a
// bare NETLINK_SOCK_DIAG dump of both address families (the same states the
// exporter asks for, no extensions) that only counts sockets per state. It
// shares no code with internal/sockdiag, so a slow reader cannot hide in
// its own baseline.
//
//	baredump [-n K]   dump K times, print the counts of the last dump
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
	hdrLen           = 16
	reqLen           = 56
	// Every state but bound_inactive, like the exporter's default.
	allStates uint32 = (1<<13 - 1) &^ 1
)

func main() {
	k := flag.Int("n", 1, "dumps to run")
	flag.Parse()
	buf := make([]byte, 64<<10)
	var counts [16]uint64
	for i := 0; i < *k; i++ {
		counts = [16]uint64{}
		for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
			if err := dump(fam, uint32(i+1), buf, &counts); err != nil {
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

func dump(family uint8, seq uint32, buf []byte, counts *[16]uint64) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var req [hdrLen + reqLen]byte
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], seq)
	req[16] = family
	req[17] = unix.IPPROTO_TCP
	ne.PutUint32(req[20:], allStates)
	ne.PutUint32(req[64:], ^uint32(0))
	ne.PutUint32(req[68:], ^uint32(0))
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
			case sockDiagByFamily:
				counts[b[hdrLen+1]&15]++
			}
			b = b[min((l+3)&^3, len(b)):]
		}
	}
}
