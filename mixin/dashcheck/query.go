// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ---- end to end: every query returns data from a real Prometheus ----

func query(args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	dir := fs.String("dir", "..", "directory holding the dashboards")
	prom := fs.String("prometheus", "http://127.0.0.1:9090", "Prometheus base URL")
	window := fs.Duration("window", time.Minute, "range queries cover this much time back from now")
	vars := varFlag{}
	fs.Var(vars, "var", "dashboard variable value name=value (repeatable); default .* for query variables")
	fs.Parse(args)
	exprs, _, err := collect(*dir, vars)
	if err != nil {
		return fmt.Errorf("dashboard lint:\n  %w", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	passed, failed := 0, 0
	now := time.Now()
	for _, e := range exprs {
		v := url.Values{"query": {e.expr}}
		api := "/api/v1/query"
		if e.instant {
			v.Set("time", strconv.FormatInt(now.Unix(), 10))
		} else {
			api = "/api/v1/query_range"
			v.Set("start", strconv.FormatInt(now.Add(-*window).Unix(), 10))
			v.Set("end", strconv.FormatInt(now.Unix(), 10))
			v.Set("step", "2")
		}
		n, err := run(client, *prom+api, v)
		switch {
		case err != nil:
			failed++
			fmt.Printf("FAIL %s: %v\n     %s\n", e.where, err, e.expr)
		case n == 0 && e.mustHit:
			failed++
			fmt.Printf("FAIL %s: no data\n     %s\n", e.where, e.expr)
		default:
			passed++
			fmt.Printf("ok   %s: %d series\n", e.where, n)
		}
	}
	fmt.Printf("dashboard queries: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d dashboard queries returned no data or failed", failed)
	}
	return nil
}

func run(c *http.Client, u string, v url.Values) (int, error) {
	resp, err := c.PostForm(u, v)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s", r.Error)
	}
	return len(r.Data.Result), nil
}
