# sprite-env — a plain, non-recursive GNU Makefile.
#
#   make            build build/sprite-env (and the test helpers)
#   make run        install what is missing, build, start the daemon with a demo process
#   make test       install what is missing, build, run unit + end-to-end tests, then both again
#                   under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      side-by-side benchmarks (bench/)
#   make format / format-check / clean
#
# Variables: O=build (output dir), V=1 (verbose), CC, EXTRA_CFLAGS.

O       ?= build
CC      ?= cc
PYTHON  ?= /usr/bin/python3
VERSION := $(shell cat VERSION)$(shell git describe --always --dirty 2>/dev/null | sed 's/^/+/')

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKGS    := jansson zlib libseccomp
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wimplicit-fallthrough -Wpointer-arith -Wundef
BASE_CFLAGS := -std=gnu17 -D_GNU_SOURCE -g $(WARN) -MMD -MP -I$(O)/gen \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -ljansson -lz -lseccomp) -lhttp_parser
# libarchive is loaded at run time by src/sandbox/image.c (dlopen); the unit tests write
# archives with it directly
TEST_LIBS := $(shell pkg-config --libs libarchive 2>/dev/null || echo -larchive) -lcmocka

REL_CFLAGS  := $(BASE_CFLAGS) -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
REL_LDFLAGS := -pie -Wl,-z,relro,-z,now
ASAN_FLAGS  := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_CFLAGS := $(BASE_CFLAGS) $(ASAN_FLAGS)

SRCS      := $(shell find src -name '*.c' | sort)
CORE_SRCS := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
HELPERS   := $(patsubst tests/helpers/%.c,$(O)/helpers/%,$(sort $(wildcard tests/helpers/*.c)))

OBJS       := $(patsubst %.c,$(O)/obj/%.o,$(SRCS))
CORE_OBJS  := $(patsubst %.c,$(O)/obj/%.o,$(CORE_SRCS))
AOBJS      := $(patsubst %.c,$(O)/asan/obj/%.o,$(SRCS))
ACORE_OBJS := $(patsubst %.c,$(O)/asan/obj/%.o,$(CORE_SRCS))
UNIT_BINS  := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
AUNIT_BINS := $(patsubst tests/unit/%.c,$(O)/asan/tests/%,$(UNIT_SRCS))

.PHONY: FORCE all deps deps-test run test test-unit test-e2e asan test-asan bench format \
        format-check clean

all: $(O)/sprite-env $(O)/sprite-runc $(HELPERS)

deps:
	$(Q)bash scripts/deps.sh build

deps-test:
	$(Q)bash scripts/deps.sh test

# The version (VERSION + git describe) lives in a generated header that is rewritten only when
# it changes, so a new commit rebuilds main.o and nothing else.
$(O)/gen/version.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define SPRITE_VERSION "$(VERSION)"' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(O)/obj/src/main.o $(O)/asan/obj/src/main.o: $(O)/gen/version.h

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(REL_CFLAGS) -c $< -o $@

$(O)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC asan $<")
	$(Q)$(CC) $(ASAN_CFLAGS) -c $< -o $@

$(O)/sprite-env: $(OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(REL_LDFLAGS) -o $@ $^ $(LIBS)

# sprite-runc is the same program under another name (src/main.c dispatches on it)
$(O)/sprite-runc: $(O)/sprite-env
	$(Q)ln -sf sprite-env $@

$(O)/asan/sprite-runc: $(O)/asan/sprite-env
	$(Q)ln -sf sprite-env $@

$(O)/asan/sprite-env: $(AOBJS)
	@$(if $(Q),echo "  LD asan $@")
	$(Q)$(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)

$(O)/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=gnu17 -O2 $(WARN) -o $@ $<

$(O)/tests/%: tests/unit/%.c $(CORE_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC test $<")
	$(Q)$(CC) $(REL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(CORE_OBJS) $(LIBS) $(TEST_LIBS)

$(O)/asan/tests/%: tests/unit/%.c $(ACORE_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC asan $<")
	$(Q)$(CC) $(ASAN_CFLAGS) -Wno-missing-prototypes -o $@ $< $(ACORE_OBJS) $(LIBS) $(TEST_LIBS)

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash scripts/run.sh

test: deps-test
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS) $(O)/asan/sprite-env $(O)/asan/sprite-runc \
	    $(AUNIT_BINS)
	$(Q)$(MAKE) --no-print-directory test-unit test-e2e test-asan
	$(Q)if command -v clang-format >/dev/null; then $(MAKE) --no-print-directory format-check; \
	    else echo "clang-format not installed: format check skipped"; fi

test-unit: $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

test-e2e: all
	$(Q)$(PYTHON) -m pytest -q tests/e2e

asan: $(O)/asan/sprite-env $(O)/asan/sprite-runc $(AUNIT_BINS)

test-asan: asan $(HELPERS)
	$(Q)set -e; for t in $(AUNIT_BINS); do echo "== $$t (asan)"; $$t; done
	$(Q)ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    SPRITE_ENV_BIN=$(O)/asan/sprite-env $(PYTHON) -m pytest -q tests/e2e

bench: all
	$(Q)bash scripts/deps.sh bench
	$(Q)bash bench/init.sh
	$(Q)bash bench/exec.sh
	$(Q)bash bench/docker.sh
	$(Q)bash bench/files.sh
	$(Q)bash bench/services.sh
	$(Q)bash bench/runtime.sh
	$(Q)bash bench/sandboxes.sh

format:
	$(Q)clang-format -i $(SRCS) $(shell find src tests/unit tests/helpers bench -name '*.h' -o -name '*.c' | sort -u)

format-check:
	$(Q)clang-format --dry-run -Werror $(shell find src tests/unit tests/helpers bench -name '*.h' -o -name '*.c' | sort -u)

clean:
	rm -rf $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
