#!/bin/sh
# The main job on a real one-node Slurm cluster: installs Slurm and munge (Debian packages) if
# missing, starts munged (unless one already answers), slurmctld and slurmd on loopback with
# a configuration of its own, submits a small run as 4 shards and the merge
# (scripts/cluster/submit), waits for the merge job, checks that its results equal the same run
# on this machine in one piece (Tests/cluster/compare.lua), and stops every daemon it started.
#
#   sh Tests/cluster/slurm.sh        (as root, from the package root, after the build; make test)
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
host=$root/.build/release/smia-lua
[ "$(id -u)" = 0 ] || { echo "slurm.sh: must run as root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }
[ -x "$host" ] || { echo "slurm.sh: build the host first (swift build -c release)" >&2; exit 1; }

# One cluster at a time on this machine (several checkouts may run their tests at once).
exec 9>/tmp/smia-slurm-test.lock
flock 9

work=$(mktemp -d /tmp/smia-slurm.XXXXXX)
chmod 755 "$work"
started_munged=""
created_policy=""
ctld_pid=""
slurmd_pid=""

log() { echo "slurm.sh: $*"; }

stop() {
  status=$?
  set +e
  if [ -n "$ctld_pid" ]; then
    SLURM_CONF=$work/slurm.conf scancel --user=root >/dev/null 2>&1
    i=0
    while [ -n "$(SLURM_CONF=$work/slurm.conf squeue -h -u root 2>/dev/null)" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
  fi
  for pid in $slurmd_pid $ctld_pid $started_munged; do
    kill "$pid" 2>/dev/null
  done
  for pid in $slurmd_pid $ctld_pid $started_munged; do
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  done
  [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
  if [ $status -ne 0 ]; then
    for f in "$work"/log/*.log "$work"/cluster/logs/*.log; do
      [ -f "$f" ] && { echo "---- $f"; tail -n 30 "$f"; }
    done
  fi
  rm -rf "$work"
  exit $status
}
trap stop EXIT
trap 'exit 1' INT TERM

# Packages, without letting their install scripts start daemons we would not own.
missing=""
for p in munge slurmctld slurmd slurm-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing$missing"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

for port in 1AA1 1AA2; do  # 6817 and 6818, as /proc/net/tcp writes them
  if awk -v p=":$port" '$2 ~ p"$" && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
    echo "slurm.sh: port $((0x$port)) is in use (another Slurm?); stop it first" >&2
    exit 1
  fi
done

# munge: the machine's own if it answers, else one started here.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- munged
  i=0
  while [ ! -s /run/munge/munged.pid ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  started_munged=$(cat /run/munge/munged.pid)
  munge -n | unmunge >/dev/null
fi

# A cluster of one node, localhost, in $work.
mkdir -p "$work/state" "$work/spool" "$work/log"
cpus=$(nproc)
memory=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
cat >"$work/slurm.conf" <<CONF
ClusterName=smia-test
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
DependencyParameters=kill_invalid_depend
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"

slurmctld -c -f "$SLURM_CONF"
i=0
while [ ! -s "$work/slurmctld.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ctld_pid=$(cat "$work/slurmctld.pid")
slurmd -N localhost -f "$SLURM_CONF"
i=0
while [ ! -s "$work/slurmd.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
slurmd_pid=$(cat "$work/slurmd.pid")
log "slurmctld ($ctld_pid) and slurmd ($slurmd_pid) started"

# Loopback only: once both listen, no socket on their ports listens on another address.
listening() {  # $1: a port in hex; prints the local addresses listening on it
  awk -v p=":$1" '$2 ~ p"$" && $4 == "0A" { print $2 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
i=0
while { [ -z "$(listening 1AA1)" ] || [ -z "$(listening 1AA2)" ]; } && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
for port in 1AA1 1AA2; do
  [ -n "$(listening $port)" ] || { echo "slurm.sh: nothing listens on port $((0x$port))" >&2; exit 1; }
  for address in $(listening $port); do
    case "$address" in
      0100007F:* | 00000000000000000000000001000000:*) ;;
      *) echo "slurm.sh: port $((0x$port)) listens on $address, not only on loopback" >&2; exit 1 ;;
    esac
  done
done

# The run: in one piece here, then on the cluster as 4 shards and a merge.
options="--tasks fashion_mnist,fundus --n 12 --batch-size 3 --steps 2"
cd "$root"
# shellcheck disable=SC2086
"$host" scripts/smia.lua $options --quiet --out "$work/single" >/dev/null
# shellcheck disable=SC2086
merge=$(scripts/cluster/submit 4 $options --out "$work/cluster" | tail -n 1)
log "submitted; merge job $merge"

# Wait for the merge job to end (it stays listed for MinJobAge after).
state=""
i=0
while [ $i -lt 3000 ]; do
  state=$(scontrol -o show job "$merge" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  case "$state" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED | DEADLINE) break ;; esac
  sleep 0.2
  i=$((i + 1))
done
log "merge job $merge: $state"
[ "$state" = COMPLETED ] || { echo "slurm.sh: the merge job ended $state" >&2; exit 1; }

"$host" Tests/cluster/compare.lua "$work/cluster" "$work/single"
log "the merged results of 4 shards equal the single run"
