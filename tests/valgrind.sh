#!/bin/sh
# valgrind.sh BUILD VGDIR: makes VGDIR a build directory for the bats suite
# (REFILL_BUILD=VGDIR) in which every program runs under valgrind's
# memcheck.  Each run writes VGDIR/log/PID.log; a run with an error exits
# 99, which no test expects.  fault.so and the rest are linked as they are.
#
# valgrind.sh --check VGDIR: fails, printing them, if any run's log is not
# empty (--quiet leaves it empty unless memcheck found something).
set -eu
if [ "$1" = --check ]; then
	bad=0
	for f in "$2"/log/*.log; do
		[ -s "$f" ] || continue
		cat "$f"
		bad=$((bad + 1))
	done
	n=$(find "$2/log" -name '*.log' | wc -l)
	echo "valgrind: $n runs, $bad with errors"
	[ "$bad" -eq 0 ]
	exit
fi
build=$(cd "$1" && pwd)
mkdir -p "$2/log"
vg=$(cd "$2" && pwd)
rm -f "$vg"/log/*.log
for f in "$build"/*; do
	n=${f##*/}
	rm -f "$vg/$n"
	case $n in
	refill | refill-*)
		cat > "$vg/$n" <<EOS
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full \\
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \\
    --track-fds=no --log-file="$vg/log/%p.log" "$f" "\$@"
EOS
		chmod +x "$vg/$n" ;;
	*) ln -s "$f" "$vg/$n" ;;
	esac
done
