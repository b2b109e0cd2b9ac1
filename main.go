// SPDX-License-Identifier: Apache-2.0

// Command timewait_exporter exports Linux TCP TIME_WAIT and ephemeral-port
// pressure to Prometheus; `timewait_exporter doctor` prints a diagnosis
// instead. main wires flags, configuration, registries and HTTP routes; the
// work is in collector/, config/ and doctor/.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"github.com/timewait-exporter/timewait_exporter/collector"
	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/doctor"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

const exporterName = "timewait_exporter"

var (
	boundInactive = kingpin.Flag("collector.sockets.bound-inactive",
		"Also count bound sockets that neither listen nor are connected (state bound_inactive, Linux 6.8+). The kernel then walks its bind hash table as well, which costs extra CPU per scrape on busy hosts.").
		Default("false").Bool()
	metricsPath = kingpin.Flag("web.telemetry-path",
		"Path under which to expose metrics.").Default("/metrics").String()
	disableExporterMetrics = kingpin.Flag("web.disable-exporter-metrics",
		"Exclude metrics about the exporter itself (promhttp_*, process_*, go_*).").Bool()
	maxRequests = kingpin.Flag("web.max-requests",
		"Maximum number of parallel scrape requests; more wait up to half their timeout for a slot, then get 503. 0 disables the limit.").Default("40").Int()
	procPath = kingpin.Flag("path.procfs",
		"procfs mount point.").Default("/proc").String()
	configFile = kingpin.Flag("config.file",
		"Optional YAML configuration file (destinations and ports to watch, top-N limit). Reloaded on SIGHUP and POST /-/reload.").String()
	configCheck = kingpin.Flag("config.check",
		"Validate --config.file and exit: 0 if valid, 1 with the errors otherwise.").Bool()
	netnsDiscover = kingpin.Flag("netns.discover",
		"Export every network namespace of the host (named ones in /run/netns, those of the processes under --path.procfs), each with a netns label, instead of only the exporter's own. Needs CAP_SYS_ADMIN and CAP_SYS_PTRACE; see docs/netns.md.").Bool()
	netnsPodLogDir = kingpin.Flag("netns.pod-log-dir",
		"With --netns.discover (and for the doctor's owners), the kubelet's pod log directory (<namespace>_<name>_<uid> per pod), read for the namespace and name of the pod whose UID a namespace's (or process's) cgroup shows; missing is fine, empty reads none. See docs/netns.md.").Default(netns.DefaultPodLogDir).String()
	doctorTimeout = kingpin.Flag("doctor.timeout",
		"Deadline of one diagnosis, by /doctor or the doctor command: a source still unread then (a read blocked in the kernel) is reported as such.").Default(doctor.DefaultTimeout.String()).Duration()
	doctorOwners = kingpin.Flag("doctor.owners",
		"The doctor names the processes (pid, command, container, pod) holding the live sockets of the destinations it reports, from /proc/<pid>/fd of the processes in those namespaces (other users' need CAP_SYS_PTRACE); never on a scrape. See docs/doctor.md.").Default("true").Bool()
	toolkitFlags = kingpinflag.AddFlags(kingpin.CommandLine, ":9966")

	_         = kingpin.Command("serve", "Run the exporter's web server (the default command).").Default()
	doctorCmd = kingpin.Command("doctor",
		"Diagnose TIME_WAIT and ephemeral port pressure once (one snapshot per network namespace, read with the exporter's collectors), print the findings worst first with their fixes, and exit 0 (fine), 1 (warning), 2 (critical) or 3 (could not run). Uses --path.procfs, --config.file and --netns.discover like the server; the server shows the same at /doctor.")
	doctorOutput = doctorCmd.Flag("output", "Output format of doctor: text, json or html (the /doctor page).").Default(doctor.FormatText).String()
)

func main() { os.Exit(run()) }

func run() int {
	promslogConfig := &promslog.Config{}
	flag.AddFlags(kingpin.CommandLine, promslogConfig)
	kingpin.Version(version.Print(exporterName))
	kingpin.CommandLine.UsageWriter(os.Stdout)
	kingpin.HelpFlag.Short('h')
	command := kingpin.Parse()
	logger := promslog.New(promslogConfig)

	if *configCheck {
		if err := config.Check(*configFile); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%s: configuration is valid\n", displayPath(*configFile))
		return 0
	}
	if command == doctorCmd.FullCommand() {
		return runDoctor(logger)
	}

	logger.Info("Starting "+exporterName, "version", version.Info())
	logger.Info("Build context", "build_context", version.BuildContext())

	// exporter-toolkit reads the web config only once it listens; check it
	// (YAML, bcrypt hashes, certificates) before anything else starts.
	if f := *toolkitFlags.WebConfigFile; f != "" {
		if err := web.Validate(f); err != nil {
			logger.Error("Invalid web configuration file", "file", f, "err", err)
			return 1
		}
	}

	safeConfig, err := config.NewSafeConfig(*configFile)
	if err != nil {
		logger.Error("Error loading config", "err", err)
		return 1
	}
	exp, err := newExporter(logger, safeConfig.Get().Netns)
	if err != nil {
		logger.Error("Error creating collectors", "err", err)
		return 1
	}
	// What to export and which namespaces to visit, taken at load and at
	// each reload: a scrape reads them without calling into package config.
	safeConfig.Watch(func(c *config.Config) {
		exp.SetExport(c.Export())
		exp.Reader().SetNetns(c.Netns)
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	safeConfig.WatchSIGHUP(ctx, logger)

	// Our own mux, not http.DefaultServeMux: imported packages register
	// there (expvar, pulled in by client_golang, adds /debug/vars with the
	// command line and memstats), and nothing but these routes is served.
	mux := http.NewServeMux()
	mux.Handle(*metricsPath, metricsHandler(exp, selfRegistry(safeConfig), logger))
	mux.Handle("/-/reload", safeConfig.ReloadHandler(logger))
	mux.HandleFunc("/-/healthy", okHandler)
	mux.HandleFunc("/-/ready", okHandler)
	doctorHTML, doctorJSON := doctor.Handlers(exp.Snapshots, safeConfig.Get, *doctorTimeout, logger)
	mux.Handle("/doctor", doctorHTML)
	mux.Handle("/doctor.json", doctorJSON)
	if *metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "TIME_WAIT Exporter",
			Description: "Prometheus exporter for Linux TCP TIME_WAIT and ephemeral port pressure",
			Version:     version.Info(),
			// No pprof is served (see docs/security.md): no links to it.
			Profiling: "false",
			Links: []web.LandingLinks{
				{Address: *metricsPath, Text: "Metrics"},
				{Address: "/doctor", Text: "Doctor: TIME_WAIT findings and fixes"},
				{Address: "/doctor.json", Text: "Doctor (JSON)"},
				{Address: "/-/healthy", Text: "Health"},
			},
		})
		if err != nil {
			logger.Error("Error creating landing page", "err", err)
			return 1
		}
		mux.Handle("/", landing)
	}

	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnContext:       withConnState,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	if err := web.ListenAndServe(server, toolkitFlags, logger); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("Error running HTTP server", "err", err)
		return 1
	}
	return 0
}

