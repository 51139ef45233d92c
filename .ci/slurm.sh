#!/usr/bin/env bash
# .ci/slurm.sh - a real single-node SLURM cluster for CI and development (derived from the tested
# reference ../shared/tools/start-slurm.sh; facts in docs/cluster.md).
#
#   bash .ci/slurm.sh [start]   install (apt), configure and start munged + slurmctld + slurmd as
#                               plain background daemons (no systemd, cgroups or slurmdbd); waits
#                               until the node is idle. Idempotent: re-uses packages and daemons.
#   bash .ci/slurm.sh stop      stop exactly the daemons named by our pidfiles (by PID);
#                               SLURM_STOP=1 bash .ci/slurm.sh does the same.
#   bash .ci/slurm.sh status    exit 0 when the node answers and is usable, 1 otherwise.
#
# Env knobs:
#   SLURM_FAKE_GPUS=N     fake GPUs declared as gres gpu (backed by /dev/null); 0 disables (default 1)
#   SLURM_PARTITION=name  partition name (default debug; profiles/slurm/config.yaml uses it)
#   SLURM_WAIT_S=secs     how long to wait for the node to become idle (default 60)
#   SLURM_SKIP_INSTALL=1  never call apt-get (packages must be installed)
# Must run as root (it writes /etc/slurm, /etc/munge and starts daemons).
set -euo pipefail

ACTION="${1:-start}"
[[ "${SLURM_STOP:-0}" == 1 ]] && ACTION=stop
FAKE_GPUS="${SLURM_FAKE_GPUS:-1}"
PARTITION="${SLURM_PARTITION:-debug}"
WAIT_S="${SLURM_WAIT_S:-60}"
CONF_DIR=/etc/slurm
STATE_DIR=/var/spool/slurm
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
MUNGE_PID=/run/munge/munged.pid
CTLD_PID="$RUN_DIR/slurmctld.pid"
SLURMD_PID="$RUN_DIR/slurmd.pid"

die() { echo "slurm.sh: ERROR: $*" >&2; exit 1; }
log() { echo "slurm.sh: $*"; }

# true if the pidfile names a live (non-zombie) process
pid_alive() {
    [[ -s "$1" ]] || return 1
    local p
    p=$(cat "$1")
    [[ -r "/proc/$p/status" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$p/status"
}

# kill the daemon named by a pidfile (that PID only) and wait up to 10 s for it to exit
stop_pidfile() {
    local f=$1 p
    pid_alive "$f" || return 0
    p=$(cat "$f")
    log "stopping pid $p ($f)"
    kill "$p" 2>/dev/null || true
    for _ in $(seq 40); do
        pid_alive "$f" || return 0
        sleep 0.25
    done
    log "pid $p did not exit after 10 s"
}

node_state() { sinfo -h -N -n "$(hostname -s)" -o '%T' 2>/dev/null | head -1 || true; }

case "$ACTION" in
    stop)
        for f in "$SLURMD_PID" "$CTLD_PID" "$MUNGE_PID"; do stop_pidfile "$f"; done
        exit 0 ;;
    status)
        command -v sinfo >/dev/null 2>&1 || { echo "slurm not installed"; exit 1; }
        state=$(node_state)
        echo "node $(hostname -s): ${state:-no answer}"
        [[ "$state" == idle* || "$state" == mixed* || "$state" == allocated* ]]
        exit ;;
    start) ;;
    *) die "unknown action '$ACTION' (start | stop | status)" ;;
esac

[[ $(id -u) -eq 0 ]] || die "must run as root"

# ---------------------------------------------------------------- install
missing=0
for b in slurmctld slurmd sinfo munged; do command -v "$b" >/dev/null 2>&1 || missing=1; done
if (( missing )); then
    [[ "${SLURM_SKIP_INSTALL:-0}" == 1 ]] && die "slurm/munge not installed and SLURM_SKIP_INSTALL=1"
    log "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    # Without systemd the packages' postinst 'start' is a no-op; we start the daemons below.
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
        || die "apt-get install slurmctld slurmd slurm-client munge failed"
fi

# ---------------------------------------------------------------- munge
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating munge key"
    if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if pid_alive "$MUNGE_PID"; then
    log "munged already running (pid $(cat "$MUNGE_PID"))"
else
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID" \
        || die "munged failed to start (see /var/log/munge/munged.log)"
fi
for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
munge -n | unmunge >/dev/null 2>&1 || die "munge credential round-trip failed (munged not working)"

