#!/usr/bin/env bash
# Checks the Helm chart (deploy/helm/petit-chat): `helm lint --strict`, then `helm
# template` with its default values and with secrets and more workers, and checks what it
# renders: an API Deployment, one worker Deployment per role, the Service, the
# PodDisruptionBudget, probes on /healthz and /readyz, the configuration and secrets
# mounted where the `*_file` keys read them.
#
# Helm is built from the Go module proxy (no release binary can be downloaded here) with
# the Go toolchain on the machine, once, into ~/.cache/petit-chat/helm-<version>/ (about 7
# minutes on 2 cores the first time). Knob: PETIT_CHAT_HELM (a helm binary to use instead).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${PETIT_CHAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/petit-chat}
HELM_VERSION=v4.3.2
CHART=$ROOT/deploy/helm/petit-chat

say() { printf '[helm] %s\n' "$*" >&2; }
die() { printf 'helm: error: %s\n' "$*" >&2; exit 1; }

helm=${PETIT_CHAT_HELM:-$CACHE/helm-$HELM_VERSION/helm}
if [[ ! -x $helm ]]; then
    if ! command -v go >/dev/null 2>&1; then
        [[ -x /usr/local/go/bin/go ]] && export PATH=$PATH:/usr/local/go/bin
    fi
    command -v go >/dev/null 2>&1 || die "Go is needed to build helm $HELM_VERSION (install Go 1.26+)"
    say "building helm $HELM_VERSION from the Go module proxy into $(dirname "$helm")"
    mkdir -p "$(dirname "$helm")"
    GOBIN=$(dirname "$helm") go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi
say "$("$helm" version --short 2>/dev/null || "$helm" version)"

"$helm" lint --strict "$CHART"

work=$(mktemp -d -t petit-chat-helm.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$helm" template chat "$CHART" >"$work/default.yaml"
"$helm" template chat "$CHART" --set secrets.store_password=s3cret --set workers.fanout.replicas=4 \
    --set workers.thumbnails.replicas=0 >"$work/tuned.yaml"

# What a rendering must hold; `count FILE PATTERN N`.
count() {
    local got
    got=$(grep -cE -- "$2" "$1" || true)
    [[ $got == "$3" ]] || die "$(basename "$1"): expected $3 lines matching '$2', found $got"
}
roles=(fanout presence index notify push thumbnails collector)
count "$work/default.yaml" '^kind: Deployment$' $((1 + ${#roles[@]}))
for role in "${roles[@]}"; do
    count "$work/default.yaml" "^  name: chat-petit-chat-$role\$" 1
    count "$work/default.yaml" "args: \\[\"worker\", \"--roles\", \"$role\"," 1
done
count "$work/default.yaml" 'args: \["serve", "--roles", "none", "--config", "/etc/petit-chat/config.toml"\]' 1
count "$work/default.yaml" '^kind: PodDisruptionBudget$' 1
count "$work/default.yaml" '^kind: Service$' 1
count "$work/default.yaml" 'httpGet: \{ path: /readyz, port: http \}' 1
count "$work/default.yaml" 'httpGet: \{ path: /healthz, port: (http|metrics) \}' $((1 + ${#roles[@]}))
count "$work/default.yaml" 'terminationGracePeriodSeconds: 40' $((1 + ${#roles[@]}))
count "$work/default.yaml" 'mountPath: /run/secrets/petit-chat' $((1 + ${#roles[@]}))
count "$work/default.yaml" 'password_file = "/run/secrets/petit-chat/store_password"' 1
count "$work/default.yaml" '^kind: Secret$' 0
count "$work/tuned.yaml" '^kind: Secret$' 1
count "$work/tuned.yaml" 'store_password: "s3cret"' 1
count "$work/tuned.yaml" '^kind: Deployment$' ${#roles[@]}
count "$work/tuned.yaml" '^  replicas: 4$' 1
say "chart linted and rendered: $(grep -c '^kind:' "$work/default.yaml") objects with the default values"
