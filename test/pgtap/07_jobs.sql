-- Jobs: pg_cron scheduling, expired segment assignments, the
-- login event, and the checks of the full recalculation's building blocks.
-- The batched procedure commits, so it is tested by pg_regress
-- (test/sql/jobs.sql) and its concurrency by test/specs/recalculation.spec.
\set QUIET 1
\ir helpers.sql
BEGIN;
SELECT plan(42);

-- the jobs, with 02:00 shop time in pg_cron's GMT
SELECT results_eq($$SELECT job_name, schedule, command FROM customer_mgmt.cron_jobs() ORDER BY job_name$$,
                  $$VALUES ('customer_mgmt.analytics-queue.' || (current_database()::text COLLATE "default"), '* * * * *',
                            'SELECT customer_mgmt.process_analytics_queue(1000)'),
                           ('customer_mgmt.expire-assignments.' || (current_database()::text COLLATE "default"), '*/10 * * * *',
                            'SELECT customer_mgmt.remove_expired_segment_assignments()'),
                           ('customer_mgmt.find-duplicates.' || (current_database()::text COLLATE "default"), '30 20 * * *',
                            'SELECT customer_mgmt.refresh_duplicate_candidates()'),
                           ('customer_mgmt.purge-audit-log.' || (current_database()::text COLLATE "default"), '30 19 * * *',
                            'SELECT customer_mgmt.purge_audit_log()'),
                           ('customer_mgmt.recalculate-all.' || (current_database()::text COLLATE "default"), '0 19 * * *',
                            'CALL customer_mgmt.recalculate_all_analytics_batched()'),
                           ('customer_mgmt.vacuum-after-nightly.' || (current_database()::text COLLATE "default"), '20 19 * * *',
                            'VACUUM (ANALYZE) customer_mgmt.customer_analytics, customer_mgmt.customer_list, customer_mgmt.customer_clv')$$,
                  'six jobs; 02:00 in Vietnam (UTC+7) is 19:00 GMT, the vacuum 20 minutes later, the audit log''s purge half an hour later, the duplicates at 03:30');
SELECT customer_mgmt.set_setting('shop_timezone', 'UTC');
SELECT is((SELECT schedule FROM customer_mgmt.cron_jobs() WHERE job_name LIKE '%recalculate-all%'), '0 2 * * *',
          'a shop on UTC: 02:00');
SELECT customer_mgmt.set_setting('shop_timezone', 'Asia/Kolkata');
SELECT is((SELECT schedule FROM customer_mgmt.cron_jobs() WHERE job_name LIKE '%recalculate-all%'), '30 20 * * *',
          'a shop on UTC+5:30: 20:30 the day before');
SELECT customer_mgmt.set_setting('shop_timezone', 'Asia/Ho_Chi_Minh');

-- schedule_jobs / unschedule_jobs: idempotent, and only ours
SELECT cron.schedule('someone-elses-job', '0 3 * * *', 'SELECT 1');
CREATE TEMP TABLE first_run AS SELECT e FROM jsonb_array_elements(customer_mgmt.schedule_jobs()) e;
SELECT is((SELECT count(*)::int FROM first_run), 6, 'schedule_jobs installs six jobs');
SELECT set_eq($$SELECT jobname::text, schedule, command, database FROM cron.job WHERE jobname LIKE 'customer_mgmt.%'$$,
              $$SELECT job_name, schedule, command, (current_database()::text COLLATE "default") FROM customer_mgmt.cron_jobs()$$,
              'pg_cron has them, in this database');
SELECT set_eq($$SELECT (e ->> 'jobId')::bigint FROM first_run$$,
              $$SELECT jobid FROM cron.job WHERE jobname LIKE 'customer_mgmt.%'$$, 'and returns their ids');
SELECT customer_mgmt.schedule_jobs();
SELECT is((SELECT count(*)::int FROM cron.job), 7, 'scheduling again changes nothing');
SELECT set_eq($$SELECT jobid FROM cron.job WHERE jobname LIKE 'customer_mgmt.%'$$,
              $$SELECT (e ->> 'jobId')::bigint FROM first_run$$, 'the same jobs are kept');
SELECT is(customer_mgmt.unschedule_jobs(), 6, 'unschedule_jobs removes six');
SELECT results_eq($$SELECT jobname::text COLLATE "default" FROM cron.job$$, $$VALUES ('someone-elses-job')$$, 'and leaves the others');
SELECT is(customer_mgmt.unschedule_jobs(), 0, 'unscheduling again removes nothing');

-- retention: a seventh job while privacy.anonymize_inactive_years is set
SELECT customer_mgmt.set_setting('privacy.anonymize_inactive_years', '5');
SELECT is((SELECT schedule || ' ' || command FROM customer_mgmt.cron_jobs() WHERE job_name LIKE '%anonymize-inactive%'),
          '0 20 * * * SELECT customer_mgmt.anonymize_inactive_customers()', 'retention on: a daily job at 03:00 shop time');
