module github.com/timewait-exporter/timewait_exporter/deploy/prometheus/rules/generator

go 1.22

require gopkg.in/yaml.v3 v3.0.1
