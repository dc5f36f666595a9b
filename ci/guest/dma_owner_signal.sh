#!/bin/sh
# Checks that dma_owner puts everything back when it is killed by SIGTERM
# (how the kselftest runner ends a test at its timeout) or SIGINT: the
# drivers and driver_override of both devices and the allow_unsafe_interrupts
# parameters are as before.  Prints one KTAP document; exit 0/1/4.
HERE=$(cd "$(dirname "$0")" && pwd)
A=${SERIES_GROUP_A:-0000:03:01.0}
B=${SERIES_GROUP_B:-0000:03:02.0}
PCI=/sys/bus/pci/devices
PARAMS="/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts
/sys/module/iommufd/parameters/allow_unsafe_interrupts"

echo "KTAP version 1"
if [ ! -x "$HERE/dma_owner" ]; then
	echo "1..0 # SKIP dma_owner not built"
	exit 4
fi
ga=$(readlink "$PCI/$A/iommu_group" 2>/dev/null)
gb=$(readlink "$PCI/$B/iommu_group" 2>/dev/null)
if [ -z "$ga" ] || [ "${ga##*/}" != "${gb##*/}" ]; then
	echo "1..0 # SKIP $A and $B share no IOMMU group"
	exit 4
fi

state() {
	for d in "$A" "$B"; do
		l=$(readlink "$PCI/$d/driver" 2>/dev/null)
		echo "$d driver=${l##*/} override=$(cat "$PCI/$d/driver_override")"
	done
	for p in $PARAMS; do
		[ -r "$p" ] && echo "$p=$(cat "$p")"
	done
}

echo "1..2"
n=0
fail=0
for sig in TERM INT; do
	n=$((n + 1))
	before=$(state)
	# Many cycles so that the signal lands in the middle of the test.
	DMA_OWNER_CYCLES=100000 "$HERE/dma_owner" "$A" "$B" > /tmp/dma_owner_sig.out 2>&1 &
	pid=$!
	# Wait until A is on vfio-pci: the test is under way.
	i=0
	while [ $i -lt 100 ]; do
		l=$(readlink "$PCI/$A/driver" 2>/dev/null)
		[ "${l##*/}" = vfio-pci ] && break
		sleep 0.1
		i=$((i + 1))
	done
	sleep 2
	kill -"$sig" "$pid"
	wait "$pid"
	rc=$?
	sed -n 's/^\(# dma_owner: signal.*\)/\1/p' /tmp/dma_owner_sig.out
	after=$(state)
	echo "# SIG$sig after $((i / 10)).$((i % 10)) s + 2 s: exit $rc"
	if [ "$before" = "$after" ] && [ $rc -gt 128 ]; then
		echo "ok $n restored_after_sig$(echo $sig | tr 'A-Z' 'a-z')"
	else
		echo "$before" | sed 's/^/# before: /'
		echo "$after" | sed 's/^/# after:  /'
		echo "not ok $n restored_after_sig$(echo $sig | tr 'A-Z' 'a-z')"
		fail=1
	fi
done
exit $fail
