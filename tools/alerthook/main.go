// SPDX-License-Identifier: Apache-2.0

// Command alerthook is test/alerts_e2e.sh's webhook receiver and waiters
// (tools/twgen makes the TIME_WAIT sockets): it appends every Alertmanager
// notification to a file, waits for a URL to answer, and waits for a firing
// alert with given labels whose description contains a text, and serves a
// file as a metrics endpoint. Standard
// library only; runs inside the test's network namespace.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fatal("usage: alerthook webhook|wait-http|wait-webhook|serve")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "", "listen address")
	out := fs.String("out", "", "output file")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	u := fs.String("url", "", "URL")
	contains := fs.String("contains", "", "substring that must appear")
	alert := fs.String("alertname", "", "alert name")
	labels := map[string]string{}
	fs.Func("label", "label=value the alert must carry (repeatable)", func(s string) error {
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want label=value, got %q", s)
		}
		labels[name] = value
		return nil
	})
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "webhook":
		webhook(*listen, *out)
	case "wait-http":
		waitHTTP(*u, *contains, *timeout)
	case "serve":
		serve(*listen, *out)
	case "wait-webhook":
		labels["alertname"] = *alert
		waitWebhook(*out, labels, *contains, *timeout)
	default:
		fatal("unknown command " + os.Args[1])
	}
}

// serve answers every GET with the contents of file as Prometheus text
// exposition, read anew each time: a fixed metrics source for a test
// (kube-state-metrics' kube_pod_info in test/pods_e2e.sh).
func serve(addr, file string) {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		b, err := os.ReadFile(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write(b)
	})
	fatal(http.ListenAndServe(addr, nil).Error())
}

func fatal(s string) { fmt.Fprintln(os.Stderr, "alerthook:", s); os.Exit(1) }

func webhook(addr, out string) {
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fatal(err.Error())
	}
	var mu sync.Mutex
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		f.Write(append([]byte(strings.ReplaceAll(string(b), "\n", " ")), '\n'))
		f.Sync()
		mu.Unlock()
	})
	fatal(http.ListenAndServe(addr, nil).Error())
}

// one keep-alive client: polling makes no TIME_WAIT churn.
var client = &http.Client{Timeout: 3 * time.Second}

func waitHTTP(u, contains string, timeout time.Duration) {
	end := time.Now().Add(timeout)
	var last string
	for time.Now().Before(end) {
		resp, err := client.Get(u)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), contains) {
				return
			}
			last = fmt.Sprintf("HTTP %d: %.300s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	fatal(fmt.Sprintf("%s: no %q within %s; last: %s", u, contains, timeout, last))
}

type payload struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
	} `json:"alerts"`
}

// matches: every wanted label has its value (an empty value: the label is absent).
func matches(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func waitWebhook(file string, labels map[string]string, contains string, timeout time.Duration) {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if f, err := os.Open(file); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var p payload
				if json.Unmarshal(sc.Bytes(), &p) != nil {
					continue
				}
				for _, a := range p.Alerts {
					if a.Status == "firing" && matches(a.Labels, labels) &&
						strings.Contains(a.Annotations["description"], contains) &&
						a.Annotations["runbook_url"] != "" && a.Annotations["summary"] != "" {
						j, _ := json.Marshal(a)
						fmt.Printf("webhook received: %s\n", j)
						f.Close()
						return
					}
				}
			}
			f.Close()
		}
		time.Sleep(500 * time.Millisecond)
	}
	fatal(fmt.Sprintf("no firing alert with labels %v and a description containing %q reached the webhook within %s", labels, contains, timeout))
}
