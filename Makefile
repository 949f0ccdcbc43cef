# refill: see README.md.  `make check` is the test command.
.POSIX:
.SUFFIXES:

CC      = cc
CFLAGS  = -O2 -g
LDFLAGS =
BUILD   = build
PREFIX  = /usr/local
BINDIR  = $(PREFIX)/bin
MANPREFIX = $(PREFIX)/share/man
DOCDIR  = $(PREFIX)/share/doc/refill
DESTDIR =
BENCH_RECORDS = 1000000
DEMO_DIR = $(BUILD)/demo
FUZZ_SECONDS = 60
FUZZ_CC = clang
FUZZ_TARGETS = json canon path jsondiff manifest log stamp rules reader trusted schema \
       migrate policy report
FUZZ_ARGS =

WARN   = -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
         -D_POSIX_C_SOURCE=200809L
ALL_CFLAGS = $(WARN) -Ilib $(CFLAGS)
LIBS   = -lcrypto -lz -lpthread -lm

PROGS = refill refill-commit refill-hash refill-lineage refill-replay \
        refill-split refill-transform refill-verify
LIBOBJ = $(BUILD)/lib/cli.o $(BUILD)/lib/diff.o $(BUILD)/lib/hash.o \
         $(BUILD)/lib/io.o $(BUILD)/lib/migrate.o \
         $(BUILD)/lib/json.o $(BUILD)/lib/lineage.o $(BUILD)/lib/out.o \
         $(BUILD)/lib/pool.o $(BUILD)/lib/prov.o $(BUILD)/lib/sign.o \
         $(BUILD)/lib/spill.o $(BUILD)/lib/store.o $(BUILD)/lib/time.o \
         $(BUILD)/lib/util.o $(BUILD)/lib/rules.o $(BUILD)/lib/schema.o \
         $(BUILD)/lib/policy.o $(BUILD)/lib/report.o $(BUILD)/lib/audit.o
MAN1 = man/man1/refill.1 man/man1/refill-commit.1 man/man1/refill-hash.1 man/man1/refill-split.1 man/man1/refill-replay.1 \
       man/man1/refill-transform.1 man/man1/refill-lineage.1 \
       man/man1/refill-verify.1
MAN5 = man/man5/refill-audit.5 man/man5/refill-manifest.5 man/man5/refill-policy.5 man/man5/refill-prov.5 man/man5/refill-report.5 man/man5/refill-rules.5 man/man5/refill-schema.5
MAN7 = man/man7/refill.7
EXAMPLES = examples/backfill/Makefile examples/demo/demo.sh \
       examples/demo/gen.py examples/demo/verify-version \
       examples/parallel/backfill.sh examples/parallel/fake-ssh \
       examples/slurm/commit.sbatch examples/slurm/submit.sh \
       examples/slurm/transform.sbatch
DEBS = zlib1g-dev libssl-dev bats mandoc clang libclang-rt-14-dev python3 iso-codes \
       gzip coreutils hyperfine jq miller time \
       man-db parallel rsync openssl bsdextrautils bsdutils util-linux valgrind

all: $(PROGS:%=$(BUILD)/%)

$(BUILD)/lib/%.o: lib/%.c lib/refill.h
	@mkdir -p $(BUILD)/lib
	$(CC) $(ALL_CFLAGS) -c -o $@ lib/$*.c

$(BUILD)/librefill.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $(LIBOBJ)

$(BUILD)/%: bin/%.c $(BUILD)/librefill.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ bin/$*.c $(BUILD)/librefill.a $(LIBS)

$(BUILD)/unit: tests/unit.c $(BUILD)/librefill.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ tests/unit.c $(BUILD)/librefill.a $(LIBS)

# Not built with $(CFLAGS): the sanitizers' runtime lives in the programs.
$(BUILD)/fault.so: tests/fault.c
	@mkdir -p $(BUILD)
	$(CC) $(WARN) -O2 -shared -fPIC -o $@ tests/fault.c -ldl

$(BUILD)/bench-gen: bench/gen.c
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ bench/gen.c

check: all $(BUILD)/unit $(BUILD)/fault.so
	$(BUILD)/unit tests/vectors
	REFILL_BUILD=$(BUILD) bats tests
	mandoc -Tlint -Wwarning $(MAN1) $(MAN5) $(MAN7)

# ASan and UBSan over the whole suite, in a separate build tree.
sanitize:
	$(MAKE) BUILD=build-san CC=clang \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=address,undefined" check

