# SPDX-License-Identifier: Apache-2.0
# The scene of the doctor end-to-end tests (test/doctor_*.sh), after
# test/lib/netns.bash: namespace $NS with 500 usable ephemeral ports and
# tcp_tw_reuse=0, then 470 client-closed connections to DEST (127.0.0.1:7000),
# real TIME_WAIT sockets made by tools/twgen (built into $TMP).

# doctor_netns builds twgen and makes the namespace.
doctor_netns() {
  go build -o "$TMP/twgen" ./tools/twgen || fail "building tools/twgen"
  ip netns add "$NS" || fail "ip netns add"
  nsx ip link set lo up
  nsx sysctl -qw net.ipv4.tcp_tw_reuse=0 "net.ipv4.ip_local_port_range=40000 40499" || fail sysctl
}

DEST=127.0.0.1:7000
# DOCTOR_TITLE is an extended regexp of the finding the scene must raise
# (470 of 500 is 94%; a few may leave TIME_WAIT before the doctor reads).
DOCTOR_TITLE="Ephemeral ports towards ${DEST//./\\.} are 9[0-9](\.[0-9])?% used"

# doctor_fill makes the 470 TIME_WAIT sockets and checks that ss sees them.
doctor_fill() {
  local tw
  echo "--- 470 client-closed connections to $DEST (500 usable ports, tcp_tw_reuse=0)"
  nsx "$TMP/twgen" -n 470 -ports 1 -base 7000 -side client -parallel 8 || fail "twgen"
  tw=$(nsx ss -Htan state time-wait dst "$DEST" | wc -l)
  echo "ss: $tw TIME_WAIT sockets towards $DEST"
  [ "$tw" -ge 450 ] || fail "setup: only $tw TIME_WAIT sockets towards $DEST"
}
