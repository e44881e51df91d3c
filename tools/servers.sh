#!/usr/bin/env bash
# Finds or builds the real servers Ferry runs locally, at the versions pinned in tools/versions.env.
#
#   tools/servers.sh ensure [NAME...]   build what is missing (default: all), print NAME=path lines
#   tools/servers.sh env                print FERRY_<NAME>_BIN=path for every server (builds if missing)
#   tools/servers.sh versions           print each resolved binary's own version line
#   tools/servers.sh schema             print the directory of Temporal's PostgreSQL schema files
#                                       (\$FERRY_TEMPORAL_SCHEMA_DIR, else copied into the cache)
#
# NAME is one of: temporal, temporal-test-server, temporal-server, temporal-sql-tool,
# kube-apiserver, kubectl, etcd, kube-controller-manager, kube-scheduler, kubelet.
# Lookup order per binary: $FERRY_<NAME>_BIN, then PATH (if its version is new enough), then the
# cache ($FERRY_CACHE_DIR, default ~/.cache/ferry), then a build from the registries into the cache.
# Builds print their wall time and peak memory (GNU time) to stderr and to the cache's logs/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${FERRY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}
bindir=$cache/bin
logdir=$cache/logs
mkdir -p "$bindir" "$logdir"
ALL=(temporal temporal-test-server temporal-server temporal-sql-tool etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet)

log() { printf '[servers] %s\n' "$*" >&2; }
die() { printf '[servers] error: %s\n' "$*" >&2; exit 1; }

envname() { # temporal-test-server -> FERRY_TEMPORAL_TEST_SERVER_BIN
  local n=${1//-/_}
  printf 'FERRY_%s_BIN' "${n^^}"
}

cached_path() {
  case $1 in
    temporal) echo "$bindir/temporal-$TEMPORAL_CLI_VERSION" ;;
    temporal-test-server) echo "$bindir/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION" ;;
    temporal-server | temporal-sql-tool) echo "$bindir/$1-$TEMPORAL_SERVER_VERSION" ;;
    etcd) echo "$bindir/etcd-$ETCD_VERSION" ;;
    kube-apiserver) echo "$bindir/kube-apiserver-$KUBERNETES_VERSION" ;;
    kubectl) echo "$bindir/kubectl-$KUBERNETES_VERSION" ;;
    kube-controller-manager | kube-scheduler | kubelet) echo "$bindir/$1-$KUBERNETES_VERSION" ;;
    *) die "unknown server '$1' (expected one of: ${ALL[*]})" ;;
  esac
}

# version_ok NAME PATH: is a binary found on PATH recent enough to use?
version_ok() {
  local out
  case $1 in
    etcd)
      out=$("$2" --version 2>/dev/null | sed -n 's/^etcd Version: \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
      [[ -n $out ]] && read -r ma mi <<<"$out" && ((ma > 3 || (ma == 3 && mi >= 5))) ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubelet)
      out=$("$2" --version 2>/dev/null | sed -n 's/^Kubernetes v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
      [[ -n $out ]] && read -r ma mi <<<"$out" && ((ma > 1 || (ma == 1 && mi >= 33))) ;;
    kubectl) # kubectl supports one minor version of skew against kube-apiserver
      local want=${KUBERNETES_VERSION#v1.}; want=$(( ${want%%.*} - 1 ))
      out=$("$2" version --client 2>/dev/null | sed -n 's/^Client Version: v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
      [[ -n $out ]] && read -r ma mi <<<"$out" && ((ma > 1 || (ma == 1 && mi >= want))) ;;
    temporal) "$2" --version >/dev/null 2>&1 ;;
    # The schema files come from the pinned module: only the same server (and tool) fit them.
    temporal-server | temporal-sql-tool)
      [[ $("$2" --version 2>/dev/null) == *" version ${TEMPORAL_SERVER_VERSION#v}" ]] ;;
    *) return 0 ;;
  esac
}

timed() { # timed NAME CMD...: run a build step, record wall time and peak RSS
  local name=$1; shift
  local tf=$logdir/$name.time
  log "building $name (log: $logdir/$name.log)"
  if ! /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$logdir/$name.log" 2>&1; then
    tail -n 40 "$logdir/$name.log" >&2
    die "building $name failed; full log: $logdir/$name.log"
  fi
  read -r secs kib <"$tf"
  log "built $name in ${secs}s, peak memory $((kib / 1024)) MiB"
}

