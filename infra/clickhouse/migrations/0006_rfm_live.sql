-- RFM computed from the events at read time, and consent per event.
--
-- Why not stored per profile (rfm_store of 0003): R, F and M are quintile scores among all
-- purchasers, so one new order can move other profiles' scores, and recency grows every day
-- without any event. A stored row is stale as soon as it is written. Computed from the
-- deduplicated events it is exact at every read: after replays (FINAL + one order per order_id),
-- merges (the events view resolves aliases), refunds and late events (nothing incremental).
-- The definition, rule by rule, is in services/profile-materializer/rfm/rfm.ts and docs/rfm.md;
-- a test holds this SQL to that TypeScript reference to the cent.
--
-- The settings (purchase/refund event names, window, currency rates, label grid) live in
-- rfm_settings_store, written by the profile-materializer at start from its configuration, so
-- the views need no literals and a configuration change needs no migration.

ALTER TABLE ${database}.events_store
    ADD COLUMN IF NOT EXISTS consent Map(String, Bool) DEFAULT map() COMMENT 'consent per purpose stated with this event (purpose to granted); empty when the event states none';

CREATE TABLE IF NOT EXISTS ${database}.rfm_settings_store
(
    name               String COMMENT 'always default',
    purchase_events    Array(String) COMMENT 'track event names that are purchases, e.g. Order Completed',
    refund_events      Array(String) COMMENT 'track event names that are refunds, e.g. Order Refunded',
    window_days        UInt32 COMMENT 'orders older than this many days do not count',
    reporting_currency String COMMENT 'currency of monetary',
    currencies         Array(String) COMMENT 'currency codes with a rate (the reporting currency included)',
    rates_micros       Array(Int64) COMMENT 'micro-units of the reporting currency per unit of currencies[i]',
    label_grid         Array(String) COMMENT 'RFM label of cell (R-1)*5 + FM, FM = intDiv(F + M + 1, 2)',
    updated_at         DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'when the settings were written',
    version            UInt64 COMMENT 'ReplacingMergeTree version; the latest settings win'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name
COMMENT 'RFM settings of the profile-materializer (one row, latest version wins; read with argMax)';

-- RFM as of a given time: SELECT * FROM rfm_as_of(as_of = now64(3)). Exactness strategy:
--   orders: the events view reads FINAL (one row per message_id); purchase and refund events are
--           grouped by order key (order_id, else message_id) in one aggregation, no join; each
--           order is its earliest purchase event by (timestamp, message_id), argMinIf, so an
--           order sent twice counts once; refunds (one row per message_id) are summed per order;
--   money:  integers only. revenue (Decimal(18,4)) × 1e6 × rate micro-units is an Int128 in
--           1e-12 units; sums are exact and order-independent; cents are rounded half away from zero;
--   scores: 1 + intDiv(5 × (rank() − 1), N) where rank() counts purchasers with a strictly worse
--           value plus one, so ties share a score and the result depends only on the values.
CREATE VIEW IF NOT EXISTS ${database}.rfm_as_of AS
WITH
    (SELECT argMax(purchase_events, version) FROM ${database}.rfm_settings_store) AS purchase_events,
    (SELECT argMax(refund_events, version) FROM ${database}.rfm_settings_store) AS refund_events,
    (SELECT argMax(window_days, version) FROM ${database}.rfm_settings_store) AS window_days,
    (SELECT argMax(currencies, version) FROM ${database}.rfm_settings_store) AS currencies,
    (SELECT argMax(rates_micros, version) FROM ${database}.rfm_settings_store) AS rates_micros,
    (SELECT argMax(label_grid, version) FROM ${database}.rfm_settings_store) AS label_grid,
    {as_of:DateTime64(3)} AS as_of_time,
    toUnixTimestamp64Milli(as_of_time) AS as_of_ms
SELECT
    profile_id,
    last_purchase_at,
    recency_days,
    frequency,
    CAST(monetary_cents AS Decimal(18, 2)) / 100 AS monetary,
    monetary_cents,
    toUInt8(1 + intDiv(5 * (rank() OVER (ORDER BY recency_days DESC) - 1), count() OVER ())) AS r_score,
    toUInt8(1 + intDiv(5 * (rank() OVER (ORDER BY frequency ASC) - 1), count() OVER ())) AS f_score,
    toUInt8(1 + intDiv(5 * (rank() OVER (ORDER BY monetary_cents ASC) - 1), count() OVER ())) AS m_score,
    label_grid[(r_score - 1) * 5 + intDiv(f_score + m_score + 1, 2)] AS label,
    as_of_time AS computed_at
FROM
(
    SELECT
        profile_id,
        maxIf(order_time, counted) AS last_purchase_at,
        toUInt32(intDiv(as_of_ms - toUnixTimestamp64Milli(last_purchase_at), 86400000)) AS recency_days,
        toUInt32(countIf(counted)) AS frequency,
        sumIf(net_units, counted) AS net_units_total,
        toInt64(if(net_units_total >= 0,
                   intDiv(net_units_total + toInt128(5000000000), toInt128(10000000000)),
                   -intDiv(-net_units_total + toInt128(5000000000), toInt128(10000000000)))) AS monetary_cents
    FROM
    (
        -- One row per order: purchase and refund events grouped by order key, no join.
        SELECT
            first_event.1 AS profile_id,
            first_event.2 AS order_time,
            first_event.3 - if(full_refund = 1, first_event.3, refunded_units) AS refund_left,
            -- if(), not greatest(): ClickHouse 26.7 JIT-compiles greatest() on Int128 wrongly once an
            -- expression has been seen three times (it returns the negative argument).
            if(refund_left > 0, refund_left, toInt128(0)) AS net_units,
            NOT (has_refund = 1 AND net_units = 0) AS counted
        FROM
        (
            SELECT
                if(order_id = '', message_id, order_id) AS okey,
                argMinIf(tuple(profile_id, timestamp, ifNull(units, toInt128(0))), tuple(timestamp, message_id), is_purchase) AS first_event,
                sumIf(ifNull(units, toInt128(0)), is_refund) AS refunded_units,
                toUInt8(maxIf(units IS NULL, is_refund)) AS full_refund,
                toUInt8(countIf(is_refund) > 0) AS has_refund,
                countIf(is_purchase) > 0 AS has_purchase
            FROM
            (
                SELECT
                    message_id, profile_id, timestamp, order_id,
                    has(purchase_events, event) AS is_purchase,
                    has(refund_events, event) AND order_id != '' AND timestamp <= as_of_time AS is_refund,
                    if(revenue IS NULL, NULL,
                       toInt128(toDecimal128(assumeNotNull(revenue), 4) * 10000) * 100
                         * if(currency = '', toInt64(1000000), transform(toString(currency), currencies, rates_micros, toInt64(0)))) AS units
                FROM ${database}.events
                WHERE type = 'track' AND (has(purchase_events, event) OR has(refund_events, event))
            )
            GROUP BY okey
            HAVING has_purchase
        )
        WHERE toUnixTimestamp64Milli(order_time) > as_of_ms - toInt64(window_days) * 86400000
          AND order_time <= as_of_time
    )
    GROUP BY profile_id
    -- Fully refunded orders are left out inside the aggregate (counted), not with WHERE, so the
    -- profile keeps its row only if some order still counts.
    HAVING frequency > 0
)
COMMENT 'RFM of every purchaser as of the as_of parameter (exact; see migration 0006 and docs/rfm.md). Query the rfm view for now.';

-- The public rfm view: RFM as of now, always current. Replaces the stored-snapshot view of 0005.
CREATE OR REPLACE VIEW ${database}.rfm AS
SELECT profile_id, last_purchase_at, recency_days, frequency, monetary, monetary_cents, r_score, f_score, m_score, label, computed_at
FROM ${database}.rfm_as_of(as_of = now64(3))
COMMENT 'RFM per current profile as of now: last_purchase_at, recency_days, frequency (orders), monetary (net revenue in the reporting currency), r/f/m_score 1-5 by quintile among purchasers, label. Exact; computed from the events at read time';