SELECT is(jsonb_array_length(customer_mgmt.schedule_jobs()), 7, 'schedule_jobs installs seven jobs');
SELECT customer_mgmt.set_setting('privacy.anonymize_inactive_years', NULL);
SELECT is(jsonb_array_length(customer_mgmt.schedule_jobs()), 6, 'retention off: six again');
SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname LIKE 'customer_mgmt.anonymize-inactive.%'), 0,
          'and the retention job is gone from pg_cron');
SELECT is(customer_mgmt.unschedule_jobs(), 6, 'unschedule_jobs removes them');

-- the script for a pg_cron in another database
SELECT is((SELECT count(*)::int FROM regexp_matches(customer_mgmt.cron_script(),
           format('SELECT cron\.schedule_in_database\([^;]*, %s\);', quote_literal(current_database())), 'g')), 6,
          'cron_script schedules the six jobs in this database');
SELECT ok(position('''0 19 * * *'', ''CALL customer_mgmt.recalculate_all_analytics_batched()''' IN customer_mgmt.cron_script()) > 0,
          'with the nightly schedule and command quoted');
SELECT is((SELECT count(*)::int FROM regexp_matches(customer_mgmt.cron_script(true), 'SELECT cron\.unschedule\(jobid\)', 'g')), 6,
          'cron_script(true) removes them');

SET LOCAL ROLE customer_mgmt_staff;
SELECT is(pg_temp.failure($$SELECT customer_mgmt.schedule_jobs()$$), '42501', 'staff may not schedule jobs');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.remove_expired_segment_assignments()$$), '42501', 'nor run them');
RESET ROLE;

-- expired segment assignments
CREATE TEMP TABLE c (k text PRIMARY KEY, id uuid);
INSERT INTO c VALUES ('an', customer_mgmt.register_customer('Trịnh Văn An', 'an.trinh@example.vn', registered_at => '2026-01-01')),
                     ('binh', customer_mgmt.register_customer('Lê Thị Bình', 'binh.le@example.vn', registered_at => '2026-01-01')),
                     ('chi', customer_mgmt.register_customer('Phan Minh Chi', 'chi.phan@example.vn', registered_at => '2026-01-01'));
INSERT INTO customer_mgmt.customer_segments (id, name) VALUES ('00000000-0000-4000-8000-0000000000f1', 'Tết 2026');
INSERT INTO customer_mgmt.customer_segment_assignments (customer_id, segment_id, assigned_by, expires_at)
SELECT id, '00000000-0000-4000-8000-0000000000f1', 'manual',
       CASE k WHEN 'an' THEN now() - interval '1 minute' WHEN 'binh' THEN now() + interval '1 day' END
  FROM c;
SELECT is(customer_mgmt.remove_expired_segment_assignments() - 'jobRunId', '{"removed": 1}'::jsonb, 'one assignment had expired');
SELECT results_eq($$SELECT c.k FROM customer_mgmt.customer_segment_assignments a JOIN c ON c.id = a.customer_id
                    WHERE a.segment_id = '00000000-0000-4000-8000-0000000000f1' ORDER BY 1$$,
                  $$VALUES ('binh'), ('chi')$$, 'the future and the unlimited ones stay');
SELECT is((SELECT count(*)::int FROM customer_mgmt.customer_segment_assignments a JOIN c ON c.id = a.customer_id
            WHERE a.segment_id = '00000000-0000-4000-8000-000000000001'), 3, 'system assignments without expiry stay');
SELECT results_eq($$SELECT status::text, rows_processed FROM customer_mgmt.job_runs
                    WHERE job_name = 'remove_expired_segment_assignments'$$,
                  $$VALUES ('succeeded', 1::bigint)$$, 'the run is logged');

-- login, by a direct UPDATE or by record_login: last login and a session
UPDATE customer_mgmt.users SET last_login_at = '2026-03-01 09:00+07' WHERE id = (SELECT id FROM c WHERE k = 'an');
SELECT results_eq($$SELECT started_at, duration_seconds, page_views, converted FROM customer_mgmt.web_sessions
                    WHERE customer_id = (SELECT id FROM c WHERE k = 'an')$$,
                  $$VALUES ('2026-03-01 09:00+07'::timestamptz, 0, 0, false)$$,
                  'a login written directly records a visit with no page view');
UPDATE customer_mgmt.users SET last_login_at = '2026-02-01 09:00+07' WHERE id = (SELECT id FROM c WHERE k = 'an');
SELECT is((SELECT count(*)::int FROM customer_mgmt.web_sessions WHERE customer_id = (SELECT id FROM c WHERE k = 'an')), 1,
          'moving the last login back is no login');
