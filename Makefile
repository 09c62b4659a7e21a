# customer_mgmt: PGXS build.  See README.md for the two commands most people need
# (make demo, make test); this file only knows how to build and install.

EXTENSION = customer_mgmt
EXTVERSION = $(shell grep default_version $(EXTENSION).control | sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = customer_mgmt
OBJS = \
	src/customer_mgmt.o \
	src/actor.o \
	src/restore.o \
	src/csv.o \
	src/searchkey.o \
	src/phone.o \
	src/demo.o \
	src/scoring.o \
	src/preferences.o \
	src/segment_lang.o \
	src/segment_top.o \
	src/export.o \
	src/clv.o \
	src/clv_bgnbd.o \
	src/clv_predict.o \
	src/clv_summary.o

# SQL: the scripts of released versions are frozen copies in sql/released/
# (checked against sql/released/SHA256SUMS).  The install script of the
# newest version and the update script to it are built from the concept
# files, in this order (docs/architecture.md):
#   schema/roles, schema/types   fresh install only
#   functions/search             C functions the tables' indexes use
#   schema/tables, schema/seed   fresh install only
#   FUNCTION_FILES               every function, CREATE OR REPLACE
#   schema/triggers              fresh install only
#   privileges                   exactly the grants, both ways
# The update script is sql/updates/<prev>--<new>.sql (hand-written: tables,
# types, data, functions removed or moved) followed by FUNCTION_FILES, the
# optional sql/updates/<prev>--<new>.post.sql (what needs the new functions,
# such as a new trigger) and privileges.
FUNCTION_FILES = $(addprefix sql/functions/, \
	search.sql common.sql identity.sql settings.sql audit.sql ingestion.sql upsert.sql import.sql sources.sql tags.sql consent.sql views.sql customers.sql \
	scoring.sql clv.sql clv_model.sql analytics_stats.sql analytics_writer.sql recalculation.sql events.sql jobs.sql dashboard.sql \
	segment_language.sql segments.sql notes.sql timeline.sql privacy.sql duplicates.sql bulk.sql export.sql demo.sql)
INSTALL_PARTS = sql/schema/roles.sql sql/schema/types.sql sql/functions/search.sql \
	sql/schema/tables.sql sql/schema/seed.sql $(filter-out sql/functions/search.sql,$(FUNCTION_FILES)) \
	sql/schema/triggers.sql sql/privileges.sql
UPDATE_SOURCES = $(wildcard sql/updates/*--$(EXTVERSION).sql)
UPDATE_SCRIPTS = $(patsubst sql/updates/%.sql,sql/$(EXTENSION)--%.sql,$(UPDATE_SOURCES))

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql $(UPDATE_SCRIPTS)
DATA = $(wildcard sql/released/$(EXTENSION)--*.sql)

# zero warnings on every supported major: an error for CI and developers
# (make WERROR=1; .ci/run sets it), not for a DBA building with a newer compiler
PG_CPPFLAGS = -I$(srcdir)/include -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
ifeq ($(WERROR),1)
PG_CPPFLAGS += -Werror
endif
SHLIB_LINK = -lxlsxwriter

EXTRA_CLEAN = results regression.diffs regression.out tmp_check output_iso log

# make installcheck: the regression and isolation tests against a running
# server (PGHOST, PGPORT; the demo's: PGHOST=$PWD/.demo PGPORT=54329), one by
# name with REGRESS=privacy or ISOLATION=duplicate_email; make
# installcheck-pgtap runs the pgTAP files (PGTAP=16_clv for one) with
# pg_prove (07_jobs needs pg_cron in that database: make test has it).
# make test runs everything on temporary instances instead.
REGRESS = $(sort $(basename $(notdir $(wildcard test/sql/*.sql))))
ISOLATION = $(sort $(basename $(notdir $(wildcard test/specs/*.spec))))
REGRESS_OPTS = --inputdir=test --dbname=contrib_regression --load-extension=pg_trgm --load-extension=unaccent \
	--load-extension=customer_mgmt
ISOLATION_OPTS = $(REGRESS_OPTS)
PGTAP = $(sort $(basename $(notdir $(wildcard test/pgtap/[0-9]*.sql))))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
# on a fresh machine PGXS is not there yet: make demo and make test install
# it (postgresql-server-dev) before they build
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install installcheck:
	@echo "error: no PGXS from $(PG_CONFIG) --pgxs: install postgresql-server-dev-NN, or set PG_CONFIG (make demo and make test install it themselves)" >&2; exit 1
endif

all: check-frozen check-meta

# a script of ours left in the server's extension folder by an earlier build
# (an install script of a version now reached by the frozen updates) would
# be taken instead of what this tree ships: install removes it first
ifneq ($(wildcard $(PGXS)),)
install: remove-stale-scripts
remove-stale-scripts:
	@for f in '$(DESTDIR)$(datadir)/extension/$(EXTENSION)'--*.sql; do \
	  [ -e "$$f" ] || continue; \
	  case " $(notdir $(DATA) $(DATA_built)) " in *" $$(basename "$$f") "*) ;; *) echo "removing $$f (not shipped by this tree)"; rm -f "$$f";; esac; \
	done
.PHONY: remove-stale-scripts
endif

# part FILE...: the files, each under a line naming it
define cm_parts
for f in $(1); do printf '\n-- %s\n' "$$f"; cat "$$f"; done
endef

sql/$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_PARTS) $(EXTENSION).control
	{ printf -- '-- customer_mgmt %s: install script, built by make from sql/ (do not edit).\n' $(EXTVERSION); \
	  printf '\\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \\quit\n'; \
	  $(call cm_parts,$(INSTALL_PARTS)); } > $@

sql/$(EXTENSION)--%--$(EXTVERSION).sql: sql/updates/%--$(EXTVERSION).sql $(FUNCTION_FILES) $(wildcard sql/updates/*.post.sql) sql/privileges.sql $(EXTENSION).control
	{ printf -- '-- customer_mgmt %s to %s: update script, built by make from sql/ (do not edit).\n' $* $(EXTVERSION); \
	  printf '\\echo Use "ALTER EXTENSION $(EXTENSION) UPDATE TO '"'"'$(EXTVERSION)'"'"'" to load this file. \\quit\n'; \
	  $(call cm_parts,$< $(FUNCTION_FILES) $(wildcard sql/updates/$*--$(EXTVERSION).post.sql) sql/privileges.sql); } > $@

# META.json (PGXN) describes the version this tree builds
check-meta:
	@test "$$(grep -c '"version": "$(EXTVERSION).0"' META.json)" = 2 && grep -q '"file": "sql/$(EXTENSION)--$(EXTVERSION).sql"' META.json || \
	  { echo "error: META.json does not describe version $(EXTVERSION) (customer_mgmt.control's default_version)" >&2; exit 1; }

# a released script never changes: shops have installed it
check-frozen:
	@cd sql/released && sha256sum --quiet -c SHA256SUMS || \
	  { echo "error: a released script in sql/released/ changed; released scripts are frozen (docs/architecture.md)" >&2; exit 1; }

.PHONY: demo demo-psql demo-stop test test-sanitize bench check-frozen check-meta installcheck-pgtap

# the pgTAP files against the running server, in a database of their own
installcheck-pgtap:
	psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS contrib_regression_tap' -c 'CREATE DATABASE contrib_regression_tap'
	psql -X -q -d contrib_regression_tap -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION customer_mgmt CASCADE'
	pg_prove -d contrib_regression_tap --ext .sql $(addprefix test/pgtap/,$(addsuffix .sql,$(PGTAP)))

demo:
	PG_CONFIG="$(PG_CONFIG)" scripts/demo.sh start

demo-psql:
	PG_CONFIG="$(PG_CONFIG)" scripts/demo.sh psql

demo-stop:
	PG_CONFIG="$(PG_CONFIG)" scripts/demo.sh stop

test:
	PG_CONFIG="$(PG_CONFIG)" scripts/test.sh

test-sanitize:
	PG_CONFIG="$(PG_CONFIG)" scripts/sanitize.sh
