-- Order events sorted by order key, kept as events arrive, so that orders_as_of (0019) aggregates
-- each order from adjacent rows instead of reading every event FINAL and holding one state per
-- order key at once (28 s and 5.4 GB for 10M orders in one statement, embedded in the service's
-- process). RFM (rfm_as_of) and predictions read orders_as_of, so both get the same orders.
--
-- What is kept: every copy of a track event whose name is a purchase or refund event of the RFM
-- settings at insert time (the materialized view reads rfm_settings_store per insert block). A
-- settings change that adds event names, and the first start after this migration, copy their
-- past events from events_store (rfm/rfm.repository.ts writeRfmSettings, order_events_coverage).
--
-- Exactness: ReplacingMergeTree(version) over (order_key, message_id) collapses the copies of an
-- event as events_store does (the highest version stays), and orders_as_of reads it FINAL, so it
-- sees one row per event: the one the events view shows. Merged-away profile ids stay as
-- stitched here and are resolved through profile_aliases when read, like the events view does.
-- One difference from the events view: copies of one messageId that disagree on the order id or
-- on the event name (not retries of one message, which carry the same properties) are both
-- kept here, under their own keys.
CREATE TABLE IF NOT EXISTS ${database}.order_events_store
(
    order_key  String COMMENT 'order_id, or message_id when the event has none (the order it belongs to)',
    message_id String COMMENT 'Segment messageId of the event',
    profile_id String COMMENT 'profile assigned by the identity-stitcher (merged-away ids resolved when read)',
    event      LowCardinality(String) COMMENT 'track event name (a purchase or refund event)',
    timestamp  DateTime64(3, 'UTC') COMMENT 'event time',
    order_id   String COMMENT 'order id as sent; empty when absent',
    revenue    Nullable(Decimal(18, 4)) COMMENT 'revenue of the event; NULL when absent',
    currency   LowCardinality(String) COMMENT 'ISO 4217 code of revenue',
    version    UInt64 COMMENT 'events_store version of the copy (the latest receipt wins)'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (order_key, message_id)
COMMENT 'Internal: purchase and refund events by order key (one row per event after merges); orders_as_of reads it';

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.order_events_from_events
TO ${database}.order_events_store
AS SELECT if(order_id = '', message_id, order_id) AS order_key, message_id, profile_id, event, timestamp, order_id, revenue, currency, version
FROM ${database}.events_store
WHERE type = 'track'
  AND (has((SELECT argMax(purchase_events, version) FROM ${database}.rfm_settings_store), event)
       OR has((SELECT argMax(refund_events, version) FROM ${database}.rfm_settings_store), event))
COMMENT 'Fills order_events_store from every insert into events_store (purchase and refund events of the RFM settings)';

CREATE OR REPLACE VIEW ${database}.orders_as_of AS
WITH
    (SELECT argMax(purchase_events, version) FROM ${database}.rfm_settings_store) AS purchase_events,
    (SELECT argMax(refund_events, version) FROM ${database}.rfm_settings_store) AS refund_events,
    (SELECT argMax(currencies, version) FROM ${database}.rfm_settings_store) AS currencies,
    (SELECT argMax(rates_micros, version) FROM ${database}.rfm_settings_store) AS rates_micros,
    {as_of:DateTime64(3)} AS as_of_time
SELECT if(a.surviving_profile_id != '', a.surviving_profile_id, o.profile_id) AS profile_id,
       o.order_key AS order_key, o.order_time AS order_time, o.net_units AS net_units
FROM
(
    SELECT
        okey AS order_key,
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
            okey,
            argMinIf(tuple(profile_id, timestamp, ifNull(units, toInt128(0))), tuple(timestamp, message_id), is_purchase) AS first_event,
            sumIf(ifNull(units, toInt128(0)), is_refund) AS refunded_units,
            toUInt8(maxIf(units IS NULL, is_refund)) AS full_refund,
            toUInt8(countIf(is_refund) > 0) AS has_refund,
            countIf(is_purchase) > 0 AS has_purchase
        FROM
        (
            SELECT
                order_key AS okey, message_id, profile_id, timestamp,
                has(purchase_events, event) AS is_purchase,
                has(refund_events, event) AND order_id != '' AND timestamp <= as_of_time AS is_refund,
                if(revenue IS NULL, NULL,
                   toInt128(toDecimal128(assumeNotNull(revenue), 4) * 10000) * 100
                     * if(currency = '', toInt64(1000000), transform(toString(currency), currencies, rates_micros, toInt64(0)))) AS units
            FROM ${database}.order_events_store FINAL
            WHERE has(purchase_events, event) OR has(refund_events, event)
        )
        GROUP BY okey
        HAVING has_purchase
    )
    WHERE order_time <= as_of_time
) AS o
LEFT JOIN ${database}.profile_aliases AS a ON a.absorbed_profile_id = o.profile_id
WHERE o.counted
COMMENT 'Counted orders as of the as_of parameter, one row per order key: the (current) profile and time of its earliest purchase event, its net value after refunds known at as_of in 1e-12 units of the reporting currency (net_units); fully refunded orders left out. See docs/rfm.md, rules 1-3';

-- The event names whose past events order_events_store holds: writeRfmSettings copies those of
-- every name the settings have and this list lacks (all of them on the first start after this
-- migration), then writes the settings' names here, so a name dropped from the settings and added
-- again is copied again.
CREATE TABLE IF NOT EXISTS ${database}.order_events_coverage
(
    name    String DEFAULT 'default' COMMENT 'always default',
    names   Array(String) COMMENT 'purchase and refund event names whose past events order_events_store holds',
    version UInt64 COMMENT 'ReplacingMergeTree version; the latest list wins (read with argMax)'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name
COMMENT 'Internal: which event names order_events_store was filled with from events_store';
