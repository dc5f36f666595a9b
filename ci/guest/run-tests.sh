#!/bin/sh
# Guest test runner (docs/guest-tests.md).  /init runs it as /tests/run-tests.sh
# with busybox on PATH; it prints ONE KTAP document on stdout (the console):
# each program's own KTAP output nested 4 spaces deep, then its ok/not ok line.
#
# Environment (the kernel passes unknown name=value boot parameters to /init):
#   SERIES_TESTS="dma_owner hotplug"  run only these programs (default: all)
#   SERIES_FULL_IOMMUFD=0             run a subset of the iommufd selftests
#   SERIES_TEST_TIMEOUT=600           seconds before a program is killed
#   DMA_OWNER_CYCLES, HOTPLUG_CYCLES  see dma_owner.c and hotplug.c
#   SERIES_GROUP_A, SERIES_GROUP_B    the two e1000 of the shared IOMMU group
#                                     (0000:03:01.0, 0000:03:02.0: QEMU ids
#                                     grpA, grpB of docs/pipeline.md)
#
# owner_regress runs last: on a kernel with the bug it tests for, it leaves
# the shared group's owner count one short (see owner_regress.sh).

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${SERIES_TEST_BIN:-$HERE/bin}
TMP=${TMPDIR:-/tmp}/series-tests
ALL="dma_owner dma_owner_signal hotplug iommufd iommufd_fail_nth owner_regress"
TESTS=${SERIES_TESTS:-$ALL}
TIMEOUT=${SERIES_TEST_TIMEOUT:-600}
SERIES_GROUP_A=${SERIES_GROUP_A:-0000:03:01.0}
SERIES_GROUP_B=${SERIES_GROUP_B:-0000:03:02.0}
export SERIES_GROUP_A SERIES_GROUP_B

# The iommufd selftests run in full by default (about 7 s under TCG, see
# docs/guest-tests.md); SERIES_FULL_IOMMUFD=0 selects a subset for slow
# (debug) kernels: no 64/128 MiB dirty-tracking buffers, no second hugepage
# domain, and four of the seven fail_nth tests.
IOMMUFD_SUBSET="-V domain_dirty64M -V domain_dirty64M_huge -V domain_dirty128M
-V domain_dirty128M_huge -V two_domains_hugepage"
FAIL_NTH_SUBSET="-t basic -t map_domain -t access_rw -t device"

mkdir -p "$TMP"

# Quiet KERN_INFO/NOTICE chatter on the console so it cannot split our lines
# (SERIES-QMP requests in particular); warnings and worse still show.
PRINTK=
if [ -w /proc/sys/kernel/printk ]; then
	read -r PRINTK _ < /proc/sys/kernel/printk
	echo 5 > /proc/sys/kernel/printk
fi

args_for() {
	# The ownership selftest only touches the devices it is given.
	if [ "$1" = dma_owner ]; then
		echo "$SERIES_GROUP_A $SERIES_GROUP_B"
		return 0
	fi
	[ "${SERIES_FULL_IOMMUFD:-1}" = 0 ] || return 0
	case "$1" in
	iommufd) echo "$IOMMUFD_SUBSET" ;;
	iommufd_fail_nth) echo "$FAIL_NTH_SUBSET" ;;
	esac
}

