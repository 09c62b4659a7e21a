# customer_mgmt: PGXS build.  See README.md for the two commands most people need
# (make demo, make test); this file only knows how to build and install.

EXTENSION = customer_mgmt
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = customer_mgmt
OBJS = \
	src/customer_mgmt.o \
	src/actor.o \
	src/searchkey.o \
	src/phone.o \
	src/demo.o \
	src/scoring.o \
	src/preferences.o

# sql/customer_mgmt.sql is the 1.0 base script (frozen since 1.0 was
# released); later versions are reached through upgrade scripts, as pg_cron
# does it.
DATA_built = sql/$(EXTENSION)--1.0.sql
DATA = $(wildcard sql/$(EXTENSION)--*--*.sql)

PG_CPPFLAGS = -I$(srcdir)/include -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK = -lxlsxwriter

EXTRA_CLEAN = results regression.diffs regression.out tmp_check output_iso log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--1.0.sql: sql/$(EXTENSION).sql
	cp $< $@

.PHONY: demo demo-psql demo-stop test bench

demo:
	scripts/demo.sh start

demo-psql:
	scripts/demo.sh psql

demo-stop:
	scripts/demo.sh stop

test:
	scripts/test.sh
