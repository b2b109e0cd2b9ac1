// SPDX-License-Identifier: Apache-2.0

package kread

// Optional is a value the kernel may not give: a sysctl that some kernels
// or namespaces lack, a field a sockstat or netstat file lacks. It is the
// one way the exporter says "maybe absent"; the zero value is absent.
type Optional[T any] struct {
	Value T
	OK    bool // the kernel gave it
}

// Some is v, present.
func Some[T any](v T) Optional[T] { return Optional[T]{Value: v, OK: true} }