UPDATE customer_mgmt.users SET full_name = 'Trịnh Văn Ân' WHERE id = (SELECT id FROM c WHERE k = 'an');
SELECT is((SELECT count(*)::int FROM customer_mgmt.web_sessions WHERE customer_id = (SELECT id FROM c WHERE k = 'an')), 1,
          'other updates are no login');
SELECT customer_mgmt.record_login((SELECT id FROM c WHERE k = 'binh'), '2026-03-05 20:00+07') AS login_session \gset
SELECT is((SELECT started_at FROM customer_mgmt.web_sessions WHERE id = :login_session),
          '2026-03-05 20:00+07'::timestamptz, 'record_login returns the session the trigger recorded');
SELECT is((SELECT count(*)::int FROM customer_mgmt.web_sessions WHERE customer_id = (SELECT id FROM c WHERE k = 'binh')), 1,
          'one session per login');
SELECT customer_mgmt.record_login((SELECT id FROM c WHERE k = 'binh'), '2026-03-04 20:00+07');
SELECT results_eq($$SELECT (SELECT last_login_at FROM customer_mgmt.users WHERE id = (SELECT id FROM c WHERE k = 'binh')),
                           (SELECT count(*)::int FROM customer_mgmt.web_sessions WHERE customer_id = (SELECT id FROM c WHERE k = 'binh'))$$,
                  $$VALUES ('2026-03-05 20:00+07'::timestamptz, 2)$$, 'an older login: its session, the last login stays');
-- logins are visits, not bounces: rates are of the browsing sessions
SELECT customer_mgmt.record_session((SELECT id FROM c WHERE k = 'binh'), '2026-03-05 20:01+07', 120, 3, false);
SELECT customer_mgmt.record_session((SELECT id FROM c WHERE k = 'binh'), '2026-03-05 21:00+07', 30, 1, false);
SELECT results_eq($$SELECT a ->> 'totalSessions', a ->> 'totalPageViews', a ->> 'bounceRate', a ->> 'conversionRate',
                           a ->> 'averageSessionDuration'
                      FROM customer_mgmt.calculate_customer_analytics((SELECT id FROM c WHERE k = 'binh'), '2026-03-06') a$$,
                  $$VALUES ('4', '4', '0.5000', '0.0000', '75')$$,
                  'two logins and two browsing sessions, one a bounce: 4 sessions, bounce rate 0.5, duration of the browsing ones');
SELECT customer_mgmt.record_login((SELECT id FROM c WHERE k = 'an'), '2026-03-06 08:00+07');
SELECT is(customer_mgmt.calculate_customer_analytics((SELECT id FROM c WHERE k = 'an'), '2026-03-07') -> 'bounceRate',
          '0.0000'::jsonb, 'a customer who only logs in has no bounces');
INSERT INTO c VALUES ('staff', customer_mgmt.register_staff('Quản Trị', 'qt@cuahang.vn', 'admin'));
UPDATE customer_mgmt.users SET last_login_at = now() WHERE id = (SELECT id FROM c WHERE k = 'staff');
SELECT is((SELECT count(*)::int FROM customer_mgmt.web_sessions WHERE customer_id = (SELECT id FROM c WHERE k = 'staff')), 0,
          'a staff login is not a customer session');
SELECT is(pg_temp.failure($$UPDATE customer_mgmt.users SET last_login_at = 'infinity' WHERE email = 'chi.phan@example.vn'$$),
          '23514', 'an infinite login is refused, with nothing written');

-- the building blocks of the full recalculation refuse what is not theirs
SELECT is(pg_temp.failure($$SELECT customer_mgmt_internal.recalculate_slice(-1, 0)$$), '22023 run_id', 'no such run');
SELECT is(pg_temp.failure($$SELECT customer_mgmt_internal.recalculate_slice(
                              customer_mgmt_internal.begin_recalculation(now(), 2, 'recalculate_all_analytics', false, false), 2)$$),
          '22023 slice', 'a slice past the last');
SELECT is(pg_temp.failure($$SELECT customer_mgmt_internal.begin_recalculation(NULL, 2, 'recalculate_all_analytics', false, false)$$),
          '22023 as_of', 'no as_of');
SELECT is(pg_temp.failure($$SELECT customer_mgmt_internal.begin_recalculation(now(), 5000, 'recalculate_all_analytics', false, false)$$),
          '22023 batches', 'too many batches');
SELECT is(pg_temp.failure($$SELECT customer_mgmt.process_analytics_queue(0)$$), '22023 max_items', 'a worker for nothing');
SELECT is((customer_mgmt.process_analytics_queue(5) ->> 'deferred'), NULL, 'without a full recalculation, the worker is not deferred');

SELECT is(pg_temp.list_drift(), 0::bigint, 'after logins and jobs, customer_list equals users and analytics');
SELECT * FROM finish();
ROLLBACK;
