# Sourced by scripts/run and scripts/test: the web client's tools and build. Node.js and
# npm come with the machines this project targets (Debian's packages otherwise, when run
# as root); npm packages are installed from web/package-lock.json (`npm ci`, from npm's
# cache when it has them) and again only when the lock file changes. Chromium for the
# end-to-end tests is Debian's package (browsers are never downloaded by a test tool).

WEB_DIR=${WEB_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../web" && pwd)}

web_say() { printf '[web] %s\n' "$*" >&2; }

apt_install() { # PACKAGE...
    [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1 || return 1
    web_say "installing $* with apt-get"
    apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; }
}

# Node.js 20.19 or newer (Vite 8's floor) and npm; returns 1 when neither is possible.
ensure_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm || return 1
    fi
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' || {
        web_say "Node.js $(node --version) is older than 20.19, which the web client's build needs"
        return 1
    }
}

# npm packages of the lock file, reinstalled only when the lock file changed.
web_deps() {
    local stamp=$WEB_DIR/node_modules/.petit-chat-lock
    if [[ -f $stamp ]] && cmp -s "$stamp" "$WEB_DIR/package-lock.json"; then
        return 0
    fi
    web_say "npm ci (web/package-lock.json)"
    (cd "$WEB_DIR" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
    cp "$WEB_DIR/package-lock.json" "$stamp"
}

# Builds web/dist with the typed client of the API of the binary $1.
web_build() { # PETIT_CHAT_BINARY
    web_deps
    (cd "$WEB_DIR" && PETIT_CHAT_BIN=$1 npm run --silent build)
}

# Debian's Chromium, for the end-to-end tests.
ensure_chromium() {
    local chromium=${PETIT_CHAT_CHROMIUM:-/usr/bin/chromium}
    [[ -x $chromium ]] && return 0
    apt_install chromium || { web_say "no Chromium at $chromium: apt-get install chromium (as root)"; return 1; }
}