# Seconds since boot with centiseconds, from /proc/uptime.
uptime_cs() {
	read -r up _ < /proc/uptime
	echo $((${up%.*} * 100 + 1${up#*.} - 100))
}

# Why NAME cannot run here (empty: it can).
skip_reason() {
	case "$1" in
	iommufd|iommufd_fail_nth)
		if [ ! -e /dev/iommu ]; then
			echo "no /dev/iommu (CONFIG_IOMMUFD)"
		elif [ ! -d /sys/bus/iommufd_mock ]; then
			echo "no mock IOMMU (CONFIG_IOMMUFD_TEST, needs CONFIG_RUNTIME_TESTING_MENU)"
		fi ;;
	esac
}

# Huge pages for the iommufd selftests' MAP_HUGETLB cases (2 MiB pages).
HUGEPAGES_OLD=
hugepages_reserve() {
	f=/proc/sys/vm/nr_hugepages
	[ -w $f ] || return 0
	HUGEPAGES_OLD=$(cat $f)
	echo "${SERIES_HUGEPAGES:-80}" > $f
	echo "# nr_hugepages=$(cat $f) for $1"
}

hugepages_release() {
	[ -n "$HUGEPAGES_OLD" ] && echo "$HUGEPAGES_OLD" > /proc/sys/vm/nr_hugepages
	HUGEPAGES_OLD=
}

# Kernel WARN/BUG/Oops lines logged since the previous call, as comments
# (the ring buffer is read and cleared; the console has the full log).
SPLATS=0
kernel_splats() {
	command -v dmesg >/dev/null 2>&1 || return 0
	dmesg -c 2>/dev/null |
		grep -E 'WARNING:|BUG:|Oops|general protection|Call Trace' \
		> "$TMP/splats"
	splat_n=$(wc -l < "$TMP/splats")
	SPLATS=$((SPLATS + splat_n))
	head -n 40 "$TMP/splats" | sed 's/^/# dmesg: /'
}

# run_one NUM NAME: run $BIN/NAME, nest its output, print the result line.
run_one() {
	num=$1
	name=$2
	out=$TMP/$name.out
	err=$TMP/$name.err
	rcf=$TMP/$name.rc

	if [ ! -x "$BIN/$name" ]; then
		echo "ok $num $name # SKIP not built (no KSRC given to build.sh?)"
		return
	fi
	reason=$(skip_reason "$name")
	if [ -n "$reason" ]; then
		echo "ok $num $name # SKIP $reason"
		return
	fi
	case "$name" in
	iommufd) hugepages_reserve "$name" ;;
	iommufd_fail_nth)
		# Every injected failure logs at KERN_ERR; keep the console
		# readable (splats are still reported from dmesg below).
		[ -n "$PRINTK" ] && echo 2 > /proc/sys/kernel/printk ;;
	esac
	args=$(args_for "$name" | tr '\n' ' ')
	echo "# $name: $BIN/$name $args"
	start=$(uptime_cs)
	# shellcheck disable=SC2086 # $args is a word list on purpose
	( cd "$TMP" && timeout "$TIMEOUT" "$BIN/$name" $args 2>"$err" \
		</dev/null; echo $? >"$rcf" ) |
		tee "$out" | sed -e 's/^TAP version 13$/KTAP version 1/' \
			-e 's/^/    /'
	end=$(uptime_cs)
	hugepages_release
	[ -n "$PRINTK" ] && echo 5 > /proc/sys/kernel/printk
	kernel_splats
	rc=$(cat "$rcf" 2>/dev/null || echo 255)
	[ -s "$err" ] && sed 's/^/    # stderr: /' "$err"
	case $rc in
	124|137|143)
		echo "# $name: killed after ${TIMEOUT} s (exit $rc)" ;;
	esac
	took=$((end - start))
	echo "# $name: exit $rc in $((took / 100)).$(printf %02d $((took % 100))) s"

	case $rc in
	0)	echo "ok $num $name" ;;
	4)	reason=$(sed -n 's/^1\.\.0 # SKIP //p' "$out" | head -n 1)
		echo "ok $num $name # SKIP ${reason:-skipped}" ;;
	*)	echo "not ok $num $name" ;;
	esac
}

# shellcheck disable=SC2086 # the list is split into words on purpose
set -- $TESTS
echo "KTAP version 1"
echo "1..$#"
echo "# kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpu(s)"
n=0
for name in "$@"; do
	n=$((n + 1))
	run_one "$n" "$name"
done

kernel_splats
echo "# kernel log: $SPLATS WARNING/BUG/Oops line(s), tainted=$(cat /proc/sys/kernel/tainted)"
[ -n "$PRINTK" ] && echo "$PRINTK" > /proc/sys/kernel/printk
exit 0
