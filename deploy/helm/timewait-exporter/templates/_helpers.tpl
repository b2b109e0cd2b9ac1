{{/* The chart's name, or nameOverride. */}}
{{- define "timewait-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: the release name if it contains the chart's name, else both. */}}
{{- define "timewait-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "timewait-exporter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "timewait-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "timewait-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "timewait-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "timewait-exporter.selectorLabels" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "timewait-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "timewait-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* registry/repository:tag[@digest]; the tag defaults to appVersion, as `make image` tags it. */}}
{{- define "timewait-exporter.image" -}}
{{- $ref := printf "%s/%s:%s" .Values.image.registry .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $ref .Values.image.digest }}
{{- else }}
{{- $ref }}
{{- end }}
{{- end }}

{{/* The --netns.discover configuration file's ConfigMap: named after its content, so an edit rolls the pods (as kustomize's configMapGenerator does). */}}
{{- define "timewait-exporter.configName" -}}
{{- printf "%s-config-%s" (include "timewait-exporter.fullname" .) (toYaml .Values.netnsDiscovery.config | sha256sum | trunc 10) }}
{{- end }}
