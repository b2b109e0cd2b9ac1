// SPDX-License-Identifier: Apache-2.0

package main

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestScrapeTimeout(t *testing.T) {
	for _, tc := range []struct {
		header          string
		client, collect time.Duration
	}{
		{"", 10 * time.Second, 9 * time.Second},
		{"10", 10 * time.Second, 9 * time.Second},
		{"2", 2 * time.Second, 1750 * time.Millisecond},
		{"0.3", 300 * time.Millisecond, 150 * time.Millisecond},
		{"30", 30 * time.Second, 29 * time.Second},
		{"120", 30 * time.Second, 29 * time.Second}, // capped
		{"9.3e9", 30 * time.Second, 29 * time.Second},
		{"1e400", 10 * time.Second, 9 * time.Second}, // out of range: default
		{"Inf", 10 * time.Second, 9 * time.Second},
		{"+Inf", 10 * time.Second, 9 * time.Second},
		{"-Inf", 10 * time.Second, 9 * time.Second},
		{"NaN", 10 * time.Second, 9 * time.Second},
		{"-5", 10 * time.Second, 9 * time.Second},
		{"0", 10 * time.Second, 9 * time.Second},
		{"ten", 10 * time.Second, 9 * time.Second},
		{"1e-300", 250 * time.Millisecond, 125 * time.Millisecond}, // raised
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if tc.header != "" {
			r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		if got := clientTimeout(r); got != tc.client {
			t.Errorf("%q: client timeout %v, want %v", tc.header, got, tc.client)
		}
		if got := scrapeTimeout(r); got != tc.collect {
			t.Errorf("%q: scrape timeout %v, want %v", tc.header, got, tc.collect)
		}
	}
}

func TestClassOf(t *testing.T) {
	a := classOf("error encoding and sending metric family: write tcp 127.0.0.1:9966->127.0.0.1:42818: write: broken pipe")
	b := classOf("error encoding and sending metric family: write tcp 127.0.0.1:9966->127.0.0.1:51000: write: broken pipe")
	c := classOf("error encoding and sending metric family: write tcp 127.0.0.1:9966->127.0.0.1:51000: i/o timeout")
	if a != b || a == c {
		t.Errorf("classes %q, %q, %q: want the first two alike, the third not", a, b, c)
	}
}
