{{/* Chart name, possibly overridden. */}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified name: the release name, with the chart name added unless it already contains it. */}}
{{- define "sluice.fullname" -}}
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

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: stream-processor
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The topology document: topologyJson as it is, else the topology map rendered as JSON. */}}
{{- define "sluice.topologyJson" -}}
{{- if .Values.topologyJson }}
{{- .Values.topologyJson }}
{{- else }}
{{- toRawJson .Values.topology }}
{{- end }}
{{- end }}

{{/* Memory limit in MiB: state_memory_mb plus the fixed and per-thread overheads (see values.yaml). */}}
{{- define "sluice.memoryMb" -}}
{{- add (int .Values.memory.stateMemoryMb) (int .Values.memory.overheadMb) (mul (int .Values.processingThreads) (int .Values.memory.perThreadOverheadMb)) }}
{{- end }}

{{- define "sluice.tlsMountPath" -}}/etc/sluice/kafka-tls{{- end }}
{{- define "sluice.httpTlsMountPath" -}}/etc/sluice/http-tls{{- end }}
{{- define "sluice.httpScheme" -}}{{ if .Values.http.tls.existingSecret }}https{{ else }}http{{ end }}{{- end }}

{{/*
Fails when a settings or kafka.properties name looks like a secret (the rule of sluice's is_secret_setting with its secret table settings (basic_auth), minus
*.location paths): the ConfigMap is not the place for one. Called with (list "settings" $name) and the like.
*/}}
{{- define "sluice.refuseSecret" -}}
{{- $where := index . 0 }}{{- $name := index . 1 }}
{{- $lowered := lower $name }}
{{- if not (hasSuffix ".location" $lowered) }}
{{- range $part := list "password" "secret" "token" "credential" "private" "sasl.jaas.config" "sasl.oauthbearer.config" "ssl.key.pem" "ssl_key" "ssl.keystore" "basic_auth" }}
{{- if contains $part $lowered }}
{{- fail (printf "%s.%s looks like a secret and would be written into a ConfigMap; put it in a Secret and pass it with extraEnv (SLUICE_%s from valueFrom.secretKeyRef)" $where $name (upper (replace "." "_" (ternary (printf "kafka.%s" $name) $name (eq $where "kafka.properties"))))) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
settings.json: the sluice settings the chart derives from values, then .Values.settings and kafka.properties.
Secrets never appear here; they come in through environment variables from Secrets.
*/}}
{{- define "sluice.settings" -}}
{{- $protocol := .Values.kafka.securityProtocol | upper }}
{{- $settings := dict
  "bootstrap_servers" .Values.kafka.bootstrapServers
  "http_port" (int .Values.service.port)
  "state_dir" .Values.persistence.mountPath
  "state_memory_mb" (int .Values.memory.stateMemoryMb)
  "shutdown_timeout" (printf "%ds" (int .Values.shutdownTimeoutSeconds))
  "session_timeout" .Values.sessionTimeout
  "kafka.security.protocol" $protocol }}
{{- if .Values.kafka.sasl.existingSecret }}
{{- $_ := set $settings "kafka.sasl.mechanism" .Values.kafka.sasl.mechanism }}
{{- end }}
{{- with .Values.kafka.ssl }}
{{- if .existingSecret }}
{{- if .caKey }}{{ $_ := set $settings "kafka.ssl.ca.location" (printf "%s/%s" (include "sluice.tlsMountPath" $) .caKey) }}{{ end }}
{{- if .certificateKey }}{{ $_ := set $settings "kafka.ssl.certificate.location" (printf "%s/%s" (include "sluice.tlsMountPath" $) .certificateKey) }}{{ end }}
{{- if .keyKey }}{{ $_ := set $settings "kafka.ssl.key.location" (printf "%s/%s" (include "sluice.tlsMountPath" $) .keyKey) }}{{ end }}
{{- end }}
{{- end }}
{{- if .Values.http.tls.existingSecret }}
{{- $_ := set $settings "http_tls_cert_file" (printf "%s/tls.crt" (include "sluice.httpTlsMountPath" $)) }}
{{- $_ := set $settings "http_tls_key_file" (printf "%s/tls.key" (include "sluice.httpTlsMountPath" $)) }}
{{- end }}
{{- range $name, $value := .Values.settings }}
{{- include "sluice.refuseSecret" (list "settings" $name) }}
{{- if hasKey $settings $name }}
{{- fail (printf "settings.%s is set by the chart from other values (see values.yaml); set it there instead" $name) }}
{{- end }}
{{- $_ := set $settings $name $value }}
{{- end }}
{{- range $property, $value := .Values.kafka.properties }}
{{- include "sluice.refuseSecret" (list "kafka.properties" $property) }}
{{- $_ := set $settings (printf "kafka.%s" $property) $value }}
{{- end }}
{{- toPrettyJson $settings }}
{{- end }}

{{/* Refuses combinations that would fail at run time, with a message naming the values to change. */}}
{{- define "sluice.validate" -}}
{{- $protocol := .Values.kafka.securityProtocol | upper }}
{{- if not (has $protocol (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) }}
{{- fail (printf "kafka.securityProtocol %q is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL" .Values.kafka.securityProtocol) }}
{{- end }}
{{- if and .Values.kafka.sasl.existingSecret (not (hasPrefix "SASL_" $protocol)) }}
{{- fail "kafka.sasl.existingSecret is set but kafka.securityProtocol is not SASL_PLAINTEXT or SASL_SSL" }}
{{- end }}
{{- if and .Values.kafka.ssl.existingSecret (not (has $protocol (list "SSL" "SASL_SSL"))) }}
{{- fail "kafka.ssl.existingSecret is set but kafka.securityProtocol is not SSL or SASL_SSL" }}
{{- end }}
{{- if lt (int .Values.processingThreads) 1 }}
{{- fail "processingThreads must be at least 1" }}
{{- end }}
{{- if lt (int .Values.memory.stateMemoryMb) 16 }}
{{- fail "memory.stateMemoryMb must be at least 16 (sluice's state_memory_mb minimum)" }}
{{- end }}
{{- end }}

{{/* The topology's application_id (the consumer group), for NOTES.txt. */}}
{{- define "sluice.applicationId" -}}
{{- (fromJson (include "sluice.topologyJson" .)).application_id }}
{{- end }}

{{- define "sluice.validateTopology" -}}
{{- if .Values.topologyJson }}
{{- $parsed := fromJson .Values.topologyJson }}
{{- if hasKey $parsed "Error" }}
{{- fail (printf "topologyJson is not a JSON document: %s" (get $parsed "Error")) }}
{{- end }}
{{- else if not (and (kindIs "map" .Values.topology) .Values.topology.application_id) }}
{{- fail "topology must be a topology document (a map with application_id, sources, operators, sinks), or set topologyJson" }}
{{- end }}
{{- end }}
