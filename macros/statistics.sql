{#-
    The significance tests of docs/metrics.md ("Is a difference real?"), each written once:
    Welch's two-sample t-test from group summaries, its two-sided p-value, the 97.5 %
    quantile of Student's t for intervals, Hedges' g and Holm's step-down correction.
    Arguments are SQL expressions (usually column names of an earlier CTE: the p-value
    repeats its arguments many times). Plain arithmetic only, so the same SQL runs on
    DuckDB, PostgreSQL and Spark; tests/test_insights.py checks every formula against scipy.
-#}

{#- The smallest variance (on the 1-7 ease scale) that counts as spread. Identical answers
    have none, but a variance from running sums of squares (the period tables keep sums so
    they can be added up incrementally) comes out as rounding noise of 1e-14 or so; a
    group of up to a million answers with one answer 0.06 away (a 0-100 scale's step)
    still has 3.6e-9. -#}
{% macro min_variance() -%}1e-10{%- endmacro %}

{#- Welch's squared standard error of a difference of means, null when the test is not
    made: fewer than two answers or no variance on either side (a group of identical
    answers has no spread to test against: min_variance). -#}
{% macro welch_se2(var1, n1, var2, n2) -%}
    (case
        when {{ n1 }} >= 2 and {{ n2 }} >= 2
            and {{ var1 }} > {{ min_variance() }} and {{ var2 }} > {{ min_variance() }}
            then {{ var1 }} / {{ n1 }} + {{ var2 }} / {{ n2 }}
    end)
{%- endmacro %}

{#- Welch's t statistic of mean1 - mean2 (positive: group 1 is easier). -#}
{% macro welch_t(mean1, var1, n1, mean2, var2, n2) -%}
    (({{ mean1 }} - {{ mean2 }}) / sqrt({{ welch_se2(var1, n1, var2, n2) }}))
{%- endmacro %}

{#- Welch-Satterthwaite degrees of freedom. -#}
{% macro welch_df(var1, n1, var2, n2) -%}
    ({{ welch_se2(var1, n1, var2, n2) }} * {{ welch_se2(var1, n1, var2, n2) }}
        / (
            ({{ var1 }} / {{ n1 }}) * ({{ var1 }} / {{ n1 }}) / ({{ n1 }} - 1)
            + ({{ var2 }} / {{ n2 }}) * ({{ var2 }} / {{ n2 }}) / ({{ n2 }} - 1)
        ))
{%- endmacro %}

{#- The columns `<prefix>welch_t` and `<prefix>welch_df` of group 1 against group 2
    (their p-value reads them, in a later CTE: t_p_value). -#}
{% macro welch_test(mean1, var1, n1, mean2, var2, n2, prefix='') -%}
    {{ welch_t(mean1, var1, n1, mean2, var2, n2) }} as {{ prefix }}welch_t,
    {{ welch_df(var1, n1, var2, n2) }} as {{ prefix }}welch_df
{%- endmacro %}

{#- The size, mean and variance of `value` in two groups of one aggregate: rows where
    `flag` is true (columns n_<first>, mean_<first>, var_<first>) and where it is false
    (n_<second> ...). `flag` is never null. -#}
{% macro two_group_moments(flag, value, first, second) -%}
    sum(case when {{ flag }} then 1 else 0 end) as n_{{ first }},
    avg(case when {{ flag }} then {{ value }} end) as mean_{{ first }},
    var_samp(case when {{ flag }} then {{ value }} end) as var_{{ first }},
    sum(case when {{ flag }} then 0 else 1 end) as n_{{ second }},
    avg(case when not {{ flag }} then {{ value }} end) as mean_{{ second }},
    var_samp(case when not {{ flag }} then {{ value }} end) as var_{{ second }}
{%- endmacro %}

{#- Two-sided p-value of Student's t with df degrees of freedom (any real df >= 3; null
    below, where the approximation is not accurate enough and a test on so few answers
    says little). Hill's normalising transformation (CACM Algorithm 395, 1970) maps t to a
    standard normal z; erfc is the Chebyshev fit of Numerical Recipes (relative error
    below 1.2e-7). Absolute error against the exact p-value: below 3e-5 at df >= 3, below
    1e-7 at df >= 20. -#}
{% macro t_two_sided_p(t, df) -%}
    {#- polynomials written out term by term, not nested (Horner): the same value to the
        last digits or so, and a nesting depth that SQL parsers and linters accept -#}
    {%- set y0 = '((' ~ df ~ ' - 0.5) * ln(1 + (' ~ t ~ ') * (' ~ t ~ ') / (' ~ df ~ ')))' -%}
    {%- set b = '(48 * (' ~ df ~ ' - 0.5) * (' ~ df ~ ' - 0.5))' -%}
    {%- set cubic = '(-0.4 * power(' ~ y0 ~ ', 3) - 3.3 * power(' ~ y0 ~ ', 2) - 24 * ' ~ y0 ~ ' - 85.5)' -%}
    {%- set z = '((' ~ cubic ~ ' / (0.8 * power(' ~ y0 ~ ', 2) + 100 + ' ~ b ~ ') + ' ~ y0 ~ ' + 3) / ' ~ b ~ ' + 1) * sqrt(' ~ y0 ~ ') / sqrt(2.0)' -%}
    {{ erfc_non_negative('(' ~ z ~ ')') }}
{%- endmacro %}

{#- erfc(z) for z >= 0 (0 beyond z = 26, where exp would underflow: PostgreSQL raises). -#}
{% macro erfc_non_negative(z) -%}
    {%- set u = '(1 / (1 + 0.5 * ' ~ z ~ '))' -%}
    {%- set coefficients = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                            0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277] -%}
    {%- set terms = [] -%}
    {%- for c in coefficients -%}
        {%- do terms.append(c ~ (' * power(' ~ u ~ ', ' ~ loop.index0 ~ ')' if loop.index0 > 0 else '')) -%}
    {%- endfor -%}
    (case
        when {{ z }} is null then null
        when {{ z }} > 26 then cast(0 as {{ type_double() }})
        else least(cast(1 as {{ type_double() }}),
            {{ u }} * exp(-({{ z }}) * ({{ z }}) + {{ terms | join(' + ') }}))
    end)
{%- endmacro %}

{#- The fewest degrees of freedom a p-value or t quantile is given for: 3, less 1e-9, since a
    Welch df that is exactly 3 in exact arithmetic (say n = 2 and 5 with equal standard
    errors) comes out of floating point as 2.9999999999999996 on some engines. -#}
{% macro t_min_df() -%}2.999999999{%- endmacro %}

{#- The two-sided p-value of a t statistic with df degrees of freedom, from their columns
    (a Welch test's, a regression slope's): null when not tested or below 3 df. -#}
{% macro t_p_value(t, df) -%}
    (case when {{ t }} is not null and {{ df }} >= {{ t_min_df() }} then {{ t_two_sided_p('abs(' ~ t ~ ')', df) }} end)
{%- endmacro %}

{#- The 97.5 % quantile of Student's t (two-sided 95 % intervals) for real df >= 3 (null
    below): the Cornish-Fisher expansion to the fourth order in 1/df around
    z = 1.959964. Error below 0.004 at df = 3, 3e-4 at df >= 5, 1e-7 at df >= 20. -#}
{% macro t_quantile_975(df) -%}
    {%- set z = 1.959963984540054 -%}
    {%- set c1 = (z ** 3 + z) / 4 -%}
    {%- set c2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96 -%}
    {%- set c3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384 -%}
    {%- set c4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160 -%}
    (case when {{ df }} >= {{ t_min_df() }} then
        {{ z }} + (cast({{ c1 }} as {{ type_double() }}) + ({{ c2 }} + ({{ c3 }} + {{ c4 }} / ({{ df }})) / ({{ df }})) / ({{ df }})) / ({{ df }})
    end)
{%- endmacro %}

{#- Hedges' g of group 1 against group 2: the difference of means in pooled standard
    deviations, times the small-sample correction J = 1 - 3 / (4 (n1 + n2) - 9). Null
    without a pooled spread (fewer than three answers in all, or no variance at all). -#}
{% macro hedges_g(mean1, var1, n1, mean2, var2, n2) -%}
    {%- set pooled = '((' ~ n1 ~ ' - 1) * coalesce(' ~ var1 ~ ', 0) + (' ~ n2 ~ ' - 1) * coalesce(' ~ var2 ~ ', 0)) / (' ~ n1 ~ ' + ' ~ n2 ~ ' - 2)' -%}
    (case
        when {{ n1 }} >= 1 and {{ n2 }} >= 1 and {{ n1 }} + {{ n2 }} >= 3 and {{ pooled }} > {{ min_variance() }}
            then ({{ mean1 }} - {{ mean2 }}) / sqrt({{ pooled }})
                * (1 - cast(3 as {{ type_double() }}) / (4 * ({{ n1 }} + {{ n2 }}) - 9))
    end)
{%- endmacro %}

{#- Holm's step-down adjusted p-values within each `partition_by` group, in two steps
    (window functions cannot nest): holm_order adds the rank of each p-value and the
    number of p-values of its group; holm_adjusted_p reads them. Adjusted p_(i) =
    max over j <= i of min(1, (m - j + 1) p_(j)); ties are broken by `tiebreak`, which
    gives tied p-values the same adjusted value. Null p-values (not tested) stay null and
    do not count in m. -#}
{#- (partition_by none: one family of the whole table) -#}
{% macro holm_order(p, partition_by, tiebreak) -%}
    {%- set partition = 'partition by ' ~ partition_by if partition_by else '' -%}
    row_number() over (
        {{ partition }} order by {{ p }} asc nulls last, {{ tiebreak }}
    ) as holm_rank,
    count({{ p }}) over ({{ partition }}) as holm_m
{%- endmacro %}

{% macro holm_adjusted_p(p, partition_by, tiebreak) -%}
    {%- set partition = 'partition by ' ~ partition_by if partition_by else '' -%}
    (case when {{ p }} is not null then least(cast(1 as {{ type_double() }}), max((holm_m - holm_rank + 1) * {{ p }}) over (
        {{ partition }} order by {{ p }} asc nulls last, {{ tiebreak }}
        rows between unbounded preceding and current row
    )) end)
{%- endmacro %}
