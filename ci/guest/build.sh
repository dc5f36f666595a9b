#!/bin/sh
# shellcheck disable=SC2086 # $CC and $CFLAGS are word lists on purpose
# Build the programs that run inside the QEMU guest (docs/guest-tests.md).
#
#   ci/guest/build.sh OUTDIR HDRDIR [KSRC]
#
# OUTDIR/bin/ gets static binaries, OUTDIR/run-tests.sh the guest runner.
# HDRDIR is the kernel's `make headers_install` output (HDRDIR/include/...).
# KSRC is the kernel source tree: dma_owner (added by the series) and the
# kernel's own iommufd selftests are built from tools/testing/selftests/iommu.
# Without KSRC only hotplug is built; run-tests.sh reports the rest as SKIP.
#
# The test-only module kernel-overlay/drivers/base/test/dma-owner-regress is
# built out of tree (M=) against the kernel build directory (ARCH and
# CROSS_COMPILE from the environment): $KBUILD_DIR, or
# the parent of OUTDIR when it is a kernel build directory (`series` builds
# into <build dir>/guest).  It needs CONFIG_MODULES=y; without it the
# owner_regress test reports SKIP.
set -eu

die() {
	echo "guest build: $*" >&2
	exit 1
}

[ $# -ge 2 ] || die "usage: $0 OUTDIR HDRDIR [KSRC]"
OUT=$1
HDR=$2
KSRC=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-gcc}
CFLAGS="-static -O2 -Wall -Werror"

[ -f "$HDR/include/linux/vfio.h" ] ||
	die "$HDR/include/linux/vfio.h missing: pass the headers_install dir (make headers_install INSTALL_HDR_PATH=...)"
[ -f "$HDR/include/linux/iommufd.h" ] ||
	die "$HDR/include/linux/iommufd.h missing: kernel headers too old for iommufd"
if [ -n "$KSRC" ]; then
	[ -f "$KSRC/tools/testing/selftests/kselftest.h" ] ||
		die "$KSRC is not a kernel tree (no tools/testing/selftests/kselftest.h)"
fi

mkdir -p "$OUT/bin"
rm -f "$OUT/bin/dma_owner" "$OUT/bin/hotplug" "$OUT/bin/iommufd" \
	"$OUT/bin/iommufd_fail_nth" "$OUT/bin/owner_regress" \
	"$OUT/bin/vfio_claim" "$OUT/bin/dma_owner_signal"
rm -rf "$OUT/modules"

echo "  CC      hotplug"
$CC $CFLAGS -o "$OUT/bin/hotplug" "$HERE/hotplug.c"
echo "  CC      vfio_claim"
$CC $CFLAGS -isystem "$HDR/include" -o "$OUT/bin/vfio_claim" \
	"$HERE/vfio_claim.c"
cp "$HERE/owner_regress.sh" "$OUT/bin/owner_regress"
cp "$HERE/dma_owner_signal.sh" "$OUT/bin/dma_owner_signal"
chmod +x "$OUT/bin/owner_regress" "$OUT/bin/dma_owner_signal"

# The test-only module, against the kernel build directory.
KBUILD_DIR=${KBUILD_DIR:-$(cd "$OUT/.." && pwd)}
MODSRC=$HERE/../../kernel-overlay/drivers/base/test/dma-owner-regress
if [ -f "$KBUILD_DIR/.config" ] && [ -f "$KBUILD_DIR/vmlinux.symvers" ] &&
   grep -q '^CONFIG_MODULES=y' "$KBUILD_DIR/.config"; then
	# A bzImage-only build leaves vmlinux.symvers but no Module.symvers;
	# with no modules of its own the kernel's Module.symvers is the same.
	[ -f "$KBUILD_DIR/Module.symvers" ] ||
		cp "$KBUILD_DIR/vmlinux.symvers" "$KBUILD_DIR/Module.symvers"
	MODBUILD=$OUT/module-build
	rm -rf "$MODBUILD"
	mkdir -p "$MODBUILD" "$OUT/modules"
	cp "$MODSRC"/Kbuild "$MODSRC"/*.c "$MODBUILD"/
	LOCK=
	if [ -n "${SERIES_KBUILD_LOCK:-}" ]; then
		LOCK="flock $SERIES_KBUILD_LOCK"
	elif [ -e /tmp/kbuild.lock ]; then
		LOCK="flock /tmp/kbuild.lock"
	fi
	# ARCH and CROSS_COMPILE as the kernel was built (series passes them;
	# x86_64 and the host compiler otherwise).
	KARCH=${ARCH:-x86_64}
	KCC=${CROSS_COMPILE:-}gcc
	command -v ccache >/dev/null 2>&1 && KCC="ccache $KCC"
	# Since 6.x Makefile.modfinal links with scripts/module.lds, which a
	# bzImage-only build does not make; modules_prepare does (and little
	# else on a built tree).
	if [ ! -f "$KBUILD_DIR/scripts/module.lds" ]; then
		echo "  PREPARE modules_prepare"
		$LOCK make -s -C "$KBUILD_DIR" ARCH="$KARCH" \
			CROSS_COMPILE="${CROSS_COMPILE:-}" CC="$KCC" modules_prepare >&2 ||
			die "make modules_prepare in $KBUILD_DIR failed"
	fi
	echo "  MODULE  dma_owner_regress.ko"
	$LOCK make -s -C "$KBUILD_DIR" ARCH="$KARCH" \
		CROSS_COMPILE="${CROSS_COMPILE:-}" CC="$KCC" M="$MODBUILD" modules >&2 || die "building $MODSRC against $KBUILD_DIR failed"
	cp "$MODBUILD/dma_owner_regress.ko" "$OUT/modules/"
else
	echo "guest build: $KBUILD_DIR is no kernel build with CONFIG_MODULES=y: dma_owner_regress.ko not built" >&2
fi

if [ -z "$KSRC" ]; then
	echo "guest build: no KSRC given: dma_owner, iommufd, iommufd_fail_nth not built" >&2
else
	SELFTESTS=$KSRC/tools/testing/selftests

	# The ownership kselftest is part of the series (its last patch).
	if [ -f "$SELFTESTS/iommu/dma_owner.c" ]; then
		echo "  CC      dma_owner"
		$CC $CFLAGS -isystem "$HDR/include" \
			-o "$OUT/bin/dma_owner" "$SELFTESTS/iommu/dma_owner.c"
	else
		echo "guest build: $KSRC has no tools/testing/selftests/iommu/dma_owner.c (the series adds it): not built" >&2
	fi

	# The kernel's iommufd selftests, straight from the tree, with the
	# include paths and library their Makefile gets from lib.mk (7.2's
	# iommufd.c drops CAP_IPC_LOCK through libcap).
	printf '#include <sys/capability.h>\n' |
		$CC -E -x c - >/dev/null 2>&1 ||
		die "sys/capability.h missing: install libcap-dev (ci/setup)"
	for t in iommufd iommufd_fail_nth; do
		echo "  CC      $t"
		$CC $CFLAGS -Wno-unused-function -D_GNU_SOURCE \
			-isystem "$HDR/include" -I "$SELFTESTS" \
			-I "$SELFTESTS/iommu" \
			-o "$OUT/bin/$t" "$SELFTESTS/iommu/$t.c" -lcap
	done
fi

cp "$HERE/run-tests.sh" "$OUT/run-tests.sh"
chmod +x "$OUT/run-tests.sh"
built=
for f in "$OUT"/bin/*; do
	built="$built ${f##*/}"
done
echo "guest build:$built -> $OUT/bin"
