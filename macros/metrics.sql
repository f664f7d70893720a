{#-
    The metric definitions of docs/metrics.md, each written once. Models call these
    macros; nothing else computes a position, a band or an interval.
-#}

{#- Position of an answer on its scale, 0 (most effort / least satisfied) to 1 (least
    effort / most satisfied): polarity comes from the registry, never from the scale length. -#}
{% macro scale_position(value, scale_min, scale_max, higher_is_better) -%}
    (cast(
        case
            when {{ higher_is_better }} then {{ value }} - {{ scale_min }}
            else {{ scale_max }} - {{ value }}
        end as {{ type_double() }}
    ) / nullif({{ scale_max }} - {{ scale_min }}, 0))
{%- endmacro %}

{#- The effort band of a position. Defaults: easy above the midpoint, difficult below it,
    neutral exactly on it; vars ces_easy_above / ces_difficult_below move the cut-offs. -#}
{% macro effort_bucket(position) -%}
    (case
        when {{ position }} is null then null
        when {{ position }} > {{ var('ces_easy_above') }} then 'easy'
        when {{ position }} < {{ var('ces_difficult_below') }} then 'difficult'
        else 'neutral'
    end)
{%- endmacro %}

{#- CSAT top-two box on a 5-point scale = position >= 0.75; good on good/bad = 1.0. -#}
{% macro is_satisfied(position) -%}
    (case when {{ position }} is null then null else {{ position }} >= {{ var('csat_satisfied_from') }} end)
{%- endmacro %}

{#- Wilson score interval (95% by default) of a proportion successes / n; null when n = 0. -#}
{% macro wilson_interval(successes, n, side, z=1.96) -%}
    {%- set p = '(cast(' ~ successes ~ ' as ' ~ type_double() ~ ') / nullif(' ~ n ~ ', 0))' -%}
    {#- every constant a double: PostgreSQL would do the arithmetic of numeric literals in
        numeric and round differently from DuckDB -#}
    {%- set z2 = '(cast(' ~ z ~ ' as ' ~ type_double() ~ ') * cast(' ~ z ~ ' as ' ~ type_double() ~ '))' -%}
    {%- set z = 'cast(' ~ z ~ ' as ' ~ type_double() ~ ')' -%}
    {#- clamped to [0, 1]: at p = 0 or 1 the exact bound is 0 or 1 but floating point
        can land a hair outside -#}
    (case
        when {{ n }} = 0 or {{ n }} is null then null
        {# the exact endpoints: floating point would put them a hair inside [0, 1] #}
        {% if side == 'low' %}when {{ successes }} = 0 then 0.0
        {% else %}when {{ successes }} = {{ n }} then 1.0{% endif %}
        else greatest(0.0, least(1.0,
            (
                {{ p }} + {{ z2 }} / (2 * {{ n }})
                {{ '-' if side == 'low' else '+' }} {{ z }} * sqrt(
                    {{ p }} * (1 - {{ p }}) / {{ n }} + {{ z2 }} / (4 * {{ n }} * {{ n }})
                )
            ) / (1 + {{ z2 }} / {{ n }})
        ))
    end)
{%- endmacro %}

{#- Normal-approximation 95% interval of a mean; null below two observations. -#}
{% macro mean_ci95(mean, sd, n, side) -%}
    (case when {{ n }} >= 2 then
        {{ mean }} {{ '-' if side == 'low' else '+' }} cast(1.96 as {{ type_double() }}) * {{ sd }} / sqrt({{ n }})
    end)
{%- endmacro %}

{#- Pearson correlation over pairs; null for fewer than 3 pairs or zero variance.
    Clamped to [-1, 1] against floating-point overshoot on perfectly related pairs. -#}
{% macro pearson_correlation(x, y) -%}
    (case
        when count({{ x }} + {{ y }}) >= 3
            and stddev_samp(case when {{ y }} is not null then {{ x }} end) > 0
            and stddev_samp(case when {{ x }} is not null then {{ y }} end) > 0
        then greatest(-1.0, least(1.0, corr({{ x }}, {{ y }})))
    end)
{%- endmacro %}

{#- Median, which dbt has no cross-database macro for. -#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    median({{ expr }})
{%- endmacro %}

{% macro spark__median(expr) -%}
    median({{ expr }})
{%- endmacro %}

{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{#- Text as label matching compares it: trimmed, inner blanks collapsed, lower case, no accents. -#}
{% macro normalise_label(expr) -%}
    {{ return(adapter.dispatch('normalise_label', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{% macro duckdb__normalise_label(expr) -%}
    strip_accents(lower(trim(regexp_replace({{ expr }}, '\s+', ' ', 'g'))))
{%- endmacro %}

{#- Spark: regexp_replace replaces every match; `\\s` because a backslash in a Spark
    string literal is an escape. -#}
{% macro spark__normalise_label(expr) -%}
    translate(
        lower(trim(regexp_replace({{ expr }}, '\\s+', ' '))),
        'àáâãäåçèéêëìíîïñòóôõöùúûüýÿ',
        'aaaaaaceeeeiiiinooooouuuuyy'
    )
{%- endmacro %}

{% macro default__normalise_label(expr) -%}
    translate(
        lower(trim(regexp_replace({{ expr }}, '\s+', ' ', 'g'))),
        'àáâãäåçèéêëìíîïñòóôõöùúûüýÿ',
        'aaaaaaceeeeiiiinooooouuuuyy'
    )
{%- endmacro %}

{#- Text as comment themes compare it: normalised as labels are, then every run of
    characters other than a-z and 0-9 (punctuation, symbols, letters without an ASCII
    form) one blank, so "Log-in!" and "log in" are the same words. -#}
{% macro normalise_words(expr) -%}
    {{ return(adapter.dispatch('normalise_words', 'ces_warehouse')(expr)) }}
{%- endmacro %}

{% macro default__normalise_words(expr) -%}
    trim(regexp_replace({{ normalise_label(expr) }}, '[^a-z0-9]+', ' ', 'g'))
{%- endmacro %}

{% macro spark__normalise_words(expr) -%}
    trim(regexp_replace({{ normalise_label(expr) }}, '[^a-z0-9]+', ' '))
{%- endmacro %}

{#- Hours between two timestamps, fractional (a double: Spark divides by 3600.0 in
    decimals). -#}
{% macro hours_between(start_ts, end_ts) -%}
    (cast({{ dbt.datediff(start_ts, end_ts, 'second') }} as {{ type_double() }}) / 3600)
{%- endmacro %}

{#- A numeric date part (year, quarter, month, isodow = 1 Monday .. 7 Sunday). -#}
{% macro date_part_number(part, expr) -%}
    {{ return(adapter.dispatch('date_part_number', 'ces_warehouse')(part, expr)) }}
{%- endmacro %}

{% macro default__date_part_number(part, expr) -%}
    extract({{ part }} from {{ expr }})
{%- endmacro %}

{#- Spark calls the ISO day of the week dayofweek_iso. -#}
{% macro spark__date_part_number(part, expr) -%}
    extract({{ 'dayofweek_iso' if part == 'isodow' else part }} from {{ expr }})
{%- endmacro %}

{#- The start of the period `offset` periods away from period_start, for a row whose grain
    (day, week, month or quarter) is in the column grain_column. -#}
{#- (A quarter is added as three months: dbt's PostgreSQL dateadd has no quarter.) -#}
{% macro shifted_period_start(grain_column, period_start, offset) -%}
    case {{ grain_column }}
        {%- for grain in ['day', 'week', 'month', 'quarter'] %}
            when '{{ grain }}' then cast({{ dbt.dateadd('month', 3 * offset, period_start) if grain == 'quarter' else dbt.dateadd(grain, offset, period_start) }} as date)
        {%- endfor %}
    end
{%- endmacro %}

{#- The metric columns of a touchpoint period, in table order: computed by
    int_touchpoint_period_metrics, served by fct_ces_touchpoint_period. -#}
{% macro period_metric_columns() -%}
    {{ return([
        'n_responses', 'ces_mean_7pt', 'ces_sd_7pt', 'ces_index',
        'pct_easy', 'pct_neutral', 'pct_difficult', 'net_easy_score',
        'ces_ci95_low', 'ces_ci95_high', 'ces_index_ci95_low', 'ces_index_ci95_high',
        'pct_easy_ci95_low', 'pct_easy_ci95_high', 'is_low_sample',
        'n_csat_responses', 'csat_mean_5pt', 'csat_pct_satisfied',
        'n_linked_pairs', 'ces_csat_corr',
        'n_tickets', 'avg_reopen_count', 'avg_transfer_count', 'median_hours_to_resolution',
    ]) }}
{%- endmacro %}
