// SPDX-License-Identifier: Apache-2.0

// Package netns finds the host's network namespaces and the Kubernetes
// pods they belong to (--netns.discover), and enters one on a throwaway OS
// thread so that its /proc/sys and netlink sockets can be read there.
package netns
