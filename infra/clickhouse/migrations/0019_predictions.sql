-- Predictions (docs/predictions.md): BG/NBD + Gamma-Gamma figures per purchaser, purchase
-- propensity per active profile, item-to-item similarities for recommendations; one model
-- version per fit-and-score run of the profile-materializer (predictions/prediction-run.ts).
--
-- Orders. orders_as_of is the one definition of "an order as of T" (the first three rules of
-- docs/rfm.md: one order per order key defined by its earliest purchase event, refunds known
-- at T netted, fully refunded orders left out, amounts converted with integer arithmetic); RFM
-- and predictions both read it. rfm_as_of is redefined over it below, unchanged in meaning:
-- the integration tests that hold it to the TypeScript reference run against this definition.
CREATE VIEW IF NOT EXISTS ${database}.orders_as_of AS
WITH
    (SELECT argMax(purchase_events, version) FROM ${database}.rfm_settings_store) AS purchase_events,
    (SELECT argMax(refund_events, version) FROM ${database}.rfm_settings_store) AS refund_events,
    (SELECT argMax(currencies, version) FROM ${database}.rfm_settings_store) AS currencies,
    (SELECT argMax(rates_micros, version) FROM ${database}.rfm_settings_store) AS rates_micros,
    {as_of:DateTime64(3)} AS as_of_time
SELECT profile_id, okey AS order_key, order_time, net_units
FROM
(
    SELECT
        okey,
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
    WHERE order_time <= as_of_time
)
WHERE counted
COMMENT 'Counted orders as of the as_of parameter, one row per order key: the profile and time of its earliest purchase event, its net value after refunds known at as_of in 1e-12 units of the reporting currency (net_units); fully refunded orders left out. See docs/rfm.md, rules 1-3';

CREATE OR REPLACE VIEW ${database}.rfm_as_of AS
WITH
    (SELECT argMax(window_days, version) FROM ${database}.rfm_settings_store) AS window_days,
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
        max(order_time) AS last_purchase_at,
        toUInt32(intDiv(as_of_ms - toUnixTimestamp64Milli(last_purchase_at), 86400000)) AS recency_days,
        toUInt32(count()) AS frequency,
        sum(net_units) AS net_units_total,
        toInt64(if(net_units_total >= 0,
                   intDiv(net_units_total + toInt128(5000000000), toInt128(10000000000)),
                   -intDiv(-net_units_total + toInt128(5000000000), toInt128(10000000000)))) AS monetary_cents
    FROM ${database}.orders_as_of(as_of = {as_of:DateTime64(3)})
    WHERE toUnixTimestamp64Milli(order_time) > as_of_ms - toInt64(window_days) * 86400000
    GROUP BY profile_id
)
COMMENT 'RFM of every purchaser as of the as_of parameter (exact; orders from orders_as_of, see docs/rfm.md). Query the rfm view for the latest snapshot.';

