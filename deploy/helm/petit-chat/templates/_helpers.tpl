{{- define "petit-chat.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "petit-chat.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "petit-chat.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "petit-chat.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "petit-chat.fullname" .)) -}}
{{- end -}}

{{/* The volumes every pod mounts: the configuration and the secrets. */}}
{{- define "petit-chat.volumes" -}}
- name: config
  configMap:
    name: {{ include "petit-chat.fullname" . }}-config
- name: secrets
  secret:
    secretName: {{ include "petit-chat.secretName" . }}
    optional: true
{{- end -}}

{{- define "petit-chat.volumeMounts" -}}
- name: config
  mountPath: /etc/petit-chat
  readOnly: true
- name: secrets
  mountPath: /run/secrets/petit-chat
  readOnly: true
{{- end -}}
