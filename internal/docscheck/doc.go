// SPDX-License-Identifier: Apache-2.0

// Package docscheck holds no code: its tests check that the numbers the
// docs quote about the exporter's own behaviour (thresholds, defaults,
// alert windows, measured cost ratios) agree with where they come from.
package docscheck