# ---------------------------------------------------------------- config
HOST=$(hostname -s)
# The node's real CPUs and memory, e.g. "CPUs=2 Boards=1 ... RealMemory=24105": declaring more
# than the machine has makes slurmd drain the node.
NODE_HW=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //') || die "slurmd -C failed"
[[ "$NODE_HW" == *CPUs=* && "$NODE_HW" == *RealMemory=* ]] || die "unexpected 'slurmd -C' output: $NODE_HW"
GRES_NODE=""
GRES_TYPES=""
if (( FAKE_GPUS > 0 )); then GRES_NODE="Gres=gpu:${FAKE_GPUS}"; GRES_TYPES="GresTypes=gpu"; fi

mkdir -p "$CONF_DIR" "$STATE_DIR/ctld" "$STATE_DIR/d" "$LOG_DIR" "$RUN_DIR"
NEW_CONF=$(cat <<CONF
# generated by cine2lge .ci/slurm.sh - single node test cluster, no cgroups, no slurmdbd
ClusterName=ci
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=${STATE_DIR}/ctld
SlurmdSpoolDir=${STATE_DIR}/d
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# keep finished jobs visible to 'squeue --states=all' (the profile's slurm-status-command: squeue)
MinJobAge=600
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MpiDefault=none
MailProg=/bin/true
${GRES_TYPES}
NodeName=${HOST} NodeAddr=127.0.0.1 ${NODE_HW} ${GRES_NODE} State=UNKNOWN
PartitionName=${PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
)
CONF_CHANGED=0
if [[ ! -f "$CONF_DIR/slurm.conf" ]] || ! diff -q <(echo "$NEW_CONF") "$CONF_DIR/slurm.conf" >/dev/null; then
    echo "$NEW_CONF" > "$CONF_DIR/slurm.conf"
    CONF_CHANGED=1
fi
# gres.conf: fake GPU(s) backed by /dev/null (a real char device, so slurmd accepts it). Slurm
# needs distinct device files per GPU, so more than one fake GPU is declared by Count= only.
if (( FAKE_GPUS == 1 )); then
    printf 'AutoDetect=off\nNodeName=%s Name=gpu File=/dev/null\n' "$HOST" > "$CONF_DIR/gres.conf.new"
elif (( FAKE_GPUS > 1 )); then
    printf 'AutoDetect=off\nNodeName=%s Name=gpu Count=%s\n' "$HOST" "$FAKE_GPUS" > "$CONF_DIR/gres.conf.new"
else
    : > "$CONF_DIR/gres.conf.new"
fi
cmp -s "$CONF_DIR/gres.conf.new" "$CONF_DIR/gres.conf" 2>/dev/null || CONF_CHANGED=1
mv "$CONF_DIR/gres.conf.new" "$CONF_DIR/gres.conf"

# ---------------------------------------------------------------- daemons
if (( CONF_CHANGED )) && { pid_alive "$CTLD_PID" || pid_alive "$SLURMD_PID"; }; then
    log "slurm config changed: restarting slurm daemons"
    for f in "$SLURMD_PID" "$CTLD_PID"; do stop_pidfile "$f"; done
fi
if pid_alive "$CTLD_PID"; then
    log "slurmctld already running (pid $(cat "$CTLD_PID"))"
else
    log "starting slurmctld"
    # -i: ignore unreadable/incompatible state files from an earlier run
    /usr/sbin/slurmctld -i || die "slurmctld failed to start; see $LOG_DIR/slurmctld.log"
fi
for _ in $(seq 40); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.25; done
scontrol ping | grep -q UP || { tail -20 "$LOG_DIR/slurmctld.log" >&2; die "slurmctld not responding"; }
if pid_alive "$SLURMD_PID"; then
    log "slurmd already running (pid $(cat "$SLURMD_PID"))"
else
    log "starting slurmd"
    /usr/sbin/slurmd || { tail -20 "$LOG_DIR/slurmd.log" >&2; die "slurmd failed to start; see $LOG_DIR/slurmd.log"; }
fi

# ---------------------------------------------------------------- wait for idle
state=""
for ((t = 0; t < WAIT_S * 2; t++)); do
    state=$(node_state)
    case "$state" in
        idle*|mixed*|allocated*) break ;;
        down*|drain*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
case "$state" in
    idle*|mixed*|allocated*) ;;
    *) tail -15 "$LOG_DIR/slurmctld.log" >&2
       tail -15 "$LOG_DIR/slurmd.log" >&2
       scontrol show node "$HOST" >&2 || true
       die "node $HOST is '$state', not idle, after ${WAIT_S}s" ;;
esac
log "cluster up: node $HOST is $state (munged $(cat "$MUNGE_PID"), slurmctld $(cat "$CTLD_PID"), slurmd $(cat "$SLURMD_PID"))"
sinfo
