-- Hold a write lock on the catalog's books_book table, as a long transaction
-- that wrote to it would, until a migration has waited for it, given up
-- once and queued again; then let go. Run by the realistic scenario before v3b's deploy
-- (psql as postgres, application_name sd-hold-lock), so that v3b's migration
-- (ALTER TABLE, which needs ACCESS EXCLUSIVE) meets a real LOCK TABLE: it must
-- wait, time out (lock_timeout), try again and then succeed, while the old
-- release keeps serving. Each phase says what it saw (NOTICE, in the journal).
BEGIN;
LOCK TABLE books_book IN ROW EXCLUSIVE MODE;
DO $$
DECLARE
    waiter integer;
    since timestamptz;
BEGIN
    RAISE NOTICE 'holding: ROW EXCLUSIVE on books_book';
    -- Up to 10 minutes for the deploy's ALTER TABLE to queue behind this lock.
    FOR i IN 1..6000 LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT pid INTO waiter FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query ILIKE 'ALTER TABLE%books_book%'
         LIMIT 1;
        EXIT WHEN waiter IS NOT NULL;
        PERFORM pg_sleep(0.1);
    END LOOP;
    IF waiter IS NULL THEN
        RAISE NOTICE 'no migration waited: letting go';
        RETURN;
    END IF;
    RAISE NOTICE 'migration waiting: pid %', waiter;
    since := clock_timestamp();
    -- Until that wait ends (its lock_timeout), at most 60 s.
    WHILE clock_timestamp() < since + interval '60 seconds' LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity
                               WHERE pid = waiter AND wait_event_type = 'Lock' AND query ILIKE 'ALTER TABLE%');
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE NOTICE 'migration gave up after % s', round(extract(epoch FROM clock_timestamp() - since)::numeric, 2);
    -- Held until the migration queues again (its retry, after it named this session as the blocker and backed
    -- off), at most 30 s: letting go as soon as it gave up would race with its look at who held the table.
    since := clock_timestamp();
    WHILE clock_timestamp() < since + interval '30 seconds' LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
                           WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                             AND query ILIKE 'ALTER TABLE%books_book%');
        PERFORM pg_sleep(0.02);
    END LOOP;
    RAISE NOTICE 'migration queued again after % s: letting go',
        round(extract(epoch FROM clock_timestamp() - since)::numeric, 2);
END
$$;
COMMIT;