# libFuzzer targets, each run FUZZ_SECONDS, then the differential check
# (fuzz/README.md).  The library is built again, instrumented, beside.
FUZZOBJ = $(LIBOBJ:$(BUILD)/lib/%=$(BUILD)/fuzz/lib/%)
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
       -fno-omit-frame-pointer

$(BUILD)/fuzz/lib/%.o: lib/%.c lib/refill.h
	@mkdir -p $(BUILD)/fuzz/lib
	$(FUZZ_CC) $(WARN) -Ilib -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	    -c -o $@ lib/$*.c

$(BUILD)/fuzz/librefill.a: $(FUZZOBJ)
	rm -f $@
	ar rcs $@ $(FUZZOBJ)

$(BUILD)/fuzz/fuzz-%: fuzz/%.c fuzz/fuzz.h $(BUILD)/fuzz/librefill.a
	$(FUZZ_CC) $(WARN) -Ilib -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -o $@ \
	    fuzz/$*.c $(BUILD)/fuzz/librefill.a $(LIBS)

$(BUILD)/fuzz/verdict: fuzz/verdict.c $(BUILD)/librefill.a
	@mkdir -p $(BUILD)/fuzz
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ fuzz/verdict.c \
	    $(BUILD)/librefill.a $(LIBS)

fuzz: all $(BUILD)/fuzz/verdict $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz-%)
	BUILD=$(BUILD) FUZZ_ARGS="$(FUZZ_ARGS)" sh fuzz/run.sh $(FUZZ_SECONDS) \
	    $(FUZZ_TARGETS)

# Line coverage of lib/ by the fuzzers' corpora, after make fuzz.
fuzz-cov:
	BUILD=$(BUILD) FUZZ_CC=$(FUZZ_CC) sh fuzz/coverage.sh $(FUZZ_TARGETS)

# The story of a bug-fix backfill, on generated data; it leaves DEMO_DIR.
demo: all
	@PATH="$$(cd $(BUILD) && pwd):$$PATH" sh examples/demo/demo.sh $(DEMO_DIR)

# Memcheck over the unit tests and the bats suite: tests/valgrind.sh puts a
# wrapper for each program in $(BUILD)-vg; any error or leak fails the run.
valgrind: all $(BUILD)/unit $(BUILD)/fault.so
	valgrind --quiet --error-exitcode=99 --leak-check=full \
	    $(BUILD)/unit tests/vectors
	sh tests/valgrind.sh $(BUILD) $(BUILD)-vg
	REFILL_BUILD=$(BUILD)-vg REFILL_VALGRIND=1 bats --jobs 2 tests
	sh tests/valgrind.sh --check $(BUILD)-vg

bench: all $(BUILD)/bench-gen
	REFILL_BIN=$(BUILD) bench/run.sh $(BENCH_RECORDS)

deps:
	@missing=; for p in $(DEBS); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq $$missing; \
	fi

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man7
	for p in $(PROGS); do cp -f $(BUILD)/$$p $(DESTDIR)$(BINDIR)/$$p; \
	    chmod 755 $(DESTDIR)$(BINDIR)/$$p; done
	cp -f $(MAN1) $(DESTDIR)$(MANPREFIX)/man1/
	cp -f $(MAN5) $(DESTDIR)$(MANPREFIX)/man5/
	cp -f $(MAN7) $(DESTDIR)$(MANPREFIX)/man7/
	for f in $(EXAMPLES); do d=$(DESTDIR)$(DOCDIR)/$${f%/*}; \
	    mkdir -p $$d && cp -f $$f $$d/; done

uninstall:
	for p in $(PROGS); do rm -f $(DESTDIR)$(BINDIR)/$$p; done
	for m in $(MAN1); do rm -f $(DESTDIR)$(MANPREFIX)/man1/$${m##*/}; done
	for m in $(MAN5); do rm -f $(DESTDIR)$(MANPREFIX)/man5/$${m##*/}; done
	for m in $(MAN7); do rm -f $(DESTDIR)$(MANPREFIX)/man7/$${m##*/}; done
	for f in $(EXAMPLES); do rm -f $(DESTDIR)$(DOCDIR)/$$f; done
	for d in backfill demo parallel slurm; do \
	    rmdir $(DESTDIR)$(DOCDIR)/examples/$$d 2>/dev/null || :; done
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || :

clean:
	rm -rf build build-san build-vg

.PHONY: all check sanitize valgrind fuzz fuzz-cov demo bench deps install uninstall \
        clean