-- The counted orders of a run (orders_as_of at its as-of time), staged once: the summaries, the
-- propensity features and labels all read them, and orders_as_of reads every purchase event.
CREATE TABLE IF NOT EXISTS ${database}.prediction_orders_store
(
    version    UInt64 COMMENT 'model version (prediction_models_store.version): the run''s partition',
    profile_id String COMMENT 'purchaser (surviving profile at the run)',
    order_time DateTime64(3, 'UTC') COMMENT 'time of the orders earliest purchase event',
    net_units  Int128 COMMENT 'net value in 1e-12 units of the reporting currency'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY (profile_id, order_time)
COMMENT 'Internal: counted orders of a prediction run (orders_as_of at its as-of time)';

-- Per purchaser and model version: the BG/NBD summary (x repeat purchase days, t_x, T in whole
-- UTC days from the first purchase day) and the mean net value of the repeat purchase days.
-- Written once per run by one INSERT … SELECT from orders_as_of; the fit reads its histogram
-- and the scoring joins it, so the orders are aggregated once per run.
CREATE TABLE IF NOT EXISTS ${database}.prediction_inputs_store
(
    version           UInt64 COMMENT 'model version (the run''s as-of time in epoch ms, made unique)',
    profile_id        String COMMENT 'purchaser (surviving profile at the as-of time)',
    x                 UInt32 COMMENT 'repeat purchases: distinct purchase days after the first',
    t_x               UInt32 COMMENT 'days from the first to the last purchase day',
    T                 UInt32 COMMENT 'days from the first purchase day to the as-of day',
    monetary          Float64 COMMENT 'mean net value of the repeat purchase days in the reporting currency (0 when x = 0)',
    last_purchase_at  DateTime64(3, 'UTC') COMMENT 'time of the latest counted order'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY (x, t_x, T, profile_id)
COMMENT 'Internal: per-purchaser model inputs of a prediction run; dropped with the run''s predecessors';

-- BG/NBD figures per distinct (x, t_x, T) of a run: they depend on nothing else, and there are
-- far fewer triples than purchasers, so Node computes them per triple and ClickHouse joins.
CREATE TABLE IF NOT EXISTS ${database}.prediction_triples_store
(
    version                UInt64 COMMENT 'model version (prediction_models_store.version): the run''s partition',
    x                      UInt32 COMMENT 'repeat purchase days',
    t_x                    UInt32 COMMENT 'days from the first to the last purchase day',
    T                      UInt32 COMMENT 'days from the first purchase day to the as-of day',
    p_alive                Float64 COMMENT 'P(alive | x, t_x, T)',
    expected_purchases_30d Float64 COMMENT 'expected purchase days in the next 30 days',
    expected_purchases_90d Float64 COMMENT 'expected purchase days in the next 90 days',
    clv_purchases_365d     Float64 COMMENT 'expected purchases in the next 365 days, discounted month by month when a discount rate is set',
    next_purchase_days     Float64 COMMENT 'median days to the next purchase if still active'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY (x, t_x, T)
COMMENT 'Internal: BG/NBD figures per summary triple of a prediction run';

CREATE TABLE IF NOT EXISTS ${database}.prediction_propensity_store
(
    version    UInt64 COMMENT 'model version (prediction_models_store.version): the run''s partition',
    profile_id String COMMENT 'profile scored (an event in the year before the run)',
    propensity Float64 COMMENT 'P(a purchase in the next horizon days)'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY profile_id
COMMENT 'Internal: purchase propensity per scored profile of a prediction run';

CREATE TABLE IF NOT EXISTS ${database}.prediction_rows_store
(
    version                  UInt64 COMMENT 'model version (prediction_models_store)',
    profile_id               String COMMENT 'profile with predictions (a purchaser, or a profile scored for propensity)',
    p_alive                  Nullable(Float64) COMMENT 'probability the customer is still active; NULL for profiles that never bought',
    expected_purchases_30d   Nullable(Float64) COMMENT 'expected purchase days in the next 30 days',
    expected_purchases_90d   Nullable(Float64) COMMENT 'expected purchase days in the next 90 days',
    expected_order_value     Nullable(Float64) COMMENT 'expected net value of a purchase day, reporting currency',
    clv_365d                 Nullable(Float64) COMMENT 'expected net revenue in the next 365 days, reporting currency (discounted when configured)',
    next_purchase_at         Nullable(DateTime64(3, 'UTC')) COMMENT 'median time of the next purchase if still active',
    purchase_propensity_30d  Nullable(Float64) COMMENT 'probability of a purchase in the next horizon days (default 30); NULL when not scored',
    computed_at              DateTime64(3, 'UTC') COMMENT 'as-of time of the run'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY profile_id
COMMENT 'Predictions per profile, one partition per model version; query the predictions view (latest complete version)';

-- Catalogue: one row per complete run, written after all its rows (so max(version) always names
-- a whole one, as for RFM snapshots), with what GET /v1/models shows.
CREATE TABLE IF NOT EXISTS ${database}.prediction_models_store
(
    version          UInt64 COMMENT 'model version: a unique increasing number (wall-clock milliseconds when the run started)',
    model            LowCardinality(String) COMMENT 'bgnbd-gg',
    as_of            DateTime64(3, 'UTC') COMMENT 'history before this instant only',
    computed_at      DateTime64(3, 'UTC') COMMENT 'when the run finished',
    customers        UInt64 COMMENT 'purchasers the BG/NBD model was fitted on',
    repeat_customers UInt64 COMMENT 'of them, with repeat purchases (the Gamma-Gamma fit)',
    window_start     DateTime64(3, 'UTC') COMMENT 'earliest order of the data',
    window_end       DateTime64(3, 'UTC') COMMENT 'the as-of time',
    r                Float64 COMMENT 'BG/NBD shape of the purchase rates across customers',
    alpha            Float64 COMMENT 'BG/NBD scale of the purchase rates, in days',
    a                Float64 COMMENT 'BG/NBD dropout probability Beta(a, b): a',
    b                Float64 COMMENT 'BG/NBD dropout probability Beta(a, b): b',
    p                Float64 COMMENT 'Gamma-Gamma shape of a customer''s order values',
    q                Float64 COMMENT 'Gamma-Gamma shape of the scale across customers',
    gamma            Float64 COMMENT 'Gamma-Gamma scale across customers',
    log_likelihood   Float64 COMMENT 'BG/NBD log-likelihood at the fitted parameters',
    gg_log_likelihood Float64 COMMENT 'Gamma-Gamma log-likelihood at the fitted parameters',
    figures          String COMMENT 'JSON: standard errors, propensity model and quality, recommendation hit rates, settings',
    popular_items    Array(String) COMMENT 'most bought items before the as-of time (recommendation fallback)'
)
ENGINE = ReplacingMergeTree
ORDER BY version
COMMENT 'Model versions of the predictions (complete runs only)';

CREATE TABLE IF NOT EXISTS ${database}.item_similarity_store
(
    version  UInt64 COMMENT 'model version (prediction_models_store.version): the run''s partition',
    split    UInt8 COMMENT '0: from the interactions up to the as-of time (served); 1: up to one horizon earlier (evaluation)',
    item     String COMMENT 'product id',
    other    String COMMENT 'a product often seen with it',
    score    Float64 COMMENT 'cosine similarity of the two products'' sets of profiles',
    together UInt32 COMMENT 'profiles that viewed, added or bought both'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY (split, item, other)
COMMENT 'Internal: item-to-item neighbours of a prediction run (recommendations)';

CREATE TABLE IF NOT EXISTS ${database}.prediction_changes
(
    version    UInt64 COMMENT 'model version whose predictions differ from the previous complete one',
    profile_id String COMMENT 'profile newly in, gone from, or with a different row in that version',
    created_at DateTime DEFAULT now() COMMENT 'when the diff was staged'
)
ENGINE = MergeTree
ORDER BY (version, profile_id)
TTL created_at + INTERVAL 1 DAY
COMMENT 'Internal: profiles whose predictions changed between consecutive model versions, staged for their ProfileUpdates';

CREATE VIEW IF NOT EXISTS ${database}.predictions AS
SELECT profile_id, p_alive, expected_purchases_30d, expected_purchases_90d, expected_order_value, clv_365d,
       next_purchase_at, purchase_propensity_30d, version AS model_version, computed_at
FROM ${database}.prediction_rows_store
WHERE version = (SELECT max(version) FROM ${database}.prediction_models_store)
  AND profile_id NOT IN (SELECT absorbed_profile_id FROM ${database}.profile_aliases)
COMMENT 'Predictions per current profile from the latest model version (docs/predictions.md): p_alive, expected purchases in 30/90 days, expected order value and 365-day CLV in the reporting currency, next purchase time, purchase propensity';

CREATE TABLE IF NOT EXISTS ${database}.prediction_features_store
(
    version    UInt64 COMMENT 'model version (prediction_models_store.version): the run''s partition',
    split      UInt8 COMMENT '0: features now (scored); 1: features one horizon ago with labels; 2: two horizons ago with labels',
    profile_id String COMMENT 'profile with an event in the year before the splits reference time',
    features   Array(Float64) COMMENT 'behavioural features in the order of predictions/propensity.ts',
    label      UInt8 COMMENT 'bought in the horizon after the features (splits 1 and 2)'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY (split, profile_id)
COMMENT 'Internal: purchase propensity features of a prediction run';

CREATE TABLE IF NOT EXISTS ${database}.prediction_interactions_store
(
    version    UInt64 COMMENT 'model version (prediction_models_store.version): the run''s partition',
    split      UInt8 COMMENT '0: up to the as-of time; 1: up to one horizon earlier',
    profile_id String COMMENT 'profile that interacted with the product',
    item       String COMMENT 'product id viewed, added to the cart or bought',
    bought     UInt8 COMMENT 'the profile bought it (an order listed it)'
)
ENGINE = MergeTree
PARTITION BY version
ORDER BY (split, profile_id, item)
COMMENT 'Internal: profile-product interactions of a prediction run (recommendations)';
