{{/* Names: every object is <fullname>-<part>. */}}
{{- define "nbspaces.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "nbspaces.hub" -}}{{ include "nbspaces.fullname" . }}-hub{{- end -}}
{{- define "nbspaces.proxy" -}}{{ include "nbspaces.fullname" . }}-proxy{{- end -}}
{{- define "nbspaces.proxyApi" -}}{{ include "nbspaces.fullname" . }}-proxy-api{{- end -}}
{{- define "nbspaces.proxyPublic" -}}{{ include "nbspaces.fullname" . }}-proxy-public{{- end -}}
{{- define "nbspaces.secret" -}}{{ include "nbspaces.fullname" . }}-secret{{- end -}}

{{- define "nbspaces.labels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: hub, proxy, or singleuser-server (the label KubeSpawner
gives user pods; the hub config adds the instance label to them). */}}
{{- define "nbspaces.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The restricted Pod Security Standard, for the hub and the proxy. */}}
{{- define "nbspaces.containerSecurity" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
A generated secret that survives upgrades: the value given in the chart's values, else the one in
.data (the cluster's Secret, which hub-secret.yaml looks up once; empty under `helm template`),
else 64 random hex chars.
*/}}
{{- define "nbspaces.persistentSecret" -}}
{{- if .value -}}
{{- .value -}}
{{- else if hasKey .data .key -}}
{{- get .data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 64 | sha256sum -}}
{{- end -}}
{{- end -}}

{{/*
Checksums of the secret values given in the chart's values, for pod annotations: a change restarts
the pods that read them. Not of the rendered Secret: its generated values are random under `helm
template`, and the cluster keeps them anyway. (Values in the operator's existingSecrets are not seen.)
*/}}
{{- define "nbspaces.hubSecretChecksum" -}}
{{- $given := dict
  "hub" (pick .Values.hub "cryptKey" "cookieSecret" "nbspacesSecret")
  "db" (pick .Values.hub.db "url" "existingSecret")
  "proxy" .Values.proxy.secretToken
  "checkin" (pick .Values.auth.checkin "clientSecret" "existingSecret")
  "extraConfig" .Values.hub.extraConfig -}}
{{- $given | toJson | sha256sum -}}
{{- end -}}
{{- define "nbspaces.proxySecretChecksum" -}}
{{- dict "proxy" .Values.proxy.secretToken | toJson | sha256sum -}}
{{- end -}}
