{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "dicom-node.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: release-chart, or fullnameOverride. */}}
{{- define "dicom-node.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "dicom-node.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dicom-node.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
app.kubernetes.io/name: {{ include "dicom-node.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dicom-node.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dicom-node.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dicom-node.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "dicom-node.secretName" -}}
{{- default (include "dicom-node.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "dicom-node.claimName" -}}
{{- default (printf "%s-storage" (include "dicom-node.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* Environment shared by receivers and workers: the secrets as DICOM_NODE__SECTION__KEY overrides. */}}
{{- define "dicom-node.env" -}}
- name: DICOM_NODE_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "dicom-node.secretName" . }}
      key: database-password
- name: DICOM_NODE__STORAGE__DATABASE
  value: {{ printf "postgresql+psycopg://%s:$(DICOM_NODE_DB_PASSWORD)@%s:%v/%s" .Values.database.user .Values.database.host .Values.database.port .Values.database.name | quote }}
- name: DICOM_NODE__EXECUTION__BACKEND
  value: {{ ternary "celery" "local" .Values.worker.enabled | quote }}
{{- if .Values.worker.enabled }}
- name: DICOM_NODE__EXECUTION__BROKER
  valueFrom:
    secretKeyRef:
      name: {{ include "dicom-node.secretName" . }}
      key: broker-url
{{- end }}
{{- end -}}

{{/* Volumes shared by receivers and workers. */}}
{{- define "dicom-node.volumes" -}}
- name: storage
  persistentVolumeClaim:
    claimName: {{ include "dicom-node.claimName" . }}
- name: config
  configMap:
    name: {{ include "dicom-node.fullname" . }}
- name: secrets
  secret:
    secretName: {{ include "dicom-node.secretName" . }}
    defaultMode: 0400
    items:
      - key: anonymizer.key
        path: anonymizer.key
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "dicom-node.volumeMounts" -}}
- name: storage
  mountPath: {{ .Values.config.storage.path }}
- name: config
  mountPath: /etc/dicom-node/node.yaml
  subPath: node.yaml
  readOnly: true
- name: secrets
  mountPath: /etc/dicom-node/secrets
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}
