{{- define "berth.fullname" -}}
{{- if contains "berth" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-berth" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "berth.labels" -}}
app.kubernetes.io/name: berth
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "berth.selector" -}}
app.kubernetes.io/name: berth
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "berth.secretName" -}}
{{- default (include "berth.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "berth.env" -}}
- name: BERTH_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "berth.fullname" .) .Values.database.existingSecret }}
      key: {{ if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}BERTH_DATABASE_URL{{ end }}
- name: BERTH_SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ include "berth.secretName" . }}, key: BERTH_SECRET_KEY}}
- name: BERTH_ENCRYPTION_KEY
  valueFrom: {secretKeyRef: {name: {{ include "berth.secretName" . }}, key: BERTH_ENCRYPTION_KEY}}
{{- if or .Values.metrics.token .Values.metrics.existingSecret }}
- name: BERTH_METRICS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ default (include "berth.fullname" .) .Values.metrics.existingSecret }}
      key: {{ if .Values.metrics.existingSecret }}{{ .Values.metrics.existingSecretKey }}{{ else }}BERTH_METRICS_TOKEN{{ end }}
{{- end }}
{{- end -}}

{{- define "berth.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}
