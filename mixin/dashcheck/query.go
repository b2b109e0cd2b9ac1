// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ---- end to end: every query returns data from a real Prometheus ----

func query(args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	src := newQuerySource(fs)
	prom := fs.String("prometheus", "http://127.0.0.1:9090", "Prometheus base URL")
	window := fs.Duration("window", time.Minute, "range queries cover this much time back from now")
	only := fs.String("only", "", "query only this dashboard (file name, e.g. timewait-overview.json)")
	maxSeries := fs.Int("max-series", 0, "fail a panel query that returns more series than this (0: no limit; variables are lists, not limited)")
	allowEmpty := fs.Bool("allow-empty", false, "a query without data passes (it must still run without error)")
	timeout := fs.Duration("timeout", 10*time.Second, "fail a query that takes longer (Grafana's data source default is 30s)")
	emptyOK := fs.String("empty-ok", "", "regexp: a query of a panel whose place (file / panel ID \"title\" / refId) matches may return no data (the pod panels without Kubernetes)")
	fs.Parse(args)
	emptyRE, err := regexp.Compile(*emptyOK)
	if err != nil {
		return fmt.Errorf("-empty-ok: %w", err)
	}
	exprs, err := src.load()
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: *timeout}
	passed, failed := 0, 0
	now := time.Now()
	for _, e := range exprs {
		if *only != "" && !strings.HasPrefix(e.where, *only+" ") {
			continue
		}
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
		case n == 0 && e.mustHit && !*allowEmpty && (*emptyOK == "" || !emptyRE.MatchString(e.where)):
			failed++
			fmt.Printf("FAIL %s: no data\n     %s\n", e.where, e.expr)
		case *maxSeries > 0 && n > *maxSeries && !e.isVar:
			failed++
			fmt.Printf("FAIL %s: %d series, more than %d\n     %s\n", e.where, n, *maxSeries, e.expr)
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
