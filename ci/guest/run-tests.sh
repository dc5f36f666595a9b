#!/bin/sh
# Guest test runner (docs/guest-tests.md).  /init runs it as /tests/run-tests.sh
# with busybox on PATH; it prints ONE KTAP document on stdout (the console):
# each program's own KTAP output nested 4 spaces deep, then its ok/not ok line.
#
# Environment (the kernel passes unknown name=value boot parameters to /init):
#   SERIES_TESTS="dma_owner hotplug"  run only these programs (default: all)
#   SERIES_FULL_IOMMUFD=0             run a subset of the iommufd selftests
#   SERIES_TEST_TIMEOUT=600           seconds before a program is killed
#   SERIES_QMP_RELAY=0                no host relays SERIES-QMP: (LAVA): hotplug skips
#   DMA_OWNER_CYCLES, HOTPLUG_CYCLES  see dma_owner.c and hotplug.c
#   SERIES_GROUP_A, SERIES_GROUP_B    the two e1000 of the shared IOMMU group
#                                     (0000:03:01.0, 0000:03:02.0: QEMU ids
#                                     grpA, grpB of docs/pipeline.md; when
#                                     those share no group, the functions of
#                                     the multifunction e1000 mfA/mfB)
#
# owner_regress runs last: on a kernel with the bug it tests for, it leaves
# the shared group's owner count one short (see owner_regress.sh).

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${SERIES_TEST_BIN:-$HERE/bin}
TMP=${TMPDIR:-/tmp}/series-tests
ALL="dma_owner dma_owner_signal hotplug iommufd iommufd_fail_nth owner_regress"
TESTS=${SERIES_TESTS:-$ALL}
TIMEOUT=${SERIES_TEST_TIMEOUT:-600}
GROUP_PAIR_GIVEN=${SERIES_GROUP_A:+yes}
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
	hotplug)
		# The host side of hotplug is series' QMP relay; a LAVA lab has
		# none and its jobs say so (tools/kernel/src/lava.rs).
		if [ "${SERIES_QMP_RELAY:-1}" = 0 ]; then
			echo "no QMP relay on this host (SERIES_QMP_RELAY=0)"
		fi ;;
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

group_of() {
	l=$(readlink "/sys/bus/pci/devices/$1/iommu_group" 2>/dev/null) || return 0
	echo "${l##*/}"
}

# The shared IOMMU group the ownership tests use. The two e1000 behind the
# PCIe-to-PCI bridge share one through their DMA alias, but an IOMMU that
# cannot translate an alias gives the second device no group (SMMUv3:
# "Aliasing StreamID unsupported"; virtio-iommu in QEMU 7.2). The functions
# of the multifunction e1000 on their own root port (no ACS between them)
# share a group under every IOMMU: they are taken then, and this says so.
choose_group_pair() {
	ga=$(group_of "$SERIES_GROUP_A")
	gb=$(group_of "$SERIES_GROUP_B")
	if [ -n "$ga" ] && [ "$ga" = "$gb" ]; then
		echo "# group pair: $SERIES_GROUP_A $SERIES_GROUP_B (group $ga)"
		return 0
	fi
	why="$SERIES_GROUP_A (group '$ga') and $SERIES_GROUP_B (group '$gb') share no group"
	if [ -n "$GROUP_PAIR_GIVEN" ]; then
		echo "# group pair: $why (given by SERIES_GROUP_A/B)"
		return 0
	fi
	for f1 in /sys/bus/pci/devices/*.1; do
		[ -e "$f1" ] || continue
		fn1=${f1##*/}
		fn0=${fn1%.1}.0
		[ "$(cat "$f1/vendor"):$(cat "$f1/device")" = 0x8086:0x100e ] || continue
		g0=$(group_of "$fn0")
		if [ -n "$g0" ] && [ "$g0" = "$(group_of "$fn1")" ]; then
			echo "# group pair: $fn0 $fn1 (group $g0, multifunction; $why)"
			SERIES_GROUP_A=$fn0
			SERIES_GROUP_B=$fn1
			return 0
		fi
	done
	echo "# group pair: none ($why, no multifunction e1000 pair shares one)"
}

# shellcheck disable=SC2086 # the list is split into words on purpose
set -- $TESTS
echo "KTAP version 1"
echo "1..$#"
echo "# kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpu(s)"
choose_group_pair
n=0
for name in "$@"; do
	n=$((n + 1))
	run_one "$n" "$name"
done

kernel_splats
echo "# kernel log: $SPLATS WARNING/BUG/Oops line(s), tainted=$(cat /proc/sys/kernel/tainted)"
[ -n "$PRINTK" ] && echo "$PRINTK" > /proc/sys/kernel/printk
exit 0
