module github.com/timewait-exporter/timewait_exporter/dashboards/generator

go 1.22
