// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"html/template"
	"io"
	"strings"
)

// page is the /doctor page: one self-contained document, no scripts, no
// external assets; html/template escapes every value.
var page = template.Must(template.New("doctor").Funcs(template.FuncMap{
	"upper":  strings.ToUpper,
	"scope":  DisplayScope,
	"when":   func(r *Report) string { return r.Time.UTC().Format("2006-01-02 15:04:05 MST") },
	"count":  countLine,
	"scopes": scopeLine,
	"short":  scopeShort,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TIME_WAIT doctor: {{.Worst.String | upper}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; color: #1b1f23; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
.meta { color: #57606a; margin-top: 0; }
.verdict { font-size: 1.15rem; padding: .6rem .9rem; border-radius: 6px; margin: 1rem 0; }
.finding { border: 1px solid #d0d7de; border-left-width: 6px; border-radius: 6px; padding: .3rem 1rem .8rem; margin: 1rem 0; }
.finding h2 { font-size: 1.1rem; margin: .6rem 0 .3rem; }
.badge { display: inline-block; font-size: .75rem; font-weight: 700; letter-spacing: .04em; padding: .1rem .45rem; border-radius: 4px; color: #fff; vertical-align: middle; margin-right: .4rem; }
.critical { border-left-color: #cf222e; } .badge.critical, .verdict.critical { background: #cf222e; color: #fff; }
.warning { border-left-color: #bf8700; } .badge.warning, .verdict.warning { background: #9a6700; color: #fff; }
.info { border-left-color: #0969da; } .badge.info, .verdict.info { background: #0969da; color: #fff; }
.ok { border-left-color: #1a7f37; } .badge.ok, .verdict.ok { background: #1a7f37; color: #fff; }
.finding p { margin: .2rem 0; }
h3 { font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: #57606a; margin: .8rem 0 .2rem; }
ul, ol { margin: .2rem 0; padding-left: 1.4rem; }
li { margin: .2rem 0; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 4px; padding: .4rem .6rem; overflow-x: auto; margin: .3rem 0; font-size: .85rem; white-space: pre-wrap; word-break: break-all; }
.scope { color: #57606a; font-size: .9rem; margin: 0; }
footer { color: #57606a; font-size: .85rem; margin-top: 2rem; }
</style>
</head>
<body>
<h1>TIME_WAIT doctor</h1>
<p class="meta">Snapshot of {{when .}} · {{scopes .}}</p>
<p class="verdict {{.Worst}}" id="verdict">Verdict: <strong>{{.Worst.String | upper}}</strong> (exit status {{.ExitCode}}) · {{count .}}</p>
{{range .Detailed}}
<section class="finding {{.Severity}}" data-rule="{{.Rule}}" data-severity="{{.Severity}}">
<h2><span class="badge {{.Severity}}">{{.Severity.String | upper}}</span>{{.Title}}</h2>
{{if or .Scope (gt (len $.Scopes) 1)}}<p class="scope">In {{scope .Scope}}{{if and .Scope .Fix}} — run the commands inside it (ip netns exec or nsenter -n){{end}}</p>{{end}}
<h3>Seen</h3>
<ul>{{range .Observed}}<li>{{.}}</li>{{end}}</ul>
<h3>Why</h3>
<p>{{.Why}}</p>
{{if .Fix}}<h3>{{if gt (len .Fix) 1}}Fix, in this order{{else}}Fix{{end}}</h3>
<ol>{{range .Fix}}<li>{{.Text}}{{range .Commands}}<pre>{{.}}</pre>{{end}}</li>{{end}}</ol>{{end}}
</section>
{{end}}
{{with .Healthy}}<section class="finding ok" data-rule="healthy" data-severity="ok">
<h2><span class="badge ok">OK</span>No TIME_WAIT problem in {{len .}} network namespace(s)</h2>
<ul>{{range .}}<li><strong>{{short .Scope}}</strong>: {{.Summary}}</li>{{end}}</ul>
</section>{{end}}
<footer>Same findings as <a href="doctor.json">doctor.json</a> and <code>timewait_exporter doctor</code>. Taken fresh on each load from one snapshot per network namespace; counters such as TCPTimeWaitOverflow are totals since the namespace started.</footer>
</body>
</html>
`))

// RenderHTML writes r as a self-contained HTML page.
func RenderHTML(w io.Writer, r *Report) error { return page.Execute(w, r) }