// newExporter builds the collectors the server and the doctor share, so
// both read the kernel the same way and cover the same namespaces. Each
// package gets the part of the configuration it reads: scan the netns
// section, the collectors what to export (SetExport, with the defaults
// until then).
func newExporter(logger *slog.Logger, netns config.Netns) (*collector.Exporter, error) {
	opts := collector.Options{
		Options: scan.Options{Logger: logger, ProcPath: *procPath, Netns: netns,
			Owners: *doctorOwners, PodLogDir: *netnsPodLogDir},
		Export:        config.Default().Export(),
		BoundInactive: *boundInactive,
	}
	if *netnsDiscover {
		opts.DiscoverNetns = true
	}
	return collector.New(opts)
}

// runDoctor takes one snapshot per scope, prints the findings and returns
// the exit status of the worst: 0 fine, 1 warning, 2 critical; 3 when it
// could not run at all (bad configuration, unknown format) or was
// interrupted (SIGINT, SIGTERM). A source still unread at --doctor.timeout
// is a finding of the report (sources that could not be read).
func runDoctor(logger *slog.Logger) int {
	if err := doctor.CheckFormat(*doctorOutput); err != nil {
		fmt.Fprintln(os.Stderr, "doctor:", err)
		return 3
	}
	cfg := config.Default()
	if *configFile != "" {
		var err error
		if cfg, err = config.Load(*configFile); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	exp, err := newExporter(logger, cfg.Netns)
	if err != nil {
		logger.Error("Error creating collectors", "err", err)
		return 3
	}
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sig, *doctorTimeout)
	defer cancel()
	snaps, ok := doctor.Bounded(ctx, exp.Snapshots, func() {})
	switch {
	case sig.Err() != nil:
		fmt.Fprintln(os.Stderr, "doctor: interrupted before the sources were read")
		printUnread(snaps)
		return 3
	case !ok:
		fmt.Fprintf(os.Stderr, "doctor: reading the sources did not end within --doctor.timeout=%s\n", *doctorTimeout)
		return 3
	}
	report := doctor.Diagnose(snaps, cfg)
	if err := doctor.Render(os.Stdout, report, *doctorOutput); err != nil {
		logger.Error("Error writing the report", "err", err)
		return 3
	}
	return report.ExitCode
}

// printUnread names on stderr the sources snaps could not read.
func printUnread(snaps []*scan.Snapshot) {
	for _, snap := range snaps {
		for _, name := range slices.Sorted(maps.Keys(snap.Errors)) {
			fmt.Fprintf(os.Stderr, "doctor: %s %v: %v\n", name, snap.Labels, snap.Errors[name])
		}
	}
}

// selfRegistry holds what is always exported about the exporter itself
// (build info, config reload status) and, unless disabled, the Go runtime,
// process and promhttp metrics.
func selfRegistry(sc *config.SafeConfig) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(buildInfo())
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: exporterName + "_config_last_reload_successful",
		Help: collector.Lookup(exporterName + "_config_last_reload_successful").Help,
	}, func() float64 {
		if sc.LastReloadSuccessful() {
			return 1
		}
		return 0
	}))
	r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: exporterName + "_config_reloads_failed_total",
		Help: collector.Lookup(exporterName + "_config_reloads_failed_total").Help,
	}, func() float64 { return float64(sc.FailedReloads()) }))
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: exporterName + "_config_last_reload_success_timestamp_seconds",
		Help: collector.Lookup(exporterName + "_config_last_reload_success_timestamp_seconds").Help,
	}, func() float64 { return float64(sc.LastReloadSuccessTime().UnixNano()) / 1e9 }))
	if !*disableExporterMetrics {
		r.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		r.MustRegister(collectors.NewGoCollector())
	}
	return r
}

func okHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "OK")
}

func displayPath(p string) string {
	if p == "" {
		return "(no config file)"
	}
	return p
}

// buildInfo is client_golang's version collector with a HELP of one short
// sentence (its own runs to 150 characters): the same name and labels.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: exporterName + "_build_info",
		Help: collector.Lookup(exporterName + "_build_info").Help,
	}, collector.Lookup(exporterName+"_build_info").Labels)
	g.WithLabelValues(version.Version, version.GetRevision(), version.Branch, version.GoVersion,
		version.GoOS, version.GoArch, version.GetTags()).Set(1)
	return g
}