build_temporal() {
  local out; out=$(cached_path temporal)
  local tmp; tmp=$(mktemp -d "$cache/gobin.XXXX")
  # Stamp the version `go install` leaves at 0.0.0-DEV, so logs say which CLI ran.
  timed temporal env GOBIN="$tmp" CGO_ENABLED=0 go install \
    -ldflags "-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION#v}" \
    "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION"
  mv "$tmp/temporal" "$out" && rmdir "$tmp"
}

build_temporal_server() { # build_temporal_server temporal-server|temporal-sql-tool
  local name=$1 out pkg
  out=$(cached_path "$name")
  case $name in
    temporal-server) pkg=go.temporal.io/server/cmd/server ;;
    temporal-sql-tool) pkg=go.temporal.io/server/cmd/tools/sql ;;
  esac
  local tmp; tmp=$(mktemp -d "$cache/gobin.XXXX")
  # Pure Go (the SQLite driver is modernc's), so no cgo toolchain; go install names it after the
  # package's folder (server, sql).
  timed "$name" env GOBIN="$tmp" CGO_ENABLED=0 go install "$pkg@$TEMPORAL_SERVER_VERSION"
  mv "$tmp/$(basename "$pkg")" "$out" && rmdir "$tmp"
}

schema_dir() { # the PostgreSQL v12 schema of the pinned server, copied once from the module
  if [[ -n ${FERRY_TEMPORAL_SCHEMA_DIR:-} ]]; then
    [[ -d $FERRY_TEMPORAL_SCHEMA_DIR/temporal/versioned ]] ||
      die "FERRY_TEMPORAL_SCHEMA_DIR=$FERRY_TEMPORAL_SCHEMA_DIR has no temporal/versioned folder"
    echo "$FERRY_TEMPORAL_SCHEMA_DIR"; return
  fi
  local out=$cache/share/temporal-schema-$TEMPORAL_SERVER_VERSION/postgresql/v12
  if [[ ! -d $out/visibility/versioned ]]; then
    local moddir
    moddir=$(go mod download -json "go.temporal.io/server@$TEMPORAL_SERVER_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
    [[ -d $moddir/schema/postgresql/v12 ]] ||
      die "could not fetch go.temporal.io/server@$TEMPORAL_SERVER_VERSION's schema/postgresql/v12"
    mkdir -p "$out.tmp" && cp -R "$moddir/schema/postgresql/v12/." "$out.tmp/" && chmod -R u+w "$out.tmp"
    rm -rf "$out" && mv "$out.tmp" "$out"
  fi
  echo "$out"
}

build_etcd() {
  local out; out=$(cached_path etcd)
  local mod=$cache/src/etcd-$ETCD_VERSION
  mkdir -p "$mod"
  # A wrapper module: etcd's own go.mod has replace directives, which `go install` refuses, but a
  # dependency's replace directives are ignored, so building its main package from here works.
  cat >"$mod/go.mod" <<EOF
module ferry.local/etcd-build

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
  (cd "$mod" && GOFLAGS=-mod=mod go mod download go.etcd.io/etcd/server/v3)
  timed etcd bash -c "cd '$mod' && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o '$out.tmp' go.etcd.io/etcd/server/v3"
  mv "$out.tmp" "$out"
}

kube_module() { # prepare the wrapper module for k8s.io/kubernetes; prints its dir
  local mod=$cache/src/kubernetes-$KUBERNETES_VERSION
  local minor=${KUBERNETES_VERSION#v1.}; local staging=v0.$minor
  if [[ ! -f $mod/go.sum ]]; then
    mkdir -p "$mod"
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
    [[ -f $gomod ]] || die "could not fetch k8s.io/kubernetes@$KUBERNETES_VERSION's go.mod"
    {
      echo "module ferry.local/kubernetes-build"
      echo
      grep -m1 '^go ' "$gomod"
      echo
      echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
      echo
      echo "replace ("
      # Every staging module k8s.io/kubernetes replaces with ./staging/... maps to its published
      # release v0.<minor>.<patch>, which is the same code.
      sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$gomod"
      echo ")"
    } >"$mod/go.mod"
    (cd "$mod" && GOFLAGS=-mod=mod go mod download all >/dev/null 2>&1 || true)
    touch "$mod/go.sum"
  fi
  echo "$mod"
}

build_kube() { # build_kube kube-apiserver|kubectl|kube-controller-manager|kube-scheduler|kubelet
  local name=$1 out mod
  out=$(cached_path "$name")
  mod=$(kube_module)
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  timed "$name" bash -c "cd '$mod' && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags '$ld' -o '$out.tmp' k8s.io/kubernetes/cmd/$name"
  mv "$out.tmp" "$out"
}

build_test_server() {
  local out; out=$(cached_path temporal-test-server)
  local mod=$cache/src/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION
  mkdir -p "$mod"
  cat >"$mod/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ferry.local</groupId>
  <artifactId>temporal-test-server-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>$TEMPORAL_TEST_SERVER_VERSION</version>
    </dependency>
    <dependency><!-- silences SLF4J's "no binding" warnings on every start -->
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-nop</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
EOF
  timed temporal-test-server mvn -B -q -f "$mod/pom.xml" dependency:build-classpath "-Dmdep.outputFile=$mod/classpath.txt"
  [[ -s $mod/classpath.txt ]] || die "maven produced no classpath for temporal-test-server"
  # @temporalio/testing runs this as an 'existing-path' executable with '<port> --enable-time-skipping'.
  # exec, so the JVM is the process the SDK started and dies with it (no orphaned JVM).
  cat >"$out.tmp" <<EOF
#!/bin/sh
exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -cp "\$(cat '$mod/classpath.txt')" io.temporal.testserver.TestServer "\$@"
EOF
  chmod +x "$out.tmp" && mv "$out.tmp" "$out"
}

resolve() { # resolve NAME [build]: print the path of NAME's binary; build into the cache if allowed
  local name=$1 build=${2:-build} var path
  var=$(envname "$name")
  if [[ -n ${!var:-} ]]; then
    [[ -x ${!var} ]] || die "$var=${!var} is not an executable file"
    echo "${!var}"; return
  fi
  if [[ $name != temporal-test-server ]] && path=$(command -v "$name" 2>/dev/null) && version_ok "$name" "$path"; then
    echo "$path"; return
  fi
  path=$(cached_path "$name")
  if [[ ! -x $path ]]; then
    [[ $build == build ]] || die "$name not found: set $var, put it on PATH, or run tools/servers.sh ensure $name"
    case $name in
      temporal) build_temporal ;;
      temporal-test-server) build_test_server ;;
      temporal-server | temporal-sql-tool) build_temporal_server "$name" ;;
      etcd) build_etcd ;;
      kube-apiserver | kubectl | kube-controller-manager | kube-scheduler | kubelet) build_kube "$name" ;;
    esac
  fi
  echo "$path"
}

version_of() {
  case $1 in
    temporal | temporal-server | temporal-sql-tool) "$2" --version 2>&1 | head -n1 ;;
    temporal-test-server) echo "io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION (java $(java -version 2>&1 | sed -n '1s/.*"\(.*\)".*/\1/p'))" ;;
    etcd) "$2" --version 2>&1 | head -n1 ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubelet) "$2" --version 2>&1 | head -n1 ;;
    kubectl) "$2" version --client 2>&1 | head -n1 ;;
  esac
}

cmd=${1:-ensure}; shift || true
names=("$@"); ((${#names[@]})) || names=("${ALL[@]}")
case $cmd in
  ensure) for n in "${names[@]}"; do echo "$n=$(resolve "$n")"; done ;;
  env) for n in "${names[@]}"; do echo "$(envname "$n")=$(resolve "$n")"; done ;;
  schema) schema_dir ;;
  versions) for n in "${names[@]}"; do p=$(resolve "$n" nobuild); echo "$n: $(version_of "$n" "$p") [$p]"; done ;;
  *) die "unknown command '$cmd' (expected ensure, env, versions or schema)" ;;
esac
